//! Fuzzes the sans-IO ICE agent: a configuration, then a sequence of operations decoded from the
//! input (datagrams, many of them validly signed Binding requests and responses to the agent's
//! own outstanding requests with fuzzer-chosen attributes, order and corruption; remote
//! candidates; signalling; time steps and timeouts).
//!
//! After every operation: no panic, the remote-candidate and pair limits hold, every datagram
//! the agent emits is a well-formed STUN message with a valid FINGERPRINT, draining transmits
//! and events terminates, time only moves forward and `handle_timeout` at a deadline that has
//! passed settles (no busy loop).
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use floe_ice::{
    AgentConfig, Candidate, CandidateKind, IceAgent, StreamCommand, TcpType, TransportPolicy,
};
use floe_stun::attributes::{
    ErrorCode, IceControlled, IceControlling, MappedAddress, Priority, UseCandidate, Username,
    XorMappedAddress,
};
use floe_stun::{Class, IntegrityKey, Message, MessageType, MessageWriter, Method, TransactionId};
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};

const REMOTE_UFRAG: &str = "rmtU";
const REMOTE_PWD: &str = "remote-password-0123456789";
/// Most items one drain may yield; anything near it means an unbounded queue.
const DRAIN_LIMIT: usize = 10_000;
/// Most `handle_timeout` calls at one instant before the agent stops asking to be woken.
const SETTLE_LIMIT: usize = 1_000;
const MAX_OPS: usize = 512;
/// The agent's requests remembered for answering.
const MAX_PENDING: usize = 64;

/// An address from a small table so that the fuzzer hits the same ones often: 10 IPv4 hosts,
/// 3 global IPv6, 1 link-local IPv6, a "server" and a v4-mapped IPv6; 4 ports.
#[derive(Arbitrary, Clone, Copy, Debug)]
struct Addr(u8);

impl Addr {
    fn get(self) -> SocketAddr {
        let ip: IpAddr = match self.0 & 0x0f {
            i @ 0..=9 => IpAddr::V4(Ipv4Addr::new(10, 0, 0, i + 1)),
            i @ 10..=12 => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(i))),
            13 => IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
            14 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            _ => IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()),
        };
        SocketAddr::new(ip, 5000 + u16::from((self.0 >> 4) & 3))
    }
}

#[derive(Arbitrary, Debug)]
struct Setup {
    controlling: bool,
    lite: bool,
    relay_only: bool,
    stun_servers: [Option<Addr>; 2],
    ta_ms: u8,
    gather_timeout_ms: u16,
    check_rto_ms: u16,
    check_transmissions: u8,
    max_pairs: u8,
    max_remote_candidates: u8,
    consent_interval_ms: u16,
    software: bool,
    ice_tcp: bool,
    seed: [u8; 32],
    sockets: [Option<Addr>; 4],
    gather_now: bool,
    credentials_now: bool,
}

#[derive(Arbitrary, Debug)]
enum Key {
    /// The right one for the message (our local password for requests, the peer's for
    /// responses).
    Right,
    /// The other side's.
    Swapped,
    Garbage(u8),
    Missing,
}

#[derive(Arbitrary, Debug)]
enum UsernameSpec {
    Valid,
    /// Our ufrag only, no colon.
    NoColon,
    /// Right format, wrong local ufrag.
    WrongOurs,
    Missing,
    Arbitrary(String),
}

#[derive(Arbitrary, Debug)]
enum RoleSpec {
    Controlling(u64),
    Controlled(u64),
    Both(u64, u64),
    Neither,
}

