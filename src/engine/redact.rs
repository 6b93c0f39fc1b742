//! Output hygiene: what the console shows of a connector's own words. Configured secrets are
//! masked before anything else is done to a text.

/// Replaces every configured secret in `line` by `****`.
///
/// ```
/// use switchboard::engine::redact::mask_secrets;
/// let secrets = vec!["s3cr3t".to_string()];
/// assert_eq!(mask_secrets("signing with s3cr3t", &secrets), "signing with ****");
/// ```
pub fn mask_secrets(line: &str, secrets: &[String]) -> String {
    let mut out = line.to_string();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "****");
        }
    }
    out
}
