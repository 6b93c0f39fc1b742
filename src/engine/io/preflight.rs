//! The pre-flight: could a new process of this connector start now, and if not, why? The one
//! place that answers it, typed ([`StartBlock`]) and in the operator's words (the file, what is
//! wrong, what to do). The runtime asks it once, before each event that may start a process
//! (an operator's start or restart, a backoff running out, an exit the policy restarts, a
//! stale-feed restart, a build's end, the console opening on a connector or adding one), and
//! hands the answer to the state machine as data
//! ([`crate::machine::state::Ctx::cannot_start`]); the machine decides what follows: build
//! first, fail with why, count it against the budget, or refuse a restart and leave the running
//! process alone. Reads the file system: the binary's metadata and the connector's config (a
//! small regular file, see [`crate::config::connector::read_config`]).
//!
//! What it does not answer: whether the connector's iceoryx2 name is free and its dead nodes
//! can be cleaned. That needs the iceoryx2 thread and holds only at the moment of the spawn
//! (another process may take the name in between), so the spawn asks it
//! ([`crate::engine::io::ipc`]'s `prepare`) and a busy name ends as a failed spawn.

use std::path::Path;

use crate::config::connector;
use crate::config::manifest::ConnectorSpec;
use crate::engine::io::sys::{program_problem, ProgramProblem};
use crate::model::{CannotStart, StartBlock};

/// What stands in the way of starting `spec` now, if anything: its config first (which is read
/// again each time), then its program, in `switchboard check`'s words. A binary missing where
/// a build puts it, with `auto_build` on, is [`StartBlock::Unbuilt`], reported unless a config
/// problem already refuses the start.
pub fn cannot_start(spec: &ConnectorSpec) -> Option<CannotStart> {
    if spec.is_bot() {
        // A bot has no config and nothing to build: its program is there or not.
        let why = match program_path(&spec.binary) {
            Some(p) => program_problem(&p).map(|problem| match problem {
                ProgramProblem::Missing => format!(
                    "bot command {} does not exist; fix `command` in the manifest",
                    p.display()
                ),
                other => format!("bot command {} {other}", p.display()),
            }),
            None => Some(format!(
                "bot command {} is not found (not a path, not on PATH); fix `command` in the manifest",
                spec.binary.display()
            )),
        };
        return why.map(|why| CannotStart {
            reason: StartBlock::Program,
            why,
        });
    }
    let config = connector::check(spec.kind, &spec.config)
        .err()
        .map(|problem| connector::unusable(&spec.config, &problem));
    let program = program_problem(&spec.binary).map(|problem| match problem {
        ProgramProblem::Missing if spec.auto_build && spec.binary == spec.built_binary() => {
            CannotStart {
                reason: StartBlock::Unbuilt,
                why: format!(
                    "binary {} does not exist; stop it (x), then start it (s): a start builds it first",
                    spec.binary.display()
                ),
            }
        }
        _ => CannotStart {
            reason: StartBlock::Program,
            why: binary_problem(spec, true)
                .unwrap_or_else(|| format!("binary {} {problem}", spec.binary.display())),
        },
    });
    match (config, program) {
        (None, program) => program,
        (Some(why), Some(p)) if !p.build_lifts() => Some(CannotStart {
            reason: StartBlock::Config,
            why: format!("{why}; and {}", p.why),
        }),
        (Some(why), _) => Some(CannotStart {
            reason: StartBlock::Config,
            why,
        }),
    }
}

/// [`cannot_start`]'s words alone (what `switchboard check` says of a bot's command).
pub fn check(spec: &ConnectorSpec) -> Option<String> {
    cannot_start(spec).map(|c| c.why)
}

