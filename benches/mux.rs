//! Shared-socket mux benchmarks (floe-mux with floe-ice agents), sans-IO.
//!
//! Groups:
//! - `mux/answer_check/{full_direct,lite_direct,lite_mux,full_mux}`: an agent answers one
//!   pre-encoded connectivity check (USERNAME, PRIORITY, ICE-CONTROLLING, MESSAGE-INTEGRITY,
//!   FINGERPRINT) from its peer's address: `handle_datagram` + `poll_transmit` of the response +
//!   draining events. `full_direct` is `ice/answer_check` of benches/ice.rs (a controlled full
//!   agent, no mux), the figure to compare with; `lite_direct` the same for an ICE-lite agent.
//!   The `_mux` variants add what a server on one socket does around it: `Mux::route` of the
//!   check (by ufrag) and `Mux::on_transmit` of the response, with 100,000 sessions registered
//!   in the mux (one of them backed by the agent).
//! - `mux/route/*`: `Mux::route` alone, 100,000 sessions: a check by ufrag, data by remote
//!   address, a response by transaction id (with the `on_transmit` of its request), and a check
//!   naming an unknown ufrag (dropped).
//! - `mux/consent_100k/simulated_second`: 100,000 connected ICE-lite sessions behind one mux;
//!   one simulated second of consent traffic: 20,000 incoming consent checks (each session gets
//!   one every 5 s, RFC 7675), each routed by the mux, answered by its agent and the answer passed
//!   to `on_transmit`; plus every `handle_timeout` due. Only the time inside mux and agent calls
//!   is counted; the harness's bookkeeping is not.
//!
//! A counting global allocator measures live heap bytes per session (agent and mux apart).
//! After criterion's report, each group prints its figures: per-check medians (own timing loop,
//! batches of 10,000) and the 100k table.
//!
//! Run: `cargo bench --bench mux`.

mod common;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::mem::size_of;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use criterion::{criterion_group, criterion_main, Criterion};
use floe_ice::{
    AgentConfig, Candidate, CandidateKind, IceAgent, IceConnectionState, IceEvent, Verdict,
};
use floe_mux::{Mux, MuxConfig};
use floe_stun::attributes::{Priority, Username};
use floe_stun::{Class, IntegrityKey, Message, MessageType, MessageWriter, TransactionId};

// ---------------------------------------------------------------------------------------------
// Counting allocator (as in benches/ice.rs)

// ---------------------------------------------------------------------------------------------
// Helpers

const SESSIONS: usize = 100_000;

/// The server's one UDP socket.
fn shared() -> SocketAddr {
    v4(203, 0, 113, 1, 3478)
}

/// Session `i`'s peer: a distinct address for each of 100,000 (and more).
fn peer_addr(i: usize) -> SocketAddr {
    v4(10, (i >> 16) as u8, (i >> 8) as u8, i as u8, 6000)
}

fn host(address: SocketAddr) -> Candidate {
    Candidate {
        kind: CandidateKind::Host,
        address,
        base: None,
        priority: 0x7e00_00ff,
        foundation: "1".into(),
        component: 1,
        tcp_type: None,
    }
}

fn seed(n: u64) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&n.to_le_bytes());
    s
}

fn tid_of(i: usize) -> [u8; 12] {
    (i as u128).to_be_bytes()[4..].try_into().unwrap()
}

/// The configuration a server's agents share (one `Arc`, as `IceAgent::new` takes it).
fn config(lite: bool) -> Arc<AgentConfig> {
    static CONFIGS: OnceLock<[Arc<AgentConfig>; 2]> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| {
        [false, true].map(|lite| {
            Arc::new(AgentConfig {
                lite,
                ..AgentConfig::default()
            })
        })
    });
    configs[usize::from(lite)].clone()
}

/// An agent on the shared socket with its peer's credentials and host candidate.
fn agent(now: Instant, n: u64, lite: bool, remote: SocketAddr) -> IceAgent {
    let mut agent = IceAgent::new(config(lite), now, seed(n));
    agent.add_local_socket(now, shared());
    agent.start_gathering(now);
    agent.set_remote_credentials(now, PEER_UFRAG, PEER_PWD);
    agent.add_remote_candidate(now, host(remote)).unwrap();
    agent.add_remote_end_of_candidates(now);
    agent
}

