//! [`EngineHandle`], the engine's public face: commands, views, the event stream and log tails
//! of this host's connectors (other hosts' are the fleet's: [`crate::fleet`]). Cloneable; every call is a message to
//! the actor in `mod.rs` or a read of what it published.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use super::mailbox::{CommandMark, EngineError, Msg, Shared, Updated, EVENT_WAITS_FOR_STATE};
use crate::config::manifest::ConnectorSpec;
use crate::engine::io::{logs, store};
use crate::machine::state::Command;
use crate::model::phase::Phase;
use crate::model::view::{self, ConnectorId, ConnectorView, EngineEvent, Health};

/// A lossless stream of engine events, in order, numbered without gaps.
pub struct EventStream {
    pub(super) rx: mpsc::UnboundedReceiver<Arc<EngineEvent>>,
}

impl EventStream {
    /// The next event, or None once the engine has ended and everything was read.
    pub async fn recv(&mut self) -> Option<Arc<EngineEvent>> {
        self.rx.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Arc<EngineEvent>> {
        self.rx.try_recv().ok()
    }
}

/// Cloneable access to a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    pub(super) tx: mpsc::UnboundedSender<Msg>,
    pub(super) shared: Arc<Shared>,
    pub(super) done: watch::Receiver<bool>,
    pub(super) autostart: Arc<Vec<ConnectorId>>,
    pub(super) state_dir: PathBuf,
}

impl EngineHandle {
    /// The connectors [`EngineHandle::start_selected`] starts: those someone started before
    /// (the last decision about them, kept in `state.json`), and of those nobody decided about,
    /// the ones that `autostart` (or all of them in headless `run`). Never one stopped by the
    /// operator or given up on by its restart budget.
    pub fn selected(&self) -> Vec<ConnectorId> {
        self.autostart.as_ref().clone()
    }

    /// Every connector's view, and whether all wanted ones are Ready.
    pub fn health(&self) -> Health {
        let connectors: Vec<ConnectorView> = self.views().borrow().as_ref().clone();
        let healthy = connectors
            .iter()
            .filter(|c| c.wanted)
            .all(|c| c.phase == Phase::Ready && !c.degraded);
        Health {
            connectors,
            healthy,
        }
    }

    /// A receiver that changes whenever a view does (not when only time passes).
    pub fn views(&self) -> watch::Receiver<Arc<Vec<ConnectorView>>> {
        self.shared.views.subscribe()
    }

    /// Resolves once `state.json` holds every durable change made so far (phases, PIDs), at
    /// most [`EVENT_WAITS_FOR_STATE`] later: what a reply about the state waits for, so that
    /// whoever sees a state may find it in the file at once (say, after this console dies).
    pub async fn state_written(&self) {
        let target = self.durable_gen();
        let mut written = self.shared.written.clone();
        let _ =
            tokio::time::timeout(EVENT_WAITS_FOR_STATE, written.wait_for(|g| *g >= target)).await;
    }

    /// The views as `state.json` holds them, without waiting for the disk (#24): the current
    /// ones when every durable change is written; while one is being written, each
    /// connector's view in the newest state already on disk (whoever reads the file next sees
    /// the same), with the figures the file does not keep (CPU, memory, the meter's) current
    /// where its process is the same. The connectors listed are the current ones.
    pub async fn written_views(&self) -> Vec<ConnectorView> {
        let written = *self.shared.written.borrow();
        let current = self.views().borrow().clone();
        let Some(old) = self.shared.on_disk(written, self.durable_gen()) else {
            return current.as_ref().clone();
        };
        let old: std::collections::HashMap<&str, &ConnectorView> =
            old.iter().map(|v| (v.name.as_str(), v)).collect();
        current
            .iter()
            .map(|now| match old.get(now.name.as_str()) {
                Some(was) => {
                    let mut v = (*was).clone();
                    if v.pid == now.pid {
                        v.cpu_pct = now.cpu_pct;
                        v.rss_bytes = now.rss_bytes;
                        v.feed = now.feed.clone();
                    }
                    v
                }
                None => now.clone(),
            })
            .collect()
    }

