//! One agent on the wire: the test plays the peer by writing and reading STUN messages, so a
//! conformance test can check exactly what the agent sends and how it answers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_ice::{AgentConfig, Candidate, CandidateKind, IceAgent, IceEvent, Transmit};
use floe_stun::attributes::{
    ErrorCode, IceControlled, IceControlling, Priority, UseCandidate, Username, XorMappedAddress,
};
use floe_stun::{IntegrityKey, Message, MessageType, MessageWriter, TransactionId};

pub const MS: Duration = Duration::from_millis(1);
pub const REMOTE_UFRAG: &str = "peer";
pub const REMOTE_PWD: &str = "peer-password-0123456789";

pub fn local() -> SocketAddr {
    "10.0.0.1:5000".parse().unwrap()
}

pub fn remote() -> SocketAddr {
    "10.0.0.2:6000".parse().unwrap()
}

/// An agent with one socket, the peer's credentials and one remote host candidate.
pub struct Wire {
    pub agent: IceAgent,
    pub now: Instant,
    pub sent: Vec<(Transmit, Vec<u8>)>,
    pub events: Vec<IceEvent>,
}

pub fn host(addr: SocketAddr, priority: u32) -> Candidate {
    Candidate {
        kind: CandidateKind::Host,
        address: addr,
        base: None,
        priority,
        foundation: "1".into(),
        component: 1,
        tcp_type: None,
    }
}

impl Wire {
    pub fn new(config: AgentConfig) -> Self {
        Self::with_seed(config, [7; 32])
    }

    pub fn with_seed(config: AgentConfig, seed: [u8; 32]) -> Self {
        let now = Instant::now();
        let mut agent = IceAgent::new(config, now, seed);
        agent.add_local_socket(now, local());
        agent.start_gathering(now);
        agent.set_remote_credentials(now, REMOTE_UFRAG, REMOTE_PWD);
        let mut w = Self {
            agent,
            now,
            sent: Vec::new(),
            events: Vec::new(),
        };
        w.drain();
        w
    }

    /// A controlling agent that checked, nominated and selected the pair to `remote()`, the
    /// test answering for the peer; what it sent so far is cleared.
    pub fn connected(config: AgentConfig) -> Self {
        let mut w = Self::new(AgentConfig {
            controlling: true,
            ..config
        });
        w.add_remote(remote(), 0x7e00_00ff);
        for _ in 0..20 {
            w.advance(50 * MS);
            w.answer_requests_to(remote());
            if w.agent.selected_path().is_some() {
                w.take_sent();
                return w;
            }
        }
        panic!("not connected: {:?}", w.events);
    }

    /// An ICE-lite agent the peer nominated `remote()` on with one USE-CANDIDATE check.
    pub fn lite_selected() -> Self {
        let mut w = Self::new(AgentConfig {
            lite: true,
            ..AgentConfig::default()
        });
        let c = check(&w, &Check::nominating());
        w.receive(remote(), &c);
        assert!(w.agent.selected_path().is_some());
        w.take_sent();
        w
    }

    pub fn add_remote(&mut self, addr: SocketAddr, priority: u32) {
        self.agent
            .add_remote_candidate(self.now, host(addr, priority))
            .unwrap();
        self.drain();
    }

    pub fn drain(&mut self) {
        let mut buf = [0u8; 1500];
        while let Some(t) = self.agent.poll_transmit(&mut buf).unwrap() {
            self.sent.push((t, buf[..t.len].to_vec()));
        }
        while let Some(e) = self.agent.poll_event() {
            self.events.push(e);
        }
    }

    /// Advances time in steps of at most 10 ms, firing the agent's timers.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            let next = self
                .agent
                .poll_timeout()
                .unwrap_or(end)
                .min(end)
                .min(self.now + 10 * MS)
                .max(self.now);
            self.now = if next == self.now {
                self.now + MS
            } else {
                next
            };
            self.agent.handle_timeout(self.now);
            self.drain();
        }
    }

    pub fn take_sent(&mut self) -> Vec<(Transmit, Vec<u8>)> {
        std::mem::take(&mut self.sent)
    }

    /// Binding requests the agent sent to `to` (decoded ids and whether they nominate).
    pub fn requests_to(&self, to: SocketAddr) -> Vec<(TransactionId, bool)> {
        self.sent
            .iter()
            .filter(|(t, _)| t.destination == to)
            .filter_map(|(_, b)| {
                let m = Message::decode(b).ok()?;
                (m.message_type() == MessageType::BINDING_REQUEST)
                    .then(|| (m.transaction_id(), m.has(floe_stun::types::USE_CANDIDATE)))
            })
            .collect()
    }

    /// Feeds a datagram from `from` to the agent's socket.
    pub fn receive(&mut self, from: SocketAddr, bytes: &[u8]) -> floe_ice::Verdict {
        let v = self.agent.handle_datagram(self.now, local(), from, bytes);
        self.drain();
        v
    }

    /// Answers every Binding request the agent sent to `to` since the last call, signed with the
    /// peer's password, as the peer would; what went elsewhere stays in `sent`.
    pub fn answer_requests_to(&mut self, to: SocketAddr) -> usize {
        let (mine, others): (Vec<_>, Vec<_>) = self
            .take_sent()
            .into_iter()
            .partition(|(t, _)| t.destination == to);
        self.sent = others;
        let requests: Vec<TransactionId> = mine
            .into_iter()
            .filter_map(|(_, b)| {
                let m = Message::decode(&b).ok()?;
                (m.message_type() == MessageType::BINDING_REQUEST).then(|| m.transaction_id())
            })
            .collect();
        for tid in &requests {
            let response = success(*tid, local());
            self.receive(to, &response);
        }
        requests.len()
    }

    pub fn local_ufrag(&self) -> String {
        self.agent.local_credentials().ufrag.clone()
    }

    pub fn local_key(&self) -> IntegrityKey {
        IntegrityKey::short_term(&self.agent.local_credentials().pwd)
    }
}

