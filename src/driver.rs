//! The task behind a [`crate::PeerConnection`]: it owns the [`IceAgent`] and the UDP sockets,
//! and runs one `select!` loop over socket receives, the agent's next deadline and commands
//! from the handle. After every input it drains the agent's transmits and events.
//!
//! TURN servers reached over TCP or TLS get one stream per (base, server), each owned by a
//! small task of its own; their bytes come back to the loop through a channel.
//!
//! Everything here is plumbing: what to send, when, and what it means is the agent's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_ice::{
    AgentConfig, IceAgent, IceConnectionState, IceEvent, TransportPolicy, TurnServerConfig,
};
use floe_sdp::{
    AnswerBuilder, Fingerprint, IceCandidateInit, OfferBuilder, SdpType, SessionDescription,
    SessionDescriptionInit, Setup,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::config::{Configuration, IceTransportPolicy, TurnUrlTransport};
use crate::convert::{
    from_sdp_candidate, placeholder_fingerprint, to_sdp_candidate, to_sdp_candidate_related,
    Unusable,
};
use crate::error::{Error, Result};
use crate::mdns::CandidateLookups;
use crate::net::{bind_udp, recv_any, MAX_DATAGRAM};
use crate::peer::{EventKind, Listener, PeerConnectionState, PeerEvent, SignalingState, Status};
use crate::stats::{self, StatsReport};

type Reply<T> = oneshot::Sender<Result<T>>;

/// What the handle asks of the task; each carries the channel for its answer.
pub(crate) enum Command {
    CreateOffer(Reply<SessionDescriptionInit>),
    CreateAnswer(Reply<SessionDescriptionInit>),
    SetLocal(SessionDescriptionInit, Reply<()>),
    SetRemote(SessionDescriptionInit, Reply<()>),
    AddCandidate(Option<IceCandidateInit>, Reply<()>),
    Send(Vec<u8>, Reply<()>),
    Status(Reply<Status>),
    Stats(Reply<StatsReport>),
    RestartIce(Reply<()>),
    AddListener(EventKind, Listener, Reply<()>),
    Close(Reply<()>),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Command::CreateOffer(_) => "CreateOffer",
            Command::CreateAnswer(_) => "CreateAnswer",
            Command::SetLocal(..) => "SetLocal",
            Command::SetRemote(..) => "SetRemote",
            Command::AddCandidate(..) => "AddCandidate",
            Command::Send(..) => "Send",
            Command::Status(_) => "Status",
            Command::Stats(_) => "Stats",
            Command::RestartIce(_) => "RestartIce",
            Command::AddListener(kind, ..) => return write!(f, "AddListener({kind:?})"),
            Command::Close(_) => "Close",
        };
        f.write_str(name)
    }
}

