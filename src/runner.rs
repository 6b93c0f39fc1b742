//! [`ConnectorRunner`]: build, start, await and stop one connector from code, without the engine's
//! restart policy. Useful in scripts and integration tests of trading bots.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::manifest::ConnectorSpec;
use crate::engine::io::{build, ipc, logs, process};
use crate::engine::spawn_spec_of;
use crate::error::ConnectorRunnerError;
use crate::machine::state::Sig;
use crate::model::exit::ExitStatus;

/// Runs one connector. Its output goes to `<log_dir>/<name>.log`.
pub struct ConnectorRunner {
    spec: ConnectorSpec,
    log: PathBuf,
    child: Option<process::ChildHandle>,
    last_exit: Option<ExitStatus>,
}

impl ConnectorRunner {
    /// A runner for `spec`, logging into `log_dir`.
    pub fn new(spec: ConnectorSpec, log_dir: impl Into<PathBuf>) -> ConnectorRunner {
        let log = log_dir.into().join(format!("{}.log", spec.name));
        ConnectorRunner {
            spec,
            log,
            child: None,
            last_exit: None,
        }
    }

    fn err_io(&self, action: &str, source: std::io::Error) -> ConnectorRunnerError {
        ConnectorRunnerError::Io {
            connector: self.spec.name.clone(),
            action: action.to_string(),
            source,
        }
    }

    /// Whether the connector binary exists.
    pub fn binary_exists(&self) -> bool {
        crate::engine::io::sys::is_executable(&self.spec.binary)
    }

    /// Builds the connector with cargo, streaming output into the log.
    pub async fn build(&mut self) -> Result<(), ConnectorRunnerError> {
        let key = crate::engine::build_key(&self.spec);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let log = self.log.clone();
        let writer = tokio::spawn(async move {
            while let Some(u) = rx.recv().await {
                if let build::BuildUpdate::Line(l) = u {
                    let _ = logs::append_lines(&log, &[l]);
                }
            }
        });
        let result = build::run_build(&key, false, tx).await;
        let _ = writer.await;
        result.map_err(|f| ConnectorRunnerError::Build {
            connector: self.spec.name.clone(),
            message: f.message,
            hint: f.hint,
        })
    }

    /// Builds only if the binary is missing; returns whether it built.
    pub async fn build_if_missing(&mut self) -> Result<bool, ConnectorRunnerError> {
        if self.binary_exists() {
            return Ok(false);
        }
        self.build().await.map(|()| true)
    }

    /// Starts the connector (after cleaning its dead iceoryx2 nodes and checking that no live
    /// process holds its name). Returns its PID.
    pub async fn start(&mut self) -> Result<i32, ConnectorRunnerError> {
        if self.is_running() {
            return Err(ConnectorRunnerError::Startup {
                connector: self.spec.name.clone(),
                message: "already running".into(),
            });
        }
        if !self.binary_exists() {
            return Err(ConnectorRunnerError::NotFound {
                connector: self.spec.name.clone(),
                binary: self.spec.binary.clone(),
            });
        }
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let worker = ipc::IpcWorker::start(std::slice::from_ref(&self.spec.project_root), tx)
            .map_err(|message| ConnectorRunnerError::Ipc {
                connector: self.spec.name.clone(),
                message,
            })?;
        match worker
            .prepare(&self.spec.name, &self.spec.project_root)
            .await
        {
            Ok(_) => {}
            Err(ipc::PrepareError::NameInUse(pid)) => {
                return Err(ConnectorRunnerError::NameInUse {
                    connector: self.spec.name.clone(),
                    pid,
                })
            }
            Err(ipc::PrepareError::NoDescriptors(message)) => {
                return Err(ConnectorRunnerError::Startup {
                    connector: self.spec.name.clone(),
                    message,
                })
            }
            Err(ipc::PrepareError::Stale(message)) => {
                return Err(ConnectorRunnerError::StaleResources {
                    connector: self.spec.name.clone(),
                    message,
                })
            }
        }
        let spec = spawn_spec_of(&self.spec, &self.log, None);
        let _ = logs::write_marker(&self.log, &format!("start: {}", spec.args.join(" ")));
        let child = process::spawn(&spec).map_err(|e| match e {
            process::SpawnError::Log(e) => self.err_io("cannot open its log file", e),
            process::SpawnError::Exec(e) => self.err_io("cannot start the connector", e),
        })?;
        let pid = child.pid;
        self.child = Some(child);
        self.last_exit = None;
        Ok(pid)
    }

    /// Waits until the connector is Ready (both services have an Alive node of its PID).
    /// Returns false on timeout or if it exited.
    pub async fn wait_for_ready(&mut self, timeout: Duration) -> bool {
        let Some(pid) = self.child.as_ref().map(|c| c.pid) else {
            return false;
        };
        let Ok(config) = ipc::config_for(&self.spec.project_root) else {
            return false;
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if !self.is_running() {
                return false;
            }
            let name = self.spec.name.clone();
            let cfg = config.clone();
            let ready = tokio::task::spawn_blocking(move || ipc::probe(&cfg, &name, pid))
                .await
                .ok()
                .and_then(Result::ok)
                .map(|p| p.ready)
                .unwrap_or(false);
            if ready {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(ipc::FAST_PROBE).await;
        }
    }

    /// Whether the process is alive (not yet reaped).
    pub fn is_running(&mut self) -> bool {
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        match child.exited.try_recv() {
            Ok(status) => {
                self.last_exit = status;
                self.child = None;
                false
            }
            Err(tokio::sync::oneshot::error::TryRecvError::Empty) => true,
            Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                self.child = None;
                false
            }
        }
    }

    /// SIGTERM to the group, SIGKILL after `timeout`; returns how it ended.
    pub async fn stop(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<ExitStatus>, ConnectorRunnerError> {
        let Some(mut child) = self.child.take() else {
            return Ok(self.last_exit);
        };
        let _ = logs::write_marker(&self.log, "stop: SIGTERM sent by switchboard");
        child.signal(Sig::Term);
        let status = match tokio::time::timeout(timeout, &mut child.exited).await {
            Ok(s) => s.ok().flatten(),
            Err(_) => {
                let _ = logs::write_marker(&self.log, "stop: SIGKILL after timeout");
                child.signal(Sig::Kill);
                (&mut child.exited).await.ok().flatten()
            }
        };
        self.last_exit = status;
        Ok(status)
    }

    /// The connector's output so far (the log file; secrets masked).
    pub fn output(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        crate::machine::redact::mask_secrets(&text, &self.spec.secrets)
    }

    /// How it last exited, if known.
    pub fn last_exit(&self) -> Option<ExitStatus> {
        self.last_exit
    }

    /// Wraps the runner in a guard that stops the connector when dropped.
    pub fn guard(self) -> RunnerGuard {
        RunnerGuard(Some(self))
    }
}

/// Stops its connector (SIGKILL to the group) when dropped, so that a failing test or script
/// never leaves a connector behind. Call [`RunnerGuard::runner`] to use the runner.
pub struct RunnerGuard(Option<ConnectorRunner>);

impl RunnerGuard {
    /// The runner inside.
    pub fn runner(&mut self) -> &mut ConnectorRunner {
        self.0.as_mut().expect("present until drop")
    }
}

impl Drop for RunnerGuard {
    fn drop(&mut self) {
        if let Some(r) = self.0.as_mut() {
            if let Some(child) = r.child.as_ref() {
                // Drop cannot await; SIGKILL is the stop that needs no waiting. The reaper task
                // collects the exit.
                child.signal(Sig::Kill);
            }
        }
    }
}
