//! RFC 6062 (TURN extensions for TCP allocations) on the client side.
//!
//! First against a server written by hand in the test (so each answer can be wrong in one
//! way), then over real sockets against coturn (`turnserver`) with TCP relaying: Connect to a
//! TCP echo server, an incoming peer connection, and a Connect to a closed port. Without
//! `turnserver` on the PATH the coturn cases are skipped with a message, or fail when `CI` is
//! set.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use floe_stun::attributes::{
    ConnectionId, ErrorCode, EvenPort, Lifetime, Nonce, Realm, RequestedTransport,
    XorMappedAddress, XorPeerAddress, XorRelayedAddress,
};
use floe_stun::{
    Class, LongTermKey, Message, MessageType, MessageWriter, Method, PasswordAlgorithmKind,
    TransactionId,
};
use floe_turn::{
    ClientConfig, DataConnection, DataConnectionEvent, DataConnectionState, Received,
    RelayTransport, SendError, Transport, TurnClient, TurnError, TurnEvent,
    MAX_PENDING_CONNECTIONS,
};
use proptest::prelude::*;

use common::{addr, CoturnOptions, CLIENT, PEER, REALM, SERVER};

// ---------------------------------------------------------------------------------------------
// A server written by hand

/// A client with a TCP allocation granted by hand-written answers, and the key to sign more.
struct Fake {
    client: TurnClient,
    now: Instant,
    key: LongTermKey,
}

fn tcp_config(server: SocketAddr) -> ClientConfig {
    ClientConfig {
        transport: Transport::Stream,
        relay_transport: RelayTransport::Tcp,
        ..ClientConfig::new(server, "alice", "secret")
    }
}

/// The next request the client wants written, decoded: (method, transaction id, bytes).
fn next_request(client: &mut TurnClient) -> (Method, TransactionId, Vec<u8>) {
    let t = client.poll_transmit().expect("a request");
    let bytes = t.payload.to_vec();
    let m = Message::decode(&bytes).unwrap();
    assert_eq!(m.class(), Class::Request);
    (m.method(), m.transaction_id(), bytes)
}

/// A response or indication, signed with `key` when given.
fn message(
    class: Class,
    method: Method,
    tid: TransactionId,
    key: Option<&LongTermKey>,
    attrs: impl FnOnce(&mut MessageWriter<'_>),
) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut w = MessageWriter::new(&mut buf, MessageType::new(class, method), tid).unwrap();
    attrs(&mut w);
    if let Some(key) = key {
        w.add_message_integrity(&key.integrity_key()).unwrap();
    }
    w.add_fingerprint().unwrap();
    let n = w.finish();
    buf.truncate(n);
    buf
}

impl Fake {
    fn new() -> Self {
        let key =
            LongTermKey::derive("alice", REALM, "secret", PasswordAlgorithmKind::Md5).unwrap();
        let mut config = tcp_config(addr(SERVER));
        // UDP-only attributes a TCP Allocate must leave out (RFC 6062 §4.1).
        config.dont_fragment = true;
        config.even_port = Some(EvenPort {
            reserve_next: false,
        });
        let mut fake = Fake {
            client: TurnClient::new(config, [5; 32]),
            now: Instant::now(),
            key,
        };
        fake.client.allocate(fake.now).unwrap();
        let (method, tid, _) = next_request(&mut fake.client);
        assert_eq!(method, Method::ALLOCATE);
        fake.deliver(&message(Class::ErrorResponse, method, tid, None, |w| {
            w.add(&ErrorCode::new(401, "Unauthorized")).unwrap();
            w.add(&Realm(REALM)).unwrap();
            w.add(&Nonce("nonce-1")).unwrap();
        }));
        let (_, tid, bytes) = next_request(&mut fake.client);
        let m = Message::decode(&bytes).unwrap();
        assert_eq!(
            m.get::<RequestedTransport>().unwrap(),
            Some(RequestedTransport::TCP)
        );
        assert!(m.get::<EvenPort>().unwrap().is_none());
        assert!(!m
            .attributes()
            .any(|a| a.attr_type == floe_stun::attribute::types::DONT_FRAGMENT));
        let key = fake.key.clone();
        fake.deliver(&message(
            Class::SuccessResponse,
            Method::ALLOCATE,
            tid,
            Some(&key),
            |w| {
                w.add(&XorRelayedAddress(addr("10.0.0.1:49152"))).unwrap();
                w.add(&XorMappedAddress(addr(CLIENT))).unwrap();
                w.add(&Lifetime(600)).unwrap();
            },
        ));
        assert!(matches!(
            fake.client.poll_event(),
            Some(TurnEvent::Allocated { .. })
        ));
        fake
    }

