//! ICE over TCP (RFC 6544), on when [`crate::AgentConfig::ice_tcp`] is set.
//!
//! - Candidates: a passive host candidate on each listener the runtime bound
//!   ([`IceAgent::add_local_tcp_listener`]) and an active host candidate, signalled with port 9,
//!   on each host IP address (RFC 6544 §4.5). No simultaneous-open candidates are gathered.
//! - Pairs: active with passive, passive with active, S-O with S-O, never TCP with UDP
//!   (RFC 6544 §6.2). A pair whose local candidate is passive sends no check of its own until
//!   the peer connects and checks it: its check is then a triggered one on that connection
//!   (§7.2).
//! - Connections: one per pair, opened by the active side. The agent asks the runtime with
//!   [`StreamCommand::Connect`] and learns the outcome from [`IceAgent::handle_stream_connected`]
//!   or [`IceAgent::handle_stream_closed`]; the runtime reports the connections it accepts
//!   with [`IceAgent::handle_stream_accepted`]. Bytes go both ways RFC 4571 framed
//!   ([`crate::framing`]).
//! - Inside the agent a connection stands for its pair's (base, remote candidate) addresses,
//!   so checks, answers, nomination and consent work as on UDP; only the transmits are framed,
//!   carry the connection's real addresses and have [`crate::Transmit::ice_tcp`] set.
//! - A check over TCP is sent once (a reliable transport, RFC 8489 §6.2.2) and times out after
//!   Ti = 39.5 s.
//! - Hostile peers: at most [`MAX_CONNECTS`] connections opened and [`MAX_ACCEPTED`] accepted
//!   at a time; an accepted connection whose first frame is not an authenticated check, that
//!   breaks the framing, or that says nothing for [`STREAM_IDLE_TIMEOUT`] is closed.

use core::net::{IpAddr, SocketAddr};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use floe_stun::attributes::Username;
use floe_stun::redact::Addr;
use floe_stun::{is_stun, Class, Message, Method};
use tracing::{debug, info};

use crate::agent::{IceAgent, IceError};
use crate::candidate::{
    tcp_candidate_priority, without_scope, Candidate, CandidateKind, TcpType, ACTIVE_TCP_PORT,
    COMPONENT_RTP,
};
use crate::diagnosis::PairFailure;
use crate::framing::{frame_into, FrameDecoder};
use crate::pair::{PairId, PairState};
use crate::state::{Transmit, Verdict};

/// Most connections the agent opens at a time.
pub const MAX_CONNECTS: usize = 16;
/// Most connections the agent accepts at a time; more are closed at once.
pub const MAX_ACCEPTED: usize = 16;
/// How long a check over TCP waits for its answer: Ti of RFC 8489 §6.2.2, 39.5 s.
pub(crate) const TCP_CHECK_TIMEOUT: Duration = Duration::from_millis(39_500);
/// How long a connection may take to open, and an accepted one to deliver its first check,
/// before it is closed.
pub const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Application data frames kept for [`IceAgent::poll_stream_data`] before the oldest go.
const MAX_STREAM_DATA: usize = 256;

/// What the agent asks of the runtime's TCP connections ([`IceAgent::poll_stream_command`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum StreamCommand {
    /// Open a TCP connection from `local.ip()` (any port: `local` is the active candidate's
    /// base, whose port is the 9 of RFC 6544 §4.5) to `remote`, then report
    /// [`IceAgent::handle_stream_connected`] with these two addresses and the port bound, or
    /// [`IceAgent::handle_stream_closed`]`(local, remote)` if it fails.
    Connect {
        /// The active candidate's base: bind to its IP address.
        local: SocketAddr,
        /// The peer's passive candidate.
        remote: SocketAddr,
    },
    /// Close the connection between these addresses (as reported by the runtime; for one
    /// still connecting, those of its [`StreamCommand::Connect`]).
    Close {
        /// The local address of the connection.
        local: SocketAddr,
        /// The remote address of the connection.
        remote: SocketAddr,
    },
}

/// One TCP connection.
#[derive(Debug)]
pub(crate) struct Connection {
    /// The connection's local address; the base while still connecting.
    local: SocketAddr,
    /// The connection's remote address.
    remote: SocketAddr,
    /// The local candidate's base the agent sees the connection as.
    base: SocketAddr,
    /// The remote candidate address the agent sees the connection as; unknown for an accepted
    /// connection until its first check.
    remote_key: Option<SocketAddr>,
    open: bool,
    accepted: bool,
    /// Closed if not open (or, accepted, not authenticated) by then.
    deadline: Option<Instant>,
    /// The pair whose check waits for the connection to open.
    pending: Option<PairId>,
    decoder: FrameDecoder,
}

