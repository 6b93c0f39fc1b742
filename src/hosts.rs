//! Links to other hosts' consoles (DESIGN §12). Each `[[host]]` runs its `command` (OpenSSH in
//! practice) whose stdin/stdout speak `switchboard attach --stdio` on that host. The link feeds
//! the remote connectors' views, events and log lines into this console's engine (so panes,
//! `status --json`, the headless output and alerts show them like local ones, titled
//! `NAME@HOST`) and carries commands back.
//!
//! A lost link never touches the remote connectors: the link retries with the restart budget
//! (1 s doubling to 30 s, ±20 % jitter, 20 attempts or 5 minutes, reset after 30 s connected),
//! then shows `failed` with the command's last stderr line until a retry. After a reconnect
//! it resyncs from a fresh snapshot; log lines it already has (same remote console, same line
//! numbers) are not added again. Everything it keeps is bounded: scrollbacks by their caps,
//! a flood by the remote side's batches (skipped lines become one marker line).

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::control::protocol::{
    Action, LogBatch, Request, RequestBody, ResponseBody, StreamLine, StreamMessage, VERSION,
};
use crate::engine::budget::{RestartBudget, Retry};
use crate::engine::logs::{Scrollback, SharedScrollback};
use crate::engine::state::Command;
use crate::engine::store::unix_now;
use crate::engine::view::{ConnectorId, ConnectorView, EventKind, HostView, LinkState};
use crate::engine::{EngineHandle, RemoteCommand};
use crate::manifest::{ConsoleSettings, HostSpec};

/// The longest line read from a link (a snapshot of many connectors is the largest).
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// What the link keeps of one remote console between reconnects.
#[derive(Default)]
struct Mirror {
    /// The remote console's PID: line numbers are only comparable within one console's life.
    console_pid: Option<i32>,
    scrollbacks: HashMap<String, SharedScrollback>,
    /// Next line number expected per connector.
    next_seq: HashMap<String, u64>,
    views: Vec<ConnectorView>,
}

impl Mirror {
    fn scrollback(&mut self, name: &str, cap: usize, bytes: usize) -> SharedScrollback {
        self.scrollbacks
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(Scrollback::new(cap, bytes))))
            .clone()
    }

    /// Appends the lines of `batch` this mirror does not have yet.
    fn apply(&mut self, name: &str, batch: &LogBatch, cap: usize, bytes: usize) -> bool {
        let sb = self.scrollback(name, cap, bytes);
        let next = self.next_seq.get(name).copied().unwrap_or(0);
        let mut sb = sb.lock().unwrap_or_else(|p| p.into_inner());
        let mut added = false;
        if batch.skipped > 0 {
            sb.push(format!(
                "[switchboard] {} lines skipped (a flood or a slow link)",
                batch.skipped
            ));
            added = true;
        }
        for (i, line) in batch.lines.iter().enumerate() {
            let seq = batch.first_seq + i as u64;
            if seq >= next {
                sb.push(line.clone());
                added = true;
            }
        }
        let end = batch.first_seq + batch.lines.len() as u64;
        self.next_seq.insert(name.to_string(), end.max(next));
        added
    }
}

/// A running link.
pub struct HostLink {
    pub name: String,
    task: JoinHandle<()>,
    retry: Arc<Notify>,
}

impl HostLink {
    /// Starts over after `failed` (or cuts a backoff short).
    pub fn retry(&self) {
        self.retry.notify_one();
    }

    /// Ends the link (its command is killed); the remote connectors are not touched.
    pub fn abort(&self) {
        self.task.abort();
    }
}

/// Starts the links of `hosts`.
pub fn spawn_all(
    engine: &EngineHandle,
    hosts: &[HostSpec],
    console: &ConsoleSettings,
) -> Vec<HostLink> {
    hosts
        .iter()
        .map(|h| {
            let retry = Arc::new(Notify::new());
            let task = tokio::spawn(run(
                engine.clone(),
                h.clone(),
                console.scrollback,
                console.scrollback_bytes,
                retry.clone(),
            ));
            HostLink {
                name: h.name.clone(),
                task,
                retry,
            }
        })
        .collect()
}

