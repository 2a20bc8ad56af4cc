//! Stable buckets (docs/language.md §6.9): the same names give the same bucket on
//! every machine and release, so splits, variants and holdout never reshuffle.

use sha2::{Digest, Sha256};

/// `bucket(salt, parts…)`: the first 8 bytes of SHA-256(salt ‖ 0x1F ‖ part₁ ‖ 0x1F ‖ …)
/// as a big-endian u64, mod 10 000 (basis points).
pub fn bucket(salt: &str, parts: &[&str]) -> u32 {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    for p in parts {
        h.update([0x1F]);
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % 10_000) as u32
}

/// Held out iff `bucket("holdout", customer, playbook) < percent × 100`.
pub fn held_out(customer: &str, playbook: &str, basis_points: u32) -> bool {
    bucket("holdout", &[customer, playbook]) < basis_points
}

/// The arm of a split, by its arms' basis points in source order.
pub fn split_arm(
    customer: &str,
    playbook: &str,
    step: &str,
    ordinal: usize,
    arms: &[u32],
) -> usize {
    let b = bucket("split", &[customer, playbook, step, &ordinal.to_string()]);
    let mut upper = 0;
    for (i, bp) in arms.iter().enumerate() {
        upper += bp;
        if b < upper {
            return i;
        }
    }
    arms.len().saturating_sub(1)
}

/// The wording of a template: `text` is 0, variants follow in source order.
pub fn variant_index(customer: &str, template: &str, wordings: usize) -> usize {
    (bucket("variant", &[customer, template]) as usize * wordings) / 10_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_fixed_values() {
        // Pinned: a change here would move every customer to another arm.
        let b = bucket("split", &["c1", "post_purchase", "invite", "0"]);
        assert_eq!(b, 5085);
        let mut h = Sha256::new();
        h.update(b"split\x1fc1\x1fpost_purchase\x1finvite\x1f0");
        let d = h.finalize();
        assert_eq!(
            b as u64,
            u64::from_be_bytes(d[..8].try_into().unwrap()) % 10_000
        );
        assert!(b < 10_000);
    }

    #[test]
    fn parts_are_separated() {
        assert_ne!(bucket("v", &["ab", "c"]), bucket("v", &["a", "bc"]));
    }

    #[test]
    fn splits_are_close_to_their_shares() {
        let mut counts = [0usize; 2];
        for i in 0..10_000 {
            counts[split_arm(&format!("c{i}"), "p", "s", 0, &[3000, 7000])] += 1;
        }
        assert!((2800..3200).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn variants_spread_over_all_wordings() {
        let mut seen = [0usize; 3];
        for i in 0..3000 {
            seen[variant_index(&format!("c{i}"), "hello", 3)] += 1;
        }
        assert!(seen.iter().all(|n| *n > 800), "{seen:?}");
    }
}