/// The agent's ICE-TCP state; boxed in the agent, which holds none without `ice_tcp`.
#[derive(Debug, Default)]
pub(crate) struct Tcp {
    listeners: Vec<SocketAddr>,
    /// IP addresses with an active candidate, in the order they were gathered.
    ips: Vec<IpAddr>,
    connections: Vec<Connection>,
    commands: VecDeque<StreamCommand>,
}

impl Tcp {
    /// The IP addresses of the listeners, each once.
    pub(crate) fn listener_ips(&self) -> Vec<IpAddr> {
        let mut ips: Vec<IpAddr> = Vec::new();
        for l in &self.listeners {
            if !ips.contains(&l.ip()) {
                ips.push(l.ip());
            }
        }
        ips
    }

    fn position(&self, local: SocketAddr, remote: SocketAddr) -> Option<usize> {
        self.connections
            .iter()
            .position(|c| c.local == local && c.remote == remote)
    }

    /// The connection standing for the pair (base, remote).
    fn of_pair(&self, base: SocketAddr, remote: SocketAddr) -> Option<&Connection> {
        self.connections
            .iter()
            .find(|c| c.base == base && c.remote_key == Some(remote))
    }

    fn is_base(&self, addr: SocketAddr) -> bool {
        self.listeners.contains(&addr)
            || (addr.port() == ACTIVE_TCP_PORT && self.ips.contains(&addr.ip()))
    }

    fn close(&mut self, i: usize) -> Connection {
        let c = self.connections.swap_remove(i);
        self.commands.push_back(StreamCommand::Close {
            local: c.local,
            remote: c.remote,
        });
        c
    }
}

/// What to do with a check on a TCP pair.
pub(crate) enum TcpCheck {
    /// Not a TCP pair.
    Udp,
    /// The connection is open: send it.
    Send,
    /// Sent once the connection opens.
    Wait,
    /// No connection, and none may be opened.
    Refused,
}

/// The other end's direction: what a peer-reflexive remote candidate learnt on a base of
/// direction `ours` is.
fn opposite(ours: TcpType) -> TcpType {
    match ours {
        TcpType::Active => TcpType::Passive,
        TcpType::Passive => TcpType::Active,
        TcpType::SimultaneousOpen => TcpType::SimultaneousOpen,
    }
}

impl IceAgent {
    fn tcp_on(&self) -> bool {
        self.config.ice_tcp
    }

    /// Registers a TCP socket the runtime listens on, for a passive host candidate
    /// (RFC 6544 §4.1); also an active candidate on its IP address, except for a lite agent,
    /// which never checks and so only accepts. Ignored unless [`crate::AgentConfig::ice_tcp`]
    /// is on. Bind it to one address, not the unspecified one, and on another port than the
    /// UDP sockets.
    pub fn add_local_tcp_listener(&mut self, now: Instant, addr: SocketAddr) {
        if self.closed || !self.tcp_on() {
            return;
        }
        let tcp = self.tcp.get_or_insert_with(Default::default);
        if tcp.listeners.contains(&addr) {
            return;
        }
        tcp.listeners.push(addr);
        if self.gathering.started {
            self.gather_tcp(now, addr.ip());
            self.drive(now);
        }
    }

    /// Gathers the TCP candidates of `ip`: the active one once, and a passive one for each of
    /// its listeners.
    pub(crate) fn gather_tcp(&mut self, now: Instant, ip: IpAddr) {
        if !self.tcp_on() || self.config.transport_policy != crate::TransportPolicy::All {
            return;
        }
        let tcp = self.tcp.get_or_insert_with(Default::default);
        if !tcp.ips.contains(&ip) {
            tcp.ips.push(ip);
        }
        let rank = tcp.ips.iter().position(|i| *i == ip).unwrap_or(0);
        let listeners: Vec<SocketAddr> = tcp
            .listeners
            .iter()
            .copied()
            .filter(|l| l.ip() == ip)
            .collect();
        // A lite agent sends no checks, so it would never open a connection: no active candidate.
        let active =
            (!self.config.lite).then_some((SocketAddr::new(ip, ACTIVE_TCP_PORT), TcpType::Active));
        for (base, tcp_type) in active
            .into_iter()
            .chain(listeners.into_iter().map(|l| (l, TcpType::Passive)))
        {
            let foundation =
                self.local
                    .foundations
                    .foundation_of(CandidateKind::Host, ip, None, Some(tcp_type));
            let candidate = Candidate {
                kind: CandidateKind::Host,
                address: without_scope(base),
                base: Some(base),
                priority: tcp_candidate_priority(
                    CandidateKind::Host,
                    tcp_type,
                    rank,
                    COMPONENT_RTP,
                ),
                foundation,
                component: COMPONENT_RTP,
                tcp_type: Some(tcp_type),
            };
            self.add_local_candidate(now, candidate);
        }
    }

