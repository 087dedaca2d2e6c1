//! The audit trail as one server (or one `enkaku audit` command) holds it: a folder per log,
//! the checkpoint signer, and the data directory the checkpoints go to.

use super::checkpoint::{self, Checkpoint, Signer25519};
use super::merkle::{Hash, Ranges, leaf_hash};
use super::records::Log;
use super::tree::{FoldError, Folder, StoredTree, TreeHead};
use crate::db::Db;
use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use std::path::{Path, PathBuf};

pub struct AuditTrail {
    db: Db,
    events: Folder,
    access: Folder,
    signer: Signer25519,
    dir: PathBuf,
}

/// One record and the proof that a signed checkpoint's tree holds it.
#[derive(Clone, Debug)]
pub struct Inclusion {
    pub position: u64,
    /// The record's bytes as the tree hashes them.
    pub record: Vec<u8>,
    pub leaf_hash: Hash,
    /// Sibling hashes from the leaf up (RFC 9162 §2.1.3).
    pub proof: Vec<Hash>,
    pub checkpoint: Checkpoint,
}

impl AuditTrail {
    /// `signing_key`: hex from the environment, else the data directory's key file.
    pub fn open(db: Db, signing_key: Option<&str>, dir: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            events: Folder::new(StoredTree::new(db.clone(), Log::Events)),
            access: Folder::new(StoredTree::new(db.clone(), Log::Access)),
            signer: Signer25519::load(signing_key, dir)?,
            dir: dir.to_owned(),
            db,
        })
    }

    pub fn signer(&self) -> &Signer25519 {
        &self.signer
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn folder(&self, log: Log) -> &Folder {
        match log {
            Log::Events => &self.events,
            Log::Access => &self.access,
        }
    }

    /// Fold everything written so far into `log`'s tree.
    pub async fn catch_up(&self, log: Log) -> Result<TreeHead, FoldError> {
        self.folder(log).catch_up().await
    }

    /// `log`'s tree as it stands now, signed.
    pub async fn checkpoint(&self, log: Log, now: DateTime<Utc>) -> Result<Checkpoint, FoldError> {
        let head = self.catch_up(log).await?;
        Ok(self.signer.sign(log, head.size, &head.root, now))
    }

    /// The keys whose checkpoints this data directory trusts.
    pub fn trusted_keys(&self) -> anyhow::Result<Vec<VerifyingKey>> {
        checkpoint::trusted_keys(&self.signer, &self.dir)
    }

    /// The record at `position` of `log` with its inclusion proof in the tree as it stands
    /// now; `None` when there is no such record.
    pub async fn inclusion(
        &self,
        log: Log,
        position: u64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Inclusion>> {
        let head = self.catch_up(log).await?;
        if position == 0 || position > head.size {
            return Ok(None);
        }
        let Some((found, record)) = log.read(&self.db, position - 1, 1).await?.into_iter().next() else {
            return Ok(None);
        };
        anyhow::ensure!(
            found == position,
            "the {} log has no record {position}",
            log.name()
        );
        let tree = self.folder(log).tree();
        let proof = tree
            .hashes(&Ranges::inclusion(position - 1, head.size))
            .await?
            .map_err(|node| FoldError::MissingNode { log, node })?;
        Ok(Some(Inclusion {
            position,
            leaf_hash: leaf_hash(&record),
            record,
            proof,
            checkpoint: self.signer.sign(log, head.size, &head.root, now),
        }))
    }
}
