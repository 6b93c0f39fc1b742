//! The commands behind `switchboard`'s command line. Each returns the process exit code
//! ([`crate::exit`]): 0 ok, 1 runtime failure, 2 usage or invalid manifest.

pub mod attach;
pub mod demo;
pub mod init;
pub mod names;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::manifest::{Manifest, ManifestOutline};
use crate::console::server;
use crate::console::{self, Console};
use crate::control::client;
use crate::control::protocol::{Action, ErrorKind, RequestBody, ResponseBody};
use crate::engine::io::logs::{now_rfc3339, rfc3339};
use crate::engine::io::store::{self, unix_now};
use crate::engine::io::sys;
use crate::engine::EngineOptions;
use crate::error::ManifestError;
use crate::exit;
use crate::fleet::FleetEvents;
use crate::machine::redact::plain;
use crate::model::phase::Phase;
use crate::model::view::{ConnectorId, ConnectorView, Transition};

/// `println!` that takes a closed stdout (`switchboard status | head`) as the reader's normal
/// end: the line is dropped and nothing panics (Rust ignores SIGPIPE, so a plain `println!`
/// would panic on EPIPE).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    console::runtime().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        exit::FAILURE
    })
}

/// The manifest as commands addressed to a running console see it (`status`, `start`, `stop`,
/// `restart`, `build`, `reload`, `attach`): its outline when the file reads and parses (one
/// broken connector does not stop the command, see [`ManifestOutline`]), else only where its
/// console's state dir is and why the file is invalid. A manifest mid-edit never locks the
/// operator out of a running console.
pub struct Addressed {
    /// The manifest file (absolute).
    pub path: PathBuf,
    /// Its console's state dir (see [`crate::config::manifest::state_dir_of`] when it is invalid).
    pub state_dir: PathBuf,
    pub outline: Option<ManifestOutline>,
    /// Why the file cannot be read or is invalid.
    pub problem: Option<ManifestError>,
}

impl Addressed {
    /// Reads `path`; never fails.
    pub fn load(path: &Path) -> Addressed {
        match ManifestOutline::load(path) {
            Ok(o) => Addressed {
                path: o.path.clone(),
                state_dir: o.console.state_dir.clone(),
                outline: Some(o),
                problem: None,
            },
            Err(e) => Addressed {
                path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
                state_dir: crate::config::manifest::state_dir_of(path),
                outline: None,
                problem: Some(e),
            },
        }
    }

    /// Whether a console holds the state dir.
    fn console_runs(&self) -> bool {
        matches!(
            store::lock_state(&self.state_dir),
            store::LockState::Held(_)
        )
    }

    /// Says the manifest's problem beside a running console's answer: a warning, the exit
    /// code stays the answer's.
    fn warn(&self) {
        if let Some(e) = &self.problem {
            eprintln!("warning: {e}. The running console answered: it runs on the manifest it read before; fix this file, then `switchboard check` (a reload is refused until then)");
        }
    }
}

/// The manifest a command uses: the one given (`-m`, `--manifest`, `SWITCHBOARD_MANIFEST`), else
/// `./switchboard.toml` when it exists, else the per-user one
/// (`$XDG_CONFIG_HOME/switchboard/switchboard.toml`, `~/.config/…` without XDG) when that
/// exists. `init` writes `./switchboard.toml` unless told otherwise.
pub fn manifest_path(given: Option<PathBuf>, for_init: bool) -> PathBuf {
    let here = PathBuf::from("switchboard.toml");
    if let Some(p) = given {
        return p;
    }
    if for_init || here.exists() {
        return here;
    }
    user_manifest().filter(|p| p.is_file()).unwrap_or(here)
}

/// `$XDG_CONFIG_HOME/switchboard/switchboard.toml`, or `~/.config/switchboard/switchboard.toml`.
fn user_manifest() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("switchboard").join("switchboard.toml"))
}

/// Sends the console's own log (tracing) to stderr, coloured only on a terminal (a journal or a
/// file gets plain lines) and never with `NO_COLOR`.
pub fn init_stderr_logging() {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,iceoryx2=error")),
        )
        .try_init();
}

/// What a console opens on: a connector whose config cannot be used is only that connector's
/// problem (it reads `failed` with the reason); each such problem is said on stderr.
fn load_for_console(path: &Path) -> Result<Manifest, u8> {
    match Manifest::load_for_console(path) {
        Ok((manifest, config_problems)) => {
            for e in &config_problems {
                eprintln!("warning: {e}; that connector stays failed until its config is fixed, the others run");
            }
            Ok(manifest)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(exit::USAGE)
        }
    }
}

