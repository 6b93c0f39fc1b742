//! The terminal writer: while the TUI runs, the one thread that writes to the terminal. The event
//! loop draws each frame off-screen and hands it over ([`Writer::frame`]); this thread paints the
//! newest one, as ratatui's diff against what it painted last. A terminal that reads nothing (a
//! frozen SSH session, a suspended terminal emulator) blocks this thread in write(2), and only
//! it: the loop goes on answering signals and keys, the engine goes on with connectors and
//! commands, and the frames drawn meanwhile are dropped but the newest, which is painted once the
//! terminal reads again.

use std::collections::VecDeque;
use std::io::{Stdout, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crossterm::execute;
use ratatui::backend::CrosstermBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use tokio::sync::oneshot;

/// What the writer is asked to do, in the order asked.
enum Out {
    /// A whole frame; a newer one asked for right after replaces it.
    Frame(Buffer),
    /// The terminal bell.
    Bell,
    /// Text for the clipboard (OSC 52).
    Copy(String),
    /// Mouse capture on or off.
    Mouse(bool),
    /// Hands the terminal to another program (the pager): puts it back as it was, then says so.
    Lend(oneshot::Sender<()>),
    /// Takes the terminal back from that program (with mouse capture if `mouse`): clears it and
    /// forgets the last frame, so the next one is painted whole, then says how it went.
    TakeBack {
        mouse: bool,
        done: oneshot::Sender<Result<(), String>>,
    },
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Out>,
    /// The TUI has ended: put the terminal back and stop.
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, out: Out) {
        let mut q = self.lock();
        match (q.items.back_mut(), out) {
            // Only the newest frame is worth painting.
            (Some(Out::Frame(last)), Out::Frame(newer)) => *last = newer,
            // A bell not rung yet is not rung twice.
            (Some(Out::Bell), Out::Bell) => {}
            (_, out) => q.items.push_back(out),
        }
        self.wake.notify_one();
    }
}

/// The terminal writer's thread. Dropping it puts the terminal back (raw mode off, main screen,
/// cursor, mouse) once what was asked before has been written, so a drop waits for a terminal
/// that reads nothing.
pub struct Writer {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    /// Starts the thread on `terminal` (set up: raw mode, alternate screen).
    pub fn start(terminal: Terminal<CrosstermBackend<Stdout>>) -> std::io::Result<Writer> {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("switchboard-tty".into())
            .spawn(move || write_loop(terminal, &s))?;
        Ok(Writer {
            shared,
            thread: Some(thread),
        })
    }

    /// Paints `frame` (unless a newer one comes before the terminal has taken it).
    pub fn frame(&self, frame: Buffer) {
        self.shared.push(Out::Frame(frame));
    }

    /// Rings the terminal bell.
    pub fn bell(&self) {
        self.shared.push(Out::Bell);
    }

    /// Puts `text` on the clipboard of the operator's terminal (OSC 52).
    pub fn copy(&self, text: String) {
        self.shared.push(Out::Copy(text));
    }

    /// Turns mouse capture on or off.
    pub fn mouse(&self, on: bool) {
        self.shared.push(Out::Mouse(on));
    }

    /// Hands the terminal to another program: resolves once it is back to how it was.
    pub async fn lend(&self) {
        let (tx, rx) = oneshot::channel();
        self.shared.push(Out::Lend(tx));
        let _ = rx.await;
    }

    /// Takes the terminal back after [`Writer::lend`]: resolves once it is ours again.
    pub async fn take_back(&self, mouse: bool) -> Result<(), String> {
        let (done, rx) = oneshot::channel();
        self.shared.push(Out::TakeBack { mouse, done });
        rx.await
            .unwrap_or_else(|_| Err("the terminal writer has ended".into()))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                // It panicked: put the terminal back from here.
                super::restore_terminal();
            }
        }
    }
}

