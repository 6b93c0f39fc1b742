//! Building the connector with cargo: streamed output, progress as compiled units out of total,
//! the first compiler error as the failure message, and a hint for bindgen/libclang failures.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// What a build reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildUpdate {
    /// Units compiled out of the total cargo plans.
    Progress { done: u32, total: u32 },
    /// One line of cargo's output.
    Line(String),
}

/// One build of one binary (connectors sharing the same `BuildKey` share the build).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BuildKey {
    pub project_root: PathBuf,
    pub features: Vec<String>,
    /// The cargo profile (`release`, `dev`, or a custom one): the one whose output directory
    /// holds the connector's `binary`.
    pub profile: String,
}

/// The cargo command line for a build.
pub fn cargo_args(root: &Path, features: &[String], profile: &str) -> Vec<String> {
    let mut args = vec![
        "build".to_string(),
        "--profile".to_string(),
        profile.to_string(),
        "--manifest-path".to_string(),
        root.join("connector/Cargo.toml").display().to_string(),
    ];
    if !features.is_empty() {
        args.push("--features".into());
        args.push(features.join(","));
    }
    args
}

/// Parses cargo's progress bar ("Building [====>   ] 12/345: foo, bar").
pub fn parse_progress(line: &str) -> Option<(u32, u32)> {
    let l = line.trim_start();
    if !l.starts_with("Building") {
        return None;
    }
    let after = &l[l.find(']')? + 1..];
    let frac = after.trim_start().split(':').next()?.trim();
    let (done, total) = frac.split_once('/')?;
    Some((done.trim().parse().ok()?, total.trim().parse().ok()?))
}

/// Most lines of cargo's error kept for `switchboard build` (the log has them all).
pub const ERROR_MAX_LINES: usize = 80;

/// cargo's whole error, from its first `error` line on (rustc's diagnostics, `Caused by:` and a
/// build script's stderr), without its progress chatter, control characters out, at most
/// [`ERROR_MAX_LINES`] lines. Empty when cargo printed no error line.
pub fn error_block(lines: &[String]) -> Vec<String> {
    let Some(first) = lines
        .iter()
        .position(|l| l.trim_start().starts_with("error"))
    else {
        return Vec::new();
    };
    let chatter = |l: &str| {
        let t = l.trim_start();
        t.starts_with("warning: build failed, waiting for other jobs")
            || t.starts_with("note: To improve backtraces for build dependencies")
            || t.starts_with("Compiling ")
            || t.starts_with("Building ")
    };
    let mut out: Vec<String> = lines[first..]
        .iter()
        .filter(|l| !chatter(l))
        .map(|l| crate::machine::redact::plain(l))
        .collect();
    if out.len() > ERROR_MAX_LINES {
        let more = out.len() - ERROR_MAX_LINES;
        out.truncate(ERROR_MAX_LINES);
        out.push(format!("… {more} more line(s) in the connector's log"));
    }
    out
}

/// A failed build.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildFailure {
    /// One line: the first compiler error (the pane's detail).
    pub message: String,
    /// Empty, or a sentence starting with "; " (e.g. the libclang hint).
    pub hint: String,
    /// cargo's whole error ([`error_block`]); empty when it failed before cargo ran.
    pub error: Vec<String>,
}

impl BuildFailure {
    fn plain(message: impl Into<String>, hint: impl Into<String>) -> BuildFailure {
        BuildFailure {
            message: message.into(),
            hint: hint.into(),
            error: Vec::new(),
        }
    }
}

/// Turns cargo's output into the one-line failure message the operator sees.
pub fn failure_message(lines: &[String], status: Option<i32>) -> (String, String) {
    let first_error = lines
        .iter()
        .map(|l| crate::machine::redact::plain(l))
        .find(|l| l.trim_start().starts_with("error"))
        .unwrap_or_else(|| format!("cargo exited with {status:?}"));
    let all = lines.join("\n");
    let hint = if all.contains("libclang") || all.contains("clang-sys") || all.contains("bindgen") {
        "; bindgen needs libclang: install it (Debian: apt-get install libclang-dev) or set LIBCLANG_PATH".to_string()
    } else {
        String::new()
    };
    (
        crate::machine::redact::cut(
            first_error.trim(),
            crate::machine::redact::SUMMARY_MAX_CHARS,
        ),
        hint,
    )
}

