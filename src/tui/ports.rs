//! What the event loop takes from outside, each behind a small seam so that a test can stand in
//! for it (see `loop_tests.rs`): the fleet ([`FleetPort`]), the terminal's input (a stream of
//! crossterm events, opened again after a pager), the signals ([`Signal`]s on a channel, see
//! [`os_signals`]), the screen ([`Screen`]: the writer's thread and the terminal's size) and what
//! the console it runs on contributes ([`Context`]). [`super::run`] hands the loop the real ones.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use ratatui::buffer::Buffer;
use ratatui::layout::Size;
use tokio::sync::{mpsc, watch, Notify};

use super::writer::Writer;
use crate::console::{Console, Viewing};
use crate::engine::io::logs::SharedScrollback;
use crate::fleet::{Fleet, FleetError};
use crate::machine::state::Command;
use crate::model::view::{ConnectorId, ConnectorView, HostView, Origin};

/// What the loop reads from and asks of the fleet (see [`crate::fleet::Fleet`], whose methods
/// of the same names these are).
pub trait FleetPort {
    /// A receiver that changes whenever a view does.
    fn views(&self) -> watch::Receiver<Arc<Vec<ConnectorView>>>;
    /// The links to other hosts, as they last reported.
    fn hosts(&self) -> watch::Receiver<Arc<Vec<HostView>>>;
    /// The in-memory log tail of connector `id`.
    fn scrollback(&self, id: &ConnectorId) -> Option<SharedScrollback>;
    /// Wakes when new log lines reach any scrollback.
    fn log_activity(&self) -> Arc<Notify>;
    /// Asks for CPU and memory figures for the next `secs` seconds.
    fn want_usage(&self, secs: f64) -> bool;
    /// Sends `cmd` to connector `id` on behalf of `origin`.
    fn command_by(&self, id: ConnectorId, cmd: Command, origin: Origin) -> Result<(), FleetError>;
    /// Sends `cmd` to every connector of this host.
    fn command_all_by(&self, cmd: Command, origin: Origin) -> Result<(), FleetError>;
    /// Stops every local connector, then ends the engine.
    fn shutdown(&self);
    /// Ends the engine and leaves the connectors running.
    fn detach(&self);
    /// Resolves when the engine has ended.
    fn await_shutdown(&self) -> impl Future<Output = ()>;
}

impl FleetPort for Fleet {
    fn views(&self) -> watch::Receiver<Arc<Vec<ConnectorView>>> {
        Fleet::views(self)
    }

    fn hosts(&self) -> watch::Receiver<Arc<Vec<HostView>>> {
        Fleet::hosts(self)
    }

    fn scrollback(&self, id: &ConnectorId) -> Option<SharedScrollback> {
        Fleet::scrollback(self, id)
    }

    fn log_activity(&self) -> Arc<Notify> {
        Fleet::log_activity(self)
    }

    fn want_usage(&self, secs: f64) -> bool {
        Fleet::want_usage(self, secs)
    }

    fn command_by(&self, id: ConnectorId, cmd: Command, origin: Origin) -> Result<(), FleetError> {
        Fleet::command_by(self, id, cmd, origin)
    }

    fn command_all_by(&self, cmd: Command, origin: Origin) -> Result<(), FleetError> {
        Fleet::command_all_by(self, cmd, origin)
    }

    fn shutdown(&self) {
        Fleet::shutdown(self)
    }

    fn detach(&self) {
        Fleet::detach(self)
    }

    fn await_shutdown(&self) -> impl Future<Output = ()> {
        Fleet::await_shutdown(self)
    }
}

/// What the loop does with the terminal: paints frames drawn off-screen, rings, copies, turns
/// mouse capture on and off, lends the terminal to a pager and takes it back; and how big the
/// terminal is now.
pub trait Screen {
    /// The terminal's size now (a query that never waits for the terminal).
    fn size(&self) -> Size;
    /// Paints `frame`.
    fn frame(&self, frame: Buffer);
    /// Rings the terminal bell.
    fn bell(&self);
    /// Puts `text` on the clipboard of the operator's terminal.
    fn copy(&self, text: String);
    /// Turns mouse capture on or off.
    fn mouse(&self, on: bool);
    /// Hands the terminal to another program: resolves once it is back to how it was.
    fn lend(&self) -> impl Future<Output = ()>;
    /// Takes the terminal back after [`Screen::lend`] (with mouse capture if `mouse`).
    fn take_back(&self, mouse: bool) -> impl Future<Output = Result<(), String>>;
}

