//! The commands behind `switchboard`'s command line. Each returns the process exit code:
//! 0 ok, 1 runtime failure, 2 usage or invalid manifest.

use std::io::Write;
use std::path::Path;

use crate::engine::store;
use crate::engine::{Engine, EngineOptions};
use crate::manifest::Manifest;
use crate::{Phase, StatusJson};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: something failed at run time.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: bad usage or invalid manifest.
pub const EXIT_USAGE: u8 = 2;

fn load(path: &Path) -> Result<Manifest, u8> {
    Manifest::load(path).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_USAGE
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            EXIT_FAILURE
        })
}

/// Sends the console's own log (tracing) to stderr.
pub fn init_stderr_logging() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
}

/// `switchboard check`.
pub fn check(path: &Path) -> u8 {
    match load(path) {
        Ok(m) => {
            println!(
                "{}: ok, {} connector(s)",
                m.path.display(),
                m.connectors.len()
            );
            for c in &m.connectors {
                println!(
                    "  {:<16} {:<15} config {}  binary {}{}",
                    c.name,
                    c.kind.as_str(),
                    c.config.display(),
                    c.binary.display(),
                    if crate::sys::is_executable(&c.binary) {
                        ""
                    } else if c.auto_build {
                        " (missing: will be built)"
                    } else {
                        " (missing, auto_build = false)"
                    }
                );
            }
            EXIT_OK
        }
        Err(code) => code,
    }
}

/// `switchboard run --headless [--json]`.
pub fn run_headless(path: &Path, json: bool) -> u8 {
    let manifest = match load(path) {
        Ok(m) => m,
        Err(c) => return c,
    };
    init_stderr_logging();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    rt.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let handle = match Engine::start(
            manifest,
            EngineOptions {
                autostart: true,
                start_all: true,
            },
        ) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_FAILURE;
            }
        };
        let (mut term, mut int) = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(t), Ok(i)) => (t, i),
            _ => {
                eprintln!("error: cannot install signal handlers");
                handle.shutdown();
                handle.await_shutdown().await;
                return EXIT_FAILURE;
            }
        };
        let mut transitions = handle.subscribe();
        // Where each connector stands before anything is started: adopted, gone, at rest.
        for c in handle.health().connectors {
            print_transition(
                &crate::Transition {
                    ts: crate::engine::logs::humantime_now(),
                    name: c.name.clone(),
                    phase: c.phase,
                    pid: c.pid,
                    detail: c.detail.clone(),
                },
                json,
            );
        }
        if let Err(e) = handle.start_selected() {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
        let mut stopping = false;
        loop {
            tokio::select! {
                t = transitions.recv() => match t {
                    Ok(t) => print_transition(&t, json),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        eprintln!("warning: {n} transitions were not printed (output too slow)");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
                _ = term.recv(), if !stopping => { stopping = true; handle.shutdown(); }
                _ = int.recv(), if !stopping => { stopping = true; handle.shutdown(); }
                _ = handle.await_shutdown() => {
                    // Print what is still queued, then leave.
                    while let Ok(t) = transitions.try_recv() { print_transition(&t, json); }
                    break;
                }
            }
        }
        EXIT_OK
    })
}

fn print_transition(t: &crate::Transition, json: bool) {
    let mut out = std::io::stdout().lock();
    let line = if json {
        serde_json::to_string(t).unwrap_or_default()
    } else {
        format!(
            "{} {:<16} {:<9} {:>8} {}",
            t.ts,
            t.name,
            t.phase.as_str(),
            t.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            t.detail
        )
    };
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Builds the status rows from `state.json`, checked against the live processes.
pub fn status_rows(manifest: &Manifest) -> Result<Vec<StatusJson>, String> {
    let dir = &manifest.console.state_dir;
    let state = store::read_state(dir)?;
    let console = store::lock_holder(dir);
    let now = store::unix_now();
    let rows = manifest
        .connectors
        .iter()
        .map(|c| {
            let rec = state
                .as_ref()
                .and_then(|s| s.connectors.iter().find(|r| r.name == c.name));
            let Some(rec) = rec else {
                return StatusJson {
                    name: c.name.clone(),
                    kind: c.kind.as_str().into(),
                    phase: Phase::Idle,
                    pid: None,
                    uptime_s: None,
                    restarts: 0,
                    bots: 0,
                    last_exit: None,
                    detail: "never started by switchboard".into(),
                };
            };
            let alive = match (rec.pid, rec.start_ticks) {
                (Some(pid), Some(t)) => crate::sys::is_same_process(pid, t),
                _ => false,
            };
            let mut row = StatusJson {
                name: c.name.clone(),
                kind: c.kind.as_str().into(),
                phase: rec.phase,
                pid: rec.pid,
                uptime_s: rec
                    .started_unix
                    .filter(|_| alive)
                    .map(|s| ((now - s).max(0.0) * 10.0).round() / 10.0),
                restarts: rec.restarts,
                bots: rec.bots,
                last_exit: rec.last_exit.map(|e| e.to_string()),
                detail: rec.detail.clone(),
            };
            if rec.pid.is_some() && !alive {
                row.phase = Phase::Exited;
                row.pid = None;
                row.bots = 0;
                row.detail = format!(
                    "process {} is gone (last seen {} at {}); exit status unknown",
                    rec.pid.map(|p| p.to_string()).unwrap_or_default(),
                    rec.phase,
                    crate::engine::logs::format_unix(std::time::Duration::from_secs_f64(
                        state.as_ref().map(|s| s.updated_unix).unwrap_or(0.0)
                    ))
                );
            } else if console.is_none() && alive {
                row.detail = format!("{} (no console running)", row.detail);
            }
            row
        })
        .collect();
    Ok(rows)
}

/// `switchboard status [--json]`.
pub fn status(path: &Path, json: bool) -> u8 {
    let manifest = match load(path) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let rows = match status_rows(&manifest) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    if json {
        match serde_json::to_string(&rows) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_FAILURE;
            }
        }
    } else {
        println!(
            "{:<16} {:<15} {:<9} {:>8} {:>9} {:>8} {:>4}  DETAIL",
            "NAME", "TYPE", "PHASE", "PID", "UPTIME", "RESTARTS", "BOTS"
        );
        for r in rows {
            println!(
                "{:<16} {:<15} {:<9} {:>8} {:>9} {:>8} {:>4}  {}",
                r.name,
                r.kind,
                r.phase.as_str(),
                r.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                r.uptime_s
                    .map(|u| format!("{u:.0}s"))
                    .unwrap_or_else(|| "-".into()),
                r.restarts,
                r.bots,
                r.detail
            );
        }
    }
    EXIT_OK
}