/// A raw attribute; `at` says before which of the typed ones it goes.
#[derive(Arbitrary, Debug)]
struct Extra {
    at: u8,
    attr_type: u16,
    value: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
struct Corruption {
    /// Offset from the end of the message, so that the integrity and fingerprint are hit often.
    from_end: u8,
    xor: u8,
}

#[derive(Arbitrary, Debug)]
struct RequestSpec {
    tid: [u8; 12],
    username: UsernameSpec,
    priority: Option<u32>,
    role: RoleSpec,
    use_candidate: bool,
    key: Key,
    fingerprint: bool,
    extras: Vec<Extra>,
    corrupt: Option<Corruption>,
    /// Send a Binding indication instead (keepalive).
    indication: bool,
}

#[derive(Arbitrary, Debug)]
enum Mapped {
    Xor(Addr),
    Plain(Addr),
    /// The source address the request was sent from, as a well-behaved peer does.
    Echo,
    None,
}

#[derive(Arbitrary, Debug)]
enum Outcome {
    Success(Mapped),
    RoleConflict,
    Error(u16),
}

#[derive(Arbitrary, Debug)]
struct ResponseSpec {
    /// Which remembered request to answer.
    which: u8,
    outcome: Outcome,
    key: Key,
    fingerprint: bool,
    extras: Vec<Extra>,
    corrupt: Option<Corruption>,
    /// Arrive from another address than the request went to (asymmetric path).
    from: Option<Addr>,
    /// Arrive on another socket than the request left from.
    on: Option<Addr>,
    /// Forget the request afterwards (otherwise it may be answered again).
    consume: bool,
}

#[derive(Arbitrary, Debug)]
enum KindSpec {
    Host,
    Srflx,
    Prflx,
    Relay,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Advance {
        ms: u16,
    },
    /// Jump to the agent's deadline (capped) and run timeouts there.
    AdvanceToTimeout {
        cap_ms: u16,
    },
    Timeout,
    AddLocalSocket(Addr),
    StartGathering,
    SetRemoteCredentials,
    SetWrongRemoteCredentials,
    SetRemoteLite(bool),
    RemoteCandidate {
        kind: KindSpec,
        address: Addr,
        related: Option<Addr>,
        priority: u32,
        foundation: u8,
        component: u8,
        /// 0 UDP, then TCP active, passive, S-O (RFC 6544).
        tcp: u8,
    },
    EndOfCandidates,
    /// A Binding request (or indication) to one of our sockets.
    Request {
        on: u8,
        from: Addr,
        spec: RequestSpec,
    },
    /// A response to one of the agent's outstanding requests.
    Response(ResponseSpec),
    /// Arbitrary bytes (mostly application data or junk).
    Raw {
        on: u8,
        from: Addr,
        bytes: Vec<u8>,
    },
    Send {
        len: u16,
        buf: u16,
    },
    Restart,
    Close,
    /// ICE-TCP (RFC 6544): a listener, connections accepted on it or asked for by the agent,
    /// bytes and closes on any of them.
    TcpListener(Addr),
    StreamAccepted {
        on: u8,
        from: Addr,
    },
    StreamConnected {
        which: u8,
        ok: bool,
        port: u16,
    },
    StreamData {
        which: u8,
        bytes: Vec<u8>,
    },
    /// A framed copy of a request the agent sent, as if the peer checked back on the stream.
    StreamEcho {
        which: u8,
        pending: u8,
    },
    StreamClosed {
        which: u8,
    },
}

/// A request the agent sent, for the fuzzer to answer.
#[derive(Clone, Copy, Debug)]
struct Pending {
    tid: TransactionId,
    source: SocketAddr,
    destination: SocketAddr,
}

struct Harness {
    agent: IceAgent,
    config: AgentConfig,
    now: Instant,
    sockets: Vec<SocketAddr>,
    pending: Vec<Pending>,
    remote_key: IntegrityKey,
    buf: Vec<u8>,
    /// ICE-TCP: listeners, connects the agent asked for, open connections (local, remote),
    /// and the last requests sent on streams.
    listeners: Vec<SocketAddr>,
    connecting: Vec<(SocketAddr, SocketAddr)>,
    streams: Vec<(SocketAddr, SocketAddr)>,
    stream_requests: Vec<Vec<u8>>,
}

fn key_for(spec: &Key, right: &IntegrityKey, swapped: &IntegrityKey) -> Option<IntegrityKey> {
    match spec {
        Key::Right => Some(right.clone()),
        Key::Swapped => Some(swapped.clone()),
        Key::Garbage(b) => Some(IntegrityKey::short_term(&format!("garbage{b}"))),
        Key::Missing => None,
    }
}

/// Writes the typed attributes with the extras interleaved, then MESSAGE-INTEGRITY and
/// FINGERPRINT, then corrupts a byte. Returns the length, or `None` if the writer refused.
#[allow(clippy::too_many_arguments)]
fn build(
    out: &mut [u8],
    message_type: MessageType,
    tid: TransactionId,
    typed: &mut dyn FnMut(usize, &mut MessageWriter<'_>) -> Option<bool>,
    extras: &[Extra],
    key: Option<&IntegrityKey>,
    fingerprint: bool,
    corrupt: Option<&Corruption>,
) -> Option<usize> {
    let len = {
        let mut w = MessageWriter::new(out, message_type, tid).ok()?;
        let mut i = 0;
        loop {
            for e in extras.iter().filter(|e| usize::from(e.at) % 8 == i) {
                // Too-long values are refused; that is fine.
                let _ = w.add_raw(e.attr_type, &e.value);
            }
            match typed(i, &mut w) {
                Some(true) => {}
                Some(false) => return None,
                None => break,
            }
            i += 1;
        }
        if let Some(key) = key {
            w.add_message_integrity(key).ok()?;
        }
        if fingerprint {
            w.add_fingerprint().ok()?;
        }
        w.finish()
    };
    if let Some(c) = corrupt {
        if len > 0 {
            let at = len - 1 - (usize::from(c.from_end) % len);
            out[at] ^= c.xor;
        }
    }
    Some(len)
}

impl Harness {
    fn local(&self, on: u8) -> SocketAddr {
        // Mostly one of our sockets; sometimes an address that is none.
        if on & 0x80 != 0 || self.sockets.is_empty() {
            Addr(on).get()
        } else {
            self.sockets[usize::from(on) % self.sockets.len()]
        }
    }

    fn deliver(&mut self, local: SocketAddr, remote: SocketAddr, len: usize) {
        let bytes = self.buf[..len].to_vec();
        self.agent.handle_datagram(self.now, local, remote, &bytes);
    }

    fn request(&mut self, on: u8, from: Addr, spec: &RequestSpec) {
        let local = self.local(on);
        let remote = from.get();
        let creds = self.agent.local_credentials().clone();
        let local_key = IntegrityKey::short_term(&creds.pwd);
        let username = match &spec.username {
            UsernameSpec::Valid => Some(format!("{}:{REMOTE_UFRAG}", creds.ufrag)),
            UsernameSpec::NoColon => Some(creds.ufrag.clone()),
            UsernameSpec::WrongOurs => Some(format!("x{}:{REMOTE_UFRAG}", creds.ufrag)),
            UsernameSpec::Missing => None,
            UsernameSpec::Arbitrary(s) => Some(s.clone()),
        };
        let key = key_for(&spec.key, &local_key, &self.remote_key);
        let message_type = if spec.indication {
            MessageType::BINDING_INDICATION
        } else {
            MessageType::BINDING_REQUEST
        };
        let mut typed = |i: usize, w: &mut MessageWriter<'_>| -> Option<bool> {
            let ok = match i {
                0 => username
                    .as_deref()
                    .is_none_or(|u| w.add(&Username(u)).is_ok()),
                1 => spec.priority.is_none_or(|p| w.add(&Priority(p)).is_ok()),
                2 => match spec.role {
                    RoleSpec::Controlling(t) => w.add(&IceControlling(t)).is_ok(),
                    RoleSpec::Controlled(t) => w.add(&IceControlled(t)).is_ok(),
                    RoleSpec::Both(a, b) => {
                        w.add(&IceControlling(a)).is_ok() && w.add(&IceControlled(b)).is_ok()
                    }
                    RoleSpec::Neither => true,
                },
                3 => !spec.use_candidate || w.add(&UseCandidate).is_ok(),
                _ => return None,
            };
            Some(ok)
        };
        let mut out = std::mem::take(&mut self.buf);
        let len = build(
            &mut out,
            message_type,
            TransactionId::new(spec.tid),
            &mut typed,
            &spec.extras,
            key.as_ref(),
            spec.fingerprint,
            spec.corrupt.as_ref(),
        );
        self.buf = out;
        if let Some(len) = len {
            self.deliver(local, remote, len);
        }
    }

    fn response(&mut self, spec: &ResponseSpec) {
        if self.pending.is_empty() {
            return;
        }
        let index = usize::from(spec.which) % self.pending.len();
        let p = if spec.consume {
            self.pending.remove(index)
        } else {
            self.pending[index]
        };
        let local_key = IntegrityKey::short_term(&self.agent.local_credentials().pwd);
        let key = key_for(&spec.key, &self.remote_key, &local_key);
        let (message_type, reason);
        match spec.outcome {
            Outcome::Success(_) => {
                message_type = MessageType::BINDING_SUCCESS;
                reason = 0;
            }
            Outcome::RoleConflict => {
                message_type = MessageType::BINDING_ERROR;
                reason = ErrorCode::ROLE_CONFLICT;
            }
            Outcome::Error(code) => {
                message_type = MessageType::BINDING_ERROR;
                reason = 300 + code % 400;
            }
        }
        let mut typed = |i: usize, w: &mut MessageWriter<'_>| -> Option<bool> {
            if i > 0 {
                return None;
            }
            let ok = match &spec.outcome {
                Outcome::Success(Mapped::Xor(a)) => w.add(&XorMappedAddress(a.get())).is_ok(),
                Outcome::Success(Mapped::Plain(a)) => w.add(&MappedAddress(a.get())).is_ok(),
                Outcome::Success(Mapped::Echo) => w.add(&XorMappedAddress(p.source)).is_ok(),
                Outcome::Success(Mapped::None) => true,
                _ => w
                    .add(&ErrorCode {
                        code: reason,
                        reason: "x",
                    })
                    .is_ok(),
            };
            Some(ok)
        };
        let mut out = std::mem::take(&mut self.buf);
        let len = build(
            &mut out,
            message_type,
            p.tid,
            &mut typed,
            &spec.extras,
            key.as_ref(),
            spec.fingerprint,
            spec.corrupt.as_ref(),
        );
        self.buf = out;
        if let Some(len) = len {
            let local = spec.on.map_or(p.source, Addr::get);
            let remote = spec.from.map_or(p.destination, Addr::get);
            self.deliver(local, remote, len);
        }
    }

