//! Manifest errors that point at the key: where each key of `switchboard.toml` is (from toml's
//! own spans), toml's deserializer errors said in plain words for the connector and the key they
//! are about, and "did you mean" for a near miss.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::{ManifestError, Scope};

/// The manifest's text and where each of its keys and values is.
pub(crate) struct KeyMap<'a> {
    text: &'a str,
    root: Spanned<DeTable<'a>>,
}

/// One step of a path into the manifest: a key or an array index.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer.start < outer.end
}

/// The path to the deepest key or value of `table` whose span holds `at`.
fn find_in_table(table: &DeTable<'_>, at: &Range<usize>, path: &mut Vec<Seg>) -> bool {
    for (k, v) in table.iter() {
        path.push(Seg::Key(k.get_ref().to_string()));
        if contains(&k.span(), at) || find_in_value(v, at, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_value(v: &Spanned<DeValue<'_>>, at: &Range<usize>, path: &mut Vec<Seg>) -> bool {
    let deeper = match v.get_ref() {
        DeValue::Table(t) => find_in_table(t, at, path),
        DeValue::Array(a) => a.iter().enumerate().any(|(i, el)| {
            path.push(Seg::Index(i));
            let found = find_in_value(el, at, path);
            if !found {
                path.pop();
            }
            found
        }),
        DeValue::String(_)
        | DeValue::Integer(_)
        | DeValue::Float(_)
        | DeValue::Boolean(_)
        | DeValue::Datetime(_) => false,
    };
    deeper || contains(&v.span(), at)
}

/// Where an error is: whose key, and on which line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Location {
    pub scope: Scope,
    /// The dotted key inside the scope (`restart.policy`, `console.log_keep`); may be empty
    /// (the error is about a whole table).
    pub key: String,
    pub line: Option<usize>,
}

impl<'a> KeyMap<'a> {
    /// Parses `text`; fails only on a TOML syntax error.
    pub fn parse(text: &'a str) -> Result<KeyMap<'a>, toml::de::Error> {
        Ok(KeyMap {
            text,
            root: DeTable::parse(text)?,
        })
    }

    /// The 1-based line of byte `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        line_of(self.text, offset)
    }

    fn array(&self, name: &str) -> Vec<&Spanned<DeValue<'a>>> {
        match self.root.get_ref().get(name).map(|v| v.get_ref()) {
            Some(DeValue::Array(a)) => a.iter().collect(),
            _ => Vec::new(),
        }
    }

    /// The `[[connector]]` (or `[[host]]`, with `array = "host"`) table called `name`.
    fn named(&self, array: &str, name: &str) -> Option<&Spanned<DeValue<'a>>> {
        self.array(array).into_iter().find(|t| {
            matches!(t.get_ref(), DeValue::Table(t)
                if t.get("name").and_then(|n| n.get_ref().as_str()) == Some(name))
        })
    }

    /// The line of dotted `key` inside `table` (of the deepest part of it that is there), and
    /// whether all of it is there.
    fn key_line_in(&self, table: &DeTable<'a>, key: &str) -> (Option<usize>, bool) {
        let mut here = table;
        let mut line = None;
        let mut parts = key.split('.').filter(|p| !p.is_empty()).peekable();
        while let Some(part) = parts.next() {
            let Some((k, v)) = here.get_key_value(part) else {
                return (line, false);
            };
            line = Some(self.line_of(k.span().start));
            match (v.get_ref(), parts.peek()) {
                (_, None) => return (line, true),
                (DeValue::Table(t), Some(_)) => here = t,
                (_, Some(_)) => return (line, false),
            }
        }
        (line, true)
    }

    fn table_of<'t>(v: &'t Spanned<DeValue<'a>>) -> Option<&'t DeTable<'a>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The line an error about `key` in `scope` belongs on: the key's own line; for a
    /// connector's key that only `[defaults]` sets, that line; for a missing key, the line of
    /// its table.
    pub fn line(&self, scope: &Scope, key: &str) -> Option<usize> {
        let root = self.root.get_ref();
        let defaults = root.get("defaults").and_then(Self::table_of);
        let in_table = |t: &Spanned<DeValue<'a>>| {
            let whole = Self::table_of(t).map(|t| self.key_line_in(t, key));
            let inherited = defaults.map(|d| self.key_line_in(d, key));
            match (whole, inherited) {
                (Some((line, true)), _) | (_, Some((line, true))) => line,
                (Some((Some(line), false)), _) => Some(line),
                _ => Some(self.line_of(t.span().start)),
            }
        };
        match scope {
            Scope::Manifest => self.key_line_in(root, key).0,
            Scope::Defaults => defaults.and_then(|d| self.key_line_in(d, key).0),
            Scope::Connector(name) => self.named("connector", name).and_then(in_table),
            Scope::ConnectorNo(n) => self
                .array("connector")
                .get(n.checked_sub(1)?)
                .and_then(|t| in_table(t)),
            Scope::Host(name) => self.named("host", name).map(|t| {
                match Self::table_of(t).map(|tt| self.key_line_in(tt, key)) {
                    Some((Some(line), _)) => line,
                    _ => self.line_of(t.span().start),
                }
            }),
        }
    }

    /// Whose key the byte range `at` (from a toml error) is, and its line.
    pub fn locate(&self, at: Range<usize>) -> Location {
        let mut path = Vec::new();
        find_in_table(self.root.get_ref(), &at, &mut path);
        let line = Some(self.line_of(at.start));
        let keys = |segs: &[Seg]| {
            segs.iter()
                .filter_map(|s| match s {
                    Seg::Key(k) => Some(k.as_str()),
                    Seg::Index(_) => None,
                })
                .collect::<Vec<_>>()
                .join(".")
        };
        let scope = match path.as_slice() {
            [Seg::Key(array), Seg::Index(i), ..] if array == "connector" || array == "host" => {
                let name = self
                    .array(array)
                    .get(*i)
                    .copied()
                    .and_then(|t| match t.get_ref() {
                        DeValue::Table(t) => t.get("name")?.get_ref().as_str().map(str::to_string),
                        _ => None,
                    });
                let scope = match (array.as_str(), name) {
                    ("connector", Some(n)) => Scope::Connector(n),
                    ("connector", None) => Scope::ConnectorNo(i + 1),
                    (_, Some(n)) => Scope::Host(n),
                    (_, None) => Scope::Manifest,
                };
                return Location {
                    scope,
                    key: keys(&path[2..]),
                    line,
                };
            }
            [Seg::Key(d), ..] if d == "defaults" => Scope::Defaults,
            _ => Scope::Manifest,
        };
        let skip = usize::from(scope == Scope::Defaults);
        Location {
            scope,
            key: keys(&path[skip..]),
            line,
        }
    }
}

