//! A small sans-IO TURN server (RFC 8656) for tests, simulators and demos.
//!
//! [`TurnServer`] owns no socket. The driver:
//!
//! - passes every message from a client to [`TurnServer::handle_client`] with the 5-tuple it
//!   arrived on (stream transports deframed first with [`crate::StreamDecoder`]);
//! - on [`ServerEvent::BindRelay`] binds a UDP socket of that family and reports its address
//!   with [`TurnServer::relay_bound`]; on [`ServerEvent::ReleaseRelay`] closes it;
//! - passes every datagram a relay socket receives to [`TurnServer::handle_peer`];
//! - sends every [`TurnServer::poll_transmit`] from the socket named by its `source`;
//! - calls [`TurnServer::handle_timeout`] at [`TurnServer::poll_timeout`].
//!
//! Scope: UDP relays, long-term credentials from a static table with stateless nonces,
//! permissions, channels, Send/Data indications, ChannelData, lifetimes and refreshes,
//! dual-stack allocations, relay ports drawn at random from a range, EVEN-PORT and its
//! reservations. Not supported: TCP relays (RFC 6062), bandwidth quotas.

mod allocation;
mod auth;
mod peer_policy;
mod permissions;
mod relay_ports;
mod reply_budget;
mod timers;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use floe_stun::attribute::types;
use floe_stun::attributes::{
    AddressFamily, Data, ErrorCode, Software, XorMappedAddress, XorPeerAddress,
};
use floe_stun::attributes::{List, UnknownAttributes};
use floe_stun::{
    classify, Class, EncodeError, Message, MessageType, MessageWriter, Method, PacketKind,
    TransactionId,
};

use ipnet::IpNet;

use self::allocation::{PendingRelay, RelayRequest};
use self::peer_policy::PeerPolicy;
use self::relay_ports::RelayPorts;
use self::reply_budget::ReplyBudget;
use self::timers::{Timer, TimerHeap};
use crate::channel_data;
use crate::rng::Csprng;
use crate::Transport;

use auth::{ServerAuth, Verified};

/// How the server is set up.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// REALM of the long-term credentials.
    pub realm: String,
    /// The static user table: user name to password.
    pub users: HashMap<String, String>,
    /// How long a nonce stays valid before requests using it get 438 Stale Nonce; `None`
    /// keeps nonces valid forever.
    pub nonce_lifetime: Option<Duration>,
    /// Offer PASSWORD-ALGORITHMS (SHA-256 first) through the nonce cookie (RFC 8489 §9.2).
    pub password_algorithms: bool,
    /// Lifetime granted when the client asks for less or nothing (600 s, RFC 8656 §7.2).
    pub default_lifetime: Duration,
    /// The longest lifetime granted (3600 s, RFC 8656 §7.2).
    pub max_lifetime: Duration,
    /// Permission lifetime (300 s, RFC 8656 §9).
    pub permission_lifetime: Duration,
    /// Channel binding lifetime (600 s, RFC 8656 §12).
    pub channel_lifetime: Duration,
    /// Relay IPv4 allocations.
    pub ipv4_relays: bool,
    /// Relay IPv6 allocations.
    pub ipv6_relays: bool,
    /// At most this many allocations; beyond, 486 Allocation Quota Reached.
    pub max_allocations: usize,
    /// At most this many allocations per user name; beyond, 486 (default 16).
    pub max_allocations_per_user: usize,
    /// At most this many permissions per allocation; beyond, 508 Insufficient Capacity
    /// (default 64).
    pub max_permissions: usize,
    /// At most this many channels per allocation; beyond, 508 (default 64).
    pub max_channels: usize,
    /// At most this many XOR-PEER-ADDRESS in one CreatePermission; beyond, 400 (default 8).
    pub max_peers_per_request: usize,
    /// Answers to requests not (yet) authenticated — Binding, 401, 400, 438 — per source IP
    /// and second, in bursts of twice that; beyond, such requests are dropped unanswered, so
    /// the server is no amplifier for spoofed floods and password guessing is slowed
    /// (default 10; 0: no limit).
    pub unauthenticated_replies: u32,
    /// SOFTWARE for responses.
    pub software: Option<String>,
    /// The driver sets the DF bit on a relay socket when [`ServerEvent::BindRelay`] asks for
    /// it; when false (the default), an Allocate with DONT-FRAGMENT gets 420 (RFC 8656 §7.2).
    pub dont_fragment: bool,
    /// Peer ranges relayed to although they are internal (loopback, private, link-local, …),
    /// which the server refuses by default with 403 (RFC 8656 §21.4; see `peer_policy`).
    pub allowed_peers: Vec<IpNet>,
    /// Relay ports are drawn at random from this range (RFC 8656 §7.2: 49152–65535, the
    /// default; a range reaching below 1024 falls back to it).
    pub relay_ports: RangeInclusive<u16>,
}

