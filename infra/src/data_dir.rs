//! The data directory and the files in it (the SQLite database and its `-wal`/`-shm`
//! companions, the link key) are private to the user enkaku runs as: the database holds
//! patient names and the key opens every call. The directory is made `0700` and the files
//! `0600` whatever the umask, and ones an older version left readable are tightened at
//! start. Elsewhere than on Unix the platform's defaults apply.

use std::io;
use std::path::{Path, PathBuf};

/// Create `dir` (and its parents) if missing, and make it `0700`.
pub fn prepare(dir: &Path) -> io::Result<()> {
    create_dir(dir)?;
    restrict(dir, 0o700)
}

/// Before SQLite opens the database at `url`: create its file `0600` (SQLite gives the
/// `-wal` and `-shm` files it creates later the database file's mode) and tighten the
/// companions an earlier run left. Other URLs (PostgreSQL, in-memory) are left alone.
pub fn prepare_sqlite(url: &str) -> io::Result<()> {
    let Some(path) = sqlite_path(url) else {
        return Ok(());
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir(parent)?;
    }
    create_private(&path)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut companion = path.clone().into_os_string();
        companion.push(suffix);
        let companion = PathBuf::from(companion);
        if companion.exists() {
            restrict(&companion, 0o600)?;
        }
    }
    Ok(())
}

/// Write a new file readable by its owner only; fails if it exists.
pub fn write_private(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write;
    let mut file = private_options().create_new(true).open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Create `path` `0600` if missing; make an existing one `0600`.
fn create_private(path: &Path) -> io::Result<()> {
    private_options().create(true).append(true).open(path)?;
    restrict(path, 0o600)
}

/// The file an SQLite URL names; `None` for another database or an in-memory one.
pub(crate) fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

#[cfg(unix)]
fn create_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_options() -> std::fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).mode(0o600);
    options
}

#[cfg(not(unix))]
fn private_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    options
}

/// Take away every permission beyond `mode` (never adds any).
#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    if current & !mode != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & mode))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_data_directory_is_0700_and_an_old_loose_one_is_tightened() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/data");
        prepare(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn the_database_and_its_companions_are_0600() {
        let root = tempfile::tempdir().unwrap();
        let db = root.path().join("enkaku.db");
        let wal = root.path().join("enkaku.db-wal");
        std::fs::write(&wal, "").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
        prepare_sqlite(&format!("sqlite://{}?mode=rwc", db.display())).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&wal), 0o600);
        // Not files: nothing to do.
        prepare_sqlite("sqlite::memory:").unwrap();
        prepare_sqlite("postgres://u@h/db").unwrap();
    }
}
