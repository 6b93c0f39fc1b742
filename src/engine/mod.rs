//! The lifecycle engine: an actor that owns every connector's [`state::ConnectorState`], feeds it
//! events (commands, exits, probes, timers, builds) and carries out the effects it returns.
//! Front ends talk to it through a cloneable [`EngineHandle`], addressing connectors by
//! [`ConnectorId`]; connectors can be added and removed while it runs.
//!
//! Nothing here blocks the async workers: iceoryx2 calls run on the IPC thread, `state.json` on
//! the state-writer thread, adoption checks and log rotation in `spawn_blocking`.
//!
//! This module imports from outside `engine/` only the manifest's types and the error types.

pub mod adopt;
mod bots;
mod handle;
pub mod io;
mod mailbox;
mod slots;
mod takeover;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::manifest::{ConnectorSpec, Manifest};
use crate::engine::io::build::{BuildKey, BuildUpdate};
use crate::machine::state::{Command, ConnectorState, Ctx, Effect, Event, Settings, SpawnFailure};
use crate::model::phase::Phase;
use crate::model::view::{BuildProgress, ConnectorId, ConnectorView, EventKind};
pub use handle::{EngineHandle, EventStream};
use mailbox::{Bus, Msg, Shared, SlotKey, COMMANDS_KEPT, EVENT_WAITS_FOR_STATE};
pub use mailbox::{CommandMark, EngineError, Updated};

/// How the engine is started.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Start connectors whose `autostart` is true.
    pub autostart: bool,
    /// Start every connector, whatever `autostart` says (headless `run`).
    pub start_all: bool,
    /// The `switchboard` program, run as `switchboard log-relay …` between each connector and
    /// its log file so that rotation loses no line. None: connectors write their log file
    /// directly and the console rotates it by copy-and-truncate, which can lose the lines
    /// written during the copy (a library embedding the engine has no relay program).
    pub log_relay: Option<PathBuf>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            autostart: true,
            start_all: false,
            log_relay: None,
        }
    }
}

impl EngineOptions {
    /// These options with this very program as the log relay (the `switchboard` binary).
    pub fn with_own_relay(self) -> EngineOptions {
        EngineOptions {
            log_relay: std::env::current_exe().ok(),
            ..self
        }
    }
}

/// A slot's feed health inputs and verdict (DESIGN §10).
#[derive(Default)]
struct HealthState {
    /// The meter's last figures (only while ready, for the current PID).
    feed: Option<crate::machine::feed::FeedStats>,
    /// Since when at least one bot has been attached (Unix seconds).
    bots_since: Option<f64>,
    log_errors: crate::machine::rolling::RollingMinute,
    log_warns: crate::machine::rolling::RollingMinute,
    /// ERROR lines and panics, WARN lines, since this console began (for counters).
    errors_total: u64,
    warns_total: u64,
    last_error: Option<crate::model::view::LastError>,
    verdict: Option<crate::machine::health::Verdict>,
    /// The unhealthy state last told to the world (kept across restarts, so a connector that
    /// keeps erroring through a restart is not announced again; cleared by "recovered").
    told: Option<crate::model::health::FeedHealth>,
    /// Since when `told` holds (Unix seconds): the stall's start, or when errors reached the
    /// threshold. Set when it is told, kept while it holds.
    since: Option<f64>,
    /// A meter may be open: close it before signalling the process.
    metered: bool,
}

struct Slot {
    key: SlotKey,
    id: ConnectorId,
    spec: ConnectorSpec,
    settings: Settings,
    state: ConnectorState,
    child: Option<crate::engine::io::process::Signaller>,
    start_ticks: Option<u64>,
    started_unix: Option<f64>,
    log: PathBuf,
    /// The console's marker lines into `log` (a descriptor kept open).
    markers: crate::engine::io::logs::MarkerFile,
    build_progress: Option<BuildProgress>,
    /// cargo's whole error from this slot's last build, while that failure is its news.
    build_error: Option<Vec<String>>,
    wanted: bool,
    adopted: bool,
    tailer: JoinHandle<()>,
    health: HealthState,
    /// Waiting for it to stop so that it can be removed.
    removal: Vec<oneshot::Sender<Result<(), EngineError>>>,
    /// The last /proc readings of its process, and what it uses (averaged over them).
    usage_probe: Option<crate::engine::io::usage::Probe>,
    usage: Option<crate::engine::io::usage::Usage>,
    /// Its last transitions with who caused them.
    history: std::collections::VecDeque<crate::model::view::HistoryEntry>,
    /// When its last process ended (RFC 3339), as far as this console or a previous one saw.
    last_exit_at: Option<String>,
    /// A reloaded spec that waits for the operator's next start or restart (the process runs
    /// on the old one: "restart needed").
    pending: Option<Box<ConnectorSpec>>,
    /// What its log tailer masks (every secret it has had, old and new).
    secrets: crate::engine::io::logs::Secrets,
    /// The session around its current (or last) process: registration, symbols seen.
    session: crate::machine::session::Session,
    /// Symbols a previous console saw in the process this one adopted (its PID and the map).
    restored_seen: Option<(i32, std::collections::BTreeMap<String, f64>)>,
    /// A stale-feed restart under way: what "recovered" will say once data is back.
    healing: Option<String>,
    /// A bot that waits for its connectors to serve before it starts (or restarts): why.
    hold: Option<String>,
    /// A bot: the process of each connector it was started against (slot key, PID).
    bound: Vec<(SlotKey, i32)>,
    /// A connector's stop, kill or restart that waits for its bots to stop first.
    after_bots: Option<Command>,
    /// What ended its last process, when a request on its FromBot did.
    last_exit_cause: Option<crate::model::view::ExitCause>,
    /// The last decision about it (kept in `state.json`, followed by the next console).
    decision: Option<crate::model::view::Decision>,
    /// The last restart refused because a new process could not start.
    refused: Option<crate::model::view::Refusal>,
    /// The log relay of its current process (kept in `state.json` for the next console).
    relay: Option<crate::engine::io::relay::RelayRecord>,
    /// What its relay's supervisor last said (a relay replaced, and why), for the detail while
    /// the same process runs.
    relay_note: Option<String>,
}

fn settings_of(spec: &ConnectorSpec) -> Settings {
    Settings {
        binary: spec.binary.clone(),
        startup_timeout: spec.startup_timeout,
        shutdown_timeout: spec.shutdown_timeout,
        auto_build: spec.auto_build,
        restart: spec.restart.clone(),
    }
}

struct BuildJob {
    waiters: Vec<SlotKey>,
    task: JoinHandle<()>,
    /// When cargo was started: a successful build's duration goes out typed on its waiters'
    /// next transition ([`view::Fact::Built`]), for `build_duration_seconds`.
    started: Instant,
    /// Its cargo lines were all written to the logs (its result waits for that).
    logged: bool,
}

/// One event on its way out: it is published once `state.json` generation `after` is on disk
/// (or [`EVENT_WAITS_FOR_STATE`] has passed), so that whoever sees it may read the file at once.
struct Outgoing {
    after: Option<u64>,
    /// The log writer's last line queued before it ([`logs::LogWriter`]).
    logged: u64,
    /// Numbered by the actor when queued, so a command can be told where its effects begin.
    seq: u64,
    id: ConnectorId,
    kind: EventKind,
}

/// Publishes events in order, each after the state write it depends on.
fn spawn_emitter(
    shared: Arc<Shared>,
    mut written: watch::Receiver<u64>,
    mut logged: watch::Receiver<u64>,
) -> (mpsc::UnboundedSender<Outgoing>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    let task = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            // Whoever sees the event may read the connector's log at once: the console's lines
            // queued before it (its marker, cargo's output) are there first.
            let _ =
                tokio::time::timeout(LOG_ORDER_WAIT, logged.wait_for(|w| *w >= out.logged)).await;
            if let Some(gen) = out.after {
                let _ =
                    tokio::time::timeout(EVENT_WAITS_FOR_STATE, written.wait_for(|w| *w >= gen))
                        .await;
            }
            shared.emit(out.seq, out.id, out.kind);
        }
    });
    (tx, task)
}

/// The longest a spawn or an event waits for the console's lines before it to reach the log.
const LOG_ORDER_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// How long an exit waits for the connector's log relay to write its last output.
const LOG_FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// How often feed health is re-evaluated while it can change with time alone.
const HEALTH_TICK: std::time::Duration = std::time::Duration::from_secs(1);
/// Every view is recomputed at most this often (when the actor wakes), the touched ones at once.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How often CPU and memory are read while someone wants them.
const USAGE_TICK: std::time::Duration = std::time::Duration::from_secs(1);
/// How often the symbols' last-event times are handed to `state.json` (a detail-like write: no
/// fsync, coalesced with others).
const SEEN_PERSIST_EVERY: f64 = 5.0;
/// The longest a stop signal waits for the console's meter to let go of the connector.
const METER_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// The engine's entry point.
pub struct Engine;

