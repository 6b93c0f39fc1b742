//! Connector logs. A connector's output reaches `<state_dir>/logs/<name>.log` through its log
//! relay (see [`crate::engine::io::relay`]), or straight from the child (O_APPEND) when embedded without one;
//! either way a slow or dead console can never block it. The console tails that file into a
//! bounded in-memory scrollback, writes marker lines, and (only without a relay) rotates it by
//! copy-and-truncate.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::machine::redact::mask_secrets;

/// Longest line kept in the scrollback; longer lines are cut (the file keeps them whole).
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// When the tailer opens an existing log, it reads at most this much of its end.
const INITIAL_TAIL_BYTES: u64 = 1024 * 1024;
/// Read size per syscall while catching up.
const READ_CHUNK: usize = 256 * 1024;
/// Most lines, and most bytes of lines, a tailer holds before it publishes them.
const MAX_BATCH_LINES: usize = 4096;
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Poll interval right after new output: batches reads (one read per interval, not per line).
const ACTIVE_POLL: Duration = Duration::from_millis(25);
/// Poll interval after a quiet spell (the interval doubles up to this). Once it is reached the
/// tailer sleeps on a one-shot inotify watch instead (see [`crate::engine::io::logwake`]), and polls at this
/// pace only where inotify is not available.
const IDLE_POLL: Duration = Duration::from_millis(1000);
/// Even with a watch armed, an idle tailer looks at its file this often (a safety net for
/// changes inotify does not report, e.g. on some network filesystems).
const IDLE_SAFETY: Duration = Duration::from_secs(60);

/// Path of a connector's log file.
pub fn log_path(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("logs").join(format!("{name}.log"))
}

/// Opens the log for appending (creating a private `logs/`), as the child's stdout and stderr:
/// 0600, never through a symlink (see [`crate::engine::io::private_fs`]).
pub fn open_for_child(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        super::private_fs::ensure_private_dir(dir)?;
    }
    super::private_fs::open_append(path)
}

/// Appends one `[switchboard <time>] text` marker line.
pub fn write_marker(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = open_for_child(path)?;
    let now = now_rfc3339();
    f.write_all(format!("[switchboard {now}] {text}\n").as_bytes())
}

/// Appends raw lines (e.g. cargo output) to the log.
pub fn append_lines(path: &Path, lines: &[String]) -> std::io::Result<()> {
    let mut f = open_for_child(path)?;
    let mut buf = String::new();
    for l in lines {
        buf.push_str(l);
        buf.push('\n');
    }
    f.write_all(buf.as_bytes())
}

// The wall clock's formats live in `clock.rs` (below everything that shows a time).
pub use crate::model::clock::{clock_time, now_rfc3339, rfc3339};

