//! `switchboard check`: the manifest, every connector config and every binary, checked.

use std::path::Path;

use crate::config::manifest::Manifest;
use crate::engine::io::sys;
use crate::error::ManifestError;
use crate::exit;

/// `switchboard check`: every problem of the manifest, of each connector config and of each
/// binary that cannot run (exit 2), else each connector's config and binary.
pub fn check(path: &Path) -> u8 {
    let (m, mut problems) = match Manifest::check(path) {
        Ok(both) => both,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    for c in &m.connectors {
        // A bot's program is looked up as exec does (a path, or a name on PATH).
        let (problem, key) = match c.is_bot() {
            true => (crate::engine::io::preflight::check(c), "command"),
            false => (crate::engine::binary_problem(c, true), "binary"),
        };
        if let Some(problem) = problem {
            problems.push(ManifestError::Invalid {
                file: m.path.clone(),
                line: None,
                scope: crate::error::Scope::Connector(c.name.clone()),
                key: key.into(),
                problem,
            });
        }
    }
    if !problems.is_empty() {
        for e in &problems {
            eprintln!("error: {e}");
        }
        if problems.len() > 1 {
            eprintln!(
                "{} problems; fix them, then run `switchboard check` again",
                problems.len()
            );
        }
        return exit::USAGE;
    }
    let hosts = match m.hosts.len() {
        0 => String::new(),
        n => format!(", {n} host(s)"),
    };
    outln!(
        "{}: ok, {} connector(s){hosts}",
        m.path.display(),
        m.connectors.len()
    );
    for c in &m.connectors {
        outln!(
            "  {:<16} {:<15} config {}  binary {}{}",
            c.name,
            c.kind.as_str(),
            c.config.display(),
            c.binary.display(),
            if sys::is_executable(&c.binary) {
                ""
            } else {
                " (missing: will be built)"
            }
        );
    }
    exit::OK
}
