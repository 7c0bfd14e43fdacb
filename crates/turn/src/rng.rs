//! The generator behind transaction ids and nonces: ChaCha12 (`rand`'s `StdRng`) keyed with 32
//! seed bytes the caller draws from the OS, so ids cannot be predicted (RFC 8489 §6) and tests
//! stay reproducible.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A CSPRNG seeded by the caller.
#[derive(Debug)]
pub(crate) struct Csprng(StdRng);

impl Csprng {
    pub(crate) fn new(seed: [u8; 32]) -> Self {
        Self(StdRng::from_seed(seed))
    }

    pub(crate) fn key(&mut self) -> [u8; 32] {
        let mut key = [0u8; 32];
        self.0.fill_bytes(&mut key);
        key
    }

    pub(crate) fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    pub(crate) fn transaction_id(&mut self) -> floe_stun::TransactionId {
        let mut id = [0u8; 12];
        self.0.fill_bytes(&mut id);
        floe_stun::TransactionId::new(id)
    }
}
