//! Shared harness for the simulator tests (`tests/sim_*.rs`): an [`IceAgent`] wrapped as a
//! floe-netsim [`Endpoint`], and [`Duo`], two agents on a simulated network wired together by a
//! simulated signalling channel (credentials, trickled candidates, end-of-candidates), with an
//! optional one-way signalling delay.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_ice::{
    AgentConfig, Candidate, CandidateKind, IceAgent, IceConnectionState, IceError, IceEvent,
    TurnServerConfig, Verdict,
};
use floe_netsim::{Datagram, Endpoint, HostId, LinkConfig, Nat, Sim, STUN_PORT, TURN_PORT};

/// TURN user of [`Setup::turn`].
pub const TURN_USER: &str = "alice";
/// TURN password of [`Setup::turn`].
pub const TURN_PASSWORD: &str = "secret";

/// The port every agent binds on its host.
pub const PORT: u16 = 5000;
/// One millisecond.
pub const MS: Duration = Duration::from_millis(1);
/// Ta, the default pacing interval.
pub const TA: Duration = Duration::from_millis(25);

/// Application data an agent received: (simulated time, local, remote, payload).
pub type AppData = (Duration, SocketAddr, SocketAddr, Vec<u8>);

/// An [`IceAgent`] as a simulator endpoint. The host's address (port [`PORT`]) is its only
/// base. Every event is logged with the simulated time it was polled at.
pub struct AgentNode {
    /// The agent.
    pub agent: IceAgent,
    start: Instant,
    /// Every event, with its simulated time since the start.
    pub log: Vec<(Duration, IceEvent)>,
    /// Events the signalling harness has not looked at yet.
    pub unsignalled: VecDeque<IceEvent>,
    /// Datagrams the agent classified as application data.
    pub app_data: Vec<AppData>,
    /// Datagrams classified as STUN / not for us.
    pub stun_in: u64,
    /// Datagrams the agent said were not for it.
    pub not_for_us: u64,
    /// Application datagrams that came through a TURN relay.
    pub relayed_in: u64,
    /// Datagrams the agent emitted (STUN only; application data is counted apart).
    pub stun_out: u64,
    /// Application datagrams queued by the test, sent at the next step.
    pub out: VecDeque<Datagram>,
}

impl AgentNode {
    /// Wraps an agent.
    pub fn new(agent: IceAgent, start: Instant) -> Self {
        Self {
            agent,
            start,
            log: Vec::new(),
            unsignalled: VecDeque::new(),
            app_data: Vec::new(),
            stun_in: 0,
            not_for_us: 0,
            relayed_in: 0,
            stun_out: 0,
            out: VecDeque::new(),
        }
    }

    /// Moves the agent's pending events to the log (call after poking the agent directly).
    pub fn drain(&mut self, now: Instant) {
        let t = now.saturating_duration_since(self.start);
        while let Some(e) = self.agent.poll_event() {
            self.log.push((t, e.clone()));
            self.unsignalled.push_back(e);
        }
    }

    /// The first time the connection state became `state`.
    pub fn first_time(&self, state: IceConnectionState) -> Option<Duration> {
        self.log.iter().find_map(|(t, e)| match e {
            IceEvent::ConnectionStateChange(s) if *s == state => Some(*t),
            _ => None,
        })
    }

    /// The connection states in order, with times.
    pub fn states(&self) -> Vec<(Duration, IceConnectionState)> {
        self.log
            .iter()
            .filter_map(|(t, e)| match e {
                IceEvent::ConnectionStateChange(s) => Some((*t, *s)),
                _ => None,
            })
            .collect()
    }

    /// True when the last selected pair has a relayed candidate on either side.
    pub fn relayed(&self) -> bool {
        self.selected_kinds()
            .is_some_and(|(l, r)| l == CandidateKind::Relayed || r == CandidateKind::Relayed)
    }

