//! Relayed candidates (RFC 8445 §5.1.1.2) through TURN servers (RFC 8656): one floe-turn
//! [`TurnClient`] per (base, server), owned by the agent.
//!
//! - Gathering: each client allocates from its base; the relayed address becomes a relayed
//!   candidate whose base is the relayed address itself (RFC 8445 §5.1.1.2), and the
//!   XOR-MAPPED-ADDRESS of the Allocate response a server-reflexive candidate (deduplicated per
//!   RFC 8445 §5.1.3). A server that has not answered by `gather_timeout` stops holding
//!   gathering back.
//! - Sending: anything the agent sends from a relayed address (checks, responses, consent,
//!   application data) is framed by the client (Send indication, or ChannelData once a channel
//!   is bound) and goes from the base to the TURN server.
//! - Receiving: datagrams from a TURN server on the base go to its client first; relayed data
//!   is then handled as if it arrived on the relayed address from the peer.

use core::net::{IpAddr, SocketAddr};
use std::time::Instant;

use floe_stun::redact::Addr;
use floe_turn::client::AllocationFamily;
use floe_turn::{ClientConfig, Received, SendError, TurnClient, TurnEvent};
use tracing::{debug, info, warn};

use crate::agent::{IceAgent, IceError};
use crate::candidate::COMPONENT_RTP;
use crate::candidate::{candidate_priority, Candidate, CandidateKind};
use crate::config::TransportPolicy;
use crate::diagnosis::PairFailure;
use crate::pair::PairState;
use crate::state::{Transmit, Verdict};

/// Relayed datagrams from TURN streams kept for the driver before the oldest are dropped.
const MAX_STREAM_DATA: usize = 256;

/// One allocation: a TURN client for one (base, server).
#[derive(Debug)]
pub(crate) struct Relay {
    /// The local socket the client talks to the server from.
    pub(crate) base: SocketAddr,
    /// The TURN client.
    pub(crate) client: TurnClient,
    /// The relayed address once allocated.
    pub(crate) relayed: Option<SocketAddr>,
    /// XOR-MAPPED-ADDRESS of the Allocate response.
    pub(crate) mapped: Option<SocketAddr>,
    /// Gathering gives up on the server at this instant (`None` once done).
    pub(crate) deadline: Option<Instant>,
}

impl Relay {
    /// The allocation no longer holds gathering back.
    pub(crate) fn is_done(&self) -> bool {
        self.deadline.is_none()
    }
}

/// Writes `payload` from `source` to `destination` into `buf`: as is, or framed by the TURN
/// client when `source` is a relayed address (then it goes from the base to the server).
pub(crate) fn frame(
    relays: &mut [Relay],
    now: Instant,
    source: SocketAddr,
    destination: SocketAddr,
    payload: &[u8],
    buf: &mut [u8],
) -> Option<Transmit> {
    if let Some(r) = relays.iter_mut().find(|r| r.relayed == Some(source)) {
        let len = r.client.send_to(now, destination, payload, buf).ok()?;
        return Some(Transmit {
            source: r.base,
            destination: r.client.server(),
            len,
            ice_tcp: false,
        });
    }
    let out = buf.get_mut(..payload.len())?;
    out.copy_from_slice(payload);
    Some(Transmit {
        source,
        destination,
        len: payload.len(),
        ice_tcp: false,
    })
}

impl IceAgent {
    /// Starts an allocation on every configured TURN server of the base's family; after an
    /// ICE restart, existing allocations are announced again instead.
    pub(crate) fn gather_relays(&mut self, now: Instant, base: SocketAddr) {
        if self.config.lite {
            return;
        }
        for server in self.config.turn_servers.clone() {
            if server.server.is_ipv4() != base.is_ipv4() {
                continue;
            }
            // One allocation per (base, server, transport): UDP and TCP to one server are two.
            if let Some(i) = self.relays.iter().position(|r| {
                r.base == base
                    && r.client.config().server == server.server
                    && r.client.config().transport == server.transport
            }) {
                self.announce_relay(now, i);
                continue;
            }
            let mut config = ClientConfig::new(server.server, &server.username, &server.password);
            config.transport = server.transport;
            if base.is_ipv6() {
                config.family = AllocationFamily::Ipv6;
            }
            config.software = self.config.software.clone();
            let mut client = TurnClient::new(config, self.seed_bytes());
            let started = client.allocate(now).is_ok();
            info!(
                server = %Addr(server.server),
                local = %Addr(base),
                transport = ?server.transport,
                "TURN allocation requested"
            );
            self.relays.push(Relay {
                base,
                client,
                relayed: None,
                mapped: None,
                deadline: started.then_some(now + self.config.gather_timeout),
            });
        }
    }

