//! Pre-flight check of a connector's own config file against the keys its exchange requires
//! (the real connector panics on a bad config; we say which key instead). Secret values are
//! collected for masking and never appear in any message.

use std::path::Path;
use std::str::FromStr;

pub use crate::model::ConnectorType;

// Config knowledge about each type stays here (the model has only the names).
impl ConnectorType {
    /// Keys the exchange's config must have (from hftbacktest's connector source).
    pub fn required_keys(self) -> &'static [&'static str] {
        match self {
            ConnectorType::BinanceFutures => &["stream_url", "api_url"],
            // `ws_api_url` and an Ed25519 `secret` only when it trades (see `check`).
            ConnectorType::BinanceSpot => &["stream_url", "api_url"],
            ConnectorType::Bybit => &[
                "public_url",
                "private_url",
                "trade_url",
                "rest_url",
                "api_key",
                "secret",
                "category",
                "order_prefix",
            ],
        }
    }
}

impl FromStr for ConnectorType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ConnectorType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                let names = ConnectorType::ALL.map(ConnectorType::as_str);
                let near = crate::config::diag::did_you_mean(s, &names)
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                format!(
                    "'{s}' is not a connector type; use one of binancefutures, binancespot, bybit{near}"
                )
            })
    }
}

/// What the pre-flight check learned from a valid config.
#[derive(Debug, Clone, Default)]
pub struct CheckedConfig {
    /// `api_key` and `secret` values (non-empty ones), for masking.
    pub secrets: Vec<String>,
    /// A digest of the file's content, to tell a changed config on reload (never its text).
    pub digest: u64,
}

/// Largest connector config read (real ones are a few hundred bytes).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Reads a config file only if it is a regular file under [`MAX_CONFIG_BYTES`]: a FIFO would
/// block the console, `/dev/zero` would read until memory runs out.
pub fn read_config(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot be read ({e}); fix the `config` path in the manifest"))?;
    if !meta.is_file() {
        return Err(
            "is not a regular file (a directory, FIFO or device); point `config` at the connector's TOML file"
                .into(),
        );
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(format!(
            "is {} bytes, more than a connector config can be ({MAX_CONFIG_BYTES}); point `config` at the connector's TOML file",
            meta.len()
        ));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| format!("cannot be read ({e}); fix the `config` path in the manifest"))?;
    Ok(text)
}

/// Why a connector cannot start with the config at `path` and `problem` (what [`check`] said):
/// the file, what is wrong and what to do. The one wording, used as the console opens, at each
/// start and restart, and in `status`.
pub fn unusable(path: &Path, problem: &str) -> String {
    format!(
        "config {}: {problem}; once it is fixed, start it again (after `switchboard reload` or R if the fix is in the manifest)",
        path.display()
    )
}