    /// The last selected pair's candidate kinds.
    pub fn selected_kinds(&self) -> Option<(CandidateKind, CandidateKind)> {
        self.log.iter().rev().find_map(|(_, e)| match e {
            IceEvent::SelectedPairChange { local, remote } => Some((local.kind, remote.kind)),
            _ => None,
        })
    }
}

impl Endpoint for AgentNode {
    fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    ) {
        match self.agent.handle_datagram(now, local, remote, payload) {
            Verdict::ApplicationData => {
                let t = now.saturating_duration_since(self.start);
                self.app_data.push((t, local, remote, payload.to_vec()));
            }
            Verdict::RelayedData { start, end } => {
                let t = now.saturating_duration_since(self.start);
                self.relayed_in += 1;
                self.app_data
                    .push((t, local, remote, payload[start..end].to_vec()));
            }
            Verdict::Stun => self.stun_in += 1,
            Verdict::NotForUs => self.not_for_us += 1,
        }
        self.drain(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.agent.handle_timeout(now);
        self.drain(now);
    }

    fn poll_transmit(&mut self, _now: Instant) -> Option<Datagram> {
        if let Some(d) = self.out.pop_front() {
            return Some(d);
        }
        let mut buf = [0u8; 1500];
        let t = self.agent.poll_transmit(&mut buf).unwrap()?;
        self.stun_out += 1;
        Some(Datagram::new(t.source, t.destination, &buf[..t.len]))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.agent.poll_timeout()
    }
}

/// What the signalling channel carries.
#[derive(Clone, Debug)]
pub enum Signal {
    /// `a=ice-ufrag` / `a=ice-pwd`.
    Credentials { ufrag: String, pwd: String },
    /// A trickled candidate.
    Candidate(Candidate),
    /// End-of-candidates.
    EndOfCandidates,
    /// An offer after an ICE restart: the receiver restarts too (as an answerer would), takes
    /// the new credentials and answers with its own.
    Restart { ufrag: String, pwd: String },
}

/// How to build a [`Duo`].
#[derive(Clone, Debug)]
pub struct Setup {
    /// Where each host sits.
    pub nats: [Nat; 2],
    /// Each host's access link.
    pub links: [LinkConfig; 2],
    /// Each agent's configuration (STUN servers are filled in when `stun` is set).
    pub configs: [AgentConfig; 2],
    /// Seed of the simulator; the agents' seeds derive from it.
    pub seed: u64,
    /// Add a STUN server on the public internet and give it to both agents.
    pub stun: bool,
    /// Add a TURN server (floe-turn's, [`floe_netsim::TurnNode`]) on the public internet and
    /// give it to both agents.
    pub turn: bool,
    /// One-way delay of the signalling channel.
    pub signal_delay: Duration,
    /// Extra delay of each side's credentials (side i's credentials reach the other side
    /// `signal_delay + credentials_delay[i]` after the start).
    pub credentials_delay: [Duration; 2],
    /// Extra delay of everything each side signals (credentials and candidates).
    pub sender_delay: [Duration; 2],
    /// Trickle local candidates to the other side automatically.
    pub trickle: bool,
    /// Forward end-of-candidates automatically.
    pub forward_end_of_candidates: bool,
    /// Declare the other side lite (`set_remote_lite`) on each side at the start.
    pub remote_lite: [bool; 2],
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            nats: [Nat::open(), Nat::open()],
            links: [LinkConfig::default(), LinkConfig::default()],
            configs: [
                AgentConfig {
                    controlling: true,
                    ..AgentConfig::default()
                },
                AgentConfig::default(),
            ],
            seed: 1,
            stun: false,
            turn: false,
            signal_delay: Duration::ZERO,
            credentials_delay: [Duration::ZERO; 2],
            sender_delay: [Duration::ZERO; 2],
            trickle: true,
            forward_end_of_candidates: true,
            remote_lite: [false, false],
        }
    }
}

