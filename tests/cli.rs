//! The `switchboard` binary: exit codes, error messages, headless runs with real processes and
//! real signals, and `status --json` telling the truth throughout.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use switchboard::{Phase, Transition};

fn connectors(names: &[&str], config: &str) -> String {
    names
        .iter()
        .map(|n| {
            format!(
                "[[connector]]\nname = \"{n}\"\ntype = \"binancefutures\"\nconfig = \"{config}\"\n"
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A headless runner whose JSON transitions (and feed health lines) arrive on channels.
struct Headless {
    child: Child,
    rx: mpsc::Receiver<Transition>,
    health: mpsc::Receiver<switchboard::model::view::HealthLine>,
}

impl Headless {
    fn start(fx: &Fixture) -> Headless {
        let mut child = Command::new(SWITCHBOARD)
            .args(["run", "--headless", "--json", "--manifest"])
            .arg(fx.path().join("switchboard.toml"))
            .current_dir(fx.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn headless");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let (htx, health) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Ok(h) = serde_json::from_str::<switchboard::model::view::HealthLine>(&line) {
                    let _ = htx.send(h);
                    continue;
                }
                let t: Transition = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a transition: {line}: {e}"));
                if tx.send(t).is_err() {
                    break;
                }
            }
        });
        Headless { child, rx, health }
    }

    /// Waits for a transition matching `pred`.
    fn expect(&self, what: &str, secs: u64, pred: impl Fn(&Transition) -> bool) -> Transition {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(t) if pred(&t) => return t,
                Ok(_) => {}
                Err(_) => panic!("no transition: {what}"),
            }
        }
    }
}

#[test]
fn headless_tells_stale_and_recovered_and_status_shows_the_feed() {
    let fx = Fixture::new("hlfeed");
    fx.sim_config(
        "a.toml",
        "lines_per_sec = 0.0\nfeed_hz = 100.0\nfeed_symbols = [\"BTCUSDT\", \"ETHUSDT\"]\nfeed_stall_after = 1.5",
    );
    fx.manifest(
        "feed = { stale_after = 1.0 }",
        &connectors(&["hlfeed-a"], "a.toml"),
    );
    let hl = Headless::start(&fx);
    hl.expect("ready", 20, |t| t.phase == Phase::Ready);
    let mut bot = fx.bot("hlfeed-a");
    let stale = hl
        .health
        .recv_timeout(std::time::Duration::from_secs(15))
        .expect("a stale line");
    assert_eq!(
        stale.health,
        switchboard::model::view::HealthChange::Stale,
        "{stale:?}"
    );
    assert!(stale.detail.contains("no market data"), "{stale:?}");
    // Under load the bot can take more than stale_after to register, so the first stale line
    // may come before any data (and recover): wait for the stall itself, after data flowed.
    let mut v = serde_json::Value::Null;
    assert!(
        eventually(15.0, || {
            let out = fx.run(&["status", "--json"]);
            v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
            v[0]["health"] == "stale" && v[0]["feed"]["total"].as_u64().unwrap_or(0) > 0
        }),
        "stale after data flowed: {v}"
    );
    // What was told on the way (an early stale and its recovery) is not what comes next.
    while hl.health.try_recv().is_ok() {}
    // status --json (asked of the live console) carries the feed fields of DESIGN §10.
    let c = &v[0];
    assert_eq!(c["health"], "stale", "{c}");
    for key in [
        "events_per_s",
        "bytes_per_s",
        "total",
        "last_event_age_s",
        "errors_1m",
        "symbols",
    ] {
        assert!(c["feed"].get(key).is_some(), "feed.{key} in {c}");
    }
    assert!(
        c["feed"]["symbols"]["ETHUSDT"]
            .get("last_event_age_s")
            .is_some(),
        "{c}"
    );
    for key in ["errors_1m", "warns_1m", "last_error"] {
        assert!(c.get(key).is_some(), "{key} in {c}");
    }
    let plain = String::from_utf8_lossy(&fx.run(&["status"]).stdout).to_string();
    assert!(
        plain.contains("HEALTH") && plain.contains("stale"),
        "{plain}"
    );
    // The bot leaves (cleanly): nobody waits for data any more, so it is no longer stale.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(bot.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = bot.wait();
    // A stale line of the stall may still be on its way: the next change after it is the
    // recovery.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = hl.health.recv_timeout(left).expect("a recovered line");
        if line.health == switchboard::model::view::HealthChange::Recovered {
            break;
        }
        assert_eq!(
            line.health,
            switchboard::model::view::HealthChange::Stale,
            "{line:?}"
        );
    }
}

impl Drop for Headless {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn headless_brings_three_up_restarts_a_killed_one_and_stops_all_on_sigterm() {
    let fx = Fixture::new("headless");
    fx.sim_config("a.toml", "ready_delay_ms = 50");
    fx.manifest(
        "shutdown_timeout = 3.0\nrestart = { initial_backoff = 0.2, jitter = 0.0 }",
        &connectors(&["hl-a", "hl-b", "hl-c"], "a.toml"),
    );
    let hl = Headless::start(&fx);
    let mut pids = std::collections::HashMap::new();
    while pids.len() < 3 {
        let t = hl.expect("three ready", 20, |t| t.phase == Phase::Ready);
        pids.insert(t.name.clone(), t.pid.expect("ready has a pid"));
    }
    let st = fx.status();
    assert_eq!(
        st.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["hl-a", "hl-b", "hl-c"]
    );
    for s in &st {
        assert_eq!(s.phase, Phase::Ready, "{s:?}");
        assert_eq!(s.pid, Some(pids[&s.name]));
        assert_eq!(s.kind.as_str(), "binancefutures");
        assert!(s.uptime_s.is_some());
    }

    // SIGKILL one connector behind the console's back: it is restarted.
    let victim = pids["hl-b"];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let exited = hl.expect("hl-b exited", 10, |t| {
        t.name == "hl-b" && t.phase == Phase::Exited
    });
    assert!(exited.detail.contains("signal 9"), "{}", exited.detail);
    hl.expect("hl-b backoff", 10, |t| {
        t.name == "hl-b" && t.phase == Phase::Backoff
    });
    let again = hl.expect("hl-b ready again", 20, |t| {
        t.name == "hl-b" && t.phase == Phase::Ready
    });
    assert_ne!(again.pid, Some(victim));
    let b = fx
        .status()
        .into_iter()
        .find(|s| s.name == "hl-b")
        .expect("hl-b");
    assert_eq!(
        (
            b.phase,
            b.restarts,
            b.last_exit.map(|e| e.to_string()).as_deref()
        ),
        (Phase::Ready, 1, Some("signal 9"))
    );

