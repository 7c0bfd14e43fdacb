//! # floe-mux
//!
//! Routes the datagrams that arrive on one shared UDP socket to the ICE session (agent) they
//! belong to, so a server can run thousands of agents — ICE-lite or full — behind one port.
//! Sans-IO like the rest of floe: no sockets, clocks or threads; the driver passes each received
//! datagram to [`Mux::route`] and each sent one to [`Mux::on_transmit`]. The only randomness is
//! the key of the hash tables (from std's `RandomState`, as any `HashMap` has), which changes
//! no result.
//!
//! ## How a datagram finds its session
//!
//! | datagram | routed by |
//! | --- | --- |
//! | STUN request with USERNAME | the local ufrag: the part before `:` (RFC 8445 §7.2.2: `ours:theirs` as seen by us) |
//! | STUN request without USERNAME | the remote transport address |
//! | STUN success or error response | the transaction id of a request the session sent (used once) |
//! | STUN indication, application data, ChannelData, anything else | the remote transport address |
//! | STUN that fails to decode | nothing: dropped |
//!
//! Whatever matches nothing is dropped and counted in [`MuxStats`]; the mux writes nothing, so a
//! forged or unknown datagram draws no answer (no reflection, no amplification). Only
//! [`Mux::insert`], [`Mux::learn_remote`] and [`Mux::on_transmit`] add entries, and each table
//! is bounded ([`MuxConfig`]): a flood of unknown traffic leaves memory where it was.
//!
//! ## Why the mux does not check MESSAGE-INTEGRITY
//!
//! The mux has no passwords: the session's agent holds its ice-pwd and verifies every request
//! and response it is handed (RFC 8445 §7.3, §7.2.5), and drops what fails. Checking here
//! would cost a second HMAC per datagram and a copy of every password, for nothing the agent
//! does not already do. So the mux reads USERNAME without verifying it: a forged USERNAME only
//! reaches the agent that owns that ufrag, which drops it unanswered. Remote addresses are
//! learnt only from what an agent has authenticated (see [`Mux::learn_remote`]).
//!
//! ## The driver's loop
//!
//! - on every datagram: [`Mux::route`]; to the agent it names, `handle_datagram`;
//! - on every datagram an agent sends on the shared socket: [`Mux::on_transmit`] (its requests'
//!   responses route back, and its success responses — answers to checks it authenticated —
//!   teach the mux where its peer is);
//! - when an agent selects a pair: [`Mux::learn_remote`] with the pair's remote address;
//! - when a session ends (closed, `bye`, consent lost): [`Mux::remove`]; after an ICE restart,
//!   [`Mux::set_ufrag`] with the agent's new ufrag.
//!
//! ```
//! use std::collections::HashMap;
//! use std::net::SocketAddr;
//! use std::time::Instant;
//!
//! use floe_ice::{AgentConfig, IceAgent, IceConnectionState, IceEvent};
//! use floe_mux::{Mux, MuxConfig};
//!
//! /// A datagram arrived on the shared socket `local`.
//! fn on_datagram(
//!     mux: &mut Mux<u64>,
//!     agents: &mut HashMap<u64, IceAgent>,
//!     now: Instant,
//!     local: SocketAddr,
//!     from: SocketAddr,
//!     datagram: &[u8],
//!     send: &mut impl FnMut(SocketAddr, &[u8]),
//! ) {
//!     // `None`: nobody's; the mux counted it, and nothing is answered.
//!     let Some(id) = mux.route(from, datagram) else { return };
//!     let Some(agent) = agents.get_mut(&id) else { return };
//!     let verdict = agent.handle_datagram(now, local, from, datagram);
//!     if let Some(payload) = verdict.payload_range(datagram.len()) {
//!         let _application_data = &datagram[payload];
//!     }
//!     flush(mux, agents, id, send);
//! }
//!
//! /// After every call into an agent (datagram, timeout, signalling).
//! fn flush(
//!     mux: &mut Mux<u64>,
//!     agents: &mut HashMap<u64, IceAgent>,
//!     id: u64,
//!     send: &mut impl FnMut(SocketAddr, &[u8]),
//! ) {
//!     let Some(agent) = agents.get_mut(&id) else { return };
//!     let mut buf = [0u8; 1500];
//!     while let Ok(Some(t)) = agent.poll_transmit(&mut buf) {
//!         mux.on_transmit(id, t.destination, &buf[..t.len]);
//!         send(t.destination, &buf[..t.len]);
//!     }
//!     let mut ended = false;
//!     while let Some(event) = agent.poll_event() {
//!         match event {
//!             IceEvent::SelectedPairChange { remote, .. } => mux.learn_remote(id, remote.address),
//!             IceEvent::ConnectionStateChange(
//!                 IceConnectionState::Failed | IceConnectionState::Closed,
//!             ) => ended = true,
//!             _ => {}
//!         }
//!     }
//!     if ended {
//!         mux.remove(id);
//!         agents.remove(&id);
//!     }
//! }
//!
//! let now = Instant::now();
//! let local: SocketAddr = "192.0.2.1:3478".parse().unwrap();
//! let mut mux = Mux::new(MuxConfig::default());
//! let mut agents = HashMap::new();
//! let mut agent = IceAgent::new(AgentConfig { lite: true, ..AgentConfig::default() }, now, [1; 32]);
//! agent.add_local_socket(now, local);
//! agent.start_gathering(now);
//! mux.insert(7, &agent.local_credentials().ufrag).unwrap();
//! agents.insert(7, agent);
//! let mut sent = 0;
//! on_datagram(&mut mux, &mut agents, now, local, "198.51.100.9:4000".parse().unwrap(),
//!     b"from nobody", &mut |_, _| sent += 1);
//! assert_eq!((sent, mux.stats().dropped_unknown_remote), (0, 1));
//! ```
//!
//! ## Limits
//!
//! - A remote transport address belongs to one session: two sessions whose peers use the same
//!   address and port cannot both receive data by address (their checks still route by ufrag,
//!   their responses by transaction id). The last session to learn it wins, so a peer that
//!   reconnects from the same address reaches its new session; the price is that a peer able to
//!   forge source addresses, holding the credentials of a session of its own, can draw another
//!   peer's data to that session — which the other session's consent checks (RFC 7675) then
//!   see fail.
//! - Memory: at most [`MuxConfig::max_sessions`] sessions, each with its ufrag and up to
//!   [`MuxConfig::max_remotes_per_session`] addresses, and [`MuxConfig::max_transactions`]
//!   pending requests (under 100 bytes each; their slab keeps its high-water mark).
//! - TURN: a TURN server sees one client per 5-tuple, so only one session per shared socket can
//!   hold an allocation at a given server. Data indications and ChannelData from the server
//!   route by its address: `learn_remote(session, server)` when allocating through the shared
//!   socket.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod hash;
mod pending;
mod ufrag;

