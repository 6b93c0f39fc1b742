//! Links to other hosts' consoles (DESIGN §12). Each `[[host]]` runs its `command` (OpenSSH in
//! practice) whose stdin/stdout speak `switchboard attach --stdio` on that host. The link feeds
//! the remote connectors' views, events and log lines into this console's fleet (so panes,
//! `status --json`, the headless output and alerts show them like local ones, titled
//! `NAME@HOST`) and carries commands back.
//!
//! A lost link never touches the remote connectors: the link retries with the restart budget
//! (1 s doubling to 30 s, ±20 % jitter, 20 attempts or 5 minutes, reset after 30 s connected),
//! then shows `failed` with the command's last stderr line until a retry. After a reconnect
//! it resyncs from a fresh snapshot; log lines it already has (same remote console, same line
//! numbers) are not added again. Everything it keeps is bounded: scrollbacks by their caps,
//! a flood by the remote side's batches (skipped lines become one marker line).
//!
//! Nothing a link reads is trusted (the remote console may be broken or hostile): names are
//! checked like manifest names (an invalid one is dropped, with one warning), texts lose their
//! escape sequences and control characters and are cut, numbers are clamped to what a clock
//! can hold, log lines go only to connectors a snapshot or views message named, every line
//! read is bounded (stdout by [`MAX_LINE_BYTES`], stderr by [`MAX_STDERR_LINE_BYTES`]), and
//! warnings about what the remote sent are cut and rate-limited.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::manifest::{ConsoleSettings, HostSpec};
use crate::control::lines::{encode, Frame, LineReader};
use crate::control::protocol::{
    Action, LogBatch, Request, RequestBody, ResponseBody, StreamLine, StreamMessage, VERSION,
};
use crate::engine::io::logs::{Scrollback, SharedScrollback};
use crate::engine::io::store::unix_now;
use crate::fleet::{Fleet, RemoteCommand};
use crate::machine::budget::{RestartBudget, Retry};
use crate::machine::redact::{cut, plain};
use crate::machine::state::Command;
use crate::model::view::{ConnectorId, ConnectorView, EventKind, HostView, LinkState, HISTORY_LEN};

/// The longest line read from a link (a snapshot of many connectors is the largest).
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// The longest stderr line kept from a host command (ssh's errors are short); the rest of a
/// longer line is read and dropped, so a command that never writes a newline costs nothing.
pub const MAX_STDERR_LINE_BYTES: usize = 1024 * 1024;

/// The most remote connectors one link mirrors (more are dropped, with one warning).
const MAX_REMOTE_CONNECTORS: usize = 1000;

/// The longest text kept from a remote view (a detail, a history entry's detail).
const MAX_TEXT_CHARS: usize = 1000;

/// The longest short text kept (a timestamp, a symbol).
const MAX_SHORT_CHARS: usize = 64;

/// The longest log line kept from a remote connector.
const MAX_LOG_LINE_BYTES: usize = 16 * 1024;

/// The longest number of seconds a remote view may carry (an uptime, a countdown, a feed's
/// age): about 31 years. Anything beyond is a broken or hostile remote.
const MAX_REMOTE_SECS: f64 = 1.0e9;

/// How far a remote view's `as_of` may be from this host's clock before it is taken as now.
const MAX_CLOCK_SKEW_SECS: f64 = 86_400.0;

/// At most one warning about what a remote sent per this interval (the rest are counted).
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// How much of a remote's text a warning quotes.
const WARN_QUOTE_CHARS: usize = 200;

/// How many distinct invalid names a link warns about (each once).
const MAX_WARNED_NAMES: usize = 64;

/// Rate-limits warnings about what a remote sent: one per [`WARN_INTERVAL`], and the next
/// one says how many were held back.
#[derive(Default)]
struct WarnLimit {
    last: Option<Instant>,
    held: u64,
}

