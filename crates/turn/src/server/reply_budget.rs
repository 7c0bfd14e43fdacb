//! A bound on what the server says to requests it has not authenticated: Binding answers,
//! 401 challenges, 400s and 438s cost nothing to ask for from a spoofed address and are larger
//! than the request (a 20-byte request gets a ~110-byte 401), so each source address gets a
//! budget of them (a token bucket), and requests beyond it are dropped without an answer. A
//! real client needs one or two such answers per allocation.
//!
//! The buckets are a fixed table indexed by a keyed hash of the source IP, so a flood from
//! many spoofed sources costs no memory; an attacker who does not know the key cannot aim at
//! a real client's bucket.

use core::net::IpAddr;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Buckets in the table.
const BUCKETS: usize = 1024;

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// Tokens, in thousandths.
    milli_tokens: u64,
    last: Option<Instant>,
}

/// Per-source budgets of unauthenticated replies.
#[derive(Debug)]
pub(crate) struct ReplyBudget {
    key: [u8; 32],
    per_second: u32,
    buckets: Box<[Bucket]>,
}

impl ReplyBudget {
    /// `per_second` replies per source and second, in bursts of up to twice that; 0: no limit.
    pub(crate) fn new(key: [u8; 32], per_second: u32) -> Self {
        Self {
            key,
            per_second,
            buckets: vec![Bucket::default(); BUCKETS].into_boxed_slice(),
        }
    }

    fn index(&self, ip: IpAddr) -> usize {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        match ip {
            IpAddr::V4(v4) => mac.update(&v4.octets()),
            IpAddr::V6(v6) => mac.update(&v6.octets()),
        }
        let tag = mac.finalize().into_bytes();
        let mut word = [0u8; 8];
        word.copy_from_slice(&tag[..8]);
        (u64::from_be_bytes(word) % BUCKETS as u64) as usize
    }

    /// Takes one reply from `ip`'s budget; false when it is spent.
    pub(crate) fn take(&mut self, now: Instant, ip: IpAddr) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let rate = u64::from(self.per_second);
        let burst = rate * 2 * 1000;
        let i = self.index(ip);
        let b = &mut self.buckets[i];
        let elapsed = b.last.map_or(Duration::from_secs(3600), |t| {
            now.saturating_duration_since(t)
        });
        let refill = u64::try_from(elapsed.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_mul(rate);
        b.milli_tokens = b.milli_tokens.saturating_add(refill).min(burst);
        b.last = Some(now);
        if b.milli_tokens >= 1000 {
            b.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_a_burst_then_its_rate() {
        let mut budget = ReplyBudget::new([1; 32], 10);
        let now = Instant::now();
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        let burst = (0..100).filter(|_| budget.take(now, ip)).count();
        assert_eq!(burst, 20);
        let later = now + Duration::from_secs(1);
        let next = (0..100).filter(|_| budget.take(later, ip)).count();
        assert_eq!(next, 10);
        // Another source has a budget of its own (unless it shares the bucket).
        let other: IpAddr = "198.51.100.2".parse().unwrap();
        if budget.index(other) != budget.index(ip) {
            assert!(budget.take(later, other));
        }
    }

    #[test]
    fn zero_means_no_limit() {
        let mut budget = ReplyBudget::new([1; 32], 0);
        let now = Instant::now();
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        assert!((0..10_000).all(|_| budget.take(now, ip)));
    }
}