use core::fmt;
use core::hash::Hash;
use core::net::SocketAddr;
use std::collections::HashMap;

use floe_stun::{is_stun, types, Class, Message, MessageType, TransactionId, HEADER_LEN};

use hash::Keyed;
use pending::{Pending, NIL};
use ufrag::Ufrag;

/// Bounds on the mux's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MuxConfig {
    /// Most sessions registered at once; [`Mux::insert`] refuses more (default 100,000).
    pub max_sessions: usize,
    /// Most remote transport addresses learnt per session; learning one more forgets the
    /// session's least recently learnt (default 16). With `max_sessions`, this bounds the
    /// address table as a whole.
    pub max_remotes_per_session: usize,
    /// Most pending request transaction ids, all sessions together; sending one more forgets
    /// the oldest (default 65,536: at 50 new requests a second per session, hundreds of
    /// checking sessions with seconds of retransmissions each).
    pub max_transactions: usize,
}

impl Default for MuxConfig {
    fn default() -> Self {
        Self {
            max_sessions: 100_000,
            max_remotes_per_session: 16,
            max_transactions: 65_536,
        }
    }
}

/// Why [`Mux::insert`] or [`Mux::set_ufrag`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MuxError {
    /// [`MuxConfig::max_sessions`] sessions are registered already.
    SessionLimit,
    /// Another session routes by this ufrag.
    UfragInUse,
    /// Not an ice-ufrag: 4 to 256 ice-chars (ALPHA, DIGIT, `+`, `/`; RFC 8839 §5.4).
    InvalidUfrag,
    /// [`Mux::set_ufrag`] for a session that is not registered.
    UnknownSession,
}

impl fmt::Display for MuxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MuxError::SessionLimit => "too many sessions on the shared socket",
            MuxError::UfragInUse => "another session uses this ice-ufrag",
            MuxError::InvalidUfrag => "not an ice-ufrag (4 to 256 ice-chars)",
            MuxError::UnknownSession => "no such session",
        })
    }
}

