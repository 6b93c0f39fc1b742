//! The control socket: `<state_dir>/control.sock` (owner-only) lets the CLI (`status`,
//! `start|stop|restart|build NAME`) and later observers reach a running console. One JSON line
//! in, one JSON line out, in the versioned [`protocol`]. Lives outside `engine/`: it is a front
//! end of the engine, like the TUI.

pub mod client;
pub mod lines;
pub mod protocol;

use std::path::{Path, PathBuf};

/// Path of the socket in a state dir.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    crate::config::manifest::control_socket_path(state_dir)
}
