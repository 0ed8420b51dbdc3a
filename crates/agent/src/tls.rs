//! The agent's TLS client configuration for tunnels: the system's roots plus an optional CA.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::AgentError;

/// Trusts the system's certificate store and, if given, the CA in `ca_pem` (a PoP with a dev CA).
pub fn client_tls(ca_pem: Option<(&str, &[u8])>) -> Result<rustls::ClientConfig, AgentError> {
    let mut roots = RootCertStore::empty();
    // System roots are optional (minimal containers have none); a private CA then must be given.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some((path, pem)) = ca_pem {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| AgentError::CaFile { path: path.into(), reason: e.to_string() })?;
        if certs.is_empty() {
            return Err(AgentError::CaFile { path: path.into(), reason: "no certificate in the file".into() });
        }
        for c in certs {
            roots.add(c).map_err(|e| AgentError::CaFile { path: path.into(), reason: e.to_string() })?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| AgentError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(cfg)
}
