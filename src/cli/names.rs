//! Connector names on the command line as shell-style patterns (`switchboard restart 'bs-*'`).
//!
//! The CLI expands them, not the console: the names it matches against are the running
//! console's connectors (local and `NAME@HOST`, from its status answer) when one runs, else the
//! manifest's, so one expansion serves both cases and the control protocol stays one target per
//! request. A pattern with `@` matches remote connectors (`'bs-*@tokyo'`, `'*@*'`); one
//! without matches this host's. An argument that is exactly a connector's name is that
//! connector even if it contains a pattern character.
//!
//! Matching is `globset`'s (`*`, `?`, `[abc]`, `[!abc]`, `{a,b}`, `\` escapes), the syntax
//! operators know from their shell.

use crate::model::view::ConnectorId;

/// An argument that names nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// A plain name that is not a connector.
    Unknown(String),
    /// A pattern that matches no connector.
    NoMatch(String),
    /// Not a valid pattern (or not `NAME`/`NAME@HOST`): the argument and why.
    Invalid(String, String),
}

impl Miss {
    /// The argument as given.
    pub fn arg(&self) -> &str {
        match self {
            Miss::Unknown(a) | Miss::NoMatch(a) | Miss::Invalid(a, _) => a,
        }
    }
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Miss::Unknown(a) => write!(f, "no connector named '{a}'"),
            Miss::NoMatch(a) => write!(f, "'{a}' matches no connector"),
            Miss::Invalid(a, why) => write!(f, "'{a}' is not a valid name or pattern ({why})"),
        }
    }
}

/// Whether `arg` uses pattern syntax.
pub fn is_pattern(arg: &str) -> bool {
    arg.contains(['*', '?', '[', '{', '\\'])
}

fn glob(pattern: &str) -> Result<globset::GlobMatcher, String> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.kind().to_string())
}

/// The connectors `arg` names among `known`, in `known`'s order.
fn matches(arg: &str, known: &[ConnectorId]) -> Result<Vec<ConnectorId>, Miss> {
    // An exact name first: a connector may be called `a*` (the manifest allows it).
    if let Some(id) = known.iter().find(|k| k.to_string() == arg) {
        return Ok(vec![id.clone()]);
    }
    if !is_pattern(arg) {
        return match arg.parse::<ConnectorId>() {
            Ok(_) => Err(Miss::Unknown(arg.to_string())),
            Err(why) => Err(Miss::Invalid(arg.to_string(), why)),
        };
    }
    // NAME@HOST: the last `@` splits, as in a plain id; each side is a pattern.
    let (name, host) = match arg.rsplit_once('@') {
        Some((n, h)) if !n.is_empty() && !h.is_empty() => (n, Some(h)),
        Some(_) => {
            return Err(Miss::Invalid(
                arg.to_string(),
                "a pattern is NAME or NAME@HOST".into(),
            ))
        }
        None => (arg, None),
    };
    let invalid = |why: String| Miss::Invalid(arg.to_string(), why);
    let name = glob(name).map_err(invalid)?;
    let host = host.map(glob).transpose().map_err(invalid)?;
    let found: Vec<ConnectorId> = known
        .iter()
        .filter(|k| name.is_match(&k.name))
        .filter(|k| match (&host, &k.host) {
            (None, None) => true,
            (Some(h), Some(kh)) => h.is_match(kh),
            _ => false,
        })
        .cloned()
        .collect();
    if found.is_empty() {
        Err(Miss::NoMatch(arg.to_string()))
    } else {
        Ok(found)
    }
}

/// Expands every argument against `known`: the connectors, each once, in the order the
/// arguments name them; or every argument that names nothing (then nothing is to be done).
pub fn expand(args: &[String], known: &[ConnectorId]) -> Result<Vec<ConnectorId>, Vec<Miss>> {
    let mut ids: Vec<ConnectorId> = Vec::new();
    let mut misses = Vec::new();
    for arg in args {
        match matches(arg, known) {
            Ok(found) => {
                for id in found {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
            Err(m) => misses.push(m),
        }
    }
    if misses.is_empty() {
        Ok(ids)
    } else {
        Err(misses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<ConnectorId> {
        [
            "bs-1",
            "bs-2",
            "bf",
            "a*",
            "bs-1@tokyo",
            "bf@tokyo",
            "bs-9@ldn",
        ]
        .iter()
        .map(|s| s.parse().expect("id"))
        .collect()
    }

    fn names(r: Result<Vec<ConnectorId>, Vec<Miss>>) -> Vec<String> {
        r.expect("expands").iter().map(|i| i.to_string()).collect()
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_pattern_without_a_host_matches_this_hosts_connectors() {
        assert_eq!(names(expand(&args(&["bs-*"]), &known())), ["bs-1", "bs-2"]);
        assert_eq!(names(expand(&args(&["b?"]), &known())), ["bf"]);
        assert_eq!(
            names(expand(&args(&["bs-[!1]", "{bf,bs-1}"]), &known())),
            ["bs-2", "bs-1", "bf"]
        );
    }

    #[test]
    fn a_pattern_with_a_host_matches_remote_connectors() {
        assert_eq!(
            names(expand(&args(&["*@tokyo"]), &known())),
            ["bs-1@tokyo", "bf@tokyo"]
        );
        assert_eq!(
            names(expand(&args(&["bs-*@*"]), &known())),
            ["bs-1@tokyo", "bs-9@ldn"]
        );
        assert_eq!(names(expand(&args(&["bf@tokyo"]), &known())), ["bf@tokyo"]);
    }

    #[test]
    fn each_connector_once_and_an_exact_name_wins() {
        assert_eq!(
            names(expand(&args(&["bs-1", "bs-*", "bs-1"]), &known())),
            ["bs-1", "bs-2"]
        );
        // `a*` is a connector's own name: only it, not every name starting with a.
        assert_eq!(names(expand(&args(&["a*"]), &known())), ["a*"]);
        assert_eq!(names(expand(&args(&["a\\*"]), &known())), ["a*"]);
    }

    #[test]
    fn every_argument_that_names_nothing_is_reported() {
        let misses = expand(
            &args(&["bf", "nope", "x-*", "bf@nowhere", "[", "@h"]),
            &known(),
        )
        .expect_err("misses");
        assert_eq!(
            misses,
            [
                Miss::Unknown("nope".into()),
                Miss::NoMatch("x-*".into()),
                Miss::Unknown("bf@nowhere".into()),
                Miss::Invalid("[".into(), misses[3].clone().invalid_why()),
                Miss::Invalid("@h".into(), "'@h' is not NAME or NAME@HOST".into()),
            ]
        );
        assert_eq!(misses[1].to_string(), "'x-*' matches no connector");
    }

    impl Miss {
        fn invalid_why(self) -> String {
            match self {
                Miss::Invalid(_, why) => {
                    assert!(!why.is_empty());
                    why
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