    // SIGTERM the console: everything stops, exit code 0.
    let mut hl = hl;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hl.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("sigterm");
    let code = hl.child.wait().expect("wait").code();
    assert_eq!(code, Some(0));
    for s in fx.status() {
        assert_eq!(s.phase, Phase::Stopped, "{s:?}");
        assert_eq!(s.pid, None);
    }
    let all_pids: Vec<i32> = pids.values().copied().chain(again.pid).collect();
    assert!(
        all_pids.iter().all(|p| !alive(*p)),
        "no connector left behind"
    );
}

#[test]
fn connectors_keep_running_and_logging_after_the_console_is_sigkilled() {
    let fx = Fixture::new("survive");
    fx.sim_config("a.toml", "lines_per_sec = 50.0");
    fx.manifest("", &connectors(&["sv-a"], "a.toml"));
    let mut hl = Headless::start(&fx);
    let pid = hl
        .expect("ready", 20, |t| t.phase == Phase::Ready)
        .pid
        .expect("pid");
    hl.child.kill().expect("SIGKILL the console");
    hl.child.wait().expect("reap console");
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(pid), "the connector outlives the console");
    let log = fx.log("sv-a");
    let size = std::fs::metadata(&log).expect("log").len();
    assert!(
        eventually(5.0, || std::fs::metadata(&log)
            .map(|m| m.len() > size)
            .unwrap_or(false)),
        "the connector keeps logging"
    );
    let st = fx.status();
    assert_eq!(st[0].phase, Phase::Ready);
    assert_eq!(st[0].pid, Some(pid));
    assert!(
        st[0].detail.contains("no console running"),
        "{}",
        st[0].detail
    );
    // Once it is gone, status says so instead of pretending.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    assert!(eventually(5.0, || fx.status()[0].phase == Phase::Exited));
    let st = fx.status();
    assert!(st[0].detail.contains("is gone"), "{}", st[0].detail);
    assert_eq!(st[0].pid, None);
}

#[test]
fn a_second_console_on_one_state_dir_is_refused_naming_the_first() {
    let fx = Fixture::new("lock");
    fx.sim_config("a.toml", "");
    fx.manifest("", &connectors(&["lk-a"], "a.toml"));
    let hl = Headless::start(&fx);
    hl.expect("ready", 20, |t| t.phase == Phase::Ready);
    let second = fx.run(&["run", "--headless"]);
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains(&format!("PID {}", hl.child.id())), "{err}");
}

#[test]
fn check_accepts_a_good_manifest() {
    let fx = Fixture::new("checkok");
    fx.sim_config("a.toml", "");
    fx.manifest("", &connectors(&["ck-a"], "a.toml"));
    let out = fx.run(&["check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok, 1 connector(s)"));
}

#[test]
fn bad_manifests_exit_2_naming_file_connector_and_key() {
    let fx = Fixture::new("badman");
    fx.sim_config("a.toml", "");
    std::fs::write(
        fx.path().join("nokey.toml"),
        "stream_url = \"x\"\napi_key = \"TOPSECRET\"\n",
    )
    .expect("w");
    std::fs::write(
        fx.path().join("broken.toml"),
        "api_key = \"TOPSECRET\"\nsecret = = 1\n",
    )
    .expect("w");
    let good = connectors(&["bm-a"], "a.toml");
    let cases: Vec<(&str, String, String, Vec<&str>)> = vec![
        (
            "unknown console key",
            "[console]\ncolour = 1\n".into(),
            good.clone(),
            vec!["colour", "line"],
        ),
        (
            "bad type",
            String::new(),
            good.replace("binancefutures", "binance"),
            vec!["'bm-a'", "'type'", "binancefutures, binancespot, bybit"],
        ),
        (
            "name with slash",
            String::new(),
            good.replace("\"bm-a\"", "\"bm/a\""),
            vec!["'name'", "'/'"],
        ),
        (
            "missing config",
            String::new(),
            good.replace("a.toml", "nope.toml"),
            vec!["'bm-a'", "nope.toml", "config"],
        ),
        (
            "missing exchange key",
            String::new(),
            good.replace("a.toml", "nokey.toml"),
            vec!["'bm-a'", "'api_url'"],
        ),
        (
            "broken connector config",
            String::new(),
            good.replace("a.toml", "broken.toml"),
            vec!["'bm-a'", "line 2"],
        ),
        (
            "bad policy",
            "restart = { policy = \"sometimes\" }".into(),
            good.clone(),
            vec!["sometimes", "line"],
        ),
        (
            "negative timeout",
            "startup_timeout = -1.0".into(),
            good.clone(),
            vec!["'bm-a'", "'startup_timeout'"],
        ),
        (
            "duplicate",
            String::new(),
            format!("{good}\n{good}"),
            vec!["'bm-a'", "'name'", "twice"],
        ),
        (
            "syntax",
            String::new(),
            format!("{good}\nname = = \"x\"\n"),
            vec!["line"],
        ),
    ];
    for (what, extra, body, needles) in cases {
        let p = fx.manifest("", &body);
        if extra.starts_with("[console]") {
            let text = std::fs::read_to_string(&p).expect("r");
            std::fs::write(&p, format!("{extra}\n{text}")).expect("w");
        } else if !extra.is_empty() {
            fx.manifest(&extra, &body);
        }
        // A connector's own config is that connector's problem: a console opens (see
        // a_connector_whose_config_is_missing_is_failed_and_the_others_run); `check` and a
        // `status` with no console running still exit 2.
        let config_only = what.contains("config") || what.contains("exchange key");
        let commands: &[&[&str]] = if config_only {
            &[&["check"], &["status"]]
        } else {
            &[&["check"], &["run", "--headless"], &["status"]]
        };
        for cmd in commands {
            let out = fx.run(cmd);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what} / {cmd:?}: {err}");
            assert!(
                err.contains("switchboard.toml"),
                "{what}: names the file: {err}"
            );
            for n in &needles {
                assert!(err.contains(n), "{what}: expected {n:?} in: {err}");
            }
            assert!(!err.contains("TOPSECRET"), "{what}: a secret leaked: {err}");
        }
    }
}

