//! The Merkle tree of RFC 9162 §2.1 over a log, from its *perfect* subtrees.
//!
//! A perfect subtree is a node `(level, index)` covering the `2^level` leaves from
//! `index · 2^level`: once its last leaf exists its hash never changes, so it is stored once
//! (`audit_nodes`) and never updated. Every hash the RFC asks for — the root of any size, the
//! nodes of an inclusion or a consistency proof — is the hash of a range of leaves, and a
//! range the RFC's recursion reaches splits into at most one perfect subtree per level. So
//! work is done in two steps: which perfect nodes a request needs ([`Ranges::nodes`]), then
//! the hashes from those nodes ([`Ranges::hashes`]), with one read of storage in between.
//!
//! Proofs are made here and checked by an independent implementation (the `ct-merkle` crate)
//! in `audit verify` and in the tests.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ops::Range;

pub type Hash = [u8; 32];

/// A perfect subtree: `level` 0 is a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u32,
    pub index: u64,
}

impl NodeId {
    pub fn leaves(self) -> Range<u64> {
        let start = self.index << self.level;
        start..start + (1 << self.level)
    }
}

/// `MTH({d})`: the hash of a leaf whose input is `data`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new_with_prefix([0x00])
        .chain_update(data)
        .finalize()
        .into()
}

/// The hash of an inner node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new_with_prefix([0x01])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// `MTH({})`: the root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (`n ≥ 2`): where the RFC splits a range.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The perfect subtrees that make up `range`, left to right: one per set bit of its length,
/// largest first, as the RFC's recursion splits it. `range` must start on a boundary of its
/// largest part, which every range the RFC reaches does.
fn perfect_parts(range: &Range<u64>) -> Vec<NodeId> {
    let mut parts = Vec::new();
    let mut start = range.start;
    while start < range.end {
        let level = 63 - (range.end - start).leading_zeros();
        parts.push(NodeId {
            level,
            index: start >> level,
        });
        start += 1 << level;
    }
    parts
}

/// Ranges of leaves whose hashes a request needs, in the order it needs them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ranges(pub Vec<Range<u64>>);

impl Ranges {
    /// The root of the tree of the first `size` leaves (none for the empty tree).
    pub fn root(size: u64) -> Self {
        // One range: the whole tree (none for the empty tree).
        Self(std::iter::once(0..size).filter(|r| !r.is_empty()).collect())
    }

    /// `PATH(m, D[0:size])` (RFC 9162 §2.1.3.1): the audit path of leaf `m`.
    pub fn inclusion(m: u64, size: u64) -> Self {
        fn path(m: u64, range: Range<u64>, out: &mut Vec<Range<u64>>) {
            let n = range.end - range.start;
            if n <= 1 {
                return;
            }
            let k = range.start + split(n);
            if m < k {
                path(m, range.start..k, out);
                out.push(k..range.end);
            } else {
                path(m, k..range.end, out);
                out.push(range.start..k);
            }
        }
        let mut out = Vec::new();
        if m < size {
            path(m, 0..size, &mut out);
        }
        Self(out)
    }

    /// `PROOF(m, D[0:size])` (RFC 9162 §2.1.4.1): that the first `m` leaves are a prefix.
    pub fn consistency(m: u64, size: u64) -> Self {
        fn subproof(m: u64, range: Range<u64>, whole: bool, out: &mut Vec<Range<u64>>) {
            if m == range.end {
                if !whole {
                    out.push(range);
                }
                return;
            }
            let k = range.start + split(range.end - range.start);
            if m <= k {
                subproof(m, range.start..k, whole, out);
                out.push(k..range.end);
            } else {
                subproof(m, k..range.end, false, out);
                out.push(range.start..k);
            }
        }
        let mut out = Vec::new();
        if 0 < m && m < size {
            subproof(m, 0..size, true, &mut out);
        }
        Self(out)
    }

    /// Every perfect node these ranges are made of.
    pub fn nodes(&self) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = self.0.iter().flat_map(perfect_parts).collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }

    /// The hash of each range from its perfect nodes; `None` names a node that `known` lacks.
    pub fn hashes(&self, known: &HashMap<NodeId, Hash>) -> Result<Vec<Hash>, NodeId> {
        self.0
            .iter()
            .map(|range| {
                let parts = perfect_parts(range);
                let mut hashes = parts
                    .iter()
                    .rev()
                    .map(|node| known.get(node).copied().ok_or(*node));
                let last = hashes.next().unwrap_or(Ok(empty_root()))?;
                hashes.try_fold(last, |right, left| Ok(node_hash(&left?, &right)))
            })
            .collect()
    }
}

/// The right edge of a growing tree: the hash of each perfect subtree that no larger complete
/// subtree covers yet, one per set bit of the size. Appending a leaf completes the subtrees it
/// closes, as adding one carries in binary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// By level; `None` where the size's bit is 0.
    edge: Vec<Option<Hash>>,
}

impl Frontier {
    /// The frontier of a tree of `size` leaves, from its stored nodes
    /// ([`Frontier::nodes_of`] lists which).
    pub fn from_nodes(size: u64, known: &HashMap<NodeId, Hash>) -> Result<Self, NodeId> {
        let mut edge = vec![None; 64 - size.leading_zeros() as usize];
        for node in Self::nodes_of(size) {
            edge[node.level as usize] = Some(known.get(&node).copied().ok_or(node)?);
        }
        Ok(Self { size, edge })
    }