    /// Drains transmits and events, checking what comes out, then the invariants.
    fn drain_and_check(&mut self) {
        let mut buf = [0u8; 1500];
        let mut n = 0;
        while let Some(t) = self.agent.poll_transmit(&mut buf).unwrap() {
            n += 1;
            assert!(n < DRAIN_LIMIT, "poll_transmit does not run dry");
            assert!(t.len <= buf.len());
            if t.ice_tcp {
                // RFC 4571: one whole frame, on a connection the agent knows.
                assert!(self.streams.contains(&(t.source, t.destination)));
                let bytes = &buf[..t.len];
                assert!(bytes.len() >= 2);
                let len = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
                assert_eq!(len + 2, bytes.len(), "a stream transmit is one frame");
                let msg = Message::decode(&bytes[2..]).expect("framed STUN");
                assert!(msg.verify_fingerprint().is_ok());
                if msg.class() == Class::Request {
                    if self.stream_requests.len() >= MAX_PENDING {
                        self.stream_requests.remove(0);
                    }
                    self.stream_requests.push(bytes.to_vec());
                }
                continue;
            }
            assert!(
                self.sockets.contains(&t.source),
                "transmit from {} which is no socket of ours ({:?})",
                t.source,
                self.sockets
            );
            let bytes = &buf[..t.len];
            let msg = Message::decode(bytes).expect("the agent only emits STUN it can decode");
            assert_eq!(msg.method(), Method::BINDING);
            assert!(
                msg.verify_fingerprint().is_ok(),
                "emitted STUN without a valid FINGERPRINT"
            );
            if msg.class() == Class::Request {
                if self.pending.len() >= MAX_PENDING {
                    self.pending.remove(0);
                }
                self.pending.push(Pending {
                    tid: msg.transaction_id(),
                    source: t.source,
                    destination: t.destination,
                });
            }
        }
        let mut n = 0;
        while let Some(c) = self.agent.poll_stream_command() {
            n += 1;
            assert!(n < DRAIN_LIMIT, "poll_stream_command does not run dry");
            match c {
                StreamCommand::Connect { local, remote } => {
                    assert!(self.config.ice_tcp);
                    if self.connecting.len() < 64 {
                        self.connecting.push((local, remote));
                    }
                }
                StreamCommand::Close { local, remote } => {
                    self.streams.retain(|s| *s != (local, remote));
                    self.connecting.retain(|s| *s != (local, remote));
                }
                _ => {}
            }
        }
        let mut n = 0;
        while self.agent.poll_event().is_some() {
            n += 1;
            assert!(n < DRAIN_LIMIT, "poll_event does not run dry");
        }
        assert!(self.agent.remote_candidates().len() <= self.config.max_remote_candidates);
        assert!(self.agent.pairs().len() <= self.config.max_pairs);
        assert!(self.agent.local_candidates().len() <= 8 * 64 + 64);
    }