/// A mux with `n` sessions registered (keys `1..=n`, ufrags and peer addresses of their own),
/// key 0 left for the real agent.
fn crowded_mux(n: usize) -> Mux<u32> {
    let mut mux = Mux::new(MuxConfig::default());
    for i in 1..=n {
        mux.insert(i as u32, &format!("crowd{i:07}")).unwrap();
        mux.learn_remote(i as u32, peer_addr(i + 1_000_000));
    }
    mux
}

fn drain(agent: &mut IceAgent, buf: &mut [u8]) {
    while agent.poll_transmit(buf).unwrap().is_some() {}
    while agent.poll_event().is_some() {}
}

/// Median of `batches` timings of `per_batch` calls of `f`, in nanoseconds per call.
fn median_ns(batches: usize, per_batch: u32, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..batches)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            t0.elapsed().as_nanos() as f64 / f64::from(per_batch)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

// ---------------------------------------------------------------------------------------------
// mux/answer_check

/// One agent answering its peer's check, with or without the mux around it.
struct Answerer {
    agent: IceAgent,
    mux: Option<Mux<u32>>,
    remote: SocketAddr,
    check: Vec<u8>,
    buf: [u8; 1500],
}

impl Answerer {
    fn new(lite: bool, mux: Option<Mux<u32>>) -> Self {
        let now = Instant::now();
        let remote = v4(10, 200, 0, 2, 6000);
        let mut a = Answerer {
            agent: agent(now, 1, lite, remote),
            mux,
            remote,
            check: Vec::new(),
            buf: [0u8; 1500],
        };
        if let Some(mux) = a.mux.as_mut() {
            mux.insert(0, &a.agent.local_credentials().ufrag).unwrap();
        }
        drain(&mut a.agent, &mut a.buf);
        if lite {
            // Nominated once, so the check answered below is a consent check on the selected
            // pair (what a server answers all day). The full agent is left as ice/answer_check
            // has it: a check on a pair not yet checked.
            let nominate = peer_request(&a.agent, [7; 12], true);
            a.once(now, &nominate);
            assert!(a.agent.poll_transmit(&mut a.buf).unwrap().is_none());
            while a.agent.poll_event().is_some() {}
        }
        a.check = peer_request(&a.agent, [0x42; 12], false);
        // Once, outside the timing: the answer really is a signed success response.
        let key = IntegrityKey::short_term(&a.agent.local_credentials().pwd);
        let check = a.check.clone();
        let len = a.once(now, &check);
        let msg = Message::decode(&a.buf[..len]).unwrap();
        assert_eq!(msg.class(), Class::SuccessResponse);
        assert_eq!(msg.transaction_id(), TransactionId::new([0x42; 12]));
        msg.verify_integrity(&key).unwrap();
        // The full agent's triggered check, if the pacer let it out: into the mux, as a server
        // would send it, so that the timed loop sees only answers.
        while let Some(t) = a.agent.poll_transmit(&mut a.buf).unwrap() {
            if let Some(mux) = a.mux.as_mut() {
                mux.on_transmit(0, t.destination, &a.buf[..t.len]);
            }
        }
        if let Some(mux) = &a.mux {
            // The answer taught the mux where the peer is.
            assert_eq!(mux.stats().remotes, SESSIONS);
        }
        a
    }

    /// Route (with a mux), handle, take the response (and tell the mux), drain events; returns
    /// the response's length.
    fn once(&mut self, now: Instant, check: &[u8]) -> usize {
        let mut len = 0;
        match self.mux.as_mut() {
            Some(mux) => {
                let key = mux.route(self.remote, check).expect("routed by ufrag");
                let v = self
                    .agent
                    .handle_datagram(now, shared(), self.remote, check);
                debug_assert_eq!(v, Verdict::Stun);
                if let Some(t) = self.agent.poll_transmit(&mut self.buf).unwrap() {
                    mux.on_transmit(key, t.destination, &self.buf[..t.len]);
                    len = t.len;
                }
            }
            None => {
                let v = self
                    .agent
                    .handle_datagram(now, shared(), self.remote, check);
                debug_assert_eq!(v, Verdict::Stun);
                if let Some(t) = self.agent.poll_transmit(&mut self.buf).unwrap() {
                    len = t.len;
                }
            }
        }
        while self.agent.poll_event().is_some() {}
        len
    }

