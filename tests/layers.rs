//! The folders are the layers (README "Architecture"): every `crate::` path in `src/` names a
//! layer at or below its own file's. A new import that runs back up, or into the pure core from
//! an adapter's side, fails here with the file and the path.

use std::path::{Path, PathBuf};

/// From the top down. A file may use its own layer and any layer after it.
const LAYERS: &[&str] = &[
    "cli",
    "tui",
    "console",
    "observers",
    "fleet",
    "control",
    "runner",
    "engine",
    "engine/io",
    "machine",
    "config",
    "error",
    "model",
    "wire",
    "exit",
];

/// The layer of a source file under `src/`: its top folder (or file), `engine/io` apart from
/// the engine's own files.
fn layer_of(rel: &Path) -> Option<String> {
    let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
    let top = parts.first()?.trim_end_matches(".rs");
    if top == "engine" && parts.len() > 2 && parts[1] == "io" {
        return Some(format!("engine/{}", parts[1]));
    }
    Some(top.to_string())
}

/// The layer a `crate::a::b::…` path names.
fn layer_named(path: &str) -> String {
    let mut it = path.split("::").skip(1);
    let first = it.next().unwrap_or_default();
    match (first, it.next()) {
        ("engine", Some("io")) => "engine/io".to_string(),
        _ => first.to_string(),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `crate::…` paths in code (line comments left out), with their line numbers.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let before = rest[..i].chars().last();
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                found.push((n + 1, tail[..end].trim_end_matches(':').to_string()));
            }
            rest = &tail[end.max(7)..];
        }
    }
    found
}

#[test]
fn every_import_runs_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let rank = |l: &str| LAYERS.iter().position(|x| *x == l);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src");
        // The binaries and the crate root stand above every layer; test modules may reach
        // anywhere to arrange a case.
        let name = rel.to_string_lossy();
        if name.starts_with("bin/")
            || name == "main.rs"
            || name == "lib.rs"
            || name.ends_with("_tests.rs")
        {
            continue;
        }
        let Some(own) = layer_of(rel) else { continue };
        let Some(own_rank) = rank(&own) else {
            wrong.push(format!(
                "{name}: its folder `{own}` is not a layer of LAYERS"
            ));
            continue;
        };
        let text = std::fs::read_to_string(f).expect("read a source file");
        // Unit tests at the end of a file arrange cases from anywhere.
        let body = text.split("#[cfg(test)]").next().unwrap_or(&text);
        for (line, path) in crate_paths(body) {
            checked += 1;
            let to = layer_named(&path);
            match rank(&to) {
                Some(r) if r >= own_rank => {}
                Some(_) => wrong.push(format!(
                    "{name}:{line}: `{path}` runs up from {own} to {to}"
                )),
                None => wrong.push(format!("{name}:{line}: `{path}` names no layer")),
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} paths seen: is the scan broken?"
    );
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_scan_sees_a_path_that_runs_up() {
    // The checker itself: a machine file naming the engine's adapters is caught.
    let paths = crate_paths("use crate::engine::io::logs; // crate::tui in a comment\n");
    assert_eq!(paths, [(1, "crate::engine::io::logs".to_string())]);
    assert_eq!(layer_named(&paths[0].1), "engine/io");
    assert_eq!(
        layer_of(Path::new("machine/state.rs")).as_deref(),
        Some("machine")
    );
    assert_eq!(
        layer_of(Path::new("engine/io/relay.rs")).as_deref(),
        Some("engine/io")
    );
    assert_eq!(
        layer_of(Path::new("engine/mod.rs")).as_deref(),
        Some("engine")
    );
}

#[test]
fn no_folder_holds_more_than_thirty_percent_of_the_lines() {
    // A folder that grows past this is a house with one room: split it by what its files are.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut per_top: std::collections::BTreeMap<String, usize> = Default::default();
    let mut total = 0;
    for f in &files {
        let lines = std::fs::read_to_string(f).expect("read").lines().count();
        total += lines;
        let rel = f.strip_prefix(&src).expect("under src");
        if rel.components().count() > 1 {
            let top = rel
                .iter()
                .next()
                .and_then(|p| p.to_str())
                .unwrap_or_default();
            *per_top.entry(top.to_string()).or_default() += lines;
        }
    }
    let over: Vec<String> = per_top
        .iter()
        .filter(|(_, n)| **n * 100 > total * 30)
        .map(|(d, n)| {
            format!(
                "src/{d}/: {n} of {total} lines ({:.1} %)",
                *n as f64 * 100.0 / total as f64
            )
        })
        .collect();
    assert!(
        over.is_empty(),
        "folders over 30 % of src/:\n{}",
        over.join("\n")
    );
}
