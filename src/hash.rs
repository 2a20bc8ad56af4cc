//! A fast hash for maps keyed by ids and names the process made or read
//! itself (FNV-1a): the standard SipHash showed in the simulator's profile,
//! and these maps need no defence against chosen collisions (a repeated
//! hash only costs a comparison of the keys).

use std::hash::{BuildHasherDefault, Hasher};

#[derive(Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        // FNV leaves the high bits of short, similar keys alike; hash tables
        // read those first. A final mix (MurmurHash3's) spreads them.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

pub type FastMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<Fnv>>;

/// The FNV-1a hash of a string, as a [`FastMap`] keyed by it would hash it.
pub fn of(s: &str) -> u64 {
    use std::hash::BuildHasher;

    BuildHasherDefault::<Fnv>::default().hash_one(s)
}
