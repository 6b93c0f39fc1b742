//! switchboard: an operator console for hftbacktest's live `connector` processes.
//!
//! The library has these layers (see the README's "Architecture"):
//! - [`manifest`] and [`connector_config`]: the `switchboard.toml` model, its validation, and the
//!   pre-flight check of each connector's own config;
//! - [`engine`]: a pure lifecycle state machine ([`crate::engine::core::state`]) driven by an async runtime
//!   ([`Engine`], [`EngineHandle`]) that spawns, probes (iceoryx2), stops and restarts
//!   connectors, and publishes one serializable [`ConnectorView`] per connector plus a lossless,
//!   numbered stream of [`EngineEvent`]s;
//! - [`fleet`]: what every front end sees: the engine plus the links to other hosts ([`hosts`]);
//! - [`control`]: the versioned request/response protocol of the control socket;
//! - [`console`]: the composition root (runtime, engine, control socket) that the TUI ([`ui`]),
//!   `run --headless` and the CLI ([`cli`]) start through;
//! - [`ConnectorRunner`]: build, start, await and stop one connector from code.

pub mod cli;
pub mod config;
pub mod console;
pub mod control;
pub mod engine;
pub mod error;
pub mod exit;
pub mod fleet;
pub mod model;
pub mod observers;
pub mod runner;
pub mod tui;
pub mod wire;

pub use crate::config::manifest::{ConnectorSpec, Manifest};
pub use crate::engine::core::state::Command;
pub use crate::model::exit::ExitStatus;
pub use crate::model::phase::Phase;
pub use crate::model::view::{
    ConnectorId, ConnectorView, EngineEvent, EventKind, Health, Transition,
};
pub use engine::{Engine, EngineError, EngineHandle, EngineOptions, EventStream};
pub use error::{ConnectorRunnerError, ManifestError};
pub use runner::{ConnectorRunner, RunnerGuard};
