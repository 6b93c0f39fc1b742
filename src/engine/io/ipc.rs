//! What the console knows about iceoryx2: which config the connector sees, whether a connector is
//! Ready (both services have an Alive node with its PID), how many bots are attached, stale-node
//! cleanup and the duplicate-name check. All iceoryx2 calls run on one dedicated thread (the
//! [`IpcWorker`]) that owns the console's own node(s): they are blocking file and shm operations.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use iceoryx2::config::Config;
use iceoryx2::node::NodeView as _;
use iceoryx2::prelude::*;

pub use crate::wire::hftbacktest::{from_bot, to_bot, CustomHeader};

/// The iceoryx2 config file a process with working directory `cwd` loads, in iceoryx2's order:
/// `cwd/config/iceoryx2.toml`, `~/.config/iceoryx2/iceoryx2.toml`, `/etc/iceoryx2/iceoryx2.toml`.
pub fn config_file_for(cwd: &Path) -> Option<PathBuf> {
    let mut candidates = vec![cwd.join("config/iceoryx2.toml")];
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".config/iceoryx2/iceoryx2.toml"));
    }
    candidates.push(PathBuf::from("/etc/iceoryx2/iceoryx2.toml"));
    candidates.into_iter().find(|p| p.is_file())
}

/// Loads the config a connector started in `cwd` will use.
pub fn config_for(cwd: &Path) -> Result<Config, String> {
    match config_file_for(cwd) {
        None => Ok(Config::default()),
        Some(file) => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
            toml::from_str::<Config>(&text).map_err(|e| {
                format!(
                    "{}: not an iceoryx2 0.6.1 config: {}",
                    file.display(),
                    e.message()
                )
            })
        }
    }
}

/// Writes `dir/config/iceoryx2.toml`: the default config with its own root directory and shm
/// prefix, so that everything started in `dir` lives in a private iceoryx2 world (tests, demo).
pub fn write_private_config(dir: &Path, root: &Path, prefix: &str) -> std::io::Result<PathBuf> {
    let mut value = toml::Value::try_from(Config::default())
        .map_err(|e| std::io::Error::other(format!("serialize iceoryx2 config: {e}")))?;
    let global = value
        .get_mut("global")
        .and_then(|g| g.as_table_mut())
        .ok_or_else(|| std::io::Error::other("iceoryx2 config has no [global]"))?;
    let mut root = root.display().to_string();
    if !root.ends_with('/') {
        root.push('/');
    }
    global.insert("root-path-unix".into(), toml::Value::String(root));
    global.insert("prefix".into(), toml::Value::String(prefix.to_string()));
    let text = toml::to_string(&value)
        .map_err(|e| std::io::Error::other(format!("serialize iceoryx2 config: {e}")))?;
    let path = dir.join("config/iceoryx2.toml");
    std::fs::create_dir_all(dir.join("config"))?;
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Result of one readiness probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Both services have an Alive node whose PID is the connector's.
    pub ready: bool,
    /// Distinct Alive node PIDs on ToBot other than the connector's and the console's.
    pub bots: u32,
}

fn service_name(s: &str) -> Result<ServiceName, String> {
    ServiceName::new(s).map_err(|e| format!("invalid service name {s:?}: {e:?}"))
}

/// Node states of one publish-subscribe service (empty if it does not exist).
fn service_nodes(config: &Config, name: &str) -> Result<Vec<NodeState<ipc::Service>>, String> {
    service_state(config, name).map(|(_, nodes)| nodes)
}

/// Node states of one publish-subscribe service and its id (iceoryx2's hash of the name, which
/// names the service's tag file in each node's directory), if it exists.
type ServiceState = (Option<String>, Vec<NodeState<ipc::Service>>);

fn service_state(config: &Config, name: &str) -> Result<ServiceState, String> {
    let sn = service_name(name)?;
    match ipc::Service::details(&sn, config, MessagingPattern::PublishSubscribe) {
        Ok(Some(d)) => Ok((
            Some(d.static_details.service_id().as_str().to_string()),
            d.dynamic_details.map(|dd| dd.nodes).unwrap_or_default(),
        )),
        Ok(None) => Ok((None, Vec::new())),
        Err(e) => Err(format!("{name}: {e:?}")),
    }
}

fn alive_pids(nodes: &[NodeState<ipc::Service>]) -> Vec<i32> {
    nodes
        .iter()
        .filter_map(|n| match n {
            NodeState::Alive(v) => Some(v.id().pid().value()),
            NodeState::Dead(_) | NodeState::Inaccessible(_) | NodeState::Undefined(_) => None,
        })
        .collect()
}

/// PIDs of the Alive nodes attached to publish-subscribe service `service` (empty if it does
/// not exist or cannot be read).
pub fn alive_pids_on(config: &Config, service: &str) -> Vec<i32> {
    service_nodes(config, service)
        .map(|n| alive_pids(&n))
        .unwrap_or_default()
}

/// Readiness and bots of connector `name` running as `pid`.
pub fn probe(config: &Config, name: &str, pid: i32) -> Result<Probe, String> {
    probe_learning(config, name, pid, &mut |_, _| {})
}

/// [`probe`], telling `learn` the id of each of the connector's services that exists, with its
/// role (0: ToBot, 1: FromBot).
fn probe_learning(
    config: &Config,
    name: &str,
    pid: i32,
    learn: &mut dyn FnMut(String, usize),
) -> Result<Probe, String> {
    let me = std::process::id() as i32;
    let (to_id, to_nodes) = service_state(config, &to_bot(name))?;
    let (from_id, from_nodes) = service_state(config, &from_bot(name))?;
    to_id.into_iter().for_each(|id| learn(id, 0));
    from_id.into_iter().for_each(|id| learn(id, 1));
    let to_bot = alive_pids(&to_nodes);
    let from_bot = alive_pids(&from_nodes);
    let ready = to_bot.contains(&pid) && from_bot.contains(&pid);
    let mut bots: Vec<i32> = to_bot
        .into_iter()
        .filter(|p| *p != pid && *p != me)
        .collect();
    bots.sort_unstable();
    bots.dedup();
    Ok(Probe {
        ready,
        bots: bots.len() as u32,
    })
}