/// Binds the sockets, resolves STUN servers and spawns the task. Returns the bound addresses.
pub(crate) async fn spawn(
    config: Configuration,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<PeerEvent>,
    data: mpsc::Sender<Vec<u8>>,
) -> Result<Vec<SocketAddr>> {
    let mut sockets = Vec::new();
    let mut locals = Vec::new();
    for addr in config.bind.resolve()? {
        // An address that cannot be bound (an interface going away) is skipped, like a browser
        // would; only no address at all is an error.
        let Ok(socket) = bind_udp(addr) else { continue };
        let Ok(local) = socket.local_addr() else {
            continue;
        };
        sockets.push(socket);
        locals.push(local);
    }
    if sockets.is_empty() {
        return Err(Error::NoUsableAddress);
    }
    let mut stun_servers = Vec::new();
    for url in config.stun_urls() {
        let resolved = tokio::net::lookup_host((url.host.as_str(), url.port))
            .await
            .map_err(|e| Error::InvalidConfiguration(format!("cannot resolve {url}: {e}")))?;
        for addr in resolved {
            // Only servers some socket can reach by address family are worth a query.
            if locals.iter().any(|l| l.is_ipv4() == addr.is_ipv4()) && !stun_servers.contains(&addr)
            {
                stun_servers.push(addr);
            }
        }
    }
    let mut turn_servers = Vec::new();
    let mut turn_streams = HashMap::new();
    let mut tls_config = None;
    for (url, username, password) in config.turn_urls() {
        let kind = url.turn_transport().unwrap_or(TurnUrlTransport::Udp);
        let tls = match kind {
            TurnUrlTransport::Tls => {
                if tls_config.is_none() {
                    let mut roots = Vec::new();
                    for file in &config.tls_ca_files {
                        roots.extend(crate::tls::read_pem_roots(file)?);
                    }
                    tls_config = Some(crate::tls::client_config(&roots)?);
                }
                tls_config.clone().map(|c| (url.host.clone(), c))
            }
            TurnUrlTransport::Udp | TurnUrlTransport::Tcp => None,
        };
        let resolved = tokio::net::lookup_host((url.host.as_str(), url.port))
            .await
            .map_err(|e| Error::InvalidConfiguration(format!("cannot resolve {url}: {e}")))?;
        for addr in resolved {
            if locals.iter().any(|l| l.is_ipv4() == addr.is_ipv4()) {
                let transport = if kind == TurnUrlTransport::Udp {
                    floe_ice::TurnTransport::Udp
                } else {
                    turn_streams.insert(addr, tls.clone());
                    floe_ice::TurnTransport::Stream
                };
                turn_servers.push(TurnServerConfig {
                    server: addr,
                    transport,
                    username: username.to_owned(),
                    password: password.to_owned(),
                });
                break;
            }
        }
    }
    let fingerprint = match &config.fingerprint {
        Some((hash, digest)) => Fingerprint::new(hash.clone(), digest.clone()),
        None => placeholder_fingerprint(),
    };
    let driver = Driver {
        seed: config.seed.unwrap_or_else(crate::convert::os_random),
        config,
        stun_servers,
        turn_servers,
        turn_streams,
        links: HashMap::new(),
        link_events: mpsc::channel(LINK_QUEUE),
        sockets,
        locals: locals.clone(),
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
        listeners: Vec::new(),
        events,
        data,
        send_buf: vec![0; MAX_DATAGRAM],
        closed: false,
    };
    tokio::spawn(driver.run(commands));
    Ok(locals)
}

/// What woke the loop.
enum Input {
    Command(Option<Command>),
    Datagram(usize, std::io::Result<(usize, SocketAddr)>),
    Stream(LinkEvent),
    Mdns(std::io::Result<(usize, SocketAddr)>),
    Timeout,
}

/// TLS parameters of a `turns:` server: the name its certificate must carry, and the config.
type TlsTarget = Option<(String, Arc<rustls::ClientConfig>)>;

/// What a TURN stream task reports: bytes read, or the end of the stream.
struct LinkEvent {
    base: SocketAddr,
    server: SocketAddr,
    /// `None`: the stream closed or could not be opened.
    bytes: Option<Vec<u8>>,
}

/// Framed messages waiting for a TURN stream before the newest are dropped; also how many
/// chunks read from the streams may wait for the loop before reading pauses.
const LINK_QUEUE: usize = 256;
/// How long opening a TURN stream (TCP, and the TLS handshake) may take.
const LINK_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Owns one stream to a TURN server: connects from `base`'s IP, writes what `outgoing`
/// carries, and reports what it reads, then the end.
async fn run_link(
    base: SocketAddr,
    server: SocketAddr,
    tls: TlsTarget,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<LinkEvent>,
) {
    let tls = tls
        .as_ref()
        .map(|(name, config)| (name.as_str(), config.clone()));
    let connect = crate::turn_stream::connect(server, Some(base.ip()), tls);
    if let Ok(Ok(stream)) = tokio::time::timeout(LINK_CONNECT_TIMEOUT, connect).await {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let read = async {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n @ 1..) = reader.read(&mut buf).await {
                let bytes = Some(buf[..n].to_vec());
                // Waiting for room in the queue holds the reads back, and TCP the server.
                let event = LinkEvent {
                    base,
                    server,
                    bytes,
                };
                if events.send(event).await.is_err() {
                    break;
                }
            }
        };
        let write = async {
            while let Some(bytes) = outgoing.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        };
        tokio::select! {
            () = read => {}
            () = write => {}
        }
    }
    let end = LinkEvent {
        base,
        server,
        bytes: None,
    };
    let _ = events.send(end).await;
}

