//! Session continuity (issue 20): what the operator decided outlives the console, a crash loop
//! is a verdict, health says since when, and a restart never makes things worse. Real consoles,
//! real sim-connectors, real signals, a private iceoryx2 world per test.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// `status --json` as JSON values (new fields read by name). Exit 2 (the manifest on disk names
/// a config that is gone, as some tests arrange) still prints every row.
fn status_json(fx: &Fixture) -> Vec<Value> {
    let out = fx.run(&["status", "--json"]);
    assert!(
        matches!(out.status.code(), Some(0 | 2)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status --json is a JSON array")
}

/// Connector `name`'s row of `status --json`.
fn row(fx: &Fixture, name: &str) -> Value {
    status_json(fx)
        .into_iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row for {name}"))
}

/// Waits until `name`'s row satisfies `pred`; returns it.
fn wait_row(fx: &Fixture, name: &str, secs: f64, pred: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let ok = eventually(secs, || {
        last = row(fx, name);
        pred(&last)
    });
    assert!(ok, "{name} never matched; last: {last:#}");
    last
}

/// Waits until the console `pid` holds the fixture's state dir and answers `status`.
fn wait_console(fx: &Fixture, pid: u32) {
    let dir = fx.path().join(".switchboard");
    assert!(
        eventually(15.0, || {
            switchboard::engine::io::store::lock_holder(&dir) == Some(pid as i32)
                && fx.run(&["status", "--json"]).status.code() == Some(0)
        }),
        "console {pid} never took over"
    );
}

/// Processes whose command line has `needle` as one argument (a connector's unique name).
fn processes_with(needle: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.split(|b| *b == 0).any(|arg| arg == needle.as_bytes()))
                .unwrap_or(false)
                && alive(*pid)
        })
        .collect()
}

