//! The session around the connectors (DESIGN §13, issues #20 and #27), against real
//! sim-connectors, real sim-bots and real iceoryx2: the console registers declared instruments
//! itself once the exchange stream is up, so data flows before any bot and comes back to the bots
//! still attached after a restart; it never crashes a connector whose exchange is unreachable; a
//! crash a request caused is named.

mod common;

use std::time::{Duration, Instant};

use common::*;
use switchboard::machine::session::RegistrationState;
use switchboard::model::health::FeedHealth;
use switchboard::{Command, Phase};

/// Kills a helper process on drop, even when the test fails.
struct Bot(std::process::Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A sim-bot in `mode` (`--once`, `--malformed` or none) whose output goes to `out`.
fn bot(fx: &Fixture, mode: Option<&str>, name: &str, out: &std::path::Path) -> Bot {
    let mut c = fx.command(BOT);
    if let Some(m) = mode {
        c.arg(m);
    }
    Bot(c
        .arg(name)
        .stdout(std::fs::File::create(out).expect("bot out"))
        .spawn()
        .expect("sim-bot"))
}

/// The Feed events a sim-bot has reported so far (its last `sim-bot: feed N` line).
fn bot_feed(out: &std::path::Path) -> u64 {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("sim-bot: feed "))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .next_back()
        .unwrap_or(0)
}