fn set(engine: &EngineHandle, name: &str, link: LinkState) {
    engine.set_host(HostView {
        name: name.to_string(),
        link,
        as_of: unix_now(),
    });
}

fn action_of(cmd: Command) -> Action {
    match cmd {
        Command::Start => Action::Start,
        Command::Stop => Action::Stop,
        Command::Restart => Action::Restart,
        Command::Kill => Action::Kill,
        Command::Build { force: false } => Action::Build,
        Command::Build { force: true } => Action::Rebuild,
    }
}

/// The link's life: connect, mirror, and on loss wait and try again within the budget.
async fn run(engine: EngineHandle, spec: HostSpec, cap: usize, bytes: usize, retry: Arc<Notify>) {
    let mut mirror = Mirror::default();
    let mut budget = RestartBudget::default();
    loop {
        set(&engine, &spec.name, LinkState::Connecting);
        let started = Instant::now();
        let Some((connected, last_error)) =
            connect_once(&engine, &spec, &mut mirror, cap, bytes).await
        else {
            return; // the console is ending
        };
        if connected && started.elapsed() >= spec.reconnect.uptime_reset {
            budget.reset();
        }
        tracing::warn!("host {}: link lost: {last_error}", spec.name);
        let jitter = fastrand::f64() * 2.0 - 1.0;
        match budget.next(&spec.reconnect, Instant::now(), jitter, &last_error) {
            Retry::After {
                attempt,
                max_attempts,
                delay,
            } => {
                set(
                    &engine,
                    &spec.name,
                    LinkState::Reconnecting {
                        in_s: delay.as_secs_f64(),
                        attempt,
                        max_attempts,
                        last_error: last_error.clone(),
                    },
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = retry.notified() => budget.reset(),
                    _ = engine.await_shutdown() => return,
                }
            }
            Retry::GiveUp(why) => {
                tracing::warn!("host {}: {why}", spec.name);
                set(
                    &engine,
                    &spec.name,
                    LinkState::Failed {
                        last_error: last_error.clone(),
                    },
                );
                tokio::select! {
                    _ = retry.notified() => budget.reset(),
                    _ = engine.await_shutdown() => return,
                }
            }
        }
    }
}

