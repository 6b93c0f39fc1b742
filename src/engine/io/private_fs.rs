//! The state directory is private: connector output and `state.json` can hold account details,
//! and a console often runs as root. So the directory is created 0700 and refused when another
//! user owns it or when group or others may write to it (anyone who can write there could plant
//! a symlink); files in it are opened without following symlinks, must be regular files owned
//! by us, and are made 0600 whatever the umask or an older console left.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn refuse(path: &Path, why: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{}: {why}", path.display()),
    )
}

/// Creates `dir` (and missing parents) as 0700, or checks an existing one: a real directory
/// (not a symlink), owned by us, not writable by group or others. An existing directory of ours
/// that others may read is narrowed to 0700.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Err(refuse(
            dir,
            "is a symlink; a state directory must be a real directory (set state_dir to one)"
                .into(),
        ));
    }
    if !meta.is_dir() {
        return Err(refuse(dir, "is not a directory".into()));
    }
    if meta.uid() != euid() {
        return Err(refuse(
            dir,
            format!(
                "is owned by uid {}, not by you (uid {}); run as its owner or set another state_dir",
                meta.uid(),
                euid()
            ),
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(refuse(
            dir,
            format!(
                "is writable by group or others (mode {mode:o}), so its files could have been replaced; check it, then `chmod 700 {}`",
                dir.display()
            ),
        ));
    }
    if mode != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Checks that an opened file is a regular file of ours, and makes it 0600.
fn vet(file: File, path: &Path) -> io::Result<File> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(refuse(path, "is not a regular file".into()));
    }
    if meta.uid() != euid() {
        return Err(refuse(
            path,
            format!("is owned by uid {}, not by you", meta.uid()),
        ));
    }
    if meta.mode() & 0o777 != 0o600 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

fn no_follow(opts: &mut OpenOptions) -> &mut OpenOptions {
    opts.mode(0o600).custom_flags(nix::libc::O_NOFOLLOW)
}

/// Opens (creating) `path` for appending: a symlink there is an error, not followed.
pub fn open_append(path: &Path) -> io::Result<File> {
    let f = no_follow(OpenOptions::new().create(true).append(true))
        .open(path)
        .map_err(|e| explain(path, e))?;
    vet(f, path)
}

/// Opens (creating) `path` for reading and writing, without truncating or following a symlink.
pub fn open_rw(path: &Path) -> io::Result<File> {
    let f = no_follow(OpenOptions::new().read(true).write(true).create(true))
        .truncate(false)
        .open(path)
        .map_err(|e| explain(path, e))?;
    vet(f, path)
}

/// ELOOP from O_NOFOLLOW means "a symlink was there": say so.
fn explain(path: &Path, e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(nix::libc::ELOOP) {
        refuse(
            path,
            "is a symlink; switchboard does not follow symlinks in its state directory (remove it)"
                .into(),
        )
    } else {
        io::Error::new(e.kind(), format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_symlink_is_never_followed() {
        let d = tempfile::tempdir().expect("tmp");
        let victim = d.path().join("root-only");
        std::fs::write(&victim, "precious").expect("w");
        let link = d.path().join("x.log");
        std::os::unix::fs::symlink(&victim, &link).expect("symlink");
        let e = open_append(&link).expect_err("symlink refused");
        assert!(e.to_string().contains("is a symlink"), "{e}");
        let e = open_rw(&link).expect_err("symlink refused");
        assert!(e.to_string().contains("is a symlink"), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).expect("r"), "precious");
    }

    #[test]
    fn files_are_0600_and_dirs_0700_whatever_the_umask_left() {
        let d = tempfile::tempdir().expect("tmp");
        let dir = d.path().join("state/logs");
        ensure_private_dir(&dir).expect("create");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        let f = dir.join("a.log");
        std::fs::write(&f, "old").expect("w");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        open_append(&f).expect("open");
        assert_eq!(mode(&f), 0o600);
        // A directory of ours that others may read is narrowed; one others may write is refused.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        ensure_private_dir(&dir).expect("narrowed");
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let e = ensure_private_dir(&dir).expect_err("group/other writable");
        assert!(e.to_string().contains("writable by group or others"), "{e}");
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).expect("symlink");
        let e = ensure_private_dir(&link).expect_err("symlinked dir");
        assert!(e.to_string().contains("is a symlink"), "{e}");
    }
}
