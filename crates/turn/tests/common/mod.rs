//! The harness the in-process tests share: a client and floe's own server on one virtual
//! network ([`Net`]), and requests and responses written by hand, so that one can be wrong in
//! exactly one way.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_stun::attributes::{
    AddressFamily, Data, ErrorCode, Lifetime, List, Nonce, PasswordAlgorithm, PasswordAlgorithms,
    Realm, RequestedTransport, Username, XorPeerAddress,
};
use floe_stun::{
    Class, LongTermKey, Message, MessageType, MessageWriter, Method, PasswordAlgorithmKind,
    TransactionId,
};
use floe_turn::{
    ClientConfig, Received, ServerConfig, ServerEvent, StreamDecoder, StreamFrame, Transport,
    TurnClient, TurnEvent, TurnServer,
};

pub const SERVER: &str = "10.0.0.1:3478";
pub const CLIENT: &str = "192.0.2.10:5000";
pub const PEER: &str = "198.51.100.7:6000";
pub const PEER6: &str = "[2001:db8::7]:6000";
pub const REALM: &str = "example.test";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Client, server and one network between them, with peers that just record what they get.
pub struct Net {
    pub now: Instant,
    pub client: TurnClient,
    pub server: TurnServer,
    pub next_port: u16,
    pub transport: Transport,
    /// Server-side decoder of the client's stream.
    pub server_rx: StreamDecoder,
    /// Split size for bytes delivered to the client's stream (partial and coalesced input).
    pub chunk: usize,
    pub pending_to_client: Vec<u8>,
    pub events: Vec<TurnEvent>,
    pub client_data: Vec<(SocketAddr, Vec<u8>)>,
    pub peer_data: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    /// Every request the client sent: (method, has MESSAGE-INTEGRITY).
    pub requests: Vec<(Method, bool)>,
    pub errors_to_client: Vec<u16>,
    pub drop_next_to_server: usize,
}

impl Net {
    pub fn new(config: ClientConfig, server: ServerConfig) -> Self {
        let transport = config.transport;
        Self {
            now: Instant::now(),
            client: TurnClient::new(config, [1; 32]),
            server: TurnServer::new(server, [2; 32]),
            next_port: 49152,
            transport,
            server_rx: StreamDecoder::new(),
            chunk: 3,
            pending_to_client: Vec::new(),
            events: Vec::new(),
            client_data: Vec::new(),
            peer_data: Vec::new(),
            requests: Vec::new(),
            errors_to_client: Vec::new(),
            drop_next_to_server: 0,
        }
    }

    pub fn udp() -> Self {
        Self::new(client_config(), server_config())
    }

    /// Bytes from the client to the server.
    pub fn send_to_server(&mut self, bytes: &[u8]) {
        if let Ok(m) = Message::decode(bytes) {
            if m.class() == floe_stun::Class::Request {
                self.requests.push((m.method(), m.has_integrity()));
            }
        }
        if self.drop_next_to_server > 0 {
            self.drop_next_to_server -= 1;
            return;
        }
        let (now, from) = (self.now, addr(CLIENT));
        match self.transport {
            Transport::Udp => {
                self.server
                    .handle_client(now, addr(SERVER), from, Transport::Udp, bytes)
            }
            Transport::Stream => {
                self.server_rx.push(bytes);
                while let Some(frame) = self.server_rx.next_frame() {
                    let frame: Vec<u8> = match frame.unwrap() {
                        StreamFrame::Stun(m) => m.to_vec(),
                        StreamFrame::ChannelData(cd) => {
                            let mut v = vec![0; cd.encoded_len(false)];
                            cd.encode(false, &mut v).unwrap();
                            v
                        }
                    };
                    self.server
                        .handle_client(now, addr(SERVER), from, Transport::Stream, &frame);
                }
            }
        }
    }