    fn iterate(&mut self, now: Instant) -> usize {
        let check = std::mem::take(&mut self.check);
        let len = self.once(now, black_box(&check));
        self.check = check;
        len
    }
}

fn answer_check(c: &mut Criterion) {
    let now = Instant::now();
    let crowd = crowded_mux(SESSIONS - 1);
    let mut variants = [
        ("full_direct", Answerer::new(false, None)),
        ("lite_direct", Answerer::new(true, None)),
        ("lite_mux", Answerer::new(true, Some(crowd))),
        (
            "full_mux",
            Answerer::new(false, Some(crowded_mux(SESSIONS - 1))),
        ),
    ];
    let mut group = c.benchmark_group("mux/answer_check");
    for (name, a) in &mut variants {
        group.bench_function(*name, |b| b.iter(|| a.iterate(now)));
    }
    group.finish();
    println!("\n== answering one check: median ns per check (own loop, 51 x 10,000) ==");
    let mut figures = Vec::new();
    for (name, a) in &mut variants {
        let ns = median_ns(51, 10_000, || {
            black_box(a.iterate(now));
        });
        figures.push(ns);
        println!("{name:<12} {ns:>7.0} ns");
        // A fixed `now`: the pacer let nothing else out, so each check drew exactly one answer.
        assert!(a.agent.poll_transmit(&mut a.buf).unwrap().is_none());
    }
    println!(
        "lite through the mux: {:.0} ns (target <= 600: {}); the mux adds {:.0} ns to a lite \
         agent, {:.0} ns to a full one\n",
        figures[2],
        if figures[2] <= 600.0 { "met" } else { "MISSED" },
        figures[2] - figures[1],
        figures[3] - figures[0],
    );
}

// ---------------------------------------------------------------------------------------------
// mux/route

fn route(c: &mut Criterion) {
    let mut mux = crowded_mux(SESSIONS);
    let mut buf = [0u8; 256];
    let check = {
        let mut w = MessageWriter::new(
            &mut buf,
            MessageType::BINDING_REQUEST,
            TransactionId::new([1; 12]),
        )
        .unwrap();
        w.add(&Username("crowd0054321:peer")).unwrap();
        w.add(&Priority(1)).unwrap();
        w.add_message_integrity(&IntegrityKey::short_term(PEER_PWD))
            .unwrap();
        w.add_fingerprint().unwrap();
        let len = w.finish();
        buf[..len].to_vec()
    };
    let unknown = {
        let mut c = check.clone();
        c[24..29].copy_from_slice(b"nobod");
        c
    };
    let request = {
        let w = MessageWriter::new(
            &mut buf,
            MessageType::BINDING_REQUEST,
            TransactionId::new([9; 12]),
        )
        .unwrap();
        let len = w.finish();
        buf[..len].to_vec()
    };
    let response = {
        let mut w = MessageWriter::new(
            &mut buf,
            MessageType::BINDING_SUCCESS,
            TransactionId::new([9; 12]),
        )
        .unwrap();
        w.add(&floe_stun::attributes::XorMappedAddress(shared()))
            .unwrap();
        w.add_fingerprint().unwrap();
        let len = w.finish();
        buf[..len].to_vec()
    };
    let server = v4(192, 0, 2, 100, 3478);
    let data_from = peer_addr(1_054_321);
    assert_eq!(mux.route(server, &check), Some(54_321));
    assert_eq!(mux.route(server, &unknown), None);
    assert_eq!(mux.route(data_from, b"\x17data"), Some(54_321));
    mux.on_transmit(7, server, &request);
    assert_eq!(mux.route(server, &response), Some(7));

    let mut group = c.benchmark_group("mux/route");
    group.bench_function("check_by_ufrag", |b| {
        b.iter(|| mux.route(server, black_box(&check)))
    });
    group.bench_function("data_by_remote", |b| {
        b.iter(|| mux.route(data_from, black_box(b"\x17data")))
    });
    group.bench_function("response_by_transaction", |b| {
        b.iter(|| {
            mux.on_transmit(7, server, black_box(&request));
            mux.route(server, black_box(&response))
        })
    });
    group.bench_function("unknown_ufrag_dropped", |b| {
        b.iter(|| mux.route(server, black_box(&unknown)))
    });
    group.finish();
    println!("\n== mux/route with {SESSIONS} sessions: median ns (own loop, 51 x 100,000) ==");
    let by_ufrag = median_ns(51, 100_000, || {
        black_box(mux.route(server, black_box(&check)));
    });
    let by_remote = median_ns(51, 100_000, || {
        black_box(mux.route(data_from, black_box(b"\x17data")));
    });
    let by_tid = median_ns(51, 100_000, || {
        mux.on_transmit(7, server, black_box(&request));
        black_box(mux.route(server, black_box(&response)));
    });
    let dropped = median_ns(51, 100_000, || {
        black_box(mux.route(server, black_box(&unknown)));
    });
    println!(
        "check by ufrag {by_ufrag:.0} ns, data by remote {by_remote:.0} ns, response by \
         transaction (with on_transmit) {by_tid:.0} ns, unknown ufrag dropped {dropped:.0} ns\n"
    );
}