/// Copy-and-truncate rotation: `.log.(k-1)` → `.log.k`, …, `.log` copied to `.log.1`, then
/// `.log` truncated to zero. The child's O_APPEND descriptor keeps writing at the new end.
/// Lines written between the copy and the truncate are lost (as with logrotate's copytruncate).
pub fn rotate(path: &Path, keep: u32) -> std::io::Result<()> {
    let numbered = |k: u32| PathBuf::from(format!("{}.{k}", path.display()));
    if keep == 0 {
        return OpenOptions::new().write(true).open(path)?.set_len(0);
    }
    for k in (1..keep).rev() {
        let from = numbered(k);
        if from.exists() {
            std::fs::rename(&from, numbered(k + 1))?;
        }
    }
    // A planted `.log.1` symlink must not redirect the copy: remove whatever is there.
    match std::fs::remove_file(numbered(1)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::copy(path, numbered(1))?;
    OpenOptions::new().write(true).open(path)?.set_len(0)
}

/// What one kept line costs besides its text (the `String` header and allocator rounding).
const LINE_OVERHEAD: usize = std::mem::size_of::<String>() + 16;

/// The in-memory tail of one connector's log, bounded both in lines and in bytes.
#[derive(Debug)]
pub struct Scrollback {
    lines: VecDeque<String>,
    cap: usize,
    max_bytes: usize,
    /// Text plus per-line overhead of what is kept.
    bytes: usize,
    /// Lines ever appended (never decreases), so viewers can tell what is new.
    appended: u64,
}

impl Scrollback {
    /// Empty scrollback keeping at most `cap` lines and `max_bytes` bytes.
    pub fn new(cap: usize, max_bytes: usize) -> Scrollback {
        Scrollback {
            lines: VecDeque::with_capacity(cap.min(1024)),
            cap: cap.max(1),
            max_bytes,
            bytes: 0,
            appended: 0,
        }
    }

    /// Appends a line, dropping the oldest beyond either bound (the newest line is always kept).
    pub fn push(&mut self, line: String) {
        let cost = line.len() + LINE_OVERHEAD;
        while !self.lines.is_empty()
            && (self.lines.len() >= self.cap || self.bytes + cost > self.max_bytes)
        {
            if let Some(old) = self.lines.pop_front() {
                self.bytes -= old.len() + LINE_OVERHEAD;
            }
        }
        self.bytes += cost;
        self.lines.push_back(line);
        self.appended += 1;
    }

    /// Lines currently kept, oldest first.
    pub fn lines(&self) -> &VecDeque<String> {
        &self.lines
    }

    /// Number of lines ever appended.
    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// Bytes kept (text and per-line overhead).
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Shared handle to a scrollback.
pub type SharedScrollback = Arc<Mutex<Scrollback>>;

/// Splits a byte stream into lines, carrying incomplete ones across reads.
#[derive(Default)]
pub struct LineSplitter {
    carry: Vec<u8>,
    /// The line being carried grew past [`MAX_LINE_BYTES`] with escape sequences in it: the
    /// rest of it is kept without them (it shows as plain text anyway), so that an SGR flood
    /// cannot push the line's text past the cut.
    plain: Option<strip_ansi_escapes::Writer<Capped>>,
}

impl std::fmt::Debug for LineSplitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineSplitter")
            .field("carry", &self.carry.len())
            .field("plain", &self.plain.is_some())
            .finish()
    }
}

