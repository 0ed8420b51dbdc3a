//! Scratch directories for config files, data dirs and certificates; removed when dropped.

use std::path::{Path, PathBuf};

use crate::Error;

/// A temporary directory owned by one test.
#[derive(Debug)]
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    /// A fresh directory under the system temp dir, prefixed `warren-test-`.
    pub fn new() -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("warren-test-")
            .tempdir()
            .map_err(Error::io("cannot create a temporary directory"))?;
        Ok(Self { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `path()/name` (not created).
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `path()/name`, creating parent directories, and returns the path.
    pub fn try_write(&self, name: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> Result<PathBuf, Error> {
        let path = self.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io(format!("cannot create {}", parent.display())))?;
        }
        std::fs::write(&path, contents).map_err(Error::io(format!("cannot write {}", path.display())))?;
        Ok(path)
    }

    /// [`TestDir::try_write`] for test bodies.
    ///
    /// # Panics
    /// If the file cannot be written, with the path and the reason: a test cannot go on without it.
    pub fn write(&self, name: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        match self.try_write(name, contents) {
            Ok(path) => path,
            Err(e) => panic!("{e}"),
        }
    }
}
