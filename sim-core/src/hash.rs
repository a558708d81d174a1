//! Stable hashing: the same bytes give the same hash on every machine and in every run.
//!
//! The trace hash folds one 64-bit digest per processed event. `FxIndexMap` is an
//! insertion-ordered map with a fixed hasher, for lookups where iteration order must not
//! depend on the process.

use std::hash::BuildHasherDefault;

/// An insertion-ordered hash map with a fixed (non-random) hasher.
pub type FxIndexMap<K, V> = indexmap::IndexMap<K, V, BuildHasherDefault<rustc_hash::FxHasher>>;
/// An insertion-ordered hash set with a fixed (non-random) hasher.
pub type FxIndexSet<K> = indexmap::IndexSet<K, BuildHasherDefault<rustc_hash::FxHasher>>;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over a string: used for naming RNG streams and other one-off stable hashes.
pub fn stable_hash_str(text: &str) -> u64 {
    let mut hash = FNV_OFFSET;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// A fast, stable, word-at-a-time hasher for event digests. Not cryptographic: it only has
/// to make accidental collisions between diverging runs vanishingly unlikely.
#[derive(Clone, Copy, Debug)]
pub struct TraceHasher {
    state: u64,
}

const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

impl Default for TraceHasher {
    fn default() -> Self {
        TraceHasher::new()
    }
}

impl TraceHasher {
    #[inline]
    pub const fn new() -> TraceHasher {
        TraceHasher { state: FNV_OFFSET }
    }

    #[inline]
    pub fn write_u64(&mut self, word: u64) {
        self.state = (self.state.rotate_left(23) ^ word).wrapping_mul(MIX);
    }

    #[inline]
    pub fn write_str(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.write_u64(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(word));
        }
        self.write_u64(bytes.len() as u64);
    }

    #[cfg(test)]
    fn write_str_bytewise(&mut self, text: &str) {
        let bytes = text.as_bytes();
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
        self.write_u64(bytes.len() as u64);
    }

    /// The digest, with a final avalanche so nearby states spread apart.
    #[inline]
    pub fn finish(&self) -> u64 {
        let mut x = self.state;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_published_test_vector() {
        assert_eq!(stable_hash_str(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash_str("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn trace_hasher_is_order_sensitive() {
        let mut a = TraceHasher::new();
        a.write_u64(1);
        a.write_u64(2);
        let mut b = TraceHasher::new();
        b.write_u64(2);
        b.write_u64(1);
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn word_and_bytewise_string_hashing_agree() {
        for text in [
            "",
            "Ball",
            "exactly8",
            "ApiResponse",
            "a longer label of 33 characters!!",
        ] {
            let mut fast = TraceHasher::new();
            fast.write_str(text);
            let mut slow = TraceHasher::new();
            slow.write_str_bytewise(text);
            assert_eq!(fast.finish(), slow.finish(), "{text}");
        }
    }

    #[test]
    fn strings_of_different_length_differ() {
        let mut a = TraceHasher::new();
        a.write_str("ab");
        let mut b = TraceHasher::new();
        b.write_str("ab\0");
        assert_ne!(a.finish(), b.finish());
    }
}
