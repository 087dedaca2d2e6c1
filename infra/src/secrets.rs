//! The key behind capability links (R12). It never enters the event log: it comes from
//! `ENKAKU_LINK_SECRET` (hex, ≥ 32 bytes) or a file created once, `0600`, in the data
//! directory.

use crate::data_dir;
use rand::RngCore;
use secrecy::SecretSlice;
use std::path::Path;

const FILE: &str = "link-secret.key";

pub fn link_key(from_env: Option<&str>, data_dir: &Path) -> anyhow::Result<SecretSlice<u8>> {
    let key = key_from_env_or_file("ENKAKU_LINK_SECRET", from_env, &data_dir.join(FILE), data_dir)?;
    Ok(key.into())
}

/// A key of at least 32 bytes: from the environment variable `name` (hex) when it is set,
/// else from the hex file `path` in `data_dir`, which is created (32 random bytes, `0600`) the
/// first time.
pub(crate) fn key_from_env_or_file(
    name: &str,
    from_env: Option<&str>,
    path: &Path,
    data_dir: &Path,
) -> anyhow::Result<Vec<u8>> {
    if let Some(hex_key) = from_env {
        let key = hex::decode(hex_key.trim()).map_err(|_| anyhow::anyhow!("{name} must be hex"))?;
        anyhow::ensure!(key.len() >= 32, "{name} must hold at least 32 bytes");
        return Ok(key);
    }
    if let Ok(text) = std::fs::read_to_string(path) {
        let key = hex::decode(text.trim()).map_err(|_| anyhow::anyhow!("{} is not hex", path.display()))?;
        anyhow::ensure!(key.len() >= 32, "{} holds fewer than 32 bytes", path.display());
        return Ok(key);
    }
    let mut key = vec![0u8; 32];
    rand::rng().fill_bytes(&mut key);
    data_dir::prepare(data_dir)?;
    data_dir::write_private(path, &hex::encode(&key))?;
    Ok(key)
}

/// A key for another purpose, derived from the link key: HMAC-SHA256(link key, `purpose`).
/// `purpose` names the use and its version (e.g. `b"enkaku-device-cookie-v1"`) and must not
/// be a prefix any other MAC under the link key starts with (link tokens sign
/// `enkaku-link-v1‖…`), so a value made for one use is never valid for another, and
/// operators keep one secret to manage and rotate.
pub fn derive_key(link_key: &SecretSlice<u8>, purpose: &[u8]) -> SecretSlice<u8> {
    use hmac::{Hmac, Mac};
    use secrecy::ExposeSecret;
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(link_key.expose_secret()).expect("HMAC takes any key length");
    mac.update(purpose);
    mac.finalize().into_bytes().to_vec().into()
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
    fn derived_keys_differ_by_purpose_and_from_the_link_key() {
        let key: SecretSlice<u8> = vec![7u8; 32].into();
        let device = derive_key(&key, b"enkaku-device-cookie-v1");
        assert_eq!(device.expose_secret().len(), 32);
        assert_ne!(device.expose_secret(), key.expose_secret());
        assert_ne!(
            device.expose_secret(),
            derive_key(&key, b"other-v1").expose_secret()
        );
        assert_eq!(
            device.expose_secret(),
            derive_key(&key, b"enkaku-device-cookie-v1").expose_secret()
        );
    }

    #[test]
    fn a_short_key_from_the_environment_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(link_key(Some("abcd"), dir.path()).is_err());
        assert!(link_key(Some(&"ab".repeat(32)), dir.path()).is_ok());
    }
}
