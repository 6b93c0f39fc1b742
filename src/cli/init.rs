//! `switchboard init`: a starter manifest from an hftbacktest checkout's
//! `connector/examples/*.toml`, one `[[connector]]` per example whose file name says its
//! exchange. Each example it uses is copied into a private `configs/` beside the manifest
//! (0700, files 0600) and the manifest points there: API keys get written into those copies,
//! never into the checkout's tracked files. [`starter`] returns the text (pure);
//! [`copy_configs`] makes the copies; [`init`] (the command) writes the manifest.

use std::path::{Path, PathBuf};

use crate::config::connector::ConnectorType;
use crate::exit;

/// Why no starter manifest could be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InitError {
    #[error("{dir}: no connector/examples/*.toml there; run `switchboard init` in an hftbacktest checkout, or name one: `switchboard init ~/src/hftbacktest`")]
    NoExamples { dir: PathBuf },
    #[error("{dir}/connector/examples: none of {files} names an exchange (binancefutures, binancespot, bybit); write the [[connector]] entries by hand (see the README's manifest reference)")]
    NoKnownType { dir: PathBuf, files: String },
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("cannot copy {from} to {to}: {message}; check that directory's permissions, or write the manifest elsewhere with --manifest")]
    Copy {
        from: PathBuf,
        to: PathBuf,
        message: String,
    },
}

/// The private directory beside the manifest that holds the copied configs.
pub const CONFIGS_DIR: &str = "configs";

/// One connector the starter manifest gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub kind: ConnectorType,
    /// The checkout's example config it starts from.
    pub example: PathBuf,
    /// Its private copy, as written in the manifest: `configs/<file>` (relative to it).
    pub config: String,
}

/// The exchange an example's file name says: `binancefutures.toml`, `bybit_testnet.toml`.
fn kind_of(stem: &str) -> Option<ConnectorType> {
    let s = stem.to_lowercase();
    ConnectorType::ALL
        .into_iter()
        .find(|k| s.starts_with(k.as_str()))
}

/// The connectors for the examples of `checkout` (sorted by file name), and the example files
/// skipped because their names say no exchange.
pub fn entries(checkout: &Path) -> Result<(Vec<Entry>, Vec<String>), InitError> {
    let dir = checkout.join("connector").join("examples");
    let read = std::fs::read_dir(&dir).map_err(|_| InitError::NoExamples {
        dir: checkout.to_path_buf(),
    })?;
    let mut files: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(InitError::NoExamples {
            dir: checkout.to_path_buf(),
        });
    }
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for f in &files {
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        match kind_of(&stem) {
            Some(kind) => {
                // A name the manifest accepts: the stem's letters, digits, '-' and '_'.
                let name: String = stem
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let file = f
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                out.push(Entry {
                    name,
                    kind,
                    example: f.clone(),
                    config: format!("{CONFIGS_DIR}/{file}"),
                });
            }
            None => skipped.push(
                f.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
            ),
        }
    }
    if out.is_empty() {
        return Err(InitError::NoKnownType {
            dir: checkout.to_path_buf(),
            files: skipped.join(", "),
        });
    }
    Ok((out, skipped))
}

/// A TOML string literal.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// What `init` made of a checkout: the manifest's text, its connectors, and the example
/// files skipped (their names say no exchange).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Starter {
    pub text: String,
    pub entries: Vec<Entry>,
    pub skipped: Vec<String>,
}

/// Seconds as the manifest writes them (`10.0`).
fn secs(d: std::time::Duration) -> String {
    format!("{:?}", d.as_secs_f64())
}

