//! `cargo bench --bench console [-- --quick | --only-feed | --only-flood | --only-idle-tui | --only-idle-headless | --only-latency | --only-status | --only-scale]`: switchboard against the physical limit (a child
//! writing to a plain file), mprocs and supervisord, measured side by side in one run. Every
//! figure is the median of several runs; comparisons are ratios from the same run.
//!
//! The full run installs its peers on first use: mprocs with `cargo install` into
//! `target/bench-tools`, supervisor with pip into a virtual environment there. `--quick` uses
//! smaller sizes, shorter idle windows, and no peers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard::engine::io::ipc;

#[path = "../tests/common/pty.rs"]
mod pty;
use pty::Pty;

const SWITCHBOARD: &str = env!("CARGO_BIN_EXE_switchboard");
/// The switchboard binary the next measurement runs: this build's, or for a before/after
/// comparison in one run (`--only-idle-tui` or `--only-idle-headless` with `SB_BENCH_BEFORE=PATH`) another build's.
static BIN: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

fn sb() -> String {
    BIN.lock()
        .ok()
        .and_then(|b| b.clone())
        .unwrap_or_else(|| SWITCHBOARD.to_string())
}

fn use_bin(path: Option<&str>) {
    if let Ok(mut b) = BIN.lock() {
        *b = path.map(str::to_string);
    }
}
const SIM: &str = env!("CARGO_BIN_EXE_sim-connector");
const BOT: &str = env!("CARGO_BIN_EXE_sim-bot");
const LINE_BYTES: usize = 129;

struct Opts {
    quick: bool,
    runs: usize,
    tools: PathBuf,
}

// ---- small utilities ---------------------------------------------------------------------------

fn ticks_per_sec() -> f64 {
    100.0 // CLK_TCK on Linux
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let st: f64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    (ut + st) / ticks_per_sec()
}

/// A `VmRSS:`-style field of /proc/PID/status, in MB.
fn status_mb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn wait_until(secs: f64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
}

