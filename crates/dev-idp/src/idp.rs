//! [`DevIdp`]: the running provider, and the in-process API tests use next to its HTTP API.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::jwks::KeySet;
use crate::keys::{SigningKey, random_kid};
use crate::mint::{self, DEFAULT_TTL, Kid};
use crate::{Alg, Error, TokenSpec};

/// How to run the provider. `Default` suits tests and `warren dev-idp`.
#[derive(Clone, Debug)]
pub struct DevIdpOptions {
    /// The `iss` of minted tokens. `None`: `http://ADDR` of the bound listener.
    pub issuer: Option<String>,
    /// The `aud` of `/token` answers that name none.
    pub default_audience: Option<String>,
    /// The lifetime of `/token` answers that name none.
    pub default_ttl: Duration,
    /// A `Cache-Control` value for the JWKS answer (`None`: no header), to test verifier caching.
    pub jwks_cache_control: Option<String>,
}

impl Default for DevIdpOptions {
    fn default() -> Self {
        Self { issuer: None, default_audience: None, default_ttl: DEFAULT_TTL, jwks_cache_control: None }
    }
}

/// The result of a key rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    pub alg: Alg,
    /// The new signing key's id.
    pub kid: String,
    /// Key ids no longer published (empty unless retiring).
    pub retired: Vec<String>,
}

/// State shared by the HTTP handlers and the in-process API.
pub(crate) struct Shared {
    pub(crate) issuer: String,
    pub(crate) jwks_url: String,
    pub(crate) token_url: String,
    pub(crate) opts: DevIdpOptions,
    keys: RwLock<KeySet>,
    /// One never-published key per algorithm, for "signed by a stranger" tokens.
    foreign: [SigningKey; 2],
    available: AtomicBool,
    jwks_fetches: AtomicU64,
}

impl Shared {
    fn keys(&self) -> std::sync::RwLockReadGuard<'_, KeySet> {
        // A panic while holding the lock cannot leave a KeySet half-updated (install is one push
        // after an optional retain), so a poisoned lock is still safe to use.
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn jwks_document(&self) -> Value {
        self.keys().document()
    }

    pub(crate) fn is_available(&self) -> bool {
        self.available.load(Ordering::SeqCst)
    }

    pub(crate) fn count_jwks_fetch(&self) {
        self.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn try_mint(&self, spec: &TokenSpec) -> Result<String, Error> {
        let key = self.keys().current(spec.alg);
        mint::sign(&key, spec, &self.issuer)
    }

    pub(crate) fn rotate(&self, alg: Alg, retire: bool) -> Result<Rotation, Error> {
        // Generate outside the lock: RSA key generation takes tens of milliseconds.
        let key = SigningKey::generate(alg)?;
        let kid = key.kid().to_owned();
        let retired = self.keys.write().unwrap_or_else(PoisonError::into_inner).install(key, retire);
        Ok(Rotation { alg, kid, retired })
    }
}

/// A running local identity provider. Dropping it stops the server; [`DevIdp::shutdown`] also
/// waits until the listener is closed.
pub struct DevIdp {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for DevIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIdp").field("addr", &self.addr).field("issuer", &self.shared.issuer).finish()
    }
}

