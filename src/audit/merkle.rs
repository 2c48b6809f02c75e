//! The Merkle tree over the audit log (RFC 6962 / RFC 9162, section 2.1).
//!
//! Leaf *i* is record *i*'s chain hash: the 32 bytes whose hex is the
//! record's `hash` field. Its leaf hash is `SHA-256(0x00 || those 32 bytes)`;
//! an interior node is `SHA-256(0x01 || left || right)`; the tree of *n*
//! leaves splits at the largest power of two below *n* (RFC 6962's `MTH`).
//!
//! The writer and the verifier keep only a [`Frontier`]: the roots of the
//! perfect subtrees that make up the tree so far, at most one per bit of
//! *n* (64 hashes at most), enough to add a leaf and to compute the root.
//! [`path_ranges`] says which subtrees an inclusion proof needs, so a
//! streaming reader can compute a proof in one pass with O(log² n) memory;
//! [`verify_inclusion`] checks one (RFC 9162, 2.1.3.2). [`consistency_ranges`]
//! says which subtrees a consistency proof between two sizes needs
//! (RFC 9162, 2.1.4.1) and [`verify_consistency`] checks one (2.1.4.2);
//! [`RangeHashes`] hashes many subtrees in one pass over the leaves (the
//! proofs of an investigator's export). Pure.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The leaf hash of a record whose chain hash is `record_hash`.
pub fn leaf_hash(record_hash: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(record_hash);
    h.finalize().into()
}

/// An interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing (RFC 6962).
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The compact state of a tree: its size and the roots of its perfect
/// subtrees, largest (leftmost) first. O(log n) hashes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// One per set bit of `size`, from the highest bit down.
    peaks: Vec<Hash>,
}

impl Clone for Frontier {
    fn clone(&self) -> Frontier {
        Frontier {
            size: self.size,
            peaks: self.peaks.clone(),
        }
    }

    /// Reuses `self`'s buffer (the audit log copies the frontier at every
    /// group commit).
    fn clone_from(&mut self, source: &Frontier) {
        self.size = source.size;
        self.peaks.clone_from(&source.peaks);
    }
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Rebuilds a frontier from its size and peaks (as stored in a
    /// checkpoint record or a segment header); None when the number of
    /// peaks does not match the size.
    pub fn from_parts(size: u64, peaks: Vec<Hash>) -> Option<Frontier> {
        (peaks.len() == size.count_ones() as usize).then_some(Frontier { size, peaks })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The peaks, largest subtree first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Adds the leaf of a record with this chain hash.
    pub fn push_record(&mut self, record_hash: &Hash) {
        self.push_leaf_hash(leaf_hash(record_hash));
    }

    /// Adds a leaf given its leaf hash.
    pub fn push_leaf_hash(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut n = self.size;
        // Like a binary counter: each trailing 1 bit merges two equal subtrees.
        while n & 1 == 1 {
            // A set bit always has its peak (from_parts checks the count).
            if let Some(left) = self.peaks.pop() {
                h = node_hash(&left, &h);
            }
            n >>= 1;
        }
        self.peaks.push(h);
        self.size += 1;
    }

    /// The tree's root (`MTH`): the peaks folded from the right.
    pub fn root(&self) -> Hash {
        let mut it = self.peaks.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, p| node_hash(p, &acc))
    }
}

/// A subtree of leaves `start..end` whose hash an inclusion proof needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// First leaf.
    pub start: u64,
    /// One past the last leaf.
    pub end: u64,
}

