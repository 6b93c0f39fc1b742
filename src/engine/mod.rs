//! The lifecycle engine: an actor that owns every connector's [`state::ConnectorState`], feeds it
//! events (commands, exits, probes, timers, builds) and carries out the effects it returns.
//! Front ends talk to it through a cloneable [`EngineHandle`].

pub mod adopt;
pub mod build;
pub mod control;
pub mod ipc;
pub mod logs;
pub mod phase;
pub mod process;
pub mod snapshot;
pub mod state;
pub mod store;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::manifest::{ConnectorSpec, Manifest};
use build::{BuildKey, BuildUpdate};
use phase::Phase;
use snapshot::{ConnectorSnapshot, Health, Transition};
use state::{Command, ConnectorState, Ctx, Effect, Event, Settings, SpawnFailure};

pub use snapshot::StatusJson;

/// Errors of the engine's front door.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no connector named '{0}' in the manifest")]
    UnknownConnector(String),
    #[error("the engine has shut down")]
    Gone,
    #[error(transparent)]
    Lock(#[from] store::LockError),
    #[error("iceoryx2: {0}")]
    Ipc(String),
    #[error("{0}")]
    Io(String),
}

/// How the engine is started.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Start connectors whose `autostart` is true.
    pub autostart: bool,
    /// Start every connector, whatever `autostart` says (headless `run`).
    pub start_all: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            autostart: true,
            start_all: false,
        }
    }
}

enum Msg {
    Command {
        idx: Option<usize>,
        cmd: Command,
    },
    Event {
        idx: usize,
        ev: Event,
    },
    Spawned {
        idx: usize,
        pid: i32,
        start_ticks: Option<u64>,
        signaller: process::Signaller,
    },
    Exited {
        idx: usize,
        pid: i32,
        ev: Event,
    },
    Build {
        key: BuildKey,
        update: BuildUpdate,
    },
    BuildDone {
        key: BuildKey,
        result: Result<(), (String, String)>,
    },
    Shutdown {
        stop_all: bool,
    },
}

struct Slot {
    spec: ConnectorSpec,
    settings: Settings,
    state: ConnectorState,
    child: Option<process::Signaller>,
    start_ticks: Option<u64>,
    started_unix: Option<f64>,
    log: PathBuf,
    build_progress: Option<(u32, u32)>,
    wanted: bool,
    adopted: bool,
}

struct BuildJob {
    waiters: Vec<usize>,
    task: JoinHandle<()>,
}

/// Cloneable access to a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::UnboundedSender<Msg>,
    names: Arc<Vec<String>>,
    snapshots: watch::Receiver<Arc<Vec<ConnectorSnapshot>>>,
    transitions: broadcast::Sender<Transition>,
    done: watch::Receiver<bool>,
    scrollbacks: Arc<Vec<logs::SharedScrollback>>,
    autostart: Arc<Vec<usize>>,
}

impl EngineHandle {
    /// Every connector's snapshot, and whether all wanted ones are Ready.
    pub fn health(&self) -> Health {
        let connectors: Vec<ConnectorSnapshot> = self.snapshots.borrow().as_ref().clone();
        let healthy = connectors
            .iter()
            .filter(|c| c.wanted)
            .all(|c| c.phase == Phase::Ready && !c.degraded);
        Health {
            connectors,
            healthy,
        }
    }

    /// A receiver that changes whenever a snapshot does.
    pub fn snapshots(&self) -> watch::Receiver<Arc<Vec<ConnectorSnapshot>>> {
        self.snapshots.clone()
    }

