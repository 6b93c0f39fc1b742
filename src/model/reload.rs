//! What a reload did: the answer the control socket carries and the TUI shows.

/// What a reload did, connector by connector (names in manifest order).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReloadReport {
    /// New in the manifest: created (and started when they autostart).
    pub added: Vec<String>,
    /// Gone from the manifest: stopped and removed.
    pub removed: Vec<String>,
    /// Changed while running: the new entry waits for the operator's restart.
    pub restart_needed: Vec<String>,
    /// Changed while at rest or in backoff (nothing runs): the new entry is in use.
    pub updated: Vec<String>,
    /// `[console]`, `[alerts]`, `[metrics]` or `[[host]]` changed: they take effect when the console
    /// restarts.
    pub console_changed: bool,
}

impl ReloadReport {
    /// One sentence for the operator.
    pub fn sentence(&self) -> String {
        let mut parts = Vec::new();
        let list = |names: &[String]| names.join(", ");
        if !self.added.is_empty() {
            parts.push(format!("added {}", list(&self.added)));
        }
        if !self.removed.is_empty() {
            parts.push(format!("removed {}", list(&self.removed)));
        }
        if !self.updated.is_empty() {
            parts.push(format!("updated {}", list(&self.updated)));
        }
        if !self.restart_needed.is_empty() {
            parts.push(format!(
                "{} changed: restart to apply",
                list(&self.restart_needed)
            ));
        }
        let mut s = if parts.is_empty() {
            "manifest reloaded: no connector changed".to_string()
        } else {
            format!("manifest reloaded: {}", parts.join("; "))
        };
        if self.console_changed {
            s.push_str("; [console], [alerts], [metrics] or [[host]] changed: they take effect when the console restarts");
        }
        s
    }
}