// ---------------------------------------------------------------------------------------------
// mux/consent_100k

const CONSENT_PERIOD: Duration = Duration::from_secs(5);
/// Simulated-time resolution of the harness.
const TICK: Duration = Duration::from_millis(10);

struct Fleet {
    mux: Mux<u32>,
    agents: Vec<IceAgent>,
    /// Each session's pre-encoded consent check from its peer, `CHECK_STRIDE` bytes apiece.
    checks: Vec<u8>,
    check_len: usize,
    /// (deadline, session): possibly stale entries, checked against `poll_timeout` on pop.
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    now: Instant,
    seconds: u64,
    /// CPU time in mux and agent calls of each simulated second run so far.
    spent: Vec<Duration>,
    stats: FleetStats,
}

#[derive(Default, Debug, Clone, Copy)]
struct FleetStats {
    checks_in: u64,
    timeouts: u64,
    transmits: u64,
}

/// What setting up the fleet cost.
struct Setup {
    agents: Duration,
    connect: Duration,
    /// Live heap bytes left by agent calls (the `Vec<IceAgent>` included) and by mux calls;
    /// of the agents', what creating them left (before any check).
    agent_heap: isize,
    agent_created: isize,
    mux_heap: isize,
}

impl Fleet {
    fn new() -> (Fleet, Setup) {
        let start = Instant::now();
        let t0 = Instant::now();
        let heap0 = live();
        let mut agents = Vec::with_capacity(SESSIONS);
        for i in 0..SESSIONS {
            let mut a = agent(start, 10_000 + i as u64, true, peer_addr(i));
            // The creation events (gathering, the host candidate), as a driver takes them.
            while a.poll_event().is_some() {}
            agents.push(a);
        }
        let agent_created = live() - heap0;
        let mut agent_heap = agent_created;
        let agents_took = t0.elapsed();

        let t0 = Instant::now();
        let heap0 = live();
        let mut mux = Mux::new(MuxConfig::default());
        for (i, a) in agents.iter().enumerate() {
            mux.insert(i as u32, &a.local_credentials().ufrag).unwrap();
        }
        let mut mux_heap = live() - heap0;
        // Each peer nominates its pair with one check, through the mux, as it would connect.
        let mut buf = [0u8; 1500];
        let mut check_len = 0;
        let mut checks = Vec::new();
        for (i, agent) in agents.iter_mut().enumerate() {
            let nominate = peer_request(agent, tid_of(i), true);
            let consent = peer_request(agent, tid_of(i + SESSIONS), false);
            if checks.is_empty() {
                check_len = consent.len();
                checks.reserve_exact(check_len * SESSIONS);
            }
            assert_eq!(consent.len(), check_len);
            checks.extend_from_slice(&consent);
            let h = live();
            let key = mux.route(peer_addr(i), &nominate).unwrap();
            mux_heap += live() - h;
            let h = live();
            agent.handle_datagram(start, shared(), peer_addr(i), &nominate);
            agent_heap += live() - h;
            loop {
                let h = live();
                let t = agent.poll_transmit(&mut buf).unwrap();
                agent_heap += live() - h;
                let Some(t) = t else { break };
                let h = live();
                mux.on_transmit(key, t.destination, &buf[..t.len]);
                mux_heap += live() - h;
            }
            loop {
                let h = live();
                let event = agent.poll_event();
                agent_heap += live() - h;
                match event {
                    None => break,
                    Some(IceEvent::SelectedPairChange { remote, .. }) => {
                        let h = live();
                        mux.learn_remote(key, remote.address);
                        mux_heap += live() - h;
                    }
                    Some(_) => {}
                }
            }
        }
        let connect = t0.elapsed();
        let mut timers = BinaryHeap::new();
        for (i, a) in agents.iter().enumerate() {
            if let Some(t) = a.poll_timeout() {
                timers.push(Reverse((t, i as u32)));
            }
        }
        let fleet = Fleet {
            mux,
            agents,
            checks,
            check_len,
            timers,
            now: start + Duration::from_secs(1),
            seconds: 0,
            spent: Vec::new(),
            stats: FleetStats::default(),
        };
        let setup = Setup {
            agents: agents_took,
            connect,
            agent_heap,
            agent_created,
            mux_heap,
        };
        (fleet, setup)
    }

