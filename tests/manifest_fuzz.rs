//! Property-based fuzzing of the manifest and of connector configs: generated and mutated
//! `switchboard.toml` files and exchange configs, 3,000 cases per run. Loading must never
//! panic; every rejection must name the file and a key (or a line) the operator can go to; no
//! message may contain a secret from a connector config.

use std::path::Path;

use proptest::prelude::*;
use switchboard::config::manifest::{Manifest, ManifestOutline};

/// Connector names: good ones and every kind of bad one.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => "[a-z][a-z0-9_.-]{0,12}",
        1 => Just(String::new()),
        1 => Just("bf/1".to_string()),
        1 => Just("-bf".to_string()),
        1 => Just("bf".to_string()),
        1 => Just("x".repeat(300)),
        1 => "[ -~]{0,8}",
        1 => "\\PC{1,6}",
    ]
}

fn kind() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => prop::sample::select(vec!["binancefutures", "binancespot", "bybit"])
            .prop_map(str::to_string),
        1 => "[a-z]{0,10}",
    ]
}

/// A hostile value of any type: numbers in and out of every range, strings, tables.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| {
            if v.is_finite() {
                format!("{v:?}")
            } else {
                "nan".into()
            }
        }),
        Just("-1.0".to_string()),
        Just("0".to_string()),
        Just("1e-9".to_string()),
        Just("4294967295".to_string()),
        Just("1e300".to_string()),
        "\"[ -~&&[^\"\\\\]]{0,12}\"",
        Just("true".to_string()),
        Just("{ \"\" = \"x\" }".to_string()),
        Just("{ \"A=B\" = \"x\" }".to_string()),
        Just("{ policy = \"sometimes\" }".to_string()),
        Just("{ max_attempts = 0 }".to_string()),
        Just("{ jitter = 2.0 }".to_string()),
    ]
}

/// A value that suits `key` (usually), or a hostile one.
fn value_for(key: &'static str) -> BoxedStrategy<String> {
    let good: BoxedStrategy<String> = match key {
        "log_max_bytes" => (4096u64..1 << 30).prop_map(|v| v.to_string()).boxed(),
        "log_keep" => (0u32..=100).prop_map(|v| v.to_string()).boxed(),
        "scrollback" => (1usize..100_000).prop_map(|v| v.to_string()).boxed(),
        "scrollback_bytes" => (65536usize..1 << 28).prop_map(|v| v.to_string()).boxed(),
        "state_dir" => Just("\"state\"".to_string()).boxed(),
        "startup_timeout" | "shutdown_timeout" => {
            (0.1f64..100.0).prop_map(|v| format!("{v:.2}")).boxed()
        }
        "auto_build" | "autostart" | "capture_output" => {
            any::<bool>().prop_map(|v| v.to_string()).boxed()
        }
        "env" => "[A-Z_]{1,6}"
            .prop_map(|k| format!("{{ {k} = \"1\" }}"))
            .boxed(),
        "restart" => (1u32..30, 0.0f64..=1.0, 0.05f64..5.0)
            .prop_map(|(a, j, b)| {
                format!("{{ max_attempts = {a}, jitter = {j:.2}, initial_backoff = {b:.2}, max_backoff = 30.0 }}")
            })
            .boxed(),
        "features" => Just("[\"binancefutures\"]".to_string()).boxed(),
        "profile" => prop::sample::select(vec!["\"release\"", "\"dev\"", "\"debug\""])
            .prop_map(str::to_string)
            .boxed(),
        _ => hostile().boxed(),
    };
    prop_oneof![20 => good, 1 => hostile()].boxed()
}

/// One `key = value` line from `keys`, without repeating a key.
fn pairs(
    keys: &'static [&'static str],
    max: usize,
) -> impl Strategy<Value = Vec<(&'static str, String)>> {
    prop::sample::subsequence(keys.to_vec(), 0..=max).prop_flat_map(|ks| {
        ks.into_iter()
            .map(|k| value_for(k).prop_map(move |v| (k, v)))
            .collect::<Vec<_>>()
    })
}

const CONSOLE_KEYS: &[&str] = &[
    "state_dir",
    "log_max_bytes",
    "log_keep",
    "scrollback",
    "scrollback_bytes",
];

const CONNECTOR_KEYS: &[&str] = &[
    "startup_timeout",
    "shutdown_timeout",
    "auto_build",
    "autostart",
    "capture_output",
    "env",
    "restart",
    "features",
    "profile",
];

/// A connector config: a subset of the exchange keys, with secrets that must never be shown.
fn config(secret: String) -> impl Strategy<Value = String> {
    let keys = prop::sample::subsequence(
        vec![
            "stream_url",
            "api_url",
            "ws_api_url",
            "public_url",
            "private_url",
            "trade_url",
            "rest_url",
            "category",
            "order_prefix",
            "api_key",
            "secret",
        ],
        0..=11,
    );
    let whole = prop::sample::select(vec![
        vec!["stream_url", "api_url"],
        vec!["stream_url", "api_url", "api_key", "secret"],
        vec!["stream_url", "api_url", "ws_api_url", "api_key", "secret"],
        vec![
            "public_url",
            "private_url",
            "trade_url",
            "rest_url",
            "api_key",
            "secret",
            "category",
            "order_prefix",
        ],
    ]);
    let keys = prop_oneof![2 => whole, 1 => keys];
    (keys, any::<bool>(), any::<u8>()).prop_map(move |(keys, pem, junk)| {
        let mut text = String::new();
        for k in keys {
            let v = match k {
                "api_key" => secret.clone(),
                "secret" if pem => format!(
                    "-----BEGIN PRIVATE KEY-----\\n{secret}PEMBODY\\n-----END PRIVATE KEY-----\\n"
                ),
                "secret" => format!("{secret}S"),
                "order_prefix" => "p".repeat(junk as usize % 12),
                _ => "wss://example.invalid".into(),
            };
            text.push_str(&format!("{k} = \"{v}\"\n"));
        }
        match junk % 13 {
            // A TOML error on the line of a secret: the message must not echo the line.
            0 => text.push_str(&format!("broken = \"{secret}\" junk\n")),
            1 => text.push_str("api_key = 7\n"),
            _ => {}
        }
        text
    })
}