/// Two agents on a simulated network and the signalling channel between them.
pub struct Duo {
    /// The simulator.
    pub sim: Sim,
    /// The two agents' hosts.
    pub hosts: [HostId; 2],
    /// The STUN server, when there is one.
    pub stun: Option<HostId>,
    /// The TURN server, when there is one.
    pub turn: Option<HostId>,
    /// One-way delay of the signalling channel.
    pub signal_delay: Duration,
    /// Extra delay of everything each side signals.
    pub sender_delay: [Duration; 2],
    /// Trickle local candidates automatically.
    pub trickle: bool,
    /// Forward end-of-candidates automatically.
    pub forward_end_of_candidates: bool,
    /// Signals in flight: (delivery time, sequence) → (receiving side, signal).
    queue: BTreeMap<(Duration, u64), (usize, Signal)>,
    seq: u64,
    /// Signals delivered to each side, with their delivery times.
    pub delivered: [Vec<(Duration, Signal)>; 2],
    /// Remote candidates an agent refused.
    pub refused: [Vec<IceError>; 2],
}

impl Duo {
    /// Builds the network, starts gathering on both agents and sends the credentials.
    pub fn new(setup: Setup) -> Self {
        let mut sim = Sim::new(setup.seed);
        let stun = setup.stun.then(|| sim.add_stun_server());
        let stun_addr = stun.map(|h| sim.addr(h, STUN_PORT));
        let turn = setup
            .turn
            .then(|| sim.add_turn_server(TURN_USER, TURN_PASSWORD));
        let turn_addr = turn.map(|h| sim.addr(h, TURN_PORT));
        let start = sim.start();
        let now = sim.now();
        let mut hosts = Vec::new();
        for side in 0..2 {
            let mut config = setup.configs[side].clone();
            if let Some(server) = stun_addr {
                config.stun_servers.push(server);
            }
            if let Some(server) = turn_addr {
                config.turn_servers.push(TurnServerConfig {
                    transport: Default::default(),
                    server,
                    username: TURN_USER.into(),
                    password: TURN_PASSWORD.into(),
                });
            }
            let seed = setup.seed.wrapping_mul(1000).wrapping_add(side as u64 + 1);
            let node = AgentNode::new(IceAgent::new(config, now, seed_bytes(seed)), start);
            let host = sim.add_host_behind(setup.nats[side].clone(), node);
            sim.set_link(host, setup.links[side].clone());
            hosts.push(host);
        }
        let hosts = [hosts[0], hosts[1]];
        let mut duo = Duo {
            sim,
            hosts,
            stun,
            turn,
            signal_delay: setup.signal_delay,
            sender_delay: setup.sender_delay,
            trickle: setup.trickle,
            forward_end_of_candidates: setup.forward_end_of_candidates,
            queue: BTreeMap::new(),
            seq: 0,
            delivered: [Vec::new(), Vec::new()],
            refused: [Vec::new(), Vec::new()],
        };
        for side in 0..2 {
            if setup.remote_lite[side] {
                duo.agent(side).set_remote_lite(now, true);
            }
            let addr = duo.addr(side);
            duo.agent(side).add_local_socket(now, addr);
            duo.agent(side).start_gathering(now);
            duo.node(side).drain(now);
        }
        for side in 0..2 {
            let c = duo.agent(side).local_credentials().clone();
            let at = duo.sim.elapsed()
                + setup.signal_delay
                + setup.sender_delay[side]
                + setup.credentials_delay[side];
            duo.signal_at(
                at,
                1 - side,
                Signal::Credentials {
                    ufrag: c.ufrag,
                    pwd: c.pwd,
                },
            );
        }
        duo
    }

    /// The host address of a side's agent (its base).
    pub fn addr(&self, side: usize) -> SocketAddr {
        self.sim.addr(self.hosts[side], PORT)
    }

    /// A side's endpoint.
    pub fn node(&mut self, side: usize) -> &mut AgentNode {
        self.sim.endpoint_mut::<AgentNode>(self.hosts[side])
    }

    /// A side's endpoint, read-only.
    pub fn node_ref(&self, side: usize) -> &AgentNode {
        self.sim.endpoint::<AgentNode>(self.hosts[side])
    }

