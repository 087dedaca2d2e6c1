//! Signed checkpoints: a log's size and Merkle root at a moment, signed with the server's
//! Ed25519 key, so a copy kept outside the writer's reach pins the log's past.
//!
//! The signature covers these lines, each ending in `\n` (docs/audit.md):
//! `enkaku-checkpoint-v1`, the log's name, the size, the root in hex, the time (RFC 3339,
//! UTC) and the key id.

use super::merkle::Hash;
use super::records::Log;
use crate::{data_dir, secrets};
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const KEY_FILE: &str = "audit-signing.key";
/// Public keys of retired signing keys, one hex key a line: their checkpoints still verify.
const RETIRED_KEYS_FILE: &str = "audit-retired-keys.txt";
/// Where the server writes a checkpoint of each log every few minutes.
pub const CHECKPOINT_DIR: &str = "checkpoints";

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub log: Log,
    pub size: u64,
    /// Hex.
    pub root: String,
    pub time: DateTime<Utc>,
    pub key_id: String,
    /// Hex of the 32-byte Ed25519 public key.
    pub public_key: String,
    /// Hex of the 64-byte Ed25519 signature.
    pub signature: String,
}

/// The key that signs checkpoints: from `ENKAKU_AUDIT_SIGNING_KEY` (hex, 32 bytes) or the data
/// directory's `audit-signing.key`, created the first time.
pub struct Signer25519 {
    key: SigningKey,
    id: String,
}

impl Signer25519 {
    pub fn load(from_env: Option<&str>, dir: &Path) -> anyhow::Result<Self> {
        let bytes =
            secrets::key_from_env_or_file("ENKAKU_AUDIT_SIGNING_KEY", from_env, &dir.join(KEY_FILE), dir)?;
        let seed: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| anyhow::anyhow!("the audit signing key must be 32 bytes (64 hex digits)"))?;
        let key = SigningKey::from_bytes(&seed);
        let id = key_id(&key.verifying_key());
        Ok(Self { key, id })
    }

    pub fn key_id(&self) -> &str {
        &self.id
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn sign(&self, log: Log, size: u64, root: &Hash, time: DateTime<Utc>) -> Checkpoint {
        // The signed text has whole seconds.
        let time = time.trunc_subsecs(0);
        let root = hex::encode(root);
        let signature = self.key.sign(&signed_text(log, size, &root, time, &self.id));
        Checkpoint {
            log,
            size,
            root,
            time,
            key_id: self.id.clone(),
            public_key: hex::encode(self.public_key().to_bytes()),
            signature: hex::encode(signature.to_bytes()),
        }
    }
}

/// `ak-` and the first 8 bytes of the public key's SHA-256, in hex.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::new_with_prefix(b"enkaku-audit-key-id-v1")
        .chain_update(key.to_bytes())
        .finalize();
    format!("ak-{}", hex::encode(&digest[..8]))
}

fn signed_text(log: Log, size: u64, root_hex: &str, time: DateTime<Utc>, key_id: &str) -> Vec<u8> {
    format!(
        "enkaku-checkpoint-v1\n{}\n{size}\n{root_hex}\n{}\n{key_id}\n",
        log.name(),
        time.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
    .into_bytes()
}

/// Why a checkpoint is not to be trusted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("its key {0} is neither this server's signing key nor a retired one")]
    UnknownKey(String),
    #[error("its public key does not match its key id")]
    KeyIdMismatch,
    #[error("its signature does not verify")]
    BadSignature,
    #[error("its root is not 32 bytes of hex")]
    BadRoot,
}

impl Checkpoint {
    pub fn root(&self) -> Result<Hash, CheckpointError> {
        hex::decode(&self.root)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(CheckpointError::BadRoot)
    }

    /// Check the signature with one of `trusted`.
    pub fn verify(&self, trusted: &[VerifyingKey]) -> Result<(), CheckpointError> {
        let public: Option<VerifyingKey> = hex::decode(&self.public_key)
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok());
        let Some(public) = public.filter(|key| trusted.contains(key)) else {
            return Err(CheckpointError::UnknownKey(self.key_id.clone()));
        };
        if key_id(&public) != self.key_id {
            return Err(CheckpointError::KeyIdMismatch);
        }
        self.root()?;
        let signature = hex::decode(&self.signature)
            .ok()
            .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
            .map(|bytes| Signature::from_bytes(&bytes))
            .ok_or(CheckpointError::BadSignature)?;
        public
            .verify_strict(
                &signed_text(self.log, self.size, &self.root, self.time, &self.key_id),
                &signature,
            )
            .map_err(|_| CheckpointError::BadSignature)
    }
}