    /// Runs timeouts at `now` until the agent no longer asks for one at or before `now`.
    fn settle(&mut self) {
        for _ in 0..SETTLE_LIMIT {
            match self.agent.poll_timeout() {
                Some(t) if t <= self.now => {
                    self.agent.handle_timeout(self.now);
                    self.drain_and_check();
                }
                _ => return,
            }
        }
        panic!(
            "poll_timeout stays at or before now after {SETTLE_LIMIT} handle_timeout calls: \
             {:?} <= {:?}\nagent: {:?}\nconfig: {:?}\nselected: {:?}\npairs: {:?}",
            self.agent.poll_timeout(),
            self.now,
            self.agent,
            self.config,
            self.agent.selected_pair(),
            self.agent
                .pairs()
                .iter()
                .map(|p| (
                    p.state(),
                    p.local_address(),
                    p.remote_address(),
                    p.stats().requests_sent
                ))
                .collect::<Vec<_>>(),
        );
    }

    fn advance(&mut self, to: Instant) {
        assert!(to >= self.now, "time must only move forward");
        self.now = to;
    }

    fn run(&mut self, op: &Op) {
        let now = self.now;
        match op {
            Op::Advance { ms } => {
                self.advance(now + Duration::from_millis(u64::from(*ms)));
                self.settle();
            }
            Op::AdvanceToTimeout { cap_ms } => {
                let cap = now + Duration::from_millis(u64::from(*cap_ms) * 8);
                if let Some(t) = self.agent.poll_timeout() {
                    self.advance(t.clamp(now, cap));
                    self.settle();
                }
            }
            Op::Timeout => self.agent.handle_timeout(now),
            Op::AddLocalSocket(a) => {
                let a = a.get();
                if !self.sockets.contains(&a) {
                    self.sockets.push(a);
                }
                self.agent.add_local_socket(now, a);
            }
            Op::StartGathering => self.agent.start_gathering(now),
            Op::SetRemoteCredentials => {
                self.agent
                    .set_remote_credentials(now, REMOTE_UFRAG, REMOTE_PWD)
            }
            Op::SetWrongRemoteCredentials => {
                self.agent
                    .set_remote_credentials(now, "wrng", "wrong-password-0123456789")
            }
            Op::SetRemoteLite(lite) => self.agent.set_remote_lite(now, *lite),
            Op::RemoteCandidate {
                kind,
                address,
                related,
                priority,
                foundation,
                component,
                tcp,
            } => {
                let kind = match kind {
                    KindSpec::Host => CandidateKind::Host,
                    KindSpec::Srflx => CandidateKind::ServerReflexive,
                    KindSpec::Prflx => CandidateKind::PeerReflexive,
                    KindSpec::Relay => CandidateKind::Relayed,
                };
                let candidate = Candidate {
                    kind,
                    address: address.get(),
                    base: related.map(Addr::get),
                    priority: *priority,
                    foundation: foundation.to_string(),
                    component: if component % 8 == 0 {
                        u16::from(*component)
                    } else {
                        1
                    },
                    tcp_type: match tcp % 4 {
                        0 => None,
                        1 => Some(TcpType::Active),
                        2 => Some(TcpType::Passive),
                        _ => Some(TcpType::SimultaneousOpen),
                    },
                };
                let _ = self.agent.add_remote_candidate(now, candidate);
            }
            Op::EndOfCandidates => self.agent.add_remote_end_of_candidates(now),
            Op::Request { on, from, spec } => self.request(*on, *from, spec),
            Op::Response(spec) => self.response(spec),
            Op::Raw { on, from, bytes } => {
                let local = self.local(*on);
                self.agent.handle_datagram(now, local, from.get(), bytes);
            }
            Op::Send { len, buf } => {
                let payload = vec![0x80u8; usize::from(*len) % 2048];
                let mut out = vec![0u8; usize::from(*buf) % 2048];
                if let Ok(t) = self.agent.send(&payload, &mut out) {
                    if t.ice_tcp {
                        assert_eq!(t.len, payload.len() + 2);
                    } else {
                        assert_eq!(t.len, payload.len());
                        assert!(self.sockets.contains(&t.source));
                    }
                }
            }
            Op::Restart => {
                self.agent.restart(now);
                // Requests of the old generation may still be answered: keep them.
            }
            Op::Close => self.agent.close(now),
            Op::TcpListener(a) => {
                let a = a.get();
                if self.listeners.len() < 4 {
                    self.listeners.push(a);
                }
                self.agent.add_local_tcp_listener(now, a);
            }
            Op::StreamAccepted { on, from } => {
                let Some(&local) = self
                    .listeners
                    .get(usize::from(*on) % self.listeners.len().max(1))
                else {
                    return;
                };
                let remote = from.get();
                if self
                    .agent
                    .handle_stream_accepted(now, local, remote)
                    .is_ok()
                    && !self.streams.contains(&(local, remote))
                {
                    self.streams.push((local, remote));
                }
            }
            Op::StreamConnected { which, ok, port } => {
                if self.connecting.is_empty() {
                    return;
                }
                let (local, remote) = self
                    .connecting
                    .remove(usize::from(*which) % self.connecting.len());
                if *ok {
                    let bound = SocketAddr::new(local.ip(), *port);
                    self.streams.push((bound, remote));
                    self.agent
                        .handle_stream_connected(now, local, remote, bound);
                } else {
                    self.agent.handle_stream_closed(now, local, remote);
                }
            }
            Op::StreamData { which, bytes } => {
                let Some(&(local, remote)) = self
                    .streams
                    .get(usize::from(*which) % self.streams.len().max(1))
                else {
                    return;
                };
                if self
                    .agent
                    .handle_stream_data(now, local, remote, bytes)
                    .is_err()
                {
                    self.streams.retain(|s| *s != (local, remote));
                }
                while self.agent.poll_stream_data().is_some() {}
            }
            Op::StreamEcho { which, pending } => {
                let (Some(&(local, remote)), Some(bytes)) = (
                    self.streams
                        .get(usize::from(*which) % self.streams.len().max(1)),
                    self.stream_requests
                        .get(usize::from(*pending) % self.stream_requests.len().max(1))
                        .cloned(),
                ) else {
                    return;
                };
                let _ = self.agent.handle_stream_data(now, local, remote, &bytes);
                while self.agent.poll_stream_data().is_some() {}
            }
            Op::StreamClosed { which } => {
                if self.streams.is_empty() {
                    return;
                }
                let (local, remote) = self
                    .streams
                    .remove(usize::from(*which) % self.streams.len());
                self.agent.handle_stream_closed(now, local, remote);
            }
        }
        self.drain_and_check();
    }
}

