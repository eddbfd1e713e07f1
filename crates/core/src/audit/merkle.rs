//! The Merkle tree over audit entries, as RFC 9162 section 2.1 defines it (the RFC 6962 tree):
//! a leaf hash is `SHA-256(0x00 || entry bytes)`, an interior node `SHA-256(0x01 || left ||
//! right)`, and the tree of `n > 1` leaves splits at `k`, the largest power of two below `n`.
//!
//! Only the root and consistency proofs are needed here: a bundle holds every entry, so an
//! auditor recomputes the root, and the consistency proof shows that the previous export's
//! checkpoint is a prefix of this one (the log was only appended to).

use sha2::{Digest, Sha256};

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// The hash of a leaf: `SHA-256(0x00 || bytes)`.
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    h.finalize().into()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The root of the tree over these leaf hashes; the empty tree's root is `SHA-256("")`.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The consistency proof from the tree of the first `old_size` leaves to the tree of all of
/// them (RFC 9162 2.1.4.1). Empty when `old_size` is 0 or equals the size.
///
/// # Panics
/// If `old_size` is larger than the number of leaves (a caller's bug: export checks it first).
pub fn consistency_proof(old_size: usize, leaves: &[Hash]) -> Vec<Hash> {
    assert!(old_size <= leaves.len(), "old size beyond the tree");
    let mut proof = Vec::new();
    if old_size > 0 {
        subproof(old_size, leaves, true, &mut proof);
    }
    proof
}

fn subproof(m: usize, leaves: &[Hash], complete: bool, proof: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            proof.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &leaves[..k], complete, proof);
        proof.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, proof);
        proof.push(root(&leaves[..k]));
    }
}

/// Why a consistency proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsistencyError {
    /// The earlier tree is larger than the later one.
    #[error("the earlier tree ({old_size} entries) is larger than the later one ({new_size})")]
    Shrunk {
        /// Earlier size.
        old_size: u64,
        /// Later size.
        new_size: u64,
    },
    /// Equal sizes but different roots, or a non-empty proof for equal sizes.
    #[error("both trees have {size} entries but their roots differ")]
    SameSizeDifferentRoot {
        /// The size.
        size: u64,
    },
    /// The proof has the wrong number of hashes, or its hashes do not lead to both roots.
    #[error("the consistency proof from {old_size} to {new_size} entries does not lead to both roots: the log was rewritten, or the proof belongs to other checkpoints")]
    Mismatch {
        /// Earlier size.
        old_size: u64,
        /// Later size.
        new_size: u64,
    },
}

