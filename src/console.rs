//! The composition root: one place that builds the async runtime and starts a console, i.e.
//! the engine plus the control socket (and, as they arrive, the other observers of the
//! engine). The TUI, `run --headless` and the CLI's direct actions all start through here.

use tokio::task::JoinHandle;

use crate::engine::{Engine, EngineError, EngineHandle, EngineOptions};
use crate::manifest::Manifest;

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
    /// The engine; clone it freely.
    pub engine: EngineHandle,
    control: Option<JoinHandle<()>>,
}

impl Console {
    /// Starts the engine on `manifest` and serves the control socket in its state dir. A socket
    /// that cannot be bound is logged (commands then cannot reach this console) but does not
    /// stop the console.
    pub async fn start(manifest: Manifest, options: EngineOptions) -> Result<Console, EngineError> {
        let engine = Engine::start(manifest, options).await?;
        let control = match crate::control::server::serve(engine.state_dir(), engine.clone()) {
            Ok(task) => Some(task),
            Err(e) => {
                tracing::warn!(
                    "control socket {}: {e}; `switchboard status` and `start|stop NAME` will not reach this console",
                    crate::control::socket_path(engine.state_dir()).display()
                );
                None
            }
        };
        Ok(Console { engine, control })
    }

    /// Resolves once the engine has ended and the observers have let go of the state dir.
    pub async fn finished(self) {
        self.engine.await_shutdown().await;
        if let Some(c) = self.control {
            let _ = c.await;
        }
    }
}
