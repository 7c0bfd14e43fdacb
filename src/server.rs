//! [`Server`]: one UDP port for every peer. `floe serve` answers each offer that reaches its
//! WebSocket endpoint (any room path) with a session of its own — ICE-lite by default — and
//! carries every session's ICE traffic on **one** UDP socket, on the same port number as the
//! WebSocket listener.
//!
//! One task owns the socket, a [`floe_mux::Mux`] that routes each arriving datagram to its
//! session (a check by the ufrag in its USERNAME, a response by transaction id, data by the
//! remote address the session selected), and the sessions. Each WebSocket connection is a small
//! task that passes the signaling messages in and out. A session ends on `bye`, when its
//! WebSocket closes, when consent expires (a caller that vanished) or when the server stops; its
//! table entries go with it.
//!
//! With [`ServerConfig::ice_tcp`], peers whose networks drop UDP reach the server over ICE-TCP
//! (RFC 6544): one more TCP listener, on another port of the same address, is every session's
//! passive candidate. An accepted connection belongs to the session whose ufrag its first
//! frame (a check) names, found through the mux as for a datagram; a connection whose first
//! frame names no session, or that sends none within 10 s, is closed.
//!
//! ```no_run
//! # async fn demo() -> floe::Result<()> {
//! use floe::server::{Server, ServerConfig};
//! let server = Server::bind(ServerConfig::new("127.0.0.1:8443".parse().unwrap())).await?;
//! println!("ws://{}/any-room", server.local_addr());
//! server.run().await;
//! # Ok(())
//! # }
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use floe_mux::{Mux, MuxConfig, MuxStats};
use floe_session::{Over, PeerConnectionState, PeerEvent, Session, SessionConfig};
use futures_util::StreamExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::convert::os_random;
use crate::error::{Error, Result};
use crate::links::{run_link, LinkEvent, Open, LINK_QUEUE};
use crate::net::{bind_tcp_listener, bind_udp, MAX_DATAGRAM};
use crate::signaling::{peek_request, serve_http, spawn_ws_writer, RequestKind, SignalMessage};
use ice_tcp::Link;

mod ice_tcp;

/// How [`Server::bind`] sets the server up.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The UDP and TCP address (port 0: one ephemeral port for both). The IP must be one peers
    /// can reach: it is the host candidate of every session.
    pub listen: SocketAddr,
    /// Echo every datagram a peer sends back to it.
    pub echo: bool,
    /// At most this many sessions at once; an offer beyond gets `bye`.
    pub max_sessions: usize,
    /// ICE-lite sessions (RFC 8445 §2.5), the usual server role; `false`: full agents.
    pub lite: bool,
    /// ICE over TCP (RFC 6544) on a TCP listener at this port of the listen address (0: an
    /// ephemeral one, see [`Server::ice_tcp_addr`]); `None`: off.
    pub ice_tcp: Option<u16>,
}

impl ServerConfig {
    /// ICE-lite, no echo, 10,000 sessions.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            echo: false,
            max_sessions: 10_000,
            lite: true,
            ice_tcp: None,
        }
    }
}

/// What the server reports about itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Sessions alive now.
    pub sessions: usize,
    /// Sessions that reached `connected`, since the start.
    pub connected: u64,
    /// Sessions ended, since the start.
    pub ended: u64,
    /// The mux's tables and counters.
    pub mux: MuxStats,
}

/// The server: see the [module documentation](self).
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    udp: UdpSocket,
    tcp: TcpListener,
    local: SocketAddr,
    /// The ICE-TCP listener, with [`ServerConfig::ice_tcp`].
    ice_tcp: Option<(TcpListener, SocketAddr)>,
}

/// Messages queued for one WebSocket before the server gives up on it.
const OUTGOING_QUEUE: usize = 256;

/// From the WebSocket tasks to the engine.
enum Inbound {
    Open(u64, mpsc::Sender<String>),
    Signal(u64, SignalMessage),
    Closed(u64),
    Stats(oneshot::Sender<ServerStats>),
}