/// Verifies that the tree of `old_size` leaves with `old_root` is a prefix of the tree of
/// `new_size` leaves with `new_root` (RFC 9162 2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ConsistencyError> {
    if old_size > new_size {
        return Err(ConsistencyError::Shrunk { old_size, new_size });
    }
    if old_size == new_size {
        if proof.is_empty() && old_root == new_root {
            return Ok(());
        }
        return Err(ConsistencyError::SameSizeDifferentRoot { size: old_size });
    }
    let mismatch = ConsistencyError::Mismatch { old_size, new_size };
    if old_size == 0 {
        // Every tree extends the empty one.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(mismatch)
        };
    }
    if proof.is_empty() {
        return Err(mismatch);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let mut first = old_size - 1;
    let mut second = new_size - 1;
    while first & 1 == 1 {
        first >>= 1;
        second >>= 1;
    }
    let mut old_hash = path[0];
    let mut new_hash = path[0];
    for c in &path[1..] {
        if second == 0 {
            return Err(mismatch);
        }
        if first & 1 == 1 || first == second {
            old_hash = node_hash(c, &old_hash);
            new_hash = node_hash(c, &new_hash);
            if first & 1 == 0 {
                while first & 1 == 0 && first != 0 {
                    first >>= 1;
                    second >>= 1;
                }
            }
        } else {
            new_hash = node_hash(&new_hash, c);
        }
        first >>= 1;
        second >>= 1;
    }
    if &old_hash == old_root && &new_hash == new_root && second == 0 {
        Ok(())
    } else {
        Err(mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
            .collect()
    }

    /// The RFC 6962 reference vectors (the certificate-transparency implementations' test
    /// inputs): the roots of the first 1..=8 leaves, and two consistency proofs.
    #[test]
    fn roots_match_the_reference_vectors() {
        let inputs: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let hashes: Vec<Hash> = inputs.iter().map(|b| leaf_hash(b)).collect();
        for (n, want) in expected.iter().enumerate() {
            assert_eq!(hex::encode(root(&hashes[..=n])), *want, "size {}", n + 1);
        }
        // The reference consistency proofs over the same leaves.
        let hexes = |proof: &[Hash]| proof.iter().map(hex::encode).collect::<Vec<_>>();
        assert_eq!(
            hexes(&consistency_proof(1, &hashes)),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(
            hexes(&consistency_proof(6, &hashes)),
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        assert!(consistency_proof(8, &hashes).is_empty());
        assert_eq!(
            hex::encode(root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// RFC 9162's worked example (section 2.1.5): the proof from 3 to 7 leaves is
    /// `[c, d, g, l]`, i.e. four hashes.
    #[test]
    fn the_proof_from_three_to_seven_has_the_rfc_shape() {
        let all = leaves(7);
        let proof = consistency_proof(3, &all);
        assert_eq!(
            proof,
            vec![
                all[2],
                all[3],
                node_hash(&all[0], &all[1]),
                root(&all[4..7])
            ]
        );
        let old = root(&all[..3]);
        let new = root(&all);
        assert_eq!(verify_consistency(3, 7, &old, &new, &proof), Ok(()));
    }

    #[test]
    fn a_shrunk_or_rewritten_tree_is_refused() {
        let all = leaves(6);
        let proof = consistency_proof(4, &all);
        let old = root(&all[..4]);
        let new = root(&all);
        assert!(matches!(
            verify_consistency(6, 4, &new, &old, &proof),
            Err(ConsistencyError::Shrunk { .. })
        ));
        let mut other = all.clone();
        other[1] = leaf_hash(b"rewritten");
        assert!(matches!(
            verify_consistency(4, 6, &root(&other[..4]), &new, &proof),
            Err(ConsistencyError::Mismatch { .. })
        ));
        assert!(matches!(
            verify_consistency(6, 6, &old, &new, &[]),
            Err(ConsistencyError::SameSizeDifferentRoot { size: 6 })
        ));
    }

    proptest! {
        #[test]
        fn every_prefix_is_consistent_with_every_extension(n in 1usize..80, m_seed in 0usize..80) {
            let m = m_seed % (n + 1);
            let all = leaves(n);
            let proof = consistency_proof(m, &all);
            let old = root(&all[..m]);
            let new = root(&all);
            prop_assert_eq!(verify_consistency(m as u64, n as u64, &old, &new, &proof), Ok(()));
        }

        #[test]
        fn any_changed_hash_breaks_the_proof(
            n in 2usize..64,
            m_seed in 1usize..64,
            which in 0usize..64,
            bit in 0u8..8,
        ) {
            let m = 1 + m_seed % (n - 1);
            let all = leaves(n);
            let mut proof = consistency_proof(m, &all);
            let old = root(&all[..m]);
            let new = root(&all);
            let i = which % proof.len();
            proof[i][0] ^= 1 << bit;
            prop_assert!(verify_consistency(m as u64, n as u64, &old, &new, &proof).is_err());
            let proof = consistency_proof(m, &all);
            let mut old_changed = old;
            old_changed[31] ^= 1 << bit;
            prop_assert!(verify_consistency(m as u64, n as u64, &old_changed, &new, &proof).is_err());
            // A proof for other sizes does not pass for these.
            if m + 1 < n {
                prop_assert!(verify_consistency((m + 1) as u64, n as u64, &root(&all[..m + 1]), &new, &proof).is_err()
                    || consistency_proof(m + 1, &all) == proof);
            }
        }
    }
}