    pub fn deliver_to_client(&mut self, bytes: &[u8]) {
        if let Ok(m) = Message::decode(bytes) {
            if let Ok(Some(e)) = m.get::<floe_stun::attributes::ErrorCode>() {
                self.errors_to_client.push(e.code);
            }
        }
        match self.transport {
            Transport::Udp => {
                if let Received::Data { peer, data } =
                    self.client.handle_datagram(self.now, addr(SERVER), bytes)
                {
                    self.client_data.push((peer, data.to_vec()));
                }
            }
            Transport::Stream => {
                // Coalesce with whatever is pending and feed in small chunks.
                self.pending_to_client.extend_from_slice(bytes);
                let pending = std::mem::take(&mut self.pending_to_client);
                for chunk in pending.chunks(self.chunk) {
                    self.client.push_stream(chunk);
                    while let Some(r) = self.client.poll_stream(self.now) {
                        if let Received::Data { peer, data } = r.unwrap() {
                            self.client_data.push((peer, data.to_vec()));
                        }
                    }
                }
            }
        }
    }

    pub fn pump(&mut self) {
        loop {
            let mut progress = false;
            while let Some(t) = self.client.poll_transmit() {
                assert_eq!(t.destination, addr(SERVER));
                let bytes = t.payload.to_vec();
                self.send_to_server(&bytes);
                progress = true;
            }
            if serve_events(&mut self.server, self.now, &mut self.next_port) {
                progress = true;
            }
            while let Some(t) = self.server.poll_transmit() {
                progress = true;
                if t.destination == addr(CLIENT) {
                    assert_eq!(t.source, addr(SERVER));
                    self.deliver_to_client(&t.payload);
                } else {
                    self.peer_data.push((t.source, t.destination, t.payload));
                }
            }
            while let Some(e) = self.client.poll_event() {
                self.events.push(e);
            }
            if !progress {
                break;
            }
        }
    }

    /// Advances virtual time to `now + d`, firing every timer on the way.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(end)
                .max(self.now);
            if next > end {
                break;
            }
            self.now = next;
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            self.pump();
            if next == end {
                break;
            }
        }
        self.now = end;
    }

    pub fn allocate(&mut self) -> Vec<SocketAddr> {
        self.client.allocate(self.now).unwrap();
        self.pump();
        match self
            .events
            .iter()
            .find(|e| matches!(e, TurnEvent::Allocated { .. }))
        {
            Some(TurnEvent::Allocated { relayed, .. }) => relayed.clone(),
            _ => panic!("no allocation: {:?}", self.events),
        }
    }

    pub fn relay(&self) -> SocketAddr {
        self.client.relayed_addresses()[0]
    }

    /// The peer sends `data` to the relayed address.
    pub fn peer_sends(&mut self, peer: SocketAddr, relay: SocketAddr, data: &[u8]) {
        self.server.handle_peer(self.now, relay, peer, data);
        self.pump();
    }

    pub fn send(&mut self, peer: SocketAddr, data: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; 1500];
        let n = self.client.send_to(self.now, peer, data, &mut buf).unwrap();
        self.pump();
        self.send_to_server(&buf[..n]);
        self.pump();
        buf[..n].to_vec()
    }
}

pub fn client_config() -> ClientConfig {
    ClientConfig::new(addr(SERVER), "alice", "secret")
}

pub fn server_config() -> ServerConfig {
    ServerConfig::new(REALM, "alice", "secret")
}

/// An error response the attacker forges for an outstanding request: unsigned, from the
/// server's address, with the request's transaction id.
pub fn forged_error(tid: floe_stun::TransactionId, method: Method, code: u16) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let mut w = floe_stun::MessageWriter::new(
        &mut buf,
        floe_stun::MessageType::new(floe_stun::Class::ErrorResponse, method),
        tid,
    )
    .unwrap();
    w.add(&floe_stun::attributes::ErrorCode::new(code, "forged"))
        .unwrap();
    w.add_fingerprint().unwrap();
    let len = w.finish();
    buf.truncate(len);
    buf
}

