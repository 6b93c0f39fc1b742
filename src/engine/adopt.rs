//! Re-adoption: a console opened on a state_dir whose `state.json` lists connectors that still
//! run takes them over, but only the very process it recorded: the same PID with the same /proc
//! start time (a PID and its start time name one process per boot), running this connector
//! (`NAME TYPE` on its command line, wherever the executable lives: a wrapper script that
//! `exec`s the connector is fine). Whether it is ready (an Alive iceoryx2 node of its PID on both
//! services) decides only how it is watched. Anything else is reported truthfully and never
//! signalled.

use crate::config::manifest::ConnectorSpec;
use crate::engine::io::ipc;
use crate::engine::io::logs::rfc3339;
use crate::engine::io::store::{StateFile, StoredConnector};
use crate::engine::io::sys;

/// What to do with one recorded connector.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Take it over; `ready`: its iceoryx2 services are up now.
    Adopt {
        pid: i32,
        start_ticks: u64,
        ready: bool,
    },
    /// It was running and is gone, or its PID is someone else's now: exited, with why.
    Gone(String),
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

/// Decides for `rec` (the record of `spec` in `state`). Reads /proc and iceoryx2: blocking.
pub fn verdict(state: &StateFile, rec: &StoredConnector, spec: &ConnectorSpec) -> Verdict {
    let (Some(pid), Some(ticks)) = (rec.view.pid, rec.adoption.start_ticks) else {
        return Verdict::AtRest;
    };
    if sys::process_start_ticks(pid).is_none() {
        return Verdict::Gone(format!(
            "process {pid} is gone ({}); exit status unknown",
            last_seen(state, rec)
        ));
    }
    if !sys::is_same_process(pid, ticks) {
        return Verdict::Gone(format!(
            "process {pid} is gone ({}); PID {pid} now belongs to another process, which was left alone",
            last_seen(state, rec)
        ));
    }
    let argv = sys::process_cmdline(pid).unwrap_or_default();
    if spec.is_bot() {
        // A bot is recognised by the name the console gave it in its environment (its argv
        // may be a shell's or anything its command execs).
        if sys::process_env(pid, super::BOT_ENV).as_deref() != Some(spec.name.as_str()) {
            return Verdict::Gone(format!(
                "process {pid} is gone ({}); PID {pid} now runs `{}`, which was left alone",
                last_seen(state, rec),
                argv.first().map(String::as_str).unwrap_or("?")
            ));
        }
        let ready = ipc::config_for(&spec.project_root)
            .ok()
            .zip(spec.bot.as_ref())
            .is_some_and(|(c, b)| ipc::bot_probe(&c, &b.connectors, pid).ready);
        return Verdict::Adopt {
            pid,
            start_ticks: ticks,
            ready,
        };
    }
    if !runs_connector(&argv, &spec.name, spec.kind.as_str()) {
        return Verdict::Gone(format!(
            "process {pid} is gone ({}); PID {pid} now runs `{}`, which was left alone",
            last_seen(state, rec),
            argv.first().map(String::as_str).unwrap_or("?")
        ));
    }
    let ready = ipc::config_for(&spec.project_root)
        .ok()
        .and_then(|c| ipc::probe(&c, &spec.name, pid).ok())
        .is_some_and(|p| p.ready);
    Verdict::Adopt {
        pid,
        start_ticks: ticks,
        ready,
    }
}

/// Whether live process `pid` runs connector or bot `name` (of type `kind`): `NAME TYPE` on
/// its command line, or the bot's name in its environment. Whoever else holds a recorded PID
/// (its start time may even match, a PID namespace's reuse) is a stranger.
pub fn runs_as(pid: i32, name: &str, kind: &str) -> bool {
    let argv = sys::process_cmdline(pid).unwrap_or_default();
    runs_connector(&argv, name, kind)
        || sys::process_env(pid, super::BOT_ENV).as_deref() == Some(name)
}

/// True when `argv` carries `NAME TYPE` as consecutive arguments (after the program).
fn runs_connector(argv: &[String], name: &str, kind: &str) -> bool {
    argv.get(1..)
        .unwrap_or_default()
        .windows(2)
        .any(|w| w[0] == name && w[1] == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_matched_by_name_and_type_wherever_the_binary_is() {
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let bf = "binancefutures";
        assert!(runs_connector(
            &argv(&["/opt/hft/target/release/connector", "bf", bf, "c.toml"]),
            "bf",
            bf
        ));
        // A wrapper that exec'd the connector from elsewhere.
        assert!(runs_connector(
            &argv(&["/usr/local/bin/connector-real", "bf", bf, "c.toml"]),
            "bf",
            bf
        ));
        assert!(!runs_connector(&argv(&["connector", "bf2", bf]), "bf", bf));
        assert!(!runs_connector(
            &argv(&["connector", "bf", "bybit"]),
            "bf",
            bf
        ));
        assert!(!runs_connector(&argv(&["/usr/bin/sleep", "bf"]), "bf", bf));
        assert!(
            !runs_connector(&argv(&["bf", bf]), "bf", bf),
            "not the program"
        );
        assert!(!runs_connector(&argv(&[]), "bf", bf));
    }
}
