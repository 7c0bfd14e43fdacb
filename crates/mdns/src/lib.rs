//! # floe-mdns
//!
//! A sans-IO one-shot Multicast DNS resolver (RFC 6762 §5.1) for the A and AAAA records of
//! `.local` names: what an ICE agent needs to check toward a browser's mDNS host candidates
//! (`3c7e5f0a-….local`).
//!
//! No sockets, clocks, threads or hidden randomness: the caller passes `now` and datagrams in,
//! and polls query datagrams ([`Resolver::poll_transmit`]), outcomes ([`Resolver::poll_event`])
//! and the next deadline ([`Resolver::poll_timeout`]) out. Every query ends with an event,
//! [`Event::TimedOut`] at its deadline at the latest.
//!
//! How the driver should send and receive (RFC 6762):
//!
//! - Send queries from an ephemeral port, never 5353 (§5.1), to the group on every interface
//!   that may reach the peer, with IP TTL 255 (§11).
//! - Receive on that socket (responders that follow §6.7 answer a query from a port other than
//!   5353 by unicast to it), and also on a socket bound to port 5353 and joined to the group:
//!   some responders, Chromium's among them, always answer to the group.
//! - Pass on only datagrams from the local link (§11).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use floe_mdns::{Event, Resolver, ResolverConfig, MAX_QUERY_LEN};
//!
//! let mut resolver = Resolver::new(ResolverConfig::default());
//! let start = Instant::now();
//! let id = resolver.resolve(start, "3c7e5f0a-c0de-4e2b-9d4f-0123456789ab.local").unwrap();
//!
//! let mut buf = [0u8; MAX_QUERY_LEN];
//! let query = resolver.poll_transmit(&mut buf).unwrap();
//! assert_eq!(query.destination, "224.0.0.251:5353".parse().unwrap());
//! // ... send &buf[..query.len] ...
//!
//! // No answer: retransmissions at 250 and 750 ms, then the deadline at 2 s.
//! while let Some(at) = resolver.poll_timeout() {
//!     resolver.handle_timeout(at);
//!     while resolver.poll_transmit(&mut buf).is_some() {}
//! }
//! assert_eq!(
//!     resolver.poll_event(),
//!     Some(Event::TimedOut { id, name: "3c7e5f0a-c0de-4e2b-9d4f-0123456789ab.local".into() })
//! );
//! ```
//!
//! The DNS message codec ([`Message`], [`Name`]) decodes any input without panicking: names
//! are bounded (63-octet labels, 255-octet names, RFC 1035 §2.3.4) and compression pointers
//! (RFC 1035 §4.1.4) must point strictly backwards, so they cannot loop.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod message;
pub mod name;
mod resolver;

pub use message::{
    encode_query, DecodeError, EncodeError, Flags, Message, Question, Record, RecordData,
    RecordType, MAX_QUERY_LEN, MDNS_IPV4, MDNS_IPV6, MDNS_PORT,
};
pub use name::{Name, NameError};
pub use resolver::{Event, QueryId, ResolveError, Resolver, ResolverConfig, Transmit};
