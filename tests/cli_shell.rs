//! The command line in a shell (#25): names as shell-style patterns, with and without a running
//! console; shell completions and the man page; `--help` of every subcommand as a snapshot.

mod common;

use std::process::Command;

use common::*;
use switchboard::Phase;

fn err_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The phase of every connector, by name.
fn phases(fx: &Fixture) -> Vec<(String, Phase)> {
    fx.status().into_iter().map(|r| (r.name, r.phase)).collect()
}

#[test]
fn patterns_name_connectors_and_a_name_that_matches_nothing_acts_on_none() {
    let fx = Fixture::new("pat");
    fx.sim_config("a.toml", "lines_per_sec = 0.0");
    let body: String = ["pat-a1", "pat-a2", "pat-b"]
        .iter()
        .map(|n| connector_table(n, "a.toml", ""))
        .collect();
    fx.manifest("", &body);

    // No console: matched against the manifest. One miss among several: nothing started.
    let out = fx.run(&["start", "pat-a*", "pat-x*", "nope"]);
    let err = err_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("'pat-x*' matches no connector"), "{err}");
    assert!(err.contains("no connector named 'nope'"), "{err}");
    assert!(
        err.contains("nothing was done; the manifest has: pat-a1, pat-a2, pat-b"),
        "{err}"
    );
    assert!(fx.status().iter().all(|r| r.pid.is_none()), "{err}");

    let out = fx.run(&["start", "pat-a*"]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{said}{}", err_of(&out));
    assert_eq!(said.lines().count(), 2, "one line per match: {said}");
    assert!(said.contains("pat-a1 is ready") && said.contains("pat-a2 is ready"));
    assert_eq!(
        phases(&fx)
            .iter()
            .filter(|(_, p)| *p == Phase::Ready)
            .count(),
        2
    );

    // A running console (it adopts the two and starts the third): matched against its names.
    let mut console = fx.headless();
    assert!(eventually(30.0, || {
        let rows = fx.status();
        rows.len() == 3 && rows.iter().all(|r| r.phase == Phase::Ready)
    }));
    let out = fx.run(&["stop", "pat-a?", "pat-a9"]);
    let err = err_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no connector named 'pat-a9'"), "{err}");
    assert!(err.contains("the running console has: pat-a1"), "{err}");
    assert!(
        fx.status().iter().all(|r| r.phase == Phase::Ready),
        "nothing was stopped"
    );
    // An invalid pattern is a usage error too.
    let out = fx.run(&["stop", "pat-[a"]);
    assert_eq!(out.status.code(), Some(2), "{}", err_of(&out));
    assert!(err_of(&out).contains("'pat-[a' is not a valid name or pattern"));

    let out = fx.run(&["stop", "pat-[a]*"]);
    assert_eq!(out.status.code(), Some(0), "{}", err_of(&out));
    let rows = phases(&fx);
    assert_eq!(
        rows,
        [
            ("pat-a1".to_string(), Phase::Stopped),
            ("pat-a2".to_string(), Phase::Stopped),
            ("pat-b".to_string(), Phase::Ready),
        ]
    );
    let _ = console.kill();
    let _ = console.wait();
}

fn switchboard(args: &[&str]) -> std::process::Output {
    Command::new(SWITCHBOARD)
        .args(args)
        .env_remove("SWITCHBOARD_MANIFEST")
        .output()
        .expect("run switchboard")
}

#[test]
fn completions_for_bash_zsh_and_fish_name_the_subcommands() {
    for (shell, marker) in [
        ("bash", "complete -F _switchboard"),
        ("zsh", "#compdef switchboard"),
        ("fish", "complete -c switchboard"),
    ] {
        let out = switchboard(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", err_of(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(marker), "{shell}: {text}");
        for sub in ["restart", "status", "completions", "man"] {
            assert!(text.contains(sub), "{shell} completes {sub}");
        }
        // The internal log relay is no operator's command.
        assert!(!text.contains("log-relay"), "{shell} offers log-relay");
    }
    let out = switchboard(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err_of(&out).contains("possible values: bash"),
        "{}",
        err_of(&out)
    );
}

/// bash itself loads the completion script and completes a subcommand.
#[test]
fn bash_loads_the_completion_and_completes_a_subcommand() {
    let out = switchboard(&["completions", "bash"]);
    let script = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(script.path(), &out.stdout).expect("write");
    let probe = format!(
        "source {}; COMP_WORDS=(switchboard res); COMP_CWORD=1; COMP_LINE='switchboard res'; COMP_POINT=${{#COMP_LINE}}; _switchboard switchboard res switchboard; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.path().display()
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &probe])
        .output()
        .expect("bash");
    let words = String::from_utf8_lossy(&out.stdout);
    assert_eq!(words.trim(), "restart", "{words}{}", err_of(&out));
}

#[test]
fn the_man_page_is_roff_with_every_subcommand() {
    let out = switchboard(&["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", err_of(&out));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{page}");
    assert!(page.contains(".TH switchboard 1"), "{page}");
    for sub in [
        "switchboard\\-restart",
        "switchboard\\-completions",
        "SWITCHBOARD_MANIFEST",
    ] {
        assert!(page.contains(sub), "the page names {sub}: {page}");
    }
    assert!(!page.contains("log\\-relay"), "{page}");
    // --dir: one page per subcommand, for packagers.
    let dir = tempfile::tempdir().expect("tmp");
    let out = switchboard(&["man", "--dir", dir.path().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", err_of(&out));
    for page in [
        "switchboard.1",
        "switchboard-restart.1",
        "switchboard-man.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page}");
    }
    assert!(!dir.path().join("switchboard-log-relay.1").exists());
    // man itself renders it, when installed.
    if let Ok(out) = Command::new("man")
        .args(["-l", "-"])
        .env("MANWIDTH", "80")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().expect("stdin").write_all(page.as_bytes())?;
            c.wait_with_output()
        })
    {
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("Operator console"), "{text}");
        }
    }
}

/// Every subcommand's `--help`, reviewed like code.
#[test]
fn help_of_every_subcommand_is_a_snapshot() {
    let subs = [
        "",
        "run",
        "status",
        "check",
        "init",
        "start",
        "stop",
        "restart",
        "build",
        "reload",
        "attach",
        "demo",
        "completions",
        "man",
    ];
    for sub in subs {
        let mut args: Vec<&str> = sub.split_whitespace().collect();
        args.push("--help");
        let out = switchboard(&args);
        assert_eq!(out.status.code(), Some(0), "{sub}: {}", err_of(&out));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let name = if sub.is_empty() { "main" } else { sub };
        insta::assert_snapshot!(format!("help_{name}"), text);
    }
}
