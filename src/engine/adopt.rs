//! Re-adoption: a console opened on a state_dir whose `state.json` lists connectors that still
//! run takes them over, but only when every check agrees (same PID and /proc start time, the
//! expected binary and name on its command line, and an Alive iceoryx2 node with that PID).
//! Anything else is reported truthfully and never signalled.

use std::path::Path;

use super::ipc;
use super::logs::rfc3339;
use super::store::{StateFile, StoredConnector};
use super::sys;
use crate::manifest::ConnectorSpec;

/// What to do with one recorded connector.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Take it over.
    Adopt { pid: i32, start_ticks: u64 },
    /// It was running and is gone, or its PID is someone else's now: exited, with why.
    Gone(String),
    /// Alive and ours by its command line, but not verifiably a working connector: failed, with
    /// what to do.
    Unverified(String),
    /// It was at rest: restore that.
    AtRest,
}

fn last_seen(state: &StateFile, rec: &StoredConnector) -> String {
    format!(
        "last seen {} at {}",
        rec.view.phase,
        rfc3339(state.updated_unix)
    )
}

/// Decides for `rec` (the record of `spec` in `state`).
pub fn verdict(state: &StateFile, rec: &StoredConnector, spec: &ConnectorSpec) -> Verdict {
    let (Some(pid), Some(ticks)) = (rec.view.pid, rec.adoption.start_ticks) else {
        return Verdict::AtRest;
    };
    match sys::process_start_ticks(pid) {
        None => {
            return Verdict::Gone(format!(
                "process {pid} is gone ({}); exit status unknown",
                last_seen(state, rec)
            ))
        }
        Some(t) if t != ticks || !sys::is_same_process(pid, ticks) => {
            return Verdict::Gone(format!(
                "process {pid} is gone ({}); PID {pid} now belongs to another process, which was left alone",
                last_seen(state, rec)
            ))
        }
        Some(_) => {}
    }
    let argv = sys::process_cmdline(pid).unwrap_or_default();
    if !runs_connector(&argv, &spec.binary, &spec.name) {
        return Verdict::Gone(format!(
            "process {pid} is gone ({}); PID {pid} now runs `{}`, which was left alone",
            last_seen(state, rec),
            argv.first().map(String::as_str).unwrap_or("?")
        ));
    }
    let ready = ipc::config_for(&spec.project_root)
        .ok()
        .and_then(|c| ipc::probe(&c, &spec.name, pid).ok())
        .map(|p| p.ready)
        .unwrap_or(false);
    if !ready {
        return Verdict::Unverified(format!(
            "PID {pid} runs this connector but has no iceoryx2 node of its PID, so it was not adopted; stop it by hand (kill {pid}) or wait and reopen the console"
        ));
    }
    Verdict::Adopt {
        pid,
        start_ticks: ticks,
    }
}

/// True when `argv` is `<binary> <name> …`.
fn runs_connector(argv: &[String], binary: &Path, name: &str) -> bool {
    let (Some(exe), Some(arg1)) = (argv.first(), argv.get(1)) else {
        return false;
    };
    let same_exe = Path::new(exe) == binary
        || Path::new(exe).file_name() == binary.file_name()
            && std::fs::canonicalize(exe).ok() == std::fs::canonicalize(binary).ok();
    same_exe && arg1 == name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_matched_by_binary_and_name() {
        let bin = Path::new("/opt/hft/target/release/connector");
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(runs_connector(
            &argv(&[
                "/opt/hft/target/release/connector",
                "bf",
                "binancefutures",
                "c.toml"
            ]),
            bin,
            "bf"
        ));
        assert!(!runs_connector(
            &argv(&["/opt/hft/target/release/connector", "bf2", "binancefutures"]),
            bin,
            "bf"
        ));
        assert!(!runs_connector(&argv(&["/usr/bin/sleep", "bf"]), bin, "bf"));
        assert!(!runs_connector(&argv(&[]), bin, "bf"));
    }
}
