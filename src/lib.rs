//! switchboard: an operator console for hftbacktest's live `connector` processes.
//!
//! The library has three layers:
//! - [`manifest`]: the `switchboard.toml` model and its validation;
//! - [`engine`]: a pure lifecycle state machine ([`engine::state`]) driven by an async runtime
//!   ([`Engine`], [`EngineHandle`]) that spawns, probes (iceoryx2), stops and restarts connectors;
//! - [`ConnectorRunner`]: a small API to build, start, await and stop one connector from code.

pub mod cli;
pub mod connector_config;
pub mod demo;
pub mod engine;
pub mod error;
pub mod manifest;
pub mod runner;
pub mod sys;
pub mod ui;

pub use engine::phase::{ExitStatus, Phase};
pub use engine::snapshot::{ConnectorSnapshot, Health, StatusJson, Transition};
pub use engine::state::Command;
pub use engine::{Engine, EngineError, EngineHandle, EngineOptions};
pub use error::{ConnectorRunnerError, ManifestError};
pub use manifest::{ConnectorSpec, Manifest};
pub use runner::{ConnectorRunner, RunnerGuard};