/// Readiness of a bot running as `pid`: an Alive node of its process (or of a process in its
/// session, for a bot started through a shell) on both services of every connector it trades
/// on.
pub fn bot_probe(config: &Config, connectors: &[String], pid: i32) -> Probe {
    bot_probe_learning(config, connectors, pid, &mut |_, _| {})
}

/// [`bot_probe`], telling `learn` the id of each service it found, with its connector.
fn bot_probe_learning(
    config: &Config,
    connectors: &[String],
    pid: i32,
    learn: &mut dyn FnMut(String, &str),
) -> Probe {
    let ours = |p: i32| p == pid || super::sys::session_of(p) == Some(pid);
    let ready = connectors.iter().all(|c| {
        [to_bot(c), from_bot(c)].iter().all(|svc| {
            let (id, nodes) = service_state(config, svc).unwrap_or_default();
            if let Some(id) = id {
                learn(id, c);
            }
            alive_pids(&nodes).into_iter().any(ours)
        })
    });
    Probe { ready, bots: 0 }
}

/// Why a connector may not start now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrepareError {
    /// An Alive node of this PID holds the ToBot publisher.
    NameInUse(i32),
    /// Dead nodes could not be cleaned.
    Stale(String),
    /// This process (or the machine) is out of file descriptors: why, and what to do. iceoryx2
    /// cannot open its files then, and says so as a missing service or a failed cleanup.
    NoDescriptors(String),
}

/// Why this process cannot open a file now, if it is out of file descriptors (EMFILE: its own
/// limit; ENFILE: the machine's): iceoryx2 reports that as a service that does not exist or
/// stale resources it cannot remove, and the advice for those (delete files under its root)
/// would hit other running services.
pub fn out_of_descriptors() -> Option<String> {
    let e = std::fs::File::open("/dev/null").err()?;
    match e.raw_os_error()? {
        nix::libc::EMFILE => {
            let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
                .current
                .map(|n| n.to_string())
                .unwrap_or_else(|| "unlimited".into());
            Some(format!(
                "too many open files: the console (PID {pid}) has used up its limit of {limit} open files (RLIMIT_NOFILE); see what holds them (`ls -l /proc/{pid}/fd`), raise the limit (`ulimit -n` in its shell, LimitNOFILE= in its systemd unit) and restart the console; do not delete iceoryx2 files, the connectors' services are fine",
                pid = std::process::id()
            ))
        }
        nix::libc::ENFILE => Some(
            "too many open files on this machine (ENFILE: the system-wide file table is full, see fs.file-max): find the process that holds so many (`lsof | awk '{print $2}' | sort | uniq -c | sort -n`), then start again; do not delete iceoryx2 files, the connectors' services are fine".into(),
        ),
        _ => None,
    }
}

/// Before a start: removes dead nodes registered on the connector's services, then refuses if
/// the ToBot publisher belongs to a live process. Returns how many dead nodes were removed.
pub fn prepare_start(
    node: &Node<ipc::Service>,
    config: &Config,
    name: &str,
) -> Result<usize, PrepareError> {
    // Out of descriptors, iceoryx2 sees no service at all: the name check below would pass
    // whoever holds it, and a failed cleanup would be blamed on stale files.
    let no_fds = || out_of_descriptors().map(PrepareError::NoDescriptors);
    if let Some(e) = no_fds() {
        return Err(e);
    }
    let mut removed = 0;
    let mut failed = Vec::new();
    for svc in [to_bot(name), from_bot(name)] {
        let nodes =
            service_nodes(config, &svc).map_err(|e| no_fds().unwrap_or(PrepareError::Stale(e)))?;
        for n in nodes {
            if let NodeState::Dead(dead) = n {
                let pid = dead.id().pid().value();
                match dead.remove_stale_resources() {
                    Ok(_) => removed += 1,
                    Err(e) => failed.push(format!("dead node of PID {pid} on {svc}: {e:?}")),
                }
            }
        }
    }
    if !failed.is_empty() {
        return Err(no_fds().unwrap_or(PrepareError::Stale(failed.join("; "))));
    }
    if let Some(pid) = to_bot_publisher(node, config, name) {
        return Err(PrepareError::NameInUse(pid));
    }
    Ok(removed)
}

/// PID of the Alive node that holds `{name}/ToBot`'s publisher, if any.
pub fn to_bot_publisher(node: &Node<ipc::Service>, config: &Config, name: &str) -> Option<i32> {
    let alive = alive_pids(&service_nodes(config, &to_bot(name)).ok()?);
    if alive.is_empty() {
        return None;
    }
    let sn = service_name(&to_bot(name)).ok()?;
    let factory = node
        .service_builder(&sn)
        .publish_subscribe::<[u8]>()
        .user_header::<CustomHeader>()
        .open()
        .ok()?;
    let mut holder = None;
    factory.dynamic_config().list_publishers(|p| {
        let pid = p.node_id.pid().value();
        if alive.contains(&pid) {
            holder = Some(pid);
            CallbackProgression::Stop
        } else {
            CallbackProgression::Continue
        }
    });
    holder
}

// ---- the worker thread ---------------------------------------------------------------------

/// One connector the worker watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    /// The engine's key of the connector's slot.
    pub key: u64,
    pub name: String,
    pub pid: i32,
    pub root: PathBuf,
    /// Starting connectors are probed every [`FAST_PROBE`]; ready ones every [`SLOW_PROBE`].
    pub fast: bool,
    /// Hold a feed meter on its ToBot (it is ready and not being stopped).
    pub meter: bool,
    /// For a bot: the connectors whose services its process must be attached to (empty for a
    /// connector).
    pub attach_to: Vec<String>,
}

