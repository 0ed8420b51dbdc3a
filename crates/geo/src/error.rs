//! Why a geolocation source could not be loaded.

use std::path::PathBuf;

/// A failure to open the MaxMind database.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("{}: {source}", path.display())]
    Open { path: PathBuf, source: maxminddb::MaxMindDbError },
}
