//! The data keys that seal personal data in events (SPEC §9, docs/privacy.md), in the
//! `data_keys` table, each wrapped by the master key (`ENKAKU_MASTER_KEY`, or a file created
//! once in the data directory).
//!
//! - **Sealing** is XChaCha20-Poly1305 with a random 24-byte nonce and the event's id as
//!   associated data; so is wrapping, with the data key's id as associated data.
//! - **New keys** come from a pool made [`POOL_REFILL`] at a time in one statement, so a new
//!   appointment costs no extra commit. A key in the pool that no event ever names (the
//!   process stopped first) seals nothing and is harmless.
//! - **Opened keys** are kept in memory ([`CACHE_CAPACITY`]), so projectors and reads do not
//!   ask the database for every event. Destroying a key forgets it here at once; another node
//!   may hold it for as long as it has it cached, which is why readers of a stream that holds
//!   the erasure never open it (`sealing::open_stream`) and read models empty the rows when
//!   they fold the erasure.

use crate::db::{Backend, Db};
use crate::secrets;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use enkaku_commands::ports::{KeyId, Vault, VaultError};
use enkaku_domain::personal::{SEAL_ALGORITHM, Sealed};
use enkaku_projections::bulk::value_rows;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use uuid::Uuid;

/// Keys made at once when the pool runs dry: one commit for this many new appointments. On
/// SQLite that commit waits for the one writer connection and syncs to disk like an append,
/// so it is made rare.
const POOL_REFILL: usize = 1024;
/// Opened data keys kept in memory; past this, the cache starts over.
const CACHE_CAPACITY: usize = 100_000;
const NONCE_LEN: usize = 24;
const MASTER_KEY_FILE: &str = "master.key";

/// The key that wraps every data key, and its id (kept beside each wrapped key, so a rotation
/// can tell which master key a row needs).
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl MasterKey {
    /// From `ENKAKU_MASTER_KEY` (hex, 32 bytes) if set, else from the data directory's key
    /// file, created on first use.
    pub fn load(from_env: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        let bytes = secrets::key_from_env_or_file(
            "ENKAKU_MASTER_KEY",
            from_env,
            &data_dir.join(MASTER_KEY_FILE),
            data_dir,
        )?;
        Self::from_bytes(&bytes)
    }

    /// From 64 hex digits.
    pub fn from_hex(hex_key: &str) -> anyhow::Result<Self> {
        let bytes =
            hex::decode(hex_key.trim()).map_err(|_| anyhow::anyhow!("a master key is 64 hex digits"))?;
        Self::from_bytes(&bytes)
    }

    /// Put `hex_key` in the data directory's key file in place of the one there (after a
    /// rotation), `0600`, through a new file renamed over it.
    pub fn replace_file(data_dir: &Path, hex_key: &str) -> anyhow::Result<()> {
        Self::from_hex(hex_key)?;
        let next = data_dir.join(format!("{MASTER_KEY_FILE}.next"));
        let _ = std::fs::remove_file(&next);
        crate::data_dir::write_private(&next, hex_key.trim())?;
        std::fs::rename(&next, data_dir.join(MASTER_KEY_FILE))?;
        Ok(())
    }

    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        anyhow::ensure!(
            bytes.len() == 32,
            "the master key must be 32 bytes (64 hex digits)"
        );
        let digest = Sha256::new_with_prefix(b"enkaku-master-key-id-v1")
            .chain_update(bytes)
            .finalize();
        Ok(Self {
            id: format!("mk-{}", hex::encode(&digest[..8])),
            cipher: XChaCha20Poly1305::new(Key::from_slice(bytes)),
        })
    }

    /// Its id: not secret, derived from the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, key_id: KeyId, key: &Key) -> String {
        BASE64.encode(seal_bytes(&self.cipher, key_id.as_bytes(), key))
    }

    fn unwrap(&self, key_id: KeyId, wrapped: &str) -> Option<Key> {
        let bytes = BASE64.decode(wrapped).ok()?;
        let (nonce, sealed) = bytes.split_at_checked(NONCE_LEN)?;
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: key_id.as_bytes(),
                },
            )
            .ok()?;
        (plain.len() == 32).then(|| *Key::from_slice(&plain))
    }
}

