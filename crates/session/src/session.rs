//! [`Session`]: the peer connection without I/O.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::time::Instant;

use floe_ice::{AgentConfig, IceAgent, IceConnectionState, IceEvent, TransportPolicy};
use floe_sdp::{Fingerprint, IceCandidateInit, SessionDescriptionInit};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::convert::{from_sdp_candidate, to_sdp_candidate, to_sdp_candidate_related, Unusable};
use crate::error::SessionError;
use crate::event::{PeerConnectionState, PeerEvent, SignalingState, Status};
use crate::lookups::{CandidateLookups, LocalNetwork};
use crate::stats::{self, StatsReport};

/// Candidates trickled before the remote description that wait for it, at most (the agent's
/// default limit of remote candidates).
const MAX_PENDING_CANDIDATES: usize = 100;

/// The smallest buffer [`Session::poll_transmit`] and [`Session::send`] write into.
pub const MIN_TRANSMIT_BUFFER: usize = floe_ice::MIN_TRANSMIT_BUFFER;

/// How the session is set up: the RTCConfiguration part that is protocol, with servers already
/// resolved to addresses (DNS is the runtime's).
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// STUN servers for server-reflexive candidates.
    pub stun_servers: Vec<SocketAddr>,
    /// TURN servers for relayed candidates; those with [`floe_ice::TurnTransport::Stream`]
    /// are reached over a TCP or TLS stream the runtime opens ([`Over::Stream`]).
    pub turn_servers: Vec<floe_ice::TurnServerConfig>,
    /// `iceTransportPolicy`.
    pub transport_policy: TransportPolicy,
    /// SOFTWARE in the agent's STUN messages.
    pub software: Option<String>,
    /// `a=sctp-port` of the data channel section.
    pub sctp_port: u16,
    /// `a=fingerprint`; `None`: a random `sha-256` placeholder from the seed (there is no DTLS
    /// yet, so it only has to parse).
    pub fingerprint: Option<Fingerprint>,
    /// Resolve remote `.local` candidates with multicast DNS (RFC 6762); off, they are
    /// skipped and the peer's checks still reach us (peer-reflexive candidates).
    pub mdns: bool,
    /// The local networks mDNS answers may come from (RFC 6762 §11); empty: only the bases'
    /// own addresses, and link-local ones.
    pub local_networks: Vec<LocalNetwork>,
    /// Run as an ICE-lite agent (RFC 8445 §2.5), the server case: host candidates only, no
    /// checks of its own, always controlled; descriptions carry `a=ice-lite`.
    pub lite: bool,
    /// ICE over TCP (RFC 6544, [`floe_ice::AgentConfig::ice_tcp`]; off by default): TCP
    /// candidates are gathered (an active one on every host address, a passive one on every
    /// listener registered with [`Session::add_local_tcp_listener`]) and the peer's are used.
    /// The runtime then follows [`Session::poll_stream_command`]. UDP pairs always outrank
    /// TCP ones. Off, remote TCP candidates are skipped.
    pub ice_tcp: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            stun_servers: Vec::new(),
            turn_servers: Vec::new(),
            transport_policy: TransportPolicy::All,
            software: None,
            sctp_port: 5000,
            fingerprint: None,
            mdns: true,
            local_networks: Vec::new(),
            lite: false,
            ice_tcp: false,
        }
    }
}

/// How a [`Transmit`] travels.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Over {
    /// A UDP datagram from the socket bound at `source`.
    Udp,
    /// Bytes on the stream from `source`'s IP to the TURN server at `destination` (TCP, or
    /// TLS for a `turns:` server): open it on first use, report what it reads with
    /// [`Session::handle_stream_data`] and its end with [`Session::handle_stream_closed`].
    /// Also the bytes of an ICE-TCP connection (RFC 6544, already framed) between `source`
    /// and `destination` ([`SessionConfig::ice_tcp`]): write them to that connection, which
    /// [`Session::handle_stream_connected`] or [`Session::handle_stream_accepted`] reported;
    /// none is opened for it.
    Stream,
    /// A multicast DNS query to `destination` (224.0.0.251:5353 or \[ff02::fb\]:5353): send
    /// it from an ephemeral port (never 5353) on every local address of that family, and
    /// hand what comes back to [`Session::handle_mdns_datagram`]. `source` is the unspecified
    /// address.
    Multicast,
}

