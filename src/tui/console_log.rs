//! The console's own log (`L`): tracing's fmt output, one line per event, kept in a scrollback
//! like a connector's, so the pane scrolls, searches, filters and copies the same way. The lines
//! have tracing's usual shape (`2026-11-30T18:25:22.123456Z  WARN message`), so levels, the
//! timestamp modes and the `e` filter read them as they read a connector's.
//!
//! Which events are kept is a reloadable filter whose per-target levels the operator changes at
//! run time with `V` (see [`crate::tui::log_targets`]). Every kept line is also appended to
//! `<state_dir>/logs/console.log` once the console owns its state dir ([`write_to_file`]), rotated
//! by the same `log_max_bytes`/`log_keep` as the connectors' logs, so warnings outlive the TUI.
//! Configured secrets are masked in both. Lines the scrollback drops are counted ([`dropped`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;
use tracing_subscriber::fmt::MakeWriter;

use crate::engine::io::logs::{Scrollback, SharedScrollback};

/// Lines kept (the oldest go first).
const LINES: usize = 5_000;
/// Bytes kept.
const BYTES: usize = 2 << 20;

/// Where the console's log lines go, and the signal that one arrived.
#[derive(Clone)]
pub struct ConsoleLog {
    pub lines: SharedScrollback,
    /// Notified after each line, so a shown log is redrawn without polling.
    pub activity: Arc<Notify>,
}

static LOG: OnceLock<ConsoleLog> = OnceLock::new();

/// The console log of this process (one: tracing's subscriber is global).
pub fn get() -> &'static ConsoleLog {
    LOG.get_or_init(|| ConsoleLog {
        lines: Arc::new(Mutex::new(Scrollback::new(LINES, BYTES))),
        activity: Arc::new(Notify::new()),
    })
}

pub use super::log_targets::DEFAULT_FILTER;

/// The base filter: `SWITCHBOARD_LOG` when it parses, else [`DEFAULT_FILTER`].
fn base_filter() -> String {
    std::env::var("SWITCHBOARD_LOG")
        .ok()
        .filter(|v| tracing_subscriber::EnvFilter::try_new(v).is_ok())
        .unwrap_or_else(|| DEFAULT_FILTER.to_string())
}

/// The console log's layer (fmt lines into [`get`]'s scrollback, each event's target noted for
/// the target selector) behind a reloadable filter, which [`crate::tui::log_targets`] is given.
fn console_layer<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::{reload, EnvFilter, Layer};
    let base = base_filter();
    let filter = EnvFilter::try_new(&base).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let (filter, handle) = reload::Layer::new(filter);
    super::log_targets::install(
        &base,
        Box::new(move |directives: &str| {
            let f = EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
            handle.reload(f).map_err(|e| e.to_string())
        }),
    );
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(false)
        .with_writer(Sink)
        .and_then(super::log_targets::Seen)
        .with_filter(filter)
}

/// Installs the subscriber that fills [`get`]'s scrollback (the TUI).
pub fn init() {
    use tracing_subscriber::prelude::*;
    let _ = tracing_subscriber::registry()
        .with(console_layer())
        .try_init();
}

/// Installs the subscriber of `run --headless`: WARN and above on stderr (coloured only on a
/// terminal and never with `NO_COLOR`; `SWITCHBOARD_LOG` overrides), and the console log as in
/// the TUI, for `console.log`.
pub fn init_headless() {
    use std::io::IsTerminal;
    use tracing_subscriber::prelude::*;
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal())
        .with_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,iceoryx2=error")),
        );
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(console_layer())
        .try_init();
}