/// Parses our RFC 3339 UTC timestamps (`2026-11-22T04:36:16.760Z`) into Unix seconds.
fn parse_ts(ts: &str) -> f64 {
    let n = |a: usize, b: usize| {
        ts.get(a..b)
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (hh, mm) = (n(11, 13), n(14, 16));
    let ss: f64 = ts
        .get(17..ts.len() - 1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + hh * 3600 + mm * 60) as f64 + ss
}

/// Milestones a sim-connector appended to `$SIM_REPORT`.
fn report(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn wait_event(path: &Path, event: &str, count: usize, secs: f64) -> Vec<serde_json::Value> {
    let mut found = Vec::new();
    wait_until(secs, || {
        found = report(path)
            .into_iter()
            .filter(|v| v["event"] == event)
            .collect();
        found.len() >= count
    });
    found
}

/// A scratch directory with its own iceoryx2 world.
fn world(label: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("sb-bench-{label}-"))
        .tempdir()
        .expect("tempdir");
    let prefix = format!("sbb{}_", fastrand::u32(..));
    ipc::write_private_config(dir.path(), &dir.path().join("iox"), &prefix).expect("iox config");
    std::fs::write(
        dir.path().join("channel.toml"),
        "buffer_size = 64\nmax_bots = 8\n",
    )
    .expect("w");
    std::fs::write(dir.path().join("prefix"), &prefix).expect("w");
    dir
}

fn cleanup(dir: &Path) {
    let needle = dir.display().to_string();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
            if pid != std::process::id()
                && (String::from_utf8_lossy(&cmd).contains(&needle) || cwd.starts_with(dir))
            {
                signal(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
    if let Ok(prefix) = std::fs::read_to_string(dir.join("prefix")) {
        if let Ok(entries) = std::fs::read_dir("/dev/shm") {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(prefix.trim()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

fn sim_config(dir: &Path, file: &str, sim: &str) -> PathBuf {
    let p = dir.join(file);
    std::fs::write(
        &p,
        format!("stream_url = \"wss://x\"\napi_url = \"https://x\"\n\n[sim]\nlines_per_sec = 0.0\n{sim}\n"),
    )
    .expect("config");
    p
}

fn manifest(dir: &Path, console: &str, defaults: &str, names: &[&str], config: &str) -> PathBuf {
    let mut text = format!(
        "[console]\n{console}\n\n[defaults]\nproject_root = \"{root}\"\nbinary = \"{SIM}\"\nrestart = {{ policy = \"never\" }}\nenv = {{ HFTBACKTEST_CHANNEL_CONFIG = \"{root}/channel.toml\", SIM_REPORT = \"{root}/report.jsonl\", NO_COLOR = \"1\" }}\n{defaults}\n",
        root = dir.display()
    );
    for n in names {
        text.push_str(&format!(
            "\n[[connector]]\nname = \"{n}\"\ntype = \"binancefutures\"\nconfig = \"{config}\"\n"
        ));
    }
    let p = dir.join("switchboard.toml");
    std::fs::write(&p, text).expect("manifest");
    p
}

fn headless(manifest: &Path, json_out: Option<&Path>) -> Child {
    let stdout = match json_out {
        Some(p) => Stdio::from(std::fs::File::create(p).expect("out")),
        None => Stdio::null(),
    };
    Command::new(sb())
        .args(["run", "--headless", "--json", "--manifest"])
        .arg(manifest)
        .current_dir(manifest.parent().expect("dir"))
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .expect("switchboard")
}

fn tui(manifest: &Path, rows: u16, cols: u16) -> Pty {
    let mut cmd = portable_pty::CommandBuilder::new(sb());
    cmd.arg("--manifest");
    cmd.arg(manifest);
    cmd.cwd(manifest.parent().expect("dir"));
    cmd.env("TERM", "xterm-256color");
    Pty::spawn(cmd, rows, cols)
}

// ---- peers -------------------------------------------------------------------------------------

fn mprocs(opts: &Opts) -> Option<PathBuf> {
    let bin = opts.tools.join("bin/mprocs");
    if bin.is_file() {
        return Some(bin);
    }
    eprintln!("installing mprocs with cargo install (once) …");
    let ok = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["install", "mprocs", "--locked", "--root"])
        .arg(&opts.tools)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    (ok && bin.is_file()).then_some(bin)
}

fn supervisord(opts: &Opts) -> Option<PathBuf> {
    let venv = opts.tools.join("venv");
    let bin = venv.join("bin/supervisord");
    if bin.is_file() {
        return Some(bin);
    }
    if opts.quick {
        return None;
    }
    eprintln!(
        "installing supervisor with pip into {} (once) …",
        venv.display()
    );
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
        && Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "supervisor"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    (ok && bin.is_file()).then_some(bin)
}

#[derive(Clone, Copy, PartialEq)]
enum Host {
    Limit,
    Switchboard,
    Mprocs,
    Supervisord,
}

impl Host {
    fn name(self) -> &'static str {
        match self {
            Host::Limit => "plain file (limit)",
            Host::Switchboard => "switchboard",
            Host::Mprocs => "mprocs (pty)",
            Host::Supervisord => "supervisord",
        }
    }
}

/// A running console (or none, for the limit) hosting one flooding sim.
struct Hosted {
    console: Option<u32>,
    guard: Vec<Child>,
    /// Held for its Drop: closes the pty and kills the program in it.
    _pty: Option<Pty>,
}

impl Drop for Hosted {
    fn drop(&mut self) {
        for c in &mut self.guard {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn host_flood(
    host: Host,
    dir: &Path,
    lines: u64,
    tools: (&Option<PathBuf>, &Option<PathBuf>),
) -> Option<Hosted> {
    let cfg = sim_config(
        dir,
        "flood.toml",
        &format!("flood_lines = {lines}\nline_bytes = {LINE_BYTES}\nexit_after_flood = true"),
    );
    let report = dir.join("report.jsonl");
    let sim_cmd = |name: &str| {
        let mut c = Command::new(SIM);
        c.args([name, "binancefutures"])
            .arg(&cfg)
            .current_dir(dir)
            .env("SIM_REPORT", &report)
            .env("HFTBACKTEST_CHANNEL_CONFIG", dir.join("channel.toml"))
            .env("NO_COLOR", "1");
        c
    };
    match host {
        Host::Limit => {
            let out = std::fs::File::create(dir.join("plain.log")).expect("file");
            let child = sim_cmd("fl-limit")
                .stdout(out)
                .stderr(Stdio::null())
                .spawn()
                .expect("sim");
            Some(Hosted {
                console: None,
                guard: vec![child],
                _pty: None,
            })
        }
        Host::Switchboard => {
            let m = manifest(dir, "", "", &["fl-sb"], "flood.toml");
            let child = headless(&m, None);
            Some(Hosted {
                console: Some(child.id()),
                guard: vec![child],
                _pty: None,
            })
        }
        Host::Mprocs => {
            let bin = tools.0.as_ref()?;
            let yaml = format!(
                "procs:\n  flood:\n    cmd: [\"{SIM}\", \"fl-mp\", \"binancefutures\", \"{}\"]\n    env:\n      SIM_REPORT: \"{}\"\n      HFTBACKTEST_CHANNEL_CONFIG: \"{}\"\n      NO_COLOR: \"1\"\n",
                cfg.display(),
                report.display(),
                dir.join("channel.toml").display()
            );
            std::fs::write(dir.join("mprocs.yaml"), yaml).expect("yaml");
            let mut cmd = portable_pty::CommandBuilder::new(bin);
            cmd.args(["--config", "mprocs.yaml"]);
            cmd.cwd(dir);
            cmd.env("TERM", "xterm-256color");
            let pty = Pty::spawn(cmd, 40, 120);
            Some(Hosted {
                console: Some(pty.pid()),
                guard: vec![],
                _pty: Some(pty),
            })
        }
        Host::Supervisord => {
            let bin = tools.1.as_ref()?;
            let conf = format!(
                "[supervisord]\nnodaemon=true\nlogfile={d}/supervisord.log\npidfile={d}/supervisord.pid\n\n[program:flood]\ncommand={SIM} fl-sv binancefutures {cfg}\ndirectory={d}\nenvironment=SIM_REPORT=\"{d}/report.jsonl\",HFTBACKTEST_CHANNEL_CONFIG=\"{d}/channel.toml\",NO_COLOR=\"1\"\nstdout_logfile={d}/flood.log\nstdout_logfile_maxbytes=64MB\nredirect_stderr=true\nautostart=true\nautorestart=false\nstartsecs=0\n",
                d = dir.display(),
                cfg = cfg.display()
            );
            std::fs::write(dir.join("supervisord.conf"), conf).expect("conf");
            let child = Command::new(bin)
                .args(["-c", "supervisord.conf"])
                .current_dir(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("supervisord");
            Some(Hosted {
                console: Some(child.id()),
                guard: vec![child],
                _pty: None,
            })
        }
    }
}

/// One flood: the child's own wall time and the console's CPU seconds for it.
/// switchboard's log relays started for connectors in `dir` (their `--file` is under it).
fn relays_in(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| {
                    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    let cmd = String::from_utf8_lossy(&cmd);
                    cmd.contains("log-relay") && cmd.contains(&needle)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The child's wall time for the flood, the console's CPU, and (switchboard) its log relays' CPU.
fn flood_once(
    host: Host,
    lines: u64,
    tools: (&Option<PathBuf>, &Option<PathBuf>),
) -> Option<(f64, f64, f64)> {
    let dir = world("flood");
    let hosted = host_flood(host, dir.path(), lines, tools)?;
    let report = dir.path().join("report.jsonl");
    let services = wait_event(&report, "services", 1, 60.0);
    services.first()?;
    // The relays end with the flood child (exit_after_flood): sample their CPU while they live
    // and keep each one's last reading (a final < 20 ms is missed, so this is a lower bound).
    let relays = relays_in(dir.path());
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        let relays = relays.clone();
        std::thread::spawn(move || {
            let mut last = vec![0.0f64; relays.len()];
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                for (i, p) in relays.iter().enumerate() {
                    let now = cpu_secs(*p);
                    if now > 0.0 {
                        last[i] = now;
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            last.iter().sum::<f64>()
        })
    };
    let relay0: f64 = relays.iter().map(|p| cpu_secs(*p)).sum();
    let cpu0 = hosted.console.map(cpu_secs).unwrap_or(0.0);
    let flood = wait_event(&report, "flood", 1, 600.0);
    let secs = flood.first()?["secs"].as_f64()?;
    // Let the console finish reading what was written, then take its CPU.
    let mut cpu = hosted.console.map(cpu_secs).unwrap_or(0.0);
    if let Some(pid) = hosted.console {
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(200));
            let now = cpu_secs(pid);
            if now == cpu {
                break;
            }
            cpu = now;
        }
    }
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let relay = sampler.join().unwrap_or(0.0) - relay0;
    drop(hosted);
    cleanup(dir.path());
    Some((secs, cpu - cpu0, relay))
}

/// The child's CPU in a 2 s window with the console running, then with it SIGSTOPped.
fn frozen_once(host: Host, tools: (&Option<PathBuf>, &Option<PathBuf>)) -> Option<(f64, f64)> {
    let dir = world("frozen");
    let hosted = host_flood(host, dir.path(), 200_000_000, tools)?;
    let report = dir.path().join("report.jsonl");
    let services = wait_event(&report, "services", 1, 60.0);
    let child = services.first()?["pid"].as_u64()? as u32;
    std::thread::sleep(Duration::from_millis(500));
    let a = cpu_secs(child);
    std::thread::sleep(Duration::from_secs(2));
    let running = cpu_secs(child) - a;
    let console = hosted.console?;
    signal(console, nix::sys::signal::Signal::SIGSTOP);
    let b = cpu_secs(child);
    std::thread::sleep(Duration::from_secs(2));
    let stopped = cpu_secs(child) - b;
    signal(console, nix::sys::signal::Signal::SIGCONT);
    signal(child, nix::sys::signal::Signal::SIGKILL);
    drop(hosted);
    cleanup(dir.path());
    Some((running, stopped))
}

// ---- switchboard-only measurements --------------------------------------------------------------

fn all_ready(manifest: &Path, n: usize) -> bool {
    let out = Command::new(sb())
        .args(["status", "--json", "--manifest"])
        .arg(manifest)
        .output();
    let Ok(out) = out else { return false };
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    rows.len() == n && rows.iter().all(|r| r["phase"] == "ready")
}

const EIGHT: [&str; 8] = ["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7"];

/// Console CPU (% of one core) and RSS (MB) with 8 quiet ready connectors.
fn idle_once(with_tui: bool, window: Duration) -> (f64, f64) {
    let dir = world("idle");
    sim_config(dir.path(), "q.toml", "");
    let m = manifest(dir.path(), "", "", &EIGHT, "q.toml");
    let (pid, _keep_child, _keep_pty) = if with_tui {
        let p = tui(&m, 50, 200);
        (p.pid(), None, Some(p))
    } else {
        let c = headless(&m, None);
        (c.id(), Some(c), None)
    };
    assert!(wait_until(60.0, || all_ready(&m, 8)), "8 connectors ready");
    std::thread::sleep(Duration::from_secs(2));
    let c0 = cpu_secs(pid);
    std::thread::sleep(window);
    let cpu = (cpu_secs(pid) - c0) / window.as_secs_f64() * 100.0;
    let rss = status_mb(pid, "VmRSS:");
    if let Some(mut c) = _keep_child {
        let _ = c.kill();
        let _ = c.wait();
    }
    drop(_keep_pty);
    cleanup(dir.path());
    (cpu, rss)
}

/// `status --json` of a manifest's console, parsed (empty on any error).
fn status_rows(manifest: &Path) -> Vec<serde_json::Value> {
    Command::new(sb())
        .args(["status", "--json", "--manifest"])
        .arg(manifest)
        .output()
        .ok()
        .and_then(|o| serde_json::from_slice(&o.stdout).ok())
        .unwrap_or_default()
}

/// What one feed burst measured.
struct FeedRun {
    /// Events per second the publisher reached.
    rate: f64,
    /// Console CPU seconds per million events published (metered runs only).
    cpu_per_m: Option<f64>,
    /// Events the meter counted, and whether it says they are a lower bound.
    metered: Option<(u64, bool)>,
}

/// A sim-connector publishes `events` Feed events of 256 B as fast as it can, once a sim bot
/// registers, with the real default channel (buffer 10000). `with_console`: under a headless
/// console whose meter is attached; else the connector alone, started the same way.
fn feed_once(with_console: bool, second_bot: bool, events: u64) -> FeedRun {
    let dir = world("feed");
    let root = dir.path();
    std::fs::write(
        root.join("channel.toml"),
        "buffer_size = 10000\nmax_bots = 200\n",
    )
    .expect("channel");
    let cfg = sim_config(
        root,
        "f.toml",
        &format!("feed_hz = 0.0\nfeed_burst = {events}\nfeed_bytes = 256"),
    );
    let report_path = root.join("report.jsonl");
    let m = manifest(root, "", "", &["feed0"], "f.toml");
    let mut console = None;
    let mut alone = None;
    if with_console {
        let c = headless(&m, None);
        assert!(wait_until(60.0, || all_ready(&m, 1)), "ready");
        assert!(
            wait_until(10.0, || status_rows(&m)
                .first()
                .is_some_and(|r| !r["feed"].is_null())),
            "metered"
        );
        console = Some(c);
    } else {
        let c = Command::new(SIM)
            .args(["feed0", "binancefutures"])
            .arg(&cfg)
            .current_dir(root)
            .env("HFTBACKTEST_CHANNEL_CONFIG", root.join("channel.toml"))
            .env("SIM_REPORT", &report_path)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sim");
        wait_event(&report_path, "services", 1, 30.0);
        alone = Some(c);
    }
    let console_pid = console.as_ref().map(|c| c.id());
    let c0 = console_pid.map(cpu_secs);
    // A second subscriber of another kind, for comparison: a bot that registers nothing.
    let mut other = second_bot.then(|| {
        Command::new(BOT)
            .args(["feed0", "NOSUCHSYMBOL"])
            .current_dir(root)
            .env("HFTBACKTEST_CHANNEL_CONFIG", root.join("channel.toml"))
            .stdout(Stdio::null())
            .spawn()
            .expect("bot")
    });
    if second_bot {
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut bot = Command::new(BOT)
        .arg("feed0")
        .current_dir(root)
        .env("HFTBACKTEST_CHANNEL_CONFIG", root.join("channel.toml"))
        .stdout(Stdio::null())
        .spawn()
        .expect("bot");
    let burst = wait_event(&report_path, "feed_burst", 1, 120.0);
    let secs = burst
        .first()
        .and_then(|v| v["secs"].as_f64())
        .expect("burst report");
    // The meter's last drain and report, then the console's CPU.
    std::thread::sleep(Duration::from_millis(1500));
    let cpu = console_pid.map(cpu_secs).zip(c0).map(|(a, b)| a - b);
    let metered = console.as_ref().and_then(|_| {
        let rows = status_rows(&m);
        let f = &rows.first()?["feed"];
        Some((
            f["total"].as_u64()?,
            f["lower_bound"].as_bool().unwrap_or(false),
        ))
    });
    let _ = bot.kill();
    let _ = bot.wait();
    if let Some(o) = other.as_mut() {
        let _ = o.kill();
        let _ = o.wait();
    }
    for mut c in console.into_iter().chain(alone) {
        signal(c.id(), nix::sys::signal::Signal::SIGINT);
        let _ = c.wait();
    }
    cleanup(root);
    FeedRun {
        rate: events as f64 / secs,
        cpu_per_m: cpu.map(|c| c / events as f64 * 1e6),
        metered,
    }
}

/// Console CPU (% of one core) with `n` quiet ready connectors, headless.
fn idle_many_once(n: usize, window: Duration) -> f64 {
    let dir = world("idlemany");
    sim_config(dir.path(), "q.toml", "");
    let names: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let m = manifest(dir.path(), "", "", &names, "q.toml");
    let mut c = headless(&m, None);
    assert!(
        wait_until(120.0, || all_ready(&m, n)),
        "{n} connectors ready"
    );
    std::thread::sleep(Duration::from_secs(2));
    let c0 = cpu_secs(c.id());
    std::thread::sleep(window);
    let cpu = (cpu_secs(c.id()) - c0) / window.as_secs_f64() * 100.0;
    signal(c.id(), nix::sys::signal::Signal::SIGINT);
    let _ = c.wait();
    cleanup(dir.path());
    cpu
}

/// Peak and final RSS (MB) of a headless console while 8 connectors flood `total` lines.
fn memory_once(total: u64) -> (f64, f64) {
    let dir = world("mem");
    sim_config(
        dir.path(),
        "f.toml",
        &format!("flood_lines = {}\nline_bytes = {LINE_BYTES}", total / 8),
    );
    let m = manifest(dir.path(), "scrollback = 10000", "", &EIGHT, "f.toml");
    let mut c = headless(&m, None);
    let report = dir.path().join("report.jsonl");
    wait_event(&report, "flood", 8, 900.0);
    let mut last = cpu_secs(c.id());
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(200));
        let now = cpu_secs(c.id());
        if now == last {
            break;
        }
        last = now;
    }
    let peak = status_mb(c.id(), "VmHWM:");
    let after = status_mb(c.id(), "VmRSS:");
    let _ = c.kill();
    let _ = c.wait();
    cleanup(dir.path());
    (peak, after)
}

fn transitions(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn ts_of(ts: &[serde_json::Value], name: &str, phase: &str) -> Option<f64> {
    ts.iter()
        .find(|t| t["name"] == name && t["phase"] == phase)
        .and_then(|t| t["ts"].as_str())
        .map(parse_ts)
}

/// Readiness latencies (services open → ready) and exit detection latencies (death → exited),
/// in ms, for 8 connectors.
fn ready_and_exit_once() -> (Vec<f64>, Vec<f64>) {
    let dir = world("lat");
    sim_config(dir.path(), "c.toml", "crash_after_ms = 700");
    let m = manifest(dir.path(), "", "", &EIGHT, "c.toml");
    let out = dir.path().join("transitions.jsonl");
    let mut c = headless(&m, Some(&out));
    let report = dir.path().join("report.jsonl");
    wait_event(&report, "crash", 8, 60.0);
    std::thread::sleep(Duration::from_millis(300));
    let ts = transitions(&out);
    let rep = report_by_pid(&report);
    let mut ready = Vec::new();
    let mut exit = Vec::new();
    for n in EIGHT {
        let Some(pid) = ts
            .iter()
            .find(|t| t["name"] == n && t["phase"] == "ready")
            .and_then(|t| t["pid"].as_u64())
        else {
            continue;
        };
        if let (Some(r), Some(s)) = (ts_of(&ts, n, "ready"), rep.get(&(pid, "services".into()))) {
            ready.push((r - s) * 1000.0);
        }
        if let (Some(e), Some(s)) = (ts_of(&ts, n, "exited"), rep.get(&(pid, "crash".into()))) {
            exit.push((e - s) * 1000.0);
        }
    }
    let _ = c.kill();
    let _ = c.wait();
    cleanup(dir.path());
    (ready, exit)
}

fn report_by_pid(path: &Path) -> std::collections::HashMap<(u64, String), f64> {
    report(path)
        .into_iter()
        .filter_map(|v| {
            Some((
                (v["pid"].as_u64()?, v["event"].as_str()?.to_string()),
                v["unix"].as_f64()?,
            ))
        })
        .collect()
}

/// Stop time of connectors that ignore SIGTERM with shutdown_timeout = 1 s, in ms.
fn stop_once() -> Vec<f64> {
    let dir = world("stop");
    sim_config(dir.path(), "i.toml", "ignore_sigterm = true");
    let m = manifest(
        dir.path(),
        "",
        "shutdown_timeout = 1.0",
        &EIGHT[..4],
        "i.toml",
    );
    let out = dir.path().join("transitions.jsonl");
    let mut c = headless(&m, Some(&out));
    assert!(wait_until(60.0, || all_ready(&m, 4)), "ready");
    signal(c.id(), nix::sys::signal::Signal::SIGTERM);
    let _ = c.wait();
    let ts = transitions(&out);
    let v = EIGHT[..4]
        .iter()
        .filter_map(|n| Some((ts_of(&ts, n, "stopped")? - ts_of(&ts, n, "stopping")?) * 1000.0))
        .collect();
    cleanup(dir.path());
    v
}

/// First frame after launch and key press → updated screen, in ms.
fn tui_once() -> (f64, Vec<f64>) {
    let dir = world("tui");
    sim_config(dir.path(), "q.toml", "");
    let m = manifest(dir.path(), "", "autostart = false", &EIGHT[..3], "q.toml");
    let mut p = tui(&m, 40, 120);
    let mut first = f64::NAN;
    if wait_until(10.0, || p.contains("? help")) {
        first = p.started.elapsed().as_secs_f64() * 1000.0;
    }
    let mut keys = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        p.type_keys("?");
        if wait_until(5.0, || p.contains("keys (Esc")) {
            keys.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        p.type_keys("?");
        wait_until(5.0, || !p.contains("keys (Esc"));
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(p);
    cleanup(dir.path());
    (first, keys)
}

// ---- the report ---------------------------------------------------------------------------------

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = status_total_mem();
    format!("{cores} cores ({cpu}), {mem:.0} GiB")
}

fn status_total_mem() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0)
}

/// Why a peer has no figure.
fn unmeasured(quick: bool) -> String {
    if quick {
        "full run only".into()
    } else {
        "not measured (not installed)".into()
    }
}

fn row(what: &str, value: String, target: &str, met: Option<bool>) {
    let verdict = match met {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "",
    };
    println!("| {what} | {value} | {target} | {verdict} |");
}

/// The feed meter's rows: a publisher as fast as it can, with and without the console's meter.
/// The feed publisher alone, with a second bot, and metered; with SB_BENCH_BEFORE=PATH that
/// build's rows beside this one's, the runs alternated (each build's ratio is to its own
/// unmetered runs).
fn feed_section(quick: bool) {
    #[derive(Default)]
    struct Runs {
        alone: Vec<f64>,
        two_bots: Vec<f64>,
        metered: Vec<f64>,
        cpu: Vec<f64>,
        counted: Vec<(u64, bool)>,
    }
    let feed_events: u64 = if quick { 200_000 } else { 1_000_000 };
    let builds = builds();
    let mut per: Vec<Runs> = builds.iter().map(|_| Runs::default()).collect();
    for _ in 0..if quick { 1 } else { 3 } {
        for ((bin, _), runs) in builds.iter().zip(per.iter_mut()) {
            use_bin(bin.as_deref());
            runs.alone.push(feed_once(false, false, feed_events).rate);
            runs.two_bots.push(feed_once(false, true, feed_events).rate);
            let r = feed_once(true, false, feed_events);
            runs.metered.push(r.rate);
            runs.cpu.extend(r.cpu_per_m);
            runs.counted.extend(r.metered);
        }
    }
    use_bin(None);
    for ((_, which), mut runs) in builds.into_iter().zip(per) {
        let (a, mrate, b2) = (
            median(&mut runs.alone),
            median(&mut runs.metered),
            median(&mut runs.two_bots),
        );
        row(
            &format!("feed publisher, {feed_events} events of 256 B, no console{which}"),
            format!("{:.2} M events/s", a / 1e6),
            "",
            None,
        );
        row(
            &format!("… no console, a second bot subscribed instead (for comparison){which}"),
            format!("{:.2} M events/s = {:.3}× one bot", b2 / 1e6, b2 / a),
            "",
            None,
        );
        row(
            &format!("… with the console's meter attached{which}"),
            format!(
                "{:.2} M events/s = {:.3}× unmetered",
                mrate / 1e6,
                mrate / a
            ),
            "≥ 0.98×",
            Some(mrate / a >= 0.98),
        );
        let cm = median(&mut runs.cpu);
        row(
            &format!("… console CPU per 1M events published, metered{which}"),
            format!("{cm:.3} s"),
            "≤ 0.3 s",
            Some(cm <= 0.3),
        );
        if let Some((seen, lower)) = runs.counted.last() {
            row(
                &format!("… events the meter counted (last run){which}"),
                format!(
                    "{seen} of {feed_events}{}",
                    if *lower {
                        " (shown as a lower bound ≥)"
                    } else {
                        ""
                    }
                ),
                "exact ≤ 100k/s, else ≥",
                None,
            );
        }
    }
}

// ---- bot latency (#24) ---------------------------------------------------------------------------

/// Who is attached to the latency benchmark's connector besides the bot.
#[derive(Clone, Copy, PartialEq)]
enum LatMode {
    /// The connector alone, started by the benchmark.
    Alone,
    /// Under a headless console, its meter attached.
    Metered,
    /// Under a headless console that also registers the connector's declared instrument.
    Registering,
}

impl LatMode {
    fn name(self) -> &'static str {
        match self {
            LatMode::Alone => "connector alone",
            LatMode::Metered => "console metering it",
            LatMode::Registering => "console metering + registering",
        }
    }
}

/// Receive latencies (µs) a busy-polling bot measured, and the console's CPU meanwhile.
struct LatRun {
    count: u64,
    p50: f64,
    p99: f64,
    p999: f64,
    console_cpu_pct: Option<f64>,
}

/// Seconds each latency run records: `SB_BENCH_LATENCY_SECS` (default 20, as the issue asks).
fn latency_secs() -> f64 {
    std::env::var("SB_BENCH_LATENCY_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|s: &f64| *s > 0.0)
        .unwrap_or(20.0)
}

/// Pins every thread of `pid` to `core`.
fn pin(pid: u32, core: usize) {
    let mut set = nix::sched::CpuSet::new();
    if set.set(core).is_err() {
        return;
    }
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) {
                let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(tid), &set);
            }
        }
    }
}

/// The pinning layout on this machine: (publisher, bot, console) cores, or None under 4 cores.
fn pin_layout() -> Option<(usize, usize, usize)> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    (cores >= 4).then_some((1, 2, 3))
}

/// A sim-connector publishes `rate` Feed events/s of 256 B, each stamped with its send time; a
/// busy-polling sim-bot records `secs` seconds of receive latencies.
fn latency_once(rate: u64, mode: LatMode, secs: f64) -> Option<LatRun> {
    let dir = world("botlat");
    let root = dir.path();
    std::fs::write(
        root.join("channel.toml"),
        "buffer_size = 10000\nmax_bots = 200\n",
    )
    .expect("channel");
    let cfg = sim_config(
        root,
        "l.toml",
        &format!("feed_hz = {rate}.0\nfeed_bytes = 256\nfeed_stamp = true"),
    );
    let report_path = root.join("report.jsonl");
    let mut console = None;
    let mut alone = None;
    match mode {
        LatMode::Alone => {
            let c = Command::new(SIM)
                .args(["lat0", "binancefutures"])
                .arg(&cfg)
                .current_dir(root)
                .env("HFTBACKTEST_CHANNEL_CONFIG", root.join("channel.toml"))
                .env("SIM_REPORT", &report_path)
                .env("NO_COLOR", "1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("sim");
            alone = Some(c);
        }
        LatMode::Metered | LatMode::Registering => {
            let m = manifest(root, "", "", &["lat0"], "l.toml");
            if mode == LatMode::Registering {
                let text = std::fs::read_to_string(&m).expect("manifest")
                    + "instruments = [{ symbol = \"BTCUSDT\", tick_size = 0.1, lot_size = 0.001 }]\n";
                std::fs::write(&m, text).expect("manifest");
            }
            let c = headless(&m, None);
            assert!(wait_until(60.0, || all_ready(&m, 1)), "ready");
            assert!(
                wait_until(10.0, || status_rows(&m)
                    .first()
                    .is_some_and(|r| !r["feed"].is_null())),
                "metered"
            );
            console = Some(c);
        }
    }
    let services = wait_event(&report_path, "services", 1, 30.0);
    let connector = services.first()?["pid"].as_u64()? as u32;
    let out = root.join("latency.jsonl");
    let mut bot = Command::new(BOT)
        .arg("lat0")
        .current_dir(root)
        .env("HFTBACKTEST_CHANNEL_CONFIG", root.join("channel.toml"))
        .env("SIM_BOT_LATENCY", &out)
        .env("SIM_BOT_LATENCY_SECS", secs.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("bot");
    if let Some((p, b, c)) = pin_layout() {
        pin(connector, p);
        pin(bot.id(), b);
        if let Some(c0) = console.as_ref() {
            pin(c0.id(), c);
        }
    }
    let console_pid = console.as_ref().map(|c| c.id());
    // The console's CPU over the bot's recording window (from its first second of data on).
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = Instant::now();
    let c0 = console_pid.map(cpu_secs);
    let done = wait_until(secs + 60.0, || matches!(bot.try_wait(), Ok(Some(_))));
    let console_cpu_pct = console_pid
        .map(cpu_secs)
        .zip(c0)
        .map(|(a, b)| (a - b) / t0.elapsed().as_secs_f64() * 100.0);
    if !done {
        let _ = bot.kill();
    }
    let _ = bot.wait();
    for mut c in console.into_iter().chain(alone) {
        signal(c.id(), nix::sys::signal::Signal::SIGINT);
        let _ = c.wait();
    }
    let line: serde_json::Value = std::fs::read_to_string(&out)
        .ok()
        .and_then(|t| serde_json::from_str(t.lines().next()?).ok())?;
    cleanup(root);
    let us = |k: &str| line[k].as_f64().unwrap_or(f64::NAN) / 1000.0;
    Some(LatRun {
        count: line["count"].as_u64().unwrap_or(0),
        p50: us("p50"),
        p99: us("p99"),
        p999: us("p999"),
        console_cpu_pct,
    })
}

/// The bot-latency rows: each rate, the connector alone, metered, metered and registering.
fn latency_section() {
    let secs = latency_secs();
    let layout = match pin_layout() {
        Some((p, b, c)) => format!("pinned: publisher core {p}, bot core {b}, console core {c}"),
        None => format!(
            "not pinned ({} cores; pinning needs ≥ 4)",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0)
        ),
    };
    for rate in [10_000u64, 100_000] {
        // Alone first and last (the machine's load drifts): the ratios are to their mean.
        let order = [
            LatMode::Alone,
            LatMode::Metered,
            LatMode::Registering,
            LatMode::Alone,
        ];
        let runs: Vec<(LatMode, Option<LatRun>)> = order
            .iter()
            .map(|m| (*m, latency_once(rate, *m, secs)))
            .collect();
        let alone: Vec<&LatRun> = runs
            .iter()
            .filter(|(m, _)| *m == LatMode::Alone)
            .filter_map(|(_, r)| r.as_ref())
            .collect();
        let mean =
            |f: fn(&LatRun) -> f64| alone.iter().map(|r| f(r)).sum::<f64>() / alone.len() as f64;
        let (b50, b99, b999) = (mean(|r| r.p50), mean(|r| r.p99), mean(|r| r.p999));
        for (i, (mode, r)) in runs.iter().enumerate() {
            let what = format!(
                "bot latency, {}k events/s × 256 B, {secs:.0} s, {}{} ({layout})",
                rate / 1000,
                mode.name(),
                if *mode == LatMode::Alone {
                    if i == 0 {
                        ", first"
                    } else {
                        ", last"
                    }
                } else {
                    ""
                }
            );
            let Some(r) = r else {
                row(
                    &what,
                    "no figure (the bot recorded nothing)".into(),
                    "",
                    None,
                );
                continue;
            };
            if *mode == LatMode::Alone {
                row(
                    &what,
                    format!(
                        "p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs ({} events)",
                        r.p50, r.p99, r.p999, r.count
                    ),
                    "",
                    None,
                );
                continue;
            }
            let cpu = r
                .console_cpu_pct
                .map(|c| format!("; console {c:.1} % of a core"))
                .unwrap_or_default();
            let (x50, x99) = (r.p50 / b50, r.p99 / b99);
            row(
                &what,
                format!(
                    "p50 {:.1} µs ({x50:.2}×), p99 {:.1} µs ({x99:.2}×), p99.9 {:.1} µs ({:.2}×) ({} events{cpu}); × = to the mean of the two alone runs",
                    r.p50,
                    r.p99,
                    r.p999,
                    r.p999 / b999,
                    r.count
                ),
                "≤ 1.1× at p50 and p99 (pinned)",
                pin_layout().map(|_| x50 <= 1.1 && x99 <= 1.1),
            );
        }
    }
}

/// `status --json` times (ms) from a console's launch until `secs` after its 8 connectors are
/// ready: each call timed whole (the CLI process included), so the moment a connector becomes
/// ready (when the console had no CPU reading yet) is among them.
fn status_times_once(secs: f64) -> Vec<f64> {
    let dir = world("status");
    sim_config(dir.path(), "q.toml", "");
    let m = manifest(dir.path(), "", "", &EIGHT, "q.toml");
    let mut c = headless(&m, None);
    let mut times = Vec::new();
    let mut ready_at: Option<Instant> = None;
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end && ready_at.is_none_or(|t| t.elapsed().as_secs_f64() < secs) {
        let t = Instant::now();
        let rows = status_rows(&m);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if !rows.is_empty() {
            times.push(ms);
        }
        if ready_at.is_none() && rows.len() == 8 && rows.iter().all(|r| r["phase"] == "ready") {
            ready_at = Some(Instant::now());
        }
    }
    signal(c.id(), nix::sys::signal::Signal::SIGINT);
    let _ = c.wait();
    cleanup(dir.path());
    times
}

/// What one scale run of `n` quiet connectors in one manifest (headless) measured.
struct ScaleRun {
    /// Connectors that became ready, and seconds from the console's launch until the last did
    /// (from the ms-resolution timestamps of its `--json` transitions).
    ready: usize,
    ready_s: f64,
    rss_mb: f64,
    /// Console CPU, % of one core, over the idle window.
    idle_cpu: f64,
    /// `status --json` calls, each timed whole (the CLI process included), in ms.
    status_ms: Vec<f64>,
}

fn scale_once(n: usize, window: Duration) -> ScaleRun {
    let dir = world("scale");
    sim_config(dir.path(), "q.toml", "");
    let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let m = manifest(dir.path(), "", "", &refs, "q.toml");
    let out = dir.path().join("transitions.jsonl");
    let launched = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut c = headless(&m, Some(&out));
    // The transitions file, read every 50 ms (not the console: polling `status` would load it).
    let ready_ts = |ts: &[serde_json::Value]| -> std::collections::HashMap<String, f64> {
        ts.iter()
            .filter(|t| t["phase"] == "ready")
            .filter_map(|t| Some((t["name"].as_str()?.to_string(), parse_ts(t["ts"].as_str()?))))
            .collect()
    };
    let end = Instant::now() + Duration::from_secs(120);
    let mut ready = ready_ts(&transitions(&out));
    while ready.len() < n && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
        ready = ready_ts(&transitions(&out));
    }
    let ready_s = ready.values().copied().fold(0.0, f64::max) - launched;
    std::thread::sleep(Duration::from_secs(2));
    let c0 = cpu_secs(c.id());
    std::thread::sleep(window);
    let idle_cpu = (cpu_secs(c.id()) - c0) / window.as_secs_f64() * 100.0;
    let rss_mb = status_mb(c.id(), "VmRSS:");
    let mut status_ms = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let rows = status_rows(&m);
        if rows.len() == n {
            status_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    signal(c.id(), nix::sys::signal::Signal::SIGINT);
    let _ = c.wait();
    cleanup(dir.path());
    ScaleRun {
        ready: ready.len(),
        ready_s,
        rss_mb,
        idle_cpu,
        status_ms,
    }
}

/// One frame of the table view with `n` ready connectors, rendered into ratatui's TestBackend
/// (200×50) by the TUI's own `render::draw`: the median of 30 frames, in ms.
fn frame_ms(n: usize) -> f64 {
    use switchboard::model::view::ConnectorView;
    use switchboard::tui::app::App;
    use switchboard::tui::render;
    use switchboard::tui::theme::Theme;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let snaps: Vec<ConnectorView> = (0..n)
        .map(|i| ConnectorView {
            phase: switchboard::Phase::Ready,
            pid: Some(10_000 + i as i32),
            uptime_s: Some(65.0 + i as f64),
            bots: 1,
            wanted: true,
            cpu_pct: Some(0.0),
            rss_bytes: Some(3_000_000),
            ..ConnectorView::new(
                format!("s{i}"),
                switchboard::config::connector::ConnectorType::BinanceFutures,
                now,
            )
        })
        .collect();
    let mut app = App::new();
    app.table = true;
    app.sync(&snaps, |_| None);
    app.settle();
    let mut term =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 50)).expect("terminal");
    let mut times = Vec::new();
    for i in 0..33 {
        let view = render::View {
            app: &app,
            snaps: &snaps,
            // Each frame a second later, as the idle screen's clock moves.
            now: now + i as f64,
            theme: Theme::from_env(),
            hosts: &[],
            viewing: None,
        };
        let t = Instant::now();
        term.draw(|f| render::draw(f, &view)).expect("draw");
        if i >= 3 {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    median(&mut times)
}

/// The builds a section compares: with SB_BENCH_BEFORE=PATH that build, then this one (each
/// row names which); otherwise this build alone.
fn builds() -> Vec<(Option<String>, String)> {
    match std::env::var("SB_BENCH_BEFORE").ok() {
        Some(b) => vec![
            (Some(b.clone()), format!(" ({b})")),
            (None, " (this build)".to_string()),
        ],
        None => vec![(None, String::new())],
    }
}

/// 8, 50 and 200 quiet connectors in one manifest, headless (#24's scale rows); other sizes
/// with SB_BENCH_SCALE_SIZES=8,200; with SB_BENCH_BEFORE=PATH that build and this one
/// alternate, size by size.
fn scale_section(quick: bool) {
    let window = Duration::from_secs(if quick { 15 } else { 30 });
    let sizes: Vec<usize> = std::env::var("SB_BENCH_SCALE_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![8, 50, 200]);
    for n in sizes {
        for (bin, which) in builds() {
            use_bin(bin.as_deref());
            scale_rows(n, window, &which, bin.is_none());
        }
        use_bin(None);
    }
}

/// One size's rows; the frame (this build's renderer, in this process) only for this build.
fn scale_rows(n: usize, window: Duration, which: &str, this_build: bool) {
    {
        let r = scale_once(n, window);
        let big = n == 200;
        let goal = |g: &'static str, met: bool| if big { (g, Some(met)) } else { ("", None) };
        let (g, met) = goal("all ready, ≤ 5 s", r.ready == n && r.ready_s <= 5.0);
        row(
            &format!("scale, {n} connectors in one manifest: launch → all ready{which}"),
            format!("{:.2} s ({} of {n} ready)", r.ready_s, r.ready),
            g,
            met,
        );
        row(
            &format!("… {n}: console RSS, idle{which}"),
            format!(
                "{:.1} MB ({:.0} kB per connector)",
                r.rss_mb,
                r.rss_mb * 1024.0 / n as f64
            ),
            "",
            None,
        );
        let (g, met) = goal("≤ 0.5 %", r.idle_cpu <= 0.5);
        row(
            &format!(
                "… {n}: idle {} s, headless: console CPU{which}",
                window.as_secs()
            ),
            format!("{:.3} % of a core", r.idle_cpu),
            g,
            met,
        );
        if this_build {
            let f = frame_ms(n);
            let (g, met) = goal("≤ 16 ms", f <= 16.0);
            row(
                &format!(
                    "… {n}: one frame of the table view (render::draw into a 200×50 TestBackend)"
                ),
                format!("{f:.2} ms"),
                g,
                met,
            );
        }
        let calls = r.status_ms.len();
        let med = median(&mut r.status_ms.clone());
        let worst = r.status_ms.iter().copied().fold(0.0, f64::max);
        let (g, met) = goal("≤ 100 ms", calls > 0 && worst <= 100.0);
        row(
            &format!("… {n}: `status --json` (CLI process included){which}"),
            format!("median {med:.0} ms, worst {worst:.0} ms ({calls} calls)"),
            g,
            met,
        );
    }
}

fn status_section(quick: bool) {
    for (bin, which) in builds() {
        use_bin(bin.as_deref());
        let mut all = Vec::new();
        for _ in 0..if quick { 1 } else { 3 } {
            all.extend(status_times_once(3.0));
        }
        let n = all.len();
        let med = median(&mut all.clone());
        let worst = all.iter().copied().fold(0.0, f64::max);
        row(
            &format!("`status --json` from launch until 3 s after 8 connectors are ready (CLI process included){which}"),
            format!("median {med:.0} ms, worst {worst:.0} ms ({n} calls)"),
            "≤ 50 ms",
            Some(worst <= 50.0),
        );
    }
    use_bin(None);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--only-feed`: just the feed meter rows (for tuning it).
    if args.iter().any(|a| a == "--only-feed") {
        println!("| measure | value | target | |\n| --- | --- | --- | --- |");
        feed_section(quick);
        return;
    }
    // `--only-latency`: just the bot-latency rows (SB_BENCH_LATENCY_SECS per run, default 20).
    if args.iter().any(|a| a == "--only-latency") {
        println!("| measure | value | target | |\n| --- | --- | --- | --- |");
        latency_section();
        return;
    }
    // `--only-scale`: just the 8/50/200-connector rows.
    if args.iter().any(|a| a == "--only-scale") {
        println!("| measure | value | target | |\n| --- | --- | --- | --- |");
        scale_section(quick);
        return;
    }
    // `--only-status`: just the `status` response time around readiness.
    if args.iter().any(|a| a == "--only-status") {
        println!("| measure | value | target | |\n| --- | --- | --- | --- |");
        status_section(quick);
        return;
    }
    // `--only-idle-headless`: just the idle headless console's CPU at 8 and 50 connectors, each
    // run shown; with SB_BENCH_BEFORE=PATH that build and this one alternate, run by run
    // (SB_BENCH_IDLE_SECS: the window, default 60 s, 15 s with `--quick`).
    if args.iter().any(|a| a == "--only-idle-headless") {
        let secs = std::env::var("SB_BENCH_IDLE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(if quick { 15 } else { 60 });
        let window = Duration::from_secs(secs);
        let before = std::env::var("SB_BENCH_BEFORE").ok();
        let bins: Vec<Option<&str>> = match before.as_deref() {
            Some(b) => vec![Some(b), None],
            None => vec![None],
        };
        for run in 1..=2 {
            for n in [8, 50] {
                for &bin in &bins {
                    use_bin(bin);
                    let c = if n == 8 {
                        idle_once(false, window).0
                    } else {
                        idle_many_once(n, window)
                    };
                    let which = match (bin, &before) {
                        (Some(b), _) => format!(" ({b})"),
                        (None, Some(_)) => " (this build)".to_string(),
                        (None, None) => String::new(),
                    };
                    println!(
                        "idle headless, {n} ready connectors, {} s, run {run}{which}: {c:.3} % of a core",
                        window.as_secs()
                    );
                }
            }
        }
        use_bin(None);
        return;
    }
    // `--only-flood`: just the log flood under switchboard, each run shown (console and relay
    // CPU); with SB_BENCH_BEFORE=PATH that build and this one alternate, run by run.
    if args.iter().any(|a| a == "--only-flood") {
        let lines: u64 = if quick { 200_000 } else { 1_000_000 };
        let no_tools: (&Option<PathBuf>, &Option<PathBuf>) = (&None, &None);
        for run in 1..=5 {
            if let Some((wall, _, _)) = flood_once(Host::Limit, lines, no_tools) {
                println!("flood {lines} lines, run {run}: plain file (limit) {wall:.3} s");
            }
            for (bin, which) in builds() {
                use_bin(bin.as_deref());
                if let Some((wall, cpu, relay)) = flood_once(Host::Switchboard, lines, no_tools) {
                    let m = lines as f64 / 1e6;
                    println!(
                        "flood {lines} lines, run {run}{which}: child {wall:.3} s, console {:.3} s per million lines, relay ≥ {:.3} s per million lines",
                        cpu / m,
                        relay / m
                    );
                }
            }
        }
        use_bin(None);
        return;
    }
    // `--only-idle-tui`: just the idle TUI's CPU, each run shown (for tuning it).
    if args.iter().any(|a| a == "--only-idle-tui") {
        let window = Duration::from_secs(if quick { 15 } else { 60 });
        // With SB_BENCH_BEFORE=PATH, that build and this one alternate, run by run.
        let before = std::env::var("SB_BENCH_BEFORE").ok();
        let bins: Vec<Option<&str>> = match before.as_deref() {
            Some(b) => vec![Some(b), None],
            None => vec![None],
        };
        for run in 1..=2 {
            for &bin in &bins {
                use_bin(bin);
                let (c, r) = idle_once(true, window);
                let which = match (bin, &before) {
                    (Some(b), _) => format!(" ({b})"),
                    (None, Some(_)) => " (this build)".to_string(),
                    (None, None) => String::new(),
                };
                println!(
                    "idle TUI, 8 ready connectors, {} s, run {run}{which}: {c:.3} % of a core, {r:.1} MB",
                    window.as_secs()
                );
            }
        }
        use_bin(None);
        return;
    }
    let tools = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-tools");
    let opts = Opts {
        quick,
        runs: 5,
        tools,
    };
    let lines: u64 = if quick { 200_000 } else { 1_000_000 };
    let idle_window = Duration::from_secs(if quick { 15 } else { 60 });
    let mem_total: u64 = if quick { 1_000_000 } else { 10_000_000 };
    let started = Instant::now();

    // Quick mode stays under two minutes: the peers run only in the full benchmark.
    // `--no-peers`: a full run without mprocs and supervisord (not installed, or no network).
    let no_peers = args.iter().any(|a| a == "--no-peers");
    let (mp, sv) = if quick || no_peers {
        (None, None)
    } else {
        (mprocs(&opts), supervisord(&opts))
    };
    let tools = (&mp, &sv);

    println!(
        "switchboard console benchmark — {} — {}{}",
        switchboard::engine::io::logs::now_rfc3339(),
        machine(),
        if quick { " — QUICK mode" } else { "" }
    );
    println!(
        "median of {} runs; ratios are measured side by side in this run\n",
        opts.runs
    );
    println!("| measure | value | target | |");
    println!("| --- | --- | --- | --- |");

    // Log flood.
    let mut flood: Vec<(Host, f64, f64, f64)> = Vec::new();
    for host in [
        Host::Limit,
        Host::Switchboard,
        Host::Mprocs,
        Host::Supervisord,
    ] {
        let mut walls = Vec::new();
        let mut cpus = Vec::new();
        let mut relays = Vec::new();
        for _ in 0..opts.runs {
            match flood_once(host, lines, tools) {
                Some((w, c, r)) => {
                    walls.push(w);
                    cpus.push(c);
                    relays.push(r);
                }
                None => break,
            }
        }
        if walls.is_empty() {
            row(
                &format!("flood {lines} lines: child wall time under {}", host.name()),
                unmeasured(quick),
                "",
                None,
            );
            continue;
        }
        flood.push((
            host,
            median(&mut walls),
            median(&mut cpus),
            median(&mut relays),
        ));
    }
    let limit = flood
        .iter()
        .find(|f| f.0 == Host::Limit)
        .map(|f| f.1)
        .unwrap_or(f64::NAN);
    for (host, wall, cpu, relay) in &flood {
        let ratio = wall / limit;
        let (target, met) = match host {
            Host::Switchboard => ("≤ 1.1× the limit", Some(ratio <= 1.1)),
            Host::Limit | Host::Mprocs | Host::Supervisord => ("", None),
        };
        row(
            &format!(
                "flood {lines}×{LINE_BYTES} B: child wall time, {}",
                host.name()
            ),
            format!("{wall:.3} s ({ratio:.2}× limit)"),
            target,
            met,
        );
        if *host != Host::Limit {
            let per_m = cpu / (lines as f64 / 1e6);
            let (target, met) = match host {
                Host::Switchboard => ("≤ 0.25 s per million lines", Some(per_m <= 0.25)),
                Host::Limit | Host::Mprocs | Host::Supervisord => ("", None),
            };
            row(
                &format!("flood: console CPU, {}", host.name()),
                format!("{cpu:.3} s ({per_m:.3} s per million lines)"),
                target,
                met,
            );
        }
        if *host == Host::Switchboard {
            let per_m = relay / (lines as f64 / 1e6);
            row(
                "flood: log relay CPU (the process between connector and file), switchboard",
                format!("≥ {relay:.3} s (≥ {per_m:.3} s per million lines)"),
                "",
                None,
            );
        }
    }

    // Frozen console.
    for host in [Host::Switchboard, Host::Mprocs, Host::Supervisord] {
        let mut ratios = Vec::new();
        let mut detail = String::new();
        for _ in 0..if quick { 1 } else { 3 } {
            if let Some((run, stop)) = frozen_once(host, tools) {
                ratios.push(if run > 0.0 { stop / run } else { f64::NAN });
                detail = format!("{stop:.2} s CPU while frozen vs {run:.2} s running");
            }
        }
        if ratios.is_empty() {
            row(
                &format!("frozen console 2 s: child progress, {}", host.name()),
                unmeasured(quick),
                "",
                None,
            );
            continue;
        }
        let r = median(&mut ratios);
        let (target, met) = match host {
            Host::Switchboard => ("= progress when not frozen", Some(r >= 0.8)),
            Host::Limit | Host::Mprocs | Host::Supervisord => ("", None),
        };
        row(
            &format!("frozen console 2 s: child progress, {}", host.name()),
            format!("{:.0} % of normal ({detail})", r * 100.0),
            target,
            met,
        );
    }

    // Idle.
    for with_tui in [false, true] {
        let mut cpu = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..if quick { 1 } else { 2 } {
            let (c, r) = idle_once(with_tui, idle_window);
            cpu.push(c);
            rss.push(r);
        }
        let c = median(&mut cpu);
        let mode = if with_tui { "TUI in a pty" } else { "headless" };
        row(
            &format!(
                "idle, 8 ready connectors, {} s, {mode}: console CPU",
                idle_window.as_secs()
            ),
            format!("{c:.3} % of a core"),
            "≤ 0.1 %",
            Some(c <= 0.1),
        );
        row(
            &format!("idle, {mode}: console RSS"),
            format!("{:.1} MB", median(&mut rss)),
            "",
            None,
        );
    }

    let c = median(
        &mut (0..if quick { 1 } else { 2 })
            .map(|_| idle_many_once(50, idle_window))
            .collect::<Vec<_>>(),
    );
    row(
        &format!(
            "idle, 50 ready connectors, {} s, headless: console CPU",
            idle_window.as_secs()
        ),
        format!("{c:.3} % of a core"),
        "≤ 0.2 %",
        Some(c <= 0.2),
    );

    feed_section(quick);
    latency_section();
    status_section(quick);
    scale_section(quick);

    // Memory bound.
    let (peak, after) = memory_once(mem_total);
    row(
        &format!("{mem_total} lines over 8 connectors, scrollback 10000: peak RSS"),
        format!("{peak:.1} MB"),
        "≤ 40 MB",
        Some(peak <= 40.0),
    );
    row("… RSS afterwards", format!("{after:.1} MB"), "", None);

    // Latencies.
    let mut ready = Vec::new();
    let mut exit = Vec::new();
    for _ in 0..opts.runs {
        let (r, e) = ready_and_exit_once();
        ready.extend(r);
        exit.extend(e);
    }
    let (rm, rp) = (median(&mut ready.clone()), percentile(&mut ready, 0.99));
    row(
        "readiness: services open → ready (ms-resolution timestamps)",
        format!("median {rm:.0} ms, p99 {rp:.0} ms"),
        "≤ 50 ms",
        Some(rp <= 50.0),
    );
    let (em, ep) = (median(&mut exit.clone()), percentile(&mut exit, 0.99));
    row(
        "exit detection: death → exited",
        format!("median {em:.0} ms, p99 {ep:.0} ms"),
        "≤ 10 ms",
        Some(em <= 10.0),
    );
    let mut stops = Vec::new();
    for _ in 0..if quick { 1 } else { 3 } {
        stops.extend(stop_once());
    }
    let sm = median(&mut stops.clone());
    let worst = stops.iter().map(|s| (s - 1000.0).abs()).fold(0.0, f64::max);
    row(
        "stop, SIGTERM ignored, shutdown_timeout 1 s",
        format!("median {sm:.0} ms (worst deviation {worst:.0} ms)"),
        "1000 ± 50 ms",
        Some(worst <= 50.0),
    );
    let mut firsts = Vec::new();
    let mut keys = Vec::new();
    for _ in 0..opts.runs {
        let (f, k) = tui_once();
        firsts.push(f);
        keys.extend(k);
    }
    let ff = median(&mut firsts);
    row(
        "first frame after launch",
        format!("{ff:.0} ms"),
        "≤ 150 ms",
        Some(ff <= 150.0),
    );
    row(
        "key press → updated screen",
        format!("median {:.0} ms", median(&mut keys)),
        "",
        None,
    );
    println!(
        "\ntotal benchmark time: {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