/// Probe interval while a connector is starting (bounds readiness latency).
pub const FAST_PROBE: Duration = Duration::from_millis(20);
/// At most this many starting connectors are polled per [`FAST_PROBE`] tick, in turn: with
/// more starting at once each is polled less often (200: every 0.5 s), while the inotify wake
/// of its own node still probes it at once (#24: polling every starting connector every 20 ms
/// kept the IPC thread busy for as long as 200 took to start).
const FAST_PER_TICK: usize = 8;
/// After an inotify wake, one more probe this much later (services open after the node).
const REPROBE_AFTER_WAKE: Duration = Duration::from_millis(50);
/// After a wake that concerned every watch (another process's node came or went), every watch
/// is probed each [`FOREIGN_PROBE`] for this long: a bot's node opens its services some time
/// after its directory appears, and the tags it writes meanwhile may go unseen.
const FOREIGN_WINDOW: Duration = Duration::from_secs(3);
const FOREIGN_PROBE: Duration = Duration::from_millis(250);

/// Safety-net probe interval for ready connectors. Bots and connectors appearing or leaving wake
/// the worker at once through inotify on the iceoryx2 node directory; this only catches what
/// inotify cannot see (a bot killed with SIGKILL leaves its node files behind; services removed
/// under a live connector). A probe parses a few TOML files per connector (iceoryx2's service
/// and node details, ~1 ms), so these rounds go through a census of the node directories first
/// ([`super::census`]) and probe only the connectors whose tags no longer match their last probe:
/// with 200 ready connectors a round of full probes every 30 s cost ~0.25–0.3 % of a core.
pub const SLOW_PROBE: Duration = Duration::from_secs(30);
/// Connectors with bots attached are probed this often besides the wakes: a SIGKILLed bot
/// changes no file until some process cleans its node up, which may be never (its count would
/// then wait for [`SLOW_PROBE`]).
const BOTS_PROBE: Duration = Duration::from_secs(2);

enum Request {
    Watch(Vec<Watch>),
    /// The last [`IpcWorker`] handle is gone: drop the nodes and end the thread.
    Shutdown,
    /// Something changed under an iceoryx2 node directory (these paths): probe the watches
    /// it concerns now.
    Wake(Vec<PathBuf>),
    Prepare {
        name: String,
        root: PathBuf,
        reply: tokio::sync::oneshot::Sender<Result<usize, PrepareError>>,
    },
    /// Send `requests` on the connector's FromBot from the console's node (the meter's
    /// registrar); the outcome comes back as [`IpcReport::Registered`].
    Register {
        key: u64,
        pid: i32,
        requests: Vec<Vec<u8>>,
    },
    /// Close the meter of watch `key` now (before a stop signal), then reply.
    CloseMeter {
        key: u64,
        reply: tokio::sync::oneshot::Sender<()>,
    },
}

/// Handle to the iceoryx2 thread. Cloneable; when the last clone is dropped the thread removes
/// the console's nodes and ends.
#[derive(Clone)]
pub struct IpcWorker {
    tx: std_mpsc::Sender<Request>,
    _last: std::sync::Arc<ShutdownOnDrop>,
}

/// Tells the worker thread to end when dropped (the thread's own wake-up sender, held by the
/// inotify watcher, keeps the channel open, so disconnection alone cannot end it).
/// It also waits for the thread, so that the console's nodes are gone (their files removed)
/// when the last handle is: whoever removes the iceoryx2 root afterwards does not race them.
struct ShutdownOnDrop(
    std_mpsc::Sender<Request>,
    std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
);

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(Request::Shutdown);
        let thread = self.1.lock().map(|mut t| t.take()).unwrap_or(None);
        if let Some(t) = thread {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

/// A probe result for watch `key`.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub key: u64,
    pub pid: i32,
    pub probe: Probe,
}

/// What the iceoryx2 thread tells the engine.
#[derive(Debug, Clone)]
pub enum IpcReport {
    Probe(ProbeReport),
    /// New feed meter figures of watch `key` (at most one per second per meter).
    Feed {
        key: u64,
        pid: i32,
        stats: crate::machine::feed::FeedStats,
    },
    /// The outcome of a [`IpcWorker::register`].
    Registered {
        key: u64,
        pid: i32,
        result: Result<(), String>,
    },
}

struct WorkerState {
    wake: std_mpsc::Sender<Request>,
    watchers: Vec<notify::RecommendedWatcher>,
    configs: HashMap<PathBuf, Config>,
    /// The console's own node per config: created before any connector starts (iceoryx2 0.6.1
    /// fails concurrent node creation on a fresh root), with signal handling disabled.
    nodes: HashMap<PathBuf, Node<ipc::Service>>,
    /// The watched node directories, with their config's file-name prefix.
    node_dirs: Vec<(PathBuf, String)>,
    /// A node's directory is named by its id, whose low 32 bits are its PID (iceoryx2 0.6.1's
    /// `UniqueSystemId` layout; checked on the console's own node, else every wake probes all).
    pid_in_name: bool,
    /// Service id → connector name, learnt from probes: a bot's node opening or leaving a
    /// connector's service writes or removes that service's tag file in its own directory.
    services: HashMap<String, String>,
    /// Connector name → the ids of its ToBot and FromBot services, learnt from probes (a
    /// census predicts its probe from them).
    ids: HashMap<String, [Option<String>; 2]>,
}

impl WorkerState {
    fn ensure(&mut self, root: &Path) -> Result<(&Config, &Node<ipc::Service>), String> {
        if !self.nodes.contains_key(root) {
            let config = config_for(root)?;
            let node = NodeBuilder::new()
                .config(&config)
                .signal_handling_mode(SignalHandlingMode::Disabled)
                .create::<ipc::Service>()
                .map_err(|e| format!("cannot create the console's iceoryx2 node: {e:?}"))?;
            let id = node.id();
            self.pid_in_name &= id.value() as u32 == id.pid().value() as u32;
            self.watch_node_dir(&config);
            self.configs.insert(root.to_path_buf(), config);
            self.nodes.insert(root.to_path_buf(), node);
        }
        match (self.configs.get(root), self.nodes.get(root)) {
            (Some(c), Some(n)) => Ok((c, n)),
            _ => Err("iceoryx2 state lost".into()),
        }
    }
}

