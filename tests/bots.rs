//! Managed bots (DESIGN §13, issue #23) against real sim-connectors, real sim-bots and real
//! iceoryx2: a bot waits for its connectors, is ready once its process is attached to their
//! services, is stopped before its connector, is restarted after its connector restarted, and is
//! adopted by a new console like a connector.

mod common;

use std::time::Duration;

use common::*;
use switchboard::model::view::Role;
use switchboard::{Command, Phase};

const BTC: &str = "instruments = [{ symbol = \"BTCUSDT\", tick_size = 0.1, lot_size = 0.001 }]\nconnect_grace = 2.0";

/// A `[[bot]]` running `sim-bot --once CONNECTOR`, plus `extra` keys.
fn bot_table(name: &str, connector: &str, extra: &str) -> String {
    format!(
        "[[bot]]\nname = \"{name}\"\ncommand = [\"{BOT}\", \"--once\", \"{connector}\"]\nconnectors = [\"{connector}\"]\n{extra}\n"
    )
}

/// When `v` last entered `phase` (RFC 3339, from its history).
fn last_ts(v: &switchboard::ConnectorView, phase: Phase) -> String {
    v.history
        .iter()
        .rev()
        .find(|e| e.phase == phase)
        .map(|e| e.ts.clone())
        .unwrap_or_else(|| panic!("no {phase} in the history of {}: {:?}", v.name, v.history))
}

