//! Fuzzes the TURN client once allocated (over UDP or a stream, with a permission and a bound
//! channel): arbitrary datagrams and stream bytes, responses to the client's own outstanding
//! requests with fuzzer-chosen class, error code and attributes (validly signed or not), time
//! steps, sends, channel binds and close. A third mode holds an RFC 6062 TCP allocation
//! (granted by hand-written answers, since floe's server relays UDP only): Connects,
//! ConnectionAttempt indications, and data connections fed fuzzer bytes after their
//! ConnectionBind, with or without a valid success response first.
//!
//! Checks: no panic; data handed back is a slice of the input; every transmit is a well-formed
//! STUN request; draining transmits and events terminates; `handle_timeout` at a passed
//! deadline settles; a data connection hands back peer bytes only once bound.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_stun::attributes::{
    AlternateServer, ConnectionId, ErrorCode, Lifetime, Nonce, Realm, XorMappedAddress,
    XorPeerAddress, XorRelayedAddress,
};
use floe_stun::{
    Class, LongTermKey, Message, MessageType, MessageWriter, PasswordAlgorithmKind, TransactionId,
};
use floe_turn::{
    ClientConfig, DataConnectionState, Received, RelayTransport, ServerConfig, ServerEvent,
    Transport, TurnClient, TurnServer,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

const SERVER: &str = "10.0.0.1:3478";
const CLIENT: &str = "192.0.2.10:5000";
const PEER: &str = "198.51.100.7:6000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[derive(Arbitrary, Debug)]
enum Op<'a> {
    Datagram(&'a [u8]),
    DatagramFromElsewhere(&'a [u8]),
    Stream(&'a [u8]),
    Respond {
        class: u8,
        code: u16,
        sign: bool,
        lifetime: Option<u32>,
        nonce: bool,
        alternate: bool,
        relayed: bool,
        connection_id: Option<u32>,
        trailer: &'a [u8],
    },
    Advance(u16),
    Send(u8, &'a [u8]),
    Bind(u8),
    Close,
    /// RFC 6062: a Connect to one of four peers.
    Connect(u8),
    /// RFC 6062: a ConnectionAttempt indication on the control stream.
    Attempt {
        id: u32,
        peer: bool,
        trailer: &'a [u8],
    },
    /// RFC 6062: takes connection `id` for binding and feeds its data connection `bytes`,
    /// after a valid ConnectionBind success when `succeed`.
    DataConnection {
        id: u32,
        succeed: bool,
        bytes: &'a [u8],
        split: u8,
    },
}

fn setup(transport: Transport, now: Instant) -> TurnClient {
    let mut config = ClientConfig::new(addr(SERVER), "alice", "secret");
    config.transport = transport;
    let mut client = TurnClient::new(config, [1; 32]);
    let mut server = TurnServer::new(ServerConfig::new("example.test", "alice", "secret"), [2; 32]);
    client.allocate(now).unwrap();
    for round in 0..2 {
        if round == 1 {
            client.create_permission(now, addr(PEER).ip()).unwrap();
            client.bind_channel(now, addr(PEER)).unwrap();
        }
        for _ in 0..8 {
            while let Some(t) = client.poll_transmit() {
                let b = t.payload.to_vec();
                server.handle_client(now, addr(SERVER), addr(CLIENT), transport, &b);
            }
            while let Some(ServerEvent::BindRelay {
                allocation, family, ..
            }) = server.poll_event()
            {
                server.relay_bound(now, allocation, family, Some(addr("10.0.0.1:49152")));
            }
            while let Some(t) = server.poll_transmit() {
                match transport {
                    Transport::Udp => {
                        client.handle_datagram(now, addr(SERVER), &t.payload);
                    }
                    Transport::Stream => {
                        client.push_stream(&t.payload);
                        while client.poll_stream(now).is_some() {}
                    }
                }
            }
        }
    }
    assert!(client.is_allocated());
    while client.poll_event().is_some() {}
    client
}

/// A message from the server, signed with `key` when given.
fn server_message(
    class: Class,
    method: floe_stun::Method,
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

/// A client holding an RFC 6062 TCP allocation: its Allocate answered by hand (401, then a
/// signed success).
fn setup_tcp_relay(now: Instant, key: &LongTermKey) -> TurnClient {
    let mut config = ClientConfig::new(addr(SERVER), "alice", "secret");
    config.transport = Transport::Stream;
    config.relay_transport = RelayTransport::Tcp;
    let mut client = TurnClient::new(config, [1; 32]);
    client.allocate(now).unwrap();
    for signed in [false, true] {
        let tid = Message::decode(client.poll_transmit().unwrap().payload)
            .unwrap()
            .transaction_id();
        let reply = if signed {
            server_message(
                Class::SuccessResponse,
                floe_stun::Method::ALLOCATE,
                tid,
                Some(key),
                |w| {
                    w.add(&XorRelayedAddress(addr("10.0.0.1:49152"))).unwrap();
                    w.add(&Lifetime(600)).unwrap();
                },
            )
        } else {
            server_message(
                Class::ErrorResponse,
                floe_stun::Method::ALLOCATE,
                tid,
                None,
                |w| {
                    w.add(&ErrorCode::new(401, "Unauthorized")).unwrap();
                    w.add(&Realm("example.test")).unwrap();
                    w.add(&Nonce("nonce")).unwrap();
                },
            )
        };
        client.push_stream(&reply);
        while client.poll_stream(now).is_some() {}
    }
    assert!(client.is_allocated());
    while client.poll_event().is_some() {}
    client
}

fn drain(client: &mut TurnClient, outstanding: &mut Vec<TransactionId>) {
    let mut n = 0;
    while let Some(t) = client.poll_transmit() {
        let m = Message::decode(t.payload).expect("transmits are STUN");
        assert_eq!(m.class(), Class::Request);
        m.verify_fingerprint().expect("fingerprinted");
        outstanding.push(m.transaction_id());
        if outstanding.len() > 16 {
            outstanding.remove(0);
        }
        n += 1;
        assert!(n < 10_000);
    }
    let mut n = 0;
    while client.poll_event().is_some() {
        n += 1;
        assert!(n < 10_000);
    }
}

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    i >= o && i + inner.len() <= o + outer.len()
}

fuzz_target!(|input: (u8, Vec<Op<'_>>)| {
    let (mode, ops) = input;
    let transport = if mode % 3 == 0 {
        Transport::Udp
    } else {
        Transport::Stream
    };
    let mut now = Instant::now();
    let key = LongTermKey::derive(
        "alice",
        "example.test",
        "secret",
        PasswordAlgorithmKind::Md5,
    )
    .unwrap();
    let mut client = if mode % 3 == 2 {
        setup_tcp_relay(now, &key)
    } else {
        setup(transport, now)
    };
    let mut outstanding = Vec::new();
    for op in ops.into_iter().take(256) {
        match op {
            Op::Datagram(d) => {
                if let Received::Data { data, .. } = client.handle_datagram(now, addr(SERVER), d) {
                    assert!(within(d, data));
                }
            }
            Op::DatagramFromElsewhere(d) => {
                let r = client.handle_datagram(now, addr("10.0.0.2:3478"), d);
                assert_eq!(r, Received::Ignored);
            }
            Op::Stream(d) => {
                client.push_stream(d);
                let mut n = 0;
                while let Some(r) = client.poll_stream(now) {
                    n += 1;
                    if r.is_err() || n > 10_000 {
                        break;
                    }
                }
            }
            Op::Respond {
                class,
                code,
                sign,
                lifetime,
                nonce,
                alternate,
                relayed,
                connection_id,
                trailer,
            } => {
                let Some(&tid) = outstanding.last() else {
                    continue;
                };
                // Method from the request is unknown here: try the ones the client uses.
                // (3..=10: Allocate to Connect.)
                let method = floe_stun::Method::new(u16::from(class >> 2) % 8 + 3).unwrap();
                let class = if class & 1 == 0 {
                    Class::SuccessResponse
                } else {
                    Class::ErrorResponse
                };
                let mut buf = vec![0u8; 1024];
                let mut w =
                    MessageWriter::new(&mut buf, MessageType::new(class, method), tid).unwrap();
                if class == Class::ErrorResponse {
                    let _ = w.add(&ErrorCode::new(300 + code % 400, "x"));
                }
                if nonce {
                    let _ = w.add(&Realm("example.test"));
                    let _ = w.add(&Nonce("fresh-nonce"));
                }
                if alternate {
                    let _ = w.add(&AlternateServer(addr("10.0.0.9:3478")));
                }
                if relayed {
                    let _ = w.add(&XorRelayedAddress(addr("10.0.0.1:49153")));
                    let _ = w.add(&XorMappedAddress(addr(CLIENT)));
                }
                if let Some(l) = lifetime {
                    let _ = w.add(&Lifetime(l));
                }
                if let Some(id) = connection_id {
                    let _ = w.add(&ConnectionId(id));
                }
                let _ = w.add_raw(0x8030, &trailer[..trailer.len().min(64)]);
                if sign {
                    let _ = w.add_message_integrity(&key.integrity_key());
                }
                let _ = w.add_fingerprint();
                let n = w.finish();
                match transport {
                    Transport::Udp => {
                        client.handle_datagram(now, client.server(), &buf[..n]);
                    }
                    Transport::Stream => {
                        client.push_stream(&buf[..n]);
                        while let Some(r) = client.poll_stream(now) {
                            if r.is_err() {
                                break;
                            }
                        }
                    }
                }
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms) * 50);
                client.handle_timeout(now);
            }
            Op::Send(p, data) => {
                let peer = SocketAddr::new(addr(PEER).ip(), 6000 + u16::from(p % 4));
                let mut out = [0u8; 2048];
                if let Ok(n) = client.send_to(now, peer, data, &mut out) {
                    assert!(n >= data.len());
                }
            }
            Op::Bind(p) => {
                let peer = SocketAddr::new(addr(PEER).ip(), 6000 + u16::from(p % 4));
                let _ = client.bind_channel(now, peer);
            }
            Op::Close => client.close(now),
            Op::Connect(p) => {
                let peer = SocketAddr::new(addr(PEER).ip(), 6000 + u16::from(p % 4));
                let _ = client.connect(now, peer);
            }
            Op::Attempt { id, peer, trailer } => {
                let tid = TransactionId::new([7; 12]);
                let ind = server_message(
                    Class::Indication,
                    floe_stun::Method::CONNECTION_ATTEMPT,
                    tid,
                    None,
                    |w| {
                        if peer {
                            w.add(&XorPeerAddress(addr(PEER))).unwrap();
                        }
                        w.add(&ConnectionId(id)).unwrap();
                        let _ = w.add_raw(0x8030, &trailer[..trailer.len().min(64)]);
                    },
                );
                client.push_stream(&ind);
                while let Some(r) = client.poll_stream(now) {
                    if r.is_err() {
                        break;
                    }
                }
            }
            Op::DataConnection {
                id,
                succeed,
                bytes,
                split,
            } => {
                if let Ok(mut conn) = client.connection_bind(now, id) {
                    let t = conn.poll_transmit().expect("a ConnectionBind");
                    let m = Message::decode(t.payload).expect("STUN");
                    assert_eq!(m.method(), floe_stun::Method::CONNECTION_BIND);
                    let tid = m.transaction_id();
                    let mut input = Vec::new();
                    if succeed {
                        input = server_message(
                            Class::SuccessResponse,
                            floe_stun::Method::CONNECTION_BIND,
                            tid,
                            Some(&key),
                            |_| {},
                        );
                    }
                    input.extend_from_slice(bytes);
                    let mut got = Vec::new();
                    for chunk in input.chunks(usize::from(split).max(1)) {
                        let bound_before = conn.is_bound();
                        let out = conn.handle_stream_data(now, chunk);
                        if bound_before {
                            assert!(within(chunk, out));
                        }
                        got.extend_from_slice(out);
                        let _ = conn.poll_transmit();
                    }
                    if succeed {
                        assert_eq!(conn.state(), DataConnectionState::Bound);
                        assert_eq!(got, bytes);
                    } else {
                        assert!(got.is_empty() || conn.is_bound());
                    }
                    conn.handle_timeout(now + Duration::from_secs(40));
                    while conn.poll_event().is_some() {}
                }
            }
        }
        drain(&mut client, &mut outstanding);
        // A passed deadline settles after a bounded number of calls.
        let mut settle = 0;
        while let Some(t) = client.poll_timeout() {
            if t > now {
                break;
            }
            client.handle_timeout(now);
            drain(&mut client, &mut outstanding);
            settle += 1;
            assert!(settle < 1000, "handle_timeout does not settle");
        }
    }
});
