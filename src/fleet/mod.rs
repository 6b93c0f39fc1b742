//! The fleet: what every front end sees (the TUI, `run --headless`, the control server, the
//! alerts, the metrics, the systemd notifications). It is this console's engine plus the links
//! to other hosts' consoles (DESIGN §12): one list of views (local connectors first, then each
//! host's in the order hosts were first heard of), one stream of events, the host links' states,
//! the scrollbacks, and commands.
//!
//! The engine knows only local connectors. A link ([`crate::fleet::hosts`]) hands its mirror of a
//! remote console to the fleet ([`Fleet::set_remote`], [`Fleet::remote_event`],
//! [`Fleet::set_host`]); a command for `NAME@HOST` goes from the fleet straight to that host's
//! link and never through the engine's actor. A command for a host whose link is not up is
//! refused at once, with the link's state ([`FleetError::LinkDown`]).

pub mod hosts;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, watch};

use crate::control::protocol::ResponseBody;
use crate::engine::io::logs::SharedScrollback;
use crate::engine::io::store::unix_now;
use crate::engine::{EngineError, EngineHandle, EventStream};
use crate::machine::state::Command;
use crate::model::phase::Phase;
use crate::model::view::{
    ConnectorId, ConnectorView, EngineEvent, Health, HostView, LinkState, Origin,
};

/// A command for a connector of another host, handed to that host's link. The link sends the
/// remote console's reply to `reply` (dropped unanswered when the link is lost first).
#[derive(Debug)]
pub struct RemoteCommand {
    pub id: ConnectorId,
    pub cmd: Command,
    pub reply: Option<oneshot::Sender<ResponseBody>>,
}

/// Why the fleet did not take a command.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("no connector '{0}' in this console")]
    UnknownConnector(ConnectorId),
    /// The link to the connector's host is not up: the command was not sent.
    #[error("{id}: the link to host {host} is not up ({state}); the command was not sent")]
    LinkDown {
        id: ConnectorId,
        host: String,
        /// The link's state in words (`far: reconnecting in 4 s (attempt 2/20): …`).
        state: String,
    },
}

/// A lossless stream of the fleet's events: the local engine's (numbered by the engine,
/// without gaps) and the remote connectors' (numbered by their own consoles).
pub struct FleetEvents {
    local: EventStream,
    remote: mpsc::UnboundedReceiver<Arc<EngineEvent>>,
}

impl FleetEvents {
    /// The next event, or None once the engine has ended and its events were read.
    pub async fn recv(&mut self) -> Option<Arc<EngineEvent>> {
        tokio::select! {
            biased;
            ev = self.local.recv() => ev,
            Some(ev) = self.remote.recv() => Some(ev),
        }
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Arc<EngineEvent>> {
        self.local
            .try_recv()
            .or_else(|| self.remote.try_recv().ok())
    }
}

/// What the links to other hosts handed over.
#[derive(Default)]
struct Remote {
    /// Each host's connectors (each with `host` set, or not for a viewer's link), in the order
    /// hosts were first heard of.
    views: Vec<(String, Vec<ConnectorView>)>,
    logs: HashMap<ConnectorId, SharedScrollback>,
    links: HashMap<String, mpsc::UnboundedSender<RemoteCommand>>,
    /// Subscribers of the remote events.
    bus: Vec<mpsc::UnboundedSender<Arc<EngineEvent>>>,
}

impl Remote {
    fn all_views(&self) -> impl Iterator<Item = &ConnectorView> {
        self.views.iter().flat_map(|(_, v)| v.iter())
    }

    /// The host whose link shows connector `id`.
    fn host_of(&self, id: &ConnectorId) -> Option<String> {
        self.views
            .iter()
            .find(|(_, vs)| vs.iter().any(|v| v.id() == *id))
            .map(|(h, _)| h.clone())
            .or_else(|| id.host.clone())
    }
}

struct Shared {
    remote: Mutex<Remote>,
    /// Local views, then remote ones.
    views: watch::Sender<Arc<Vec<ConnectorView>>>,
    hosts: watch::Sender<Arc<Vec<HostView>>>,
}

/// Cloneable access to the fleet: the local engine and the links to other hosts.
#[derive(Clone)]
pub struct Fleet {
    engine: EngineHandle,
    shared: Arc<Shared>,
}

fn lock(m: &Mutex<Remote>) -> std::sync::MutexGuard<'_, Remote> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Fleet {
    /// The fleet of `engine` (no host links yet). Must run on the runtime: it follows the
    /// engine's views until the engine ends.
    pub fn new(engine: EngineHandle) -> Fleet {
        let (views, _) = watch::channel(engine.views().borrow().clone());
        let (hosts, _) = watch::channel(Arc::new(Vec::new()));
        let fleet = Fleet {
            engine,
            shared: Arc::new(Shared {
                remote: Mutex::new(Remote::default()),
                views,
                hosts,
            }),
        };
        let follower = fleet.clone();
        tokio::spawn(async move {
            let mut local = follower.engine.views();
            loop {
                tokio::select! {
                    changed = local.changed() => {
                        if changed.is_err() { break; }
                        follower.republish();
                    }
                    _ = follower.engine.await_shutdown() => break,
                }
            }
            follower.republish();
        });
        fleet
    }

