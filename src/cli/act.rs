//! `switchboard start|stop|restart|build`: one path for the lifecycle verbs, through the
//! running console's control socket, else a short-lived console that acts and detaches.

use std::path::Path;

use super::names;
use super::status::{status_rows, StatusSource};
use super::{init_stderr_logging, runtime, Addressed};
use crate::config::manifest::Manifest;
use crate::console::{server, Console};
use crate::control::client;
use crate::control::protocol::{Action, ErrorKind, RequestBody, ResponseBody};
use crate::engine::io::store;
use crate::engine::EngineOptions;
use crate::exit;
use crate::machine::redact::plain;
use crate::model::view::{ConnectorId, ConnectorView};

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
    } else if names.len() > 1 || names.iter().any(|n| names::is_pattern(n)) {
        // Several names or a pattern: all are resolved first, so a typo acts on none.
        let known = known_ids(&manifest, runs);
        match names::expand(names, &known) {
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
fn say_misses(manifest: &Addressed, misses: &[names::Miss], known: &[ConnectorId], runs: bool) {
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