impl Server {
    /// Binds the UDP socket and the TCP listener on the same port. Refuses an unspecified IP:
    /// sessions need a host candidate peers can reach.
    pub async fn bind(config: ServerConfig) -> Result<Self> {
        let ip = config.listen.ip();
        if ip.is_unspecified() || ip.is_multicast() {
            return Err(Error::InvalidConfiguration(format!(
                "floe serve: listen on an address peers can reach, not {ip}"
            )));
        }
        if config.max_sessions == 0 {
            return Err(Error::InvalidConfiguration(
                "floe serve: max_sessions must be at least 1".into(),
            ));
        }
        if config
            .ice_tcp
            .is_some_and(|p| p != 0 && p == config.listen.port())
        {
            return Err(Error::InvalidConfiguration(
                "floe serve: the ICE-TCP port cannot be the listen port (the WebSocket's)".into(),
            ));
        }
        let ice_tcp = match config.ice_tcp {
            Some(port) => {
                let listener = bind_tcp_listener(SocketAddr::new(ip, port))?;
                let addr = listener.local_addr()?;
                Some((listener, addr))
            }
            None => None,
        };
        // An ephemeral UDP port may be taken on TCP: try a few.
        for _ in 0..16 {
            let udp = bind_udp(config.listen)?;
            let local = udp.local_addr()?;
            match TcpListener::bind(local).await {
                Ok(tcp) => {
                    return Ok(Self {
                        config,
                        udp,
                        tcp,
                        local,
                        ice_tcp,
                    })
                }
                Err(e) if config.listen.port() != 0 => return Err(e.into()),
                Err(_) => continue,
            }
        }
        Err(Error::InvalidConfiguration(
            "floe serve: no port free on both UDP and TCP".into(),
        ))
    }

    /// The address of the UDP socket and the TCP listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The ICE-TCP listener's address, with [`ServerConfig::ice_tcp`].
    pub fn ice_tcp_addr(&self) -> Option<SocketAddr> {
        self.ice_tcp.as_ref().map(|(_, addr)| *addr)
    }

    /// Serves until the task is dropped.
    pub async fn run(self) {
        let (tx, rx) = mpsc::unbounded_channel();
        serve(self, tx, rx).await;
    }

    /// Runs the server on its own task; it stops when the handle is dropped.
    pub fn spawn(self) -> ServerHandle {
        let local = self.local;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(serve(self, tx.clone(), rx));
        ServerHandle {
            local,
            task,
            engine: tx,
            local_ids: AtomicU64::new(LOCAL_IDS),
        }
    }
}

async fn serve(
    server: Server,
    tx: mpsc::UnboundedSender<Inbound>,
    rx: mpsc::UnboundedReceiver<Inbound>,
) {
    let engine = Engine::new(server.config, server.udp, server.local, server.ice_tcp);
    tokio::select! {
        () = accept_loop(server.tcp, tx) => {}
        () = engine.run(rx) => {}
    }
}

/// A running [`Server`]; dropping it stops the server.
#[derive(Debug)]
pub struct ServerHandle {
    local: SocketAddr,
    task: JoinHandle<()>,
    engine: mpsc::UnboundedSender<Inbound>,
    /// The next [`LocalSignaling`] connection's id.
    local_ids: AtomicU64,
}

/// Connection ids of [`LocalSignaling`]: the top half of the id space, apart from the
/// WebSocket connections' (counted up from 1).
const LOCAL_IDS: u64 = 1 << 63;

impl ServerHandle {
    /// The address of the UDP socket and the TCP listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The sessions and the mux's tables now; `None` once the server stopped.
    pub async fn stats(&self) -> Option<ServerStats> {
        let (tx, rx) = oneshot::channel();
        self.engine.send(Inbound::Stats(tx)).ok()?;
        rx.await.ok()
    }