/// `switchboard check`: every problem of the manifest, of each connector config and of each
/// binary that cannot run (exit 2), else each connector's config and binary.
pub fn check(path: &Path) -> u8 {
    let (m, mut problems) = match Manifest::check(path) {
        Ok(both) => both,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    for c in &m.connectors {
        // A bot's program is looked up as exec does (a path, or a name on PATH).
        let (problem, key) = match c.is_bot() {
            true => (crate::engine::io::preflight::check(c), "command"),
            false => (crate::engine::binary_problem(c, true), "binary"),
        };
        if let Some(problem) = problem {
            problems.push(ManifestError::Invalid {
                file: m.path.clone(),
                line: None,
                scope: crate::error::Scope::Connector(c.name.clone()),
                key: key.into(),
                problem,
            });
        }
    }
    if !problems.is_empty() {
        for e in &problems {
            eprintln!("error: {e}");
        }
        if problems.len() > 1 {
            eprintln!(
                "{} problems; fix them, then run `switchboard check` again",
                problems.len()
            );
        }
        return exit::USAGE;
    }
    let hosts = match m.hosts.len() {
        0 => String::new(),
        n => format!(", {n} host(s)"),
    };
    outln!(
        "{}: ok, {} connector(s){hosts}",
        m.path.display(),
        m.connectors.len()
    );
    for c in &m.connectors {
        outln!(
            "  {:<16} {:<15} config {}  binary {}{}",
            c.name,
            c.kind.as_str(),
            c.config.display(),
            c.binary.display(),
            if sys::is_executable(&c.binary) {
                ""
            } else {
                " (missing: will be built)"
            }
        );
    }
    exit::OK
}

/// `switchboard init [CHECKOUT] [--force]`: writes a starter manifest at `path` from the
/// checkout's `connector/examples/*.toml` (the checkout: named, else the nearest one above the
/// current directory, else `$HFTBACKTEST_ROOT`). An existing manifest is kept unless `force`.
pub fn init(path: &Path, checkout: Option<&Path>, force: bool) -> u8 {
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let checkout = match checkout {
        Some(c) => cwd.join(c),
        None => match crate::config::manifest::find_project_root(None, &cwd) {
            Ok(c) => c,
            Err(why) => {
                eprintln!("error: no hftbacktest checkout found ({why}); run `switchboard init` inside one, or name it: `switchboard init ~/src/hftbacktest`");
                return exit::USAGE;
            }
        },
    };
    let checkout = checkout.canonicalize().unwrap_or(checkout);
    let path = cwd.join(path);
    if path.exists() && !force {
        eprintln!(
            "error: {} exists; it was left as it is. Pass --force to replace it, or --manifest OTHER.toml to write another",
            path.display()
        );
        return exit::USAGE;
    }
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| cwd.clone());
    let dir = dir.canonicalize().unwrap_or(dir);
    let crate::cli::init::Starter {
        text,
        entries,
        skipped,
    } = match crate::cli::init::starter(&checkout, &dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    // The configs first: a manifest never points at copies that are not there.
    let copied = match crate::cli::init::copy_configs(&entries, &dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("error: cannot write {}: {e}", path.display());
        return exit::FAILURE;
    }
    let names: Vec<String> = entries
        .iter()
        .map(|e| format!("{} ({})", e.name, e.kind.as_str()))
        .collect();
    outln!(
        "wrote {} with {} connector(s): {}",
        path.display(),
        entries.len(),
        names.join(", ")
    );
    for c in &copied {
        match c {
            crate::cli::init::Copied::New(p) => {
                outln!("copied {} (private: mode 0600)", p.display())
            }
            crate::cli::init::Copied::Kept(p) => {
                outln!("kept {} (it was there; it may hold your keys)", p.display())
            }
        }
    }
    for s in &skipped {
        outln!("skipped connector/examples/{s}: its name says no exchange (binancefutures, binancespot, bybit)");
    }
    outln!("next: put your keys in the copies, rename each connector to the name your bot uses, then `switchboard check` and `switchboard`");
    exit::OK
}

/// `switchboard run --headless [--json]`.
pub fn run_headless(path: &Path, json: bool) -> u8 {
    let manifest = match load_for_console(path) {
        Ok(m) => m,
        Err(c) => return c,
    };
    crate::tui::console_log::init_headless();
    crate::tui::console_log::mask_for(&manifest);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    rt.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let options = EngineOptions {
            autostart: true,
            start_all: true,
            ..EngineOptions::default()
        }
        .with_own_relay();
        let for_log = manifest.clone();
        let console = match Console::start(manifest, options).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FAILURE;
            }
        };
        // The console owns the state dir now: its log goes to logs/console.log too.
        crate::tui::console_log::write_to_file_for(&for_log);
        drop(for_log);
        let engine = console.fleet.clone();
        if let Some(addr) = console.metrics_addr() {
            eprintln!("switchboard: Prometheus metrics at http://{addr}/metrics");
        }
        // SIGHUP (a closed terminal, a dropped SSH link) is received and ignored: headless keeps
        // supervising; only SIGINT and SIGTERM stop everything. SIGUSR1 reloads the manifest;
        // SIGUSR2 detaches (the console leaves, the connectors keep running).
        let (mut term, mut int, mut hup, mut usr1, mut usr2) = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
            signal(SignalKind::user_defined1()),
            signal(SignalKind::user_defined2()),
        ) {
            (Ok(t), Ok(i), Ok(h), Ok(u), Ok(d)) => (t, i, h, u, d),
            _ => {
                eprintln!("error: cannot install signal handlers");
                engine.shutdown();
                console.finished().await;
                return exit::FAILURE;
            }
        };
        // Where each connector stands before anything is started: adopted, gone, at rest.
        let (views, mut events) = engine.subscribe_with_views();
        // The name column is as wide as the longest name, so the columns after it line up.
        let widest = views.iter().map(|v| v.id().to_string().chars().count()).max();
        NAME_WIDTH.fetch_max(widest.unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
        // What was last said of each connector: the same transition again (an adopted
        // connector's, listed above and then sent as an event) is not said twice.
        let mut said: std::collections::HashMap<String, Transition> =
            std::collections::HashMap::new();
        for v in views.iter() {
            let t = Transition::current(v, now_rfc3339());
            print_transition(&t, json);
            said.insert(t.name.clone(), t);
        }
        if let Err(e) = engine.start_selected() {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
        let mut stopping = false;
        let mut hosts = engine.hosts();
        let mut told_hosts: Vec<crate::model::view::HostView> = Vec::new();
        let reloader = console.reloader.clone();
        let mut reloading: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(ev) => {
                        if let Some(t) = Transition::of(&ev) {
                            let again = said.get(&t.name).is_some_and(|b| {
                                (b.phase, b.pid, &b.detail) == (t.phase, t.pid, &t.detail)
                            });
                            if again {
                                continue;
                            }
                            said.insert(t.name.clone(), t);
                        }
                        print_event(&ev, json)
                    }
                    None => break,
                },
                _ = term.recv(), if !stopping => { stopping = true; crate::observers::service::stopping(); engine.shutdown(); }
                _ = int.recv(), if !stopping => { stopping = true; crate::observers::service::stopping(); engine.shutdown(); }
                _ = hup.recv() => {
                    tracing::warn!("SIGHUP ignored: headless keeps supervising (SIGTERM or SIGINT stops all)");
                }
                changed = hosts.changed() => {
                    if changed.is_ok() {
                        // Each link's new state, once (stderr: stdout stays transitions only).
                        let now = unix_now();
                        let current = hosts.borrow_and_update().as_ref().clone();
                        for h in &current {
                            let before = told_hosts.iter().find(|t| t.name == h.name);
                            if before.is_none_or(|b| b.link != h.link) {
                                eprintln!("switchboard: host {}", plain(&h.describe(now)));
                            }
                        }
                        told_hosts = current;
                    }
                }
                _ = usr2.recv(), if !stopping => {
                    stopping = true;
                    crate::observers::service::stopping();
                    eprintln!("switchboard: SIGUSR2: detaching; the connectors keep running (a console opened later adopts them)");
                    engine.detach();
                }
                _ = usr1.recv(), if !stopping => {
                    // Off the loop: a removed connector's stop must not hold the event output.
                    if reloading.as_ref().is_none_or(|r| r.is_finished()) {
                        let r = reloader.clone();
                        reloading = Some(tokio::spawn(async move {
                            match r.reload().await {
                                Ok(report) => eprintln!("switchboard: {}", plain(&report.sentence())),
                                Err(e) => eprintln!("switchboard: reload refused: {}", plain(&e.to_string())),
                            }
                        }));
                    } else {
                        eprintln!("switchboard: a reload is under way; SIGUSR1 ignored");
                    }
                }
                _ = engine.await_shutdown() => {
                    drain(&mut events, json);
                    break;
                }
            }
        }
        console.finished().await;
        exit::OK
    })
}

