//! # floe-netsim
//!
//! A deterministic network simulator for testing sans-IO endpoints (floe's ICE agents, STUN and
//! TURN servers) without sockets, threads or wall-clock waits.
//!
//! - **Virtual clock**: [`Sim::now`] is an `Instant` taken once at creation plus simulated time;
//!   the simulator jumps from event to event ([`Sim::step`], [`Sim::run_until`],
//!   [`Sim::run_for`], [`Sim::run_until_condition`]).
//! - **Endpoints**: anything implementing [`Endpoint`] (`handle_datagram`, `handle_timeout`,
//!   `poll_transmit`, `poll_timeout`). The simulator owns them; tests reach them between steps
//!   with [`Sim::endpoint_mut::<T>`](Sim::endpoint_mut).
//! - **Links** ([`LinkConfig`]): latency, jitter, loss, duplication, reordering and MTU, per host
//!   access link and per NAT WAN link, each direction counted in [`LinkStats`].
//! - **NAT boxes** ([`Nat`], [`NatConfig`]) with the RFC 4787 behaviours: mapping (§4.1), port
//!   assignment (§4.1.1), mapping refresh and timeout (§4.3), filtering (§5), hairpinning (§6).
//! - **STUN server node** ([`StunServer`], [`Sim::add_stun_server`]) running floe-stun's
//!   Binding server.
//! - **TURN server node** ([`TurnNode`], [`Sim::add_turn_server`]) running floe-turn's
//!   server, relaying from ports of its own address.
//! - **Determinism**: every random choice comes from streams derived from the seed ([`Rng`]);
//!   [`Sim::trace_hash`] fingerprints a run, and [`Sim::set_trace`] records it for debugging.
//!
//! ## Topology and routing
//!
//! There is one *public segment* (the internet) and any number of *private networks*, each
//! behind one NAT box that owns one public IP address. A host has one or more interfaces, each
//! with an IP address on one segment, and one access link shared by its interfaces. A datagram
//! an endpoint emits leaves from the interface owning its source IP (otherwise it is dropped as
//! [`DropReason::UnknownSource`]) and crosses the host's access link upstream, then:
//!
//! - in a private network: to a host of the same network at that IP directly (LAN), crossing
//!   the receiver's access link downstream; to the network's own NAT public IP through the
//!   hairpin when enabled (§6); to anything else through the NAT (source translated, §4.1), over
//!   the NAT's WAN link, to the public segment;
//! - on the public segment: to the public host owning the destination IP, or over the WAN link
//!   of the NAT owning it, where filtering (§5) and translation back to the private host apply;
//!   other destinations are [`DropReason::Unroutable`].
//!
//! Ports are not modelled on hosts: an endpoint receives every datagram sent to any port of its
//! addresses and decides itself what listens.
//!
//! ```
//! use std::time::Duration;
//! use floe_netsim::{parse_binding_response, binding_request, Nat, Probe, Sim, STUN_PORT};
//!
//! let mut sim = Sim::new(7);
//! let stun = sim.add_stun_server();
//! let client = sim.add_host_behind(Nat::port_restricted(), Probe::new());
//! let (local, server) = (sim.addr(client, 5000), sim.addr(stun, STUN_PORT));
//! sim.endpoint_mut::<Probe>(client).send(local, server, binding_request([1; 12]));
//! sim.run_for(Duration::from_millis(10));
//! let reply = &sim.endpoint::<Probe>(client).received[0];
//! let (_, reflexive) = parse_binding_response(&reply.payload).unwrap();
//! assert_ne!(reflexive.ip(), local.ip()); // the NAT's public address
//! assert_eq!(reflexive.port(), 5000); // port preservation (RFC 4787 §4.1.1)
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod host;
mod link;
mod nat;
mod rng;
mod sim;
mod stun_node;
mod trace;
mod turn_node;

pub use host::{Datagram, Endpoint, HostId, NetworkId, Probe, Received, Segment};
pub use link::{Direction, LinkConfig, LinkStats, LinkStatsPair};
pub use nat::{
    FilteringBehavior, MappingBehavior, MappingInfo, Nat, NatConfig, NatStats, PortAssignment,
};
pub use rng::Rng;
pub use sim::Sim;
pub use stun_node::{
    binding_request, parse_binding_response, StunServer, STUN_ALTERNATE_PORT, STUN_PORT,
};
pub use trace::{DropReason, SimStats, TraceEntry, TraceKind};
pub use turn_node::{TurnNode, TURN_PORT, TURN_RELAY_PORT_MIN};
