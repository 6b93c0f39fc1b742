//! The vocabulary every layer shares: the settings the lifecycle machine needs, the connector
//! types' names, what a reload did, and formatting common to the front ends.
//!
//! This folder imports nothing else of the crate (serde only, no tokio, no I/O), so the pure
//! core (`engine::state`, `budget`, `health`, …), the wire view and the control protocol can
//! depend on it without depending on the manifest, the OS adapters or a front end.

pub mod clock;
pub mod exit;
pub mod fact;
pub mod feed;
pub mod fleet;
pub mod format;
pub mod health;
pub mod kind;
pub mod phase;
pub mod registration;
pub mod reload;
pub mod restarts;
pub mod row;
pub mod settings;
pub mod verb;
pub mod view;

pub use fact::{CannotStart, Fact, StartBlock};
pub use health::FeedHealth;
pub use kind::ConnectorType;
pub use phase::Phase;
pub use reload::ReloadReport;
pub use settings::{FeedSettings, OnStale, RestartPolicy, RestartPolicyKind};
pub use verb::Verb;
