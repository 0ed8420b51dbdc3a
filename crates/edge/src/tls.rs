//! TLS for the https listener: certificates by SNI, from PEM files or a local dev CA.
//!
//! [`CertStore`] answers rustls' certificate question per handshake from a table of exact
//! names and wildcard zones, so later certificates (per-endpoint custom domains, ACME) are
//! one `insert` away. The crypto provider is aws-lc-rs, named explicitly rather than taken
//! from a process default, so the edge does not depend on who installed what first.

mod dev_ca;

pub use dev_ca::DevCa;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use warren_core::Zone;

use crate::EdgeError;

/// Where the https listener's certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// A certificate chain and its key, PEM (prod: a wildcard for `*.ZONE`).
    Files { cert: PathBuf, key: PathBuf },
    /// A local CA kept in `dir` (`ca.pem`, `ca.key`), created on first start; it signs a
    /// leaf for `*.ZONE` and `ZONE` at every start.
    DevCa { dir: PathBuf },
}

/// Certificates by server name: exact names first, then the wildcard of the parent domain,
/// then the default (for clients that send no SNI, e.g. by IP address).
#[derive(Debug, Default)]
pub struct CertStore {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `edge.example.com` → the certificate for `*.edge.example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl CertStore {
    /// Serves `key` for every name in `names` (`*.zone` entries cover one label under the
    /// zone); the first certificate inserted also becomes the default.
    pub fn insert(&self, names: &[String], key: Arc<CertifiedKey>) {
        // A poisoned lock only means another insert panicked; the map itself is consistent.
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        for name in names {
            let name = name.to_ascii_lowercase();
            match name.strip_prefix("*.") {
                Some(parent) => inner.wildcard.insert(parent.to_owned(), Arc::clone(&key)),
                None => inner.exact.insert(name, Arc::clone(&key)),
            };
        }
        inner.default.get_or_insert(key);
    }

    /// The certificate for `name`, if any (without the default).
    pub fn lookup(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = inner.exact.get(&name) {
            return Some(Arc::clone(key));
        }
        let (_, parent) = name.split_once('.')?;
        inner.wildcard.get(parent).cloned()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match hello.server_name() {
            Some(name) => self.lookup(name).or_else(|| self.inner.read().ok()?.default.clone()),
            None => self.inner.read().ok()?.default.clone(),
        }
    }
}

/// The https listener's TLS set-up.
pub(crate) struct Tls {
    pub(crate) config: Arc<rustls::ServerConfig>,
    pub(crate) dev_ca_pem: Option<PathBuf>,
}

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Loads or makes the certificate for `zone` and builds the server configuration (ALPN `h2`
/// then `http/1.1`).
pub(crate) fn load(source: &TlsSource, zone: &Zone) -> Result<Tls, EdgeError> {
    let provider = provider();
    let (chain, key, dev_ca_pem) = match source {
        TlsSource::Files { cert, key } => (read_chain(cert)?, read_key(key)?, None),
        TlsSource::DevCa { dir } => {
            let ca = dev_ca::DevCa::open_or_create(dir)?;
            let (chain, key) = ca.sign_zone(zone)?;
            (chain, key, Some(ca.pem_path().to_path_buf()))
        }
    };
    let signing_key = provider.key_provider.load_private_key(key)?;
    let certified = Arc::new(CertifiedKey::new(chain, signing_key));
    let store = CertStore::default();
    store.insert(&[format!("*.{zone}"), zone.to_string()], certified);
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(store));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls { config: Arc::new(config), dev_ca_pem })
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, EdgeError> {
    let pem_err = |reason: String| EdgeError::Pem { path: path.to_owned(), reason };
    let bytes = std::fs::read(path).map_err(|source| EdgeError::Read { path: path.to_owned(), source })?;
    let chain =
        CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>().map_err(|e| pem_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(pem_err("no CERTIFICATE block".into()));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, EdgeError> {
    let bytes = std::fs::read(path).map_err(|source| EdgeError::Read { path: path.to_owned(), source })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| EdgeError::Pem { path: path.to_owned(), reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Arc<CertifiedKey> {
        let ca = dev_ca::DevCa::open_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        let (chain, key) = ca.sign_zone(&Zone::parse("edge.test").unwrap()).unwrap();
        Arc::new(CertifiedKey::new(chain, provider().key_provider.load_private_key(key).unwrap()))
    }

    #[test]
    fn wildcards_cover_one_label_and_exact_names_win() {
        let store = CertStore::default();
        let zone_key = key();
        let custom = key();
        store.insert(&["*.edge.test".into(), "edge.test".into()], Arc::clone(&zone_key));
        store.insert(&["API.custom.example".into()], Arc::clone(&custom));
        assert!(Arc::ptr_eq(&store.lookup("api.edge.test").unwrap(), &zone_key));
        assert!(Arc::ptr_eq(&store.lookup("API.Edge.Test.").unwrap(), &zone_key));
        assert!(Arc::ptr_eq(&store.lookup("edge.test").unwrap(), &zone_key));
        assert!(Arc::ptr_eq(&store.lookup("api.custom.example").unwrap(), &custom));
        assert!(store.lookup("a.b.edge.test").is_none());
        assert!(store.lookup("other.test").is_none());
    }

    #[test]
    fn files_are_loaded_and_bad_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        let ca = warren_test_support::TestCa::new().unwrap();
        let (cert, key) = ca.write_server_cert(dir.path(), &["*.edge.test", "edge.test"]).unwrap();
        let zone = Zone::parse("edge.test").unwrap();
        let tls = load(&TlsSource::Files { cert: cert.clone(), key }, &zone).unwrap();
        assert_eq!(tls.config.alpn_protocols[0], b"h2");
        assert!(tls.dev_ca_pem.is_none());
        let err = load(&TlsSource::Files { cert: cert.clone(), key: cert.clone() }, &zone).err().unwrap();
        assert!(err.to_string().contains("cert.pem"), "{err}");
        let missing = dir.path().join("missing.pem");
        let err = load(&TlsSource::Files { cert: missing.clone(), key: missing }, &zone).err().unwrap();
        assert!(matches!(err, EdgeError::Read { .. }), "{err}");
    }
}
