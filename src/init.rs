//! `switchboard init`: a starter manifest from an hftbacktest checkout's
//! `connector/examples/*.toml`, one `[[connector]]` per example whose file name says its
//! exchange. Pure: [`starter`] returns the text; the CLI writes it.

use std::path::{Path, PathBuf};

use crate::connector_config::ConnectorType;

/// Why no starter manifest could be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InitError {
    #[error("{dir}: no connector/examples/*.toml there; run `switchboard init` in an hftbacktest checkout, or name one: `switchboard init ~/src/hftbacktest`")]
    NoExamples { dir: PathBuf },
    #[error("{dir}/connector/examples: none of {files} names an exchange (binancefutures, binancespot, bybit); write the [[connector]] entries by hand (see the README's manifest reference)")]
    NoKnownType { dir: PathBuf, files: String },
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
}

/// One connector the starter manifest gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub kind: ConnectorType,
    /// The example config, as written in the manifest (relative to it when it can be).
    pub config: String,
}

/// The exchange an example's file name says: `binancefutures.toml`, `bybit_testnet.toml`.
fn kind_of(stem: &str) -> Option<ConnectorType> {
    let s = stem.to_lowercase();
    ConnectorType::ALL
        .into_iter()
        .find(|k| s.starts_with(k.as_str()))
}

/// `path` as the manifest in `manifest_dir` writes it: relative below that dir, else absolute.
fn written(path: &Path, manifest_dir: &Path) -> String {
    path.strip_prefix(manifest_dir)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The connectors for the examples of `checkout` (sorted by file name), and the example files
/// skipped because their names say no exchange.
pub fn entries(
    checkout: &Path,
    manifest_dir: &Path,
) -> Result<(Vec<Entry>, Vec<String>), InitError> {
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
                out.push(Entry {
                    name,
                    kind,
                    config: written(f, manifest_dir),
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

/// The starter manifest's text for `checkout`, to be written in `manifest_dir`. The project
/// root is named only when the manifest is not inside the checkout (else it is found by
/// walking up).
pub fn starter(checkout: &Path, manifest_dir: &Path) -> Result<(String, Vec<Entry>), InitError> {
    let (entries, skipped) = entries(checkout, manifest_dir)?;
    let mut t = String::new();
    t.push_str("# switchboard manifest, written by `switchboard init` from ");
    t.push_str(&format!("{}/connector/examples.\n", checkout.display()));
    t.push_str(
        "# Next: `switchboard check`, then `switchboard` (the TUI). Reference: the README.\n",
    );
    t.push_str("# Each example config talks to the exchange's testnet; edit its URLs and keys\n");
    t.push_str("# (never shown by switchboard) before trading for real.\n\n");
    t.push_str("[console]\n");
    t.push_str("# state_dir = \".switchboard\"        # state.json, lock, logs/\n");
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
    t.push_str("# restart = { policy = \"on-failure\" }\n");
    t.push_str("# feed = { stale_after = 30.0 }     # STALE when a bot waits and no data comes\n");
    for e in &entries {
        t.push_str("\n[[connector]]\n");
        t.push_str(&format!(
            "name = {}{}# must equal the connector name your bot uses\n",
            quoted(&e.name),
            " ".repeat(24usize.saturating_sub(e.name.len() + 2))
        ));
        t.push_str(&format!("type = {}\n", quoted(e.kind.as_str())));
        t.push_str(&format!("config = {}\n", quoted(&e.config)));
    }
    for s in &skipped {
        t.push_str(&format!(
            "\n# connector/examples/{s}: its name says no exchange (binancefutures, binancespot,\n# bybit); add a [[connector]] for it by hand if you need it.\n"
        ));
    }
    Ok((t, entries))
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
        let (text, entries) = starter(d.path(), d.path()).expect("starter");
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["binancefutures", "bybit"]);
        assert_eq!(entries[0].config, "connector/examples/binancefutures.toml");
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
    fn outside_the_checkout_the_project_root_and_configs_are_absolute() {
        let d = checkout(&["binancespot_testnet.toml"]);
        let elsewhere = tempfile::tempdir().expect("tempdir");
        let (text, entries) = starter(d.path(), elsewhere.path()).expect("starter");
        assert_eq!(entries[0].kind, ConnectorType::BinanceSpot);
        assert_eq!(entries[0].name, "binancespot_testnet");
        assert!(entries[0].config.starts_with('/'), "{:?}", entries[0]);
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
}
