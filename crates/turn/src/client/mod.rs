//! The sans-IO TURN client (RFC 8656 §7-§12).
//!
//! [`TurnClient`] owns no socket and reads no clock. The driver:
//!
//! 1. calls [`TurnClient::allocate`], then sends every [`TurnClient::poll_transmit`] to the
//!    server (over UDP, or written to the TCP/TLS stream);
//! 2. hands received datagrams to [`TurnClient::handle_datagram`], or stream bytes to
//!    [`TurnClient::push_stream`] and then drains [`TurnClient::poll_stream`]: both return the
//!    application data peers sent, as slices of the input;
//! 3. calls [`TurnClient::handle_timeout`] at [`TurnClient::poll_timeout`];
//! 4. reads [`TurnClient::poll_event`] for the allocation, permissions, channels and errors;
//! 5. frames application data with [`TurnClient::send_to`] into its own buffer.
//!
//! A TCP allocation (RFC 6062, [`ClientConfig::relay_transport`] set to
//! [`RelayTransport::Tcp`], over a stream) relays TCP connections instead: the driver asks
//! for one with [`TurnClient::connect`] or learns of one from
//! [`TurnEvent::ConnectionAttempt`], opens a new stream to the server for it and drives the
//! [`DataConnection`] that [`TurnClient::connection_bind`] returns on that stream.
//!
//! Over UDP each request's RTO comes from the round trips measured to the server (RFC 8489
//! §6.2.1, RFC 6298), and at most [`ClientConfig::max_outstanding`] requests are outstanding at
//! once (RFC 8489 §6.2): the others wait in order. A driver that opens another allocation on the
//! same server passes [`TurnClient::rtt`] on in [`ClientConfig::rtt`].
//!
//! ```
//! use std::time::Instant;
//! use floe_turn::{ClientConfig, TurnClient};
//! let server = "192.0.2.1:3478".parse().unwrap();
//! // Seed bytes come from the OS in real use (`getrandom`).
//! let mut client = TurnClient::new(ClientConfig::new(server, "alice", "secret"), [7; 32]);
//! let now = Instant::now();
//! client.allocate(now).unwrap();
//! let transmit = client.poll_transmit().unwrap();
//! assert_eq!(transmit.destination, server);
//! ```

mod allocation;
mod api;
mod auth;
mod data_connection;
mod permissions;
mod tcp;

pub use api::{
    AllocationFamily, ClientConfig, Received, RelayTransport, SendError, Transmit, TurnError,
    TurnEvent,
};
pub use data_connection::{DataConnection, DataConnectionEvent, DataConnectionState};
pub use tcp::MAX_PENDING_CONNECTIONS;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use floe_stun::attribute::types;
use floe_stun::attributes::{
    AddressErrorCode, AddressFamily, AlternateServer, ConnectionId, Data, DontFragment, ErrorCode,
    Lifetime, ReservationToken, UnknownAttributes, XorMappedAddress, XorPeerAddress,
    XorRelayedAddress,
};
use floe_stun::redact::Addr;
use floe_stun::{
    classify, Attribute, Class, ClientTransactions, Message, MessageType, MessageWriter, Method,
    PacketKind, RttEstimator, TransactionId, TransactionOutcome,
};

use tracing::{debug, info};

use crate::channel_data::{self, ChannelData, ChannelDataError, StreamDecoder, StreamFrame};
use crate::rng::Csprng;
use crate::scope::is_internal;

use allocation::{encode_request, secs, Allocation, Pending, RequestKind, State};
use auth::Auth;
use permissions::Permissions;
use tcp::TcpConnections;

/// A TURN client for one allocation on one server.
#[derive(Debug)]
pub struct TurnClient {
    core: Core,
    decoder: StreamDecoder,
}

/// Everything but the stream decoder, so a received message can borrow the decoder's buffer
/// while the client state changes.
#[derive(Debug)]
struct Core {
    config: ClientConfig,
    auth: Auth,
    rng: Csprng,
    transactions: ClientTransactions<Pending>,
    state: State,
    permissions: Permissions,
    /// RFC 6062: Connects in flight and peer connections waiting for their ConnectionBind.
    connections: TcpConnections,
    events: VecDeque<TurnEvent>,
    tried_servers: Vec<SocketAddr>,
    /// Transactions that got a response failing its integrity check over UDP (bounded).
    integrity_failed: Vec<TransactionId>,
    /// Round trips to the server, from responses to requests sent once (RFC 8489 §6.2.1).
    rtt: RttEstimator,
    /// When a transaction to the server last started or ended: the estimate goes stale 10
    /// minutes after (RFC 8489 §6.2.1).
    last_transaction_at: Option<Instant>,
    /// Requests waiting for one of the `max_outstanding` slots (RFC 8489 §6.2), in order.
    /// Bounded by `transactions.max_outstanding` together with the outstanding ones.
    waiting: VecDeque<Pending>,
}

