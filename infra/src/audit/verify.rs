//! `enkaku audit verify`: recompute each log's tree from its stored records and hold it
//! against the stored tree and the signed checkpoints.
//!
//! - A record whose leaf differs from the stored tree's is named by position (changed, or
//!   missing where positions skip or the log ends early).
//! - A checkpoint must carry a trusted signature, and its root must be the recomputed root of
//!   the log's first `size` records; the stored tree must prove it a prefix of today's log
//!   (a consistency proof, checked by the `ct-merkle` crate).
//! - Where records and stored tree were rewritten together, only the checkpoints can tell: the
//!   difference is then placed between the last checkpoint that holds and the first that
//!   does not.

use super::checkpoint::Checkpoint;
use super::merkle::{Frontier, Hash, Ranges, leaf_hash};
use super::prune;
use super::records::Log;
use super::tree::StoredTree;
use crate::db::Db;
use ct_merkle::{ConsistencyProof, RootHash};
use ed25519_dalek::VerifyingKey;
use sha2_merkle::Sha256;
use std::collections::BTreeMap;

/// Records read at a time.
const BATCH: usize = 5000;

#[derive(Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The record at `position` is not the one the tree holds.
    Changed { position: u64 },
    /// No record at `position`, though the tree or a checkpoint covers it.
    Missing { position: u64 },
    /// Records and stored tree agree but not with a signed checkpoint: the first difference is
    /// after `after` and at or before `up_to`.
    Rewritten { after: u64, up_to: u64 },
    /// A checkpoint is not to be trusted.
    Checkpoint { size: u64, why: String },
    /// The stored tree cannot prove a checkpoint a prefix of today's log.
    Inconsistent { size: u64 },
}

impl Problem {
    /// The first position this problem concerns, to order problems by.
    fn position(&self) -> u64 {
        match self {
            Self::Changed { position } | Self::Missing { position } => *position,
            Self::Rewritten { after, .. } => after + 1,
            Self::Checkpoint { size, .. } | Self::Inconsistent { size } => *size,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Changed { position } => write!(f, "position {position}: the record was changed"),
            Self::Missing { position } => write!(f, "position {position}: the record is missing"),
            Self::Rewritten { after, up_to } => write!(
                f,
                "positions {}–{up_to}: the records differ from the signed checkpoint (the stored tree was rewritten with them)",
                after + 1
            ),
            Self::Checkpoint { size, why } => write!(f, "checkpoint at size {size}: {why}"),
            Self::Inconsistent { size } => write!(
                f,
                "checkpoint at size {size}: the stored tree does not prove it a prefix of today's log"
            ),
        }
    }
}

#[derive(Debug, serde::Serialize)]
pub struct LogReport {
    pub log: Log,
    /// Records found in order from position 1.
    pub records: u64,
    /// Leaves of the stored tree.
    pub tree_size: u64,
    /// Hex root of the recomputed tree over `records`.
    pub root: String,
    /// Checkpoints held against the log.
    pub checkpoints: usize,
    /// The first problem, by position.
    pub problem: Option<Problem>,
}

