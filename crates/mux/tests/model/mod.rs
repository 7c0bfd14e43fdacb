//! A reference model of the mux (plain vectors, linear scans) and a driver that decodes a
//! sequence of operations from bytes and runs them against both, asserting after every step
//! that they return the same thing and report the same stats. Used by the property tests and by
//! the `mux_route` fuzz target (which includes this file by path).
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use floe_mux::{Mux, MuxConfig, MuxError, MuxStats};
use floe_stun::attributes::{Priority, Username};
use floe_stun::{MessageType, MessageWriter, TransactionId};

/// Local ufrags the operations pick from: valid ones, and a few the mux must refuse.
pub const UFRAGS: [&str; 8] = [
    "ufA1",
    "ufB2",
    "ufC3",
    // Longer than the mux keeps inline.
    "abcdefghijklmnopqrstuvwxyz+/0123",
    "abcdefgh+/",
    "bad",
    "uf:x",
    "white space",
];

/// Sessions keys the operations pick from.
pub const KEYS: u8 = 6;

/// A small table, so that operations hit the same addresses often: IPv4, IPv6 and a v4-mapped
/// IPv6 (which is a different transport address from its IPv4 twin).
pub fn addr(b: u8) -> SocketAddr {
    let ip = match b % 8 {
        i @ 0..=4 => IpAddr::V4(Ipv4Addr::new(198, 51, 100, i + 1)),
        5 => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        6 => IpAddr::V6(Ipv4Addr::new(198, 51, 100, 1).to_ipv6_mapped()),
        _ => IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)),
    };
    SocketAddr::new(ip, 4000 + u16::from((b / 8) % 2))
}

pub fn tid(b: u8) -> TransactionId {
    TransactionId::new([b % 10; 12])
}

/// What a datagram is, as the model sees it.
#[derive(Clone, Debug)]
pub enum Dgram {
    /// A Binding request; USERNAME `ufrag:peer` (or without `:`), or none.
    Request {
        ufrag: Option<u8>,
        colon: bool,
        tid: u8,
    },
    Success {
        tid: u8,
    },
    Error {
        tid: u8,
    },
    Indication {
        tid: u8,
    },
    /// Not STUN: first byte 64 or more.
    Data(Vec<u8>),
    /// A request whose header declares 4 bytes more than there are: passes the header test,
    /// fails to decode.
    Malformed {
        tid: u8,
    },
}

impl Dgram {
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = [0u8; 600];
        let (message_type, t) = match *self {
            Dgram::Request { tid, .. } | Dgram::Malformed { tid } => {
                (MessageType::BINDING_REQUEST, tid)
            }
            Dgram::Success { tid } => (MessageType::BINDING_SUCCESS, tid),
            Dgram::Error { tid } => (MessageType::BINDING_ERROR, tid),
            Dgram::Indication { tid } => (MessageType::BINDING_INDICATION, tid),
            Dgram::Data(ref bytes) => {
                let mut bytes = bytes.clone();
                match bytes.first_mut() {
                    Some(first) => *first |= 0x40,
                    None => bytes.push(0x40),
                }
                return bytes;
            }
        };
        let mut w = MessageWriter::new(&mut buf, message_type, tid(t)).unwrap();
        if let Dgram::Request {
            ufrag: Some(u),
            colon,
            ..
        } = *self
        {
            let ufrag = UFRAGS[usize::from(u) % UFRAGS.len()];
            let username = if colon {
                format!("{ufrag}:peer")
            } else {
                ufrag.to_owned()
            };
            w.add(&Username(&username)).unwrap();
        }
        w.add(&Priority(0x6e00_01ff)).unwrap();
        w.add_fingerprint().unwrap();
        let len = w.finish();
        let mut out = buf[..len].to_vec();
        if let Dgram::Malformed { .. } = self {
            let declared = u16::from_be_bytes([out[2], out[3]]) + 4;
            out[2..4].copy_from_slice(&declared.to_be_bytes());
        }
        out
    }
}

/// One call on the mux.
#[derive(Clone, Debug)]
pub enum Op {
    Insert {
        key: u8,
        ufrag: u8,
    },
    SetUfrag {
        key: u8,
        ufrag: u8,
    },
    Remove {
        key: u8,
    },
    Learn {
        key: u8,
        remote: u8,
    },
    Transmit {
        key: u8,
        destination: u8,
        datagram: Dgram,
    },
    Route {
        from: u8,
        datagram: Dgram,
    },
}