impl WarnLimit {
    /// Whether to warn now; `Some(n)`: yes, and `n` warnings were held back since the last.
    fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.duration_since(t) < WARN_INTERVAL => {
                self.held += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held))
            }
        }
    }

    /// Warns `what` about host `host`, if the rate allows.
    fn warn(&mut self, host: &str, what: &str) {
        if let Some(held) = self.allow(Instant::now()) {
            let more = if held > 0 {
                format!(" ({held} more like it held back)")
            } else {
                String::new()
            };
            tracing::warn!("host {host}: {}{more}", cut(&plain(what), WARN_QUOTE_CHARS));
        }
    }
}

/// A number of seconds from a remote, clamped to `[0, MAX_REMOTE_SECS]` (NaN is 0).
fn clamp_secs(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, MAX_REMOTE_SECS)
    }
}

/// A rate (events, bytes, percent) from a remote, clamped to `[0, 1e12]` (NaN is 0).
fn clamp_rate(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0e12)
    }
}

fn text(s: &str) -> String {
    cut(&plain(s), MAX_TEXT_CHARS)
}

fn short(s: &str) -> String {
    cut(&plain(s), MAX_SHORT_CHARS)
}

/// A remote view made safe to show, or why it cannot be (an invalid name). `now` is this
/// host's wall clock.
fn untrusted_view(mut v: ConnectorView, now: f64) -> Result<ConnectorView, String> {
    crate::config::manifest::validate_name(&v.name)?;
    v.detail = text(&v.detail);
    v.health_detail = v.health_detail.as_deref().map(text);
    if let Some(e) = v.last_error.as_mut() {
        e.ts = short(&e.ts);
        e.line = text(&e.line);
    }
    for t in [
        &mut v.last_exit_at,
        &mut v.started,
        &mut v.stale_since,
        &mut v.erroring_since,
    ] {
        *t = t.as_deref().map(short);
    }
    let drop = v.history.len().saturating_sub(HISTORY_LEN);
    v.history.drain(..drop);
    for h in &mut v.history {
        h.ts = short(&h.ts);
        h.detail = text(&h.detail);
    }
    if let Some(d) = v.decision.as_mut() {
        d.ts = short(&d.ts);
    }
    if let Some(r) = v.refused.as_mut() {
        r.ts = short(&r.ts);
        r.what = text(&r.what);
        r.why = text(&r.why);
    }
    if let Some(r) = v.registration.as_mut() {
        r.symbols.truncate(256);
        for s in &mut r.symbols {
            *s = short(s);
        }
        r.detail = text(&r.detail);
        r.at = r.at.as_deref().map(short);
    }
    v.uptime_s = v.uptime_s.map(clamp_secs);
    v.countdown_s = v.countdown_s.map(clamp_secs);
    v.cpu_pct = v.cpu_pct.map(clamp_rate);
    if let Some(f) = v.feed.as_mut() {
        f.events_per_s = clamp_rate(f.events_per_s);
        f.bytes_per_s = clamp_rate(f.bytes_per_s);
        f.last_event_age_s = f.last_event_age_s.map(clamp_secs);
        let drop = f.history.len().saturating_sub(120);
        f.history.drain(..drop);
        f.symbols = std::mem::take(&mut f.symbols)
            .into_iter()
            .take(256)
            .map(|(k, mut s)| {
                s.events_per_s = clamp_rate(s.events_per_s);
                s.last_event_age_s = clamp_secs(s.last_event_age_s);
                (short(&k), s)
            })
            .collect();
    }
    if !(v.as_of.is_finite() && (v.as_of - now).abs() <= MAX_CLOCK_SKEW_SECS) {
        v.as_of = now;
    }
    Ok(v)
}