    /// Transitions from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Transition> {
        self.transitions.subscribe()
    }

    /// Connector names in manifest order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The in-memory log tail of connector `idx` (manifest order).
    pub fn scrollback(&self, idx: usize) -> Option<logs::SharedScrollback> {
        self.scrollbacks.get(idx).cloned()
    }

    fn index(&self, name: &str) -> Result<usize, EngineError> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| EngineError::UnknownConnector(name.to_string()))
    }

    /// Sends `cmd` to the connector called `name`.
    pub fn command(&self, name: &str, cmd: Command) -> Result<(), EngineError> {
        let idx = self.index(name)?;
        self.command_at(idx, cmd)
    }

    /// Sends `cmd` to connector `idx` (manifest order).
    pub fn command_at(&self, idx: usize, cmd: Command) -> Result<(), EngineError> {
        self.tx
            .send(Msg::Command {
                idx: Some(idx),
                cmd,
            })
            .map_err(|_| EngineError::Gone)
    }

    /// Sends `cmd` to every connector.
    pub fn command_all(&self, cmd: Command) -> Result<(), EngineError> {
        self.tx
            .send(Msg::Command { idx: None, cmd })
            .map_err(|_| EngineError::Gone)
    }

    /// Starts the connectors that [`EngineOptions`] selected. Call it after [`Self::subscribe`]
    /// so that no transition is missed.
    pub fn start_selected(&self) -> Result<(), EngineError> {
        for &idx in self.autostart.iter() {
            self.command_at(idx, Command::Start)?;
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

    /// Resolves when the engine has ended.
    pub async fn await_shutdown(&self) {
        let mut done = self.done.clone();
        let _ = done.wait_for(|d| *d).await;
    }
}

/// The engine's entry point.
pub struct Engine;

impl Engine {
    /// Takes the state_dir lock, creates the console's iceoryx2 node(s), starts the log tailers
    /// and the actor, and (per `options`) starts connectors.
    pub fn start(manifest: Manifest, options: EngineOptions) -> Result<EngineHandle, EngineError> {
        let state_dir = manifest.console.state_dir.clone();
        let lock = store::lock(&state_dir)?;
        std::fs::create_dir_all(state_dir.join("logs"))
            .map_err(|e| EngineError::Io(format!("{}: {e}", state_dir.join("logs").display())))?;

        let mut roots: Vec<PathBuf> = manifest
            .connectors
            .iter()
            .map(|c| c.project_root.clone())
            .collect();
        roots.sort();
        roots.dedup();
        let (probe_tx, mut probe_rx) = mpsc::unbounded_channel();
        let ipc = ipc::IpcWorker::start(&roots, probe_tx).map_err(EngineError::Ipc)?;

        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let (transitions, _) = broadcast::channel(1024);
        let (done_tx, done_rx) = watch::channel(false);

        // Log tailers.
        let mut scrollbacks = Vec::new();
        let mut tailers = Vec::new();
        let mut slots = Vec::new();
        for spec in &manifest.connectors {
            let log = logs::log_path(&state_dir, &spec.name);
            let sb = Arc::new(Mutex::new(logs::Scrollback::new(
                manifest.console.scrollback,
            )));
            tailers.push(tokio::spawn(
                logs::Tailer {
                    path: log.clone(),
                    scrollback: sb.clone(),
                    secrets: spec.secrets.clone(),
                    max_bytes: manifest.console.log_max_bytes,
                    keep: manifest.console.log_keep,
                }
                .run(),
            ));
            scrollbacks.push(sb);
            slots.push(Slot {
                settings: Settings {
                    startup_timeout: spec.startup_timeout,
                    shutdown_timeout: spec.shutdown_timeout,
                    auto_build: spec.auto_build,
                    restart: spec.restart.clone(),
                },
                spec: spec.clone(),
                state: ConnectorState::default(),
                child: None,
                start_ticks: None,
                started_unix: None,
                log,
                build_progress: None,
                wanted: false,
                adopted: false,
            });
        }
        take_over(&state_dir, &mut slots, &tx);

        let names: Vec<String> = manifest.connectors.iter().map(|c| c.name.clone()).collect();
        let initial = Arc::new(slots.iter().map(snapshot_of).collect::<Vec<_>>());
        let (snap_tx, snap_rx) = watch::channel(initial);

        let control_dir = state_dir.clone();
        let mut rt = Runtime {
            slots,
            tx: tx.clone(),
            ipc,
            builds: HashMap::new(),
            transitions: transitions.clone(),
            snapshots: snap_tx,
            state_dir,
            shutting_down: false,
        };
        let autostart: Vec<usize> = manifest
            .connectors
            .iter()
            .enumerate()
            .filter(|(_, c)| options.start_all || (options.autostart && c.autostart))
            .map(|(i, _)| i)
            .collect();
        rt.persist();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(64);
            loop {
                tokio::select! {
                    n = rx.recv_many(&mut batch, 64) => {
                        if n == 0 { break; }
                        let mut stop = false;
                        for msg in batch.drain(..) {
                            stop |= rt.handle(msg);
                        }
                        if stop { break; }
                    }
                    Some(report) = probe_rx.recv() => {
                        rt.on_probe(report);
                    }
                }
                rt.publish();
                if rt.shutting_down && rt.slots.iter().all(|s| s.state.phase.is_at_rest()) {
                    break;
                }
            }
            rt.publish();
            for t in tailers {
                t.abort();
            }
            drop(lock);
            let _ = done_tx.send(true);
        });

        let handle = EngineHandle {
            tx,
            names: Arc::new(names),
            snapshots: snap_rx,
            transitions,
            done: done_rx,
            scrollbacks: Arc::new(scrollbacks),
            autostart: Arc::new(autostart),
        };
        if let Err(e) = control::serve(&control_dir, handle.clone()) {
            tracing::warn!(
                "control socket {}: {e}; `switchboard start|stop NAME` will not reach this console",
                control::socket_path(&control_dir).display()
            );
        }
        Ok(handle)
    }
}