/// At most this many transactions remember a failed integrity check.
const MAX_INTEGRITY_FAILURES: usize = 16;

/// A request answers at most this many 438 Stale Nonce before giving up.
const MAX_STALE_RETRIES: u8 = 3;

/// At most this many 300 Try Alternate redirects are followed.
const MAX_REDIRECTS: usize = 3;

/// RFC 8489 §6.2.1: the RTO is stale after this long without a transaction to the server.
const RTT_STALE_AFTER: Duration = Duration::from_secs(600);

impl TurnClient {
    /// A client for `config`. Transaction ids come from a CSPRNG keyed with `seed`: fill it from
    /// the OS (the same seed gives the same ids, for tests).
    pub fn new(config: ClientConfig, seed: [u8; 32]) -> Self {
        let auth = Auth::new(config.username.clone(), config.password.clone());
        let transactions = ClientTransactions::new(config.transactions);
        Self {
            core: Core {
                tried_servers: vec![config.server],
                integrity_failed: Vec::new(),
                rtt: config.rtt,
                last_transaction_at: None,
                waiting: VecDeque::new(),
                config,
                auth,
                rng: Csprng::new(seed),
                transactions,
                state: State::Idle,
                permissions: Permissions::default(),
                connections: TcpConnections::default(),
                events: VecDeque::new(),
            },
            decoder: StreamDecoder::new(),
        }
    }

    /// The server transmits go to (changed by [`TurnEvent::AlternateServer`]).
    pub fn server(&self) -> SocketAddr {
        self.core.config.server
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.core.config
    }

    /// The round-trip estimate to the current server, from responses to requests sent once
    /// (Karn's algorithm); what [`ClientConfig::rtt`] takes for the next client to that server.
    /// Empty again after a redirect to another server IP address.
    pub fn rtt(&self) -> RttEstimator {
        self.core.rtt
    }

    /// The RTO the next request over UDP starts with: from [`TurnClient::rtt`] (RFC 6298),
    /// clamped to [`ClientConfig::min_rto`]..=`transactions.initial_rto`; `initial_rto` before
    /// any sample.
    pub fn rto(&self) -> Duration {
        self.core.rto()
    }

    /// Sends the Allocate request (RFC 8656 §7.1). The first goes without credentials; the
    /// server's 401 supplies REALM and NONCE and the client retries with them.
    pub fn allocate(&mut self, now: Instant) -> Result<(), SendError> {
        if !matches!(self.core.state, State::Idle) {
            return Err(SendError::AlreadyStarted);
        }
        // RFC 6062 §4.1: a TCP allocation is only asked for over TCP or TLS; a server would
        // answer 400 over UDP, so say why here instead.
        if self.core.config.relay_transport == RelayTransport::Tcp
            && !self.core.config.transport.is_reliable()
        {
            return Err(SendError::TcpAllocationOverUdp);
        }
        self.core.state = State::Allocating;
        self.core.request(now, Pending::new(RequestKind::Allocate));
        Ok(())
    }

    /// Deletes the allocation: a Refresh with LIFETIME 0 (RFC 8656 §8). [`TurnEvent::Closed`]
    /// follows when the server answers (or the request times out).
    pub fn close(&mut self, now: Instant) {
        match self.core.state {
            State::Allocated(_) => {
                self.core.state = State::Closing;
                // Whatever waits or is in flight for the allocation is moot now, and the
                // deleting Refresh takes a free slot at once instead of queueing behind it.
                self.core.waiting.clear();
                self.core.transactions.cancel_where(|_| true);
                self.core.request(
                    now,
                    Pending::new(RequestKind::Refresh { lifetime: Some(0) }),
                );
            }
            State::Closing | State::Closed => {}
            State::Idle | State::Allocating => {
                // An Allocate still in flight is abandoned: a late success must not revive it.
                self.core.waiting.clear();
                self.core.transactions.cancel_where(|_| true);
                self.core.state = State::Closed;
                self.core.events.push_back(TurnEvent::Closed);
            }
        }
    }