/// `plaintext` sealed under `cipher` with a fresh nonce: the nonce, then ciphertext and tag.
fn seal_bytes(cipher: &XChaCha20Poly1305, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        .unwrap_or_default();
    [nonce.as_slice(), &sealed].concat()
}

pub struct SqlVault {
    db: Db,
    master: MasterKey,
    pool: tokio::sync::Mutex<Vec<KeyId>>,
    /// Opened keys; `None` for one known to be destroyed.
    cache: Mutex<HashMap<KeyId, Option<Key>>>,
    /// [`CACHE_CAPACITY`], smaller in tests.
    cache_capacity: usize,
}

impl SqlVault {
    pub fn new(db: Db, master: MasterKey) -> Self {
        Self {
            db,
            master,
            pool: tokio::sync::Mutex::new(Vec::new()),
            cache: Mutex::new(HashMap::new()),
            cache_capacity: CACHE_CAPACITY,
        }
    }

    /// The data key `key_id` itself, for an integrator entitled to it: `None` once destroyed.
    pub async fn export(&self, key_id: KeyId) -> Result<Option<[u8; 32]>, VaultError> {
        let keys = self.load(&[key_id]).await?;
        let key = keys.get(&key_id).ok_or(VaultError::UnknownKey(key_id))?;
        Ok(key.map(Into::into))
    }

    fn remember(&self, key_id: KeyId, key: Option<Key>) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= self.cache_capacity {
                cache.clear();
            }
            cache.insert(key_id, key);
        }
    }

    fn cached(&self, key_id: KeyId) -> Option<Option<Key>> {
        self.cache.lock().ok()?.get(&key_id).copied()
    }

    /// Make [`POOL_REFILL`] keys and store them wrapped, in one statement.
    async fn refill(&self, pool: &mut Vec<KeyId>) -> Result<(), VaultError> {
        let now = chrono::Utc::now().timestamp_millis();
        let keys: Vec<(KeyId, Key)> = (0..POOL_REFILL)
            .map(|_| {
                let mut key = Key::default();
                rand::rng().fill_bytes(&mut key);
                (Uuid::now_v7(), key)
            })
            .collect();
        // One statement, one round trip: callers wait for the pool while it is refilled.
        let sql = format!(
            "INSERT INTO data_keys (key_id, master_key_id, wrapped, created_at_ms) VALUES {}",
            value_rows(self.db.backend.placeholders(), keys.len(), 4)
        );
        let mut insert = sqlx::query(&sql);
        for (key_id, key) in &keys {
            insert = insert
                .bind(key_id.to_string())
                .bind(self.master.id())
                .bind(self.master.wrap(*key_id, key))
                .bind(now);
        }
        insert.execute(self.db.writer()).await.map_err(unavailable)?;
        for (key_id, key) in keys {
            self.remember(key_id, Some(key));
            pool.push(key_id);
        }
        Ok(())
    }

    /// The keys of `ids`, from the cache or else the table (and remembered): a destroyed one
    /// is `None`, one without a row is left out. Answered whole rather than read back from
    /// the cache, which may start over while a large batch is loaded.
    async fn load(&self, ids: &[KeyId]) -> Result<HashMap<KeyId, Option<Key>>, VaultError> {
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        for &id in ids {
            match self.cached(id) {
                Some(key) => {
                    found.insert(id, key);
                }
                None => missing.push(id),
            }
        }
        for chunk in missing.chunks(500) {
            let list = chunk
                .iter()
                .map(|id| format!("'{id}'"))
                .collect::<Vec<_>>()
                .join(",");
            // As one JSON text, not a row per key: a replay loads a key for every
            // appointment, and sqlx hands SQLite's rows over one at a time.
            let sql = match self.db.backend {
                Backend::Sqlite => format!(
                    "SELECT json_group_array(json_array(key_id, wrapped)) FROM data_keys WHERE key_id IN ({list})"
                ),
                Backend::Postgres => format!(
                    "SELECT COALESCE(json_agg(json_build_array(key_id, wrapped)), '[]')::text FROM data_keys WHERE key_id IN ({list})"
                ),
            };
            let text: String = sqlx::query_scalar(&sql)
                .fetch_one(&self.db.pool)
                .await
                .map_err(unavailable)?;
            let rows: Vec<(String, Option<String>)> = serde_json::from_str(&text)
                .map_err(|e| VaultError::Unavailable(format!("unreadable data keys: {e}")))?;
            for (id, wrapped) in rows {
                let Ok(key_id) = id.parse::<KeyId>() else { continue };
                let key = match wrapped {
                    Some(w) => Some(
                        self.master
                            .unwrap(key_id, &w)
                            .ok_or(VaultError::Corrupt(key_id))?,
                    ),
                    None => None,
                };
                self.remember(key_id, key);
                found.insert(key_id, key);
            }
        }
        Ok(found)
    }
}

