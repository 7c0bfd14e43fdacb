//! A STUN server node: floe-stun's [`BindingServer`] as a simulated endpoint, and helpers to
//! build a Binding request and read the reflexive address out of a response.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use floe_stun::attributes::XorMappedAddress;
use floe_stun::{
    BindingServer, BindingServerConfig, Class, Message, MessageType, MessageWriter, Method,
    ServerConfigError, TransactionId,
};

use crate::host::{Datagram, Endpoint, HostId, Segment};
use crate::sim::Sim;

/// The port [`Sim::add_stun_server`] listens on (RFC 8489 §9).
pub const STUN_PORT: u16 = 3478;

/// The alternate port of [`Sim::add_stun_server_rfc5780`].
pub const STUN_ALTERNATE_PORT: u16 = 3479;

/// A STUN Binding server endpoint: answers Binding requests with the requester's reflexive
/// address (XOR-MAPPED-ADDRESS, RFC 8489 §14.2) as seen after any NAT on the way, which is how
/// tests observe mapping behaviour (RFC 4787 §4.1).
#[derive(Debug)]
pub struct StunServer {
    server: BindingServer,
    locals: Vec<SocketAddr>,
    replies: VecDeque<Datagram>,
    /// Binding requests answered so far.
    pub answered: u64,
}

impl StunServer {
    /// A server for `config` (use `alternate` for RFC 5780 NAT behaviour discovery; the host
    /// must then own both IP addresses).
    pub fn new(config: BindingServerConfig) -> Result<Self, ServerConfigError> {
        let server = BindingServer::new(config)?;
        Ok(Self {
            locals: server.local_addresses(),
            server,
            replies: VecDeque::new(),
            answered: 0,
        })
    }

    /// The addresses it answers on.
    pub fn local_addresses(&self) -> &[SocketAddr] {
        &self.locals
    }

    /// The primary address.
    pub fn primary(&self) -> SocketAddr {
        self.locals[0]
    }
}

impl Endpoint for StunServer {
    fn handle_datagram(
        &mut self,
        _now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    ) {
        if !self.locals.contains(&local) {
            return; // Nothing listens on that port.
        }
        let mut out = [0u8; 1500];
        if let Some(reply) = self.server.handle(local, remote, payload, &mut out) {
            self.answered += 1;
            self.replies.push_back(Datagram::new(
                reply.source,
                reply.destination,
                &out[..reply.len],
            ));
        }
    }

    fn poll_transmit(&mut self, _now: Instant) -> Option<Datagram> {
        self.replies.pop_front()
    }
}

impl Sim {
    /// Adds a public host running a [`StunServer`] on port [`STUN_PORT`] of a fresh public
    /// address; its address is `sim.addr(host, STUN_PORT)`.
    pub fn add_stun_server(&mut self) -> HostId {
        let primary = SocketAddr::new(self.fresh_public_ip(), STUN_PORT);
        self.add_host_at(Segment::Public, primary.ip(), stun_server(primary, None))
    }

    /// Adds a public host with two public addresses running an RFC 5780 [`StunServer`]:
    /// primary `(first IP, STUN_PORT)`, alternate `(second IP, STUN_ALTERNATE_PORT)`.
    pub fn add_stun_server_rfc5780(&mut self) -> HostId {
        let primary = SocketAddr::new(self.fresh_public_ip(), STUN_PORT);
        let alternate = SocketAddr::new(self.fresh_public_ip(), STUN_ALTERNATE_PORT);
        let server = stun_server(primary, Some(alternate));
        let host = self.add_host_at(Segment::Public, primary.ip(), server);
        self.add_interface(host, Segment::Public, alternate.ip());
        host
    }
}

fn stun_server(primary: SocketAddr, alternate: Option<SocketAddr>) -> StunServer {
    StunServer::new(BindingServerConfig {
        software: Some("floe-netsim".into()),
        primary,
        alternate,
    })
    .expect("valid STUN server addresses")
}

/// A Binding request with the given transaction id and a FINGERPRINT (RFC 8489 §6.1).
pub fn binding_request(transaction_id: [u8; 12]) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let mut w = MessageWriter::new(
        &mut buf,
        MessageType::BINDING_REQUEST,
        TransactionId::new(transaction_id),
    )
    .expect("buffer fits a header");
    w.add_fingerprint().expect("buffer fits FINGERPRINT");
    let len = w.finish();
    buf[..len].to_vec()
}

/// The transaction id and XOR-MAPPED-ADDRESS of a Binding success response, `None` for
/// anything else.
pub fn parse_binding_response(bytes: &[u8]) -> Option<([u8; 12], SocketAddr)> {
    let msg = Message::decode(bytes).ok()?;
    if msg.class() != Class::SuccessResponse || msg.method() != Method::BINDING {
        return None;
    }
    let XorMappedAddress(addr) = msg.get::<XorMappedAddress>().ok()??;
    Some((msg.transaction_id().0, addr))
}