    /// Drains session `i`'s agent into the mux (its answers go to `on_transmit`; the peers'
    /// side of the wire is not simulated further: consent responses need no reply).
    fn flush(&mut self, i: u32, buf: &mut [u8]) {
        let agent = &mut self.agents[i as usize];
        while let Some(t) = agent.poll_transmit(buf).unwrap() {
            self.mux.on_transmit(i, t.destination, &buf[..t.len]);
            self.stats.transmits += 1;
        }
        while agent.poll_event().is_some() {}
    }

    /// One simulated second; returns the CPU time spent inside mux and agent calls.
    fn simulate_second(&mut self) -> Duration {
        let mut spent = Duration::ZERO;
        let mut buf = [0u8; 1500];
        let per_second = SESSIONS * 1000 / CONSENT_PERIOD.as_millis() as usize;
        let ticks = (Duration::from_secs(1).as_nanos() / TICK.as_nanos()) as usize;
        let per_tick = per_second / ticks;
        let slot = (self.seconds as usize % CONSENT_PERIOD.as_secs() as usize) * per_second;
        let check_len = self.check_len;
        for tick in 0..ticks {
            self.now += TICK;
            let now = self.now;
            for n in slot + tick * per_tick..slot + (tick + 1) * per_tick {
                let from = peer_addr(n);
                let check = &self.checks[n * check_len..(n + 1) * check_len];
                let t0 = Instant::now();
                let key = self.mux.route(from, check);
                if let Some(i) = key {
                    self.agents[i as usize].handle_datagram(now, shared(), from, check);
                    self.flush(i, &mut buf);
                }
                let next = key.and_then(|i| self.agents[i as usize].poll_timeout());
                spent += t0.elapsed();
                debug_assert_eq!(key, Some(n as u32));
                self.stats.checks_in += 1;
                if let (Some(i), Some(next)) = (key, next) {
                    self.timers.push(Reverse((next, i)));
                }
            }
            while let Some(&Reverse((t, i))) = self.timers.peek() {
                if t > now {
                    break;
                }
                self.timers.pop();
                let t0 = Instant::now();
                let agent = &mut self.agents[i as usize];
                let due = agent.poll_timeout().is_some_and(|d| d <= now);
                if due {
                    agent.handle_timeout(now);
                    self.flush(i, &mut buf);
                }
                let next = self.agents[i as usize].poll_timeout();
                spent += t0.elapsed();
                if due {
                    self.stats.timeouts += 1;
                    if let Some(next) = next {
                        self.timers.push(Reverse((next, i)));
                    }
                }
            }
        }
        self.seconds += 1;
        self.spent.push(spent);
        spent
    }