/// The 1-based line of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// What `key` (dotted, inside `scope`) takes, in plain words.
pub(crate) fn expectation(scope: &Scope, key: &str) -> Option<&'static str> {
    const SECONDS: &str = "a number of seconds, e.g. 10.0";
    const BOOL: &str = "true or false";
    let key =
        match scope {
            // A host's reconnect budget takes the restart budget's keys.
            Scope::Host(_) => match key.strip_prefix("reconnect") {
                Some(rest) => return expectation(&Scope::Defaults, &format!("restart{rest}")),
                None => match key {
                    "name" => return Some("a quoted host name, e.g. \"tokyo\""),
                    "command" => return Some(
                        "a quoted command, e.g. \"ssh -T trader@tokyo switchboard attach --stdio\"",
                    ),
                    _ => return None,
                },
            },
            Scope::Manifest => {
                return Some(match key {
                    "console" | "defaults" | "alerts" | "metrics" => "a table, e.g. [console]",
                    "connector" => "[[connector]] tables",
                    "host" => "[[host]] tables",
                    "console.state_dir" => "a quoted path, e.g. \".switchboard\"",
                    "console.log_max_bytes" => "a number of bytes, e.g. 67108864",
                    "console.log_keep" => "a whole number from 0 to 100, e.g. 3",
                    "console.scrollback" => "a number of lines, e.g. 10000",
                    "console.scrollback_bytes" => "a number of bytes, e.g. 4194304",
                    "console.confirm" => "\"bots\" or \"always\"",
                    "alerts.command" => "a quoted shell command, e.g. \"notify-send switchboard\"",
                    "alerts.min_interval" => SECONDS,
                    "alerts.bell" => BOOL,
                    "metrics.listen" => "a quoted address and port, e.g. \"127.0.0.1:9464\"",
                    _ => return None,
                })
            }
            Scope::Defaults | Scope::Connector(_) | Scope::ConnectorNo(_) => key,
        };
    if key.starts_with("env.") {
        return Some("a quoted string, e.g. \"info\"");
    }
    Some(match key {
        "name" => "a quoted name, e.g. \"bf\" (the connector name its bots use)",
        "type" => "one of \"binancefutures\", \"binancespot\", \"bybit\"",
        "config" => "the quoted path of the connector's own config, e.g. \"connector/examples/binancefutures.toml\"",
        "project_root" => "a quoted path, e.g. \"~/src/hftbacktest\"",
        "binary" => "a quoted path, e.g. \"target/release/connector\"",
        "profile" => "a quoted cargo profile name, e.g. \"release\"",
        "startup_timeout"
        | "shutdown_timeout"
        | "restart.initial_backoff"
        | "restart.max_backoff"
        | "restart.max_total"
        | "restart.uptime_reset"
        | "feed.stale_after" => SECONDS,
        "restart.multiplier" => "a number of at least 1, e.g. 2.0",
        "restart.jitter" => "a fraction from 0 to 1, e.g. 0.2",
        "restart.max_attempts" => "a whole number of at least 1, e.g. 20",
        "restart.policy" => "one of \"never\", \"on-failure\", \"always\"",
        "feed.on_stale" => "\"alert\" or \"restart\"",
        "feed.error_threshold" => "a whole number of errors per minute, e.g. 5",
        "auto_build" | "autostart" | "capture_output" => BOOL,
        "env" => "a table of strings, e.g. { RUST_LOG = \"info\" }",
        "features" => "a list of cargo features, e.g. [\"binancefutures\"]",
        "restart" => "a table, e.g. { policy = \"on-failure\", max_attempts = 20 }",
        "feed" => "a table, e.g. { stale_after = 10.0, on_stale = \"alert\" }",
        _ => return None,
    })
}

