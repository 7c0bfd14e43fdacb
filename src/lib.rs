//! floe: an ICE/STUN/TURN stack built from sans-IO crates, and this thin tokio driver.
//!
//! The protocol crates are re-exported:
//!
//! - [`stun`]: the STUN codec, credentials, client transactions and a Binding server (RFC 8489).
//! - [`sdp`]: the SDP parser and writer with the ICE attributes (RFC 8866, RFC 8839).
//! - [`ice`]: the sans-IO ICE agent (RFC 8445, RFC 8838).
//! - [`session`]: the sans-IO RTCPeerConnection over the agent: offer/answer, trickle, restart,
//!   mDNS lookups of `.local` candidates, the browser's events.
//!
//! The driver adds sockets, timers, interface enumeration, DNS, TLS and signaling, and no
//! protocol logic:
//!
//! - [`PeerConnection`]: the browser's RTCPeerConnection verbs (`create_offer`,
//!   `set_remote_description`, `add_ice_candidate`, ...) and events, carrying datagrams over the
//!   selected candidate pair. One tokio task per connection owns the agent and the sockets.
//! - [`Configuration`]: RTCConfiguration (`ice_servers`, `ice_transport_policy`) plus which
//!   local addresses to bind.
//! - [`signaling`]: a WebSocket relay server with one room per URL path, and its client.
//! - [`stun_tools`]: a STUN Binding server on UDP sockets, and a one-shot Binding query.
//! - [`turn_tools`]: a TURN allocation over UDP, TCP or TLS, a datagram relayed to a peer and
//!   back, and the deallocation.
//! - [`turn_server`]: floe-turn's TURN server on UDP sockets, one relay socket per allocation.
//! - [`server`]: `floe serve`, one UDP port for every peer: a session per offer (ICE-lite by
//!   default), routed by a [`floe_mux::Mux`].
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod config;
pub mod convert;
mod driver;
mod error;
mod links;
mod mdns;
mod net;
mod peer;
pub mod server;
pub mod signaling;
pub mod stun_tools;
mod tls;
pub mod turn_server;
mod turn_stream;
pub mod turn_tools;

pub use config::{
    BindConfig, Configuration, IceServer, IceServerUrl, IceTransportPolicy, TurnUrlTransport,
};
pub use error::{Error, Result};
pub use floe_session::stats;
pub use peer::{EventKind, PeerConnection, PeerConnectionState, PeerEvent, SignalingState, Status};
pub use stats::StatsReport;

pub use floe_ice as ice;
pub use floe_sdp as sdp;
pub use floe_session as session;
pub use floe_stun as stun;
