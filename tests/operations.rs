//! Running a 24/7 trading host (DESIGN §11), with the real binary, real connectors (sims),
//! real signals, real HTTP and a real systemd notification socket: the alert hook, the
//! Prometheus endpoint, live manifest reload and sd_notify.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::*;
use switchboard::Phase;

fn ready(fx: &Fixture, names: &[&str], secs: f64) -> bool {
    eventually(secs, || {
        let rows = fx.status();
        names
            .iter()
            .all(|n| rows.iter().any(|r| r.name == *n && r.phase == Phase::Ready))
    })
}

/// The lines an alert command appended: `connector|event|phase|host|more|detail`.
fn alert_lines(fx: &Fixture) -> Vec<Vec<String>> {
    std::fs::read_to_string(fx.path().join("alerts.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect()
}

const RECORD: &str = r#"command = "printf '%s|%s|%s|%s|%s|%s\\n' \"$SWITCHBOARD_CONNECTOR\" \"$SWITCHBOARD_EVENT\" \"$SWITCHBOARD_PHASE\" \"$SWITCHBOARD_HOST\" \"$SWITCHBOARD_MORE\" \"$SWITCHBOARD_DETAIL\" >> alerts.log""#;

#[test]
fn a_crash_loop_alerts_once_with_its_environment_then_sums_up_the_rest() {
    let fx = Fixture::new("alertloop");
    fx.sim_config("c.toml", "lines_per_sec = 0.0\ncrash_after_ms = 150");
    fx.manifest(
        "restart = { initial_backoff = 0.05, max_backoff = 0.1, max_attempts = 1000, max_total = 3600.0 }",
        &format!(
            "[alerts]\n{RECORD}\nmin_interval = 2.0\n\n{}",
            connector_table("alertloop-c", "c.toml", "")
        ),
    );
    let console = HeadlessConsole::start(&fx, &[]);
    // Let it crash for about five seconds: many exits, two summary windows ended.
    std::thread::sleep(Duration::from_millis(5200));
    let rows = fx.status();
    let restarts = rows[0].restarts;
    let lines = alert_lines(&fx);
    let exits: Vec<&Vec<String>> = lines.iter().filter(|l| l[1] == "exited").collect();
    assert!(restarts >= 8, "a crash loop: {restarts} restarts");
    let first = exits.first().expect("the first exit alerts at once");
    assert_eq!(first[0], "alertloop-c", "{first:?}");
    assert_eq!(first[2], "exited");
    let host = nix::unistd::gethostname()
        .expect("hostname")
        .into_string()
        .expect("utf-8");
    assert_eq!(
        first[3], host,
        "SWITCHBOARD_HOST is this host for a local connector"
    );
    assert_eq!(first[4], "0");
    assert!(
        first[5].contains("code 1"),
        "the detail says how it ended: {first:?}"
    );
    // One alert, then one summary per 2 s window: never one per crash.
    assert!(
        (2..=4).contains(&exits.len()),
        "{} exit alerts for {restarts} exits: {lines:?}",
        exits.len()
    );
    let summed: u32 = exits[1..]
        .iter()
        .map(|l| l[4].parse::<u32>().expect("SWITCHBOARD_MORE is a number"))
        .sum();
    assert!(summed >= 5, "the summaries count the held exits: {exits:?}");
    assert!(
        exits[1][5].contains("more exited"),
        "a summary says so: {:?}",
        exits[1]
    );
    let (code, _) = console.stop(15);
    assert_eq!(code, Some(0));
}

#[test]
fn a_slow_alert_command_delays_neither_a_stop_nor_the_console_and_is_killed_with_it() {
    let fx = Fixture::new("alertslow");
    fx.sim_config("ok.toml", "lines_per_sec = 0.0");
    fx.sim_config("crash.toml", "lines_per_sec = 0.0\ncrash_after_ms = 300");
    fx.manifest(
        "shutdown_timeout = 2.0",
        &format!(
            "[alerts]\ncommand = \"echo started >> alerts.log; exec sleep 61\"\nmin_interval = 0.0\n\n{}\n{}",
            connector_table("alertslow-ok", "ok.toml", ""),
            connector_table(
                "alertslow-crash",
                "crash.toml",
                "restart = { policy = \"never\" }"
            )
        ),
    );
    let console = HeadlessConsole::start(&fx, &[]);
    assert!(ready(&fx, &["alertslow-ok"], 20.0));
    assert!(
        eventually(10.0, || std::fs::read_to_string(
            fx.path().join("alerts.log")
        )
        .is_ok_and(|s| s.contains("started"))),
        "the alert command ran"
    );
    let sleeping = || {
        std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter(|e| {
                let p = e.path();
                std::fs::read(p.join("cmdline")).is_ok_and(|c| c.starts_with(b"sleep\x0061"))
                    && std::fs::read_link(p.join("cwd")).is_ok_and(|d| d.starts_with(fx.path()))
            })
            .count()
    };
    assert_eq!(sleeping(), 1, "the alert command is still running");
    // A stop goes on as usual while the alert command sleeps.
    let t0 = Instant::now();
    let out = fx.run(&["stop", "alertslow-ok"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "the stop took {:?}",
        t0.elapsed()
    );
    // And the console ends at once, leaving no alert command behind.
    let (code, took) = console.stop(8);
    assert_eq!(code, Some(0));
    assert!(
        took < Duration::from_secs(5),
        "the console took {took:?} to end"
    );
    assert!(
        eventually(2.0, || sleeping() == 0),
        "the alert command's group was killed with the console"
    );
}

#[test]
fn a_summary_sent_as_the_console_exits_is_killed_with_it_too() {
    let fx = Fixture::new("alertexit");
    fx.sim_config("crash.toml", "lines_per_sec = 0.0\ncrash_after_ms = 150");
    fx.manifest(
        "restart = { initial_backoff = 0.05, max_backoff = 0.1, max_attempts = 1000, max_total = 3600.0 }",
        &format!(
            // Only the exits' alerts sleep: a crash loop's panic lines can also raise an
            // `erroring` alert (its own window), which a loaded CI run saw as a second command.
            "[alerts]\ncommand = \"echo \\\"$SWITCHBOARD_EVENT $SWITCHBOARD_MORE\\\" >> alerts.log; [ \\\"$SWITCHBOARD_EVENT\\\" != exited ] || exec sleep 62\"\nmin_interval = 600.0\n\n{}",
            connector_table("alertexit-c", "crash.toml", "")
        ),
    );
    let sleeping = || {
        std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter(|e| {
                let p = e.path();
                std::fs::read(p.join("cmdline")).is_ok_and(|c| c.starts_with(b"sleep\x0062"))
                    && std::fs::read_link(p.join("cwd")).is_ok_and(|d| d.starts_with(fx.path()))
            })
            .count()
    };
    let console = HeadlessConsole::start(&fx, &[]);
    // The first exit alerts at once; the next ones are held for a summary.
    assert!(
        eventually(10.0, || fx
            .status()
            .first()
            .is_some_and(|r| r.restarts >= 3)),
        "a crash loop"
    );
    assert_eq!(sleeping(), 1, "one exit alert command so far");
    let (code, _) = console.stop(15);
    assert_eq!(code, Some(0));
    let sent = std::fs::read_to_string(fx.path().join("alerts.log")).unwrap_or_default();
    assert!(
        sent.lines()
            .any(|l| l.starts_with("exited ") && l != "exited 0"),
        "the held exits went out as a summary at exit: {sent:?}"
    );
    assert!(
        eventually(3.0, || sleeping() == 0),
        "{} alert commands left running after the console ended",
        sleeping()
    );
}

#[test]
fn a_failing_alert_command_is_reported_in_the_console_log() {
    let fx = Fixture::new("alertfail");
    fx.sim_config("crash.toml", "lines_per_sec = 0.0\ncrash_after_ms = 200");
    fx.manifest(
        "restart = { policy = \"never\" }",
        &format!(
            "[alerts]\ncommand = \"no-such-alert-tool --page\"\n\n{}",
            connector_table("alertfail-c", "crash.toml", "")
        ),
    );
    let console = HeadlessConsole::start(&fx, &[("SWITCHBOARD_LOG", "info".to_string())]);
    let line = console.line_with("alert command for alertfail-c", 20);
    let line = if line.contains("started") {
        console.line_with("could not find the command", 10)
    } else {
        line
    };
    assert!(
        line.contains("could not find the command") && line.contains("no-such-alert-tool"),
        "{line}"
    );
    let (code, _) = console.stop(10);
    assert_eq!(code, Some(0));
}

#[test]
fn an_alert_command_writing_much_to_stderr_runs_to_its_end() {
    let fx = Fixture::new("alertspew");
    fx.sim_config("crash.toml", "lines_per_sec = 0.0\ncrash_after_ms = 200");
    // Far more than a pipe holds (64 KiB), then its last words and a non-zero exit.
    std::fs::write(
        fx.path().join("spew.sh"),
        "head -c 300000 /dev/zero | tr '\\0' x >&2\necho >&2\necho last-words >&2\ntouch spewed\nexit 3\n",
    )
    .expect("script");
    fx.manifest(
        "restart = { policy = \"never\" }",
        &format!(
            "[alerts]\ncommand = \"sh {}/spew.sh\"\n\n{}",
            fx.path().display(),
            connector_table("alertspew-c", "crash.toml", "")
        ),
    );
    let console = HeadlessConsole::start(&fx, &[("SWITCHBOARD_LOG", "info".to_string())]);
    let line = console.line_with("exited with code 3", 30);
    assert!(line.contains("alertspew-c"), "{line}");
    assert!(line.contains("last-words"), "the tail is kept: {line}");
    assert!(fx.path().join("spewed").exists(), "it ran to its end");
    let (code, _) = console.stop(10);
    assert_eq!(code, Some(0));
}

/// `fd -> target` of every open descriptor of `pid`.
fn fds_of(pid: i32) -> std::collections::BTreeMap<i32, String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .flatten()
        .filter_map(|e| {
            let fd = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some((fd, target.display().to_string()))
        })
        .collect()
}

#[test]
fn children_inherit_no_descriptor_of_the_console() {
    let fx = Fixture::new("fdleak");
    fx.sim_config("ok.toml", "lines_per_sec = 0.0");
    fx.sim_config("crash.toml", "lines_per_sec = 0.0\ncrash_after_ms = 300");
    // The alert command lists its shell's own descriptors.
    std::fs::write(
        fx.path().join("fds.sh"),
        "ls -l /proc/$$/fd > fds.tmp\nmv fds.tmp fds.txt\n",
    )
    .expect("script");
    fx.manifest(
        "",
        &format!(
            "[alerts]\ncommand = \"cd {0} && sh {0}/fds.sh\"\n\n{1}\n{2}",
            fx.path().display(),
            connector_table("fdleak-ok", "ok.toml", ""),
            connector_table(
                "fdleak-crash",
                "crash.toml",
                "restart = { policy = \"never\" }"
            )
        ),
    );
    let console = HeadlessConsole::start(&fx, &[]);
    assert!(ready(&fx, &["fdleak-ok"], 20.0));
    let pid = fx.pid_of("fdleak-ok").expect("pid");
    // The console's iceoryx2 descriptors (its node's files), by number.
    let root = fx.path().join("iox").display().to_string();
    let ours: Vec<(i32, String)> = fds_of(console.child.id() as i32)
        .into_iter()
        .filter(|(_, t)| t.starts_with(&root) || t.starts_with("/dev/shm/"))
        .collect();
    assert!(!ours.is_empty(), "the console has an iceoryx2 node");
    // An inherited descriptor keeps its number and target.
    let theirs = fds_of(pid);
    for (fd, target) in &ours {
        assert_ne!(
            theirs.get(fd),
            Some(target),
            "connector {pid} inherited fd {fd} ({target}); it has {theirs:?}"
        );
    }
    assert!(
        eventually(20.0, || fx.path().join("fds.txt").exists()),
        "the alert command ran"
    );
    let listing = std::fs::read_to_string(fx.path().join("fds.txt")).expect("fds.txt");
    for line in listing.lines().filter(|l| l.contains(" -> ")) {
        let (head, target) = line.split_once(" -> ").expect("arrow");
        let fd: i32 = head
            .split_whitespace()
            .last()
            .and_then(|f| f.parse().ok())
            .expect("fd number");
        // The shell's own: its script, its redirection, the stdout it saved.
        let own = (target.starts_with(&fx.path().display().to_string())
            && !target.starts_with(&root))
            || target == "/dev/null";
        assert!(
            fd <= 2 || own,
            "the alert command inherited fd {fd} ({target}):\n{listing}"
        );
    }
    let (code, _) = console.stop(15);
    assert_eq!(code, Some(0));
}

/// `GET path` over HTTP/1.1 on `addr`: (status code, body).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the reply");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "a plain body: {head}"
    );
    (code, body.to_string())
}