fn drain(events: &mut FleetEvents, json: bool) {
    while let Some(ev) = events.try_recv() {
        print_event(&ev, json);
    }
}

fn print_event(ev: &crate::model::view::EngineEvent, json: bool) {
    if let Some(t) = Transition::of(ev) {
        print_transition(&t, json);
    } else if let Some(h) = crate::model::view::HealthLine::of(ev) {
        print_health(&h, json);
    }
}

fn print_health(h: &crate::model::view::HealthLine, json: bool) {
    print_line(
        h,
        json,
        [&h.ts, &h.name, h.health.as_str()],
        h.pid,
        &h.detail,
    );
}

fn print_transition(t: &Transition, json: bool) {
    print_line(
        t,
        json,
        [&t.ts, &t.name, t.phase.as_str()],
        t.pid,
        &t.detail,
    );
}

/// The width of the headless name column: 16, or the longest name the console started with.
static NAME_WIDTH: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(16);

/// One headless line: `record` as JSON, or `ts name what pid detail` in columns.
fn print_line(
    record: &impl serde::Serialize,
    json: bool,
    [ts, name, what]: [&str; 3],
    pid: Option<i32>,
    detail: &str,
) {
    let mut out = std::io::stdout().lock();
    let line = if json {
        serde_json::to_string(record).unwrap_or_default()
    } else {
        let width = NAME_WIDTH.load(std::sync::atomic::Ordering::Relaxed);
        format!(
            "{ts} {name:<width$} {what:<9} {:>8} {}",
            pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            plain(detail)
        )
    };
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Where `status` got its rows.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusSource {
    /// The running console (its PID) answered, with its host links.
    Live(i32, Vec<crate::model::view::HostView>),
    /// No console answered; `state.json` (and /proc) were read. The text says why.
    StateFile(String),
}

/// The rows of `status`: asked of the running console, else built from `state.json` checked
/// against the live processes.
pub async fn status_rows(
    manifest: &Addressed,
) -> Result<(Vec<ConnectorView>, StatusSource), String> {
    let dir = &manifest.state_dir;
    let holder = store::lock_state(dir);
    // Held or unknown (another user's state dir): the console itself is the one to ask.
    let answer = match holder {
        store::LockState::Free => None,
        store::LockState::Held(_) | store::LockState::Unknown(_) => {
            match client::request(dir, RequestBody::Status).await {
                Ok(ResponseBody::Status {
                    console_pid,
                    connectors,
                    hosts,
                }) => return Ok((connectors, StatusSource::Live(console_pid, hosts))),
                other => Some(other),
            }
        }
    };
    let (why, note) = match (&holder, answer) {
        (store::LockState::Unknown(why), _) => {
            return Err(format!(
                "cannot tell whether a console runs on {} ({why}); run `switchboard status` as the user the console runs as",
                dir.display()
            ))
        }
        (store::LockState::Held(pid), Some(answer)) => {
            let pid = pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into());
            let why = match answer {
                Ok(other) => format!("the console (PID {pid}) answered {other:?}"),
                Err(e) => format!(
                    "the console (PID {pid}) did not answer on {}: {e}",
                    crate::control::socket_path(dir).display()
                ),
            };
            (why, "its console did not answer")
        }
        (store::LockState::Free | store::LockState::Held(_), _) => (
            format!("no console runs on {}", dir.display()),
            "no console running",
        ),
    };
    Ok((stored_rows(manifest, note)?, StatusSource::StateFile(why)))
}

