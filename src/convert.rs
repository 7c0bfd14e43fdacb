//! The driver's source of secrets ([`os_random`]), and the candidate conversions of
//! [`floe_session::convert`], re-exported where they used to live.

pub use floe_session::convert::{
    base_as_related, from_sdp_candidate, to_sdp_candidate, to_sdp_candidate_related, Unusable,
};

/// `N` bytes from the operating system's CSPRNG (`getrandom`): the seeds of the sans-IO
/// crates' generators, transaction ids, passwords. The one source of secrets in the driver.
pub fn os_random<const N: usize>() -> [u8; N] {
    use rand::TryRng;
    let mut bytes = [0u8; N];
    // getrandom fails only where the OS has no entropy source at all; running on with
    // guessable secrets would be worse than stopping.
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random source failed");
    bytes
}

/// A STUN transaction id from the OS (RFC 8489 §6: unpredictable).
pub fn random_transaction_id() -> floe_stun::TransactionId {
    floe_stun::TransactionId::new(os_random())
}
