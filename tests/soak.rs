//! A chaos soak (issues #22 and #27): real headless consoles, real sim-connectors, real signals,
//! a fixed seed. Every step is one of: SIGKILL the console and start another, detach it
//! (SIGUSR2) and start another, SIGKILL a connector, a CLI stop, start or restart. Two of the
//! connectors declare instruments over an exchange that is down at every start or drops
//! mid-session, so the console's own registrations are always in play. After each step:
//!
//! - at most one process per connector name;
//! - a connector stopped from the CLI stays stopped (also across console restarts);
//! - every CLI action returns within its connector's timeouts;
//! - `status --json` answers within 5 s;
//! - no connector was ended by a registration (the console is the only one that registers here:
//!   it must never be the sender of a request that ends a connector).
//!
//! It runs for 60 s in `cargo test`; `SOAK_SECS=600 cargo test --test soak` runs longer, and
//! `SOAK_SEED` picks another sequence.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;

const NAMES: [&str; 4] = ["soak-plain", "soak-down", "soak-drop", "soak-quiet"];

/// Runs `switchboard ARGS --manifest …` and fails the test if it takes longer than `limit`.
fn run_within(fx: &Fixture, args: &[&str], limit: Duration) -> std::process::Output {
    let mut child = std::process::Command::new(SWITCHBOARD)
        .args(args)
        .arg("--manifest")
        .arg(fx.path().join("switchboard.toml"))
        .current_dir(fx.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run switchboard");
    let t0 = Instant::now();
    loop {
        if let Some(_status) = child.try_wait().expect("wait") {
            return child.wait_with_output().expect("output");
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "`switchboard {}` did not return within {limit:?}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// PIDs of sim-connector processes running connector `name`.
fn processes_of(name: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| alive(*pid))
        .filter(|pid| {
            let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let argv: Vec<&[u8]> = argv.split(|b| *b == 0).collect();
            argv.first().is_some_and(|p| p.ends_with(b"sim-connector"))
                && argv.get(1).is_some_and(|a| *a == name.as_bytes())
        })
        .collect()
}

struct Console(Option<std::process::Child>);

impl Console {
    fn start(fx: &Fixture) -> Console {
        Console(Some(fx.headless()))
    }

    fn signal(&mut self, sig: nix::sys::signal::Signal) {
        if let Some(c) = self.0.take() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), sig);
            let mut c = c;
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
            panic!("the console did not end within 20 s of {sig:?}");
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn a_chaos_soak_keeps_every_invariant() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261203);
    let mut rng = fastrand::Rng::with_seed(seed);
    let fx = Fixture::new("soak");
    fx.sim_config("plain.toml", "lines_per_sec = 5.0\nfeed_hz = 20.0");
    fx.sim_config(
        "down.toml",
        "lines_per_sec = 2.0\nfeed_hz = 20.0\nexchange_down_ms = 2500\nreconnect_max_ms = 800",
    );
    fx.sim_config(
        "drop.toml",
        "lines_per_sec = 2.0\nfeed_hz = 20.0\nstream_drop_after = 5.0\nstream_drop_ms = 1000\nreconnect_max_ms = 500",
    );
    fx.sim_config("quiet.toml", "lines_per_sec = 0.0\nfeed_hz = 0.0");
    let btc = "instruments = [{ symbol = \"BTCUSDT\", tick_size = 0.1, lot_size = 0.001 }]\nconnect_grace = 2.0\nfeed = { resume_grace = 1.0, on_stale = \"alert\" }";
    fx.manifest(
        "shutdown_timeout = 2.0\nrestart = { initial_backoff = 0.2, max_backoff = 1.0 }",
        &[
            connector_table("soak-plain", "plain.toml", ""),
            connector_table("soak-down", "down.toml", btc),
            connector_table("soak-drop", "drop.toml", btc),
            connector_table("soak-quiet", "quiet.toml", ""),
        ]
        .join("\n"),
    );
    let mut console = Console::start(&fx);
    let mut stopped: BTreeSet<&str> = BTreeSet::new();
    let until = Instant::now() + Duration::from_secs(secs);
    let mut steps = 0u32;
    let action_limit = Duration::from_secs(30);
    while Instant::now() < until {
        steps += 1;
        let name = NAMES[rng.usize(..NAMES.len())];
        let step = rng.u32(..100);
        let what = match step {
            0..=9 => {
                console.signal(nix::sys::signal::Signal::SIGKILL);
                console = Console::start(&fx);
                "SIGKILL the console, start another".to_string()
            }
            10..=17 => {
                console.signal(nix::sys::signal::Signal::SIGUSR2);
                console = Console::start(&fx);
                "detach the console, start another".to_string()
            }
            18..=37 => {
                for pid in processes_of(name) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                format!("SIGKILL {name}")
            }
            38..=57 => {
                run_within(&fx, &["stop", name], action_limit);
                stopped.insert(name);
                format!("stop {name}")
            }
            58..=79 => {
                run_within(&fx, &["start", name], action_limit);
                stopped.remove(name);
                format!("start {name}")
            }
            _ => {
                let out = run_within(&fx, &["restart", name], action_limit);
                if out.status.success() {
                    stopped.remove(name);
                }
                format!("restart {name}")
            }
        };
        std::thread::sleep(Duration::from_millis(300 + rng.u64(..1500)));
        // The invariants.
        for n in NAMES {
            let procs = processes_of(n);
            assert!(
                procs.len() <= 1,
                "step {steps} ({what}): {n} runs {} times: {procs:?}",
                procs.len()
            );
            if stopped.contains(n) {
                assert!(
                    procs.is_empty(),
                    "step {steps} ({what}): {n} was stopped from the CLI but runs: {procs:?}"
                );
            }
        }
        let t0 = Instant::now();
        let out = run_within(&fx, &["status", "--json"], Duration::from_secs(5));
        assert!(
            out.status.success(),
            "step {steps} ({what}): status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<switchboard::ConnectorView> =
            serde_json::from_slice(&out.stdout).expect("status --json");
        assert!(t0.elapsed() < Duration::from_secs(5));
        for r in &rows {
            if stopped.contains(r.name.as_str()) {
                assert!(
                    r.phase.is_at_rest(),
                    "step {steps} ({what}): {} was stopped but reads {}",
                    r.name,
                    r.phase
                );
            }
        }
        for n in NAMES {
            let log = std::fs::read_to_string(fx.log(n)).unwrap_or_default();
            assert!(
                !log.contains("SendError(\""),
                "step {steps} ({what}): {n} was ended by a registration"
            );
        }
        eprintln!("soak step {steps}: {what}: ok");
    }
    // A clean stop leaves nothing running.
    console.signal(nix::sys::signal::Signal::SIGTERM);
    for n in NAMES {
        assert!(
            eventually(10.0, || processes_of(n).is_empty()),
            "{n} still runs after the console's clean stop"
        );
    }
    assert!(steps >= 10, "only {steps} steps in {secs} s");
    eprintln!("soak: {steps} steps in {secs} s (seed {seed}), every invariant held");
}