/// Reads operations from bytes until they run out.
pub struct Decoder<'a> {
    bytes: &'a [u8],
}

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(b)
    }

    fn datagram(&mut self) -> Option<Dgram> {
        let kind = self.byte()?;
        let arg = self.byte()?;
        Some(match kind % 8 {
            0 | 1 => Dgram::Request {
                ufrag: (kind & 0x80 == 0).then_some(arg),
                colon: kind & 0x40 == 0,
                tid: arg >> 3,
            },
            2 => Dgram::Success { tid: arg },
            3 => Dgram::Error { tid: arg },
            4 => Dgram::Indication { tid: arg },
            5 | 6 => {
                let len = usize::from(arg % 48).min(self.bytes.len());
                let (data, rest) = self.bytes.split_at(len);
                self.bytes = rest;
                Dgram::Data(data.to_vec())
            }
            _ => Dgram::Malformed { tid: arg },
        })
    }

    pub fn op(&mut self) -> Option<Op> {
        let kind = self.byte()?;
        let a = self.byte()?;
        let key = a % KEYS;
        Some(match kind % 8 {
            0 => Op::Insert { key, ufrag: a >> 3 },
            1 => Op::SetUfrag { key, ufrag: a >> 3 },
            2 => Op::Remove { key },
            3 => Op::Learn {
                key,
                remote: a >> 3,
            },
            4 | 5 => Op::Transmit {
                key,
                destination: a >> 3,
                datagram: self.datagram()?,
            },
            _ => Op::Route {
                from: a,
                datagram: self.datagram()?,
            },
        })
    }
}

struct ModelSession {
    key: u8,
    ufrag: String,
    remotes: Vec<SocketAddr>,
}

/// The mux's contract, the plain way.
pub struct Model {
    config: MuxConfig,
    sessions: Vec<ModelSession>,
    /// Oldest first.
    pending: Vec<(TransactionId, u8)>,
    stats: MuxStats,
}

