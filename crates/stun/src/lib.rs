//! # floe-stun
//!
//! A sans-IO implementation of STUN (RFC 8489) for the floe ICE/STUN/TURN stack: no sockets,
//! clocks or threads. The caller hands in bytes and `now`, and takes bytes and deadlines out.
//!
//! - [`Message`]: a zero-copy, validated view of a received message; typed attributes are read
//!   with [`Message::get`] and integrity checked with [`Message::verify_integrity`].
//! - [`MessageWriter`]: encodes into a caller-provided buffer, finishing with
//!   MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT computed in place.
//! - [`attributes`]: every attribute of RFC 8489, RFC 8445, RFC 8656, RFC 5780 and RFC 6062.
//! - [`IntegrityKey`] / [`LongTermKey`]: short-term and long-term credentials, with the HMAC key
//!   schedule computed once per key.
//! - [`classify`]: RFC 7983 demultiplexing by first byte.
//! - [`ClientTransactions`]: client transactions with RFC 8489 §6.2 retransmission and timeouts.
//! - [`BindingServer`]: a Binding server with RFC 5780 NAT behaviour discovery.
//! - [`NatDiscovery`]: the RFC 5780 client: mapping, filtering and hairpinning tests, with
//!   RFC 4787 classifications.
//! - [`redact`]: how the floe crates show addresses in their log lines, and the one switch that
//!   hides them.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod any;
pub mod attribute;
pub mod attributes;
mod credentials;
mod demux;
mod error;
mod header;
mod integrity;
mod message;
pub mod nat_discovery;
pub mod redact;
pub mod rtt;
pub mod server;
pub mod transaction;
mod writer;

pub use any::AnyAttribute;
pub use attribute::{types, Attribute, RawAttribute};
pub use credentials::{
    userhash, CredentialError, LongTermKey, PasswordAlgorithmKind, SecurityFeatures, NONCE_COOKIE,
};
pub use demux::{classify, PacketKind};
pub use error::{AttributeError, AttributeErrorKind, DecodeError, EncodeError, IntegrityError};
pub use header::{Class, MessageType, Method, TransactionId, HEADER_LEN, MAGIC_COOKIE};
pub use integrity::{IntegrityKey, IntegrityKeySha256, FINGERPRINT_XOR};
pub use message::{is_stun, Attributes, Message};
pub use nat_discovery::{
    FilteringBehaviour, Hairpinning, MappingBehaviour, NatBehaviour, NatDiscovery,
    NatDiscoveryConfig, NatDiscoveryError, NatTest,
};
pub use rtt::RttEstimator;
pub use server::{BindingServer, BindingServerConfig, Reply, ServerConfigError};
pub use transaction::{
    ClientTransactions, TransactionConfig, TransactionError, TransactionEvent, TransactionOutcome,
    Transmit,
};
pub use writer::MessageWriter;