    /// Adds the candidates an allocation yields: the relayed one, and (policy `all`) the
    /// server-reflexive one from XOR-MAPPED-ADDRESS.
    fn announce_relay(&mut self, now: Instant, i: usize) {
        let r = &self.relays[i];
        let (base, server, relayed, mapped) = (r.base, r.client.server(), r.relayed, r.mapped);
        // Distinct local preferences per server (RFC 8445 §5.1.2.1): relayed candidates by the
        // server's place among the TURN servers, their srflx ones after the STUN servers'.
        let transport = r.client.config().transport;
        let slot = self
            .config
            .turn_servers
            .iter()
            .position(|s| s.server == r.client.config().server && s.transport == transport)
            .unwrap_or(0);
        let pref = self.local_preference(base, slot);
        let srflx_pref = self.local_preference(base, self.config.stun_servers.len() + slot);
        if let Some(relayed) = relayed {
            let foundation =
                self.local
                    .foundations
                    .foundation(CandidateKind::Relayed, base.ip(), Some(server));
            let candidate = Candidate {
                kind: CandidateKind::Relayed,
                address: relayed,
                // RFC 8445 §5.1.1.2: the base of a relayed candidate is the candidate itself.
                base: Some(relayed),
                priority: candidate_priority(CandidateKind::Relayed, pref, COMPONENT_RTP),
                foundation,
                component: COMPONENT_RTP,
                tcp_type: None,
            };
            self.add_local_candidate(now, candidate);
        }
        let all = self.config.transport_policy == TransportPolicy::All;
        if let Some(mapped) = mapped.filter(|m| all && *m != base && m.is_ipv4() == base.is_ipv4())
        {
            let foundation = self.local.foundations.foundation(
                CandidateKind::ServerReflexive,
                base.ip(),
                Some(server),
            );
            let candidate = Candidate {
                kind: CandidateKind::ServerReflexive,
                address: mapped,
                base: Some(base),
                priority: candidate_priority(
                    CandidateKind::ServerReflexive,
                    srflx_pref,
                    COMPONENT_RTP,
                ),
                foundation,
                component: COMPONENT_RTP,
                tcp_type: None,
            };
            self.add_local_candidate(now, candidate);
        }
    }

    /// The related address of a local candidate for signaling (RFC 8839 §5.1): the base of a
    /// reflexive candidate, the XOR-MAPPED-ADDRESS of the Allocate response of a relayed one,
    /// none for a host candidate.
    pub fn related_address(&self, candidate: &Candidate) -> Option<SocketAddr> {
        match candidate.kind {
            CandidateKind::Host => None,
            CandidateKind::Relayed => self
                .relays
                .iter()
                .find(|r| r.relayed == Some(candidate.address))
                .and_then(|r| r.mapped)
                .or(candidate.base),
            CandidateKind::ServerReflexive | CandidateKind::PeerReflexive => candidate.base,
        }
    }

    /// True when `addr` is a base: a local socket or a relayed address.
    pub(crate) fn is_base(&self, addr: SocketAddr) -> bool {
        self.local.bases.contains(&addr)
            || self.relays.iter().any(|r| r.relayed == Some(addr))
            || self.is_tcp_base(addr)
    }

    /// All allocations are done with gathering (granted, failed or timed out).
    pub(crate) fn relays_done(&self) -> bool {
        self.relays.iter().all(Relay::is_done)
    }

