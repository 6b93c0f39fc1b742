//! Start one connector from a manifest, wait until it is Ready, print its PID, stop it.
//!
//! ```sh
//! cargo run --example runner -- path/to/switchboard.toml bf
//! ```

use std::time::Duration;

use switchboard::{ConnectorRunner, Manifest};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(manifest), Some(name)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: runner MANIFEST NAME");
    };
    let manifest = Manifest::load(manifest.as_ref())?;
    let spec = manifest
        .connector(&name)
        .ok_or_else(|| anyhow::anyhow!("no connector named {name}"))?
        .clone();
    // The guard stops the connector if anything below fails.
    let mut guard = ConnectorRunner::new(spec, manifest.console.state_dir.join("logs")).guard();
    let runner = guard.runner();
    runner.build_if_missing().await?;
    let pid = runner.start().await?;
    if runner.wait_for_ready(Duration::from_secs(10)).await {
        println!("{name} is ready as PID {pid}");
    } else {
        println!(
            "{name} did not become ready; its output:\n{}",
            runner.output()
        );
    }
    let exit = runner.stop(Duration::from_secs(5)).await?;
    println!("stopped: {exit:?}");
    Ok(())
}
