//! Test fixture: a private directory with its own iceoryx2 world (root and shm prefix), manifests
//! of sim-connectors, and cleanup that kills every process started in it, even when a test fails.
#![allow(dead_code)]

pub mod pty;

use std::path::{Path, PathBuf};
use std::time::Duration;

use switchboard::engine::io::ipc;
use switchboard::{ConnectorView, EngineHandle, Phase};

pub const SIM: &str = env!("CARGO_BIN_EXE_sim-connector");
pub const BOT: &str = env!("CARGO_BIN_EXE_sim-bot");
pub const SWITCHBOARD: &str = env!("CARGO_BIN_EXE_switchboard");

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub prefix: String,
}

impl Fixture {
    /// A fresh directory whose `config/iceoryx2.toml` gives it a private iceoryx2 root and prefix.
    pub fn new(label: &str) -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix(&format!("sb-{label}-"))
            .tempdir()
            .expect("tempdir");
        let prefix = format!("sbt{}_", fastrand::u32(..));
        ipc::write_private_config(dir.path(), &dir.path().join("iox"), &prefix)
            .expect("iceoryx2 config");
        std::fs::write(
            dir.path().join("channel.toml"),
            "buffer_size = 64\nmax_bots = 8\n",
        )
        .expect("channel config");
        Fixture { dir, prefix }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a binancefutures config named `file` with the given `[sim]` lines.
    pub fn sim_config(&self, file: &str, sim: &str) -> PathBuf {
        let p = self.path().join(file);
        std::fs::write(
            &p,
            format!(
                "stream_url = \"wss://fstream.binance.com/ws\"\napi_url = \"https://fapi.binance.com\"\napi_key = \"APIKEY-{0}\"\nsecret = \"SECRET-{0}\"\n\n[sim]\n{sim}\n",
                self.prefix
            ),
        )
        .expect("write config");
        p
    }

    /// Writes `switchboard.toml` with `[defaults]` pointing at this fixture and the sim binary,
    /// followed by `body` (connector tables, extra keys).
    pub fn manifest(&self, defaults_extra: &str, body: &str) -> PathBuf {
        let p = self.path().join("switchboard.toml");
        std::fs::write(
            &p,
            format!(
                "[defaults]\nproject_root = \"{root}\"\nbinary = \"{SIM}\"\nenv = {{ HFTBACKTEST_CHANNEL_CONFIG = \"{root}/channel.toml\", RUST_LOG = \"info\", NO_COLOR = \"1\" }}\n{defaults_extra}\n\n{body}\n",
                root = self.path().display()
            ),
        )
        .expect("write manifest");
        p
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.path()
            .join(".switchboard/logs")
            .join(format!("{name}.log"))
    }

    /// A command for a helper binary run inside this fixture's iceoryx2 world.
    pub fn command(&self, bin: &str) -> std::process::Command {
        let mut c = std::process::Command::new(bin);
        c.current_dir(self.path())
            .env(
                "HFTBACKTEST_CHANNEL_CONFIG",
                self.path().join("channel.toml"),
            )
            .env("NO_COLOR", "1");
        c
    }