    /// Acts on the TURN clients' events.
    pub(crate) fn drain_relay_events(&mut self, now: Instant) {
        for i in 0..self.relays.len() {
            while let Some(event) = self.relays[i].client.poll_event() {
                let r = &mut self.relays[i];
                let server = Addr(r.client.server());
                match event {
                    TurnEvent::Allocated {
                        relayed, mapped, ..
                    } => {
                        let family = r.base.is_ipv4();
                        r.relayed = relayed.iter().copied().find(|a| a.is_ipv4() == family);
                        r.mapped = mapped;
                        info!(
                            %server,
                            relayed = %Addr(r.relayed),
                            mapped = %Addr(mapped),
                            "TURN allocation granted"
                        );
                        if r.deadline.take().is_some() && !self.closed {
                            self.announce_relay(now, i);
                        }
                    }
                    TurnEvent::Failed(error) => {
                        r.deadline = None;
                        warn!(%server, code = error.code(), reason = %error, "TURN allocation failed");
                        self.diagnostics.turn_failed += 1;
                        self.diagnostics.turn_error = error.code().or(self.diagnostics.turn_error);
                    }
                    TurnEvent::PermissionCreated { peer } => {
                        debug!(%server, peer = %Addr(peer), "TURN permission created");
                        if let Some(relayed) = r.relayed {
                            self.resend_relayed_checks(now, relayed, peer);
                        }
                    }
                    TurnEvent::PermissionFailed { peer, error } => {
                        info!(
                            %server,
                            peer = %Addr(peer),
                            code = error.code(),
                            reason = %error,
                            "TURN permission refused"
                        );
                        if let Some(relayed) = r.relayed {
                            self.note_permission_failed(relayed, peer, error.code());
                        }
                    }
                    TurnEvent::ChannelBindFailed { peer, error } => {
                        debug!(%server, remote = %Addr(peer), reason = %error, "TURN channel bind failed");
                    }
                    other => debug!(%server, turn_event = ?other, "TURN event"),
                }
            }
        }
    }

    /// Checks from `relayed` to `peer` cannot leave the TURN server without a permission
    /// (RFC 8656 §9): their timeouts are that failure.
    fn note_permission_failed(&mut self, relayed: SocketAddr, peer: IpAddr, code: Option<u16>) {
        let why = PairFailure::TurnPermission(code);
        for p in self.checklist.pairs_mut() {
            if p.base == relayed && p.remote_addr.ip() == peer {
                p.timeout_means = Some(why);
                if p.failure == Some(PairFailure::TimedOut) {
                    p.failure = Some(why);
                }
            }
        }
    }

    /// The server drops data towards a peer until its permission is installed (RFC 8656
    /// §11.2), so checks sent from `relayed` to `peer` before then were lost: resend them at
    /// once instead of waiting out their RTO.
    fn resend_relayed_checks(&mut self, now: Instant, relayed: SocketAddr, peer: IpAddr) {
        let waiting: Vec<_> = self
            .checklist
            .pairs()
            .iter()
            .filter(|p| {
                p.base == relayed && p.remote_addr.ip() == peer && p.state == PairState::InProgress
            })
            .filter_map(|p| Some((p.id, p.transaction?, p.remote_addr)))
            .collect();
        for (id, tid, destination) in waiting {
            self.resend_check(now, id, tid, relayed, destination);
        }
    }

    /// Relay timers: TURN retransmissions and refreshes, and gathering deadlines.
    pub(crate) fn relay_timeout(&mut self, now: Instant) {
        for r in &mut self.relays {
            r.client.handle_timeout(now);
            if r.deadline.is_some_and(|d| now >= d) {
                // The server did not answer in time: it no longer holds gathering back.
                r.deadline = None;
                if r.relayed.is_none() {
                    info!(
                        server = %Addr(r.client.server()),
                        reason = "no allocation within the gathering timeout",
                        "TURN server given up on"
                    );
                    self.diagnostics.turn_failed += 1;
                    r.client.close(now);
                }
            }
        }
        self.drain_relay_events(now);
    }