/// `switchboard` (the TUI) on a manifest file.
pub fn tui(path: &Path) -> u8 {
    let manifest = match load(path) {
        Ok(m) => m,
        Err(c) => return c,
    };
    crate::ui::run(manifest)
}

/// `switchboard demo`: the TUI (or `--headless`) on the embedded manifest of simulated
/// connectors, in a fresh temporary directory.
pub fn demo(headless: bool) -> u8 {
    let sim = match crate::demo::sim_binary() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    let dir = match tempfile::Builder::new()
        .prefix("switchboard-demo-")
        .tempdir()
    {
        Ok(d) => d.keep(),
        Err(e) => {
            eprintln!("error: cannot create a temporary directory: {e}");
            return EXIT_FAILURE;
        }
    };
    let manifest = match crate::demo::prepare(&dir, &sim) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: demo manifest: {e}");
            return EXIT_USAGE;
        }
    };
    let path = manifest.path.clone();
    let code = if headless {
        run_headless(&path, false)
    } else {
        crate::ui::run_with(manifest, |detached| {
            if detached {
                println!(
                    "switchboard: the demo lives in {}; reopen it with `switchboard --manifest {}`",
                    dir.display(),
                    path.display()
                );
            }
        })
    };
    // Keep the directory while connectors may still run from it (detached).
    let running = crate::engine::store::read_state(&dir.join(".switchboard"))
        .ok()
        .flatten()
        .map(|s| s.connectors.iter().any(|c| c.pid.is_some()))
        .unwrap_or(false);
    if !running {
        let _ = std::fs::remove_dir_all(&dir);
        crate::demo::remove_shm();
    }
    code
}

/// `switchboard start|stop|restart|build NAME`: through the running console's control socket
/// when one runs, else directly (a short-lived engine that adopts what runs, acts, and detaches).
pub fn act(path: &Path, action: &str, name: &str) -> u8 {
    use crate::engine::control;
    let manifest = match load(path) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let Some(cmd) = control::parse_action(action) else {
        eprintln!("error: unknown action '{action}'");
        return EXIT_USAGE;
    };
    if manifest.connector(name).is_none() {
        let names: Vec<&str> = manifest
            .connectors
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        eprintln!(
            "error: {}: no connector named '{name}'; the manifest has: {}",
            manifest.path.display(),
            names.join(", ")
        );
        return EXIT_USAGE;
    }
    init_stderr_logging();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    let state_dir = manifest.console.state_dir.clone();
    let reply = rt.block_on(async move {
        if let Some(pid) = store::lock_holder(&state_dir) {
            let req = control::Request {
                action: action.to_string(),
                name: name.to_string(),
            };
            return match control::send(&state_dir, &req).await {
                Ok(reply) => reply,
                Err(e) => control::Reply {
                    code: EXIT_FAILURE,
                    message: format!(
                        "the console (PID {pid}) holds {} but its control socket {} did not answer: {e}",
                        state_dir.display(),
                        control::socket_path(&state_dir).display()
                    ),
                },
            };
        }
        let handle = match Engine::start(
            manifest,
            EngineOptions {
                autostart: false,
                start_all: false,
            },
        ) {
            Ok(h) => h,
            Err(e) => {
                return control::Reply {
                    code: EXIT_FAILURE,
                    message: e.to_string(),
                }
            }
        };
        let reply = control::execute(&handle, name, cmd).await;
        // Leave whatever runs running; a console opened later adopts it.
        handle.detach();
        handle.await_shutdown().await;
        reply
    });
    if reply.code == EXIT_OK {
        println!("{}", reply.message);
    } else {
        eprintln!("error: {}", reply.message);
    }
    reply.code
}