/// Applies the previous console's `state.json` to the fresh slots: adopts what still runs and
/// is verifiably ours, reports the rest truthfully.
fn take_over(state_dir: &std::path::Path, slots: &mut [Slot], tx: &mpsc::UnboundedSender<Msg>) {
    let previous = match store::read_state(state_dir) {
        Ok(Some(p)) => p,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!("ignoring the previous state: {e}");
            return;
        }
    };
    let now = Instant::now();
    for (idx, slot) in slots.iter_mut().enumerate() {
        let Some(rec) = previous
            .connectors
            .iter()
            .find(|r| r.name == slot.spec.name)
        else {
            continue;
        };
        match adopt::verdict(&previous, rec, &slot.spec) {
            adopt::Verdict::Adopt { pid, start_ticks } => match process::adopt(pid) {
                Ok(handle) => {
                    slot.state = ConnectorState::adopted(pid, rec.restarts, now);
                    if let Some(started) = rec.started_unix {
                        // Uptime continues from the original start.
                        let age = (store::unix_now() - started).max(0.0);
                        slot.state.started_at =
                            now.checked_sub(std::time::Duration::from_secs_f64(age));
                    }
                    slot.child = Some(handle.signaller());
                    slot.start_ticks = Some(start_ticks);
                    slot.started_unix = rec.started_unix;
                    slot.adopted = true;
                    slot.wanted = true;
                    let _ = logs::write_marker(
                        &slot.log,
                        &format!("adopt: PID {pid} taken over by a new console"),
                    );
                    tracing::info!(connector = %slot.spec.name, pid, "adopted from the previous console");
                    let tx = tx.clone();
                    let log = slot.log.clone();
                    let secrets = slot.spec.secrets.clone();
                    tokio::spawn(async move {
                        let status = handle.exited.await.ok().flatten();
                        let _ = tx.send(exit_message(idx, pid, status, Some(&log), &secrets));
                    });
                }
                Err(e) => {
                    slot.state = ConnectorState::gone(
                        format!("process {pid} could not be watched ({e}); not adopted"),
                        rec.restarts,
                        rec.last_exit,
                    );
                }
            },
            adopt::Verdict::Gone(why) => {
                slot.state = ConnectorState::gone(why, rec.restarts, rec.last_exit);
            }
            adopt::Verdict::Unverified(why) => {
                slot.state =
                    ConnectorState::restored(Phase::Failed, why, rec.restarts, rec.last_exit);
            }
            adopt::Verdict::AtRest => {
                let phase = match rec.phase {
                    Phase::Stopped | Phase::Exited | Phase::Failed | Phase::Idle => rec.phase,
                    // A build, start or backoff the previous console did not finish.
                    Phase::Building
                    | Phase::Starting
                    | Phase::Ready
                    | Phase::Stopping
                    | Phase::Backoff => Phase::Idle,
                };
                slot.state = ConnectorState::restored(
                    phase,
                    rec.detail.clone(),
                    rec.restarts,
                    rec.last_exit,
                );
            }
        }
    }
}

/// The exit event of connector `idx`, with the last meaningful line of its log (secrets masked)
/// and whether that output shows the SendError panic of a normal stop.
fn exit_message(
    idx: usize,
    pid: i32,
    status: Option<phase::ExitStatus>,
    log: Option<&std::path::Path>,
    secrets: &[String],
) -> Msg {
    let (summary, send_error) = log.map(logs::exit_summary).unwrap_or((None, false));
    Msg::Exited {
        idx,
        pid,
        ev: Event::Exited {
            status,
            summary: summary.map(|s| crate::connector_config::mask_secrets(&s, secrets)),
            send_error,
        },
    }
}