/// The Feed events a sim-bot's log reports so far (its last `sim-bot: feed N` line).
fn bot_feed(log: &std::path::Path) -> u64 {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("sim-bot: feed "))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .next_back()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_waits_for_its_connector_and_is_ready_once_attached() {
    let fx = Fixture::new("botwait");
    fx.sim_config(
        "a.toml",
        "lines_per_sec = 0.0\nfeed_hz = 50.0\nready_delay_ms = 1500",
    );
    let m = fx.manifest(
        "",
        &format!(
            "{}\n{}",
            connector_table("botwait-c", "a.toml", BTC),
            bot_table("botwait-b", "botwait-c", "")
        ),
    );
    let h = start_engine(&m).await;
    // Starting the bot starts its connector first, and the bot waits for it.
    h.command("botwait-b", Command::Start)
        .expect("start the bot");
    let waiting = wait_for(&h, "botwait-b", Duration::from_secs(5), |v| {
        v.detail.starts_with("waiting for botwait-c")
    })
    .await;
    assert_eq!(waiting.role, Role::Bot);
    assert_eq!(waiting.connectors, vec!["botwait-c".to_string()]);
    assert!(
        waiting.pid.is_none(),
        "not started before its connector serves"
    );
    let c = wait_phase(&h, "botwait-c", Phase::Ready, 10.0).await;
    let b = wait_phase(&h, "botwait-b", Phase::Ready, 15.0).await;
    let c_now = wait_phase(&h, "botwait-c", Phase::Ready, 1.0).await;
    assert_eq!(c_now.pid, c.pid);
    assert!(b.pid.is_some());
    // Its start came after the connector's registration had settled.
    let started = last_ts(&b, Phase::Starting);
    let ready_c = last_ts(&c, Phase::Ready);
    assert!(
        started > ready_c,
        "bot started {started}, connector ready {ready_c}"
    );
    let log = fx.log("botwait-b");
    assert!(
        eventually(10.0, || bot_feed(&log) > 10),
        "the managed bot gets market data"
    );
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_whose_connector_gives_up_says_so_instead_of_waiting_for_a_restart() {
    let fx = Fixture::new("botgive");
    // Crashes 5 s after every start; one restart allowed, then the budget gives up.
    fx.sim_config(
        "a.toml",
        "lines_per_sec = 0.0\nfeed_hz = 20.0\ncrash_after_ms = 5000",
    );
    let m = fx.manifest(
        "",
        &format!(
            "{}\n{}",
            connector_table(
                "botgive-c",
                "a.toml",
                "connect_grace = 2.0\nrestart = { max_attempts = 1, initial_backoff = 0.1 }"
            ),
            bot_table("botgive-b", "botgive-c", "")
        ),
    );
    let h = start_engine(&m).await;
    h.command("botgive-b", Command::Start).expect("start");
    wait_phase(&h, "botgive-b", Phase::Ready, 15.0).await;
    wait_phase(&h, "botgive-c", Phase::Failed, 30.0).await;
    let b = wait_for(&h, "botgive-b", Duration::from_secs(5), |v| {
        v.detail.contains("which failed")
    })
    .await;
    assert_eq!(
        b.detail, "waiting for botgive-c, which failed: start it to go on; then it restarts",
        "{b:?}"
    );
    // Starting the connector again brings the bot back after it.
    let before = b.pid;
    h.command("botgive-c", Command::Start).expect("start c");
    wait_for(&h, "botgive-b", Duration::from_secs(20), |v| {
        v.phase == Phase::Ready && v.pid.is_some() && v.pid != before
    })
    .await;
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_that_never_attaches_fails_at_its_startup_timeout() {
    let fx = Fixture::new("botnever");
    fx.sim_config("a.toml", "lines_per_sec = 0.0");
    let m = fx.manifest(
        "",
        &format!(
            "{}\n[[bot]]\nname = \"botnever-b\"\ncommand = \"exec sleep 30\"\nconnectors = [\"botnever-c\"]\nstartup_timeout = 1.0\nrestart = {{ policy = \"never\" }}\n",
            connector_table("botnever-c", "a.toml", "connect_grace = 2.0"),
        ),
    );
    let h = start_engine(&m).await;
    h.command("botnever-b", Command::Start).expect("start");
    let v = wait_phase(&h, "botnever-b", Phase::Failed, 20.0).await;
    assert!(v.detail.starts_with("not ready in 1.0 s"), "{}", v.detail);
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_connector_stops_its_bot_first() {
    let fx = Fixture::new("botstop");
    fx.sim_config("a.toml", "lines_per_sec = 0.0\nfeed_hz = 20.0");
    let m = fx.manifest(
        "",
        &format!(
            "{}\n{}",
            connector_table("botstop-c", "a.toml", BTC),
            bot_table("botstop-b", "botstop-c", "")
        ),
    );
    let h = start_engine(&m).await;
    h.command("botstop-b", Command::Start).expect("start");
    wait_phase(&h, "botstop-b", Phase::Ready, 15.0).await;
    h.command("botstop-c", Command::Stop)
        .expect("stop the connector");
    let c = wait_phase(&h, "botstop-c", Phase::Stopped, 15.0).await;
    let b = wait_phase(&h, "botstop-b", Phase::Stopped, 1.0).await;
    let (bot_stop, conn_stop) = (last_ts(&b, Phase::Stopping), last_ts(&c, Phase::Stopping));
    let bot_stopped = last_ts(&b, Phase::Stopped);
    assert!(
        bot_stop <= conn_stop && bot_stopped <= conn_stop,
        "the bot stopped ({bot_stop} .. {bot_stopped}) before the connector's SIGTERM ({conn_stop})"
    );
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_restart_or_crash_restarts_its_bot_after_it_is_ready() {
    let fx = Fixture::new("botre");
    let marker = fx.path().join("crashed");
    fx.sim_config(
        "a.toml",
        &format!(
            "lines_per_sec = 0.0\nfeed_hz = 50.0\ncrash_after_ms = 6000\nfaults_once = \"{}\"",
            marker.display()
        ),
    );
    let m = fx.manifest(
        "",
        &format!(
            "{}\n{}",
            connector_table(
                "botre-c",
                "a.toml",
                &format!("{BTC}\nrestart = {{ initial_backoff = 0.1 }}")
            ),
            bot_table("botre-b", "botre-c", "")
        ),
    );
    let h = start_engine(&m).await;
    h.command("botre-b", Command::Start).expect("start");
    let b1 = wait_phase(&h, "botre-b", Phase::Ready, 15.0).await;
    // The connector crashes once (6 s in) and is restarted by its policy: the bot follows.
    let c2 = wait_for(&h, "botre-c", Duration::from_secs(20), |v| {
        v.restarts == 1 && v.phase == Phase::Ready
    })
    .await;
    let b2 = wait_for(&h, "botre-b", Duration::from_secs(20), |v| {
        v.phase == Phase::Ready && v.pid.is_some() && v.pid != b1.pid
    })
    .await;
    let started = last_ts(&b2, Phase::Starting);
    let c_ready = last_ts(&c2, Phase::Ready);
    assert!(
        started > c_ready,
        "bot restarted {started} after its connector was ready {c_ready}"
    );
    // An operator restart of the connector: the bot is stopped first, started after.
    let before = wait_phase(&h, "botre-b", Phase::Ready, 1.0).await;
    h.command("botre-c", Command::Restart).expect("restart");
    let b3 = wait_for(&h, "botre-b", Duration::from_secs(20), |v| {
        v.phase == Phase::Ready && v.pid.is_some() && v.pid != before.pid
    })
    .await;
    let log = fx.log("botre-b");
    let seen = bot_feed(&log);
    assert!(
        eventually(10.0, || bot_feed(&log) > seen + 10),
        "the restarted bot receives Feed events again ({b3:?})"
    );
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_refused_for_a_vanished_config_stops_no_bot() {
    let fx = Fixture::new("botref");
    let config = fx.sim_config("a.toml", "lines_per_sec = 0.0\nfeed_hz = 20.0");
    let m = fx.manifest(
        "",
        &format!(
            "{}\n{}",
            connector_table("botref-c", "a.toml", BTC),
            bot_table("botref-b", "botref-c", "")
        ),
    );
    let h = start_engine(&m).await;
    h.command("botref-b", Command::Start).expect("start");
    let b1 = wait_phase(&h, "botref-b", Phase::Ready, 15.0).await;
    let c1 = wait_phase(&h, "botref-c", Phase::Ready, 1.0).await;
    // The config goes away after the console opened: the restart is refused before anything
    // of it is done, so the bot that trades through the connector is not stopped for it.
    std::fs::remove_file(&config).expect("rm the config");
    h.command("botref-c", Command::Restart).expect("restart");
    let c2 = wait_for(&h, "botref-c", Duration::from_secs(10), |v| {
        v.refused.is_some()
    })
    .await;
    let why = c2
        .refused
        .as_ref()
        .map(|r| r.why.clone())
        .unwrap_or_default();
    assert!(why.contains("a.toml"), "{why}");
    assert_eq!((c2.phase, c2.pid), (Phase::Ready, c1.pid), "{c2:?}");
    let b2 = wait_phase(&h, "botref-b", Phase::Ready, 1.0).await;
    assert_eq!(b2.pid, b1.pid, "{b2:?}");
    assert!(
        !b2.history.iter().any(|e| e.phase == Phase::Stopping),
        "the bot was never stopped: {:?}",
        b2.history
    );
    stop_engine(&h).await;
}

#[test]
fn a_killed_console_adopts_bots_and_connectors_and_starts_nothing_twice() {
    let fx = Fixture::new("botadopt");
    fx.sim_config("a.toml", "lines_per_sec = 0.0\nfeed_hz = 20.0");
    fx.manifest(
        "",
        &format!(
            "{}\n{}",
            connector_table("botadopt-c", "a.toml", BTC),
            bot_table("botadopt-b", "botadopt-c", "")
        ),
    );
    let mut first = fx.headless();
    let ready = |fx: &Fixture| {
        let s = fx.status();
        s.iter().all(|v| v.phase == Phase::Ready).then_some(s)
    };
    let mut before = None;
    assert!(
        eventually(20.0, || {
            before = ready(&fx);
            before.is_some()
        }),
        "both ready under the first console"
    );
    let before = before.expect("ready");
    let _ = first.kill();
    let _ = first.wait();
    // With no console, status reads state.json: the bot is listed too, as a bot.
    let without = fx.status();
    assert!(
        without
            .iter()
            .any(|v| v.name == "botadopt-b" && v.role == Role::Bot && v.pid == before[1].pid),
        "{without:?}"
    );
    let _second = HeadlessGuard(fx.headless());
    let mut after = None;
    assert!(
        eventually(20.0, || {
            after = ready(&fx).filter(|s| s.iter().all(|v| v.adopted));
            after.is_some()
        }),
        "both adopted by the second console: {:?}",
        fx.status()
    );
    let after = after.expect("adopted");
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a.pid, b.pid, "{} kept its process", a.name);
        assert_eq!(b.restarts, 0, "{} not started twice", b.name);
    }
    let bot = after.iter().find(|v| v.name == "botadopt-b").expect("bot");
    assert_eq!(bot.role, Role::Bot);
}

/// Kills a headless console on drop.
struct HeadlessGuard(std::process::Child);

impl Drop for HeadlessGuard {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_reconnect_heal_restarts_the_managed_bot_after_its_connector() {
    let fx = Fixture::new("botheal");
    let marker = fx.path().join("dropped");
    fx.sim_config(
        "a.toml",
        &format!(
            "lines_per_sec = 0.0\nfeed_hz = 50.0\nstream_drop_after = 6.0\nstream_drop_ms = 1000\nreconnect_max_ms = 1000\nfaults_once = \"{}\"",
            marker.display()
        ),
    );
    let m = fx.manifest(
        "",
        &format!(
            "{}\n{}",
            connector_table(
                "botheal-c",
                "a.toml",
                &format!("{BTC}\nfeed = {{ resume_grace = 1.0 }}")
            ),
            bot_table("botheal-b", "botheal-c", "")
        ),
    );
    let h = start_engine(&m).await;
    h.command("botheal-b", Command::Start).expect("start");
    let b1 = wait_phase(&h, "botheal-b", Phase::Ready, 15.0).await;
    // The stream reconnects silently, the connector is restarted (on_stale defaults to restart
    // with declared instruments), and the bot bound to the old process follows.
    wait_for(&h, "botheal-c", Duration::from_secs(30), |v| {
        v.restarts == 1 && v.phase == Phase::Ready
    })
    .await;
    let b2 = wait_for(&h, "botheal-b", Duration::from_secs(20), |v| {
        v.phase == Phase::Ready && v.pid.is_some() && v.pid != b1.pid
    })
    .await;
    assert_eq!(b2.restarts, 1, "{b2:?}");
    let log = fx.log("botheal-b");
    let seen = bot_feed(&log);
    assert!(
        eventually(10.0, || bot_feed(&log) > seen + 10),
        "the restarted bot gets data again"
    );
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_bots_start_after_the_cleanup_grace_and_a_cleanup_cancel_is_flagged() {
    let fx = Fixture::new("botclean");
    // API keys are set in the fixture's configs: the first registration of a symbol cancels its
    // open orders for a second, and an order sent meanwhile is reported Canceled (req New).
    fx.sim_config(
        "a.toml",
        "lines_per_sec = 0.0\nfeed_hz = 20.0\nregistration_cleanup_ms = 1000",
    );
    let m = fx.manifest(
        "",
        &format!(
            "{}\n[[bot]]\nname = \"botclean-b\"\ncommand = [\"{BOT}\", \"--once\", \"botclean-c\", \"BTCUSDT\"]\nconnectors = [\"botclean-c\"]\nenv = {{ SIM_BOT_ORDERS = \"2\" }}\n",
            connector_table("botclean-c", "a.toml", &format!("{BTC}\ncleanup_grace = 1.5")),
        ),
    );
    let h = start_engine(&m).await;
    h.command("botclean-b", Command::Start).expect("start");
    let b = wait_phase(&h, "botclean-b", Phase::Ready, 15.0).await;
    let c = wait_phase(&h, "botclean-c", Phase::Ready, 1.0).await;
    let registered: jiff::Timestamp = c
        .registration
        .as_ref()
        .and_then(|r| r.at.clone())
        .expect("registered")
        .parse()
        .expect("RFC 3339");
    let started: jiff::Timestamp = b
        .history
        .iter()
        .find(|e| e.phase == Phase::Starting)
        .map(|e| e.ts.clone())
        .expect("started")
        .parse()
        .expect("RFC 3339");
    let waited = started.duration_since(registered).as_secs_f64();
    assert!(
        waited >= 1.5,
        "the bot started {waited:.2} s after the console's registration (cleanup_grace 1.5 s)"
    );
    // Its orders went out after the cleanup: answered New, nothing flagged.
    let log = fx.log("botclean-b");
    assert!(
        eventually(5.0, || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("sim-bot: order 1000 on BTCUSDT req 1 status 1")),
        "the managed bot's order was answered New"
    );
    let c = wait_phase(&h, "botclean-c", Phase::Ready, 1.0).await;
    assert_eq!(c.order_warning, None);
    // An unmanaged bot registers a symbol new to the process and orders at once: its orders
    // are reported cancelled by that registration's cleanup, and the console says so.
    let out = fx.path().join("eth.out");
    let mut eth = fx
        .command(BOT)
        .env("SIM_BOT_ORDERS", "2")
        .args(["--once", "botclean-c", "ETHUSDT"])
        .stdout(std::fs::File::create(&out).expect("out"))
        .spawn()
        .expect("sim-bot");
    let flagged = wait_for(&h, "botclean-c", Duration::from_secs(10), |v| {
        v.order_warning.is_some()
    })
    .await;
    let _ = eth.kill();
    let _ = eth.wait();
    let w = flagged.order_warning.expect("flagged");
    assert!(
        w.starts_with("order 100")
            && w.contains(
                "on ETHUSDT was reported cancelled by the connector's registration cleanup"
            ),
        "{w}"
    );
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_bot_on_a_connector_whose_exchange_is_down_waits_and_never_crashes_it() {
    let fx = Fixture::new("botdown");
    fx.sim_config(
        "a.toml",
        "lines_per_sec = 0.0\nfeed_hz = 20.0\nexchange_down_ms = 6000\nreconnect_max_ms = 2000",
    );
    let m = fx.manifest(
        "",
        &format!(
            "{}\n{}",
            connector_table("botdown-c", "a.toml", BTC),
            bot_table("botdown-b", "botdown-c", "")
        ),
    );
    let h = start_engine(&m).await;
    h.command("botdown-b", Command::Start).expect("start");
    let c = wait_phase(&h, "botdown-c", Phase::Ready, 10.0).await;
    let waiting = wait_for(&h, "botdown-b", Duration::from_secs(5), |v| {
        v.detail.contains("botdown-c's exchange connection")
    })
    .await;
    assert!(waiting.pid.is_none(), "{waiting:?}");
    let b = wait_phase(&h, "botdown-b", Phase::Ready, 30.0).await;
    let c2 = wait_phase(&h, "botdown-c", Phase::Ready, 1.0).await;
    assert_eq!(c2.pid, c.pid, "the connector never crashed");
    assert_eq!(c2.restarts, 0);
    let log = fx.log("botdown-b");
    assert!(
        eventually(10.0, || bot_feed(&log) > 5),
        "the bot gets data once the exchange is up ({b:?})"
    );
    stop_engine(&h).await;
}
