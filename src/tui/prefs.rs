//! What the console remembers of its view across restarts, in the state dir: the table or the
//! tiles (`t`). A missing or unreadable file is the default (tiles where they fit).

use std::path::{Path, PathBuf};

/// The file under the state dir.
pub const VIEW_FILE: &str = "tui-view";

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(VIEW_FILE)
}

/// Whether the operator last chose the table (Some(true)) or the tiles (Some(false)); None
/// when nothing was chosen yet or the file says something else.
pub fn load_table(state_dir: &Path) -> Option<bool> {
    let text = std::fs::read_to_string(path(state_dir)).ok()?;
    match text.trim() {
        "table" => Some(true),
        "tiles" => Some(false),
        _ => None,
    }
}

/// Remembers the chosen view (written whole, then renamed: a crash never leaves half a file).
pub fn save_table(state_dir: &Path, table: bool) -> Result<(), String> {
    let file = path(state_dir);
    let tmp = state_dir.join(format!("{VIEW_FILE}.tmp"));
    let word = if table { "table\n" } else { "tiles\n" };
    std::fs::write(&tmp, word)
        .and_then(|_| std::fs::rename(&tmp, &file))
        .map_err(|e| {
            format!(
                "cannot remember the view in {}: {e} (the state dir must be writable)",
                file.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chosen_view_is_read_back_and_anything_else_is_no_choice() {
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(load_table(dir.path()), None, "nothing chosen yet");
        save_table(dir.path(), true).expect("save");
        assert_eq!(load_table(dir.path()), Some(true));
        save_table(dir.path(), false).expect("save");
        assert_eq!(load_table(dir.path()), Some(false));
        std::fs::write(dir.path().join(VIEW_FILE), "grid\n").expect("write");
        assert_eq!(load_table(dir.path()), None, "an unknown word is no choice");
        let gone = dir.path().join("missing");
        let err = save_table(&gone, true).expect_err("no such dir");
        assert!(err.contains("missing/tui-view"), "{err}");
    }
}