    /// The direction of our TCP candidates on `base`, `None` for a UDP base.
    pub(crate) fn tcp_type_of_base(&self, base: SocketAddr) -> Option<TcpType> {
        let tcp = self.tcp.as_ref()?;
        if tcp.listeners.contains(&base) {
            Some(TcpType::Passive)
        } else if tcp.is_base(base) {
            Some(TcpType::Active)
        } else {
            None
        }
    }

    /// The PRIORITY of a check from a TCP base (RFC 6544 §4.2 with a peer-reflexive type).
    pub(crate) fn tcp_prflx_priority(&self, base: SocketAddr) -> Option<u32> {
        let tcp_type = self.tcp_type_of_base(base)?;
        let rank = self.tcp.as_ref()?.ips.iter().position(|i| *i == base.ip());
        Some(tcp_candidate_priority(
            CandidateKind::PeerReflexive,
            tcp_type,
            rank.unwrap_or(0),
            COMPONENT_RTP,
        ))
    }

    /// The direction of a peer-reflexive remote candidate learnt from a check on `local`.
    pub(crate) fn tcp_type_of_prflx(&self, local: SocketAddr) -> Option<TcpType> {
        self.tcp_type_of_base(local).map(opposite)
    }

    /// True when `addr` is a TCP base: a listener, or the base of an active candidate.
    pub(crate) fn is_tcp_base(&self, addr: SocketAddr) -> bool {
        self.tcp.as_ref().is_some_and(|t| t.is_base(addr))
    }

    /// Gets a check on the TCP pair `id` going: over its connection, or by opening one
    /// (RFC 6544 §7.1: the active side connects). A passive pair waits for the peer.
    pub(crate) fn tcp_prepare_check(&mut self, now: Instant, id: PairId) -> TcpCheck {
        let Some(pair) = self.checklist.get(id) else {
            return TcpCheck::Refused;
        };
        let (Some(tcp_type), base, remote) = (pair.tcp, pair.base, pair.remote_addr) else {
            return TcpCheck::Udp;
        };
        let Some(tcp) = self.tcp.as_mut() else {
            return TcpCheck::Refused;
        };
        if let Some(c) = tcp.of_pair(base, remote) {
            return if c.open {
                TcpCheck::Send
            } else {
                TcpCheck::Wait
            };
        }
        let opened = tcp.connections.iter().filter(|c| !c.accepted).count();
        if tcp_type != TcpType::Active || opened >= MAX_CONNECTS {
            return TcpCheck::Refused;
        }
        debug!(pair = id.0, local = %Addr(base), remote = %Addr(remote), "TCP connection requested");
        tcp.connections.push(Connection {
            local: base,
            remote,
            base,
            remote_key: Some(remote),
            open: false,
            accepted: false,
            deadline: Some(now + STREAM_IDLE_TIMEOUT),
            pending: Some(id),
            decoder: FrameDecoder::new(),
        });
        tcp.commands.push_back(StreamCommand::Connect {
            local: base,
            remote,
        });
        TcpCheck::Wait
    }

    /// The check on `id` waits for its connection: the pair counts as in progress.
    pub(crate) fn tcp_wait_for_connection(&mut self, now: Instant, id: PairId, nominate: bool) {
        let pending = self.checklist.get(id).map(|p| (p.base, p.remote_addr));
        if let (Some((base, remote)), Some(tcp)) = (pending, self.tcp.as_mut()) {
            if let Some(c) = tcp
                .connections
                .iter_mut()
                .find(|c| c.base == base && c.remote_key == Some(remote))
            {
                c.pending = Some(id);
            }
        }
        if let Some(pair) = self.checklist.get_mut(id) {
            pair.state = PairState::InProgress;
            pair.check_sent_at = Some(now);
            pair.nominating = nominate;
        }
    }

