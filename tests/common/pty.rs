//! A program in a real pseudo-terminal whose screen is read back through a vt100 emulator.
//! Shared by the end-to-end TUI tests and the benchmark (`#[path]`-included there).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, PtySize};

pub struct Pty {
    pub child: Box<dyn portable_pty::Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    screen: Arc<Mutex<vt100::Parser>>,
    /// While set, nobody reads the terminal (a frozen terminal): what the program writes
    /// fills the kernel's buffer, then its writes block.
    paused: Arc<AtomicBool>,
    /// When the program was spawned.
    pub started: Instant,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Pty {
    /// Spawns `cmd` in a `rows`×`cols` terminal and starts reading what it draws.
    pub fn spawn(cmd: CommandBuilder, rows: u16, cols: u16) -> Pty {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let started = Instant::now();
        let child = pair.slave.spawn_command(cmd).expect("spawn in a pty");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("reader");
        let writer = pair.master.take_writer().expect("writer");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let s = screen.clone();
        let paused = Arc::new(AtomicBool::new(false));
        let p = paused.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                while p.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let Ok(n) = reader.read(&mut buf) else { break };
                if n == 0 {
                    break;
                }
                s.lock().expect("screen").process(&buf[..n]);
            }
        });
        Pty {
            child,
            writer,
            screen,
            paused,
            started,
            _master: pair.master,
        }
    }

    /// The screen's text now.
    pub fn text(&self) -> String {
        self.screen.lock().expect("screen").screen().contents()
    }

    pub fn contains(&self, text: &str) -> bool {
        self.text().contains(text)
    }

    /// Stops reading the terminal (after the read under way, if any): the program's output
    /// piles up in the kernel until its writes block.
    pub fn pause_reading(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    /// Reads the terminal again.
    pub fn resume_reading(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }

    /// Types `keys` into the terminal.
    pub fn type_keys(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("type");
        self.writer.flush().expect("flush");
    }

    pub fn pid(&self) -> u32 {
        self.child.process_id().unwrap_or(0)
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        self.resume_reading();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