struct Driver {
    config: Configuration,
    seed: [u8; 32],
    stun_servers: Vec<SocketAddr>,
    turn_servers: Vec<TurnServerConfig>,
    /// TURN servers reached over a stream, with their TLS parameters (`None`: plain TCP).
    turn_streams: HashMap<SocketAddr, TlsTarget>,
    /// The open streams, by (base, server): the sending half of each task's queue.
    links: HashMap<(SocketAddr, SocketAddr), mpsc::Sender<Vec<u8>>>,
    link_events: (mpsc::Sender<LinkEvent>, mpsc::Receiver<LinkEvent>),
    sockets: Vec<UdpSocket>,
    /// `locals[i]` is the bound address of `sockets[i]`: the agent's base.
    locals: Vec<SocketAddr>,
    /// Created once the role is known: by `create_offer` (controlling) or by applying a
    /// remote offer (controlled), since the agent takes its role at construction.
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
    /// mDNS lookups of remote candidates' `.local` names, opened on the first one.
    lookups: Option<CandidateLookups>,
    /// The peer's end-of-candidates, held back while lookups are under way (at most the
    /// resolver's timeout) so that no resolved candidate comes after it.
    deferred_end_of_candidates: bool,
    listeners: Vec<(EventKind, Listener)>,
    events: mpsc::UnboundedSender<PeerEvent>,
    data: mpsc::Sender<Vec<u8>>,
    send_buf: Vec<u8>,
    closed: bool,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut recv_buf = vec![0u8; MAX_DATAGRAM];
        let mut mdns_buf = vec![0u8; 9000];
        let mut rotate = 0usize;
        while !self.closed {
            self.flush().await;
            let lookups_due = self
                .lookups
                .as_ref()
                .and_then(CandidateLookups::poll_timeout);
            let deadline = self.agent.as_ref().and_then(IceAgent::poll_timeout);
            let deadline = match (deadline, lookups_due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let mdns_recv = async {
                match &self.lookups {
                    Some(l) => l.recv(&mut mdns_buf).await,
                    None => std::future::pending().await,
                }
            };
            let sleep = async {
                match deadline {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            let input = tokio::select! {
                cmd = commands.recv() => Input::Command(cmd),
                (i, res) = recv_any(&self.sockets, &mut recv_buf, rotate) => Input::Datagram(i, res),
                Some(e) = self.link_events.1.recv() => Input::Stream(e),
                res = mdns_recv => Input::Mdns(res),
                () = sleep => Input::Timeout,
            };
            match input {
                Input::Command(None) => break,
                Input::Command(Some(cmd)) => self.handle_command(cmd).await,
                Input::Datagram(i, Ok((len, from))) => {
                    rotate = rotate.wrapping_add(1);
                    self.on_datagram(self.locals[i], from, &recv_buf[..len]);
                }
                // ICMP errors surface on some platforms as receive errors: not fatal for UDP.
                Input::Datagram(_, Err(_)) => rotate = rotate.wrapping_add(1),
                Input::Stream(e) => self.on_stream(e),
                Input::Mdns(Ok((len, from))) => {
                    if let Some(l) = &mut self.lookups {
                        l.handle_datagram(Instant::now(), from, &mdns_buf[..len]);
                    }
                    self.add_resolved();
                }
                Input::Mdns(Err(_)) => {}
                Input::Timeout => {
                    let now = Instant::now();
                    if let Some(l) = &mut self.lookups {
                        if l.poll_timeout().is_some_and(|t| t <= now) {
                            l.handle_timeout(now);
                        }
                    }
                    self.add_resolved();
                    if let Some(agent) = &mut self.agent {
                        if agent.poll_timeout().is_some_and(|t| t <= now) {
                            agent.handle_timeout(now);
                        }
                    }
                }
            }
        }
        // Deliver the final events (`closed`) before the channels drop.
        self.flush().await;
    }

    fn on_datagram(&mut self, local: SocketAddr, from: SocketAddr, bytes: &[u8]) {
        let Some(agent) = &mut self.agent else { return };
        let verdict = agent.handle_datagram(Instant::now(), local, from, bytes);
        // Direct data is the whole datagram; relayed data sits inside the TURN framing.
        if let Some(range) = verdict.payload_range(bytes.len()) {
            // Datagram semantics: if the application does not keep up, drop rather than block
            // the agent's timers.
            let _ = self.data.try_send(bytes[range].to_vec());
        }
    }

    fn on_stream(&mut self, e: LinkEvent) {
        let Some(agent) = &mut self.agent else { return };
        let now = Instant::now();
        let ok = match &e.bytes {
            Some(bytes) => agent
                .handle_stream_data(now, e.base, e.server, bytes)
                .is_ok(),
            None => {
                agent.handle_stream_closed(now, e.base, e.server);
                false
            }
        };
        if !ok {
            // Dropping the queue's sender ends the task, which closes the stream.
            self.links.remove(&(e.base, e.server));
        }
        while let Some(data) = agent.poll_stream_data() {
            let _ = self.data.try_send(data);
        }
    }

    /// Sends `len` bytes of `send_buf` from `source` to `destination`: on the UDP socket bound
    /// at `source`, or on the stream to a TURN server reached over TCP or TLS (opened on first
    /// use). False when no socket matches.
    async fn transmit(&mut self, source: SocketAddr, destination: SocketAddr, len: usize) -> bool {
        let bytes = &self.send_buf[..len];
        if let Some(tls) = self.turn_streams.get(&destination) {
            let link = self.links.entry((source, destination)).or_insert_with(|| {
                let (tx, rx) = mpsc::channel(LINK_QUEUE);
                let events = self.link_events.0.clone();
                tokio::spawn(run_link(source, destination, tls.clone(), rx, events));
                tx
            });
            // A full queue loses the message, as a full socket buffer would.
            let _ = link.try_send(bytes.to_vec());
            return true;
        }
        let Some(i) = self.locals.iter().position(|l| *l == source) else {
            return false;
        };
        // A failed send is a lost datagram; the agent retransmits or gives up.
        let _ = self.sockets[i].send_to(bytes, destination).await;
        true
    }

    /// Hands the candidates whose names resolved to the agent, then a deferred
    /// end-of-candidates once no lookup is left.
    fn add_resolved(&mut self) {
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
                let _ = self.add_remote(c);
            }
        }
        if idle && std::mem::take(&mut self.deferred_end_of_candidates) {
            self.add_end_of_candidates();
        }
    }

