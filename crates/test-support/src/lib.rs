//! Real parts for Warren's end-to-end tests.
//!
//! The rules every end-to-end test follows, and this crate makes easy:
//!
//! - **Real processes.** Tests drive the real `warren` binary ([`WarrenProcess`], [`run_warren`])
//!   against real servers ([`EchoBackend`], [`TcpEchoBackend`], the [`idp`] identity provider,
//!   certificates from [`TestCa`]). No mocks of Warren's own parts.
//! - **Loopback only, port 0.** Everything binds 127.0.0.1 port 0 and reads its address back
//!   (`warren pop` prints `listening name=NAME addr=IP:PORT`; see
//!   [`WarrenProcess::listener_addr`]). [`free_tcp_port`] is for configs that cannot take 0.
//! - **No sleeps.** Wait for a state with [`wait_until`] / [`wait_for_ok`] or for a log line with
//!   [`WarrenProcess::wait_for_line`]; a fixed sleep is either flaky or slow.
//! - **Nothing outlives the test.** Processes are killed and servers stopped when dropped;
//!   files live in a [`TestDir`].
//! - **Failures explain themselves.** Process output is echoed to the test's stderr with a
//!   `[name stream]` prefix, and timeouts quote the last lines a process printed.
//!
//! This crate is only a dev-dependency: nothing in Warren's product code may depend on it.
//! Start with [`WarrenProcess`] (`process.rs`) and [`EchoBackend`] (`echo.rs`).

mod ca;
mod cluster;
mod dir;
mod echo;
mod error;
mod ports;
mod process;
mod run;
mod tcp_echo;
mod wait;
mod world;

/// The local identity provider (JWKS, token endpoint, rotation, bad tokens): `warren-dev-idp`.
pub use warren_dev_idp as idp;

pub use ca::TestCa;
pub use cluster::{Cluster, TEST_POPS, cluster_yaml, pop_options};
pub use dir::TestDir;
pub use echo::{EchoBackend, expected_bytes_sha256, pseudo_random_bytes};
pub use error::Error;
pub use ports::{free_tcp_port, free_tcp_udp_port, free_udp_port};
pub use process::{Line, ProcessBuilder, Stream, WarrenProcess, parse_listening_line};
pub use run::{Output, RUN_TIMEOUT, run_warren, run_warren_with};
pub use tcp_echo::TcpEchoBackend;
pub use wait::{wait_for, wait_for_ok, wait_until, wait_until_sync};
pub use world::{AgentProcess, PopOptions, PopProcess, client_for};
