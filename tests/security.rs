//! A hostile day on a trading host: planted symlinks, a state dir of another user or open to
//! others, file modes, and `status` run by another user. Real files, real processes.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;

use common::*;
use switchboard::Phase;

fn connector(name: &str) -> String {
    format!("[[connector]]\nname = \"{name}\"\ntype = \"binancefutures\"\nconfig = \"a.toml\"\n")
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn planted_symlinks_in_the_state_dir_are_never_followed() {
    let fx = Fixture::new("symlink");
    fx.sim_config("a.toml", "");
    fx.manifest("autostart = false", &connector("sy-a"));
    let state = fx.path().join(".switchboard");
    std::fs::create_dir_all(state.join("logs")).expect("mkdir");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let victim = fx.path().join("root-only.conf");
    std::fs::write(&victim, "precious\n").expect("victim");

    // The log: the start fails with why, and the victim is untouched.
    std::os::unix::fs::symlink(&victim, state.join("logs/sy-a.log")).expect("symlink");
    let out = fx.run(&["start", "sy-a"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot open its log file") && err.contains("is a symlink"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&victim).expect("r"), "precious\n");
    std::fs::remove_file(state.join("logs/sy-a.log")).expect("rm");

    // The lock (the direct start above left a real one): the console refuses to start.
    let _ = std::fs::remove_file(state.join("lock"));
    std::os::unix::fs::symlink(&victim, state.join("lock")).expect("symlink");
    let out = fx.run(&["run", "--headless"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lock") && err.contains("is a symlink"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&victim).expect("r"), "precious\n");
}

#[test]
fn the_state_dir_and_its_files_are_private_whatever_the_umask() {
    let fx = Fixture::new("modes");
    fx.sim_config("a.toml", "");
    fx.manifest("", &connector("md-a"));
    // A permissive umask for the console: what it creates must still be private.
    let mut console = std::process::Command::new(SWITCHBOARD);
    console
        .args(["run", "--headless", "--manifest"])
        .arg(fx.path().join("switchboard.toml"))
        .current_dir(fx.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    unsafe_free_umask(&mut console);
    let mut child = console.spawn().expect("headless");
    assert!(eventually(15.0, || fx
        .status()
        .first()
        .is_some_and(|s| s.phase == Phase::Ready)));
    let state = fx.path().join(".switchboard");
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("meta").mode() & 0o777;
    assert!(eventually(5.0, || state.join("state.json").exists()));
    assert_eq!(mode(&state), 0o700, "state dir");
    assert_eq!(mode(&state.join("logs")), 0o700, "logs dir");
    assert_eq!(mode(&state.join("logs/md-a.log")), 0o600, "log file");
    assert_eq!(mode(&state.join("state.json")), 0o600, "state.json");
    assert_eq!(mode(&state.join("lock")), 0o600, "lock");
    assert_eq!(mode(&state.join("control.sock")), 0o600, "control socket");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("sigterm");
    assert_eq!(child.wait().expect("wait").code(), Some(0));

    // Opened to group and others (someone could have planted files): refused, saying what to do.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let out = fx.run(&["run", "--headless"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("writable by group or others") && err.contains("chmod 700"),
        "{err}"
    );
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    if !is_root() {
        eprintln!("skipped: a state dir owned by another user needs root to set up");
        return;
    }
    nix::unistd::chown(&state, Some(nix::unistd::Uid::from_raw(65534)), None).expect("chown");
    let out = fx.run(&["run", "--headless"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("owned by uid 65534"), "{err}");
}

/// Runs the command with umask 000 (set in the child between fork and exec).
fn unsafe_free_umask(cmd: &mut std::process::Command) {
    // nix's umask is async-signal-safe (a single syscall).
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::stat::umask(nix::sys::stat::Mode::empty());
            Ok(())
        });
    }
}

#[test]
fn status_by_another_user_does_not_claim_that_no_console_runs() {
    if !is_root() {
        eprintln!("skipped: running status as another user needs root");
        return;
    }
    let fx = Fixture::new("otheruser");
    fx.sim_config("a.toml", "");
    fx.manifest("", &connector("ou-a"));
    // The other user may read the manifest and configs, not the private state dir.
    for p in [
        fx.path().to_path_buf(),
        fx.path().join("switchboard.toml"),
        fx.path().join("a.toml"),
    ] {
        let m = if p.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).expect("chmod");
    }
    let mut console = fx.headless();
    assert!(eventually(15.0, || fx
        .status()
        .first()
        .is_some_and(|s| s.phase == Phase::Ready)));
    let out = std::process::Command::new(SWITCHBOARD)
        .args(["status", "--manifest"])
        .arg(fx.path().join("switchboard.toml"))
        .current_dir("/")
        .uid(65534)
        .gid(65534)
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipped: uid 65534 cannot run {SWITCHBOARD} here: {e}");
            let _ = console.kill();
            let _ = console.wait();
            return;
        }
    };
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("Permission denied") && err.contains("switchboard.toml") {
        eprintln!("skipped: this checkout is not readable by uid 65534: {err}");
    } else {
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("cannot tell whether a console runs") && !err.contains("no console runs"),
            "{err}"
        );
    }
    let _ = console.kill();
    let _ = console.wait();
}