impl WorkerState {
    /// Wakes the worker when nodes come or go (and when they open services: iceoryx2 writes a
    /// service tag file into the node's directory). Without it, probes fall back to polling.
    fn watch_node_dir(&mut self, config: &Config) {
        use notify::Watcher;
        let dir = PathBuf::from(config.global.node_dir().to_string());
        self.node_dirs
            .push((dir.clone(), config.global.prefix.to_string()));
        let wake = self.wake.clone();
        let handler = move |res: notify::Result<notify::Event>| {
            if let Ok(e) = res {
                if matches!(
                    e.kind,
                    notify::EventKind::Create(_) | notify::EventKind::Remove(_)
                ) {
                    let paths = e.paths;
                    let _ = wake.send(Request::Wake(paths));
                }
            }
        };
        let _ = std::fs::create_dir_all(&dir);
        match notify::recommended_watcher(handler) {
            Ok(mut w) => match w.watch(&dir, notify::RecursiveMode::Recursive) {
                Ok(()) => self.watchers.push(w),
                Err(e) => tracing::debug!("cannot watch {}: {e}; probing by timer", dir.display()),
            },
            Err(e) => tracing::debug!("inotify unavailable: {e}; probing by timer"),
        }
    }
}

/// The meter must never compete with the bots it watches: this thread (the meter's drains,
/// the registration's iceoryx2 calls) runs at nice 19, so on a busy host the bots' threads get
/// the cores first (Linux's nice is per thread; the rest of the console keeps its own).
/// `SCHED_IDLE` would be lower still, but on a host whose bots busy-poll every core it would
/// starve the meter outright, and a starved meter reports a healthy feed as stale.
fn lowest_priority() {
    if let Err(e) = rustix::process::setpriority_process(None, 19) {
        tracing::debug!("the iceoryx2 thread keeps its priority: {e}");
    }
}

impl IpcWorker {
    /// Starts the thread and creates the console's node for each project root. Fails if a node
    /// cannot be created.
    pub fn start(
        roots: &[PathBuf],
        reports: tokio::sync::mpsc::UnboundedSender<IpcReport>,
    ) -> Result<IpcWorker, String> {
        let (tx, rx) = std_mpsc::channel::<Request>();
        let (init_tx, init_rx) = std_mpsc::channel::<Result<(), String>>();
        let roots = roots.to_vec();
        let wake = tx.clone();
        let thread = std::thread::Builder::new()
            .name("switchboard-ipc".into())
            .spawn(move || {
                lowest_priority();
                let mut st = WorkerState {
                    wake,
                    watchers: Vec::new(),
                    configs: HashMap::new(),
                    nodes: HashMap::new(),
                    node_dirs: Vec::new(),
                    pid_in_name: true,
                    services: HashMap::new(),
                    ids: HashMap::new(),
                };
                let init = roots.iter().try_for_each(|r| st.ensure(r).map(|_| ()));
                let ok = init.is_ok();
                let _ = init_tx.send(init);
                if ok {
                    worker_loop(st, rx, reports);
                }
            })
            .map_err(|e| format!("cannot start the iceoryx2 thread: {e}"))?;
        init_rx
            .recv()
            .map_err(|_| "the iceoryx2 thread died during start".to_string())??;
        Ok(IpcWorker {
            _last: std::sync::Arc::new(ShutdownOnDrop(
                tx.clone(),
                std::sync::Mutex::new(Some(thread)),
            )),
            tx,
        })
    }

    /// Replaces the set of watched connectors.
    pub fn watch(&self, watches: Vec<Watch>) {
        let _ = self.tx.send(Request::Watch(watches));
    }

    /// Sends the console's registrations for watch `key` (running as `pid`) through its meter;
    /// the outcome comes back as an [`IpcReport::Registered`].
    pub fn register(&self, key: u64, pid: i32, requests: Vec<Vec<u8>>) {
        let _ = self.tx.send(Request::Register { key, pid, requests });
    }

    /// Closes the feed meter of watch `key`; resolves once it is closed (at once if none).
    pub fn close_meter(&self, key: u64) -> tokio::sync::oneshot::Receiver<()> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let _ = self.tx.send(Request::CloseMeter { key, reply });
        rx
    }

    /// Runs [`prepare_start`] on the worker.
    pub async fn prepare(&self, name: &str, root: &Path) -> Result<usize, PrepareError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Request::Prepare {
                name: name.to_string(),
                root: root.to_path_buf(),
                reply,
            })
            .map_err(|_| PrepareError::Stale("iceoryx2 thread is gone".into()))?;
        rx.await
            .map_err(|_| PrepareError::Stale("iceoryx2 thread is gone".into()))?
    }
}

/// The open feed meters, by watch key (with the PID they meter).
#[derive(Default)]
struct Meters {
    open: HashMap<u64, (i32, super::meter::Meter)>,
    /// The last open error per watch, so that each distinct one is logged once.
    failing: HashMap<u64, String>,
    /// Idle drains of all meters fall on the same beat (one wake of the thread per second,
    /// however many connectors are quiet).
    beat: Option<std::time::Instant>,
}

impl Meters {
    /// Opens and closes meters to match `watches`.
    fn reconcile(&mut self, st: &mut WorkerState, watches: &[Watch]) {
        let metered: HashMap<u64, i32> = watches
            .iter()
            .filter(|w| w.meter)
            .map(|w| (w.key, w.pid))
            .collect();
        self.open
            .retain(|key, (pid, _)| metered.get(key) == Some(pid));
        self.failing.retain(|key, _| metered.contains_key(key));
        for w in watches.iter().filter(|w| w.meter) {
            if self.open.contains_key(&w.key) {
                continue;
            }
            let opened = st.ensure(&w.root).and_then(|(_, node)| {
                super::meter::Meter::open(node, &w.name, super::store::unix_now())
            });
            match opened {
                Ok(m) => {
                    if self.failing.remove(&w.key).is_some() {
                        tracing::info!("{}: feed meter open", w.name);
                    }
                    self.open.insert(w.key, (w.pid, m));
                }
                Err(e) => {
                    if self.failing.get(&w.key) != Some(&e) {
                        tracing::warn!(
                            "{}: no feed meter: {e}; retrying with the next probe",
                            w.name
                        );
                        self.failing.insert(w.key, e);
                    }
                }
            }
        }
    }