/// Verify `log` against `checkpoints` (any logs; the others are ignored), trusting `keys`.
pub async fn verify(
    db: &Db,
    log: Log,
    checkpoints: &[Checkpoint],
    keys: &[VerifyingKey],
) -> Result<LogReport, sqlx::Error> {
    let tree = StoredTree::new(db.clone(), log);
    let tree_size = tree.size().await?;
    let mut problems = Vec::new();
    let mut trusted = Vec::new();
    for checkpoint in checkpoints.iter().filter(|c| c.log == log) {
        match checkpoint.verify(keys) {
            Ok(()) => trusted.push(checkpoint),
            Err(e) => problems.push(Problem::Checkpoint {
                size: checkpoint.size,
                why: e.to_string(),
            }),
        }
    }
    trusted.sort_by_key(|c| c.size);

    // After a pruning, the records start after its size, and the tree's right edge there
    // (pinned by the pruning's signed checkpoint) stands for those removed.
    let (pruned, mut recomputed) = match prune::latest(db, log).await? {
        None => (None, Frontier::default()),
        Some((size, stored)) => match pruned_edge(&tree, log, size, &stored, keys).await? {
            Ok(edge) => (Some(edge.root()), edge),
            Err(why) => {
                return Ok(LogReport {
                    log,
                    records: 0,
                    tree_size,
                    root: String::new(),
                    checkpoints: trusted.len(),
                    problem: Some(Problem::Checkpoint { size, why }),
                });
            }
        },
    };
    let pruned_size = recomputed.size();

    // The recomputed root at every checkpoint's size, taken as the records stream past.
    let mut roots_at: BTreeMap<u64, Hash> = trusted
        .iter()
        .filter(|c| c.size >= pruned_size)
        .map(|c| (c.size, [0; 32]))
        .collect();
    // A checkpoint where the records start (an empty log's, or the pruning's) holds the root
    // there, which no record's arrival sets.
    if let Some(at) = roots_at.get_mut(&pruned_size) {
        *at = recomputed.root();
    }
    let mut record_problem = None;
    'records: loop {
        let records = log.read(db, recomputed.size(), BATCH).await?;
        let Some((last, _)) = records.last() else {
            break;
        };
        let stored = tree.leaves(recomputed.size(), *last.min(&tree_size)).await?;
        let mut stored = stored.into_iter().peekable();
        for (position, bytes) in records {
            let expected = recomputed.size() + 1;
            if position != expected {
                record_problem = Some(Problem::Missing { position: expected });
                break 'records;
            }
            let leaf = leaf_hash(&bytes);
            if position <= tree_size {
                let index = position - 1;
                let stored_leaf = match stored.peek() {
                    Some((i, hash)) if *i == index => {
                        let hash = *hash;
                        stored.next();
                        hash
                    }
                    _ => None,
                };
                if stored_leaf != Some(leaf) {
                    record_problem = Some(Problem::Changed { position });
                    break 'records;
                }
            }
            recomputed.push(leaf);
            if let Some(root) = roots_at.get_mut(&recomputed.size()) {
                *root = recomputed.root();
            }
        }
    }
    let records = recomputed.size();
    if record_problem.is_none() && records < tree_size {
        record_problem = Some(Problem::Missing {
            position: records + 1,
        });
    }
    problems.extend(record_problem);

    // Checkpoints against the recomputed roots, in size order: the last that holds and the
    // first that does not bracket a rewrite.
    let mut holds_up_to = None;
    for checkpoint in &trusted {
        if checkpoint.size > records {
            problems.push(Problem::Missing {
                position: records + 1,
            });
            break;
        }
        if let Some(pruned_root) = pruned.filter(|_| checkpoint.size < pruned_size) {
            // Its records are gone: it must be a prefix of the pruning's signed tree.
            if !consistent_with(&tree, checkpoint, pruned_size, &pruned_root).await? {
                problems.push(Problem::Inconsistent {
                    size: checkpoint.size,
                });
            }
            holds_up_to = Some(checkpoint.size);
            continue;
        }
        if checkpoint.root().ok() != Some(roots_at[&checkpoint.size]) {
            problems.push(if holds_up_to == Some(checkpoint.size) {
                Problem::Checkpoint {
                    size: checkpoint.size,
                    why: "it contradicts another signed checkpoint of the same size, which the log matches"
                        .into(),
                }
            } else {
                Problem::Rewritten {
                    after: holds_up_to.unwrap_or(0),
                    up_to: checkpoint.size,
                }
            });
            break;
        }
        holds_up_to = Some(checkpoint.size);
        if checkpoint.size <= tree_size && !consistent(&tree, checkpoint, tree_size).await? {
            problems.push(Problem::Inconsistent {
                size: checkpoint.size,
            });
        }
    }
    problems.sort_by_key(Problem::position);
    Ok(LogReport {
        log,
        records,
        tree_size,
        root: hex::encode(recomputed.root()),
        checkpoints: trusted.len(),
        problem: problems.into_iter().next(),
    })
}

