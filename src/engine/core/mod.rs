//! The engine's pure core: the lifecycle machine, the restart budget, feed health, log levels,
//! redaction. Decisions only: no I/O, no tokio, nothing of `engine::io` or `config`.

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