    /// Adds a usable remote candidate now, or once the remote description is applied.
    fn add_remote(&mut self, c: floe_ice::Candidate) -> Result<()> {
        let ready = self.remote_description.is_some();
        match self.agent.as_mut().filter(|_| ready) {
            Some(agent) => agent.add_remote_candidate(Instant::now(), c)?,
            None => self.pending_candidates.push(c),
        }
        Ok(())
    }

    /// The peer's end-of-candidates: applied now, or once lookups and the remote description
    /// allow.
    fn add_end_of_candidates(&mut self) {
        if self.lookups.as_ref().is_some_and(CandidateLookups::is_busy) {
            self.deferred_end_of_candidates = true;
            return;
        }
        let ready = self.remote_description.is_some();
        match self.agent.as_mut().filter(|_| ready) {
            Some(agent) => agent.add_remote_end_of_candidates(Instant::now()),
            None => self.pending_end_of_candidates = true,
        }
    }

    /// Starts an mDNS lookup of a candidate's `.local` name (opening the sockets on first use).
    fn resolve_candidate(&mut self, c: floe_sdp::Candidate) {
        let is_local = matches!(&c.address, floe_sdp::CandidateAddress::Fqdn(n)
            if n.to_ascii_lowercase().ends_with(".local"));
        if !is_local || c.transport != floe_sdp::Transport::Udp || self.config.disable_mdns {
            return;
        }
        if self.lookups.is_none() {
            let ips: Vec<_> = self.locals.iter().map(SocketAddr::ip).collect();
            // Without multicast sockets the name stays unresolved; prflx still works.
            self.lookups = CandidateLookups::new(&ips).ok();
        }
        if let Some(lookups) = &mut self.lookups {
            lookups.start(Instant::now(), c);
        }
    }