/// The commented defaults: the values the code uses when a key is absent (its constants and
/// `Default`s, never typed here), so uncommenting a line changes nothing.
fn defaults_comments() -> String {
    use crate::config::manifest::{feed_defaults, RestartPolicy};
    let r = RestartPolicy::default();
    let policy = toml::Value::try_from(r.policy)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| "\"on-failure\"".into());
    let mut t = String::new();
    t.push_str(&format!(
        "# startup_timeout = {:?}            # seconds until ready, else stopped and counted a failure\n",
        crate::config::manifest::DEFAULT_STARTUP_TIMEOUT
    ));
    t.push_str(&format!(
        "# shutdown_timeout = {:?}            # seconds from SIGTERM to SIGKILL\n",
        crate::config::manifest::DEFAULT_SHUTDOWN_TIMEOUT
    ));
    t.push_str(&format!(
        "# restart = {{ policy = {policy}, initial_backoff = {}, max_backoff = {}, multiplier = {:?}, jitter = {:?}, max_attempts = {}, max_total = {}, uptime_reset = {} }}\n",
        secs(r.initial_backoff),
        secs(r.max_backoff),
        r.multiplier,
        r.jitter,
        r.max_attempts,
        secs(r.max_total),
        secs(r.uptime_reset),
    ));
    t.push_str(&format!(
        "# feed = {{ stale_after = {:?}, error_threshold = {} }}   # STALE when a bot waits and no data comes\n",
        feed_defaults::STALE_AFTER,
        feed_defaults::ERROR_THRESHOLD
    ));
    t
}

/// The starter manifest's text for `checkout`, to be written in `manifest_dir`, its configs
/// the copies [`copy_configs`] makes in `manifest_dir/configs`. The project root is named only
/// when the manifest is not inside the checkout (else it is found by walking up).
pub fn starter(checkout: &Path, manifest_dir: &Path) -> Result<Starter, InitError> {
    let (entries, skipped) = entries(checkout)?;
    let mut t = String::new();
    t.push_str("# switchboard manifest, written by `switchboard init` from ");
    t.push_str(&format!("{}/connector/examples.\n", checkout.display()));
    t.push_str(
        "# Next: `switchboard check`, then `switchboard` (the TUI). Reference: the README.\n",
    );
    t.push_str(&format!(
        "# The configs are private copies in {CONFIGS_DIR}/ (only you can read them): put your keys\n"
    ));
    t.push_str(
        "# there (never shown by switchboard); they talk to the exchange's testnet until you\n",
    );
    t.push_str("# edit their URLs. Commented keys show the defaults.\n\n");
    t.push_str("[console]\n");
    t.push_str(&format!(
        "# state_dir = {}        # state.json, lock, logs/\n",
        quoted(crate::config::manifest::DEFAULT_STATE_DIR)
    ));
    t.push_str("# confirm = \"bots\"                  # or \"always\": x, r, K always ask\n\n");
    t.push_str("[defaults]\n");
    if !manifest_dir.starts_with(checkout) {
        t.push_str(&format!(
            "project_root = {}\n",
            quoted(&checkout.display().to_string())
        ));
    }
    t.push_str(
        "# autostart = true                  # start each connector when the console opens\n",
    );
    t.push_str(&defaults_comments());
    for e in &entries {
        t.push_str("\n[[connector]]\n");
        t.push_str(&format!(
            "name = {}{}# must equal the connector name your bot uses\n",
            quoted(&e.name),
            " ".repeat(24usize.saturating_sub(e.name.len() + 2))
        ));
        t.push_str(&format!("type = {}\n", quoted(e.kind.as_str())));
        t.push_str(&format!(
            "config = {}   # a private copy of {}\n",
            quoted(&e.config),
            e.example.display()
        ));
    }
    for s in &skipped {
        t.push_str(&format!(
            "\n# connector/examples/{s}: its name says no exchange (binancefutures, binancespot,\n# bybit); add a [[connector]] for it by hand if you need it.\n"
        ));
    }
    Ok(Starter {
        text: t,
        entries,
        skipped,
    })
}

/// What [`copy_configs`] did with one entry's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Copied {
    /// Copied now, at this path.
    New(PathBuf),
    /// A copy was already there (keys may be in it): left as it is.
    Kept(PathBuf),
}