    /// A signaling connection from inside the process, without a WebSocket: the server takes
    /// it as one more WebSocket connection. What [`LocalSignaling::send`] passes is handled as
    /// that connection's messages (an offer gets a session and its answer; `bye`, or dropping
    /// the value, ends the session), and what the server would write to the WebSocket comes
    /// out of [`LocalSignaling::recv`]. For embedding, and for benchmarks that register
    /// thousands of sessions (benches/serve_socket.rs). `None` once the server stopped.
    pub fn open_local(&self) -> Option<LocalSignaling> {
        let id = self.local_ids.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(OUTGOING_QUEUE);
        self.engine.send(Inbound::Open(id, tx)).ok()?;
        Some(LocalSignaling {
            id,
            engine: self.engine.clone(),
            out: rx,
        })
    }

    /// Stops the server.
    pub fn abort(&self) {
        self.task.abort();
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A signaling connection to a running server from inside the process: see
/// [`ServerHandle::open_local`]. Dropping it closes the connection, as a closed WebSocket does.
#[derive(Debug)]
pub struct LocalSignaling {
    id: u64,
    engine: mpsc::UnboundedSender<Inbound>,
    out: mpsc::Receiver<String>,
}

impl LocalSignaling {
    /// Passes `msg` to the server; false once the server stopped.
    pub fn send(&self, msg: SignalMessage) -> bool {
        self.engine.send(Inbound::Signal(self.id, msg)).is_ok()
    }

    /// The server's next message on this connection; `None` once the server dropped it.
    pub async fn recv(&mut self) -> Option<SignalMessage> {
        loop {
            let text = self.out.recv().await?;
            if let Ok(msg) = SignalMessage::from_json(&text) {
                return Some(msg);
            }
        }
    }
}

impl Drop for LocalSignaling {
    fn drop(&mut self) {
        let _ = self.engine.send(Inbound::Closed(self.id));
    }
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Inbound::Open(..) => "Open",
            Inbound::Signal(..) => "Signal",
            Inbound::Closed(_) => "Closed",
            Inbound::Stats(_) => "Stats",
        })
    }
}

async fn accept_loop(tcp: TcpListener, engine: mpsc::UnboundedSender<Inbound>) {
    let mut next_id = 0u64;
    loop {
        let Ok((stream, _)) = tcp.accept().await else {
            // Out of file descriptors and the like: back off instead of spinning.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        next_id += 1;
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, next_id, engine.clone()));
    }
}