fn snapshot_of(s: &Slot) -> ConnectorSnapshot {
    ConnectorSnapshot {
        name: s.spec.name.clone(),
        kind: s.spec.kind,
        phase: s.state.phase,
        pid: s.state.pid,
        started_at: s.state.started_at,
        restarts: s.state.restarts,
        bots: s.state.bots,
        last_exit: s.state.last_exit,
        detail: s.state.detail.clone(),
        deadline: s.state.deadline,
        build_progress: s.build_progress,
        degraded: s.state.degraded,
        wanted: s.wanted,
        adopted: s.adopted,
    }
}

struct Runtime {
    slots: Vec<Slot>,
    tx: mpsc::UnboundedSender<Msg>,
    ipc: ipc::IpcWorker,
    builds: HashMap<BuildKey, BuildJob>,
    transitions: broadcast::Sender<Transition>,
    snapshots: watch::Sender<Arc<Vec<ConnectorSnapshot>>>,
    state_dir: PathBuf,
    shutting_down: bool,
}

impl Runtime {
    fn ctx(&self, idx: usize) -> Ctx {
        Ctx {
            now: Instant::now(),
            binary_exists: crate::sys::is_executable(&self.slots[idx].spec.binary),
            jitter: fastrand::f64() * 2.0 - 1.0,
        }
    }