impl std::error::Error for MuxError {}

/// Table sizes and what happened to the datagrams routed so far.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MuxStats {
    /// Sessions registered.
    pub sessions: usize,
    /// Remote transport addresses learnt, all sessions together.
    pub remotes: usize,
    /// Pending request transaction ids, all sessions together.
    pub transactions: usize,
    /// Datagrams [`Mux::route`] gave a session.
    pub routed: u64,
    /// STUN requests whose USERNAME names no session's ufrag (or is not `ours:theirs`).
    pub dropped_unknown_ufrag: u64,
    /// Datagrams routed by address (data, indications, requests without USERNAME) from an
    /// address no session has learnt.
    pub dropped_unknown_remote: u64,
    /// STUN responses to no pending request (never sent, already answered, or forgotten).
    pub dropped_unknown_transaction: u64,
    /// Datagrams that look like STUN (RFC 8489 §5 header) but do not decode.
    pub dropped_malformed: u64,
}

/// One session's entries, so that [`Mux::remove`] finds them all.
struct Session {
    /// The ufrag table's key, to remove it by.
    ufrag: Ufrag,
    /// Least recently learnt first.
    remotes: Vec<SocketAddr>,
    /// The first of the session's pending requests ([`NIL`] when none).
    first_pending: u32,
}

/// Routes datagrams arriving on one shared socket to the session (agent) they belong to.
///
/// `K` is the driver's session key. Every operation is a few hash-map lookups; [`Mux::route`]
/// allocates nothing.
pub struct Mux<K>
where
    K: Copy + Eq + Hash,
{
    config: MuxConfig,
    sessions: HashMap<K, Session, Keyed>,
    /// Looked up by the USERNAME bytes of a request: `Ufrag` borrows as `[u8]`, so the
    /// lookup needs no allocation.
    by_ufrag: HashMap<Ufrag, K, Keyed>,
    by_remote: HashMap<SocketAddr, K, Keyed>,
    pending: Pending<K>,
    stats: MuxStats,
}

impl<K> fmt::Debug for Mux<K>
where
    K: Copy + Eq + Hash,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mux")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<K> Mux<K>
