//! Serves the control socket of a running console: each connection sends one request line and
//! gets one reply line.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use crate::console::reload::{ReloadError, Reloader};
use crate::control::lines::{encode, Frame, LineReader};
use crate::control::protocol::{
    parse_request, Action, ErrorKind, LogBatch, Outcome, RequestBody, Response, ResponseBody,
    StreamLine, StreamMessage, SNAPSHOT_LOG_LINES,
};
use crate::engine::io::store::unix_now;
use crate::engine::CommandMark;
use crate::fleet::{Fleet, FleetError};
use crate::machine::state::Command;
use crate::model::fact::Fact;
use crate::model::phase::Phase;
use crate::model::view::ConnectorView;
use crate::model::view::Origin;
use crate::model::view::{ConnectorId, EventKind};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// Longest request line accepted.
const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// A client must send its request within this long (the CLI sends it at once); an idle
/// connection is closed after it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections served at once; more get a `busy` reply at once (and the CLI retries).
pub const MAX_CONNECTIONS: usize = 64;
/// Of those, how many may be long-lived watch streams (read-only viewers, `attach --stdio`
/// links, stale links that have not noticed yet): the rest stay free for one-shot requests, so
/// that viewers can never lock `status`, `stop` or `reload` out.
pub const MAX_STREAMS: usize = 48;

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
/// console's). A console that lives for one CLI action (`one_action`) answers `status` but
/// turns other actions and reloads away as `busy` (the CLI asks again): it detaches as soon
/// as its own action ends, which would cut another's wait short.
pub fn serve(
    state_dir: &Path,
    handle: Fleet,
    reloader: Option<Arc<Reloader>>,
    one_action: bool,
) -> std::io::Result<JoinHandle<()>> {
    use std::os::unix::fs::PermissionsExt;
    let path = crate::control::socket_path(state_dir);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let streams = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS));
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
                        let streams = streams.clone();
                        tokio::spawn(async move {
                            let result = match slot {
                                Ok(_slot) => {
                                    answer(stream, &h, r.as_deref(), one_action, &streams).await
                                }
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
    let out = encode(&Response::new(body))?;
    let (_, mut w) = stream.into_split();
    tokio::time::timeout(REQUEST_TIMEOUT, w.write_all(&out))
        .await
        .map_err(|_| std::io::Error::other("a busy reply could not be written"))?
}

async fn answer(
    stream: UnixStream,
    handle: &Fleet,
    reloader: Option<&Reloader>,
    one_action: bool,
    streams: &Arc<tokio::sync::Semaphore>,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut reader = LineReader::new(BufReader::new(r), MAX_REQUEST_BYTES);
    let read = reader.next();
    let body = match tokio::time::timeout(REQUEST_TIMEOUT, read).await {
        Err(_) => ResponseBody::error(
            ErrorKind::BadRequest,
            format!("no request line within {REQUEST_TIMEOUT:?}"),
        ),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(None)) => {
            // A client that connects and leaves (a liveness probe) is worth a debug line.
            tracing::debug!("control socket client: closed without a request");
            return Ok(());
        }
        Ok(Ok(Some(Frame::TooLong))) => ResponseBody::error(
            ErrorKind::BadRequest,
            format!("a request line over {MAX_REQUEST_BYTES} bytes"),
        ),
        Ok(Ok(Some(Frame::Line(line)))) => match parse_request(&line) {
            Err(reply) => reply,
            Ok(req) if req.body == RequestBody::Watch => match streams.clone().try_acquire_owned() {
                // The stream holds its own slot as well as the connection's for its life.
                Ok(_stream) => return watch(reader.into_inner().into_inner(), w, handle).await,
                Err(_) => ResponseBody::error(
                    ErrorKind::Busy,
                    format!(
                        "{MAX_STREAMS} watch streams (viewers, attach links) are open already; the other {} connections are kept for commands: close a viewer or try again later",
                        MAX_CONNECTIONS - MAX_STREAMS
                    ),
                ),
            },
            Ok(req)
                if one_action
                    && matches!(req.body, RequestBody::Act { .. } | RequestBody::Reload) =>
            {
                ResponseBody::error(
                    ErrorKind::Busy,
                    format!(
                        "another switchboard command (PID {}) is acting on {} now; try again when it ends",
                        std::process::id(),
                        handle.state_dir().display()
                    ),
                )
            }
            Ok(req) => respond(handle, reloader, req.body).await,
        },
    };
    let out = encode(&Response::new(body))?;
    w.write_all(&out).await
}

/// How long a `status` request keeps CPU and memory sampling on (requests in a loop find fresh
/// figures at once; an idle console stops reading /proc soon after).
const STATUS_WANTS_USAGE_FOR: f64 = 10.0;

/// Most lines one connector's batch carries in a stream message; more are skipped (counted).
const STREAM_BATCH_LINES: usize = 500;
/// How often a stream sends what changed (views, log lines).
const STREAM_TICK: Duration = Duration::from_millis(200);

async fn send_line(w: &mut OwnedWriteHalf, msg: StreamMessage) -> std::io::Result<()> {
    let out = encode(&StreamLine::new(msg))?;
    w.write_all(&out).await
}

/// This console's own connectors (never those it shows for other hosts), as of now.
fn local_views(views: &[ConnectorView]) -> Vec<ConnectorView> {
    let now = unix_now();
    views
        .iter()
        .filter(|v| v.host.is_none())
        .map(|v| v.clone().at(now))
        .collect()
}

/// The log lines of `id` after line number `cursor` (at most `max`, the newest), and the new
/// cursor.
fn lines_after(
    handle: &Fleet,
    id: &ConnectorId,
    cursor: Option<u64>,
    max: usize,
) -> Option<(LogBatch, u64)> {
    let sb = handle.scrollback(id)?;
    let sb = sb.lock().unwrap_or_else(|p| p.into_inner());
    let appended = sb.appended();
    let lines = sb.lines();
    let new = appended - cursor.unwrap_or(0).min(appended);
    let send = (new.min(lines.len() as u64) as usize).min(max);
    if send == 0 && cursor.is_some() {
        return None;
    }
    let batch = LogBatch {
        first_seq: appended - send as u64,
        lines: lines.iter().skip(lines.len() - send).cloned().collect(),
        skipped: if cursor.is_some() {
            new - send as u64
        } else {
            0
        },
    };
    Some((batch, appended))
}

/// Streams this console to one watcher (`attach --stdio`): a snapshot, then events as they
/// come, views and log lines at most every [`STREAM_TICK`], until the watcher closes the
/// connection or the engine ends. A slow watcher only slows this task: lines it could not take
/// are counted as skipped, nothing grows.
async fn watch(mut r: OwnedReadHalf, mut w: OwnedWriteHalf, handle: &Fleet) -> std::io::Result<()> {
    let (views, mut events) = handle.subscribe_with_views();
    let mut views_rx = handle.views();
    views_rx.borrow_and_update();
    let mut cursors: std::collections::HashMap<ConnectorId, u64> = Default::default();
    let mut logs = std::collections::BTreeMap::new();
    let connectors = local_views(&views);
    for v in &connectors {
        if let Some((batch, next)) = lines_after(handle, &v.id(), None, SNAPSHOT_LOG_LINES) {
            logs.insert(v.name.clone(), batch);
            cursors.insert(v.id(), next);
        }
    }
    send_line(
        &mut w,
        StreamMessage::Snapshot {
            console_pid: std::process::id() as i32,
            connectors,
            logs,
        },
    )
    .await?;
    let mut tick = tokio::time::interval(STREAM_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut views_changed = false;
    let mut buf = [0u8; 256];
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) if ev.id.host.is_none() => send_line(&mut w, StreamMessage::Event((*ev).clone())).await?,
                Some(_) => {}
                None => break,
            },
            changed = views_rx.changed() => {
                if changed.is_err() { break; }
                views_changed = true;
            }
            _ = tick.tick() => {
                // A watcher (a viewer, another host's console) shows CPU and memory.
                handle.want_usage(STATUS_WANTS_USAGE_FOR);
                if views_changed {
                    views_changed = false;
                    let connectors = local_views(&views_rx.borrow_and_update());
                    send_line(&mut w, StreamMessage::Views { connectors }).await?;
                }
                let ids: Vec<ConnectorId> = handle.ids().into_iter().filter(|id| id.host.is_none()).collect();
                let mut logs = std::collections::BTreeMap::new();
                for id in ids {
                    let cursor = cursors.get(&id).copied().or(Some(0));
                    if let Some((batch, next)) = lines_after(handle, &id, cursor, STREAM_BATCH_LINES) {
                        logs.insert(id.name.clone(), batch);
                        cursors.insert(id, next);
                    }
                }
                if !logs.is_empty() {
                    send_line(&mut w, StreamMessage::Logs { logs }).await?;
                }
            }
            n = r.read(&mut buf) => {
                // The watcher sends nothing after its request: EOF (or an error) means it left.
                if matches!(n, Ok(0) | Err(_)) { break; }
            }
            _ = handle.await_shutdown() => break,
        }
    }
    Ok(())
}

