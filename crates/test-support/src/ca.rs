//! A throwaway certificate authority for TLS tests (rcgen on aws-lc-rs).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::Error;

/// A self-signed CA with a P-256 key that signs server certificates.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    pub fn new() -> Result<Self, Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, "Warren Test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(Self { issuer })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.issuer.pem()
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> Vec<u8> {
        self.issuer.der().to_vec()
    }

    /// A server certificate for `names` (DNS names, wildcards like `*.edge.test`, or IP
    /// addresses), and its PKCS#8 private key: `(cert_pem, key_pem)`.
    pub fn issue_server_cert(&self, names: &[&str]) -> Result<(String, String), Error> {
        let sans: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(sans)?;
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, *first);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Writes `ca.pem` into `dir` and returns its path.
    pub fn write_to(&self, dir: impl AsRef<Path>) -> Result<PathBuf, Error> {
        let path = dir.as_ref().join("ca.pem");
        std::fs::write(&path, self.ca_pem()).map_err(Error::io(format!("cannot write {}", path.display())))?;
        Ok(path)
    }

    /// Issues a server certificate for `names` and writes `cert.pem` and `key.pem` into `dir`.
    pub fn write_server_cert(&self, dir: impl AsRef<Path>, names: &[&str]) -> Result<(PathBuf, PathBuf), Error> {
        let (cert, key) = self.issue_server_cert(names)?;
        let cert_path = dir.as_ref().join("cert.pem");
        let key_path = dir.as_ref().join("key.pem");
        std::fs::write(&cert_path, cert).map_err(Error::io(format!("cannot write {}", cert_path.display())))?;
        std::fs::write(&key_path, key).map_err(Error::io(format!("cannot write {}", key_path.display())))?;
        Ok((cert_path, key_path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_pem_certificates() {
        let ca = TestCa::new().unwrap();
        assert!(ca.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let (cert, key) = ca.issue_server_cert(&["*.edge.test", "edge.test", "127.0.0.1"]).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_ne!(cert, ca.ca_pem());
        let dir = tempfile::tempdir().unwrap();
        let path = ca.write_to(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), ca.ca_pem());
    }
}