    /// The perfect nodes on the right edge of a tree of `size` leaves.
    pub fn nodes_of(size: u64) -> Vec<NodeId> {
        perfect_parts(&(0..size))
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Append a leaf; returns every node it completed, the leaf first.
    pub fn push(&mut self, leaf: Hash) -> Vec<(NodeId, Hash)> {
        let index = self.size;
        let mut completed = vec![(NodeId { level: 0, index }, leaf)];
        let mut carry = leaf;
        let mut level = 0;
        while let Some(Some(left)) = self.edge.get(level).copied() {
            self.edge[level] = None;
            carry = node_hash(&left, &carry);
            level += 1;
            completed.push((
                NodeId {
                    level: level as u32,
                    index: index >> level,
                },
                carry,
            ));
        }
        if self.edge.len() <= level {
            self.edge.resize(level + 1, None);
        }
        self.edge[level] = Some(carry);
        self.size += 1;
        completed
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut parts = self.edge.iter().flatten();
        let Some(first) = parts.next() else {
            return empty_root();
        };
        // Smallest (lowest level) first: each larger subtree is the left child.
        parts.fold(*first, |right, left| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree held whole in memory, for the checks below.
    fn tree(leaves: u64) -> (Frontier, HashMap<NodeId, Hash>) {
        let mut frontier = Frontier::default();
        let mut known = HashMap::new();
        for i in 0..leaves {
            known.extend(frontier.push(leaf_hash(&i.to_be_bytes())));
        }
        (frontier, known)
    }

    #[test]
    fn the_frontier_root_is_the_root_of_the_ranges() {
        for size in 0..70 {
            let (frontier, known) = tree(size);
            let from_ranges = Ranges::root(size).hashes(&known).unwrap();
            assert_eq!(
                from_ranges.first().copied().unwrap_or(empty_root()),
                frontier.root()
            );
            assert_eq!(
                Frontier::from_nodes(size, &known).unwrap(),
                frontier,
                "size {size}"
            );
        }
    }

    /// The published RFC 6962 vectors: roots of every size, audit paths, consistency proofs.
    #[test]
    fn the_published_test_vectors_hold() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../testdata/rfc6962-vectors.json")).unwrap();
        let hex_hash =
            |v: &serde_json::Value| -> Hash { hex::decode(v.as_str().unwrap()).unwrap().try_into().unwrap() };
        let hashes =
            |v: &serde_json::Value| -> Vec<Hash> { v.as_array().unwrap().iter().map(hex_hash).collect() };
        let mut frontier = Frontier::default();
        let mut known = HashMap::new();
        assert_eq!(frontier.root(), hex_hash(&vectors["roots"][0]));
        for (i, leaf) in vectors["leaves"].as_array().unwrap().iter().enumerate() {
            known.extend(frontier.push(leaf_hash(&hex::decode(leaf.as_str().unwrap()).unwrap())));
            assert_eq!(
                frontier.root(),
                hex_hash(&vectors["roots"][i + 1]),
                "root of size {}",
                i + 1
            );
        }
        let size = |v: &serde_json::Value, key: &str| v[key].as_u64().unwrap();
        for case in vectors["inclusion"].as_array().unwrap() {
            let proof = Ranges::inclusion(size(case, "index"), size(case, "size"));
            assert_eq!(proof.hashes(&known).unwrap(), hashes(&case["proof"]), "{case}");
        }
        for case in vectors["consistency"].as_array().unwrap() {
            let proof = Ranges::consistency(size(case, "size1"), size(case, "size2"));
            assert_eq!(proof.hashes(&known).unwrap(), hashes(&case["proof"]), "{case}");
        }
    }

    /// Every proof for every index and size pair up to 40 leaves is accepted by `ct-merkle`,
    /// an implementation other than ours, and its tree has our roots.
    #[test]
    fn proofs_verify_with_an_independent_implementation() {
        use crate::audit::verify::{proves_consistency, proves_inclusion};
        let mut reference =
            ct_merkle::mem_backed_tree::MemoryBackedTree::<sha2_merkle::Sha256, Vec<u8>>::new();
        let mut frontier = Frontier::default();
        let mut known = HashMap::new();
        let mut roots = vec![empty_root()];
        for i in 0..40u64 {
            let record = format!("record {i}").into_bytes();
            reference.push(record.clone());
            known.extend(frontier.push(leaf_hash(&record)));
            roots.push(frontier.root());
            assert_eq!(reference.root().as_bytes().as_slice(), frontier.root());
        }
        for size in 1..=40u64 {
            for index in 0..size {
                let proof = Ranges::inclusion(index, size).hashes(&known).unwrap();
                let record = format!("record {index}").into_bytes();
                assert!(proves_inclusion(
                    &record,
                    index,
                    size,
                    &roots[size as usize],
                    &proof
                ));
                assert!(!proves_inclusion(
                    b"another",
                    index,
                    size,
                    &roots[size as usize],
                    &proof
                ));
            }
            for old in 1..size {
                let proof = Ranges::consistency(old, size).hashes(&known).unwrap();
                let (old_root, root) = (&roots[old as usize], &roots[size as usize]);
                assert!(
                    proves_consistency(old, old_root, size, root, &proof),
                    "{old} → {size}"
                );
                assert!(
                    !proves_consistency(old, root, size, root, &proof),
                    "{old} → {size}"
                );
            }
        }
    }

    #[test]
    fn a_missing_node_is_named() {
        let (_, mut known) = tree(4);
        known.remove(&NodeId { level: 2, index: 0 });
        assert_eq!(Ranges::root(4).hashes(&known), Err(NodeId { level: 2, index: 0 }));
    }
}
