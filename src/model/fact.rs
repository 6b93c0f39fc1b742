//! Typed facts an event carries for machines, next to the English detail for people: a front
//! end or observer matches on these, never on the wording of a detail.

use serde::{Deserialize, Serialize};

/// What a transition establishes beyond its phase.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fact {
    /// A build of its binary succeeded, after `seconds` (from the start of cargo to its end).
    Built { seconds: f64 },
    /// A process started by this console became ready, `seconds` after its spawn.
    Ready { seconds: f64 },
    /// A build was refused because a process runs; nothing was changed.
    BuildRefused,
    /// A start or restart was refused because a new process could not start (its config or
    /// its binary); what runs was left alone.
    StartRefused,
}

/// Why a new process of a connector cannot start now: the one answer of the runtime's
/// pre-flight (`engine::io::preflight`), handed to the state machine as data before an event
/// that may start a process. The machine alone decides what follows (build first, fail, count
/// it against the budget, or refuse a restart and leave the running process alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannotStart {
    pub reason: StartBlock,
    /// For the operator: the file, what is wrong with it, and what to do.
    pub why: String,
}

/// What stands in the way of a start, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartBlock {
    /// Its config file cannot be used (missing, unreadable, not TOML, lacking a key its
    /// exchange needs). Said as the console opens on it, too.
    Config,
    /// Its program cannot run and no build would make it: not executable, not a regular
    /// file, missing outside where a build puts it, or a bot's command not found.
    Program,
    /// Its binary is missing where a build puts it, and `auto_build` is on: a start from rest
    /// builds it first, a restart of a running process is refused.
    Unbuilt,
}

impl CannotStart {
    /// Whether a build could lift it (so a start from rest builds rather than fails).
    pub fn build_lifts(&self) -> bool {
        self.reason == StartBlock::Unbuilt
    }
}