#[test]
fn a_connector_whose_config_is_missing_is_failed_and_the_others_run() {
    let fx = Fixture::new("cfgmiss");
    fx.sim_config("a.toml", "lines_per_sec = 0.0");
    fx.manifest(
        "",
        &format!(
            "{}\n{}",
            connectors(&["cm-a"], "a.toml"),
            connectors(&["cm-b"], "b.toml")
        ),
    );
    // `check` stays strict.
    let out = fx.run(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("'cm-b'") && err.contains("b.toml"), "{err}");

    let console = HeadlessConsole::start(&fx, &[]);
    let warning = console.line_with("b.toml", 10);
    assert!(warning.contains("cm-b"), "{warning}");
    assert!(
        eventually(20.0, || {
            let rows = fx.status();
            rows.len() == 2 && rows[0].phase == Phase::Ready && rows[1].phase == Phase::Failed
        }),
        "{:?}",
        fx.status()
    );
    let b = fx.status().remove(1);
    assert!(
        b.detail.contains("b.toml") && b.detail.contains("once it is fixed, start it again"),
        "names the file and what to do: {}",
        b.detail
    );
    assert_eq!(b.pid, None);

    // A start reads the config again and says the reason again.
    let out = fx.run(&["start", "cm-b"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("b.toml"), "{err}");
    assert_eq!(fx.status()[1].phase, Phase::Failed);

    // Fixed and reloaded: it starts.
    fx.sim_config("b.toml", "lines_per_sec = 0.0");
    let out = fx.run(&["reload"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = fx.run(&["start", "cm-b"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fx.status()[1].phase, Phase::Ready);
    let (code, _) = console.stop(20);
    assert_eq!(code, Some(0));
}

#[test]
fn an_invalid_manifest_on_disk_never_locks_out_the_running_console() {
    let fx = Fixture::new("midedit");
    fx.sim_config("a.toml", "lines_per_sec = 0.0");
    let path = fx.manifest("", &connectors(&["me-a", "me-b"], "a.toml"));
    // Its own state dir: found from `[console] state_dir` alone while the file is broken.
    let good = format!(
        "[console]\nstate_dir = \"state\"\n\n{}",
        std::fs::read_to_string(&path).expect("read")
    );
    std::fs::write(&path, &good).expect("write");
    let mut hl = Headless::start(&fx);
    assert!(eventually(20.0, || {
        let rows = fx.status();
        rows.len() == 2 && rows.iter().all(|r| r.phase == Phase::Ready)
    }));
    let pid_a = fx.pid_of("me-a").expect("pid");

    // Someone is mid-edit: a syntax error further down.
    std::fs::write(&path, format!("{good}\n[[connector]]\nname = = \"x\"\n")).expect("write");
    let run = |args: &[&str], code: i32| {
        let out = fx.run(args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(
            err.contains("switchboard.toml: line ") && err.contains("extra `=`"),
            "{args:?}: the manifest error on stderr: {err}"
        );
        (String::from_utf8_lossy(&out.stdout).to_string(), err)
    };
    let (json, err) = run(&["status", "--json"], 0);
    assert!(err.contains("warning:"), "{err}");
    let rows: Vec<switchboard::ConnectorView> = serde_json::from_str(&json).expect("rows");
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.phase == Phase::Ready), "{rows:?}");
    let (said, _) = run(&["stop", "me-b"], 0);
    assert!(said.contains("stopped"), "{said}");
    let (said, _) = run(&["start", "me-b"], 0);
    assert!(said.contains("is ready"), "{said}");
    let (said, _) = run(&["restart", "me-a"], 0);
    assert!(said.contains("is ready"), "{said}");
    assert_ne!(fx.pid_of("me-a"), Some(pid_a), "restarted");
    // `build` reaches the console too (which refuses to build under a running connector).
    let (_, err) = run(&["build", "me-a"], 1);
    assert!(err.contains("a build would replace its binary"), "{err}");
    let (_, err) = run(&["reload"], 2);
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(fx.status().len(), 2, "nothing was changed");

    // With no console running: today's exit 2 with the error; status still shows state.json.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hl.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("sigterm");
    assert_eq!(hl.child.wait().expect("wait").code(), Some(0));
    let (json, _) = run(&["status", "--json"], 2);
    let rows: Vec<switchboard::ConnectorView> = serde_json::from_str(&json).expect("rows");
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.phase == Phase::Stopped), "{rows:?}");
    run(&["start", "me-a"], 2);
    run(&["reload"], 2);
}

#[test]
fn a_binary_that_cannot_run_fails_check_and_its_start_naming_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new("badbin");
    fx.sim_config("a.toml", "lines_per_sec = 0.0");
    let noexec = fx.path().join("connector-noexec");
    std::fs::copy(SIM, &noexec).expect("copy");
    std::fs::set_permissions(&noexec, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let root = fx.path().display().to_string();
    let cases: Vec<(String, Vec<String>)> = vec![
        (
            format!("binary = \"{}\"", noexec.display()),
            vec![noexec.display().to_string(), "not executable".into()],
        ),
        (
            format!("binary = \"{root}\""),
            vec![root.clone(), "is not a program".into()],
        ),
        // Where `b` builds it, but auto_build is off.
        (
            "binary = \"target/release/connector\"\nauto_build = false".into(),
            vec![
                format!("{root}/target/release/connector"),
                "does not exist".into(),
                "auto_build = false".into(),
            ],
        ),
        // Outside the project: no build makes it.
        (
            "binary = \"/opt/elsewhere/connector\"".into(),
            vec![
                "/opt/elsewhere/connector".into(),
                "does not exist".into(),
                format!("makes {root}/target/release/connector"),
            ],
        ),
    ];
    for (keys, needles) in &cases {
        fx.manifest(
            "",
            &format!(
                "{}\n{}",
                connectors(&["bb-a"], "a.toml"),
                connectors(&["bb-b"], "a.toml") + keys
            ),
        );
        let out = fx.run(&["check"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{keys}: {err}");
        assert!(err.contains("connector 'bb-b'"), "{keys}: {err}");
        for n in needles {
            assert!(err.contains(n.as_str()), "{keys}: {n:?} in {err}");
        }
    }

    // At run time the pane says the same, without building (a build cannot fix it).
    fx.manifest(
        "",
        &format!(
            "{}\n{}",
            connectors(&["bb-a"], "a.toml"),
            connectors(&["bb-b"], "a.toml") + &cases[0].0
        ),
    );
    let mut hl = Headless::start(&fx);
    assert!(eventually(20.0, || {
        let rows = fx.status();
        rows[0].phase == Phase::Ready && rows[1].phase == Phase::Failed
    }));
    let b = fx.status().remove(1);
    assert!(
        b.detail.contains(&noexec.display().to_string()) && b.detail.contains("not executable"),
        "{}",
        b.detail
    );
    let out = fx.run(&["start", "bb-b"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not executable"), "{err}");
    let _ = hl.child.kill();
    let _ = hl.child.wait();
}

#[test]
fn a_manifest_with_only_hosts_passes_check() {
    let fx = Fixture::new("hostsonly");
    std::fs::write(
        fx.path().join("switchboard.toml"),
        "[[host]]\nname = \"tokyo\"\ncommand = \"ssh -T -o BatchMode=yes trader@tokyo switchboard attach --stdio\"\n",
    )
    .expect("write");
    let out = fx.run(&["check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("ok, 0 connector(s), 1 host(s)"), "{said}");
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(SWITCHBOARD)
        .arg("frobnicate")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(SWITCHBOARD)
        .args(["run"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "run without --headless is a usage error"
    );
}

/// One raw line to the control socket, one reply line back, parsed as JSON.
fn control_exchange(fx: &Fixture, request: &[u8]) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s =
        std::os::unix::net::UnixStream::connect(fx.path().join(".switchboard/control.sock"))
            .expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request).expect("write");
    s.shutdown(std::net::Shutdown::Write).expect("half-close");
    let mut reply = String::new();
    s.read_to_string(&mut reply)
        .expect("a reply, not a closed connection");
    serde_json::from_str(reply.trim()).unwrap_or_else(|e| panic!("not JSON: {reply:?}: {e}"))
}

#[test]
fn status_asks_the_live_console_and_bad_requests_get_an_error_reply() {
    let fx = Fixture::new("live");
    fx.sim_config("a.toml", "");
    fx.manifest("", &connectors(&["lv-a", "lv-b"], "a.toml"));
    let hl = Headless::start(&fx);
    // Both ready, in whatever order they come.
    let ready = std::cell::RefCell::new(std::collections::HashMap::new());
    hl.expect("both ready", 20, |t| {
        if t.phase == Phase::Ready {
            ready.borrow_mut().insert(t.name.clone(), t.pid);
        }
        ready.borrow().len() == 2
    });
    let pid_a = ready.borrow()["lv-a"];

    // With state.json gone, status still knows everything: it asks the console.
    let state = fx.path().join(".switchboard/state.json");
    std::fs::remove_file(&state).expect("rm state.json");
    let out = fx.run(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let rows: Vec<switchboard::ConnectorView> =
        serde_json::from_slice(&out.stdout).expect("status --json");
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].phase, rows[0].pid), (Phase::Ready, pid_a));
    assert!(rows[0].uptime_s.is_some_and(|u| u >= 0.0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("state.json"),
        "live, not the file: {stderr}"
    );
    let plain = fx.run(&["status"]);
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(
        text.contains("lv-a") && text.contains("ready") && !text.contains("no console"),
        "{text}"
    );

    // The control protocol: an error reply for anything that is not a version-1 request.
    let reply = control_exchange(&fx, b"\xff\xfe not utf-8\n");
    assert_eq!(reply["result"], "error", "{reply}");
    assert_eq!(reply["kind"], "bad_request", "{reply}");
    let reply = control_exchange(&fx, b"{not json\n");
    assert_eq!(reply["kind"], "bad_request", "{reply}");
    let reply = control_exchange(&fx, br#"{"v":99,"op":"status"}"#);
    assert_eq!(reply["kind"], "unsupported_version", "{reply}");
    let reply = control_exchange(
        &fx,
        br#"{"v":1,"op":"act","action":"stop","target":"nope"}"#,
    );
    assert_eq!(reply["kind"], "unknown_connector", "{reply}");
    let reply = control_exchange(&fx, br#"{"v":1,"op":"status"}"#);
    assert_eq!(reply["result"], "status", "{reply}");
    assert_eq!(reply["connectors"][1]["name"], "lv-b", "{reply}");
    // A typed outcome for an action.
    let reply = control_exchange(
        &fx,
        br#"{"v":1,"op":"act","action":"stop","target":"lv-b"}"#,
    );
    assert_eq!(reply["result"], "acted", "{reply}");
    assert_eq!(
        (reply["ok"].clone(), reply["phase"].clone()),
        (true.into(), "stopped".into())
    );

    // Once the console is gone, status falls back to state.json and says so.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hl.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("sigterm");
    assert!(eventually(15.0, || {
        switchboard::engine::io::store::lock_holder(&fx.path().join(".switchboard")).is_none()
    }));
    let out = fx.run(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no console runs") && stderr.contains("state.json"),
        "{stderr}"
    );
    let rows: Vec<switchboard::ConnectorView> =
        serde_json::from_slice(&out.stdout).expect("status --json");
    assert!(rows.iter().all(|r| r.phase == Phase::Stopped), "{rows:?}");
}

#[test]
fn the_sim_accepts_and_rejects_configs_as_the_real_connector_does() {
    let fx = Fixture::new("simcfg");
    let run = |kind: &str, text: &str| {
        let cfg = fx.path().join(format!("{kind}-{}.toml", fastrand::u32(..)));
        std::fs::write(&cfg, text).expect("config");
        // never_ready and a crash after 50 ms: a valid config exits with the crash code.
        let out = fx
            .command(SIM)
            .args(["simcfg-x", kind])
            .arg(&cfg)
            .output()
            .expect("run sim");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let sim = "[sim]\nnever_ready = true\ncrash_after_ms = 50\ncrash_code = 7\n";
    // binancespot: the two URLs suffice; api_key + secret need an Ed25519 PEM secret.
    let (code, _) = run(
        "binancespot",
        &format!("stream_url = \"a\"\napi_url = \"b\"\n{sim}"),
    );
    assert_eq!(code, Some(7), "market-data-only spot config is valid");
    let (code, err) = run(
        "binancespot",
        &format!("stream_url = \"a\"\napi_url = \"b\"\napi_key = \"k\"\nsecret = \"s\"\n{sim}"),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("panicked"), "{err}");
    // bybit: every key required, order_prefix at most 8 characters without '/'.
    let bybit = |prefix: &str| {
        format!("public_url = \"a\"\nprivate_url = \"a\"\ntrade_url = \"a\"\nrest_url = \"a\"\napi_key = \"k\"\nsecret = \"s\"\ncategory = \"linear\"\norder_prefix = \"{prefix}\"\n{sim}")
    };
    assert_eq!(run("bybit", &bybit("ok")).0, Some(7));
    assert_eq!(run("bybit", &bybit("much-too-long")).0, Some(1));
    assert_eq!(run("bybit", "public_url = \"a\"\n").0, Some(1));
    assert_eq!(run("kraken", &bybit("ok")).0, Some(1), "unknown exchange");
}

#[test]
fn a_crash_line_never_leaks_a_secret_or_a_control_character() {
    let fx = Fixture::new("leak");
    let key = "AKIA1234567890ABCDEFXYZ"; // 23 characters, crossing the 300-character cut
                                         // The summary starts with the 79-character `thread … panicked at …:` line; 202 x's put the
                                         // key at characters 290..313 of it: across the cut at 300.
    let message = format!(
        "{} api_key={key}\\rOVERWRITTEN\\u0007\\u001b]0;pwned\\u0007\\u009b2J end",
        "x".repeat(202)
    );
    std::fs::write(
        fx.path().join("a.toml"),
        format!(
            "stream_url = \"a\"\napi_url = \"b\"\napi_key = \"{key}\"\nsecret = \"s3cr3t-value\"\n[sim]\ncrash_after_ms = 100\ncrash_message = \"{message}\"\n"
        ),
    )
    .expect("config");
    fx.manifest(
        "restart = { policy = \"never\" }",
        &connectors(&["lk-a"], "a.toml"),
    );
    let hl = std::process::Command::new(SWITCHBOARD)
        .args(["run", "--headless", "--manifest"])
        .arg(fx.path().join("switchboard.toml"))
        .current_dir(fx.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("headless");
    assert!(
        eventually(15.0, || fx.status()[0].phase == Phase::Exited),
        "{:?}",
        fx.status()
    );
    let json = fx.run(&["status", "--json"]);
    let table = fx.run(&["status"]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hl.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("sigterm");
    let out = hl.wait_with_output().expect("headless output");
    let state = std::fs::read_to_string(fx.path().join(".switchboard/state.json")).expect("state");
    let detail = fx.status()[0].detail.clone();
    assert!(detail.contains("****"), "the key is masked: {detail}");
    assert!(detail.contains("panicked at"), "{detail}");
    // No 6 consecutive characters of the key anywhere the console writes.
    let shown = [
        String::from_utf8_lossy(&json.stdout).into_owned(),
        String::from_utf8_lossy(&table.stdout).into_owned(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        state,
    ];
    for (i, text) in shown.iter().enumerate() {
        for w in key.as_bytes().windows(6) {
            let w = std::str::from_utf8(w).expect("ascii");
            assert!(
                !text.contains(w),
                "output {i} shows {w:?} of the key: {text}"
            );
        }
    }
    // Plain-text outputs carry no control character that could move the cursor or ring a bell.
    for text in [&shown[1], &shown[2]] {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "a raw control character in: {text:?}"
        );
        assert!(text.contains("lk-a"), "{text}");
    }
}

#[test]
fn idle_connections_cannot_starve_the_control_socket() {
    use std::io::Read;
    let fx = Fixture::new("starve");
    fx.sim_config("a.toml", "");
    fx.manifest("", &connectors(&["sv-x"], "a.toml"));
    let _hl = Headless::start(&fx);
    let sock = fx.path().join(".switchboard/control.sock");
    assert!(eventually(15.0, || fx
        .status()
        .first()
        .is_some_and(|s| s.phase == Phase::Ready)));
    // 200 connections that never send a request: far past the cap of 64.
    let idle: Vec<_> = (0..200)
        .map(|_| std::os::unix::net::UnixStream::connect(&sock).expect("connect"))
        .collect();
    // A real command still gets through (busy replies are retried; idle ones time out).
    let out = fx.run(&["status", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<switchboard::ConnectorView> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows[0].phase, Phase::Ready);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("state.json"), "answered live: {stderr}");
    // Every idle connection was answered and closed: busy at once, or timed out.
    for mut c in idle {
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut reply = String::new();
        c.read_to_string(&mut reply).expect("closed by the console");
        let v: serde_json::Value = serde_json::from_str(reply.trim()).expect("json reply");
        assert!(v["kind"] == "busy" || v["kind"] == "bad_request", "{reply}");
    }
}

#[test]
fn watch_streams_cannot_lock_commands_out_of_the_control_socket() {
    use std::io::Write;
    let fx = Fixture::new("streams");
    fx.sim_config("a.toml", "");
    fx.manifest("", &connectors(&["ws-x"], "a.toml"));
    let _hl = Headless::start(&fx);
    let sock = fx.path().join(".switchboard/control.sock");
    assert!(eventually(15.0, || fx
        .status()
        .first()
        .is_some_and(|s| s.phase == Phase::Ready)));
    // As many watch streams as the socket has connections (viewers, attach links): each is
    // either streaming (its first line is a snapshot) or told the console is busy.
    let mut streaming = Vec::new();
    let mut refused = 0;
    for _ in 0..64 {
        let mut c = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
        c.write_all(b"{\"v\":1,\"op\":\"watch\"}\n").expect("watch");
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut r = std::io::BufReader::new(c.try_clone().expect("clone"));
        let mut first = String::new();
        r.read_line(&mut first).expect("a first line");
        if first.contains("\"busy\"") {
            refused += 1;
        } else {
            assert!(first.contains("snapshot"), "{first}");
            streaming.push(c);
        }
    }
    assert!(!streaming.is_empty(), "streams are served");
    assert!(refused > 0, "not every connection may be a stream");
    // With every stream slot taken, a command is still answered, without being told `busy`.
    let out = fx.run(&["status", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<switchboard::ConnectorView> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows[0].phase, Phase::Ready);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("state.json"),
        "answered live"
    );
    drop(streaming);
}

#[test]
fn attach_by_another_user_names_the_console_it_may_not_reach() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    const TEST: &str = "attach_by_another_user_names_the_console_it_may_not_reach";
    if !nix::unistd::Uid::effective().is_root() {
        return skip_or_fail(TEST, "only root can run the CLI as another user");
    }
    let Some(nobody) = nix::unistd::User::from_name("nobody").ok().flatten() else {
        return skip_or_fail(TEST, "no user 'nobody'");
    };
    let fx = Fixture::new("otheruser");
    fx.sim_config("a.toml", "");
    fx.manifest("", &connectors(&["ou-x"], "a.toml"));
    let _hl = Headless::start(&fx);
    assert!(eventually(15.0, || fx
        .status()
        .first()
        .is_some_and(|s| s.phase == Phase::Ready)));
    // A shared deployment: anyone may read the manifest; the state dir stays the console's.
    std::fs::set_permissions(fx.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(
        fx.path().join("switchboard.toml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let out = Command::new(SWITCHBOARD)
        .args(["attach", "--stdio", "--manifest"])
        .arg(fx.path().join("switchboard.toml"))
        .current_dir("/")
        .uid(nobody.uid.as_raw())
        .gid(nobody.gid.as_raw())
        .stdin(Stdio::null())
        .output()
        .expect("run attach as nobody");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("no console"), "{stderr}");
    assert!(stderr.contains("permission denied"), "{stderr}");
    assert!(stderr.contains("another user"), "{stderr}");
    let sock = fx.path().join(".switchboard/control.sock");
    assert!(stderr.contains(&sock.display().to_string()), "{stderr}");
}

#[test]
fn status_names_a_stranger_that_now_holds_a_recorded_pid() {
    let fx = Fixture::new("stranger");
    fx.sim_config("a.toml", "");
    fx.manifest("", &connectors(&["st-x"], "a.toml"));
    let hl = Headless::start(&fx);
    assert!(eventually(15.0, || fx
        .status()
        .first()
        .is_some_and(|s| s.phase == Phase::Ready)));
    let pid = fx.pid_of("st-x").expect("pid");
    drop(hl); // SIGKILL: state.json stays as the console left it
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the connector");
    // The recorded PID is reused by an unrelated process.
    let mut stranger = Command::new("sleep").arg("60").spawn().expect("sleep");
    let path = fx.path().join(".switchboard/state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("state")).expect("json");
    state["connectors"][0]["pid"] = serde_json::json!(stranger.id());
    std::fs::write(&path, serde_json::to_vec(&state).expect("json")).expect("write");
    let st = fx.status();
    let _ = stranger.kill();
    let _ = stranger.wait();
    assert_eq!(st[0].phase, Phase::Exited);
    assert_eq!(st[0].pid, None);
    let want = format!(
        "PID {} now belongs to another process (sleep)",
        stranger.id()
    );
    assert!(st[0].detail.contains(&want), "{}", st[0].detail);
    assert!(!st[0].detail.contains("is gone"), "{}", st[0].detail);
}

#[test]
fn log_rotation_loses_no_line_and_keeps_files_within_the_limit() {
    const LINES: u64 = 200_000;
    const LIMIT: u64 = 256 * 1024;
    let fx = Fixture::new("rotate");
    fx.sim_config(
        "a.toml",
        &format!("flood_lines = {LINES}\nline_bytes = 40\nexit_after_flood = true"),
    );
    let m = fx.manifest(
        "restart = { policy = \"never\" }",
        &connectors(&["rt-a"], "a.toml"),
    );
    let text = std::fs::read_to_string(&m).expect("manifest");
    std::fs::write(
        &m,
        format!("[console]\nlog_max_bytes = {LIMIT}\nlog_keep = 60\n\n{text}"),
    )
    .expect("manifest");
    let _hl = Headless::start(&fx);
    let log = fx.log("rt-a");
    let files = || -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = (1..=60)
            .rev()
            .map(|k| std::path::PathBuf::from(format!("{}.{k}", log.display())))
            .filter(|p| p.exists())
            .collect();
        v.push(log.clone());
        v
    };
    // Every numbered line, from all files, exactly once.
    let count = || -> (Vec<u32>, usize) {
        let mut seen = vec![0u32; LINES as usize];
        let mut other = 0;
        for f in files() {
            for line in std::fs::read_to_string(&f).unwrap_or_default().lines() {
                match line
                    .strip_prefix("flood ")
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|n| n.parse::<usize>().ok())
                {
                    Some(n) if n < seen.len() => seen[n] += 1,
                    _ => other += 1,
                }
            }
        }
        (seen, other)
    };
    assert!(
        eventually(60.0, || count().0.iter().all(|c| *c >= 1)),
        "lines never written: {}",
        count().0.iter().filter(|c| **c == 0).count()
    );
    let (seen, _) = count();
    let lost = seen.iter().filter(|c| **c == 0).count();
    let doubled = seen.iter().filter(|c| **c > 1).count();
    assert_eq!((lost, doubled), (0, 0), "lines lost, lines written twice");
    let all = files();
    assert!(all.len() > 20, "it rotated: {} files", all.len());
    for f in &all {
        let size = std::fs::metadata(f).expect("meta").len();
        assert!(
            size <= LIMIT * 11 / 10,
            "{} is {size} bytes, over 1.1 × {LIMIT}",
            f.display()
        );
    }
}

#[test]
fn headless_keeps_supervising_after_sighup() {
    let fx = Fixture::new("hup");
    fx.sim_config("a.toml", "");
    fx.manifest("", &connectors(&["hu-a"], "a.toml"));
    let mut hl = Headless::start(&fx);
    let pid = hl
        .expect("ready", 20, |t| t.phase == Phase::Ready)
        .pid
        .expect("pid");
    let console = nix::unistd::Pid::from_raw(hl.child.id() as i32);
    nix::sys::signal::kill(console, nix::sys::signal::Signal::SIGHUP).expect("sighup");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        hl.child.try_wait().expect("try_wait"),
        None,
        "still running"
    );
    // Still supervising: a killed connector is restarted.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    hl.expect("restarted", 20, |t| {
        t.phase == Phase::Ready && t.pid != Some(pid)
    });
    nix::sys::signal::kill(console, nix::sys::signal::Signal::SIGTERM).expect("sigterm");
    assert_eq!(hl.child.wait().expect("wait").code(), Some(0));
}

#[test]
fn an_exit_detail_has_the_last_words_still_on_their_way_to_the_log() {
    // A busy connector keeps its log relay batching: the panic is written into the pipe an
    // instant before the exit is seen. The exit's detail must still quote it.
    let fx = Fixture::new("lastwords");
    fx.sim_config(
        "a.toml",
        "lines_per_sec = 2000.0\ncrash_after_ms = 300\ncrash_message = \"the last words\"",
    );
    fx.manifest(
        "restart = { policy = \"never\" }",
        &connectors(&["lw-a"], "a.toml"),
    );
    let hl = Headless::start(&fx);
    let exited = hl.expect("exited", 20, |t| t.phase == Phase::Exited);
    assert!(
        exited.detail.contains("panicked at") && exited.detail.contains("the last words"),
        "{}",
        exited.detail
    );
}

#[test]
fn status_into_a_closed_pipe_ends_cleanly() {
    let fx = Fixture::new("epipe");
    fx.sim_config("a.toml", "");
    fx.manifest(
        "",
        &connectors(&["epipe-a", "epipe-b", "epipe-c"], "a.toml"),
    );
    for args in [&["status"][..], &["status", "--json"], &["check"]] {
        let mut child = Command::new(SWITCHBOARD)
            .args(args)
            .arg("--manifest")
            .arg(fx.path().join("switchboard.toml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // The reader is gone before the first line (as `| head -0`, or `| true`).
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn several_names_all_and_a_name_only_the_file_knows() {
    let fx = Fixture::new("many");
    fx.sim_config("a.toml", "lines_per_sec = 0.0");
    fx.manifest("", &connectors(&["many-a", "many-b"], "a.toml"));
    let mut hl = Headless::start(&fx);
    assert!(eventually(20.0, || {
        let rows = fx.status();
        rows.len() == 2 && rows.iter().all(|r| r.phase == Phase::Ready)
    }));
    let out = fx.run(&["stop", "many-a", "many-b"]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert_eq!(
        said.lines().count(),
        2,
        "one sentence per connector: {said}"
    );
    assert!(
        said.lines()
            .all(|l| l.contains("stopped") && !l.contains("panicked")),
        "{said}"
    );
    let out = fx.run(&["start", "--all"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fx.status().iter().all(|r| r.phase == Phase::Ready));
    // A connector added to the file but not reloaded into the console.
    fx.manifest("", &connectors(&["many-a", "many-b", "many-c"], "a.toml"));
    let out = fx.run(&["start", "many-c"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("older manifest: reload it"), "{err}");
    let rows = String::from_utf8_lossy(&fx.run(&["status"]).stdout).to_string();
    assert!(
        rows.lines().next().is_some_and(|h| h.contains("LAST EXIT")),
        "{rows}"
    );
    let _ = hl.child.kill();
    let _ = hl.child.wait();
}

/// A directory shaped like an hftbacktest checkout: a workspace with `connector/` and its
/// example configs (testnet URLs, empty keys, as the real ones ship).
fn fake_checkout(fx: &Fixture) -> std::path::PathBuf {
    let root = fx.path().join("hftbacktest");
    let examples = root.join("connector/examples");
    std::fs::create_dir_all(&examples).expect("dirs");
    std::fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"connector\"]\n",
    )
    .expect("workspace");
    std::fs::write(
        root.join("connector/Cargo.toml"),
        "[package]\nname = \"connector\"\n",
    )
    .expect("connector");
    std::fs::write(
        examples.join("binancefutures.toml"),
        "stream_url = \"wss://fstream.binancefuture.com/ws\"\napi_url = \"https://testnet.binancefuture.com\"\norder_prefix = \"test\"\napi_key = \"\"\nsecret = \"\"\n",
    )
    .expect("bf");
    std::fs::write(
        examples.join("bybit.toml"),
        "public_url = \"wss://stream-testnet.bybit.com/v5/public/linear\"\nprivate_url = \"wss://stream-testnet.bybit.com/v5/private\"\ntrade_url = \"wss://stream-testnet.bybit.com/v5/trade\"\nrest_url = \"https://api-testnet.bybit.com\"\napi_key = \"\"\nsecret = \"\"\ncategory = \"linear\"\norder_prefix = \"test\"\n",
    )
    .expect("bybit");
    std::fs::write(examples.join("notes.toml"), "# not a connector\n").expect("notes");
    root
}

#[test]
fn init_writes_a_starter_manifest_that_check_accepts() {
    let fx = Fixture::new("init");
    let root = fake_checkout(&fx);
    let init = |args: &[&str], cwd: &std::path::Path| {
        std::process::Command::new(SWITCHBOARD)
            .arg("init")
            .args(args)
            .current_dir(cwd)
            .env_remove("HFTBACKTEST_ROOT")
            .output()
            .expect("run init")
    };
    // Inside the checkout: found by walking up, the manifest at its root.
    let out = init(&[], &root);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        said.contains("2 connector(s): binancefutures (binancefutures), bybit (bybit)"),
        "{said}"
    );
    assert!(
        said.contains("skipped connector/examples/notes.toml"),
        "skipped examples on stdout: {said}"
    );
    let manifest = root.join("switchboard.toml");
    let text = std::fs::read_to_string(&manifest).expect("written");
    // Private copies, not the checkout's tracked examples.
    assert!(text.contains("config = \"configs/bybit.toml\""), "{text}");
    assert!(said.contains("copied "), "{said}");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: std::path::PathBuf| {
            std::fs::metadata(p).expect("meta").permissions().mode() & 0o777
        };
        assert_eq!(mode(root.join("configs")), 0o700);
        assert_eq!(mode(root.join("configs/bybit.toml")), 0o600);
        assert_eq!(
            std::fs::read(root.join("configs/bybit.toml")).expect("copy"),
            std::fs::read(root.join("connector/examples/bybit.toml")).expect("example")
        );
    }
    assert!(
        text.contains("notes.toml: its name says no exchange"),
        "{text}"
    );
    let check = |manifest: &std::path::Path| {
        let out = std::process::Command::new(SWITCHBOARD)
            .args(["check", "--manifest"])
            .arg(manifest)
            .output()
            .expect("check");
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("ok, 2 connector(s)"));
    };
    check(&manifest);
    // Never over an existing manifest without --force.
    std::fs::write(&manifest, "# mine\n").expect("mine");
    let out = init(&[], &root);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--force"),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&manifest).expect("kept"),
        "# mine\n"
    );
    assert_eq!(init(&["--force"], &root).status.code(), Some(0));
    assert!(std::fs::read_to_string(&manifest)
        .expect("replaced")
        .contains("[[connector]]"));
    // Elsewhere, naming the checkout: its root is written, and check still resolves it.
    let elsewhere = fx.path().join("ops");
    std::fs::create_dir_all(&elsewhere).expect("ops");
    let out = init(&[root.to_str().expect("utf-8")], &elsewhere);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = std::fs::read_to_string(elsewhere.join("switchboard.toml")).expect("written");
    assert!(text.contains("project_root = "), "{text}");
    check(&elsewhere.join("switchboard.toml"));
    // No checkout: exit 2, saying what to do.
    let out = init(&[], &elsewhere.join(".."));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("run `switchboard init` inside one"),
        "{out:?}"
    );
}

/// Runs `switchboard ARGS` in the background; `finish` waits for it at most `secs`.
fn spawn_cli(fx: &Fixture, args: &[&str]) -> Child {
    Command::new(SWITCHBOARD)
        .args(args)
        .arg("--manifest")
        .arg(fx.path().join("switchboard.toml"))
        .current_dir(fx.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switchboard")
}

/// The exit code and output of `child`, or None (and the child killed) after `secs`.
fn finish(mut child: Child, secs: f64) -> Option<(Option<i32>, String)> {
    let done = eventually(secs, || child.try_wait().ok().flatten().is_some());
    if !done {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    let out = child.wait_with_output().expect("output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.code(), said))
}

/// Issue #22 item 1: a CLI action overtaken by another on the same connector returns as soon
/// as the outcome is known, saying what happened, instead of waiting 10 or 30 minutes.
#[test]
fn a_cli_action_overtaken_by_another_returns_saying_so() {
    let fx = Fixture::new("overtaken");
    fx.sim_config(
        "slow.toml",
        "lines_per_sec = 0.0\nready_delay_ms = 1500\npanic_after_sigterm_ms = 1500",
    );
    fx.manifest("", &connectors(&["ovt-a"], "slow.toml"));
    let _console = HeadlessConsole::start(&fx, &[]);
    let phase = || fx.status().first().map(|r| r.phase);
    assert!(eventually(20.0, || phase() == Some(Phase::Ready)));

    // A stop overtaken by a start while it stops.
    let stop = spawn_cli(&fx, &["stop", "ovt-a"]);
    assert!(eventually(10.0, || phase() == Some(Phase::Stopping)));
    let start = spawn_cli(&fx, &["start", "ovt-a"]);
    let (code, said) = finish(stop, 15.0).expect("the overtaken stop returns within 15 s");
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("overtaken: a start from the CLI") && said.contains("now ready"),
        "{said}"
    );
    let (code, said) = finish(start, 15.0).expect("the start returns within 15 s");
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("is ready"), "{said}");

    // A start overtaken by a stop while it starts.
    let (code, said) = finish(spawn_cli(&fx, &["stop", "ovt-a"]), 15.0).expect("stop");
    assert_eq!(code, Some(0), "{said}");
    let start = spawn_cli(&fx, &["start", "ovt-a"]);
    assert!(eventually(10.0, || phase() == Some(Phase::Starting)));
    let stop = spawn_cli(&fx, &["stop", "ovt-a"]);
    let (code, said) = finish(start, 15.0).expect("the overtaken start returns within 15 s");
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("overtaken: a stop from the CLI") && said.contains("now stopped"),
        "{said}"
    );
    let (code, said) = finish(stop, 15.0).expect("the stop returns within 15 s");
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(phase(), Some(Phase::Stopped));
}

/// Issue #22 item 3: with no console running, two CLI commands at once on one state dir: the
/// second waits for the first instead of failing with nothing done and a misleading message.
#[test]
fn two_direct_cli_commands_at_once_both_act() {
    let fx = Fixture::new("direct2");
    fx.sim_config("q.toml", "lines_per_sec = 0.0");
    fx.manifest(
        "autostart = false",
        &connectors(&["dir-a", "dir-b"], "q.toml"),
    );
    for round in 0..2 {
        for action in ["start", "stop"] {
            let both = [
                spawn_cli(&fx, &[action, "dir-a"]),
                spawn_cli(&fx, &[action, "dir-b"]),
            ];
            for child in both {
                let (code, said) = finish(child, 30.0).expect("returns within 30 s");
                assert_eq!(code, Some(0), "round {round}, {action}: {said}");
                assert!(!said.contains("another version"), "{said}");
            }
        }
    }
    assert!(fx
        .status()
        .iter()
        .all(|r| r.phase == Phase::Stopped && r.pid.is_none()));
}

#[test]
fn the_manifest_comes_from_m_the_environment_or_the_users_config_dir() {
    let fx = Fixture::new("mflag");
    fx.sim_config("a.toml", "lines_per_sec = 0.0");
    fx.manifest("", &connector_table("mflag-a", "a.toml", ""));
    let manifest = fx.path().join("switchboard.toml");
    let elsewhere = tempfile::tempdir().expect("tmp");
    let check = |args: &[&str], env: &[(&str, &std::path::Path)]| {
        let out = std::process::Command::new(SWITCHBOARD)
            .args(args)
            .current_dir(elsewhere.path())
            .env_remove("SWITCHBOARD_MANIFEST")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let m = manifest.to_str().expect("utf-8 path");
    assert_eq!(check(&["check", "-m", m], &[]).0, Some(0), "-m");
    assert_eq!(
        check(&["check"], &[("SWITCHBOARD_MANIFEST", &manifest)]).0,
        Some(0),
        "SWITCHBOARD_MANIFEST"
    );
    // No ./switchboard.toml: the per-user one.
    let xdg = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(xdg.path().join("switchboard")).expect("dir");
    std::fs::copy(&manifest, xdg.path().join("switchboard/switchboard.toml")).expect("copy");
    let text = std::fs::read_to_string(xdg.path().join("switchboard/switchboard.toml"))
        .expect("read")
        .replace(
            "config = \"a.toml\"",
            &format!("config = \"{}\"", fx.path().join("a.toml").display()),
        );
    std::fs::write(xdg.path().join("switchboard/switchboard.toml"), text).expect("write");
    let (code, err) = check(&["check"], &[("XDG_CONFIG_HOME", xdg.path())]);
    assert_eq!(code, Some(0), "the per-user manifest: {err}");
    // Without any, the error names ./switchboard.toml.
    let empty = tempfile::tempdir().expect("tmp");
    let (code, err) = check(&["check"], &[("XDG_CONFIG_HOME", empty.path())]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("switchboard.toml"), "{err}");
}

#[test]
fn the_consoles_log_on_stderr_is_plain_when_stderr_is_not_a_terminal() {
    let fx = Fixture::new("plainerr");
    fx.sim_config("a.toml", "lines_per_sec = 0.0\nerror_every = 0.2");
    fx.manifest(
        "",
        &connector_table("plainerr-a", "a.toml", "feed = { error_threshold = 1 }"),
    );
    let console = HeadlessConsole::start(&fx, &[]);
    let line = console.line_with("feed erroring", 20);
    assert!(
        !line.contains('\u{1b}'),
        "escape codes on a non-terminal stderr: {line:?}"
    );
}

/// A state dir whose control socket path would not fit a Unix socket address (108 bytes) is
/// refused by `check`, naming the key, instead of a console that cannot be reached.
#[test]
fn check_refuses_a_state_dir_too_long_for_the_control_socket() {
    let fx = Fixture::new("longsock");
    fx.sim_config("a.toml", "lines_per_sec = 0.0");
    let long = fx.path().join("s".repeat(120));
    fx.manifest(
        "",
        &format!(
            "[console]\nstate_dir = \"{}\"\n\n{}",
            long.display(),
            connector_table("longsock-a", "a.toml", "")
        ),
    );
    let out = fx.run(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("console.state_dir"), "{err}");
    // A state dir that fits passes.
    let fits = fx.path().join("s".repeat(20));
    fx.manifest(
        "",
        &format!(
            "[console]\nstate_dir = \"{}\"\n\n{}",
            fits.display(),
            connector_table("longsock-a", "a.toml", "")
        ),
    );
    let out = fx.run(&["check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_headless_run_leaves_its_warnings_in_console_log_without_secrets() {
    let fx = Fixture::new("cl-headless");
    fx.sim_config("a.toml", "lines_per_sec = 1.0");
    fx.manifest(
        "shutdown_timeout = 2.0",
        &connector_table("clh-a", "a.toml", ""),
    );
    let console = HeadlessConsole::start(&fx, &[]);
    assert!(
        eventually(20.0, || fx
            .status()
            .first()
            .is_some_and(|r| r.phase == Phase::Ready)),
        "{:?}",
        fx.status()
    );
    // A warning of the console's own: SIGHUP is ignored, and said so.
    console.signal(nix::sys::signal::Signal::SIGHUP);
    console.line_with("SIGHUP ignored", 10);
    let (code, _) = console.stop(15);
    assert_eq!(code, Some(0));

    let path = fx.path().join(".switchboard/logs/console.log");
    let text = std::fs::read_to_string(&path).expect("logs/console.log after a headless run");
    assert!(
        text.lines()
            .any(|l| l.contains("WARN") && l.contains("SIGHUP ignored")),
        "{text}"
    );
    let config = std::fs::read_to_string(fx.path().join("a.toml")).expect("config");
    let key = config
        .lines()
        .find_map(|l| l.strip_prefix("api_key = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("the config's api_key");
    assert!(!text.contains(key), "no secret in console.log:\n{text}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn check_refuses_a_connector_named_console_whose_log_would_be_the_consoles() {
    let fx = Fixture::new("cl-name");
    fx.sim_config("a.toml", "lines_per_sec = 0.0");
    fx.manifest("", &connector_table("console", "a.toml", ""));
    let out = fx.run(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("'console' is taken") && err.contains("logs/console.log"),
        "{err}"
    );
}
