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
//! ## ICE over TCP
//!
//! With [`AgentConfig::ice_tcp`] (off by default) the agent also gathers, pairs and checks TCP
//! candidates (RFC 6544): the runtime registers its listening sockets
//! ([`IceAgent::add_local_tcp_listener`]), opens and closes connections when
//! [`IceAgent::poll_stream_command`] says so, reports them ([`IceAgent::handle_stream_connected`],
//! [`IceAgent::handle_stream_accepted`], [`IceAgent::handle_stream_closed`]) and feeds their
//! bytes to [`IceAgent::handle_stream_data`]; transmits with [`Transmit::ice_tcp`] set go on
//! the connection between their addresses, already framed (RFC 4571), and application data
//! received on one comes out of [`IceAgent::poll_stream_data`]. UDP pairs always outrank TCP
//! ones.
//!
//! Where the agent departs from the RFCs on purpose is in `DEVIATIONS.md`; `conformance/` has
//! one table per RFC naming the test behind each requirement.
//!
//! ## Why it failed
//!
//! Each pair remembers why it failed ([`CandidatePair::failure`]); [`IceAgent::check_summary`]
//! adds them up with what the agent saw of the candidates, the peer's answers and the TURN
//! servers, and [`IceFailure::NoWorkingPair`] carries that summary. Its `Display` is a line a
//! user can act on: "no candidate pair succeeded: 4 pairs tried, 3 timed out, 1 got 401
//! Unauthenticated — check the ice-ufrag and ice-pwd passed through signaling".
//!
//! ## Logging
//!
//! The agent (and floe-turn, floe-session) emit [`tracing`] events: a facade that writes
//! nothing, and formats nothing, unless the application installs a subscriber. Levels: `info`
//! for what changes state (candidates gathered, added or refused, a pair succeeding or failing
//! and why, nomination, selection, role changes, consent lost or regained, TURN allocations,
//! connection and gathering states), `debug` for each check and server transaction (sent,
//! answered, timed out, error code), `trace` for the chatty ones (retransmissions, consent
//! requests, keepalives, checks received). Targets are the module paths (`floe_ice::checks`,
//! `floe_turn::client`, …), so `RUST_LOG=floe_ice=debug` selects a crate.
//!
//! The fields keep these names in every floe crate:
//!
//! | field | what |
//! | --- | --- |
//! | `local` | a local transport address: a candidate, or the base a check leaves from |
//! | `base` | the base of a local candidate (RFC 8445 §5.1.1) |
//! | `remote` | the peer's transport address (a remote candidate, where a check goes) |
//! | `pair` | the pair id ([`PairId`]), the same in every event about the pair |
//! | `tid` | a STUN transaction id, 24 hex digits |
//! | `code` | a STUN error code (401, 487, …) |
//! | `reason` | why, in words |
//! | `state` | the new state (W3C names for gathering and connection states) |
//! | `kind` | a candidate type: `host`, `srflx`, `prflx`, `relay` |
//! | `priority` | a candidate priority |
//! | `server` | a STUN or TURN server |
//! | `peer` | a peer IP address a TURN permission is for |
//! | `relayed`, `mapped` | a TURN allocation's relayed and server-reflexive addresses |
//! | `method` | a TURN request: `Allocate`, `Refresh`, `CreatePermission`, `ChannelBind` |
//! | `use_candidate`, `controlling` | a check's USE-CANDIDATE, the role |
//! | `rtt_ms` | a measured round trip, in milliseconds |
//! | `name` | an mDNS name being resolved |
//! | `summary` | a [`CheckSummary`] |
//!
//! Other fields belong to one event each (`rto_ms`, `transport`, `authenticated`, …).
//!
//! Addresses are written through [`redact::Addr`]: [`set_redact_addresses`]`(true)` hides
//! the IP addresses in the events of every floe crate of the process at once, keeping family,
//! kind of network and port (`<ipv4 private>:5000`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod agent;
pub mod candidate;
pub mod checklist;
mod checks;
mod config;
mod consent;
mod diagnosis;
pub mod framing;
mod gathering;
mod lifecycle;
mod local;
mod nomination;
mod outbox;
mod pacer;
pub mod pair;
mod relay;
mod remote;
mod schedule;
mod state;
mod tcp;
mod timers;

pub use agent::{Credentials, IceAgent, IceError, IceFailure, MIN_TRANSMIT_BUFFER};
pub use candidate::{Candidate, CandidateKind, TcpType};
pub use config::{AgentConfig, TransportPolicy, TurnServerConfig};
pub use consent::ConsentFreshness;
pub use diagnosis::{CheckSummary, PairFailure};
pub use floe_stun::redact;
pub use floe_stun::redact::set_redact_addresses;
pub use floe_turn::Transport as TurnTransport;
pub use pacer::Pacer;
pub use pair::{CandidatePair, PairId, PairState, PairStats};
pub use state::{IceConnectionState, IceEvent, IceGatheringState, Transmit, Verdict};
pub use tcp::{StreamCommand, MAX_ACCEPTED, MAX_CONNECTS, STREAM_IDLE_TIMEOUT};
