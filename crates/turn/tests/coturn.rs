//! The client over real sockets on loopback, against a real coturn (`turnserver`) and against
//! floe's own server run behind a small socket loop: the same cases for both.
//!
//! Without `turnserver` on the PATH the coturn cases are skipped with a message, or fail when
//! the `CI` environment variable is set (CI installs coturn).

mod common;

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use floe_stun::attributes::{AddressFamily, EvenPort};
use floe_stun::{Class, Message, Method};
use floe_turn::client::AllocationFamily;
use floe_turn::{
    ClientConfig, Received, ServerConfig, ServerEvent, StreamDecoder, StreamFrame, Transport,
    TurnClient, TurnError, TurnEvent, TurnServer,
};

use common::{CoturnOptions, Setup, REALM};

// ---------------------------------------------------------------------------------------------
// Servers

/// A running TURN server: its UDP and TCP listening addresses, stopped on drop.
struct Server {
    udp: SocketAddr,
    tcp: SocketAddr,
    _guard: Box<dyn Send>,
}

/// Starts coturn (IPv4 and IPv6, with `setup`); `None` (after saying so) when it is not
/// installed, see [`common::coturn`].
fn coturn(setup: Setup) -> Option<Server> {
    let coturn = common::coturn(CoturnOptions { ipv6: true, setup })?;
    Some(Server {
        udp: coturn.addr,
        tcp: coturn.addr,
        _guard: Box::new(coturn),
    })
}