impl Engine {
    /// Takes the state_dir lock, creates the console's iceoryx2 node(s), re-adopts what a
    /// previous console left running, starts the log tailers and the actor. Connectors are
    /// started by [`EngineHandle::start_selected`].
    pub async fn start(
        manifest: Manifest,
        options: EngineOptions,
    ) -> Result<EngineHandle, EngineError> {
        let state_dir = manifest.console.state_dir.clone();
        let lock = crate::engine::io::store::lock_state_dir(&state_dir)?;
        crate::engine::io::private_fs::ensure_private_dir(&state_dir.join("logs"))
            .map_err(|e| EngineError::Io(e.to_string()))?;

        let mut roots: Vec<PathBuf> = manifest
            .connectors
            .iter()
            .map(|c| c.project_root.clone())
            .collect();
        roots.sort();
        roots.dedup();
        let (probe_tx, mut probe_rx) = mpsc::unbounded_channel();
        // Creating the console's nodes touches files and shm: off the async workers.
        let ipc = tokio::task::spawn_blocking(move || {
            crate::engine::io::ipc::IpcWorker::start(&roots, probe_tx)
        })
        .await
        .map_err(|e| EngineError::Ipc(e.to_string()))?
        .map_err(EngineError::Ipc)?;
        let writer = crate::engine::io::store::StateWriter::spawn(state_dir.clone())
            .map_err(|e| EngineError::Io(format!("cannot start the state writer: {e}")))?;
        let written = writer.written();
        let written_for_handles = written.clone();

        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let (done_tx, done_rx) = watch::channel(false);
        let (views_tx, _) = watch::channel(Arc::new(Vec::new()));
        let shared = Arc::new(Shared {
            bus: Mutex::new(Bus::default()),
            views: views_tx,
            logs: Mutex::new(HashMap::new()),
            log_activity: Arc::new(tokio::sync::Notify::new()),
            durable_gen: std::sync::atomic::AtomicU64::new(0),
            written: written_for_handles,
            persisted: Mutex::new(std::collections::VecDeque::new()),
            usage_until_ms: std::sync::atomic::AtomicU64::new(0),
            commands: Mutex::new(HashMap::new()),
        });
        let log_writer = crate::engine::io::logs::LogWriter::start()
            .map_err(|e| EngineError::Io(format!("cannot start the log writer: {e}")))?;
        let (events, emitter) = spawn_emitter(shared.clone(), written, log_writer.written());

        let mut rt = Runtime {
            events,
            queued_seq: 0,
            commands_applied: 0,
            slots: slots::Slots::default(),
            swept: Instant::now(),
            next_key: 0,
            tx: tx.clone(),
            ipc,
            builds: HashMap::new(),
            shared: shared.clone(),
            writer,
            last_stored: None,
            foreign: Vec::new(),
            scrollback: manifest.console.scrollback,
            scrollback_bytes: manifest.console.scrollback_bytes,
            log_relay: options.log_relay.clone(),
            log_max_bytes: manifest.console.log_max_bytes,
            log_keep: manifest.console.log_keep,
            state_dir: state_dir.clone(),
            shutting_down: false,
            origin: None,
            log_waker: crate::engine::io::logwake::LogWaker::start(),
            usage_epoch: Instant::now(),
            watching: Vec::new(),
            seen_persisted_at: 0.0,
            clock: (Instant::now(), crate::engine::io::store::unix_now()),
            refused_now: false,
            checked: None,
            log_writer,
            built: None,
            persist_due: None,
            held: Vec::new(),
        };
        for spec in &manifest.connectors {
            rt.insert(spec.clone());
        }
        rt.take_over(&options).await;
        // A connector whose config cannot be used reads `failed` with the reason (unless a
        // previous console left its process running: that one was adopted) and is not
        // started; the others are.
        let refused: Vec<usize> = (0..rt.slots.len()).filter(|&i| rt.opened(i)).collect();
        // What someone decided outlives the console: `autostart` (or `run`'s start-all) is
        // for the connectors nobody decided about.
        let autostart: Vec<ConnectorId> = (0..rt.slots.len())
            .filter(|i| !refused.contains(i) && rt.selected_at_start(*i, &options))
            .map(|i| rt.slots[i].id.clone())
            .collect();
        rt.publish();
        rt.persist(true);
        rt.flush_persist();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(64);
            let mut health_tick = tokio::time::interval(HEALTH_TICK);
            health_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut usage_tick = tokio::time::interval(USAGE_TICK);
            usage_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let ticking = rt.health_needs_ticks();
                let sampling = rt.usage_wanted();
                tokio::select! {
                    _ = health_tick.tick(), if ticking => {
                        rt.evaluate_health_all();
                    }
                    _ = usage_tick.tick(), if sampling => {
                        rt.sample_usage();
                    }
                    n = rx.recv_many(&mut batch, 64) => {
                        if n == 0 { break; }
                        let mut stop = false;
                        for msg in batch.drain(..) {
                            stop |= rt.handle(msg);
                        }
                        if stop { break; }
                    }
                    Some(report) = probe_rx.recv() => {
                        match report {
                            crate::engine::io::ipc::IpcReport::Probe(p) => rt.on_probe(p),
                            crate::engine::io::ipc::IpcReport::Feed { key, pid, stats } => rt.on_feed(key, pid, stats),
                            crate::engine::io::ipc::IpcReport::Registered { key, pid, result } => {
                                rt.on_registered(key, pid, result)
                            }
                        }
                    }
                }
                rt.finish_removals();
                rt.reconcile_bots();
                rt.apply_pending_at_rest();
                rt.publish();
                rt.flush_persist();
                if rt.shutting_down && rt.slots.iter().all(|s| s.state.phase.is_at_rest()) {
                    break;
                }
            }
            rt.publish();
            rt.flush_persist();
            for s in &rt.slots {
                s.tailer.abort();
            }
            // Every event out before `done`; the writer's drop writes the last state before the
            // lock is released.
            let Runtime { writer, events, .. } = rt;
            drop(events);
            let _ = emitter.await;
            let _ = tokio::task::spawn_blocking(move || drop(writer)).await;
            drop(lock);
            let _ = done_tx.send(true);
        });

        Ok(EngineHandle {
            tx,
            shared,
            done: done_rx,
            autostart: Arc::new(autostart),
            state_dir,
        })
    }
}

/// The exit event of slot `key`, with the last meaningful line of its log (secrets masked)
/// and whether that output shows the SendError panic of a normal stop.
fn exit_message(
    name: &str,
    key: SlotKey,
    pid: i32,
    status: Option<crate::model::exit::ExitStatus>,
    log: Option<&Path>,
    secrets: &[String],
) -> Msg {
    let (summary, send_error, crash) = log
        .map(|l| crate::engine::io::logs::exit_summary(l, name))
        .unwrap_or((None, false, None));
    Msg::Exited {
        key,
        pid,
        crash,
        ev: Event::Exited {
            status,
            summary: summary.map(|s| {
                crate::machine::redact::for_display(
                    &s,
                    secrets,
                    crate::machine::redact::SUMMARY_MAX_CHARS,
                )
            }),
            send_error,
        },
    }
}

/// Hands what the relay supervisor of process `pid` of slot `key` says to the actor.
fn forward_relay_news(
    tx: mpsc::UnboundedSender<Msg>,
    key: SlotKey,
    pid: i32,
    mut news: mpsc::UnboundedReceiver<crate::engine::io::relay::RelayNews>,
) {
    tokio::spawn(async move {
        while let Some(news) = news.recv().await {
            if tx.send(Msg::Relay { key, pid, news }).is_err() {
                break;
            }
        }
    });
}

/// The view of one slot at (`now`, `now_unix`).
fn view_of(s: &Slot, now: Instant, now_unix: f64) -> ConnectorView {
    // The pure core keeps std instants (tokio's paused clock converts into them).
    let now = now.into_std();
    let st = &s.state;
    let uptime = match st.phase.has_process() {
        true => st.started_at.map(|t| now.saturating_duration_since(t)),
        false => None,
    };
    ConnectorView {
        name: s.id.name.clone(),
        host: s.id.host.clone(),
        kind: s.spec.kind,
        phase: st.phase,
        pid: st.pid,
        uptime_s: uptime.map(|u| u.as_secs_f64()),
        restarts: st.restarts,
        bots: st.bots,
        last_exit: st.last_exit,
        detail: match (&s.hold, &s.relay_note) {
            (Some(why), _) if st.phase.has_process() => format!("{why}; then it restarts"),
            (Some(why), _) => format!("{why}; then it starts"),
            (None, Some(note)) if st.phase.has_process() => format!("{}; {note}", st.detail),
            (None, _) => st.detail.clone(),
        },
        role: match s.spec.is_bot() {
            true => crate::model::view::Role::Bot,
            false => crate::model::view::Role::Connector,
        },
        connectors: s
            .spec
            .bot
            .as_ref()
            .map(|b| b.connectors.clone())
            .unwrap_or_default(),
        attempt: st.budget.attempt(),
        max_attempts: s.settings.restart.max_attempts,
        countdown_s: st
            .deadline
            .map(|d| d.saturating_duration_since(now).as_secs_f64()),
        started: uptime.map(|u| crate::engine::io::logs::rfc3339(now_unix - u.as_secs_f64())),
        build: s.build_progress,
        build_error: s.build_error.clone().filter(|_| st.phase == Phase::Failed),
        degraded: st.degraded,
        wanted: s.wanted,
        adopted: s.adopted,
        health: s.health.verdict.as_ref().map(|v| v.health),
        health_detail: s.health.verdict.as_ref().and_then(|v| v.why.clone()),
        stale_cause: s.health.verdict.as_ref().and_then(|v| v.cause),
        stale_symbol: s.health.verdict.as_ref().and_then(|v| v.symbol.clone()),
        feed: s.health.feed.as_ref().map(|f| {
            let mut v = crate::model::view::FeedView::of(f, now_unix);
            // Symbols expected but not (yet) metered by this console: declared ones, and those
            // a previous console saw in this process, with the age they have.
            let quiet = s
                .spec
                .instruments
                .iter()
                .map(|i| (i.symbol.clone(), s.session.ready_at))
                .chain(s.session.seen.iter().map(|(k, t)| (k.clone(), *t)));
            for (sym, since) in quiet {
                let age = (now_unix - s.session.seen.get(&sym).copied().unwrap_or(since)).max(0.0);
                v.symbols
                    .entry(sym)
                    .or_insert(crate::model::view::SymbolView {
                        events_per_s: 0.0,
                        last_event_age_s: age,
                    });
            }
            v
        }),
        errors_1m: s.health.log_errors.total(now_unix),
        warns_1m: s.health.log_warns.total(now_unix),
        last_error: s.health.last_error.clone(),
        cpu_pct: s.usage.map(|u| (u.cpu_pct * 10.0).round() / 10.0),
        rss_bytes: s.usage.map(|u| u.rss_bytes),
        errors_total: s.health.errors_total,
        warns_total: s.health.warns_total,
        restart_needed: s.pending.is_some(),
        registration: match (st.phase, st.pid) {
            (Phase::Ready, Some(pid)) if s.session.pid == Some(pid) => {
                s.session.view(&s.spec.instruments)
            }
            _ => None,
        },
        history: s.history.iter().cloned().collect(),
        last_exit_at: s.last_exit_at.clone(),
        last_exit_cause: s.last_exit_cause,
        order_warning: match (st.phase, st.pid) {
            (Phase::Ready, Some(pid)) if s.session.pid == Some(pid) => {
                s.session.order_warning.clone()
            }
            _ => None,
        },
        decision: s.decision.clone(),
        crash_loop: st.crash_loop(),
        stale_since: health_since(s, crate::model::health::FeedHealth::Stale),
        erroring_since: health_since(s, crate::model::health::FeedHealth::Erroring),
        refused: s.refused.clone(),
        as_of: now_unix,
    }
}