impl DevIdp {
    /// Generates one RS256 and one ES256 key, binds `bind` (port 0 picks a free port) and serves
    /// the JWKS, discovery, token and rotation endpoints until dropped.
    pub async fn start(bind: SocketAddr, opts: DevIdpOptions) -> Result<Self, Error> {
        let listener = TcpListener::bind(bind).await.map_err(|source| Error::Bind { addr: bind, source })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind { addr: bind, source })?;
        let base = format!("http://{}", url_addr(addr));
        let (keys, foreign) = tokio::task::spawn_blocking(|| -> Result<_, Error> {
            let foreign = [SigningKey::generate(Alg::Rs256)?, SigningKey::generate(Alg::Es256)?];
            Ok((KeySet::generate()?, foreign))
        })
        .await
        .map_err(|e| Error::KeyGeneration { alg: "RS256/ES256", reason: e.to_string() })??;
        let shared = Arc::new(Shared {
            issuer: opts.issuer.clone().unwrap_or_else(|| base.clone()),
            jwks_url: format!("{base}/.well-known/jwks.json"),
            token_url: format!("{base}/token"),
            opts,
            keys: RwLock::new(keys),
            foreign,
            available: AtomicBool::new(true),
            jwks_fetches: AtomicU64::new(0),
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(crate::server::serve(listener, Arc::clone(&shared), stop_rx));
        Ok(Self { shared, addr, stop, task: Some(task) })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `iss` of minted tokens, e.g. `http://127.0.0.1:40123`.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// `http://ADDR/.well-known/jwks.json`.
    pub fn jwks_url(&self) -> &str {
        &self.shared.jwks_url
    }

    /// `http://ADDR/token`.
    pub fn token_url(&self) -> &str {
        &self.shared.token_url
    }

    /// The JWK Set as currently published (without counting a fetch).
    pub fn jwks(&self) -> Value {
        self.shared.jwks_document()
    }

    /// The kid that signs new `alg` tokens.
    pub fn current_kid(&self, alg: Alg) -> String {
        self.shared.keys().current(alg).kid().to_owned()
    }

    /// Every published kid, oldest first.
    pub fn kids(&self) -> Vec<String> {
        self.shared.keys().kids()
    }

    /// The current `alg` signing key's public half as SPKI PEM.
    pub fn public_key_pem(&self, alg: Alg) -> String {
        self.shared.keys().current(alg).public_key_pem()
    }

    /// Makes a new signing key for `alg`; the old ones stay published unless `retire`.
    pub fn rotate(&self, alg: Alg, retire: bool) -> Result<Rotation, Error> {
        self.shared.rotate(alg, retire)
    }

    /// How many times `/.well-known/jwks.json` was requested, including answers of 503.
    pub fn jwks_fetches(&self) -> u64 {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }

    /// `false` makes the JWKS endpoint answer 503, as during an IdP outage.
    pub fn set_available(&self, available: bool) {
        self.shared.available.store(available, Ordering::SeqCst);
    }

    /// Signs `spec` with the current key for `spec.alg`.
    pub fn try_mint(&self, spec: &TokenSpec) -> Result<String, Error> {
        self.shared.try_mint(spec)
    }

    /// Signs `spec` with the current key for `spec.alg`.
    ///
    /// # Panics
    /// Only if jsonwebtoken refuses a key it already signed a probe with at generation.
    pub fn mint(&self, spec: &TokenSpec) -> String {
        self.try_mint(spec).expect("keys are probed with a signature when generated")
    }

    /// `alg: none` with an empty signature. The header has no kid unless `spec.kid` is custom.
    pub fn mint_alg_none(&self, spec: &TokenSpec) -> String {
        mint::alg_none(spec, &self.shared.issuer)
    }

    /// Algorithm confusion: HS256 whose HMAC key is the RS256 public key as SPKI PEM text, with
    /// the RS256 key's kid (`spec.alg` is ignored). A verifier that lets the token pick the
    /// algorithm would accept it.
    pub fn mint_hs256_with_public_key(&self, spec: &TokenSpec) -> String {
        let key = self.shared.keys().current(Alg::Rs256);
        self.hs256(spec, key.public_key_pem().as_bytes(), key.kid())
    }

    /// Like [`DevIdp::mint_hs256_with_public_key`], keyed with the SPKI DER bytes instead.
    pub fn mint_hs256_with_public_key_der(&self, spec: &TokenSpec) -> String {
        let key = self.shared.keys().current(Alg::Rs256);
        self.hs256(spec, key.public_spki_der(), key.kid())
    }

    fn hs256(&self, spec: &TokenSpec, secret: &[u8], kid: &str) -> String {
        mint::hs256_with_secret(spec, &self.shared.issuer, secret, kid)
            .expect("HMAC signing with a non-empty secret cannot fail")
    }

    /// Properly signed with the current key, but the header names a kid that is not published.
    pub fn mint_with_unknown_kid(&self, spec: &TokenSpec) -> String {
        let kid = random_kid(spec.alg).map(|k| format!("unknown-{k}")).unwrap_or_else(|_| "unknown-kid".to_owned());
        self.mint(&TokenSpec { kid: Kid::Custom(kid), ..spec.clone() })
    }

    /// Signed by a key that is not in the JWKS. The kid is that key's own (also unpublished)
    /// unless `spec` sets one: set it to [`DevIdp::current_kid`] to forge a known kid.
    pub fn mint_with_foreign_key(&self, spec: &TokenSpec) -> String {
        let key = &self.shared.foreign[Alg::ALL.iter().position(|&a| a == spec.alg).unwrap_or(0)];
        mint::sign(key, spec, &self.shared.issuer).expect("keys are probed with a signature when generated")
    }

    /// Stops accepting, closes open connections and waits for the server task to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for DevIdp {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The address as it goes in a URL: an unspecified bind address is reached over loopback.
fn url_addr(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = if addr.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { std::net::Ipv6Addr::LOCALHOST.into() };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}