    /// The local engine (local connectors only).
    pub fn engine(&self) -> &EngineHandle {
        &self.engine
    }

    /// Publishes local + remote views if any differs from what was published.
    fn republish(&self) {
        let remote = lock(&self.shared.remote);
        self.publish_locked(&remote);
    }

    fn merged(&self, local: &[ConnectorView], remote: &Remote) -> Vec<ConnectorView> {
        local
            .iter()
            .cloned()
            .chain(remote.all_views().cloned())
            .collect()
    }

    fn publish_locked(&self, remote: &Remote) {
        let local = self.engine.views().borrow().clone();
        let views = self.merged(&local, remote);
        self.shared.views.send_if_modified(|cur| {
            let changed =
                cur.len() != views.len() || cur.iter().zip(&views).any(|(a, b)| a.differs_from(b));
            if changed {
                *cur = Arc::new(views);
            }
            changed
        });
    }

    /// A receiver that changes whenever a view does (local or remote).
    pub fn views(&self) -> watch::Receiver<Arc<Vec<ConnectorView>>> {
        self.shared.views.subscribe()
    }

    /// Every view as of now (local ones read from the engine, not through the follower).
    fn current(&self) -> Vec<ConnectorView> {
        let remote = lock(&self.shared.remote);
        let local = self.engine.views().borrow().clone();
        self.merged(&local, &remote)
    }

    /// Every connector's view, and whether all wanted ones are Ready.
    pub fn health(&self) -> Health {
        let connectors = self.current();
        let healthy = connectors
            .iter()
            .filter(|c| c.wanted)
            .all(|c| c.phase == Phase::Ready && !c.degraded);
        Health {
            connectors,
            healthy,
        }
    }

    /// The views, local ones once `state.json` holds them (see
    /// [`EngineHandle::written_views`]).
    pub async fn written_views(&self) -> Vec<ConnectorView> {
        let local = self.engine.written_views().await;
        let remote = lock(&self.shared.remote);
        self.merged(&local, &remote)
    }

    /// The ids of all connectors, in order.
    pub fn ids(&self) -> Vec<ConnectorId> {
        self.current().iter().map(|v| v.id()).collect()
    }

    /// The current views and every later event, nothing in between lost or repeated.
    pub fn subscribe_with_views(&self) -> (Arc<Vec<ConnectorView>>, FleetEvents) {
        let mut remote = lock(&self.shared.remote);
        let (local_views, local) = self.engine.subscribe_with_views();
        let (tx, rx) = mpsc::unbounded_channel();
        remote.bus.push(tx);
        let views = Arc::new(self.merged(&local_views, &remote));
        (views, FleetEvents { local, remote: rx })
    }

    /// Every event from now on, losslessly.
    pub fn subscribe(&self) -> FleetEvents {
        self.subscribe_with_views().1
    }

    /// The links to other hosts, as they last reported.
    pub fn hosts(&self) -> watch::Receiver<Arc<Vec<HostView>>> {
        self.shared.hosts.subscribe()
    }

    /// The in-memory log tail of connector `id` (local or remote).
    pub fn scrollback(&self, id: &ConnectorId) -> Option<SharedScrollback> {
        let remote = lock(&self.shared.remote).logs.get(id).cloned();
        remote.or_else(|| self.engine.scrollback(id))
    }

    /// Wakes (one stored permit) when new log lines reach any scrollback.
    pub fn log_activity(&self) -> Arc<tokio::sync::Notify> {
        self.engine.log_activity()
    }

    /// The console's state directory.
    pub fn state_dir(&self) -> &Path {
        self.engine.state_dir()
    }

    /// See [`EngineHandle::want_usage`] (local connectors; remote consoles sample their own).
    pub fn want_usage(&self, secs: f64) -> bool {
        self.engine.want_usage(secs)
    }

    /// Whether connector `id` is shown through a link (not one of the engine's).
    pub fn is_remote(&self, id: &ConnectorId) -> bool {
        id.host.is_some() || lock(&self.shared.remote).all_views().any(|v| v.id() == *id)
    }