/// One connection: runs the command and mirrors what it says until it ends. Returns whether
/// a snapshot came (the link was up) and why it ended; None when the console is ending.
async fn connect_once(
    engine: &EngineHandle,
    spec: &HostSpec,
    mirror: &mut Mirror,
    cap: usize,
    bytes: usize,
) -> Option<(bool, String)> {
    let mut child = match tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&spec.command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Some((false, format!("cannot run `sh -c`: {e}"))),
    };
    let (Some(stdout), Some(mut stdin), Some(stderr)) =
        (child.stdout.take(), child.stdin.take(), child.stderr.take())
    else {
        return Some((false, "the command's pipes could not be opened".into()));
    };
    // The last line the command wrote on stderr (ssh's own errors): the reason shown on loss.
    let last_stderr = Arc::new(Mutex::new(String::new()));
    let stderr_task = {
        let last = last_stderr.clone();
        let name = spec.name.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                let l = crate::engine::redact::plain(l.trim());
                if !l.is_empty() {
                    tracing::debug!("host {name}: {l}");
                    *last.lock().unwrap_or_else(|p| p.into_inner()) = l;
                }
            }
        })
    };
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<RemoteCommand>();
    engine.link_host(&spec.name, cmd_tx);
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    let mut connected = false;
    let mut next_id: u64 = 0;
    let ended = loop {
        // read_until is cancel safe: a partly read line stays in `line` for the next call, so
        // `line` is cleared only once a whole line was handled.
        let room = MAX_LINE_BYTES.saturating_sub(line.len()) as u64 + 1;
        let mut limited = (&mut reader).take(room);
        tokio::select! {
            read = limited.read_until(b'\n', &mut line) => match read {
                Ok(0) => break "the link closed".to_string(),
                Err(e) => break format!("reading the link failed: {e}"),
                Ok(_) if !line.ends_with(b"\n") => {
                    // The rest of the line comes with the next read (or EOF ends the link).
                    if line.len() > MAX_LINE_BYTES {
                        break format!("a line over {MAX_LINE_BYTES} bytes");
                    }
                }
                Ok(_) => {
                    match serde_json::from_slice::<StreamLine>(&line) {
                        Ok(msg) if msg.v == VERSION => {
                            if let StreamMessage::Snapshot { .. } = msg.msg {
                                if !connected {
                                    connected = true;
                                    tracing::info!("host {}: connected", spec.name);
                                    set(engine, &spec.name, LinkState::Connected);
                                }
                            }
                            on_message(engine, spec, mirror, msg.msg, cap, bytes);
                        }
                        Ok(msg) => break format!("the other side speaks protocol version {} (this one {VERSION}): install the same switchboard on both hosts", msg.v),
                        Err(e) => {
                            let text = String::from_utf8_lossy(&line);
                            tracing::warn!("host {}: not a message ({e}): {}", spec.name, crate::engine::redact::plain(text.trim()));
                        }
                    }
                    line.clear();
                }
            },
            Some(c) = cmd_rx.recv() => {
                next_id += 1;
                let request = Request::new(RequestBody::Act {
                    action: action_of(c.cmd),
                    target: ConnectorId::local(&c.id.name),
                });
                let mut value = serde_json::to_value(&request).unwrap_or_default();
                if let Some(o) = value.as_object_mut() {
                    o.insert("id".into(), serde_json::json!(next_id));
                }
                let mut out = serde_json::to_vec(&value).unwrap_or_default();
                out.push(b'\n');
                if let Err(e) = stdin.write_all(&out).await {
                    break format!("writing to the link failed: {e}");
                }
            }
            _ = engine.await_shutdown() => {
                let _ = child.start_kill();
                return None;
            }
        }
    };
    drop(stdin);
    // Give the command a moment to exit on its own (its status says more), then end it.
    let status = match tokio::time::timeout(Duration::from_millis(500), child.wait()).await {
        Ok(Ok(s)) => Some(s),
        _ => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            None
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(200), stderr_task).await;
    let said = last_stderr
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let why = match (said.is_empty(), status.and_then(|s| s.code())) {
        (false, _) => said,
        (true, Some(code)) => format!("{ended} (the command exited with code {code})"),
        (true, None) => ended,
    };
    Some((connected, why))
}

/// The host a mirrored connector is shown under: `NAME@HOST`, or its own name through a
/// viewer's link to this host's console.
fn host_of(spec: &HostSpec) -> Option<String> {
    (!spec.as_local).then(|| spec.name.clone())
}

/// The views of `connectors` as this console shows them.
fn hosted(spec: &HostSpec, connectors: Vec<ConnectorView>) -> Vec<ConnectorView> {
    connectors
        .into_iter()
        .map(|mut v| {
            v.host = host_of(spec);
            v
        })
        .collect()
}

