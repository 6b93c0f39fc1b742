//! The composition root: one place that builds the async runtime and starts a console, i.e.
//! the engine plus its observers: the control socket, the live reload, the alerts, the
//! Prometheus endpoint and the systemd notifications. The TUI, `run --headless` and the CLI's
//! direct actions all start through here.

pub mod reload;
pub mod server;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::config::manifest::Manifest;
use crate::console::reload::Reloader;
use crate::engine::{Engine, EngineError, EngineHandle, EngineOptions};
use crate::fleet::hosts::{self, HostLink};
use crate::fleet::Fleet;
use crate::model::view::LinkState;
use crate::observers::alerts::{self, Alerts};
use crate::observers::metrics::{self, Metrics};
use crate::observers::service;

/// Worker threads of the runtime: the engine and the UI share them; every blocking job
/// (iceoryx2, state writes, rotation, adoption checks) runs off them.
const WORKER_THREADS: usize = 2;

/// The one async runtime builder.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("switchboard-rt")
        .enable_all()
        .build()
}

/// A running console: the engine and its observers.
pub struct Console {
    /// The engine (this host's connectors); clone it freely.
    pub engine: EngineHandle,
    /// What the front ends see: the engine and the links to other hosts.
    pub fleet: Fleet,
    /// Re-reads the manifest into the running engine.
    pub reloader: Arc<Reloader>,
    control: Option<JoinHandle<()>>,
    alerts: Option<Alerts>,
    metrics: Option<Metrics>,
    service: Option<JoinHandle<()>>,
    /// Links to the consoles of the manifest's `[[host]]`s.
    pub hosts: Arc<Vec<HostLink>>,
    /// The manifest's `[console]` as the console started with it.
    pub settings: crate::config::manifest::ConsoleSettings,
    /// Set when this is a read-only viewer of another console on this host.
    pub viewing: Option<Viewing>,
    /// A viewer's own scratch state dir (removed when the viewer ends).
    _scratch: Option<tempfile::TempDir>,
}

/// The console a read-only viewer watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewing {
    /// The watched console's PID, as its lock file says.
    pub pid: Option<i32>,
    /// Its state dir: where the connectors' log files are.
    pub state_dir: std::path::PathBuf,
}

/// How a viewer's scratch state dir's name starts (then its PID, `-`, random characters).
const VIEWER_SCRATCH: &str = "switchboard-viewer-";

/// How old a scratch dir of an older viewer (no PID in its name), unlocked, must be to be
/// taken for a dead viewer's.
const UNNAMED_SCRATCH_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the scratch dirs in `tmp` that viewers of this user killed before they could
/// remove them (SIGKILL, a crash): those whose PID is gone, and older unnamed ones that no
/// engine holds. Best effort: what cannot be removed is left (and logged).
fn remove_dead_viewers_scratch(tmp: &std::path::Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    let me = nix::unistd::geteuid().as_raw();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(VIEWER_SCRATCH)) else {
            continue;
        };
        // Never follow a link another user may have planted in a shared /tmp.
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != me {
            continue;
        }
        let dead = match rest
            .split_once('-')
            .and_then(|(p, _)| p.parse::<i32>().ok())
        {
            Some(pid) => matches!(
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
                Err(nix::errno::Errno::ESRCH)
            ),
            None => {
                let old = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > UNNAMED_SCRATCH_AGE);
                old && matches!(
                    crate::engine::io::store::lock_state(&e.path()),
                    crate::engine::io::store::LockState::Free
                )
            }
        };
        if dead {
            match std::fs::remove_dir_all(e.path()) {
                Ok(()) => tracing::info!(
                    "removed {}, left by a viewer that was killed",
                    e.path().display()
                ),
                Err(err) => tracing::warn!("cannot remove {}: {err}", e.path().display()),
            }
        }
    }
}

