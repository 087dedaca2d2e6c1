//! The key behind capability links (R12). It never enters the event log: it comes from
//! `ENKAKU_LINK_SECRET` (hex, ≥ 32 bytes) or a file created once, `0600`, in the data
//! directory.

use crate::data_dir;
use rand::RngCore;
use secrecy::SecretSlice;
use std::path::Path;

const FILE: &str = "link-secret.key";

pub fn link_key(from_env: Option<&str>, data_dir: &Path) -> anyhow::Result<SecretSlice<u8>> {
    if let Some(hex_key) = from_env {
        let key =
            hex::decode(hex_key.trim()).map_err(|_| anyhow::anyhow!("ENKAKU_LINK_SECRET must be hex"))?;
        anyhow::ensure!(key.len() >= 32, "ENKAKU_LINK_SECRET must hold at least 32 bytes");
        return Ok(key.into());
    }
    let path = data_dir.join(FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let key = hex::decode(text.trim()).map_err(|_| anyhow::anyhow!("{} is not hex", path.display()))?;
        anyhow::ensure!(key.len() >= 32, "{} holds fewer than 32 bytes", path.display());
        return Ok(key.into());
    }
    let mut key = vec![0u8; 32];
    rand::rng().fill_bytes(&mut key);
    data_dir::prepare(data_dir)?;
    data_dir::write_private(&path, &hex::encode(&key))?;
    Ok(key.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn the_key_is_created_once_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = link_key(None, dir.path()).unwrap();
        let second = link_key(None, dir.path()).unwrap();
        assert_eq!(first.expose_secret(), second.expose_secret());
        assert_eq!(first.expose_secret().len(), 32);
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_and_a_new_data_directory_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        link_key(None, &dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(FILE)), 0o600);
    }

    #[test]
    fn a_short_key_from_the_environment_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(link_key(Some("abcd"), dir.path()).is_err());
        assert!(link_key(Some(&"ab".repeat(32)), dir.path()).is_ok());
    }
}