fn on_message(
    engine: &EngineHandle,
    spec: &HostSpec,
    mirror: &mut Mirror,
    msg: StreamMessage,
    cap: usize,
    bytes: usize,
) {
    match msg {
        StreamMessage::Snapshot {
            console_pid,
            connectors,
            logs,
        } => {
            if mirror.console_pid != Some(console_pid) {
                // Another console (or the first): its line numbers start over.
                if mirror.console_pid.is_some() {
                    for sb in mirror.scrollbacks.values() {
                        sb.lock().unwrap_or_else(|p| p.into_inner()).push(format!(
                            "[switchboard] the console on {} restarted (PID {console_pid})",
                            spec.name
                        ));
                    }
                }
                mirror.next_seq.clear();
                mirror.console_pid = Some(console_pid);
            }
            let names: Vec<String> = connectors.iter().map(|c| c.name.clone()).collect();
            mirror.scrollbacks.retain(|n, _| names.contains(n));
            for name in &names {
                mirror.scrollback(name, cap, bytes);
            }
            for (name, batch) in &logs {
                mirror.apply(name, batch, cap, bytes);
            }
            mirror.views = hosted(spec, connectors);
            publish(engine, spec, mirror);
            engine.tell_log_activity();
        }
        StreamMessage::Views { connectors } => {
            let known = connectors.len() == mirror.views.len()
                && connectors
                    .iter()
                    .zip(&mirror.views)
                    .all(|(a, b)| a.name == b.name);
            mirror.views = hosted(spec, connectors);
            if !known {
                for v in mirror.views.clone() {
                    mirror.scrollback(&v.name, cap, bytes);
                }
            }
            publish(engine, spec, mirror);
        }
        StreamMessage::Event(mut ev) => {
            // The view follows the event at once (the next views message may be 200 ms
            // away): whoever sees the event and then reads the views finds them agreeing.
            if let EventKind::Transition { phase, pid, detail } = &ev.kind {
                if let Some(v) = mirror.views.iter_mut().find(|v| v.name == ev.id.name) {
                    v.phase = *phase;
                    v.pid = *pid;
                    v.detail = detail.clone();
                    publish(engine, spec, mirror);
                }
            }
            ev.id.host = host_of(spec);
            engine.remote_event(ev.id, ev.kind);
        }
        StreamMessage::Logs { logs } => {
            let mut any = false;
            for (name, batch) in &logs {
                any |= mirror.apply(name, batch, cap, bytes);
            }
            if any {
                engine.tell_log_activity();
            }
        }
        StreamMessage::Reply { reply, .. } => match reply {
            ResponseBody::Acted(o) if !o.ok => {
                tracing::warn!("host {}: {}", spec.name, o.message)
            }
            ResponseBody::Error { message, .. } => {
                tracing::warn!("host {}: {message}", spec.name)
            }
            _ => {}
        },
        StreamMessage::Error { message, .. } => {
            tracing::warn!("host {}: {message}", spec.name)
        }
    }
}

fn publish(engine: &EngineHandle, spec: &HostSpec, mirror: &Mirror) {
    let scrollbacks = mirror
        .views
        .iter()
        .filter_map(|v| {
            let sb = mirror.scrollbacks.get(&v.name)?.clone();
            Some((v.id(), sb))
        })
        .collect();
    engine.set_remote(&spec.name, mirror.views.clone(), scrollbacks);
}

/// The scrollback a remote connector's lines go to (for tests of the mirror).
#[cfg(test)]
fn lines_of(mirror: &Mirror, name: &str) -> Vec<String> {
    mirror
        .scrollbacks
        .get(name)
        .map(|sb| {
            sb.lock()
                .unwrap_or_else(|p| p.into_inner())
                .lines()
                .iter()
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(first: u64, lines: &[&str], skipped: u64) -> LogBatch {
        LogBatch {
            first_seq: first,
            lines: lines.iter().map(|s| s.to_string()).collect(),
            skipped,
        }
    }

    #[test]
    fn a_resync_from_the_same_console_adds_no_line_twice() {
        let mut m = Mirror::default();
        m.apply("bf", &batch(0, &["a", "b", "c"], 0), 100, 1 << 20);
        m.apply("bf", &batch(3, &["d"], 0), 100, 1 << 20);
        // A reconnect: the snapshot repeats the last lines, then one new.
        m.apply("bf", &batch(1, &["b", "c", "d", "e"], 0), 100, 1 << 20);
        assert_eq!(lines_of(&m, "bf"), ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn skipped_lines_leave_one_marker() {
        let mut m = Mirror::default();
        m.apply("bf", &batch(0, &["a"], 0), 100, 1 << 20);
        m.apply("bf", &batch(900, &["z"], 899), 100, 1 << 20);
        assert_eq!(
            lines_of(&m, "bf"),
            [
                "a",
                "[switchboard] 899 lines skipped (a flood or a slow link)",
                "z"
            ]
        );
    }
}
