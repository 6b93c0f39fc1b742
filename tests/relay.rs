//! A connector's log relay is supervised: one that dies or stops reading is replaced while the
//! connector runs on (issue #22 items 2 and 12), and it is not called `switchboard`, so that a
//! broad kill of the console's name spares it. Real sim-connectors, real relays, real signals.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use switchboard::{Command, Phase};

/// Live `log-relay` processes writing `log` (found by their command line).
fn relays_of(log: &Path) -> Vec<i32> {
    let needle = log.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let argv: Vec<String> = argv
                .split(|b| *b == 0)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            argv.iter().any(|a| a == "log-relay") && argv.iter().any(|a| a == &needle)
        })
        .filter(|&pid| alive(pid))
        .collect()
}

/// The one relay of `log` (waits up to 5 s for it).
fn relay_of(log: &Path) -> i32 {
    let mut found = Vec::new();
    assert!(
        eventually(5.0, || {
            found = relays_of(log);
            found.len() == 1
        }),
        "one relay for {}: {found:?}",
        log.display()
    );
    found[0]
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn log_text(fx: &Fixture, name: &str) -> String {
    String::from_utf8_lossy(&std::fs::read(fx.log(name)).unwrap_or_default()).into_owned()
}

/// Connector lines (`seq=N`) in the log after the first line containing `after`.
fn seqs_after(text: &str, after: &str) -> usize {
    let Some(at) = text.find(after) else { return 0 };
    text[at..]
        .lines()
        .filter(|l| l.contains("depth update"))
        .count()
}

async fn engine_with_relay(manifest: &Path) -> switchboard::EngineHandle {
    let m = switchboard::Manifest::load(manifest).expect("valid manifest");
    switchboard::Engine::start(
        m,
        switchboard::EngineOptions {
            autostart: false,
            start_all: false,
            log_relay: Some(SWITCHBOARD.into()),
        },
    )
    .await
    .expect("engine starts")
}

const BIG_LOGS: &str = "[console]\nlog_max_bytes = 100000000\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_log_relay_is_replaced_and_the_gap_is_marked() {
    let fx = Fixture::new("relaykill");
    fx.sim_config("a.toml", "lines_per_sec = 200.0");
    let m = fx.manifest(BIG_LOGS, &connector_table("rk-a", "a.toml", ""));
    let h = engine_with_relay(&m).await;
    h.command("rk-a", Command::Start).expect("start");
    let pid = wait_phase(&h, "rk-a", Phase::Ready, 10.0)
        .await
        .pid
        .expect("pid");
    let relay = relay_of(&fx.log("rk-a"));
    kill(Pid::from_raw(relay), Signal::SIGKILL).expect("kill the relay");
    // A new relay takes over, says so in the log, and the connector's lines flow again.
    assert!(
        eventually(10.0, || seqs_after(&log_text(&fx, "rk-a"), "log relay")
            >= 50),
        "the log grows again after a gap marker:\n{}",
        log_text(&fx, "rk-a")
    );
    let text = log_text(&fx, "rk-a");
    let marker = text
        .lines()
        .find(|l| l.contains("log relay") && l.contains(&format!("PID {relay}")))
        .unwrap_or_else(|| panic!("no marker naming relay {relay}:\n{text}"));
    assert!(marker.contains("gap of"), "{marker}");
    let now = relays_of(&fx.log("rk-a"));
    assert!(
        now.len() == 1 && now[0] != relay,
        "one new relay, not {relay}: {now:?}"
    );
    let view = wait_phase(&h, "rk-a", Phase::Ready, 1.0).await;
    assert_eq!(view.pid, Some(pid), "the connector was never touched");
    stop_engine(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_log_relay_is_replaced_and_the_detail_says_why() {
    let fx = Fixture::new("relaystop");
    fx.sim_config("a.toml", "lines_per_sec = 5000.0");
    let m = fx.manifest(BIG_LOGS, &connector_table("rs-a", "a.toml", ""));
    let h = engine_with_relay(&m).await;
    h.command("rs-a", Command::Start).expect("start");
    let pid = wait_phase(&h, "rs-a", Phase::Ready, 10.0)
        .await
        .pid
        .expect("pid");
    let relay = relay_of(&fx.log("rs-a"));
    kill(Pid::from_raw(relay), Signal::SIGSTOP).expect("stop the relay");
    let said = wait_for(&h, "rs-a", Duration::from_secs(10), |c| {
        c.detail.contains(&format!("log relay (PID {relay})")) && c.detail.contains("stopped")
    })
    .await;
    assert_eq!(said.pid, Some(pid));
    // Lines written after the replacement reach the file: the connector is not blocked.
    let size_then = std::fs::metadata(fx.log("rs-a")).expect("log").len();
    assert!(
        eventually(10.0, || std::fs::metadata(fx.log("rs-a"))
            .map(|m| m.len() > size_then + 100_000)
            .unwrap_or(false)),
        "the log grows again"
    );
    // Once replaced, the detail still says why (the relay's end, which the supervisor caused
    // itself, is not news that overwrites it).
    let after = wait_for(&h, "rs-a", Duration::from_secs(10), |c| {
        c.detail.contains("replaced by PID")
    })
    .await;
    assert!(
        after
            .detail
            .contains(&format!("log relay (PID {relay}) was stopped")),
        "{}",
        after.detail
    );
    assert!(!alive(relay), "the stuck relay was ended");
    assert_eq!(
        wait_phase(&h, "rs-a", Phase::Ready, 1.0).await.pid,
        Some(pid),
        "the connector was never touched"
    );
    stop_engine(&h).await;
}

#[test]
fn a_broad_kill_of_the_consoles_name_spares_the_relays() {
    let fx = Fixture::new("relayname");
    fx.sim_config("a.toml", "lines_per_sec = 200.0");
    fx.manifest(BIG_LOGS, &connector_table("rn-a", "a.toml", ""));
    let mut console = fx.headless();
    assert!(
        eventually(15.0, || fx
            .status()
            .iter()
            .any(|c| c.name == "rn-a" && c.phase == Phase::Ready)),
        "ready"
    );
    let pid = fx.pid_of("rn-a").expect("pid");
    let relay = relay_of(&fx.log("rn-a"));
    assert_ne!(comm(relay), "switchboard", "the relay has its own name");
    assert_eq!(comm(console.id() as i32), "switchboard");
    // `pkill -x switchboard`, limited to this fixture's processes.
    for p in std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
    {
        let cwd = std::fs::read_link(format!("/proc/{p}/cwd")).unwrap_or_default();
        let argv = String::from_utf8_lossy(
            &std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default(),
        )
        .into_owned();
        let ours = cwd.starts_with(fx.path()) || argv.contains(&fx.path().display().to_string());
        if ours && comm(p) == "switchboard" {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
    }
    let _ = console.wait();
    assert!(alive(relay) && alive(pid), "relay and connector live on");
    let size = std::fs::metadata(fx.log("rn-a")).expect("log").len();
    assert!(
        eventually(5.0, || std::fs::metadata(fx.log("rn-a"))
            .map(|m| m.len() > size + 1000)
            .unwrap_or(false)),
        "the connector's lines still reach its log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopting_a_connector_whose_relay_is_gone_attaches_a_new_one() {
    let fx = Fixture::new("relayadopt");
    // Quiet while no console runs: with neither console nor relay its pipe has no reader, and
    // a write would fail (EPIPE).
    fx.sim_config("a.toml", "lines_per_sec = 0.0");
    let m = fx.manifest(BIG_LOGS, &connector_table("ra-a", "a.toml", ""));
    let mut console = fx.headless();
    assert!(
        eventually(15.0, || fx
            .status()
            .iter()
            .any(|c| c.name == "ra-a" && c.phase == Phase::Ready)),
        "ready"
    );
    let pid = fx.pid_of("ra-a").expect("pid");
    let relay = relay_of(&fx.log("ra-a"));
    let _ = console.kill();
    let _ = console.wait();
    kill(Pid::from_raw(relay), Signal::SIGKILL).expect("kill the relay");
    assert!(eventually(5.0, || !alive(relay)));
    let h = engine_with_relay(&m).await;
    let view = wait_for(&h, "ra-a", Duration::from_secs(10), |c| c.adopted).await;
    assert_eq!(view.pid, Some(pid));
    assert!(
        eventually(10.0, || relays_of(&fx.log("ra-a")).len() == 1),
        "a new relay reads its pipe"
    );
    // Its last words on SIGTERM reach the log through the new relay.
    h.command("ra-a", Command::Stop).expect("stop");
    wait_phase(&h, "ra-a", Phase::Stopped, 10.0).await;
    let text = log_text(&fx, "ra-a");
    let gap = text
        .find(&format!("log relay (PID {relay}) was gone"))
        .unwrap_or_else(|| panic!("the gap is marked:\n{text}"));
    assert!(
        text[gap..].contains("SIGTERM received"),
        "the connector's output after the gap is logged:\n{text}"
    );
    stop_engine(&h).await;
}