/// The next request the client sends, not delivered: its transaction id.
pub fn intercept_request(net: &mut Net) -> (floe_stun::TransactionId, Vec<u8>) {
    let t = net.client.poll_transmit().expect("a request");
    let bytes = t.payload.to_vec();
    (Message::decode(&bytes).unwrap().transaction_id(), bytes)
}

/// Does what the server asks of its driver: binds each relay it asks for on the server's IP (or
/// 2001:db8::1), at `next_port` and up. True if it asked anything.
pub fn serve_events(server: &mut TurnServer, now: Instant, next_port: &mut u16) -> bool {
    let mut any = false;
    while let Some(ev) = server.poll_event() {
        any = true;
        if let ServerEvent::BindRelay {
            allocation, family, ..
        } = ev
        {
            let port = *next_port;
            *next_port += 1;
            let ip = match family {
                AddressFamily::Ipv4 => addr(SERVER).ip(),
                AddressFamily::Ipv6 => "2001:db8::1".parse().unwrap(),
            };
            server.relay_bound(now, allocation, family, Some(SocketAddr::new(ip, port)));
        }
    }
    any
}

/// Sends `bytes` from `from`; returns the server's answers to `from`, binding relays it asks
/// for on the way.
pub fn ask(server: &mut TurnServer, now: Instant, from: SocketAddr, bytes: &[u8]) -> Vec<Vec<u8>> {
    server.handle_client(now, addr(SERVER), from, Transport::Udp, bytes);
    serve_events(server, now, &mut 50_001);
    std::iter::from_fn(|| server.poll_transmit())
        .filter(|t| t.destination == from)
        .map(|t| t.payload)
        .collect()
}

pub fn error_code(bytes: &[u8]) -> Option<u16> {
    Message::decode(bytes)
        .ok()?
        .get::<ErrorCode>()
        .ok()
        .flatten()
        .map(|e| e.code)
}

/// The NONCE of a 401 the server gives to `from` for an unauthenticated Allocate.
pub fn nonce_for(server: &mut TurnServer, now: Instant, from: SocketAddr) -> String {
    let replies = ask(server, now, from, &unauthenticated_allocate(1));
    let msg = Message::decode(&replies[0]).unwrap();
    assert_eq!(error_code(&replies[0]), Some(401));
    msg.get::<Nonce>().unwrap().unwrap().0.to_owned()
}

pub fn unauthenticated_allocate(n: u32) -> Vec<u8> {
    let mut id = [0u8; 12];
    id[..4].copy_from_slice(&n.to_be_bytes());
    let mut buf = [0u8; 64];
    let ty = MessageType::new(Class::Request, Method::ALLOCATE);
    let mut w = MessageWriter::new(&mut buf, ty, TransactionId::new(id)).unwrap();
    w.add(&RequestedTransport::UDP).unwrap();
    w.add_fingerprint().unwrap();
    let len = w.finish();
    buf[..len].to_vec()
}

/// What a request signed with the long-term credentials carries, each part replaceable.
pub struct Signed<'a> {
    pub method: Method,
    pub tid: [u8; 12],
    /// The attributes before the credentials; `None`: REQUESTED-TRANSPORT UDP for an Allocate,
    /// LIFETIME 600 otherwise.
    pub attrs: Option<&'a dyn Fn(&mut MessageWriter<'_>)>,
    /// USERNAME; the key is derived for it, or for alice without it.
    pub username: Option<&'a str>,
    /// REALM; the key is derived for it, or for [`REALM`] without it.
    pub realm: Option<&'a str>,
    pub password: &'a str,
    pub nonce: Option<&'a str>,
    pub algorithm: Option<u16>,
    pub offered: Option<&'a [u16]>,
}

