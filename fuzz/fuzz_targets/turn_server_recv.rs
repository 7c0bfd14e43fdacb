//! Fuzzes the TURN server: arbitrary datagrams and stream bytes from several clients, arbitrary
//! requests signed with a real user's key and a valid nonce (so the fuzzer gets past
//! authentication into Allocate, Refresh, CreatePermission and ChannelBind), peer datagrams to
//! the relayed addresses, and time steps.
//!
//! Checks: no panic; draining transmits and events terminates; the allocation count stays
//! within the configured bounds; nothing is ever sent towards an internal peer address (the
//! server refuses them by default, RFC 8656 §21.4).
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_stun::attributes::{Nonce, Realm, RequestedTransport, Username};
use floe_stun::{
    Class, LongTermKey, Message, MessageType, MessageWriter, Method, PasswordAlgorithmKind,
    TransactionId,
};
use floe_turn::{ServerConfig, ServerEvent, Transport, TurnServer};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

const LISTEN: &str = "203.0.113.1:3478";
const REALM: &str = "example.test";
const CLIENTS: [&str; 3] = ["198.51.100.1:5000", "198.51.100.2:5000", "198.51.100.3:6000"];
const PEERS: [&str; 3] = ["198.51.100.7:6000", "10.0.0.7:6000", "127.0.0.1:6000"];
const METHODS: [Method; 5] = [
    Method::ALLOCATE,
    Method::REFRESH,
    Method::CREATE_PERMISSION,
    Method::CHANNEL_BIND,
    Method::BINDING,
];

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[derive(Arbitrary, Debug)]
enum Op<'a> {
    Datagram { client: u8, bytes: &'a [u8] },
    Stream { bytes: &'a [u8] },
    Signed { client: u8, method: u8, id: u8, attrs: Vec<(u16, &'a [u8])> },
    Peer { peer: u8, relay: u8, bytes: &'a [u8] },
    Advance(u16),
}

struct Harness {
    server: TurnServer,
    now: Instant,
    nonces: Vec<Option<String>>,
    relays: Vec<SocketAddr>,
    key: LongTermKey,
    next_port: u16,
}

impl Harness {
    fn drain(&mut self) {
        for _ in 0..64 {
            let mut progress = false;
            while let Some(ev) = self.server.poll_event() {
                progress = true;
                if let ServerEvent::BindRelay {
                    allocation, family, ..
                } = ev
                {
                    self.next_port = self.next_port.wrapping_add(1).max(49152);
                    let relay = SocketAddr::new(addr(LISTEN).ip(), self.next_port);
                    self.relays.push(relay);
                    self.server.relay_bound(self.now, allocation, family, Some(relay));
                }
            }
            while let Some(t) = self.server.poll_transmit() {
                progress = true;
                // Never towards the internal peers (RFC 8656 §21.4).
                assert!(
                    !PEERS[1..].contains(&t.destination.to_string().as_str()),
                    "relayed to {}",
                    t.destination
                );
                // Learn the nonces handed to our clients.
                if let Some(i) = CLIENTS.iter().position(|c| addr(c) == t.destination) {
                    if let Ok(m) = Message::decode(&t.payload) {
                        if let Ok(Some(n)) = m.get::<Nonce>() {
                            self.nonces[i] = Some(n.0.to_owned());
                        }
                    }
                }
            }
            if !progress {
                return;
            }
        }
        panic!("transmits and events did not settle");
    }

    fn client(&mut self, i: usize, transport: Transport, bytes: &[u8]) {
        let from = addr(CLIENTS[i % CLIENTS.len()]);
        self.server
            .handle_client(self.now, addr(LISTEN), from, transport, bytes);
        self.drain();
    }

    fn signed(&mut self, client: usize, method: Method, id: u8, attrs: &[(u16, &[u8])]) {
        let client = client % CLIENTS.len();
        let nonce = self.nonces[client].clone().unwrap_or_default();
        let mut buf = vec![0u8; 2048];
        let ty = MessageType::new(Class::Request, method);
        let Ok(mut w) = MessageWriter::new(&mut buf, ty, TransactionId::new([id; 12])) else {
            return;
        };
        for (t, v) in attrs.iter().take(8) {
            if w.add_raw(*t, v).is_err() {
                return;
            }
        }
        let ok = w.add(&Username("alice")).is_ok()
            && w.add(&Realm(REALM)).is_ok()
            && w.add(&Nonce(&nonce)).is_ok()
            && w.add_message_integrity(&self.key.integrity_key()).is_ok()
            && w.add_fingerprint().is_ok();
        if ok {
            let len = w.finish();
            let bytes = buf[..len].to_vec();
            self.client(client, Transport::Udp, &bytes);
        }
    }
}

fuzz_target!(|ops: Vec<Op<'_>>| {
    let mut config = ServerConfig::new(REALM, "alice", "secret");
    config.max_allocations = 4;
    config.max_allocations_per_user = 2;
    let mut h = Harness {
        server: TurnServer::new(config, [9; 32]),
        now: Instant::now(),
        nonces: vec![None; CLIENTS.len()],
        relays: Vec::new(),
        key: LongTermKey::derive("alice", REALM, "secret", PasswordAlgorithmKind::Md5).unwrap(),
        next_port: 49152,
    };
    // Every client gets a nonce; the first one an allocation.
    for i in 0..CLIENTS.len() {
        let mut buf = [0u8; 64];
        let ty = MessageType::new(Class::Request, Method::ALLOCATE);
        let mut w = MessageWriter::new(&mut buf, ty, TransactionId::new([i as u8; 12])).unwrap();
        w.add(&RequestedTransport::UDP).unwrap();
        let len = w.finish();
        h.client(i, Transport::Udp, &buf[..len]);
    }
    let requested = [RequestedTransport::UDP.0, 0, 0, 0];
    h.signed(0, Method::ALLOCATE, 100, &[(0x0019, &requested)]);
    for op in ops.into_iter().take(64) {
        match op {
            Op::Datagram { client, bytes } => h.client(client.into(), Transport::Udp, bytes),
            Op::Stream { bytes } => h.client(2, Transport::Stream, bytes),
            Op::Signed {
                client,
                method,
                id,
                attrs,
            } => {
                let method = METHODS[usize::from(method) % METHODS.len()];
                h.signed(client.into(), method, id, &attrs);
            }
            Op::Peer { peer, relay, bytes } => {
                if !h.relays.is_empty() {
                    let relay = h.relays[usize::from(relay) % h.relays.len()];
                    let from = addr(PEERS[usize::from(peer) % PEERS.len()]);
                    h.server.handle_peer(h.now, relay, from, bytes);
                    h.drain();
                }
            }
            Op::Advance(ms) => {
                h.now += Duration::from_millis(u64::from(ms) * 16);
                h.server.handle_timeout(h.now);
                h.drain();
            }
        }
        assert!(h.server.allocation_count() <= 4);
    }
});
