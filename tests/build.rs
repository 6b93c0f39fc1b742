//! Building with real cargo on a tiny workspace shaped like hftbacktest's.

mod common;

use std::time::Duration;

use common::*;
use switchboard::{Command, Engine, EngineOptions, Manifest, Phase};

fn workspace(fx: &Fixture, main_rs: &str) {
    let root = fx.path();
    std::fs::create_dir_all(root.join("connector/src")).expect("mkdir");
    std::fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"connector\"]\nresolver = \"2\"\n",
    )
    .expect("w");
    std::fs::write(
        root.join("connector/Cargo.toml"),
        "[package]\nname = \"connector\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[features]\ndefault = [\"binancefutures\"]\nbinancefutures = []\n",
    )
    .expect("w");
    std::fs::write(root.join("connector/src/main.rs"), main_rs).expect("w");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_build_shows_the_cargo_error_and_a_fixed_one_produces_the_binary() {
    let fx = Fixture::new("build");
    workspace(&fx, "fn main() { let x: u32 = nope; }\n");
    fx.sim_config("a.toml", "");
    // No `binary` key: the connector is <root>/target/release/connector, found by walking up
    // from the manifest to the workspace.
    let manifest = fx.path().join("switchboard.toml");
    std::fs::write(
        &manifest,
        "[defaults]\nfeatures = [\"binancefutures\"]\n\n[[connector]]\nname = \"build-a\"\ntype = \"binancefutures\"\nconfig = \"a.toml\"\n\n[[connector]]\nname = \"build-b\"\ntype = \"binancefutures\"\nconfig = \"a.toml\"\n",
    )
    .expect("w");
    let m = Manifest::load(&manifest).expect("manifest");
    assert_eq!(m.connectors[0].project_root, fx.path());
    let h = Engine::start(
        m,
        EngineOptions {
            autostart: false,
            start_all: false,
            ..EngineOptions::default()
        },
    )
    .await
    .expect("engine");
    // Both need the same binary: one shared build.
    h.command("build-a", Command::Start).expect("start");
    h.command("build-b", Command::Start).expect("start");
    wait_phase(&h, "build-a", Phase::Building, 5.0).await;
    let a = wait_phase(&h, "build-a", Phase::Failed, 120.0).await;
    let b = wait_phase(&h, "build-b", Phase::Failed, 120.0).await;
    assert!(a.detail.contains("error[E0425]"), "{}", a.detail);
    assert_eq!(
        a.detail.replace("build-a", "X"),
        b.detail.replace("build-b", "X")
    );
    let log = std::fs::read_to_string(fx.log("build-a")).expect("log");
    assert_eq!(
        log.matches("$ cargo build --profile release").count(),
        1,
        "{log}"
    );
    assert!(log.contains("--features binancefutures"), "{log}");
    assert!(
        log.contains("cannot find value `nope`"),
        "the cargo output is in the pane's log: {log}"
    );

    workspace(&fx, "fn main() {}\n");
    h.command("build-a", Command::Build { force: false })
        .expect("build");
    let idle = wait_phase(&h, "build-a", Phase::Idle, 120.0).await;
    assert_eq!(idle.detail, "build finished");
    assert!(fx.path().join("target/release/connector").is_file());
    h.shutdown();
    tokio::time::timeout(Duration::from_secs(10), h.await_shutdown())
        .await
        .expect("shutdown");
}

/// An engine (nothing started) on one connector `name` whose workspace has a build script that
/// sleeps `secs` seconds.
async fn slow_build(fx: &Fixture, name: &str, secs: u64) -> switchboard::EngineHandle {
    workspace(fx, "fn main() {}\n");
    std::fs::write(
        fx.path().join("connector/build.rs"),
        format!("fn main() {{ std::thread::sleep(std::time::Duration::from_secs({secs})); }}\n"),
    )
    .expect("w");
    fx.sim_config("a.toml", "");
    let manifest = fx.path().join("switchboard.toml");
    std::fs::write(
        &manifest,
        format!(
            "[[connector]]\nname = \"{name}\"\ntype = \"binancefutures\"\nconfig = \"a.toml\"\n"
        ),
    )
    .expect("w");
    Engine::start(
        Manifest::load(&manifest).expect("m"),
        EngineOptions {
            autostart: false,
            start_all: false,
            ..EngineOptions::default()
        },
    )
    .await
    .expect("engine")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_can_be_cancelled() {
    let fx = Fixture::new("cancel");
    // A build script that takes long enough to be cancelled mid-way.
    let h = slow_build(&fx, "cancel-a", 60).await;
    h.command("cancel-a", Command::Build { force: false })
        .expect("build");
    wait_phase(&h, "cancel-a", Phase::Building, 5.0).await;
    // Wait until cargo is running the build script, then cancel.
    let needle = fx.path().display().to_string();
    assert!(
        eventually(60.0, || build_script_running(&needle)),
        "build script started"
    );
    h.command("cancel-a", Command::Stop).expect("stop");
    let idle = wait_phase(&h, "cancel-a", Phase::Idle, 5.0).await;
    assert!(idle.detail.contains("cancelled"), "{}", idle.detail);
    assert!(
        eventually(5.0, || !build_script_running(&needle)),
        "cargo and its children are gone"
    );
    h.shutdown();
    tokio::time::timeout(Duration::from_secs(10), h.await_shutdown())
        .await
        .expect("shutdown");
}

fn build_script_running(needle: &str) -> bool {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten().any(|e| {
                let exe = std::fs::read_link(e.path().join("exe")).unwrap_or_default();
                let s = exe.display().to_string();
                s.contains(needle) && s.contains("build-script-build")
            })
        })
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_a_build_while_it_runs_waits_for_that_build() {
    let fx = Fixture::new("buildtwice");
    // A build script that takes a few seconds: long enough to ask again mid-way.
    let h = slow_build(&fx, "twice-a", 3).await;
    h.command("twice-a", Command::Build { force: false })
        .expect("build");
    wait_phase(&h, "twice-a", Phase::Building, 5.0).await;
    // What `switchboard build twice-a` does through the control socket, during the build.
    let reply = tokio::time::timeout(
        Duration::from_secs(120),
        switchboard::console::server::execute(
            &switchboard::fleet::Fleet::new(h.clone()),
            &"twice-a".into(),
            switchboard::control::protocol::Action::Build,
        ),
    )
    .await
    .expect("an answer when the running build ends, not after 30 minutes");
    match reply {
        switchboard::control::protocol::ResponseBody::Acted(o) => {
            assert!(o.ok, "{o:?}");
            assert_eq!(o.phase, Phase::Idle);
        }
        other => panic!("{other:?}"),
    }
    h.shutdown();
    tokio::time::timeout(Duration::from_secs(10), h.await_shutdown())
        .await
        .expect("shutdown");
}