/// serde's name for what it expected, in plain words.
fn plain_expected(serde: &str) -> String {
    match serde.trim() {
        "f32" | "f64" => "a number".into(),
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => {
            "a whole number".into()
        }
        "a boolean" => "true or false".into(),
        "a string" => "a quoted string".into(),
        "a sequence" => "a list".into(),
        s if s == "a map" || s.starts_with("struct ") => "a table".into(),
        s => s.to_string(),
    }
}

/// The words between backticks in `s`, in order.
fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// toml's deserializer error `e` on `text`, as a [`ManifestError`] naming the connector (or
/// table) and the key, at the key's own line, in plain words.
pub(crate) fn explain(
    e: &toml::de::Error,
    map: &KeyMap<'_>,
    file: &std::path::Path,
) -> ManifestError {
    let msg = e.message().trim();
    let loc = match e.span() {
        Some(span) => map.locate(span),
        None => Location {
            scope: Scope::Manifest,
            key: String::new(),
            line: None,
        },
    };
    let under = |k: &str| {
        if loc.key.is_empty() {
            k.to_string()
        } else {
            format!("{}.{k}", loc.key)
        }
    };
    let (key, problem) = if let Some(rest) = msg.strip_prefix("unknown field ") {
        // The span is the unknown key itself.
        let words = backticked(rest);
        let unknown = words.first().copied().unwrap_or_default();
        let key = if loc.key.ends_with(unknown) {
            loc.key.clone()
        } else {
            under(unknown)
        };
        let hint = match did_you_mean(unknown, words.get(1..).unwrap_or_default()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => "remove it or fix its spelling (README: manifest reference)".into(),
        };
        (key, format!("unknown key; {hint}"))
    } else if let Some(rest) = msg.strip_prefix("unknown variant ") {
        let words = backticked(rest);
        let value = words.first().copied().unwrap_or_default();
        let expected = words.get(1..).unwrap_or_default();
        let allowed: Vec<String> = expected.iter().map(|w| format!("\"{w}\"")).collect();
        let hint = did_you_mean(value, expected)
            .map(|near| format!("; did you mean `{near}`?"))
            .unwrap_or_default();
        (
            loc.key.clone(),
            format!("\"{value}\" is not one of {}{hint}", allowed.join(", ")),
        )
    } else if let Some(rest) = msg.strip_prefix("missing field ") {
        let missing = backticked(rest).first().copied().unwrap_or_default();
        let key = under(missing);
        let want = expectation(&loc.scope, &key)
            .map(|w| format!(": give {w}"))
            .unwrap_or_default();
        (key, format!("is missing{want}"))
    } else if let Some((found, expected)) = msg
        .strip_prefix("invalid type: ")
        .or_else(|| msg.strip_prefix("invalid value: "))
        .and_then(|r| r.rsplit_once(", expected "))
    {
        let want = expectation(&loc.scope, &loc.key)
            .map(str::to_string)
            .unwrap_or_else(|| plain_expected(expected));
        (loc.key.clone(), format!("must be {want} (found {found})"))
    } else {
        (loc.key.clone(), msg.to_string())
    };
    ManifestError::Invalid {
        file: file.to_path_buf(),
        line: loc.line,
        scope: loc.scope,
        key,
        problem,
    }
}