/// Rows from `state.json`, in manifest order (in the file's own order when the manifest is
/// invalid), checked against /proc; a live process's detail ends with `(note)`. A connector
/// whose type is invalid has no row (its error is printed).
fn stored_rows(manifest: &Addressed, note: &str) -> Result<Vec<ConnectorView>, String> {
    let state = store::read_state(&manifest.state_dir)?;
    let now = unix_now();
    let row_of = |rec: &store::StoredConnector| {
        let alive = match (rec.view.pid, rec.adoption.start_ticks) {
            (Some(pid), Some(t)) => {
                sys::is_same_process(pid, t)
                    && crate::engine::adopt::runs_as(pid, &rec.view.name, rec.view.kind.as_str())
            }
            _ => false,
        };
        let mut row = ConnectorView {
            uptime_s: rec
                .adoption
                .started_unix
                .filter(|_| alive)
                .map(|s| (now - s).max(0.0)),
            countdown_s: None,
            as_of: now,
            ..rec.view.clone()
        };
        if rec.view.pid.is_some() && !alive {
            row.phase = Phase::Exited;
            row.pid = None;
            row.bots = 0;
            let pid = rec.view.pid.map(|p| p.to_string()).unwrap_or_default();
            let seen = format!(
                "last seen {} at {}",
                rec.view.phase,
                rfc3339(state.as_ref().map(|s| s.updated_unix).unwrap_or(0.0))
            );
            row.detail = match rec.view.pid.and_then(stranger_name) {
                // The number was reused: "gone" would read as "nothing runs as PID N".
                Some(name) => format!(
                    "PID {pid} now belongs to another process ({name}): the connector ended ({seen}); exit status unknown"
                ),
                None => format!("process {pid} is gone ({seen}); exit status unknown"),
            };
        } else if alive {
            row.detail = format!("{} ({note})", row.detail);
        }
        row
    };
    let Some(outline) = &manifest.outline else {
        return Ok(state
            .as_ref()
            .map(|s| s.connectors.iter().map(row_of).collect())
            .unwrap_or_default());
    };
    let rows = outline
        .connectors
        .iter()
        .filter_map(|c| {
            let kind = c.spec.as_ref().map(|s| s.kind).ok().or(c.kind)?;
            let Some(rec) = state.as_ref().and_then(|s| s.connector(&c.name)) else {
                return Some(ConnectorView {
                    detail: "never started by switchboard".into(),
                    max_attempts: c
                        .spec
                        .as_ref()
                        .map(|s| s.restart.max_attempts)
                        .unwrap_or(crate::config::manifest::restart_defaults::MAX_ATTEMPTS),
                    ..ConnectorView::new(c.name.clone(), kind, now)
                });
            };
            Some(row_of(rec))
        })
        .collect();
    Ok(rows)
}