/// Copies each entry's example into `manifest_dir/configs/` (created 0700; files 0600). An
/// existing copy is never overwritten, even with `init --force`: it may hold the keys.
pub fn copy_configs(entries: &[Entry], manifest_dir: &Path) -> Result<Vec<Copied>, InitError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = manifest_dir.join(CONFIGS_DIR);
    crate::engine::io::private_fs::ensure_private_dir(&dir).map_err(|e| InitError::Copy {
        from: entries
            .first()
            .map(|e| e.example.clone())
            .unwrap_or_default(),
        to: dir.clone(),
        message: e.to_string(),
    })?;
    // Inside a git checkout, `git add .` must not pick the keys up.
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(&ignore, "# API keys live here: never commit them\n*\n").map_err(|e| {
            InitError::Copy {
                from: PathBuf::new(),
                to: ignore.clone(),
                message: e.to_string(),
            }
        })?;
    }
    let mut out = Vec::new();
    for e in entries {
        let to = manifest_dir.join(&e.config);
        let fail = |message: String| InitError::Copy {
            from: e.example.clone(),
            to: to.clone(),
            message,
        };
        let text = std::fs::read(&e.example).map_err(|err| InitError::Read {
            path: e.example.clone(),
            message: err.to_string(),
        })?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&to);
        match file {
            Ok(mut f) => {
                f.write_all(&text).map_err(|err| fail(err.to_string()))?;
                out.push(Copied::New(to));
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                out.push(Copied::Kept(to))
            }
            Err(err) => return Err(fail(err.to_string())),
        }
    }
    Ok(out)
}