    /// Sends `cmd` to connector `id` on behalf of `origin`: a local one through the engine, a
    /// remote one straight to its host's link (refused at once when the link is not up).
    pub fn command_by(
        &self,
        id: impl Into<ConnectorId>,
        cmd: Command,
        origin: Origin,
    ) -> Result<(), FleetError> {
        let id = id.into();
        if self.is_remote(&id) {
            self.send_remote(&id, cmd).map(|_| ())
        } else {
            Ok(self.engine.command_by(id, cmd, origin)?)
        }
    }

    /// Sends `cmd` to every connector of this host (never to other hosts').
    pub fn command_all_by(&self, cmd: Command, origin: Origin) -> Result<(), FleetError> {
        Ok(self.engine.command_all_by(cmd, origin)?)
    }

    /// Hands `cmd` for remote connector `id` to its host's link; the receiver gets the remote
    /// console's reply (an error when the link is lost first). Refused at once, with the
    /// link's state, when the link is not connected.
    pub fn send_remote(
        &self,
        id: &ConnectorId,
        cmd: Command,
    ) -> Result<oneshot::Receiver<ResponseBody>, FleetError> {
        let remote = lock(&self.shared.remote);
        let Some(host) = remote.host_of(id) else {
            return Err(FleetError::UnknownConnector(id.clone()));
        };
        let link_view = self
            .shared
            .hosts
            .borrow()
            .iter()
            .find(|h| h.name == host)
            .cloned();
        let Some(link_view) = link_view else {
            return Err(FleetError::UnknownConnector(id.clone()));
        };
        let down = |state: String| FleetError::LinkDown {
            id: id.clone(),
            host: host.clone(),
            state,
        };
        if link_view.link != LinkState::Connected {
            return Err(down(link_view.describe(unix_now())));
        }
        if !remote.all_views().any(|v| v.id() == *id) {
            return Err(FleetError::UnknownConnector(id.clone()));
        }
        let (reply, rx) = oneshot::channel();
        let sent = remote.links.get(&host).map(|link| {
            link.send(RemoteCommand {
                id: id.clone(),
                cmd,
                reply: Some(reply),
            })
        });
        match sent {
            Some(Ok(())) => Ok(rx),
            _ => Err(down("its connection has just ended".into())),
        }
    }

    /// A host link reports its state (connecting, connected, reconnecting, failed).
    pub fn set_host(&self, host: HostView) {
        self.shared.hosts.send_modify(|all| {
            let mut next = all.as_ref().clone();
            match next.iter_mut().find(|h| h.name == host.name) {
                Some(h) => *h = host,
                None => next.push(host),
            }
            *all = Arc::new(next);
        });
    }

    /// A host link hands over its connectors' views and the scrollbacks their lines go to.
    pub fn set_remote(
        &self,
        host: &str,
        views: Vec<ConnectorView>,
        scrollbacks: Vec<(ConnectorId, SharedScrollback)>,
    ) {
        let mut remote = lock(&self.shared.remote);
        let ids: Vec<ConnectorId> = remote
            .views
            .iter()
            .filter(|(h, _)| h == host)
            .flat_map(|(_, vs)| vs.iter().map(|v| v.id()))
            .collect();
        remote.logs.retain(|id, _| !ids.contains(id));
        remote.logs.extend(scrollbacks);
        match remote.views.iter_mut().find(|(h, _)| h == host) {
            Some((_, v)) => *v = views,
            None => remote.views.push((host.to_string(), views)),
        }
        self.publish_locked(&remote);
    }

    /// Where commands for `host`'s connectors go (for the link's current connection).
    pub fn link_host(&self, host: &str, commands: mpsc::UnboundedSender<RemoteCommand>) {
        lock(&self.shared.remote)
            .links
            .insert(host.to_string(), commands);
    }

    /// Publishes a remote connector's event to every subscriber.
    pub fn remote_event(&self, ev: EngineEvent) {
        let ev = Arc::new(ev);
        lock(&self.shared.remote)
            .bus
            .retain(|s| s.send(ev.clone()).is_ok());
    }

    /// Tells viewers that log lines arrived (a host link's batch).
    pub fn tell_log_activity(&self) {
        self.engine.log_activity().notify_one();
    }

    /// See [`EngineHandle::start_selected`].
    pub fn start_selected(&self) -> Result<(), EngineError> {
        self.engine.start_selected()
    }

    /// See [`EngineHandle::selected`].
    pub fn selected(&self) -> Vec<ConnectorId> {
        self.engine.selected()
    }

    /// Stops every local connector, then ends the engine (remote ones are never touched).
    pub fn shutdown(&self) {
        self.engine.shutdown()
    }

    /// Ends the engine and leaves the connectors running.
    pub fn detach(&self) {
        self.engine.detach()
    }

    /// Resolves when the engine has ended.
    pub async fn await_shutdown(&self) {
        self.engine.await_shutdown().await
    }
}
