//! Several hosts in one console (DESIGN §12), with real processes: two consoles on this machine
//! (separate state dirs and iceoryx2 roots), one attached to the other through `switchboard
//! attach --stdio` as its `[[host]] command`, and (when an sshd can be run) through a real
//! `ssh` to localhost.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use switchboard::Phase;

fn ready(fx: &Fixture, names: &[&str], secs: f64) -> bool {
    eventually(secs, || {
        let rows = fx.status();
        names.iter().all(|n| {
            rows.iter()
                .any(|r| r.id().to_string() == *n && r.phase == Phase::Ready)
        })
    })
}

/// A remote host: a headless console of two sim connectors.
fn remote(label: &str) -> (Fixture, HeadlessConsole) {
    let fx = Fixture::new(label);
    fx.sim_config("r.toml", "lines_per_sec = 5.0");
    fx.manifest(
        "",
        &[
            connector_table(&format!("{label}-a"), "r.toml", ""),
            connector_table(&format!("{label}-b"), "r.toml", ""),
        ]
        .join("\n"),
    );
    let console = HeadlessConsole::start(&fx, &[]);
    assert!(ready(
        &fx,
        &[&format!("{label}-a"), &format!("{label}-b")],
        20.0
    ));
    // Some log lines written, and read by the console's tailer (it polls at most every
    // second when idle), so that a snapshot has lines to carry.
    let log = fx.log(&format!("{label}-a"));
    assert!(eventually(10.0, || std::fs::read_to_string(&log)
        .is_ok_and(|t| t.lines().count() >= 4)));
    std::thread::sleep(Duration::from_millis(1200));
    (fx, console)
}

fn attach_command(remote: &Fixture) -> String {
    format!(
        "{SWITCHBOARD} attach --stdio --manifest {}",
        remote.path().join("switchboard.toml").display()
    )
}

/// The PIDs of `attach --stdio` processes serving `remote`.
fn attach_pids(remote: &Fixture) -> Vec<i32> {
    let needle = remote.path().join("switchboard.toml").display().to_string();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (cmd.contains("attach --stdio") && cmd.contains(&needle) && !cmd.starts_with("sh "))
                .then_some(pid)
        })
        .collect()
}

