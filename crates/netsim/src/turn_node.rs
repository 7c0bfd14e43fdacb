//! A TURN server node: floe-turn's sans-IO [`TurnServer`] as a simulated endpoint on the public
//! segment, relaying for its allocations from ports of its own address.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use floe_stun::attributes::AddressFamily;
use floe_turn::{ServerConfig, ServerEvent, Transport, TurnServer};

use crate::host::{Datagram, Endpoint, HostId, Segment};
use crate::sim::Sim;

/// The port [`Sim::add_turn_server`] listens on (RFC 8656 §4).
pub const TURN_PORT: u16 = 3478;

/// The first relay port a [`TurnNode`] hands out (RFC 8656 §7.2 suggests 49152–65535).
pub const TURN_RELAY_PORT_MIN: u16 = 49152;

/// A TURN server endpoint: client messages arrive on its listening address, peer datagrams on
/// the relay addresses it bound (ports of the host's address, one per allocation, never
/// reused while the node lives).
#[derive(Debug)]
pub struct TurnNode {
    server: TurnServer,
    listen: SocketAddr,
    relays: Vec<SocketAddr>,
    next_port: u16,
    /// Relay addresses bound so far (allocations granted).
    pub relays_bound: u64,
    /// Datagrams relayed from peers to clients (before the server's permission checks).
    pub from_peers: u64,
}

impl TurnNode {
    /// A server listening on `listen` (UDP), relaying from ports of `listen`'s IP address.
    pub fn new(config: ServerConfig, listen: SocketAddr, seed: [u8; 32]) -> Self {
        Self {
            server: TurnServer::new(config, seed),
            listen,
            relays: Vec::new(),
            next_port: TURN_RELAY_PORT_MIN,
            relays_bound: 0,
            from_peers: 0,
        }
    }

    /// The listening address.
    pub fn address(&self) -> SocketAddr {
        self.listen
    }

    /// The relay addresses currently bound.
    pub fn relays(&self) -> &[SocketAddr] {
        &self.relays
    }

    /// The server, for inspection.
    pub fn server(&self) -> &TurnServer {
        &self.server
    }

    /// Answers the server's requests to bind and release relay sockets.
    fn drain_events(&mut self, now: Instant) {
        while let Some(event) = self.server.poll_event() {
            match event {
                ServerEvent::BindRelay {
                    allocation, family, ..
                } => {
                    let ip: IpAddr = self.listen.ip();
                    let same_family = matches!(
                        (family, ip),
                        (AddressFamily::Ipv4, IpAddr::V4(_)) | (AddressFamily::Ipv6, IpAddr::V6(_))
                    );
                    let relay = (same_family && self.next_port != 0).then(|| {
                        let addr = SocketAddr::new(ip, self.next_port);
                        self.next_port = self.next_port.wrapping_add(1);
                        addr
                    });
                    if let Some(addr) = relay {
                        self.relays.push(addr);
                        self.relays_bound += 1;
                    }
                    self.server.relay_bound(now, allocation, family, relay);
                }
                ServerEvent::ReleaseRelay { relay } => self.relays.retain(|r| *r != relay),
            }
        }
    }
}

impl Endpoint for TurnNode {
    fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    ) {
        if local == self.listen {
            self.server
                .handle_client(now, local, remote, Transport::Udp, payload);
        } else if self.relays.contains(&local) {
            self.from_peers += 1;
            self.server.handle_peer(now, local, remote, payload);
        } else {
            return; // Nothing listens on that port.
        }
        self.drain_events(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
        self.drain_events(now);
    }

    fn poll_transmit(&mut self, _now: Instant) -> Option<Datagram> {
        let t = self.server.poll_transmit()?;
        Some(Datagram::new(t.source, t.destination, t.payload))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }
}

impl Sim {
    /// Adds a public host running a [`TurnNode`] on port [`TURN_PORT`] of a fresh public
    /// address, with one user; its address is `sim.addr(host, TURN_PORT)`.
    pub fn add_turn_server(&mut self, username: &str, password: &str) -> HostId {
        let listen = SocketAddr::new(self.fresh_public_ip(), TURN_PORT);
        let mut config = ServerConfig::new("floe.test", username, password);
        config.software = Some("floe-netsim".into());
        let seed = self.rng(0x7475_726e).seed_bytes();
        self.add_host_at(
            Segment::Public,
            listen.ip(),
            TurnNode::new(config, listen, seed),
        )
    }
}
