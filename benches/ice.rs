//! ICE agent benchmarks (floe-ice).
//!
//! Groups:
//! - `ice/answer_check`: a controlled agent with remote credentials answers one pre-encoded
//!   connectivity check (USERNAME, PRIORITY, ICE-CONTROLLING, MESSAGE-INTEGRITY, FINGERPRINT)
//!   from a known remote address: `handle_datagram` + `poll_transmit` of the response + draining
//!   events.
//! - `ice/construct/{new,lite,full_4x4}`: building an agent; `lite` adds one host candidate and
//!   the remote credentials; `full_4x4` adds 4 sockets, gathers, sets credentials and 4 remote
//!   candidates and runs the timers until every one of the 16 pairs has been checked once.
//! - `ice/consent_10k/simulated_second`: 10,000 connected controlled agents in one process;
//!   one simulated second of consent traffic: 2,000 incoming consent requests (each agent gets
//!   one every 5 s), the agents' own consent requests (one per agent every 4-6 s) answered by
//!   the simulated peers, and every `handle_timeout`. Only the time spent inside agent calls
//!   (`handle_datagram`, `handle_timeout`, `poll_transmit`, `poll_event`, `poll_timeout`) is
//!   counted; the simulated peers' encoding and the harness's bookkeeping are not.
//!
//! A counting global allocator measures live heap bytes per agent; the figures are printed
//! (`println!`) before the benchmarks run. The counting costs two relaxed atomic adds per
//! allocation, for every group.

mod common;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::mem::size_of;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use criterion::{criterion_group, criterion_main, Criterion};
use floe_ice::{
    AgentConfig, Candidate, CandidateKind, CandidatePair, IceAgent, IceConnectionState, IceEvent,
    Transmit, Verdict,
};
use floe_stun::attributes::XorMappedAddress;
use floe_stun::{Class, IntegrityKey, Message, MessageType, MessageWriter, TransactionId};

// ---------------------------------------------------------------------------------------------
// Counting allocator

// ---------------------------------------------------------------------------------------------
// Helpers

fn host(address: SocketAddr, n: u32) -> Candidate {
    Candidate {
        kind: CandidateKind::Host,
        address,
        base: None,
        priority: (126 << 24) | ((65535 - n) << 8) | 255,
        foundation: n.to_string(),
        component: 1,
        tcp_type: None,
    }
}

/// Drains transmits (into `out`, if given) and events; returns how many transmits there were.
fn drain(
    agent: &mut IceAgent,
    buf: &mut [u8],
    mut out: Option<&mut Vec<(Transmit, Vec<u8>)>>,
) -> usize {
    let mut n = 0;
    while let Some(t) = agent.poll_transmit(buf).unwrap() {
        n += 1;
        if let Some(out) = out.as_deref_mut() {
            out.push((t, buf[..t.len].to_vec()));
        }
    }
    while agent.poll_event().is_some() {}
    n
}

/// The peer's success response to one of the agent's requests, signed with the peer's password.
fn peer_response(request: &[u8], mapped: SocketAddr, key: &IntegrityKey, out: &mut [u8]) -> usize {
    let tid = Message::decode(request).unwrap().transaction_id();
    let mut w = MessageWriter::new(out, MessageType::BINDING_SUCCESS, tid).unwrap();
    w.add(&XorMappedAddress(mapped)).unwrap();
    w.add_message_integrity(key).unwrap();
    w.add_fingerprint().unwrap();
    w.finish()
}

/// A controlled agent on `local` with the peer's credentials and its host candidate `remote`.
fn controlled_agent(now: Instant, seed: u64, local: SocketAddr, remote: SocketAddr) -> IceAgent {
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut agent = IceAgent::new(AgentConfig::default(), now, seed_bytes);
    agent.add_local_socket(now, local);
    agent.start_gathering(now);
    agent.set_remote_credentials(now, PEER_UFRAG, PEER_PWD);
    agent.add_remote_candidate(now, host(remote, 0)).unwrap();
    agent.add_remote_end_of_candidates(now);
    agent
}