fn config_from(s: &Setup) -> AgentConfig {
    AgentConfig {
        controlling: s.controlling,
        lite: s.lite,
        stun_servers: s.stun_servers.iter().flatten().map(|a| a.get()).collect(),
        transport_policy: if s.relay_only {
            TransportPolicy::Relay
        } else {
            TransportPolicy::All
        },
        // RFC 8445 §14.2: Ta is never below 5 ms. With Ta = 0 and a zero RTO a pair can be
        // re-checked at every wake-up without time moving (a configuration error).
        ta: Duration::from_millis(5 + u64::from(s.ta_ms % 100)),
        gather_timeout: Duration::from_millis(u64::from(s.gather_timeout_ms % 5000)),
        check_rto: Duration::from_millis(u64::from(s.check_rto_ms % 1000)),
        check_transmissions: u32::from(s.check_transmissions % 10),
        max_pairs: usize::from(s.max_pairs % 40),
        max_remote_candidates: usize::from(s.max_remote_candidates % 40),
        // A zero interval makes the agent ask for a consent check at every wake-up, forever:
        // a configuration error, not something the fuzzer should keep finding.
        consent_interval: Duration::from_millis(1 + u64::from(s.consent_interval_ms % 10_000)),
        software: s.software.then(|| "floe-fuzz".to_owned()),
        ice_tcp: s.ice_tcp,
        ..AgentConfig::default()
    }
}