struct FloeGuard {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FloeGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs floe's TurnServer behind non-blocking loopback sockets in a thread.
fn floe(setup: Setup) -> Server {
    let mut config = ServerConfig::new(REALM, "alice", "secret");
    // The peers are on loopback, which a TURN server refuses unless told (RFC 8656 §21.4).
    config.allowed_peers = vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
    if let Some(l) = setup.lifetime {
        config.default_lifetime = Duration::from_secs(l.into());
        config.max_lifetime = Duration::from_secs(l.into());
    }
    if let Some(l) = setup.permission_lifetime {
        config.permission_lifetime = Duration::from_secs(l.into());
    }
    if let Some(l) = setup.channel_lifetime {
        config.channel_lifetime = Duration::from_secs(l.into());
    }
    config.nonce_lifetime = setup.stale_nonce.map(|n| Duration::from_secs(n.into()));
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    udp.set_nonblocking(true).unwrap();
    tcp.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut server = TurnServer::new(config, [42; 32]);
        let mut relays: HashMap<SocketAddr, UdpSocket> = HashMap::new();
        let mut streams: HashMap<SocketAddr, (TcpStream, StreamDecoder)> = HashMap::new();
        let mut buf = vec![0u8; 65536];
        while !stop2.load(Ordering::Relaxed) {
            let now = Instant::now();
            let mut busy = false;
            while let Ok((n, from)) = udp.recv_from(&mut buf) {
                busy = true;
                server.handle_client(now, udp_addr, from, Transport::Udp, &buf[..n]);
            }
            while let Ok((s, from)) = tcp.accept() {
                s.set_nonblocking(true).unwrap();
                streams.insert(from, (s, StreamDecoder::new()));
            }
            let mut closed = Vec::new();
            for (from, (s, decoder)) in streams.iter_mut() {
                match s.read(&mut buf) {
                    Ok(0) => closed.push(*from),
                    Ok(n) => {
                        busy = true;
                        decoder.push(&buf[..n]);
                        while let Some(Ok(frame)) = decoder.next_frame() {
                            let bytes = match frame {
                                StreamFrame::Stun(m) => m,
                                StreamFrame::ChannelData(cd) => {
                                    // Re-frame unpadded: the server takes one message.
                                    let mut v = vec![0; cd.encoded_len(false)];
                                    cd.encode(false, &mut v).unwrap();
                                    server.handle_client(
                                        now,
                                        tcp_addr,
                                        *from,
                                        Transport::Stream,
                                        &v,
                                    );
                                    continue;
                                }
                            };
                            server.handle_client(now, tcp_addr, *from, Transport::Stream, bytes);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => closed.push(*from),
                }
            }
            for c in closed {
                streams.remove(&c);
            }
            for (relay, sock) in &relays {
                while let Ok((n, from)) = sock.recv_from(&mut buf) {
                    busy = true;
                    server.handle_peer(now, *relay, from, &buf[..n]);
                }
            }
            if server.poll_timeout().is_some_and(|t| t <= now) {
                server.handle_timeout(now);
            }
            while let Some(ev) = server.poll_event() {
                match ev {
                    ServerEvent::BindRelay {
                        allocation,
                        family,
                        port,
                        reserve_next,
                        ..
                    } => {
                        let ip: IpAddr = match family {
                            AddressFamily::Ipv4 => "127.0.0.1".parse().unwrap(),
                            AddressFamily::Ipv6 => "::1".parse().unwrap(),
                        };
                        let ports = [Some(port), reserve_next.then_some(port + 1)];
                        let sockets: Option<Vec<UdpSocket>> = ports
                            .into_iter()
                            .flatten()
                            .map(|p| UdpSocket::bind((ip, p)).ok())
                            .collect();
                        let bound = sockets.map(|sockets| {
                            for s in sockets {
                                s.set_nonblocking(true).unwrap();
                                relays.insert(s.local_addr().unwrap(), s);
                            }
                            SocketAddr::new(ip, port)
                        });
                        server.relay_bound(now, allocation, family, bound);
                    }
                    ServerEvent::ReleaseRelay { relay } => {
                        relays.remove(&relay);
                    }
                }
            }
            while let Some(t) = server.poll_transmit() {
                busy = true;
                if t.source == udp_addr && t.transport == Transport::Udp {
                    let _ = udp.send_to(&t.payload, t.destination);
                } else if t.transport == Transport::Stream {
                    if let Some((s, _)) = streams.get_mut(&t.destination) {
                        s.set_nonblocking(false).unwrap();
                        let _ = s.write_all(&t.payload);
                        s.set_nonblocking(true).unwrap();
                    }
                } else if let Some(sock) = relays.get(&t.source) {
                    let _ = sock.send_to(&t.payload, t.destination);
                }
            }
            if !busy {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    Server {
        udp: udp_addr,
        tcp: tcp_addr,
        _guard: Box::new(FloeGuard {
            stop,
            thread: Some(thread),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Peers

/// A UDP echo peer on loopback, stopped on drop.
struct EchoPeer {
    addr: SocketAddr,
    _guard: FloeGuard,
}

fn echo_peer(ip: &str) -> EchoPeer {
    let sock = UdpSocket::bind((ip, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop2.load(Ordering::Relaxed) {
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(&buf[..n], from);
            }
        }
    });
    EchoPeer {
        addr,
        _guard: FloeGuard {
            stop,
            thread: Some(thread),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// The client driver: a small blocking loop around the sans-IO client.

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
}

struct Driver {
    client: TurnClient,
    conn: Conn,
    events: Vec<TurnEvent>,
    data: VecDeque<(SocketAddr, Vec<u8>)>,
    /// Methods of the requests sent, and error codes received.
    requests: Vec<Method>,
    errors: Vec<u16>,
}

impl Driver {
    fn new(server: &Server, transport: Transport, tweak: impl FnOnce(&mut ClientConfig)) -> Self {
        Self::with_credentials(server, transport, "secret", tweak)
    }

    fn with_credentials(
        server: &Server,
        transport: Transport,
        password: &str,
        tweak: impl FnOnce(&mut ClientConfig),
    ) -> Self {
        let addr = match transport {
            Transport::Udp => server.udp,
            Transport::Stream => server.tcp,
        };
        let mut config = ClientConfig::new(addr, "alice", password);
        config.transport = transport;
        config.software = Some("floe-turn test".into());
        tweak(&mut config);
        let conn = match transport {
            Transport::Udp => Conn::Udp(UdpSocket::bind("127.0.0.1:0").unwrap()),
            Transport::Stream => Conn::Tcp(TcpStream::connect(addr).unwrap()),
        };
        Self {
            client: TurnClient::new(config, [0x5e; 32]),
            conn,
            events: Vec::new(),
            data: VecDeque::new(),
            requests: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        match &mut self.conn {
            Conn::Udp(s) => {
                s.send_to(bytes, self.client.server()).unwrap();
            }
            Conn::Tcp(s) => s.write_all(bytes).unwrap(),
        }
    }

    fn flush(&mut self) {
        while let Some(t) = self.client.poll_transmit() {
            let payload = t.payload.to_vec();
            if let Ok(m) = Message::decode(&payload) {
                self.requests.push(m.method());
            }
            self.write(&payload);
        }
    }

    fn note_error(errors: &mut Vec<u16>, bytes: &[u8]) {
        if let Ok(m) = Message::decode(bytes) {
            if m.class() == Class::ErrorResponse {
                if let Ok(Some(e)) = m.get::<floe_stun::attributes::ErrorCode>() {
                    errors.push(e.code);
                }
            }
        }
    }

    /// One round: send, wait for input up to `max_wait` or the client's deadline, handle it.
    fn step(&mut self, max_wait: Duration) {
        self.flush();
        let now = Instant::now();
        let wait = self
            .client
            .poll_timeout()
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(max_wait)
            .min(max_wait)
            .max(Duration::from_millis(1));
        let mut buf = vec![0u8; 65536];
        match &mut self.conn {
            Conn::Udp(s) => {
                s.set_read_timeout(Some(wait)).unwrap();
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    let bytes = &buf[..n];
                    Self::note_error(&mut self.errors, bytes);
                    if let Received::Data { peer, data } =
                        self.client.handle_datagram(Instant::now(), from, bytes)
                    {
                        self.data.push_back((peer, data.to_vec()));
                    }
                }
            }
            Conn::Tcp(s) => {
                s.set_read_timeout(Some(wait)).unwrap();
                if let Ok(n) = s.read(&mut buf) {
                    assert!(n > 0, "server closed the connection");
                    self.client.push_stream(&buf[..n]);
                    while let Some(r) = self.client.poll_stream(Instant::now()) {
                        if let Received::Data { peer, data } = r.expect("stream framing") {
                            self.data.push_back((peer, data.to_vec()));
                        }
                    }
                }
            }
        }
        let now = Instant::now();
        if self.client.poll_timeout().is_some_and(|t| t <= now) {
            self.client.handle_timeout(now);
        }
        while let Some(e) = self.client.poll_event() {
            self.events.push(e);
        }
        self.flush();
    }

    /// Runs until an event matching `pred` arrives; panics after `timeout`.
    fn wait_for(&mut self, timeout: Duration, pred: impl Fn(&TurnEvent) -> bool) -> TurnEvent {
        let deadline = Instant::now() + timeout;
        let mut seen = 0;
        loop {
            if let Some(e) = self.events[seen..].iter().find(|e| pred(e)) {
                return e.clone();
            }
            seen = self.events.len();
            assert!(
                Instant::now() < deadline,
                "timed out; events so far: {:?}, errors {:?}",
                self.events,
                self.errors
            );
            self.step(Duration::from_millis(50));
        }
    }

    /// Runs for `d`, keeping the allocation alive.
    fn run_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.step(Duration::from_millis(50));
        }
    }

    fn allocate(&mut self) -> Vec<SocketAddr> {
        self.client.allocate(Instant::now()).unwrap();
        match self.wait_for(Duration::from_secs(5), |e| {
            matches!(e, TurnEvent::Allocated { .. } | TurnEvent::Failed(_))
        }) {
            TurnEvent::Allocated { relayed, .. } => relayed,
            other => panic!("allocation failed: {other:?}"),
        }
    }

    fn send(&mut self, peer: SocketAddr, data: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; 2048];
        let n = self
            .client
            .send_to(Instant::now(), peer, data, &mut buf)
            .unwrap();
        self.flush();
        self.write(&buf[..n]);
        buf[..n].to_vec()
    }

    fn recv(&mut self, timeout: Duration) -> Option<(SocketAddr, Vec<u8>)> {
        let deadline = Instant::now() + timeout;
        while self.data.is_empty() && Instant::now() < deadline {
            self.step(Duration::from_millis(20));
        }
        self.data.pop_front()
    }

    /// Sends until the echo comes back (the first datagrams may race the permission).
    fn echo(&mut self, peer: SocketAddr, data: &[u8]) -> Vec<u8> {
        for _ in 0..20 {
            let wire = self.send(peer, data);
            if let Some((from, got)) = self.recv(Duration::from_millis(250)) {
                assert_eq!(from, peer);
                assert_eq!(got, data);
                self.data.clear();
                return wire;
            }
        }
        panic!("no echo from {peer}; events {:?}", self.events);
    }

    fn close(&mut self) {
        self.client.close(Instant::now());
        self.wait_for(Duration::from_secs(5), |e| *e == TurnEvent::Closed);
    }
}

// ---------------------------------------------------------------------------------------------
// Cases

fn case_allocate_udp(server: &Server) {
    let mut d = Driver::new(server, Transport::Udp, |_| {});
    let relayed = d.allocate();
    assert_eq!(relayed.len(), 1);
    assert_eq!(relayed[0].ip(), IpAddr::from([127, 0, 0, 1]));
    assert_eq!(d.errors, vec![401]);
    d.close();
}

fn case_allocate_tcp(server: &Server) {
    let mut d = Driver::new(server, Transport::Stream, |_| {});
    let relayed = d.allocate();
    assert_eq!(relayed[0].ip(), IpAddr::from([127, 0, 0, 1]));
    let peer = echo_peer("127.0.0.1");
    d.echo(peer.addr, b"over tcp, send indication");
    let channel = d.client.bind_channel(Instant::now(), peer.addr).unwrap();
    d.wait_for(Duration::from_secs(5), |e| {
        matches!(e, TurnEvent::ChannelBound { .. })
    });
    let wire = d.echo(peer.addr, b"odd size");
    assert_eq!(u16::from_be_bytes([wire[0], wire[1]]), channel);
    assert_eq!(wire.len() % 4, 0, "padded on streams");
    d.close();
}

fn case_send_indications(server: &Server) {
    let mut d = Driver::new(server, Transport::Udp, |_| {});
    d.allocate();
    let peer = echo_peer("127.0.0.1");
    d.client
        .create_permission(Instant::now(), peer.addr.ip())
        .unwrap();
    d.wait_for(Duration::from_secs(5), |e| {
        matches!(e, TurnEvent::PermissionCreated { .. })
    });
    for i in 0..5 {
        let wire = d.echo(peer.addr, format!("ping {i}").as_bytes());
        assert!(Message::decode(&wire).is_ok(), "Send indication");
    }
    d.close();
}

fn case_channel(server: &Server) {
    let mut d = Driver::new(server, Transport::Udp, |_| {});
    d.allocate();
    let peer = echo_peer("127.0.0.1");
    let channel = d.client.bind_channel(Instant::now(), peer.addr).unwrap();
    d.wait_for(Duration::from_secs(5), |e| {
        matches!(e, TurnEvent::ChannelBound { .. })
    });
    for i in 0..5 {
        let wire = d.echo(peer.addr, format!("channel {i}").as_bytes());
        assert_eq!(u16::from_be_bytes([wire[0], wire[1]]), channel);
    }
    d.close();
}

/// Lifetimes of a few seconds: the allocation, permission and channel survive several of them.
fn case_refresh(server: &Server) {
    let mut d = Driver::new(server, Transport::Udp, |c| {
        c.permission_refresh = Duration::from_secs(2);
        c.channel_refresh = Duration::from_secs(3);
    });
    d.client.allocate(Instant::now()).unwrap();
    let granted = match d.wait_for(Duration::from_secs(5), |e| {
        matches!(e, TurnEvent::Allocated { .. })
    }) {
        TurnEvent::Allocated { lifetime, .. } => lifetime,
        _ => unreachable!(),
    };
    assert!(granted <= Duration::from_secs(5), "granted {granted:?}");
    let send_peer = echo_peer("127.0.0.1");
    let chan_peer = echo_peer("127.0.0.1");
    d.client
        .create_permission(Instant::now(), send_peer.addr.ip())
        .unwrap();
    d.client
        .bind_channel(Instant::now(), chan_peer.addr)
        .unwrap();
    d.wait_for(Duration::from_secs(5), |e| {
        matches!(e, TurnEvent::ChannelBound { .. })
    });
    d.run_for(Duration::from_secs(12));
    let refreshes = d
        .events
        .iter()
        .filter(|e| matches!(e, TurnEvent::Refreshed { .. }))
        .count();
    // The first Refresh must land before the 5 s lifetime ran out (coturn then grants its
    // default 600 s whatever LIFETIME asks; floe keeps 5 s and refreshes again).
    assert!(refreshes >= 1, "events {:?}", d.events);
    let binds = d
        .requests
        .iter()
        .filter(|m| **m == Method::CHANNEL_BIND)
        .count();
    let perms = d
        .requests
        .iter()
        .filter(|m| **m == Method::CREATE_PERMISSION)
        .count();
    assert!(
        binds >= 4 && perms >= 4,
        "{binds} ChannelBind, {perms} CreatePermission"
    );
    assert!(!d.events.iter().any(|e| matches!(e, TurnEvent::Failed(_))));
    d.echo(send_peer.addr, b"still permitted");
    let wire = d.echo(chan_peer.addr, b"still bound");
    assert_eq!(wire[0] & 0xf0, 0x40);
    d.close();
}

fn case_stale_nonce(server: &Server) {
    let mut d = Driver::new(server, Transport::Udp, |_| {});
    d.allocate();
    std::thread::sleep(Duration::from_millis(3500));
    let peer = echo_peer("127.0.0.1");
    d.client
        .create_permission(Instant::now(), peer.addr.ip())
        .unwrap();
    d.wait_for(Duration::from_secs(5), |e| {
        matches!(e, TurnEvent::PermissionCreated { .. })
    });
    assert!(d.errors.contains(&438), "errors {:?}", d.errors);
    d.echo(peer.addr, b"after a stale nonce");
}

fn case_wrong_password(server: &Server) {
    let mut d = Driver::with_credentials(server, Transport::Udp, "not-the-password", |_| {});
    d.client.allocate(Instant::now()).unwrap();
    let e = d.wait_for(Duration::from_secs(5), |e| {
        matches!(e, TurnEvent::Failed(_))
    });
    assert_eq!(e, TurnEvent::Failed(TurnError::Unauthorized));
    let sent = d.requests.len();
    d.run_for(Duration::from_secs(1));
    assert_eq!(d.requests.len(), sent, "no retry loop");
    assert_eq!(sent, 2);
    eprintln!("wrong password reported as: {}", TurnError::Unauthorized);
}

fn case_ipv6(server: &Server) {
    let mut d = Driver::new(server, Transport::Udp, |c| {
        c.family = AllocationFamily::Ipv6
    });
    let relayed = d.allocate();
    assert_eq!(relayed.len(), 1);
    assert_eq!(relayed[0].ip(), "::1".parse::<IpAddr>().unwrap());
    let peer = echo_peer("::1");
    d.echo(peer.addr, b"v6 via send indication");
    d.client.bind_channel(Instant::now(), peer.addr).unwrap();
    d.wait_for(Duration::from_secs(5), |e| {
        matches!(e, TurnEvent::ChannelBound { .. })
    });
    let wire = d.echo(peer.addr, b"v6 via channel");
    assert_eq!(wire[0] & 0xf0, 0x40);
    d.close();
}

/// EVEN-PORT with the R bit (RFC 8656 §7.2): an even relayed port, and the next one reserved
/// under a RESERVATION-TOKEN that a second client redeems and relays through.
fn case_even_port(server: &Server) {
    let mut a = Driver::new(server, Transport::Udp, |c| {
        c.even_port = Some(EvenPort { reserve_next: true })
    });
    let relay = a.allocate()[0];
    assert_eq!(relay.port() % 2, 0, "{relay}");
    let token = a.client.reservation_token().expect("a RESERVATION-TOKEN");
    let mut b = Driver::new(server, Transport::Udp, |c| {
        c.reservation_token = Some(token)
    });
    let reserved = b.allocate();
    assert_eq!(
        reserved,
        vec![SocketAddr::new(relay.ip(), relay.port() + 1)]
    );
    let peer = echo_peer("127.0.0.1");
    b.echo(peer.addr, b"through the reserved port");
    b.close();
    a.close();
}

macro_rules! both {
    ($name:ident, $setup:expr, $case:ident) => {
        mod $name {
            use super::*;

            #[test]
            fn coturn() {
                if let Some(server) = super::coturn($setup) {
                    $case(&server);
                }
            }

            #[test]
            fn floe() {
                $case(&super::floe($setup));
            }
        }
    };
}

const SHORT: Setup = Setup {
    lifetime: Some(5),
    permission_lifetime: Some(4),
    channel_lifetime: Some(5),
    stale_nonce: None,
};

const STALE: Setup = Setup {
    lifetime: None,
    permission_lifetime: None,
    channel_lifetime: None,
    stale_nonce: Some(2),
};

const DEFAULT: Setup = Setup {
    lifetime: None,
    permission_lifetime: None,
    channel_lifetime: None,
    stale_nonce: None,
};

both!(allocate_udp, DEFAULT, case_allocate_udp);
both!(allocate_tcp, DEFAULT, case_allocate_tcp);
both!(send_indications, DEFAULT, case_send_indications);
both!(channel, DEFAULT, case_channel);
both!(refresh, SHORT, case_refresh);
both!(stale_nonce, STALE, case_stale_nonce);
both!(wrong_password, DEFAULT, case_wrong_password);
both!(ipv6, DEFAULT, case_ipv6);
both!(even_port, DEFAULT, case_even_port);