    /// Sends what the agent queued and forwards its events.
    async fn flush(&mut self) {
        if let Some(lookups) = &mut self.lookups {
            lookups.flush().await;
        }
        loop {
            let Some(agent) = &mut self.agent else { return };
            // The buffer holds MIN_TRANSMIT_BUFFER; an error would be a bug here, and ends
            // this flush rather than spinning on it.
            let Ok(Some(t)) = agent.poll_transmit(&mut self.send_buf) else {
                break;
            };
            self.transmit(t.source, t.destination, t.len).await;
        }
        let Some(agent) = &mut self.agent else { return };
        let mut events = Vec::new();
        while let Some(e) = agent.poll_event() {
            events.push(e);
        }
        let ufrag = agent.local_credentials().ufrag.clone();
        for e in events {
            self.emit(e, &ufrag);
        }
    }

    fn emit(&mut self, event: IceEvent, ufrag: &str) {
        let out = match event {
            IceEvent::GatheringStateChange(s) => PeerEvent::IceGatheringStateChange(s),
            IceEvent::LocalCandidate(c) => PeerEvent::IceCandidate(Some(IceCandidateInit::new(
                &self.local_sdp_candidate(&c),
                self.mid.as_deref(),
                Some(self.m_line_index),
                Some(ufrag),
            ))),
            IceEvent::EndOfCandidates => PeerEvent::IceCandidate(None),
            IceEvent::ConnectionStateChange(s) => {
                self.deliver(PeerEvent::IceConnectionStateChange(s));
                let pc = PeerConnectionState::from_ice(s);
                if pc == self.connection_state {
                    return;
                }
                self.connection_state = pc;
                PeerEvent::ConnectionStateChange(pc)
            }
            IceEvent::SelectedPairChange { local, remote } => {
                PeerEvent::SelectedCandidatePairChange {
                    local: self.local_sdp_candidate(&local),
                    remote: to_sdp_candidate(&remote),
                }
            }
            // Role conflicts are resolved inside the agent; browsers expose no event for them.
            IceEvent::RoleChange { .. } => return,
            _ => return,
        };
        self.deliver(out);
    }

    /// A local candidate as signaled, its related address per RFC 8839 §5.1.
    fn local_sdp_candidate(&self, c: &floe_ice::Candidate) -> floe_sdp::Candidate {
        let related = self.agent.as_ref().and_then(|a| a.related_address(c));
        to_sdp_candidate_related(c, related)
    }

    /// Calls the listeners of the event's kind, then queues it for `next_event`.
    fn deliver(&mut self, event: PeerEvent) {
        for (kind, listener) in &mut self.listeners {
            if *kind == event.kind() {
                listener(&event);
            }
        }
        let _ = self.events.send(event);
    }

