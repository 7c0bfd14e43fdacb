//! The hash the mux's tables use: a folded multiply (the core of wyhash and foldhash), keyed
//! per mux.
//!
//! Why not std's SipHash: routing a check hashes a ufrag, a remote address and a session key,
//! and SipHash costs 15–30 ns for each of those small keys, a third of what the mux adds to
//! answering a check. Hash flooding, which SipHash guards against, needs control over what is
//! inserted: the mux inserts only what the driver and its agents decide (ufrags the agents drew,
//! transaction ids they drew, addresses their peers authenticated from); what an attacker sends
//! is only looked up, and a lookup cannot lengthen anyone's probe sequence. The key still comes
//! from std's per-process random state, so tables differ between processes.

use core::hash::{BuildHasher, Hasher};
use std::collections::hash_map::RandomState;

/// Odd constants from the fractional digits of pi (as foldhash uses).
const MULTIPLE: u64 = 0x243f_6a88_85a3_08d3;
const FINISH: u64 = 0x1319_8a2e_0370_7344;

/// 64×64→128-bit multiply, halves XORed: every input bit reaches every output bit.
#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// Builds [`FoldHasher`]s with one random key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keyed(u64);

impl Keyed {
    pub(crate) fn new() -> Self {
        Keyed(RandomState::new().hash_one(0u64))
    }
}

impl BuildHasher for Keyed {
    type Hasher = FoldHasher;

    #[inline]
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(self.0)
    }
}

/// See the module documentation.
pub(crate) struct FoldHasher(u64);

impl FoldHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.0 = folded_multiply(self.0 ^ word, MULTIPLE);
    }
}

impl Hasher for FoldHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            // The length keeps "ab" and "ab\0" apart.
            self.mix(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        folded_multiply(self.0, FINISH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_small_keys_hash_apart() {
        let keyed = Keyed::new();
        let mut seen = std::collections::HashSet::new();
        for port in 0..2000u16 {
            for last in 0..50u8 {
                let addr = core::net::SocketAddr::from(([10, 0, 0, last], port));
                assert!(seen.insert(keyed.hash_one(addr)), "{addr}");
            }
        }
        assert_ne!(keyed.hash_one("ab"), keyed.hash_one("ab\0"));
        assert_ne!(
            keyed.hash_one(b"abcdefgh".as_slice()),
            keyed.hash_one(b"abcdefg".as_slice())
        );
    }
}