    /// Returns true when the engine must end now (detach).
    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Command { idx, cmd } => {
                let targets: Vec<usize> = match idx {
                    Some(i) if i < self.slots.len() => vec![i],
                    Some(_) => vec![],
                    None => (0..self.slots.len()).collect(),
                };
                for i in targets {
                    match cmd {
                        Command::Start | Command::Restart => self.slots[i].wanted = true,
                        Command::Stop | Command::Kill => self.slots[i].wanted = false,
                        Command::Build { .. } => {}
                    }
                    self.dispatch(i, Event::Command(cmd));
                }
            }
            Msg::Event { idx, ev } => self.dispatch(idx, ev),
            Msg::Spawned {
                idx,
                pid,
                start_ticks,
                signaller,
            } => {
                let slot = &mut self.slots[idx];
                slot.child = Some(signaller);
                slot.start_ticks = start_ticks;
                slot.started_unix = Some(store::unix_now());
                slot.adopted = false;
                self.dispatch(idx, Event::Spawned { pid });
            }
            Msg::Exited { idx, pid, ev } => {
                if self.slots[idx].state.pid == Some(pid) {
                    self.slots[idx].child = None;
                    self.slots[idx].start_ticks = None;
                    self.dispatch(idx, ev);
                }
            }
            Msg::Build { key, update } => {
                let waiters = self
                    .builds
                    .get(&key)
                    .map(|j| j.waiters.clone())
                    .unwrap_or_default();
                for i in waiters {
                    match &update {
                        BuildUpdate::Progress { done, total } => {
                            self.slots[i].build_progress = Some((*done, *total))
                        }
                        BuildUpdate::Line(line) => {
                            if let Err(e) =
                                logs::append_lines(&self.slots[i].log, std::slice::from_ref(line))
                            {
                                tracing::warn!(connector = %self.slots[i].spec.name, "cannot write build output to the log: {e}");
                            }
                        }
                    }
                }
            }
            Msg::BuildDone { key, result } => {
                if let Some(job) = self.builds.remove(&key) {
                    for i in job.waiters {
                        self.slots[i].build_progress = None;
                        let r = result.clone().map_err(|(msg, hint)| {
                            crate::ConnectorRunnerError::Build {
                                connector: self.slots[i].spec.name.clone(),
                                message: msg,
                                hint,
                            }
                            .to_string()
                        });
                        self.dispatch(i, Event::BuildFinished(r));
                    }
                }
            }
            Msg::Shutdown { stop_all } => {
                if !stop_all {
                    return true;
                }
                self.shutting_down = true;
                for i in 0..self.slots.len() {
                    self.slots[i].wanted = false;
                    self.dispatch(i, Event::Command(Command::Stop));
                }
            }
        }
        false
    }

    fn on_probe(&mut self, r: ipc::ProbeReport) {
        if r.key < self.slots.len() && self.slots[r.key].state.pid == Some(r.pid) {
            self.dispatch(
                r.key,
                Event::Probe {
                    ready: r.probe.ready,
                    bots: r.probe.bots,
                },
            );
        }
    }

    fn dispatch(&mut self, idx: usize, ev: Event) {
        let ctx = self.ctx(idx);
        let slot = &mut self.slots[idx];
        let effects = slot.state.handle(&slot.settings, ev, ctx);
        for fx in effects {
            self.perform(idx, fx);
        }
    }

    fn perform(&mut self, idx: usize, fx: Effect) {
        let name = self.slots[idx].spec.name.clone();
        match fx {
            Effect::Transition { phase, detail } => {
                let t = Transition {
                    ts: logs::humantime_now(),
                    name: name.clone(),
                    phase,
                    pid: self.slots[idx].state.pid,
                    detail,
                };
                tracing::info!(connector = %name, phase = %phase, pid = ?t.pid, "{}", t.detail);
                // state.json first: whoever sees the transition may read it at once.
                self.persist();
                let _ = self.transitions.send(t);
            }
            Effect::Marker(text) => {
                if let Err(e) = logs::write_marker(&self.slots[idx].log, &text) {
                    tracing::warn!(connector = %name, "cannot write to the log: {e}");
                }
            }
            Effect::Signal(sig) => match &self.slots[idx].child {
                Some(c) => c.signal(sig),
                None => tracing::debug!(connector = %name, "signal {sig:?} with no child"),
            },
            Effect::ArmTimer { kind, after, epoch } => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = tx.send(Msg::Event {
                        idx,
                        ev: Event::Timer { kind, epoch },
                    });
                });
            }
            Effect::Spawn => self.spawn(idx),
            Effect::Build { force } => self.build(idx, force),
            Effect::CancelBuild => {
                let key = build_key(&self.slots[idx].spec);
                self.slots[idx].build_progress = None;
                if let Some(job) = self.builds.get_mut(&key) {
                    job.waiters.retain(|w| *w != idx);
                    if job.waiters.is_empty() {
                        if let Some(job) = self.builds.remove(&key) {
                            job.task.abort();
                        }
                    }
                }
            }
        }
    }

    fn build(&mut self, idx: usize, force: bool) {
        let key = build_key(&self.slots[idx].spec);
        if let Some(job) = self.builds.get_mut(&key) {
            if !job.waiters.contains(&idx) {
                job.waiters.push(idx);
            }
            return;
        }
        let tx = self.tx.clone();
        let k = key.clone();
        let task = tokio::spawn(async move {
            let (up_tx, mut up_rx) = mpsc::unbounded_channel();
            let fwd_tx = tx.clone();
            let fwd_key = k.clone();
            let forward = tokio::spawn(async move {
                while let Some(update) = up_rx.recv().await {
                    let _ = fwd_tx.send(Msg::Build {
                        key: fwd_key.clone(),
                        update,
                    });
                }
            });
            let result = build::run_build(&k, force, up_tx).await;
            let _ = forward.await;
            let _ = tx.send(Msg::BuildDone { key: k, result });
        });
        self.builds.insert(
            key,
            BuildJob {
                waiters: vec![idx],
                task,
            },
        );
    }

    fn spawn(&mut self, idx: usize) {
        let spec = self.slots[idx].spec.clone();
        let log = self.slots[idx].log.clone();
        let ipc = self.ipc.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let failed = |kind, message: String| Msg::Event {
                idx,
                ev: Event::SpawnFailed { kind, message },
            };
            match ipc.prepare(&spec.name, &spec.project_root).await {
                Err(ipc::PrepareError::NameInUse(pid)) => {
                    let e = crate::ConnectorRunnerError::NameInUse {
                        connector: spec.name.clone(),
                        pid,
                    };
                    let _ = tx.send(failed(SpawnFailure::Refused, e.to_string()));
                    return;
                }
                Err(ipc::PrepareError::Stale(message)) => {
                    let e = crate::ConnectorRunnerError::StaleResources {
                        connector: spec.name.clone(),
                        message,
                    };
                    let _ = tx.send(failed(SpawnFailure::Error, e.to_string()));
                    return;
                }
                Ok(removed) if removed > 0 => {
                    let _ = logs::write_marker(
                        &log,
                        &format!("removed {removed} dead iceoryx2 node(s) of '{}'", spec.name),
                    );
                }
                Ok(_) => {}
            }
            let spawn_spec = spawn_spec_of(&spec, &log);
            let _ = logs::write_marker(
                &log,
                &format!(
                    "start: {} {}",
                    spec.binary.display(),
                    spawn_spec.args.join(" ")
                ),
            );
            let handle = match process::spawn(&spawn_spec) {
                Ok(h) => h,
                Err(e) => {
                    let e = crate::ConnectorRunnerError::Io {
                        connector: spec.name.clone(),
                        action: format!("cannot start {}", spec.binary.display()),
                        source: e,
                    };
                    let _ = tx.send(failed(SpawnFailure::Error, e.to_string()));
                    return;
                }
            };
            let pid = handle.pid;
            let _ = tx.send(Msg::Spawned {
                idx,
                pid,
                start_ticks: handle.start_ticks,
                signaller: handle.signaller(),
            });
            let status = handle.exited.await.ok().flatten();
            let log = spawn_spec.log.as_deref();
            let _ = tx.send(exit_message(idx, pid, status, log, &spec.secrets));
        });
    }

    /// Publishes snapshots, tells the iceoryx2 worker what to watch.
    fn publish(&mut self) {
        let snaps: Vec<ConnectorSnapshot> = self.slots.iter().map(snapshot_of).collect();
        self.snapshots.send_if_modified(|cur| {
            let changed = cur.len() != snaps.len()
                || cur.iter().zip(&snaps).any(|(a, b)| !same_snapshot(a, b));
            if changed {
                *cur = Arc::new(snaps);
            }
            changed
        });
        let watches = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(key, s)| {
                let pid = s.state.pid?;
                match s.state.phase {
                    Phase::Starting | Phase::Ready => Some(ipc::Watch {
                        key,
                        name: s.spec.name.clone(),
                        pid,
                        root: s.spec.project_root.clone(),
                        fast: s.state.phase == Phase::Starting,
                    }),
                    Phase::Idle
                    | Phase::Building
                    | Phase::Stopping
                    | Phase::Stopped
                    | Phase::Exited
                    | Phase::Backoff
                    | Phase::Failed => None,
                }
            })
            .collect();
        self.ipc.watch(watches);
    }

    fn persist(&self) {
        let st = store::StateFile {
            console_pid: std::process::id() as i32,
            updated_unix: store::unix_now(),
            connectors: self
                .slots
                .iter()
                .map(|s| store::ConnectorRecord {
                    name: s.spec.name.clone(),
                    kind: s.spec.kind.as_str().into(),
                    phase: s.state.phase,
                    pid: s.state.pid,
                    start_ticks: s.state.pid.and(s.start_ticks),
                    started_unix: s.state.pid.and(s.started_unix),
                    restarts: s.state.restarts,
                    bots: s.state.bots,
                    last_exit: s.state.last_exit,
                    detail: s.state.detail.clone(),
                    binary: Some(s.spec.binary.clone()),
                })
                .collect(),
        };
        if let Err(e) = store::write_state(&self.state_dir, &st) {
            tracing::warn!(
                "cannot write {}: {e}",
                store::state_path(&self.state_dir).display()
            );
        }
    }
}

fn same_snapshot(a: &ConnectorSnapshot, b: &ConnectorSnapshot) -> bool {
    a.phase == b.phase
        && a.pid == b.pid
        && a.detail == b.detail
        && a.bots == b.bots
        && a.restarts == b.restarts
        && a.build_progress == b.build_progress
        && a.deadline == b.deadline
        && a.wanted == b.wanted
        && a.degraded == b.degraded
}

fn build_key(spec: &ConnectorSpec) -> BuildKey {
    let mut features = spec.features.clone();
    features.sort();
    BuildKey {
        project_root: spec.project_root.clone(),
        features,
    }
}

/// The process to run for `spec`, logging to `log`.
pub fn spawn_spec_of(spec: &ConnectorSpec, log: &std::path::Path) -> process::SpawnSpec {
    process::SpawnSpec {
        binary: spec.binary.clone(),
        args: vec![
            spec.name.clone(),
            spec.kind.as_str().to_string(),
            spec.config.display().to_string(),
        ],
        cwd: spec.project_root.clone(),
        env: spec.env.clone(),
        log: spec.capture_output.then(|| log.to_path_buf()),
    }
}

#[cfg(test)]
mod state_tests;