/// Bytes to send: the first `len` bytes of the buffer passed in.
#[must_use = "a transmit that is not sent is a lost packet"]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Transmit {
    /// The local address to send from (see [`Over`]).
    pub source: SocketAddr,
    /// Where to send it.
    pub destination: SocketAddr,
    /// How.
    pub over: Over,
    /// The number of bytes written into the caller's buffer.
    pub len: usize,
}

/// A sans-IO RTCPeerConnection for one data transport: JSEP signaling (offer/answer,
/// trickle, restart) over a [`floe_ice::IceAgent`], with the browser's events.
///
/// See the [crate documentation](crate) for the drive loop.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    /// Seeds the agent; a new agent (there is one per session) would take the same.
    seed: [u8; 32],
    bases: Vec<SocketAddr>,
    /// ICE-TCP listeners, handed to the agent when it is created.
    tcp_listeners: Vec<SocketAddr>,
    /// Created once the role is known: by `create_offer` (controlling) or by applying a remote
    /// offer (controlled), since the agent takes its role at construction.
    agent: Option<IceAgent>,
    fingerprint: Fingerprint,
    signaling_state: SignalingState,
    local_description: Option<SessionDescriptionInit>,
    remote_description: Option<SessionDescriptionInit>,
    /// `sdpMid` / `sdpMLineIndex` of the data section, for outgoing `icecandidate`s.
    mid: Option<String>,
    m_line_index: u16,
    /// Candidates trickled before the remote description, applied with it.
    pending_candidates: Vec<floe_ice::Candidate>,
    pending_end_of_candidates: bool,
    connection_state: PeerConnectionState,
    /// `restartIce()` was called: the next offer restarts ICE.
    restart_pending: bool,
    /// mDNS lookups of remote `.local` candidates, opened on the first one.
    lookups: Option<CandidateLookups>,
    /// The peer's end-of-candidates, held back while lookups are under way (at most the
    /// resolver's 2 s timeout) so that no resolved candidate comes after it.
    deferred_end_of_candidates: bool,
    events: VecDeque<PeerEvent>,
    closed: bool,
}

impl Session {
    /// A session sending from `bases` (the runtime's bound UDP sockets: the host candidates'
    /// bases). `seed` keys every secret (ICE credentials, tie-breaker, transaction ids): fill
    /// it from the OS.
    pub fn new(config: SessionConfig, bases: &[SocketAddr], seed: [u8; 32]) -> Self {
        let mut rng = StdRng::from_seed(seed);
        let mut agent_seed = [0u8; 32];
        rng.fill_bytes(&mut agent_seed);
        let fingerprint = config
            .fingerprint
            .clone()
            .unwrap_or_else(|| placeholder_fingerprint(&mut rng));
        Self {
            config,
            seed: agent_seed,
            bases: bases.to_vec(),
            tcp_listeners: Vec::new(),
            agent: None,
            fingerprint,
            signaling_state: SignalingState::Stable,
            local_description: None,
            remote_description: None,
            mid: Some("0".to_owned()),
            m_line_index: 0,
            pending_candidates: Vec::new(),
            pending_end_of_candidates: false,
            connection_state: PeerConnectionState::New,
            restart_pending: false,
            lookups: None,
            deferred_end_of_candidates: false,
            events: VecDeque::new(),
            closed: false,
        }
    }

    /// The agent, once the role is known (for stats and inspection).
    pub fn agent(&self) -> Option<&IceAgent> {
        self.agent.as_ref()
    }

    /// `signalingState`.
    pub fn signaling_state(&self) -> SignalingState {
        self.signaling_state
    }

    /// `connectionState`.
    pub fn connection_state(&self) -> PeerConnectionState {
        self.connection_state
    }