/// Bytes written past [`MAX_LINE_BYTES`] are dropped.
#[derive(Default)]
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = MAX_LINE_BYTES.saturating_sub(self.0.len());
        self.0.extend_from_slice(&buf[..buf.len().min(room)]);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LineSplitter {
    /// Feeds bytes; calls `out` for each complete line (without the newline, lossy UTF-8, cut at
    /// [`MAX_LINE_BYTES`]; a longer line with escape sequences loses them instead of its text).
    pub fn feed(&mut self, mut bytes: &[u8], mut out: impl FnMut(String)) {
        while let Some(i) = memchr(b'\n', bytes) {
            let line = &bytes[..i];
            if self.carry.is_empty()
                && self.plain.is_none()
                && (line.len() <= MAX_LINE_BYTES || memchr(0x1b, line).is_none())
            {
                out(to_line(line));
            } else {
                self.carry_part(line);
                out(self.take_line());
            }
            bytes = &bytes[i + 1..];
        }
        self.carry_part(bytes);
    }

    /// Adds `part` to the line being carried.
    fn carry_part(&mut self, part: &[u8]) {
        use std::io::Write;
        if let Some(w) = &mut self.plain {
            let _ = w.write_all(part);
            return;
        }
        if self.carry.len() + part.len() <= MAX_LINE_BYTES {
            self.carry.extend_from_slice(part);
        } else if memchr(0x1b, &self.carry).is_some() || memchr(0x1b, part).is_some() {
            let mut w = strip_ansi_escapes::Writer::new(Capped::default());
            let _ = w.write_all(&self.carry);
            let _ = w.write_all(part);
            self.carry.clear();
            self.plain = Some(w);
        } else {
            let room = MAX_LINE_BYTES.saturating_sub(self.carry.len());
            self.carry.extend_from_slice(&part[..part.len().min(room)]);
        }
    }

    /// The line carried so far, and a fresh start.
    fn take_line(&mut self) -> String {
        match self.plain.take() {
            Some(w) => match w.into_inner() {
                Ok(capped) => to_line(&capped.0),
                Err(_) => String::new(),
            },
            None => {
                let line = to_line(&self.carry);
                self.carry.clear();
                line
            }
        }
    }

    /// Drops a partial line (after truncation).
    pub fn reset(&mut self) {
        self.carry.clear();
        self.plain = None;
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    memchr::memchr(needle, hay)
}

fn to_line(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(MAX_LINE_BYTES)];
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    // Valid UTF-8 (nearly every line) takes the validator's ASCII fast path; the lossy
    // conversion walks byte by byte (a third of the console's CPU in a log flood).
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// What a process's last output says: its last meaningful line, whether it shows the SendError
/// panic of a normal stop, and a crash a request caused.
pub type ExitSummary = (
    Option<String>,
    bool,
    Option<crate::wire::hftbacktest::RequestCrash>,
);

/// Reads the last meaningful line of a log file for an exit's `detail` (whole and unmasked: pass
/// it through [`crate::machine::redact::for_display`]), whether the output after the last start shows the
/// `SendError` panic, and whether a request ended it (named in the line then).
pub fn exit_summary(path: &Path, name: &str) -> ExitSummary {
    let Ok(mut f) = File::open(path) else {
        return (None, false, None);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(64 * 1024);
    if f.seek(SeekFrom::Start(from)).is_err() {
        return (None, false, None);
    }
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return (None, false, None);
    }
    let text = String::from_utf8_lossy(&buf);
    let since_start = match text.rfind("[switchboard ") {
        Some(_) => text
            .rsplit_once("] start:")
            .map(|(_, after)| after)
            .unwrap_or(&text),
        None => &text,
    };
    // A crash a request caused is named as such (issue #27), never read as a normal stop.
    if let Some(crash) = crate::wire::hftbacktest::request_crash(since_start) {
        return (Some(crash.explain(name)), false, Some(crash));
    }
    let send_error = since_start.contains("SendError");
    let lines: Vec<&str> = since_start
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("[switchboard "))
        .collect();
    let recent = lines.len().saturating_sub(20);
    let pick = (recent..lines.len())
        .rev()
        .find(|&i| {
            let s = strip_ansi(lines[i]);
            s.contains("panicked")
                || s.contains("ERROR")
                || s.starts_with("Error")
                || s.contains("error:")
        })
        .or_else(|| lines.len().checked_sub(1))
        .map(|i| {
            let line = strip_ansi(lines[i]);
            // Rust prints `thread 'main' panicked at src/x.rs:1:2:` and the message on the next
            // line: the message is what the operator needs.
            match lines.get(i + 1) {
                Some(next) if line.contains("panicked at") && line.ends_with(':') => {
                    format!("{line} {}", strip_ansi(next))
                }
                _ => line,
            }
        });
    // Whole: masking comes before any cut (see `redact::for_display`).
    (pick, send_error, None)
}

/// Removes terminal escape sequences (CSI, OSC, …) and control characters, for one-line
/// summaries and plain-text output. `strip-ansi-escapes` parses with `vte`, a full terminal
/// state machine, where a hand-written stripper knew only CSI.
pub fn strip_ansi(s: &str) -> String {
    strip_ansi_escapes::strip_str(s)
}

/// Where the tailer is in its file.
#[derive(Default)]
struct Cursor {
    file: Option<File>,
    inode: Option<u64>,
    offset: u64,
    skip_partial: bool,
    splitter: LineSplitter,
    /// The first look is history (what a previous run wrote): shown, not counted.
    looked: bool,
}

/// ERROR and WARN lines (and panics) found in one read of a connector's log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LevelBatch {
    /// ERROR lines and panics.
    pub errors: u32,
    pub warns: u32,
    /// The last of the error lines: ANSI removed, secrets masked, cut for display.
    pub last_error: Option<String>,
    /// ERROR lines saying the exchange stream failed (the connector is reconnecting).
    pub stream_errors: u32,
}

