//! The manifest (`switchboard.toml`): loading, validation with key spans, and the pre-flight
//! check of each connector's own config.

pub mod connector;
mod diag;
pub mod manifest;