/// The keys whose checkpoints this data directory trusts: the current one and the retired.
pub fn trusted_keys(signer: &Signer25519, dir: &Path) -> anyhow::Result<Vec<VerifyingKey>> {
    let mut keys = vec![signer.public_key()];
    if let Ok(text) = std::fs::read_to_string(dir.join(RETIRED_KEYS_FILE)) {
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let bytes: [u8; 32] = hex::decode(line)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| anyhow::anyhow!("{RETIRED_KEYS_FILE}: {line:?} is not a hex public key"))?;
            keys.push(VerifyingKey::from_bytes(&bytes)?);
        }
    }
    Ok(keys)
}

/// Write `checkpoint` to the data directory's `checkpoints/<log>-<size>.json`.
pub fn save(dir: &Path, checkpoint: &Checkpoint) -> anyhow::Result<PathBuf> {
    let folder = dir.join(CHECKPOINT_DIR);
    data_dir::prepare(&folder)?;
    let path = folder.join(format!("{}-{:012}.json", checkpoint.log.name(), checkpoint.size));
    if !path.exists() {
        data_dir::write_private(&path, &serde_json::to_string_pretty(checkpoint)?)?;
    }
    Ok(path)
}

/// Every checkpoint in the data directory, oldest (smallest) first per log.
pub fn saved(dir: &Path) -> anyhow::Result<Vec<Checkpoint>> {
    let Ok(entries) = std::fs::read_dir(dir.join(CHECKPOINT_DIR)) else {
        return Ok(Vec::new());
    };
    let mut checkpoints = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            checkpoints.extend(read(&path)?);
        }
    }
    checkpoints.sort_by_key(|c| (c.log.name(), c.size));
    Ok(checkpoints)
}

/// The checkpoints in a file: one JSON object, or one per line as `audit checkpoint` prints.
pub fn read(path: &Path) -> anyhow::Result<Vec<Checkpoint>> {
    let text = std::fs::read_to_string(path)?;
    if let Ok(one) = serde_json::from_str::<Checkpoint>(&text) {
        return Ok(vec![one]);
    }
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line)
                .map_err(|e| anyhow::anyhow!("{} is not a checkpoint: {e}", path.display()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_verifies_and_any_change_breaks_it() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer25519::load(None, dir.path()).unwrap();
        let trusted = trusted_keys(&signer, dir.path()).unwrap();
        let checkpoint = signer.sign(Log::Events, 42, &[7; 32], Utc::now());
        assert_eq!(checkpoint.verify(&trusted), Ok(()));

        let bigger = Checkpoint {
            size: 43,
            ..checkpoint.clone()
        };
        assert_eq!(bigger.verify(&trusted), Err(CheckpointError::BadSignature));
        let other_log = Checkpoint {
            log: Log::Access,
            ..checkpoint.clone()
        };
        assert_eq!(other_log.verify(&trusted), Err(CheckpointError::BadSignature));

        let stranger = Signer25519::load(Some(&"11".repeat(32)), dir.path()).unwrap();
        let foreign = stranger.sign(Log::Events, 42, &[7; 32], Utc::now());
        assert!(matches!(
            foreign.verify(&trusted),
            Err(CheckpointError::UnknownKey(_))
        ));
    }

    #[test]
    fn a_retired_key_still_verifies_its_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let old = Signer25519::load(Some(&"22".repeat(32)), dir.path()).unwrap();
        let checkpoint = old.sign(Log::Access, 1, &[1; 32], Utc::now());
        let current = Signer25519::load(None, dir.path()).unwrap();
        std::fs::write(
            dir.path().join(RETIRED_KEYS_FILE),
            format!(
                "# retired 2026-12\n{}\n",
                hex::encode(old.public_key().to_bytes())
            ),
        )
        .unwrap();
        let trusted = trusted_keys(&current, dir.path()).unwrap();
        assert_eq!(checkpoint.verify(&trusted), Ok(()));
    }
}