    /// The next thing the runtime should do with TCP connections.
    #[must_use]
    pub fn poll_stream_command(&mut self) -> Option<StreamCommand> {
        self.tcp.as_mut()?.commands.pop_front()
    }

    /// The connection a [`StreamCommand::Connect`] asked for is open: `local` and `remote` as
    /// in the command, `bound` the connection's local address. The waiting check goes out.
    pub fn handle_stream_connected(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bound: SocketAddr,
    ) {
        let Some(tcp) = self.tcp.as_mut() else {
            return;
        };
        let Some(i) = tcp
            .connections
            .iter()
            .position(|c| !c.open && !c.accepted && c.local == local && c.remote == remote)
        else {
            // Not asked for (or given up on): the runtime should not keep it.
            tcp.commands.push_back(StreamCommand::Close {
                local: bound,
                remote,
            });
            return;
        };
        let c = &mut tcp.connections[i];
        c.local = bound;
        c.open = true;
        c.deadline = None;
        let pending = c.pending.take();
        info!(local = %Addr(bound), remote = %Addr(remote), "TCP connection open");
        if let Some(id) = pending.filter(|_| !self.closed) {
            let nominating = self.checklist.get(id).is_some_and(|p| p.nominating);
            if self
                .checklist
                .get(id)
                .is_some_and(|p| p.state == PairState::InProgress && p.transaction.is_none())
                && !self.send_binding_request(now, id, nominating)
            {
                self.fail_pair(id, PairFailure::NotSent);
            }
        }
        self.drive(now);
    }

    /// The runtime accepted a connection on the listener `local` from `remote`. Refused
    /// (with a [`StreamCommand::Close`]) when ICE-TCP is off, `local` is no listener, or
    /// [`MAX_ACCEPTED`] connections are held already.
    pub fn handle_stream_accepted(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<(), IceError> {
        let closed = self.closed;
        let refuse = |tcp: Option<&mut Box<Tcp>>, why: &'static str| {
            if let Some(tcp) = tcp {
                tcp.commands
                    .push_back(StreamCommand::Close { local, remote });
            }
            info!(local = %Addr(local), remote = %Addr(remote), reason = why, "TCP connection refused");
            Err(IceError::StreamRefused(why))
        };
        if closed {
            return refuse(self.tcp.as_mut(), "the agent is closed");
        }
        let Some(tcp) = self.tcp.as_mut() else {
            return refuse(None, "ICE-TCP is off");
        };
        if !tcp.listeners.contains(&local) {
            return refuse(Some(tcp), "not a listener of this agent");
        }
        if tcp.position(local, remote).is_some() {
            return refuse(Some(tcp), "a connection between these addresses exists");
        }
        if tcp.connections.iter().filter(|c| c.accepted).count() >= MAX_ACCEPTED {
            return refuse(Some(tcp), "too many accepted connections");
        }
        debug!(local = %Addr(local), remote = %Addr(remote), "TCP connection accepted");
        tcp.connections.push(Connection {
            local,
            remote,
            base: local,
            remote_key: None,
            open: true,
            accepted: true,
            deadline: Some(now + STREAM_IDLE_TIMEOUT),
            pending: None,
            decoder: FrameDecoder::new(),
        });
        self.update_timers();
        Ok(())
    }

    /// Bytes from an ICE-TCP connection; `None` when (local, remote) is none of them.
    pub(crate) fn tcp_stream_data(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        mut bytes: &[u8],
    ) -> Option<Result<(), IceError>> {
        let tcp = self.tcp.as_mut()?;
        let mut i = tcp.position(local, remote)?;
        if !tcp.connections[i].open {
            return Some(Ok(()));
        }
        let mut frames: Vec<Vec<u8>> = Vec::new();
        loop {
            let c = &mut self.tcp.as_mut()?.connections[i];
            let take = bytes.len().min(c.decoder.room());
            let pushed = c.decoder.push(&bytes[..take]);
            bytes = &bytes[take..];
            while let Some(frame) = c.decoder.next_frame() {
                frames.push(frame.to_vec());
            }
            for frame in frames.drain(..) {
                if !self.tcp_frame(now, i, &frame) {
                    return Some(self.tcp_garbage(now, local, remote));
                }
                // Handling a frame may close other connections: find ours again.
                i = self.tcp.as_ref()?.position(local, remote)?;
            }
            if pushed.is_err() {
                return Some(self.tcp_garbage(now, local, remote));
            }
            if bytes.is_empty() {
                break;
            }
        }
        self.drive(now);
        Some(Ok(()))
    }