    fn next_drain(&self) -> Option<std::time::Instant> {
        self.open.values().map(|(_, m)| m.next_drain).min()
    }

    /// Drains the meters that are due; returns false when the engine is gone.
    fn drain_due(
        &mut self,
        watches: &[Watch],
        last: &HashMap<(u64, i32), Probe>,
        reports: &tokio::sync::mpsc::UnboundedSender<IpcReport>,
    ) -> bool {
        use super::meter::{ACTIVE_DRAIN, IDLE_DRAIN};
        let now = std::time::Instant::now();
        let now_unix = super::store::unix_now();
        for (key, (pid, m)) in self.open.iter_mut() {
            if now < m.next_drain {
                continue;
            }
            let got = match m.drain(now_unix) {
                Ok(n) => n,
                Err(e) => {
                    let name = watches
                        .iter()
                        .find(|w| w.key == *key)
                        .map(|w| w.name.as_str());
                    tracing::debug!(connector = name.unwrap_or("?"), "feed meter: {e}");
                    0
                }
            };
            let bots = last.get(&(*key, *pid)).map(|p| p.bots).unwrap_or(0);
            // Draining more often than every 20 ms when a feed outruns the buffer was measured
            // to cost the publisher more, not less (2 cores, 1M events/s: 1 ms drains kept count
            // of every event but the publisher fell to 0.80-0.83x; a bot draining every 5 ms
            // costs it 0.86-1.0x): above ~500k events/s the figures become lower bounds instead.
            // Below that, the interval follows the rate (#24: fewer wakes beside the bots).
            let since = m.last_drain.map(|t| now.saturating_duration_since(t));
            m.last_drain = Some(now);
            m.next_drain = if got > 0 || bots > 0 || now < m.active_until {
                now + super::meter::active_interval(
                    got,
                    since.unwrap_or(ACTIVE_DRAIN),
                    m.capacity(),
                )
            } else {
                let beat = *self.beat.get_or_insert(now);
                let n = (now.saturating_duration_since(beat).as_secs_f64()
                    / IDLE_DRAIN.as_secs_f64())
                .floor() as u32
                    + 1;
                beat + IDLE_DRAIN * n
            };
            if let Some(stats) = m.report(now_unix) {
                if reports
                    .send(IpcReport::Feed {
                        key: *key,
                        pid: *pid,
                        stats,
                    })
                    .is_err()
                {
                    return false;
                }
            }
        }
        true
    }
}

/// The watches to probe: every one, or these keys.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
enum Targets {
    #[default]
    Nothing,
    All,
    Keys(std::collections::HashSet<u64>),
}

impl Targets {
    fn add(&mut self, key: u64) {
        match self {
            Targets::All => {}
            Targets::Keys(k) => {
                k.insert(key);
            }
            Targets::Nothing => *self = Targets::Keys([key].into()),
        }
    }

    fn merge(&mut self, other: Targets) {
        match other {
            Targets::Nothing => {}
            Targets::All => *self = Targets::All,
            Targets::Keys(keys) => keys.into_iter().for_each(|k| self.add(k)),
        }
    }

    fn contains(&self, key: u64) -> bool {
        match self {
            Targets::Nothing => false,
            Targets::All => true,
            Targets::Keys(k) => k.contains(&key),
        }
    }

    fn is_nothing(&self) -> bool {
        *self == Targets::Nothing
    }
}

/// The watches that file events at `paths` (under a node directory) concern: the node's own
/// (its PID is the watch's; a managed bot's, with the connectors it trades on) and, for a
/// service's tag file, that service's connector and the bots trading on it. The console's own
/// nodes concern nobody; anything it cannot place is answered with [`Targets::All`], and so is
/// another process's node coming or going other than by a known service's tag (a bot run
/// outside the console: the tags inside its new directory may be written before the directory
/// is watched; a dead bot's node cleaned up).
fn route(st: &WorkerState, paths: &[PathBuf], watches: &[Watch]) -> Targets {
    let me = std::process::id() as i32;
    let mut targets = Targets::Nothing;
    for path in paths {
        let Some((rel, prefix)) = st
            .node_dirs
            .iter()
            .find_map(|(dir, prefix)| Some((path.strip_prefix(dir).ok()?, prefix)))
        else {
            return Targets::All;
        };
        let mut parts = rel.components().map(|c| c.as_os_str().to_string_lossy());
        // `<node id>/…` or `<prefix><node id>.<suffix>` (its monitor): the id, then the PID.
        let id_of = |part: &str| {
            let part = part.strip_prefix(prefix.as_str()).unwrap_or(part);
            let digits = part.split('.').next().unwrap_or("");
            digits.parse::<u128>().ok()
        };
        let Some(node_id) = parts.next().and_then(|p| id_of(&p)) else {
            return Targets::All;
        };
        if !st.pid_in_name {
            return Targets::All;
        }
        let pid = node_id as u32 as i32;
        if pid == me {
            continue;
        }
        let mut own = false;
        for w in watches.iter().filter(|w| w.pid == pid) {
            targets.add(w.key);
            own = true;
            // A managed bot's node: the connectors it trades on count it.
            for c in watches.iter().filter(|c| w.attach_to.contains(&c.name)) {
                targets.add(c.key);
            }
        }
        // `<prefix><service id>.<suffix>`: a tag, when it names a known service.
        let service = parts.next().and_then(|file| {
            let file = file.strip_prefix(prefix.as_str()).unwrap_or(&file);
            st.services
                .get(file.split('.').next().unwrap_or(""))
                .cloned()
        });
        match service {
            Some(name) => {
                for w in watches
                    .iter()
                    .filter(|w| w.name == name || w.attach_to.contains(&name))
                {
                    targets.add(w.key);
                }
            }
            // Another process's node (a bot run outside the console) coming or going, or a
            // tag not known yet: the files inside a new node directory can be written before
            // the directory is watched, so their own events may never come.
            None if !own => return Targets::All,
            None => {}
        }
    }
    targets
}