/// Re-wrap every data key wrapped by `old` under `new` (`enkaku keys rotate`), a batch per
/// transaction; keys already under `new` are left, so an interrupted rotation is run again.
/// Destroyed keys have nothing to re-wrap. A key under a master key that is neither is an
/// error: it would not open after the switch. Answers how many it re-wrapped.
pub async fn rotate(db: &Db, old: &MasterKey, new: &MasterKey) -> anyhow::Result<u64> {
    let strangers: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT master_key_id FROM data_keys WHERE wrapped IS NOT NULL AND master_key_id NOT IN ($1, $2)",
    )
    .bind(old.id())
    .bind(new.id())
    .fetch_all(&db.pool)
    .await?;
    anyhow::ensure!(
        strangers.is_empty(),
        "data keys are wrapped by master keys other than the current one: {}",
        strangers.join(", ")
    );
    let mut rewrapped = 0;
    loop {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT key_id, wrapped FROM data_keys WHERE master_key_id = $1 AND wrapped IS NOT NULL LIMIT 500",
        )
        .bind(old.id())
        .fetch_all(&db.pool)
        .await?;
        if rows.is_empty() {
            return Ok(rewrapped);
        }
        let mut tx = db.begin_write().await?;
        for (id, wrapped) in rows {
            let key_id: KeyId = id.parse()?;
            let key = old
                .unwrap(key_id, &wrapped)
                .ok_or_else(|| anyhow::anyhow!("data key {key_id} does not open under {}", old.id()))?;
            sqlx::query("UPDATE data_keys SET master_key_id = $1, wrapped = $2 WHERE key_id = $3 AND master_key_id = $4")
                .bind(new.id())
                .bind(new.wrap(key_id, &key))
                .bind(&id)
                .bind(old.id())
                .execute(&mut *tx)
                .await?;
            rewrapped += 1;
        }
        tx.commit().await?;
    }
}

fn unavailable(e: sqlx::Error) -> VaultError {
    VaultError::Unavailable(e.to_string())
}

#[async_trait]
impl Vault for SqlVault {
    async fn new_key(&self) -> Result<KeyId, VaultError> {
        let mut pool = self.pool.lock().await;
        if pool.is_empty() {
            self.refill(&mut pool).await?;
        }
        pool.pop()
            .ok_or_else(|| VaultError::Unavailable("no data key could be made".into()))
    }

    async fn seal(&self, key_id: KeyId, event_id: Uuid, plaintext: &[u8]) -> Result<Sealed, VaultError> {
        let keys = self.load(&[key_id]).await?;
        let key = keys
            .get(&key_id)
            .copied()
            .ok_or(VaultError::UnknownKey(key_id))?
            // A destroyed key seals nothing more: the appointment was erased meanwhile.
            .ok_or(VaultError::UnknownKey(key_id))?;
        let bytes = seal_bytes(&XChaCha20Poly1305::new(&key), event_id.as_bytes(), plaintext);
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        Ok(Sealed {
            alg: SEAL_ALGORITHM.into(),
            key_id,
            nonce: BASE64.encode(nonce),
            ciphertext: BASE64.encode(ciphertext),
        })
    }

    async fn open(&self, sealed: &[(Uuid, &Sealed)]) -> Result<Vec<Option<Vec<u8>>>, VaultError> {
        let ids: Vec<KeyId> = sealed.iter().map(|(_, s)| s.key_id).collect();
        let keys = self.load(&ids).await?;
        sealed
            .iter()
            .map(|(event_id, s)| {
                let Some(key) = keys.get(&s.key_id).ok_or(VaultError::UnknownKey(s.key_id))? else {
                    return Ok(None);
                };
                let corrupt = || VaultError::Corrupt(*event_id);
                let nonce = BASE64.decode(&s.nonce).map_err(|_| corrupt())?;
                let ciphertext = BASE64.decode(&s.ciphertext).map_err(|_| corrupt())?;
                if nonce.len() != NONCE_LEN {
                    return Err(corrupt());
                }
                XChaCha20Poly1305::new(key)
                    .decrypt(
                        XNonce::from_slice(&nonce),
                        Payload {
                            msg: &ciphertext,
                            aad: event_id.as_bytes(),
                        },
                    )
                    .map(Some)
                    .map_err(|_| corrupt())
            })
            .collect()
    }

