//! What the engine publishes: per-connector snapshots, transitions and the JSON shapes of
//! DESIGN §2.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::phase::{ExitStatus, Phase};
use crate::connector_config::ConnectorType;

/// One connector as the engine sees it now.
#[derive(Debug, Clone)]
pub struct ConnectorSnapshot {
    pub name: String,
    pub kind: ConnectorType,
    pub phase: Phase,
    pub pid: Option<i32>,
    /// When the current process started (for uptime).
    pub started_at: Option<Instant>,
    pub restarts: u32,
    pub bots: u32,
    pub last_exit: Option<ExitStatus>,
    pub detail: String,
    /// End of the running countdown (stopping, backoff, startup).
    pub deadline: Option<Instant>,
    /// Build progress: compiled units out of total.
    pub build_progress: Option<(u32, u32)>,
    pub degraded: bool,
    /// The operator wants it running.
    pub wanted: bool,
    /// Taken over from a previous console.
    pub adopted: bool,
}

impl ConnectorSnapshot {
    /// Uptime of the current process.
    pub fn uptime(&self, now: Instant) -> Option<Duration> {
        match self.phase.has_process() {
            true => self.started_at.map(|t| now.saturating_duration_since(t)),
            false => None,
        }
    }

    /// Time left on the running countdown.
    pub fn countdown(&self, now: Instant) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(now))
    }
}

/// One element of `status --json` (DESIGN §2).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct StatusJson {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub phase: Phase,
    pub pid: Option<i32>,
    pub uptime_s: Option<f64>,
    pub restarts: u32,
    pub bots: u32,
    pub last_exit: Option<String>,
    pub detail: String,
}

/// One phase change (or a change of its detail), as `run --headless --json` prints it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Transition {
    /// RFC 3339 UTC time.
    pub ts: String,
    pub name: String,
    pub phase: Phase,
    pub pid: Option<i32>,
    pub detail: String,
}

/// The engine's answer to "is everything up?".
#[derive(Debug, Clone)]
pub struct Health {
    pub connectors: Vec<ConnectorSnapshot>,
    /// True iff every connector the operator wants running is Ready.
    pub healthy: bool,
}