/// One connection: the page over HTTP, or a WebSocket whose messages go to the engine.
async fn connection(stream: TcpStream, id: u64, engine: mpsc::UnboundedSender<Inbound>) {
    match peek_request(&stream).await {
        Some(RequestKind::WebSocket) => {}
        Some(RequestKind::Http(len)) => {
            let _ = serve_http(stream, len).await;
            return;
        }
        None => return,
    }
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (sink, mut source) = ws.split();
    // Bounded: a client that does not read its socket cannot make the server queue without end.
    let (tx, mut rx) = mpsc::channel::<String>(OUTGOING_QUEUE);
    if engine.send(Inbound::Open(id, tx)).is_err() {
        return;
    }
    let writer = spawn_ws_writer(
        sink,
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)),
    );
    while let Some(Ok(msg)) = source.next().await {
        match msg {
            Message::Text(text) => {
                // Not JSON, or not a known shape: ignored, as a browser peer would.
                if let Ok(m) = SignalMessage::from_json(text.as_str()) {
                    if engine.send(Inbound::Signal(id, m)).is_err() {
                        break;
                    }
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    let _ = engine.send(Inbound::Closed(id));
    writer.abort();
}

/// A hash of an offer's SDP: equal for a resent offer. A collision only makes a caller's new
/// offer look resent, on its own connection.
fn offer_hash(sdp: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    sdp.hash(&mut h);
    h.finish()
}

/// One peer's session and the way back to its WebSocket.
struct Entry {
    session: Session,
    out: mpsc::Sender<String>,
    /// The deadline last put in the timer heap, so a datagram that changes nothing pushes none.
    scheduled: Option<Instant>,
    /// A hash of the last offer applied, so a resent one is recognised without keeping it.
    offer: Option<u64>,
    connected: bool,
}

/// Sends what session `id` queued: a datagram on the shared socket, or framed bytes on its
/// ICE-TCP connection. A full socket buffer or link queue drops it, as the network would; TURN
/// streams and mDNS queries do not exist for server sessions.
fn transmit(
    udp: &UdpSocket,
    links: &HashMap<(SocketAddr, SocketAddr), Link>,
    mux: &mut Mux<u64>,
    id: u64,
    t: &floe_session::Transmit,
    bytes: &[u8],
) {
    match t.over {
        Over::Udp => {
            mux.on_transmit(id, t.destination, bytes);
            let _ = udp.try_send_to(bytes, t.destination);
        }
        Over::Stream => {
            if let Some(link) = links.get(&(t.source, t.destination)) {
                let _ = link.tx.try_send(bytes.to_vec());
            }
        }
        _ => {}
    }
}

/// The task that owns the socket, the mux and the sessions.
struct Engine {
    config: ServerConfig,
    udp: UdpSocket,
    local: SocketAddr,
    mux: Mux<u64>,
    /// WebSocket connections, before and after their offer.
    sockets: HashMap<u64, mpsc::Sender<String>>,
    /// Boxed: the map's spare buckets then cost a pointer each, not a whole session.
    sessions: HashMap<u64, Box<Entry>>,
    /// (deadline, session): stale entries are skipped when they come due.
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    stats: ServerStats,
    send_buf: Vec<u8>,
    /// The ICE-TCP listener and its address.
    ice_tcp: Option<(TcpListener, SocketAddr)>,
    /// ICE-TCP connections by (local, remote).
    links: HashMap<(SocketAddr, SocketAddr), Link>,
    /// Accepted connections that had no session yet, oldest first, with when they came.
    unrouted: VecDeque<(Instant, (SocketAddr, SocketAddr))>,
    link_events: (mpsc::Sender<LinkEvent>, mpsc::Receiver<LinkEvent>),
}

impl Engine {
    fn new(
        config: ServerConfig,
        udp: UdpSocket,
        local: SocketAddr,
        ice_tcp: Option<(TcpListener, SocketAddr)>,
    ) -> Self {
        let mux = Mux::new(MuxConfig {
            max_sessions: config.max_sessions,
            ..MuxConfig::default()
        });
        Self {
            config,
            udp,
            local,
            mux,
            sockets: HashMap::new(),
            sessions: HashMap::new(),
            timers: BinaryHeap::new(),
            stats: ServerStats::default(),
            send_buf: vec![0; MAX_DATAGRAM],
            ice_tcp,
            links: HashMap::new(),
            unrouted: VecDeque::new(),
            link_events: mpsc::channel(LINK_QUEUE),
        }
    }

    async fn run(mut self, mut inbound: mpsc::UnboundedReceiver<Inbound>) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let unrouted = self
                .unrouted
                .front()
                .map(|(since, _)| *since + floe_ice::STREAM_IDLE_TIMEOUT);
            let next = self
                .timers
                .peek()
                .map(|Reverse((t, _))| *t)
                .into_iter()
                .chain(unrouted)
                .min();
            let accept = async {
                match &self.ice_tcp {
                    Some((listener, _)) => listener.accept().await,
                    None => std::future::pending().await,
                }
            };
            let sleep = async {
                match next {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                res = self.udp.recv_from(&mut buf) => {
                    // ICMP errors surface as receive errors on some platforms: not fatal.
                    if let Ok((len, from)) = res {
                        self.on_datagram(from, &buf[..len]);
                    }
                }
                msg = inbound.recv() => match msg {
                    Some(m) => self.on_inbound(m),
                    None => return,
                },
                res = accept => {
                    match res {
                        Ok((stream, remote)) => self.on_tcp_accepted(stream, remote),
                        // Out of file descriptors and the like: back off instead of spinning.
                        Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                    }
                }
                Some(event) = self.link_events.1.recv() => self.on_link(event),
                () = sleep => {
                    self.on_timers();
                    self.close_unrouted(Instant::now());
                }
            }
        }
    }

    fn on_datagram(&mut self, from: SocketAddr, bytes: &[u8]) {
        let Some(id) = self.mux.route(from, bytes) else {
            return;
        };
        let now = Instant::now();
        let Some(entry) = self.sessions.get_mut(&id) else {
            return;
        };
        if let Some(range) = entry.session.handle_datagram(now, self.local, from, bytes) {
            if self.config.echo {
                if let Ok(t) = entry.session.send(&bytes[range], &mut self.send_buf) {
                    let bytes = &self.send_buf[..t.len];
                    transmit(&self.udp, &self.links, &mut self.mux, id, &t, bytes);
                }
            }
        }
        self.drive(id);
    }

    fn on_inbound(&mut self, msg: Inbound) {
        match msg {
            Inbound::Open(id, out) => {
                self.sockets.insert(id, out);
            }
            Inbound::Signal(id, SignalMessage::Offer(offer)) => self.on_offer(id, offer),
            Inbound::Signal(id, SignalMessage::IceCandidate(c)) => {
                if let Some(entry) = self.sessions.get_mut(&id) {
                    // A lite agent pairs nothing; the peer's checks find it (RFC 8445 §2.5).
                    let _ = entry.session.add_ice_candidate(Instant::now(), c);
                    self.drive(id);
                }
            }
            Inbound::Signal(id, SignalMessage::Bye) | Inbound::Closed(id) => {
                self.end(id, false);
                self.sockets.remove(&id);
            }
            Inbound::Signal(..) => {}
            Inbound::Stats(reply) => {
                let _ = reply.send(ServerStats {
                    sessions: self.sessions.len(),
                    mux: self.mux.stats(),
                    ..self.stats
                });
            }
        }
    }

    fn on_offer(&mut self, id: u64, offer: floe_sdp::SessionDescriptionInit) {
        let Some(out) = self.sockets.get(&id).cloned() else {
            return;
        };
        let now = Instant::now();
        if let Some(entry) = self.sessions.get(&id) {
            if entry.offer == Some(offer_hash(&offer.sdp)) {
                return; // The caller resends its offer until the answer arrives.
            }
        } else if self.sessions.len() >= self.config.max_sessions {
            let _ = out.try_send(SignalMessage::Bye.to_json());
            return;
        }
        let local = self.local;
        let lite = self.config.lite;
        let ice_tcp = self.ice_tcp.as_ref().map(|(_, addr)| *addr);
        let entry = self.sessions.entry(id).or_insert_with(|| {
            let mut session = Session::new(
                SessionConfig {
                    lite,
                    ice_tcp: ice_tcp.is_some(),
                    mdns: false,
                    software: Some(concat!("floe ", env!("CARGO_PKG_VERSION")).to_owned()),
                    ..SessionConfig::default()
                },
                &[local],
                os_random(),
            );
            if let Some(listener) = ice_tcp {
                // Every session's passive candidate; a connection finds its session by ufrag.
                session.add_local_tcp_listener(now, listener);
            }
            Box::new(Entry {
                session,
                out,
                scheduled: None,
                offer: None,
                connected: false,
            })
        });
        let hash = offer_hash(&offer.sdp);
        let answered = entry
            .session
            .set_remote_description(now, offer)
            .and_then(|()| entry.session.create_answer())
            .and_then(|answer| {
                entry
                    .session
                    .set_local_description(now, answer.clone())
                    .map(|()| answer)
            });
        match answered {
            Ok(answer) => {
                entry.offer = Some(hash);
                let _ = entry.out.try_send(SignalMessage::Answer(answer).to_json());
                let ufrag = entry
                    .session
                    .agent()
                    .map(|a| a.local_credentials().ufrag.clone())
                    .unwrap_or_default();
                // A new offer on the session (a restart) moves its ufrag in the mux.
                let registered = if self.mux.contains(id) {
                    self.mux.set_ufrag(id, &ufrag)
                } else {
                    self.mux.insert(id, &ufrag)
                };
                if registered.is_err() {
                    self.end(id, true);
                    return;
                }
                self.drive(id);
            }
            // A bad offer gets bye; the connection stays for another try.
            Err(_) => {
                let _ = entry.out.try_send(SignalMessage::Bye.to_json());
                self.end(id, false);
            }
        }
    }

    /// Sends what session `id` queued, forwards its events, and schedules its next timer.
    fn drive(&mut self, id: u64) {
        let Some(entry) = self.sessions.get_mut(&id) else {
            return;
        };
        // What arrived over ICE-TCP (UDP data is echoed as it comes in).
        while let Some(data) = entry.session.poll_stream_data() {
            if self.config.echo {
                if let Ok(t) = entry.session.send(&data, &mut self.send_buf) {
                    let bytes = &self.send_buf[..t.len];
                    transmit(&self.udp, &self.links, &mut self.mux, id, &t, bytes);
                }
            }
        }
        while let Some(t) = entry.session.poll_transmit(&mut self.send_buf) {
            let bytes = &self.send_buf[..t.len];
            transmit(&self.udp, &self.links, &mut self.mux, id, &t, bytes);
        }
        while let Some(command) = entry.session.poll_stream_command() {
            match command {
                floe_ice::StreamCommand::Close { local, remote } => {
                    // Dropping the queue ends the task, which closes the connection.
                    self.links.remove(&(local, remote));
                }
                floe_ice::StreamCommand::Connect { local, remote } => {
                    let (tx, rx) = mpsc::channel(LINK_QUEUE);
                    let events = self.link_events.0.clone();
                    tokio::spawn(run_link(local, remote, Open::Connect, rx, events));
                    let link = Link {
                        tx,
                        session: Some(id),
                        first: Vec::new(),
                    };
                    self.links.insert((local, remote), link);
                }
                _ => {}
            }
        }
        let mut ended = false;
        while let Some(event) = entry.session.poll_event() {
            match event {
                PeerEvent::IceCandidate(c) => {
                    // A peer that does not read its WebSocket loses its session.
                    ended |= entry
                        .out
                        .try_send(SignalMessage::IceCandidate(c).to_json())
                        .is_err();
                }
                PeerEvent::SelectedCandidatePairChange { remote, .. } => {
                    if let floe_sdp::CandidateAddress::Ip(ip) = remote.address {
                        self.mux.learn_remote(id, SocketAddr::new(ip, remote.port));
                    }
                }
                PeerEvent::ConnectionStateChange(PeerConnectionState::Connected)
                    if !entry.connected =>
                {
                    entry.connected = true;
                    self.stats.connected += 1;
                }
                PeerEvent::ConnectionStateChange(
                    PeerConnectionState::Failed | PeerConnectionState::Closed,
                ) => ended = true,
                _ => {}
            }
        }
        if ended {
            // Consent expired (a caller that vanished): the peer is told, the session goes.
            self.end(id, true);
            return;
        }
        let next = entry.session.poll_timeout();
        if next != entry.scheduled {
            entry.scheduled = next;
            if let Some(t) = next {
                self.timers.push(Reverse((t, id)));
            }
        }
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((t, id))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(entry) = self.sessions.get_mut(&id) else {
                continue;
            };
            if entry.scheduled == Some(t) {
                entry.scheduled = None; // This entry is spent: drive() schedules the next.
            }
            // Stale entries (the session rescheduled since) wake nothing.
            if entry.session.poll_timeout().is_some_and(|d| d <= now) {
                entry.session.handle_timeout(now);
            }
            self.drive(id);
        }
        // Stale entries pile up as sessions reschedule: rebuild past four per session.
        if self.timers.len() > 64 && self.timers.len() > 4 * self.sessions.len() {
            self.timers = self
                .sessions
                .iter_mut()
                .filter_map(|(id, e)| {
                    e.scheduled = e.session.poll_timeout();
                    e.scheduled.map(|t| Reverse((t, *id)))
                })
                .collect();
        }
    }

    /// Ends session `id`: closed, out of the mux, its memory released; `bye` to the peer
    /// when the server ends it.
    fn end(&mut self, id: u64, tell: bool) {
        if !self.links.is_empty() {
            self.links.retain(|_, link| link.session != Some(id));
        }
        if let Some(mut entry) = self.sessions.remove(&id) {
            entry.session.close(Instant::now());
            if tell {
                let _ = entry.out.try_send(SignalMessage::Bye.to_json());
            }
            self.stats.ended += 1;
        }
        self.mux.remove(id);
    }
}
