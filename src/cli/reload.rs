//! `switchboard reload`: the running console re-reads its manifest.

use std::path::Path;

use super::{runtime, Addressed};
use crate::control::client;
use crate::control::protocol::{RequestBody, ResponseBody};
use crate::exit;
use crate::machine::redact::plain;

/// `switchboard reload`: asks the running console to re-read its manifest (the console checks
/// the whole file and refuses an invalid one, saying that nothing was changed; here only where
/// its state dir is matters).
pub fn reload(path: &Path) -> u8 {
    let manifest = Addressed::load(path);
    let state_dir = manifest.state_dir.clone();
    if !manifest.console_runs() {
        match &manifest.problem {
            Some(e) => eprintln!("error: {e}; nothing was changed (and no console is running on it)"),
            None => eprintln!(
                "error: no console is running on {}: nothing to reload (a console reads the manifest when it starts)",
                manifest.path.display()
            ),
        }
        return if manifest.problem.is_some() {
            exit::USAGE
        } else {
            exit::FAILURE
        };
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    let reply = rt.block_on(client::request(&state_dir, RequestBody::Reload));
    match reply {
        Ok(ResponseBody::Reloaded(report)) => {
            outln!("{}", plain(&report.sentence()));
            exit::OK
        }
        Ok(other) => {
            let code = other.exit_code();
            match other {
                ResponseBody::Error { message, .. } => eprintln!("error: {}", plain(&message)),
                _ => eprintln!("error: unexpected reply to a reload"),
            }
            code.max(exit::FAILURE)
        }
        Err(e) => {
            eprintln!(
                "error: the console's control socket {} did not answer: {e}",
                crate::control::socket_path(&state_dir).display()
            );
            exit::FAILURE
        }
    }
}
