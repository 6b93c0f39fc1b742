//! Wakes idle log tailers when their file changes. A tailer that has seen no output for a while
//! arms a one-shot inotify watch (`IN_ONESHOT`) on its log file and sleeps until the kernel
//! reports a write, a rename or a removal: an idle console makes no system calls at all for its
//! logs. While output flows the tailer polls instead and no watch exists, so a flood never pays
//! for an inotify event per write (measured earlier: 2.2× slower children with a permanent
//! watch).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use inotify::{Inotify, WatchDescriptor, WatchMask, Watches};
use tokio::sync::Notify;

/// One inotify instance for all of an engine's tailers.
pub struct LogWaker {
    watches: Mutex<Watches>,
    waiters: Arc<Mutex<HashMap<WatchDescriptor, Vec<Arc<Notify>>>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for LogWaker {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LogWaker {
    /// Starts the event reader on the current tokio runtime. None when inotify is not
    /// available (tailers then poll once a second when idle).
    pub fn start() -> Option<Arc<LogWaker>> {
        let inotify = match Inotify::init() {
            Ok(i) => i,
            Err(e) => {
                tracing::debug!("inotify unavailable ({e}): idle logs are polled");
                return None;
            }
        };
        let watches = inotify.watches();
        let mut stream = match inotify.into_event_stream([0u8; 4096]) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("inotify stream unavailable ({e}): idle logs are polled");
                return None;
            }
        };
        let waiters: Arc<Mutex<HashMap<WatchDescriptor, Vec<Arc<Notify>>>>> = Arc::default();
        let w = waiters.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(event)) = stream.next().await {
                // A one-shot watch fires once; whoever waited on it re-arms when idle again.
                let woken = lock(&w).remove(&event.wd);
                for n in woken.into_iter().flatten() {
                    n.notify_one();
                }
            }
        });
        Some(Arc::new(LogWaker {
            watches: Mutex::new(watches),
            waiters,
            reader,
        }))
    }

    /// Arms a one-shot watch: `notify` is told at the next write, rename or removal of `path`,
    /// or, while `path` does not exist, at the next file created in its directory. Returns
    /// false when no watch could be set (the caller polls).
    pub fn arm(&self, path: &Path, notify: &Arc<Notify>) -> bool {
        let file_mask = WatchMask::MODIFY
            | WatchMask::ATTRIB
            | WatchMask::MOVE_SELF
            | WatchMask::DELETE_SELF
            | WatchMask::ONESHOT;
        let dir_mask = WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::ONESHOT;
        let added = {
            let mut watches = lock(&self.watches);
            match watches.add(path, file_mask) {
                Ok(wd) => Ok(wd),
                Err(_) => match path.parent() {
                    Some(dir) => watches.add(dir, dir_mask),
                    None => Err(std::io::Error::other("no parent directory")),
                },
            }
        };
        match added {
            Ok(wd) => {
                let mut waiters = lock(&self.waiters);
                let list = waiters.entry(wd).or_default();
                if !list.iter().any(|n| Arc::ptr_eq(n, notify)) {
                    list.push(notify.clone());
                }
                true
            }
            Err(e) => {
                tracing::debug!(path = %path.display(), "cannot watch the log: {e}; polling");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    #[tokio::test]
    async fn a_write_wakes_the_armed_waiter_once() {
        let d = tempfile::tempdir().expect("tmp");
        let log = d.path().join("a.log");
        let waker = LogWaker::start().expect("inotify on Linux");
        let n = Arc::new(Notify::new());
        // No file yet: the directory is watched for its creation.
        assert!(waker.arm(&log, &n));
        let mut f = std::fs::File::create(&log).expect("create");
        tokio::time::timeout(Duration::from_secs(5), n.notified())
            .await
            .expect("woken by the creation");
        assert!(waker.arm(&log, &n));
        f.write_all(b"line\n").expect("write");
        tokio::time::timeout(Duration::from_secs(5), n.notified())
            .await
            .expect("woken by the write");
        // One-shot: a later write wakes nobody until it is armed again.
        f.write_all(b"more\n").expect("write");
        let again = tokio::time::timeout(Duration::from_millis(200), n.notified()).await;
        assert!(again.is_err(), "not armed, not woken");
    }
}
