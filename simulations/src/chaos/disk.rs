//! Each simulated PoP's disk: a redb backend in memory that loses, in a crash, whatever was
//! written since the last sync.
//!
//! The real store is a redb file written on a blocking thread (`warren-raft`). Threads the
//! simulation does not schedule would make runs unrepeatable, so the simulated PoPs open their
//! store with `warren_raft::open_storage_with_backend` on this backend instead, which writes
//! inline. It keeps two images: the one redb is writing, and the one as of its last
//! `sync_data` — what a disk holds after a power cut. A crash ([`Disk::crash`]) kills the
//! process's backend (its later writes, including whatever redb does while being dropped, go
//! nowhere) and the next process starts from the synced image. So a write that redb made durable
//! survives, and one it did not (the lazily written commit point, `Durability::None`) may not:
//! the same rules as on a real disk, at their most pessimistic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use redb::{BackendError, StorageBackend};

/// What survives crashes of one host.
#[derive(Debug, Default)]
pub(crate) struct Disk {
    synced: Mutex<Vec<u8>>,
    /// Bumped by every crash; a backend of an older generation is dead.
    generation: AtomicU64,
}

impl Disk {
    /// The backend of a new process on this host: the synced image, nothing more.
    pub(crate) fn open(self: &Arc<Self>) -> DiskBackend {
        let image = lock(&self.synced).clone();
        DiskBackend {
            disk: Arc::clone(self),
            generation: self.generation.load(Ordering::Acquire),
            image: Mutex::new(image),
        }
    }

    /// The host lost power: the running process's unsynced writes are gone for good.
    pub(crate) fn crash(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One process's view of the disk.
#[derive(Debug)]
pub(crate) struct DiskBackend {
    disk: Arc<Disk>,
    generation: u64,
    image: Mutex<Vec<u8>>,
}

impl DiskBackend {
    fn alive(&self) -> Result<(), BackendError> {
        if self.disk.generation.load(Ordering::Acquire) == self.generation {
            Ok(())
        } else {
            Err(BackendError::Io(std::io::Error::other("the simulated host crashed")))
        }
    }
}

fn out_of_range() -> BackendError {
    BackendError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, "out of range"))
}

impl StorageBackend for DiskBackend {
    fn len(&self) -> Result<u64, BackendError> {
        Ok(lock(&self.image).len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), BackendError> {
        let image = lock(&self.image);
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        let bytes = image.get(start..start + out.len()).ok_or_else(out_of_range)?;
        out.copy_from_slice(bytes);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), BackendError> {
        self.alive()?;
        lock(&self.image).resize(usize::try_from(len).map_err(|_| out_of_range())?, 0);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), BackendError> {
        self.alive()?;
        let image = lock(&self.image);
        let mut synced = lock(&self.disk.synced);
        synced.clear();
        synced.extend_from_slice(&image);
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        self.alive()?;
        let mut image = lock(&self.image);
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        image.get_mut(start..start + data.len()).ok_or_else(out_of_range)?.copy_from_slice(data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_keeps_what_was_synced_and_nothing_after() {
        let disk = Arc::new(Disk::default());
        let first = disk.open();
        first.set_len(4).unwrap();
        first.write(0, b"abcd").unwrap();
        first.sync_data().unwrap();
        first.write(0, b"xy").unwrap();
        disk.crash();
        assert!(first.write(2, b"zz").is_err(), "a crashed process writes nowhere");
        assert!(first.sync_data().is_err());
        let second = disk.open();
        let mut out = [0u8; 4];
        second.read(0, &mut out).unwrap();
        assert_eq!(&out, b"abcd");
    }
}
