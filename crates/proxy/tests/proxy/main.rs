//! End-to-end tests of both halves over an in-memory tunnel stream, against real backends on
//! 127.0.0.1:0. One binary (faster to build than one per file); the modules group the cases.

mod harness;

mod errors;
mod exchange;
mod streaming;
mod upgrade;