/// The name (`comm`) of the live process that holds `pid` now, when it is not the process that
/// was recorded (the caller checked the start time).
fn stranger_name(pid: i32) -> Option<String> {
    if sys::is_zombie(pid) {
        return None;
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(match plain(comm.trim()) {
        n if n.is_empty() => "unnamed".to_string(),
        n => n,
    })
}

/// Prints each broken connector's manifest error (a warning when the running console
/// answered: it runs on what it read before) and adds it to its row, unless the row says it
/// already. Returns whether any connector is broken.
fn mark_broken(manifest: &ManifestOutline, rows: &mut [ConnectorView], live: bool) -> bool {
    let mut broken = false;
    for c in &manifest.connectors {
        let Err(e) = &c.spec else { continue };
        broken = true;
        eprintln!("{}: {e}", if live { "warning" } else { "error" });
        if let Some(r) = rows
            .iter_mut()
            .find(|r| r.name == c.name && r.host.is_none())
        {
            let said = match e {
                crate::error::ManifestError::ConnectorConfig { config, .. } => {
                    r.detail.contains(&format!("config {}", config.display()))
                }
                _ => false,
            };
            if !said {
                r.detail = format!("{} · manifest error: {e}", r.detail);
            }
        }
    }
    broken
}

/// `switchboard status [--json]`. With a running console its answer is shown and is the
/// outcome, whatever the manifest on disk says (its problems are warnings); with none,
/// `state.json` is shown and an invalid manifest exits 2.
pub fn status(path: &Path, json: bool) -> u8 {
    let manifest = Addressed::load(path);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    let (rows, source) = match rt.block_on(status_rows(&manifest)) {
        Ok(r) => r,
        Err(e) => {
            if let Some(p) = &manifest.problem {
                eprintln!("error: {p}");
            }
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    let live = matches!(source, StatusSource::Live(..));
    if let StatusSource::Live(_, hosts) = &source {
        // A link that is not up (one whose command never speaks stays `connecting`): how long,
        // and what it runs. On stderr: stdout stays the table (or the JSON).
        let now = unix_now();
        for h in hosts
            .iter()
            .filter(|h| h.link != crate::model::view::LinkState::Connected)
        {
            eprintln!("switchboard: host {}", plain(&h.describe(now)));
        }
    }
    if let StatusSource::StateFile(why) = &source {
        eprintln!(
            "switchboard: {why}; showing {} checked against the live processes",
            store::state_path(&manifest.state_dir).display()
        );
    }
    let mut rows = rows;
    // Everything is shown. With no console running, the exit code still says the manifest is
    // invalid; a running console's answer is the outcome (the problems are warnings).
    let broken = match &manifest.outline {
        Some(outline) => mark_broken(outline, &mut rows, live) && !live,
        None => !live,
    };
    let rows: Vec<ConnectorView> = rows.into_iter().map(status_row).collect();
    // An invalid manifest with nothing recorded: only its error.
    let nothing = manifest.outline.is_none() && rows.is_empty() && !live;
    if json && !nothing {
        match serde_json::to_string(&rows) {
            Ok(s) => outln!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FAILURE;
            }
        }
    } else if !nothing {
        print_table(&rows, unix_now());
    }
    match (&manifest.problem, live) {
        (Some(_), true) => manifest.warn(),
        (Some(e), false) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
        (None, _) => {}
    }
    if broken {
        eprintln!(
            "error: {}: fix the connector(s) above, then `switchboard check`",
            manifest.path.display()
        );
        return exit::USAGE;
    }
    exit::OK
}

/// A `status` row as shown: times to a tenth of a second, and no CPU or memory figure for a
/// connector without a process (`state.json` keeps the last ones a stopped connector had).
fn status_row(mut v: ConnectorView) -> ConnectorView {
    v.uptime_s = v.uptime_s.map(|u| (u * 10.0).round() / 10.0);
    v.countdown_s = v.countdown_s.map(|c| (c * 10.0).round() / 10.0);
    if v.pid.is_none() {
        v.cpu_pct = None;
        v.rss_bytes = None;
    }
    v
}

/// The `status` table: every column as wide as its widest cell, numbers right-aligned, DETAIL
/// last. The cells are the one row formatter's (the TUI's table view shows the same).
fn print_table(rows: &[ConnectorView], now: f64) {
    use crate::model::row::{Column, STATUS_COLUMNS};
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let row = r.row(now);
            STATUS_COLUMNS
                .iter()
                .map(|c| match c {
                    // Text from the connector's own lines: printable only.
                    Column::Detail => plain(&row.cell(*c)),
                    c => row.cell(*c),
                })
                .collect()
        })
        .collect();
    let head: Vec<String> = STATUS_COLUMNS.iter().map(|c| c.header().into()).collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: &[String]| {
        let mut out = String::new();
        for (i, c) in row.iter().enumerate() {
            if i + 1 == row.len() {
                out.push_str(c);
            } else {
                // Padded by characters (`≥` is one), not bytes.
                let fill = " ".repeat(widths[i].saturating_sub(c.chars().count()));
                if STATUS_COLUMNS[i].is_number() {
                    out.push_str(&format!("{fill}{c}  "));
                } else {
                    out.push_str(&format!("{c}{fill}  "));
                }
            }
        }
        out.trim_end().to_string()
    };
    outln!("{}", line(&head));
    for row in &cells {
        outln!("{}", line(row));
    }
}