/// Secret values to mask, shared between the engine and a tailer (a reload can add some).
pub type Secrets = Arc<std::sync::RwLock<Vec<String>>>;

/// Called with what each read found (only when it found something).
pub type OnLevels = Box<dyn Fn(LevelBatch) + Send + Sync>;

/// Tails one log file into a scrollback. Rotates the file past `max_bytes`.
///
/// It polls with an adaptive interval instead of waking on inotify: an inotify watch makes the
/// kernel queue an event on every write of the connector (measured: the child 2.2× slower than
/// writing to an unwatched file) and woke the tailer once per line (2.25 µs of console CPU per
/// line). Polling every 25 ms while output flows batches thousands of lines per read; when quiet
/// the interval grows to 1 s, a stat() per connector.
pub struct Tailer {
    pub path: PathBuf,
    pub scrollback: SharedScrollback,
    /// Masked in every line; shared with the engine, which adds a reloaded config's secrets.
    pub secrets: Secrets,
    pub max_bytes: u64,
    pub keep: u32,
    /// Rotate the file here (copy-and-truncate). False when a log relay owns the file and
    /// rotates it by renaming: the tailer then only follows the renames.
    pub rotate: bool,
    /// Told the ERROR/WARN counts of new lines (not of what was there at the first look).
    pub on_levels: Option<OnLevels>,
    /// Wakes the tailer when its idle file changes; None: poll once a second when idle.
    pub waker: Option<Arc<super::logwake::LogWaker>>,
    /// Told after lines were appended to the scrollback (viewers redraw on it).
    pub activity: Option<Arc<tokio::sync::Notify>>,
}