    /// True while the allocation is granted.
    pub fn is_allocated(&self) -> bool {
        matches!(self.core.state, State::Allocated(_))
    }

    /// The relayed addresses, empty without an allocation.
    pub fn relayed_addresses(&self) -> &[SocketAddr] {
        match &self.core.state {
            State::Allocated(a) => &a.relayed,
            _ => &[],
        }
    }

    /// RESERVATION-TOKEN of the Allocate response: the server holds the port after this
    /// allocation's for another client that sends it ([`ClientConfig::even_port`] with the R
    /// bit, RFC 8656 §7.2), for 30 s at least.
    pub fn reservation_token(&self) -> Option<u64> {
        match &self.core.state {
            State::Allocated(a) => a.reservation_token,
            _ => None,
        }
    }

    /// XOR-MAPPED-ADDRESS of the Allocate response: the client's server-reflexive address.
    pub fn mapped_address(&self) -> Option<SocketAddr> {
        match &self.core.state {
            State::Allocated(a) => a.mapped,
            _ => None,
        }
    }

    /// Installs a permission for `peer` (RFC 8656 §9, §10.1), kept refreshed until close. Sending
    /// to a peer does this on its own; call it ahead to also receive from the peer first.
    pub fn create_permission(&mut self, now: Instant, peer: IpAddr) -> Result<(), SendError> {
        self.core.check_peer(peer)?;
        if self.core.permissions.start_permission(peer) {
            self.core.request(
                now,
                Pending::new(RequestKind::CreatePermission { peers: vec![peer] }),
            );
        }
        Ok(())
    }

    /// True when a permission for `peer` is installed.
    pub fn has_permission(&self, peer: IpAddr) -> bool {
        self.core.permissions.has_permission(peer)
    }

    /// Binds a channel to `peer` (RFC 8656 §12.1) and returns its number; data uses it once
    /// [`TurnEvent::ChannelBound`] arrives, Send indications until then.
    pub fn bind_channel(&mut self, now: Instant, peer: SocketAddr) -> Result<u16, SendError> {
        self.core.check_peer(peer.ip())?;
        let channel = self
            .core
            .permissions
            .channel_for(peer, now)
            .ok_or(SendError::NoChannelAvailable)?;
        if self.core.permissions.start_channel(peer) {
            self.core.request(
                now,
                Pending::new(RequestKind::ChannelBind { channel, peer }),
            );
        }
        Ok(channel)
    }

    /// The channel bound to `peer`, once confirmed.
    pub fn channel(&self, peer: SocketAddr) -> Option<u16> {
        self.core.permissions.bound_channel(peer)
    }

    /// Frames `data` for `peer` into `out` and returns the length to send to the server: a
    /// ChannelData message once a channel is bound (padded on streams, RFC 8656 §12.5), a Send
    /// indication otherwise (RFC 8656 §11.1). Without a permission for the peer's IP one is
    /// requested first; the server drops data until it is installed (RFC 8656 §11.2).
    pub fn send_to(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        data: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        let stream = self.core.config.transport.is_reliable();
        if let Some(channel) = self.core.permissions.bound_channel(peer) {
            return channel_data::encode(channel, data, stream, out).map_err(|e| match e {
                ChannelDataError::TooLong => SendError::TooLong,
                _ => SendError::BufferTooSmall,
            });
        }
        if !self.core.permissions.permissions.contains_key(&peer.ip()) {
            self.create_permission(now, peer.ip())?;
        } else {
            self.core.check_peer(peer.ip())?;
        }
        let tid = self.core.rng.transaction_id();
        let ty = MessageType::new(Class::Indication, Method::SEND);
        let map = |_| SendError::BufferTooSmall;
        let mut w = MessageWriter::new(out, ty, tid).map_err(map)?;
        w.add(&XorPeerAddress(peer)).map_err(map)?;
        if self.core.config.dont_fragment {
            w.add(&DontFragment).map_err(map)?;
        }
        w.add(&Data(data)).map_err(|e| match e {
            floe_stun::EncodeError::TooLong => SendError::TooLong,
            _ => SendError::BufferTooSmall,
        })?;
        Ok(w.finish())
    }

