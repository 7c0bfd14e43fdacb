//! The task behind a [`crate::PeerConnection`]: it owns the [`Session`] and the UDP sockets,
//! and runs one `select!` loop over socket receives, the agent's next deadline and commands
//! from the handle. After every input it drains the agent's transmits and events.
//!
//! TURN servers reached over TCP or TLS get one stream per (base, server), each owned by a
//! small task of its own; their bytes come back to the loop through a channel.
//!
//! Everything here is plumbing: what to send, when, and what it means is the
//! [`floe_session::Session`]'s (signaling, descriptions, mDNS bookkeeping) and its agent's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_ice::{TransportPolicy, TurnServerConfig};
use floe_sdp::{Fingerprint, IceCandidateInit, SessionDescriptionInit};
use floe_session::{Over, Session, SessionConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::config::{Configuration, IceTransportPolicy, TurnUrlTransport};
use crate::error::{Error, Result};
use crate::mdns::{local_networks, MdnsSocket};
use crate::net::{bind_udp, recv_any, MAX_DATAGRAM};
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
    let ips: Vec<_> = locals.iter().map(SocketAddr::ip).collect();
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
    };
    let seed = config.seed.unwrap_or_else(crate::convert::os_random);
    let driver = Driver {
        session: Session::new(session_config, &locals, seed),
        turn_streams,
        links: HashMap::new(),
        link_events: mpsc::channel(LINK_QUEUE),
        sockets,
        locals: locals.clone(),
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
    session: Session,
    /// TURN servers reached over a stream, with their TLS parameters (`None`: plain TCP).
    turn_streams: HashMap<SocketAddr, TlsTarget>,
    /// The open streams, by (base, server): the sending half of each task's queue.
    links: HashMap<(SocketAddr, SocketAddr), mpsc::Sender<Vec<u8>>>,
    link_events: (mpsc::Sender<LinkEvent>, mpsc::Receiver<LinkEvent>),
    sockets: Vec<UdpSocket>,
    /// `locals[i]` is the bound address of `sockets[i]`: the session's bases.
    locals: Vec<SocketAddr>,
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

    fn on_stream(&mut self, now: Instant, e: LinkEvent) {
        let ok = match &e.bytes {
            Some(bytes) => self
                .session
                .handle_stream_data(now, e.base, e.server, bytes)
                .is_ok(),
            None => {
                self.session.handle_stream_closed(now, e.base, e.server);
                false
            }
        };
        if !ok {
            // Dropping the queue's sender ends the task, which closes the stream.
            self.links.remove(&(e.base, e.server));
        }
        while let Some(data) = self.session.poll_stream_data() {
            let _ = self.data.try_send(data);
        }
    }

    /// Sends `len` bytes of `send_buf` as `over` says: on the UDP socket bound at `source`, on
    /// the stream to a TURN server (opened on first use), or as an mDNS query. False when no
    /// socket matches.
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
                let tls = self.turn_streams.get(&destination).cloned().flatten();
                let link = self.links.entry((source, destination)).or_insert_with(|| {
                    let (tx, rx) = mpsc::channel(LINK_QUEUE);
                    let events = self.link_events.0.clone();
                    tokio::spawn(run_link(source, destination, tls, rx, events));
                    tx
                });
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

    /// Sends what the session queued and forwards its events.
    async fn flush(&mut self) {
        while let Some(t) = self.session.poll_transmit(&mut self.send_buf) {
            self.transmit(t.source, t.destination, t.over, t.len).await;
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
