//! Nothing is leaked: the iceoryx2 worker thread and the console's iceoryx2 node end when the
//! engine or a `ConnectorRunner` is done with them. Its own test binary (process), so that no
//! other test's threads are counted.

mod common;

use std::time::Duration;

use common::*;
use iceoryx2::node::NodeView as _;
use iceoryx2::prelude::*;
use switchboard::engine::io::ipc;
use switchboard::{Command, ConnectorRunner, Engine, EngineOptions, Manifest, Phase};

/// Threads of this process named like the iceoryx2 worker.
fn ipc_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("tasks")
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim() == "switchboard-ipc")
        })
        .count()
}

/// The nice values of this process's threads named like the iceoryx2 worker (field 19 of
/// `/proc/self/task/TID/stat`, counted after the `(comm)` field).
fn ipc_nice() -> Vec<i64> {
    std::fs::read_dir("/proc/self/task")
        .expect("tasks")
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim() == "switchboard-ipc")
        })
        .filter_map(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
            let after = &stat[stat.rfind(')')? + 2..];
            // After `(comm) `: state is field 3, nice is field 19.
            after.split(' ').nth(19 - 3)?.parse().ok()
        })
        .collect()
}

/// Alive iceoryx2 nodes of this process in the fixture's iceoryx2 world.
fn own_nodes(fx: &Fixture) -> usize {
    let config = ipc::config_for(fx.path()).expect("config");
    let me = std::process::id() as i32;
    let mut n = 0;
    Node::<iceoryx2::service::ipc::Service>::list(&config, |state| {
        if let NodeState::Alive(v) = state {
            if v.id().pid().value() == me {
                n += 1;
            }
        }
        CallbackProgression::Continue
    })
    .expect("list nodes");
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ipc_thread_and_node_end_with_their_engine_and_runner() {
    let fx = Fixture::new("leak");
    fx.sim_config("a.toml", "");
    let m = Manifest::load(&fx.manifest(
        "",
        "[[connector]]\nname = \"leak-a\"\ntype = \"binancefutures\"\nconfig = \"a.toml\"\n",
    ))
    .expect("manifest");
    assert_eq!(ipc_threads(), 0);

    // Runners: each start creates a worker for its checks; none may outlive it.
    for _ in 0..3 {
        let mut r = ConnectorRunner::new(m.connectors[0].clone(), fx.path().join("rlogs"));
        r.start().await.expect("start");
        assert!(r.wait_for_ready(Duration::from_secs(10)).await);
        r.stop(Duration::from_secs(5)).await.expect("stop");
    }
    assert!(
        eventually(5.0, || ipc_threads() == 0),
        "runner workers left {} thread(s)",
        ipc_threads()
    );
    assert!(eventually(5.0, || own_nodes(&fx) == 0), "runner nodes left");

    // An engine: one worker and one node while it runs, none after it ends.
    let h = Engine::start(
        m.clone(),
        EngineOptions {
            autostart: false,
            start_all: false,
            ..EngineOptions::default()
        },
    )
    .await
    .expect("engine");
    assert_eq!(ipc_threads(), 1);
    assert_eq!(own_nodes(&fx), 1);
    // The meter's thread yields to the bots.
    assert_eq!(ipc_nice(), [19]);
    h.command("leak-a", Command::Start).expect("start");
    wait_phase(&h, "leak-a", Phase::Ready, 10.0).await;
    h.shutdown();
    tokio::time::timeout(Duration::from_secs(15), h.await_shutdown())
        .await
        .expect("shutdown");
    assert!(
        eventually(5.0, || ipc_threads() == 0),
        "the engine's worker thread is still there"
    );
    assert!(eventually(5.0, || own_nodes(&fx) == 0), "engine node left");
}