/// Plays the controlling peer (answering every request, nominating with USE-CANDIDATE) until
/// the agent has selected its pair. Returns the simulated time reached.
fn connect(
    agent: &mut IceAgent,
    mut now: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    peer_key: &IntegrityKey,
) -> Instant {
    let mut buf = [0u8; 1500];
    let mut out = [0u8; 256];
    let mut sent = Vec::new();
    let nominate = peer_request(agent, [7; 12], true);
    agent.handle_datagram(now, local, remote, &nominate);
    for _ in 0..1000 {
        sent.clear();
        drain(agent, &mut buf, Some(&mut sent));
        for (t, bytes) in &sent {
            let msg = Message::decode(bytes).unwrap();
            if msg.class() == Class::Request {
                let len = peer_response(bytes, t.source, peer_key, &mut out);
                agent.handle_datagram(now, t.source, t.destination, &out[..len]);
            }
        }
        if agent.selected_pair().is_some() {
            break;
        }
        match agent.poll_timeout() {
            Some(t) => {
                now = now.max(t);
                agent.handle_timeout(now);
            }
            None => break,
        }
    }
    drain(agent, &mut buf, None);
    assert!(
        matches!(
            agent.connection_state(),
            IceConnectionState::Connected | IceConnectionState::Completed
        ),
        "agent did not connect: {:?}",
        agent.connection_state()
    );
    now
}

// ---------------------------------------------------------------------------------------------
// ice/answer_check

fn answer_check(c: &mut Criterion) {
    let now = Instant::now();
    let local = v4(10, 0, 0, 1, 5000);
    let remote = v4(10, 0, 0, 2, 6000);
    let mut agent = controlled_agent(now, 1, local, remote);
    let mut buf = [0u8; 1500];
    drain(&mut agent, &mut buf, None);
    let request = peer_request(&agent, [0x42; 12], false);
    let local_key = IntegrityKey::short_term(&agent.local_credentials().pwd);

    // Once, outside the loop: the answer really is a signed success response to that request.
    let mut sent = Vec::new();
    assert_eq!(
        agent.handle_datagram(now, local, remote, &request),
        Verdict::Stun
    );
    drain(&mut agent, &mut buf, Some(&mut sent));
    let (t, bytes) = sent
        .iter()
        .find(|(_, b)| Message::decode(b).unwrap().class() == Class::SuccessResponse)
        .expect("a success response");
    assert_eq!((t.source, t.destination), (local, remote));
    let msg = Message::decode(bytes).unwrap();
    assert_eq!(msg.transaction_id(), TransactionId::new([0x42; 12]));
    msg.verify_integrity(&local_key).unwrap();
    msg.verify_fingerprint().unwrap();
    assert_eq!(
        msg.get::<XorMappedAddress>().unwrap(),
        Some(XorMappedAddress(remote))
    );

    let mut group = c.benchmark_group("ice");
    group.bench_function("answer_check", |b| {
        b.iter(|| {
            let v = agent.handle_datagram(now, local, remote, black_box(&request));
            let t = agent.poll_transmit(&mut buf).unwrap();
            while agent.poll_event().is_some() {}
            debug_assert!(t.is_some());
            (v, t)
        })
    });
    group.finish();
    // The loop above ran with a fixed `now`: the pacer let no new check out, so each iteration
    // produced exactly the one response.
    assert!(agent.poll_transmit(&mut buf).unwrap().is_none());
}

// ---------------------------------------------------------------------------------------------
// Memory and construction

fn full_4x4(now: Instant) -> IceAgent {
    let mut agent = IceAgent::new(
        AgentConfig {
            controlling: true,
            ..AgentConfig::default()
        },
        now,
        [3; 32],
    );
    for i in 0..4 {
        agent.add_local_socket(now, v4(10, 0, 0, 1 + i, 5000));
    }
    agent.start_gathering(now);
    agent.set_remote_credentials(now, PEER_UFRAG, PEER_PWD);
    for i in 0..4u8 {
        agent
            .add_remote_candidate(now, host(v4(10, 0, 1, 1 + i, 6000), u32::from(i)))
            .unwrap();
    }
    agent.add_remote_end_of_candidates(now);
    // Run the timers until each of the 16 pairs has been checked once (one per Ta).
    let mut buf = [0u8; 1500];
    let mut t = now;
    let mut sent = 0;
    for _ in 0..1000 {
        sent += drain(&mut agent, &mut buf, None);
        if sent >= 16 {
            break;
        }
        let Some(next) = agent.poll_timeout() else {
            break;
        };
        t = t.max(next);
        agent.handle_timeout(t);
    }
    agent
}