#[test]
fn attach_speaks_json_lines_and_refuses_other_versions() {
    let (far, _console) = remote("attjson");
    let mut child = Command::new(SWITCHBOARD)
        .args(["attach", "--stdio", "--manifest"])
        .arg(far.path().join("switchboard.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("attach");
    let mut stdin = child.stdin.take().expect("stdin");
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    let out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    // Messages come in any order (an event may overtake the reply to the request that caused
    // it): keep what is not wanted yet, and give up on the whole search after 15 s.
    let seen = std::cell::RefCell::new(Vec::<serde_json::Value>::new());
    let next = |pred: &dyn Fn(&serde_json::Value) -> bool| -> serde_json::Value {
        // (The position is taken first: the borrow must end before the removal.)
        let held = seen.borrow().iter().position(pred);
        if let Some(i) = held {
            return seen.borrow_mut().remove(i);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let v = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "no such message within 15 s; had: {:?}",
                    seen.borrow()
                        .iter()
                        .map(|v| v["result"].clone())
                        .collect::<Vec<_>>()
                )
            });
            if pred(&v) {
                return v;
            }
            seen.borrow_mut().push(v);
        }
    };
    let snap = next(&|v| v["result"] == "snapshot");
    assert_eq!(snap["v"], 1);
    assert_eq!(snap["connectors"].as_array().map(|a| a.len()), Some(2));
    assert!(
        snap["logs"]["attjson-a"]["lines"]
            .as_array()
            .is_some_and(|l| !l.is_empty() && l.len() <= 200),
        "the last lines of each log: {snap}"
    );
    // New log lines follow.
    next(&|v| v["result"] == "logs");
    writeln!(stdin, r#"{{"v":9,"id":1,"op":"status"}}"#).expect("write");
    let refused = next(&|v| v["result"] == "error");
    assert_eq!(refused["kind"], "unsupported_version", "{refused}");
    assert_eq!(refused["id"], 1);
    writeln!(
        stdin,
        r#"{{"v":1,"id":"s1","op":"act","action":"stop","target":"attjson-b"}}"#
    )
    .expect("write");
    let reply = next(&|v| v["result"] == "reply");
    assert_eq!(reply["id"], "s1");
    assert_eq!(reply["reply"]["result"], "acted", "{reply}");
    assert_eq!(reply["reply"]["ok"], true, "{reply}");
    // The stop was streamed as events too.
    let stopped =
        next(&|v| v["result"] == "event" && v["id"] == "attjson-b" && v["phase"] == "stopped");
    assert_eq!(stopped["event"], "transition");
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();

    // With no console running, attach says so and exits 1.
    let lonely = Fixture::new("attnone");
    lonely.sim_config("a.toml", "");
    lonely.manifest("", &connector_table("attnone-a", "a.toml", ""));
    let out = lonely.run(&["attach", "--stdio"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no console is running"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_console_shows_and_drives_another_hosts_connectors_and_survives_lost_links() {
    let (far, far_console) = remote("far");
    let fx = Fixture::new("near");
    fx.sim_config("l.toml", "lines_per_sec = 0.0");
    fx.manifest(
        "",
        &format!(
            "{}\n[[host]]\nname = \"far\"\ncommand = \"{}\"\nreconnect = {{ initial_backoff = 0.2, max_backoff = 0.4, max_attempts = 4 }}\n",
            connector_table("near-a", "l.toml", ""),
            attach_command(&far)
        ),
    );
    let near = HeadlessConsole::start(&fx, &[]);
    near.line_with("host far: connected", 20);
    assert!(ready(&fx, &["near-a", "far-a@far", "far-b@far"], 20.0));
    let rows = fx.status();
    let remote_a = rows
        .iter()
        .find(|r| r.name == "far-a")
        .expect("the remote connector in status");
    assert_eq!(remote_a.host.as_deref(), Some("far"));
    assert_eq!(
        remote_a.pid,
        far.pid_of("far-a"),
        "the remote console's PID"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&fx.run(&["status", "--json"]).stdout).expect("json");
    assert!(
        json.as_array()
            .expect("array")
            .iter()
            .any(|c| c["name"] == "far-b" && c["host"] == "far"),
        "{json}"
    );

    // Stop and start a remote connector through the local console.
    let out = fx.run(&["stop", "far-a@far"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        far.status()
            .iter()
            .any(|r| r.name == "far-a" && r.phase == Phase::Stopped),
        "stopped on the remote host"
    );
    let out = fx.run(&["start", "far-a"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a bare name that is unique works: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains("far-a@far is ready"), "{said}");
    assert!(ready(&far, &["far-a"], 10.0), "{said} {:?}", far.status());
    let far_pids: Vec<Option<i32>> = ["far-a", "far-b"].iter().map(|n| far.pid_of(n)).collect();

    // Kill the link: the local console reconnects; the remote connectors are untouched.
    let links = attach_pids(&far);
    assert_eq!(links.len(), 1, "one attach process: {links:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(links[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the link");
    near.line_with("host far: reconnecting in", 10);
    near.line_with("host far: connected", 15);
    let again: Vec<Option<i32>> = ["far-a", "far-b"].iter().map(|n| far.pid_of(n)).collect();
    assert_eq!(
        again, far_pids,
        "a lost link never touches the remote connectors"
    );

    // Stop the remote console: the link fails (with the attach's own error), then recovers
    // once the console is back and the local console is told to retry (reload).
    let (code, _) = far_console.stop(20);
    assert_eq!(code, Some(0));
    let failed = near.line_with("host far: failed", 30);
    assert!(failed.contains("no console is running"), "{failed}");
    // A command for one of its connectors now is refused at once, with the link's state.
    let out = run_within(&fx, &["start", "far-a@far"], 10);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("far: failed"), "{said}");
    let _far_console = HeadlessConsole::start(&far, &[]);
    assert!(ready(&far, &["far-a", "far-b"], 20.0));
    let out = fx.run(&["reload"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    near.line_with("host far: connected", 20);
    assert!(ready(&fx, &["far-a@far", "far-b@far"], 20.0));
    let (code, _) = near.stop(20);
    assert_eq!(code, Some(0));
    // The local console's stop stopped its own connectors only.
    assert!(far.status().iter().all(|r| r.phase == Phase::Ready));
}

/// A test that cannot run here skips, except as root with `CI` set (`.ci/run` installs what it
/// needs as root): there a skip fails, so that CI never passes a test that did not run.
#[test]
fn a_skip_fails_as_root_in_ci() {
    let fails = |root: bool, ci: Option<&str>| {
        std::panic::catch_unwind(|| skip_or_fail_as("t", "no sshd", root, ci.map(Into::into)))
            .is_err()
    };
    assert!(fails(true, Some("1")));
    assert!(fails(true, Some("true")));
    assert!(!fails(true, None));
    assert!(!fails(true, Some("")));
    assert!(!fails(true, Some("0")));
    assert!(!fails(true, Some("false")));
    assert!(!fails(false, Some("1")));
}

/// The `sshd` binary, if this machine has one.
fn sshd() -> Option<std::path::PathBuf> {
    ["/usr/sbin/sshd", "/usr/bin/sshd", "/sbin/sshd"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
}

#[test]
fn through_a_real_ssh_to_localhost() {
    let Some(sshd) = sshd() else {
        skip_or_fail(
            "through_a_real_ssh_to_localhost",
            "no sshd on this machine (install openssh-server to run it)",
        );
        return;
    };
    let (far, _console) = remote("sshfar");
    let keys = tempfile::tempdir().expect("tempdir");
    let k = keys.path();
    for (file, kind) in [("host_key", "ed25519"), ("client_key", "ed25519")] {
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", "", "-f"])
            .arg(k.join(file))
            .status()
            .expect("ssh-keygen");
        assert!(ok.success());
    }
    std::fs::copy(k.join("client_key.pub"), k.join("authorized_keys")).expect("authorized_keys");
    let port = 20000 + fastrand::u16(..20000);
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    std::fs::write(
        k.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nPidFile {pid}\nAllowUsers {user}\n",
            hk = k.join("host_key").display(),
            ak = k.join("authorized_keys").display(),
            pid = k.join("sshd.pid").display(),
        ),
    )
    .expect("sshd_config");
    // sshd wants its privilege separation directory (the package makes it when its service
    // starts; here nothing did).
    let _ = std::fs::create_dir_all("/run/sshd");
    let log = std::fs::File::create(k.join("sshd.log")).expect("sshd log");
    let mut daemon = Command::new(&sshd)
        .args(["-D", "-e", "-f"])
        .arg(k.join("sshd_config"))
        .stderr(log)
        .spawn()
        .expect("sshd");
    let listening = eventually(5.0, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            || daemon.try_wait().ok().flatten().is_some()
    }) && daemon.try_wait().ok().flatten().is_none();
    if !listening {
        let said = std::fs::read_to_string(k.join("sshd.log")).unwrap_or_default();
        let _ = daemon.kill();
        let _ = daemon.wait();
        skip_or_fail(
            "through_a_real_ssh_to_localhost",
            &format!("sshd could not run here: {}", said.trim()),
        );
        return;
    }
    let fx = Fixture::new("sshnear");
    fx.sim_config("l.toml", "lines_per_sec = 0.0");
    let command = format!(
        "ssh -T -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -i {} -p {port} {user}@127.0.0.1 {}",
        k.join("client_key").display(),
        attach_command(&far)
    );
    fx.manifest(
        "",
        &format!(
            "{}\n[[host]]\nname = \"ssh\"\ncommand = \"{command}\"\n",
            connector_table("sshnear-a", "l.toml", "")
        ),
    );
    let near = HeadlessConsole::start(&fx, &[]);
    near.line_with("host ssh: connected", 30);
    assert!(ready(&fx, &["sshfar-a@ssh", "sshfar-b@ssh"], 20.0));
    let out = fx.run(&["stop", "sshfar-b@ssh"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(far
        .status()
        .iter()
        .any(|r| r.name == "sshfar-b" && r.phase == Phase::Stopped));
    let (code, _) = near.stop(20);
    assert_eq!(code, Some(0));
    let _ = daemon.kill();
    let _ = daemon.wait();
}

#[test]
fn a_flooding_host_is_sent_in_bounded_batches_with_what_was_skipped_counted() {
    let far = Fixture::new("attflood");
    // The flood starts once the connector is up, 2 s in: the attach is there by then.
    far.sim_config(
        "f.toml",
        "lines_per_sec = 4000.0\nready_delay_ms = 2000\nflood_lines = 300000",
    );
    far.manifest("", &connector_table("attflood-a", "f.toml", ""));
    let _console = HeadlessConsole::start(&far, &[]);
    assert!(eventually(10.0, || matches!(
        switchboard::engine::io::store::lock_state(&far.path().join(".switchboard")),
        switchboard::engine::io::store::LockState::Held(Some(_))
    )));
    let mut child = Command::new(SWITCHBOARD)
        .args(["attach", "--stdio", "--manifest"])
        .arg(far.path().join("switchboard.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("attach");
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    std::thread::spawn(move || {
        let mut logs_seen = 0;
        for line in out.lines().map_while(Result::ok) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                break;
            };
            // A slow link: after the third batch the reader stalls for 3 s (the console's
            // socket fills and its writes block), then reads at full speed again.
            if v["result"] == "logs" {
                logs_seen += 1;
                if logs_seen == 3 {
                    std::thread::sleep(Duration::from_secs(3));
                }
            }
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    // Exact accounting: the snapshot covers line numbers up to `end`; every batch after it
    // starts exactly `skipped` lines past the previous one's end (no line lost uncounted, none
    // sent twice). After the flood (seen), 4000 lines/s (more than a link's 2500) for 6 s, the reader
    // stalling 3 s of it; then the connector is stopped and the stream read until it is quiet.
    let (mut end, mut sent, mut skipped, mut biggest) = (None::<u64>, 0u64, 0u64, 0usize);
    let mut snapshot_end = 0;
    let mut flood_done = None::<std::time::Instant>;
    let mut stopped = false;
    let mut quiet_since = std::time::Instant::now();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if flood_done.is_some_and(|t| t.elapsed() > Duration::from_secs(6)) && !stopped {
            let out = far.run(&["stop", "attflood-a"]);
            assert_eq!(out.status.code(), Some(0), "{out:?}");
            stopped = true;
            quiet_since = std::time::Instant::now();
        }
        if stopped && quiet_since.elapsed() > Duration::from_millis(1500) {
            break;
        }
        let Ok(v) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let b = &v["logs"]["attflood-a"];
        let lines = b["lines"].as_array().cloned().unwrap_or_default();
        let n = lines.len() as u64;
        let first = b["first_seq"].as_u64().unwrap_or(0);
        match v["result"].as_str() {
            Some("snapshot") => {
                snapshot_end = first + n;
                end = Some(snapshot_end);
            }
            Some("logs") if b.is_object() => {
                let e = end.expect("a snapshot comes first");
                let skip = b["skipped"].as_u64().unwrap_or(0);
                assert_eq!(
                    first,
                    e + skip,
                    "a batch starts where the last ended plus what it skipped"
                );
                biggest = biggest.max(n as usize);
                sent += n;
                skipped += skip;
                end = Some(first + n);
                quiet_since = std::time::Instant::now();
            }
            _ => continue,
        }
        // The flood has arrived once a line of it is sent, or once the link had to skip lines
        // (which lines of a window are sent depends on timing: under load a whole flood can
        // fall into skipped windows — seen in a CI run on a loaded machine).
        if flood_done.is_none()
            && (skipped > 0
                || lines
                    .iter()
                    .any(|l| l.as_str().is_some_and(|l| l.starts_with("flood "))))
        {
            flood_done = Some(std::time::Instant::now());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(flood_done.is_some(), "the flood arrives");
    assert!(stopped, "the connector was stopped in time");
    assert!(biggest <= 500, "batches are bounded: {biggest}");
    assert!(
        skipped > 0,
        "a flood is skipped, counted: sent {sent}, skipped {skipped}"
    );
    // Lines written: the connector's log file (64 MiB before it rotates: the 39 MB flood fits).
    let written = std::fs::read(far.log("attflood-a"))
        .expect("log file")
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64;
    assert_eq!(
        snapshot_end + sent + skipped,
        written,
        "lines received + lines reported skipped == lines written"
    );
}

/// The console's peak resident memory (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn a_hostile_remote_never_takes_the_local_console_down() {
    use switchboard::config::connector::ConnectorType;
    let fx = Fixture::new("hostile");
    fx.sim_config("l.toml", "lines_per_sec = 0.0");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    // A remote view with absurd numbers and escape sequences in its details.
    let view = |name: &str, detail: &str| {
        let mut v = serde_json::to_value(switchboard::ConnectorView {
            phase: Phase::Ready,
            pid: Some(4242),
            uptime_s: Some(1e300),
            countdown_s: Some(1e300),
            cpu_pct: Some(1e300),
            detail: detail.to_string(),
            ..switchboard::ConnectorView::new(name, ConnectorType::BinanceFutures, now)
        })
        .expect("a view");
        v["health"] = serde_json::json!("stale");
        v["health_detail"] = serde_json::json!("\u{1b}]52;c;Y2xpcA==\u{7}stale");
        v["feed"] = serde_json::json!({
            "events_per_s": 1e300, "bytes_per_s": 1e300, "total": 1,
            "last_event_age_s": 1e300, "errors_1m": 0,
            "symbols": {"btcusdt": {"events_per_s": 1e300, "last_event_age_s": 1e300}},
            "history": [], "lower_bound": false
        });
        v
    };
    let line = |v: serde_json::Value| format!("{}\n", serde_json::to_string(&v).expect("json"));
    let mut pre = String::new();
    for i in 0..300 {
        pre.push_str(&format!("not a message {i}\n"));
    }
    pre.push_str(&line(serde_json::json!({
        "v": 1, "result": "snapshot", "console_pid": 4242,
        "connectors": [
            view("hx-ok", "\u{1b}]0;pwned\u{7}\u{1b}[2Jfine"),
            view("bad\"\nname", "bad"),
            view("-opt", "bad"),
        ],
        "logs": {"hx-ok": {"first_seq": 0, "lines": ["hello"]}, "never-seen": {"first_seq": 0, "lines": ["x"]}},
    })));
    pre.push_str(&line(serde_json::json!({
        "v": 1, "result": "event", "seq": 1, "ts": "2024-01-01T00:00:00Z", "id": "ghost",
        "event": "transition", "phase": "exited", "pid": null, "detail": "\u{1b}[2Jboo",
    })));
    std::fs::write(fx.path().join("pre.jsonl"), pre).expect("pre");
    std::fs::write(
        fx.path().join("post.jsonl"),
        line(serde_json::json!({
            "v": 1, "result": "views",
            "connectors": [view("hx-ok", "marker-done")],
        })),
    )
    .expect("post");
    std::fs::write(
        fx.path().join("again.jsonl"),
        line(serde_json::json!({
            "v": 1, "result": "snapshot", "console_pid": 4242,
            "connectors": [
                view("hx-ok", "marker-again"),
                view("bad\"\nname", "bad"),
                view("-opt", "bad"),
            ],
            "logs": {},
        })),
    )
    .expect("again");
    // The first connection sends everything; a reconnect only the last views, then waits.
    std::fs::write(
        fx.path().join("hostile.sh"),
        r#"cd "$(dirname "$0")"
if [ -e once ]; then cat again.jsonl; exec sleep 600; fi
touch once
cat pre.jsonl
head -c 1048576 /dev/zero | tr '\0' 'g'; echo
seq 1 20000 | sed 's/.*/{"v":1,"result":"logs","logs":{"u&":{"first_seq":0,"lines":["x"]}}}/'
head -c 268435456 /dev/zero | tr '\0' 'e' >&2
cat post.jsonl
head -c 33554432 /dev/zero | tr '\0' 'z'
exec sleep 600
"#,
    )
    .expect("script");
    fx.manifest(
        "",
        &format!(
            "{}\n[[host]]\nname = \"hx\"\ncommand = \"sh {}\"\nreconnect = {{ initial_backoff = 0.2, max_backoff = 0.4 }}\n",
            connector_table("hostile-a", "l.toml", ""),
            fx.path().join("hostile.sh").display()
        ),
    );
    let near = HeadlessConsole::start(&fx, &[]);
    let pid = near.child.id();
    let mut said: Vec<String> = Vec::new();
    let seen = |needle: &str, secs: u64, said: &mut Vec<String>| {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if let Ok(l) = near.stderr.recv_timeout(Duration::from_millis(100)) {
                let hit = l.contains(needle);
                said.push(l);
                if hit {
                    return;
                }
            }
        }
        panic!(
            "no console line with {needle:?} within {secs} s; last: {:?}",
            said.iter()
                .rev()
                .take(5)
                .map(|l| l.chars().take(200).collect::<String>())
                .collect::<Vec<_>>()
        );
    };
    // The endless line ends the first connection (after the marker); the second connects.
    seen("a line over", 90, &mut said);
    seen("host hx: connected", 30, &mut said);
    assert!(
        eventually(20.0, || fx
            .status()
            .iter()
            .any(|r| r.name == "hx-ok" && r.detail.contains("marker-again"))),
        "the second snapshot arrived"
    );
    assert!(
        near_alive(pid),
        "the console is still up after everything the remote sent"
    );
    // Everything wrong is gathered, so that one run says all that broke.
    let mut problems: Vec<String> = Vec::new();
    let out = fx.run(&["status"]);
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    if out.status.code() != Some(0) || !table.contains("hx-ok@hx") {
        problems.push(format!(
            "the status table failed: {:?} {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
                .chars()
                .take(300)
                .collect::<String>()
        ));
    }
    if table.contains('\u{1b}') {
        problems.push("an escape sequence in the status table".into());
    }
    let rows = fx.status();
    let names: Vec<String> = rows.iter().map(|r| r.id().to_string()).collect();
    if names.len() != 2
        || !names.contains(&"hx-ok@hx".to_string())
        || !names.contains(&"hostile-a".to_string())
    {
        problems.push(format!("invalid remote names are listed: {names:?}"));
    }
    for r in &rows {
        let texts = [r.detail.as_str(), r.health_detail.as_deref().unwrap_or("")];
        if texts
            .iter()
            .any(|t| t.contains('\u{1b}') || t.contains('\u{7}'))
        {
            problems.push(format!("escapes in {}: {texts:?}", r.id()));
        }
        if r.uptime_s.is_some_and(|u| u > 1e12) {
            problems.push(format!("an absurd uptime of {}: {:?}", r.id(), r.uptime_s));
        }
    }
    // Bounded: memory, and the warnings about lines that are not messages.
    let peak = peak_rss_kib(pid);
    if peak >= 200 * 1024 {
        problems.push(format!("peak RSS {peak} KiB"));
    }
    while let Ok(l) = near.stderr.try_recv() {
        said.push(l);
    }
    let warned = said.iter().filter(|l| l.contains("not a message")).count();
    if warned > 5 {
        problems.push(format!("{warned} warnings about non-message lines"));
    }
    let longest = said.iter().map(|l| l.len()).max().unwrap_or(0);
    if longest > 2000 {
        problems.push(format!("a console line of {longest} bytes"));
    }
    let bad_names = said.iter().filter(|l| l.contains("invalid name")).count();
    if bad_names == 0 || bad_names > 2 {
        problems.push(format!("{bad_names} warnings about the 2 invalid names"));
    }
    if !near_alive(pid) {
        problems.push("the console died".into());
    }
    assert!(problems.is_empty(), "{problems:#?}");
    let (code, _) = near.stop(20);
    assert_eq!(code, Some(0));
}

fn near_alive(pid: u32) -> bool {
    alive(pid as i32)
}

/// Runs `switchboard ARGS --manifest <fx's manifest>`, killed (and the test failed) if it has
/// not ended within `secs` seconds: a CLI action on another host's connector must return
/// within its timeouts, not hang for its whole patience.
fn run_within(fx: &Fixture, args: &[&str], secs: u64) -> std::process::Output {
    let child = Command::new(SWITCHBOARD)
        .args(args)
        .arg("--manifest")
        .arg(fx.path().join("switchboard.toml"))
        .current_dir(fx.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run switchboard");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(out) => out.expect("switchboard's output"),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!(
                "`switchboard {}` did not return within {secs} s",
                args.join(" ")
            );
        }
    }
}

/// A `[[host]]` whose command never speaks (a hung ssh): `status` says how long the link has
/// been connecting and what it runs, and a command for one of its connectors is refused at
/// once with the link's state instead of waiting for the action's 30-minute patience.
#[test]
fn a_command_for_a_host_whose_link_is_down_is_refused_at_once_with_the_links_state() {
    let fx = Fixture::new("mute");
    fx.sim_config("l.toml", "lines_per_sec = 0.0");
    fx.manifest(
        "",
        &format!(
            "{}\n[[host]]\nname = \"far\"\ncommand = \"exec sleep 600\"\n",
            connector_table("mute-a", "l.toml", ""),
        ),
    );
    let near = HeadlessConsole::start(&fx, &[]);
    assert!(ready(&fx, &["mute-a"], 20.0));
    let out = run_within(&fx, &["status"], 30);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("host far: connecting for") && said.contains("exec sleep 600"),
        "status shows the link that never spoke, how long and what it runs: {said}"
    );
    let out = run_within(&fx, &["start", "far-a@far"], 10);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("far-a@far") && said.contains("far: connecting for"),
        "refused with the link's state: {said}"
    );
    assert!(said.contains("not sent"), "{said}");
    let (code, _) = near.stop(20);
    assert_eq!(code, Some(0));
}

/// A link that is up but whose console never answers a request: the action ends with the
/// reply timeout (and says so) instead of the action's whole patience (600 s for a stop).
#[test]
fn a_remote_that_never_replies_ends_the_action_with_a_reply_timeout() {
    use switchboard::config::connector::ConnectorType;
    use switchboard::control::protocol::{StreamLine, StreamMessage};
    let fx = Fixture::new("deaf");
    fx.sim_config("l.toml", "lines_per_sec = 0.0");
    let mut view = switchboard::ConnectorView::new("deaf-r", ConnectorType::BinanceFutures, 0.0);
    view.phase = Phase::Ready;
    let snapshot = StreamLine::new(StreamMessage::Snapshot {
        console_pid: 1,
        connectors: vec![view],
        logs: Default::default(),
    });
    let file = fx.path().join("snapshot.json");
    let mut text = serde_json::to_string(&snapshot).expect("json");
    text.push('\n');
    std::fs::write(&file, text).expect("write the snapshot");
    fx.manifest(
        "",
        &format!(
            "{}\n[[host]]\nname = \"deaf\"\ncommand = \"cat {}; exec sleep 600\"\n",
            connector_table("deaf-a", "l.toml", ""),
            file.display()
        ),
    );
    let near = HeadlessConsole::start(&fx, &[]);
    near.line_with("host deaf: connected", 20);
    let out = run_within(&fx, &["stop", "deaf-r@deaf"], 120);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("did not reply") && said.contains("reply timeout"),
        "{said}"
    );
    let (code, _) = near.stop(20);
    assert_eq!(code, Some(0));
}

/// `attach --stdio` with a reader that does not read (a slow link) while its console's
/// connector floods: the attach process stays small (its queue is bounded, so the console's
/// writes block) and the console counts what it could not send as skipped.
#[test]
fn a_slow_attach_reader_holds_the_console_back_and_gets_skipped_lines_counted() {
    let far = Fixture::new("attslow");
    // 20 000 lines of 16 kB (320 MB) as fast as the sim writes, 2 s after the start (the
    // attach is there by then); a scrollback big enough that every tick has 500 new lines.
    far.sim_config(
        "f.toml",
        "lines_per_sec = 0.0\nready_delay_ms = 2000\nflood_lines = 20000\nline_bytes = 16000",
    );
    far.manifest(
        "[console]\nscrollback_bytes = 268435456\n",
        &connector_table("attslow-a", "f.toml", ""),
    );
    let _console = HeadlessConsole::start(&far, &[]);
    assert!(eventually(10.0, || matches!(
        switchboard::engine::io::store::lock_state(&far.path().join(".switchboard")),
        switchboard::engine::io::store::LockState::Held(Some(_))
    )));
    let mut child = Command::new(SWITCHBOARD)
        .args(["attach", "--stdio", "--manifest"])
        .arg(far.path().join("switchboard.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("attach");
    // Nobody reads its stdout for 10 s, while the flood is written.
    std::thread::sleep(Duration::from_secs(10));
    let peak_kib = peak_rss_kib(child.id());
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                break;
            };
            let skipped = v["logs"]["attslow-a"]["skipped"].as_u64().unwrap_or(0);
            if tx.send(skipped).is_err() {
                break;
            }
        }
    });
    let mut skipped = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while skipped == 0 && std::time::Instant::now() < deadline {
        if let Ok(s) = rx.recv_timeout(Duration::from_millis(500)) {
            skipped += s;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = far.run(&["stop", "attslow-a"]);
    eprintln!("attach peak RSS: {peak_kib} KiB; skipped lines reported: {skipped}");
    assert!(
        peak_kib < 64 * 1024,
        "the attach process stays under 64 MiB: peak {peak_kib} KiB"
    );
    assert!(skipped > 0, "the console counted skipped lines");
}