    async fn handle_command(&mut self, cmd: Command) {
        match cmd {
            Command::CreateOffer(r) => {
                let _ = r.send(self.create_offer());
            }
            Command::CreateAnswer(r) => {
                let _ = r.send(self.create_answer());
            }
            Command::SetLocal(d, r) => {
                let _ = r.send(self.set_local(d));
            }
            Command::SetRemote(d, r) => {
                let _ = r.send(self.set_remote(d));
            }
            Command::AddCandidate(c, r) => {
                let _ = r.send(self.add_candidate(c));
            }
            Command::Send(payload, r) => {
                let _ = r.send(self.send(&payload).await);
            }
            Command::Status(r) => {
                let _ = r.send(Ok(self.status()));
            }
            Command::Stats(r) => {
                let _ = r.send(Ok(stats::report(self.agent.as_ref())));
            }
            Command::RestartIce(r) => {
                let _ = r.send(self.check_open().map(|()| self.restart_pending = true));
            }
            Command::AddListener(kind, listener, r) => {
                self.listeners.push((kind, listener));
                let _ = r.send(Ok(()));
            }
            Command::Close(r) => {
                if let Some(agent) = &mut self.agent {
                    agent.close(Instant::now());
                } else if self.connection_state != PeerConnectionState::Closed {
                    // No agent yet: report `closed` all the same, like a browser.
                    self.emit(
                        IceEvent::ConnectionStateChange(IceConnectionState::Closed),
                        "",
                    );
                }
                self.signaling_state = SignalingState::Closed;
                self.closed = true;
                let _ = r.send(Ok(()));
            }
        }
    }