impl WorkerState {
    /// A census of `root`'s directories (None: not known, or unreadable).
    fn census(&self, root: &Path) -> Option<super::census::Census> {
        let config = self.configs.get(root)?;
        let node_dir = PathBuf::from(config.global.node_dir().to_string());
        let service_dir = PathBuf::from(config.global.service_dir().to_string());
        let (prefix, tag, service) = (
            config.global.prefix.to_string(),
            config.global.node.service_tag_suffix.to_string(),
            config
                .global
                .service
                .static_config_storage_suffix
                .to_string(),
        );
        let layout = super::census::Layout {
            node_dir: &node_dir,
            service_dir: &service_dir,
            prefix: &prefix,
            tag_suffix: &tag,
            service_suffix: &service,
        };
        super::census::Census::take(&layout, super::census::alive).ok()
    }
}

/// The watches whose probe may differ from their last one, by a census of the node
/// directories: a connector whose ToBot and FromBot tags name the same PIDs as its last probe
/// counted is left alone. What a census cannot predict is due: a bot's watch, a connector not
/// probed yet or whose service ids are not known, a root it cannot read, node directories not
/// named by PID.
fn census_due(st: &WorkerState, watches: &[Watch], last: &HashMap<(u64, i32), Probe>) -> Targets {
    let me = std::process::id() as i32;
    let mut censuses: HashMap<&Path, Option<super::census::Census>> = HashMap::new();
    let mut due = Targets::Nothing;
    for w in watches {
        let mut predicted = || {
            if !w.attach_to.is_empty() || !st.pid_in_name {
                return None;
            }
            let [Some(to), Some(from)] = st.ids.get(&w.name)? else {
                return None;
            };
            let census = censuses
                .entry(w.root.as_path())
                .or_insert_with(|| st.census(&w.root))
                .as_ref()?;
            let (to, from) = (census.attached(to), census.attached(from));
            Some(Probe {
                ready: to.contains(&w.pid) && from.contains(&w.pid),
                bots: to.iter().filter(|p| **p != w.pid && **p != me).count() as u32,
            })
        };
        let predicted = predicted();
        if predicted.is_none() || predicted != last.get(&(w.key, w.pid)).copied() {
            due.add(w.key);
        }
    }
    due
}