/// Runs `cargo clean` (when `force`) and `cargo build`, sending updates. Returns Ok or the
/// failure message with its hint. The cargo process is in its own group and is killed when the
/// returned future is dropped (build cancelled).
pub async fn run_build(
    key: &BuildKey,
    force: bool,
    updates: mpsc::UnboundedSender<BuildUpdate>,
) -> Result<(), BuildFailure> {
    if !key.project_root.join("connector/Cargo.toml").is_file() {
        return Err(BuildFailure::plain(
            format!(
                "{} has no connector/Cargo.toml, so there is nothing to build",
                key.project_root.display()
            ),
            "; set project_root to your hftbacktest checkout",
        ));
    }
    if force {
        let manifest = key.project_root.join("connector/Cargo.toml");
        let mut clean = cargo_command(&key.project_root);
        clean
            .args(["clean", "--profile", &key.profile, "-p", "connector"])
            .arg("--manifest-path")
            .arg(&manifest);
        let _ = updates.send(BuildUpdate::Line(format!(
            "$ cargo clean --profile {} -p connector",
            key.profile
        )));
        match clean.status().await {
            Ok(_) => {}
            Err(e) => return Err(cargo_spawn_error(e)),
        }
    }
    let args = cargo_args(&key.project_root, &key.features, &key.profile);
    let _ = updates.send(BuildUpdate::Line(format!("$ cargo {}", args.join(" "))));
    let mut cmd = cargo_command(&key.project_root);
    cmd.args(&args);
    let mut child = cmd.spawn().map_err(cargo_spawn_error)?;
    // Cancelling the build drops this future: take rustc and build scripts down with cargo.
    let mut group = child.id().map(|pid| GroupKillGuard(pid as i32));
    let mut stderr = child
        .stderr
        .take()
        .ok_or_else(|| BuildFailure::plain("cargo's stderr was not captured", ""))?;
    let mut lines: Vec<String> = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut carry = String::new();
    loop {
        let n = match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        carry.push_str(&String::from_utf8_lossy(&buf[..n]));
        // The progress bar is redrawn with '\r'; ordinary lines end with '\n'.
        while let Some(i) = carry.find(['\r', '\n']) {
            let line: String = carry.drain(..=i).collect();
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            let plain = crate::engine::io::logs::strip_ansi(&line);
            if let Some((done, total)) = parse_progress(&plain) {
                let _ = updates.send(BuildUpdate::Progress { done, total });
            } else if !plain.trim().is_empty() {
                let _ = updates.send(BuildUpdate::Line(plain.clone()));
                lines.push(plain);
            }
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| BuildFailure::plain(format!("waiting for cargo: {e}"), ""))?;
    // Reaped: its PID may be reused from now on, so never signal it again.
    if let Some(g) = group.as_mut() {
        g.0 = 0;
    }
    if status.success() {
        Ok(())
    } else {
        let (message, hint) = failure_message(&lines, status.code());
        Err(BuildFailure {
            message,
            hint,
            error: error_block(&lines),
        })
    }
}

/// Kills a process group when dropped (cargo and every rustc it started).
struct GroupKillGuard(i32);

impl Drop for GroupKillGuard {
    fn drop(&mut self) {
        if self.0 <= 0 {
            return;
        }
        // The group leader is our child and is not reaped before this guard drops, so the
        // group id cannot have been reused. ESRCH (already gone) is fine.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn cargo_command(root: &Path) -> tokio::process::Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = tokio::process::Command::new(cargo);
    cmd.current_dir(root)
        .env("CARGO_TERM_PROGRESS_WHEN", "always")
        .env("CARGO_TERM_PROGRESS_WIDTH", "120")
        .env("CARGO_TERM_COLOR", "never")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    super::sys::new_session(&mut cmd);
    cmd
}

fn cargo_spawn_error(e: std::io::Error) -> BuildFailure {
    if e.kind() == std::io::ErrorKind::NotFound {
        BuildFailure::plain(
            "cargo not found in PATH",
            "; install Rust with rustup, or add ~/.cargo/bin to PATH",
        )
    } else {
        BuildFailure::plain(format!("cannot run cargo: {e}"), "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_parse() {
        assert_eq!(
            parse_progress("    Building [=======>      ] 12/345: foo, bar(build)"),
            Some((12, 345))
        );
        assert_eq!(parse_progress("   Compiling foo v0.1.0"), None);
    }

    #[test]
    fn first_error_and_libclang_hint() {
        let lines = vec![
            "   Compiling clang-sys v1".to_string(),
            "error: failed to run custom build command for `hftbacktest`".to_string(),
            "  Unable to find libclang".to_string(),
        ];
        let (msg, hint) = failure_message(&lines, Some(101));
        assert_eq!(
            msg,
            "error: failed to run custom build command for `hftbacktest`"
        );
        assert!(hint.contains("libclang-dev"));
    }

    #[test]
    fn the_error_block_keeps_caused_by_and_drops_the_chatter() {
        let lines: Vec<String> = [
            "   Compiling connector v0.1.0 (/x)",
            "error: failed to run custom build command for `connector v0.1.0 (/x)`",
            "note: To improve backtraces for build dependencies, set the CARGO_PROFILE_RELEASE_BUILD_OVERRIDE_DEBUG=true environment variable to enable debug information generation.",
            "Caused by:",
            "  process didn't exit successfully: `/x/build-script-build` (exit status: 1)",
            "  --- stderr",
            "  Unable to find libclang\u{1b}[2J",
            "warning: build failed, waiting for other jobs to finish...",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            error_block(&lines),
            [
                "error: failed to run custom build command for `connector v0.1.0 (/x)`",
                "Caused by:",
                "  process didn't exit successfully: `/x/build-script-build` (exit status: 1)",
                "  --- stderr",
                "  Unable to find libclang",
            ]
        );
        let long: Vec<String> = std::iter::once("error: x".to_string())
            .chain((0..200).map(|i| format!("line {i}")))
            .collect();
        let block = error_block(&long);
        assert_eq!(block.len(), ERROR_MAX_LINES + 1);
        assert!(
            block[ERROR_MAX_LINES].contains("121 more line(s)"),
            "{block:?}"
        );
    }
}