    /// A side's agent.
    pub fn agent(&mut self, side: usize) -> &mut IceAgent {
        &mut self.node(side).agent
    }

    /// A side's agent, read-only.
    pub fn agent_ref(&self, side: usize) -> &IceAgent {
        &self.node_ref(side).agent
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.sim.elapsed()
    }

    /// Queues a signal to `to`, delivered after the signalling delay.
    pub fn signal(&mut self, to: usize, signal: Signal) {
        let at = self.sim.elapsed() + self.signal_delay;
        self.signal_at(at, to, signal);
    }

    /// Queues a signal from `side` to the other, delivered after the signalling delay and the
    /// sender's extra delay.
    fn signal_from(&mut self, side: usize, signal: Signal) {
        let at = self.sim.elapsed() + self.signal_delay + self.sender_delay[side];
        self.signal_at(at, 1 - side, signal);
    }

    /// Queues a signal to `to`, delivered at `at` (time since the start).
    pub fn signal_at(&mut self, at: Duration, to: usize, signal: Signal) {
        self.seq += 1;
        self.queue.insert((at, self.seq), (to, signal));
    }

    /// Forwards the agents' new candidates and end-of-candidates to the signalling channel.
    fn pump(&mut self) {
        for side in 0..2 {
            let events: Vec<IceEvent> = self.node(side).unsignalled.drain(..).collect();
            for e in events {
                match e {
                    IceEvent::LocalCandidate(c) if self.trickle => {
                        self.signal_from(side, Signal::Candidate(c))
                    }
                    IceEvent::EndOfCandidates if self.forward_end_of_candidates => {
                        self.signal_from(side, Signal::EndOfCandidates)
                    }
                    _ => {}
                }
            }
        }
    }

    /// Hands a signal to a side's agent.
    pub fn deliver(&mut self, to: usize, signal: Signal) {
        let now = self.sim.now();
        let t = self.sim.elapsed();
        self.delivered[to].push((t, signal.clone()));
        match signal {
            Signal::Credentials { ufrag, pwd } => {
                self.agent(to).set_remote_credentials(now, &ufrag, &pwd)
            }
            Signal::Candidate(c) => {
                if let Err(e) = self.agent(to).add_remote_candidate(now, c) {
                    self.refused[to].push(e);
                }
            }
            Signal::EndOfCandidates => self.agent(to).add_remote_end_of_candidates(now),
            Signal::Restart { ufrag, pwd } => {
                self.agent(to).restart(now);
                self.agent(to).set_remote_credentials(now, &ufrag, &pwd);
                let c = self.agent_ref(to).local_credentials().clone();
                // The answer goes out before the candidates the restart gathers.
                self.signal(
                    1 - to,
                    Signal::Credentials {
                        ufrag: c.ufrag,
                        pwd: c.pwd,
                    },
                );
            }
        }
        self.node(to).drain(now);
    }

    /// ICE restart on `side` (the offerer): new credentials go to the other side, which
    /// restarts too.
    pub fn restart(&mut self, side: usize) {
        let now = self.sim.now();
        // Candidates trickled before the restart must not reach the peer after it.
        self.pump();
        self.agent(side).restart(now);
        let c = self.agent_ref(side).local_credentials().clone();
        self.signal(
            1 - side,
            Signal::Restart {
                ufrag: c.ufrag,
                pwd: c.pwd,
            },
        );
        self.node(side).drain(now);
    }

    /// Processes the next simulator event or signal due at or before `deadline`. Returns false
    /// when nothing is due by then.
    pub fn step(&mut self, deadline: Instant) -> bool {
        self.pump();
        let next_sim = self.sim.next_event_time();
        let next_signal = self
            .queue
            .keys()
            .next()
            .map(|(at, _)| self.sim.start() + *at);
        let next = [next_sim, next_signal].into_iter().flatten().min();
        match next {
            Some(t) if t <= deadline => {
                if next_signal == Some(t) {
                    // Moves the clock to the signal (nothing in the simulator is due earlier).
                    self.sim.run_until(t);
                    let key = *self.queue.keys().next().expect("peeked");
                    let (to, signal) = self.queue.remove(&key).expect("peeked");
                    self.deliver(to, signal);
                } else {
                    self.sim.step();
                }
                true
            }
            _ => false,
        }
    }