/// Carries out one request.
pub async fn respond(
    handle: &Fleet,
    reloader: Option<&Reloader>,
    body: RequestBody,
) -> ResponseBody {
    match body {
        RequestBody::Status => {
            // CPU and memory are read while someone asks, once a second: a connector without
            // a reading yet (sampling was off, or its process is new) shows them as not yet
            // known (null; `-` in the table) rather than the reply waiting for one (#24: it
            // waited up to 1.3 s right after a connector became ready).
            handle.want_usage(STATUS_WANTS_USAGE_FOR);
            // What the reply says is in state.json too (if this console dies next, the next
            // one knows it).
            let views = handle.written_views().await;
            let now = unix_now();
            ResponseBody::Status {
                console_pid: std::process::id() as i32,
                connectors: views.into_iter().map(|v| v.at(now)).collect(),
                hosts: handle.hosts().borrow().as_ref().clone(),
            }
        }
        RequestBody::Act { action, target } => {
            tracing::info!(
                "{target}: {} requested through the control socket",
                format!("{action:?}").to_lowercase()
            );
            execute(handle, &target, action).await
        }
        RequestBody::Watch => ResponseBody::error(
            ErrorKind::BadRequest,
            "watch is a stream: send it as the only request of a connection",
        ),
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

/// Whether a connector in `phase` has come to rest after its commands (None: not yet), and
/// if so whether that is what `action` asked for.
fn came_to_rest(action: Action, phase: Phase) -> Option<bool> {
    let reached = match (action, phase) {
        (_, Phase::Starting | Phase::Stopping | Phase::Building) => return None,
        (Action::Start | Action::Restart, p) => p == Phase::Ready,
        (Action::Stop | Action::Kill, p) => p.is_at_rest(),
        (Action::Build | Action::Rebuild, p) => p == Phase::Idle,
    };
    Some(reached)
}

/// "the stop", as the reply names the request that was overtaken.
fn action_noun(action: Action) -> String {
    format!("{action:?}").to_lowercase()
}

/// "a start from the CLI": the command that overtook a request.
fn overtaker(m: CommandMark) -> String {
    let what = match m.cmd {
        Command::Start => "a start",
        Command::Stop => "a stop",
        Command::Restart => "a restart",
        Command::Kill => "a kill",
        Command::Build { force: false } => "a build",
        Command::Build { force: true } => "a rebuild",
    };
    let from = match m.by {
        Origin::Key => "a key in the TUI".to_string(),
        Origin::Cli => "the CLI".to_string(),
        Origin::Api => "the API".to_string(),
        Origin::Autostart => "the console's autostart".to_string(),
        other => other.as_str().to_string(),
    };
    format!("{what} from {from}")
}

/// Sends `action` to connector `id` and waits for its outcome.
pub async fn execute(handle: &Fleet, id: &ConnectorId, action: Action) -> ResponseBody {
    let (views, mut events) = handle.subscribe_with_views();
    // A bare NAME that is not local names the one remote connector of that name, if unique.
    let remote: Vec<ConnectorId> = views
        .iter()
        .filter(|v| id.host.is_none() && v.name == id.name && v.host.is_some())
        .map(|v| v.id())
        .collect();
    let resolved;
    let id = if !views.iter().any(|v| v.id() == *id) && remote.len() == 1 {
        resolved = remote[0].clone();
        &resolved
    } else {
        id
    };
    if remote.len() > 1 && !views.iter().any(|v| v.id() == *id) {
        let names: Vec<String> = remote.iter().map(|r| r.to_string()).collect();
        return ResponseBody::error(
            ErrorKind::UnknownConnector,
            format!(
                "'{id}' is on several hosts ({}); name one as NAME@HOST",
                names.join(", ")
            ),
        );
    }
    // Another host's connector: its console decides, through the link (never the engine).
    let linked = match &id.host {
        Some(h) => handle.hosts().borrow().iter().any(|l| l.name == *h),
        None => handle.is_remote(id),
    };
    if linked {
        return execute_remote(handle, id, action).await;
    }
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
            // Still told to the engine: the operator's decision is recorded, so that a console
            // about to start it (autostart, `run --headless`) leaves it stopped.
            let _ = handle
                .engine()
                .command_marked(
                    id.clone(),
                    Command::from(action),
                    crate::model::view::Origin::Cli,
                )
                .await;
            return outcome(true, p, None, format!("{id} is not running ({p})"));
        }
        // A build already under way is joined below; one while it runs is refused.
        (Action::Build | Action::Rebuild, p) if p != Phase::Building => {
            if let Some(why) = Command::from(action).refusal(p) {
                return outcome(false, p, before.pid, format!("{id} {why}"));
            }
        }
        _ => {}
    }
    let Ok((applied_after, mine)) = handle
        .engine()
        .command_marked(
            id.clone(),
            Command::from(action),
            crate::model::view::Origin::Cli,
        )
        .await
    else {
        return ResponseBody::error(ErrorKind::ShuttingDown, "the console is shutting down");
    };
    // Refused at once (a restart that could not start a new process): the views say why by
    // the time the command is applied; no transition will come.
    // The engine's own views: they hold the refusal when the command is acknowledged, while
    // the fleet's merged copy follows a moment later.
    let refused = handle
        .engine()
        .views()
        .borrow()
        .iter()
        .find(|v| v.id() == *id)
        .and_then(|v| v.refused.clone().map(|r| (r, v.phase, v.pid)))
        .filter(|(r, _, _)| before.refused.as_ref() != Some(r));
    if let Some((r, phase, pid)) = refused {
        let keeps = pid
            .map(|p| format!("; PID {p} keeps running"))
            .unwrap_or_default();
        return outcome(
            false,
            phase,
            pid,
            format!("{id} {} refused: {}{keeps}", r.what, r.why),
        );
    }
    let wait = async {
        // A build already under way counts: its end is this request's outcome.
        let mut left_start = before.phase == Phase::Building;
        // The command that overtook this one, once its consequences show.
        let mut overtaken: Option<CommandMark> = None;
        while let Some(ev) = events.recv().await {
            // Older news still on its way (e.g. the "ready" of an adoption) is not the outcome.
            if ev.id != *id || ev.seq <= applied_after {
                continue;
            }
            // Another command on this connector, applied before this event: from now on the
            // outcome is where the connector comes to rest, told as overtaken.
            if mine != 0 {
                if let Some(m) = handle
                    .engine()
                    .commands_after(id, mine)
                    .into_iter()
                    // The same command again joins this one.
                    .rev()
                    .find(|m| m.after_seq < ev.seq && m.cmd != Command::from(action))
                {
                    overtaken = Some(m);
                }
            }
            let EventKind::Transition {
                phase,
                pid,
                detail,
                fact,
            } = &ev.kind
            else {
                if ev.kind == EventKind::Removed {
                    return outcome(false, Phase::Stopped, None, format!("{id} was removed"));
                }
                continue;
            };
            let (phase, pid) = (*phase, *pid);
            if let Some(m) = overtaken {
                if let Some(reached) = came_to_rest(action, phase) {
                    let detail = detail.split(": thread '").next().unwrap_or(detail);
                    return outcome(
                        reached,
                        phase,
                        pid,
                        format!(
                            "{id} {} overtaken: {}; now {phase}: {detail}",
                            action_noun(action),
                            overtaker(m)
                        ),
                    );
                }
                continue;
            }
            // One sentence: a stop's detail may end with the connector's last log line (a
            // panic); the reply keeps what switchboard says, the pane has the rest.
            let detail = match action {
                Action::Stop | Action::Kill => detail.split(": thread '").next().unwrap_or(detail),
                _ => detail.as_str(),
            };
            let said = |what: &str| format!("{id} {what}: {detail}");
            match (action, phase) {
                // Refused by the pre-flight: at rest it says `failed` with why; building or
                // stopping, what runs was left alone and will not start.
                (Action::Start | Action::Restart, _) if *fact == Some(Fact::StartRefused) => {
                    let what = match phase.is_at_rest() {
                        true => phase.as_str(),
                        false => "was not restarted",
                    };
                    return outcome(false, phase, pid, said(what));
                }
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
                    return outcome(false, phase, pid, build_failed(handle, id, detail))
                }
                (Action::Build | Action::Rebuild, _) if *fact == Some(Fact::BuildRefused) => {
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

/// How long a remote console has to show that it took an action (its reply, or an event about
/// the connector): a link that is up but whose console never answers is not waited on for the
/// action's whole patience.
pub const REMOTE_REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `action` for remote connector `id` straight to its host's link (never through the
/// engine) and returns the remote console's reply. Refused at once when the link is not up;
/// an error when the link is lost first, or when the remote shows no sign of the action
/// within [`REMOTE_REPLY_TIMEOUT`].
async fn execute_remote(handle: &Fleet, id: &ConnectorId, action: Action) -> ResponseBody {
    let mut events = handle.subscribe();
    let host = id
        .host
        .clone()
        .unwrap_or_else(|| "the watched console".into());
    let mut reply = match handle.send_remote(id, Command::from(action)) {
        Ok(rx) => rx,
        Err(e @ FleetError::LinkDown { .. }) => {
            return ResponseBody::error(ErrorKind::HostUnreachable, e.to_string())
        }
        Err(e) => return ResponseBody::error(ErrorKind::UnknownConnector, e.to_string()),
    };
    let noun = action_noun(action);
    let wait = async {
        let silence = tokio::time::sleep(REMOTE_REPLY_TIMEOUT);
        tokio::pin!(silence);
        let mut heard = false;
        loop {
            tokio::select! {
                r = &mut reply => return match r {
                    Ok(ResponseBody::Acted(mut o)) => {
                        // The remote names its connector as its own: say NAME@HOST here.
                        if let Some(rest) = o.message.strip_prefix(&format!("{} ", id.name)) {
                            o.message = format!("{id} {rest}");
                        }
                        o.target = id.clone();
                        ResponseBody::Acted(o)
                    }
                    Ok(other) => other,
                    Err(_) => ResponseBody::error(
                        ErrorKind::HostUnreachable,
                        format!("{id}: the link to {host} was lost before its console replied to the {noun}; it may or may not have been applied"),
                    ),
                },
                ev = events.recv() => match ev {
                    Some(ev) if ev.id == *id => heard = true,
                    Some(_) => {}
                    None => return ResponseBody::error(ErrorKind::ShuttingDown, "the console ended"),
                },
                _ = &mut silence, if !heard => return ResponseBody::error(
                    ErrorKind::Timeout,
                    format!("{id}: {host}'s console did not reply to the {noun} within {} s (reply timeout; no reply and no event about {id}): it may be stuck; the {noun} may or may not have been applied", REMOTE_REPLY_TIMEOUT.as_secs()),
                ),
            }
        }
    };
    match tokio::time::timeout(patience(action), wait).await {
        Ok(r) => r,
        Err(_) => ResponseBody::error(
            ErrorKind::Timeout,
            format!("{id}: no outcome after {:?}", patience(action)),
        ),
    }
}

/// A failed build's outcome: `NAME build failed:` once, then cargo's whole error (its
/// `Caused by:` lines, a build script's stderr) one line each, then the hint; the one-line
/// phase detail when the view has no error block (a build that failed before cargo ran).
fn build_failed(handle: &Fleet, id: &ConnectorId, detail: &str) -> String {
    // The detail is the build error's own sentence: say "build failed" once.
    let summary = detail
        .strip_prefix(&format!("connector '{}': build failed: ", id.name))
        .unwrap_or(detail);
    let block = handle
        .engine()
        .views()
        .borrow()
        .iter()
        .find(|v| v.id() == *id)
        .and_then(|v| v.build_error.clone())
        .unwrap_or_default();
    let Some(first) = block.first() else {
        return format!("{id} build failed: {summary}");
    };
    let mut out = format!("{id} build failed:\n{}", block.join("\n"));
    // What follows the first error line in the summary is the hint ("; bindgen needs …").
    if let Some(hint) = summary
        .strip_prefix(first.trim())
        .and_then(|h| h.strip_prefix("; "))
        .filter(|h| !h.is_empty())
    {
        out.push_str(&format!("\nhint: {hint}"));
    }
    out
}