/// The candidate closest to `word` when it is a near miss (a typo, a case or `-`/`_` slip):
/// what "did you mean" offers.
///
/// ```
/// # use switchboard::config::manifest::did_you_mean;
/// assert_eq!(did_you_mean("confg", &["name", "type", "config"]), Some("config"));
/// assert_eq!(did_you_mean("colour", &["state_dir", "log_keep"]), None);
/// ```
pub fn did_you_mean<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let fold = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let w = fold(word);
    candidates
        .iter()
        .map(|c| (edit_distance(&w, &fold(c)), *c))
        .filter(|(d, c)| *d <= (c.chars().count().max(word.chars().count()) / 3).clamp(1, 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The number of single-character insertions, deletions, substitutions and swaps of two
/// neighbours that turn `a` into `b` (optimal string alignment distance).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back (for swaps), one back, and the one being filled.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_typos() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("config", "config"), 0);
        assert_eq!(edit_distance("confg", "config"), 1);
        assert_eq!(edit_distance("cofnig", "config"), 1, "a swap is one edit");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
    }

    #[test]
    fn did_you_mean_offers_only_near_misses() {
        let keys = ["name", "type", "config", "startup_timeout", "auto_build"];
        assert_eq!(did_you_mean("confg", &keys), Some("config"));
        assert_eq!(did_you_mean("Config", &keys), Some("config"));
        assert_eq!(did_you_mean("auto-build", &keys), Some("auto_build"));
        assert_eq!(
            did_you_mean("startup_timout", &keys),
            Some("startup_timeout")
        );
        assert_eq!(did_you_mean("colour", &keys), None);
        assert_eq!(did_you_mean("x", &keys), None);
        assert_eq!(
            did_you_mean("on-falure", &["never", "on-failure", "always"]),
            Some("on-failure")
        );
    }

    const DOC: &str = "[console]\nlog_keep = 3\n\n[defaults]\nrestart = { max_attempts = 3 }\n\n[[connector]]\nname = \"bf\"\ntype = \"binancefutures\"\nstartup_timeout = \"ten\"\nrestart = { policy = \"x\" }\n\n[[connector]]\ntype = \"bybit\"\n";

    #[test]
    fn a_message_without_backticks_is_kept_and_never_panics() {
        let map = KeyMap::parse(DOC).expect("toml");
        let file = std::path::Path::new("/m.toml");
        for msg in [
            "unknown field x",
            "unknown variant x",
            "missing field x",
            "invalid type: x",
        ] {
            // Only the message matters here (serde's own always has the backticks).
            let e: toml::de::Error = serde::de::Error::custom(msg);
            let said = explain(&e, &map, file).to_string();
            assert!(said.starts_with("/m.toml: "), "{said}");
        }
    }

    #[test]
    fn a_span_is_located_to_its_connector_and_key() {
        let map = KeyMap::parse(DOC).expect("toml");
        let at = |needle: &str| {
            let i = DOC.find(needle).expect("needle");
            map.locate(i..i + needle.len())
        };
        assert_eq!(
            at("\"ten\""),
            Location {
                scope: Scope::Connector("bf".into()),
                key: "startup_timeout".into(),
                line: Some(10)
            }
        );
        assert_eq!(at("\"x\"").key, "restart.policy");
        assert_eq!(at("\"x\"").line, Some(11));
        assert_eq!(at("\"bybit\"").scope, Scope::ConnectorNo(2));
        assert_eq!(at("max_attempts").scope, Scope::Defaults);
        assert_eq!(at("max_attempts").key, "restart.max_attempts");
        assert_eq!(at("log_keep").scope, Scope::Manifest);
        assert_eq!(at("log_keep").key, "console.log_keep");
    }

    #[test]
    fn a_key_is_found_on_its_own_line_or_in_defaults() {
        let map = KeyMap::parse(DOC).expect("toml");
        let bf = Scope::Connector("bf".into());
        assert_eq!(map.line(&bf, "startup_timeout"), Some(10));
        assert_eq!(map.line(&bf, "restart.policy"), Some(11));
        // Inherited from [defaults]: the line that sets it.
        assert_eq!(map.line(&bf, "shutdown_timeout"), Some(7));
        assert_eq!(map.line(&Scope::ConnectorNo(2), "name"), Some(13));
        assert_eq!(map.line(&Scope::Manifest, "console.log_keep"), Some(2));
        assert_eq!(map.line(&Scope::Defaults, "restart.max_attempts"), Some(5));
    }
}