fn worker_loop(
    mut st: WorkerState,
    rx: std_mpsc::Receiver<Request>,
    reports: tokio::sync::mpsc::UnboundedSender<IpcReport>,
) {
    let mut watches: Vec<Watch> = Vec::new();
    let mut meters = Meters::default();
    let mut pending: std::collections::VecDeque<Request> = std::collections::VecDeque::new();
    let mut last: HashMap<(u64, i32), Probe> = HashMap::new();
    // The last probe error per watch, so that each distinct one is logged once.
    let mut failing: HashMap<u64, String> = HashMap::new();
    let mut next_slow = std::time::Instant::now();
    let mut next_fast = std::time::Instant::now();
    let mut next_bots = std::time::Instant::now() + BOTS_PROBE;
    // Probing every watch after another process's node came or went: until, and next.
    let mut foreign_until: Option<std::time::Instant> = None;
    let mut next_foreign = std::time::Instant::now();
    // Starting connectors are polled in turn, FAST_PER_TICK at a time, from here.
    let mut fast_cursor = 0usize;
    // A node appears before it has opened its services: probe what a wake concerned once more
    // shortly after it.
    let mut reprobe_at: Option<std::time::Instant> = None;
    let mut reprobe = Targets::Nothing;
    loop {
        let fast = watches.iter().any(|w| w.fast);
        let now = std::time::Instant::now();
        let mut timeout = if watches.is_empty() {
            Duration::from_secs(3600)
        } else if fast {
            next_fast.saturating_duration_since(now)
        } else {
            next_slow.saturating_duration_since(now)
        };
        if let Some(at) = reprobe_at {
            timeout = timeout.min(at.saturating_duration_since(now));
        }
        if foreign_until.is_some() {
            timeout = timeout.min(next_foreign.saturating_duration_since(now));
        }
        let with_bots = last.values().any(|p| p.bots > 0);
        if with_bots {
            timeout = timeout.min(next_bots.saturating_duration_since(now));
        }
        if let Some(at) = meters.next_drain() {
            timeout = timeout.min(at.saturating_duration_since(now));
        }
        // What to probe this time round.
        let mut due = Targets::Nothing;
        let next = match pending.pop_front() {
            Some(r) => Ok(r),
            None => rx.recv_timeout(timeout),
        };
        match next {
            Ok(Request::Watch(w)) => {
                let keys: std::collections::HashSet<(u64, i32)> =
                    w.iter().map(|x| (x.key, x.pid)).collect();
                last.retain(|kp, _| keys.contains(kp));
                // A new watch (or a new process of one) is probed at once: it may be ready
                // already (adopted, or its services opened before it was watched).
                let known: std::collections::HashSet<(u64, i32)> =
                    watches.iter().map(|x| (x.key, x.pid)).collect();
                for x in w.iter().filter(|x| !known.contains(&(x.key, x.pid))) {
                    due.add(x.key);
                }
                watches = w;
                meters.reconcile(&mut st, &watches);
            }
            Ok(Request::Register { key, pid, requests }) => {
                let result = match (
                    watches.iter().find(|w| w.key == key && w.pid == pid),
                    meters.open.get_mut(&key),
                ) {
                    (Some(w), Some((mpid, m))) if *mpid == pid => st
                        .ensure(&w.root)
                        .and_then(|(_, node)| m.register(node, &w.name, &requests)),
                    _ => Err("its feed meter is not open (not ready, or being stopped)".into()),
                };
                if reports
                    .send(IpcReport::Registered { key, pid, result })
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Ok(Request::CloseMeter { key, reply }) => {
                meters.open.remove(&key);
                let _ = reply.send(());
                continue;
            }
            Ok(Request::Wake(mut paths)) => {
                // A burst of file events is one change: drain it, then probe what it concerns
                // once.
                std::thread::sleep(Duration::from_millis(2));
                while let Ok(r) = rx.try_recv() {
                    match r {
                        Request::Wake(more) => paths.extend(more),
                        Request::Shutdown => return,
                        other => pending.push_back(other),
                    }
                }
                let woken = route(&st, &paths, &watches);
                if woken == Targets::All {
                    let now = std::time::Instant::now();
                    foreign_until = Some(now + FOREIGN_WINDOW);
                    next_foreign = now + FOREIGN_PROBE;
                }
                if !woken.is_nothing() {
                    reprobe.merge(woken.clone());
                    reprobe_at = Some(std::time::Instant::now() + REPROBE_AFTER_WAKE);
                }
                // Every meter drains actively for a while, as before: a bot's node may open a
                // service before its directory is watched (its tag unseen), and a meter left on
                // its idle beat would lose the samples the bot's feed brings.
                let now = std::time::Instant::now();
                for (_, m) in meters.open.values_mut() {
                    m.wake(now);
                }
                due.merge(woken);
            }
            Ok(Request::Shutdown) => return,
            Ok(Request::Prepare { name, root, reply }) => {
                // A start never finds the console still subscribed to the name's services.
                let others: std::collections::HashSet<u64> = watches
                    .iter()
                    .filter(|w| w.name != name)
                    .map(|w| w.key)
                    .collect();
                meters.open.retain(|k, _| others.contains(k));
                let result = match st.ensure(&root) {
                    Ok((config, node)) => prepare_start(node, config, &name),
                    Err(e) => Err(out_of_descriptors()
                        .map_or(PrepareError::Stale(e), PrepareError::NoDescriptors)),
                };
                let _ = reply.send(result);
                continue;
            }
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = std::time::Instant::now();
        if reprobe_at.is_some_and(|at| now >= at) {
            reprobe_at = None;
            due.merge(std::mem::take(&mut reprobe));
        }
        if !meters.drain_due(&watches, &last, &reports) {
            return;
        }
        // The safety-net rounds (slow, after another process's node came or went, of
        // connectors with bots) probe only what a census of the node directories says may have
        // changed since its last probe.
        let mut round = false;
        let slow_due = now >= next_slow;
        if slow_due {
            next_slow = now + SLOW_PROBE;
            round = true;
            // A meter that could not open (say, ToBot not there yet) is tried again.
            if watches
                .iter()
                .any(|w| w.meter && !meters.open.contains_key(&w.key))
            {
                meters.reconcile(&mut st, &watches);
            }
        }
        if let Some(until) = foreign_until {
            if now >= until {
                foreign_until = None;
            } else if now >= next_foreign {
                next_foreign = now + FOREIGN_PROBE;
                round = true;
            }
        }
        if now >= next_bots {
            next_bots = now + BOTS_PROBE;
            round |= with_bots;
        }
        if round {
            due.merge(census_due(&st, &watches, &last));
        }
        if fast && now >= next_fast {
            next_fast = now + FAST_PROBE;
            let starting: Vec<u64> = watches.iter().filter(|w| w.fast).map(|w| w.key).collect();
            let n = starting.len();
            for i in 0..n.min(FAST_PER_TICK) {
                due.add(starting[(fast_cursor + i) % n]);
            }
            fast_cursor = (fast_cursor + FAST_PER_TICK) % n.max(1);
        }
        if due.is_nothing() {
            continue;
        }
        for w in &watches {
            if !due.contains(w.key) {
                continue;
            }
            let result = match st.ensure(&w.root) {
                Ok((config, _)) if w.attach_to.is_empty() => {
                    let mut learnt = Vec::new();
                    let p = probe_learning(config, &w.name, w.pid, &mut |id, role| {
                        learnt.push((id, role))
                    });
                    for (id, role) in learnt {
                        st.ids.entry(w.name.clone()).or_default()[role] = Some(id.clone());
                        st.services.insert(id, w.name.clone());
                    }
                    p
                }
                Ok((config, _)) => {
                    let mut learnt = Vec::new();
                    let p = bot_probe_learning(config, &w.attach_to, w.pid, &mut |id, c| {
                        learnt.push((id, c.to_string()))
                    });
                    st.services.extend(learnt);
                    Ok(p)
                }
                Err(e) => Err(e),
            };
            let p = match result {
                Ok(p) => {
                    if failing.remove(&w.key).is_some() {
                        tracing::info!("{}: iceoryx2 probes work again", w.name);
                    }
                    p
                }
                Err(e) => {
                    if failing.get(&w.key) != Some(&e) {
                        tracing::warn!("{}: cannot probe its iceoryx2 services: {e}", w.name);
                        failing.insert(w.key, e);
                    }
                    continue;
                }
            };
            if last.get(&(w.key, w.pid)) != Some(&p) {
                last.insert((w.key, w.pid), p);
                if reports
                    .send(IpcReport::Probe(ProbeReport {
                        key: w.key,
                        pid: w.pid,
                        probe: p,
                    }))
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(key: u64, name: &str, pid: i32, attach_to: &[&str]) -> Watch {
        Watch {
            key,
            name: name.into(),
            pid,
            root: PathBuf::from("/p"),
            fast: false,
            meter: false,
            attach_to: attach_to.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn state(pid_in_name: bool) -> WorkerState {
        WorkerState {
            wake: std_mpsc::channel().0,
            watchers: Vec::new(),
            configs: HashMap::new(),
            nodes: HashMap::new(),
            node_dirs: vec![(PathBuf::from("/r/nodes"), "iox2_".into())],
            pid_in_name,
            services: [("abc".to_string(), "a".to_string())].into(),
            ids: HashMap::new(),
        }
    }

    /// The directory name of a node of `pid` (iceoryx2 0.6.1: pid, seconds, nanos, counter).
    fn node(pid: u32) -> String {
        ((7u128 << 96) | (5u128 << 64) | (3u128 << 32) | pid as u128).to_string()
    }

    #[test]
    fn a_wake_concerns_the_node_s_own_watch_and_the_services_it_tags() {
        let st = state(true);
        let ws = [
            watch(1, "a", 100, &[]),
            watch(2, "b", 200, &[]),
            watch(3, "bot", 300, &["a"]),
        ];
        let own = PathBuf::from(format!("/r/nodes/{}/iox2_x.details", node(200)));
        let at = |p: PathBuf| vec![p];
        assert_eq!(route(&st, &at(own), &ws), Targets::Keys([2].into()));
        let monitor = PathBuf::from(format!("/r/nodes/iox2_{}.node_monitor", node(100)));
        assert_eq!(route(&st, &at(monitor), &ws), Targets::Keys([1].into()));
        // A foreign bot tagging connector a's service: a and the bot trading on it.
        let tag = PathBuf::from(format!("/r/nodes/{}/iox2_abc.service_tag", node(999)));
        assert_eq!(
            route(&st, &at(tag.clone()), &ws),
            Targets::Keys([1, 3].into())
        );
        assert_eq!(route(&st, &[tag], &ws), Targets::Keys([1, 3].into()));
        // The console's own node: nobody.
        let mine = PathBuf::from(format!(
            "/r/nodes/{}/iox2_abc.service_tag",
            node(std::process::id())
        ));
        assert_eq!(route(&st, &at(mine), &ws), Targets::Nothing);
        // A foreign node appearing, or tagging a service not known yet: everything (the tags
        // inside a new directory may be written before it is watched).
        let other = PathBuf::from(format!("/r/nodes/{}/iox2_zzz.service_tag", node(999)));
        assert_eq!(route(&st, &at(other), &ws), Targets::All);
        let new_dir = PathBuf::from(format!("/r/nodes/{}", node(999)));
        assert_eq!(route(&st, &at(new_dir), &ws), Targets::All);
        // A managed bot's own node: the bot and the connector it trades on.
        let bot = PathBuf::from(format!("/r/nodes/{}", node(300)));
        assert_eq!(route(&st, &at(bot), &ws), Targets::Keys([1, 3].into()));
        // Another process's node going away (a dead bot's, cleaned up): everything.
        let gone = PathBuf::from(format!("/r/nodes/iox2_{}.node_monitor", node(999)));
        assert_eq!(route(&st, &[gone], &ws), Targets::All);
    }

    #[test]
    fn a_census_leaves_alone_the_connectors_whose_tags_match_their_last_probe() {
        let d = tempfile::tempdir().expect("tmp");
        let root = d.path().join("iox");
        write_private_config(d.path(), &root, "cen_").expect("config");
        let mut st = state(true);
        st.configs
            .insert(PathBuf::from("/p"), config_for(d.path()).expect("config"));
        let (nodes, services) = (root.join("nodes"), root.join("services"));
        std::fs::create_dir_all(&services).expect("mkdir");
        for id in ["a2b", "b2a", "x2b", "b2x"] {
            std::fs::write(services.join(format!("cen_{id}.service")), "").expect("w");
        }
        st.ids
            .insert("a".into(), [Some("a2b".into()), Some("b2a".into())]);
        st.ids
            .insert("x".into(), [Some("x2b".into()), Some("b2x".into())]);
        let me = std::process::id();
        // PIDs that run: this process (the console), its parent (connector a), 1 (a bot).
        let a = std::os::unix::process::parent_id();
        let tag = |pid: u32, counter: u128, svc: &str| {
            let id = ((counter << 96) | pid as u128).to_string();
            let dir = nodes.join(id);
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join(format!("cen_{svc}.service_tag")), "").expect("w");
        };
        tag(a, 1, "a2b");
        tag(a, 1, "b2a");
        tag(me, 2, "a2b"); // the console's meter: never a bot
        let ws = [
            watch(1, "a", a as i32, &[]),
            watch(2, "x", 4_000_000, &[]),
            watch(3, "bot", 1, &["a"]),
            watch(4, "new", 5, &[]),
        ];
        let ready = Probe {
            ready: true,
            bots: 0,
        };
        let mut last: HashMap<(u64, i32), Probe> = HashMap::new();
        last.insert((1, a as i32), ready);
        last.insert(
            (2, 4_000_000),
            Probe {
                ready: false,
                bots: 0,
            },
        );
        // a matches its last probe; x (no PID 4000000 runs, nothing tagged) too; the bot's
        // watch and a connector never probed (no ids) cannot be predicted.
        assert_eq!(census_due(&st, &ws, &last), Targets::Keys([3, 4].into()));
        // A bot (PID 1 runs) on a's ToBot: a is due.
        tag(1, 3, "a2b");
        assert_eq!(census_due(&st, &ws, &last), Targets::Keys([1, 3, 4].into()));
        last.insert(
            (1, a as i32),
            Probe {
                ready: true,
                bots: 1,
            },
        );
        assert_eq!(census_due(&st, &ws, &last), Targets::Keys([3, 4].into()));
        // a's FromBot service removed under it: due again.
        std::fs::remove_file(services.join("cen_b2a.service")).expect("rm");
        assert_eq!(census_due(&st, &ws, &last), Targets::Keys([1, 3, 4].into()));
        // A root whose directories cannot be read: everything is due.
        std::fs::remove_dir_all(&root).expect("rm");
        assert_eq!(
            census_due(&st, &ws, &last),
            Targets::Keys([1, 2, 3, 4].into())
        );
    }

    #[test]
    fn what_cannot_be_placed_probes_everything() {
        let ws = [watch(1, "a", 100, &[])];
        let odd = PathBuf::from("/r/nodes/not-a-node");
        assert_eq!(route(&state(true), &[odd], &ws), Targets::All);
        let outside = PathBuf::from("/elsewhere/x");
        assert_eq!(route(&state(true), &[outside], &ws), Targets::All);
        let own = PathBuf::from(format!("/r/nodes/{}", node(100)));
        assert_eq!(route(&state(false), &[own], &ws), Targets::All);
    }
}