/// Whether the stored tree proves `checkpoint` a prefix of its first `size` leaves.
async fn consistent(tree: &StoredTree, checkpoint: &Checkpoint, size: u64) -> Result<bool, sqlx::Error> {
    if checkpoint.size == 0 || checkpoint.size == size {
        // Nothing to prove beyond the roots compared already.
        return Ok(true);
    }
    let Ok(new_root) = tree.hashes(&Ranges::root(size)).await? else {
        return Ok(false);
    };
    consistent_with(tree, checkpoint, size, &new_root[0]).await
}

/// Whether the stored tree proves `checkpoint` a prefix of the tree of `size` leaves whose
/// root is `root`.
async fn consistent_with(
    tree: &StoredTree,
    checkpoint: &Checkpoint,
    size: u64,
    root: &Hash,
) -> Result<bool, sqlx::Error> {
    let Ok(old_root) = checkpoint.root() else {
        return Ok(false);
    };
    if checkpoint.size == 0 || checkpoint.size == size {
        return Ok(checkpoint.size == 0 || old_root == *root);
    }
    let Ok(proof) = tree.hashes(&Ranges::consistency(checkpoint.size, size)).await? else {
        return Ok(false);
    };
    Ok(proves_consistency(checkpoint.size, &old_root, size, root, &proof))
}

/// The stored tree's right edge at a pruning of `size`, checked against the pruning's signed
/// checkpoint (`stored`, as JSON); `Err` says why it cannot be trusted.
async fn pruned_edge(
    tree: &StoredTree,
    log: Log,
    size: u64,
    stored: &str,
    keys: &[VerifyingKey],
) -> Result<Result<Frontier, String>, sqlx::Error> {
    let Ok(checkpoint) = serde_json::from_str::<Checkpoint>(stored) else {
        return Ok(Err("the pruning checkpoint is not readable".into()));
    };
    if let Err(e) = checkpoint.verify(keys) {
        return Ok(Err(format!("the pruning checkpoint: {e}")));
    }
    if checkpoint.log != log || checkpoint.size != size {
        return Ok(Err("the pruning checkpoint is for another place".into()));
    }
    let known = tree.nodes(&Frontier::nodes_of(size)).await?;
    let Ok(edge) = Frontier::from_nodes(size, &known) else {
        return Ok(Err("the stored tree lacks its nodes at the pruning".into()));
    };
    if checkpoint.root().ok() != Some(edge.root()) {
        return Ok(Err("the stored tree differs from the pruning checkpoint".into()));
    }
    Ok(Ok(edge))
}

/// Check an RFC 9162 consistency proof with the `ct-merkle` crate.
pub fn proves_consistency(old_size: u64, old_root: &Hash, size: u64, root: &Hash, proof: &[Hash]) -> bool {
    let old = RootHash::<Sha256>::new((*old_root).into(), old_size);
    let new = RootHash::<Sha256>::new((*root).into(), size);
    let digests: Vec<_> = proof.iter().map(|h| (*h).into()).collect();
    new.verify_consistency(&old, &ConsistencyProof::from_digests(digests.iter()))
        .is_ok()
}

/// Check an RFC 9162 inclusion proof of the record `bytes` at `index` with `ct-merkle`.
pub fn proves_inclusion(bytes: &[u8], index: u64, size: u64, root: &Hash, proof: &[Hash]) -> bool {
    let root = RootHash::<Sha256>::new((*root).into(), size);
    let digests: Vec<_> = proof.iter().map(|h| (*h).into()).collect();
    root.verify_inclusion(
        &bytes,
        index,
        &ct_merkle::InclusionProof::from_digests(digests.iter()),
    )
    .is_ok()
}