    fn durable_gen(&self) -> u64 {
        self.shared
            .durable_gen
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every event from now on, losslessly.
    pub fn subscribe(&self) -> EventStream {
        self.subscribe_with_views().1
    }

    /// The current views and every later event, with nothing in between lost or repeated:
    /// what an observer that shows state and then follows it needs.
    pub fn subscribe_with_views(&self) -> (Arc<Vec<ConnectorView>>, EventStream) {
        let mut bus = self.shared.bus.lock().unwrap_or_else(|p| p.into_inner());
        let views = self.shared.views.borrow().clone();
        let (tx, rx) = mpsc::unbounded_channel();
        bus.subscribers.push(tx);
        (views, EventStream { rx })
    }

    /// The ids of all connectors, in order.
    pub fn ids(&self) -> Vec<ConnectorId> {
        self.views().borrow().iter().map(|v| v.id()).collect()
    }

    /// Asks for CPU and memory figures (`cpu_pct`, `rss_bytes` in the views) for the next
    /// `secs` seconds: they are read once a second while someone wants them, never otherwise.
    /// Returns true when sampling had stopped (the figures are not there yet).
    pub fn want_usage(&self, secs: f64) -> bool {
        use std::sync::atomic::Ordering;
        let now_ms = store::unix_now() * 1000.0;
        let until = (now_ms + secs * 1000.0).min(u64::MAX as f64) as u64;
        let before = self
            .shared
            .usage_until_ms
            .fetch_max(until, Ordering::Relaxed);
        let stopped = (before as f64) <= now_ms;
        if stopped {
            let _ = self.tx.send(Msg::WakeUsage);
        }
        stopped
    }

    /// The console's state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Wakes (one stored permit) when new log lines reach any scrollback: a viewer redraws on it
    /// instead of polling.
    pub fn log_activity(&self) -> Arc<tokio::sync::Notify> {
        self.shared.log_activity.clone()
    }

    /// The in-memory log tail of connector `id`.
    pub fn scrollback(&self, id: &ConnectorId) -> Option<logs::SharedScrollback> {
        self.shared
            .logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    fn known(&self, id: &ConnectorId) -> bool {
        self.views().borrow().iter().any(|v| v.id() == *id)
    }

    /// Sends `cmd` to connector `id` (a `&str` names a local connector).
    pub fn command(&self, id: impl Into<ConnectorId>, cmd: Command) -> Result<(), EngineError> {
        self.command_by(id, cmd, view::Origin::Api)
    }

    /// Sends `cmd` to connector `id` on behalf of `origin` (shown in its history).
    pub fn command_by(
        &self,
        id: impl Into<ConnectorId>,
        cmd: Command,
        origin: view::Origin,
    ) -> Result<(), EngineError> {
        let id = id.into();
        if !self.known(&id) {
            return Err(EngineError::UnknownConnector(id));
        }
        self.tx
            .send(Msg::Command {
                target: Some(id),
                cmd,
                origin,
                ack: None,
            })
            .map_err(|_| EngineError::Gone)
    }

    /// Sends `cmd` to connector `id` and returns once the engine has applied it, with the
    /// number of the last event queued before it: events with a higher `seq` are its
    /// consequences (or later news), those up to it are older news still on their way.
    pub async fn command_applied(
        &self,
        id: impl Into<ConnectorId>,
        cmd: Command,
        origin: view::Origin,
    ) -> Result<u64, EngineError> {
        Ok(self.command_marked(id, cmd, origin).await?.0)
    }

    /// As [`EngineHandle::command_applied`], and also the command's [`CommandMark::n`] (0 when
    /// no connector took it): a later mark in [`EngineHandle::commands_after`] is a
    /// command that overtook it.
    pub async fn command_marked(
        &self,
        id: impl Into<ConnectorId>,
        cmd: Command,
        origin: view::Origin,
    ) -> Result<(u64, u64), EngineError> {
        let id = id.into();
        if !self.known(&id) {
            return Err(EngineError::UnknownConnector(id));
        }
        let (ack, rx) = oneshot::channel();
        self.tx
            .send(Msg::Command {
                target: Some(id),
                cmd,
                origin,
                ack: Some(ack),
            })
            .map_err(|_| EngineError::Gone)?;
        rx.await.map_err(|_| EngineError::Gone)
    }

    /// The commands applied to connector `id` after the one numbered `n`, oldest first (the
    /// engine keeps the last few).
    pub fn commands_after(&self, id: &ConnectorId, n: u64) -> Vec<CommandMark> {
        let all = self
            .shared
            .commands
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        all.get(id)
            .map(|kept| kept.iter().filter(|m| m.n > n).copied().collect())
            .unwrap_or_default()
    }

    /// Sends `cmd` to every connector of this host.
    pub fn command_all(&self, cmd: Command) -> Result<(), EngineError> {
        self.command_all_by(cmd, view::Origin::Api)
    }

    /// Sends `cmd` to every connector of this host on behalf of `origin`.
    pub fn command_all_by(&self, cmd: Command, origin: view::Origin) -> Result<(), EngineError> {
        self.tx
            .send(Msg::Command {
                target: None,
                cmd,
                origin,
                ack: None,
            })
            .map_err(|_| EngineError::Gone)
    }

    /// Gives an existing connector a reloaded manifest entry: used at once when nothing runs
    /// on the old one (at rest, or waiting in backoff), else kept (shown as `restart_needed`) until the operator starts or
    /// restarts it. Never restarts anything by itself.
    pub async fn update(&self, spec: ConnectorSpec) -> Result<Updated, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Update {
                spec: Box::new(spec),
                reply,
            })
            .map_err(|_| EngineError::Gone)?;
        rx.await.map_err(|_| EngineError::Gone)?
    }

