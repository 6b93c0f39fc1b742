//! The log relay: `switchboard log-relay --file F --max-bytes N --keep K`, a small process
//! between a connector's stdout/stderr (a pipe) and its log file. It is the file's only writer
//! (besides the console's marker lines), so it can rotate without losing a line: before a write
//! would take the file past `max_bytes` it renames `F` to `F.1` (shifting older files up to
//! `F.K`), opens a new `F` and writes there, cutting only at line ends.
//!
//! It runs in its own session, ignores SIGINT, SIGTERM and SIGHUP, and ends when the pipe
//! reaches end-of-file, i.e. when the connector (and anything it left holding the pipe) is
//! gone. So a crashed, frozen or killed console never touches it, and a connector's last words
//! after a SIGTERM or a panic reach the file.

use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Read size (the pipe holds up to 1 MiB).
const CHUNK: usize = 1024 * 1024;
/// After a read that found the pipe nearly empty, wait this long before the next, so that a
/// connector writing line by line is copied in large batches (one wake-up per thousands of
/// lines, not per line). At 200 MB/s a connector fills 400 KB in this time: less than the pipe
/// holds, so it is never blocked; quiet, the relay sleeps in `read`.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(2);
/// A read shorter than this counts as "nearly empty".
const SMALL_READ: usize = 64 * 1024;

/// What the relay does, as its command line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySpec {
    pub file: PathBuf,
    pub max_bytes: u64,
    pub keep: u32,
}

impl RelaySpec {
    /// The arguments after the program: `log-relay --file F --max-bytes N --keep K`.
    pub fn args(&self) -> Vec<String> {
        vec![
            "log-relay".into(),
            "--file".into(),
            self.file.display().to_string(),
            "--max-bytes".into(),
            self.max_bytes.to_string(),
            "--keep".into(),
            self.keep.to_string(),
        ]
    }
}

fn numbered(file: &Path, k: u32) -> PathBuf {
    PathBuf::from(format!("{}.{k}", file.display()))
}

/// `F` → `F.1`, `F.1` → `F.2`, … up to `F.keep` (the oldest is dropped). With `keep = 0` the
/// file is removed. Renames never follow a symlink; a new `F` is created by the next open.
pub fn rotate_by_rename(file: &Path, keep: u32) -> io::Result<()> {
    if keep == 0 {
        return std::fs::remove_file(file);
    }
    for k in (1..keep).rev() {
        let from = numbered(file, k);
        if std::fs::symlink_metadata(&from).is_ok() {
            std::fs::rename(&from, numbered(file, k + 1))?;
        }
    }
    std::fs::rename(file, numbered(file, 1))
}

/// Copies `input` to `spec.file` until end-of-file, rotating as it goes. Lossless: every byte
/// read is written to exactly one file.
pub fn relay(spec: &RelaySpec, mut input: impl Read) -> io::Result<()> {
    let mut out = super::private_fs::open_append(&spec.file)?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return out.flush(),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let coalesce = n < SMALL_READ;
        let mut data = &buf[..n];
        while !data.is_empty() {
            // The file's real size: the console's markers land in it too.
            let size = out.metadata()?.size();
            let room = spec.max_bytes.saturating_sub(size) as usize;
            if data.len() <= room {
                out.write_all(data)?;
                break;
            }
            // Whole lines that fit go here; the rest starts the next file.
            let cut = memchr::memrchr(b'\n', &data[..room]).map(|i| i + 1);
            match cut {
                Some(cut) => {
                    out.write_all(&data[..cut])?;
                    data = &data[cut..];
                }
                // Not even one line fits, and the file has something: rotate first.
                None if size > 0 => {}
                // An empty file and a line longer than the limit: it goes in whole.
                None => {
                    let end = memchr::memchr(b'\n', data).map_or(data.len(), |i| i + 1);
                    out.write_all(&data[..end])?;
                    data = &data[end..];
                    if data.is_empty() {
                        break;
                    }
                }
            }
            out.flush()?;
            rotate_by_rename(&spec.file, spec.keep)?;
            out = super::private_fs::open_append(&spec.file)?;
        }
        if coalesce {
            std::thread::sleep(COALESCE);
        }
    }
}

/// The `log-relay` process: ignores the signals that stop a connector, relays stdin, and
/// reports a failure in the log itself when it can (stderr goes nowhere).
pub fn run(spec: &RelaySpec) -> u8 {
    use nix::sys::signal::{signal, SigHandler, Signal};
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: SIG_IGN installs no handler code; nothing else in this process handles them.
        #[allow(unsafe_code)]
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
    match relay(spec, io::stdin().lock()) {
        Ok(()) => 0,
        Err(e) => {
            let _ = super::logs::write_marker(
                &spec.file,
                &format!("log relay failed: {e}; the connector's further output is lost"),
            );
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_by_rename_keeps_every_line_whole_and_files_within_the_limit() {
        let d = tempfile::tempdir().expect("tmp");
        let spec = RelaySpec {
            file: d.path().join("x.log"),
            max_bytes: 4096,
            keep: 100,
        };
        let mut input = Vec::new();
        for i in 0..5000 {
            input.extend_from_slice(format!("line {i:06} {}\n", "y".repeat(i % 50)).as_bytes());
        }
        relay(&spec, &input[..]).expect("relay");
        let mut seen = Vec::new();
        for k in (1..=100).rev() {
            let p = numbered(&spec.file, k);
            if let Ok(text) = std::fs::read_to_string(&p) {
                assert!(
                    text.len() <= 4096,
                    "{} is {} bytes",
                    p.display(),
                    text.len()
                );
                assert!(text.ends_with('\n'), "{} ends mid-line", p.display());
                seen.extend(text.lines().map(str::to_string));
            }
        }
        seen.extend(
            std::fs::read_to_string(&spec.file)
                .expect("current")
                .lines()
                .map(str::to_string),
        );
        let expected: Vec<String> = (0..5000)
            .map(|i| format!("line {i:06} {}", "y".repeat(i % 50)))
            .collect();
        assert_eq!(seen, expected, "every line, once, in order");
    }

    #[test]
    fn a_line_longer_than_the_limit_is_written_whole() {
        let d = tempfile::tempdir().expect("tmp");
        let spec = RelaySpec {
            file: d.path().join("x.log"),
            max_bytes: 100,
            keep: 3,
        };
        let long = format!("{}\n", "z".repeat(250));
        relay(&spec, format!("a\n{long}b\n").as_bytes()).expect("relay");
        assert_eq!(
            std::fs::read_to_string(numbered(&spec.file, 2)).expect("r"),
            "a\n"
        );
        assert_eq!(
            std::fs::read_to_string(numbered(&spec.file, 1)).expect("r"),
            long
        );
        assert_eq!(std::fs::read_to_string(&spec.file).expect("r"), "b\n");
    }
}
