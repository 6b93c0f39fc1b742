//! `switchboard demo`: the embedded manifest of three simulated connectors, written into a
//! temporary directory that doubles as their project root and state dir.

use std::path::{Path, PathBuf};

use super::run::run_headless;
use super::tui::tui_on;
use crate::config::manifest::Manifest;
use crate::engine::io::store;
use crate::exit;

const MANIFEST: &str = include_str!("../../assets/demo/switchboard.toml");
const CONFIGS: [(&str, &str); 3] = [
    (
        "binancefutures.toml",
        include_str!("../../assets/demo/binancefutures.toml"),
    ),
    (
        "binancespot.toml",
        include_str!("../../assets/demo/binancespot.toml"),
    ),
    ("bybit.toml", include_str!("../../assets/demo/bybit.toml")),
];

/// The sim-connector binary installed next to the running executable.
pub fn sim_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate switchboard: {e}"))?;
    let dir = exe.parent().ok_or("switchboard has no parent directory")?;
    // Test binaries live in target/*/deps; the binaries one level up.
    let candidates = [dir.join("sim-connector"), dir.join("../sim-connector")];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "sim-connector not found next to {}; build it with `cargo build --release` (it is part of this package)",
                exe.display()
            )
        })
}

/// The shared-memory name prefix of this demo's iceoryx2 world.
pub fn shm_prefix() -> String {
    format!("sbdemo{}_", std::process::id())
}

/// Removes what the demo left in /dev/shm (a connector that panics on SIGTERM, as the real one
/// does, leaves its segments behind). Call only when none of its connectors runs.
pub fn remove_shm() {
    let prefix = shm_prefix();
    if let Ok(entries) = std::fs::read_dir("/dev/shm") {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Writes the demo manifest and configs into `dir` and loads it. The demo gets its own iceoryx2
/// world (`dir/config/iceoryx2.toml`: root and shm prefix of its own), so two demos, or a demo
/// and real connectors, never collide on a name.
pub fn prepare(dir: &Path, sim: &Path) -> Result<Manifest, String> {
    crate::engine::io::ipc::write_private_config(dir, &dir.join("iceoryx2"), &shm_prefix())
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, text) in CONFIGS {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    // The demo directory is the connectors' project root (their cwd).
    // The demo's bots are managed `[[bot]]`s running the `sim-bot` next to `sim`.
    let text = MANIFEST
        .replace("SIM_BINARY", &sim.display().to_string())
        .replace(
            "SIM_BOT",
            &sim.with_file_name("sim-bot").display().to_string(),
        )
        .replace(
            "[defaults]\n",
            &format!("[defaults]\nproject_root = \"{}\"\n", dir.display()),
        );
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    Manifest::load(&path).map_err(|e| e.to_string())
}

/// `switchboard demo`: the TUI (or `--headless`) on the embedded manifest of simulated
/// connectors, in a fresh temporary directory.
pub fn demo(headless: bool) -> u8 {
    let sim = match sim_binary() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    let dir = match tempfile::Builder::new()
        .prefix("switchboard-demo-")
        .tempdir()
    {
        Ok(d) => d.keep(),
        Err(e) => {
            eprintln!("error: cannot create a temporary directory: {e}");
            return exit::FAILURE;
        }
    };
    let manifest = match prepare(&dir, &sim) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: demo manifest: {e}");
            return exit::USAGE;
        }
    };
    let path = manifest.path.clone();
    let code = if headless {
        run_headless(&path, false)
    } else {
        tui_on(manifest, |detached| {
            if detached {
                outln!(
                    "switchboard: the demo lives in {}; reopen it with `switchboard --manifest {}`",
                    dir.display(),
                    path.display()
                );
            }
        })
    };
    // Keep the directory while connectors may still run from it (detached).
    let running = store::read_state(&dir.join(".switchboard"))
        .ok()
        .flatten()
        .map(|s| s.connectors.iter().any(|c| c.view.pid.is_some()))
        .unwrap_or(false);
    if !running {
        let _ = std::fs::remove_dir_all(&dir);
        remove_shm();
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_demo_manifest_is_valid() {
        let dir = tempfile::tempdir().expect("tmp");
        let m = prepare(dir.path(), Path::new("/bin/true")).expect("valid demo manifest");
        let names: Vec<&str> = m.connectors.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "demo-binancefutures",
                "demo-binancespot",
                "demo-bybit",
                "demo-bot-futures",
                "demo-bot-spot"
            ]
        );
        assert!(m.connectors.iter().all(|c| c.project_root == dir.path()));
        assert!(m
            .connectors
            .iter()
            .filter(|c| !c.is_bot())
            .all(|c| !c.secrets.is_empty()));
        let bots: Vec<&str> = m
            .connectors
            .iter()
            .filter(|c| c.is_bot())
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(bots, ["demo-bot-futures", "demo-bot-spot"], "managed bots");
        let spot = &m.connectors[1];
        assert_eq!(
            spot.instruments.len(),
            2,
            "the demo shows declared instruments"
        );
        assert_eq!(
            spot.feed.on_stale,
            crate::config::manifest::OnStale::Restart,
            "declared instruments make a stale feed restart by default"
        );
    }
}
