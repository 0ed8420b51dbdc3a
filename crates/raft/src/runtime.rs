//! openraft's async runtime for Warren: tokio, with a random number generator that a simulation
//! can seed.
//!
//! openraft draws each election timeout from its runtime's thread-local generator. With plain
//! [`openraft::TokioRuntime`] that is the operating system's randomness, so which PoP wins an
//! election could never be replayed. [`WarrenRuntime`] is `TokioRuntime` in every respect except
//! that generator: it is the same `rand::thread_rng()` unless [`seed_thread_rng`] installed a
//! seeded one on the current thread, which only the chaos simulation (`simulations/`) does. A
//! simulation runs every simulated PoP on one thread in a fixed order, so one seeded generator per
//! thread replays every election exactly.

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use openraft::async_runtime::TokioOneShotSender;
use openraft::{AsyncRuntime, OptionalSend, TokioInstant, TokioRuntime};
use rand08::{RngCore, SeedableRng};

thread_local! {
    static SEEDED: RefCell<Option<rand08::rngs::StdRng>> = const { RefCell::new(None) };
}

/// Makes every random draw openraft makes on this thread (election timeouts) come from a
/// generator seeded with `seed`; `None` goes back to the operating system's randomness.
///
/// For deterministic simulations only: a PoP never calls it, so production elections stay random.
pub fn seed_thread_rng(seed: Option<u64>) {
    SEEDED.with(|s| *s.borrow_mut() = seed.map(rand08::rngs::StdRng::seed_from_u64));
}

/// A random number in `low..high` (`low` if the range is empty) from the same generator as
/// openraft's election timeouts: seeded in a simulation, the operating system's otherwise.
pub fn random_in(low: u64, high: u64) -> u64 {
    use rand08::Rng;
    if high <= low {
        return low;
    }
    ElectionRng.gen_range(low..high)
}

/// The generator openraft gets: the seeded one of this thread if any, else `rand::thread_rng()`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ElectionRng;

impl ElectionRng {
    fn with<T>(f: impl FnOnce(&mut dyn RngCore) -> T) -> T {
        let mut f = Some(f);
        let seeded = SEEDED.with(|s| {
            s.borrow_mut().as_mut().map(|rng| {
                let f = f.take().expect("taken once");
                f(rng)
            })
        });
        match seeded {
            Some(out) => out,
            None => (f.take().expect("not taken when no generator is seeded"))(&mut rand08::thread_rng()),
        }
    }
}

impl RngCore for ElectionRng {
    fn next_u32(&mut self) -> u32 {
        ElectionRng::with(|r| r.next_u32())
    }

    fn next_u64(&mut self) -> u64 {
        ElectionRng::with(|r| r.next_u64())
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        ElectionRng::with(|r| r.fill_bytes(dest))
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand08::Error> {
        ElectionRng::with(|r| r.try_fill_bytes(dest))
    }
}

/// [`openraft::TokioRuntime`] with a seedable [`ElectionRng`]; see the module doc.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WarrenRuntime;

impl AsyncRuntime for WarrenRuntime {
    type JoinError = <TokioRuntime as AsyncRuntime>::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = <TokioRuntime as AsyncRuntime>::JoinHandle<T>;
    type Sleep = <TokioRuntime as AsyncRuntime>::Sleep;
    type Instant = TokioInstant;
    type TimeoutError = <TokioRuntime as AsyncRuntime>::TimeoutError;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = <TokioRuntime as AsyncRuntime>::Timeout<R, T>;
    type ThreadLocalRng = ElectionRng;
    type OneshotSender<T: OptionalSend> = TokioOneShotSender<T>;
    type OneshotReceiverError = <TokioRuntime as AsyncRuntime>::OneshotReceiverError;
    type OneshotReceiver<T: OptionalSend> = <TokioRuntime as AsyncRuntime>::OneshotReceiver<T>;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        TokioRuntime::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        TokioRuntime::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        TokioRuntime::sleep_until(deadline)
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(duration: Duration, future: F) -> Self::Timeout<R, F> {
        TokioRuntime::timeout(duration, future)
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(deadline: Self::Instant, future: F) -> Self::Timeout<R, F> {
        TokioRuntime::timeout_at(deadline, future)
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        TokioRuntime::is_panic(join_error)
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        ElectionRng
    }

    fn oneshot<T>() -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>)
    where
        T: OptionalSend,
    {
        TokioRuntime::oneshot()
    }
}

#[cfg(test)]
mod tests {
    use rand08::Rng;

    use super::*;

    #[test]
    fn a_seeded_thread_draws_the_same_timeouts_again() {
        let draw = || (0..8).map(|_| WarrenRuntime::thread_rng().gen_range(1500..3000u64)).collect::<Vec<_>>();
        seed_thread_rng(Some(7));
        let first = draw();
        seed_thread_rng(Some(7));
        assert_eq!(draw(), first);
        seed_thread_rng(Some(8));
        assert_ne!(draw(), first);
        seed_thread_rng(None);
        assert!(draw().iter().all(|t| (1500..3000).contains(t)));
    }
}