impl Screen for Writer {
    fn size(&self) -> Size {
        super::terminal_size()
    }

    fn frame(&self, frame: Buffer) {
        Writer::frame(self, frame)
    }

    fn bell(&self) {
        Writer::bell(self)
    }

    fn copy(&self, text: String) {
        Writer::copy(self, text)
    }

    fn mouse(&self, on: bool) {
        Writer::mouse(self, on)
    }

    fn lend(&self) -> impl Future<Output = ()> {
        Writer::lend(self)
    }

    fn take_back(&self, mouse: bool) -> impl Future<Output = Result<(), String>> {
        Writer::take_back(self, mouse)
    }
}

/// A signal the loop acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: the pager's when one ran just now, else the operator's (detach).
    Interrupt,
    /// SIGTERM: killed politely (detach).
    Terminate,
    /// SIGHUP: the terminal is gone (detach).
    Hangup,
}

/// This process's SIGINT, SIGTERM and SIGHUP as [`Signal`]s, until the receiver is dropped.
/// The handlers are installed before this returns. SIGQUIT (Ctrl-\ in a pager, which shares our
/// process group) is caught and ignored meanwhile.
pub fn os_signals() -> mpsc::UnboundedReceiver<Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).ok();
    let quit = signal(SignalKind::quit()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let _quit = quit;
        async fn next(s: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
            match s.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        }
        loop {
            let signal = tokio::select! {
                Some(_) = next(&mut int) => Signal::Interrupt,
                Some(_) = next(&mut term) => Signal::Terminate,
                Some(_) = next(&mut hup) => Signal::Hangup,
                _ = tx.closed() => break,
            };
            if tx.send(signal).is_err() {
                break;
            }
        }
    });
    rx
}

/// A manifest reload in flight: resolves to the sentence the footer shows.
pub type Reloading = Pin<Box<dyn Future<Output = String> + Send>>;

/// What the loop takes from the console it runs on (`'a`: the console's lifetime).
pub struct Context<'a> {
    /// Told on every alert when `[alerts] bell = true`.
    pub bell: Option<Arc<Notify>>,
    /// `[console] confirm = "always"`.
    pub confirm_always: bool,
    /// Set when this is a read-only viewer of another console.
    pub viewing: Option<Viewing>,
    /// The state dir whose connectors' log files `o` opens and where the view chosen last (`t`)
    /// is kept: a viewer's is the watched console's.
    pub state_dir: PathBuf,
    /// Whether the manifest has `[[host]]`s.
    pub has_hosts: bool,
    /// Starts every failed (or waiting) host link over.
    pub retry_hosts: Box<dyn Fn() + 'a>,
    /// Re-reads the manifest.
    pub reload: Box<dyn Fn() -> Reloading + 'a>,
}

impl<'a> Context<'a> {
    /// What `console` contributes.
    pub fn of(console: &'a Console) -> Context<'a> {
        let state_dir = match &console.viewing {
            Some(v) => v.state_dir.clone(),
            None => console.engine.state_dir().to_path_buf(),
        };
        let reloader = console.reloader.clone();
        Context {
            bell: console.bell(),
            confirm_always: console.settings.confirm_always,
            viewing: console.viewing.clone(),
            state_dir,
            has_hosts: !console.hosts.is_empty(),
            retry_hosts: Box::new(|| console.retry_hosts()),
            reload: Box::new(move || {
                let r = reloader.clone();
                Box::pin(async move {
                    match r.reload().await {
                        Ok(report) => report.sentence(),
                        Err(e) => format!("reload refused: {e}"),
                    }
                })
            }),
        }
    }
}
