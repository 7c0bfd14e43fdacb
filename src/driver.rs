//! The task behind a [`crate::PeerConnection`]: it owns the [`Session`] and the UDP sockets,
//! and runs one `select!` loop over socket receives, the agent's next deadline and commands
//! from the handle. After every input it drains the agent's transmits and events.
//!
//! Byte streams (see `links.rs`) each have a small task of their own, whose bytes come back to
//! the loop through a channel: one per (base, server) to TURN servers reached over TCP or TLS,
//! and with ICE-TCP (RFC 6544) the connections the agent asks for and those the listeners
//! accept. The driver binds one listener per host address, opens and closes connections when
//! the session says so and writes each ICE-TCP transmit to its connection.
//!
//! Everything here is plumbing: what to send, when, and what it means is the
//! [`floe_session::Session`]'s (signaling, descriptions, mDNS bookkeeping) and its agent's.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use floe_ice::{TransportPolicy, TurnServerConfig};
use floe_sdp::{Fingerprint, IceCandidateInit, SessionDescriptionInit};
use floe_session::StreamCommand;
use floe_session::{Over, Session, SessionConfig};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use crate::config::{Configuration, IceTransportPolicy, TurnUrlTransport};
use crate::error::{Error, Result};
use crate::links::{run_link, LinkEvent, Open, TlsTarget, What, LINK_QUEUE};
use crate::mdns::{local_networks, MdnsSocket};
use crate::net::{accept_any, bind_tcp_listener, bind_udp, recv_any, MAX_DATAGRAM};
use crate::peer::{EventKind, Listener, PeerEvent, Status};
use crate::stats::StatsReport;

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

/// The addresses a driver bound: UDP sockets, and ICE-TCP listeners.
pub(crate) struct Bound {
    pub(crate) udp: Vec<SocketAddr>,
    pub(crate) tcp: Vec<SocketAddr>,
}

/// Binds an ICE-TCP listener on `ip`, on an ephemeral port other than `udp_port` (the agent
/// must not see one address for both).
fn bind_listener(ip: IpAddr, udp_port: Option<u16>) -> Option<(TcpListener, SocketAddr)> {
    for _ in 0..4 {
        let listener = bind_tcp_listener(SocketAddr::new(ip, 0)).ok()?;
        let addr = listener.local_addr().ok()?;
        if Some(addr.port()) != udp_port {
            return Some((listener, addr));
        }
    }
    None
}