fn write_loop(mut terminal: Terminal<CrosstermBackend<Stdout>>, shared: &Shared) {
    // Failures are logged once until painting works again (a gone terminal fails every frame).
    let mut failing = false;
    loop {
        let next = {
            let mut q = shared.lock();
            loop {
                if q.closed {
                    break None;
                }
                if let Some(out) = q.items.pop_front() {
                    break Some(out);
                }
                q = shared.wake.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        let Some(out) = next else {
            super::restore_terminal();
            return;
        };
        match out {
            Out::Frame(frame) => match paint(&mut terminal, &frame) {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::error!("drawing failed: {e}");
                }
                Err(_) => {}
            },
            Out::Bell => {
                let mut out = std::io::stdout();
                let _ = out.write_all(b"\x07").and_then(|_| out.flush());
            }
            Out::Copy(text) => {
                // crossterm's own command (its osc52 feature base64-encodes).
                let _ = execute!(
                    std::io::stdout(),
                    crossterm::clipboard::CopyToClipboard::to_clipboard_from(text)
                );
            }
            Out::Mouse(on) => {
                let _ = if on {
                    execute!(std::io::stdout(), crossterm::event::EnableMouseCapture)
                } else {
                    execute!(std::io::stdout(), crossterm::event::DisableMouseCapture)
                };
            }
            Out::Lend(done) => {
                super::restore_terminal();
                let _ = done.send(());
            }
            Out::TakeBack { mouse, done } => {
                let _ = done.send(take_back(&mut terminal, mouse));
            }
        }
    }
}

/// Paints `frame` over what was painted last (only the cells that differ are written). A
/// terminal resized since the frame was drawn gets the part that fits; the next frame fits.
fn paint(terminal: &mut Terminal<CrosstermBackend<Stdout>>, frame: &Buffer) -> std::io::Result<()> {
    terminal.draw(|f| {
        let buf = f.buffer_mut();
        if buf.area == frame.area {
            buf.content.clone_from(&frame.content);
        } else {
            let (w, h) = (
                buf.area.width.min(frame.area.width),
                buf.area.height.min(frame.area.height),
            );
            for y in 0..h {
                for x in 0..w {
                    if let (Some(to), Some(from)) = (buf.cell_mut((x, y)), frame.cell((x, y))) {
                        to.clone_from(from);
                    }
                }
            }
        }
    })?;
    Ok(())
}

/// The terminal back from a pager that drew over everything: raw mode, alternate screen, the
/// screen cleared, and ratatui made to forget the last frame (an empty frame leaves its back
/// buffer blank), so the next frame is painted whole. `Terminal::clear` would ask the terminal
/// where its cursor is, and a terminal that does not answer would leave the old frame as the base.
fn take_back(terminal: &mut Terminal<CrosstermBackend<Stdout>>, mouse: bool) -> Result<(), String> {
    let back = crossterm::terminal::enable_raw_mode().and_then(|_| {
        execute!(
            std::io::stdout(),
            crossterm::terminal::EnterAlternateScreen,
            crossterm::cursor::Hide
        )
    });
    if mouse {
        let _ = execute!(std::io::stdout(), crossterm::event::EnableMouseCapture);
    }
    let _ = execute!(
        std::io::stdout(),
        crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
    );
    let _ = terminal.draw(|_| {});
    back.map_err(|e| format!("cannot take the terminal back: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Out {
        Out::Frame(Buffer::with_lines([text]))
    }

    fn shown(q: &Queue) -> Vec<String> {
        q.items
            .iter()
            .map(|o| match o {
                Out::Frame(b) => format!(
                    "frame {}",
                    b.content.iter().map(|c| c.symbol()).collect::<String>()
                ),
                Out::Bell => "bell".into(),
                Out::Copy(t) => format!("copy {t}"),
                Out::Mouse(on) => format!("mouse {on}"),
                Out::Lend(_) => "lend".into(),
                Out::TakeBack { .. } => "take back".into(),
            })
            .collect()
    }

    #[test]
    fn frames_waiting_for_the_terminal_give_way_to_the_newest_and_nothing_else_is_dropped() {
        let s = Shared::default();
        s.push(frame("a"));
        s.push(frame("b"));
        s.push(Out::Bell);
        s.push(Out::Bell);
        s.push(frame("c"));
        s.push(Out::Copy("x".into()));
        s.push(Out::Mouse(false));
        s.push(frame("d"));
        s.push(frame("e"));
        let (tx, _rx) = oneshot::channel();
        s.push(Out::Lend(tx));
        s.push(frame("f"));
        assert_eq!(
            shown(&s.lock()),
            [
                "frame b",
                "bell",
                "frame c",
                "copy x",
                "mouse false",
                "frame e",
                "lend",
                "frame f"
            ]
        );
    }
}
