//! The edge end to end in one process: real listeners on 127.0.0.1:0, a fake router whose
//! tunnel streams are in-memory pairs served by warren-proxy's agent half, and real backends.

mod harness;

mod errors;
mod hooks;
mod requests;
mod shutdown;