/// `switchboard init [CHECKOUT] [--force]`: writes a starter manifest at `path` from the
/// checkout's `connector/examples/*.toml` (the checkout: named, else the nearest one above the
/// current directory, else `$HFTBACKTEST_ROOT`). An existing manifest is kept unless `force`.
pub fn init(path: &Path, checkout: Option<&Path>, force: bool) -> u8 {
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let checkout = match checkout {
        Some(c) => cwd.join(c),
        None => match crate::config::manifest::find_project_root(None, &cwd) {
            Ok(c) => c,
            Err(why) => {
                eprintln!("error: no hftbacktest checkout found ({why}); run `switchboard init` inside one, or name it: `switchboard init ~/src/hftbacktest`");
                return exit::USAGE;
            }
        },
    };
    let checkout = checkout.canonicalize().unwrap_or(checkout);
    let path = cwd.join(path);
    if path.exists() && !force {
        eprintln!(
            "error: {} exists; it was left as it is. Pass --force to replace it, or --manifest OTHER.toml to write another",
            path.display()
        );
        return exit::USAGE;
    }
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| cwd.clone());
    let dir = dir.canonicalize().unwrap_or(dir);
    let Starter {
        text,
        entries,
        skipped,
    } = match starter(&checkout, &dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    // The configs first: a manifest never points at copies that are not there.
    let copied = match copy_configs(&entries, &dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("error: cannot write {}: {e}", path.display());
        return exit::FAILURE;
    }
    let names: Vec<String> = entries
        .iter()
        .map(|e| format!("{} ({})", e.name, e.kind.as_str()))
        .collect();
    outln!(
        "wrote {} with {} connector(s): {}",
        path.display(),
        entries.len(),
        names.join(", ")
    );
    for c in &copied {
        match c {
            Copied::New(p) => {
                outln!("copied {} (private: mode 0600)", p.display())
            }
            Copied::Kept(p) => {
                outln!("kept {} (it was there; it may hold your keys)", p.display())
            }
        }
    }
    for s in &skipped {
        outln!("skipped connector/examples/{s}: its name says no exchange (binancefutures, binancespot, bybit)");
    }
    outln!("next: put your keys in the copies, rename each connector to the name your bot uses, then `switchboard check` and `switchboard`");
    exit::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkout(files: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        let ex = d.path().join("connector/examples");
        std::fs::create_dir_all(&ex).expect("dirs");
        for f in files {
            std::fs::write(ex.join(f), "api_key = \"\"\n").expect("write");
        }
        d
    }

    #[test]
    fn one_connector_per_example_that_names_its_exchange() {
        let d = checkout(&[
            "bybit.toml",
            "binancefutures.toml",
            "notes.toml",
            "README.md",
        ]);
        let Starter {
            text,
            entries,
            skipped,
        } = starter(d.path(), d.path()).expect("starter");
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["binancefutures", "bybit"]);
        assert_eq!(entries[0].config, "configs/binancefutures.toml");
        assert_eq!(skipped, ["notes.toml"]);
        assert!(
            !text.contains("project_root ="),
            "found by walking up: {text}"
        );
        assert!(
            text.contains("notes.toml: its name says no exchange"),
            "{text}"
        );
        let parsed: toml::Table = text.parse().expect("valid TOML");
        assert_eq!(parsed["connector"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn outside_the_checkout_the_project_root_is_named() {
        let d = checkout(&["binancespot_testnet.toml"]);
        let elsewhere = tempfile::tempdir().expect("tempdir");
        let Starter { text, entries, .. } = starter(d.path(), elsewhere.path()).expect("starter");
        assert_eq!(entries[0].kind, ConnectorType::BinanceSpot);
        assert_eq!(entries[0].name, "binancespot_testnet");
        assert_eq!(entries[0].config, "configs/binancespot_testnet.toml");
        assert!(text.contains(&format!("project_root = \"{}\"", d.path().display())));
    }

    #[test]
    fn no_examples_or_none_known_say_what_to_do() {
        let empty = tempfile::tempdir().expect("tempdir");
        let e = starter(empty.path(), empty.path()).expect_err("no examples");
        assert!(e
            .to_string()
            .contains("run `switchboard init` in an hftbacktest checkout"));
        let d = checkout(&["notes.toml"]);
        let e = starter(d.path(), d.path()).expect_err("none known");
        assert!(e.to_string().contains("notes.toml"), "{e}");
    }

    /// Uncommenting every commented default changes no connector: the comments are the real
    /// defaults (a hand-typed `stale_after = 30.0` would fail this).
    #[test]
    fn the_commented_defaults_are_the_defaults() {
        let d = checkout(&["binancefutures.toml"]);
        std::fs::write(
            d.path().join("connector/examples/binancefutures.toml"),
            "stream_url = \"wss://x\"\napi_url = \"https://x\"\n",
        )
        .expect("w");
        std::fs::write(d.path().join("Cargo.toml"), "[workspace]\n").expect("w");
        std::fs::write(d.path().join("connector/Cargo.toml"), "[package]\n").expect("w");
        let s = starter(d.path(), d.path()).expect("starter");
        copy_configs(&s.entries, d.path()).expect("copied");
        let load = |text: &str| {
            let p = d.path().join("switchboard.toml");
            std::fs::write(&p, text).expect("w");
            crate::config::manifest::Manifest::load(&p).expect("valid manifest")
        };
        let uncommented: String = s
            .text
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if rest.split_whitespace().nth(1) == Some("=") => rest,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(uncommented.contains("\nstale_after") || uncommented.contains("\nfeed = {"));
        assert_ne!(uncommented, s.text);
        let (plain, explicit) = (load(&s.text), load(&uncommented));
        assert_eq!(plain.console.state_dir, explicit.console.state_dir);
        assert_eq!(
            format!("{:?}", plain.connectors),
            format!("{:?}", explicit.connectors)
        );
    }

    #[test]
    fn the_copies_are_private_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = checkout(&["bybit.toml"]);
        let out = tempfile::tempdir().expect("tempdir");
        let s = starter(d.path(), out.path()).expect("starter");
        let copied = copy_configs(&s.entries, out.path()).expect("copied");
        let copy = out.path().join("configs/bybit.toml");
        assert_eq!(copied, [Copied::New(copy.clone())]);
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&copy), 0o600);
        assert_eq!(mode(&out.path().join("configs")), 0o700);
        let ignore = std::fs::read_to_string(out.path().join("configs/.gitignore")).expect("r");
        assert!(ignore.lines().any(|l| l == "*"), "{ignore}");
        assert_eq!(
            std::fs::read_to_string(&copy).expect("r"),
            "api_key = \"\"\n"
        );
        // Keys written into the copy survive a second init.
        std::fs::write(&copy, "api_key = \"mine\"\n").expect("w");
        let again = copy_configs(&s.entries, out.path()).expect("again");
        assert_eq!(again, [Copied::Kept(copy.clone())]);
        assert_eq!(
            std::fs::read_to_string(&copy).expect("r"),
            "api_key = \"mine\"\n"
        );
    }
}