/// What the link keeps of one remote console between reconnects.
#[derive(Default)]
struct Mirror {
    /// The remote console's PID: line numbers are only comparable within one console's life.
    console_pid: Option<i32>,
    scrollbacks: HashMap<String, SharedScrollback>,
    /// Next line number expected per connector.
    next_seq: HashMap<String, u64>,
    views: Vec<ConnectorView>,
    /// Invalid remote names already warned about (each once, at most [`MAX_WARNED_NAMES`]).
    warned_names: HashSet<String>,
    /// Warnings about what the remote sent.
    warn: WarnLimit,
    /// Warnings the remote's replies and errors carry (apart: garbage never hides them).
    said: WarnLimit,
}

impl Mirror {
    /// The views of `connectors` this link shows: valid names only, each once, at most
    /// [`MAX_REMOTE_CONNECTORS`], made safe (see [`untrusted_view`]).
    fn admit(&mut self, host: &str, connectors: Vec<ConnectorView>) -> Vec<ConnectorView> {
        let now = unix_now();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for v in connectors {
            let name = v.name.clone();
            match untrusted_view(v, now) {
                Ok(v) if seen.contains(&v.name) => {
                    self.warn.warn(
                        host,
                        &format!(
                            "connector '{}' listed twice; the second is not shown",
                            v.name
                        ),
                    );
                }
                Ok(v) if out.len() >= MAX_REMOTE_CONNECTORS => {
                    self.warn.warn(host, &format!("more than {MAX_REMOTE_CONNECTORS} connectors; '{}' and later ones are not shown", v.name));
                }
                Ok(v) => {
                    seen.insert(v.name.clone());
                    out.push(v);
                }
                Err(why) => {
                    if self.warned_names.len() < MAX_WARNED_NAMES && self.warned_names.insert(name)
                    {
                        tracing::warn!(
                            "host {host}: a remote connector with an invalid name is not shown: {}",
                            cut(&plain(&why), WARN_QUOTE_CHARS)
                        );
                    }
                }
            }
        }
        out
    }

    /// Keeps scrollbacks (and line numbers) of the connectors in `views` only, and makes one
    /// for each of them: a remote's log lines go nowhere else.
    fn keep_scrollbacks(&mut self, cap: usize, bytes: usize) {
        let names: HashSet<String> = self.views.iter().map(|v| v.name.clone()).collect();
        self.scrollbacks.retain(|n, _| names.contains(n));
        self.next_seq.retain(|n, _| names.contains(n));
        for name in names {
            self.scrollback(&name, cap, bytes);
        }
    }

    fn scrollback(&mut self, name: &str, cap: usize, bytes: usize) -> SharedScrollback {
        self.scrollbacks
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(Scrollback::new(cap, bytes))))
            .clone()
    }

    /// Appends the lines of `batch` this mirror does not have yet.
    /// Lines for a connector no snapshot or views message named are dropped: each name would
    /// otherwise cost a scrollback, without bound.
    fn apply(&mut self, name: &str, batch: &LogBatch) -> bool {
        let Some(sb) = self.scrollbacks.get(name).cloned() else {
            return false;
        };
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
                sb.push(cut_bytes(line, MAX_LOG_LINE_BYTES));
                added = true;
            }
        }
        let end = batch.first_seq + batch.lines.len() as u64;
        self.next_seq.insert(name.to_string(), end.max(next));
        added
    }
}

