//! A development CA kept on disk, so agents and browsers trust the edge once and keep
//! trusting it across restarts.
//!
//! The CA certificate is written once and never rewritten (its bytes are what people import);
//! later starts load the key and rebuild the issuer from the same fixed name, which is all a
//! signature needs (rcgen's `Issuer::new`), so no certificate parser is required.
//!
//! Several PoPs on one machine (the demo, a test cluster, compose) may share one folder and start
//! at the same moment: creation happens under an exclusive lock on `ca.lock` in that folder, so
//! exactly one of them writes the pair and the others load it, never a key of one with the
//! certificate of another.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use warren_core::Zone;

use crate::EdgeError;

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
/// Held (an advisory `flock`) while the pair is checked and, if missing, created.
const CA_LOCK: &str = "ca.lock";

/// A local certificate authority kept in a folder (`ca.pem`, `ca.key`); the PoP also signs its
/// tunnel listener's certificate with it, so agents trust one file for both.
pub struct DevCa {
    pem_path: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

fn gen_err(e: rcgen::Error) -> EdgeError {
    EdgeError::CertGen(e.to_string())
}

/// The CA's parameters: fixed, so a reloaded key yields the same issuer name.
fn ca_params() -> Result<CertificateParams, EdgeError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
    params.distinguished_name.push(DnType::CommonName, "Warren Development CA");
    params.distinguished_name.push(DnType::OrganizationName, "Warren");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    Ok(params)
}

impl DevCa {
    /// Loads the CA from `dir`, or creates it there (key file mode 0600).
    pub fn open_or_create(dir: &Path) -> Result<DevCa, EdgeError> {
        let pem_path = dir.join(CA_CERT);
        let key_path = dir.join(CA_KEY);
        let write_err = |path: &Path| {
            let path = path.to_owned();
            move |source| EdgeError::Write { path, source }
        };
        std::fs::create_dir_all(dir).map_err(write_err(dir))?;
        let lock_path = dir.join(CA_LOCK);
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(write_err(&lock_path))?;
        // Released when `lock` is dropped at the end of this function.
        lock.lock().map_err(write_err(&lock_path))?;
        let key = if pem_path.exists() && key_path.exists() {
            let pem = std::fs::read_to_string(&key_path)
                .map_err(|source| EdgeError::Read { path: key_path.clone(), source })?;
            KeyPair::from_pem(&pem).map_err(|e| EdgeError::Pem { path: key_path.clone(), reason: e.to_string() })?
        } else {
            let key = KeyPair::generate().map_err(gen_err)?;
            let cert = ca_params()?.self_signed(&key).map_err(gen_err)?;
            // The key first, private from its first byte; a crash before the certificate
            // exists makes the next start create a fresh pair.
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&key_path)
                .map_err(write_err(&key_path))?;
            file.write_all(key.serialize_pem().as_bytes()).map_err(write_err(&key_path))?;
            std::fs::write(&pem_path, cert.pem()).map_err(write_err(&pem_path))?;
            key
        };
        drop(lock);
        Ok(DevCa { pem_path, issuer: Issuer::new(ca_params()?, key) })
    }

    pub fn pem_path(&self) -> &Path {
        &self.pem_path
    }

    /// A fresh leaf for `*.ZONE` and `ZONE`, with its key.
    pub(crate) fn sign_zone(
        &self,
        zone: &Zone,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), EdgeError> {
        self.sign(zone.as_str(), &[format!("*.{zone}"), zone.to_string()], &[])
    }

    /// A fresh leaf named `common_name` for these DNS names and IP addresses, with its key.
    pub fn sign(
        &self,
        common_name: &str,
        dns: &[String],
        ips: &[std::net::IpAddr],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), EdgeError> {
        let mut params = CertificateParams::new(dns.to_vec()).map_err(gen_err)?;
        params.subject_alt_names.extend(ips.iter().map(|ip| rcgen::SanType::IpAddress(*ip)));
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().map_err(gen_err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(gen_err)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![cert.der().clone()], key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_then_reused_with_a_private_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("ca");
        let first = DevCa::open_or_create(&ca_dir).unwrap();
        let pem = std::fs::read(first.pem_path()).unwrap();
        let mode = std::fs::metadata(ca_dir.join(CA_KEY)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = DevCa::open_or_create(&ca_dir).unwrap();
        assert_eq!(std::fs::read(second.pem_path()).unwrap(), pem);
        let (chain, _) = second.sign_zone(&Zone::parse("edge.test").unwrap()).unwrap();
        assert_eq!(chain.len(), 1);
    }

    /// PoPs sharing a folder start together: one pair is created and every one of them signs
    /// with the key whose certificate is on disk.
    #[test]
    fn racing_starts_share_one_matching_pair() {
        use rustls_pki_types::pem::PemObject;

        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("shared-ca");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let keys: Vec<Vec<u8>> = (0..8)
            .map(|_| {
                let (ca_dir, barrier) = (ca_dir.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let ca = DevCa::open_or_create(&ca_dir).unwrap();
                    ca.issuer.key().public_key_raw().to_vec()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(keys.iter().all(|k| *k == keys[0]), "every start uses the same key");
        let on_disk = KeyPair::from_pem(&std::fs::read_to_string(ca_dir.join(CA_KEY)).unwrap()).unwrap();
        assert_eq!(on_disk.public_key_raw(), keys[0].as_slice(), "the key file holds that key");
        let cert = CertificateDer::from_pem_file(ca_dir.join(CA_CERT)).unwrap();
        // The certificate carries its public key verbatim: it is the key's certificate.
        assert!(cert.windows(keys[0].len()).any(|w| w == keys[0].as_slice()), "ca.pem certifies that key");
    }
}
