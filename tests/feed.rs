//! Feed health (DESIGN §10) against real sim-connectors publishing real iceoryx2 samples, real
//! sim-bots registering and receiving them, and the console's passive meter in between.

mod common;

use std::time::{Duration, Instant};

use common::*;
use switchboard::model::health::FeedHealth;
use switchboard::model::view::{EventKind, HealthChange};
use switchboard::{Command, Phase};

/// Kills a helper process on drop, even when the test fails.
struct Bot(std::process::Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meter_is_accurate_and_the_console_is_no_bot() {
    let fx = Fixture::new("feedrate");
    fx.sim_config(
        "a.toml",
        "lines_per_sec = 0.0\nfeed_hz = 1000.0\nfeed_symbols = [\"BTCUSDT\", \"ETHUSDT\"]\nfeed_bytes = 100",
    );
    let m = fx.manifest("", &connector_table("feedrate-a", "a.toml", ""));
    let h = start_engine(&m).await;
    h.command("feedrate-a", Command::Start).expect("start");
    wait_phase(&h, "feedrate-a", Phase::Ready, 10.0).await;
    // Metered, no bot: the console's own subscriber is not a bot, and nothing flows.
    let quiet = wait_for(&h, "feedrate-a", Duration::from_secs(5), |v| {
        v.feed.is_some() && v.health == Some(FeedHealth::Quiet)
    })
    .await;
    assert_eq!(quiet.bots, 0, "the meter is never counted as a bot");
    assert_eq!(
        quiet.feed.as_ref().map(|f| f.total),
        Some(0),
        "no bot, no data"
    );
    let _bot = Bot(fx.bot("feedrate-a"));
    wait_for(&h, "feedrate-a", Duration::from_secs(10), |v| v.bots == 1).await;
    // Three full seconds of data, then read the rate.
    let flowing = wait_for(&h, "feedrate-a", Duration::from_secs(15), |v| {
        v.feed
            .as_ref()
            .is_some_and(|f| f.history.iter().filter(|n| **n > 0).count() >= 3)
    })
    .await;
    let feed = flowing.feed.expect("feed");
    assert_eq!(flowing.health, Some(FeedHealth::Ok));
    let rate = feed.events_per_s;
    assert!(
        (850.0..=1150.0).contains(&rate),
        "1000 events/s published, meter says {rate} (history {:?})",
        feed.history
    );
    assert!(
        (85_000.0..=115_000.0).contains(&feed.bytes_per_s),
        "{}",
        feed.bytes_per_s
    );
    for sym in ["BTCUSDT", "ETHUSDT"] {
        let s = &feed.symbols[sym];
        assert!(
            (400.0..=600.0).contains(&s.events_per_s),
            "{sym}: {}",
            s.events_per_s
        );
        assert!(s.last_event_age_s < 1.0, "{sym}: {}", s.last_event_age_s);
    }
    assert!(!feed.lower_bound);
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_gets_every_sample_while_metered() {
    let fx = Fixture::new("feedall");
    fx.sim_config(
        "a.toml",
        "lines_per_sec = 0.0\nfeed_hz = 2000.0\nfeed_stall_after = 2.0",
    );
    let report = fx.path().join("report.jsonl");
    let m = fx.manifest(
        "",
        &connector_table(
            "feedall-a",
            "a.toml",
            &format!("env = {{ SIM_REPORT = \"{}\" }}", report.display()),
        ),
    );
    let h = start_engine(&m).await;
    h.command("feedall-a", Command::Start).expect("start");
    wait_phase(&h, "feedall-a", Phase::Ready, 10.0).await;
    wait_for(&h, "feedall-a", Duration::from_secs(5), |v| {
        v.feed.is_some()
    })
    .await;
    let out = fx.path().join("bot.out");
    let bot = fx
        .command(BOT)
        .arg("feedall-a")
        .stdout(std::fs::File::create(&out).expect("bot out"))
        .spawn()
        .expect("sim-bot");
    let bot_pid = bot.id() as i32;
    let mut bot = Bot(bot);
    // The feed runs 2 s after the bot registers, then stalls (the connector stays up).
    let metered = wait_for(&h, "feedall-a", Duration::from_secs(15), |v| {
        v.feed
            .as_ref()
            .is_some_and(|f| f.total > 0 && f.last_event_age_s.unwrap_or(0.0) > 1.0)
    })
    .await;
    // The bot leaves cleanly (SIGTERM) and prints what it got; the connector says what it sent.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(bot_pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("term bot");
    let _ = bot.0.wait();
    h.command("feedall-a", Command::Stop).expect("stop");
    wait_phase(&h, "feedall-a", Phase::Stopped, 10.0).await;
    let reported = std::fs::read_to_string(&report).expect("report");
    let sent: u64 = reported
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "feed")
        .and_then(|v| v["sent"].as_u64())
        .expect("the connector reports what it sent");
    let said = std::fs::read_to_string(&out).expect("bot output");
    let last = said.lines().last().unwrap_or_default().to_string();
    assert!(sent > 2000, "sent {sent}");
    assert!(
        last.starts_with(&format!("sim-bot: feed {sent} ")),
        "the bot got every one of {sent} samples: {last}"
    );
    assert_eq!(
        metered.feed.map(|f| f.total),
        Some(sent),
        "the meter counted every sample too"
    );
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_feed_is_stale_in_time_even_with_error_samples() {
    let fx = Fixture::new("feedstall");
    // Errors every 0.5 s (log line and Error sample) keep coming after the feed stalls.
    fx.sim_config(
        "a.toml",
        "lines_per_sec = 0.0\nfeed_hz = 200.0\nfeed_stall_after = 2.0\nerror_every = 0.5",
    );
    let m = fx.manifest(
        "",
        &connector_table(
            "feedstall-a",
            "a.toml",
            "feed = { stale_after = 1.5, error_threshold = 1000 }",
        ),
    );
    let h = start_engine(&m).await;
    let mut events = h.subscribe();
    h.command("feedstall-a", Command::Start).expect("start");
    wait_phase(&h, "feedstall-a", Phase::Ready, 10.0).await;
    let _bot = Bot(fx.bot("feedstall-a"));
    wait_for(&h, "feedstall-a", Duration::from_secs(10), |v| {
        v.feed.as_ref().is_some_and(|f| f.total > 0)
    })
    .await;
    let stale = wait_for(&h, "feedstall-a", Duration::from_secs(15), |v| {
        v.health == Some(FeedHealth::Stale)
    })
    .await;
    let feed = stale.feed.clone().expect("feed");
    let age = feed.last_event_age_s.expect("had data");
    assert!(
        (1.5..=2.5).contains(&age),
        "stale within stale_after + 1 s of the last Feed event: {age}"
    );
    assert!(feed.errors_1m > 0, "Error samples are counted: {feed:?}");
    assert!(
        stale
            .health_detail
            .as_deref()
            .unwrap_or("")
            .contains("no market data"),
        "{:?}",
        stale.health_detail
    );
    // Error samples keep arriving but are never data: still stale, total frozen.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = h
        .views()
        .borrow()
        .iter()
        .find(|v| v.name == "feedstall-a")
        .cloned()
        .expect("view");
    assert_eq!(later.health, Some(FeedHealth::Stale));
    let later_feed = later.feed.expect("feed");
    assert_eq!(
        later_feed.total, feed.total,
        "Error samples never count as data"
    );
    assert!(later_feed.errors_1m > feed.errors_1m, "{later_feed:?}");
    // The stream told it, once.
    let mut told = 0;
    while let Some(ev) = events.try_recv() {
        if let EventKind::Health { change, .. } = &ev.kind {
            assert_eq!(*change, HealthChange::Stale);
            told += 1;
        }
    }
    assert_eq!(told, 1, "one stale event");
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stalled_symbol_among_live_ones_is_stale_and_named() {
    let fx = Fixture::new("feedsym");
    fx.sim_config(
        "a.toml",
        "lines_per_sec = 0.0\nfeed_hz = 300.0\nfeed_symbols = [\"BTCUSDT\", \"ETHUSDT\", \"SOLUSDT\"]\nfeed_stall_after = 2.0\nfeed_stall_symbol = \"ETHUSDT\"",
    );
    let m = fx.manifest(
        "",
        &connector_table("feedsym-a", "a.toml", "feed = { stale_after = 1.5 }"),
    );
    let h = start_engine(&m).await;
    h.command("feedsym-a", Command::Start).expect("start");
    wait_phase(&h, "feedsym-a", Phase::Ready, 10.0).await;
    let _bot = Bot(fx.bot("feedsym-a"));
    let stale = wait_for(&h, "feedsym-a", Duration::from_secs(15), |v| {
        v.health == Some(FeedHealth::Stale)
    })
    .await;
    let detail = stale.health_detail.clone().unwrap_or_default();
    assert!(
        detail.contains("ETHUSDT"),
        "names the stalled symbol: {detail}"
    );
    let feed = stale.feed.expect("feed");
    assert!(feed.events_per_s > 0.0, "the others still flow: {feed:?}");
    assert!(feed.symbols["BTCUSDT"].last_event_age_s < 1.0);
    assert!(feed.symbols["ETHUSDT"].last_event_age_s >= 1.5);
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_stale_restart_restarts_through_the_budget() {
    let fx = Fixture::new("feedrst");
    fx.sim_config(
        "a.toml",
        "lines_per_sec = 0.0\nfeed_hz = 100.0\nfeed_stall_after = 1.0\npanic_after_sigterm_ms = 50",
    );
    let m = fx.manifest(
        "shutdown_timeout = 2.0",
        &connector_table(
            "feedrst-a",
            "a.toml",
            "feed = { stale_after = 1.0, on_stale = \"restart\" }\nrestart = { initial_backoff = 0.2, max_attempts = 5 }",
        ),
    );
    let h = start_engine(&m).await;
    h.command("feedrst-a", Command::Start).expect("start");
    let first = wait_phase(&h, "feedrst-a", Phase::Ready, 10.0).await;
    let _bot = Bot(fx.bot("feedrst-a"));
    let backoff = wait_phase(&h, "feedrst-a", Phase::Backoff, 20.0).await;
    assert!(backoff.detail.contains("stale feed"), "{}", backoff.detail);
    assert_eq!(backoff.attempt, 1, "counted against the budget");
    let again = wait_for(&h, "feedrst-a", Duration::from_secs(10), |v| {
        v.phase == Phase::Ready && v.pid != first.pid
    })
    .await;
    assert_eq!(again.restarts, 1);
    assert!(!alive(first.pid.expect("pid")), "the stale process is gone");
    let log = std::fs::read_to_string(fx.log("feedrst-a")).expect("log");
    assert!(log.contains("feed stale:"), "the log says why");
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erroring_from_log_lines_with_and_without_colours_and_from_error_samples() {
    let fx = Fixture::new("feederr");
    fx.sim_config("e.toml", "lines_per_sec = 0.0\nerror_every = 0.1");
    let body = [
        connector_table("feederr-plain", "e.toml", ""),
        // ANSI colours (NO_COLOR empty counts as unset).
        connector_table("feederr-ansi", "e.toml", "env = { NO_COLOR = \"\" }"),
        // No log at all: only the Error samples can tell.
        connector_table("feederr-samples", "e.toml", "env = { RUST_LOG = \"off\" }"),
    ]
    .concat();
    let m = fx.manifest("feed = { error_threshold = 5 }", &body);
    let h = start_engine(&m).await;
    for name in ["feederr-plain", "feederr-ansi", "feederr-samples"] {
        h.command(name, Command::Start).expect("start");
    }
    for name in ["feederr-plain", "feederr-ansi", "feederr-samples"] {
        let v = wait_for(&h, name, Duration::from_secs(15), |v| {
            v.health == Some(FeedHealth::Erroring)
        })
        .await;
        match name {
            "feederr-samples" => {
                assert_eq!(v.errors_1m, 0, "no log lines");
                assert!(v.feed.as_ref().is_some_and(|f| f.errors_1m >= 5), "{v:?}");
            }
            _ => {
                assert!(v.errors_1m >= 5, "{name}: {v:?}");
                let last = v.last_error.as_ref().expect("last error");
                assert!(
                    last.line
                        .contains("An error occurred in the market data stream connection")
                        && !last.line.contains('\u{1b}'),
                    "{name}: {last:?}"
                );
            }
        }
    }
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_meter_lets_go_before_the_stop_signal() {
    // A stop that takes its time (SIGTERM ignored for a while) must not find the console still
    // subscribed: the ToBot service then has the connector's node only.
    let fx = Fixture::new("feedclose");
    fx.sim_config("a.toml", "lines_per_sec = 0.0\nignore_sigterm = true");
    let m = fx.manifest(
        "shutdown_timeout = 3.0",
        &connector_table("feedclose-a", "a.toml", ""),
    );
    let h = start_engine(&m).await;
    h.command("feedclose-a", Command::Start).expect("start");
    let ready = wait_phase(&h, "feedclose-a", Phase::Ready, 10.0).await;
    wait_for(&h, "feedclose-a", Duration::from_secs(5), |v| {
        v.feed.is_some()
    })
    .await;
    let config = switchboard::engine::io::ipc::config_for(fx.path()).expect("config");
    let me = std::process::id() as i32;
    let on_to_bot = || switchboard::engine::io::ipc::alive_pids_on(&config, "feedclose-a/ToBot");
    assert!(on_to_bot().contains(&me), "metered while ready");
    let t0 = Instant::now();
    h.command("feedclose-a", Command::Stop).expect("stop");
    wait_phase(&h, "feedclose-a", Phase::Stopping, 5.0).await;
    assert!(
        eventually(1.0, || !on_to_bot().contains(&me)),
        "the meter closed at the stop"
    );
    assert!(
        alive(ready.pid.expect("pid")),
        "still stopping (SIGTERM ignored)"
    );
    assert!(t0.elapsed() < Duration::from_secs(3));
    wait_phase(&h, "feedclose-a", Phase::Stopped, 10.0).await;
    stop_engine(&h).await;
}

/// `feed = { meter = false }`: the console holds no subscriber on the connector's ToBot, so it
/// has no feed figures (and no feed health beyond the log's errors) while a bot gets its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_with_the_meter_off_is_not_metered() {
    let fx = Fixture::new("nometer");
    fx.sim_config("a.toml", "lines_per_sec = 0.0\nfeed_hz = 200.0");
    let m = fx.manifest(
        "",
        &connector_table("nometer-a", "a.toml", "feed = { meter = false }"),
    );
    let h = start_engine(&m).await;
    h.command("nometer-a", Command::Start).expect("start");
    wait_phase(&h, "nometer-a", Phase::Ready, 10.0).await;
    let mut bot = Bot(fx
        .command(env!("CARGO_BIN_EXE_sim-bot"))
        .arg("nometer-a")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sim-bot"));
    let with_bot = wait_for(&h, "nometer-a", Duration::from_secs(10), |v| v.bots == 1).await;
    // The bot receives data (its per-second line), and the console saw none of it.
    let out = bot.0.stdout.take().expect("stdout");
    let fed = tokio::task::spawn_blocking(move || {
        std::io::BufRead::lines(std::io::BufReader::new(out))
            .map_while(Result::ok)
            .any(|l| l.starts_with("sim-bot: feed ") && !l.starts_with("sim-bot: feed 0 "))
    });
    assert!(
        tokio::time::timeout(Duration::from_secs(15), fed)
            .await
            .is_ok_and(|r| r.unwrap_or(false)),
        "the bot is fed"
    );
    let now = h
        .views()
        .borrow()
        .iter()
        .find(|v| v.name == "nometer-a")
        .cloned()
        .expect("view");
    assert!(
        with_bot.feed.is_none() && now.feed.is_none(),
        "no meter, no feed figures: {:?}",
        now.feed
    );
    stop_engine(&h).await;
}