/// `line` cut to at most `max` bytes (at a character boundary).
fn cut_bytes(line: &str, max: usize) -> String {
    if line.len() <= max {
        return line.to_string();
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

/// Reads one line into `buf` (without its newline), keeping at most `max` bytes of it: the
/// rest of a longer line is read and dropped. False at the end of the stream with nothing read.
pub async fn read_line_bounded<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<bool> {
    buf.clear();
    let mut any = false;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(any);
        }
        any = true;
        let newline = chunk.iter().position(|&b| b == b'\n');
        let content = &chunk[..newline.unwrap_or(chunk.len())];
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(&content[..content.len().min(room)]);
        let used = newline.map(|i| i + 1).unwrap_or(chunk.len());
        r.consume(used);
        if newline.is_some() {
            return Ok(true);
        }
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
pub fn spawn_all(engine: &Fleet, hosts: &[HostSpec], console: &ConsoleSettings) -> Vec<HostLink> {
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

fn set(engine: &Fleet, name: &str, link: LinkState) {
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
async fn run(engine: Fleet, spec: HostSpec, cap: usize, bytes: usize, retry: Arc<Notify>) {
    let mut mirror = Mirror::default();
    let mut budget = RestartBudget::default();
    loop {
        set(
            &engine,
            &spec.name,
            LinkState::Connecting {
                since: unix_now(),
                command: cut(&plain(&spec.command), MAX_TEXT_CHARS),
            },
        );
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
        match budget.next(
            &spec.reconnect,
            Instant::now().into_std(),
            jitter,
            &last_error,
        ) {
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
    engine: &Fleet,
    spec: &HostSpec,
    mirror: &mut Mirror,
    cap: usize,
    bytes: usize,
) -> Option<(bool, String)> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(&spec.command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // The link's command (ssh, attach --stdio) gets no descriptor of the console's but 0-2.
    crate::engine::io::sys::inherit_only_stdio(&mut cmd);
    let mut child = match cmd.spawn() {
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
            let mut reader = BufReader::new(stderr);
            let mut buf = Vec::new();
            while let Ok(true) =
                read_line_bounded(&mut reader, &mut buf, MAX_STDERR_LINE_BYTES).await
            {
                let l = cut(&plain(String::from_utf8_lossy(&buf).trim()), MAX_TEXT_CHARS);
                if !l.is_empty() {
                    tracing::debug!("host {name}: {l}");
                    *last.lock().unwrap_or_else(|p| p.into_inner()) = l;
                }
            }
        })
    };
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<RemoteCommand>();
    engine.link_host(&spec.name, cmd_tx);
    let mut reader = LineReader::new(BufReader::new(stdout), MAX_LINE_BYTES);
    let mut connected = false;
    let mut next_id: u64 = 0;
    // Replies awaited, by request id: dropped unanswered (the waiter learns the link was lost)
    // when this connection ends.
    let mut pending: HashMap<u64, oneshot::Sender<ResponseBody>> = HashMap::new();
    let ended = loop {
        // LineReader::next is cancel safe: a partly read line stays in the reader.
        tokio::select! {
            read = reader.next() => match read {
                Ok(None) => break "the link closed".to_string(),
                Err(e) => break format!("reading the link failed: {e}"),
                Ok(Some(Frame::TooLong)) => break format!("a line over {MAX_LINE_BYTES} bytes"),
                Ok(Some(Frame::Line(line))) => {
                    match serde_json::from_slice::<StreamLine>(&line) {
                        Ok(msg) if msg.v == VERSION => {
                            if let StreamMessage::Snapshot { .. } = msg.msg {
                                if !connected {
                                    connected = true;
                                    tracing::info!("host {}: connected", spec.name);
                                    set(engine, &spec.name, LinkState::Connected);
                                }
                            }
                            match msg.msg {
                                StreamMessage::Reply { id: Some(id), reply }
                                    if id.as_u64().is_some_and(|n| pending.contains_key(&n)) =>
                                {
                                    if let Some(waiter) = id.as_u64().and_then(|n| pending.remove(&n)) {
                                        let _ = waiter.send(reply);
                                    }
                                }
                                other => on_message(engine, spec, mirror, other, cap, bytes),
                            }
                        }
                        Ok(msg) => break format!("the other side speaks protocol version {} (this one {VERSION}): install the same switchboard on both hosts", msg.v),
                        Err(e) => {
                            // Only the start of the line is decoded: it may be 16 MiB.
                            let head = &line[..line.len().min(4 * WARN_QUOTE_CHARS)];
                            let text = String::from_utf8_lossy(head);
                            mirror.warn.warn(&spec.name, &format!("not a message ({e}): {}", text.trim()));
                        }
                    }
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
                let out = encode(&value).unwrap_or_default();
                if let Err(e) = stdin.write_all(&out).await {
                    break format!("writing to the link failed: {e}");
                }
                pending.retain(|_, w| !w.is_closed());
                if let Some(waiter) = c.reply {
                    pending.insert(next_id, waiter);
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
    engine: &Fleet,
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
            let connectors = mirror.admit(&spec.name, connectors);
            mirror.views = hosted(spec, connectors);
            mirror.keep_scrollbacks(cap, bytes);
            for (name, batch) in &logs {
                mirror.apply(name, batch);
            }
            publish(engine, spec, mirror);
            engine.tell_log_activity();
        }
        StreamMessage::Views { connectors } => {
            let connectors = mirror.admit(&spec.name, connectors);
            let known = connectors.len() == mirror.views.len()
                && connectors
                    .iter()
                    .zip(&mirror.views)
                    .all(|(a, b)| a.name == b.name);
            mirror.views = hosted(spec, connectors);
            if !known {
                mirror.keep_scrollbacks(cap, bytes);
            }
            publish(engine, spec, mirror);
        }
        StreamMessage::Event(mut ev) => {
            // Only about connectors it showed, and in safe words.
            if !mirror.views.iter().any(|v| v.name == ev.id.name) {
                return;
            }
            match &mut ev.kind {
                EventKind::Transition { detail, .. } | EventKind::Health { detail, .. } => {
                    *detail = text(detail);
                }
                EventKind::Added | EventKind::Removed => {}
            }
            // The view follows the event at once (the next views message may be 200 ms
            // away): whoever sees the event and then reads the views finds them agreeing.
            if let EventKind::Transition {
                phase, pid, detail, ..
            } = &ev.kind
            {
                if let Some(v) = mirror.views.iter_mut().find(|v| v.name == ev.id.name) {
                    v.phase = *phase;
                    v.pid = *pid;
                    v.detail = detail.clone();
                    publish(engine, spec, mirror);
                }
            }
            ev.id.host = host_of(spec);
            engine.remote_event(ev);
        }
        StreamMessage::Logs { logs } => {
            let mut any = false;
            for (name, batch) in &logs {
                any |= mirror.apply(name, batch);
            }
            if any {
                engine.tell_log_activity();
            }
        }
        StreamMessage::Reply { reply, .. } => match reply {
            ResponseBody::Acted(o) if !o.ok => mirror.said.warn(&spec.name, &o.message),
            ResponseBody::Error { message, .. } => mirror.said.warn(&spec.name, &message),
            _ => {}
        },
        StreamMessage::Error { message, .. } => mirror.said.warn(&spec.name, &message),
    }
}

fn publish(engine: &Fleet, spec: &HostSpec, mirror: &Mirror) {
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
    use crate::config::connector::ConnectorType;

    fn batch(first: u64, lines: &[&str], skipped: u64) -> LogBatch {
        LogBatch {
            first_seq: first,
            lines: lines.iter().map(|s| s.to_string()).collect(),
            skipped,
        }
    }

    fn mirror_of(names: &[&str]) -> Mirror {
        let mut m = Mirror {
            views: names
                .iter()
                .map(|n| ConnectorView::new(*n, ConnectorType::BinanceFutures, 0.0))
                .collect(),
            ..Mirror::default()
        };
        m.keep_scrollbacks(100, 1 << 20);
        m
    }

    #[test]
    fn log_lines_for_a_name_no_snapshot_named_are_dropped() {
        let mut m = mirror_of(&["bf"]);
        for i in 0..1000 {
            assert!(!m.apply(&format!("u{i}"), &batch(0, &["x"], 0)));
        }
        assert!(m.apply("bf", &batch(0, &["a"], 0)));
        assert_eq!(m.scrollbacks.len(), 1);
        // A views message without `bf` drops its scrollback.
        m.views.clear();
        m.keep_scrollbacks(100, 1 << 20);
        assert!(m.scrollbacks.is_empty() && m.next_seq.is_empty());
    }

    #[test]
    fn remote_views_are_checked_clamped_and_cleaned() {
        let now = 1_795_000_000.0;
        let mut v = ConnectorView::new("bf", ConnectorType::BinanceFutures, 1e300);
        v.uptime_s = Some(1e300);
        v.countdown_s = Some(f64::NAN);
        v.cpu_pct = Some(-5.0);
        v.detail = format!("\u{1b}]0;title\u{7}\u{1b}[2Jok\n{}", "x".repeat(5000));
        let v = untrusted_view(v, now).expect("a valid name");
        assert_eq!(v.uptime_s, Some(MAX_REMOTE_SECS));
        assert_eq!(v.countdown_s, Some(0.0));
        assert_eq!(v.cpu_pct, Some(0.0));
        assert_eq!(v.as_of, now);
        assert!(v.detail.starts_with("ok"), "{:?}", &v.detail[..10]);
        assert!(!v.detail.chars().any(|c| c.is_control()));
        assert!(v.detail.chars().count() <= MAX_TEXT_CHARS + 1);
        for bad in ["bad\"\nname", "-opt", "a/b", "", "\u{1b}[2J"] {
            let v = ConnectorView::new(bad, ConnectorType::BinanceFutures, now);
            assert!(untrusted_view(v, now).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn invalid_and_repeated_names_are_dropped_each_warned_once() {
        let mut m = Mirror::default();
        let views = |names: &[&str]| {
            names
                .iter()
                .map(|n| ConnectorView::new(*n, ConnectorType::BinanceFutures, 0.0))
                .collect::<Vec<_>>()
        };
        let kept = m.admit("h", views(&["ok", "bad\"", "ok", "-x"]));
        assert_eq!(
            kept.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
            ["ok"]
        );
        m.admit("h", views(&["bad\""]));
        assert_eq!(m.warned_names.len(), 2);
        for i in 0..1000 {
            m.admit("h", views(&[&format!("bad{i}/")]));
        }
        assert_eq!(m.warned_names.len(), MAX_WARNED_NAMES);
    }

    #[test]
    fn warnings_are_rate_limited_and_say_how_many_were_held_back() {
        let mut w = WarnLimit::default();
        let t0 = Instant::now();
        assert_eq!(w.allow(t0), Some(0));
        for k in 1..100 {
            assert_eq!(w.allow(t0 + Duration::from_millis(k)), None);
        }
        assert_eq!(w.allow(t0 + WARN_INTERVAL), Some(99));
    }

    #[tokio::test]
    async fn a_line_without_end_is_read_within_its_bound() {
        let mut data = vec![b'e'; 5 << 20];
        data.extend_from_slice(b"\nshort\n");
        let mut r = BufReader::new(&data[..]);
        let mut buf = Vec::new();
        assert!(read_line_bounded(&mut r, &mut buf, 1024)
            .await
            .expect("read"));
        assert_eq!(buf.len(), 1024);
        assert!(buf.capacity() < 64 * 1024, "{}", buf.capacity());
        assert!(read_line_bounded(&mut r, &mut buf, 1024)
            .await
            .expect("read"));
        assert_eq!(buf, b"short");
        assert!(!read_line_bounded(&mut r, &mut buf, 1024)
            .await
            .expect("eof"));
    }

    #[test]
    fn a_resync_from_the_same_console_adds_no_line_twice() {
        let mut m = mirror_of(&["bf"]);
        m.apply("bf", &batch(0, &["a", "b", "c"], 0));
        m.apply("bf", &batch(3, &["d"], 0));
        // A reconnect: the snapshot repeats the last lines, then one new.
        m.apply("bf", &batch(1, &["b", "c", "d", "e"], 0));
        assert_eq!(lines_of(&m, "bf"), ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn skipped_lines_leave_one_marker() {
        let mut m = mirror_of(&["bf"]);
        m.apply("bf", &batch(0, &["a"], 0));
        m.apply("bf", &batch(900, &["z"], 899));
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
