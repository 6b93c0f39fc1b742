//! What the engine's actor and its handles share: the messages the actor receives ([`Msg`]),
//! the state it publishes for every handle ([`Shared`]: views, the event bus, log tails), and
//! the errors and answers of the engine's front door.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, watch};

use crate::config::manifest::ConnectorSpec;
use crate::engine::io::build::{BuildKey, BuildUpdate};
use crate::engine::io::{logs, process, store};
use crate::machine::state::{Command, Event};
use crate::model::view::{self, ConnectorId, ConnectorView, EngineEvent, EventKind};

/// Errors of the engine's front door.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no connector '{0}' in this console")]
    UnknownConnector(ConnectorId),
    #[error("a connector '{0}' already exists in this console")]
    AlreadyExists(ConnectorId),
    #[error("the engine has shut down")]
    Gone,
    #[error(transparent)]
    Lock(#[from] store::LockError),
    #[error("iceoryx2: {0}")]
    Ipc(String),
    #[error("{0}")]
    Io(String),
}

/// The engine's private name for one slot. Unlike a [`ConnectorId`] it is never reused, so a
/// late exit or timer of a removed connector can never reach a new one of the same name.
pub(super) type SlotKey = u64;

pub(super) enum Msg {
    Command {
        target: Option<ConnectorId>,
        cmd: Command,
        origin: view::Origin,
        /// Told the number of the last event queued before the command was applied, and the
        /// command's [`CommandMark::n`] (0 when no local connector took it).
        ack: Option<oneshot::Sender<(u64, u64)>>,
    },
    Add {
        spec: Box<ConnectorSpec>,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    Remove {
        id: ConnectorId,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    /// A reloaded manifest's spec for an existing connector.
    Update {
        spec: Box<ConnectorSpec>,
        reply: oneshot::Sender<Result<Updated, EngineError>>,
    },
    Event {
        key: SlotKey,
        ev: Event,
    },
    Spawned {
        key: SlotKey,
        pid: i32,
        start_ticks: Option<u64>,
        signaller: process::Signaller,
    },
    Exited {
        key: SlotKey,
        pid: i32,
        ev: Event,
        /// A crash a request on its FromBot caused (from its output).
        crash: Option<crate::wire::hftbacktest::RequestCrash>,
    },
    /// News from the log relay supervisor of process `pid` of slot `key`.
    Relay {
        key: SlotKey,
        pid: i32,
        news: crate::engine::io::relay::RelayNews,
    },
    Build {
        key: BuildKey,
        update: BuildUpdate,
    },
    BuildDone {
        key: BuildKey,
        result: Result<(), crate::engine::io::build::BuildFailure>,
    },
    Shutdown {
        stop_all: bool,
    },
    /// Someone wants CPU and memory figures: start sampling if it had stopped.
    WakeUsage,
    /// ERROR/WARN lines the log tailer read.
    Levels {
        key: SlotKey,
        batch: logs::LevelBatch,
    },
}

/// What [`EngineHandle::update`] did with a reloaded spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Updated {
    /// The spec is the one in use.
    Unchanged,
    /// In use at once: nothing was running on the old one.
    Applied,
    /// Kept for the operator's next start or restart of the running connector.
    RestartNeeded,
}

/// What the actor shares with every handle.
pub(super) struct Shared {
    /// Subscribers of the event stream; the lock also orders event numbering, so a subscriber
    /// registered under it gets every later event.
    pub(super) bus: Mutex<Bus>,
    pub(super) views: watch::Sender<Arc<Vec<ConnectorView>>>,
    pub(super) logs: Mutex<HashMap<ConnectorId, logs::SharedScrollback>>,
    /// Told (one stored permit) whenever a tailer appends lines to any scrollback.
    pub(super) log_activity: Arc<tokio::sync::Notify>,
    /// Generation of the newest durable state handed to the writer, and the generation on disk.
    pub(super) durable_gen: std::sync::atomic::AtomicU64,
    pub(super) written: watch::Receiver<u64>,
    /// The views of each durable state handed to the writer and not yet known to be on disk,
    /// after the newest one that is: what `status` answers while a write is under way (#24:
    /// it never waits for the disk).
    pub(super) persisted: Mutex<std::collections::VecDeque<(u64, Arc<Vec<ConnectorView>>)>>,
    /// CPU and memory are sampled until then (Unix milliseconds): see
    /// [`EngineHandle::want_usage`].
    pub(super) usage_until_ms: std::sync::atomic::AtomicU64,
    /// The last few commands applied to each local connector, oldest first: whoever waits for
    /// a command's outcome learns from them that another command overtook it.
    pub(super) commands: Mutex<HashMap<ConnectorId, std::collections::VecDeque<CommandMark>>>,
}

/// Drops the persisted views older than the newest one on disk (generation `written`).
fn prune_persisted(
    q: &mut std::collections::VecDeque<(u64, Arc<Vec<ConnectorView>>)>,
    written: u64,
) {
    while q.len() > 1 && q[1].0 <= written {
        q.pop_front();
    }
}

/// How many applied commands [`Shared::commands`] keeps per connector.
pub(super) const COMMANDS_KEPT: usize = 8;

/// One operator command as the engine applied it to one connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandMark {
    /// Numbers every command the engine applies, in order, from 1.
    pub n: u64,
    /// The number of the last event queued before it was applied: later events may be its
    /// consequences, earlier ones are not.
    pub after_seq: u64,
    pub cmd: Command,
    pub by: view::Origin,
}

