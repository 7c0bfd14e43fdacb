//! # floe-turn
//!
//! A sans-IO TURN client and a small embedded TURN server (RFC 8656) for the floe stack: no
//! sockets, clocks, threads or hidden randomness. The caller passes `now` and received bytes in,
//! and takes bytes to send, events and the next deadline out.
//!
//! - [`TurnClient`]: allocates a relayed address over UDP or a byte stream (TCP, or TLS
//!   terminated by the driver) with the long-term credential mechanism, keeps the allocation,
//!   its permissions and channels refreshed, and frames application data as Send indications or
//!   ChannelData (RFC 8656 §11, §12).
//! - TCP allocations (RFC 6062) on the client side: [`RelayTransport::Tcp`],
//!   [`TurnClient::connect`], [`TurnEvent::ConnectionAttempt`], and a [`DataConnection`] per
//!   peer connection for the ConnectionBind on a second stream.
//! - [`TurnServer`]: a small TURN server for tests, simulators and demos: UDP relays requested
//!   from the driver, long-term authentication with a static user table, stale nonces,
//!   permissions, channels and lifetimes.
//! - [`channel_data`]: ChannelData framing and the RFC 8656 §11.5 stream decoder.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod channel_data;
pub mod client;
mod rng;
mod scope;
pub mod server;

pub use channel_data::{ChannelData, ChannelDataError, StreamDecoder, StreamFrame};
pub use client::{
    ClientConfig, DataConnection, DataConnectionEvent, DataConnectionState, Received,
    RelayTransport, SendError, TurnClient, TurnError, TurnEvent, MAX_PENDING_CONNECTIONS,
};
/// CIDR ranges, as [`ServerConfig::allowed_peers`] takes them.
pub use ipnet::IpNet;
pub use server::{AllocationId, ServerConfig, ServerEvent, ServerTransmit, TurnServer};

/// How the client reaches the TURN server (RFC 8656 §3.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Transport {
    /// UDP: one message per datagram, requests retransmitted (RFC 8489 §6.2.1).
    #[default]
    Udp,
    /// A byte stream (TCP, or TLS over TCP handled by the driver): messages framed back to back,
    /// ChannelData padded to a multiple of four bytes (RFC 8656 §11.5).
    Stream,
}

impl Transport {
    /// True for stream transports, where requests are not retransmitted (RFC 8489 §6.2.2).
    pub const fn is_reliable(self) -> bool {
        matches!(self, Transport::Stream)
    }
}