    /// Runs until `condition` holds (checked before each step) or `max` of simulated time has
    /// passed. Returns whether it held.
    pub fn run_until(
        &mut self,
        mut condition: impl FnMut(&mut Duo) -> bool,
        max: Duration,
    ) -> bool {
        let deadline = self.sim.now() + max;
        loop {
            if condition(self) {
                return true;
            }
            if !self.step(deadline) {
                self.sim.run_until(deadline);
                return condition(self);
            }
        }
    }

    /// Runs for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(|_| false, d);
    }

    /// A side's connection state.
    pub fn state(&self, side: usize) -> IceConnectionState {
        self.agent_ref(side).connection_state()
    }

    /// True when the side is `connected` or `completed`.
    pub fn is_connected(&self, side: usize) -> bool {
        matches!(
            self.state(side),
            IceConnectionState::Connected | IceConnectionState::Completed
        )
    }

    /// Runs until both sides are connected (or completed); returns whether they got there.
    pub fn run_until_connected(&mut self, max: Duration) -> bool {
        self.run_until(|d| d.is_connected(0) && d.is_connected(1), max)
    }

    /// Sends `payload` from `side` on its selected path.
    pub fn send_data(&mut self, side: usize, payload: &[u8]) -> Result<(), IceError> {
        let mut buf = [0u8; 1500];
        let node = self.node(side);
        let t = node.agent.send(payload, &mut buf)?;
        node.out
            .push_back(Datagram::new(t.source, t.destination, &buf[..t.len]));
        Ok(())
    }

    /// Whether `side` received `payload` as application data.
    pub fn received(&self, side: usize, payload: &[u8]) -> bool {
        self.node_ref(side)
            .app_data
            .iter()
            .any(|(_, _, _, p)| p == payload)
    }

    /// Sends a distinct datagram each way and waits (up to `max`) for both to arrive as
    /// application data. Returns whether both did.
    pub fn exchange_data(&mut self, tag: &str, max: Duration) -> bool {
        let a = format!("{tag} from 0").into_bytes();
        let b = format!("{tag} from 1").into_bytes();
        if self.send_data(0, &a).is_err() || self.send_data(1, &b).is_err() {
            return false;
        }
        self.run_until(|d| d.received(1, &a) && d.received(0, &b), max)
    }

    /// The event timelines of both sides, for determinism checks.
    pub fn timeline(&self) -> Vec<(usize, Duration, IceEvent)> {
        let mut all = Vec::new();
        for side in 0..2 {
            for (t, e) in &self.node_ref(side).log {
                all.push((side, *t, e.clone()));
            }
        }
        all
    }

    /// The time by which each side had the other's credentials and every candidate of the
    /// given kinds the other side trickled (None when something is missing).
    pub fn signalled_by(&self, to: usize, kinds: &[CandidateKind]) -> Option<Duration> {
        let mut creds = None;
        let mut last = Duration::ZERO;
        let mut count = 0;
        for (t, s) in &self.delivered[to] {
            match s {
                Signal::Credentials { .. } => creds = creds.or(Some(*t)),
                Signal::Candidate(c) if kinds.contains(&c.kind) => {
                    last = last.max(*t);
                    count += 1;
                }
                _ => {}
            }
        }
        let expected = self
            .agent_ref(1 - to)
            .local_candidates()
            .iter()
            .filter(|c| kinds.contains(&c.kind))
            .count();
        (count >= expected && expected > 0).then_some(())?;
        Some(creds?.max(last))
    }
}

/// 32 seed bytes for an agent from a test's `u64` seed (a sans-IO agent takes bytes; real ones
/// come from the OS).
pub fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&seed.rotate_left(i as u32 * 16).to_le_bytes());
    }
    bytes
}
