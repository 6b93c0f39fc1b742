//! Phases, exit statuses and the transition record shared by the engine, the CLI and the UI.

use serde::{Deserialize, Serialize};

/// The lifecycle phase of one connector (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Idle,
    Building,
    Starting,
    Ready,
    Stopping,
    Stopped,
    Exited,
    Backoff,
    Failed,
}

impl Phase {
    /// The lowercase name used in JSON and on screen.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Building => "building",
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Stopping => "stopping",
            Phase::Stopped => "stopped",
            Phase::Exited => "exited",
            Phase::Backoff => "backoff",
            Phase::Failed => "failed",
        }
    }

    /// True while a process of this connector may be alive.
    pub fn has_process(self) -> bool {
        match self {
            Phase::Starting | Phase::Ready | Phase::Stopping => true,
            Phase::Idle
            | Phase::Building
            | Phase::Stopped
            | Phase::Exited
            | Phase::Backoff
            | Phase::Failed => false,
        }
    }

    /// True when nothing is running or scheduled: the connector is at rest.
    pub fn is_at_rest(self) -> bool {
        match self {
            Phase::Idle | Phase::Stopped | Phase::Exited | Phase::Failed => true,
            Phase::Building | Phase::Starting | Phase::Ready | Phase::Stopping | Phase::Backoff => {
                false
            }
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitStatus {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal number.
    Signal(i32),
}

impl ExitStatus {
    /// Converts std's status.
    pub fn from_std(s: std::process::ExitStatus) -> ExitStatus {
        use std::os::unix::process::ExitStatusExt;
        match (s.code(), s.signal()) {
            (Some(c), _) => ExitStatus::Code(c),
            (None, Some(sig)) => ExitStatus::Signal(sig),
            // Neither code nor signal cannot happen for a reaped child (stopped children are not
            // reported by wait); report it as the conventional "killed" signal number 0.
            (None, None) => ExitStatus::Signal(0),
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "code {c}"),
            ExitStatus::Signal(s) => write!(f, "signal {s}"),
        }
    }
}
