//! Two agents on an in-memory network of UDP datagrams and TCP connections, for ICE-TCP
//! (RFC 6544): when an agent asks to connect, the harness opens the connection to the other
//! agent's listener, reports it connected to one side and accepted to the other, and carries
//! the bytes of every stream transmit to the other end, optionally cut into random chunks
//! (and so also coalesced with what follows). Virtual time; 1 ms one way.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_ice::{AgentConfig, IceAgent, IceEvent, StreamCommand, Verdict};

pub const MS: Duration = Duration::from_millis(1);

/// What travels: a datagram, stream bytes, or the end of a stream.
#[derive(Debug)]
enum Delivery {
    Datagram(Vec<u8>),
    Stream(Vec<u8>),
    Closed,
}

/// (to agent, local address there, remote address, what).
type InFlight = (usize, SocketAddr, SocketAddr, Delivery);

/// One open connection: each end's (agent, local, remote).
#[derive(Clone, Copy, Debug)]
pub struct Conn {
    pub ends: [(usize, SocketAddr, SocketAddr); 2],
}

pub struct StreamNet {
    pub now: Instant,
    pub start: Instant,
    pub agents: [IceAgent; 2],
    pub udp: [Option<SocketAddr>; 2],
    pub listeners: [Option<SocketAddr>; 2],
    pub conns: Vec<Conn>,
    queue: BTreeMap<(Instant, u64), InFlight>,
    seq: u64,
    next_port: u16,
    pub events: [Vec<IceEvent>; 2],
    /// Application data each agent received.
    pub received: [Vec<Vec<u8>>; 2],
    /// Connects each agent asked for, and connections each accepted.
    pub connects: [usize; 2],
    pub accepts: [usize; 2],
    /// Cut every stream write into random chunks.
    pub chunked: bool,
    rng: u64,
    /// Drop every UDP datagram.
    pub udp_blocked: bool,
    /// Agent 1 is an ICE-lite agent.
    lite: bool,
    /// Hold the candidates trickled to agent `i` until [`Self::release_candidates`].
    pub hold_candidates: [bool; 2],
    held: Vec<(usize, floe_ice::Candidate)>,
}

impl StreamNet {
    /// Agent 0 controls. `udp` and `tcp` say whether each agent gets a UDP socket and a TCP
    /// listener (10.0.0.1 for agent 0, 10.0.0.2 for agent 1).
    pub fn new(udp: bool, tcp: bool) -> Self {
        Self::with_answerer(udp, tcp, false)
    }

    /// As [`Self::new`], with agent 1 an ICE-lite agent when `lite`.
    pub fn with_answerer(udp: bool, tcp: bool, lite: bool) -> Self {
        let now = Instant::now();
        let config = |controlling, lite| AgentConfig {
            controlling,
            lite,
            ice_tcp: true,
            ..AgentConfig::default()
        };
        let mut net = StreamNet {
            now,
            start: now,
            agents: [
                IceAgent::new(config(true, false), now, [1; 32]),
                IceAgent::new(config(false, lite), now, [2; 32]),
            ],
            udp: [None, None],
            listeners: [None, None],
            conns: Vec::new(),
            queue: BTreeMap::new(),
            seq: 0,
            next_port: 40000,
            events: [Vec::new(), Vec::new()],
            received: [Vec::new(), Vec::new()],
            connects: [0, 0],
            accepts: [0, 0],
            chunked: false,
            rng: 0x9e37_79b9_7f4a_7c15,
            udp_blocked: false,
            lite,
            hold_candidates: [false, false],
            held: Vec::new(),
        };
        for i in 0..2 {
            let ip = format!("10.0.0.{}", i + 1);
            if udp {
                let a: SocketAddr = format!("{ip}:5000").parse().unwrap();
                net.udp[i] = Some(a);
                net.agents[i].add_local_socket(now, a);
            }
            if tcp {
                let l: SocketAddr = format!("{ip}:7000").parse().unwrap();
                net.listeners[i] = Some(l);
                net.agents[i].add_local_tcp_listener(now, l);
            }
        }
        net
    }

    /// Starts gathering and exchanges credentials.
    pub fn start(&mut self) {
        let now = self.now;
        for i in 0..2 {
            self.agents[i].start_gathering(now);
        }
        let (c0, c1) = (
            self.agents[0].local_credentials().clone(),
            self.agents[1].local_credentials().clone(),
        );
        if self.lite {
            self.agents[0].set_remote_lite(now, true);
        }
        self.agents[0].set_remote_credentials(now, &c1.ufrag, &c1.pwd);
        self.agents[1].set_remote_credentials(now, &c0.ufrag, &c0.pwd);
        self.flush();
    }

    fn random(&mut self) -> u64 {
        // xorshift64: deterministic chunk sizes.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn enqueue(&mut self, to: usize, local: SocketAddr, remote: SocketAddr, what: Delivery) {
        self.seq += 1;
        self.queue
            .insert((self.now + MS, self.seq), (to, local, remote, what));
    }

