//! The lifecycle engine against real sim-connector processes, real signals and a real (private)
//! iceoryx2 world per test.

mod common;

use std::time::{Duration, Instant};

use common::*;
use switchboard::engine::io::ipc;
use switchboard::{Command, ExitStatus, Manifest, Phase, Transition};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_ready_stop() {
    let fx = Fixture::new("basic");
    fx.sim_config("a.toml", "ready_delay_ms = 100\nlines_per_sec = 20.0");
    let m = fx.manifest("", &connector_table("basic-a", "a.toml", ""));
    let h = start_engine(&m).await;
    h.command("basic-a", Command::Start).expect("start");
    let ready = wait_phase(&h, "basic-a", Phase::Ready, 10.0).await;
    let pid = ready.pid.expect("pid when ready");
    assert!(alive(pid));
    assert!(h.health().healthy, "the one wanted connector is ready");
    // Its log reaches the scrollback through the file, with secrets masked.
    let sb = h.scrollback(&"basic-a".into()).expect("scrollback");
    assert!(
        eventually(5.0, || sb
            .lock()
            .expect("lock")
            .lines()
            .iter()
            .any(|l| l.contains("depth update"))),
        "log lines reach the scrollback"
    );
    h.command("basic-a", Command::Stop).expect("stop");
    let stopped = wait_phase(&h, "basic-a", Phase::Stopped, 10.0).await;
    assert_eq!(stopped.last_exit, Some(ExitStatus::Code(0)));
    assert!(
        stopped.detail.contains("stopped cleanly"),
        "{}",
        stopped.detail
    );
    assert!(!alive(pid), "a stop ends in a stopped process");
    let log = std::fs::read_to_string(fx.log("basic-a")).expect("log");
    assert!(log.contains("[switchboard") && log.contains("start:") && log.contains("exit: code 0"));
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_opening_the_services_never_makes_a_connector_ready() {
    let fx = Fixture::new("botonly");
    fx.sim_config("a.toml", "never_ready = true");
    let m = fx.manifest(
        "startup_timeout = 1.5\nshutdown_timeout = 1.0\nrestart = { policy = \"never\" }",
        &connector_table("botonly-a", "a.toml", ""),
    );
    // The bot creates both services first (open_or_create), as bots do.
    let mut bot = fx.bot("botonly-a");
    let cfg = ipc::config_for(fx.path()).expect("config");
    assert!(
        eventually(5.0, || ipc::probe(&cfg, "botonly-a", bot.id() as i32)
            .map(|p| p.ready)
            .unwrap_or(false)),
        "the bot's own services exist"
    );
    let h = start_engine(&m).await;
    h.command("botonly-a", Command::Start).expect("start");
    let failed = wait_phase(&h, "botonly-a", Phase::Failed, 10.0).await;
    assert!(
        failed.detail.contains("not ready in 1.5 s"),
        "{}",
        failed.detail
    );
    stop_engine(&h).await;
    let _ = bot.kill();
    let _ = bot.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_attached_are_counted() {
    let fx = Fixture::new("bots");
    fx.sim_config("a.toml", "");
    let m = fx.manifest("", &connector_table("bots-a", "a.toml", ""));
    let h = start_engine(&m).await;
    h.command("bots-a", Command::Start).expect("start");
    wait_phase(&h, "bots-a", Phase::Ready, 10.0).await;
    let mut b1 = fx.bot("bots-a");
    let mut b2 = fx.bot("bots-a");
    let snap = wait_for(&h, "bots-a", Duration::from_secs(10), |c| c.bots == 2).await;
    assert_eq!(snap.phase, Phase::Ready);
    let _ = b1.kill();
    let _ = b1.wait();
    wait_for(&h, "bots-a", Duration::from_secs(10), |c| c.bots == 1).await;
    stop_engine(&h).await;
    let _ = b2.kill();
    let _ = b2.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_sigterm_gets_sigkill_at_shutdown_timeout() {
    let fx = Fixture::new("ignore");
    fx.sim_config("a.toml", "ignore_sigterm = true");
    let m = fx.manifest(
        "shutdown_timeout = 1.0",
        &connector_table("ignore-a", "a.toml", ""),
    );
    let h = start_engine(&m).await;
    h.command("ignore-a", Command::Start).expect("start");
    let pid = wait_phase(&h, "ignore-a", Phase::Ready, 10.0)
        .await
        .pid
        .expect("pid");
    let t0 = Instant::now();
    h.command("ignore-a", Command::Stop).expect("stop");
    let s = wait_phase(&h, "ignore-a", Phase::Stopping, 5.0).await;
    assert!(s.countdown_s.is_some(), "stopping shows its countdown");
    let stopped = wait_phase(&h, "ignore-a", Phase::Stopped, 10.0).await;
    let took = t0.elapsed();
    assert_eq!(stopped.last_exit, Some(ExitStatus::Signal(9)));
    assert!(stopped.detail.contains("SIGKILL"), "{}", stopped.detail);
    // Not a speed check: SIGKILL must not come before the grace period ends.
    assert!(
        took >= Duration::from_millis(1000),
        "SIGKILL came early: {took:?}"
    );
    assert!(!alive(pid));
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn senderror_panic_after_sigterm_is_a_clean_stop() {
    let fx = Fixture::new("senderr");
    fx.sim_config("a.toml", "panic_after_sigterm_ms = 200");
    let m = fx.manifest(
        "shutdown_timeout = 5.0",
        &connector_table("senderr-a", "a.toml", ""),
    );
    let h = start_engine(&m).await;
    h.command("senderr-a", Command::Start).expect("start");
    wait_phase(&h, "senderr-a", Phase::Ready, 10.0).await;
    h.command("senderr-a", Command::Stop).expect("stop");
    let stopped = wait_phase(&h, "senderr-a", Phase::Stopped, 10.0).await;
    assert_eq!(stopped.last_exit, Some(ExitStatus::Code(1)));
    assert!(stopped.detail.contains("SendError"), "{}", stopped.detail);
    // Give a wrongly scheduled restart time to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = h.health().connectors[0].clone();
    assert_eq!(after.phase, Phase::Stopped);
    assert_eq!(after.restarts, 0);
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_back_off_and_restart_until_the_budget_is_spent() {
    let fx = Fixture::new("crash");
    fx.sim_config("a.toml", "crash_after_ms = 150\ncrash_code = 3");
    let m = fx.manifest(
        "restart = { initial_backoff = 0.1, max_backoff = 0.2, jitter = 0.0, max_attempts = 3, uptime_reset = 30.0 }",
        &connector_table("crash-a", "a.toml", ""),
    );
    let h = start_engine(&m).await;
    let mut transitions = h.subscribe();
    h.command("crash-a", Command::Start).expect("start");
    let failed = wait_phase(&h, "crash-a", Phase::Failed, 20.0).await;
    assert!(
        failed.detail.contains("gave up after 3"),
        "{}",
        failed.detail
    );
    assert_eq!(failed.restarts, 3);
    assert_eq!(failed.last_exit, Some(ExitStatus::Code(3)));
    // The event stream tells the same story, losslessly, up to the failure.
    let mut phases = Vec::new();
    while phases.last() != Some(&Phase::Failed) {
        let ev = tokio::time::timeout(Duration::from_secs(5), transitions.recv())
            .await
            .expect("events up to the failure")
            .expect("stream open");
        if let Some(t) = Transition::of(&ev) {
            if phases.last() != Some(&t.phase) {
                phases.push(t.phase);
            }
        }
    }
    let expected_cycle = [Phase::Starting, Phase::Ready, Phase::Exited, Phase::Backoff];
    assert_eq!(&phases[..4], &expected_cycle, "{phases:?}");
    assert_eq!(
        phases.iter().filter(|p| **p == Phase::Backoff).count(),
        3,
        "{phases:?}"
    );
    assert_eq!(phases.last(), Some(&Phase::Failed));
    // The detail of a backoff carries the attempt count and the crash line.
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staying_ready_past_uptime_reset_earns_back_the_budget() {
    let fx = Fixture::new("reset");
    // Each run is ready well past uptime_reset, then crashes. With max_attempts = 1 the second
    // crash would be fatal without the reset.
    fx.sim_config("a.toml", "crash_after_ms = 900");
    let m = fx.manifest(
        "restart = { initial_backoff = 0.05, max_backoff = 0.05, jitter = 0.0, max_attempts = 1, uptime_reset = 0.3 }",
        &connector_table("reset-a", "a.toml", ""),
    );
    let h = start_engine(&m).await;
    h.command("reset-a", Command::Start).expect("start");
    let snap = wait_for(&h, "reset-a", Duration::from_secs(20), |c| {
        c.restarts >= 3 || c.phase == Phase::Failed
    })
    .await;
    assert_ne!(snap.phase, Phase::Failed, "{}", snap.detail);
    assert!(snap.restarts >= 3);
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_timeout_stops_it_and_counts_a_failure() {
    let fx = Fixture::new("timeout");
    fx.sim_config("a.toml", "never_ready = true");
    let m = fx.manifest(
        "startup_timeout = 0.8\nshutdown_timeout = 1.0\nrestart = { initial_backoff = 0.1, jitter = 0.0, max_attempts = 1 }",
        &connector_table("timeout-a", "a.toml", ""),
    );
    let h = start_engine(&m).await;
    h.command("timeout-a", Command::Start).expect("start");
    let first_pid = wait_for(&h, "timeout-a", Duration::from_secs(5), |c| {
        c.phase == Phase::Starting && c.pid.is_some()
    })
    .await
    .pid
    .expect("pid");
    let backoff = wait_phase(&h, "timeout-a", Phase::Backoff, 10.0).await;
    assert!(backoff.detail.contains("attempt 1/1"), "{}", backoff.detail);
    assert!(!alive(first_pid), "the timed-out process was stopped");
    let failed = wait_phase(&h, "timeout-a", Phase::Failed, 10.0).await;
    assert!(
        failed.detail.contains("gave up after 1"),
        "{}",
        failed.detail
    );
    assert!(
        failed.detail.contains("not ready in 0.8 s"),
        "{}",
        failed.detail
    );
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_binary_without_auto_build_is_not_found() {
    let fx = Fixture::new("notfound");
    fx.sim_config("a.toml", "");
    let body = connector_table(
        "notfound-a",
        "a.toml",
        "binary = \"no/such/connector\"\nauto_build = false",
    );
    let m = fx.manifest("", &body);
    let h = start_engine(&m).await;
    h.command("notfound-a", Command::Start).expect("start");
    let failed = wait_phase(&h, "notfound-a", Phase::Failed, 5.0).await;
    assert!(
        failed.detail.contains("binary not found") && failed.detail.contains("auto_build"),
        "{}",
        failed.detail
    );
    stop_engine(&h).await;

    // The library runner says the same with a typed error.
    let manifest = Manifest::load(&m).expect("manifest");
    let mut runner =
        switchboard::ConnectorRunner::new(manifest.connectors[0].clone(), fx.path().join("logs"));
    match runner.start().await {
        Err(switchboard::ConnectorRunnerError::NotFound { connector, binary }) => {
            assert_eq!(connector, "notfound-a");
            assert!(binary.ends_with("no/such/connector"));
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_held_by_another_live_process_is_refused() {
    let fx = Fixture::new("dup");
    let cfg_path = fx.sim_config("a.toml", "");
    // Someone else runs a connector with the same name in the same iceoryx2 world.
    let mut other = fx
        .command(SIM)
        .args(["dup-a", "binancefutures"])
        .arg(&cfg_path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn other");
    let cfg = ipc::config_for(fx.path()).expect("config");
    let other_pid = other.id() as i32;
    assert!(eventually(10.0, || ipc::probe(&cfg, "dup-a", other_pid)
        .map(|p| p.ready)
        .unwrap_or(false)));
    let m = fx.manifest(
        "restart = { policy = \"on-failure\" }",
        &connector_table("dup-a", "a.toml", ""),
    );
    let h = start_engine(&m).await;
    h.command("dup-a", Command::Start).expect("start");
    let failed = wait_phase(&h, "dup-a", Phase::Failed, 10.0).await;
    assert!(
        failed.detail.contains(&format!("PID {other_pid}")),
        "{}",
        failed.detail
    );
    assert!(failed.pid.is_none(), "nothing was spawned");
    assert!(alive(other_pid), "the other process is left alone");
    stop_engine(&h).await;
    let _ = other.kill();
    let _ = other.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_nodes_of_a_crashed_connector_are_cleaned_before_start() {
    let fx = Fixture::new("stale");
    let crash_cfg = fx.sim_config("crash.toml", "crash_after_ms = 100");
    fx.sim_config("a.toml", "");
    // The console is up first (its own node creation cleans dead nodes once); the crash happens
    // mid-session, so the cleanup before the start is what removes them.
    let m = fx.manifest("", &connector_table("stale-a", "a.toml", ""));
    let h = start_engine(&m).await;
    let mut crashed = fx
        .command(SIM)
        .args(["stale-a", "binancefutures"])
        .arg(&crash_cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let status = crashed.wait().expect("wait");
    assert_eq!(status.code(), Some(1));
    let cfg = ipc::config_for(fx.path()).expect("config");
    let dead = dead_nodes(&cfg, "stale-a");
    assert!(dead > 0, "a crash leaves dead nodes behind");
    h.command("stale-a", Command::Start).expect("start");
    wait_phase(&h, "stale-a", Phase::Ready, 10.0).await;
    let log = std::fs::read_to_string(fx.log("stale-a")).expect("log");
    assert_eq!(dead_nodes(&cfg, "stale-a"), 0, "{log}");
    assert!(log.contains("dead iceoryx2 node(s) of 'stale-a'"), "{log}");
    stop_engine(&h).await;
}

fn dead_nodes(cfg: &iceoryx2::config::Config, name: &str) -> usize {
    use iceoryx2::prelude::{ipc as iox, MessagingPattern, NodeState, Service as _, ServiceName};
    [ipc::to_bot(name), ipc::from_bot(name)]
        .iter()
        .map(|svc| {
            let sn = ServiceName::new(svc).expect("name");
            iox::Service::details(&sn, cfg, MessagingPattern::PublishSubscribe)
                .ok()
                .flatten()
                .and_then(|d| d.dynamic_details)
                .map(|d| {
                    d.nodes
                        .iter()
                        .filter(|n| matches!(n, NodeState::Dead(_)))
                        .count()
                })
                .unwrap_or(0)
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_restart_does_not_count_against_the_budget_and_kill_works() {
    let fx = Fixture::new("restart");
    fx.sim_config("a.toml", "ignore_sigterm = true");
    let m = fx.manifest(
        "shutdown_timeout = 0.5",
        &connector_table("restart-a", "a.toml", ""),
    );
    let h = start_engine(&m).await;
    h.command("restart-a", Command::Start).expect("start");
    let pid1 = wait_phase(&h, "restart-a", Phase::Ready, 10.0)
        .await
        .pid
        .expect("pid");
    h.command("restart-a", Command::Restart).expect("restart");
    let ready2 = wait_for(&h, "restart-a", Duration::from_secs(10), |c| {
        c.phase == Phase::Ready && c.pid != Some(pid1)
    })
    .await;
    assert_eq!(ready2.restarts, 1);
    assert!(!alive(pid1));
    let pid2 = ready2.pid.expect("pid");
    h.command("restart-a", Command::Kill).expect("kill");
    let killed = wait_phase(&h, "restart-a", Phase::Stopped, 5.0).await;
    assert_eq!(killed.last_exit, Some(ExitStatus::Signal(9)));
    assert!(
        killed.detail.contains("killed by the operator"),
        "{}",
        killed.detail
    );
    assert!(!alive(pid2));
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_masked_in_the_log_view_and_logs_rotate() {
    let fx = Fixture::new("mask");
    fx.sim_config("a.toml", "echo_config = true\nlines_per_sec = 200.0");
    let m = fx.path().join("switchboard.toml");
    fx.manifest("", &connector_table("mask-a", "a.toml", ""));
    let text = std::fs::read_to_string(&m).expect("r");
    std::fs::write(
        &m,
        format!("[console]\nlog_max_bytes = 8192\nlog_keep = 2\n\n{text}"),
    )
    .expect("w");
    let h = start_engine(&m).await;
    h.command("mask-a", Command::Start).expect("start");
    wait_phase(&h, "mask-a", Phase::Ready, 10.0).await;
    let secret = format!("SECRET-{}", fx.prefix);
    let sb = h.scrollback(&"mask-a".into()).expect("scrollback");
    assert!(eventually(5.0, || sb
        .lock()
        .expect("lock")
        .lines()
        .iter()
        .any(|l| l.contains("config secret = ****"))));
    assert!(!sb
        .lock()
        .expect("lock")
        .lines()
        .iter()
        .any(|l| l.contains(&secret)));
    // 200 lines/s of ~100 bytes pass 8 KiB quickly: the file is rotated, two old files kept.
    let rotated = fx.log("mask-a").with_extension("log.2");
    assert!(eventually(10.0, || rotated.exists()), "rotated to .log.2");
    assert!(!fx.log("mask-a").with_extension("log.3").exists());
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_runner_starts_awaits_and_stops_one_connector() {
    let fx = Fixture::new("runner");
    fx.sim_config("a.toml", "ready_delay_ms = 100\nignore_sigterm = true");
    let m = Manifest::load(&fx.manifest("", &connector_table("runner-a", "a.toml", "")))
        .expect("manifest");
    let mut guard =
        switchboard::ConnectorRunner::new(m.connectors[0].clone(), fx.path().join("rlogs")).guard();
    let r = guard.runner();
    assert!(r.binary_exists());
    assert!(!r.build_if_missing().await.expect("no build needed"));
    let pid = r.start().await.expect("start");
    assert!(r.is_running());
    assert!(r.wait_for_ready(Duration::from_secs(10)).await);
    // SIGTERM is ignored: stop escalates to SIGKILL after its timeout.
    let status = r.stop(Duration::from_millis(300)).await.expect("stop");
    assert_eq!(status, Some(ExitStatus::Signal(9)));
    assert!(!r.is_running());
    assert!(!alive(pid));
    assert!(r.output().contains("SIGTERM received: ignoring it"));

    // The guard stops a connector that is still running when it is dropped.
    let pid2 = guard.runner().start().await.expect("start again");
    assert!(alive(pid2));
    drop(guard);
    assert!(eventually(5.0, || !alive(pid2)), "the guard stopped it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_can_be_added_and_removed_while_the_others_keep_their_pids() {
    let fx = Fixture::new("addrm");
    fx.sim_config("a.toml", "lines_per_sec = 5.0");
    let two = format!(
        "{}{}",
        connector_table("addrm-a", "a.toml", ""),
        connector_table("addrm-b", "a.toml", "")
    );
    let h = start_engine(&fx.manifest("", &two)).await;
    let mut events = h.subscribe();
    h.command_all(Command::Start).expect("start all");
    let pid_a = wait_phase(&h, "addrm-a", Phase::Ready, 10.0).await.pid;
    let pid_b = wait_phase(&h, "addrm-b", Phase::Ready, 10.0).await.pid;

    // A third connector, from a manifest that now lists it.
    let three = format!("{two}{}", connector_table("addrm-c", "a.toml", ""));
    let m = Manifest::load(&fx.manifest("", &three)).expect("manifest");
    let spec_c = m.connector("addrm-c").expect("c").clone();
    h.add(spec_c.clone()).await.expect("added");
    assert!(matches!(
        h.add(spec_c).await,
        Err(switchboard::EngineError::AlreadyExists(_))
    ));
    assert_eq!(
        h.ids().iter().map(|i| i.to_string()).collect::<Vec<_>>(),
        ["addrm-a", "addrm-b", "addrm-c"]
    );
    assert!(h.scrollback(&"addrm-c".into()).is_some(), "its log tail");
    h.command("addrm-c", Command::Start).expect("start c");
    let pid_c = wait_phase(&h, "addrm-c", Phase::Ready, 10.0).await.pid;

    // Remove a running one: it is stopped first, then gone.
    h.remove("addrm-a").await.expect("removed");
    let a = pid_a.expect("pid a");
    assert!(!alive(a), "a removed connector's process is stopped");
    assert_eq!(
        h.ids().iter().map(|i| i.to_string()).collect::<Vec<_>>(),
        ["addrm-b", "addrm-c"]
    );
    assert!(matches!(
        h.command("addrm-a", Command::Start),
        Err(switchboard::EngineError::UnknownConnector(_))
    ));
    assert!(h.scrollback(&"addrm-a".into()).is_none());
    // The others were never touched.
    let views = h.health().connectors;
    assert_eq!(views[0].pid, pid_b);
    assert_eq!(views[1].pid, pid_c);
    assert!(views
        .iter()
        .all(|v| v.phase == Phase::Ready && v.restarts == 0));

    // The event stream told it all, in order, numbered without gaps.
    let mut seen = Vec::new();
    let mut last_seq = None;
    while !seen.contains(&("addrm-a".to_string(), "removed")) {
        let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("events")
            .expect("open");
        if let Some(prev) = last_seq {
            assert_eq!(ev.seq, prev + 1, "no gap in the numbering");
        }
        last_seq = Some(ev.seq);
        let what = match &ev.kind {
            switchboard::EventKind::Added => "added",
            switchboard::EventKind::Removed => "removed",
            switchboard::EventKind::Transition { .. } => "transition",
            switchboard::EventKind::Health { .. } => "health",
        };
        seen.push((ev.id.to_string(), what));
    }
    assert!(seen.contains(&("addrm-c".to_string(), "added")), "{seen:?}");
    stop_engine(&h).await;
    assert!(pid_b.is_some_and(|p| !alive(p)) && pid_c.is_some_and(|p| !alive(p)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_observer_still_sees_every_failure() {
    let fx = Fixture::new("lag");
    fx.sim_config("a.toml", "");
    // A binary that is not there and may not be built: every start fails at once.
    let m = fx.manifest(
        "",
        &connector_table(
            "lag-a",
            "a.toml",
            "binary = \"/nonexistent/connector\"\nauto_build = false",
        ),
    );
    let h = start_engine(&m).await;
    let mut slow = h.subscribe(); // never read until the end
    const STARTS: usize = 3000; // well past any fixed-size ring (the old one held 1024)
    for _ in 0..STARTS {
        h.command("lag-a", Command::Start).expect("start");
    }
    let mut failed = 0;
    let mut last_seq = 0;
    while failed < STARTS {
        let ev = tokio::time::timeout(Duration::from_secs(10), slow.recv())
            .await
            .expect("every event arrives")
            .expect("open");
        assert_eq!(ev.seq, last_seq + 1, "numbered without gaps");
        last_seq = ev.seq;
        if let Some(t) = Transition::of(&ev) {
            assert_eq!(t.phase, Phase::Failed, "{t:?}");
            assert!(t.detail.contains("auto_build = false"), "{}", t.detail);
            failed += 1;
        }
    }
    assert_eq!(failed, STARTS, "not one failure was dropped");
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_market_data_only_binancespot_connector_reaches_ready() {
    let fx = Fixture::new("spot");
    // Just the two URLs: no api_key, secret or ws_api_url (the common market-data setup).
    std::fs::write(
        fx.path().join("spot.toml"),
        "stream_url = \"wss://stream.binance.com:9443/ws\"\napi_url = \"https://api.binance.com\"\n",
    )
    .expect("config");
    let m = fx.manifest(
        "",
        "[[connector]]\nname = \"spot-md\"\ntype = \"binancespot\"\nconfig = \"spot.toml\"\n",
    );
    let h = start_engine(&m).await;
    h.command("spot-md", Command::Start).expect("start");
    let ready = wait_phase(&h, "spot-md", Phase::Ready, 10.0).await;
    assert!(ready.pid.is_some_and(alive));
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrollback_is_bounded_in_bytes_when_connectors_print_long_lines() {
    let fx = Fixture::new("longlines");
    // 16 KiB lines: bounded by lines alone, 10000 of them would hold 160 MiB per pane.
    fx.sim_config("a.toml", "flood_lines = 1500\nline_bytes = 16384");
    let m = fx.manifest(
        "",
        &format!(
            "{}{}",
            connector_table("longl-a", "a.toml", ""),
            connector_table("longl-b", "a.toml", "")
        ),
    );
    std::fs::write(
        &m,
        format!(
            "[console]\nscrollback_bytes = 1048576\n\n{}",
            std::fs::read_to_string(&m).expect("r")
        ),
    )
    .expect("w");
    let h = start_engine(&m).await;
    h.command_all(Command::Start).expect("start");
    for name in ["longl-a", "longl-b"] {
        let sb = h.scrollback(&name.into()).expect("scrollback");
        assert!(
            eventually(20.0, || sb
                .lock()
                .expect("lock")
                .lines()
                .iter()
                .any(|l| l.starts_with("flood         1499 "))),
            "{name}: the last flood line arrives"
        );
        let g = sb.lock().expect("lock");
        assert!(g.bytes() <= 1024 * 1024, "{name}: {} bytes kept", g.bytes());
        assert!(
            g.lines().len() > 10,
            "{name}: the newest lines are kept: {}",
            g.lines().len()
        );
    }
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adoption_holds_the_process_first_and_checks_its_start_time_after() {
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("sleep");
    let pid = sleeper.id() as i32;
    let ticks = switchboard::engine::io::sys::process_start_ticks(pid).expect("ticks");
    // A PID whose start time is not the recorded one is not taken over, even though it lives.
    let err = switchboard::engine::io::process::adopt(pid, ticks + 1).expect_err("another process");
    assert!(
        err.to_string().contains("no longer the recorded process"),
        "{err}"
    );
    assert!(alive(pid), "and it was not signalled");
    let held = switchboard::engine::io::process::adopt(pid, ticks).expect("the recorded process");
    held.signal(switchboard::machine::state::Sig::Kill);
    let _ = sleeper.wait();
    assert!(tokio::time::timeout(Duration::from_secs(5), held.exited)
        .await
        .is_ok());
}