    /// True once [`Session::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// `createOffer()`: a data channel offer. The offerer's agent is controlling; after
    /// [`Session::restart_ice`] the offer carries new credentials (JSEP §5.2.1).
    pub fn create_offer(&mut self, now: Instant) -> Result<SessionDescriptionInit, SessionError> {
        self.check_open()?;
        if self.signaling_state == SignalingState::HaveRemoteOffer {
            return Err(SessionError::InvalidState(
                "createOffer with a remote offer applied",
            ));
        }
        if self.agent.is_none() {
            self.agent = Some(self.new_agent(now, true));
        } else if std::mem::take(&mut self.restart_pending) {
            // The agent gathers from here rather than from setLocalDescription: its credentials
            // change now.
            if let Some(agent) = &mut self.agent {
                agent.restart(now);
            }
            self.pending_candidates.clear();
            self.pending_end_of_candidates = false;
        }
        let (candidates, complete) = self.gathered();
        let creds = self.agent.as_ref().map(|a| a.local_credentials().clone());
        let creds = creds.ok_or(SessionError::Closed)?;
        Ok(crate::description::offer(
            &creds,
            &self.fingerprint,
            self.config.sctp_port,
            self.config.lite,
            candidates,
            complete,
        ))
    }

    /// `createAnswer()`: the answer to the applied remote offer.
    pub fn create_answer(&mut self) -> Result<SessionDescriptionInit, SessionError> {
        self.check_open()?;
        if self.signaling_state != SignalingState::HaveRemoteOffer {
            return Err(SessionError::InvalidState(
                "createAnswer without a remote offer",
            ));
        }
        let offer = self
            .remote_description
            .as_ref()
            .ok_or(SessionError::Closed)?;
        let offer = crate::description::parse(offer)?;
        let (candidates, complete) = self.gathered();
        let creds = self.agent.as_ref().map(|a| a.local_credentials().clone());
        let creds = creds.ok_or(SessionError::Closed)?;
        Ok(crate::description::answer(
            &offer,
            &creds,
            &self.fingerprint,
            self.config.sctp_port,
            self.config.lite,
            candidates,
            complete,
        ))
    }

    /// `setLocalDescription()`: applies an offer or answer this session created; gathering
    /// starts (JSEP §5.5, §5.6).
    pub fn set_local_description(
        &mut self,
        now: Instant,
        init: SessionDescriptionInit,
    ) -> Result<(), SessionError> {
        self.check_open()?;
        let desc = crate::description::parse(&init)?;
        let agent = self.agent.as_mut().ok_or(SessionError::InvalidState(
            "setLocalDescription before createOffer",
        ))?;
        // The credentials are the agent's; a description carrying others was not made here.
        let index = crate::description::data_section(&desc)?;
        if desc.ice_ufrag_for(index) != Some(agent.local_credentials().ufrag.as_str()) {
            return Err(SessionError::InvalidDescription(
                "ice-ufrag differs from the one createOffer/createAnswer made".into(),
            ));
        }
        let state = match (init.sdp_type, self.signaling_state) {
            (floe_sdp::SdpType::Offer, SignalingState::Stable | SignalingState::HaveLocalOffer) => {
                SignalingState::HaveLocalOffer
            }
            (floe_sdp::SdpType::Answer, SignalingState::HaveRemoteOffer) => SignalingState::Stable,
            _ => {
                return Err(SessionError::InvalidState(
                    "setLocalDescription of this type now",
                ))
            }
        };
        self.mid = desc.media[index].mid().map(str::to_owned);
        self.m_line_index = u16::try_from(index).unwrap_or(0);
        // JSEP: gathering begins when the local description is applied (a no-op once begun).
        agent.start_gathering(now);
        self.local_description = Some(init);
        self.set_signaling_state(state);
        Ok(())
    }