/// `switchboard` (the TUI) on a manifest file.
pub fn tui(path: &Path) -> u8 {
    let manifest = match load_for_console(path) {
        Ok(m) => m,
        Err(c) => return c,
    };
    tui_on(manifest, |_| {})
}

/// The TUI on `manifest`; `after(detached)` runs once the terminal is restored.
fn tui_on(manifest: Manifest, after: impl FnOnce(bool)) -> u8 {
    crate::tui::console_log::init();
    crate::tui::console_log::mask_for(&manifest);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    let result = rt.block_on(async move {
        loop {
            // A console already runs here: watch it, read-only, instead of refusing.
            let held = match crate::engine::io::store::lock_state(&manifest.console.state_dir) {
                crate::engine::io::store::LockState::Held(pid) => Some(pid),
                _ => None,
            };
            let owns = held.is_none();
            let console = match held {
                Some(pid) => Console::viewer(manifest.clone(), pid).await,
                None => {
                    Console::start(manifest.clone(), EngineOptions::default().with_own_relay())
                        .await
                }
            }
            .map_err(|e| e.to_string())?;
            // The owning console writes logs/console.log (a viewer leaves it to the owner).
            if owns {
                crate::tui::console_log::write_to_file_for(&manifest);
            }
            let detached = crate::tui::run(&console).await;
            console.finished().await;
            // A viewer whose console is gone took over: a console starts here (adopting the
            // connectors), or a viewer again if another console got there first.
            if !crate::tui::take_over_requested() {
                return detached;
            }
        }
    });
    match result {
        Ok(detached) => {
            if detached {
                outln!(
                    "switchboard: detached; connectors keep running (see `switchboard status`)."
                );
            }
            after(detached);
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILURE
        }
    }
}

/// `switchboard demo`: the TUI (or `--headless`) on the embedded manifest of simulated
/// connectors, in a fresh temporary directory.
pub fn demo(headless: bool) -> u8 {
    let sim = match crate::cli::demo::sim_binary() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    let dir = match tempfile::Builder::new()
        .prefix("switchboard-demo-")
        .tempdir()
    {
        Ok(d) => d.keep(),
        Err(e) => {
            eprintln!("error: cannot create a temporary directory: {e}");
            return exit::FAILURE;
        }
    };
    let manifest = match crate::cli::demo::prepare(&dir, &sim) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: demo manifest: {e}");
            return exit::USAGE;
        }
    };
    let path = manifest.path.clone();
    let code = if headless {
        run_headless(&path, false)
    } else {
        tui_on(manifest, |detached| {
            if detached {
                outln!(
                    "switchboard: the demo lives in {}; reopen it with `switchboard --manifest {}`",
                    dir.display(),
                    path.display()
                );
            }
        })
    };
    // Keep the directory while connectors may still run from it (detached).
    let running = store::read_state(&dir.join(".switchboard"))
        .ok()
        .flatten()
        .map(|s| s.connectors.iter().any(|c| c.view.pid.is_some()))
        .unwrap_or(false);
    if !running {
        let _ = std::fs::remove_dir_all(&dir);
        crate::cli::demo::remove_shm();
    }
    code
}