/// Checks `path` as a config for `kind`. The error text names the key and says what to do; it
/// never contains a secret value.
pub fn check(kind: ConnectorType, path: &Path) -> Result<CheckedConfig, String> {
    let text = read_config(path)?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        // toml echoes the offending source line, which may hold a secret: keep only the message.
        match line {
            Some(l) => format!("is not valid TOML at line {l}: {}", e.message().trim()),
            None => format!("is not valid TOML: {}", e.message().trim()),
        }
    })?;
    for key in kind.required_keys() {
        match table.get(*key) {
            None => {
                return Err(format!(
                    "key '{key}' is missing; {kind} needs {}",
                    kind.required_keys().join(", ")
                ))
            }
            Some(v) if !v.is_str() => {
                return Err(format!("key '{key}' must be a string"));
            }
            Some(_) => {}
        }
    }
    // Optional keys default to "" in the real connector, but if present they are strings.
    for key in ["order_prefix", "api_key", "secret", "ws_api_url"] {
        if table.get(key).is_some_and(|v| !v.is_str()) {
            return Err(format!("key '{key}' must be a string"));
        }
    }
    let get = |k: &str| table.get(k).and_then(|v| v.as_str());
    // binancespot opens its user-data stream (and signs with an Ed25519 key) only when both
    // `api_key` and `secret` are set; a market-data-only config has just the two URLs.
    let trades = !get("api_key").unwrap_or_default().is_empty()
        && !get("secret").unwrap_or_default().is_empty();
    if kind == ConnectorType::BinanceSpot && trades {
        if get("ws_api_url").unwrap_or_default().is_empty() {
            return Err(
                "key 'ws_api_url' is missing; binancespot needs it when api_key and secret are set (for the user-data stream)"
                    .into(),
            );
        }
        if !get("secret")
            .unwrap_or_default()
            .contains("-----BEGIN PRIVATE KEY-----")
        {
            return Err(
                "key 'secret' must be an Ed25519 private key in PKCS#8 PEM form (-----BEGIN PRIVATE KEY-----) when api_key is set"
                    .into(),
            );
        }
    }
    if kind == ConnectorType::Bybit {
        let prefix = get("order_prefix").unwrap_or_default();
        if prefix.chars().count() > 8 || prefix.contains('/') {
            // Never the value: a secret pasted into the wrong key would be printed.
            let why = if prefix.contains('/') {
                "it contains '/'".to_string()
            } else {
                format!("it has {} characters", prefix.chars().count())
            };
            return Err(format!(
                "key 'order_prefix' must be at most 8 characters without '/' ({why})"
            ));
        }
    }
    let secrets = ["api_key", "secret"]
        .iter()
        .filter_map(|k| get(k))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    let digest = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        h.finish()
    };
    Ok(CheckedConfig { secrets, digest })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(f.path(), text).expect("write");
        f
    }

    #[test]
    fn only_small_regular_files_are_read() {
        let e = check(ConnectorType::BinanceFutures, Path::new("/dev/zero")).expect_err("device");
        assert!(e.contains("not a regular file"), "{e}");
        let d = tempfile::tempdir().expect("tmp");
        let fifo = d.path().join("fifo.toml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let e = check(ConnectorType::BinanceFutures, &fifo).expect_err("fifo");
        assert!(e.contains("not a regular file"), "{e}");
        let big = d.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; (MAX_CONFIG_BYTES + 1) as usize]).expect("w");
        let e = check(ConnectorType::BinanceFutures, &big).expect_err("big");
        assert!(e.contains("more than a connector config"), "{e}");
    }

    #[test]
    fn missing_key_is_named() {
        let f = write("stream_url = \"x\"\napi_key = \"TOPSECRET\"\n");
        let e = check(ConnectorType::BinanceFutures, f.path()).expect_err("missing");
        assert!(e.contains("'api_url'"), "{e}");
        assert!(!e.contains("TOPSECRET"));
    }

    #[test]
    fn bad_toml_gives_line_without_secret() {
        let f = write("api_key = \"TOPSECRET\"\nsecret = \"TOPSECRET\" junk\n");
        let e = check(ConnectorType::BinanceFutures, f.path()).expect_err("bad toml");
        assert!(e.contains("line 2"), "{e}");
        assert!(!e.contains("TOPSECRET"), "{e}");
    }

    #[test]
    fn spot_secret_must_be_pem_when_it_trades() {
        let f = write("stream_url=\"a\"\napi_url=\"b\"\nws_api_url=\"c\"\napi_key=\"K\"\nsecret=\"TOPSECRET\"\n");
        let e = check(ConnectorType::BinanceSpot, f.path()).expect_err("pem");
        assert!(e.contains("PKCS#8") && !e.contains("TOPSECRET"), "{e}");
        let f = write("stream_url=\"a\"\napi_url=\"b\"\napi_key=\"K\"\nsecret=\"-----BEGIN PRIVATE KEY-----\"\n");
        let e = check(ConnectorType::BinanceSpot, f.path()).expect_err("ws_api_url");
        assert!(e.contains("'ws_api_url'"), "{e}");
    }

    #[test]
    fn spot_market_data_only_needs_just_the_two_urls() {
        let f = write("stream_url=\"wss://stream.binance.com:9443/ws\"\napi_url=\"https://api.binance.com\"\n");
        check(ConnectorType::BinanceSpot, f.path()).expect("valid market-data-only config");
        // A secret alone (no api_key) does not open the user-data stream either.
        let f = write("stream_url=\"a\"\napi_url=\"b\"\nsecret=\"not-a-pem\"\n");
        check(ConnectorType::BinanceSpot, f.path()).expect("no user-data stream, no PEM needed");
        let f = write("stream_url=\"a\"\napi_url=\"b\"\napi_key=7\n");
        let e = check(ConnectorType::BinanceSpot, f.path()).expect_err("type");
        assert!(e.contains("'api_key' must be a string"), "{e}");
    }

    #[test]
    fn bybit_prefix_is_checked() {
        let f = write(
            "public_url=\"a\"\nprivate_url=\"a\"\ntrade_url=\"a\"\nrest_url=\"a\"\napi_key=\"k\"\nsecret=\"s\"\ncategory=\"linear\"\norder_prefix=\"toolongprefix\"\n",
        );
        let e = check(ConnectorType::Bybit, f.path()).expect_err("prefix");
        assert!(e.contains("order_prefix"), "{e}");
    }

    /// A secret pasted into the wrong key is never printed: errors name keys, never values.
    #[test]
    fn an_error_never_quotes_a_value() {
        let pasted = "SECRETpastedHERE/x";
        let f = write(&format!(
            "public_url=\"a\"\nprivate_url=\"a\"\ntrade_url=\"a\"\nrest_url=\"a\"\napi_key=\"k\"\nsecret=\"s\"\ncategory=\"linear\"\norder_prefix=\"{pasted}\"\n"
        ));
        let e = check(ConnectorType::Bybit, f.path()).expect_err("prefix");
        assert!(e.contains("'order_prefix'"), "{e}");
        assert!(!e.contains("SECRET") && !e.contains("HERE"), "{e}");
    }

    #[test]
    fn secrets_are_collected() {
        let f = write("stream_url=\"a\"\napi_url=\"b\"\napi_key=\"K1\"\nsecret=\"S2\"\n");
        let c = check(ConnectorType::BinanceFutures, f.path()).expect("valid");
        assert_eq!(c.secrets, ["K1", "S2"]);
    }
}
