//! switchboard: an operator console for hftbacktest's live `connector` processes.
//!
//! The library has these layers (see the README's "Architecture"):
//! - [`manifest`] and [`connector_config`]: the `switchboard.toml` model, its validation, and the
//!   pre-flight check of each connector's own config;
//! - [`engine`]: a pure lifecycle state machine ([`engine::state`]) driven by an async runtime
//!   ([`Engine`], [`EngineHandle`]) that spawns, probes (iceoryx2), stops and restarts
//!   connectors, and publishes one serializable [`ConnectorView`] per connector plus a lossless,
//!   numbered stream of [`EngineEvent`]s;
//! - [`fleet`]: what every front end sees: the engine plus the links to other hosts ([`hosts`]);
//! - [`control`]: the versioned request/response protocol of the control socket;
//! - [`console`]: the composition root (runtime, engine, control socket) that the TUI ([`ui`]),
//!   `run --headless` and the CLI ([`cli`]) start through;
//! - [`ConnectorRunner`]: build, start, await and stop one connector from code.

pub mod alerts;
pub mod attach;
pub mod cli;
pub mod connector_config;
pub mod console;
pub mod control;
pub mod demo;
pub mod engine;
pub mod error;
pub mod exit;
pub mod fleet;
pub mod hosts;
pub mod init;
pub mod manifest;
mod manifest_diag;
pub mod metrics;
pub mod model;
pub mod names;
pub mod reload;
pub mod runner;
pub mod service;
pub mod ui;

pub use engine::phase::{ExitStatus, Phase};
pub use engine::state::Command;
pub use engine::view::{ConnectorId, ConnectorView, EngineEvent, EventKind, Health, Transition};
pub use engine::{Engine, EngineError, EngineHandle, EngineOptions, EventStream};
pub use error::{ConnectorRunnerError, ManifestError};
pub use manifest::{ConnectorSpec, Manifest};
pub use runner::{ConnectorRunner, RunnerGuard};
