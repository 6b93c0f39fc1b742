//! The pure machine: the lifecycle, the restart budget, feed health, log levels, redaction.
//! Decisions only: no I/O, no tokio; it imports nothing of the crate but `model` and `wire`.
//! The engine (`engine/`) runs it and carries out its effects through `engine::io`.

pub mod budget;
pub mod feed;
pub mod health;
pub mod levels;
pub mod redact;
pub mod rolling;
pub mod session;
pub mod state;
#[cfg(test)]
mod state_tests;
pub mod stream;