    /// Bytes from the server on the control connection, three at a time.
    fn deliver(&mut self, bytes: &[u8]) -> Vec<Received<'static>> {
        let mut out = Vec::new();
        for chunk in bytes.chunks(3) {
            self.client.push_stream(chunk);
            while let Some(r) = self.client.poll_stream(self.now) {
                out.push(match r.unwrap() {
                    Received::Data { .. } => panic!("no data expected"),
                    Received::Handled => Received::Handled,
                    Received::Ignored => Received::Ignored,
                });
            }
        }
        out
    }

    fn events(&mut self) -> Vec<TurnEvent> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    /// Sends a Connect to `peer` and answers it with `answer` (a CONNECTION-ID, or an error).
    fn connect(&mut self, peer: SocketAddr, answer: Result<u32, u16>) -> Vec<TurnEvent> {
        self.client.connect(self.now, peer).unwrap();
        let (method, tid, bytes) = next_request(&mut self.client);
        assert_eq!(method, Method::CONNECT);
        let m = Message::decode(&bytes).unwrap();
        assert_eq!(
            m.get::<XorPeerAddress>().unwrap(),
            Some(XorPeerAddress(peer))
        );
        assert!(m.has_integrity(), "Connect is authenticated");
        let key = self.key.clone();
        let response = match answer {
            Ok(id) => message(Class::SuccessResponse, method, tid, Some(&key), |w| {
                w.add(&ConnectionId(id)).unwrap();
            }),
            Err(code) => message(Class::ErrorResponse, method, tid, Some(&key), |w| {
                w.add(&ErrorCode::new(code, "no")).unwrap();
            }),
        };
        self.deliver(&response);
        self.events()
    }

    fn attempt(&mut self, peer: SocketAddr, id: u32) -> Vec<Received<'static>> {
        let ind = message(
            Class::Indication,
            Method::CONNECTION_ATTEMPT,
            TransactionId::new([id as u8; 12]),
            None,
            |w| {
                w.add(&XorPeerAddress(peer)).unwrap();
                w.add(&ConnectionId(id)).unwrap();
            },
        );
        self.deliver(&ind)
    }
}

/// The ConnectionBind a data connection wants written: its transaction id, checked to carry
/// `id` and credentials.
fn bind_request(conn: &mut DataConnection, id: u32) -> TransactionId {
    let t = conn.poll_transmit().expect("a ConnectionBind");
    assert_eq!(t.destination, addr(SERVER));
    let m = Message::decode(t.payload).unwrap();
    assert_eq!(m.method(), Method::CONNECTION_BIND);
    assert_eq!(m.class(), Class::Request);
    assert_eq!(m.get::<ConnectionId>().unwrap(), Some(ConnectionId(id)));
    assert!(m.has_integrity());
    m.transaction_id()
}

fn bind_success(key: &LongTermKey, tid: TransactionId) -> Vec<u8> {
    message(
        Class::SuccessResponse,
        Method::CONNECTION_BIND,
        tid,
        Some(key),
        |_| {},
    )
}

#[test]
fn a_tcp_allocation_over_udp_is_refused_locally() {
    let config = ClientConfig {
        relay_transport: RelayTransport::Tcp,
        ..ClientConfig::new(addr(SERVER), "alice", "secret")
    };
    let mut client = TurnClient::new(config, [1; 32]);
    let err = client.allocate(Instant::now()).unwrap_err();
    assert_eq!(err, SendError::TcpAllocationOverUdp);
    assert!(err.to_string().contains("TCP or TLS"), "{err}");
    assert!(client.poll_transmit().is_none(), "nothing sent");
}