impl Tailer {
    /// Runs until the task is aborted.
    pub async fn run(self) {
        let mut cursor = Cursor::default();
        let mut buf = vec![0u8; READ_CHUNK];
        let mut interval = ACTIVE_POLL;
        let wake = Arc::new(tokio::sync::Notify::new());
        loop {
            let before = cursor.offset;
            let inode = cursor.inode;
            if self.catch_up(&mut cursor, &mut buf) {
                // Rotation copies the whole file: never on the async workers.
                let (path, keep) = (self.path.clone(), self.keep);
                match tokio::task::spawn_blocking(move || rotate(&path, keep)).await {
                    Ok(Ok(())) => {
                        cursor.offset = 0;
                        cursor.splitter.reset();
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(path = %self.path.display(), "log rotation failed: {e}")
                    }
                    Err(e) => tracing::warn!(path = %self.path.display(), "log rotation: {e}"),
                }
            }
            interval = if cursor.offset != before || cursor.inode != inode {
                ACTIVE_POLL
            } else {
                (interval * 2).min(IDLE_POLL)
            };
            if interval == IDLE_POLL {
                if let Some(waker) = &self.waker {
                    if waker.arm(&self.path, &wake) {
                        // Whatever came between the last read and the watch is read now.
                        if !self.has_news(&cursor) {
                            tokio::select! {
                                _ = wake.notified() => {}
                                _ = tokio::time::sleep(IDLE_SAFETY) => {}
                            }
                        }
                        interval = ACTIVE_POLL;
                        continue;
                    }
                }
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// True when the file at `path` is not where the cursor left it (grown, shrunk, replaced,
    /// appeared or gone).
    fn has_news(&self, cur: &Cursor) -> bool {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(&self.path) {
            Ok(m) => cur.file.is_none() || Some(m.ino()) != cur.inode || m.len() != cur.offset,
            Err(_) => cur.file.is_some(),
        }
    }

    /// Reads whatever is new; returns true when the file has grown past `max_bytes` and must be
    /// rotated. Reads of a local file return what is there without waiting for writers, so
    /// they stay on the async task. The file stays open between calls.
    fn catch_up(&self, cur: &mut Cursor, buf: &mut [u8]) -> bool {
        use std::os::unix::fs::MetadataExt;
        let on_disk = std::fs::metadata(&self.path).ok().map(|m| m.ino());
        if on_disk.is_none() {
            // Renamed away and not yet replaced: keep what is left of it, then let go.
            self.read_rest(cur, buf);
            cur.file = None;
            cur.looked = true;
            return false;
        }
        if cur.file.is_some() && cur.inode != on_disk {
            // Renamed away (a relay rotated it): what is left of the old file comes first.
            self.read_rest(cur, buf);
        }
        if cur.file.is_none() || cur.inode != on_disk {
            let Ok(f) = File::open(&self.path) else {
                return false;
            };
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            // A file seen for the first time: start near its end, on a line boundary.
            cur.offset = if cur.inode.is_none() {
                len.saturating_sub(INITIAL_TAIL_BYTES)
            } else {
                0
            };
            cur.skip_partial = cur.offset > 0;
            cur.splitter.reset();
            cur.file = Some(f);
            cur.inode = on_disk;
        }
        let Some(mut f) = cur.file.take() else {
            return false;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < cur.offset {
            // Truncated (rotated by us or by someone else): start over.
            cur.offset = 0;
            cur.skip_partial = false;
            cur.splitter.reset();
        }
        if len != cur.offset {
            self.drain(&mut f, cur, buf);
        }
        cur.file = Some(f);
        cur.looked = true;
        self.rotate && cur.offset > self.max_bytes
    }

    /// Reads what is left of the open file (it was renamed away; nothing more will be written
    /// to it).
    fn read_rest(&self, cur: &mut Cursor, buf: &mut [u8]) {
        if let Some(mut f) = cur.file.take() {
            self.drain(&mut f, cur, buf);
            cur.file = Some(f);
        }
    }

    /// Reads `f` from `cur.offset` to its end into the scrollback, in batches.
    fn drain(&self, f: &mut File, cur: &mut Cursor, buf: &mut [u8]) {
        if f.seek(SeekFrom::Start(cur.offset)).is_err() {
            return;
        }
        let mut batch: Vec<String> = Vec::new();
        let mut batch_bytes = 0;
        loop {
            let n = match f.read(buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            cur.offset += n as u64;
            let mut chunk = &buf[..n];
            if cur.skip_partial {
                // Drop the partial first line when starting mid-file.
                match memchr(b'\n', chunk) {
                    Some(i) => {
                        chunk = &chunk[i + 1..];
                        cur.skip_partial = false;
                    }
                    None => continue,
                }
            }
            // Bounded by bytes too: 4096 lines of 16 KiB would hold 64 MiB at once.
            let looked = cur.looked;
            cur.splitter.feed(chunk, |l| {
                batch_bytes += l.len();
                batch.push(l);
                if batch.len() >= MAX_BATCH_LINES || batch_bytes >= MAX_BATCH_BYTES {
                    self.publish(&mut batch, looked);
                    batch_bytes = 0;
                }
            });
        }
        self.publish(&mut batch, cur.looked);
    }

    /// Counts the levels of new lines and tells `on_levels`.
    fn count_levels(&self, batch: &[String]) {
        let Some(tell) = &self.on_levels else {
            return;
        };
        let mut found = LevelBatch::default();
        let mut last: Option<&str> = None;
        for line in batch {
            match crate::machine::levels::level_of(line) {
                level @ (crate::machine::levels::Level::Error
                | crate::machine::levels::Level::Panic) => {
                    found.errors += 1;
                    if level == crate::machine::levels::Level::Error
                        && crate::wire::hftbacktest::is_stream_error_line(line)
                    {
                        found.stream_errors += 1;
                    }
                    last = Some(line);
                }
                crate::machine::levels::Level::Warn => found.warns += 1,
                crate::machine::levels::Level::Other | crate::machine::levels::Level::None => {}
            }
        }
        if found.errors == 0 && found.warns == 0 {
            return;
        }
        let secrets = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        found.last_error = last.map(|l| {
            crate::machine::redact::for_display(
                l,
                &secrets,
                crate::machine::redact::SUMMARY_MAX_CHARS,
            )
        });
        drop(secrets);
        tell(found);
    }

    fn publish(&self, batch: &mut Vec<String>, count: bool) {
        if batch.is_empty() {
            return;
        }
        if count {
            self.count_levels(batch);
        }
        let mut sb = match self.scrollback.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Only the last `cap` lines of a big batch can survive: skip the rest cheaply.
        let skip = batch.len().saturating_sub(sb.cap);
        sb.appended += skip as u64;
        let secrets = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        for line in batch.drain(..).skip(skip) {
            if secrets.is_empty() {
                sb.push(line);
            } else {
                sb.push(mask_secrets(&line, &secrets));
            }
        }
        drop(secrets);
        drop(sb);
        if let Some(a) = &self.activity {
            a.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_idle_tailer_sleeps_on_inotify_and_wakes_on_the_next_line() {
        let d = tempfile::tempdir().expect("tmp");
        let path = d.path().join("a.log");
        let sb: SharedScrollback = Arc::new(Mutex::new(Scrollback::new(100, 1 << 20)));
        let levels = Arc::new(Mutex::new(Vec::new()));
        let seen = levels.clone();
        let tailer = tokio::spawn(
            Tailer {
                path: path.clone(),
                scrollback: sb.clone(),
                secrets: Arc::new(std::sync::RwLock::new(vec!["hunter2".into()])),
                max_bytes: 1 << 20,
                keep: 2,
                rotate: false,
                on_levels: Some(Box::new(move |b| seen.lock().expect("lock").push(b))),
                // With a waker the idle tailer never polls (60 s safety net): a missed wake
                // would fail the 10 s waits below.
                waker: Some(super::super::logwake::LogWaker::start().expect("inotify")),
                activity: None,
            }
            .run(),
        );
        let lines = |sb: &SharedScrollback| sb.lock().expect("lock").lines().len();
        let wait_for = |n: usize| {
            let sb = sb.clone();
            async move {
                tokio::time::timeout(std::time::Duration::from_secs(10), async {
                    while lines(&sb) < n {
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                })
                .await
                .is_ok()
            }
        };
        // The file appears after the tailer went idle on its (missing) path.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        append_lines(&path, &["2026-11-23T05:00:00Z  INFO c: first".into()]).expect("write");
        assert!(wait_for(1).await, "the creation woke it");
        // Idle again (past the poll back-off), then an ERROR line: woken by the watch, well
        // before the 60 s safety net.
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        append_lines(
            &path,
            &["2026-11-23T05:00:03Z ERROR c: stream failed, key hunter2".into()],
        )
        .expect("write");
        assert!(wait_for(2).await, "the write woke it");
        let got = levels.lock().expect("lock").clone();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((got[0].errors, got[0].warns), (1, 0));
        let last = got[0].last_error.clone().unwrap_or_default();
        assert!(
            last.contains("stream failed") && !last.contains("hunter2"),
            "{last}"
        );
        tailer.abort();
    }

    /// Issue #22 item 13: a burst of long lines is published in batches bounded by bytes, not
    /// only by lines (4096 lines of 16 KiB held 64 MiB at once).
    #[test]
    fn a_burst_of_long_lines_is_batched_by_bytes() {
        let d = tempfile::tempdir().expect("tmp");
        let path = d.path().join("a.log");
        let line = format!("2026-11-23T05:00:00Z ERROR c: {}", "x".repeat(16_000));
        let lines = vec![line.clone(); 600];
        append_lines(&path, &lines).expect("write");
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let tailer = Tailer {
            path: path.clone(),
            scrollback: Arc::new(Mutex::new(Scrollback::new(10_000, 1 << 20))),
            secrets: Arc::new(std::sync::RwLock::new(Vec::new())),
            max_bytes: 1 << 30,
            keep: 2,
            rotate: false,
            on_levels: Some(Box::new(move |b| seen.lock().expect("lock").push(b.errors))),
            waker: None,
            activity: None,
        };
        let mut cur = Cursor {
            looked: true,
            ..Cursor::default()
        };
        let mut f = File::open(&path).expect("open");
        tailer.drain(&mut f, &mut cur, &mut vec![0u8; READ_CHUNK]);
        let batches = batches.lock().expect("lock").clone();
        assert_eq!(batches.iter().sum::<u32>(), 600, "{batches:?}");
        let largest = *batches.iter().max().expect("a batch") as usize * (line.len() + 1);
        assert!(
            largest <= MAX_BATCH_BYTES + MAX_LINE_BYTES,
            "a batch of {largest} bytes: {batches:?}"
        );
    }

    #[test]
    fn splitter_carries_partial_lines_and_bad_utf8() {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        s.feed(b"ab", |l| out.push(l));
        s.feed(b"c\r\nd\xffe\nf", |l| out.push(l));
        assert_eq!(out, vec!["abc".to_string(), "d\u{fffd}e".to_string()]);
    }

    #[test]
    fn scrollback_is_bounded_in_bytes_too() {
        // 16 KiB lines: a line bound alone would keep 10000 of them (160 MiB).
        let mut sb = Scrollback::new(10_000, 1024 * 1024);
        for i in 0..1000 {
            sb.push(format!("{i:05}{}", "x".repeat(16 * 1024)));
        }
        assert!(sb.bytes() <= 1024 * 1024, "{}", sb.bytes());
        assert!(sb.lines().len() < 64, "{}", sb.lines().len());
        assert!(sb.lines().back().is_some_and(|l| l.starts_with("00999")));
        assert_eq!(sb.appended(), 1000);
    }

    #[test]
    fn scrollback_is_bounded() {
        let mut sb = Scrollback::new(3, 1024 * 1024);
        for i in 0..10 {
            sb.push(i.to_string());
        }
        assert_eq!(
            sb.lines().iter().cloned().collect::<Vec<_>>(),
            ["7", "8", "9"]
        );
        assert_eq!(sb.appended(), 10);
    }

    #[test]
    fn rotation_keeps_n_files() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("x.log");
        for round in 0..4 {
            std::fs::write(&p, format!("round {round}\n")).expect("w");
            rotate(&p, 2).expect("rotate");
        }
        assert_eq!(std::fs::read_to_string(&p).expect("r"), "");
        assert_eq!(
            std::fs::read_to_string(d.path().join("x.log.1")).expect("r"),
            "round 3\n"
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join("x.log.2")).expect("r"),
            "round 2\n"
        );
        assert!(!d.path().join("x.log.3").exists());
    }

    #[test]
    fn exit_summary_prefers_panics_after_last_start() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("x.log");
        std::fs::write(
            &p,
            "old SendError\n[switchboard t] start: pid 1\nINFO hello\nthread 'main' panicked at x: boom\nnote: run with RUST_BACKTRACE\n",
        )
        .expect("w");
        let (line, send, _) = exit_summary(&p, "x");
        assert_eq!(line.as_deref(), Some("thread 'main' panicked at x: boom"));
        // Rust ≥ 1.73 puts the message on the line after `panicked at …:`.
        std::fs::write(
            &p,
            "[switchboard t] start: pid 1\nthread 'main' panicked at connector/src/main.rs:32:58:\ncalled `Result::unwrap()` on an `Err` value: Config(missing field `api_url`)\nnote: run with `RUST_BACKTRACE=1`\n",
        )
        .expect("w");
        let (line, _, _) = exit_summary(&p, "x");
        assert_eq!(
            line.as_deref(),
            Some("thread 'main' panicked at connector/src/main.rs:32:58: called `Result::unwrap()` on an `Err` value: Config(missing field `api_url`)")
        );
        assert!(!send, "SendError before the last start must not count");
    }

    #[test]
    fn unix_time_formats() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_000_000.123), "2026-11-18T11:06:40.123Z");
        assert_eq!(rfc3339(f64::NAN), "?");
        assert_eq!(rfc3339(1e300), "?");
    }

    #[test]
    fn escapes_of_every_kind_are_stripped() {
        assert_eq!(strip_ansi("\u{1b}[31mERROR\u{1b}[0m x"), "ERROR x");
        // OSC (window title) and a bare BEL: the old CSI-only stripper let these through.
        assert_eq!(strip_ansi("a\u{1b}]0;title\u{7}b\u{7}c"), "abc");
    }
}

/// Text for one log file, with its number in the writer's queue.
type QueuedLines = (PathBuf, String, u64);

/// Appends the console's own lines (markers, cargo output) to connector logs on a thread of its
/// own, so that the engine actor never opens or writes a file: it queues the line and goes on.
/// Lines are written in the order they were queued; each gets a number, and
/// [`LogWriter::written`] tells how far the thread has got, so that an event about a line
/// (a transition after its marker) can be published only once the line is in the file.
/// The thread ends when the last clone is dropped.
#[derive(Clone)]
pub struct LogWriter {
    /// The number of the last line queued, and the way to the thread.
    queue: Arc<Mutex<(u64, std::sync::mpsc::Sender<QueuedLines>)>>,
    written: tokio::sync::watch::Receiver<u64>,
}

impl LogWriter {
    /// Starts the writer thread.
    pub fn start() -> std::io::Result<LogWriter> {
        let (tx, rx) = std::sync::mpsc::channel::<QueuedLines>();
        let (done_tx, written) = tokio::sync::watch::channel(0u64);
        std::thread::Builder::new()
            .name("switchboard-logs".into())
            .spawn(move || {
                while let Ok((path, text, n)) = rx.recv() {
                    if let Err(e) =
                        open_for_child(&path).and_then(|mut f| f.write_all(text.as_bytes()))
                    {
                        tracing::warn!("cannot write to the log {}: {e}", path.display());
                    }
                    done_tx.send_replace(n);
                }
            })?;
        Ok(LogWriter {
            queue: Arc::new(Mutex::new((0, tx))),
            written,
        })
    }

    fn queue(&self, path: &Path, text: String) -> u64 {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.0 += 1;
        let n = q.0;
        // The thread ends only when every sender is gone: a send cannot fail while we hold one.
        let _ = q.1.send((path.to_path_buf(), text, n));
        n
    }

    /// Queues a marker line `[switchboard <now>] text` (timed now, not when written); its number.
    pub fn marker(&self, path: &Path, text: &str) -> u64 {
        let now = now_rfc3339();
        self.queue(path, format!("[switchboard {now}] {text}\n"))
    }

    /// Queues raw lines (cargo output); their number.
    pub fn lines(&self, path: &Path, lines: &[String]) -> u64 {
        let mut buf = String::new();
        for l in lines {
            buf.push_str(l);
            buf.push('\n');
        }
        self.queue(path, buf)
    }

    /// The number of the last line queued.
    pub fn queued(&self) -> u64 {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// The number of the last line written (or given up on).
    pub fn written(&self) -> tokio::sync::watch::Receiver<u64> {
        self.written.clone()
    }

    /// Waits (bounded by `patience`) until line `n` and all before it are written.
    pub async fn wait_written(&self, n: u64, patience: Duration) {
        let mut w = self.written();
        let _ = tokio::time::timeout(patience, w.wait_for(|d| *d >= n)).await;
    }
}

/// The console's marker lines into one connector's log, through a descriptor opened once (not
/// an open, a private-directory check and a close per line on the engine actor): one append
/// write of a short line into the page cache. Opened again after a failed write, and when a
/// new process starts ([`MarkerFile::reopen`]), so a deleted log is created again.
#[derive(Default)]
pub struct MarkerFile {
    file: Option<File>,
}

impl MarkerFile {
    /// Appends one `[switchboard <time>] text` marker line to `path`.
    pub fn write(&mut self, path: &Path, text: &str) -> std::io::Result<()> {
        let now = now_rfc3339();
        let line = format!("[switchboard {now}] {text}\n");
        if let Some(f) = &mut self.file {
            if f.write_all(line.as_bytes()).is_ok() {
                return Ok(());
            }
        }
        self.file = None;
        let mut f = open_for_child(path)?;
        f.write_all(line.as_bytes())?;
        self.file = Some(f);
        Ok(())
    }

    /// Forgets the descriptor: the next line opens the log again.
    pub fn reopen(&mut self) {
        self.file = None;
    }
}