/// `switchboard reload`: asks the running console to re-read its manifest (the console checks
/// the whole file and refuses an invalid one, saying that nothing was changed; here only where
/// its state dir is matters).
pub fn reload(path: &Path) -> u8 {
    let manifest = Addressed::load(path);
    let state_dir = manifest.state_dir.clone();
    if !manifest.console_runs() {
        match &manifest.problem {
            Some(e) => eprintln!("error: {e}; nothing was changed (and no console is running on it)"),
            None => eprintln!(
                "error: no console is running on {}: nothing to reload (a console reads the manifest when it starts)",
                manifest.path.display()
            ),
        }
        return if manifest.problem.is_some() {
            exit::USAGE
        } else {
            exit::FAILURE
        };
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    let reply = rt.block_on(client::request(&state_dir, RequestBody::Reload));
    match reply {
        Ok(ResponseBody::Reloaded(report)) => {
            outln!("{}", plain(&report.sentence()));
            exit::OK
        }
        Ok(other) => {
            let code = other.exit_code();
            match other {
                ResponseBody::Error { message, .. } => eprintln!("error: {}", plain(&message)),
                _ => eprintln!("error: unexpected reply to a reload"),
            }
            code.max(exit::FAILURE)
        }
        Err(e) => {
            eprintln!(
                "error: the console's control socket {} did not answer: {e}",
                crate::control::socket_path(&state_dir).display()
            );
            exit::FAILURE
        }
    }
}

/// `switchboard start|stop|restart|build NAME… | --all`: each named connector in turn (see
/// [`act`]); `--all` means every connector of the running console on this host (or of the
/// manifest when none runs). The exit code is the worst of them. With a running console an
/// invalid manifest on disk is a warning (the console acts on what it read before); with none,
/// it is the outcome (exit 2).
pub fn act_many(path: &Path, action: Action, names: &[String], all: bool) -> u8 {
    let manifest = Addressed::load(path);
    let runs = manifest.console_runs();
    if let (Some(e), false) = (&manifest.problem, runs) {
        eprintln!("error: {e}");
        return exit::USAGE;
    }
    let names: Vec<String> = if all {
        // The running console's own connectors (or, with none running, the manifest's).
        known_ids(&manifest, runs)
            .into_iter()
            .filter(|id| id.host.is_none())
            .map(|id| id.name)
            .collect()
    } else if names.len() > 1 || names.iter().any(|n| crate::cli::names::is_pattern(n)) {
        // Several names or a pattern: all are resolved first, so a typo acts on none.
        let known = known_ids(&manifest, runs);
        match crate::cli::names::expand(names, &known) {
            Ok(ids) => ids.iter().map(ToString::to_string).collect(),
            Err(misses) => {
                say_misses(&manifest, &misses, &known, runs);
                return exit::USAGE;
            }
        }
    } else {
        names.to_vec()
    };
    if names.is_empty() {
        eprintln!(
            "error: name a connector (or several, or a pattern such as 'bs-*'), or use --all"
        );
        return exit::USAGE;
    }
    let code = names
        .iter()
        .map(|n| act_on(&manifest, action, n))
        .max()
        .unwrap_or(exit::OK);
    if runs {
        manifest.warn();
    }
    code
}

/// The connectors names are matched against: the running console's (its own and its hosts',
/// as `NAME@HOST`) when one runs and answers, else the manifest's.
fn known_ids(manifest: &Addressed, runs: bool) -> Vec<ConnectorId> {
    let live = match runs {
        true => runtime()
            .ok()
            .and_then(|rt| rt.block_on(status_rows(manifest)).ok())
            .filter(|(_, source)| matches!(source, StatusSource::Live(..)))
            .map(|(rows, _)| rows.iter().map(ConnectorView::id).collect::<Vec<_>>()),
        false => None,
    };
    match (live, &manifest.outline) {
        (Some(ids), _) => ids,
        (None, Some(m)) => m
            .connectors
            .iter()
            .map(|c| ConnectorId::local(c.name.clone()))
            .collect(),
        (None, None) => Vec::new(),
    }
}

/// Says every argument that named nothing, and what there is: nothing was done.
fn say_misses(
    manifest: &Addressed,
    misses: &[crate::cli::names::Miss],
    known: &[ConnectorId],
    runs: bool,
) {
    for m in misses {
        // In the file but not in the console: the console runs an older manifest.
        let stale = runs
            && manifest
                .outline
                .as_ref()
                .is_some_and(|o| o.connector(m.arg()).is_some());
        if stale {
            eprintln!("error: {m}: it is in {} but not in the running console, which has an older manifest: reload it (`switchboard reload`, or R in the TUI)", manifest.path.display());
        } else {
            eprintln!("error: {m}");
        }
    }
    let names: Vec<String> = known.iter().map(ToString::to_string).collect();
    let whose = match runs {
        true => "the running console has",
        false => "the manifest has",
    };
    eprintln!(
        "error: nothing was done; {whose}: {} (patterns: * ? [abc] {{a,b}}; quote them from the shell)",
        if names.is_empty() { "none".into() } else { names.join(", ") }
    );
}

/// `switchboard start|stop|restart|build NAME` (see [`act_many`]).
pub fn act(path: &Path, action: Action, name: &str) -> u8 {
    act_many(path, action, &[name.to_string()], false)
}

/// How long a command waits for another that acts directly on the same state dir (a
/// short-lived console holds its lock meanwhile).
const ANOTHER_ACTION_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// One action on one connector: through the running console's control socket when one runs,
/// else directly (a short-lived console that adopts what runs, acts, and detaches).
fn act_on(manifest: &Addressed, action: Action, name: &str) -> u8 {
    let id: ConnectorId = match name.parse() {
        Ok(id) => id,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    init_stderr_logging();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    let state_dir = manifest.state_dir.clone();
    let reply = rt.block_on(async move {
        let request = RequestBody::Act {
            action,
            target: id.clone(),
        };
        // Another command acting directly holds the lock for a moment: wait for it.
        let deadline = tokio::time::Instant::now() + ANOTHER_ACTION_WAIT;
        let again = || async {
            let left = tokio::time::Instant::now() < deadline;
            if left {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            left
        };
        loop {
        let held = store::lock_state(&state_dir);
        if let store::LockState::Held(holder) = held {
            let pid = holder.map(|p| p.to_string()).unwrap_or_else(|| "?".into());
            let in_file = manifest
                .outline
                .as_ref()
                .is_some_and(|m| m.connector(&id.name).is_some());
            return match client::request(&state_dir, request.clone()).await {
                // In the file, not in the console: the console runs an older manifest.
                Ok(ResponseBody::Error {
                    kind: ErrorKind::UnknownConnector,
                    ..
                }) if id.host.is_none() && in_file => {
                    ResponseBody::error(
                        ErrorKind::UnknownConnector,
                        format!(
                            "'{id}' is in {} but not in the running console (PID {pid}): the running console has an older manifest: reload it (`switchboard reload`, or R in the TUI)",
                            manifest.path.display()
                        ),
                    )
                }
                Ok(reply) => reply,
                // A console that ended as it was asked (a command's short-lived one): ask
                // whoever holds the state dir now, or act directly.
                Err(_) if store::lock_state(&state_dir) != held && again().await => continue,
                Err(e) => ResponseBody::error(
                    ErrorKind::ShuttingDown,
                    format!(
                        "the console (PID {pid}) holds {} but its control socket {} did not answer: {e}",
                        state_dir.display(),
                        crate::control::socket_path(&state_dir).display()
                    ),
                ),
            };
        }
        // No console: the manifest must be valid to act directly.
        let Some(outline) = &manifest.outline else {
            let problem = manifest
                .problem
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            return ResponseBody::error(ErrorKind::InvalidManifest, problem);
        };
        match (outline.connector(&id.name), &id.host) {
            (Some(c), None) => {
                if let Err(e) = &c.spec {
                    return ResponseBody::error(ErrorKind::BadRequest, e.to_string());
                }
            }
            _ => {
                let names: Vec<&str> =
                    outline.connectors.iter().map(|c| c.name.as_str()).collect();
                return ResponseBody::error(
                    ErrorKind::UnknownConnector,
                    format!(
                        "{}: no connector named '{id}'; the manifest has: {}",
                        outline.path.display(),
                        names.join(", ")
                    ),
                );
            }
        }
        // The others' configs do not matter for this one action.
        // A console that lives for one action raises no alerts and serves no metrics.
        let manifest = Manifest {
            path: outline.path.clone(),
            console: outline.console.clone(),
            alerts: Default::default(),
            metrics: Default::default(),
            hosts: Vec::new(),
            connectors: outline
                .connectors
                .iter()
                .filter_map(|c| c.spec.as_ref().ok().cloned())
                .collect(),
        };
        let options = EngineOptions {
            autostart: false,
            start_all: false,
            ..EngineOptions::default()
        }
        .with_own_relay();
        let console = match Console::start_for_one_action(manifest, options).await {
            Ok(c) => c,
            // Taken between the look and the start (another command acting directly).
            Err(crate::engine::EngineError::Lock(store::LockError::Held { .. }))
                if again().await =>
            {
                continue
            }
            Err(crate::engine::EngineError::Lock(store::LockError::Held { pid, dir })) => {
                let pid = if pid.is_empty() { "?".into() } else { pid };
                return ResponseBody::error(
                    ErrorKind::Busy,
                    format!(
                        "another switchboard command or console (PID {pid}) still holds {} after {ANOTHER_ACTION_WAIT:?}; try again when it ends",
                        dir.display()
                    ),
                );
            }
            Err(e) => return ResponseBody::error(ErrorKind::ShuttingDown, e.to_string()),
        };
        let reply = server::execute(&console.fleet, &id, action).await;
        // Leave whatever runs running; a console opened later adopts it.
        console.engine.detach();
        console.finished().await;
        return reply;
        }
    });
    let code = reply.exit_code();
    let message = match reply {
        ResponseBody::Acted(o) => o.message,
        ResponseBody::Error { message, .. } => message,
        ResponseBody::Status { .. } | ResponseBody::Reloaded(_) => "unexpected reply".into(),
    };
    // Line by line: a failed build's message carries cargo's whole error.
    let mut lines = message.lines().map(plain);
    let first = lines.next().unwrap_or_default();
    if code == exit::OK {
        outln!("{first}");
        for l in lines {
            outln!("{l}");
        }
    } else {
        eprintln!("error: {first}");
        for l in lines {
            eprintln!("{l}");
        }
    }
    code
}

#[cfg(test)]
mod status_row_tests {
    use super::*;

    #[test]
    fn a_connector_without_a_process_shows_no_cpu_or_memory() {
        let mut stopped = ConnectorView::new(
            "st-a",
            crate::config::connector::ConnectorType::BinanceFutures,
            0.0,
        );
        stopped.phase = crate::model::phase::Phase::Stopped;
        stopped.cpu_pct = Some(12.0);
        stopped.rss_bytes = Some(40 << 20);
        let shown = status_row(stopped.clone());
        assert_eq!((shown.cpu_pct, shown.rss_bytes), (None, None));
        // A running one keeps its figures.
        let mut running = stopped;
        running.phase = crate::model::phase::Phase::Ready;
        running.pid = Some(4242);
        let shown = status_row(running);
        assert_eq!(
            (shown.cpu_pct, shown.rss_bytes),
            (Some(12.0), Some(40 << 20))
        );
    }
}