    /// Adds a connector to the running engine (at rest; send it [`Command::Start`] to run it).
    pub async fn add(&self, spec: ConnectorSpec) -> Result<(), EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Add {
                spec: Box::new(spec),
                reply,
            })
            .map_err(|_| EngineError::Gone)?;
        rx.await.map_err(|_| EngineError::Gone)?
    }

    /// Stops connector `id` if it runs, then removes it. Resolves once it is gone.
    pub async fn remove(&self, id: impl Into<ConnectorId>) -> Result<(), EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Remove {
                id: id.into(),
                reply,
            })
            .map_err(|_| EngineError::Gone)?;
        rx.await.map_err(|_| EngineError::Gone)?
    }

    /// Starts the connectors selected as the engine started (see [`Self::selected`]). Call it
    /// after [`Self::subscribe`] so that no transition is missed.
    ///
    /// Only those at rest are started: one taken over running is watched, one taken over
    /// while the previous console was stopping it is left to finish that stop (the operator
    /// asked for it), one waiting to restart restarts when its backoff ends.
    pub fn start_selected(&self) -> Result<(), EngineError> {
        let busy: Vec<ConnectorId> = self
            .views()
            .borrow()
            .iter()
            .filter(|v| !v.phase.is_at_rest())
            .map(|v| v.id())
            .collect();
        for id in self.autostart.iter().filter(|id| !busy.contains(id)) {
            self.command_by(id.clone(), Command::Start, view::Origin::Autostart)?;
        }
        Ok(())
    }

    /// Stops every connector, then ends the engine.
    pub fn shutdown(&self) {
        let _ = self.tx.send(Msg::Shutdown { stop_all: true });
    }

    /// Ends the engine and leaves the connectors running (they do not depend on it).
    pub fn detach(&self) {
        let _ = self.tx.send(Msg::Shutdown { stop_all: false });
    }

    /// Resolves when the engine has ended (and `state.json` has its last state).
    pub async fn await_shutdown(&self) {
        let mut done = self.done.clone();
        let _ = done.wait_for(|d| *d).await;
    }
}

impl From<&str> for ConnectorId {
    /// A local connector's name, taken literally.
    fn from(name: &str) -> Self {
        ConnectorId::local(name)
    }
}