    fn check_open(&self) -> Result<()> {
        if self.closed || self.signaling_state == SignalingState::Closed {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn new_agent(&self, controlling: bool) -> IceAgent {
        let now = Instant::now();
        let config = AgentConfig {
            controlling,
            stun_servers: self.stun_servers.clone(),
            turn_servers: self.turn_servers.clone(),
            transport_policy: match self.config.ice_transport_policy {
                IceTransportPolicy::All => TransportPolicy::All,
                IceTransportPolicy::Relay => TransportPolicy::Relay,
            },
            software: Some(concat!("floe ", env!("CARGO_PKG_VERSION")).to_owned()),
            ..AgentConfig::default()
        };
        let mut agent = IceAgent::new(config, now, self.seed);
        for base in &self.locals {
            agent.add_local_socket(now, *base);
        }
        agent
    }

    /// The local candidates gathered so far, for descriptions created after gathering began.
    fn gathered(&self) -> (Vec<floe_sdp::Candidate>, bool) {
        match &self.agent {
            Some(a) => (
                a.local_candidates()
                    .iter()
                    .map(|c| self.local_sdp_candidate(c))
                    .collect(),
                a.gathering_state() == floe_ice::IceGatheringState::Complete,
            ),
            None => (Vec::new(), false),
        }
    }

    fn create_offer(&mut self) -> Result<SessionDescriptionInit> {
        self.check_open()?;
        if self.signaling_state == SignalingState::HaveRemoteOffer {
            return Err(Error::InvalidState(
                "createOffer with a remote offer applied",
            ));
        }
        if self.agent.is_none() {
            self.agent = Some(self.new_agent(true));
        } else if std::mem::take(&mut self.restart_pending) {
            // JSEP §5.2.1: an offer after restartIce() has new credentials. The agent gathers
            // from here rather than from setLocalDescription: its credentials change now.
            if let Some(agent) = &mut self.agent {
                agent.restart(Instant::now());
            }
            self.pending_candidates.clear();
            self.pending_end_of_candidates = false;
        }
        let (candidates, complete) = self.gathered();
        let creds = self.agent.as_ref().map(|a| a.local_credentials().clone());
        let creds = creds.ok_or(Error::Closed)?;
        let desc = OfferBuilder::new(
            &creds.ufrag,
            &creds.pwd,
            self.fingerprint.clone(),
            self.config.sctp_port,
        )
        .candidates(candidates)
        .end_of_candidates(complete)
        .build();
        Ok(SessionDescriptionInit::new(SdpType::Offer, &desc))
    }

    fn create_answer(&mut self) -> Result<SessionDescriptionInit> {
        self.check_open()?;
        if self.signaling_state != SignalingState::HaveRemoteOffer {
            return Err(Error::InvalidState("createAnswer without a remote offer"));
        }
        let offer = self.remote_description.as_ref().ok_or(Error::Closed)?;
        let offer = parse(offer)?;
        let (candidates, complete) = self.gathered();
        let creds = self.agent.as_ref().map(|a| a.local_credentials().clone());
        let creds = creds.ok_or(Error::Closed)?;
        let desc = AnswerBuilder::new(
            &offer,
            &creds.ufrag,
            &creds.pwd,
            self.fingerprint.clone(),
            self.config.sctp_port,
        )
        .setup(Setup::Active)
        .candidates(candidates)
        .end_of_candidates(complete)
        .build();
        Ok(SessionDescriptionInit::new(SdpType::Answer, &desc))
    }

    fn set_local(&mut self, init: SessionDescriptionInit) -> Result<()> {
        self.check_open()?;
        let desc = parse(&init)?;
        let agent = self.agent.as_mut().ok_or(Error::InvalidState(
            "setLocalDescription before createOffer",
        ))?;
        // The credentials are the agent's; a description carrying others was not made here.
        let index = data_section(&desc)?;
        if desc.ice_ufrag_for(index) != Some(agent.local_credentials().ufrag.as_str()) {
            return Err(Error::InvalidDescription(
                "ice-ufrag differs from the one createOffer/createAnswer made".into(),
            ));
        }
        self.signaling_state = match (init.sdp_type, self.signaling_state) {
            (SdpType::Offer, SignalingState::Stable | SignalingState::HaveLocalOffer) => {
                SignalingState::HaveLocalOffer
            }
            (SdpType::Answer, SignalingState::HaveRemoteOffer) => SignalingState::Stable,
            _ => return Err(Error::InvalidState("setLocalDescription of this type now")),
        };
        self.mid = desc.media[index].mid().map(str::to_owned);
        self.m_line_index = u16::try_from(index).unwrap_or(0);
        // JSEP: gathering begins when the local description is applied (a no-op once begun).
        agent.start_gathering(Instant::now());
        self.local_description = Some(init);
        Ok(())
    }

    fn set_remote(&mut self, init: SessionDescriptionInit) -> Result<()> {
        self.check_open()?;
        let desc = parse(&init)?;
        let index = data_section(&desc)?;
        self.signaling_state = match (init.sdp_type, self.signaling_state) {
            (SdpType::Offer, SignalingState::Stable | SignalingState::HaveRemoteOffer) => {
                SignalingState::HaveRemoteOffer
            }
            (SdpType::Answer, SignalingState::HaveLocalOffer) => SignalingState::Stable,
            _ => return Err(Error::InvalidState("setRemoteDescription of this type now")),
        };
        let (Some(ufrag), Some(pwd)) = (desc.ice_ufrag_for(index), desc.ice_pwd_for(index)) else {
            return Err(Error::InvalidDescription("no ice-ufrag/ice-pwd".into()));
        };
        if init.sdp_type == SdpType::Offer && self.agent.is_none() {
            self.agent = Some(self.new_agent(false));
            // An answer mirrors the offer's section, so candidates carry its mid and index.
            self.mid = desc.media[index].mid().map(str::to_owned);
            self.m_line_index = u16::try_from(index).unwrap_or(0);
        }
        let now = Instant::now();
        let agent = self.agent.as_mut().ok_or(Error::Closed)?;
        let changed = agent.remote_ufrag().is_some_and(|u| u != ufrag);
        if init.sdp_type == SdpType::Offer && changed {
            // RFC 8839 §4.4.1.1.1: an offer with a new ice-ufrag restarts ICE; our answer then
            // carries new credentials too (RFC 8445 §9).
            agent.restart(now);
        }
        agent.set_remote_credentials(now, ufrag, pwd);
        if desc.ice_lite() {
            agent.set_remote_lite(now, true);
        }
        let media = &desc.media[index];
        for c in media.candidates() {
            if let Ok(c) = from_sdp_candidate(&c) {
                let _ = agent.add_remote_candidate(now, c);
            }
        }
        for c in self.pending_candidates.drain(..) {
            let _ = agent.add_remote_candidate(now, c);
        }
        if media.end_of_candidates() || std::mem::take(&mut self.pending_end_of_candidates) {
            agent.add_remote_end_of_candidates(now);
        }
        self.remote_description = Some(init);
        Ok(())
    }

    fn add_candidate(&mut self, init: Option<IceCandidateInit>) -> Result<()> {
        self.check_open()?;
        let parsed = match &init {
            None => None,
            Some(i) => i
                .parse_candidate()
                .map_err(|e| Error::InvalidCandidate(format!("{:?}: {e}", i.candidate)))?,
        };
        let Some(c) = parsed else {
            self.add_end_of_candidates();
            return Ok(());
        };
        // A candidate of an earlier ICE generation (before a restart) is stale.
        let current = self.agent.as_ref().and_then(IceAgent::remote_ufrag);
        if let (Some(theirs), Some(current)) = (init_ufrag(&init), current) {
            if theirs != current {
                return Ok(());
            }
        }
        match from_sdp_candidate(&c) {
            Ok(c) => self.add_remote(c)?,
            Err(Unusable::Fqdn(_)) => self.resolve_candidate(c),
            // Unusable candidates (TCP, other types) are skipped without error, as in browsers.
            Err(_) => {}
        }
        Ok(())
    }

    async fn send(&mut self, payload: &[u8]) -> Result<()> {
        self.check_open()?;
        let agent = self
            .agent
            .as_mut()
            .ok_or(Error::Ice(floe_ice::IceError::NotConnected))?;
        let t = agent.send(payload, &mut self.send_buf)?;
        if !self.transmit(t.source, t.destination, t.len).await {
            return Err(Error::Ice(floe_ice::IceError::NotConnected));
        }
        Ok(())
    }

    fn status(&self) -> Status {
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
            local_description: self.current_local_description(),
            remote_description: self.remote_description.clone(),
        }
    }
}

impl Driver {
    /// `localDescription` as browsers report it (webrtc-pc §4.4.1.1): the applied description
    /// with every candidate gathered since, and `a=end-of-candidates` once complete.
    fn current_local_description(&self) -> Option<SessionDescriptionInit> {
        let init = self.local_description.as_ref()?;
        let Ok(mut desc) = parse(init) else {
            return Some(init.clone());
        };
        let (candidates, complete) = self.gathered();
        if let Some(media) = desc.media.get_mut(usize::from(self.m_line_index)) {
            media.clear_candidates();
            for c in &candidates {
                media.add_candidate(c);
            }
            media.set_end_of_candidates(complete);
        }
        Some(SessionDescriptionInit::new(init.sdp_type, &desc))
    }
}

/// The `usernameFragment` of a trickled candidate, if it names one.
fn init_ufrag(init: &Option<IceCandidateInit>) -> Option<&str> {
    init.as_ref()?
        .username_fragment
        .as_deref()
        .filter(|u| !u.is_empty())
}

fn parse(init: &SessionDescriptionInit) -> Result<SessionDescription> {
    init.description()
        .map_err(|e| Error::InvalidDescription(e.to_string()))
}

/// The index of the section ICE runs on: the first usable data channel section, else the
/// first section (floe bundles everything on one transport).
fn data_section(desc: &SessionDescription) -> Result<usize> {
    if desc.media.is_empty() {
        return Err(Error::InvalidDescription("no m= section".into()));
    }
    Ok(desc
        .media
        .iter()
        .position(|m| m.is_data_channel() && !m.is_rejected())
        .unwrap_or(0))
}
