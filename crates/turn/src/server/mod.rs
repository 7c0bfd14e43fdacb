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
//! Scope: UDP relays, long-term credentials from a static table with nonces that go stale,
//! permissions, channels, Send/Data indications, ChannelData, lifetimes and refreshes,
//! dual-stack allocations. Not supported: EVEN-PORT reservations (RESERVATION-TOKEN is answered
//! with 508), TCP relays (RFC 6062), the 5-minute channel cooldown, bandwidth quotas.

mod auth;
mod peer_policy;
mod permissions;
mod reply_budget;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use floe_stun::attribute::types;
use floe_stun::attributes::{
    AdditionalAddressFamily, AddressErrorCode, AddressFamily, Data, DontFragment, ErrorCode,
    EvenPort, Lifetime, RequestedAddressFamily, RequestedTransport, ReservationToken, Software,
    XorMappedAddress, XorPeerAddress, XorRelayedAddress,
};
use floe_stun::attributes::{List, UnknownAttributes};
use floe_stun::{
    classify, Class, EncodeError, Message, MessageType, MessageWriter, Method, PacketKind,
    TransactionId,
};

use ipnet::IpNet;

use self::peer_policy::PeerPolicy;
use self::reply_budget::ReplyBudget;
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
        }
    }
}

/// Names an allocation in [`ServerEvent::BindRelay`] and [`TurnServer::relay_bound`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct AllocationId(pub u64);