    async fn destroy(&self, keys: &[KeyId]) -> Result<(), VaultError> {
        let now = chrono::Utc::now().timestamp_millis();
        for key_id in keys {
            sqlx::query(
                "UPDATE data_keys SET wrapped = NULL, destroyed_at_ms = $2 WHERE key_id = $1 AND wrapped IS NOT NULL",
            )
            .bind(key_id.to_string())
            .bind(now)
            .execute(self.db.writer())
            .await
            .map_err(unavailable)?;
            self.remember(*key_id, None);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_key_opens_only_under_its_own_id_and_master_key() {
        let master = MasterKey::from_bytes(&[7; 32]).unwrap();
        let key_id = Uuid::from_u128(1);
        let key = *Key::from_slice(&[9; 32]);
        let wrapped = master.wrap(key_id, &key);
        assert_eq!(master.unwrap(key_id, &wrapped), Some(key));
        assert_eq!(master.unwrap(Uuid::from_u128(2), &wrapped), None);
        let other = MasterKey::from_bytes(&[8; 32]).unwrap();
        assert_eq!(other.unwrap(key_id, &wrapped), None);
        assert_ne!(master.id(), other.id());
        assert!(MasterKey::from_bytes(&[7; 16]).is_err());
    }

    #[tokio::test]
    async fn a_batch_opens_whole_though_the_cache_starts_over_while_its_keys_load() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/v.db?mode=rwc", dir.path().display()))
            .await
            .unwrap();
        let master = MasterKey::from_bytes(&[1; 32]).unwrap();
        let sealer = SqlVault::new(db.clone(), master.clone());
        let mut sealed = Vec::new();
        for n in 0..10u128 {
            let key = sealer.new_key().await.unwrap();
            let event = Uuid::from_u128(n);
            sealed.push((event, sealer.seal(key, event, &[n as u8]).await.unwrap()));
        }
        // Room for three keys: loading the ten starts the cache over more than once.
        let reader = SqlVault {
            cache_capacity: 3,
            ..SqlVault::new(db, master)
        };
        let batch: Vec<(Uuid, &Sealed)> = sealed.iter().map(|(event, s)| (*event, s)).collect();
        let opened = reader.open(&batch).await.unwrap();
        let expected: Vec<Option<Vec<u8>>> = (0..10u8).map(|n| Some(vec![n])).collect();
        assert_eq!(opened, expected);
    }

    #[tokio::test]
    async fn rotation_rewraps_every_live_key_and_the_new_master_key_opens_what_the_old_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/v.db?mode=rwc", dir.path().display()))
            .await
            .unwrap();
        let old = MasterKey::from_bytes(&[1; 32]).unwrap();
        let new = MasterKey::from_bytes(&[2; 32]).unwrap();
        let vault = SqlVault::new(db.clone(), old.clone());
        let kept = vault.new_key().await.unwrap();
        let gone = vault.new_key().await.unwrap();
        let event = Uuid::from_u128(9);
        let sealed = vault.seal(kept, event, b"{\"title\":\"x\"}").await.unwrap();
        vault.destroy(&[gone]).await.unwrap();

        assert_eq!(rotate(&db, &old, &new).await.unwrap(), POOL_REFILL as u64 - 1);
        assert_eq!(
            rotate(&db, &old, &new).await.unwrap(),
            0,
            "nothing left under the old key"
        );
        let after = SqlVault::new(db.clone(), new.clone());
        assert_eq!(
            after.open(&[(event, &sealed)]).await.unwrap(),
            vec![Some(b"{\"title\":\"x\"}".to_vec())]
        );
        let stale = SqlVault::new(db, old);
        assert!(
            stale.open(&[(event, &sealed)]).await.is_err(),
            "the old master key opens nothing now"
        );
    }
}