pub fn remote_key() -> IntegrityKey {
    IntegrityKey::short_term(REMOTE_PWD)
}

/// What a check from the peer carries.
#[derive(Clone)]
pub struct Check {
    pub tid: [u8; 12],
    pub priority: Option<u32>,
    pub controlling: Option<u64>,
    pub controlled: Option<u64>,
    pub use_candidate: bool,
    pub extra: Option<(u16, Vec<u8>)>,
    pub sign: bool,
    pub fingerprint: bool,
}

impl Default for Check {
    fn default() -> Self {
        Self {
            tid: [1; 12],
            priority: Some(0x6e00_1eff),
            controlling: Some(1),
            controlled: None,
            use_candidate: false,
            extra: None,
            sign: true,
            fingerprint: true,
        }
    }
}

impl Check {
    /// A plain check from a controlled peer.
    pub fn from_controlled() -> Self {
        Self {
            controlling: None,
            controlled: Some(1),
            ..Self::default()
        }
    }

    /// A check with USE-CANDIDATE, from a controlling peer.
    pub fn nominating() -> Self {
        Self {
            use_candidate: true,
            ..Self::default()
        }
    }
}

/// A Binding request from the peer to the agent, signed with the agent's password.
pub fn check(wire: &Wire, c: &Check) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let username = format!("{}:{}", wire.local_ufrag(), REMOTE_UFRAG);
    let mut w = MessageWriter::new(
        &mut buf,
        MessageType::BINDING_REQUEST,
        TransactionId::new(c.tid),
    )
    .unwrap();
    w.add(&Username(&username)).unwrap();
    if let Some(p) = c.priority {
        w.add(&Priority(p)).unwrap();
    }
    if let Some(t) = c.controlling {
        w.add(&IceControlling(t)).unwrap();
    }
    if let Some(t) = c.controlled {
        w.add(&IceControlled(t)).unwrap();
    }
    if c.use_candidate {
        w.add(&UseCandidate).unwrap();
    }
    if let Some((ty, value)) = &c.extra {
        w.add_raw(*ty, value).unwrap();
    }
    let key = if c.sign {
        wire.local_key()
    } else {
        IntegrityKey::short_term("not-the-password-at-all!")
    };
    w.add_message_integrity(&key).unwrap();
    if c.fingerprint {
        w.add_fingerprint().unwrap();
    }
    let len = w.finish();
    buf.truncate(len);
    buf
}

/// A response from the peer with the attributes `add` writes, signed with the peer's password.
fn response(
    tid: TransactionId,
    message_type: MessageType,
    add: impl FnOnce(&mut MessageWriter<'_>),
) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let mut w = MessageWriter::new(&mut buf, message_type, tid).unwrap();
    add(&mut w);
    w.add_message_integrity(&remote_key()).unwrap();
    w.add_fingerprint().unwrap();
    let len = w.finish();
    buf.truncate(len);
    buf
}

/// A success response from the peer, signed with the peer's password.
pub fn success(tid: TransactionId, mapped: SocketAddr) -> Vec<u8> {
    response(tid, MessageType::BINDING_SUCCESS, |w| {
        w.add(&XorMappedAddress(mapped)).unwrap()
    })
}

/// An error response from the peer, signed with the peer's password.
pub fn error(tid: TransactionId, code: u16) -> Vec<u8> {
    response(tid, MessageType::BINDING_ERROR, |w| {
        w.add(&ErrorCode::new(code, "error")).unwrap()
    })
}

/// The agent's answers (decoded type and error code) to `to`.
pub fn answers_to(sent: &[(Transmit, Vec<u8>)], to: SocketAddr) -> Vec<(MessageType, Option<u16>)> {
    sent.iter()
        .filter(|(t, _)| t.destination == to)
        .filter_map(|(_, b)| {
            let m = Message::decode(b).ok()?;
            let code = m.get::<ErrorCode>().ok().flatten().map(|e| e.code);
            m.class().is_response().then(|| (m.message_type(), code))
        })
        .collect()
}