#[test]
fn a_tcp_allocate_asks_for_tcp_without_udp_only_attributes() {
    // The checks are in Fake::new: REQUESTED-TRANSPORT 6, no EVEN-PORT, no DONT-FRAGMENT.
    let fake = Fake::new();
    assert!(fake.client.is_allocated());
}

#[test]
fn connect_and_connection_bind_need_a_tcp_allocation() {
    let mut net = common::Net::udp();
    net.allocate();
    let now = net.now;
    assert_eq!(
        net.client.connect(now, addr(PEER)),
        Err(SendError::NotTcpAllocation)
    );
    assert_eq!(
        net.client.connection_bind(now, 1).unwrap_err(),
        SendError::NotTcpAllocation
    );
    let mut idle = TurnClient::new(tcp_config(addr(SERVER)), [1; 32]);
    assert_eq!(idle.connect(now, addr(PEER)), Err(SendError::NotAllocated));
}

#[test]
fn connect_reports_the_connection_id_of_the_success() {
    let mut fake = Fake::new();
    let events = fake.connect(addr(PEER), Ok(0x1234_5678));
    assert_eq!(
        events,
        vec![TurnEvent::Connected {
            peer: addr(PEER),
            connection_id: 0x1234_5678
        }]
    );
    assert_eq!(fake.client.pending_connections(), 1);
    let conn = fake.client.connection_bind(fake.now, 0x1234_5678).unwrap();
    assert_eq!(conn.peer(), addr(PEER));
    assert_eq!(conn.connection_id(), 0x1234_5678);
    assert_eq!(fake.client.pending_connections(), 0);
    assert_eq!(
        fake.client
            .connection_bind(fake.now, 0x1234_5678)
            .unwrap_err(),
        SendError::UnknownConnection,
        "bound once"
    );
}

#[test]
fn connect_errors_446_447_and_403_are_typed() {
    let mut fake = Fake::new();
    for (code, error) in [
        (446, TurnError::ConnectionAlreadyExists),
        (447, TurnError::ConnectionTimeoutOrFailure),
        (403, TurnError::Forbidden),
    ] {
        let events = fake.connect(addr(PEER), Err(code));
        assert_eq!(
            events,
            vec![TurnEvent::ConnectFailed {
                peer: addr(PEER),
                error: error.clone()
            }]
        );
        assert_eq!(error.code(), Some(code));
    }
    assert_eq!(
        fake.client.pending_connections(),
        0,
        "failed Connects free their slot"
    );
    assert!(
        fake.client.is_allocated(),
        "a failed Connect leaves the allocation alone"
    );
}

#[test]
fn a_connect_success_without_connection_id_fails() {
    let mut fake = Fake::new();
    fake.client.connect(fake.now, addr(PEER)).unwrap();
    let (method, tid, _) = next_request(&mut fake.client);
    let key = fake.key.clone();
    fake.deliver(&message(
        Class::SuccessResponse,
        method,
        tid,
        Some(&key),
        |_| {},
    ));
    assert_eq!(
        fake.events(),
        vec![TurnEvent::ConnectFailed {
            peer: addr(PEER),
            error: TurnError::Failed
        }]
    );
}

#[test]
fn an_unanswered_connect_fails_after_ti() {
    let mut fake = Fake::new();
    fake.client.connect(fake.now, addr(PEER)).unwrap();
    let _ = next_request(&mut fake.client);
    // Over a stream a request is sent once and waits Ti = 39.5 s (RFC 8489 §6.2.2).
    let ti = fake.client.poll_timeout().unwrap() - fake.now;
    assert_eq!(ti, Duration::from_millis(39_500));
    fake.client.handle_timeout(fake.now + ti);
    assert!(fake.client.poll_transmit().is_none(), "not retransmitted");
    assert_eq!(
        fake.events(),
        vec![TurnEvent::ConnectFailed {
            peer: addr(PEER),
            error: TurnError::Timeout
        }]
    );
}