/// The value of the sample `name{…connector="c"…}` (extra label `extra` if given).
fn sample(body: &str, name: &str, connector: &str, extra: Option<&str>) -> Option<f64> {
    body.lines().find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, labels) = series.split_once('{')?;
        let want = format!("connector=\"{connector}\"");
        (n == name && labels.contains(&want) && extra.is_none_or(|e| labels.contains(e)))
            .then(|| value.parse().ok())?
    })
}

#[test]
fn metrics_over_real_http_match_status() {
    let fx = Fixture::new("metrics");
    fx.sim_config("a.toml", "lines_per_sec = 0.0\nfeed_hz = 50.0");
    fx.sim_config("b.toml", "lines_per_sec = 0.0\nnever_ready = true");
    fx.manifest(
        "startup_timeout = 30.0",
        &format!(
            "[metrics]\nlisten = \"127.0.0.1:0\"\n\n{}\n{}",
            connector_table("metrics-a", "a.toml", ""),
            connector_table("metrics-b", "b.toml", "")
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
    assert!(ready(&fx, &["metrics-a"], 20.0));
    let mut bot = fx.bot("metrics-a");
    assert!(eventually(15.0, || fx.status().iter().any(|r| r.name
        == "metrics-a"
        && r.bots == 1
        && r.cpu_pct.is_some()
        && r.feed.as_ref().is_some_and(|f| f.total > 0))));
    let rows = fx.status();
    let (code, body) = http_get(&addr, "/metrics");
    assert_eq!(code, 200, "{body}");
    assert!(
        body.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    let a = rows.iter().find(|r| r.name == "metrics-a").expect("a");
    let b = rows.iter().find(|r| r.name == "metrics-b").expect("b");
    assert_eq!(
        sample(&body, "switchboard_connector_up", "metrics-a", None),
        Some(1.0)
    );
    assert_eq!(
        sample(&body, "switchboard_connector_up", "metrics-b", None),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &body,
            "switchboard_connector_phase",
            "metrics-b",
            Some("phase=\"starting\"")
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "switchboard_connector_phase",
            "metrics-b",
            Some("phase=\"ready\"")
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&body, "switchboard_connector_bots", "metrics-a", None),
        Some(a.bots as f64)
    );
    assert_eq!(
        sample(
            &body,
            "switchboard_connector_restarts_total",
            "metrics-a",
            None
        ),
        Some(a.restarts as f64)
    );
    assert_eq!(
        sample(
            &body,
            "switchboard_connector_restarts_total",
            "metrics-b",
            None
        ),
        Some(b.restarts as f64)
    );
    // The feed moves on between the status and the scrape: never backwards.
    let events = sample(
        &body,
        "switchboard_connector_feed_events_total",
        "metrics-a",
        None,
    )
    .expect("feed events of a ready connector");
    let total = a.feed.as_ref().expect("feed").total as f64;
    assert!(
        events >= total && events > 0.0,
        "{events} vs status {total}"
    );
    assert!(
        sample(
            &body,
            "switchboard_connector_feed_last_event_age_seconds",
            "metrics-a",
            None
        )
        .is_some_and(|age| age < 5.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "switchboard_connector_log_errors_total",
            "metrics-a",
            None
        ),
        Some(a.errors_total as f64)
    );
    assert!(body.contains("type=\"binancefutures\""));
    // CPU and memory, in status --json and in the metrics (sampled while someone asks).
    assert!(
        a.cpu_pct.is_some() && a.rss_bytes.is_some_and(|b| b > 0),
        "{a:?}"
    );
    assert!(
        sample(
            &body,
            "switchboard_connector_memory_rss_bytes",
            "metrics-a",
            None
        )
        .is_some_and(|b| b > 0.0),
        "{body}"
    );
    assert!(
        sample(
            &body,
            "switchboard_connector_cpu_percent",
            "metrics-a",
            None
        )
        .is_some(),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "switchboard_connector_start_duration_seconds_count",
            "metrics-a",
            None
        ),
        Some(1.0),
        "one start timed: {body}"
    );
    let (code, _) = http_get(&addr, "/");
    assert_eq!(code, 404);

    // A second console on the same port: a clear startup error, nothing started.
    let fx2 = Fixture::new("metrics2");
    fx2.sim_config("a.toml", "lines_per_sec = 0.0");
    fx2.manifest(
        "",
        &format!(
            "[metrics]\nlisten = \"{addr}\"\n\n{}",
            connector_table("metrics2-a", "a.toml", "")
        ),
    );
    let out = fx2.run(&["run", "--headless"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("metrics.listen") && err.contains(&addr) && err.contains("pick a free port"),
        "{err}"
    );
    assert!(!fx2.log("metrics2-a").exists(), "nothing was started");

    let _ = bot.kill();
    let _ = bot.wait();
    let (code, _) = console.stop(15);
    assert_eq!(code, Some(0));
}

#[test]
fn a_bad_listen_address_is_a_manifest_error_naming_the_key() {
    let fx = Fixture::new("badlisten");
    fx.sim_config("a.toml", "");
    fx.manifest(
        "",
        &format!(
            "[metrics]\nlisten = \"localhost\"\n\n{}",
            connector_table("badlisten-a", "a.toml", "")
        ),
    );
    let out = fx.run(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("metrics.listen")
            && err.contains("'localhost'")
            && err.contains("127.0.0.1:9464"),
        "{err}"
    );
}

#[test]
fn reload_adds_removes_and_marks_changed_connectors_while_others_keep_their_pids() {
    let fx = Fixture::new("reload");
    fx.sim_config("s.toml", "lines_per_sec = 0.0");
    let table = |n: &str, extra: &str| connector_table(n, "s.toml", extra);
    fx.manifest(
        "",
        &[
            table("reload-keep", ""),
            table("reload-drop", ""),
            table("reload-change", ""),
        ]
        .join("\n"),
    );
    let console = HeadlessConsole::start(&fx, &[]);
    assert!(ready(
        &fx,
        &["reload-keep", "reload-drop", "reload-change"],
        20.0
    ));
    let keep = fx.pid_of("reload-keep").expect("pid");
    let change = fx.pid_of("reload-change").expect("pid");
    let drop_pid = fx.pid_of("reload-drop").expect("pid");

    // An invalid manifest changes nothing and says why.
    std::fs::write(
        fx.path().join("switchboard.toml"),
        std::fs::read_to_string(fx.path().join("switchboard.toml")).expect("read")
            + "\n[metrics]\nlisten = \"nowhere\"\n",
    )
    .expect("write");
    let out = fx.run(&["reload"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("metrics.listen") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(fx.status().len(), 3);

    // Drop one, add one, change one (a new env value).
    fx.manifest(
        "",
        &[
            table("reload-keep", ""),
            table("reload-change", "env = { EXTRA = \"1\" }"),
            table("reload-new", ""),
        ]
        .join("\n"),
    );
    let out = fx.run(&["reload"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("added reload-new")
            && said.contains("removed reload-drop")
            && said.contains("reload-change changed: restart to apply"),
        "{said}"
    );
    assert!(
        ready(&fx, &["reload-new"], 20.0),
        "an added connector autostarts"
    );
    let rows = fx.status();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["reload-keep", "reload-change", "reload-new"]);
    assert!(
        eventually(5.0, || !alive(drop_pid)),
        "a removed connector is stopped"
    );
    assert_eq!(fx.pid_of("reload-keep"), Some(keep), "untouched");
    let changed = rows
        .iter()
        .find(|r| r.name == "reload-change")
        .expect("row");
    assert_eq!(
        changed.pid,
        Some(change),
        "a changed connector is never restarted by a reload"
    );
    assert!(changed.restart_needed, "{changed:?}");
    let plain = String::from_utf8_lossy(&fx.run(&["status"]).stdout).to_string();
    assert!(plain.contains("restart needed"), "{plain}");
    // state.json follows: the removed connector is gone from it, the new one is there.
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fx.path().join(".switchboard/state.json")).expect("state.json"),
    )
    .expect("json");
    let stored: Vec<String> = state["connectors"]
        .as_array()
        .expect("connectors")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(stored, ["reload-keep", "reload-change", "reload-new"]);

    // The operator's restart puts the new entry in use.
    let out = fx.run(&["restart", "reload-change"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = fx
        .status()
        .into_iter()
        .find(|r| r.name == "reload-change")
        .expect("row");
    assert!(!row.restart_needed && row.pid != Some(change), "{row:?}");
    let env = std::fs::read(format!("/proc/{}/environ", row.pid.expect("pid"))).expect("environ");
    assert!(
        env.split(|b| *b == 0).any(|kv| kv == b"EXTRA=1"),
        "the restarted process has the new environment"
    );

    // SIGUSR1 reloads too.
    fx.manifest(
        "",
        &[
            table("reload-keep", ""),
            table("reload-change", "env = { EXTRA = \"1\" }"),
            table("reload-new", ""),
            table("reload-usr1", "autostart = false"),
        ]
        .join("\n"),
    );
    console.signal(nix::sys::signal::Signal::SIGUSR1);
    console.line_with("added reload-usr1", 20);
    assert!(fx.status().iter().any(|r| r.name == "reload-usr1"));
    assert_eq!(fx.pid_of("reload-keep"), Some(keep));
    let (code, _) = console.stop(20);
    assert_eq!(code, Some(0));
}

#[test]
fn under_systemd_it_notifies_ready_once_all_are_ready_with_a_status_line_and_stopping() {
    let fx = Fixture::new("sdnotify");
    fx.sim_config("fast.toml", "lines_per_sec = 0.0");
    fx.sim_config("slow.toml", "lines_per_sec = 0.0\nready_delay_ms = 1500");
    fx.manifest(
        "",
        &[
            connector_table("sdnotify-fast", "fast.toml", ""),
            connector_table("sdnotify-slow", "slow.toml", ""),
        ]
        .join("\n"),
    );
    let sock_path = fx.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let console =
        HeadlessConsole::start(&fx, &[("NOTIFY_SOCKET", sock_path.display().to_string())]);
    let mut messages = Vec::new();
    let mut buf = [0u8; 4096];
    while !messages.iter().any(|m: &String| m.contains("READY=1")) {
        let n = sock
            .recv(&mut buf)
            .expect("a notification before the timeout");
        messages.push(String::from_utf8_lossy(&buf[..n]).to_string());
    }
    let ready_msg = messages.last().expect("READY").clone();
    assert!(
        ready_msg.contains("STATUS=2 ready"),
        "READY=1 comes with both ready: {messages:?}"
    );
    assert!(
        messages[..messages.len() - 1]
            .iter()
            .any(|m| m.contains("STATUS=") && m.contains("starting")),
        "status lines while starting: {messages:?}"
    );
    let rows = fx.status();
    assert!(rows.iter().all(|r| r.phase == Phase::Ready), "{rows:?}");
    let pids: Vec<i32> = rows.iter().filter_map(|r| r.pid).collect();
    let (code, _) = console.stop(15);
    assert_eq!(code, Some(0));
    let mut rest = Vec::new();
    while let Ok(n) = sock.recv(&mut buf) {
        rest.push(String::from_utf8_lossy(&buf[..n]).to_string());
        if rest.iter().any(|m| m.contains("STOPPING=1")) {
            break;
        }
    }
    assert!(
        rest.iter().any(|m| m.contains("STOPPING=1")),
        "STOPPING=1 on SIGTERM: {rest:?}"
    );
    assert!(
        pids.iter().all(|p| !alive(*p)),
        "the service stop stopped the connectors"
    );
}

/// Issue #22 item 15: a connector crash-looping on a bad entry, fixed in the manifest and
/// reloaded during its backoff, restarts on the fixed entry (it runs nothing meanwhile).
#[test]
fn a_reload_during_backoff_applies_to_the_next_start() {
    let fx = Fixture::new("reloadbackoff");
    fx.sim_config("crash.toml", "lines_per_sec = 0.0\ncrash_after_ms = 50");
    fx.sim_config("good.toml", "lines_per_sec = 0.0");
    let defaults = "restart = { initial_backoff = 2.0, max_backoff = 2.0, jitter = 0.0, max_attempts = 1000, max_total = 3600.0 }";
    fx.manifest(defaults, &connector_table("rb-loop", "crash.toml", ""));
    let _console = HeadlessConsole::start(&fx, &[]);
    let phase = || fx.status().first().map(|r| r.phase);
    assert!(eventually(20.0, || phase() == Some(Phase::Backoff)));
    fx.manifest(defaults, &connector_table("rb-loop", "good.toml", ""));
    let out = fx.run(&["reload"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        eventually(15.0, || phase() == Some(Phase::Ready)),
        "still crash-looping on the old entry: {:?}",
        fx.status()
    );
    // Ready on the fixed entry, and it stays so (the bad one crashed 50 ms after its start).
    let pid = fx.pid_of("rb-loop");
    std::thread::sleep(Duration::from_millis(1000));
    let row = fx.status().remove(0);
    assert!(row.phase == Phase::Ready && row.pid == pid, "{row:?}");
    assert!(!row.restart_needed, "{row:?}");
}

/// Issue #21: a reload that changed only `type` or `restart.max_attempts` of a connector at
/// rest was applied but never published (the view's comparator left both fields out), so
/// `status --json` kept the old values.
#[test]
fn a_reload_changing_only_type_or_max_attempts_of_a_stopped_connector_shows_in_status() {
    let fx = Fixture::new("reloadrest");
    // No keys: a config both binancefutures and binancespot (read-only) accept.
    std::fs::write(
        fx.path().join("s.toml"),
        "stream_url = \"wss://fstream.binance.com/ws\"\napi_url = \"https://fapi.binance.com\"\n\n[sim]\nlines_per_sec = 0.0\n",
    )
    .expect("write config");
    let entry = |kind: &str, extra: &str| {
        connector_table("rr-rest", "s.toml", extra).replace("binancefutures", kind)
    };
    fx.manifest("", &entry("binancefutures", ""));
    let _console = HeadlessConsole::start(&fx, &[]);
    assert!(ready(&fx, &["rr-rest"], 20.0));
    let out = fx.run(&["stop", "rr-rest"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = || fx.status().remove(0);
    let before = row();
    assert_eq!(before.phase, Phase::Stopped, "{before:?}");
    assert_eq!(before.type_label(), "binancefutures");

    let reload = || {
        let out = fx.run(&["reload"]);
        let said = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(out.status.code(), Some(0), "{said}");
        assert!(said.contains("updated rr-rest"), "{said}");
    };
    // Only the type.
    fx.manifest("", &entry("binancespot", ""));
    reload();
    assert!(
        eventually(5.0, || row().type_label() == "binancespot"),
        "the new type is not shown: {:?}",
        row()
    );
    // Only the restart budget's attempts.
    assert_ne!(row().max_attempts, 3);
    fx.manifest("", &entry("binancespot", "restart = { max_attempts = 3 }"));
    reload();
    assert!(
        eventually(5.0, || row().max_attempts == 3),
        "the new max_attempts is not shown: {:?}",
        row()
    );
    assert_eq!(row().phase, Phase::Stopped, "a reload does not start it");
}

/// `status` right after a connector became ready answers at once, with its CPU as not yet known,
/// instead of waiting for a reading (#24: it waited up to 1.3 s for one). Readiness is taken
/// from the headless console's own transition lines, so that no earlier `status` started the
/// sampling; the CPU figure then comes with a later `status`.
#[test]
fn status_right_after_ready_does_not_wait_for_a_cpu_reading() {
    use std::io::BufRead;
    let fx = Fixture::new("cpu-unknown");
    fx.sim_config("a.toml", "lines_per_sec = 0.0");
    fx.manifest("", &connector_table("cpu-unknown-a", "a.toml", ""));
    let mut console = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["run", "--headless", "--json", "--manifest"])
        .arg(fx.path().join("switchboard.toml"))
        .current_dir(fx.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("headless");
    let out = console.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut became_ready = false;
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["name"] == "cpu-unknown-a" && v["phase"] == "ready" {
            became_ready = true;
            break;
        }
    }
    assert!(became_ready, "the connector became ready");
    // The first status since the console began: no reading has been taken yet.
    let first = fx.status();
    let a = first
        .iter()
        .find(|r| r.name == "cpu-unknown-a")
        .expect("a row");
    assert_eq!(a.phase, Phase::Ready);
    assert_eq!(a.cpu_pct, None, "CPU not yet known, not waited for: {a:?}");
    let table = fx.run(&["status"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("cpu-unknown-a"), "{text}");
    // Asking started the sampling: a later status has the figure.
    assert!(
        eventually(20.0, || fx
            .status()
            .iter()
            .any(|r| r.name == "cpu-unknown-a" && r.cpu_pct.is_some())),
        "CPU read once sampling runs"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(console.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let _ = console.wait();
}
