//! switchboard: an operator console for hftbacktest's live `connector` processes.
//!
//! The folders are the layers (see the README's "Architecture"; `tests/layers.rs` keeps every
//! import running down them). The library's API is re-exported below:
//! - the vocabulary ([`model`]): [`ConnectorView`], [`Phase`], [`EngineEvent`], [`ConnectorId`];
//! - the manifest ([`config`]): [`Manifest`], [`ConnectorSpec`], typed [`ManifestError`]s;
//! - the engine: [`Engine::start`] gives an [`EngineHandle`] (views, a lossless numbered event
//!   stream, [`Command`]s, connectors added and removed at run time);
//! - the fleet ([`fleet::Fleet`]): the engine plus the links to other hosts, as front ends see
//!   it;
//! - [`ConnectorRunner`]: build, start, await and stop one connector from code.
//!
//! The front ends ([`cli`], [`tui`], [`console`], [`observers`]) are public for the binary and
//! the integration tests; they are not meant as a library API and may change in any release.

/// The manifest and each connector's own config.
pub mod config;
/// The control socket's protocol, framing and client.
pub mod control;
/// The lifecycle engine: the actor that runs the [`machine`] and its OS adapters (`engine::io`).
pub mod engine;
pub mod error;
pub mod exit;
/// The local engine plus the links to other hosts: what every front end sees.
pub mod fleet;
/// The pure machine: every lifecycle, health and log decision, without I/O.
pub mod machine;
/// The vocabulary every layer shares (serde types; imports nothing else of the crate).
pub mod model;
pub mod runner;
/// hftbacktest's wire facts, shared with the sims.
pub mod wire;

#[doc(hidden)]
pub mod cli;
#[doc(hidden)]
pub mod console;
#[doc(hidden)]
pub mod observers;
#[doc(hidden)]
pub mod tui;

pub use crate::config::manifest::{ConnectorSpec, Manifest};
pub use crate::machine::state::Command;
pub use crate::model::exit::ExitStatus;
pub use crate::model::phase::Phase;
pub use crate::model::view::{
    ConnectorId, ConnectorView, EngineEvent, EventKind, Health, Transition,
};
pub use engine::{Engine, EngineError, EngineHandle, EngineOptions, EventStream};
pub use error::{ConnectorRunnerError, ManifestError};
pub use runner::{ConnectorRunner, RunnerGuard};
