//! Serves the control socket of a running console: each connection sends one request line and
//! gets one reply line.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use super::protocol::{
    parse_request, Action, ErrorKind, Outcome, RequestBody, Response, ResponseBody,
};
use crate::engine::phase::Phase;
use crate::engine::store::unix_now;
use crate::engine::view::{ConnectorId, EventKind};
use crate::engine::EngineHandle;
use crate::reload::{ReloadError, Reloader};

/// Longest request line accepted.
const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// A client must send its request within this long (the CLI sends it at once); an idle
/// connection is closed after it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections served at once; more get a `busy` reply at once (and the CLI retries).
pub const MAX_CONNECTIONS: usize = 64;

/// How long to wait for an action's outcome.
fn patience(action: Action) -> Duration {
    match action {
        // Starting may build first.
        Action::Start | Action::Restart | Action::Build | Action::Rebuild => {
            Duration::from_secs(30 * 60)
        }
        Action::Stop | Action::Kill => Duration::from_secs(10 * 60),
    }
}

/// Binds `<state_dir>/control.sock` (0600) and serves it until the engine ends, then removes
/// it. The caller must hold the state-dir lock (so a socket file already there is a dead
/// console's).
pub fn serve(
    state_dir: &Path,
    handle: EngineHandle,
    reloader: Option<Arc<Reloader>>,
) -> std::io::Result<JoinHandle<()>> {
    use std::os::unix::fs::PermissionsExt;
    let path = super::socket_path(state_dir);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    Ok(tokio::spawn(async move {
        let mut backoff = Duration::from_millis(10);
        loop {
            tokio::select! {
                conn = listener.accept() => match conn {
                    Ok((stream, _)) => {
                        backoff = Duration::from_millis(10);
                        let h = handle.clone();
                        let r = reloader.clone();
                        let slot = slots.clone().try_acquire_owned();
                        tokio::spawn(async move {
                            let result = match slot {
                                Ok(_slot) => answer(stream, &h, r.as_deref()).await,
                                Err(_) => refuse_busy(stream).await,
                            };
                            if let Err(e) = result {
                                tracing::debug!("control socket client: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        // E.g. out of file descriptors: say so, and do not spin.
                        tracing::warn!("control socket: cannot accept a connection: {e}");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                },
                _ = handle.await_shutdown() => break,
            }
        }
        let _ = std::fs::remove_file(&path);
    }))
}

/// Tells a connection over the cap to come back later, without reading its request.
async fn refuse_busy(stream: UnixStream) -> std::io::Result<()> {
    let body = ResponseBody::error(
        ErrorKind::Busy,
        format!("{MAX_CONNECTIONS} connections are open already; try again in a moment"),
    );
    let mut out = serde_json::to_vec(&Response::new(body)).map_err(std::io::Error::other)?;
    out.push(b'\n');
    let (_, mut w) = stream.into_split();
    tokio::time::timeout(REQUEST_TIMEOUT, w.write_all(&out))
        .await
        .map_err(|_| std::io::Error::other("a busy reply could not be written"))?
}

async fn answer(
    stream: UnixStream,
    handle: &EngineHandle,
    reloader: Option<&Reloader>,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut line = Vec::new();
    let mut reader = BufReader::new(r.take(MAX_REQUEST_BYTES));
    let read = reader.read_until(b'\n', &mut line);
    let body = match tokio::time::timeout(REQUEST_TIMEOUT, read).await {
        Err(_) => ResponseBody::error(
            ErrorKind::BadRequest,
            format!("no request line within {REQUEST_TIMEOUT:?}"),
        ),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(_)) => match parse_request(&line) {
            Err(reply) => reply,
            Ok(req) => respond(handle, reloader, req.body).await,
        },
    };
    let mut out = serde_json::to_vec(&Response::new(body)).map_err(std::io::Error::other)?;
    out.push(b'\n');
    w.write_all(&out).await
}

/// Carries out one request.
pub async fn respond(
    handle: &EngineHandle,
    reloader: Option<&Reloader>,
    body: RequestBody,
) -> ResponseBody {
    match body {
        RequestBody::Status => {
            // What the reply says is in state.json too (if this console dies next, the next
            // one knows it).
            let views = handle.written_views().await;
            let now = unix_now();
            ResponseBody::Status {
                console_pid: std::process::id() as i32,
                connectors: views.into_iter().map(|v| v.at(now)).collect(),
            }
        }
        RequestBody::Act { action, target } => {
            tracing::info!(connector = %target, "{action:?} requested through the control socket");
            execute(handle, &target, action).await
        }
        RequestBody::Reload => match reloader {
            None => ResponseBody::error(
                ErrorKind::BadRequest,
                "this console cannot reload its manifest",
            ),
            Some(r) => {
                tracing::info!("reload requested through the control socket");
                match r.reload().await {
                    Ok(report) => ResponseBody::Reloaded(report),
                    Err(ReloadError::Manifest(e)) => ResponseBody::error(
                        ErrorKind::InvalidManifest,
                        format!("{e}; nothing was changed"),
                    ),
                    Err(ReloadError::Engine(e)) => {
                        ResponseBody::error(ErrorKind::ShuttingDown, e.to_string())
                    }
                }
            }
        },
    }
}

/// Sends `action` to connector `id` and waits for its outcome.
pub async fn execute(handle: &EngineHandle, id: &ConnectorId, action: Action) -> ResponseBody {
    let (views, mut events) = handle.subscribe_with_views();
    let Some(before) = views.iter().find(|v| v.id() == *id).cloned() else {
        let names: Vec<String> = views.iter().map(|v| v.id().to_string()).collect();
        return ResponseBody::error(
            ErrorKind::UnknownConnector,
            format!(
                "no connector named '{id}'; the running console has: {}",
                names.join(", ")
            ),
        );
    };
    let outcome = |ok, phase, pid, message: String| {
        ResponseBody::Acted(Outcome {
            target: id.clone(),
            ok,
            phase,
            pid,
            message,
        })
    };
    // Nothing to do: say so instead of waiting for a transition that will not come.
    match (action, before.phase) {
        (Action::Start, Phase::Ready) => {
            return outcome(
                true,
                before.phase,
                before.pid,
                format!(
                    "{id} is already ready (PID {})",
                    before.pid.unwrap_or_default()
                ),
            )
        }
        (Action::Stop | Action::Kill, p) if p.is_at_rest() => {
            return outcome(true, p, None, format!("{id} is not running ({p})"))
        }
        _ => {}
    }
    let Ok(applied_after) = handle.command_applied(id.clone(), action.command()).await else {
        return ResponseBody::error(ErrorKind::ShuttingDown, "the console is shutting down");
    };
    let wait = async {
        // A build already under way counts: its end is this request's outcome.
        let mut left_start = before.phase == Phase::Building;
        while let Some(ev) = events.recv().await {
            // Older news still on its way (e.g. the "ready" of an adoption) is not the outcome.
            if ev.id != *id || ev.seq <= applied_after {
                continue;
            }
            let EventKind::Transition { phase, pid, detail } = &ev.kind else {
                if ev.kind == EventKind::Removed {
                    return outcome(false, Phase::Stopped, None, format!("{id} was removed"));
                }
                continue;
            };
            let (phase, pid) = (*phase, *pid);
            let said = |what: &str| format!("{id} {what}: {detail}");
            match (action, phase) {
                (Action::Start | Action::Restart, Phase::Ready) => {
                    return outcome(true, phase, pid, said("is ready"))
                }
                (
                    Action::Start | Action::Restart,
                    Phase::Failed | Phase::Backoff | Phase::Exited,
                ) => return outcome(false, phase, pid, said(phase.as_str())),
                (
                    Action::Stop | Action::Kill,
                    Phase::Stopped | Phase::Idle | Phase::Exited | Phase::Failed,
                ) => return outcome(true, phase, pid, said(phase.as_str())),
                (Action::Build | Action::Rebuild, Phase::Building) => left_start = true,
                (Action::Build | Action::Rebuild, Phase::Idle) if left_start => {
                    return outcome(true, phase, pid, said("built"))
                }
                (Action::Build | Action::Rebuild, Phase::Failed) => {
                    return outcome(false, phase, pid, said("build failed"))
                }
                (Action::Build | Action::Rebuild, _) if detail.contains("build refused") => {
                    return outcome(false, phase, pid, said("not built"))
                }
                _ => {}
            }
        }
        ResponseBody::error(ErrorKind::ShuttingDown, "the console ended")
    };
    match tokio::time::timeout(patience(action), wait).await {
        Ok(reply) => reply,
        Err(_) => ResponseBody::error(
            ErrorKind::Timeout,
            format!("{id}: no outcome after {:?}", patience(action)),
        ),
    }
}
