//! The event loop, endpoint timeouts, determinism and the STUN server node.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_netsim::{
    binding_request, parse_binding_response, Datagram, Endpoint, HostId, LinkConfig, Nat, Probe,
    Sim, StunServer, TraceKind, STUN_PORT,
};

const MS: Duration = Duration::from_millis(1);

/// Pings a peer every `period` (driven by timeouts), counts pongs, answers pings.
struct Pinger {
    local: SocketAddr,
    peer: Option<SocketAddr>,
    period: Duration,
    next: Option<Instant>,
    outbox: Vec<Datagram>,
    sent: u32,
    pongs: u32,
    timeouts: Vec<Instant>,
}

impl Pinger {
    fn new() -> Self {
        Self {
            local: SocketAddr::from(([0, 0, 0, 0], 0)),
            peer: None,
            period: 20 * MS,
            next: None,
            outbox: Vec::new(),
            sent: 0,
            pongs: 0,
            timeouts: Vec::new(),
        }
    }

    /// Starts pinging `peer` from `local`, first at `at`.
    fn start(&mut self, local: SocketAddr, peer: SocketAddr, at: Instant) {
        self.local = local;
        self.peer = Some(peer);
        self.next = Some(at);
    }
}

impl Endpoint for Pinger {
    fn handle_datagram(
        &mut self,
        _now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    ) {
        if payload.starts_with(b"ping") {
            let mut pong = b"pong".to_vec();
            pong.extend_from_slice(&payload[4..]);
            self.outbox.push(Datagram::new(local, remote, pong));
        } else if payload.starts_with(b"pong") {
            self.pongs += 1;
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.timeouts.push(now);
        if let (Some(peer), Some(next)) = (self.peer, self.next) {
            if now >= next {
                let mut ping = b"ping".to_vec();
                ping.extend_from_slice(&self.sent.to_be_bytes());
                self.outbox.push(Datagram::new(self.local, peer, ping));
                self.sent += 1;
                self.next = Some(next + self.period);
            }
        }
    }

    fn poll_transmit(&mut self, _now: Instant) -> Option<Datagram> {
        if self.outbox.is_empty() {
            None
        } else {
            Some(self.outbox.remove(0))
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }
}

#[test]
fn timeouts_fire_at_the_requested_instant() {
    let mut sim = Sim::new(1);
    let start = sim.now();
    let b = sim.add_public_host(Probe::echo());
    let a = sim.add_public_host(Pinger::new());
    let (local, peer) = (sim.addr(a, 1), sim.addr(b, 7));
    sim.endpoint_mut::<Pinger>(a).start(local, peer, start);
    sim.run_for(100 * MS);
    let pinger = sim.endpoint::<Pinger>(a);
    let offsets: Vec<Duration> = pinger.timeouts.iter().map(|t| *t - start).collect();
    assert_eq!(offsets, [0, 20, 40, 60, 80, 100].map(|m| m * MS));
    assert_eq!(sim.elapsed(), 100 * MS);
    // The echo probe returns each ping, which the pinger answers with a pong, echoed again.
    let pings = sim
        .endpoint::<Probe>(b)
        .received
        .iter()
        .filter(|r| r.payload.starts_with(b"ping"));
    assert_eq!(pings.count(), 6);
    assert_eq!(sim.endpoint::<Pinger>(a).pongs, 6);
}

#[test]
fn ping_pong_through_two_nats_with_run_until_condition() {
    let mut sim = Sim::new(8);
    let responder = sim.add_host_behind(Nat::full_cone(), Pinger::new());
    let pinger = sim.add_host_behind(Nat::port_restricted(), Pinger::new());
    for h in [responder, pinger] {
        sim.set_link(h, LinkConfig::with_latency(10 * MS));
    }
    // The full-cone responder is reachable once it has sent anything out (RFC 4787 §5 EIF).
    let stun = sim.add_stun_server();
    let (r_local, server) = (sim.addr(responder, 9000), sim.addr(stun, STUN_PORT));
    sim.send(
        responder,
        Datagram::new(r_local, server, binding_request([1; 12])),
    );
    sim.run_for(50 * MS);
    let r_public = SocketAddr::new(sim.public_ip(sim.network_of(responder).unwrap()), 9000);
    let local = sim.addr(pinger, 4000);
    let now = sim.now();
    sim.endpoint_mut::<Pinger>(pinger)
        .start(local, r_public, now);
    let ok = sim.run_until_condition(
        |s| s.endpoint::<Pinger>(pinger).pongs == 5,
        Duration::from_secs(1),
    );
    assert!(ok);
    // Pings leave every 20 ms and a round trip takes 40 ms: the fifth pong arrives at 120 ms.
    assert_eq!(sim.now() - now, 120 * MS);
    assert!(!sim.run_until_condition(|_| false, 10 * MS));
    assert_eq!(sim.now() - now, 130 * MS);
}

/// A busy scenario: lossy, jittery, duplicating, reordering links, several NAT types, STUN.
fn scenario(seed: u64) -> (u64, Vec<floe_netsim::TraceEntry>) {
    let mut sim = Sim::new(seed);
    sim.set_trace(true);
    let stun = sim.add_stun_server();
    let server = sim.addr(stun, STUN_PORT);
    let link = LinkConfig::with_latency(5 * MS)
        .jitter(10 * MS)
        .loss(0.2)
        .duplicate(0.1)
        .reorder(0.2, 7 * MS);
    let hosts: Vec<HostId> = [Nat::symmetric(), Nat::port_restricted(), Nat::open()]
        .into_iter()
        .map(|nat| sim.add_host_behind(nat, Probe::echo()))
        .collect();
    for &h in &hosts {
        sim.set_link(h, link.clone());
    }
    for round in 0..20u8 {
        for (i, &h) in hosts.iter().enumerate() {
            let from = sim.addr(h, 5000 + u16::from(round % 3));
            sim.endpoint_mut::<Probe>(h)
                .send(from, server, binding_request([round; 12]));
            let peer = sim.addr(hosts[(i + 1) % hosts.len()], 5000);
            sim.endpoint_mut::<Probe>(h)
                .send(from, peer, vec![round; 100]);
        }
        sim.run_for(15 * MS);
    }
    sim.run_for(Duration::from_secs(1));
    (sim.trace_hash(), sim.take_trace())
}

#[test]
fn same_seed_same_trace() {
    let (h1, t1) = scenario(99);
    let (h2, t2) = scenario(99);
    assert_eq!(h1, h2);
    assert_eq!(t1, t2);
    assert!(t1.iter().any(|e| matches!(e.kind, TraceKind::Delivered(_))));
    assert!(t1.iter().any(|e| matches!(e.kind, TraceKind::Dropped(_))));
    let (h3, _) = scenario(100);
    assert_ne!(h1, h3, "another seed gives another run");
}

/// Asks two STUN servers for the reflexive address of `local` and returns both answers.
fn reflexive_pair(nat: Nat) -> (SocketAddr, SocketAddr, SocketAddr) {
    let mut sim = Sim::new(3);
    let s1 = sim.add_stun_server();
    let s2 = sim.add_stun_server();
    let client = sim.add_host_behind(nat, Probe::new());
    let local = sim.addr(client, 5000);
    for (i, s) in [s1, s2].into_iter().enumerate() {
        let server = sim.addr(s, STUN_PORT);
        sim.endpoint_mut::<Probe>(client)
            .send(local, server, binding_request([i as u8; 12]));
    }
    sim.run_for(10 * MS);
    let mut answers: Vec<([u8; 12], SocketAddr)> = sim
        .endpoint::<Probe>(client)
        .received
        .iter()
        .map(|r| parse_binding_response(&r.payload).expect("a Binding success response"))
        .collect();
    answers.sort();
    assert_eq!(answers.len(), 2);
    assert_eq!(sim.endpoint::<StunServer>(s1).answered, 1);
    (local, answers[0].1, answers[1].1)
}

#[test]
fn stun_server_reports_reflexive_address_through_nat() {
    let (local, r1, r2) = reflexive_pair(Nat::open());
    assert_eq!((r1, r2), (local, local), "no NAT: the host address");

    for nat in [
        Nat::full_cone(),
        Nat::address_restricted(),
        Nat::port_restricted(),
    ] {
        let (local, r1, r2) = reflexive_pair(nat.clone());
        assert_ne!(r1.ip(), local.ip(), "{nat:?}");
        assert_eq!(r1, r2, "EIM: one mapping for both servers ({nat:?})");
        assert_eq!(r1.port(), local.port(), "port preservation ({nat:?})");
    }

    let (local, r1, r2) = reflexive_pair(Nat::symmetric());
    assert_ne!(r1.ip(), local.ip());
    assert_eq!(r1.ip(), r2.ip(), "one public address");
    assert_ne!(r1.port(), r2.port(), "APDM: one mapping per server");
}

#[test]
fn rfc5780_stun_server_answers_on_both_addresses() {
    let mut sim = Sim::new(4);
    let stun = sim.add_stun_server_rfc5780();
    assert_eq!(sim.ips(stun).len(), 2);
    let client = sim.add_host_behind(Nat::open(), Probe::new());
    let alt = sim.endpoint::<StunServer>(stun).local_addresses()[3];
    let local = sim.addr(client, 5000);
    sim.endpoint_mut::<Probe>(client)
        .send(local, alt, binding_request([9; 12]));
    sim.run_for(MS);
    let got = &sim.endpoint::<Probe>(client).received;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].remote, alt);
    assert_eq!(parse_binding_response(&got[0].payload).unwrap().1, local);
}

#[test]
fn endpoint_access_and_unknown_source() {
    let mut sim = Sim::new(5);
    let a = sim.add_public_host(Probe::new());
    assert!(sim.try_endpoint_mut::<StunServer>(a).is_none());
    let bogus = SocketAddr::new("198.18.0.1".parse().unwrap(), 1);
    sim.send(a, Datagram::new(bogus, sim.addr(a, 2), vec![1]));
    assert_eq!(sim.drops(floe_netsim::DropReason::UnknownSource), 1);
    assert!(sim.run_idle());
    assert_eq!(sim.stats().sent, 1);
    assert_eq!(sim.stats().delivered, 0);
}