/// `GET /metrics` on `addr` over real HTTP: the body.
fn metrics_body(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
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
    raw.split_once("\r\n\r\n").expect("a body").1.to_string()
}

/// Issue #21: the metrics observer timed builds from the timestamps of a `building` → `idle`
/// pair, so the auto-build of a first start (`building` → `starting`) never reached
/// `build_duration_seconds`. The build's duration now travels typed with its transition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auto_build_of_a_first_start_is_observed_by_build_duration_seconds() {
    let fx = Fixture::new("buildmetric");
    workspace(&fx, "fn main() {}\n");
    fx.sim_config("a.toml", "");
    let manifest = fx.path().join("switchboard.toml");
    std::fs::write(
        &manifest,
        "[[connector]]\nname = \"bm-a\"\ntype = \"binancefutures\"\nconfig = \"a.toml\"\nrestart = { policy = \"never\" }\n",
    )
    .expect("w");
    let h = Engine::start(
        Manifest::load(&manifest).expect("manifest"),
        EngineOptions {
            autostart: false,
            start_all: false,
            ..EngineOptions::default()
        },
    )
    .await
    .expect("engine");
    let metrics = switchboard::observers::metrics::serve(
        switchboard::observers::metrics::bind("127.0.0.1:0".parse().expect("addr")).expect("bind"),
        &switchboard::fleet::Fleet::new(h.clone()),
    )
    .expect("metrics");
    let addr = metrics.addr;
    let count = move || {
        let body = metrics_body(addr);
        body.lines()
            .find(|l| {
                l.starts_with("switchboard_connector_build_duration_seconds_count{")
                    && l.contains("connector=\"bm-a\"")
            })
            .and_then(|l| l.rsplit_once(' '))
            .and_then(|(_, v)| v.parse::<f64>().ok())
    };
    assert!(
        !fx.path().join("target/release/connector").exists(),
        "the first start must build"
    );
    h.command("bm-a", Command::Start).expect("start");
    wait_phase(&h, "bm-a", Phase::Building, 5.0).await;
    // Built, then on to the start (not back to idle).
    let after = wait_for(&h, "bm-a", Duration::from_secs(120), |v| {
        v.phase != Phase::Building
    })
    .await;
    assert_ne!(after.phase, Phase::Idle, "{after:?}");
    assert_ne!(
        after.phase,
        Phase::Failed,
        "the build failed: {}",
        after.detail
    );
    let mut seen = None;
    for _ in 0..50 {
        seen = tokio::task::spawn_blocking(count).await.expect("fetch");
        if seen == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen,
        Some(1.0),
        "one build observed: {}",
        metrics_body(addr)
    );
    h.shutdown();
    tokio::time::timeout(Duration::from_secs(10), h.await_shutdown())
        .await
        .expect("shutdown");
    metrics.finish().await;
}

/// `switchboard build` with a build script that fails: cargo's whole error once (its `Caused
/// by:` lines and the script's stderr), the libclang hint last, exit 1. Before the fix it said
/// `build failed: connector '…': build failed: error: …` with only the first line.
#[test]
fn the_cli_prints_cargos_whole_error_once() {
    let fx = Fixture::new("buildcli");
    workspace(&fx, "fn main() {}\n");
    std::fs::write(
        fx.path().join("connector/build.rs"),
        "fn main() { eprintln!(\"Unable to find libclang: the wtc-marker library\"); std::process::exit(1) }\n",
    )
    .expect("w");
    fx.sim_config("a.toml", "");
    std::fs::write(
        fx.path().join("switchboard.toml"),
        "[[connector]]\nname = \"buildcli-a\"\ntype = \"binancefutures\"\nconfig = \"a.toml\"\n",
    )
    .expect("w");
    let out = fx.run(&["build", "buildcli-a"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("build failed").count(), 1, "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines[0], "error: buildcli-a build failed:", "{err}");
    assert!(
        lines[1].starts_with("error: failed to run custom build command for `connector"),
        "{err}"
    );
    for needle in [
        "Caused by:",
        "process didn't exit successfully",
        "  Unable to find libclang: the wtc-marker library",
    ] {
        assert_eq!(
            lines.iter().filter(|l| l.contains(needle)).count(),
            1,
            "{needle} once: {err}"
        );
    }
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("hint: bindgen needs libclang")),
        "{err}"
    );
    // The pane's detail (status) stays one line.
    let row = fx
        .status()
        .into_iter()
        .find(|r| r.name == "buildcli-a")
        .expect("row");
    assert_eq!(row.phase, Phase::Failed);
    assert!(!row.detail.contains('\n'), "{}", row.detail);
}