/// Binds the sockets, resolves STUN servers and spawns the task. Returns the bound addresses.
pub(crate) async fn spawn(
    config: Configuration,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<PeerEvent>,
    data: mpsc::Sender<Vec<u8>>,
) -> Result<Bound> {
    let ice_tcp = config.ice_tcp || config.no_udp;
    let mut sockets = Vec::new();
    let mut locals = Vec::new();
    let mut tcp_listeners = Vec::new();
    let mut tcp_locals = Vec::new();
    for addr in config.bind.resolve()? {
        // An address that cannot be bound (an interface going away) is skipped, like a browser
        // would; only no address at all is an error.
        let mut udp_port = None;
        if !config.no_udp {
            let Ok(socket) = bind_udp(addr) else { continue };
            let Ok(local) = socket.local_addr() else {
                continue;
            };
            udp_port = Some(local.port());
            sockets.push(socket);
            locals.push(local);
        }
        if ice_tcp {
            if let Some((listener, local)) = bind_listener(addr.ip(), udp_port) {
                tcp_listeners.push(listener);
                tcp_locals.push(local);
            }
        }
    }
    if sockets.is_empty() && tcp_listeners.is_empty() {
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
    let mut ips: Vec<_> = locals.iter().map(SocketAddr::ip).collect();
    for l in &tcp_locals {
        if !ips.contains(&l.ip()) {
            ips.push(l.ip());
        }
    }
    let session_config = SessionConfig {
        stun_servers,
        turn_servers,
        transport_policy: match config.ice_transport_policy {
            IceTransportPolicy::All => TransportPolicy::All,
            IceTransportPolicy::Relay => TransportPolicy::Relay,
        },
        software: Some(concat!("floe ", env!("CARGO_PKG_VERSION")).to_owned()),
        sctp_port: config.sctp_port,
        fingerprint: config
            .fingerprint
            .as_ref()
            .map(|(hash, digest)| Fingerprint::new(hash.clone(), digest.clone())),
        mdns: !config.disable_mdns,
        local_networks: local_networks(&ips)
            .iter()
            .map(|n| floe_session::LocalNetwork::new(n.ip, n.prefix))
            .collect(),
        lite: false,
        ice_tcp,
    };
    let seed = config.seed.unwrap_or_else(crate::convert::os_random);
    let mut session = Session::new(session_config, &locals, seed);
    for l in &tcp_locals {
        session.add_local_tcp_listener(Instant::now(), *l);
    }
    let driver = Driver {
        session,
        turn_streams,
        links: HashMap::new(),
        link_events: mpsc::channel(LINK_QUEUE),
        sockets,
        locals: locals.clone(),
        tcp_listeners,
        tcp_locals: tcp_locals.clone(),
        mdns: None,
        mdns_unavailable: false,
        listeners: Vec::new(),
        events,
        data,
        send_buf: vec![0; MAX_DATAGRAM],
        closed: false,
        close_reply: None,
    };
    tokio::spawn(driver.run(commands));
    Ok(Bound {
        udp: locals,
        tcp: tcp_locals,
    })
}

/// What woke the loop.
enum Input {
    Command(Option<Command>),
    Datagram(usize, std::io::Result<(usize, SocketAddr)>),
    Accept(usize, std::io::Result<(TcpStream, SocketAddr)>),
    Stream(LinkEvent),
    Mdns(std::io::Result<(usize, SocketAddr)>),
    Timeout,
}

struct Driver {
    session: Session,
    /// TURN servers reached over a stream, with their TLS parameters (`None`: plain TCP).
    turn_streams: HashMap<SocketAddr, TlsTarget>,
    /// The open streams, by (local, remote): (base, server) for a TURN server; for ICE-TCP
    /// the connection's addresses, or the [`StreamCommand::Connect`]'s while it opens. The
    /// sending half of each task's queue: dropping it ends the task, which closes the stream.
    links: HashMap<(SocketAddr, SocketAddr), mpsc::Sender<Vec<u8>>>,
    link_events: (mpsc::Sender<LinkEvent>, mpsc::Receiver<LinkEvent>),
    sockets: Vec<UdpSocket>,
    /// `locals[i]` is the bound address of `sockets[i]`: the session's bases.
    locals: Vec<SocketAddr>,
    /// ICE-TCP listeners, and `tcp_locals[i]` the address of `tcp_listeners[i]`.
    tcp_listeners: Vec<TcpListener>,
    tcp_locals: Vec<SocketAddr>,
    /// The multicast DNS sockets, opened on the session's first query.
    mdns: Option<MdnsSocket>,
    /// They could not be opened: queries are dropped (the names stay unresolved).
    mdns_unavailable: bool,
    listeners: Vec<(EventKind, Listener)>,
    events: mpsc::UnboundedSender<PeerEvent>,
    data: mpsc::Sender<Vec<u8>>,
    send_buf: Vec<u8>,
    closed: bool,
    /// `close()`'s answer, sent once everything queued went out.
    close_reply: Option<Reply<()>>,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut recv_buf = vec![0u8; MAX_DATAGRAM];
        let mut mdns_buf = vec![0u8; 9000];
        let mut rotate = 0usize;
        while !self.closed {
            self.flush().await;
            let deadline = self.session.poll_timeout();
            let mdns_recv = async {
                match &self.mdns {
                    Some(m) => m.recv(&mut mdns_buf).await,
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
                (i, res) = accept_any(&self.tcp_listeners, rotate) => Input::Accept(i, res),
                Some(e) = self.link_events.1.recv() => Input::Stream(e),
                res = mdns_recv => Input::Mdns(res),
                () = sleep => Input::Timeout,
            };
            let now = Instant::now();
            match input {
                // The handle was dropped: close as `close()` would (TURN allocations deleted).
                Input::Command(None) => {
                    self.session.close(now);
                    break;
                }
                Input::Command(Some(cmd)) => self.handle_command(cmd).await,
                Input::Datagram(i, Ok((len, from))) => {
                    rotate = rotate.wrapping_add(1);
                    let bytes = &recv_buf[..len];
                    if let Some(range) =
                        self.session
                            .handle_datagram(now, self.locals[i], from, bytes)
                    {
                        // Datagram semantics: if the application does not keep up, drop rather
                        // than block the session's timers.
                        let _ = self.data.try_send(bytes[range].to_vec());
                    }
                }
                // ICMP errors surface on some platforms as receive errors: not fatal for UDP.
                Input::Datagram(_, Err(_)) => rotate = rotate.wrapping_add(1),
                Input::Accept(i, Ok((stream, from))) => {
                    rotate = rotate.wrapping_add(1);
                    self.on_accept(now, self.tcp_locals[i], stream, from);
                }
                // A connection that went away before it was accepted, or no file descriptor
                // left: the listener stays.
                Input::Accept(_, Err(_)) => rotate = rotate.wrapping_add(1),
                Input::Stream(e) => self.on_stream(now, e),
                Input::Mdns(Ok((len, from))) => {
                    self.session
                        .handle_mdns_datagram(now, from, &mdns_buf[..len]);
                }
                Input::Mdns(Err(_)) => {}
                Input::Timeout => self.session.handle_timeout(now),
            }
        }
        // Deliver the final events (`closed`) and TURN deallocations before the channels drop.
        self.flush().await;
        if let Some(r) = self.close_reply.take() {
            let _ = r.send(Ok(()));
        }
    }

    /// A listener accepted a connection: the session takes it (a task then carries it) or
    /// refuses it (past the agent's limits, no agent yet), and it is closed at once.
    fn on_accept(
        &mut self,
        now: Instant,
        listener: SocketAddr,
        stream: TcpStream,
        from: SocketAddr,
    ) {
        if self
            .session
            .handle_stream_accepted(now, listener, from)
            .is_err()
        {
            return;
        }
        let (tx, rx) = mpsc::channel(LINK_QUEUE);
        let events = self.link_events.0.clone();
        tokio::spawn(run_link(listener, from, Open::Accepted(stream), rx, events));
        self.links.insert((listener, from), tx);
    }

    /// What the session asks of its ICE-TCP connections: open one from an IP address (a task
    /// connects, with a timeout), or close one (its queue is dropped).
    fn on_stream_command(&mut self, command: StreamCommand) {
        match command {
            StreamCommand::Connect { local, remote } => {
                let (tx, rx) = mpsc::channel(LINK_QUEUE);
                let events = self.link_events.0.clone();
                tokio::spawn(run_link(local, remote, Open::Connect, rx, events));
                self.links.insert((local, remote), tx);
            }
            StreamCommand::Close { local, remote } => {
                self.links.remove(&(local, remote));
            }
            _ => {}
        }
    }

    fn on_stream(&mut self, now: Instant, e: LinkEvent) {
        let key = (e.local, e.remote);
        let ok = match e.what {
            What::Connected(bound) => {
                // Unless the session closed it while it was opening (the task then ends).
                if let Some(tx) = self.links.remove(&key) {
                    self.links.insert((bound, e.remote), tx);
                    self.session
                        .handle_stream_connected(now, e.local, e.remote, bound);
                }
                true
            }
            What::Data(bytes) => self
                .session
                .handle_stream_data(now, e.local, e.remote, &bytes)
                .is_ok(),
            What::Closed => {
                // A TURN stream's end is always reported (the allocation is gone); an ICE-TCP
                // connection's only while the session still has it (or its Connect).
                if self.links.remove(&key).is_some() || self.turn_streams.contains_key(&e.remote) {
                    self.session.handle_stream_closed(now, e.local, e.remote);
                }
                false
            }
        };
        if !ok {
            // Dropping the queue's sender ends the task, which closes the stream.
            self.links.remove(&key);
        }
        while let Some(data) = self.session.poll_stream_data() {
            let _ = self.data.try_send(data);
        }
    }

    /// Sends `len` bytes of `send_buf` as `over` says: on the UDP socket bound at `source`, on
    /// an ICE-TCP connection, on the stream to a TURN server (opened on first use), or as an
    /// mDNS query. False when no socket or connection matches.
    async fn transmit(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        over: Over,
        len: usize,
    ) -> bool {
        let bytes = &self.send_buf[..len];
        match over {
            Over::Stream => {
                let key = (source, destination);
                if !self.links.contains_key(&key) {
                    // Only TURN streams are opened on first use; ICE-TCP connections when the
                    // session asks (`StreamCommand::Connect`).
                    let Some(tls) = self.turn_streams.get(&destination).cloned() else {
                        return false;
                    };
                    let (tx, rx) = mpsc::channel(LINK_QUEUE);
                    let events = self.link_events.0.clone();
                    tokio::spawn(run_link(source, destination, Open::Turn(tls), rx, events));
                    self.links.insert(key, tx);
                }
                let Some(link) = self.links.get(&key) else {
                    return false;
                };
                // A full queue loses the message, as a full socket buffer would.
                let _ = link.try_send(bytes.to_vec());
                true
            }
            Over::Multicast => {
                if self.mdns.is_none() && !self.mdns_unavailable {
                    let ips: Vec<_> = self.locals.iter().map(SocketAddr::ip).collect();
                    // Without multicast sockets the names stay unresolved; prflx still works.
                    self.mdns = MdnsSocket::bind(&ips).ok();
                    self.mdns_unavailable = self.mdns.is_none();
                }
                match &self.mdns {
                    // A failed send is a lost query; the resolver retransmits.
                    Some(m) => m.send(bytes, destination).await.is_ok(),
                    None => false,
                }
            }
            Over::Udp => {
                let Some(i) = self.locals.iter().position(|l| *l == source) else {
                    return false;
                };
                // A failed send is a lost datagram; the agent retransmits or gives up.
                let _ = self.sockets[i].send_to(bytes, destination).await;
                true
            }
        }
    }

    /// Follows the session's stream commands, sends what it queued and forwards its events.
    async fn flush(&mut self) {
        while let Some(c) = self.session.poll_stream_command() {
            self.on_stream_command(c);
        }
        while let Some(t) = self.session.poll_transmit(&mut self.send_buf) {
            self.transmit(t.source, t.destination, t.over, t.len).await;
        }
        // Closes the agent asked for with its last transmits go after them.
        while let Some(c) = self.session.poll_stream_command() {
            self.on_stream_command(c);
        }
        while let Some(event) = self.session.poll_event() {
            self.deliver(event);
        }
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
        let now = Instant::now();
        let session = &mut self.session;
        match cmd {
            Command::CreateOffer(r) => {
                let _ = r.send(session.create_offer(now).map_err(Error::from));
            }
            Command::CreateAnswer(r) => {
                let _ = r.send(session.create_answer().map_err(Error::from));
            }
            Command::SetLocal(d, r) => {
                let _ = r.send(session.set_local_description(now, d).map_err(Error::from));
            }
            Command::SetRemote(d, r) => {
                let _ = r.send(session.set_remote_description(now, d).map_err(Error::from));
            }
            Command::AddCandidate(c, r) => {
                let _ = r.send(session.add_ice_candidate(now, c).map_err(Error::from));
            }
            Command::Send(payload, r) => {
                let _ = r.send(self.send(&payload).await);
            }
            Command::Status(r) => {
                let _ = r.send(Ok(session.status()));
            }
            Command::Stats(r) => {
                let _ = r.send(Ok(session.stats()));
            }
            Command::RestartIce(r) => {
                let _ = r.send(session.restart_ice().map_err(Error::from));
            }
            Command::AddListener(kind, listener, r) => {
                self.listeners.push((kind, listener));
                let _ = r.send(Ok(()));
            }
            Command::Close(r) => {
                session.close(now);
                self.closed = true;
                // Answered after the last flush, once the TURN deallocations are sent.
                self.close_reply = Some(r);
            }
        }
    }

    async fn send(&mut self, payload: &[u8]) -> Result<()> {
        let t = self.session.send(payload, &mut self.send_buf)?;
        if !self.transmit(t.source, t.destination, t.over, t.len).await {
            return Err(Error::Ice(floe_ice::IceError::NotConnected));
        }
        Ok(())
    }
}