    fn states(&self) -> std::collections::BTreeMap<&'static str, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for a in &self.agents {
            *counts.entry(a.connection_state().as_str()).or_insert(0) += 1;
        }
        counts
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

fn consent_100k(c: &mut Criterion) {
    let (mut fleet, setup) = Fleet::new();
    assert!(fleet.all_connected(), "{:?}", fleet.states());
    let stats = fleet.mux.stats();
    assert_eq!((stats.sessions, stats.remotes), (SESSIONS, SESSIONS));
    // 35 simulated seconds before timing: past the 30 s consent timeout, so a session whose
    // checks did not get through would show.
    for _ in 0..35 {
        fleet.simulate_second();
    }
    assert!(fleet.all_connected(), "{:?}", fleet.states());
    let warm = fleet.seconds;
    let mut group = c.benchmark_group("mux/consent_100k");
    group.sample_size(10);
    group.bench_function("simulated_second", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| fleet.simulate_second()).sum())
    });
    group.finish();
    assert!(fleet.all_connected(), "{:?}", fleet.states());

    let mut timed: Vec<Duration> = fleet.spent[warm as usize..].to_vec();
    timed.sort();
    let median = timed[timed.len() / 2];
    let s = fleet.stats;
    let stats = fleet.mux.stats();
    let per_session = (setup.agent_heap + setup.mux_heap) as f64 / SESSIONS as f64;
    let share = median.as_secs_f64() * 100.0;
    println!("\n== {SESSIONS} ICE-lite sessions through one mux (sans-IO, virtual time) ==");
    println!(
        "| setup: agents created | {:.2} s ({:.2} us each) |",
        setup.agents.as_secs_f64(),
        setup.agents.as_secs_f64() * 1e6 / SESSIONS as f64
    );
    println!(
        "| setup: mux + one nominating check each | {:.2} s ({:.2} us each) |",
        setup.connect.as_secs_f64(),
        setup.connect.as_secs_f64() * 1e6 / SESSIONS as f64
    );
    println!(
        "| memory per session: agent | {:.0} B: {:.0} B created (size_of IceAgent {} B of it), \
         {:+.0} B once nominated and answering |",
        setup.agent_heap as f64 / SESSIONS as f64,
        setup.agent_created as f64 / SESSIONS as f64,
        size_of::<IceAgent>(),
        (setup.agent_heap - setup.agent_created) as f64 / SESSIONS as f64,
    );
    println!(
        "| memory per session: mux entries | {:.0} B |",
        setup.mux_heap as f64 / SESSIONS as f64
    );
    println!(
        "| memory per session: total | {per_session:.0} B (target <= 2048: {}) |",
        if per_session <= 2048.0 {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "| per simulated second (mean of {}) | {} checks routed and answered, {} handle_timeout, \
         {} transmits |",
        fleet.seconds,
        s.checks_in / fleet.seconds,
        s.timeouts / fleet.seconds,
        s.transmits / fleet.seconds
    );
    println!(
        "| CPU per simulated second (median of {} timed) | {:.1} ms = {share:.1} % of one core \
         (target <= 25 %: {}) |",
        timed.len(),
        median.as_secs_f64() * 1e3,
        if share <= 25.0 { "met" } else { "MISSED" }
    );
    println!(
        "| CPU per check (median second / checks) | {:.0} ns |",
        median.as_nanos() as f64 / (s.checks_in / fleet.seconds) as f64
    );
    println!(
        "| after {} simulated seconds | all {SESSIONS} connected; mux: {} sessions, {} remotes, \
         {} transactions, {} routed, {} dropped |",
        fleet.seconds,
        stats.sessions,
        stats.remotes,
        stats.transactions,
        stats.routed,
        stats.dropped_unknown_ufrag
            + stats.dropped_unknown_remote
            + stats.dropped_unknown_transaction
            + stats.dropped_malformed
    );
    println!();
}

criterion_group!(benches, answer_check, route, consent_100k);
criterion_main!(benches);