impl ServerConfig {
    /// A configuration with one user and the RFC's timers.
    pub fn new(realm: &str, username: &str, password: &str) -> Self {
        Self {
            realm: realm.to_owned(),
            users: HashMap::from([(username.to_owned(), password.to_owned())]),
            nonce_lifetime: Some(Duration::from_secs(600)),
            password_algorithms: false,
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            permission_lifetime: Duration::from_secs(300),
            channel_lifetime: Duration::from_secs(600),
            ipv4_relays: true,
            ipv6_relays: true,
            max_allocations: 1024,
            max_allocations_per_user: 16,
            max_permissions: 64,
            max_channels: 64,
            max_peers_per_request: 8,
            unauthenticated_replies: 10,
            software: None,
            dont_fragment: false,
            allowed_peers: Vec::new(),
            relay_ports: 49152..=65535,
        }
    }
}

/// Names an allocation in [`ServerEvent::BindRelay`] and [`TurnServer::relay_bound`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct AllocationId(pub u64);

/// What the driver must do.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ServerEvent {
    /// Bind a UDP relay socket of `family` on `port` and report it with
    /// [`TurnServer::relay_bound`] (`None` if the port is taken: another is then asked for).
    BindRelay {
        /// The allocation it is for.
        allocation: AllocationId,
        /// IPv4 or IPv6.
        family: AddressFamily,
        /// The port, drawn from [`ServerConfig::relay_ports`] (even for EVEN-PORT).
        port: u16,
        /// Bind `port + 1` as well and keep it: the server holds it in reserve for an Allocate
        /// with the RESERVATION-TOKEN it hands out (EVEN-PORT's R bit), and asks for it to be
        /// released with [`ServerEvent::ReleaseRelay`] when unused. Report success only when
        /// both are bound.
        reserve_next: bool,
        /// The client asked for the DF bit on relayed packets (DONT-FRAGMENT).
        dont_fragment: bool,
    },
    /// The allocation ended: close this relay socket.
    ReleaseRelay {
        /// The relayed transport address.
        relay: SocketAddr,
    },
}

/// A datagram (or, for stream clients, framed bytes) to send.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ServerTransmit {
    /// The local address to send from: the listening address for clients, a relay address for
    /// peers.
    pub source: SocketAddr,
    /// Where to send it.
    pub destination: SocketAddr,
    /// UDP, or the stream of the client connection.
    pub transport: Transport,
    /// The bytes.
    pub payload: Vec<u8>,
}

/// The client side of an allocation (RFC 8656 §2: the 5-tuple).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct FiveTuple {
    client: SocketAddr,
    server: SocketAddr,
    transport: Transport,
}

#[derive(Debug)]
struct Allocation {
    tuple: FiveTuple,
    username: String,
    relays: Vec<SocketAddr>,
    /// Relays still waiting for [`TurnServer::relay_bound`].
    pending: Vec<PendingRelay>,
    /// EVEN-PORT and DONT-FRAGMENT of the Allocate, for ports bound again after a failure.
    request: RelayRequest,
    /// The RESERVATION-TOKEN for the port reserved next to this allocation's.
    reservation: Option<u64>,
    /// Families that could not be allocated, for ADDRESS-ERROR-CODE.
    address_errors: Vec<(AddressFamily, u16)>,
    lifetime: Duration,
    expires: Instant,
    permissions: HashMap<IpAddr, Instant>,
    channels: HashMap<u16, (SocketAddr, Instant)>,
    /// The Allocate transaction and its response, for retransmissions (RFC 8656 §7.2).
    allocate_tid: TransactionId,
    allocate_auth: Verified,
    allocate_response: Option<Vec<u8>>,
}

/// The server.
#[derive(Debug)]
pub struct TurnServer {
    config: ServerConfig,
    auth: ServerAuth,
    peers: PeerPolicy,
    unauthenticated: ReplyBudget,
    rng: Csprng,
    ports: RelayPorts,
    timers: TimerHeap,
    allocations: BTreeMap<AllocationId, Allocation>,
    by_tuple: HashMap<FiveTuple, AllocationId>,
    by_relay: HashMap<SocketAddr, AllocationId>,
    next_id: u64,
    transmits: VecDeque<ServerTransmit>,
    events: VecDeque<ServerEvent>,
}

/// Room for any response: attributes are bounded.
const RESPONSE_CAPACITY: usize = 512;

