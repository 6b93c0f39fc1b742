//! `run --headless` on stdout, read as an operator reads it: columns, and one line per fact.

mod common;

use std::io::BufRead;
use std::sync::mpsc;
use std::time::Duration;

use common::*;

/// The console process, killed if the test ends early.
struct Console(std::process::Child);

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `switchboard run --headless` with its stdout lines on a channel.
fn headless_stdout(fx: &Fixture) -> (Console, mpsc::Receiver<String>) {
    let mut child = std::process::Command::new(SWITCHBOARD)
        .args(["run", "--headless", "--manifest"])
        .arg(fx.path().join("switchboard.toml"))
        .current_dir(fx.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn headless");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            eprintln!("[stdout] {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Console(child), rx)
}

/// Lines received until `pred` holds for the lines so far (panics after `secs`).
fn lines_until(
    rx: &mpsc::Receiver<String>,
    secs: u64,
    pred: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    let mut got = Vec::new();
    while !pred(&got) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => got.push(l),
            Err(_) => panic!("not seen within {secs} s; lines: {got:#?}"),
        }
    }
    got
}

const LONG: &str = "hl-a-connector-with-a-long-name";

#[test]
fn columns_stay_aligned_for_long_names_and_an_adopted_connector_is_said_once() {
    let fx = Fixture::new("hlines");
    fx.sim_config("a.toml", "lines_per_sec = 1.0");
    fx.manifest(
        "",
        &format!(
            "{}{}",
            connector_table(LONG, "a.toml", ""),
            connector_table("hl-b", "a.toml", "")
        ),
    );
    let (mut child, rx) = headless_stdout(&fx);
    let ready = |l: &String, name: &str| l.contains(&format!(" {name} ")) && l.contains(" ready ");
    let lines = lines_until(&rx, 20, |ls| {
        ls.iter().any(|l| ready(l, LONG)) && ls.iter().any(|l| ready(l, "hl-b"))
    });
    // The phase column starts at the same place whatever the name's length.
    let col = |name: &str| {
        let l = lines.iter().find(|l| ready(l, name)).expect("ready line");
        l.find(" ready ").expect("phase")
    };
    assert_eq!(col(LONG), col("hl-b"), "{lines:#?}");
    // Detach (the connectors keep running), then a new console adopts them.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.0.id() as i32),
        nix::sys::signal::Signal::SIGUSR2,
    )
    .expect("SIGUSR2");
    assert!(eventually(10.0, || matches!(
        child.0.try_wait(),
        Ok(Some(_))
    )));
    let (mut again, rx) = headless_stdout(&fx);
    // Until a line after the adoption: each connector's next log activity is not a
    // transition, so wait for both to be said and a stop to end the stream.
    let adopted = lines_until(&rx, 20, |ls| {
        ls.iter().filter(|l| l.contains(LONG)).count() >= 1
            && ls.iter().filter(|l| l.contains(" hl-b ")).count() >= 1
    });
    // Stopping one ends its adoption: `status` no longer says so (the other still is).
    let adopted_of = |name: &str| {
        fx.status()
            .into_iter()
            .find(|v| v.name == name)
            .map(|v| v.adopted)
    };
    assert_eq!(adopted_of("hl-b"), Some(true));
    let out = fx.run(&["stop", "hl-b"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        eventually(15.0, || {
            fx.status()
                .iter()
                .any(|v| v.name == "hl-b" && v.phase == switchboard::Phase::Stopped)
        }),
        "hl-b stopped"
    );
    assert_eq!(
        adopted_of("hl-b"),
        Some(false),
        "the tag is cleared after a stop"
    );
    assert_eq!(adopted_of(LONG), Some(true));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(again.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let mut rest = Vec::new();
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(15)) {
        rest.push(l);
    }
    let _ = again.0.wait();
    let _ = child.0.wait();
    // Each adopted connector's adoption is said once (it was said twice: listed as it stood,
    // then again as an event).
    for name in [LONG, "hl-b"] {
        let adopted: Vec<&String> = adopted
            .iter()
            .chain(&rest)
            .filter(|l| {
                l.contains(&format!(" {name} ")) && l.contains("adopted from a previous console")
            })
            .collect();
        assert_eq!(adopted.len(), 1, "{name}: {adopted:#?}");
    }
}