#[test]
fn connection_attempts_are_reported_bounded_and_expire() {
    let mut fake = Fake::new();
    let peer = addr(PEER);
    assert_eq!(fake.attempt(peer, 1), vec![Received::Handled]);
    assert_eq!(
        fake.events(),
        vec![TurnEvent::ConnectionAttempt {
            peer,
            connection_id: 1
        }]
    );
    assert_eq!(fake.attempt(peer, 1), vec![Received::Ignored], "duplicate");
    for id in 2..=MAX_PENDING_CONNECTIONS as u32 {
        assert_eq!(fake.attempt(peer, id), vec![Received::Handled]);
    }
    assert_eq!(fake.attempt(peer, 1000), vec![Received::Ignored], "full");
    assert_eq!(
        fake.client.connect(fake.now, peer),
        Err(SendError::TooManyConnections)
    );
    fake.events();
    // Without a ConnectionBind within 30 s the server closes the peer connection, and the
    // client forgets it (RFC 6062 §5.3).
    let expiry = fake.client.poll_timeout().unwrap();
    assert_eq!(expiry, fake.now + Duration::from_secs(30));
    fake.client.handle_timeout(expiry);
    assert_eq!(fake.client.pending_connections(), 0);
    assert_eq!(
        fake.client.connection_bind(expiry, 2).unwrap_err(),
        SendError::UnknownConnection
    );
    // An indication missing CONNECTION-ID is dropped.
    let bad = message(
        Class::Indication,
        Method::CONNECTION_ATTEMPT,
        TransactionId::new([1; 12]),
        None,
        |w| w.add(&XorPeerAddress(peer)).unwrap(),
    );
    assert_eq!(fake.deliver(&bad), vec![Received::Ignored]);
}

#[test]
fn connection_bind_turns_the_stream_into_raw_peer_bytes() {
    let mut fake = Fake::new();
    fake.attempt(addr(PEER), 77);
    let mut conn = fake.client.connection_bind(fake.now, 77).unwrap();
    assert_eq!(conn.state(), DataConnectionState::Binding);
    let tid = bind_request(&mut conn, 77);
    assert!(conn.poll_transmit().is_none(), "sent once");
    // The success and the peer's first bytes in one read, delivered one byte at a time.
    let mut input = bind_success(&fake.key, tid);
    input.extend_from_slice(b"hello peer");
    let mut got = Vec::new();
    for b in input.chunks(1) {
        got.extend_from_slice(conn.handle_stream_data(fake.now, b));
    }
    assert_eq!(got, b"hello peer");
    assert!(conn.is_bound());
    assert_eq!(
        conn.poll_event(),
        Some(DataConnectionEvent::Bound {
            connection_id: 77,
            peer: addr(PEER)
        })
    );
    assert_eq!(conn.poll_timeout(), None);
    // Then in one chunk: the rest is handed back as is, even bytes that look like STUN.
    let mut input = bind_success(&fake.key, tid);
    let n = input.len();
    input.extend_from_slice(b"tail");
    let out = conn.handle_stream_data(fake.now, &input);
    assert_eq!(out.len(), n + 4);
}

#[test]
fn connection_bind_answers_a_stale_nonce_on_the_same_stream() {
    let mut fake = Fake::new();
    fake.attempt(addr(PEER), 9);
    let mut conn = fake.client.connection_bind(fake.now, 9).unwrap();
    let tid = bind_request(&mut conn, 9);
    let stale = message(
        Class::ErrorResponse,
        Method::CONNECTION_BIND,
        tid,
        None,
        |w| {
            w.add(&ErrorCode::new(438, "Stale Nonce")).unwrap();
            w.add(&Realm(REALM)).unwrap();
            w.add(&Nonce("nonce-2")).unwrap();
        },
    );
    assert!(conn.handle_stream_data(fake.now, &stale).is_empty());
    let tid2 = bind_request(&mut conn, 9);
    assert_ne!(tid, tid2);
    conn.handle_stream_data(fake.now, &bind_success(&fake.key, tid2));
    assert!(conn.is_bound());
}