/// Checks for `secs` that `name` stays in `phase` with no process of its own.
fn stays_at_rest(fx: &Fixture, name: &str, phase: &str, secs: f64) {
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(secs);
    while std::time::Instant::now() < deadline {
        let r = row(fx, name);
        assert_eq!(r["phase"], phase, "{name} left {phase}: {r:#}");
        assert!(processes_with(name).is_empty(), "{name} was started: {r:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn history_details(r: &Value) -> Vec<String> {
    r["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .map(|e| format!("{} {} {}", e["phase"], e["by"], e["detail"]))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_connector_stopped_from_the_cli_stays_stopped_across_killed_and_detached_consoles() {
    let fx = Fixture::new("intent");
    fx.sim_config("a.toml", "");
    fx.manifest(
        "",
        &format!(
            "{}\n{}",
            connector_table("in-a", "a.toml", ""),
            connector_table("in-b", "a.toml", "")
        ),
    );
    // `run --headless` starts every connector it may.
    let mut first = fx.headless();
    wait_row(&fx, "in-a", 15.0, |r| r["phase"] == "ready");
    let b_pid = wait_row(&fx, "in-b", 15.0, |r| r["phase"] == "ready")["pid"].clone();
    let out = fx.run(&["stop", "in-a"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    first.kill().expect("SIGKILL the console");
    first.wait().expect("reap");

    let b_history = history_details(&row(&fx, "in-b"));
    let mut second = fx.headless();
    wait_console(&fx, second.id());
    let b = wait_row(&fx, "in-b", 10.0, |r| {
        r["pid"] == b_pid && r["adopted"] == true
    });
    assert!(
        history_details(&b).starts_with(&b_history),
        "the adopted one keeps its history: {b:#}"
    );
    stays_at_rest(&fx, "in-a", "stopped", 2.0);
    let a = row(&fx, "in-a");
    assert_eq!(a["decision"]["intent"], "stop", "{a:#}");
    assert_eq!(a["decision"]["by"], "cli", "{a:#}");
    assert!(
        history_details(&a)
            .iter()
            .any(|h| h.starts_with("\"stopping\" \"cli\"")),
        "its history came along: {a:#}"
    );

    // A clean detach (SIGUSR2, as `q` then `d` in the TUI), then a third console.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(second.id() as i32),
        nix::sys::signal::Signal::SIGUSR2,
    )
    .expect("detach");
    assert_eq!(second.wait().expect("wait").code(), Some(0));
    let mut third = fx.headless();
    wait_console(&fx, third.id());
    wait_row(&fx, "in-b", 10.0, |r| {
        r["pid"] == b_pid && r["phase"] == "ready"
    });
    stays_at_rest(&fx, "in-a", "stopped", 2.0);

    // Until someone starts it.
    let out = fx.run(&["start", "in-a"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = row(&fx, "in-a");
    assert_eq!(a["phase"], "ready", "{a:#}");
    assert_eq!(a["decision"]["intent"], "run", "{a:#}");
    let _ = third.kill();
    let _ = third.wait();
}

#[test]
fn a_connector_the_budget_gave_up_on_stays_failed_with_its_history_and_restarts() {
    let fx = Fixture::new("gaveup");
    fx.sim_config("c.toml", "crash_after_ms = 150\ncrash_code = 3");
    fx.manifest(
        "restart = { initial_backoff = 0.1, jitter = 0.0, max_attempts = 2 }",
        &connector_table("gu-a", "c.toml", ""),
    );
    let mut first = fx.headless();
    let failed = wait_row(&fx, "gu-a", 20.0, |r| r["phase"] == "failed");
    assert!(
        failed["detail"].as_str().unwrap_or("").contains("gave up"),
        "{failed:#}"
    );
    let restarts = failed["restarts"].clone();
    assert_eq!(restarts, 2, "{failed:#}");
    let history = history_details(&failed);
    first.kill().expect("SIGKILL the console");
    first.wait().expect("reap");

    let mut second = fx.headless();
    wait_console(&fx, second.id());
    stays_at_rest(&fx, "gu-a", "failed", 2.5);
    let r = row(&fx, "gu-a");
    assert_eq!(r["restarts"], restarts, "restarts kept: {r:#}");
    assert!(
        r["detail"].as_str().unwrap_or("").contains("gave up"),
        "the reason kept: {r:#}"
    );
    assert_eq!(history_details(&r), history, "the history kept");
    assert!(
        history.iter().any(|h| h.contains("gave up")),
        "{history:#?}"
    );
    assert_eq!(r["decision"]["intent"], "gave_up", "{r:#}");
    let _ = second.kill();
    let _ = second.wait();
}

#[test]
fn an_adopted_crash_loop_keeps_its_restarts_budget_and_history() {
    let fx = Fixture::new("adoptloop");
    let config = fx.sim_config(
        "l.toml",
        "ready_delay_ms = 50\ncrash_after_ms = 300\ncrash_code = 1",
    );
    fx.manifest(
        "restart = { initial_backoff = 0.2, max_backoff = 0.4, jitter = 0.0, uptime_reset = 30.0 }",
        &connector_table("al-a", "l.toml", ""),
    );
    let mut first = fx.headless();
    wait_row(&fx, "al-a", 20.0, |r| !r["crash_loop"].is_null());
    // The next process lives a while: long enough to be taken over by another console.
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace("crash_after_ms = 300", "crash_after_ms = 6000"),
    )
    .expect("rewrite the config");
    let before = wait_row(&fx, "al-a", 15.0, |r| {
        r["phase"] == "ready" && r["uptime_s"].as_f64().is_some_and(|u| u >= 1.0)
    });
    first.kill().expect("SIGKILL the console");
    first.wait().expect("reap");

    let mut second = fx.headless();
    wait_console(&fx, second.id());
    let r = wait_row(&fx, "al-a", 10.0, |r| {
        r["pid"] == before["pid"] && r["adopted"] == true
    });
    assert_eq!(r["restarts"], before["restarts"], "{r:#}");
    assert_eq!(
        r["attempt"], before["attempt"],
        "the budget's position: {r:#}"
    );
    assert_eq!(
        r["crash_loop"]["restarts"], before["crash_loop"]["restarts"],
        "still a crash loop: {r:#}"
    );
    // (Its last entries: the adoption's own may have pushed the oldest out.)
    let kept = history_details(&before);
    assert!(
        history_details(&r)
            .windows(kept.len() - 1)
            .any(|w| w == &kept[1..]),
        "the history came along: {r:#}"
    );
    // It crashes again: the same streak goes on, one failure and one restart further.
    let attempt = before["attempt"].as_u64().expect("attempt");
    let looped = before["crash_loop"]["restarts"].as_u64().expect("restarts");
    let r = wait_row(&fx, "al-a", 15.0, |r| {
        r["pid"] != before["pid"] && r["phase"] == "ready"
    });
    assert_eq!(r["attempt"].as_u64(), Some(attempt + 1), "{r:#}");
    assert_eq!(
        r["crash_loop"]["restarts"].as_u64(),
        Some(looped + 1),
        "{r:#}"
    );
    let _ = second.kill();
    let _ = second.wait();
}

/// `switchboard ARGS` on the fixture's manifest, which must end within `secs`.
fn run_within(fx: &Fixture, args: &[&str], secs: f64) -> std::process::Output {
    let mut child = std::process::Command::new(SWITCHBOARD)
        .args(args)
        .arg("--manifest")
        .arg(fx.path().join("switchboard.toml"))
        .current_dir(fx.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run switchboard");
    let ended = eventually(secs, || child.try_wait().ok().flatten().is_some());
    if !ended {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("its output");
    assert!(
        ended,
        "`switchboard {}` did not end within {secs} s",
        args.join(" ")
    );
    out
}

/// `GET /metrics` on `addr`: the body.
fn metrics(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the reply");
    raw.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .expect("a body")
}

#[test]
fn a_crash_loop_reads_crash_looping_between_crashes_even_while_ready() {
    let fx = Fixture::new("loop");
    fx.sim_config(
        "l.toml",
        "ready_delay_ms = 50\ncrash_after_ms = 1200\ncrash_code = 1",
    );
    fx.manifest(
        "restart = { initial_backoff = 0.2, max_backoff = 0.4, jitter = 0.0, uptime_reset = 30.0 }",
        &format!(
            "[metrics]\nlisten = \"127.0.0.1:0\"\n\n{}",
            connector_table("cl-a", "l.toml", "")
        ),
    );
    let console = HeadlessConsole::start(&fx, &[]);
    let line = console.line_with("Prometheus metrics at http://", 20);
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.strip_suffix("/metrics"))
        .expect("the address")
        .to_string();
    // Between two crashes, up and ready: still the crash loop, not `ready … ok`.
    let r = wait_row(&fx, "cl-a", 30.0, |r| {
        r["phase"] == "ready" && !r["crash_loop"].is_null()
    });
    let restarts = r["crash_loop"]["restarts"].as_u64().expect("restarts");
    assert!(restarts >= 3, "{r:#}");
    assert!(r["crash_loop"]["window_s"].is_u64(), "{r:#}");
    let plain = String::from_utf8_lossy(&fx.run(&["status"]).stdout).to_string();
    assert!(plain.contains("crash-looping ("), "{plain}");
    let body = metrics(&addr);
    assert!(
        body.lines()
            .any(|l| l.starts_with("switchboard_connector_crash_looping{")
                && l.contains("connector=\"cl-a\"")
                && l.ends_with(" 1")),
        "{body}"
    );
    // At rest (stopped by the operator) it is no longer a loop.
    assert_eq!(fx.run(&["stop", "cl-a"]).status.code(), Some(0));
    let r = wait_row(&fx, "cl-a", 10.0, |r| r["phase"] == "stopped");
    assert!(r["crash_loop"].is_null(), "{r:#}");
    let _ = console.stop(20);
}

#[test]
fn r_with_a_vanished_config_or_an_unrunnable_reloaded_binary_leaves_the_process_and_says_why() {
    let fx = Fixture::new("preflight");
    let config = fx.sim_config("a.toml", "");
    fx.manifest("", &connector_table("pf-a", "a.toml", ""));
    let console = HeadlessConsole::start(&fx, &[]);
    let pid = wait_row(&fx, "pf-a", 15.0, |r| r["phase"] == "ready")["pid"]
        .as_i64()
        .expect("pid") as i32;
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::remove_file(&config).expect("rm the config");

    let out = fx.run(&["restart", "pf-a"]);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "refused: {said}");
    assert!(
        said.contains("restart refused")
            && said.contains(&config.display().to_string())
            && said.contains("cannot be read"),
        "names the file and the problem: {said}"
    );
    assert!(said.contains(&format!("PID {pid} keeps running")), "{said}");
    let r = row(&fx, "pf-a");
    assert_eq!(
        (r["phase"].clone(), r["pid"].clone()),
        ("ready".into(), pid.into()),
        "{r:#}"
    );
    assert!(alive(pid), "left untouched");
    assert!(
        r["refused"]["why"]
            .as_str()
            .unwrap_or("")
            .contains("a.toml"),
        "{r:#}"
    );
    assert!(
        history_details(&r)
            .last()
            .is_some_and(|h| h.contains("restart refused")),
        "{r:#}"
    );
    console.line_with("restart refused", 5);
    let log = std::fs::read_to_string(fx.log("pf-a")).expect("log");
    assert!(log.contains("restart refused"), "{log}");

    // Back in place: the restart goes ahead.
    std::fs::write(&config, &text).expect("restore the config");
    assert_eq!(fx.run(&["restart", "pf-a"]).status.code(), Some(0));
    let r = wait_row(&fx, "pf-a", 15.0, |r| r["phase"] == "ready");
    assert_ne!(r["pid"], pid);
    assert!(r["refused"].is_null(), "{r:#}");

    // At rest, a start that cannot start fails at once, says why, and the CLI hears it.
    assert_eq!(fx.run(&["stop", "pf-a"]).status.code(), Some(0));
    std::fs::remove_file(&config).expect("rm the config");
    let out = run_within(&fx, &["start", "pf-a"], 20.0);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("cannot start: config") && said.contains(&config.display().to_string()),
        "{said}"
    );
    assert_eq!(row(&fx, "pf-a")["phase"], "failed");
    assert!(processes_with("pf-a").is_empty());
    std::fs::write(&config, &text).expect("restore the config");
    assert_eq!(fx.run(&["start", "pf-a"]).status.code(), Some(0));
    let pid2 = wait_row(&fx, "pf-a", 15.0, |r| r["phase"] == "ready")["pid"]
        .as_i64()
        .expect("pid") as i32;

    // A reload names a binary that cannot run: the restart that would put it in use is
    // refused, the process keeps running on the old entry, and the new one still waits.
    let bad = fx.path().join("not-executable");
    std::fs::write(&bad, "#!/bin/sh\n").expect("write");
    fx.manifest(
        "",
        &connector_table("pf-a", "a.toml", &format!("binary = \"{}\"", bad.display())),
    );
    let out = fx.run(&["reload"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_row(&fx, "pf-a", 5.0, |r| r["restart_needed"] == true);
    let out = fx.run(&["restart", "pf-a"]);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "refused: {said}");
    assert!(
        said.contains(&bad.display().to_string()) && said.contains("is not executable"),
        "{said}"
    );
    let r = row(&fx, "pf-a");
    assert_eq!(r["pid"], pid2, "{r:#}");
    assert_eq!(r["restart_needed"], true, "{r:#}");
    assert!(alive(pid2));
    let _ = console.stop(20);
}

#[test]
fn a_stale_feed_has_a_stable_stale_since_and_its_restart_is_refused_without_a_config() {
    let fx = Fixture::new("stalesince");
    let config = fx.sim_config(
        "a.toml",
        "lines_per_sec = 0.0\nfeed_hz = 50.0\nfeed_stall_after = 1.5",
    );
    fx.manifest(
        "feed = { stale_after = 1.0, on_stale = \"restart\" }",
        &connector_table("ss-a", "a.toml", ""),
    );
    let console = HeadlessConsole::start(&fx, &[]);
    let pid = wait_row(&fx, "ss-a", 15.0, |r| r["phase"] == "ready")["pid"].clone();
    // The config goes away (secrets rotated) before the feed stalls.
    std::fs::remove_file(&config).expect("rm the config");
    let mut bot = fx.bot("ss-a");
    let r = wait_row(&fx, "ss-a", 20.0, |r| r["health"] == "stale");
    let since = r["stale_since"].as_str().expect("stale_since").to_string();
    assert!(
        since.parse::<jiff::Timestamp>().is_ok(),
        "RFC 3339: {since}"
    );
    std::thread::sleep(Duration::from_millis(2500));
    let later = row(&fx, "ss-a");
    assert_eq!(later["health"], "stale", "{later:#}");
    assert_eq!(later["stale_since"], since.as_str(), "stable: {later:#}");
    assert!(later["erroring_since"].is_null(), "{later:#}");
    // on_stale = "restart" could not start a new process: the running one stays.
    assert_eq!(later["pid"], pid, "{later:#}");
    assert!(
        later["refused"]["what"]
            .as_str()
            .unwrap_or("")
            .starts_with("stale-feed restart"),
        "{later:#}"
    );
    let history = history_details(&later);
    assert!(
        history
            .iter()
            .any(|h| h.contains("\"health\"") && h.contains("feed stale")),
        "the health change is in the history: {history:#?}"
    );
    let _ = bot.kill();
    let _ = bot.wait();
    let _ = console.stop(20);
}