/// When slot `s`'s feed became `h` (RFC 3339), while its verdict is `h`.
fn health_since(s: &Slot, h: crate::model::health::FeedHealth) -> Option<String> {
    let holds = s.health.verdict.as_ref()?.health == h;
    holds
        .then_some(s.health.since)
        .flatten()
        .map(crate::engine::io::logs::rfc3339)
}

struct Runtime {
    /// Events on their way to the bus (see [`Outgoing`]).
    events: mpsc::UnboundedSender<Outgoing>,
    /// The number of the last event queued.
    queued_seq: u64,
    /// Commands applied so far (see [`CommandMark`]).
    commands_applied: u64,
    slots: slots::Slots,
    /// When every view was last recomputed (see [`Runtime::publish`]).
    swept: Instant,
    next_key: SlotKey,
    tx: mpsc::UnboundedSender<Msg>,
    ipc: crate::engine::io::ipc::IpcWorker,
    /// What the usage readings' times count from.
    usage_epoch: Instant,
    /// The watches last sent to the IPC thread.
    watching: Vec<crate::engine::io::ipc::Watch>,
    builds: HashMap<BuildKey, BuildJob>,
    shared: Arc<Shared>,
    writer: crate::engine::io::store::StateWriter,
    /// What was last handed to the writer, to tell a detail-only change from a durable one.
    last_stored: Option<Vec<crate::engine::io::store::StoredConnector>>,
    /// Records of the previous `state.json` for connectors this engine does not manage (say, one
    /// left out for a broken config): written back unchanged, so a later console can adopt them.
    foreign: Vec<crate::engine::io::store::StoredConnector>,
    scrollback: usize,
    scrollback_bytes: usize,
    /// The switchboard program to run as each connector's log relay; None: direct files.
    log_relay: Option<PathBuf>,
    log_max_bytes: u64,
    log_keep: u32,
    state_dir: PathBuf,
    shutting_down: bool,
    /// Who caused the event being handled (for the connector's history).
    origin: Option<crate::model::view::Origin>,
    /// Wakes idle log tailers (None: they poll).
    log_waker: Option<Arc<crate::engine::io::logwake::LogWaker>>,
    /// When the symbols' times were last handed to the writer.
    seen_persisted_at: f64,
    /// Both clocks read once, at start: `state.json`'s wall-clock budget times are computed
    /// against it, so the same budget is written as the same values.
    clock: (Instant, f64),
    /// Set when the state machine refused a start (see [`Runtime::dispatch`]).
    refused_now: bool,
    /// The pre-flight's answer for a slot, taken before its command and handed to the state
    /// machine with that command's event (see [`Runtime::preflight`]).
    checked: Option<(usize, Option<crate::model::CannotStart>)>,
    /// Appends markers and cargo lines to the logs off the workers.
    log_writer: crate::engine::io::logs::LogWriter,
    /// A successful build's fact, for the transition its result causes (see `Msg::BuildDone`).
    built: Option<crate::model::fact::Fact>,
    /// A persist asked for and not yet handed to the writer (true: durable), and the events
    /// queued since, which wait for it: see [`Runtime::persist`].
    persist_due: Option<bool>,
    held: Vec<Outgoing>,
}

/// `after` of an event that waits for the persist not yet handed over ([`Runtime::persist`]).
const AFTER_DUE: u64 = u64::MAX;