#[test]
fn connection_bind_failures_end_the_data_connection() {
    let mut fake = Fake::new();
    for id in 1..=5 {
        fake.attempt(addr(PEER), id);
    }
    let key = fake.key.clone();
    // An error response.
    let mut conn = fake.client.connection_bind(fake.now, 1).unwrap();
    let tid = bind_request(&mut conn, 1);
    let err = message(
        Class::ErrorResponse,
        Method::CONNECTION_BIND,
        tid,
        Some(&key),
        |w| {
            w.add(&ErrorCode::new(400, "Bad Request")).unwrap();
        },
    );
    assert!(conn.handle_stream_data(fake.now, &err).is_empty());
    assert_eq!(conn.state(), DataConnectionState::Failed);
    assert!(matches!(
        conn.poll_event(),
        Some(DataConnectionEvent::Failed(TurnError::Rejected {
            code: 400,
            ..
        }))
    ));
    assert!(conn.handle_stream_data(fake.now, b"after").is_empty());
    // A success without a valid MESSAGE-INTEGRITY.
    let mut conn = fake.client.connection_bind(fake.now, 2).unwrap();
    let tid = bind_request(&mut conn, 2);
    let unsigned = message(
        Class::SuccessResponse,
        Method::CONNECTION_BIND,
        tid,
        None,
        |_| {},
    );
    conn.handle_stream_data(fake.now, &unsigned);
    assert_eq!(
        conn.poll_event(),
        Some(DataConnectionEvent::Failed(TurnError::Integrity))
    );
    // Bytes that are not STUN.
    let mut conn = fake.client.connection_bind(fake.now, 3).unwrap();
    bind_request(&mut conn, 3);
    conn.handle_stream_data(fake.now, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(
        conn.poll_event(),
        Some(DataConnectionEvent::Failed(TurnError::Failed))
    );
    // A 401 to the signed ConnectionBind: wrong credentials, not retried (RFC 8489 §9.2.5).
    let mut conn = fake.client.connection_bind(fake.now, 5).unwrap();
    let tid = bind_request(&mut conn, 5);
    let challenge = message(
        Class::ErrorResponse,
        Method::CONNECTION_BIND,
        tid,
        None,
        |w| {
            w.add(&ErrorCode::new(401, "Unauthorized")).unwrap();
            w.add(&Realm(REALM)).unwrap();
            w.add(&Nonce("another")).unwrap();
        },
    );
    conn.handle_stream_data(fake.now, &challenge);
    assert!(conn.poll_transmit().is_none());
    assert_eq!(
        conn.poll_event(),
        Some(DataConnectionEvent::Failed(TurnError::Unauthorized))
    );
    // No answer within Ti.
    let mut conn = fake.client.connection_bind(fake.now, 4).unwrap();
    bind_request(&mut conn, 4);
    let deadline = conn.poll_timeout().unwrap();
    assert_eq!(deadline - fake.now, Duration::from_millis(39_500));
    conn.handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(conn.state(), DataConnectionState::Binding);
    conn.handle_timeout(deadline);
    assert_eq!(
        conn.poll_event(),
        Some(DataConnectionEvent::Failed(TurnError::Timeout))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever a data connection reads, in whatever pieces, it does not panic, and it never
    /// hands back peer bytes before a verified ConnectionBind success.
    #[test]
    fn arbitrary_input_never_panics_a_data_connection(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16),
    ) {
        let mut fake = Fake::new();
        fake.attempt(addr(PEER), 5);
        let mut conn = fake.client.connection_bind(fake.now, 5).unwrap();
        let _ = conn.poll_transmit();
        for chunk in &chunks {
            let out = conn.handle_stream_data(fake.now, chunk);
            prop_assert!(out.is_empty());
        }
        prop_assert_ne!(conn.state(), DataConnectionState::Bound);
    }

    /// The success response and the peer bytes after it, split anywhere, give the same bytes.
    #[test]
    fn the_bind_success_split_anywhere_gives_the_same_peer_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..200),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut fake = Fake::new();
        fake.attempt(addr(PEER), 5);
        let mut conn = fake.client.connection_bind(fake.now, 5).unwrap();
        let tid = bind_request(&mut conn, 5);
        let mut input = bind_success(&fake.key, tid);
        input.extend_from_slice(&data);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        cuts.push(0);
        cuts.push(input.len());
        cuts.sort_unstable();
        let mut got = Vec::new();
        for w in cuts.windows(2) {
            got.extend_from_slice(conn.handle_stream_data(fake.now, &input[w[0]..w[1]]));
        }
        prop_assert!(conn.is_bound());
        prop_assert_eq!(got, data);
    }
}

