//! Connectors outlive the console: re-adoption, the truth about the past, and acting from the
//! command line with and without a running console. Real processes, real signals, real iceoryx2.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use switchboard::config::connector::ConnectorType;
use switchboard::engine::io::store;
use switchboard::{ConnectorView, Phase};

fn connector(name: &str) -> String {
    format!("[[connector]]\nname = \"{name}\"\ntype = \"binancefutures\"\nconfig = \"a.toml\"\n")
}

fn wait_status(fx: &Fixture, secs: f64, pred: impl Fn(&ConnectorView) -> bool) -> ConnectorView {
    let mut last = None;
    let ok = eventually(secs, || {
        let s = fx.status().remove(0);
        let hit = pred(&s);
        last = Some(s);
        hit
    });
    assert!(ok, "status never matched; last: {last:?}");
    last.expect("status")
}

#[test]
fn a_new_console_adopts_what_a_killed_one_left_and_stop_name_stops_it() {
    let fx = Fixture::new("adopt");
    fx.sim_config("a.toml", "lines_per_sec = 20.0");
    fx.manifest("", &connector("ad-a"));
    let mut first = fx.headless();
    let pid = wait_status(&fx, 15.0, |s| s.phase == Phase::Ready)
        .pid
        .expect("pid");
    first.kill().expect("SIGKILL the console");
    first.wait().expect("reap");
    assert!(alive(pid), "the connector outlives its console");
    let log = fx.log("ad-a");
    let size = std::fs::metadata(&log).expect("log").len();
    assert!(eventually(5.0, || std::fs::metadata(&log)
        .map(|m| m.len() > size)
        .unwrap_or(false)));

    let mut second = fx.headless();
    let adopted = wait_status(&fx, 15.0, |s| s.detail.contains("adopted"));
    assert_eq!(
        (adopted.phase, adopted.pid),
        (Phase::Ready, Some(pid)),
        "{adopted:?}"
    );
    assert!(std::fs::read_to_string(&log)
        .expect("log")
        .contains("adopt: PID"));

    // `switchboard stop NAME` goes through the running console.
    let out = fx.run(&["stop", "ad-a"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ad-a stopped"));
    assert!(eventually(5.0, || !alive(pid)), "stopped for real");
    let st = fx.status().remove(0);
    assert_eq!(st.phase, Phase::Stopped);
    assert_eq!(
        st.last_exit, None,
        "an adopted process's exit status is not invented"
    );
    let _ = second.kill();
    let _ = second.wait();
}

#[test]
fn an_adopted_connector_that_dies_is_seen_at_once_and_restarted() {
    let fx = Fixture::new("adoptdie");
    fx.sim_config("a.toml", "");
    fx.manifest(
        "restart = { initial_backoff = 0.2, jitter = 0.0 }",
        &connector("ae-a"),
    );
    let mut first = fx.headless();
    let pid = wait_status(&fx, 15.0, |s| s.phase == Phase::Ready)
        .pid
        .expect("pid");
    first.kill().expect("kill console");
    first.wait().expect("reap");
    let mut second = fx.headless();
    wait_status(&fx, 15.0, |s| s.detail.contains("adopted"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill connector");
    let back = wait_status(&fx, 15.0, |s| s.phase == Phase::Ready && s.pid != Some(pid));
    assert_eq!(back.restarts, 1, "{back:?}");
    let log = std::fs::read_to_string(fx.log("ae-a")).expect("log");
    assert!(
        log.contains("exit status unknown: adopted process on its own"),
        "{log}"
    );
    let _ = second.kill();
    let _ = second.wait();
}

#[test]
fn a_recorded_pid_that_now_belongs_to_another_process_is_never_signalled() {
    let fx = Fixture::new("reuse");
    fx.sim_config("a.toml", "");
    fx.manifest(
        "autostart = false",
        &format!("{}\n{}", connector("ru-a"), connector("ru-b")),
    );
    // Two strangers: one whose start time differs from the record (a reused PID), one whose
    // start time matches but which runs something else.
    let mut stranger1 = Command::new("sleep")
        .arg("60")
        .current_dir(fx.path())
        .spawn()
        .expect("sleep");
    let mut stranger2 = Command::new("sleep")
        .arg("61")
        .current_dir(fx.path())
        .spawn()
        .expect("sleep");
    let (p1, p2) = (stranger1.id() as i32, stranger2.id() as i32);
    let ticks2 = switchboard::engine::io::sys::process_start_ticks(p2).expect("ticks");
    let record = |name: &str, pid: i32, ticks: u64| store::StoredConnector {
        view: ConnectorView {
            phase: Phase::Ready,
            pid: Some(pid),
            uptime_s: Some(100.0),
            restarts: 3,
            bots: 1,
            detail: "ready in 40 ms".into(),
            wanted: true,
            ..ConnectorView::new(
                name,
                ConnectorType::BinanceFutures,
                store::unix_now() - 50.0,
            )
        },
        adoption: store::Adoption {
            start_ticks: Some(ticks),
            started_unix: Some(store::unix_now() - 100.0),
            binary: Some(SIM.into()),
            stop: None,
            symbols: Default::default(),
            budget: None,
            relay: None,
        },
    };
    store::write_state(
        &fx.path().join(".switchboard"),
        &store::StateFile {
            version: store::STATE_VERSION,
            console_pid: 1,
            updated_unix: store::unix_now() - 50.0,
            connectors: vec![record("ru-a", p1, 1), record("ru-b", p2, ticks2)],
        },
        true,
    )
    .expect("state");
    // status already tells the truth without a console.
    let st = fx.status();
    for (row, pid) in st.iter().zip([p1, p2]) {
        assert_eq!(row.phase, Phase::Exited, "{st:?}");
        assert_eq!(row.pid, None, "{st:?}");
        let want = format!("PID {pid} now belongs to another process (sleep)");
        assert!(row.detail.contains(&want), "{}", row.detail);
    }

    // The console reports both as exited, with why, before it starts anything.
    let mut console = Command::new(SWITCHBOARD)
        .args(["run", "--headless", "--json", "--manifest"])
        .arg(fx.path().join("switchboard.toml"))
        .current_dir(fx.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("headless");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        console.stdout.take().expect("stdout"),
    ));
    let mut first = Vec::new();
    for _ in 0..2 {
        let line = lines.next().expect("a line").expect("utf-8");
        first.push(serde_json::from_str::<switchboard::Transition>(&line).expect("transition"));
    }
    assert_eq!(first[0].phase, Phase::Exited, "{first:?}");
    assert!(
        first[0].detail.contains("another process"),
        "{}",
        first[0].detail
    );
    assert_eq!(first[1].phase, Phase::Exited, "{first:?}");
    assert!(
        first[1].detail.contains(&format!("PID {p2} now runs")),
        "{}",
        first[1].detail
    );
    std::thread::spawn(move || lines.for_each(drop));
    // run --headless starts every connector: the strangers are not in the way.
    assert!(eventually(15.0, || fx
        .status()
        .iter()
        .all(|s| s.phase == Phase::Ready)));
    assert_eq!(fx.status()[0].restarts, 3, "history is kept");
    // Stopping everything (SIGTERM to the console) must not touch the strangers.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(console.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("sigterm");
    assert_eq!(console.wait().expect("wait").code(), Some(0));
    assert!(alive(p1) && alive(p2), "strangers were never signalled");
    let out = fx.run(&["stop", "ru-a"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(alive(p1), "not even by a direct stop");
    let _ = stranger1.kill();
    let _ = stranger2.kill();
    let _ = stranger1.wait();
    let _ = stranger2.wait();
}

#[test]
fn commands_act_directly_when_no_console_runs() {
    let fx = Fixture::new("direct");
    fx.sim_config("a.toml", "");
    fx.manifest("autostart = false", &connector("dr-a"));
    let out = fx.run(&["start", "dr-a"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = fx.status().remove(0);
    assert_eq!(st.phase, Phase::Ready);
    let pid = st.pid.expect("pid");
    assert!(alive(pid), "it keeps running after the command returns");
    assert!(st.detail.contains("no console running"));
    let out = fx.run(&["restart", "dr-a"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid2 = fx.status().remove(0).pid.expect("pid");
    assert_ne!(pid, pid2);
    assert!(eventually(5.0, || !alive(pid)));
    let out = fx.run(&["stop", "dr-a"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(eventually(5.0, || !alive(pid2)));
    assert_eq!(fx.status().remove(0).phase, Phase::Stopped);

    let out = fx.run(&["stop", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no connector named 'nope'"));
    // A failed action exits 1: a build in a directory that is no hftbacktest checkout.
    let out = fx.run(&["build", "dr-a"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("connector/Cargo.toml"));
    let _ = Duration::ZERO;
}

#[test]
fn the_control_socket_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new("sock");
    fx.sim_config("a.toml", "");
    fx.manifest("autostart = false", &connector("so-a"));
    let mut console = fx.headless();
    let sock = fx.path().join(".switchboard/control.sock");
    assert!(eventually(10.0, || sock.exists()));
    let mode = std::fs::metadata(&sock).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let _ = console.kill();
    let _ = console.wait();
}

#[test]
fn one_broken_connector_config_blocks_nothing_else() {
    let fx = Fixture::new("broken");
    fx.sim_config("a.toml", "");
    fx.sim_config("b.toml", "");
    fx.manifest(
        "",
        "[[connector]]\nname = \"bk-a\"\ntype = \"binancefutures\"\nconfig = \"a.toml\"\n\n[[connector]]\nname = \"bk-b\"\ntype = \"binancefutures\"\nconfig = \"b.toml\"\n",
    );
    let mut console = fx.headless();
    assert!(eventually(15.0, || fx
        .status()
        .iter()
        .all(|s| s.phase == Phase::Ready)));
    // While the console runs, bk-b's config goes away.
    std::fs::remove_file(fx.path().join("b.toml")).expect("rm b.toml");
    // status shows every connector, the broken one with its error, on stdout and stderr. With
    // the console running its answer is the outcome (exit 0, the error a warning); with none,
    // it exits 2 (an invalid manifest) so that scripts notice.
    let status = |code: i32| {
        let out = fx.run(&["status", "--json"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(err.contains("b.toml"), "{err}");
        serde_json::from_slice::<Vec<ConnectorView>>(&out.stdout).expect("rows")
    };
    let st = status(0);
    assert_eq!(st.len(), 2, "the broken one is still shown: {st:?}");
    assert!(
        st[1].detail.contains("manifest error") && st[1].detail.contains("b.toml"),
        "{}",
        st[1].detail
    );
    for action in ["restart", "stop", "start"] {
        let out = fx.run(&[action, "bk-a"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(console.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("sigterm");
    assert_eq!(console.wait().expect("wait").code(), Some(0));
    // Without a console: status still answers, and acting on the healthy one works directly.
    let st = status(2);
    assert!(st[1].detail.contains("manifest error"), "{}", st[1].detail);
    let out = fx.run(&["start", "bk-a"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The broken one's record is kept for a later console.
    let state =
        std::fs::read_to_string(fx.path().join(".switchboard/state.json")).expect("state.json");
    assert!(state.contains("\"bk-b\""), "{state}");
    // Acting on the broken one says why, with exit 2.
    let out = fx.run(&["start", "bk-b"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("b.toml"));
    let _ = fx.run(&["stop", "bk-a"]);
}

/// Processes whose command line mentions `needle` (e.g. a connector's unique name).
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

#[test]
fn a_console_killed_while_a_connector_starts_leaves_one_process_which_the_next_adopts() {
    let fx = Fixture::new("midstart");
    fx.sim_config("a.toml", "ready_delay_ms = 2500");
    fx.manifest("startup_timeout = 15.0", &connector("ms-a"));
    let mut first = fx.headless();
    let pid = wait_status(&fx, 10.0, |s| s.phase == Phase::Starting && s.pid.is_some())
        .pid
        .expect("pid");
    first.kill().expect("SIGKILL the console");
    first.wait().expect("reap");
    let mut second = fx.headless();
    let ready = wait_status(&fx, 15.0, |s| s.phase == Phase::Ready);
    assert_eq!(ready.pid, Some(pid), "the same process, adopted: {ready:?}");
    assert_eq!(processes_with("ms-a"), vec![pid], "never a second process");
    let _ = second.kill();
    let _ = second.wait();
}

#[test]
fn a_stop_begun_by_a_killed_console_is_finished_by_the_next() {
    let fx = Fixture::new("midstop");
    fx.sim_config("a.toml", "ignore_sigterm = true");
    // A grace long enough that it cannot run out before the check below on a loaded machine:
    // with 3 s, one fresh-clone CI run found the connector already gone there (its deadline
    // had passed, and the first console, or the `stop` command acting directly once that
    // console died, had finished the stop: not what this test is about).
    fx.manifest("shutdown_timeout = 8.0", &connector("mt-a"));
    let mut first = fx.headless();
    let pid = wait_status(&fx, 10.0, |s| s.phase == Phase::Ready)
        .pid
        .expect("pid");
    // The operator stops it; the console dies during the grace period.
    let mut stop = Command::new(SWITCHBOARD)
        .args(["stop", "mt-a", "--manifest"])
        .arg(fx.path().join("switchboard.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("stop");
    wait_status(&fx, 5.0, |s| s.phase == Phase::Stopping);
    // The `stop` command goes first: once its console dies it would act directly, adopting
    // the connector in a console of its own (a fresh-clone CI run saw the connector gone
    // before the check below, with the grace far from over), which is not what this tests.
    let _ = stop.kill();
    let _ = stop.wait();
    first.kill().expect("SIGKILL the console");
    first.wait().expect("reap");
    assert!(alive(pid), "SIGTERM is ignored: it still runs");
    // The next console (which would start every connector) finishes the stop instead.
    let mut second = fx.headless();
    assert!(
        eventually(15.0, || !alive(pid)),
        "SIGKILL at the recorded deadline"
    );
    let st = wait_status(&fx, 5.0, |s| s.phase == Phase::Stopped);
    assert_eq!(st.pid, None, "stopped, not restarted: {st:?}");
    assert!(processes_with("mt-a").is_empty());
    let _ = second.kill();
    let _ = second.wait();
}

#[test]
fn a_wrapper_script_is_adopted_and_its_group_never_outlives_it() {
    let fx = Fixture::new("wrapper");
    fx.sim_config("a.toml", "");
    // A wrapper that leaves a helper in the connector's process group (one that ignores
    // SIGTERM), then execs the connector.
    let wrapper = fx.path().join("run-connector.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nsh -c 'trap \"\" TERM; exec sleep 1000' &\necho $! > \"{dir}/helper-$1.pid\"\nexec {SIM} \"$@\"\n",
            dir = fx.path().display()
        ),
    )
    .expect("wrapper");
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    std::fs::write(
        fx.path().join("switchboard.toml"),
        format!(
            "[defaults]\nproject_root = \"{root}\"\nbinary = \"{root}/run-connector.sh\"\nenv = {{ HFTBACKTEST_CHANNEL_CONFIG = \"{root}/channel.toml\", NO_COLOR = \"1\" }}\n\n{}",
            connector("wr-a"),
            root = fx.path().display()
        ),
    )
    .expect("manifest");
    let helper = || -> i32 {
        std::fs::read_to_string(fx.path().join("helper-wr-a.pid"))
            .expect("helper pid")
            .trim()
            .parse()
            .expect("pid")
    };
    let mut first = fx.headless();
    let pid = wait_status(&fx, 10.0, |s| s.phase == Phase::Ready)
        .pid
        .expect("pid");
    let h1 = helper();
    first.kill().expect("SIGKILL the console");
    first.wait().expect("reap");
    let mut second = fx.headless();
    let adopted = wait_status(&fx, 10.0, |s| s.detail.contains("adopted"));
    assert_eq!(
        (adopted.phase, adopted.pid),
        (Phase::Ready, Some(pid)),
        "the wrapper's connector is adopted: {adopted:?}"
    );
    // Stopping the adopted connector ends its whole group, the SIGTERM-proof helper included.
    assert_eq!(fx.run(&["stop", "wr-a"]).status.code(), Some(0));
    assert!(eventually(5.0, || !alive(pid)));
    assert!(
        eventually(5.0, || !alive(h1)),
        "helper {h1} outlived its adopted leader"
    );
    // The same for a connector this console started itself.
    assert_eq!(fx.run(&["start", "wr-a"]).status.code(), Some(0));
    let h2 = helper();
    assert_ne!(h1, h2);
    assert!(alive(h2));
    assert_eq!(fx.run(&["stop", "wr-a"]).status.code(), Some(0));
    assert!(
        eventually(5.0, || !alive(h2)),
        "helper {h2} outlived its leader"
    );
    let _ = second.kill();
    let _ = second.wait();
}

#[test]
fn corrupt_numbers_in_state_json_never_panic_a_console() {
    let fx = Fixture::new("corrupt");
    fx.sim_config("a.toml", "");
    fx.manifest("", &connector("co-a"));
    let mut first = fx.headless();
    let pid = wait_status(&fx, 10.0, |s| s.phase == Phase::Ready)
        .pid
        .expect("pid");
    first.kill().expect("SIGKILL the console");
    first.wait().expect("reap");
    let path = fx.path().join(".switchboard/state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("state")).expect("json");
    // Numbers no clock can hold (JSON has no NaN; 1e300 overflows every Duration).
    state["connectors"][0]["adoption"]["started_unix"] = serde_json::json!(-1e300);
    state["connectors"][0]["uptime_s"] = serde_json::json!(1e300);
    state["updated_unix"] = serde_json::json!(1e300);
    std::fs::write(&path, serde_json::to_vec(&state).expect("json")).expect("write");
    // The JSON and the table (which turns the uptime into a duration) both.
    for args in [&["status", "--json"][..], &["status"][..]] {
        let out = fx.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut second = fx.headless();
    let adopted = wait_status(&fx, 10.0, |s| s.detail.contains("adopted"));
    assert_eq!(adopted.pid, Some(pid));
    assert!(
        second.try_wait().expect("try_wait").is_none(),
        "the console lives"
    );
    let _ = second.kill();
    let _ = second.wait();
}