impl Signed<'_> {
    pub fn encode(&self) -> Vec<u8> {
        let kind = match self.algorithm {
            Some(PasswordAlgorithm::SHA256) => PasswordAlgorithmKind::Sha256,
            _ => PasswordAlgorithmKind::Md5,
        };
        let (user, realm) = (
            self.username.unwrap_or("alice"),
            self.realm.unwrap_or(REALM),
        );
        let key = LongTermKey::derive(user, realm, self.password, kind).unwrap();
        let mut buf = [0u8; 512];
        let ty = MessageType::new(Class::Request, self.method);
        let mut w = MessageWriter::new(&mut buf, ty, TransactionId::new(self.tid)).unwrap();
        match self.attrs {
            Some(attrs) => attrs(&mut w),
            None if self.method == Method::ALLOCATE => w.add(&RequestedTransport::UDP).unwrap(),
            None => w.add(&Lifetime(600)).unwrap(),
        }
        if let Some(user) = self.username {
            w.add(&Username(user)).unwrap();
        }
        if let Some(realm) = self.realm {
            w.add(&Realm(realm)).unwrap();
        }
        if let Some(nonce) = self.nonce {
            w.add(&Nonce(nonce)).unwrap();
        }
        if let Some(a) = self.algorithm {
            w.add(&PasswordAlgorithm::new(a)).unwrap();
        }
        if let Some(list) = self.offered {
            let list: Vec<PasswordAlgorithm<'_>> =
                list.iter().map(|a| PasswordAlgorithm::new(*a)).collect();
            w.add(&PasswordAlgorithms(List::Items(&list))).unwrap();
        }
        w.add_message_integrity(&key.integrity_key()).unwrap();
        w.add_fingerprint().unwrap();
        let len = w.finish();
        buf[..len].to_vec()
    }
}

/// An Allocate signed by alice with `nonce`, as the client sends it after the 401.
pub fn allocate_with(nonce: &str) -> Signed<'_> {
    Signed {
        method: Method::ALLOCATE,
        tid: [7; 12],
        attrs: None,
        username: Some("alice"),
        realm: Some(REALM),
        password: "secret",
        nonce: Some(nonce),
        algorithm: None,
        offered: None,
    }
}

/// A Send or Data indication, with XOR-PEER-ADDRESS and DATA when given (so it can lack either).
pub fn indication(method: Method, peer: Option<SocketAddr>, data: Option<&[u8]>) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let ty = MessageType::new(Class::Indication, method);
    let mut w = MessageWriter::new(&mut buf, ty, TransactionId::new([3; 12])).unwrap();
    if let Some(peer) = peer {
        w.add(&XorPeerAddress(peer)).unwrap();
    }
    if let Some(data) = data {
        w.add(&Data(data)).unwrap();
    }
    let len = w.finish();
    buf[..len].to_vec()
}

// ---------------------------------------------------------------------------------------------
// coturn (`turnserver`), for tests/coturn.rs and tests/rfc6062.rs

/// How a case wants a TURN server set up, in both coturn's and floe's terms (seconds); `None`
/// keeps the server's default.
#[derive(Clone, Copy, Default)]
pub struct Setup {
    /// Allocation lifetime (max and default).
    pub lifetime: Option<u32>,
    pub permission_lifetime: Option<u32>,
    pub channel_lifetime: Option<u32>,
    /// How long a nonce lasts before the server answers 438.
    pub stale_nonce: Option<u32>,
}

/// What varies between the coturn launches of the tests.
#[derive(Clone, Copy, Default)]
pub struct CoturnOptions {
    /// Also listen and relay on ::1 (the listening port must then be free there too).
    pub ipv6: bool,
    pub setup: Setup,
}