fn lite(now: Instant) -> IceAgent {
    let mut agent = IceAgent::new(
        AgentConfig {
            lite: true,
            ..AgentConfig::default()
        },
        now,
        [4; 32],
    );
    agent.add_local_socket(now, v4(10, 0, 0, 1, 5000));
    agent.start_gathering(now);
    agent.set_remote_credentials(now, PEER_UFRAG, PEER_PWD);
    let mut buf = [0u8; 1500];
    drain(&mut agent, &mut buf, None);
    agent
}

/// Live heap bytes `build` leaves behind (the agent itself boxed, so it is counted too).
fn measure<F: FnOnce() -> IceAgent>(build: F) -> (isize, Box<IceAgent>) {
    let before = live();
    let agent = Box::new(build());
    (live() - before, agent)
}

fn memory_report() {
    let now = Instant::now();
    println!("\n== floe-ice memory (live heap bytes, agent boxed) ==");
    println!(
        "size_of: IceAgent {} B, CandidatePair {} B, Candidate {} B, IceEvent {} B, \
         IntegrityKey {} B, AgentConfig {} B",
        size_of::<IceAgent>(),
        size_of::<CandidatePair>(),
        size_of::<Candidate>(),
        size_of::<IceEvent>(),
        size_of::<IntegrityKey>(),
        size_of::<AgentConfig>(),
    );
    let (bare, _a) = measure(|| IceAgent::new(AgentConfig::default(), now, [1; 32]));
    println!("new (no sockets):                         {bare:>7} B");

    // The full agent, step by step.
    let mut steps = Vec::with_capacity(8);
    let base = live();
    let mut agent = Box::new(IceAgent::new(
        AgentConfig {
            controlling: true,
            ..AgentConfig::default()
        },
        now,
        [3; 32],
    ));
    steps.push(("new", live() - base));
    for i in 0..4 {
        agent.add_local_socket(now, v4(10, 0, 0, 1 + i, 5000));
    }
    agent.start_gathering(now);
    steps.push(("+ 4 sockets, gathered (4 host cands)", live() - base));
    agent.set_remote_credentials(now, PEER_UFRAG, PEER_PWD);
    steps.push(("+ remote credentials", live() - base));
    for i in 0..4u8 {
        agent
            .add_remote_candidate(now, host(v4(10, 0, 1, 1 + i, 6000), u32::from(i)))
            .unwrap();
    }
    agent.add_remote_end_of_candidates(now);
    steps.push(("+ 4 remote cands (16 pairs)", live() - base));
    let mut buf = [0u8; 1500];
    drain(&mut agent, &mut buf, None);
    steps.push(("+ events/transmits drained", live() - base));
    let mut t = now;
    let mut sent = 0;
    for _ in 0..1000 {
        sent += drain(&mut agent, &mut buf, None);
        if sent >= 16 {
            break;
        }
        let Some(next) = agent.poll_timeout() else {
            break;
        };
        t = t.max(next);
        agent.handle_timeout(t);
    }
    steps.push(("+ 16 checks sent (16 transactions)", live() - base));
    println!("full agent, 4 local x 4 remote ({sent} checks sent):");
    let mut prev = 0;
    for (what, bytes) in &steps {
        println!("  {what:<38} {bytes:>7} B  (+{})", bytes - prev);
        prev = *bytes;
    }
    println!(
        "  pairs {} / local cands {} / remote cands {}",
        agent.pairs().len(),
        agent.local_candidates().len(),
        agent.remote_candidates().len()
    );
    drop(agent);
    let (full, _f) = measure(|| full_4x4(now));
    println!(
        "full agent total:                         {full:>7} B  (target <= 16384: {})",
        if full <= 16 * 1024 { "met" } else { "MISSED" }
    );
    steps.clear();
    let base = live();
    let mut agent = Box::new(IceAgent::new(
        AgentConfig {
            lite: true,
            ..AgentConfig::default()
        },
        now,
        [4; 32],
    ));
    steps.push(("new (boxed)", live() - base));
    agent.add_local_socket(now, v4(10, 0, 0, 1, 5000));
    steps.push(("+ add_local_socket", live() - base));
    agent.start_gathering(now);
    steps.push(("+ start_gathering (1 host cand)", live() - base));
    agent.set_remote_credentials(now, PEER_UFRAG, PEER_PWD);
    steps.push(("+ remote credentials", live() - base));
    drain(&mut agent, &mut buf, None);
    steps.push(("+ events drained", live() - base));
    println!("lite agent:");
    let mut prev = 0;
    for (what, bytes) in &steps {
        println!("  {what:<38} {bytes:>7} B  (+{})", bytes - prev);
        prev = *bytes;
    }
    drop(agent);
    let (lite_bytes, _l) = measure(|| lite(now));
    println!(
        "lite agent (1 host cand + remote creds):  {lite_bytes:>7} B  (target <= 2048: {})",
        if lite_bytes <= 2048 { "met" } else { "MISSED" }
    );
    println!();
}