impl Runtime {
    /// Creates the slot (at rest) and its log tailer.
    fn insert(&mut self, spec: ConnectorSpec) -> ConnectorId {
        let id = ConnectorId::local(&spec.name);
        let log = crate::engine::io::logs::log_path(&self.state_dir, &spec.name);
        let sb = Arc::new(Mutex::new(crate::engine::io::logs::Scrollback::new(
            self.scrollback,
            self.scrollback_bytes,
        )));
        let key = self.next_key + 1;
        let tx = self.tx.clone();
        let secrets: crate::engine::io::logs::Secrets =
            Arc::new(std::sync::RwLock::new(spec.secrets.clone()));
        let tailer = tokio::spawn(
            crate::engine::io::logs::Tailer {
                path: log.clone(),
                scrollback: sb.clone(),
                secrets: secrets.clone(),
                max_bytes: self.log_max_bytes,
                keep: self.log_keep,
                rotate: self.log_relay.is_none(),
                on_levels: Some(Box::new(move |batch| {
                    let _ = tx.send(Msg::Levels { key, batch });
                })),
                waker: self.log_waker.clone(),
                activity: Some(self.shared.log_activity.clone()),
            }
            .run(),
        );
        self.shared
            .logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), sb);
        self.next_key = key;
        self.slots.push(Slot {
            key,
            id: id.clone(),
            settings: settings_of(&spec),
            spec,
            state: ConnectorState::default(),
            child: None,
            start_ticks: None,
            started_unix: None,
            log,
            markers: crate::engine::io::logs::MarkerFile::default(),
            build_progress: None,
            build_error: None,
            wanted: false,
            adopted: false,
            tailer,
            health: HealthState::default(),
            removal: Vec::new(),
            usage_probe: None,
            usage: None,
            history: std::collections::VecDeque::new(),
            last_exit_at: None,
            pending: None,
            secrets,
            session: crate::machine::session::Session::default(),
            restored_seen: None,
            healing: None,
            hold: None,
            bound: Vec::new(),
            after_bots: None,
            last_exit_cause: None,
            decision: None,
            refused: None,
            relay: None,
            relay_note: None,
        });
        id
    }

    /// Takes a reloaded spec for slot `i`: at once when nothing runs (or is being built) on
    /// the old one, else kept until the operator starts or restarts it.
    fn update(&mut self, i: usize, spec: ConnectorSpec) -> Updated {
        let slot = &mut self.slots[i];
        if slot.spec == spec {
            slot.pending = None;
            return Updated::Unchanged;
        }
        {
            // Mask the new config's secrets from now on, in old lines and new.
            let mut known = slot.secrets.write().unwrap_or_else(|p| p.into_inner());
            for s in &spec.secrets {
                if !known.contains(s) {
                    known.push(s.clone());
                }
            }
        }
        slot.pending = Some(Box::new(spec));
        if self.apply_pending(i) {
            Updated::Applied
        } else {
            tracing::info!(
                "{}: its manifest entry changed: restart it to use the new one",
                self.slots[i].id
            );
            Updated::RestartNeeded
        }
    }

    /// Tells slot `i`'s machine the console has it now (it opened on it, or it was added):
    /// at rest with a config that cannot be used, it reads `failed` with why. True if so.
    fn opened(&mut self, i: usize) -> bool {
        self.slots[i].state.phase.is_at_rest() && self.dispatch(i, Event::Opened)
    }

    /// The one pre-flight of slot `i` ([`crate::engine::io::preflight::cannot_start`]), asked
    /// before an event that may start a process and handed to its machine as
    /// [`Ctx::cannot_start`]. A config that was broken and is fixed now has its secrets
    /// taken (masked from now on) before anything starts.
    fn preflight(&mut self, i: usize) -> Option<crate::model::CannotStart> {
        let answer = crate::engine::io::preflight::cannot_start(&self.slots[i].spec);
        let config_fine = !answer
            .as_ref()
            .is_some_and(|c| c.reason == crate::model::StartBlock::Config);
        if config_fine {
            let _ = self.recheck_config(i);
        }
        answer
    }

    /// A config that was broken when it was loaded is read again (the pre-flight found it
    /// fine): fixed, its secrets are masked from now on.
    fn recheck_config(&mut self, i: usize) -> Result<(), String> {
        let slot = &mut self.slots[i];
        if slot.spec.config_problem.is_none() {
            return Ok(());
        }
        slot.spec.recheck_config()?;
        let mut known = slot.secrets.write().unwrap_or_else(|p| p.into_inner());
        for s in &slot.spec.secrets {
            if !known.contains(s) {
                known.push(s.clone());
            }
        }
        tracing::info!(
            "{}: its config {} is valid now",
            slot.id,
            slot.spec.config.display()
        );
        Ok(())
    }

    /// Puts slot `i`'s pending spec in use if nothing runs on the old one; true if it did. A
    /// connector waiting in backoff runs nothing: its next start uses the reloaded entry (a
    /// crash loop on a bad entry ends with the fix, issue #22 item 15).
    fn apply_pending(&mut self, i: usize) -> bool {
        let slot = &mut self.slots[i];
        let phase = slot.state.phase;
        let free = (phase.is_at_rest() || phase == Phase::Backoff) && phase != Phase::Building;
        match slot.pending.take() {
            Some(spec) if free => {
                slot.settings = settings_of(&spec);
                slot.spec = *spec;
                tracing::info!("{}: now uses its reloaded manifest entry", slot.id);
                true
            }
            other => {
                slot.pending = other;
                false
            }
        }
    }

    /// Puts a pending spec in use where the operator's command is about to start a process;
    /// returns the spec it replaced (put back if the start is refused).
    fn apply_pending_for(&mut self, i: usize, cmd: Command) -> Option<ConnectorSpec> {
        let spec = self.slots[i].pending.take()?;
        let phase = self.slots[i].state.phase;
        let restarts = matches!(cmd, Command::Restart)
            || (matches!(cmd, Command::Start) && (phase.is_at_rest() || phase == Phase::Backoff));
        if restarts && self.slots[i].state.phase != Phase::Building {
            let slot = &mut self.slots[i];
            slot.settings = settings_of(&spec);
            let old = std::mem::replace(&mut slot.spec, *spec);
            tracing::info!("{}: restarting on its reloaded manifest entry", slot.id);
            Some(old)
        } else {
            self.slots[i].pending = Some(spec);
            None
        }
    }

    fn index_of_key(&self, key: SlotKey) -> Option<usize> {
        self.slots.iter().position(|s| s.key == key)
    }

    fn index_of_id(&self, id: &ConnectorId) -> Option<usize> {
        self.slots.iter().position(|s| s.id == *id)
    }

    /// What the state machine needs to know for an event; `cannot_start`: the pre-flight's
    /// answer, asked only before an event that may start a process (see [`Runtime::dispatch`]).
    fn ctx(&self, cannot_start: Option<crate::model::CannotStart>) -> Ctx {
        Ctx {
            now: Instant::now().into_std(),
            jitter: fastrand::f64() * 2.0 - 1.0,
            cannot_start,
        }
    }

    /// Whether `ev` may start a process of slot `i`, so that the pre-flight is asked first:
    /// not on every probe, exit or timer of a running connector.
    fn may_start(&self, i: usize, ev: &Event) -> bool {
        match ev {
            Event::Command(Command::Start) => {
                !matches!(self.slots[i].state.phase, Phase::Ready | Phase::Starting)
            }
            Event::Command(Command::Restart)
            | Event::StaleFeed { .. }
            | Event::BuildFinished(_)
            | Event::Exited { .. }
            | Event::Opened => true,
            Event::Timer { kind, .. } => *kind == crate::machine::state::TimerKind::Backoff,
            Event::Command(Command::Stop | Command::Kill | Command::Build { .. })
            | Event::Spawned { .. }
            | Event::SpawnFailed { .. }
            | Event::Probe { .. } => false,
        }
    }

    /// Whether a console opening with `options` starts slot `i`: what was decided about it
    /// (started: yes; stopped, or given up on by the restart budget: no), else `autostart`.
    fn selected_at_start(&self, i: usize, options: &EngineOptions) -> bool {
        let slot = &self.slots[i];
        (options.autostart || options.start_all)
            && match slot.decision.as_ref().map(|d| d.intent) {
                Some(crate::model::view::Intent::Run) => true,
                Some(crate::model::view::Intent::Stop | crate::model::view::Intent::GaveUp) => {
                    false
                }
                None => options.start_all || slot.spec.autostart,
            }
    }

    /// Records that `cmd` by `by` is being applied to slot `i` now, before any of its events;
    /// returns its number.
    fn mark_command(&mut self, i: usize, cmd: Command, by: crate::model::view::Origin) -> u64 {
        self.commands_applied += 1;
        let mark = CommandMark {
            n: self.commands_applied,
            after_seq: self.queued_seq,
            cmd,
            by,
        };
        let mut all = self
            .shared
            .commands
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let kept = all.entry(self.slots[i].id.clone()).or_default();
        if kept.len() == COMMANDS_KEPT {
            kept.pop_front();
        }
        kept.push_back(mark);
        mark.n
    }

    /// Records `intent`, decided by `by`, for slot `i`.
    fn decide(
        &mut self,
        i: usize,
        intent: crate::model::view::Intent,
        by: crate::model::view::Origin,
    ) {
        self.slots[i].decision = Some(crate::model::view::Decision {
            intent,
            by,
            ts: crate::engine::io::logs::now_rfc3339(),
        });
    }

    /// Returns true when the engine must end now (detach).
    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::WakeUsage => self.sample_usage(),
            Msg::Command {
                target,
                cmd,
                ack,
                origin,
            } => {
                let targets: Vec<usize> = match &target {
                    Some(id) => self.index_of_id(id).into_iter().collect(),
                    None => (0..self.slots.len()).collect(),
                };
                // Events after this one are the command's own (its first transitions too:
                // a start refused at once must be seen by whoever waits for its outcome).
                let seq_before = self.queued_seq;
                let mut decided = false;
                let mut mark = 0;
                for i in targets {
                    if !self.slots[i].removal.is_empty() {
                        continue; // on its way out
                    }
                    mark = self.mark_command(i, cmd, origin);
                    let intent = match cmd {
                        Command::Start | Command::Restart => Some(crate::model::view::Intent::Run),
                        Command::Stop | Command::Kill => Some(crate::model::view::Intent::Stop),
                        Command::Build { .. } => None,
                    };
                    // The console's own start as it opens decides nothing: `autostart` (the
                    // manifest) stays in charge of what nobody decided about.
                    if let (Some(intent), false) =
                        (intent, origin == crate::model::view::Origin::Autostart)
                    {
                        self.decide(i, intent, origin);
                        decided = true;
                    }
                    let replaced = match cmd {
                        Command::Start | Command::Restart => {
                            self.slots[i].wanted = true;
                            self.apply_pending_for(i, cmd)
                        }
                        Command::Stop | Command::Kill => {
                            self.slots[i].wanted = false;
                            // The operator took over: no "recovered" for a heal.
                            self.slots[i].healing = None;
                            None
                        }
                        Command::Build { .. } => None,
                    };
                    self.origin = Some(origin);
                    // A command that may start a process: the pre-flight first, once, before
                    // anything of the command is done (its bots stopped, its connectors
                    // started); its answer goes to the machine with the command's event.
                    let ev = Event::Command(cmd);
                    let answer = self.may_start(i, &ev).then(|| self.preflight(i));
                    let refusing = answer.as_ref().is_some_and(|a| {
                        a.as_ref()
                            .is_some_and(|c| self.slots[i].state.refuses(cmd, c))
                    });
                    self.checked = answer.map(|a| (i, a));
                    let refused = match refusing {
                        // Refused by the machine, with nothing else done.
                        true => self.dispatch(i, ev),
                        false => self.command_in_order(i, cmd),
                    };
                    self.checked = None;
                    self.origin = None;
                    if let (true, Some(old)) = (refused, replaced) {
                        // The reloaded entry could not start: the process runs on the old one,
                        // and the new one waits as before.
                        let slot = &mut self.slots[i];
                        let new = std::mem::replace(&mut slot.spec, old);
                        slot.settings = settings_of(&slot.spec);
                        slot.pending = Some(Box::new(new));
                    }
                    if self.slots[i].pending.is_some() {
                        self.apply_pending(i);
                    }
                }
                if decided {
                    // A decision with no transition (a stop of a stopped one) is kept too.
                    self.publish();
                    self.persist(false);
                }
                if let Some(ack) = ack {
                    // Whoever waits for the command finds its decision handed to the writer,
                    // as when every change was persisted at once.
                    self.flush_persist();
                    let _ = ack.send((seq_before, mark));
                }
            }
            Msg::Add { spec, reply } => {
                let id = ConnectorId::local(&spec.name);
                if self.index_of_id(&id).is_some() {
                    let _ = reply.send(Err(EngineError::AlreadyExists(id)));
                } else if self.shutting_down {
                    let _ = reply.send(Err(EngineError::Gone));
                } else {
                    self.foreign.retain(|r| r.view.name != spec.name);
                    let id = self.insert(*spec);
                    tracing::info!("{}: added", id);
                    self.publish();
                    let after = self.persist(true);
                    self.emit(after, id, EventKind::Added);
                    self.opened(self.slots.len() - 1);
                    let _ = reply.send(Ok(()));
                }
            }
            Msg::Update { spec, reply } => {
                let id = ConnectorId::local(&spec.name);
                match self.index_of_id(&id) {
                    None => {
                        let _ = reply.send(Err(EngineError::UnknownConnector(id)));
                    }
                    Some(i) => {
                        let updated = self.update(i, *spec);
                        self.publish();
                        self.persist(true);
                        let _ = reply.send(Ok(updated));
                    }
                }
            }
            Msg::Remove { id, reply } => match self.index_of_id(&id) {
                None => {
                    let _ = reply.send(Err(EngineError::UnknownConnector(id)));
                }
                Some(i) => {
                    self.slots[i].removal.push(reply);
                    self.slots[i].wanted = false;
                    if !self.slots[i].state.phase.is_at_rest() {
                        self.dispatch(i, Event::Command(Command::Stop));
                    }
                }
            },
            Msg::Event { key, ev } => {
                if let Some(i) = self.index_of_key(key) {
                    self.dispatch(i, ev);
                }
            }
            Msg::Spawned {
                key,
                pid,
                start_ticks,
                signaller,
            } => {
                if let Some(i) = self.index_of_key(key) {
                    let slot = &mut self.slots[i];
                    slot.child = Some(signaller);
                    slot.start_ticks = start_ticks;
                    slot.started_unix = Some(crate::engine::io::store::unix_now());
                    slot.adopted = false;
                    slot.relay_note = None;
                    self.dispatch(i, Event::Spawned { pid });
                } else {
                    // Its slot was removed while the spawn was under way.
                    signaller.signal(crate::machine::state::Sig::Kill);
                }
            }
            Msg::Exited {
                key,
                pid,
                ev,
                crash,
            } => {
                if let Some(i) = self.index_of_key(key) {
                    if self.slots[i].state.pid == Some(pid) {
                        self.slots[i].last_exit_cause = crash.map(|c| match c {
                            crate::wire::hftbacktest::RequestCrash::Registration { .. } => {
                                crate::model::view::ExitCause::RegistrationCrash
                            }
                            crate::wire::hftbacktest::RequestCrash::Undecodable => {
                                crate::model::view::ExitCause::UndecodableRequest
                            }
                        });
                        self.slots[i].child = None;
                        self.slots[i].start_ticks = None;
                        self.slots[i].relay = None;
                        self.slots[i].relay_note = None;
                        self.slots[i].last_exit_at = Some(crate::engine::io::logs::now_rfc3339());
                        // The adopted process is gone: a later one is this console's own.
                        self.slots[i].adopted = false;
                        let ev = self.slots[i].session.with_suspects(ev);
                        self.dispatch(i, ev);
                    }
                }
            }
            Msg::Relay { key, pid, news } => {
                if let Some(i) = self.index_of_key(key) {
                    self.on_relay_news(i, pid, news);
                }
            }
            Msg::Build { key, update } => {
                let waiters = self
                    .builds
                    .get(&key)
                    .map(|j| j.waiters.clone())
                    .unwrap_or_default();
                let targets: Vec<usize> = waiters
                    .iter()
                    .filter_map(|k| self.index_of_key(*k))
                    .collect();
                for i in targets {
                    match &update {
                        BuildUpdate::Progress { done, total } => {
                            self.slots[i].build_progress = Some(BuildProgress {
                                done: *done,
                                total: *total,
                            })
                        }
                        BuildUpdate::Line(line) => {
                            self.log_writer
                                .lines(&self.slots[i].log, std::slice::from_ref(line));
                        }
                    }
                }
            }
            Msg::BuildDone { key, result } => {
                // Cargo's lines go to the logs on the log-writer thread: its result is taken
                // once they are all in the files (whoever sees `failed` may read the error).
                if let Some(job) = self.builds.get_mut(&key).filter(|j| !j.logged) {
                    job.logged = true;
                    let (writer, tx) = (self.log_writer.clone(), self.tx.clone());
                    let upto = writer.queued();
                    tokio::spawn(async move {
                        writer.wait_written(upto, LOG_ORDER_WAIT).await;
                        let _ = tx.send(Msg::BuildDone { key, result });
                    });
                } else if let Some(job) = self.builds.remove(&key) {
                    for i in job
                        .waiters
                        .iter()
                        .filter_map(|k| self.index_of_key(*k))
                        .collect::<Vec<_>>()
                    {
                        self.slots[i].build_progress = None;
                        self.slots[i].build_error = result.as_ref().err().map(|f| f.error.clone());
                        let r = result.clone().map_err(|f| {
                            crate::error::ConnectorRunnerError::Build {
                                connector: self.slots[i].spec.name.clone(),
                                message: f.message,
                                hint: f.hint,
                            }
                            .to_string()
                        });
                        // The first transition the result causes (to idle, or on to starting)
                        // carries the duration.
                        self.built = r.is_ok().then(|| crate::model::fact::Fact::Built {
                            seconds: job.started.elapsed().as_secs_f64(),
                        });
                        self.dispatch(i, Event::BuildFinished(r));
                        self.built = None;
                    }
                }
            }
            Msg::Levels { key, batch } => {
                if let Some(i) = self.index_of_key(key) {
                    let now = crate::engine::io::store::unix_now();
                    let h = &mut self.slots[i].health;
                    h.log_errors.add(now, batch.errors);
                    h.log_warns.add(now, batch.warns);
                    h.errors_total += u64::from(batch.errors);
                    h.warns_total += u64::from(batch.warns);
                    if batch.stream_errors > 0 {
                        self.slots[i]
                            .session
                            .stream_errors(batch.stream_errors, now);
                    }
                    let h = &mut self.slots[i].health;
                    if let Some(line) = batch.last_error {
                        h.last_error = Some(crate::model::view::LastError {
                            ts: crate::engine::io::logs::rfc3339(now),
                            line,
                        });
                    }
                    self.evaluate_health(i);
                }
            }
            Msg::Shutdown { stop_all } => {
                if !stop_all {
                    return true;
                }
                self.shutting_down = true;
                for i in 0..self.slots.len() {
                    self.slots[i].wanted = false;
                    // Stopped because this console closes, which decides nothing about the
                    // connector: the next console goes by `autostart` again. A stop or a
                    // give-up already decided stays.
                    let slot = &mut self.slots[i];
                    if !slot.state.phase.is_at_rest()
                        && slot
                            .decision
                            .as_ref()
                            .is_some_and(|d| d.intent == crate::model::view::Intent::Run)
                    {
                        slot.decision = None;
                    }
                    self.command_in_order(i, Command::Stop);
                }
            }
        }
        false
    }

    /// Removes the slots whose removal was asked for and which are now at rest.
    fn usage_wanted(&self) -> bool {
        let until = self
            .shared
            .usage_until_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        until as f64 > crate::engine::io::store::unix_now() * 1000.0
    }

    /// Reads every running connector's CPU and memory (a /proc read per process): the first
    /// reading of a process gives memory only, CPU comes with the next.
    fn sample_usage(&mut self) {
        let now = Instant::now();
        let mut news = false;
        for s in &mut self.slots {
            let Some(pid) = s.state.pid else {
                news |= s.usage.is_some();
                s.usage = None;
                s.usage_probe = None;
                continue;
            };
            let probe = match &mut s.usage_probe {
                Some(p) if p.reader.pid == pid => p,
                other => other.insert(crate::engine::io::usage::Probe::new(pid)),
            };
            let at = now.duration_since(self.usage_epoch).as_secs_f64();
            let fresh = probe.read(at);
            // Small moves are not news: the views (and an idle screen) stay as they are.
            let moved = match (s.usage, fresh) {
                (Some(a), Some(b)) => {
                    (a.cpu_pct - b.cpu_pct).abs() >= 1.0
                        || a.rss_bytes.abs_diff(b.rss_bytes) >= 1024 * 1024
                }
                (None, None) => false,
                _ => true,
            };
            if moved {
                s.usage = fresh;
                news = true;
            }
        }
        if news {
            self.publish();
        }
    }

    /// A connector that came to rest (stopped, failed) or waits in backoff takes its reloaded
    /// entry.
    fn apply_pending_at_rest(&mut self) {
        for i in 0..self.slots.len() {
            if self.slots[i].pending.is_some() {
                self.apply_pending(i);
            }
        }
    }

    fn finish_removals(&mut self) {
        let mut i = 0;
        while i < self.slots.len() {
            let s = &self.slots[i];
            if s.removal.is_empty() || !s.state.phase.is_at_rest() {
                i += 1;
                continue;
            }
            let slot = self.slots.remove(i);
            slot.tailer.abort();
            self.shared
                .logs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&slot.id);
            tracing::info!("{}: removed", slot.id);
            self.publish();
            let after = self.persist(true);
            self.emit(after, slot.id.clone(), EventKind::Removed);
            for r in slot.removal {
                let _ = r.send(Ok(()));
            }
        }
    }

    /// What the log relay supervisor of process `pid` of slot `i` says.
    fn on_relay_news(&mut self, i: usize, pid: i32, news: crate::engine::io::relay::RelayNews) {
        let slot = &mut self.slots[i];
        if slot.state.pid != Some(pid) {
            return;
        }
        match news {
            crate::engine::io::relay::RelayNews::Running(rec) => {
                // A replacement: the note that announced it says it is done.
                if let (Some(old), Some(note)) = (slot.relay, slot.relay_note.as_mut()) {
                    if let Some(what) = note.strip_suffix("; replacing it") {
                        *note = format!(
                            "{}; replaced by PID {} at {}",
                            what.replace(" is ", " was ")
                                .replace(" does ", " did ")
                                .replace(" ended", " had ended"),
                            rec.pid,
                            crate::engine::io::logs::clock_time(
                                crate::engine::io::store::unix_now()
                            )
                        );
                    }
                    tracing::info!(
                        "{}: log relay PID {} replaced by {}",
                        slot.id,
                        old.pid,
                        rec.pid
                    );
                }
                slot.relay = Some(rec);
                // A durable change: the next console must find this relay.
                self.persist(true);
            }
            crate::engine::io::relay::RelayNews::Note(note) => {
                tracing::warn!("{}: {note}", slot.id);
                slot.relay_note = Some(note);
            }
        }
    }

    fn on_probe(&mut self, r: crate::engine::io::ipc::ProbeReport) {
        if let Some(i) = self.index_of_key(r.key) {
            if self.slots[i].state.pid == Some(r.pid) {
                self.dispatch(
                    i,
                    Event::Probe {
                        ready: r.probe.ready,
                        bots: r.probe.bots,
                    },
                );
            }
        }
    }

    fn on_feed(&mut self, key: SlotKey, pid: i32, stats: crate::machine::feed::FeedStats) {
        if let Some(i) = self.index_of_key(key) {
            let s = &mut self.slots[i];
            if s.state.pid == Some(pid) && s.state.phase == Phase::Ready {
                if s.session.pid == Some(pid) {
                    if let Some(w) = s.session.feed(&stats) {
                        tracing::warn!("{}: {w}", s.id);
                        {
                            let s = &mut *s;
                            if let Err(e) = s.markers.write(&s.log, &w) {
                                tracing::warn!("{}: cannot write to the log: {e}", s.id);
                            }
                        }
                    }
                }
                s.health.feed = Some(stats);
                self.evaluate_health(i);
                // Keep the symbols' times in state.json fresh enough for a later console.
                let now = crate::engine::io::store::unix_now();
                if now - self.seen_persisted_at >= SEEN_PERSIST_EVERY {
                    self.seen_persisted_at = now;
                    self.persist(false);
                }
            }
        }
    }

    /// The IPC thread's answer to the console's registration for slot `key`'s process `pid`.
    fn on_registered(&mut self, key: SlotKey, pid: i32, result: Result<(), String>) {
        let Some(i) = self.index_of_key(key) else {
            return;
        };
        let now = crate::engine::io::store::unix_now();
        let slot = &mut self.slots[i];
        if slot.session.pid != Some(pid) {
            return;
        }
        let ok = result.is_ok();
        if let Err(e) = &result {
            tracing::debug!("{}: registration not sent yet: {e}", slot.id);
        }
        slot.session.registered(result, now, &slot.spec.instruments);
        if ok {
            let symbols: Vec<&str> = slot
                .spec
                .instruments
                .iter()
                .map(|i| i.symbol.as_str())
                .collect();
            let line = format!(
                "registered {} on {} (id {:#x}) once its exchange stream was up",
                symbols.join(", "),
                crate::engine::io::ipc::from_bot(&slot.spec.name),
                crate::wire::hftbacktest::CONSOLE_BOT_ID
            );
            tracing::info!("{}: {line}", slot.id);
            {
                let s = &mut *slot;
                if let Err(e) = s.markers.write(&s.log, &line) {
                    tracing::warn!("{}: cannot write to the log: {e}", s.id);
                }
            }
        }
        self.publish();
    }

    /// True while some ready connector's health can change with time alone: a bot waits for
    /// data, errors are counted in the last minute, or it is unhealthy.
    fn health_needs_ticks(&self) -> bool {
        let now = crate::engine::io::store::unix_now();
        self.bots_waiting()
            || self.slots.iter().any(|s| {
                let h = &s.health;
                s.state.phase == Phase::Ready
                    && (h.bots_since.is_some()
                        || s.session.needs_ticks()
                        || !s.spec.instruments.is_empty()
                        || !h.log_errors.is_quiet(now)
                        || h.feed
                            .as_ref()
                            .is_some_and(|f| f.errors_1m > 0 || f.last_event_at.is_some())
                        || h.verdict.as_ref().is_some_and(|v| v.health.is_unhealthy()))
            })
    }

    fn evaluate_health_all(&mut self) {
        for i in 0..self.slots.len() {
            self.evaluate_health(i);
        }
    }

    /// Recomputes slot `i`'s feed health; tells the world when it turns stale or erroring or
    /// recovers, and restarts a stale one when `on_stale = "restart"`.
    fn evaluate_health(&mut self, i: usize) {
        use crate::model::health::FeedHealth;
        let now = crate::engine::io::store::unix_now();
        let slot = &mut self.slots[i];
        // A bot has no feed of its own (its connectors do).
        let ready =
            slot.state.phase == Phase::Ready && slot.state.pid.is_some() && !slot.spec.is_bot();
        if !ready {
            // Leaving ready ends the meter's story; the next process starts a new one.
            slot.health.feed = None;
            slot.health.bots_since = None;
            slot.health.verdict = None;
            return;
        }
        let bots = slot.state.bots;
        match (bots > 0, slot.health.bots_since) {
            (true, None) => slot.health.bots_since = Some(now),
            (false, Some(_)) => slot.health.bots_since = None,
            _ => {}
        }
        let pid = slot.state.pid.unwrap_or_default();
        if slot.session.pid != Some(pid) {
            // A new process is ready: its own session (the bots of the one before tell whether
            // a restart left them without data).
            let seen = match slot.restored_seen.take() {
                Some((p, seen)) if p == pid => seen,
                _ => Default::default(),
            };
            slot.session = crate::machine::session::Session::begin(
                pid,
                now,
                Some(&slot.session),
                seen,
                bots,
                &slot.spec.instruments,
                slot.spec.register,
            );
            if let Some(v) = slot.session.view(&slot.spec.instruments) {
                if v.state == crate::machine::session::RegistrationState::Unhealable {
                    tracing::warn!("{}: {}", slot.id, v.detail);
                }
            }
        }
        slot.session.bots(bots);
        if let crate::machine::session::Ask::Register(requests) = slot.session.poll(
            now,
            &slot.spec.instruments,
            slot.spec.connect_grace.as_secs_f64(),
        ) {
            self.ipc.register(slot.key, pid, requests);
        }
        let declared: Vec<String> = slot
            .spec
            .instruments
            .iter()
            .map(|i| i.symbol.clone())
            .collect();
        let verdict = crate::machine::health::evaluate(crate::machine::health::Inputs {
            now,
            bots,
            bots_since: slot.health.bots_since,
            feed: slot.health.feed.as_ref(),
            log_errors_1m: slot.health.log_errors.total(now),
            settings: &slot.spec.feed,
            declared: &declared,
            seen: &slot.session.seen,
            ready_since: slot.session.ready_at,
            reconnected_at: slot
                .session
                .reconnected_at(now, slot.spec.connect_grace.as_secs_f64()),
        });
        let before = slot.health.told;
        let after = verdict.health;
        slot.health.verdict = Some(verdict.clone());
        // After a stale-feed restart, "recovered" waits for the data itself, not just for a
        // new process that has not been silent long enough to be stale yet.
        let data_back = slot.health.feed.as_ref().is_some_and(|f| f.total > 0);
        if slot.healing.is_some() && !after.is_unhealthy() && !data_back {
            return;
        }
        if data_back {
            // The heal worked: say so once, whatever else the health says (errors of the
            // process before may still count in the last minute).
            if let Some(healing) = slot.healing.take() {
                let line = format!(
                    "feed recovered: {healing} (data back in {:.1} s)",
                    (now - slot.session.ready_at).max(0.0)
                );
                tracing::info!("{}: {line}", slot.id);
                {
                    let s = &mut *slot;
                    if let Err(e) = s.markers.write(&s.log, &line) {
                        tracing::warn!("{}: cannot write to the log: {e}", s.id);
                    }
                }
            }
        }
        let change = match (before, after) {
            (Some(FeedHealth::Stale), FeedHealth::Stale)
            | (Some(FeedHealth::Erroring), FeedHealth::Erroring) => None,
            (_, FeedHealth::Stale) => Some(crate::model::view::HealthChange::Stale),
            (_, FeedHealth::Erroring) => Some(crate::model::view::HealthChange::Erroring),
            (Some(_), FeedHealth::Ok | FeedHealth::Quiet) => {
                Some(crate::model::view::HealthChange::Recovered)
            }
            (None, FeedHealth::Ok | FeedHealth::Quiet) => None,
        };
        slot.health.told = after.is_unhealthy().then_some(after);
        // Since when: set as it is told, kept while it holds (so it reads the same at every
        // evaluation), cleared once it ends.
        match change {
            Some(crate::model::view::HealthChange::Stale) => {
                slot.health.since = Some(verdict.since.unwrap_or(now));
            }
            Some(crate::model::view::HealthChange::Erroring) => slot.health.since = Some(now),
            Some(crate::model::view::HealthChange::Recovered) => slot.health.since = None,
            None if !after.is_unhealthy() => slot.health.since = None,
            None => {}
        }
        // (The views are published after every batch of the actor; only a change is told.)
        let Some(change) = change else {
            return;
        };
        let id = slot.id.clone();
        let pid = slot.state.pid;
        let detail = verdict
            .why
            .clone()
            .unwrap_or_else(|| format!("feed {after}"));
        match change {
            crate::model::view::HealthChange::Recovered => {
                tracing::info!("{}: feed recovered: {detail}", id)
            }
            _ => tracing::warn!("{}: feed {}: {detail}", id, change.as_str()),
        }
        let marker = format!("feed {}: {detail}", change.as_str());
        {
            let s = &mut *slot;
            if let Err(e) = s.markers.write(&s.log, &marker) {
                tracing::warn!("{}: cannot write to the log: {e}", s.id);
            }
        }
        let phase = slot.state.phase;
        self.remember(i, phase, marker, crate::model::view::Origin::Health);
        self.publish();
        let after_seq = self.persist(false);
        self.emit(
            after_seq,
            id,
            EventKind::Health {
                change,
                health: after,
                pid,
                detail: detail.clone(),
            },
        );
        if change == crate::model::view::HealthChange::Stale
            && self.slots[i].spec.feed.on_stale == crate::config::manifest::OnStale::Restart
        {
            self.slots[i].healing = Some(match verdict.cause {
                Some(crate::machine::health::StaleCause::SilentReconnect) => format!(
                    "restarted after the stream's reconnect at {}",
                    self.slots[i]
                        .session
                        .stream
                        .last_failure()
                        .map(crate::engine::io::logs::clock_time)
                        .unwrap_or_else(|| "?".into())
                ),
                _ => "restarted after a stale feed".to_string(),
            });
            self.origin = Some(crate::model::view::Origin::StaleFeed);
            self.dispatch(i, Event::StaleFeed { why: detail });
            self.origin = None;
        }
    }

    /// Feeds `ev` to slot `i`'s state machine, with the pre-flight's answer when it may start a
    /// process, and carries out its effects. Returns true when the machine refused a start
    /// (a new process could not start: [`Effect::Refused`], or a transition carrying
    /// [`crate::model::Fact::StartRefused`]).
    fn dispatch(&mut self, i: usize, ev: Event) -> bool {
        let by = self.origin.unwrap_or(match &ev {
            Event::Timer { .. } => crate::model::view::Origin::Policy,
            Event::StaleFeed { .. } => crate::model::view::Origin::StaleFeed,
            // The console as it opened (or was given the connector).
            Event::Opened => crate::model::view::Origin::Autostart,
            Event::Command(_) => crate::model::view::Origin::Api,
            _ => crate::model::view::Origin::Process,
        });
        self.origin = Some(by);
        let cannot_start = match self.checked.take() {
            // Asked already, before the command that caused this event.
            Some((c, answer)) if c == i => answer,
            other => {
                self.checked = other;
                self.may_start(i, &ev).then(|| self.preflight(i)).flatten()
            }
        };
        let ctx = self.ctx(cannot_start);
        let slot = &mut self.slots[i];
        let effects = slot.state.handle(&slot.settings, ev, ctx);
        self.refused_now = false;
        for fx in effects {
            self.perform(i, fx);
        }
        let refused = std::mem::take(&mut self.refused_now);
        self.origin = None;
        self.evaluate_health(i);
        refused
    }

    /// Adds an entry to slot `i`'s history (at most [`view::HISTORY_LEN`] are kept).
    fn remember(&mut self, i: usize, phase: Phase, detail: String, by: crate::model::view::Origin) {
        let history = &mut self.slots[i].history;
        if history.len() == crate::model::view::HISTORY_LEN {
            history.pop_front();
        }
        history.push_back(crate::model::view::HistoryEntry {
            ts: crate::engine::io::logs::now_rfc3339(),
            phase,
            detail,
            by,
        });
    }

    fn perform(&mut self, i: usize, fx: Effect) {
        let key = self.slots[i].key;
        match fx {
            Effect::Transition {
                phase,
                detail,
                fact,
            } => {
                let fact = fact.or_else(|| self.built.take());
                if fact == Some(crate::model::Fact::StartRefused) {
                    self.refused_now = true;
                }
                let id = self.slots[i].id.clone();
                let pid = self.slots[i].state.pid;
                let by = self.origin.unwrap_or(crate::model::view::Origin::Process);
                self.remember(i, phase, detail.clone(), by);
                // The PID once: a detail that starts with it says it already.
                let with_pid = pid
                    .filter(|p| !detail.starts_with(&format!("PID {p}")))
                    .map(|p| format!(" (PID {p})"))
                    .unwrap_or_default();
                tracing::info!("{id} {phase}{with_pid}: {detail}");
                // The views and state.json first: whoever sees the event may look at once.
                self.publish();
                let after = self.persist(false);
                self.emit(
                    after,
                    id,
                    EventKind::Transition {
                        phase,
                        pid,
                        detail,
                        fact,
                    },
                );
            }
            Effect::Marker(text) => {
                let s = &mut self.slots[i];
                if let Err(e) = s.markers.write(&s.log, &text) {
                    tracing::warn!("{}: cannot write to the log: {e}", s.id);
                }
            }
            Effect::Refused { what, why } => {
                // Said where the operator looks: the history (`i`), the console log, the
                // connector's log, the view (the TUI's message line, the control socket's
                // reply, `status --json`).
                let keeps = match self.slots[i].state.pid {
                    Some(pid) => format!("; PID {pid} keeps running"),
                    None => String::new(),
                };
                let detail = format!("{what} refused: {why}{keeps}");
                let by = self.origin.unwrap_or(crate::model::view::Origin::Process);
                let phase = self.slots[i].state.phase;
                self.remember(i, phase, detail.clone(), by);
                tracing::warn!("{}: {detail}", self.slots[i].id);
                {
                    let s = &mut self.slots[i];
                    if let Err(e) = s.markers.write(&s.log, &detail) {
                        tracing::warn!("{}: cannot write to the log: {e}", s.id);
                    }
                }
                self.slots[i].refused = Some(crate::model::view::Refusal {
                    ts: crate::engine::io::logs::now_rfc3339(),
                    what,
                    why,
                });
                self.refused_now = true;
                self.publish();
                self.persist(false);
            }
            Effect::GaveUp => {
                // Before the transition to failed is written: both land in state.json at once.
                self.decide(
                    i,
                    crate::model::view::Intent::GaveUp,
                    crate::model::view::Origin::Policy,
                );
            }
            Effect::Signal(sig) => match self.slots[i].child.clone() {
                Some(c) if self.slots[i].health.metered => {
                    // The console's meter lets go of the connector's services before the
                    // connector is told to stop, so it never keeps them alive.
                    self.slots[i].health.metered = false;
                    let closed = self.ipc.close_meter(key);
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(METER_CLOSE_WAIT, closed).await;
                        c.signal(sig);
                    });
                }
                Some(c) => c.signal(sig),
                None => {
                    tracing::debug!("{}: signal {sig:?} with no child", self.slots[i].id)
                }
            },
            Effect::ArmTimer { kind, after, epoch } => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = tx.send(Msg::Event {
                        key,
                        ev: Event::Timer { kind, epoch },
                    });
                });
            }
            Effect::Spawn => {
                self.slots[i].refused = None;
                // A new process, a log opened anew (created again if someone deleted it).
                self.slots[i].markers.reopen();
                self.spawn(i)
            }
            Effect::Build { force } => self.build(i, force),
            Effect::CancelBuild => {
                let bkey = build_key(&self.slots[i].spec);
                self.slots[i].build_progress = None;
                if let Some(job) = self.builds.get_mut(&bkey) {
                    job.waiters.retain(|w| *w != key);
                    if job.waiters.is_empty() {
                        if let Some(job) = self.builds.remove(&bkey) {
                            job.task.abort();
                        }
                    }
                }
            }
        }
    }

    fn build(&mut self, i: usize, force: bool) {
        let key = self.slots[i].key;
        let bkey = build_key(&self.slots[i].spec);
        if let Some(job) = self.builds.get_mut(&bkey) {
            if !job.waiters.contains(&key) {
                job.waiters.push(key);
            }
            return;
        }
        let tx = self.tx.clone();
        let k = bkey.clone();
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
            let result = crate::engine::io::build::run_build(&k, force, up_tx).await;
            let _ = forward.await;
            let _ = tx.send(Msg::BuildDone { key: k, result });
        });
        self.builds.insert(
            bkey,
            BuildJob {
                waiters: vec![key],
                task,
                started: Instant::now(),
                logged: false,
            },
        );
    }

    fn spawn(&mut self, i: usize) {
        let key = self.slots[i].key;
        let spec = self.slots[i].spec.clone();
        let log = self.slots[i].log.clone();
        let relay = self
            .log_relay
            .clone()
            .map(|p| (p, self.log_max_bytes, self.log_keep));
        let ipc = self.ipc.clone();
        let tx = self.tx.clone();
        let log_writer = self.log_writer.clone();
        tokio::spawn(async move {
            let failed = |kind, message: String| Msg::Event {
                key,
                ev: Event::SpawnFailed { kind, message },
            };
            // A bot opens its connectors' services; it holds no name of its own.
            let prepared = match spec.is_bot() {
                true => Ok(0),
                false => ipc.prepare(&spec.name, &spec.project_root).await,
            };
            match prepared {
                Err(crate::engine::io::ipc::PrepareError::NameInUse(pid)) => {
                    let e = crate::error::ConnectorRunnerError::NameInUse {
                        connector: spec.name.clone(),
                        pid,
                    };
                    let _ = tx.send(failed(SpawnFailure::Refused, e.to_string()));
                    return;
                }
                Err(crate::engine::io::ipc::PrepareError::NoDescriptors(message)) => {
                    let e = crate::error::ConnectorRunnerError::Startup {
                        connector: spec.name.clone(),
                        message,
                    };
                    let _ = tx.send(failed(SpawnFailure::Error, e.to_string()));
                    return;
                }
                Err(crate::engine::io::ipc::PrepareError::Stale(message)) => {
                    let e = crate::error::ConnectorRunnerError::StaleResources {
                        connector: spec.name.clone(),
                        message,
                    };
                    let _ = tx.send(failed(SpawnFailure::Error, e.to_string()));
                    return;
                }
                Ok(removed) if removed > 0 => {
                    log_writer.marker(
                        &log,
                        &format!("removed {removed} dead iceoryx2 node(s) of '{}'", spec.name),
                    );
                }
                Ok(_) => {}
            }
            let relay = relay
                .as_ref()
                .map(|(p, max, keep)| (p.as_path(), *max, *keep));
            let spawn_spec = spawn_spec_of(&spec, &log, relay);
            let start = log_writer.marker(
                &log,
                &format!(
                    "start: {} {}",
                    spec.binary.display(),
                    spawn_spec.args.join(" ")
                ),
            );
            // The console's lines before the process's own: the marker (and all queued
            // before it) is in the file before the child can write.
            log_writer.wait_written(start, LOG_ORDER_WAIT).await;
            let mut handle = match crate::engine::io::process::spawn(&spawn_spec) {
                Ok(h) => h,
                Err(e) => {
                    let action = match &e {
                        crate::engine::io::process::SpawnError::Log(_) => {
                            "cannot open its log file".to_string()
                        }
                        crate::engine::io::process::SpawnError::Exec(_) => {
                            match crate::engine::io::sys::program_problem(&spec.binary) {
                                // The real problem in words, not only the errno.
                                Some(p) => {
                                    format!("cannot start {}: it {p}", spec.binary.display())
                                }
                                None => format!("cannot start {}", spec.binary.display()),
                            }
                        }
                    };
                    let e = crate::error::ConnectorRunnerError::Io {
                        connector: spec.name.clone(),
                        action,
                        source: e.into_io(),
                    };
                    let _ = tx.send(failed(SpawnFailure::Error, e.to_string()));
                    return;
                }
            };
            let pid = handle.pid;
            let _ = tx.send(Msg::Spawned {
                key,
                pid,
                start_ticks: handle.start_ticks,
                signaller: handle.signaller(),
            });
            // After `Spawned`: the actor takes news only for the process it knows.
            if let Some(news) = handle.relay_news.take() {
                forward_relay_news(tx.clone(), key, pid, news);
            }
            let status = handle.exited.await.ok().flatten();
            // The connector's last words (a panic, the SendError of a normal stop) are in the
            // relay's pipe until it has written them: read the log only after that (bounded, in
            // case something outside its group still holds the pipe).
            if let Some(flushed) = handle.log_flushed {
                let _ = tokio::time::timeout(LOG_FLUSH_WAIT, flushed).await;
            }
            let log = spawn_spec.log.file();
            let _ = tx.send(exit_message(
                &spec.name,
                key,
                pid,
                status,
                log,
                &spec.secrets,
            ));
        });
    }

    /// Publishes the views (only when more than time changed) and tells the iceoryx2 worker
    /// what to watch. Only the views of the slots touched since the last call are recomputed
    /// (#24), and all of them at most once a second ([`SWEEP_EVERY`]), as a view can also
    /// change with time alone (a rolling error count, a restart budget's window).
    fn publish(&mut self) {
        let now = Instant::now();
        let now_unix = crate::engine::io::store::unix_now();
        let touched = self.slots.take_touched();
        let current = self.shared.views.borrow().clone();
        let sweep = touched.is_none()
            || current.len() != self.slots.len()
            || now.saturating_duration_since(self.swept) >= SWEEP_EVERY;
        let recompute: Vec<usize> = match touched {
            Some(t) if !sweep => t,
            _ => (0..self.slots.len()).collect(),
        };
        if recompute.is_empty() && !sweep {
            return;
        }
        for &i in &recompute {
            let s = self.slots.unmarked(i);
            // Cleared only by the stop signal that closes the meter first (see perform).
            s.health.metered |= s.state.phase == Phase::Ready;
        }
        if sweep {
            self.swept = now;
            let views: Vec<ConnectorView> = self
                .slots
                .iter()
                .map(|s| view_of(s, now, now_unix))
                .collect();
            self.shared.views.send_if_modified(|cur| {
                let changed = cur.len() != views.len()
                    || cur.iter().zip(&views).any(|(a, b)| a.differs_from(b));
                if changed {
                    *cur = Arc::new(views);
                }
                changed
            });
        } else {
            let changed: Vec<(usize, ConnectorView)> = recompute
                .iter()
                .filter_map(|&i| {
                    let v = view_of(&self.slots[i], now, now_unix);
                    current[i].differs_from(&v).then_some((i, v))
                })
                .collect();
            if !changed.is_empty() {
                let mut views = current.as_ref().clone();
                for (i, v) in changed {
                    views[i] = v;
                }
                self.shared.views.send_replace(Arc::new(views));
            }
        }
        let watches = self
            .slots
            .iter()
            .filter_map(|s| {
                let pid = s.state.pid?;
                match s.state.phase {
                    Phase::Starting | Phase::Ready => Some(crate::engine::io::ipc::Watch {
                        key: s.key,
                        name: s.spec.name.clone(),
                        pid,
                        root: s.spec.project_root.clone(),
                        fast: s.state.phase == Phase::Starting,
                        meter: s.state.phase == Phase::Ready
                            && !s.spec.is_bot()
                            && s.spec.feed.meter,
                        attach_to: s
                            .spec
                            .bot
                            .as_ref()
                            .map(|b| b.connectors.clone())
                            .unwrap_or_default(),
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
            .collect::<Vec<_>>();
        // The IPC thread is told only of changes: an idle console's ticks do not wake it.
        if watches != self.watching {
            self.watching = watches.clone();
            self.ipc.watch(watches);
        }
    }

    fn emit(&mut self, after: Option<u64>, id: ConnectorId, kind: EventKind) {
        self.queued_seq += 1;
        let out = Outgoing {
            after,
            logged: self.log_writer.queued(),
            seq: self.queued_seq,
            id,
            kind,
        };
        // Behind an event that waits for the next persist, in order.
        if after == Some(AFTER_DUE) || !self.held.is_empty() {
            self.held.push(out);
        } else {
            let _ = self.events.send(out);
        }
    }

    /// Asks for the state to be handed to the writer once the actor's current batch is done
    /// ([`Runtime::flush_persist`]): a batch of changes is one state (#24: with 200
    /// connectors starting, building and comparing the whole state once per transition was
    /// quadratic). Returns what an event caused by the change waits for.
    fn persist(&mut self, force_durable: bool) -> Option<u64> {
        self.persist_due = Some(self.persist_due.unwrap_or(false) | force_durable);
        Some(AFTER_DUE)
    }

    /// Carries out the persist asked for, then lets the events that wait for it go: after its
    /// generation is on disk when it is durable, at once otherwise (as before).
    fn flush_persist(&mut self) {
        let gen = match self.persist_due.take() {
            Some(force) => {
                // The views it stores are the current ones.
                self.publish();
                self.persist_now(force)
            }
            None => None,
        };
        for mut out in std::mem::take(&mut self.held) {
            if out.after == Some(AFTER_DUE) {
                out.after = gen;
            }
            let _ = self.events.send(out);
        }
    }

    /// Hands the state to the writer thread. A change of details alone is not durable (no
    /// fsync, coalesced); for a durable one, returns the generation to wait for.
    fn persist_now(&mut self, force_durable: bool) -> Option<u64> {
        let views = self.shared.views.borrow().clone();
        let (now, now_unix) = (
            Instant::now().into_std(),
            crate::engine::io::store::unix_now(),
        );
        let connectors: Vec<crate::engine::io::store::StoredConnector> = self
            .slots
            .iter()
            .zip(views.iter())
            .map(|(s, v)| crate::engine::io::store::StoredConnector {
                // The meter's figures change every second and mean nothing to a later reader.
                view: ConnectorView {
                    feed: None,
                    ..v.clone()
                },
                adoption: crate::engine::io::store::Adoption {
                    start_ticks: s.state.pid.and(s.start_ticks),
                    started_unix: s.state.pid.and(s.started_unix),
                    binary: Some(s.spec.binary.clone()),
                    stop: match (s.state.phase, s.state.deadline) {
                        (Phase::Stopping, Some(deadline)) => {
                            Some(crate::engine::io::store::StopRecord {
                                // Whole milliseconds: the same deadline persists as the same value.
                                kill_at_unix: ((now_unix
                                    + deadline.saturating_duration_since(now).as_secs_f64())
                                    * 1000.0)
                                    .round()
                                    / 1000.0,
                                kill: s.state.is_killing(),
                            })
                        }
                        (Phase::Stopping, None) => Some(crate::engine::io::store::StopRecord {
                            kill_at_unix: now_unix,
                            kill: s.state.is_killing(),
                        }),
                        _ => None,
                    },
                    symbols: match s.state.pid {
                        Some(pid) if s.session.pid == Some(pid) => s.session.seen.clone(),
                        _ => Default::default(),
                    },
                    budget: Some(s.state.budget.record(self.clock.0.into_std(), self.clock.1)),
                    relay: s.state.pid.and(s.relay),
                },
            })
            .collect();
        let durable = force_durable
            || match &self.last_stored {
                None => true,
                Some(prev) => {
                    prev.len() != connectors.len()
                        || prev.iter().zip(&connectors).any(|(a, b)| {
                            // Symbol times move every second while data flows: written
                            // along with other changes, never fsynced for themselves.
                            let moved = |c: &crate::engine::io::store::StoredConnector| {
                                crate::engine::io::store::Adoption {
                                    symbols: Default::default(),
                                    ..c.adoption.clone()
                                }
                            };
                            moved(a) != moved(b)
                                || a.view.split().0.durably_differs(&b.view.split().0)
                        })
                }
            };
        self.last_stored = Some(connectors.clone());
        let mut connectors = connectors;
        connectors.extend(self.foreign.iter().cloned());
        let gen = self.writer.submit(
            crate::engine::io::store::StateFile {
                version: crate::engine::io::store::STATE_VERSION,
                console_pid: std::process::id() as i32,
                updated_unix: crate::engine::io::store::unix_now(),
                connectors,
            },
            durable,
        );
        if durable {
            self.shared.remember_persisted(gen, views);
            self.shared
                .durable_gen
                .store(gen, std::sync::atomic::Ordering::SeqCst);
        }
        durable.then_some(gen)
    }
}

/// The environment variable that names a managed bot in its own process (adoption checks it).
pub const BOT_ENV: &str = "SWITCHBOARD_BOT";

/// The build that produces `spec`'s binary.
pub fn build_key(spec: &ConnectorSpec) -> BuildKey {
    let mut features = spec.features.clone();
    features.sort();
    BuildKey {
        project_root: spec.project_root.clone(),
        features,
        profile: spec.profile.clone(),
    }
}

/// `switchboard check`'s words for a binary that cannot run (the pre-flight's rules).
pub use crate::engine::io::preflight::binary_problem;

/// The process to run for `spec`, logging to `log`: through a log relay when `relay` names the
/// switchboard program (lossless rotation at `max_bytes`, keeping `keep` files), else straight into
/// the file.
pub fn spawn_spec_of(
    spec: &ConnectorSpec,
    log: &Path,
    relay: Option<(&Path, u64, u32)>,
) -> crate::engine::io::process::SpawnSpec {
    let log = match (spec.capture_output, relay) {
        (false, _) => crate::engine::io::process::LogTarget::Discard,
        (true, None) => crate::engine::io::process::LogTarget::File(log.to_path_buf()),
        (true, Some((program, max_bytes, keep))) => crate::engine::io::process::LogTarget::Relay {
            program: program.to_path_buf(),
            spec: crate::engine::io::relay::RelaySpec {
                file: log.to_path_buf(),
                max_bytes,
                keep,
            },
        },
    };
    if let Some(bot) = &spec.bot {
        let mut env = spec.env.clone();
        // How a new console recognises the bot it adopts (argv may be a shell's).
        env.insert(BOT_ENV.into(), spec.name.clone());
        return crate::engine::io::process::SpawnSpec {
            binary: spec.binary.clone(),
            args: bot.command.iter().skip(1).cloned().collect(),
            cwd: bot.cwd.clone(),
            env,
            log,
        };
    }
    crate::engine::io::process::SpawnSpec {
        binary: spec.binary.clone(),
        args: vec![
            spec.name.clone(),
            spec.kind.as_str().to_string(),
            spec.config.display().to_string(),
        ],
        cwd: spec.project_root.clone(),
        env: spec.env.clone(),
        log,
    }
}