/// What the driver must do.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ServerEvent {
    /// Bind a UDP relay socket of `family` and report it with [`TurnServer::relay_bound`].
    BindRelay {
        /// The allocation it is for.
        allocation: AllocationId,
        /// IPv4 or IPv6.
        family: AddressFamily,
        /// The client asked for an even port (EVEN-PORT, RFC 8656 §7.2; no reservation).
        even_port: bool,
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
    /// Families still waiting for [`TurnServer::relay_bound`].
    pending: Vec<AddressFamily>,
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

    /// Reports the relay socket bound for [`ServerEvent::BindRelay`]: `Some(address)`, or
    /// `None` when none could be bound (the family then gets ADDRESS-ERROR-CODE 508, or the
    /// Allocate a 508 if no family succeeded).
    pub fn relay_bound(
        &mut self,
        now: Instant,
        allocation: AllocationId,
        family: AddressFamily,
        relay: Option<SocketAddr>,
    ) {
        let Some(a) = self.allocations.get_mut(&allocation) else {
            return;
        };
        let Some(at) = a.pending.iter().position(|f| *f == family) else {
            return;
        };
        a.pending.remove(at);
        match relay {
            Some(relay) => {
                a.relays.push(relay);
                self.by_relay.insert(relay, allocation);
            }
            None => a
                .address_errors
                .push((family, ErrorCode::INSUFFICIENT_CAPACITY)),
        }
        if !a.pending.is_empty() {
            return;
        }
        let tuple = a.tuple;
        let tid = a.allocate_tid;
        let verified = a.allocate_auth.clone();
        if a.relays.is_empty() {
            self.remove(allocation);
            self.error(
                now,
                tuple,
                Method::ALLOCATE,
                tid,
                ErrorCode::INSUFFICIENT_CAPACITY,
                Some(&verified),
            );
            return;
        }
        a.expires = now + a.lifetime;
        let software = self.config.software.clone();
        let response = (|| -> Result<Vec<u8>, EncodeError> {
            let mut buf = vec![0u8; RESPONSE_CAPACITY];
            let ty = MessageType::new(Class::SuccessResponse, Method::ALLOCATE);
            let mut w = MessageWriter::new(&mut buf, ty, tid)?;
            if let Some(s) = &software {
                w.add(&Software(s))?;
            }
            for relay in &a.relays {
                w.add(&XorRelayedAddress(*relay))?;
            }
            for (family, code) in &a.address_errors {
                w.add(&AddressErrorCode {
                    family: *family,
                    code: *code,
                    reason: "Address Family not Supported",
                })?;
            }
            w.add(&Lifetime(secs(a.lifetime)))?;
            w.add(&XorMappedAddress(tuple.client))?;
            verified.sign(&mut w)?;
            let len = w.finish();
            buf.truncate(len);
            Ok(buf)
        })();
        if let Ok(response) = response {
            a.allocate_response = Some(response.clone());
            self.send_to_client(tuple, response);
        }
    }

    /// Expires allocations, permissions and channels.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<AllocationId> = self
            .allocations
            .iter()
            .filter(|(_, a)| a.pending.is_empty() && a.expires <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.remove(id);
        }
        for a in self.allocations.values_mut() {
            a.permissions.retain(|_, e| *e > now);
            a.channels.retain(|_, (_, e)| *e > now);
        }
    }

    /// When [`TurnServer::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.allocations
            .values()
            .flat_map(|a| {
                let own = a.pending.is_empty().then_some(a.expires);
                own.into_iter()
                    .chain(a.permissions.values().copied())
                    .chain(a.channels.values().map(|(_, e)| *e))
            })
            .min()
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
                self.binding(tuple, tid);
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

    /// Binding: XOR-MAPPED-ADDRESS, unauthenticated (RFC 8489 §6.3.1).
    fn binding(&mut self, tuple: FiveTuple, tid: TransactionId) {
        let mut buf = vec![0u8; 64];
        let ty = MessageType::new(Class::SuccessResponse, Method::BINDING);
        let len = (|| -> Result<usize, EncodeError> {
            let mut w = MessageWriter::new(&mut buf, ty, tid)?;
            w.add(&XorMappedAddress(tuple.client))?;
            w.add_fingerprint()?;
            Ok(w.finish())
        })();
        if let Ok(len) = len {
            buf.truncate(len);
            self.send_to_client(tuple, buf);
        }
    }

    /// RFC 8656 §7.2.
    fn allocate(&mut self, now: Instant, tuple: FiveTuple, msg: &Message<'_>, verified: Verified) {
        let tid = msg.transaction_id();
        let m = Method::ALLOCATE;
        if let Some(a) = self
            .by_tuple
            .get(&tuple)
            .and_then(|id| self.allocations.get(id))
        {
            // A retransmission of the Allocate that created it gets the same answer; anything
            // else 437 (RFC 8656 §7.2 step 2).
            if a.allocate_tid == tid {
                if let Some(response) = a.allocate_response.clone() {
                    self.send_to_client(tuple, response);
                }
                return;
            }
            return self.error(now, tuple, m, tid, 437, Some(&verified));
        }
        let v = Some(&verified);
        // RFC 8656 §7.2 step 3: REQUESTED-TRANSPORT is mandatory; only UDP is relayed here.
        match msg.get::<RequestedTransport>() {
            Ok(Some(RequestedTransport::UDP)) => {}
            Ok(Some(_)) => return self.error(now, tuple, m, tid, 442, v),
            _ => return self.error(now, tuple, m, tid, 400, v),
        }
        if msg.has(types::RESERVATION_TOKEN) {
            // No reservations kept: RFC 8656 §7.2 allows 508 when the token cannot be honoured.
            let _ = msg.get::<ReservationToken>();
            return self.error(now, tuple, m, tid, 508, v);
        }
        let requested = msg.get::<RequestedAddressFamily>();
        let additional = msg.get::<AdditionalAddressFamily>();
        let (Ok(requested), Ok(additional)) = (requested, additional) else {
            return self.error(now, tuple, m, tid, 400, v);
        };
        let supported = |f: AddressFamily| match f {
            AddressFamily::Ipv4 => self.config.ipv4_relays,
            AddressFamily::Ipv6 => self.config.ipv6_relays,
        };
        let mut address_errors = Vec::new();
        let families = match (requested, additional) {
            // RFC 8656 §7.2 step 6: both at once is a 400.
            (Some(_), Some(_)) => return self.error(now, tuple, m, tid, 400, v),
            (Some(RequestedAddressFamily(f)), None) => {
                if !supported(f) {
                    return self.error(now, tuple, m, tid, 440, v);
                }
                vec![f]
            }
            (None, Some(AdditionalAddressFamily(AddressFamily::Ipv6))) => {
                let mut fams = Vec::new();
                for f in [AddressFamily::Ipv4, AddressFamily::Ipv6] {
                    if supported(f) {
                        fams.push(f);
                    } else {
                        address_errors.push((f, ErrorCode::ADDRESS_FAMILY_NOT_SUPPORTED));
                    }
                }
                fams
            }
            // RFC 8656 §18.11: ADDITIONAL-ADDRESS-FAMILY IPv4 is invalid.
            (None, Some(_)) => return self.error(now, tuple, m, tid, 400, v),
            (None, None) => {
                if !supported(AddressFamily::Ipv4) {
                    return self.error(now, tuple, m, tid, 440, v);
                }
                vec![AddressFamily::Ipv4]
            }
        };
        if families.is_empty() {
            return self.error(now, tuple, m, tid, 440, v);
        }
        // RFC 8656 §7.2 step 10: quotas, for the server and per user, give 486.
        let per_user = self
            .allocations
            .values()
            .filter(|a| a.username == verified.username)
            .count();
        if self.allocations.len() >= self.config.max_allocations
            || per_user >= self.config.max_allocations_per_user
        {
            return self.error(now, tuple, m, tid, 486, v);
        }
        let lifetime = self.lifetime(msg);
        let even_port = msg.get::<EvenPort>().ok().flatten().is_some();
        let dont_fragment = msg.get::<DontFragment>().ok().flatten().is_some();
        let id = AllocationId(self.next_id);
        self.next_id += 1;
        for &family in &families {
            self.events.push_back(ServerEvent::BindRelay {
                allocation: id,
                family,
                even_port,
                dont_fragment,
            });
        }
        self.by_tuple.insert(tuple, id);
        self.allocations.insert(
            id,
            Allocation {
                tuple,
                username: verified.username.clone(),
                relays: Vec::new(),
                pending: families,
                address_errors,
                lifetime,
                expires: now + lifetime,
                permissions: HashMap::new(),
                channels: HashMap::new(),
                allocate_tid: tid,
                allocate_auth: verified,
                allocate_response: None,
            },
        );
    }

    /// RFC 8656 §7.2 step 7 / §8.2: the requested lifetime, capped at the maximum, and at least
    /// the default.
    fn lifetime(&self, msg: &Message<'_>) -> Duration {
        match msg.get::<Lifetime>() {
            Ok(Some(Lifetime(s))) => Duration::from_secs(u64::from(s))
                .min(self.config.max_lifetime)
                .max(self.config.default_lifetime),
            _ => self.config.default_lifetime,
        }
    }

    /// RFC 8656 §8.2.
    fn refresh(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        id: AllocationId,
        msg: &Message<'_>,
        verified: &Verified,
    ) {
        let tid = msg.transaction_id();
        // RFC 8656 §8.2: a REQUESTED-ADDRESS-FAMILY that is not the allocation's gets 443.
        if let Ok(Some(RequestedAddressFamily(family))) = msg.get::<RequestedAddressFamily>() {
            let matches = self.allocations.get(&id).is_some_and(|a| {
                a.relays
                    .iter()
                    .any(|r| AddressFamily::of(&r.ip()) == family)
            });
            if !matches {
                let m = Method::REFRESH;
                return self.error(now, tuple, m, tid, 443, Some(verified));
            }
        }
        let zero = matches!(msg.get::<Lifetime>(), Ok(Some(Lifetime(0))));
        let lifetime = if zero {
            self.remove(id);
            Duration::ZERO
        } else {
            let lifetime = self.lifetime(msg);
            if let Some(a) = self.allocations.get_mut(&id) {
                a.lifetime = lifetime;
                a.expires = now + lifetime;
            }
            lifetime
        };
        self.success(tuple, Method::REFRESH, tid, verified, |w| {
            w.add(&Lifetime(secs(lifetime)))
        });
    }
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}
