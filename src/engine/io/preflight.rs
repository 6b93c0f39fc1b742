//! Pre-flight of a start: could a new process of this connector start now? The runtime asks
//! before anything that may start one (a start, a restart, a stale-feed restart, a backoff
//! running out, a reloaded entry put in use) and hands the answer to the state machine in
//! [`crate::machine::state::Ctx::cannot_start`]; the machine refuses a restart that would stop a
//! running process for a new one that could not start. Reads the file system: the binary's
//! metadata and the connector's config (a small regular file, see
//! [`crate::config::connector::read_config`]).

use std::path::Path;

use crate::config::connector;
use crate::config::manifest::ConnectorSpec;

/// What stands in the way of starting `spec` now, naming the file and the problem; None when a
/// process could start. A missing binary is reported too: the state machine builds it first
/// when nothing runs (`auto_build`), and refuses to stop a running process for it.
pub fn check(spec: &ConnectorSpec) -> Option<String> {
    if spec.is_bot() {
        return match program_path(&spec.binary) {
            Some(p) => binary_problem(&p, false),
            None => Some(format!(
                "bot command {} is not found (not a path, not on PATH); fix `command` in the manifest",
                spec.binary.display()
            )),
        };
    }
    let config = connector::check(spec.kind, &spec.config)
        .err()
        .map(|e| format!("config {} {e}", spec.config.display()));
    let binary = binary_problem(&spec.binary, spec.auto_build);
    match (config, binary) {
        (None, None) => None,
        (Some(c), None) => Some(c),
        (None, Some(b)) => Some(b),
        (Some(c), Some(b)) => Some(format!("{c}; and {b}")),
    }
}

/// Where a bot's program is: a path as given (relative ones were resolved by the manifest),
/// a bare name searched on `PATH` as exec does.
pub fn program_path(program: &Path) -> Option<std::path::PathBuf> {
    if program.components().count() > 1 || program.is_absolute() {
        return Some(program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Why `binary` cannot be run, if it cannot.
fn binary_problem(binary: &Path, auto_build: bool) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = binary.display();
    match std::fs::metadata(binary) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(if auto_build {
            format!(
                "binary {shown} does not exist; stop it (x), then start it (s): a start builds it first"
            )
        } else {
            format!("binary {shown} does not exist (auto_build = false); build it, or fix `binary`")
        }),
        Err(e) => Some(format!("binary {shown} cannot be read ({e})")),
        Ok(m) if !m.is_file() => Some(format!(
            "binary {shown} is not a regular file; fix `binary` in the manifest"
        )),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Some(format!(
            "binary {shown} is not executable (mode {:o}); chmod +x it",
            m.permissions().mode() & 0o7777
        )),
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_that_cannot_run_are_named_with_the_problem() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tmp");
        let missing = d.path().join("connector");
        let said = binary_problem(&missing, true).expect("missing");
        assert!(
            said.contains(&missing.display().to_string()) && said.contains("does not exist"),
            "{said}"
        );
        std::fs::write(&missing, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&missing, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let said = binary_problem(&missing, true).expect("not executable");
        assert!(said.contains("is not executable (mode 644)"), "{said}");
        std::fs::set_permissions(&missing, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(binary_problem(&missing, true), None);
        let said = binary_problem(d.path(), true).expect("a directory");
        assert!(said.contains("not a regular file"), "{said}");
    }
}
