//! `switchboard` with no subcommand: the TUI, as the console or as a viewer of the one that runs.

use std::path::Path;

use super::{load_for_console, runtime};
use crate::config::manifest::Manifest;
use crate::console::Console;
use crate::engine::EngineOptions;
use crate::exit;

/// `switchboard` (the TUI) on a manifest file.
pub fn tui(path: &Path) -> u8 {
    let manifest = match load_for_console(path) {
        Ok(m) => m,
        Err(c) => return c,
    };
    tui_on(manifest, |_| {})
}

/// The TUI on `manifest`; `after(detached)` runs once the terminal is restored.
pub(super) fn tui_on(manifest: Manifest, after: impl FnOnce(bool)) -> u8 {
    crate::tui::console_log::init();
    crate::tui::console_log::mask_for(&manifest);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    let result = rt.block_on(async move {
        loop {
            // A console already runs here: watch it, read-only, instead of refusing.
            let held = match crate::engine::io::store::lock_state(&manifest.console.state_dir) {
                crate::engine::io::store::LockState::Held(pid) => Some(pid),
                _ => None,
            };
            let owns = held.is_none();
            let console = match held {
                Some(pid) => Console::viewer(manifest.clone(), pid).await,
                None => {
                    Console::start(manifest.clone(), EngineOptions::default().with_own_relay())
                        .await
                }
            }
            .map_err(|e| e.to_string())?;
            // The owning console writes logs/console.log (a viewer leaves it to the owner).
            if owns {
                crate::tui::console_log::write_to_file_for(&manifest);
            }
            let detached = crate::tui::run(&console).await;
            console.finished().await;
            // A viewer whose console is gone took over: a console starts here (adopting the
            // connectors), or a viewer again if another console got there first.
            if !crate::tui::take_over_requested() {
                return detached;
            }
        }
    });
    match result {
        Ok(detached) => {
            if detached {
                outln!(
                    "switchboard: detached; connectors keep running (see `switchboard status`)."
                );
            }
            after(detached);
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILURE
        }
    }
}