fn construct(c: &mut Criterion) {
    memory_report();
    let now = Instant::now();
    let mut group = c.benchmark_group("ice/construct");
    group.bench_function("new", |b| {
        b.iter(|| IceAgent::new(black_box(AgentConfig::default()), now, [1; 32]))
    });
    group.bench_function("lite", |b| b.iter(|| lite(black_box(now))));
    group.bench_function("full_4x4", |b| b.iter(|| full_4x4(black_box(now))));
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// 10,000 agents answering consent checks

const AGENTS: usize = 10_000;
const CONSENT_PERIOD: Duration = Duration::from_secs(5);
/// Simulated-time resolution of the harness.
const TICK: Duration = Duration::from_millis(10);

struct Fleet {
    agents: Vec<IceAgent>,
    locals: Vec<SocketAddr>,
    remotes: Vec<SocketAddr>,
    /// Each agent's pre-encoded consent request from its peer.
    requests: Vec<Vec<u8>>,
    /// (deadline, agent): possibly stale entries, checked against `poll_timeout` on pop.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    now: Instant,
    /// Simulated seconds run so far.
    seconds: u64,
    peer_key: IntegrityKey,
    stats: FleetStats,
}

#[derive(Default, Debug, Clone, Copy)]
struct FleetStats {
    requests_in: u64,
    timeouts: u64,
    transmits: u64,
    responses_in: u64,
}

impl Fleet {
    fn new() -> Fleet {
        let start = Instant::now();
        let peer_key = IntegrityKey::short_term(PEER_PWD);
        let mut agents = Vec::with_capacity(AGENTS);
        let (mut locals, mut remotes, mut requests) = (Vec::new(), Vec::new(), Vec::new());
        let mut latest = start;
        for i in 0..AGENTS {
            let local = v4(10, 0, 0, 1, 5000);
            let remote = v4(10, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8, 6000);
            let mut agent = controlled_agent(start, 1000 + i as u64, local, remote);
            latest = latest.max(connect(&mut agent, start, local, remote, &peer_key));
            requests.push(peer_request(
                &agent,
                (i as u128).to_be_bytes()[4..].try_into().unwrap(),
                false,
            ));
            agents.push(agent);
            locals.push(local);
            remotes.push(remote);
        }
        let now = latest + Duration::from_secs(1);
        let mut timers = BinaryHeap::new();
        for (i, a) in agents.iter().enumerate() {
            if let Some(t) = a.poll_timeout() {
                timers.push(Reverse((t, i)));
            }
        }
        Fleet {
            agents,
            locals,
            remotes,
            requests,
            timers,
            now,
            seconds: 0,
            peer_key,
            stats: FleetStats::default(),
        }
    }

    /// Drains agent `i` (timed), answers its requests as its peer would (untimed) and delivers
    /// the answers (timed). Returns the time spent in agent calls.
    fn serve(&mut self, i: usize, buf: &mut [u8], out: &mut [u8]) -> Duration {
        let mut spent = Duration::ZERO;
        loop {
            let t0 = Instant::now();
            let t = self.agents[i].poll_transmit(buf).unwrap();
            spent += t0.elapsed();
            let Some(t) = t else { break };
            self.stats.transmits += 1;
            let is_request =
                Message::decode(&buf[..t.len]).is_ok_and(|m| m.class() == Class::Request);
            if is_request {
                let len = peer_response(&buf[..t.len], t.source, &self.peer_key, out);
                let t0 = Instant::now();
                self.agents[i].handle_datagram(self.now, t.source, t.destination, &out[..len]);
                spent += t0.elapsed();
                self.stats.responses_in += 1;
            }
        }
        let t0 = Instant::now();
        while self.agents[i].poll_event().is_some() {}
        let next = self.agents[i].poll_timeout();
        spent += t0.elapsed();
        if let Some(next) = next {
            self.timers.push(Reverse((next, i)));
        }
        spent
    }

    /// One simulated second; returns the CPU time spent inside agent calls.
    fn simulate_second(&mut self) -> Duration {
        let mut spent = Duration::ZERO;
        let mut buf = [0u8; 1500];
        let mut out = [0u8; 256];
        let per_second = AGENTS * 1000 / CONSENT_PERIOD.as_millis() as usize;
        let ticks = (Duration::from_secs(1).as_nanos() / TICK.as_nanos()) as usize;
        let per_tick = per_second / ticks;
        let slot = (self.seconds as usize % CONSENT_PERIOD.as_secs() as usize) * per_second;
        for tick in 0..ticks {
            self.now += TICK;
            let now = self.now;
            // The peers' consent requests due in this tick.
            for i in slot + tick * per_tick..slot + (tick + 1) * per_tick {
                let t0 = Instant::now();
                let v = self.agents[i].handle_datagram(
                    now,
                    self.locals[i],
                    self.remotes[i],
                    &self.requests[i],
                );
                spent += t0.elapsed();
                debug_assert_eq!(v, Verdict::Stun);
                self.stats.requests_in += 1;
                spent += self.serve(i, &mut buf, &mut out);
            }
            // Timers that fired.
            while let Some(&Reverse((t, i))) = self.timers.peek() {
                if t > now {
                    break;
                }
                self.timers.pop();
                let t0 = Instant::now();
                let due = self.agents[i].poll_timeout().is_some_and(|d| d <= now);
                if due {
                    self.agents[i].handle_timeout(now);
                }
                spent += t0.elapsed();
                if due {
                    self.stats.timeouts += 1;
                    spent += self.serve(i, &mut buf, &mut out);
                }
            }
        }
        self.seconds += 1;
        spent
    }

    fn all_connected(&self) -> bool {
        self.agents.iter().all(|a| {
            matches!(
                a.connection_state(),
                IceConnectionState::Connected | IceConnectionState::Completed
            )
        })
    }
}

fn consent_10k(c: &mut Criterion) {
    let before = live();
    let setup = Instant::now();
    let mut fleet = Fleet::new();
    let setup = setup.elapsed();
    let heap = live() - before;
    // Run 12 simulated seconds: long enough for every agent to have sent and received consent
    // checks a couple of times and past the 7 s disconnect timeout.
    let mut warm = Duration::ZERO;
    for _ in 0..12 {
        warm += fleet.simulate_second();
    }
    if !fleet.all_connected() {
        let mut counts = std::collections::BTreeMap::new();
        for a in &fleet.agents {
            *counts.entry(a.connection_state().as_str()).or_insert(0) += 1;
        }
        let bad = fleet
            .agents
            .iter()
            .position(|a| {
                !matches!(
                    a.connection_state(),
                    IceConnectionState::Connected | IceConnectionState::Completed
                )
            })
            .unwrap();
        panic!(
            "agents lost consent in the harness: {counts:?}; agent {bad}: {:?} selected {:?} poll_timeout {:?} now {:?} stats {:?}",
            fleet.agents[bad],
            fleet.agents[bad].selected_pair(),
            fleet.agents[bad].poll_timeout(),
            fleet.now,
            fleet.stats,
        );
    }
    let s = fleet.stats;
    println!(
        "\n== 10,000 connected agents ==\nsetup {setup:?}; heap {heap} B in all, {} B per agent \
         (agent + pre-encoded request + addresses)\nper simulated second (mean of 12): {} \
         consent requests in, {} handle_timeout, {} transmits, {} responses in; {:?} CPU in agent \
         calls\n",
        heap / AGENTS as isize,
        s.requests_in / 12,
        s.timeouts / 12,
        s.transmits / 12,
        s.responses_in / 12,
        warm / 12,
    );
    let mut group = c.benchmark_group("ice/consent_10k");
    group.sample_size(20);
    group.bench_function("simulated_second", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += fleet.simulate_second();
            }
            total
        })
    });
    group.finish();
    assert!(fleet.all_connected(), "agents lost consent in the harness");
    println!(
        "after {} simulated seconds all 10,000 agents are still connected",
        fleet.seconds
    );
}

criterion_group!(benches, answer_check, construct, consent_10k);
criterion_main!(benches);