    /// Runs `switchboard ARGS --manifest <this fixture's manifest>` to completion.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(SWITCHBOARD)
            .args(args)
            .arg("--manifest")
            .arg(self.path().join("switchboard.toml"))
            .current_dir(self.path())
            .output()
            .expect("run switchboard")
    }

    /// `switchboard status --json`, parsed (it must exit 0).
    pub fn status(&self) -> Vec<switchboard::ConnectorView> {
        let out = self.run(&["status", "--json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("status --json is a JSON array")
    }

    /// The PID `status` reports for connector `name`.
    pub fn pid_of(&self, name: &str) -> Option<i32> {
        self.status()
            .into_iter()
            .find(|r| r.name == name)
            .and_then(|r| r.pid)
    }

    /// `switchboard run --headless` on this fixture, output discarded.
    pub fn headless(&self) -> std::process::Child {
        std::process::Command::new(SWITCHBOARD)
            .args(["run", "--headless", "--manifest"])
            .arg(self.path().join("switchboard.toml"))
            .current_dir(self.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("headless")
    }

    /// Starts a sim-bot on connector `name`.
    pub fn bot(&self, name: &str) -> std::process::Child {
        self.command(BOT)
            .arg(name)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn sim-bot")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Kill every process whose command line mentions this fixture (connectors get their
        // config path from here; helpers run with cwd here).
        let me = std::process::id();
        let needle = self.path().display().to_string();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for e in entries.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                if pid == me {
                    continue;
                }
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&needle)
                    || cwd.starts_with(self.path())
                {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir("/dev/shm") {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&self.prefix) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

/// `switchboard run --headless` on the fixture; its stderr lines arrive on a channel.
pub struct HeadlessConsole {
    pub child: std::process::Child,
    pub stderr: std::sync::mpsc::Receiver<String>,
}

impl HeadlessConsole {
    pub fn start(fx: &Fixture, env: &[(&str, String)]) -> HeadlessConsole {
        let mut child = std::process::Command::new(SWITCHBOARD)
            .args(["run", "--headless", "--manifest"])
            .arg(fx.path().join("switchboard.toml"))
            .current_dir(fx.path())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn headless");
        let err = child.stderr.take().expect("stderr");
        let (tx, stderr) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(err)).map_while(Result::ok)
            {
                eprintln!("[console] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        HeadlessConsole { child, stderr }
    }

    /// The first stderr line containing `needle`.
    pub fn line_with(&self, needle: &str, secs: u64) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(_) => panic!("no console line with {needle:?} within {secs} s"),
            }
        }
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig)
            .expect("signal the console");
    }

    /// SIGTERM, then its exit code (within `secs`).
    pub fn stop(mut self, secs: u64) -> (Option<i32>, std::time::Duration) {
        let t0 = std::time::Instant::now();
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let deadline = t0 + std::time::Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status.code(), t0.elapsed());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the console did not exit within {secs} s of SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for HeadlessConsole {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An engine on `manifest` that starts nothing by itself.
pub async fn start_engine(manifest: &Path) -> EngineHandle {
    let m = switchboard::Manifest::load(manifest).expect("valid manifest");
    switchboard::Engine::start(
        m,
        switchboard::EngineOptions {
            autostart: false,
            start_all: false,
            ..switchboard::EngineOptions::default()
        },
    )
    .await
    .expect("engine starts")
}

/// Stops everything and waits (at most 15 s) for the engine to end.
pub async fn stop_engine(h: &EngineHandle) {
    h.shutdown();
    tokio::time::timeout(Duration::from_secs(15), h.await_shutdown())
        .await
        .expect("engine shuts down");
}

/// A `[[connector]]` table of a binancefutures sim connector, plus `extra` keys.
pub fn connector_table(name: &str, config: &str, extra: &str) -> String {
    format!("[[connector]]\nname = \"{name}\"\ntype = \"binancefutures\"\nconfig = \"{config}\"\n{extra}\n")
}

/// Waits until connector `name`'s snapshot satisfies `pred`, or panics with the last snapshot.
pub async fn wait_for(
    handle: &EngineHandle,
    name: &str,
    timeout: Duration,
    pred: impl Fn(&ConnectorView) -> bool,
) -> ConnectorView {
    let mut rx = handle.views();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let snap = rx
            .borrow_and_update()
            .iter()
            .find(|c| c.name == name)
            .cloned()
            .expect("connector in snapshot");
        if pred(&snap) {
            return snap;
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("engine ended while waiting for {name}; last: {snap:?}"),
            Err(_) => {
                let proc_state = snap
                    .pid
                    .and_then(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok());
                panic!("timed out waiting for {name}; last: {snap:?}; /proc stat: {proc_state:?}")
            }
        }
    }
}

pub async fn wait_phase(
    handle: &EngineHandle,
    name: &str,
    phase: Phase,
    secs: f64,
) -> ConnectorView {
    wait_for(handle, name, Duration::from_secs_f64(secs), |c| {
        c.phase == phase
    })
    .await
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Polls `f` every 20 ms until it returns true or `secs` pass.
pub fn eventually(secs: f64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// A test that cannot run on this machine (`why`) says SKIPPED and passes, except as root with
/// `CI` set: CI (`.ci/run`, as root) installs what such a test needs, so a skip there means the
/// test silently did not run; it fails instead.
pub fn skip_or_fail(test: &str, why: &str) {
    skip_or_fail_as(
        test,
        why,
        nix::unistd::Uid::effective().is_root(),
        std::env::var_os("CI"),
    )
}

/// [`skip_or_fail`] with who runs it and the value of `CI` given.
pub fn skip_or_fail_as(test: &str, why: &str, root: bool, ci: Option<std::ffi::OsString>) {
    let in_ci = ci.is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    if root && in_ci {
        panic!("{test} could not run in CI as root (it must, not skip): {why}");
    }
    eprintln!("SKIPPED {test}: {why}");
}