const BTC: &str = "instruments = [{ symbol = \"BTCUSDT\", tick_size = 0.1, lot_size = 0.001 }]\nconnect_grace = 2.0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_instruments_flow_without_a_bot_and_come_back_to_bots_after_a_restart() {
    let fx = Fixture::new("sessreg");
    fx.sim_config("a.toml", "lines_per_sec = 0.0\nfeed_hz = 50.0");
    let m = fx.manifest("", &connector_table("sessreg-a", "a.toml", BTC));
    let h = start_engine(&m).await;
    h.command("sessreg-a", Command::Start).expect("start");
    wait_phase(&h, "sessreg-a", Phase::Ready, 10.0).await;
    // No bot: the console's own registration makes data flow.
    let sent = wait_for(&h, "sessreg-a", Duration::from_secs(10), |v| {
        v.registration
            .as_ref()
            .is_some_and(|r| r.state == RegistrationState::Sent)
            && v.feed.as_ref().is_some_and(|f| f.total > 0)
    })
    .await;
    assert_eq!(sent.bots, 0, "data flowed with no bot attached");
    let reg = sent.registration.expect("registration");
    assert_eq!(reg.symbols, vec!["BTCUSDT".to_string()]);
    assert!(reg.at.is_some());
    let log = std::fs::read_to_string(fx.log("sessreg-a")).expect("log");
    assert!(
        log.contains("registered BTCUSDT on sessreg-a/FromBot"),
        "the log says what the console sent: {log}"
    );
    // A bot that registers once (hftbacktest's LiveBot) gets data, then the connector restarts.
    let out = fx.path().join("bot.out");
    let _bot = bot(&fx, Some("--once"), "sessreg-a", &out);
    wait_for(&h, "sessreg-a", Duration::from_secs(10), |v| v.bots == 1).await;
    assert!(
        eventually(10.0, || bot_feed(&out) > 20),
        "the bot gets data before the restart"
    );
    let before = wait_phase(&h, "sessreg-a", Phase::Ready, 1.0).await;
    h.command("sessreg-a", Command::Restart).expect("restart");
    let after = wait_for(&h, "sessreg-a", Duration::from_secs(15), |v| {
        v.phase == Phase::Ready && v.pid.is_some() && v.pid != before.pid
    })
    .await;
    let ready_at = Instant::now();
    let mut restart_count = bot_feed(&out);
    assert!(after.bots >= 1, "the bot stayed attached: {after:?}");
    // The bot is not restarted and does not register again; the console's registration brings
    // its data back within connect_grace + 2 s of ready.
    assert!(
        eventually(6.0, || {
            let n = bot_feed(&out);
            if n > restart_count + 20 {
                return true;
            }
            restart_count = restart_count.max(n);
            false
        }),
        "the attached bot got no data after the restart ({} events so far)",
        bot_feed(&out)
    );
    eprintln!(
        "data back at the bot {:.1} s after ready",
        ready_at.elapsed().as_secs_f64()
    );
    let v = wait_for(&h, "sessreg-a", Duration::from_secs(5), |v| {
        v.registration
            .as_ref()
            .is_some_and(|r| r.state == RegistrationState::Sent)
    })
    .await;
    assert_eq!(v.restarts, 1);
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_false_sends_nothing_and_a_restart_under_bots_says_they_need_one() {
    let fx = Fixture::new("sessnoreg");
    fx.sim_config("a.toml", "lines_per_sec = 0.0\nfeed_hz = 50.0");
    let m = fx.manifest(
        "",
        &connector_table("sessnoreg-a", "a.toml", &format!("{BTC}\nregister = false")),
    );
    let h = start_engine(&m).await;
    h.command("sessnoreg-a", Command::Start).expect("start");
    wait_phase(&h, "sessnoreg-a", Phase::Ready, 10.0).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let v = wait_for(&h, "sessnoreg-a", Duration::from_secs(2), |v| {
        v.feed.is_some()
    })
    .await;
    assert_eq!(v.registration, None, "nothing registered: {v:?}");
    assert_eq!(v.feed.map(|f| f.total), Some(0), "no registration, no data");
    // With a bot attached, a restart leaves it blind, and the console says so.
    let out = fx.path().join("bot.out");
    let _bot = bot(&fx, Some("--once"), "sessnoreg-a", &out);
    wait_for(&h, "sessnoreg-a", Duration::from_secs(10), |v| v.bots == 1).await;
    h.command("sessnoreg-a", Command::Restart).expect("restart");
    let v = wait_for(&h, "sessnoreg-a", Duration::from_secs(15), |v| {
        v.restarts == 1 && v.phase == Phase::Ready && v.registration.is_some()
    })
    .await;
    let reg = v.registration.expect("said");
    assert_eq!(reg.state, RegistrationState::Unhealable);
    assert!(
        reg.detail.contains("hftbacktest bots register once"),
        "{}",
        reg.detail
    );
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_symbol_that_never_delivers_is_stale() {
    let fx = Fixture::new("sessnever");
    // XRPUSDT is registered but the exchange never sends it (stalled from the start).
    fx.sim_config(
        "a.toml",
        "lines_per_sec = 0.0\nfeed_hz = 50.0\nfeed_stall_after = 0.0\nfeed_stall_symbol = \"XRPUSDT\"",
    );
    let m = fx.manifest(
        "",
        &connector_table(
            "sessnever-a",
            "a.toml",
            "instruments = [{ symbol = \"BTCUSDT\", tick_size = 0.1, lot_size = 0.001 }, { symbol = \"XRPUSDT\", tick_size = 0.0001, lot_size = 0.1 }]\nconnect_grace = 2.0\nfeed = { stale_after = 2.0, on_stale = \"alert\" }",
        ),
    );
    let h = start_engine(&m).await;
    h.command("sessnever-a", Command::Start).expect("start");
    // BTCUSDT flows (once registered) while XRPUSDT never comes: stale, naming XRPUSDT.
    let v = wait_for(&h, "sessnever-a", Duration::from_secs(15), |v| {
        v.health == Some(FeedHealth::Stale)
            && v.feed.as_ref().is_some_and(|f| f.total > 0)
            && v.health_detail
                .as_deref()
                .is_some_and(|d| d.starts_with("XRPUSDT"))
    })
    .await;
    let why = v.health_detail.clone().unwrap_or_default();
    assert!(why.starts_with("XRPUSDT:"), "{why}");
    assert!(why.contains("never delivered"), "{why}");
    assert_eq!(v.bots, 0, "stale without any bot");
    let feed = v.feed.expect("feed");
    assert!(feed.symbols["BTCUSDT"].events_per_s > 0.0 || feed.total > 0);
    assert!(
        feed.symbols.contains_key("XRPUSDT"),
        "the silent symbol is listed: {:?}",
        feed.symbols
    );
    assert_eq!(v.restarts, 0, "on_stale = alert");
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchange_down_at_start_is_waited_for_not_crashed() {
    let fx = Fixture::new("sessdown");
    fx.sim_config(
        "a.toml",
        "lines_per_sec = 0.0\nfeed_hz = 50.0\nexchange_down_ms = 6000\nreconnect_max_ms = 2000",
    );
    let m = fx.manifest("", &connector_table("sessdown-a", "a.toml", BTC));
    let h = start_engine(&m).await;
    h.command("sessdown-a", Command::Start).expect("start");
    let ready = wait_phase(&h, "sessdown-a", Phase::Ready, 10.0).await;
    let held = wait_for(&h, "sessdown-a", Duration::from_secs(5), |v| {
        v.registration
            .as_ref()
            .is_some_and(|r| r.detail.contains("exchange unreachable"))
    })
    .await;
    assert_eq!(
        held.registration.map(|r| r.state),
        Some(RegistrationState::Held)
    );
    let flowing = wait_for(&h, "sessdown-a", Duration::from_secs(20), |v| {
        v.feed.as_ref().is_some_and(|f| f.total > 0)
    })
    .await;
    assert_eq!(flowing.pid, ready.pid, "the same process: it never crashed");
    assert_eq!(flowing.restarts, 0);
    let log = std::fs::read_to_string(fx.log("sessdown-a")).expect("log");
    assert!(!log.contains("SendError"), "{log}");
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_registering_during_an_outage_crashes_it_and_the_crash_is_named() {
    let fx = Fixture::new("sesscrash");
    fx.sim_config(
        "a.toml",
        "lines_per_sec = 0.0\nexchange_down_ms = 30000\nreconnect_max_ms = 1000",
    );
    let m = fx.manifest(
        "",
        &connector_table("sesscrash-a", "a.toml", "restart = { policy = \"never\" }"),
    );
    let h = start_engine(&m).await;
    h.command("sesscrash-a", Command::Start).expect("start");
    wait_phase(&h, "sesscrash-a", Phase::Ready, 10.0).await;
    let out = fx.path().join("bot.out");
    let _bot = bot(&fx, Some("--once"), "sesscrash-a", &out);
    let v = wait_phase(&h, "sesscrash-a", Phase::Exited, 10.0).await;
    assert!(
        v.detail
            .contains("crashed by a registration of BTCUSDT while its exchange was unreachable"),
        "{}",
        v.detail
    );
    assert!(
        v.detail.contains("may have sent it") || v.detail.contains("sent it"),
        "{}",
        v.detail
    );
    assert_eq!(
        v.last_exit_cause,
        Some(switchboard::model::view::ExitCause::RegistrationCrash)
    );
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_request_ends_it_and_the_detail_names_frombot() {
    let fx = Fixture::new("sessbad");
    fx.sim_config("a.toml", "lines_per_sec = 0.0");
    let m = fx.manifest(
        "",
        &connector_table("sessbad-a", "a.toml", "restart = { policy = \"never\" }"),
    );
    let h = start_engine(&m).await;
    h.command("sessbad-a", Command::Start).expect("start");
    wait_phase(&h, "sessbad-a", Phase::Ready, 10.0).await;
    let out = fx.path().join("bot.out");
    let _bot = bot(&fx, Some("--malformed"), "sessbad-a", &out);
    let v = wait_phase(&h, "sessbad-a", Phase::Exited, 10.0).await;
    assert!(
        v.detail.contains(
            "a request on sessbad-a/FromBot that it could not decode ended it (a malformed request from a bot or tool)"
        ),
        "{}",
        v.detail
    );
    assert_eq!(v.last_exit.map(|e| e.to_string()), Some("code 1".into()));
    assert_eq!(
        v.last_exit_cause,
        Some(switchboard::model::view::ExitCause::UndecodableRequest)
    );
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_stale_restart_heals_a_stalled_connector_once() {
    let fx = Fixture::new("sessheal");
    let marker = fx.path().join("faulted");
    fx.sim_config(
        "a.toml",
        &format!(
            "lines_per_sec = 0.0\nfeed_hz = 50.0\nfeed_stall_after = 1.0\nfaults_once = \"{}\"",
            marker.display()
        ),
    );
    // With declared instruments on_stale defaults to "restart".
    let m = fx.manifest(
        "",
        &connector_table(
            "sessheal-a",
            "a.toml",
            &format!("{BTC}\nfeed = {{ stale_after = 2.0 }}"),
        ),
    );
    let h = start_engine(&m).await;
    h.command("sessheal-a", Command::Start).expect("start");
    let first = wait_phase(&h, "sessheal-a", Phase::Ready, 10.0).await;
    let healed = wait_for(&h, "sessheal-a", Duration::from_secs(30), |v| {
        v.restarts == 1
            && v.phase == Phase::Ready
            && v.pid != first.pid
            && v.feed
                .as_ref()
                .is_some_and(|f| f.total > 0 && f.last_event_age_s.unwrap_or(9.0) < 1.0)
    })
    .await;
    assert!(
        healed.history.iter().any(|e| e.by.as_str() == "stale feed"),
        "the restart's cause is in the history: {:?}",
        healed.history
    );
    // It stays healed: no second restart.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let later = wait_phase(&h, "sessheal-a", Phase::Ready, 1.0).await;
    assert_eq!(later.restarts, 1, "{later:?}");
    assert_eq!(later.health, Some(FeedHealth::Ok), "{later:?}");
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_that_began_before_a_console_restart_keeps_its_age() {
    let fx = Fixture::new("sessage");
    fx.sim_config(
        "a.toml",
        "lines_per_sec = 0.0\nfeed_hz = 100.0\nfeed_symbols = [\"BTCUSDT\", \"ETHUSDT\"]\nfeed_stall_after = 1.0\nfeed_stall_symbol = \"ETHUSDT\"",
    );
    let m = fx.manifest(
        "",
        &connector_table(
            "sessage-a",
            "a.toml",
            "feed = { stale_after = 2.0, on_stale = \"alert\" }",
        ),
    );
    let h = start_engine(&m).await;
    h.command("sessage-a", Command::Start).expect("start");
    wait_phase(&h, "sessage-a", Phase::Ready, 10.0).await;
    let out = fx.path().join("bot.out");
    let _bot = bot(&fx, None, "sessage-a", &out);
    let stale = wait_for(&h, "sessage-a", Duration::from_secs(15), |v| {
        v.health == Some(FeedHealth::Stale)
    })
    .await;
    assert_eq!(
        stale
            .health_detail
            .as_deref()
            .map(|d| d.starts_with("ETHUSDT")),
        Some(true),
        "{stale:?}"
    );
    // Let state.json catch the symbols' times, then leave the connector running.
    tokio::time::sleep(Duration::from_secs(6)).await;
    h.detach();
    tokio::time::timeout(Duration::from_secs(10), h.await_shutdown())
        .await
        .expect("detached");
    let gone_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // A new console adopts it: ETHUSDT is still stale, with an age that did not start over.
    let h2 = start_engine(&m).await;
    let v = wait_for(&h2, "sessage-a", Duration::from_secs(15), |v| {
        v.health == Some(FeedHealth::Stale)
    })
    .await;
    let why = v.health_detail.clone().unwrap_or_default();
    assert!(why.starts_with("ETHUSDT"), "{why}");
    let age = v
        .feed
        .as_ref()
        .and_then(|f| f.symbols.get("ETHUSDT"))
        .map(|s| s.last_event_age_s)
        .expect("ETHUSDT listed after the console restart");
    let since_restart = gone_at.elapsed().as_secs_f64();
    assert!(
        age > since_restart + 4.0,
        "ETHUSDT's age {age:.1} s started over (the new console began {since_restart:.1} s ago)"
    );
    stop_engine(&h2).await;
}

/// A sim whose exchange stream drops 5 s after it connected and reconnects 1 s later without
/// resubscribing (DESIGN §1); `extra` adds `[sim]` lines.
fn dropping_sim(fx: &Fixture, extra: &str) {
    fx.sim_config(
        "a.toml",
        &format!(
            "lines_per_sec = 0.0\nfeed_hz = 50.0\nstream_drop_after = 5.0\nstream_drop_ms = 1000\nreconnect_max_ms = 1000\n{extra}"
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_reconnect_is_named_and_healed_by_one_restart() {
    let fx = Fixture::new("sessrecon");
    let marker = fx.path().join("faulted");
    dropping_sim(&fx, &format!("faults_once = \"{}\"", marker.display()));
    let m = fx.manifest(
        "",
        &connector_table(
            "sessrecon-a",
            "a.toml",
            &format!("{BTC}\nfeed = {{ resume_grace = 1.0 }}"),
        ),
    );
    let h = start_engine(&m).await;
    h.command("sessrecon-a", Command::Start).expect("start");
    let first = wait_phase(&h, "sessrecon-a", Phase::Ready, 10.0).await;
    let healed = wait_for(&h, "sessrecon-a", Duration::from_secs(30), |v| {
        v.restarts == 1
            && v.phase == Phase::Ready
            && v.pid != first.pid
            && v.feed
                .as_ref()
                .is_some_and(|f| f.total > 0 && f.last_event_age_s.unwrap_or(9.0) < 1.0)
    })
    .await;
    assert!(
        healed.history.iter().any(|e| e.by.as_str() == "stale feed"
            && e.detail.contains("no data since the stream reconnected at")),
        "the history names the reconnect: {:?}",
        healed.history
    );
    let log_has = |needle: &str| {
        std::fs::read_to_string(fx.log("sessrecon-a"))
            .unwrap_or_default()
            .contains(needle)
    };
    assert!(
        eventually(5.0, || log_has(
            "feed recovered: restarted after the stream's reconnect at"
        )),
        "the heal is told with how long the data took to come back"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = wait_phase(&h, "sessrecon-a", Phase::Ready, 1.0).await;
    assert_eq!(later.restarts, 1, "healed once: {later:?}");
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_on_stale_alert_a_silent_reconnect_is_named_and_left_running() {
    let fx = Fixture::new("sessrecal");
    dropping_sim(&fx, "");
    let m = fx.manifest(
        "",
        &connector_table(
            "sessrecal-a",
            "a.toml",
            &format!("{BTC}\nfeed = {{ resume_grace = 1.0, on_stale = \"alert\" }}"),
        ),
    );
    let h = start_engine(&m).await;
    h.command("sessrecal-a", Command::Start).expect("start");
    let v = wait_for(&h, "sessrecal-a", Duration::from_secs(20), |v| {
        v.health == Some(FeedHealth::Stale)
    })
    .await;
    assert_eq!(
        v.stale_cause,
        Some(switchboard::machine::health::StaleCause::SilentReconnect),
        "{v:?}"
    );
    let why = v.health_detail.unwrap_or_default();
    assert!(
        why.starts_with("BTCUSDT: no data since the stream reconnected at ")
            && why.ends_with("a restart brings it back"),
        "{why}"
    );
    assert_eq!(v.restarts, 0);
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_that_keeps_dropping_ends_failed_by_the_budget() {
    let fx = Fixture::new("sessloop");
    dropping_sim(&fx, "");
    let m = fx.manifest(
        "",
        &connector_table(
            "sessloop-a",
            "a.toml",
            &format!(
                "{BTC}\nfeed = {{ resume_grace = 1.0 }}\nrestart = {{ max_attempts = 2, initial_backoff = 0.1 }}"
            ),
        ),
    );
    let h = start_engine(&m).await;
    h.command("sessloop-a", Command::Start).expect("start");
    let v = wait_phase(&h, "sessloop-a", Phase::Failed, 45.0).await;
    assert!(
        v.detail.starts_with("gave up after 2 restart attempts"),
        "{}",
        v.detail
    );
    assert!(v.detail.contains("stale feed"), "{}", v.detail);
    assert_eq!(v.restarts, 2, "{v:?}");
    stop_engine(&h).await;
}