    /// The earliest relay timer.
    pub(crate) fn relay_poll_timeout(&self) -> Option<Instant> {
        self.relays
            .iter()
            .flat_map(|r| [r.client.poll_timeout(), r.deadline])
            .flatten()
            .min()
    }

    /// The next TURN request (Allocate, Refresh, CreatePermission, ChannelBind) to send.
    pub(crate) fn poll_relay_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        for r in &mut self.relays {
            while let Some(t) = r.client.poll_transmit() {
                let Some(out) = buf.get_mut(..t.payload.len()) else {
                    continue; // Too big for the caller: lost, the client retransmits.
                };
                out.copy_from_slice(t.payload);
                return Some(Transmit {
                    source: r.base,
                    destination: t.destination,
                    len: t.payload.len(),
                    ice_tcp: false,
                });
            }
        }
        None
    }

    /// Installs a permission for the peer's IP on the allocation of `relayed` before the first
    /// check towards it (RFC 8656 §9: without one the server drops the data).
    pub(crate) fn relay_permission(&mut self, relayed: SocketAddr, peer: SocketAddr) {
        let now = self.last_now;
        if let Some(r) = self.relays.iter_mut().find(|r| r.relayed == Some(relayed)) {
            if !r.client.has_permission(peer.ip()) {
                let _ = r.client.create_permission(now, peer.ip());
            }
        }
    }

    /// Binds a channel on the selected relayed pair so application data travels as ChannelData
    /// (RFC 8656 §12).
    pub(crate) fn relay_bind_channel(
        &mut self,
        now: Instant,
        relayed: SocketAddr,
        peer: SocketAddr,
    ) {
        if let Some(r) = self.relays.iter_mut().find(|r| r.relayed == Some(relayed)) {
            let _ = r.client.bind_channel(now, peer);
        }
    }

    /// Frames application data for a relayed selected path.
    pub(crate) fn relay_send(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        payload: &[u8],
        buf: &mut [u8],
    ) -> Option<Result<Transmit, IceError>> {
        let now = self.last_now;
        let r = self.relays.iter_mut().find(|r| r.relayed == Some(source))?;
        Some(match r.client.send_to(now, destination, payload, buf) {
            Ok(len) => Ok(Transmit {
                source: r.base,
                destination: r.client.server(),
                len,
                ice_tcp: false,
            }),
            Err(SendError::BufferTooSmall | SendError::TooLong) => Err(IceError::BufferTooSmall),
            Err(_) => Err(IceError::NotConnected),
        })
    }

    /// Bytes read from a stream: one the driver opened from `local` to a TURN server
    /// configured with [`floe_turn::Transport::Stream`] (TCP, or TLS after decryption), or an
    /// ICE-TCP connection (RFC 6544; `server` is then the connection's remote address).
    /// Relayed application data, and application data on an ICE-TCP connection, is queued
    /// for [`IceAgent::poll_stream_data`].
    ///
    /// An error means the stream lost its framing (RFC 8656 §11.5, RFC 4571) or, on an
    /// accepted ICE-TCP connection, did not start with an authenticated check: the driver
    /// should close it (for an ICE-TCP connection a [`crate::StreamCommand::Close`] says so
    /// too, and the agent has forgotten it already; for a TURN stream report
    /// [`IceAgent::handle_stream_closed`]).
    pub fn handle_stream_data(
        &mut self,
        now: Instant,
        local: SocketAddr,
        server: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), IceError> {
        if let Some(result) = self.tcp_stream_data(now, local, server, bytes) {
            return result;
        }
        let Some(i) = self.stream_relay(local, server) else {
            return Ok(());
        };
        self.relays[i].client.push_stream(bytes);
        loop {
            // Copied out: the payload borrows the client, and handling it needs the agent.
            let data = match self.relays[i].client.poll_stream(now) {
                None => break,
                Some(Err(_)) => {
                    self.handle_stream_closed(now, local, server);
                    return Err(IceError::Closed);
                }
                Some(Ok(Received::Data { peer, data })) => (peer, data.to_vec()),
                Some(Ok(_)) => continue,
            };
            let Some(relayed) = self.relays[i].relayed.filter(|_| !self.closed) else {
                continue;
            };
            let (peer, data) = data;
            if self.handle_direct(now, relayed, peer, &data) == Verdict::ApplicationData {
                let queue = self.stream_data.get_or_insert_with(Default::default);
                if queue.len() >= MAX_STREAM_DATA {
                    queue.pop_front(); // Datagram semantics: drop the oldest.
                }
                queue.push_back(data);
            }
        }
        self.drain_relay_events(now);
        self.drive(now);
        Ok(())
    }

    /// The stream to a TURN server closed (or failed to connect): the allocation is gone with
    /// it (RFC 8656 §3.1), so it no longer holds gathering back, and pairs on it fail their
    /// checks or consent. For an ICE-TCP connection (or a [`crate::StreamCommand::Connect`]
    /// that failed, with its addresses) the pair it carried fails.
    pub fn handle_stream_closed(&mut self, now: Instant, local: SocketAddr, server: SocketAddr) {
        if self.tcp_stream_closed(now, local, server).is_some() {
            return;
        }
        let Some(i) = self.stream_relay(local, server) else {
            return;
        };
        let r = &mut self.relays[i];
        r.deadline = None;
        let Some(relayed) = r.relayed.take() else {
            self.drive(now);
            return;
        };
        // Pairs on the relayed address fail; if one was selected, the selection is gone.
        let on_relay: Vec<_> = self
            .checklist
            .pairs()
            .iter()
            .filter(|p| p.base == relayed)
            .map(|p| (p.id, p.transaction))
            .collect();
        for (id, transaction) in on_relay {
            if let Some(tid) = transaction {
                self.transactions.cancel(tid);
            }
            if let Some(p) = self.checklist.get_mut(id) {
                p.state = PairState::Failed;
                p.transaction = None;
                p.valid = false;
                p.nominated = false;
                p.nominating = false;
                p.nominate_on_success = false;
            }
            if self.selected == Some(id) {
                self.selected = None;
                self.consent = None;
                self.lost_selection = true;
            }
        }
        if self
            .previous
            .as_ref()
            .is_some_and(|p| p.consent.path.0 == relayed)
        {
            self.previous = None;
        }
        self.drive(now);
    }

    /// The next application datagram relayed over a TURN stream, or received on an ICE-TCP
    /// connection.
    #[must_use]
    pub fn poll_stream_data(&mut self) -> Option<Vec<u8>> {
        let queue = self.stream_data.as_mut()?;
        let data = queue.pop_front();
        if queue.is_empty() {
            self.stream_data = None;
        }
        data
    }

    fn stream_relay(&self, local: SocketAddr, server: SocketAddr) -> Option<usize> {
        self.relays.iter().position(|r| {
            r.base == local
                && r.client.server() == server
                && r.client.config().transport.is_reliable()
        })
    }

    /// A datagram from a TURN server on the base its client uses: the client's, or relayed
    /// data handled as if received on the relayed address from the peer. `None` when no client
    /// claims it.
    pub(crate) fn handle_relay_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
    ) -> Option<Verdict> {
        let i = self.relays.iter().position(|r| {
            r.base == local
                && r.client.server() == remote
                && !r.client.config().transport.is_reliable()
        })?;
        let received = self.relays[i].client.handle_datagram(now, remote, datagram);
        match received {
            Received::Ignored => None,
            Received::Handled => {
                self.drain_relay_events(now);
                self.drive(now);
                Some(Verdict::Stun)
            }
            Received::Data { peer, data } => {
                let Some(relayed) = self.relays[i].relayed.filter(|_| !self.closed) else {
                    return Some(Verdict::NotForUs);
                };
                // The payload is a sub-slice of the datagram (ChannelData or DATA attribute).
                let start = data.as_ptr() as usize - datagram.as_ptr() as usize;
                let verdict = self.handle_direct(now, relayed, peer, data);
                Some(match verdict {
                    Verdict::ApplicationData => Verdict::RelayedData {
                        start,
                        end: start + data.len(),
                    },
                    other => other,
                })
            }
        }
    }
}
