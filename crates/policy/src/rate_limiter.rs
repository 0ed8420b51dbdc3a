//! A pure sliding-window rate limiter with a bounded key map, for [`crate::Effects::rate_limit`].
//!
//! Written here instead of using `governor` because governor is GCRA (a token bucket), while
//! ngrok's `rate-limit` promises a *sliding window* of `capacity` per `rate`; and because the
//! time must be an argument, which governor only offers through a fake clock. The estimate is the
//! classic two-window one: `current + previous * (1 - elapsed/window)`.
//!
//! Memory is bounded by `max_keys`. When full, buckets idle for two windows are dropped; if none
//! is, new keys share one overflow bucket rather than evicting live ones (evicting would reset an
//! attacker's own counters: fail closed).

use std::collections::HashMap;

const OVERFLOW: &str = "\u{0}overflow";

#[derive(Debug, Clone, Copy)]
struct Window {
    start_ms: u64,
    current: u64,
    previous: u64,
}

/// Sliding-window counters keyed by bucket.
#[derive(Debug)]
pub struct SlidingWindowLimiter {
    capacity: u64,
    window_ms: u64,
    max_keys: usize,
    buckets: HashMap<String, Window>,
}

impl SlidingWindowLimiter {
    pub fn new(capacity: u64, window_secs: u64, max_keys: usize) -> Self {
        SlidingWindowLimiter {
            capacity,
            window_ms: window_secs.max(1) * 1000,
            max_keys: max_keys.max(1),
            buckets: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    fn purge(&mut self, now_ms: u64) {
        let horizon = 2 * self.window_ms;
        self.buckets.retain(|_, w| now_ms < w.start_ms.saturating_add(horizon));
    }

    /// Counts one request for `key` at `now_ms`; returns whether it is allowed and, if not, the
    /// seconds until it would be.
    pub fn check(&mut self, key: &str, now_ms: u64) -> crate::RateDecision {
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.max_keys {
            self.purge(now_ms);
        }
        let key = if self.buckets.contains_key(key) || self.buckets.len() < self.max_keys { key } else { OVERFLOW };
        let window_ms = self.window_ms;
        let aligned = now_ms - now_ms % window_ms;
        let w = self.buckets.entry(key.to_owned()).or_insert(Window { start_ms: aligned, current: 0, previous: 0 });
        if aligned != w.start_ms {
            w.previous = if aligned == w.start_ms + window_ms { w.current } else { 0 };
            w.current = 0;
            w.start_ms = aligned;
        }
        let elapsed = (now_ms - w.start_ms) as f64 / window_ms as f64;
        let estimate = w.current as f64 + w.previous as f64 * (1.0 - elapsed);
        if estimate + 1.0 <= self.capacity as f64 {
            w.current += 1;
            crate::RateDecision { allowed: true, retry_after_secs: 0 }
        } else {
            // When will the estimate leave room for one more? Within this window only the
            // previous window's weight decays; after it, this window's count becomes the
            // "previous" one and decays in turn. Rejected requests are not counted.
            let cap = self.capacity as f64;
            let window_end = w.start_ms + window_ms;
            let over = estimate + 1.0 - cap;
            let in_this_window = (w.previous > 0)
                .then(|| (over / w.previous as f64 * window_ms as f64).ceil() as u64)
                .filter(|d| now_ms + d < window_end);
            let wait_ms = in_this_window.unwrap_or_else(|| {
                let carried = w.current as f64;
                let decay = if carried + 1.0 <= cap { 0.0 } else { 1.0 - (cap - 1.0).max(0.0) / carried };
                (window_end - now_ms) + (decay * window_ms as f64).ceil() as u64
            });
            crate::RateDecision { allowed: false, retry_after_secs: wait_ms.div_ceil(1000).max(1) }
        }
    }
}

#[cfg(test)]
mod retry_after_tests {
    use super::SlidingWindowLimiter;

    /// A client that waits exactly `Retry-After` is let through, whatever the timing of its burst.
    #[test]
    fn waiting_retry_after_is_enough() {
        for (capacity, window, burst_at_ms) in
            [(3u64, 60u64, 45_000u64), (3, 60, 1_000), (1, 10, 9_999), (10, 60, 30_000)]
        {
            let mut l = SlidingWindowLimiter::new(capacity, window, 16);
            let mut now = burst_at_ms;
            for _ in 0..capacity {
                assert!(l.check("k", now).allowed);
            }
            // Keep knocking, obeying Retry-After each time, for a few rounds.
            for round in 0..5 {
                let d = l.check("k", now);
                if d.allowed {
                    continue;
                }
                now += d.retry_after_secs * 1000;
                assert!(
                    l.check("k", now).allowed,
                    "cap {capacity}/{window}s burst {burst_at_ms} round {round}: still refused after {}s",
                    d.retry_after_secs
                );
            }
        }
    }
}