/// The subtrees whose hashes form the audit path of leaf `index` in a tree
/// of `size` leaves, in proof order (nearest the leaf first). Empty when
/// `size <= 1`. `index < size` is the caller's to check.
pub fn path_ranges(index: u64, size: u64) -> Vec<Range> {
    let mut out = Vec::new();
    let (mut lo, mut hi, m) = (0u64, size, index);
    // Walk down from the root, recording the sibling at each level, then
    // reverse: RFC 6962's PATH lists the deepest sibling first.
    while hi - lo > 1 {
        let k = largest_power_of_two_below(hi - lo);
        if m < lo + k {
            out.push(Range {
                start: lo + k,
                end: hi,
            });
            hi = lo + k;
        } else {
            out.push(Range {
                start: lo,
                end: lo + k,
            });
            lo += k;
        }
    }
    out.reverse();
    out
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn largest_power_of_two_below(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Computes the hashes of `ranges` (disjoint) from the leaf hashes fed in
/// order, one pass, one frontier per range.
#[derive(Debug)]
pub struct PathBuilder {
    ranges: Vec<Range>,
    trees: Vec<Frontier>,
    index: u64,
    leaf: Option<Hash>,
}

impl PathBuilder {
    /// For the audit path of leaf `index` in a tree of `size` leaves.
    pub fn new(index: u64, size: u64) -> PathBuilder {
        let ranges = path_ranges(index, size);
        let trees = vec![Frontier::new(); ranges.len()];
        PathBuilder {
            ranges,
            trees,
            index,
            leaf: None,
        }
    }

    /// Feeds leaf `i` (leaves must come in order from 0).
    pub fn feed(&mut self, i: u64, leaf: Hash) {
        if i == self.index {
            self.leaf = Some(leaf);
        }
        for (r, t) in self.ranges.iter().zip(self.trees.iter_mut()) {
            if (r.start..r.end).contains(&i) {
                t.push_leaf_hash(leaf);
            }
        }
    }

    /// The leaf hash and the audit path, once every leaf below the tree
    /// size was fed; None before.
    pub fn finish(&self) -> Option<(Hash, Vec<Hash>)> {
        let complete = self
            .ranges
            .iter()
            .zip(&self.trees)
            .all(|(r, t)| t.size() == r.end - r.start);
        let leaf = self.leaf?;
        complete.then(|| (leaf, self.trees.iter().map(Frontier::root).collect()))
    }
}

/// Checks an inclusion proof (RFC 9162, 2.1.3.2): that `leaf` is leaf
/// `index` of the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// The subtrees whose hashes form the consistency proof from the tree of
/// `m` leaves to the tree of `n` leaves (RFC 9162, 2.1.4.1), in proof
/// order. Empty when `m == 0` or `m >= n`.
pub fn consistency_ranges(m: u64, n: u64) -> Vec<Range> {
    let mut out = Vec::new();
    if m > 0 && m < n {
        subproof(m, 0, n, true, &mut out);
    }
    out
}

/// RFC 9162's SUBPROOF(m, D[lo:hi], b), as ranges.
fn subproof(m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<Range>) {
    let n = hi - lo;
    if m == n {
        if !whole {
            out.push(Range { start: lo, end: hi });
        }
        return;
    }
    let k = largest_power_of_two_below(n);
    if m <= k {
        subproof(m, lo, lo + k, whole, out);
        out.push(Range {
            start: lo + k,
            end: hi,
        });
    } else {
        subproof(m - k, lo + k, hi, false, out);
        out.push(Range {
            start: lo,
            end: lo + k,
        });
    }
}

/// Checks a consistency proof (RFC 9162, 2.1.4.2): that the tree of `m`
/// leaves with root `old` is a prefix of the tree of `n` leaves with root
/// `new`. With `m == n` the proof must be empty and the roots equal; with
/// `m == 0` the proof must be empty.
pub fn verify_consistency(m: u64, n: u64, old: &Hash, new: &Hash, proof: &[Hash]) -> bool {
    if m > n {
        return false;
    }
    if m == 0 {
        return proof.is_empty();
    }
    if m == n {
        return proof.is_empty() && old == new;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if m.is_power_of_two() {
        path.push(*old);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fnode, mut snode) = (m - 1, n - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    fr == *old && sr == *new && snode == 0
}

/// The hashes of many subtrees (each a node of the tree, e.g. the union of
/// several audit paths), computed in one pass over the leaves in order:
/// a leaf goes into the few subtrees that hold it (at most one per level).
#[derive(Debug)]
pub struct RangeHashes {
    /// Distinct ranges, by start (then end).
    ranges: Vec<Range>,
    trees: Vec<Frontier>,
    /// Next range (by start) not yet open.
    next: usize,
    /// Ranges holding the current leaf.
    open: Vec<usize>,
}

impl RangeHashes {
    /// For these ranges (duplicates allowed).
    pub fn new(mut ranges: Vec<Range>) -> RangeHashes {
        ranges.sort_by_key(|r| (r.start, r.end));
        ranges.dedup();
        let trees = vec![Frontier::new(); ranges.len()];
        RangeHashes {
            ranges,
            trees,
            next: 0,
            open: Vec::new(),
        }
    }

    /// Feeds leaf `i` (leaves must come in order from 0, each once).
    pub fn feed(&mut self, i: u64, leaf: Hash) {
        while self.next < self.ranges.len() && self.ranges[self.next].start <= i {
            if self.ranges[self.next].end > i {
                self.open.push(self.next);
            }
            self.next += 1;
        }
        for &r in &self.open {
            self.trees[r].push_leaf_hash(leaf);
        }
        let (ranges, trees) = (&self.ranges, &self.trees);
        self.open
            .retain(|&r| trees[r].size() < ranges[r].end - ranges[r].start);
    }

    /// The hash of `r`, once all its leaves were fed.
    pub fn get(&self, r: Range) -> Option<Hash> {
        let i = self
            .ranges
            .binary_search_by_key(&(r.start, r.end), |x| (x.start, x.end))
            .ok()?;
        (self.trees[i].size() == r.end - r.start).then(|| self.trees[i].root())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962's MTH, by its recursive definition.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = largest_power_of_two_below(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&Sha256::digest(i.to_le_bytes()).into()))
            .collect()
    }

    #[test]
    fn frontier_root_equals_the_recursive_definition() {
        let l = leaves(70);
        let mut f = Frontier::new();
        assert_eq!(f.root(), mth(&[]));
        for n in 1..=70 {
            f.push_leaf_hash(l[n - 1]);
            assert_eq!(f.root(), mth(&l[..n]), "size {n}");
            assert_eq!(f.peaks().len(), n.count_ones() as usize);
            let again = Frontier::from_parts(n as u64, f.peaks().to_vec()).unwrap();
            assert_eq!(again.root(), f.root());
        }
        assert!(Frontier::from_parts(3, vec![[0; 32]]).is_none());
    }

    #[test]
    fn rfc6962_empty_and_single_leaf() {
        // The empty tree's root is SHA-256 of the empty string.
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // One leaf: the root is its leaf hash, SHA-256(0x00 || data).
        let mut f = Frontier::new();
        let rec = [7u8; 32];
        f.push_record(&rec);
        let mut want = vec![0u8];
        want.extend_from_slice(&rec);
        assert_eq!(f.root(), <Hash>::from(Sha256::digest(&want)));
    }

    #[test]
    fn every_inclusion_proof_round_trips_and_a_wrong_one_is_refused() {
        let l = leaves(33);
        for size in 1..=33u64 {
            let root = mth(&l[..size as usize]);
            for index in 0..size {
                let mut b = PathBuilder::new(index, size);
                for (i, leaf) in l[..size as usize].iter().enumerate() {
                    b.feed(i as u64, *leaf);
                }
                let (leaf, path) = b.finish().unwrap();
                assert_eq!(leaf, l[index as usize]);
                assert!(verify_inclusion(index, size, &leaf, &path, &root));
                // Wrong leaf, wrong index, wrong size, a changed path.
                assert!(!verify_inclusion(index, size, &[9; 32], &path, &root));
                if size > 1 {
                    assert!(!verify_inclusion(
                        (index + 1) % size,
                        size,
                        &leaf,
                        &path,
                        &root
                    ));
                    let mut bad = path.clone();
                    bad[0][0] ^= 1;
                    assert!(!verify_inclusion(index, size, &leaf, &bad, &root));
                    assert!(!verify_inclusion(index, size, &leaf, &path[1..], &root));
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_round_trips_and_a_wrong_one_is_refused() {
        let l = leaves(40);
        for n in 1..=40u64 {
            let new = mth(&l[..n as usize]);
            for m in 0..=n {
                let old = mth(&l[..m as usize]);
                let ranges = consistency_ranges(m, n);
                let mut h = RangeHashes::new(ranges.clone());
                for (i, leaf) in l[..n as usize].iter().enumerate() {
                    h.feed(i as u64, *leaf);
                }
                let proof: Vec<Hash> = ranges.iter().map(|r| h.get(*r).unwrap()).collect();
                // Each range's hash is the recursive definition's.
                for (r, p) in ranges.iter().zip(&proof) {
                    assert_eq!(*p, mth(&l[r.start as usize..r.end as usize]));
                }
                assert!(verify_consistency(m, n, &old, &new, &proof), "{m} -> {n}");
                if m > 0 && m < n {
                    let mut bad = proof.clone();
                    bad[0][5] ^= 1;
                    assert!(!verify_consistency(m, n, &old, &new, &bad));
                    assert!(!verify_consistency(m, n, &[7; 32], &new, &proof));
                    assert!(!verify_consistency(m, n, &old, &[7; 32], &proof));
                    assert!(!verify_consistency(m, n, &old, &new, &proof[1..]));
                }
            }
        }
    }

    #[test]
    fn range_hashes_give_every_audit_path_in_one_pass() {
        let l = leaves(37);
        let size = 37u64;
        let picks = [0u64, 5, 6, 17, 36];
        let ranges: Vec<Range> = picks.iter().flat_map(|&i| path_ranges(i, size)).collect();
        let mut h = RangeHashes::new(ranges);
        for (i, leaf) in l.iter().enumerate() {
            h.feed(i as u64, *leaf);
        }
        let root = mth(&l);
        for &i in &picks {
            let path: Vec<Hash> = path_ranges(i, size)
                .iter()
                .map(|r| h.get(*r).unwrap())
                .collect();
            assert!(verify_inclusion(i, size, &l[i as usize], &path, &root));
        }
    }

    #[test]
    fn a_builder_fed_too_few_leaves_has_no_proof() {
        let l = leaves(5);
        let mut b = PathBuilder::new(1, 5);
        for (i, leaf) in l[..4].iter().enumerate() {
            b.feed(i as u64, *leaf);
        }
        assert!(b.finish().is_none());
    }
}