    /// Handles one datagram received from `from` over UDP. Application data comes back as a
    /// slice of `datagram`.
    pub fn handle_datagram<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &'a [u8],
    ) -> Received<'a> {
        if from != self.core.config.server {
            return Received::Ignored;
        }
        match classify(datagram) {
            PacketKind::ChannelData => match ChannelData::decode(datagram) {
                Ok(cd) => self.core.channel_data(cd),
                Err(_) => Received::Ignored,
            },
            PacketKind::Stun => self.core.stun(now, datagram),
            _ => Received::Ignored,
        }
    }

    /// Appends bytes read from the stream to the server (TCP, or TLS after decryption).
    pub fn push_stream(&mut self, bytes: &[u8]) {
        self.decoder.push(bytes);
    }

    /// Handles the next complete message pushed with [`TurnClient::push_stream`], `None` when
    /// more bytes are needed. An error means the stream lost its framing (RFC 8656 §11.5) and
    /// should be closed.
    pub fn poll_stream(&mut self, now: Instant) -> Option<Result<Received<'_>, ChannelDataError>> {
        let frame = match self.decoder.next_frame()? {
            Ok(frame) => frame,
            Err(ChannelDataError::BadChannel(_)) => return Some(Ok(Received::Ignored)),
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(match frame {
            StreamFrame::Stun(bytes) => self.core.stun(now, bytes),
            StreamFrame::ChannelData(cd) => self.core.channel_data(cd),
        }))
    }

    /// Retransmits, refreshes the allocation, permissions and channels when due, and expires
    /// transactions.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.core.handle_timeout(now)
    }

    /// The next request to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        self.core.transactions.poll_transmit().map(|t| Transmit {
            destination: t.destination,
            payload: t.payload,
        })
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<TurnEvent> {
        self.core.events.pop_front()
    }

    /// When [`TurnClient::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout()
    }
}

impl Core {
    /// Sends `pending` now if fewer than `max_outstanding` requests are outstanding and none
    /// waits before it, else queues it (RFC 8489 §6.2). A Refresh goes ahead of permissions
    /// and channels: without the allocation they are worth nothing.
    fn request(&mut self, now: Instant, pending: Pending) {
        let refresh = matches!(pending.kind, RequestKind::Refresh { .. });
        if (refresh || self.waiting.is_empty()) && self.has_free_slot() {
            self.start(now, pending);
        } else if self.waiting.len() + self.transactions.len()
            >= self.config.transactions.max_outstanding
        {
            self.fail(pending, TurnError::Failed);
        } else if refresh {
            self.waiting.push_front(pending);
        } else {
            self.waiting.push_back(pending);
        }
    }

    /// Sends again a request whose transaction just ended (401, 438, 420, 300): it takes the
    /// slot that transaction freed, ahead of those waiting.
    fn retry(&mut self, now: Instant, pending: Pending) {
        if self.has_free_slot() {
            self.start(now, pending);
        } else {
            self.waiting.push_front(pending);
        }
    }

    fn has_free_slot(&self) -> bool {
        self.transactions.len() < self.config.max_outstanding.max(1)
    }

    /// Starts waiting requests while slots are free; called whenever transactions end.
    fn start_waiting(&mut self, now: Instant) {
        while self.has_free_slot() {
            let Some(pending) = self.waiting.pop_front() else {
                break;
            };
            self.start(now, pending);
        }
    }

    /// Starts a transaction for `pending`, signed if credentials are known (encoded now, not
    /// when queued, so a request that waited carries the current nonce).
    fn start(&mut self, now: Instant, mut pending: Pending) {
        pending.authenticated = self.auth.has_credentials();
        pending.nonce = self.auth.nonce().map(str::to_owned);
        let tid = self.rng.transaction_id();
        let Ok(bytes) = encode_request(&pending.kind, &self.config, &self.auth, tid) else {
            // Only an absurdly long SOFTWARE or user name gets here.
            self.fail(pending, TurnError::Failed);
            return;
        };
        let server = self.config.server;
        let started = if self.config.transport.is_reliable() {
            pending.sent = None;
            self.transactions
                .start(now, server, &bytes, true, pending.clone())
        } else {
            if self
                .last_transaction_at
                .is_some_and(|t| now.saturating_duration_since(t) >= RTT_STALE_AFTER)
            {
                self.rtt = RttEstimator::new();
            }
            let rto = self.rto();
            pending.sent = Some((now, rto));
            self.transactions
                .start_with_rto(now, server, &bytes, rto, pending.clone())
        };
        self.last_transaction_at = Some(now);
        debug!(
            method = %pending.method(),
            %tid,
            server = %Addr(server),
            authenticated = pending.authenticated,
            "TURN request sent"
        );
        if started.is_err() {
            self.fail(pending, TurnError::Failed);
        }
    }

