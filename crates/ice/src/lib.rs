//! # floe-ice
//!
//! A sans-IO ICE agent (RFC 8445) with trickle (RFC 8838), consent freshness (RFC 7675) and
//! the PAC timer (RFC 8863), for one data stream with one component: what a WebRTC data
//! channel needs.
//!
//! No sockets, clocks, threads or hidden randomness: the caller passes `now` and datagrams in,
//! and polls transmits ([`IceAgent::poll_transmit`]), events ([`IceAgent::poll_event`]) and the
//! next deadline ([`IceAgent::poll_timeout`]) out. Events use the W3C vocabulary.
//!
//! The agent is split by concern, each module owning its state: [`candidate`] (types,
//! priorities, foundations), [`pair`], [`checklist`] (pairing, frozen algorithm, triggered
//! checks), the local and remote sides, checks (the Binding exchange), nomination (roles and
//! selection), consent (RFC 7675 and keepalives), gathering, relays (TURN), restart and close,
//! the W3C states, and scheduling with one timer table that `poll_timeout` reads.
//!
//! ## What goes on the wire, and how often
//!
//! One new check per Ta (25 ms by default, [`AgentConfig::ta`]), triggered checks first; one
//! STUN server query per Ta on a pacer of its own, so gathering never holds a check back. A
//! check's retransmissions start after an RTO derived from measured round trips (50–500 ms)
//! and double from there. Whatever the peer does, a candidate pair carries at most
//! 1000 ms / Ta + 1000 ms / [`AgentConfig::min_check_rto`] requests in any second (60 with
//! the defaults); one that nobody answers costs 7 datagrams over ~4 s.
//!
//! Where the agent departs from the RFCs on purpose is in `DEVIATIONS.md`; `conformance/` has
//! one table per RFC naming the test behind each requirement.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod agent;
pub mod candidate;
pub mod checklist;
mod checks;
mod config;
mod consent;
mod gathering;
mod lifecycle;
mod local;
mod nomination;
mod pacer;
pub mod pair;
mod relay;
mod remote;
mod schedule;
mod state;
mod timers;

pub use agent::{Credentials, IceAgent, IceError, IceFailure, MIN_TRANSMIT_BUFFER};
pub use candidate::{Candidate, CandidateKind};
pub use config::{AgentConfig, TransportPolicy, TurnServerConfig};
pub use consent::ConsentFreshness;
pub use floe_turn::Transport as TurnTransport;
pub use pacer::Pacer;
pub use pair::{CandidatePair, PairId, PairState, PairStats};
pub use state::{IceConnectionState, IceEvent, IceGatheringState, Transmit, Verdict};