    /// `setRemoteDescription()`: applies the peer's offer or answer. An offer with a new
    /// `ice-ufrag` restarts ICE (RFC 8839 §4.4.1.1.1); candidates trickled before it are
    /// applied with it.
    pub fn set_remote_description(
        &mut self,
        now: Instant,
        init: SessionDescriptionInit,
    ) -> Result<(), SessionError> {
        use floe_sdp::SdpType;
        self.check_open()?;
        let desc = crate::description::parse(&init)?;
        let index = crate::description::data_section(&desc)?;
        let state = match (init.sdp_type, self.signaling_state) {
            (SdpType::Offer, SignalingState::Stable | SignalingState::HaveRemoteOffer) => {
                SignalingState::HaveRemoteOffer
            }
            (SdpType::Answer, SignalingState::HaveLocalOffer) => SignalingState::Stable,
            _ => {
                return Err(SessionError::InvalidState(
                    "setRemoteDescription of this type now",
                ))
            }
        };
        let (Some(ufrag), Some(pwd)) = (desc.ice_ufrag_for(index), desc.ice_pwd_for(index)) else {
            return Err(SessionError::InvalidDescription(
                "no ice-ufrag/ice-pwd".into(),
            ));
        };
        if init.sdp_type == SdpType::Offer && self.agent.is_none() {
            self.agent = Some(self.new_agent(now, false));
            // An answer mirrors the offer's section, so candidates carry its mid and index.
            self.mid = desc.media[index].mid().map(str::to_owned);
            self.m_line_index = u16::try_from(index).unwrap_or(0);
        }
        let agent = self.agent.as_mut().ok_or(SessionError::Closed)?;
        let changed = agent.remote_ufrag().is_some_and(|u| u != ufrag);
        if init.sdp_type == SdpType::Offer && changed {
            // Our answer then carries new credentials too (RFC 8445 §9).
            agent.restart(now);
        }
        agent.set_remote_credentials(now, ufrag, pwd);
        if desc.ice_lite() {
            agent.set_remote_lite(now, true);
        }
        let media = &desc.media[index];
        for c in media.candidates() {
            // Refusals are the agent's to log.
            match from_sdp_candidate(&c) {
                Ok(c) if c.tcp_type.is_some() && !agent.config().ice_tcp => {
                    skipped(&Unusable::Transport);
                }
                Ok(c) => {
                    let _ = agent.add_remote_candidate(now, c);
                }
                Err(why) => skipped(&why),
            }
        }
        for c in self.pending_candidates.drain(..) {
            let _ = agent.add_remote_candidate(now, c);
        }
        if media.end_of_candidates() || std::mem::take(&mut self.pending_end_of_candidates) {
            agent.add_remote_end_of_candidates(now);
        }
        self.remote_description = Some(init);
        self.set_signaling_state(state);
        Ok(())
    }

    /// `addIceCandidate()`: a trickled candidate, or `None` for the peer's end-of-candidates.
    /// Candidates of an earlier ICE generation (another `usernameFragment`) are dropped; TCP
    /// and unknown types are skipped without error, as in browsers; `.local` names are
    /// resolved first when [`SessionConfig::mdns`] is on.
    pub fn add_ice_candidate(
        &mut self,
        now: Instant,
        init: Option<IceCandidateInit>,
    ) -> Result<(), SessionError> {
        self.check_open()?;
        let parsed = match &init {
            None => None,
            Some(i) => i
                .parse_candidate()
                .map_err(|e| SessionError::InvalidCandidate(format!("{:?}: {e}", i.candidate)))?,
        };
        let Some(c) = parsed else {
            self.add_end_of_candidates(now);
            return Ok(());
        };
        let current = self.agent.as_ref().and_then(IceAgent::remote_ufrag);
        let theirs = init
            .as_ref()
            .and_then(|i| i.username_fragment.as_deref())
            .filter(|u| !u.is_empty());
        if let (Some(theirs), Some(current)) = (theirs, current) {
            if theirs != current {
                tracing::debug!(
                    reason = "usernameFragment of another ICE generation",
                    "remote candidate dropped"
                );
                return Ok(());
            }
        }
        match from_sdp_candidate(&c) {
            Ok(c) => self.add_remote(now, c)?,
            Err(Unusable::Fqdn(_)) => self.resolve_candidate(now, c),
            Err(why) => skipped(&why),
        }
        Ok(())
    }

    /// `restartIce()`: the next [`Session::create_offer`] restarts ICE.
    pub fn restart_ice(&mut self) -> Result<(), SessionError> {
        self.check_open()?;
        self.restart_pending = true;
        Ok(())
    }