#[derive(Debug, Clone)]
struct Case {
    manifest: String,
    configs: Vec<String>,
    secret: String,
}

fn case() -> impl Strategy<Value = Case> {
    let secret = "[A-Z0-9]{12,20}".prop_map(|s| format!("SECRET{s}"));
    secret.prop_flat_map(|secret| {
        let connector = (name(), kind(), 0usize..4, pairs(CONNECTOR_KEYS, 2));
        (
            pairs(CONSOLE_KEYS, 2),
            pairs(CONNECTOR_KEYS, 2),
            prop::collection::vec(connector, 1..4),
            prop::collection::vec(config(secret.clone()), 3),
            prop::option::weighted(
                0.1,
                prop::collection::vec((any::<prop::sample::Index>(), "[ -~\n]{1,3}"), 1..3),
            ),
            (Just(secret), prop::option::weighted(0.05, "[a-z_]{1,10}")),
        )
            .prop_map(
                |(console, defaults, connectors, configs, edits, (secret, unknown))| {
                    let mut m = String::new();
                    let (console, defaults) = (console, defaults);
                    if !console.is_empty() {
                        m.push_str("[console]\n");
                        for (k, v) in console {
                            m.push_str(&format!("{k} = {v}\n"));
                        }
                    }
                    m.push_str("[defaults]\nproject_root = \"ROOT\"\nbinary = \"/bin/true\"\n");
                    if let Some(k) = unknown {
                        m.push_str(&format!("{k} = 1\n"));
                    }
                    for (k, v) in defaults {
                        m.push_str(&format!("{k} = {v}\n"));
                    }
                    for (name, kind, cfg, keys) in connectors {
                        let config = match cfg {
                            3 => "missing.toml".to_string(),
                            i => format!("c{i}.toml"),
                        };
                        m.push_str(&format!(
                            "\n[[connector]]\nname = {}\ntype = {}\nconfig = \"{config}\"\n",
                            toml_string(&name),
                            toml_string(&kind)
                        ));
                        for (k, v) in keys {
                            m.push_str(&format!("{k} = {v}\n"));
                        }
                    }
                    // Byte-level mutations: insertions at random places (syntax errors included).
                    for (at, text) in edits.into_iter().flatten() {
                        let mut at = at.index(m.len() + 1);
                        while !m.is_char_boundary(at) {
                            at -= 1;
                        }
                        m.insert_str(at, &text);
                    }
                    Case {
                        manifest: m,
                        configs,
                        secret,
                    }
                },
            )
    })
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The secret, or any 10-character piece of it, in `text`.
fn leaks(text: &str, secret: &str) -> bool {
    secret
        .as_bytes()
        .windows(10)
        .any(|w| text.contains(std::str::from_utf8(w).expect("ascii")))
}

fn check_error(e: &dyn std::fmt::Display, file: &Path, secret: &str) {
    let msg = e.to_string();
    assert!(
        msg.contains(&file.display().to_string()),
        "the error names the manifest: {msg}"
    );
    assert!(
        msg.contains("key '")
            || msg.contains("line ")
            || msg.contains("unknown field")
            || msg.contains("missing field")
            || msg.contains("project root")
            || msg.contains("config "),
        "the error names a key, a line or the config: {msg}"
    );
    assert!(!leaks(&msg, secret), "a secret in: {msg}");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn manifests_and_configs_never_panic_and_every_rejection_names_a_key(c in case()) {
        let dir = tempfile::tempdir().expect("tmp");
        for (i, text) in c.configs.iter().enumerate() {
            std::fs::write(dir.path().join(format!("c{i}.toml")), text).expect("config");
        }
        let path = dir.path().join("switchboard.toml");
        let text = c.manifest.replace("ROOT", &dir.path().display().to_string());
        std::fs::write(&path, &text).expect("manifest");
        match Manifest::load(&path) {
            Ok(m) => {
                // Accepted: nothing in what it keeps to show leaks (secrets are only for masking).
                prop_assert!(!m.connectors.is_empty());
                for s in &m.connectors {
                    let shown = format!("{} {}", s.name, s.config.display());
                    prop_assert!(!leaks(&shown, &c.secret));
                }
            }
            Err(e) => check_error(&e, &path, &c.secret),
        }
        // The lenient load used against a running console: same promises, per connector.
        match ManifestOutline::load(&path) {
            Ok(o) => {
                for conn in &o.connectors {
                    if let Err(e) = &conn.spec {
                        check_error(e, &path, &c.secret);
                    }
                }
            }
            Err(e) => check_error(&e, &path, &c.secret),
        }
    }
}