fn run(data: &[u8]) -> arbitrary::Result<()> {
    let mut u = Unstructured::new(data);
    let setup = Setup::arbitrary(&mut u)?;
    let config = config_from(&setup);
    if std::env::var_os("ICE_FUZZ_TRACE").is_some() {
        eprintln!("{setup:?}");
    }
    let now = Instant::now();
    let mut h = Harness {
        agent: IceAgent::new(config.clone(), now, setup.seed),
        config,
        now,
        sockets: Vec::new(),
        pending: Vec::new(),
        remote_key: IntegrityKey::short_term(REMOTE_PWD),
        buf: vec![0u8; 4096],
        listeners: Vec::new(),
        connecting: Vec::new(),
        streams: Vec::new(),
        stream_requests: Vec::new(),
    };
    for a in setup.sockets.iter().flatten() {
        h.run(&Op::AddLocalSocket(*a));
    }
    if setup.gather_now {
        h.run(&Op::StartGathering);
    }
    if setup.credentials_now {
        h.run(&Op::SetRemoteCredentials);
    }
    for _ in 0..MAX_OPS {
        if u.is_empty() {
            break;
        }
        let op = Op::arbitrary(&mut u)?;
        if std::env::var_os("ICE_FUZZ_TRACE").is_some() {
            eprintln!("{:?} {op:?}", h.now - now);
        }
        h.run(&op);
    }
    // Whatever happened, the agent winds down in bounded time: run its timers for a while.
    for _ in 0..64 {
        let Some(t) = h.agent.poll_timeout() else {
            break;
        };
        let to = t.clamp(h.now, h.now + Duration::from_secs(10));
        h.advance(to);
        h.settle();
    }
    Ok(())
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