    fn rto(&self) -> Duration {
        let initial = self.config.transactions.initial_rto;
        self.rtt.rto(self.config.min_rto, initial)
    }

    fn check_peer(&self, peer: IpAddr) -> Result<(), SendError> {
        match &self.state {
            State::Allocated(a) => {
                let family = AddressFamily::of(&peer);
                if a.relayed
                    .iter()
                    .any(|r| AddressFamily::of(&r.ip()) == family)
                {
                    Ok(())
                } else {
                    Err(SendError::PeerFamilyMismatch)
                }
            }
            _ => Err(SendError::NotAllocated),
        }
    }

    fn channel_data<'a>(&mut self, cd: ChannelData<'a>) -> Received<'a> {
        match self.permissions.peer_of(cd.channel) {
            Some(peer) => Received::Data {
                peer,
                data: cd.data,
            },
            None => Received::Ignored,
        }
    }

    fn stun<'a>(&mut self, now: Instant, bytes: &'a [u8]) -> Received<'a> {
        let Ok(msg) = Message::decode(bytes) else {
            return Received::Ignored;
        };
        match msg.class() {
            Class::Indication if msg.method() == Method::DATA => self.data_indication(&msg),
            Class::Indication if msg.method() == Method::CONNECTION_ATTEMPT => {
                self.connection_attempt(now, &msg)
            }
            Class::SuccessResponse | Class::ErrorResponse => {
                if self.response(now, &msg) {
                    Received::Handled
                } else {
                    Received::Ignored
                }
            }
            _ => Received::Ignored,
        }
    }

    /// RFC 8656 §11.4: a Data indication without XOR-PEER-ADDRESS or DATA is discarded, and so
    /// is one from a peer we hold no permission for.
    fn data_indication<'a>(&mut self, msg: &Message<'a>) -> Received<'a> {
        if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
            return Received::Ignored;
        }
        let (Ok(Some(XorPeerAddress(peer))), Ok(Some(Data(data)))) =
            (msg.get::<XorPeerAddress>(), msg.get::<Data>())
        else {
            return Received::Ignored;
        };
        if !self.permissions.permissions.contains_key(&peer.ip())
            && !self.permissions.channels.contains_key(&peer)
        {
            return Received::Ignored;
        }
        Received::Data { peer, data }
    }

    /// Matches a response to its request; false when it answers nothing outstanding or fails
    /// its integrity check (then it is dropped, and the request retransmitted or timed out).
    /// A transaction that ends frees a slot for a waiting request.
    fn response(&mut self, now: Instant, msg: &Message<'_>) -> bool {
        let handled = self.match_response(now, msg);
        self.start_waiting(now);
        handled
    }

    fn match_response(&mut self, now: Instant, msg: &Message<'_>) -> bool {
        let server = self.config.server;
        if !self
            .transactions
            .is_outstanding(msg.transaction_id(), server)
        {
            return false;
        }
        let error_code = match msg.class() {
            Class::ErrorResponse => {
                Some(msg.get::<ErrorCode>().ok().flatten().map_or(0, |e| e.code))
            }
            _ => None,
        };
        if !self.auth.accept_response(msg, error_code) {
            let tid = msg.transaction_id();
            debug!(
                %tid,
                code = error_code,
                reason = "MESSAGE-INTEGRITY does not match",
                "TURN answer discarded"
            );
            if self.config.transport.is_reliable() {
                // RFC 8489 §9.2.5: over TCP or TLS nobody else can inject into the stream, so
                // a response that fails its check ends the transaction, at once.
                if let Some(pending) = self.transactions.cancel(tid) {
                    self.fail(pending, TurnError::Integrity);
                }
            } else if !self.integrity_failed.contains(&tid) {
                // Over UDP it is dropped as if never received (it may be forged); if nothing
                // better comes, the timeout says why.
                if self.integrity_failed.len() >= MAX_INTEGRITY_FAILURES {
                    self.integrity_failed.remove(0);
                }
                self.integrity_failed.push(tid);
            }
            return false;
        }
        let Some(event) = self.transactions.handle_response(server, msg) else {
            return false;
        };
        if let Some((sent_at, rto)) = event.user.sent {
            // Karn's algorithm (RFC 6298 §3), as floe-ice applies it: a response before the
            // first retransmission (one RTO after the request) answers the only copy sent.
            let rtt = now.saturating_duration_since(sent_at);
            if rtt < rto {
                self.rtt.sample(rtt);
            }
            self.last_transaction_at = Some(now);
        }
        debug!(
            method = %event.user.method(),
            tid = %event.transaction_id,
            code = error_code,
            "TURN answer"
        );
        match event.outcome {
            TransactionOutcome::Success => self.success(now, event.user, msg),
            TransactionOutcome::Error { code, reason } => {
                self.error(now, event.user, code, &reason, msg)
            }
            TransactionOutcome::Failed | TransactionOutcome::TimedOut => {
                self.fail(event.user, TurnError::Failed)
            }
        }
        true
    }

    fn success(&mut self, now: Instant, pending: Pending, msg: &Message<'_>) {
        let lifetime = msg
            .get::<Lifetime>()
            .ok()
            .flatten()
            .map(|l| Duration::from_secs(u64::from(l.0)));
        match pending.kind {
            RequestKind::Allocate => {
                if !matches!(self.state, State::Allocating) {
                    return; // Closed meanwhile.
                }
                let tid = msg.transaction_id();
                let relayed: Vec<SocketAddr> = msg
                    .attributes()
                    .filter(|a| a.attr_type == types::XOR_RELAYED_ADDRESS)
                    .filter_map(|a| XorRelayedAddress::decode(a.value, &tid).ok())
                    .map(|a| a.0)
                    .collect();
                if relayed.is_empty() {
                    self.fail(pending, TurnError::Failed);
                    return;
                }
                if let Ok(Some(e)) = msg.get::<AddressErrorCode>() {
                    self.events.push_back(TurnEvent::AddressFamilyRejected {
                        family: e.family,
                        code: e.code,
                        reason: e.reason.to_owned(),
                    });
                }
                let mapped = msg.get::<XorMappedAddress>().ok().flatten().map(|a| a.0);
                // RFC 8656 §7.3: LIFETIME is mandatory; assume the default if it is missing.
                let lifetime = lifetime.unwrap_or(Duration::from_secs(600));
                let mut allocation = Allocation {
                    relayed: relayed.clone(),
                    mapped,
                    lifetime,
                    refresh_at: now,
                    refresh_in_flight: false,
                    expires: now + lifetime,
                    reservation_token: msg.get::<ReservationToken>().ok().flatten().map(|t| t.0),
                };
                allocation.granted(now, lifetime);
                self.state = State::Allocated(allocation);
                self.events.push_back(TurnEvent::Allocated {
                    relayed,
                    mapped,
                    lifetime,
                });
            }
            RequestKind::Refresh { .. } if pending.is_deallocation() => self.closed(),
            RequestKind::Refresh { .. } => {
                if let State::Allocated(a) = &mut self.state {
                    let lifetime = lifetime.unwrap_or(a.lifetime);
                    a.granted(now, lifetime);
                    self.events.push_back(TurnEvent::Refreshed { lifetime });
                }
            }
            RequestKind::CreatePermission { peers } => {
                let new: Vec<IpAddr> = peers
                    .iter()
                    .copied()
                    .filter(|ip| !self.permissions.has_permission(*ip))
                    .collect();
                let refresh = self.config.permission_refresh;
                self.permissions.permission_installed(&peers, now, refresh);
                for peer in new {
                    self.events.push_back(TurnEvent::PermissionCreated { peer });
                }
            }
            RequestKind::ChannelBind { channel, peer } => {
                let new = self.permissions.bound_channel(peer).is_none();
                self.permissions
                    .channel_bound(peer, now, self.config.channel_refresh);
                // RFC 8656 §12.2: a ChannelBind also installs or refreshes the permission.
                if !self.permissions.permissions.contains_key(&peer.ip()) {
                    self.permissions.start_permission(peer.ip());
                    let refresh = self.config.permission_refresh;
                    self.permissions
                        .permission_installed(&[peer.ip()], now, refresh);
                }
                if new {
                    self.events
                        .push_back(TurnEvent::ChannelBound { peer, channel });
                }
            }
            RequestKind::Connect { peer } => {
                match msg.get::<ConnectionId>() {
                    // RFC 6062 §4.3: the success response names the connection.
                    Ok(Some(ConnectionId(connection_id))) => {
                        if self.connections.connected(peer, connection_id, now) {
                            self.events.push_back(TurnEvent::Connected {
                                peer,
                                connection_id,
                            });
                        }
                    }
                    _ => self.fail(pending, TurnError::Failed),
                }
            }
        }
    }

    fn error(
        &mut self,
        now: Instant,
        mut pending: Pending,
        code: u16,
        reason: &str,
        msg: &Message<'_>,
    ) {
        match code {
            // RFC 8489 §9.2.5: the first 401 carries the challenge; retry with credentials. A
            // 401 to a request that had them means they are wrong: no loop.
            401 if !pending.authenticated => {
                if self.auth.challenge(msg).is_ok() {
                    self.retry(now, pending);
                } else {
                    self.fail(pending, TurnError::Unauthorized);
                }
            }
            // RFC 8656 §7.4: the server does not support DONT-FRAGMENT; retry without it (and
            // send no more of it: `config().dont_fragment` now says so).
            420 if pending.kind == RequestKind::Allocate
                && self.config.dont_fragment
                && msg
                    .get::<UnknownAttributes>()
                    .ok()
                    .flatten()
                    .is_some_and(|u| u.iter().any(|t| t == types::DONT_FRAGMENT)) =>
            {
                self.config.dont_fragment = false;
                self.retry(now, pending);
            }
            // RFC 8489 §9.2.5: 438 carries a new NONCE; retry once with it.
            // RFC 8489 §9.2.5: 438 carries a new NONCE; retry with it. Again after another 438
            // (a nonce can expire between the answer and the retry), as long as each brings a
            // nonce not used yet, up to MAX_STALE_RETRIES times.
            438 if pending.stale_retries < MAX_STALE_RETRIES && pending.authenticated => {
                let fresh = msg
                    .get::<floe_stun::attributes::Nonce>()
                    .ok()
                    .flatten()
                    .is_some_and(|n| Some(n.0) != pending.nonce.as_deref());
                if fresh && self.auth.challenge(msg).is_ok() {
                    pending.stale_retries += 1;
                    self.retry(now, pending);
                } else {
                    self.fail(pending, TurnError::StaleNonce);
                }
            }
            // RFC 8489 §10: 300 with ALTERNATE-SERVER redirects the Allocate (only a signed
            // one once we hold a key: see `Auth::accept_response`).
            300 if pending.kind == RequestKind::Allocate => {
                let alternate = msg.get::<AlternateServer>().ok().flatten().map(|a| a.0);
                match alternate {
                    Some(server) if self.may_redirect_to(server) => {
                        info!(server = %Addr(server), "TURN server redirects (300 Try Alternate)");
                        // RFC 8489 §6.2.1: the RTO is kept per server, told apart by IP address.
                        if server.ip() != self.config.server.ip() {
                            self.rtt = RttEstimator::new();
                            self.last_transaction_at = None;
                        }
                        self.tried_servers.push(server);
                        self.config.server = server;
                        self.auth.reset();
                        self.events.push_back(TurnEvent::AlternateServer { server });
                        self.retry(now, Pending::new(RequestKind::Allocate));
                    }
                    _ => self.fail(pending, TurnError::RedirectLoop),
                }
            }
            _ => self.fail(pending, TurnError::from_code(code, reason)),
        }
    }

    /// Whether a 300 may send the client to `server`: not one already tried, at most
    /// [`MAX_REDIRECTS`] hops, the family of the first server (RFC 8489 §14.15), a real port
    /// and unicast address, and not into an internal range (loopback, private, link-local, …)
    /// unless the first server was in one: a public server's redirect must not aim the client,
    /// and an HMAC keyed with its password, at a host on the client's own network.
    fn may_redirect_to(&self, server: SocketAddr) -> bool {
        let first = self.tried_servers[0];
        !self.tried_servers.contains(&server)
            && self.tried_servers.len() <= MAX_REDIRECTS
            && server.is_ipv4() == first.is_ipv4()
            && server.port() != 0
            && !server.ip().is_unspecified()
            && !server.ip().is_multicast()
            && (!is_internal(server.ip()) || is_internal(first.ip()))
    }

    /// A request failed for good.
    fn fail(&mut self, pending: Pending, error: TurnError) {
        info!(
            method = %pending.method(),
            server = %Addr(self.config.server),
            code = error.code(),
            reason = %error,
            "TURN request failed"
        );
        match pending.kind {
            RequestKind::Refresh { .. } if pending.is_deallocation() => self.closed(),
            RequestKind::Allocate | RequestKind::Refresh { .. } => {
                if !matches!(self.state, State::Closed) {
                    self.state = State::Closed;
                    self.permissions.clear();
                    self.connections.clear();
                    self.waiting.clear();
                    self.events.push_back(TurnEvent::Failed(error));
                }
            }
            RequestKind::CreatePermission { peers } => {
                self.permissions.permission_failed(&peers);
                for peer in peers {
                    self.events.push_back(TurnEvent::PermissionFailed {
                        peer,
                        error: error.clone(),
                    });
                }
            }
            RequestKind::ChannelBind { peer, .. } => {
                self.permissions.channel_failed(peer);
                self.events
                    .push_back(TurnEvent::ChannelBindFailed { peer, error });
            }
            RequestKind::Connect { peer } => {
                self.connections.connect_failed(peer);
                self.events
                    .push_back(TurnEvent::ConnectFailed { peer, error });
            }
        }
    }

    fn closed(&mut self) {
        if !matches!(self.state, State::Closed) {
            self.state = State::Closed;
            self.permissions.clear();
            self.connections.clear();
            self.waiting.clear();
            self.events.push_back(TurnEvent::Closed);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.transactions.handle_timeout(now);
        while let Some(event) = self.transactions.poll_event() {
            let tid = event.transaction_id;
            let error = match self.integrity_failed.iter().position(|t| *t == tid) {
                Some(i) => {
                    self.integrity_failed.swap_remove(i);
                    TurnError::Integrity
                }
                None => TurnError::Timeout,
            };
            // RFC 8656 §8.1: a Refresh lost to the network is sent again (a new transaction)
            // for as long as the allocation has not expired at the server.
            debug!(
                method = %event.user.method(),
                %tid,
                server = %Addr(event.destination),
                reason = %error,
                "TURN request timed out"
            );
            let refresh = matches!(event.user.kind, RequestKind::Refresh { .. })
                && !event.user.is_deallocation();
            if refresh && error == TurnError::Timeout {
                if let State::Allocated(a) = &mut self.state {
                    if now < a.expires {
                        a.refresh_in_flight = false;
                        a.refresh_at = now;
                        continue;
                    }
                }
            }
            self.fail(event.user, error);
        }
        self.start_waiting(now);
        self.connections.expire(now);
        let State::Allocated(a) = &mut self.state else {
            return;
        };
        if !a.refresh_in_flight && a.refresh_at <= now {
            a.refresh_in_flight = true;
            // Without a configured lifetime, ask to keep the one granted: some servers (coturn)
            // answer a Refresh without LIFETIME with their default, beyond their own maximum.
            let lifetime = Some(secs(self.config.lifetime.unwrap_or(a.lifetime)));
            self.request(now, Pending::new(RequestKind::Refresh { lifetime }));
        }
        for ip in self.permissions.due_permissions(now) {
            if self.permissions.start_permission(ip) {
                self.request(
                    now,
                    Pending::new(RequestKind::CreatePermission { peers: vec![ip] }),
                );
            }
        }
        for peer in self.permissions.due_channels(now) {
            if let Some(channel) = self.permissions.channel_for(peer, now) {
                if self.permissions.start_channel(peer) {
                    self.request(
                        now,
                        Pending::new(RequestKind::ChannelBind { channel, peer }),
                    );
                }
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let refresh = match &self.state {
            State::Allocated(a) if !a.refresh_in_flight => Some(a.refresh_at),
            _ => None,
        };
        let perms = match self.state {
            State::Allocated(_) => self.permissions.next_refresh(),
            _ => None,
        };
        let connections = match self.state {
            State::Allocated(_) => self.connections.next_expiry(),
            _ => None,
        };
        [
            self.transactions.poll_timeout(),
            refresh,
            perms,
            connections,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