/// Why `spec`'s binary cannot run, naming its path, if so. Always: it is there but is no
/// runnable program, or it is missing and not where `b` builds (so no build makes it). With
/// `strict` (`switchboard check`), also: it is missing and `auto_build = false`.
pub fn binary_problem(spec: &ConnectorSpec, strict: bool) -> Option<String> {
    let path = spec.binary.display();
    match program_problem(&spec.binary)? {
        ProgramProblem::Missing if spec.binary != spec.built_binary() => Some(format!(
            "binary not found: {path} does not exist{}; a build (key b) makes {}, not it, so fix `binary` or put the connector there",
            if spec.auto_build {
                ""
            } else {
                " (auto_build = false)"
            },
            spec.built_binary().display()
        )),
        ProgramProblem::Missing if spec.auto_build => None,
        ProgramProblem::Missing if strict => Some(format!(
            "binary not found: {path} does not exist and auto_build = false; build it (`switchboard build {}`, key b) or set auto_build = true",
            spec.name
        )),
        ProgramProblem::Missing => None,
        other => Some(format!("binary {path} {other}")),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A connector whose project is `dir`, with a valid config `bf.toml`.
    fn spec_in(dir: &Path) -> ConnectorSpec {
        std::fs::write(dir.join("bf.toml"), "stream_url = \"a\"\napi_url = \"b\"\n")
            .expect("config");
        let path = dir.join("switchboard.toml");
        let text = format!(
            "[defaults]\nproject_root = \"{}\"\n[[connector]]\nname = \"pf\"\ntype = \"binancefutures\"\nconfig = \"bf.toml\"\n",
            dir.display()
        );
        std::fs::write(&path, text).expect("manifest");
        let (m, problems) =
            crate::config::manifest::Manifest::load_for_console(&path).expect("manifest");
        assert!(problems.is_empty(), "{problems:?}");
        m.connectors[0].clone()
    }

    #[test]
    fn one_answer_typed_and_in_words_naming_the_file() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tmp");
        let mut spec = spec_in(d.path());
        // Missing where a build puts it: a build lifts it.
        let c = cannot_start(&spec).expect("unbuilt");
        assert_eq!(c.reason, StartBlock::Unbuilt, "{c:?}");
        assert!(c.build_lifts());
        assert!(
            c.why.contains(&spec.built_binary().display().to_string())
                && c.why.contains("a start builds it first"),
            "{c:?}"
        );
        // Missing there with auto_build off: said as `check` says it.
        spec.auto_build = false;
        let c = cannot_start(&spec).expect("no auto_build");
        assert_eq!(c.reason, StartBlock::Program, "{c:?}");
        assert!(
            c.why.contains("auto_build = false") && c.why.contains("switchboard build pf"),
            "{c:?}"
        );
        spec.auto_build = true;
        // Missing elsewhere: no build makes it.
        spec.binary = d.path().join("elsewhere");
        let c = cannot_start(&spec).expect("missing");
        assert_eq!(c.reason, StartBlock::Program, "{c:?}");
        assert!(
            c.why.contains("binary not found") && c.why.contains("elsewhere"),
            "{c:?}"
        );
        // There, but no program.
        std::fs::write(&spec.binary, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&spec.binary, std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let c = cannot_start(&spec).expect("not executable");
        assert_eq!(c.reason, StartBlock::Program);
        assert!(c.why.contains("is not executable (mode 644)"), "{c:?}");
        let mut dir = spec.clone();
        dir.binary = d.path().to_path_buf();
        assert!(cannot_start(&dir)
            .expect("a directory")
            .why
            .contains("is not a program"));
        std::fs::set_permissions(&spec.binary, std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        assert_eq!(cannot_start(&spec), None);
        // The config is read each time: gone, it comes first, naming the file and what to do.
        std::fs::remove_file(&spec.config).expect("rm");
        let c = cannot_start(&spec).expect("config");
        assert_eq!(c.reason, StartBlock::Config);
        assert!(
            c.why.contains("bf.toml")
                && c.why.contains("cannot be read")
                && c.why.contains("start it again"),
            "{c:?}"
        );
        // With a program that cannot run, both are said; an unbuilt binary is not (a start
        // refused for its config builds nothing).
        std::fs::set_permissions(&spec.binary, std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let c = cannot_start(&spec).expect("both");
        assert!(
            c.why.contains("; and binary") && c.why.contains("mode 644"),
            "{c:?}"
        );
        spec.binary = spec.built_binary();
        let c = cannot_start(&spec).expect("config");
        assert_eq!(c.reason, StartBlock::Config);
        assert!(!c.why.contains("binary"), "{c:?}");
    }
}
