//! The tunnel listener's certificate: the same files as the https listener (production), or a
//! leaf from the edge's dev CA (`warren_edge::DevCa`), so agents trust one `ca.pem` for both.
//! The tunnel leaf also names `localhost` and the PoP's addresses, because agents often dial
//! the tunnel listener by IP; it is re-issued at every start, the CA is kept.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use warren_config::TlsConfig;
use warren_edge::DevCa;

use crate::PopError;

/// A certificate chain and its key.
pub struct CertPair {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The dev CA's certificate file, when the chain comes from one.
    pub dev_ca: Option<PathBuf>,
}

impl CertPair {
    /// A rustls server config (TLS 1.2 and 1.3, aws-lc-rs) serving this pair.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<rustls::ServerConfig, PopError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| PopError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| PopError::Tls(e.to_string()))?;
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(cfg)
    }
}

/// Loads or makes the PoP's certificate. `ips` are added to a dev certificate's names.
pub fn load(cfg: &TlsConfig, data_dir: &Path, zone: &str, ips: &[IpAddr]) -> Result<CertPair, PopError> {
    match cfg {
        TlsConfig::Files { cert, key } => {
            let read =
                |p: &Path| std::fs::read(p).map_err(|e| PopError::Io { path: p.display().to_string(), source: e });
            let chain = CertificateDer::pem_slice_iter(&read(cert)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| PopError::Tls(format!("{}: {e}", cert.display())))?;
            if chain.is_empty() {
                return Err(PopError::Tls(format!("{}: no certificate", cert.display())));
            }
            let key = PrivateKeyDer::from_pem_slice(&read(key)?)
                .map_err(|e| PopError::Tls(format!("{}: {e}", key.display())))?;
            Ok(CertPair { chain, key, dev_ca: None })
        }
        TlsConfig::DevCa(dir) => dev_pair(dir, zone, ips),
        // No https listener: the tunnel still needs a certificate; keep a dev CA in data_dir.
        TlsConfig::None => dev_pair(&data_dir.join("ca"), zone, ips),
    }
}

fn dev_pair(dir: &Path, zone: &str, ips: &[IpAddr]) -> Result<CertPair, PopError> {
    let ca = DevCa::open_or_create(dir).map_err(|e| PopError::Tls(e.to_string()))?;
    let names = [format!("*.{zone}"), zone.to_owned(), "localhost".to_owned()];
    let (chain, key) = ca.sign(&format!("*.{zone}"), &names, ips).map_err(|e| PopError::Tls(e.to_string()))?;
    Ok(CertPair { chain, key, dev_ca: Some(ca.pem_path().to_path_buf()) })
}