where
    K: Copy + Eq + Hash,
{
    /// An empty mux with these bounds. Tables grow as sessions are added, not up front.
    pub fn new(config: MuxConfig) -> Self {
        let hasher = Keyed::new();
        Self {
            config,
            sessions: HashMap::with_hasher(hasher),
            by_ufrag: HashMap::with_hasher(hasher),
            by_remote: HashMap::with_hasher(hasher),
            pending: Pending::new(hasher),
            stats: MuxStats::default(),
        }
    }

    /// The bounds the mux was made with.
    pub fn config(&self) -> &MuxConfig {
        &self.config
    }

    /// Registers a session by its local ice-ufrag (the first half of USERNAME in requests to
    /// us). For a key already registered, this is [`Mux::set_ufrag`].
    pub fn insert(&mut self, key: K, local_ufrag: &str) -> Result<(), MuxError> {
        let Some(ufrag) = Ufrag::new(local_ufrag) else {
            return Err(MuxError::InvalidUfrag);
        };
        if self.sessions.contains_key(&key) {
            return self.set_ufrag(key, local_ufrag);
        }
        if self.sessions.len() >= self.config.max_sessions {
            return Err(MuxError::SessionLimit);
        }
        if self.by_ufrag.contains_key(ufrag.as_bytes()) {
            return Err(MuxError::UfragInUse);
        }
        self.by_ufrag.insert(ufrag.clone(), key);
        self.sessions.insert(
            key,
            Session {
                ufrag,
                remotes: Vec::new(),
                first_pending: NIL,
            },
        );
        Ok(())
    }

    /// The session's ufrag changed (ICE restart, RFC 8445 §9): the old one stops routing. The
    /// session's remotes and pending requests stay (data keeps flowing on the old pair until a
    /// new one is selected). Requests still carrying the old ufrag are dropped from now on,
    /// the peer's consent checks on the old pair among them until its restart selects a new
    /// pair: the peer retries those, and RFC 7675 gives it 30 s.
    pub fn set_ufrag(&mut self, key: K, local_ufrag: &str) -> Result<(), MuxError> {
        let Some(ufrag) = Ufrag::new(local_ufrag) else {
            return Err(MuxError::InvalidUfrag);
        };
        let Some(session) = self.sessions.get_mut(&key) else {
            return Err(MuxError::UnknownSession);
        };
        match self.by_ufrag.get(ufrag.as_bytes()) {
            Some(owner) if *owner == key => return Ok(()),
            Some(_) => return Err(MuxError::UfragInUse),
            None => {}
        }
        self.by_ufrag.remove(session.ufrag.as_bytes());
        self.by_ufrag.insert(ufrag.clone(), key);
        session.ufrag = ufrag;
        Ok(())
    }

    /// Forgets the session and every entry pointing at it (ufrag, remotes, transactions).
    pub fn remove(&mut self, key: K) {
        let Some(session) = self.sessions.remove(&key) else {
            return;
        };
        self.by_ufrag.remove(session.ufrag.as_bytes());
        for remote in &session.remotes {
            self.by_remote.remove(remote);
        }
        let mut idx = session.first_pending;
        while idx != NIL {
            let next = self.pending.next_in_session(idx);
            // The session is gone: no head to update.
            self.pending.unlink(idx);
            idx = next;
        }
    }

    /// True when `key` is registered.
    pub fn contains(&self, key: K) -> bool {
        self.sessions.contains_key(&key)
    }

    /// The remote transport address now belongs to `key` (call it when the session's agent
    /// accepted an authenticated check from there, or selected a pair to it): data,
    /// indications and ChannelData from it route to `key`. Bounded per session (least recently
    /// learnt dropped) and globally ([`MuxConfig::max_sessions`] ×
    /// [`MuxConfig::max_remotes_per_session`]). An address another session held moves to
    /// `key`: the latest authenticated session from an address is the one behind it now.
    /// Nothing happens for a key that is not registered.
    pub fn learn_remote(&mut self, key: K, remote: SocketAddr) {
        let max = self.config.max_remotes_per_session;
        if max == 0 {
            return;
        }
        let owner = self.by_remote.get(&remote).copied();
        if let Some(owner) = owner.filter(|o| *o != key) {
            if !self.sessions.contains_key(&key) {
                return;
            }
            if let Some(previous) = self.sessions.get_mut(&owner) {
                previous.remotes.retain(|r| *r != remote);
            }
        }
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        if owner == Some(key) {
            // Already ours: keep it as the most recently learnt, so it is evicted last.
            if session.remotes.last() != Some(&remote) {
                session.remotes.retain(|r| *r != remote);
                session.remotes.push(remote);
            }
            return;
        }
        if session.remotes.len() >= max {
            let forgotten = session.remotes.remove(0);
            self.by_remote.remove(&forgotten);
        }
        if session.remotes.capacity() == 0 {
            // Most sessions have one peer address: don't let `push` reserve four.
            session.remotes.reserve_exact(1);
        }
        session.remotes.push(remote);
        self.by_remote.insert(remote, key);
    }

    /// Called for every datagram the session sends on the shared socket: a STUN request's
    /// transaction id is remembered so the response routes back to `key` (retransmissions
    /// refresh it); a STUN success response means the agent authenticated a check from
    /// `destination` (agents answer nothing else with success), so `destination` is learnt as
    /// by [`Mux::learn_remote`]. Anything else is ignored. The response to a request is routed
    /// by its transaction id alone, not by `destination`: the agent checks that it came from
    /// where the request went (RFC 8445 §7.2.5.2.1).
    pub fn on_transmit(&mut self, key: K, destination: SocketAddr, datagram: &[u8]) {
        if !is_stun(datagram) {
            return;
        }
        let Some(message_type) =
            MessageType::from_u16(u16::from_be_bytes([datagram[0], datagram[1]]))
        else {
            return;
        };
        match message_type.class {
            Class::Request => self.remember(key, transaction_id(datagram)),
            Class::SuccessResponse => self.learn_remote(key, destination),
            Class::Indication | Class::ErrorResponse => {}
        }
    }

    fn remember(&mut self, key: K, tid: TransactionId) {
        if self.config.max_transactions == 0 || !self.sessions.contains_key(&key) {
            return;
        }
        if let Some(idx) = self.pending.find(&tid) {
            // A retransmission: becomes the newest again.
            self.forget(idx);
        }
        while self.pending.len() >= self.config.max_transactions {
            let Some(oldest) = self.pending.oldest() else {
                break;
            };
            self.forget(oldest);
        }
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        self.pending.push(tid, key, &mut session.first_pending);
    }

    /// Drops one pending entry, keeping its session's list head right; returns its session.
    fn forget(&mut self, idx: u32) -> K {
        let (key, new_first) = self.pending.unlink(idx);
        if let Some(first) = new_first {
            if let Some(session) = self.sessions.get_mut(&key) {
                session.first_pending = first;
            }
        }
        key
    }

    /// Which session a datagram from `from` belongs to, `None` to drop it (counted in stats):
    /// STUN requests by the local ufrag in USERNAME (`ours:theirs`), then (no USERNAME) by
    /// remote address; STUN success/error responses by transaction id (entry consumed); STUN
    /// indications, application data, ChannelData and anything else by remote address.
    /// Malformed STUN is dropped. Never panics, allocates nothing, inserts nothing; a few hash
    /// lookups.
    pub fn route(&mut self, from: SocketAddr, datagram: &[u8]) -> Option<K> {
        let routed = if is_stun(datagram) {
            self.route_stun(from, datagram)
        } else {
            // What the agent takes for application data (not STUN by RFC 8489 §5's header:
            // ChannelData, DTLS, RTP or the application's own bytes) comes from its peer.
            self.by_remote_address(from)
        };
        if routed.is_some() {
            self.stats.routed += 1;
        }
        routed
    }

    /// The session a connectivity check belongs to, by the local ufrag in its USERNAME only:
    /// for the first message on a new ICE-TCP connection (RFC 6544), which has no remote
    /// address to go by yet. `None` for anything but a request with a known ufrag (counted as
    /// [`Mux::route`] counts it).
    pub fn session_of_check(&mut self, message: &[u8]) -> Option<K> {
        if !is_stun(message) {
            self.stats.dropped_malformed += 1;
            return None;
        }
        let Ok(decoded) = Message::decode(message) else {
            self.stats.dropped_malformed += 1;
            return None;
        };
        let username = match decoded.class() {
            Class::Request => decoded.raw(types::USERNAME)?,
            _ => return None,
        };
        let found = self.by_username(username.value);
        if found.is_some() {
            self.stats.routed += 1;
        }
        found
    }

    fn route_stun(&mut self, from: SocketAddr, datagram: &[u8]) -> Option<K> {
        let Ok(message) = Message::decode(datagram) else {
            self.stats.dropped_malformed += 1;
            return None;
        };
        match message.class() {
            Class::Request => match message.raw(types::USERNAME) {
                Some(username) => self.by_username(username.value),
                None => self.by_remote_address(from),
            },
            Class::SuccessResponse | Class::ErrorResponse => {
                match self.pending.find(&message.transaction_id()) {
                    Some(idx) => Some(self.forget(idx)),
                    None => {
                        self.stats.dropped_unknown_transaction += 1;
                        None
                    }
                }
            }
            Class::Indication => self.by_remote_address(from),
        }
    }

    /// RFC 8445 §7.2.2: the USERNAME of a check to us is `our-ufrag:their-ufrag`; a ufrag has
    /// no `:` (it is ice-chars only), so ours ends at the first one.
    fn by_username(&mut self, username: &[u8]) -> Option<K> {
        let found = username
            .iter()
            .position(|&b| b == b':')
            .and_then(|colon| self.by_ufrag.get(&username[..colon]))
            .copied();
        if found.is_none() {
            self.stats.dropped_unknown_ufrag += 1;
        }
        found
    }

    fn by_remote_address(&mut self, from: SocketAddr) -> Option<K> {
        let found = self.by_remote.get(&from).copied();
        if found.is_none() {
            self.stats.dropped_unknown_remote += 1;
        }
        found
    }

    /// Table sizes and counters.
    pub fn stats(&self) -> MuxStats {
        MuxStats {
            sessions: self.sessions.len(),
            remotes: self.by_remote.len(),
            transactions: self.pending.len(),
            ..self.stats
        }
    }

    /// Sessions registered.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when no session is registered.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

/// The transaction id of a datagram that passed [`is_stun`] (so it has a full header).
fn transaction_id(datagram: &[u8]) -> TransactionId {
    let mut tid = [0u8; 12];
    tid.copy_from_slice(&datagram[8..HEADER_LEN]);
    TransactionId::new(tid)
}