/// A 420 lists at most this many unknown attributes.
const MAX_UNKNOWN_LISTED: usize = 16;

impl TurnServer {
    /// A server. Nonces and ids come from a CSPRNG keyed with `seed`: fill it from the OS.
    pub fn new(mut config: ServerConfig, seed: [u8; 32]) -> Self {
        let mut rng = Csprng::new(seed);
        let auth = ServerAuth::new(
            config.realm.clone(),
            &config.users,
            config.nonce_lifetime,
            config.password_algorithms,
            &mut rng,
        );
        // Only the derived keys are kept (in `auth`), not the passwords.
        config.users.clear();
        let unauthenticated = ReplyBudget::new(rng.key(), config.unauthenticated_replies);
        Self {
            unauthenticated,
            peers: PeerPolicy::new(&config.allowed_peers),
            ports: RelayPorts::new(config.relay_ports.clone()),
            timers: TimerHeap::default(),
            config,
            auth,
            rng,
            allocations: BTreeMap::new(),
            by_tuple: HashMap::new(),
            by_relay: HashMap::new(),
            next_id: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The number of allocations (granted or waiting for their relay).
    pub fn allocation_count(&self) -> usize {
        self.allocations.len()
    }

    /// Handles one message from a client: a UDP datagram, or one message taken off a stream.
    /// `local` is the server address it arrived on.
    pub fn handle_client(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) {
        let tuple = FiveTuple {
            client: from,
            server: local,
            transport,
        };
        self.client_message(now, tuple, bytes);
        // Refreshes push timer entries; stale ones are dropped here too, not only on timeouts.
        let (allocations, ports) = (&self.allocations, &self.ports);
        self.timers.compact(|| live_timers(allocations, ports));
    }

    fn client_message(&mut self, now: Instant, tuple: FiveTuple, bytes: &[u8]) {
        match classify(bytes) {
            PacketKind::ChannelData => self.client_channel_data(now, tuple, bytes),
            PacketKind::Stun => {
                let Ok(msg) = Message::decode(bytes) else {
                    return;
                };
                if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
                    return;
                }
                match msg.class() {
                    Class::Request => self.request(now, tuple, &msg),
                    Class::Indication if msg.method() == Method::SEND => {
                        self.send_indication(now, tuple, &msg)
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Handles a datagram a relay socket received from `from` (RFC 8656 §11.3, §12.6).
    pub fn handle_peer(&mut self, now: Instant, relay: SocketAddr, from: SocketAddr, bytes: &[u8]) {
        let Some(id) = self.by_relay.get(&relay) else {
            return;
        };
        let Some(a) = self.allocations.get(id) else {
            return;
        };
        // RFC 8656 §11.3: without a permission for the peer's IP, the datagram is discarded.
        if !a.permissions.get(&from.ip()).is_some_and(|&e| e > now) {
            return;
        }
        let stream = a.tuple.transport.is_reliable();
        let channel = a
            .channels
            .iter()
            .find(|(_, (peer, exp))| *peer == from && *exp > now)
            .map(|(n, _)| *n);
        let payload = match channel {
            Some(channel) => {
                let mut out = vec![0u8; channel_data::encoded_len(bytes.len(), stream)];
                if channel_data::encode(channel, bytes, stream, &mut out).is_err() {
                    return;
                }
                out
            }
            None => {
                let tid = self.rng.transaction_id();
                let mut out = vec![0u8; bytes.len() + 64];
                let ty = MessageType::new(Class::Indication, Method::DATA);
                let len = (|| -> Result<usize, EncodeError> {
                    let mut w = MessageWriter::new(&mut out, ty, tid)?;
                    w.add(&XorPeerAddress(from))?;
                    w.add(&Data(bytes))?;
                    Ok(w.finish())
                })();
                let Ok(len) = len else { return };
                out.truncate(len);
                out
            }
        };
        let tuple = a.tuple;
        self.send_to_client(tuple, payload);
    }

    /// Expires allocations, permissions, channels and port reservations that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((_, timer)) = self.timers.pop_due(now) {
            // An entry whose state was refreshed since is stale: the check below skips it.
            match timer {
                Timer::Allocation(id) => {
                    let due = self.allocations.get(&id);
                    if due.is_some_and(|a| a.pending.is_empty() && a.expires <= now) {
                        self.remove(id);
                    }
                }
                Timer::Permission(id, ip) => {
                    if let Some(a) = self.allocations.get_mut(&id) {
                        if a.permissions.get(&ip).is_some_and(|e| *e <= now) {
                            a.permissions.remove(&ip);
                        }
                    }
                }
                Timer::Channel(id, number) => {
                    if let Some(a) = self.allocations.get_mut(&id) {
                        if a.channels.get(&number).is_some_and(|(_, e)| *e <= now) {
                            a.channels.remove(&number);
                        }
                    }
                }
                Timer::Reservations => {
                    for relay in self.ports.expire(now) {
                        self.events.push_back(ServerEvent::ReleaseRelay { relay });
                    }
                    // The heap may hold one entry for several reservations: keep the next.
                    if let Some(next) = self.ports.next_expiry() {
                        self.timers.schedule(next, Timer::Reservations);
                    }
                }
            }
        }
        let (allocations, ports) = (&self.allocations, &self.ports);
        self.timers.compact(|| live_timers(allocations, ports));
    }

    /// When [`TurnServer::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The next datagram or stream bytes to send.
    pub fn poll_transmit(&mut self) -> Option<ServerTransmit> {
        self.transmits.pop_front()
    }

    /// The next thing the driver must do.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    fn remove(&mut self, id: AllocationId) {
        if let Some(a) = self.allocations.remove(&id) {
            self.by_tuple.remove(&a.tuple);
            for relay in a.relays {
                self.by_relay.remove(&relay);
                self.events.push_back(ServerEvent::ReleaseRelay { relay });
            }
        }
    }

    fn send_to_client(&mut self, tuple: FiveTuple, payload: Vec<u8>) {
        self.transmits.push_back(ServerTransmit {
            source: tuple.server,
            destination: tuple.client,
            transport: tuple.transport,
            payload,
        });
    }

    /// Sends an error response; signed when the request was authenticated, with a challenge
    /// for 401 and 438 (RFC 8489 §9.2.4).
    fn error(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        method: Method,
        tid: TransactionId,
        code: u16,
        verified: Option<&Verified>,
    ) {
        self.error_listing(now, tuple, method, tid, code, verified, &[]);
    }

    /// An error response, with UNKNOWN-ATTRIBUTES when `unknown` is not empty (a 420).
    #[allow(clippy::too_many_arguments)]
    fn error_listing(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        method: Method,
        tid: TransactionId,
        code: u16,
        verified: Option<&Verified>,
        unknown: &[u16],
    ) {
        let reason = match code {
            300 => "Try Alternate",
            400 => "Bad Request",
            401 => "Unauthenticated",
            403 => "Forbidden",
            420 => "Unknown Attribute",
            437 => "Allocation Mismatch",
            438 => "Stale Nonce",
            440 => "Address Family not Supported",
            441 => "Wrong Credentials",
            442 => "Unsupported Transport Protocol",
            443 => "Peer Address Family Mismatch",
            486 => "Allocation Quota Reached",
            508 => "Insufficient Capacity",
            _ => "Error",
        };
        let mut buf = vec![0u8; RESPONSE_CAPACITY];
        let ty = MessageType::new(Class::ErrorResponse, method);
        let software = self.config.software.clone();
        let auth = &mut self.auth;
        let client = tuple.client;
        let len = (|| -> Result<usize, EncodeError> {
            let mut w = MessageWriter::new(&mut buf, ty, tid)?;
            if let Some(s) = &software {
                w.add(&Software(s))?;
            }
            w.add(&ErrorCode::new(code, reason))?;
            if !unknown.is_empty() {
                w.add(&UnknownAttributes(List::Items(unknown)))?;
            }
            if code == 401 || code == 438 {
                auth.add_challenge(now, client, &mut w)?;
                w.add_fingerprint()?;
            } else if let Some(v) = verified {
                v.sign(&mut w)?;
            } else {
                w.add_fingerprint()?;
            }
            Ok(w.finish())
        })();
        if let Ok(len) = len {
            buf.truncate(len);
            self.send_to_client(tuple, buf);
        }
    }

    /// Sends a success response carrying `attrs`, signed.
    fn success(
        &mut self,
        tuple: FiveTuple,
        method: Method,
        tid: TransactionId,
        verified: &Verified,
        attrs: impl FnOnce(&mut MessageWriter<'_>) -> Result<(), EncodeError>,
    ) {
        let mut buf = vec![0u8; RESPONSE_CAPACITY];
        let ty = MessageType::new(Class::SuccessResponse, method);
        let software = self.config.software.clone();
        let len = (|| -> Result<usize, EncodeError> {
            let mut w = MessageWriter::new(&mut buf, ty, tid)?;
            if let Some(s) = &software {
                w.add(&Software(s))?;
            }
            attrs(&mut w)?;
            verified.sign(&mut w)?;
            Ok(w.finish())
        })();
        if let Ok(len) = len {
            buf.truncate(len);
            self.send_to_client(tuple, buf);
        }
    }

    fn request(&mut self, now: Instant, tuple: FiveTuple, msg: &Message<'_>) {
        let method = msg.method();
        let tid = msg.transaction_id();
        if method == Method::BINDING {
            if self.unauthenticated.take(now, tuple.client.ip()) {
                self.binding(tuple, tid, msg.has_fingerprint());
            }
            return;
        }
        if ![
            Method::ALLOCATE,
            Method::REFRESH,
            Method::CREATE_PERMISSION,
            Method::CHANNEL_BIND,
        ]
        .contains(&method)
        {
            if self.unauthenticated.take(now, tuple.client.ip()) {
                self.error(now, tuple, method, tid, 400, None);
            }
            return;
        }
        let verified = match self.auth.verify(now, msg, tuple.client) {
            Ok(v) => v,
            Err(rejection) => {
                if self.unauthenticated.take(now, tuple.client.ip()) {
                    let (code, _) = ServerAuth::code(rejection);
                    self.error(now, tuple, method, tid, code, None);
                }
                return;
            }
        };
        // RFC 8489 §6.3.1.1, after authentication: comprehension-required attributes the
        // server does not understand get 420. DONT-FRAGMENT is one of them unless the driver
        // sets DF on relay sockets (RFC 8656 §7.2 step 4).
        let refuse_df = msg.has(types::DONT_FRAGMENT) && !self.config.dont_fragment;
        let mut unknown: Vec<u16> = msg
            .unknown_comprehension_required()
            .chain(refuse_df.then_some(types::DONT_FRAGMENT))
            .take(MAX_UNKNOWN_LISTED)
            .collect();
        unknown.dedup();
        if !unknown.is_empty() {
            let code = ErrorCode::UNKNOWN_ATTRIBUTE;
            return self.error_listing(now, tuple, method, tid, code, Some(&verified), &unknown);
        }
        if method == Method::ALLOCATE {
            return self.allocate(now, tuple, msg, verified);
        }
        let Some(&id) = self.by_tuple.get(&tuple) else {
            // RFC 8656 §7.3 et seq.: no allocation on this 5-tuple.
            return self.error(now, tuple, method, tid, 437, Some(&verified));
        };
        let Some(a) = self.allocations.get(&id) else {
            return;
        };
        if !a.pending.is_empty() {
            return self.error(now, tuple, method, tid, 437, Some(&verified));
        }
        // RFC 8656 §5: requests on an allocation MUST use the credentials that created it.
        if a.username != verified.username {
            return self.error(now, tuple, method, tid, 441, Some(&verified));
        }
        match method {
            Method::REFRESH => self.refresh(now, tuple, id, msg, &verified),
            Method::CREATE_PERMISSION => self.create_permission(now, tuple, id, msg, &verified),
            _ => self.channel_bind(now, tuple, id, msg, &verified),
        }
    }

    /// Binding: XOR-MAPPED-ADDRESS, unauthenticated (RFC 8489 §6.3.1); FINGERPRINT only when
    /// the request had one, so a bare 20-byte request gets 32 bytes.
    fn binding(&mut self, tuple: FiveTuple, tid: TransactionId, fingerprint: bool) {
        let mut buf = vec![0u8; 64];
        let ty = MessageType::new(Class::SuccessResponse, Method::BINDING);
        let len = (|| -> Result<usize, EncodeError> {
            let mut w = MessageWriter::new(&mut buf, ty, tid)?;
            w.add(&XorMappedAddress(tuple.client))?;
            if fingerprint {
                w.add_fingerprint()?;
            }
            Ok(w.finish())
        })();
        if let Ok(len) = len {
            buf.truncate(len);
            self.send_to_client(tuple, buf);
        }
    }
}

/// Every deadline the state holds, for [`TimerHeap::compact`].
fn live_timers(
    allocations: &BTreeMap<AllocationId, Allocation>,
    ports: &RelayPorts,
) -> Vec<(Instant, Timer)> {
    let mut live: Vec<(Instant, Timer)> = ports
        .next_expiry()
        .map(|at| (at, Timer::Reservations))
        .into_iter()
        .collect();
    for (&id, a) in allocations {
        if a.pending.is_empty() {
            live.push((a.expires, Timer::Allocation(id)));
        }
        live.extend(
            a.permissions
                .iter()
                .map(|(&ip, &e)| (e, Timer::Permission(id, ip))),
        );
        live.extend(
            a.channels
                .iter()
                .map(|(&n, &(_, e))| (e, Timer::Channel(id, n))),
        );
    }
    live
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}