// ---------------------------------------------------------------------------------------------
// Against coturn

/// How long any one step against coturn may take.
const STEP: Duration = Duration::from_secs(10);

/// The client's control connection to coturn, driven by polling a non-blocking socket.
struct Control {
    client: TurnClient,
    stream: TcpStream,
    events: Vec<TurnEvent>,
}

impl Control {
    fn allocate(server: SocketAddr) -> Self {
        let stream = TcpStream::connect(server).unwrap();
        stream.set_nonblocking(true).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut c = Control {
            client: TurnClient::new(tcp_config(server), rand_seed()),
            stream,
            events: Vec::new(),
        };
        c.client.allocate(Instant::now()).unwrap();
        c.wait_for("the allocation", |e| {
            matches!(e, TurnEvent::Allocated { .. })
        });
        c
    }

    /// One round: writes transmits, reads what arrived, fires timers, collects events.
    fn pump(&mut self) {
        let now = Instant::now();
        while let Some(t) = self.client.poll_transmit() {
            write_all(&mut self.stream, t.payload);
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("coturn closed the control connection"),
                Ok(n) => {
                    self.client.push_stream(&buf[..n]);
                    while let Some(r) = self.client.poll_stream(now) {
                        r.expect("framing");
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("control connection: {e}"),
            }
        }
        if self.client.poll_timeout().is_some_and(|t| t <= now) {
            self.client.handle_timeout(now);
        }
        self.events
            .extend(std::iter::from_fn(|| self.client.poll_event()));
    }

    /// Pumps until an event matches `f`, and returns it (panics after [`STEP`]).
    fn wait_for(&mut self, what: &str, f: impl Fn(&TurnEvent) -> bool) -> TurnEvent {
        let start = Instant::now();
        loop {
            self.pump();
            if let Some(i) = self.events.iter().position(&f) {
                return self.events.remove(i);
            }
            assert!(
                start.elapsed() < STEP,
                "no {what} within {STEP:?}: {:?}",
                self.events
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Takes `connection_id` for binding on a new stream, and drives the ConnectionBind to its
    /// success; returns the bound stream and any peer bytes that came with the success.
    fn bind(&mut self, server: SocketAddr, connection_id: u32) -> (TcpStream, Vec<u8>) {
        let mut conn = self
            .client
            .connection_bind(Instant::now(), connection_id)
            .unwrap();
        let mut stream = TcpStream::connect(server).unwrap();
        stream.set_nonblocking(true).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut early = Vec::new();
        let start = Instant::now();
        let mut buf = [0u8; 4096];
        while !conn.is_bound() {
            self.pump();
            let now = Instant::now();
            while let Some(t) = conn.poll_transmit() {
                assert_eq!(t.destination, server);
                write_all(&mut stream, t.payload);
            }
            match stream.read(&mut buf) {
                Ok(0) => panic!("coturn closed the data connection: {:?}", conn.poll_event()),
                Ok(n) => early.extend_from_slice(conn.handle_stream_data(now, &buf[..n])),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("data connection: {e}"),
            }
            conn.handle_timeout(now);
            if let Some(DataConnectionEvent::Failed(e)) = conn.poll_event() {
                panic!("ConnectionBind failed: {e}");
            }
            assert!(start.elapsed() < STEP, "no ConnectionBind success");
            std::thread::sleep(Duration::from_millis(2));
        }
        (stream, early)
    }
}

fn rand_seed() -> [u8; 32] {
    // Distinct per run (transaction ids must not repeat across runs against one server);
    // the clock is the test's, not the library's.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(&nanos.to_le_bytes());
    seed
}

fn write_all(stream: &mut TcpStream, mut bytes: &[u8]) {
    let start = Instant::now();
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(start.elapsed() < STEP, "write stalled");
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("write: {e}"),
        }
    }
}

/// Reads from a non-blocking `stream` until `want` bytes came (panics after [`STEP`]),
/// pumping the control connection meanwhile.
fn read_exactly(
    control: &mut Control,
    stream: &mut TcpStream,
    mut got: Vec<u8>,
    want: usize,
) -> Vec<u8> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while got.len() < want {
        control.pump();
        match stream.read(&mut buf) {
            Ok(0) => panic!("closed after {} of {want} bytes", got.len()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(start.elapsed() < STEP, "{} of {want} bytes", got.len());
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    got
}

/// A TCP echo server on 127.0.0.1 for one connection at a time, in a thread.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let at = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    });
    at
}

#[test]
fn coturn_connect_relays_bytes_to_a_tcp_echo_server() {
    let Some(coturn) = common::coturn(CoturnOptions::default()) else {
        return;
    };
    let echo = echo_server();
    let mut control = Control::allocate(coturn.addr);
    control.client.connect(Instant::now(), echo).unwrap();
    let event = control.wait_for("Connect answer", |e| {
        matches!(
            e,
            TurnEvent::Connected { .. } | TurnEvent::ConnectFailed { .. }
        )
    });
    let TurnEvent::Connected {
        peer,
        connection_id,
    } = event
    else {
        panic!("{event:?}\n{}", coturn.log());
    };
    assert_eq!(peer, echo);
    let (mut data, early) = control.bind(coturn.addr, connection_id);
    let message = b"through the TCP relay and back";
    write_all(&mut data, message);
    let echoed = read_exactly(&mut control, &mut data, early, message.len());
    assert_eq!(echoed, message);
}

#[test]
fn coturn_incoming_connection_attempt_is_bound_and_bytes_flow_both_ways() {
    let Some(coturn) = common::coturn(CoturnOptions::default()) else {
        return;
    };
    let mut control = Control::allocate(coturn.addr);
    let relayed = control.client.relayed_addresses()[0];
    // The server lets a peer in only through a permission for its IP (RFC 6062 §5.3).
    let loopback = "127.0.0.1".parse().unwrap();
    control
        .client
        .create_permission(Instant::now(), loopback)
        .unwrap();
    control.wait_for("the permission", |e| {
        matches!(e, TurnEvent::PermissionCreated { .. })
    });
    let mut peer = TcpStream::connect(relayed).unwrap();
    peer.set_nonblocking(true).unwrap();
    let event = control.wait_for("ConnectionAttempt", |e| {
        matches!(e, TurnEvent::ConnectionAttempt { .. })
    });
    let TurnEvent::ConnectionAttempt {
        peer: from,
        connection_id,
    } = event
    else {
        unreachable!()
    };
    assert_eq!(from, peer.local_addr().unwrap());
    let (mut data, early) = control.bind(coturn.addr, connection_id);
    write_all(&mut peer, b"ping from the peer");
    let got = read_exactly(&mut control, &mut data, early, 18);
    assert_eq!(got, b"ping from the peer");
    write_all(&mut data, b"pong");
    let got = read_exactly(&mut control, &mut peer, Vec::new(), 4);
    assert_eq!(got, b"pong");
}

#[test]
fn coturn_connect_to_a_closed_port_is_447() {
    let Some(coturn) = common::coturn(CoturnOptions::default()) else {
        return;
    };
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut control = Control::allocate(coturn.addr);
    control.client.connect(Instant::now(), closed).unwrap();
    let event = control.wait_for("Connect answer", |e| {
        matches!(
            e,
            TurnEvent::Connected { .. } | TurnEvent::ConnectFailed { .. }
        )
    });
    assert_eq!(
        event,
        TurnEvent::ConnectFailed {
            peer: closed,
            error: TurnError::ConnectionTimeoutOrFailure
        },
        "{}",
        coturn.log()
    );
    assert!(control.client.is_allocated());
}