    /// Sends stream bytes from agent `i` on its connection (source, destination).
    fn write_stream(
        &mut self,
        i: usize,
        source: SocketAddr,
        destination: SocketAddr,
        bytes: &[u8],
    ) {
        let Some(c) = self
            .conns
            .iter()
            .find(|c| c.ends.contains(&(i, source, destination)))
            .copied()
        else {
            return;
        };
        let (j, local, remote) = if c.ends[0].0 == i {
            c.ends[1]
        } else {
            c.ends[0]
        };
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = if self.chunked {
                (self.random() as usize % 7 + 1).min(rest.len())
            } else {
                rest.len()
            };
            self.enqueue(j, local, remote, Delivery::Stream(rest[..n].to_vec()));
            rest = &rest[n..];
        }
    }

    /// The agent on the other side of agent `i`'s address `to`.
    fn owner(&self, addr: SocketAddr) -> Option<usize> {
        (0..2).find(|&j| self.udp[j] == Some(addr) || self.listeners[j] == Some(addr))
    }

    fn command(&mut self, i: usize, command: StreamCommand) {
        let now = self.now;
        match command {
            StreamCommand::Connect { local, remote } => {
                self.connects[i] += 1;
                let Some(j) = self
                    .owner(remote)
                    .filter(|&j| self.listeners[j] == Some(remote))
                else {
                    self.agents[i].handle_stream_closed(now, local, remote);
                    return;
                };
                self.next_port += 1;
                let bound = SocketAddr::new(local.ip(), self.next_port);
                self.conns.push(Conn {
                    ends: [(i, bound, remote), (j, remote, bound)],
                });
                if self.agents[j]
                    .handle_stream_accepted(now, remote, bound)
                    .is_ok()
                {
                    self.accepts[j] += 1;
                }
                self.agents[i].handle_stream_connected(now, local, remote, bound);
            }
            StreamCommand::Close { local, remote } => {
                if let Some(k) = self
                    .conns
                    .iter()
                    .position(|c| c.ends.contains(&(i, local, remote)))
                {
                    let c = self.conns.remove(k);
                    let (j, l, r) = if c.ends[0].0 == i {
                        c.ends[1]
                    } else {
                        c.ends[0]
                    };
                    self.enqueue(j, l, r, Delivery::Closed);
                }
            }
            _ => {}
        }
    }

    /// Moves every agent's output onto the network, and trickles candidates.
    pub fn flush(&mut self) {
        let mut buf = vec![0u8; 1500];
        loop {
            let mut idle = true;
            for i in 0..2 {
                while let Some(c) = self.agents[i].poll_stream_command() {
                    idle = false;
                    self.command(i, c);
                }
                while let Some(t) = self.agents[i].poll_transmit(&mut buf).unwrap() {
                    idle = false;
                    let bytes = buf[..t.len].to_vec();
                    if t.ice_tcp {
                        self.write_stream(i, t.source, t.destination, &bytes);
                    } else if let Some(j) = self.owner(t.destination) {
                        if !self.udp_blocked && self.udp[j] == Some(t.destination) {
                            self.enqueue(j, t.destination, t.source, Delivery::Datagram(bytes));
                        }
                    }
                }
                while let Some(e) = self.agents[i].poll_event() {
                    idle = false;
                    if let IceEvent::LocalCandidate(c) = &e {
                        if self.hold_candidates[1 - i] {
                            self.held.push((1 - i, c.clone()));
                        } else {
                            let _ = self.agents[1 - i].add_remote_candidate(self.now, c.clone());
                        }
                    }
                    self.events[i].push(e);
                }
            }
            if idle {
                break;
            }
        }
    }

    fn deliver(&mut self, (to, local, remote, what): InFlight) {
        let now = self.now;
        match what {
            Delivery::Datagram(bytes) => {
                let verdict = self.agents[to].handle_datagram(now, local, remote, &bytes);
                if let Some(range) = verdict.payload_range(bytes.len()) {
                    if verdict != Verdict::Stun {
                        self.received[to].push(bytes[range].to_vec());
                    }
                }
            }
            Delivery::Stream(bytes) => {
                let _ = self.agents[to].handle_stream_data(now, local, remote, &bytes);
            }
            Delivery::Closed => self.agents[to].handle_stream_closed(now, local, remote),
        }
        while let Some(data) = self.agents[to].poll_stream_data() {
            self.received[to].push(data);
        }
    }

    /// Runs the network and both agents until `d` of virtual time has passed.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.flush();
            let next_packet = self.queue.keys().next().map(|k| k.0);
            let next_timer = self.agents.iter().filter_map(IceAgent::poll_timeout).min();
            let Some(next) = [next_packet, next_timer].into_iter().flatten().min() else {
                self.now = end;
                return;
            };
            if next > end {
                self.now = end;
                return;
            }
            self.now = self.now.max(next);
            while let Some(entry) = self.queue.first_entry() {
                if entry.key().0 > self.now {
                    break;
                }
                let item = entry.remove();
                self.deliver(item);
            }
            for i in 0..2 {
                if self.agents[i].poll_timeout().is_some_and(|t| t <= self.now) {
                    self.agents[i].handle_timeout(self.now);
                }
            }
        }
    }

    /// Hands the held candidates to their agents, and trickles from now on.
    pub fn release_candidates(&mut self) {
        self.hold_candidates = [false, false];
        for (to, c) in std::mem::take(&mut self.held) {
            let _ = self.agents[to].add_remote_candidate(self.now, c);
        }
        self.flush();
    }

    /// Sends application data from agent `i` on its selected pair.
    pub fn send(&mut self, i: usize, payload: &[u8]) {
        let mut buf = vec![0u8; payload.len() + 64];
        let t = self.agents[i].send(payload, &mut buf).expect("send");
        let bytes = buf[..t.len].to_vec();
        if t.ice_tcp {
            self.write_stream(i, t.source, t.destination, &bytes);
        } else if let Some(j) = self.owner(t.destination) {
            self.enqueue(j, t.destination, t.source, Delivery::Datagram(bytes));
        }
    }

    pub fn connected(&self, i: usize) -> bool {
        self.agents[i].selected_path().is_some()
    }
}