/// A `turnserver` (coturn) on 127.0.0.1 (and ::1 with [`CoturnOptions::ipv6`]): alice:secret
/// in [`REALM`], fingerprints, loopback peers allowed, relays on the listening addresses, TCP
/// relaying (RFC 6062) left on; killed and its log removed on drop.
pub struct Coturn {
    child: std::process::Child,
    log: std::path::PathBuf,
    /// UDP and TCP listening address on 127.0.0.1.
    pub addr: SocketAddr,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        // Runs on panic too, so no turnserver outlives its test.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Coturn {
    /// coturn's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A port free on 127.0.0.1 for UDP and TCP, and on ::1 too when `ipv6`.
fn free_loopback_port(ipv6: bool) -> u16 {
    use std::net::{TcpListener, UdpSocket};
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        let ok = TcpListener::bind(("127.0.0.1", port)).is_ok()
            && (!ipv6
                || UdpSocket::bind(("::1", port)).is_ok()
                    && TcpListener::bind(("::1", port)).is_ok());
        if ok {
            return port;
        }
    }
}

/// Starts coturn and waits until it answers; `None` (after saying so) when `turnserver` is not
/// on the PATH, and a panic instead when `CI` is set (CI installs coturn).
pub fn coturn(options: CoturnOptions) -> Option<Coturn> {
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicU16, Ordering};
    let path = std::env::var_os("PATH").unwrap_or_default();
    let Some(bin) = std::env::split_paths(&path)
        .map(|d| d.join("turnserver"))
        .find(|p| p.is_file())
    else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "turnserver (coturn) not found on PATH, and CI is set: coturn must be installed"
            );
        }
        eprintln!(
            "SKIPPED: turnserver (coturn) not found on PATH; install coturn to run this case"
        );
        return None;
    };
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let port = free_loopback_port(options.ipv6);
    // Ten relay ports per server, disjoint within a test binary and below the ephemeral range.
    let slot = NEXT.fetch_add(1, Ordering::Relaxed) % 25;
    let min_port = 20000 + (std::process::id() % 40) as u16 * 250 + slot * 10;
    let log = std::env::temp_dir().join(format!("floe-coturn-{}-{port}.log", std::process::id()));
    let mut cmd = Command::new(bin);
    cmd.args(["-n", "-L", "127.0.0.1", "-E", "127.0.0.1"]);
    if options.ipv6 {
        cmd.args(["-L", "::1", "-E", "::1"]);
    }
    cmd.arg(format!("--listening-port={port}"))
        .args(["-a", "-u", "alice:secret", "-r", REALM])
        .args(["--fingerprint", "--no-tls", "--no-dtls", "--no-cli"])
        .arg("--allow-loopback-peers")
        .arg(format!("--min-port={min_port}"))
        .arg(format!("--max-port={}", min_port + 9))
        .arg(format!("--log-file={}", log.display()))
        .args(["--simple-log", "-v"]);
    let setup = options.setup;
    if let Some(l) = setup.lifetime {
        cmd.arg(format!("--max-allocate-lifetime={l}"));
    }
    if let Some(l) = setup.permission_lifetime {
        cmd.arg(format!("--permission-lifetime={l}"));
    }
    if let Some(l) = setup.channel_lifetime {
        cmd.arg(format!("--channel-lifetime={l}"));
    }
    if let Some(n) = setup.stale_nonce {
        cmd.arg(format!("--stale-nonce={n}"));
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start turnserver");
    let coturn = Coturn {
        child,
        log,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    // Ready when a Binding request over UDP is answered and the TCP port accepts.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut req = [0u8; 20];
    let len = MessageWriter::new(
        &mut req,
        MessageType::BINDING_REQUEST,
        TransactionId::new([9; 12]),
    )
    .unwrap()
    .finish();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let _ = sock.send_to(&req[..len], coturn.addr);
        let mut rx = [0u8; 512];
        if sock.recv_from(&mut rx).is_ok() && std::net::TcpStream::connect(coturn.addr).is_ok() {
            return Some(coturn);
        }
    }
    panic!(
        "coturn did not answer on {} within 10 s\n{}",
        coturn.addr,
        coturn.log()
    );
}
