//! The console's own log (`L`): tracing's fmt output, one line per event, kept in a scrollback
//! like a connector's, so the pane scrolls, searches, filters and copies the same way. The lines
//! have tracing's usual shape (`2026-11-30T18:25:22.123456Z  WARN message`), so levels, the
//! timestamp modes and the `e` filter read them as they read a connector's.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;
use tracing_subscriber::fmt::MakeWriter;

use crate::engine::logs::{Scrollback, SharedScrollback};

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

/// Installs the subscriber that fills [`get`]'s scrollback: INFO and above, iceoryx2's own
/// warnings hidden (stale files it cleans up say nothing to an operator); `SWITCHBOARD_LOG`
/// overrides, as an `EnvFilter`.
pub fn init() {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,iceoryx2=error"));
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(false)
        .with_writer(Sink);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init();
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
        let log = get();
        {
            let mut g = log.lines.lock().unwrap_or_else(|p| p.into_inner());
            for line in String::from_utf8_lossy(&self.0).lines() {
                g.push(line.to_string());
            }
        }
        log.activity.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_event_becomes_lines_with_a_level_and_wakes_the_view() {
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
            crate::engine::levels::level_of(last[1]),
            crate::engine::levels::Level::Warn
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
}
