//! `switchboard run --headless [--json]`: a console without a terminal; stdout carries each
//! connector's transitions and health changes, one line (or JSON record) each.

use std::io::Write;
use std::path::Path;

use super::{load_for_console, runtime};
use crate::console::Console;
use crate::engine::io::logs::now_rfc3339;
use crate::engine::io::store::unix_now;
use crate::engine::EngineOptions;
use crate::exit;
use crate::fleet::FleetEvents;
use crate::machine::redact::plain;
use crate::model::view::Transition;

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
