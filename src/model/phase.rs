//! The lifecycle phases (DESIGN §4): the engine's machine moves through them, every front end
//! shows them.

use serde::{Deserialize, Serialize};

/// The lifecycle phase of one connector (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Nothing known yet: where every connector starts.
    #[default]
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
    /// Every phase, in lifecycle order.
    pub const ALL: [Phase; 9] = [
        Phase::Idle,
        Phase::Building,
        Phase::Starting,
        Phase::Ready,
        Phase::Stopping,
        Phase::Stopped,
        Phase::Exited,
        Phase::Backoff,
        Phase::Failed,
    ];

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