/// Lines dropped so far from the in-memory console log (the oldest go first when it is full;
/// `console.log` keeps them).
pub fn dropped() -> u64 {
    dropped_from(&get().lines.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Lines `s` no longer holds of those ever pushed.
pub fn dropped_from(s: &Scrollback) -> u64 {
    s.appended().saturating_sub(s.lines().len() as u64)
}

/// `console.log`, open for appending, and when to rotate it.
struct LogFile {
    path: PathBuf,
    file: std::fs::File,
    /// Bytes in the file now.
    len: u64,
    max_bytes: u64,
    keep: u32,
}

impl LogFile {
    fn open(path: PathBuf, max_bytes: u64, keep: u32) -> std::io::Result<LogFile> {
        let file = crate::engine::io::logs::open_for_child(&path)?;
        let len = file.metadata()?.len();
        Ok(LogFile {
            path,
            file,
            len,
            max_bytes,
            keep,
        })
    }

    /// Appends `lines` (already masked), rotating first when the file is over its size. The
    /// console is the file's only writer, so it rotates by renaming (`.log` → `.log.1`, …, as
    /// many as the connectors' logs keep) and reopens: no copy on the logging thread.
    fn append(&mut self, lines: &[String]) -> std::io::Result<()> {
        if self.len > self.max_bytes {
            self.rotate()?;
        }
        let mut buf = String::new();
        for l in lines {
            buf.push_str(l);
            buf.push('\n');
        }
        self.file.write_all(buf.as_bytes())?;
        self.len += buf.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |k: u32| PathBuf::from(format!("{}.{k}", self.path.display()));
        if self.keep == 0 {
            self.file.set_len(0)?;
        } else {
            for k in (1..self.keep).rev() {
                let from = numbered(k);
                if from.exists() {
                    std::fs::rename(&from, numbered(k + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(1))?;
            self.file = crate::engine::io::logs::open_for_child(&self.path)?;
        }
        self.len = 0;
        Ok(())
    }
}

/// `console.log` once [`write_to_file`] was called (the console owns its state dir).
static FILE: Mutex<Option<LogFile>> = Mutex::new(None);

/// Path of the console's own log file in `state_dir`.
pub fn file_path(state_dir: &Path) -> PathBuf {
    state_dir.join("logs").join("console.log")
}

/// From now on every console log line is masked with `secrets` and appended to
/// `<state_dir>/logs/console.log` (0600, in the private `logs/`), rotated past `max_bytes` keeping
/// `keep` old files, as connector logs are. The lines kept so far are written first, so what was
/// said while the console started is there too.
pub fn write_to_file(
    state_dir: &Path,
    max_bytes: u64,
    keep: u32,
    secrets: Vec<String>,
) -> std::io::Result<()> {
    crate::machine::redact::add_console_secrets(secrets);
    let mut file = LogFile::open(file_path(state_dir), max_bytes, keep)?;
    let mut slot = FILE.lock().unwrap_or_else(|p| p.into_inner());
    let so_far: Vec<String> = {
        let g = get().lines.lock().unwrap_or_else(|p| p.into_inner());
        g.lines()
            .iter()
            .map(|l| crate::machine::redact::mask_console_secrets(l))
            .collect()
    };
    file.append(&so_far)?;
    *slot = Some(file);
    Ok(())
}

/// [`write_to_file`] with the manifest's state dir, log rotation and every connector's secrets;
/// a failure is said in the console log (the pane still has the lines).
pub fn write_to_file_for(manifest: &crate::config::manifest::Manifest) {
    let secrets = secrets_of(manifest);
    let c = &manifest.console;
    if let Err(e) = write_to_file(&c.state_dir, c.log_max_bytes, c.log_keep, secrets) {
        tracing::warn!(
            "cannot write the console's log to {}: {e}; it is kept in memory only",
            file_path(&c.state_dir).display()
        );
    }
}

/// Every connector's secrets in `manifest`.
fn secrets_of(manifest: &crate::config::manifest::Manifest) -> Vec<String> {
    manifest
        .connectors
        .iter()
        .flat_map(|c| c.secrets.iter().cloned())
        .collect()
}

/// Masks `manifest`'s secrets in the console log's lines from now on (called as soon as the
/// manifest is loaded, before the console starts, so its first lines are masked too; a reload
/// adds its own, see `reload.rs`).
pub fn mask_for(manifest: &crate::config::manifest::Manifest) {
    crate::machine::redact::add_console_secrets(secrets_of(manifest));
}

/// Stops writing `console.log` (a console that detaches or quits closes it).
pub fn close_file() {
    *FILE.lock().unwrap_or_else(|p| p.into_inner()) = None;
}

/// Makes one [`Line`] per event.
struct Sink;

impl<'a> MakeWriter<'a> for Sink {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line(Vec::with_capacity(128))
    }
}

/// One event's formatted bytes; pushed to the scrollback when the event is written.
struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let lines: Vec<String> = {
            String::from_utf8_lossy(&self.0)
                .lines()
                .map(crate::machine::redact::mask_console_secrets)
                .collect()
        };
        // The file first, under its lock, so lines reach it in the order they reach the pane.
        {
            let mut file = FILE.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(f) = file.as_mut() {
                if f.append(&lines).is_err() {
                    // A full disk or a removed state dir: the pane still has the lines; writing
                    // is given up rather than retried on every event.
                    *file = None;
                }
            }
        }
        let log = get();
        {
            let mut g = log.lines.lock().unwrap_or_else(|p| p.into_inner());
            for line in lines {
                g.push(line);
            }
        }
        log.activity.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests that write to the process's console log take turns (they count its lines).
    static TURN: Mutex<()> = Mutex::new(());

    #[test]
    fn a_written_event_becomes_lines_with_a_level_and_wakes_the_view() {
        let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        let log = get();
        let before = log.lines.lock().expect("log").appended();
        {
            let mut w = Sink.make_writer();
            w.write_all(b"2026-11-30T18:25:22.123456Z  WARN first\nsecond line\n")
                .expect("write");
        }
        let g = log.lines.lock().expect("log");
        assert_eq!(g.appended(), before + 2);
        let last: Vec<&String> = g.lines().iter().rev().take(2).collect();
        assert_eq!(last[0], "second line");
        assert_eq!(
            crate::machine::levels::level_of(last[1]),
            crate::machine::levels::Level::Warn
        );
        drop(g);
        // The permit is stored: a view waiting after the write wakes at once.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("rt");
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(1), log.activity.notified())
                .await
                .expect("notified")
        });
    }

    #[test]
    fn dropped_lines_are_counted_by_line_count_and_by_bytes() {
        let mut s = Scrollback::new(3, 1 << 20);
        for i in 0..3 {
            s.push(format!("line {i}"));
        }
        assert_eq!(dropped_from(&s), 0, "a full log has dropped nothing yet");
        s.push("line 3".into());
        s.push("line 4".into());
        assert_eq!(dropped_from(&s), 2);
        // The byte bound drops too: one long line pushes out all but itself.
        let mut s = Scrollback::new(100, 200);
        for i in 0..4 {
            s.push(format!("short {i}"));
        }
        s.push("x".repeat(150));
        assert_eq!(s.lines().len(), 1);
        assert_eq!(dropped_from(&s), 4);
    }

    #[test]
    fn the_console_log_file_rotates_as_connector_logs_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs").join("console.log");
        let mut f = LogFile::open(path.clone(), 100, 2).expect("open");
        for i in 0..40 {
            f.append(&[format!("line {i:02} of the console's own log")])
                .expect("append");
        }
        let numbered = |k: u32| PathBuf::from(format!("{}.{k}", path.display()));
        assert!(numbered(1).exists() && numbered(2).exists());
        assert!(!numbered(3).exists(), "keep = 2: no third old file");
        let now = std::fs::read_to_string(&path).expect("read");
        assert!(now.contains("line 39"), "{now}");
        assert!(std::fs::metadata(&path).expect("meta").len() < 200);
        let one = std::fs::read_to_string(numbered(1)).expect("read .1");
        assert!(!one.contains("line 39") && one.contains("of the console"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // keep = 0: truncated in place.
        let mut f = LogFile::open(dir.path().join("zero.log"), 10, 0).expect("open");
        for _ in 0..5 {
            f.append(&["0123456789abcdef".into()]).expect("append");
        }
        assert!(!dir.path().join("zero.log.1").exists());
    }

    #[test]
    fn lines_reach_console_log_with_secrets_masked_and_earlier_lines_first() {
        let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut w = Sink.make_writer();
            w.write_all(b"2026-11-30T18:25:22Z  WARN before the file, key K3YS3CR3T\n")
                .expect("write");
        }
        write_to_file(dir.path(), 1 << 20, 3, vec!["K3YS3CR3T".into()]).expect("file");
        {
            let mut w = Sink.make_writer();
            w.write_all(b"2026-11-30T18:25:23Z  WARN after, key K3YS3CR3T\n")
                .expect("write");
        }
        close_file();
        let text = std::fs::read_to_string(file_path(dir.path())).expect("console.log");
        assert!(text.contains("WARN before the file, key ****"), "{text}");
        assert!(text.contains("WARN after, key ****"), "{text}");
        assert!(!text.contains("K3YS3CR3T"), "{text}");
        let g = get().lines.lock().expect("log");
        assert!(g
            .lines()
            .iter()
            .all(|l| !l.contains("K3YS3CR3T") || l.contains("before")));
    }
}
