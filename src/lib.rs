//! floe: an ICE/STUN/TURN stack built from sans-IO crates.
//!
//! This root crate is the thin tokio driver. For now it re-exports the protocol crates:
//!
//! - [`stun`]: the STUN codec, credentials, client transactions and a Binding server (RFC 8489).
//! - [`sdp`]: the SDP parser and writer with the ICE attributes (RFC 8866, RFC 8839).

pub use floe_sdp as sdp;
pub use floe_stun as stun;
