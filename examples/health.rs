//! Run every connector of a manifest under the engine, print every transition (a lossless,
//! numbered event stream) and health once a second until all wanted connectors are Ready, then
//! stop them all.
//!
//! ```sh
//! cargo run --example health -- path/to/switchboard.toml
//! ```

use std::time::Duration;

use switchboard::{Engine, EngineOptions, Manifest, Transition};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: health MANIFEST"))?;
    let manifest = Manifest::load(path.as_ref())?;
    let engine = Engine::start(
        manifest,
        EngineOptions {
            autostart: true,
            start_all: true,
            ..EngineOptions::default()
        },
    )
    .await?;
    let mut events = engine.subscribe();
    engine.start_selected()?;
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let Some(t) = Transition::of(&ev) {
                println!("#{} {} {} {} {}", ev.seq, t.ts, t.name, t.phase, t.detail);
            }
        }
    });
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let health = engine.health();
        if health.healthy {
            println!("all {} connectors ready", health.connectors.len());
            break;
        }
    }
    engine.shutdown();
    engine.await_shutdown().await;
    Ok(())
}
