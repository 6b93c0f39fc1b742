//! Live reload (DESIGN §11): `R` in the TUI, `switchboard reload`, SIGUSR1 in headless mode.
//! The console re-reads its manifest file; connectors added are created (and started when they
//! autostart), removed ones are stopped and disappear, changed ones keep running on their old
//! entry and show `restart needed` until the operator restarts them. An invalid manifest changes
//! nothing. [`plan`] is the pure diff; [`Reloader`] carries it out on the engine.

use std::path::PathBuf;

use crate::config::manifest::{ConnectorSpec, Manifest};
use crate::engine::{EngineError, EngineHandle, Updated};
use crate::error::ManifestError;
use crate::machine::state::Command;
use crate::model::view::ConnectorId;

pub use crate::model::ReloadReport;

/// What a new manifest changes, by connector.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub added: Vec<ConnectorSpec>,
    pub removed: Vec<String>,
    /// Every connector in both (the engine tells whether its entry changed).
    pub kept: Vec<ConnectorSpec>,
}

/// The diff between the connectors running (`current`, by name) and `new`.
pub fn plan(current: &[String], new: &Manifest) -> Plan {
    let mut p = Plan::default();
    for spec in &new.connectors {
        if current.contains(&spec.name) {
            p.kept.push(spec.clone());
        } else {
            p.added.push(spec.clone());
        }
    }
    p.removed = current
        .iter()
        .filter(|name| new.connector(name).is_none())
        .cloned()
        .collect();
    p
}

/// Why a reload did nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The manifest is invalid: nothing was changed.
    #[error("{0}; nothing was changed")]
    Manifest(#[from] ManifestError),
    #[error("{0}")]
    Engine(#[from] EngineError),
}

/// Reloads one console's manifest. Reloads are serialized.
pub struct Reloader {
    path: PathBuf,
    engine: EngineHandle,
    /// Start added connectors whatever their `autostart` says (headless `run`).
    start_all: bool,
    /// What the console-wide sections were when the console started (they need a restart).
    console_at_start: ConsoleSections,
    /// Run after each successful reload (the console retries failed host links).
    after: Box<dyn Fn() + Send + Sync>,
    lock: tokio::sync::Mutex<()>,
}

/// The console-wide sections, to tell whether a reload changed them (compared by value:
/// every field counts, as the types' derived `PartialEq` says).
#[derive(PartialEq)]
struct ConsoleSections {
    console: crate::config::manifest::ConsoleSettings,
    alerts: crate::config::manifest::AlertSettings,
    metrics: crate::config::manifest::MetricsSettings,
    hosts: Vec<crate::config::manifest::HostSpec>,
}

fn console_sections(m: &Manifest) -> ConsoleSections {
    ConsoleSections {
        console: m.console.clone(),
        alerts: m.alerts.clone(),
        metrics: m.metrics.clone(),
        hosts: m.hosts.clone(),
    }
}

impl Reloader {
    pub fn new(
        manifest: &Manifest,
        engine: EngineHandle,
        start_all: bool,
        after: Box<dyn Fn() + Send + Sync>,
    ) -> Reloader {
        Reloader {
            path: manifest.path.clone(),
            engine,
            start_all,
            console_at_start: console_sections(manifest),
            after,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The manifest file this console reads.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Re-reads the manifest and applies it. Logged in the console log either way.
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let _one_at_a_time = self.lock.lock().await;
        let path = self.path.clone();
        let loaded = tokio::task::spawn_blocking(move || Manifest::load(&path))
            .await
            .map_err(|e| EngineError::Io(format!("the manifest could not be read: {e}")))?;
        let manifest = match loaded {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("reload refused: {e}; nothing was changed");
                return Err(e.into());
            }
        };
        // The console's own log masks the new configs' secrets too.
        crate::machine::redact::add_console_secrets(
            manifest
                .connectors
                .iter()
                .flat_map(|c| c.secrets.iter().cloned()),
        );
        let current: Vec<String> = self
            .engine
            .ids()
            .into_iter()
            .filter(|id| id.host.is_none())
            .map(|id| id.name)
            .collect();
        let plan = plan(&current, &manifest);
        let mut report = ReloadReport {
            console_changed: console_sections(&manifest) != self.console_at_start,
            ..ReloadReport::default()
        };
        for spec in plan.kept {
            let name = spec.name.clone();
            match self.engine.update(spec).await? {
                Updated::Unchanged => {}
                Updated::Applied => report.updated.push(name),
                Updated::RestartNeeded => report.restart_needed.push(name),
            }
        }
        for name in plan.removed {
            // Stops it first (within its shutdown timeout), then removes it.
            self.engine.remove(ConnectorId::local(&name)).await?;
            report.removed.push(name);
        }
        for spec in plan.added {
            let start = self.start_all || spec.autostart;
            let name = spec.name.clone();
            self.engine.add(spec).await?;
            if start {
                self.engine
                    .command(ConnectorId::local(&name), Command::Start)?;
            }
            report.added.push(name);
        }
        (self.after)();
        tracing::info!("{}", report.sentence());
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_names_what_came_what_went_and_what_stayed() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("connector")).expect("mkdir");
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[workspace]\nmembers = [\"connector\"]\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("connector/Cargo.toml"), "[package]\n").expect("write");
        std::fs::write(
            dir.path().join("bb.toml"),
            "public_url = \"wss://x\"\nprivate_url = \"wss://x\"\ntrade_url = \"wss://x\"\nrest_url = \"https://x\"\napi_key = \"k\"\nsecret = \"s\"\ncategory = \"linear\"\norder_prefix = \"p\"\n",
        )
        .expect("write");
        let text = "[defaults]\nbinary = \"/bin/true\"\n[[connector]]\nname = \"b\"\ntype = \"bybit\"\nconfig = \"bb.toml\"\n[[connector]]\nname = \"c\"\ntype = \"bybit\"\nconfig = \"bb.toml\"\n";
        let m =
            Manifest::from_str_at(text, &dir.path().join("switchboard.toml")).expect("manifest");
        let p = plan(&["a".to_string(), "b".to_string()], &m);
        assert_eq!(
            p.added.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["c"]
        );
        assert_eq!(p.removed, ["a"]);
        assert_eq!(
            p.kept.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
    }
}