/// `s` quoted for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl Console {
    /// Starts the engine on `manifest` and its observers. The metrics port is bound first: a
    /// port in use is an error before anything starts. A control socket that cannot be bound
    /// is logged (commands then cannot reach this console) but does not stop the console.
    pub async fn start(manifest: Manifest, options: EngineOptions) -> Result<Console, EngineError> {
        Self::start_as(manifest, options, false).await
    }

    /// As [`Console::start`], for a console that lives for one CLI action (`switchboard stop
    /// NAME` with no console running): its control socket turns other actions away as `busy`,
    /// so that a second command waits for this one instead of having its wait cut short.
    pub async fn start_for_one_action(
        manifest: Manifest,
        options: EngineOptions,
    ) -> Result<Console, EngineError> {
        Self::start_as(manifest, options, true).await
    }

    async fn start_as(
        manifest: Manifest,
        options: EngineOptions,
        one_action: bool,
    ) -> Result<Console, EngineError> {
        let listener = match manifest.metrics.listen {
            Some(addr) => Some(metrics::bind(addr).map_err(|e| {
                EngineError::Io(format!(
                    "{}: key 'metrics.listen': cannot listen on {addr}: {e}; pick a free port, stop what listens there, or remove [metrics]",
                    manifest.path.display()
                ))
            })?),
            None => None,
        };
        let start_all = options.start_all;
        let alert_settings = manifest.alerts.clone();
        let reload_base = manifest.clone();
        let host_specs = manifest.hosts.clone();
        let console_settings = manifest.console.clone();
        let engine = Engine::start(manifest, options).await?;
        let fleet = Fleet::new(engine.clone());
        let links = Arc::new(hosts::spawn_all(&fleet, &host_specs, &console_settings));
        // A reload also retries the host links that failed.
        let retry_failed = {
            let (links, fleet) = (links.clone(), fleet.clone());
            Box::new(move || {
                let failed: Vec<String> = fleet
                    .hosts()
                    .borrow()
                    .iter()
                    .filter(|h| matches!(h.link, LinkState::Failed { .. }))
                    .map(|h| h.name.clone())
                    .collect();
                for link in links.iter().filter(|l| failed.contains(&l.name)) {
                    link.retry();
                }
            })
        };
        let reloader = Arc::new(Reloader::new(
            &reload_base,
            engine.clone(),
            start_all,
            retry_failed,
        ));
        let control = match crate::console::server::serve(
            engine.state_dir(),
            fleet.clone(),
            Some(reloader.clone()),
            one_action,
        ) {
            Ok(task) => Some(task),
            Err(e) => {
                tracing::warn!(
                    "control socket {}: {e}; `switchboard status` and `start|stop NAME` will not reach this console",
                    crate::control::socket_path(engine.state_dir()).display()
                );
                None
            }
        };
        let alerts = alerts::spawn(&fleet, &alert_settings);
        if let Some(cmd) = &alert_settings.command {
            tracing::info!("alerts: `{cmd}` runs on exited, failed, stale, erroring and recovered");
        }
        let metrics = match listener {
            Some(l) => match metrics::serve(l, &fleet) {
                Ok(m) => {
                    tracing::info!("metrics: Prometheus endpoint at http://{}/metrics", m.addr);
                    Some(m)
                }
                Err(e) => {
                    // Nothing was started yet: leave what runs running (as a detach would).
                    engine.detach();
                    engine.await_shutdown().await;
                    return Err(EngineError::Io(format!("metrics endpoint: {e}")));
                }
            },
            None => None,
        };
        let service = service::spawn(&fleet, engine.selected());
        Ok(Console {
            engine,
            fleet,
            reloader,
            control,
            alerts,
            metrics,
            service,
            hosts: links,
            settings: console_settings,
            viewing: None,
            _scratch: None,
        })
    }

    /// A read-only viewer of the console that runs on `manifest`'s state dir (PID `pid`): an
    /// engine with no connectors of its own, in a scratch state dir, mirroring that console's
    /// connectors (views, events, log tails) through `switchboard attach --stdio` under their
    /// own names. It never acts on them and runs no control socket, alerts or metrics.
    pub async fn viewer(manifest: Manifest, pid: Option<i32>) -> Result<Console, EngineError> {
        let io = |what: &str, e: std::io::Error| EngineError::Io(format!("{what}: {e}"));
        remove_dead_viewers_scratch(&std::env::temp_dir());
        // Named with our PID, so that the next viewer can tell it is ours once we are gone
        // (SIGKILL runs no destructor).
        let scratch = tempfile::Builder::new()
            .prefix(&format!("{VIEWER_SCRATCH}{}-", std::process::id()))
            .tempdir()
            .map_err(|e| io("cannot make the viewer's scratch directory", e))?;
        let exe = std::env::current_exe().map_err(|e| io("cannot find switchboard's binary", e))?;
        let viewing = Viewing {
            pid,
            state_dir: manifest.console.state_dir.clone(),
        };
        let mut own = manifest;
        own.connectors.clear();
        own.alerts = Default::default();
        own.metrics = Default::default();
        own.hosts = vec![crate::config::manifest::HostSpec {
            name: "console".into(),
            command: format!(
                "exec {} attach --stdio --manifest {}",
                sh_quote(&exe.to_string_lossy()),
                sh_quote(&own.path.to_string_lossy())
            ),
            reconnect: Default::default(),
            as_local: true,
        }];
        own.console.state_dir = scratch.path().to_path_buf();
        let engine = Engine::start(own.clone(), EngineOptions::default()).await?;
        let fleet = Fleet::new(engine.clone());
        let links = Arc::new(hosts::spawn_all(&fleet, &own.hosts, &own.console));
        let reloader = Arc::new(Reloader::new(&own, engine.clone(), false, Box::new(|| {})));
        Ok(Console {
            engine,
            fleet,
            reloader,
            control: None,
            alerts: None,
            metrics: None,
            service: None,
            hosts: links,
            settings: own.console,
            viewing: Some(viewing),
            _scratch: Some(scratch),
        })
    }

    /// Where connector `name`'s log file is (a viewer: in the watched console's state dir).
    pub fn log_path(&self, name: &str) -> std::path::PathBuf {
        let dir = match &self.viewing {
            Some(v) => v.state_dir.as_path(),
            None => self.engine.state_dir(),
        };
        crate::engine::io::logs::log_path(dir, name)
    }

    /// Starts every failed (or waiting) host link over.
    pub fn retry_hosts(&self) {
        for h in self.hosts.iter() {
            h.retry();
        }
    }

    /// Where the Prometheus endpoint listens, if it does.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|m| m.addr)
    }

    /// Told on every alert when `[alerts] bell = true` (the TUI rings the terminal bell).
    pub fn bell(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.alerts.as_ref().and_then(|a| a.bell.clone())
    }

    /// Resolves once the engine has ended and the observers have let go of the state dir.
    pub async fn finished(self) {
        self.engine.await_shutdown().await;
        if let Some(c) = self.control {
            let _ = c.await;
        }
        if let Some(a) = self.alerts {
            a.finish().await;
        }
        if let Some(m) = self.metrics {
            m.finish().await;
        }
        if let Some(s) = self.service {
            let _ = s.await;
        }
        for h in self.hosts.iter() {
            h.abort();
        }
    }
}