#[derive(Default)]
pub(super) struct Bus {
    pub(super) seq: u64,
    pub(super) subscribers: Vec<mpsc::UnboundedSender<Arc<EngineEvent>>>,
}

impl Shared {
    /// Keeps `views`, the views of durable state generation `gen`, until a newer one is on disk.
    pub(super) fn remember_persisted(&self, gen: u64, views: Arc<Vec<ConnectorView>>) {
        let written = *self.written.borrow();
        let mut q = self.persisted.lock().unwrap_or_else(|p| p.into_inner());
        q.push_back((gen, views));
        prune_persisted(&mut q, written);
    }

    /// The views on disk when generation `written` is and `durable` is the newest durable one
    /// handed over: None when that is on disk too (the current views are).
    pub(super) fn on_disk(&self, written: u64, durable: u64) -> Option<Arc<Vec<ConnectorView>>> {
        if written >= durable {
            return None;
        }
        let mut q = self.persisted.lock().unwrap_or_else(|p| p.into_inner());
        prune_persisted(&mut q, written);
        q.front()
            .filter(|(g, _)| *g <= written)
            .map(|(_, v)| v.clone())
    }

    pub(super) fn emit(&self, seq: u64, id: ConnectorId, kind: EventKind) {
        let mut bus = self.bus.lock().unwrap_or_else(|p| p.into_inner());
        bus.seq = seq;
        let ev = Arc::new(EngineEvent {
            seq,
            ts: logs::now_rfc3339(),
            id,
            kind,
        });
        // Unbounded per subscriber: events are rare (lifecycle changes), and an observer that
        // lags must still see every `failed`. A subscriber that went away is dropped here.
        bus.subscribers.retain(|s| s.send(ev.clone()).is_ok());
    }
}

/// How long an event waits for the `state.json` write it depends on. Normally a few ms; a
/// failing disk must not hold observers back for longer than this.
pub(super) const EVENT_WAITS_FOR_STATE: std::time::Duration = std::time::Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    fn views(name: &str) -> Arc<Vec<ConnectorView>> {
        Arc::new(vec![ConnectorView::new(
            name,
            crate::config::connector::ConnectorType::BinanceFutures,
            0.0,
        )])
    }

    #[test]
    fn the_views_kept_are_the_newest_on_disk_and_those_after_it() {
        let mut q: std::collections::VecDeque<_> =
            [(2, views("a")), (5, views("b")), (7, views("c"))].into();
        // Generation 4 on disk (a detail after 2): 2 is what the file holds.
        prune_persisted(&mut q, 4);
        assert_eq!(q.iter().map(|(g, _)| *g).collect::<Vec<_>>(), [2, 5, 7]);
        prune_persisted(&mut q, 6);
        assert_eq!(q.iter().map(|(g, _)| *g).collect::<Vec<_>>(), [5, 7]);
        assert_eq!(q[0].1[0].name, "b");
        prune_persisted(&mut q, 9);
        assert_eq!(q.iter().map(|(g, _)| *g).collect::<Vec<_>>(), [7]);
    }
}