    /// A connection broke its framing or sent what no peer of ours would: closed.
    fn tcp_garbage(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<(), IceError> {
        info!(local = %Addr(local), remote = %Addr(remote), reason = "bad framing or an unauthenticated first frame", "TCP connection closed");
        self.tcp_closed(now, local, remote, true);
        Err(IceError::StreamRefused("bad framing or first frame"))
    }

    /// One frame from connection `i`; false when the connection must be closed.
    fn tcp_frame(&mut self, now: Instant, i: usize, frame: &[u8]) -> bool {
        let Some(c) = self.tcp.as_ref().and_then(|t| t.connections.get(i)) else {
            return false;
        };
        let (base, remote) = (c.base, c.remote);
        let key = match c.remote_key {
            Some(key) => key,
            None => {
                // RFC 6544 §7.2: an accepted connection starts with the peer's check; anything
                // else, or a check we cannot authenticate, and the connection goes.
                if !self.authenticates(frame) {
                    return false;
                }
                let key = self.remote_key_for(base, remote);
                let Some(c) = self.tcp.as_mut().and_then(|t| t.connections.get_mut(i)) else {
                    return false;
                };
                c.remote_key = Some(key);
                c.deadline = None;
                key
            }
        };
        if self.closed {
            return true;
        }
        if self.handle_direct(now, base, key, frame) == Verdict::ApplicationData {
            let queue = self.stream_data.get_or_insert_with(Default::default);
            if queue.len() >= MAX_STREAM_DATA {
                queue.pop_front();
            }
            queue.push_back(frame.to_vec());
        }
        true
    }

    /// True for a Binding request for our ufrag whose MESSAGE-INTEGRITY and FINGERPRINT hold.
    fn authenticates(&self, frame: &[u8]) -> bool {
        if !is_stun(frame) {
            return false;
        }
        let Ok(msg) = Message::decode(frame) else {
            return false;
        };
        let ours = match msg.get::<Username>() {
            Ok(Some(Username(u))) => u.split_once(':').map(|(ours, _)| ours),
            _ => None,
        };
        msg.method() == Method::BINDING
            && msg.class() == Class::Request
            && ours == Some(self.local.credentials.ufrag.as_str())
            && msg.verify_fingerprint().is_ok()
            && msg.verify_integrity(&self.local.key).is_ok()
    }

    /// The remote candidate an accepted connection stands for: the peer's active candidate on
    /// its IP address (which it signals with port 9, not the port it connects from), unless
    /// another connection stands for it already; else its real address, which the check then
    /// makes a peer-reflexive candidate (RFC 8445 §7.3.1.3).
    fn remote_key_for(&self, base: SocketAddr, remote: SocketAddr) -> SocketAddr {
        let taken = |addr: SocketAddr| {
            self.tcp
                .as_ref()
                .is_some_and(|t| t.of_pair(base, addr).is_some())
        };
        self.remote
            .candidates
            .iter()
            .find(|c| {
                c.tcp_type == Some(TcpType::Active)
                    && c.address.ip() == remote.ip()
                    && !taken(c.address)
            })
            .map_or(remote, |c| c.address)
    }

    /// The runtime's connection (local, remote) closed, or failed to open. `None` when it is
    /// none of the agent's ICE-TCP connections.
    pub(crate) fn tcp_stream_closed(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<()> {
        self.tcp.as_ref()?.position(local, remote)?;
        self.tcp_closed(now, local, remote, false);
        self.drive(now);
        Some(())
    }

    /// Forgets a connection (asking the runtime to close it when `command`); the pair it stood
    /// for fails, and with it the selection if it was selected.
    fn tcp_closed(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, command: bool) {
        let Some(tcp) = self.tcp.as_mut() else {
            return;
        };
        let Some(i) = tcp.position(local, remote) else {
            return;
        };
        let c = if command {
            tcp.close(i)
        } else {
            tcp.connections.swap_remove(i)
        };
        let Some(key) = c.remote_key else {
            return;
        };
        let pair = self
            .checklist
            .find(c.base, key)
            .map(|p| (p.id, p.transaction));
        if let Some((id, transaction)) = pair {
            if let Some(tid) = transaction {
                self.transactions.cancel(tid);
            }
            if self.selected == Some(id) {
                self.selected = None;
                self.consent = None;
                self.lost_selection = true;
            }
            // The pair's path is gone: it is no longer valid, whatever it was.
            if let Some(p) = self.checklist.get_mut(id) {
                p.valid = false;
                p.nominated = false;
            }
            self.fail_pair(id, PairFailure::NotSent);
        }
        let _ = now;
    }

    /// With `selected` chosen, the connections that stand for other pairs are closed: no check
    /// or data will use them (RFC 6544 lets an agent close them), and each holds a socket on both
    /// sides. A pair still nominating keeps its connection, and an accepted connection that has
    /// not sent its first check yet keeps its own deadline.
    pub(crate) fn tcp_close_unselected(&mut self, now: Instant, selected: PairId) {
        let Some(tcp) = self.tcp.as_ref() else {
            return;
        };
        let unused: Vec<(SocketAddr, SocketAddr)> = tcp
            .connections
            .iter()
            .filter(|c| {
                c.remote_key
                    .is_some_and(|key| match self.checklist.find(c.base, key) {
                        Some(p) => p.id != selected && !p.nominating,
                        None => true,
                    })
            })
            .map(|c| (c.local, c.remote))
            .collect();
        for (local, remote) in unused {
            debug!(local = %Addr(local), remote = %Addr(remote), "TCP connection closed: another pair was selected");
            self.tcp_closed(now, local, remote, true);
        }
    }

    /// Closes connections that did not open, or (accepted) did not authenticate, in time.
    pub(crate) fn tcp_timeout(&mut self, now: Instant) {
        let Some(tcp) = self.tcp.as_ref() else {
            return;
        };
        let due: Vec<(SocketAddr, SocketAddr)> = tcp
            .connections
            .iter()
            .filter(|c| c.deadline.is_some_and(|d| now >= d))
            .map(|c| (c.local, c.remote))
            .collect();
        for (local, remote) in due {
            info!(local = %Addr(local), remote = %Addr(remote), reason = "nothing within the stream timeout", "TCP connection closed");
            // A pair waiting on a connection that never opened fails with it.
            self.tcp_closed(now, local, remote, true);
        }
    }

    /// The earliest connection deadline.
    pub(crate) fn tcp_deadline(&self) -> Option<Instant> {
        self.tcp
            .as_ref()?
            .connections
            .iter()
            .filter_map(|c| c.deadline)
            .min()
    }

    /// On close: every connection goes.
    pub(crate) fn tcp_close_all(&mut self) {
        if let Some(tcp) = self.tcp.as_mut() {
            while !tcp.connections.is_empty() {
                tcp.close(0);
            }
        }
    }

    /// Where a message from the pair addresses (base, destination) goes: `None` for UDP,
    /// `Some(None)` from a TCP base without an open connection (it is dropped), else the
    /// connection's real (local, remote) addresses.
    pub(crate) fn tcp_route(
        &self,
        base: SocketAddr,
        destination: SocketAddr,
    ) -> Option<Option<(SocketAddr, SocketAddr)>> {
        route(self.tcp.as_deref(), &self.local.bases, base, destination)
    }

    /// Frames `payload` for the connection of (base, destination) into `buf`.
    pub(crate) fn tcp_frame_out(
        route: (SocketAddr, SocketAddr),
        payload: &[u8],
        buf: &mut [u8],
    ) -> Option<Transmit> {
        let len = frame_into(payload, buf).ok()?;
        Some(Transmit {
            source: route.0,
            destination: route.1,
            len,
            ice_tcp: true,
        })
    }
}

/// [`IceAgent::tcp_route`] on the parts it reads, for callers that hold other parts of the
/// agent borrowed.
pub(crate) fn route(
    tcp: Option<&Tcp>,
    udp_bases: &[SocketAddr],
    base: SocketAddr,
    destination: SocketAddr,
) -> Option<Option<(SocketAddr, SocketAddr)>> {
    let tcp = tcp?;
    if let Some(c) = tcp.of_pair(base, destination).filter(|c| c.open) {
        return Some(Some((c.local, c.remote)));
    }
    (tcp.is_base(base) && !udp_bases.contains(&base)).then_some(None)
}
