//! Two agents wired back to back through a tiny deterministic in-memory network: the smallest
//! harness that exercises the whole exchange. The NAT scenarios live in floe-netsim's tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_ice::*;

/// A datagram in flight: (to agent, local, remote, bytes).
type InFlight = (usize, SocketAddr, SocketAddr, Vec<u8>);

struct Net {
    now: Instant,
    start: Instant,
    latency: Duration,
    /// Keyed by (delivery time, sequence).
    queue: BTreeMap<(Instant, u64), InFlight>,
    seq: u64,
    agents: [IceAgent; 2],
    addrs: [SocketAddr; 2],
    events: [Vec<(Duration, IceEvent)>; 2],
    drop_all: [bool; 2],
}

impl Net {
    fn new(latency: Duration) -> Self {
        let a = AgentConfig {
            controlling: true,
            ..AgentConfig::default()
        };
        let b = AgentConfig::default();
        let now = Instant::now();
        let mut net = Net {
            now,
            start: now,
            latency,
            queue: BTreeMap::new(),
            seq: 0,
            agents: [
                IceAgent::new(a, now, [1; 32]),
                IceAgent::new(b, now, [2; 32]),
            ],
            addrs: [
                "10.0.0.1:5000".parse().unwrap(),
                "10.0.0.2:6000".parse().unwrap(),
            ],
            events: [Vec::new(), Vec::new()],
            drop_all: [false, false],
        };
        for i in 0..2 {
            let addr = net.addrs[i];
            net.agents[i].add_local_socket(now, addr);
            net.agents[i].start_gathering(now);
        }
        let (c0, c1) = (
            net.agents[0].local_credentials().clone(),
            net.agents[1].local_credentials().clone(),
        );
        net.agents[0].set_remote_credentials(now, &c1.ufrag, &c1.pwd);
        net.agents[1].set_remote_credentials(now, &c0.ufrag, &c0.pwd);
        net
    }

    /// Moves transmits into the queue and trickles local candidates to the other side.
    fn flush(&mut self) {
        let mut buf = [0u8; 1500];
        for i in 0..2 {
            while let Some(t) = self.agents[i].poll_transmit(&mut buf).unwrap() {
                let to = if t.destination == self.addrs[0] { 0 } else { 1 };
                if self.drop_all[i] {
                    continue;
                }
                self.seq += 1;
                self.queue.insert(
                    (self.now + self.latency / 2, self.seq),
                    (to, t.destination, t.source, buf[..t.len].to_vec()),
                );
            }
            while let Some(e) = self.agents[i].poll_event() {
                match &e {
                    IceEvent::LocalCandidate(c) => {
                        let now = self.now;
                        self.agents[1 - i]
                            .add_remote_candidate(now, c.clone())
                            .unwrap();
                    }
                    IceEvent::EndOfCandidates => {
                        let now = self.now;
                        self.agents[1 - i].add_remote_end_of_candidates(now);
                    }
                    _ => {}
                }
                self.events[i].push((self.now - self.start, e));
            }
        }
    }

    fn step(&mut self, until: Instant) -> bool {
        self.flush();
        let next_packet = self.queue.keys().next().map(|k| k.0);
        let next_timer = self.agents.iter().filter_map(|a| a.poll_timeout()).min();
        let next = [next_packet, next_timer].into_iter().flatten().min();
        let Some(next) = next else { return false };
        if next > until {
            return false;
        }
        self.now = self.now.max(next);
        if next_packet == Some(next) {
            let key = *self.queue.keys().next().unwrap();
            let (to, local, remote, bytes) = self.queue.remove(&key).unwrap();
            let now = self.now;
            self.agents[to].handle_datagram(now, local, remote, &bytes);
        } else {
            let now = self.now;
            for a in &mut self.agents {
                if a.poll_timeout().is_some_and(|t| t <= now) {
                    a.handle_timeout(now);
                }
            }
        }
        self.flush();
        true
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while self.step(until) {}
        self.now = until;
    }

    fn first_time(&self, i: usize, state: IceConnectionState) -> Option<Duration> {
        self.events[i].iter().find_map(|(t, e)| match e {
            IceEvent::ConnectionStateChange(s) if *s == state => Some(*t),
            _ => None,
        })
    }
}

#[test]
fn host_to_host_connects_within_three_rtt_plus_ta() {
    for rtt_ms in [10u64, 100] {
        let rtt = Duration::from_millis(rtt_ms);
        let mut net = Net::new(rtt);
        net.run_for(Duration::from_secs(2));
        let a = net.first_time(0, IceConnectionState::Connected);
        let b = net.first_time(1, IceConnectionState::Connected);
        println!(
            "rtt {rtt_ms}ms: connected after {a:?} / {b:?}; events {:?}",
            net.events[0]
        );
        let bound = rtt * 3 + Duration::from_millis(50);
        assert!(
            a.is_some_and(|t| t <= bound),
            "controlling: {a:?} > {bound:?}"
        );
        assert!(
            b.is_some_and(|t| t <= bound),
            "controlled: {b:?} > {bound:?}"
        );
        assert_eq!(
            net.agents[0].selected_path(),
            Some((net.addrs[0], net.addrs[1]))
        );
        assert_eq!(
            net.agents[1].selected_path(),
            Some((net.addrs[1], net.addrs[0]))
        );
        // Both sides signalled end-of-candidates and finished checking.
        assert_eq!(
            net.agents[0].connection_state(),
            IceConnectionState::Completed
        );
        assert_eq!(
            net.agents[1].connection_state(),
            IceConnectionState::Completed
        );
    }
}

#[test]
fn consent_lost_after_30s_when_peer_vanishes() {
    let mut net = Net::new(Duration::from_millis(10));
    net.run_for(Duration::from_secs(1));
    assert_eq!(
        net.agents[0].connection_state(),
        IceConnectionState::Completed
    );
    net.drop_all[1] = true;
    net.run_for(Duration::from_secs(40));
    let disconnected = net.first_time(0, IceConnectionState::Disconnected).unwrap();
    let failed = net.first_time(0, IceConnectionState::Failed).unwrap();
    println!("disconnected at {disconnected:?}, failed at {failed:?}");
    assert!(disconnected < failed);
    assert!(failed >= Duration::from_secs(30) && failed <= Duration::from_secs(32));
    let mut buf = [0u8; 16];
    assert_eq!(
        net.agents[0].send(b"x", &mut buf),
        Err(IceError::NotConnected)
    );
}

#[test]
fn consent_recovers_after_transient_loss() {
    let mut net = Net::new(Duration::from_millis(10));
    net.run_for(Duration::from_secs(1));
    net.drop_all[1] = true;
    net.run_for(Duration::from_secs(12));
    assert_eq!(
        net.agents[0].connection_state(),
        IceConnectionState::Disconnected
    );
    net.drop_all[1] = false;
    net.run_for(Duration::from_secs(8));
    assert!(matches!(
        net.agents[0].connection_state(),
        IceConnectionState::Connected | IceConnectionState::Completed
    ));
}
