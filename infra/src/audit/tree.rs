//! The stored Merkle trees (`audit_nodes`) and the folder that keeps each one up with its log.
//!
//! The folder reads records after the tree's size, hashes them and stores every perfect
//! subtree they complete, in one transaction per batch. Nodes are a pure function of the
//! records, so several nodes folding one database write the same rows and the inserts ignore
//! what is there already: it is correct on any number of `enkaku` processes.

use super::merkle::{Frontier, Hash, NodeId, Ranges, leaf_hash};
use super::records::Log;
use crate::db::Db;
use enkaku_projections::bulk::value_rows;
use std::collections::HashMap;
use tokio::sync::Mutex;

/// Records folded per transaction.
const FOLD_BATCH: usize = 2000;
/// Nodes per INSERT: 4 parameters each.
const INSERT_CHUNK: usize = 500;

/// One log's tree in the database.
#[derive(Clone)]
pub struct StoredTree {
    db: Db,
    log: Log,
}

impl StoredTree {
    pub fn new(db: Db, log: Log) -> Self {
        Self { db, log }
    }

    pub fn log(&self) -> Log {
        self.log
    }

    /// How many leaves the stored tree holds.
    pub async fn size(&self) -> Result<u64, sqlx::Error> {
        let size: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_nodes WHERE log = $1 AND level = 0",
        )
        .bind(self.log.name())
        .fetch_one(&self.db.pool)
        .await?;
        Ok(size as u64)
    }

    /// The stored hashes of `ids`; a node not stored is absent from the map.
    pub async fn nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, sqlx::Error> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(100) {
            let wanted = (0..chunk.len())
                .map(|i| format!("(level = ${} AND idx = ${})", 2 * i + 2, 2 * i + 3))
                .collect::<Vec<_>>()
                .join(" OR ");
            let sql = format!("SELECT level, idx, hash FROM audit_nodes WHERE log = $1 AND ({wanted})");
            let mut query = sqlx::query_as::<_, (i32, i64, String)>(&sql).bind(self.log.name());
            for id in chunk {
                query = query.bind(id.level as i32).bind(id.index as i64);
            }
            for (level, index, hash) in query.fetch_all(&self.db.pool).await? {
                if let Some(hash) = parse_hash(&hash) {
                    found.insert(
                        NodeId {
                            level: level as u32,
                            index: index as u64,
                        },
                        hash,
                    );
                }
            }
        }
        Ok(found)
    }

    /// The stored leaves `from..to` (fewer where some are missing), in order.
    pub async fn leaves(&self, from: u64, to: u64) -> Result<Vec<(u64, Option<Hash>)>, sqlx::Error> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT idx, hash FROM audit_nodes WHERE log = $1 AND level = 0 AND idx >= $2 AND idx < $3 ORDER BY idx",
        )
        .bind(self.log.name())
        .bind(from as i64)
        .bind(to as i64)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(index, hash)| (index as u64, parse_hash(&hash)))
            .collect())
    }

    /// The hashes of `ranges` from the stored nodes; `Err` names a node that is missing.
    pub async fn hashes(&self, ranges: &Ranges) -> Result<Result<Vec<Hash>, NodeId>, sqlx::Error> {
        let known = self.nodes(&ranges.nodes()).await?;
        Ok(ranges.hashes(&known))
    }

    async fn insert(&self, nodes: &[(NodeId, Hash)]) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        for chunk in nodes.chunks(INSERT_CHUNK) {
            let values = value_rows(self.db.backend.placeholders(), chunk.len(), 4);
            let sql = format!(
                "INSERT INTO audit_nodes (log, level, idx, hash) VALUES {values} ON CONFLICT DO NOTHING"
            );
            let mut query = sqlx::query(&sql);
            for (id, hash) in chunk {
                query = query
                    .bind(self.log.name())
                    .bind(id.level as i32)
                    .bind(id.index as i64)
                    .bind(hex::encode(hash));
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await
    }
}

fn parse_hash(text: &str) -> Option<Hash> {
    hex::decode(text).ok()?.try_into().ok()
}

/// Keeps one stored tree up with its log.
pub struct Folder {
    tree: StoredTree,
    /// The right edge of the stored tree, loaded at the first fold.
    frontier: Mutex<Option<Frontier>>,
}

/// Where a tree stands after a fold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
}

impl Folder {
    pub fn new(tree: StoredTree) -> Self {
        Self {
            tree,
            frontier: Mutex::new(None),
        }
    }

    pub fn tree(&self) -> &StoredTree {
        &self.tree
    }

    /// Fold every record written so far into the tree; returns the tree's head.
    pub async fn catch_up(&self) -> Result<TreeHead, FoldError> {
        let mut guard = self.frontier.lock().await;
        let frontier = match guard.as_mut() {
            Some(frontier) => frontier,
            None => guard.insert(self.load().await?),
        };
        loop {
            let records = self
                .tree
                .log
                .read(&self.tree.db, frontier.size(), FOLD_BATCH)
                .await?;
            if records.is_empty() {
                return Ok(TreeHead {
                    size: frontier.size(),
                    root: frontier.root(),
                });
            }
            let mut next = frontier.clone();
            let mut nodes = Vec::with_capacity(2 * records.len());
            for (position, bytes) in records {
                // Positions run 1, 2, 3, … without gaps; a record out of its place is a
                // damaged log, which `audit verify` reports, and folding stops before it.
                if position != next.size() + 1 {
                    return Err(FoldError::Gap {
                        log: self.tree.log,
                        expected: next.size() + 1,
                        found: position,
                    });
                }
                nodes.extend(next.push(leaf_hash(&bytes)));
            }
            self.tree.insert(&nodes).await?;
            *frontier = next;
        }
    }

    async fn load(&self) -> Result<Frontier, FoldError> {
        let size = self.tree.size().await?;
        let known = self.tree.nodes(&Frontier::nodes_of(size)).await?;
        Frontier::from_nodes(size, &known).map_err(|node| FoldError::MissingNode {
            log: self.tree.log,
            node,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FoldError {
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error("the {} log jumps from position {} to {found}", log.name(), expected - 1)]
    Gap { log: Log, expected: u64, found: u64 },
    #[error("the stored {} tree lacks its node at level {}, index {}", log.name(), node.level, node.index)]
    MissingNode { log: Log, node: NodeId },
}