fn valid(ufrag: &str) -> bool {
    (4..=256).contains(&ufrag.len())
        && ufrag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

impl Model {
    pub fn new(config: MuxConfig) -> Self {
        Self {
            config,
            sessions: Vec::new(),
            pending: Vec::new(),
            stats: MuxStats::default(),
        }
    }

    fn session(&mut self, key: u8) -> Option<&mut ModelSession> {
        self.sessions.iter_mut().find(|s| s.key == key)
    }

    fn owner_of_ufrag(&self, ufrag: &str) -> Option<u8> {
        self.sessions
            .iter()
            .find(|s| s.ufrag == ufrag)
            .map(|s| s.key)
    }

    fn owner_of_remote(&self, remote: SocketAddr) -> Option<u8> {
        self.sessions
            .iter()
            .find(|s| s.remotes.contains(&remote))
            .map(|s| s.key)
    }

    pub fn insert(&mut self, key: u8, ufrag: &str) -> Result<(), MuxError> {
        if !valid(ufrag) {
            return Err(MuxError::InvalidUfrag);
        }
        if self.session(key).is_some() {
            return self.set_ufrag(key, ufrag);
        }
        if self.sessions.len() >= self.config.max_sessions {
            return Err(MuxError::SessionLimit);
        }
        if self.owner_of_ufrag(ufrag).is_some() {
            return Err(MuxError::UfragInUse);
        }
        self.sessions.push(ModelSession {
            key,
            ufrag: ufrag.to_owned(),
            remotes: Vec::new(),
        });
        Ok(())
    }

    pub fn set_ufrag(&mut self, key: u8, ufrag: &str) -> Result<(), MuxError> {
        if !valid(ufrag) {
            return Err(MuxError::InvalidUfrag);
        }
        if self.session(key).is_none() {
            return Err(MuxError::UnknownSession);
        }
        match self.owner_of_ufrag(ufrag) {
            Some(owner) if owner == key => Ok(()),
            Some(_) => Err(MuxError::UfragInUse),
            None => {
                self.session(key).unwrap().ufrag = ufrag.to_owned();
                Ok(())
            }
        }
    }

    pub fn remove(&mut self, key: u8) {
        self.sessions.retain(|s| s.key != key);
        self.pending.retain(|&(_, k)| k != key);
    }

    pub fn learn_remote(&mut self, key: u8, remote: SocketAddr) {
        let max = self.config.max_remotes_per_session;
        if max == 0 || self.session(key).is_none() {
            return;
        }
        for s in &mut self.sessions {
            s.remotes.retain(|r| *r != remote);
        }
        let s = self.session(key).unwrap();
        if s.remotes.len() >= max {
            s.remotes.remove(0);
        }
        s.remotes.push(remote);
    }

    pub fn on_transmit(&mut self, key: u8, destination: SocketAddr, datagram: &Dgram) {
        match *datagram {
            Dgram::Request { tid: t, .. } | Dgram::Malformed { tid: t } => {
                if self.config.max_transactions == 0 || self.session(key).is_none() {
                    return;
                }
                self.pending.retain(|&(p, _)| p != tid(t));
                while self.pending.len() >= self.config.max_transactions {
                    self.pending.remove(0);
                }
                self.pending.push((tid(t), key));
            }
            Dgram::Success { .. } => self.learn_remote(key, destination),
            _ => {}
        }
    }

    fn by_remote(&mut self, from: SocketAddr) -> Option<u8> {
        let found = self.owner_of_remote(from);
        if found.is_none() {
            self.stats.dropped_unknown_remote += 1;
        }
        found
    }

    pub fn route(&mut self, from: SocketAddr, datagram: &Dgram) -> Option<u8> {
        let found = match *datagram {
            Dgram::Request {
                ufrag: Some(u),
                colon,
                ..
            } => {
                let ufrag = UFRAGS[usize::from(u) % UFRAGS.len()];
                // USERNAME is `ufrag:peer`: ours is what precedes the first `:`.
                let ours = if colon {
                    ufrag.split(':').next()
                } else {
                    ufrag.split_once(':').map(|(ours, _)| ours)
                };
                let found = ours.and_then(|o| self.owner_of_ufrag(o));
                if found.is_none() {
                    self.stats.dropped_unknown_ufrag += 1;
                }
                found
            }
            Dgram::Request { ufrag: None, .. } | Dgram::Indication { .. } | Dgram::Data(_) => {
                self.by_remote(from)
            }
            Dgram::Success { tid: t } | Dgram::Error { tid: t } => {
                match self.pending.iter().position(|&(p, _)| p == tid(t)) {
                    Some(i) => Some(self.pending.remove(i).1),
                    None => {
                        self.stats.dropped_unknown_transaction += 1;
                        None
                    }
                }
            }
            Dgram::Malformed { .. } => {
                self.stats.dropped_malformed += 1;
                None
            }
        };
        if found.is_some() {
            self.stats.routed += 1;
        }
        found
    }

    pub fn stats(&self) -> MuxStats {
        let mut stats = self.stats;
        stats.sessions = self.sessions.len();
        stats.remotes = self.sessions.iter().map(|s| s.remotes.len()).sum();
        stats.transactions = self.pending.len();
        stats
    }
}

/// The bounds for a run, from its first three bytes: small, so that they are hit.
pub fn config(d: &mut Decoder<'_>) -> MuxConfig {
    MuxConfig {
        max_sessions: usize::from(d.byte().unwrap_or(4) % 6),
        max_remotes_per_session: usize::from(d.byte().unwrap_or(3) % 4),
        max_transactions: usize::from(d.byte().unwrap_or(5) % 7),
    }
}

/// Runs the operations in `bytes` against the mux and the model; panics on any difference.
/// Returns how many operations ran, and the mux's stats at the end.
pub fn run(bytes: &[u8]) -> (usize, MuxStats) {
    let mut d = Decoder::new(bytes);
    let config = config(&mut d);
    let mut mux: Mux<u8> = Mux::new(config);
    let mut model = Model::new(config);
    let mut ops = 0;
    while let Some(op) = d.op() {
        ops += 1;
        match &op {
            Op::Insert { key, ufrag } => {
                let u = UFRAGS[usize::from(*ufrag) % UFRAGS.len()];
                assert_eq!(mux.insert(*key, u), model.insert(*key, u), "{op:?}");
            }
            Op::SetUfrag { key, ufrag } => {
                let u = UFRAGS[usize::from(*ufrag) % UFRAGS.len()];
                assert_eq!(mux.set_ufrag(*key, u), model.set_ufrag(*key, u), "{op:?}");
            }
            Op::Remove { key } => {
                mux.remove(*key);
                model.remove(*key);
                assert!(!mux.contains(*key));
            }
            Op::Learn { key, remote } => {
                mux.learn_remote(*key, addr(*remote));
                model.learn_remote(*key, addr(*remote));
            }
            Op::Transmit {
                key,
                destination,
                datagram,
            } => {
                mux.on_transmit(*key, addr(*destination), &datagram.encode());
                model.on_transmit(*key, addr(*destination), datagram);
            }
            Op::Route { from, datagram } => {
                let before = mux.stats();
                let got = mux.route(addr(*from), &datagram.encode());
                assert_eq!(got, model.route(addr(*from), datagram), "{op:?}");
                let after = mux.stats();
                // Routing never adds: tables only shrink (a response consumes its entry).
                assert!(after.sessions == before.sessions && after.remotes == before.remotes);
                assert!(after.transactions <= before.transactions);
            }
        }
        let stats = mux.stats();
        assert_eq!(stats, model.stats(), "after {op:?}");
        assert_eq!(mux.len(), stats.sessions);
        assert!(stats.sessions <= config.max_sessions);
        assert!(stats.remotes <= config.max_sessions * config.max_remotes_per_session);
        assert!(stats.transactions <= config.max_transactions);
    }
    (ops, mux.stats())
}