    /// `close()`: the agent stops; `closed` is reported.
    pub fn close(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if let Some(agent) = &mut self.agent {
            agent.close(now);
        } else if self.connection_state != PeerConnectionState::Closed {
            // No agent yet: report `closed` all the same, like a browser.
            self.emit(IceEvent::ConnectionStateChange(IceConnectionState::Closed));
        }
        // webrtc-pc §4.4.1.5: closing sets the signaling state without an event.
        self.signaling_state = SignalingState::Closed;
        self.closed = true;
        self.collect_events();
    }

    /// A datagram the socket bound at `local` received from `remote`. Returns the range of
    /// `bytes` that is application data from the peer, if any (relayed data sits inside the
    /// TURN framing).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) -> Option<Range<usize>> {
        let agent = self.agent.as_mut()?;
        let verdict = agent.handle_datagram(now, local, remote, bytes);
        let range = verdict.payload_range(bytes.len());
        self.collect_events();
        range
    }

    /// Bytes read from the stream from `base` to the TURN server `server`, or from an ICE-TCP
    /// connection (`base` its local address, `server` its remote one). Application data they
    /// carried comes out of [`Session::poll_stream_data`]. An error means the stream lost its
    /// framing (or an accepted ICE-TCP connection did not start with an authenticated check):
    /// close it.
    pub fn handle_stream_data(
        &mut self,
        now: Instant,
        base: SocketAddr,
        server: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), SessionError> {
        let Some(agent) = self.agent.as_mut() else {
            return Ok(());
        };
        let result = agent.handle_stream_data(now, base, server, bytes);
        self.collect_events();
        result.map_err(SessionError::from)
    }

    /// The stream from `base` to `server` ended (or could not be opened). Also an ICE-TCP
    /// connection that ended, or a [`floe_ice::StreamCommand::Connect`] that failed (with its
    /// addresses).
    pub fn handle_stream_closed(&mut self, now: Instant, base: SocketAddr, server: SocketAddr) {
        if let Some(agent) = self.agent.as_mut() {
            agent.handle_stream_closed(now, base, server);
        }
        self.collect_events();
    }

    /// The next application datagram that arrived over a TURN stream or an ICE-TCP
    /// connection.
    pub fn poll_stream_data(&mut self) -> Option<Vec<u8>> {
        self.agent.as_mut()?.poll_stream_data()
    }

    /// Registers a listening TCP socket bound at `addr` (one IP address, not the unspecified
    /// one, on another port than the UDP sockets): a passive ICE-TCP candidate, and an active
    /// one on its IP address ([`floe_ice::IceAgent::add_local_tcp_listener`]). Ignored without
    /// [`SessionConfig::ice_tcp`]. May be called before the agent exists: it gets them all.
    pub fn add_local_tcp_listener(&mut self, now: Instant, addr: SocketAddr) {
        if !self.config.ice_tcp || self.tcp_listeners.contains(&addr) {
            return;
        }
        self.tcp_listeners.push(addr);
        if let Some(agent) = &mut self.agent {
            agent.add_local_tcp_listener(now, addr);
        }
        self.collect_events();
    }

    /// The next thing the agent asks of the runtime's ICE-TCP connections: open one
    /// ([`floe_ice::StreamCommand::Connect`]: from the IP address of `local`, any port, with a
    /// timeout) or close one ([`floe_ice::StreamCommand::Close`]). Drain it after every input,
    /// like [`Session::poll_transmit`].
    pub fn poll_stream_command(&mut self) -> Option<floe_ice::StreamCommand> {
        self.agent.as_mut()?.poll_stream_command()
    }

    /// The connection a [`floe_ice::StreamCommand::Connect`] asked for is open: `local` and
    /// `remote` as in the command, `bound` its local address
    /// ([`floe_ice::IceAgent::handle_stream_connected`]).
    pub fn handle_stream_connected(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bound: SocketAddr,
    ) {
        if let Some(agent) = self.agent.as_mut() {
            agent.handle_stream_connected(now, local, remote, bound);
        }
        self.collect_events();
    }

    /// A listener registered with [`Session::add_local_tcp_listener`] accepted a connection
    /// from `remote` ([`floe_ice::IceAgent::handle_stream_accepted`]). An error (no agent yet,
    /// ICE-TCP off, too many connections, closed): close the connection at once.
    pub fn handle_stream_accepted(
        &mut self,
        now: Instant,
        listener: SocketAddr,
        remote: SocketAddr,
    ) -> Result<(), SessionError> {
        let agent =
            self.agent
                .as_mut()
                .ok_or(SessionError::Ice(floe_ice::IceError::StreamRefused(
                    "no ICE agent yet",
                )))?;
        let result = agent.handle_stream_accepted(now, listener, remote);
        self.collect_events();
        result.map_err(SessionError::from)
    }

    /// A datagram an mDNS socket received (answers to [`Over::Multicast`] queries). Answers
    /// from off the local link are dropped (RFC 6762 §11).
    pub fn handle_mdns_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if let Some(lookups) = &mut self.lookups {
            lookups.handle_datagram(now, from, bytes);
        }
        self.add_resolved(now);
    }

    /// Timers: the agent's, and the mDNS lookups'.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(lookups) = &mut self.lookups {
            lookups.handle_timeout(now);
        }
        self.add_resolved(now);
        if let Some(agent) = &mut self.agent {
            if agent.poll_timeout().is_some_and(|t| t <= now) {
                agent.handle_timeout(now);
            }
        }
        self.collect_events();
    }

    /// When [`Session::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let agent = self.agent.as_ref().and_then(IceAgent::poll_timeout);
        let lookups = self
            .lookups
            .as_ref()
            .and_then(CandidateLookups::poll_timeout);
        match (agent, lookups) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next thing to send, written into `buf` (at least [`MIN_TRANSMIT_BUFFER`] bytes).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(lookups) = &mut self.lookups {
            if let Some(t) = lookups.poll_transmit(buf) {
                let unspecified = if t.destination.is_ipv4() {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                } else {
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                };
                return Some(Transmit {
                    source: SocketAddr::new(unspecified, 0),
                    destination: t.destination,
                    over: Over::Multicast,
                    len: t.len,
                });
            }
        }
        let agent = self.agent.as_mut()?;
        // Only a buffer below MIN_TRANSMIT_BUFFER fails; nothing is sent then.
        let t = agent.poll_transmit(buf).ok()??;
        Some(self.transmit(t))
    }

    /// The next event, in the order the browser fires them.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.collect_events();
        let event = self.events.pop_front();
        if event.is_none() && self.events.capacity() > 0 {
            // Events are rare once connected: an idle session keeps no room for them.
            self.events = VecDeque::new();
        }
        event
    }

    /// Frames an application datagram for the selected pair into `buf`.
    pub fn send(&mut self, payload: &[u8], buf: &mut [u8]) -> Result<Transmit, SessionError> {
        self.check_open()?;
        let agent = self
            .agent
            .as_mut()
            .ok_or(SessionError::Ice(floe_ice::IceError::NotConnected))?;
        let t = agent.send(payload, buf)?;
        Ok(self.transmit(t))
    }

    /// `getStats()`: the ICE part.
    pub fn stats(&self) -> StatsReport {
        stats::report(self.agent.as_ref())
    }

    /// A snapshot of the connection's state, descriptions included.
    pub fn status(&self) -> Status {
        let (gathering, ice) = match &self.agent {
            Some(a) => (a.gathering_state(), a.connection_state()),
            None => (floe_ice::IceGatheringState::New, IceConnectionState::New),
        };
        Status {
            signaling_state: self.signaling_state,
            ice_gathering_state: gathering,
            ice_connection_state: ice,
            connection_state: self.connection_state,
            selected_path: self.agent.as_ref().and_then(IceAgent::selected_path),
            ice_failure: self.agent.as_ref().and_then(IceAgent::failure),
            ice_checks: self.agent.as_ref().map(IceAgent::check_summary),
            local_description: self.current_local_description(),
            remote_description: self.remote_description.clone(),
        }
    }

    /// `localDescription` as browsers report it (webrtc-pc §4.4.1.1): the applied description
    /// with every candidate gathered since, and `a=end-of-candidates` once complete.
    pub fn local_description(&self) -> Option<SessionDescriptionInit> {
        self.current_local_description()
    }

    fn current_local_description(&self) -> Option<SessionDescriptionInit> {
        let init = self.local_description.as_ref()?;
        let (candidates, complete) = self.gathered();
        Some(crate::description::with_candidates(
            init,
            usize::from(self.m_line_index),
            &candidates,
            complete,
        ))
    }

    fn transmit(&self, t: floe_ice::Transmit) -> Transmit {
        // A TURN server reached over TCP or TLS, or an ICE-TCP connection (RFC 6544).
        let stream =
            self.config.turn_servers.iter().any(|s| {
                s.server == t.destination && s.transport == floe_ice::TurnTransport::Stream
            }) || t.ice_tcp;
        Transmit {
            source: t.source,
            destination: t.destination,
            over: if stream { Over::Stream } else { Over::Udp },
            len: t.len,
        }
    }

    fn check_open(&self) -> Result<(), SessionError> {
        if self.closed {
            return Err(SessionError::Closed);
        }
        Ok(())
    }

    fn set_signaling_state(&mut self, state: SignalingState) {
        if state != self.signaling_state {
            self.signaling_state = state;
            self.events
                .push_back(PeerEvent::SignalingStateChange(state));
        }
    }

    fn new_agent(&self, now: Instant, controlling: bool) -> IceAgent {
        let config = AgentConfig {
            controlling,
            stun_servers: self.config.stun_servers.clone(),
            turn_servers: self.config.turn_servers.clone(),
            transport_policy: self.config.transport_policy,
            software: self.config.software.clone(),
            lite: self.config.lite,
            ice_tcp: self.config.ice_tcp,
            ..AgentConfig::default()
        };
        let mut agent = IceAgent::new(config, now, self.seed);
        for base in &self.bases {
            agent.add_local_socket(now, *base);
        }
        for listener in &self.tcp_listeners {
            agent.add_local_tcp_listener(now, *listener);
        }
        agent
    }

    /// The local candidates gathered so far, for descriptions created after gathering began.
    fn gathered(&self) -> (Vec<floe_sdp::Candidate>, bool) {
        match &self.agent {
            Some(a) => (
                a.local_candidates()
                    .iter()
                    .map(|c| to_sdp_candidate_related(c, a.related_address(c)))
                    .collect(),
                a.gathering_state() == floe_ice::IceGatheringState::Complete,
            ),
            None => (Vec::new(), false),
        }
    }

    /// Adds a usable remote candidate now, or once the remote description is applied (at
    /// most as many as the agent takes; more are dropped, as the agent would).
    fn add_remote(&mut self, now: Instant, c: floe_ice::Candidate) -> Result<(), SessionError> {
        // TCP candidates (RFC 6544) only when the agent does ICE-TCP (`SessionConfig::ice_tcp`):
        // skipped without error otherwise.
        if c.tcp_type.is_some() && !self.agent.as_ref().is_some_and(|a| a.config().ice_tcp) {
            skipped(&Unusable::Transport);
            return Ok(());
        }
        let ready = self.remote_description.is_some();
        match self.agent.as_mut().filter(|_| ready) {
            Some(agent) => agent.add_remote_candidate(now, c)?,
            None if self.pending_candidates.len() < MAX_PENDING_CANDIDATES => {
                self.pending_candidates.push(c);
            }
            None => return Err(SessionError::Ice(floe_ice::IceError::TooManyCandidates)),
        }
        Ok(())
    }

    /// The peer's end-of-candidates: applied now, or once lookups and the remote description
    /// allow.
    fn add_end_of_candidates(&mut self, now: Instant) {
        if self.lookups.as_ref().is_some_and(CandidateLookups::is_busy) {
            self.deferred_end_of_candidates = true;
            return;
        }
        let ready = self.remote_description.is_some();
        match self.agent.as_mut().filter(|_| ready) {
            Some(agent) => agent.add_remote_end_of_candidates(now),
            None => self.pending_end_of_candidates = true,
        }
    }

    /// Starts an mDNS lookup of a UDP candidate's `.local` name.
    fn resolve_candidate(&mut self, now: Instant, c: floe_sdp::Candidate) {
        let is_local = matches!(&c.address, floe_sdp::CandidateAddress::Fqdn(n)
            if n.to_ascii_lowercase().ends_with(".local"));
        if !is_local || c.transport != floe_sdp::Transport::Udp || !self.config.mdns {
            let why = if c.transport == floe_sdp::Transport::Udp {
                Unusable::Fqdn(String::new())
            } else {
                Unusable::Transport
            };
            skipped(&why);
            return;
        }
        let lookups = self.lookups.get_or_insert_with(|| {
            let networks = if self.config.local_networks.is_empty() {
                self.bases
                    .iter()
                    .map(|b| LocalNetwork::host(b.ip()))
                    .collect()
            } else {
                self.config.local_networks.clone()
            };
            CandidateLookups::new(networks)
        });
        lookups.start(now, c);
    }

    /// Hands the candidates whose names resolved to the agent, then a deferred
    /// end-of-candidates once no lookup is left.
    fn add_resolved(&mut self, now: Instant) {
        let Some(lookups) = &mut self.lookups else {
            return;
        };
        let mut resolved = Vec::new();
        while let Some(c) = lookups.poll_resolved() {
            resolved.push(c);
        }
        let idle = !lookups.is_busy();
        for c in resolved {
            if let Ok(c) = from_sdp_candidate(&c) {
                // Past the agent's limit it is dropped, like any other candidate.
                let _ = self.add_remote(now, c);
            }
        }
        if idle && std::mem::take(&mut self.deferred_end_of_candidates) {
            self.add_end_of_candidates(now);
        }
    }

    /// Moves the agent's events into the session's queue, as browser events.
    fn collect_events(&mut self) {
        let Some(agent) = &mut self.agent else { return };
        let mut events = Vec::new();
        while let Some(e) = agent.poll_event() {
            events.push(e);
        }
        for e in events {
            self.emit(e);
        }
    }

    fn emit(&mut self, event: IceEvent) {
        let out = match event {
            IceEvent::GatheringStateChange(s) => PeerEvent::IceGatheringStateChange(s),
            IceEvent::LocalCandidate(c) => {
                let ufrag = self
                    .agent
                    .as_ref()
                    .map(|a| a.local_credentials().ufrag.clone());
                let related = self.agent.as_ref().and_then(|a| a.related_address(&c));
                PeerEvent::IceCandidate(Some(IceCandidateInit::new(
                    &to_sdp_candidate_related(&c, related),
                    self.mid.as_deref(),
                    Some(self.m_line_index),
                    ufrag.as_deref(),
                )))
            }
            IceEvent::EndOfCandidates => PeerEvent::IceCandidate(None),
            IceEvent::ConnectionStateChange(s) => {
                self.events
                    .push_back(PeerEvent::IceConnectionStateChange(s));
                let pc = PeerConnectionState::from_ice(s);
                if pc == self.connection_state {
                    return;
                }
                self.connection_state = pc;
                PeerEvent::ConnectionStateChange(pc)
            }
            IceEvent::SelectedPairChange { local, remote } => {
                let related = self.agent.as_ref().and_then(|a| a.related_address(&local));
                PeerEvent::SelectedCandidatePairChange {
                    local: to_sdp_candidate_related(&local, related),
                    remote: to_sdp_candidate(&remote),
                }
            }
            // Role conflicts are resolved inside the agent; browsers expose no event for them.
            _ => return,
        };
        self.events.push_back(out);
    }
}

/// A syntactically valid `sha-256` fingerprint of random bytes. There is no DTLS yet, so the
/// value only has to parse in a browser or another stack.
fn placeholder_fingerprint(rng: &mut StdRng) -> Fingerprint {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
    Fingerprint::new("sha-256", hex.join(":"))
}

/// Logs a remote candidate the session does not hand to the agent, and why.
fn skipped(why: &Unusable) {
    let reason = match why {
        Unusable::Transport => "not UDP",
        Unusable::Fqdn(_) => {
            "a host name that is not resolved (only .local names are, with mDNS on)"
        }
        Unusable::Type => "unknown candidate type",
    };
    tracing::info!(reason, "remote candidate skipped");
}
