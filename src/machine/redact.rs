//! Output hygiene: what the console shows of a connector's own words. One order everywhere:
//! terminal escapes out, configured secrets masked, control characters out, and only then cut to
//! length, so that no cut can leave part of a secret behind and no output line can move the
//! cursor, ring the bell or overwrite a row.

/// Most characters of a connector's line quoted in a phase detail.
pub const SUMMARY_MAX_CHARS: usize = 300;

/// Shortest line of a multi-line secret that is masked on its own: shorter lines (a blank, a
/// PEM line ending in `=`) are too common in ordinary text to hide.
const MIN_SECRET_LINE: usize = 8;

/// Replaces every configured secret in `line` by `****`. A multi-line secret (a PEM key) never
/// appears whole on one log line, so each of its lines is masked too (PEM armour lines such as
/// `-----BEGIN PRIVATE KEY-----` are not secret and are left alone).
///
/// ```
/// use switchboard::machine::redact::mask_secrets;
/// let secrets = vec!["s3cr3t".to_string()];
/// assert_eq!(mask_secrets("signing with s3cr3t", &secrets), "signing with ****");
/// ```
pub fn mask_secrets(line: &str, secrets: &[String]) -> String {
    let mut out = line.to_string();
    for s in secrets {
        if s.is_empty() {
            continue;
        }
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "****");
        }
        if s.contains('\n') {
            for part in s.lines().map(str::trim) {
                if part.len() >= MIN_SECRET_LINE && !part.starts_with("-----") && out.contains(part)
                {
                    out = out.replace(part, "****");
                }
            }
        }
    }
    out
}

/// Secrets masked in the console's own log: every connector's of the manifest, added to by each
/// reload (never removed: a removed connector's secret stays masked).
static CONSOLE_SECRETS: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Adds `secrets` to those masked in the console's own log.
pub fn add_console_secrets(secrets: impl IntoIterator<Item = String>) {
    let mut g = CONSOLE_SECRETS.write().unwrap_or_else(|p| p.into_inner());
    for s in secrets {
        if !s.is_empty() && !g.contains(&s) {
            g.push(s);
        }
    }
}

/// `line` with every secret added by [`add_console_secrets`] masked.
pub fn mask_console_secrets(line: &str) -> String {
    mask_secrets(
        line,
        &CONSOLE_SECRETS.read().unwrap_or_else(|p| p.into_inner()),
    )
}

/// `text` without terminal escape sequences (CSI, OSC, …) and with every other control
/// character (C0 but tab, DEL, C1) shown as `�`: safe to print on one line of a terminal.
pub fn plain(text: &str) -> String {
    strip_ansi_escapes::strip_str(text)
        .chars()
        .map(|c| match c {
            '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// Cuts `text` to at most `max_chars` characters, marking a cut with `…`.
pub fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// A connector's line made fit for a detail, a status row, a headless line, stderr and
/// `state.json`: escapes stripped, secrets masked, control characters replaced, then cut.
pub fn for_display(text: &str, secrets: &[String], max_chars: usize) -> String {
    let no_escapes = strip_ansi_escapes::strip_str(text);
    cut(&plain(&mask_secrets(&no_escapes, secrets)), max_chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_across_the_cut_is_masked_before_cutting() {
        let secret = "AKIA1234567890ABCDEFXYZ".to_string(); // 23 characters
        let line = format!("{}{secret} tail", "x".repeat(290));
        let shown = for_display(&line, std::slice::from_ref(&secret), SUMMARY_MAX_CHARS);
        // Cutting first would have shown 10 of its characters.
        assert!(!shown.contains("AKIA1234"), "{shown}");
        assert!(shown.contains("****"), "{shown}");
        assert!(shown.chars().count() <= SUMMARY_MAX_CHARS + 1);
    }

    #[test]
    fn each_line_of_a_pem_secret_is_masked() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIPx0mS3cr3tKeyMaterialHere\n-----END PRIVATE KEY-----\n";
        let secrets = vec![pem.to_string()];
        let line = "loaded key MC4CAQAwBQYDK2VwBCIEIPx0mS3cr3tKeyMaterialHere from config";
        assert_eq!(mask_secrets(line, &secrets), "loaded key **** from config");
        // The armour is not secret; a whole multi-line match is masked too.
        assert_eq!(
            mask_secrets("-----BEGIN PRIVATE KEY-----", &secrets),
            "-----BEGIN PRIVATE KEY-----"
        );
        assert_eq!(mask_secrets(&format!("x{pem}y"), &secrets), "x****y");
    }

    #[test]
    fn control_characters_cannot_reach_a_terminal() {
        let hostile = "ok\r\u{7}over\u{1b}]0;title\u{7}\u{9b}31mred\u{1b}[2Jgone\u{85}\u{7f}";
        let shown = plain(hostile);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert!(shown.contains("ok") && shown.contains("over") && shown.contains("gone"));
        assert_eq!(cut("äöü", 2), "äö…");
        assert_eq!(cut("abc", 3), "abc");
    }

    #[test]
    fn console_secrets_are_added_to_never_replaced() {
        add_console_secrets(["CS-ONE-1234".to_string()]);
        add_console_secrets(["CS-TWO-5678".to_string(), String::new()]);
        assert_eq!(
            mask_console_secrets("a CS-ONE-1234 b CS-TWO-5678"),
            "a **** b ****"
        );
    }
}
