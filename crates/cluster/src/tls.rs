//! TLS for the cluster transport: encryption from QUIC's TLS 1.3, authentication from the secret.
//!
//! Each PoP makes a throwaway self-signed certificate at start. Clients do not check it against
//! a CA (there is none to manage): who a peer is gets proven right after the handshake, by an
//! HMAC with the cluster secret over the TLS session's exported keying material (`auth.rs`).
//! That binds the proof to this very TLS session, so a machine in the middle, which would hold
//! two different sessions, cannot relay a proof from one to the other. The certificate's
//! signature over the handshake is still verified, so the session keys belong to whoever holds
//! the certificate's private key.

use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::ClusterError;

/// ALPN of the cluster protocol; bumped on incompatible changes.
pub(crate) const ALPN: &[u8] = b"warren-cluster/1";
/// The name clients ask for (the certificate is not checked against it).
pub(crate) const SERVER_NAME: &str = "warren-cluster";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn transport() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    // Long enough for a congested intercontinental path; dead peers are found by health probes.
    t.keep_alive_interval(Some(Duration::from_secs(2)));
    t.max_idle_timeout(Some(quinn::IdleTimeout::from(quinn::VarInt::from_u32(15_000))));
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(4096));
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    t.stream_receive_window(quinn::VarInt::from_u32(4 * 1024 * 1024));
    t.receive_window(quinn::VarInt::from_u32(64 * 1024 * 1024));
    t.send_window(64 * 1024 * 1024);
    t
}

/// The server and client configs of one PoP's cluster endpoint.
pub(crate) fn configs() -> Result<(quinn::ServerConfig, quinn::ClientConfig), ClusterError> {
    let tls_err = |e: &dyn std::fmt::Display| ClusterError::Tls(e.to_string());
    let ck = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()]).map_err(|e| tls_err(&e))?;
    let cert = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());

    let mut server = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_err(&e))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| tls_err(&e))?;
    server.alpn_protocols = vec![ALPN.to_vec()];
    let mut server =
        quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(server).map_err(|e| tls_err(&e))?));
    server.transport_config(Arc::new(transport()));

    let mut client = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_err(&e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SignatureOnly(provider())))
        .with_no_client_auth();
    client.alpn_protocols = vec![ALPN.to_vec()];
    let mut client = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(client).map_err(|e| tls_err(&e))?));
    client.transport_config(Arc::new(transport()));
    Ok((server, client))
}

/// Accepts any certificate but verifies the handshake signature made with its key; identity
/// comes from the secret-based proof that follows the handshake.
#[derive(Debug)]
struct SignatureOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for SignatureOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
