//! Candidate priorities and validation (RFC 8445 §5.1.2, RFC 8421), link-local addresses.

mod wire;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_ice::{AgentConfig, CandidateKind, IceAgent, IceError};
use floe_stun::attributes::{MappedAddress, XorMappedAddress};
use floe_stun::{Message, MessageType, MessageWriter};
use wire::*;

#[test]
fn srflx_from_two_servers_on_one_base_get_distinct_local_preferences() {
    let servers: [SocketAddr; 2] = [
        "192.0.2.10:3478".parse().unwrap(),
        "192.0.2.11:3478".parse().unwrap(),
    ];
    let mut w = Wire::new(AgentConfig {
        stun_servers: servers.to_vec(),
        ..AgentConfig::default()
    });
    w.advance(200 * MS);
    for (i, server) in servers.iter().enumerate() {
        let (_, req) = w
            .sent
            .iter()
            .find(|(t, _)| t.destination == *server)
            .unwrap()
            .clone();
        let tid = Message::decode(&req).unwrap().transaction_id();
        let mut buf = [0u8; 128];
        let mut m = MessageWriter::new(&mut buf, MessageType::BINDING_SUCCESS, tid).unwrap();
        let mapped: SocketAddr = format!("203.0.113.{}:4000", i + 1).parse().unwrap();
        m.add(&XorMappedAddress(mapped)).unwrap();
        let len = m.finish();
        w.receive(*server, &buf[..len]);
    }
    let srflx: Vec<u32> = w
        .agent
        .local_candidates()
        .iter()
        .filter(|c| c.kind == CandidateKind::ServerReflexive)
        .map(|c| c.priority)
        .collect();
    assert_eq!(srflx.len(), 2);
    assert_ne!(srflx[0], srflx[1]);
}

#[test]
fn address_families_interleave_per_rfc8421() {
    let now = Instant::now();
    let mut agent = IceAgent::new(AgentConfig::default(), now, [1; 32]);
    let bases: [SocketAddr; 4] = [
        "10.0.0.1:5000".parse().unwrap(),
        "10.0.0.2:5000".parse().unwrap(),
        "[2001:db8::1]:5000".parse().unwrap(),
        "[2001:db8::2]:5000".parse().unwrap(),
    ];
    for b in bases {
        agent.add_local_socket(now, b);
    }
    agent.start_gathering(now);
    let prio = |a: SocketAddr| {
        agent
            .local_candidates()
            .iter()
            .find(|c| c.address == a)
            .unwrap()
            .priority
    };
    // First IPv6, first IPv4, second IPv6, second IPv4.
    assert!(prio(bases[2]) > prio(bases[0]));
    assert!(prio(bases[0]) > prio(bases[3]));
    assert!(prio(bases[3]) > prio(bases[1]));
}

#[test]
fn remote_candidate_with_bad_priority_port_or_address_is_refused() {
    let mut w = Wire::new(AgentConfig::default());
    let ok: SocketAddr = "10.0.0.2:6000".parse().unwrap();
    let cases = [
        host(ok, 0),
        host(ok, 1 << 31),
        host("10.0.0.2:0".parse().unwrap(), 100),
        host("0.0.0.0:6000".parse().unwrap(), 100),
        host("224.0.0.251:5353".parse().unwrap(), 100),
        host("[ff02::fb]:5353".parse().unwrap(), 100),
        host("[::]:6000".parse().unwrap(), 100),
    ];
    for c in cases {
        let r = w.agent.add_remote_candidate(w.now, c.clone());
        assert!(
            matches!(r, Err(IceError::InvalidCandidate(_))),
            "{c:?}: {r:?}"
        );
    }
    assert!(w.agent.remote_candidates().is_empty());
    w.agent
        .add_remote_candidate(w.now, host(ok, (1 << 31) - 1))
        .unwrap();
}

#[test]
fn huge_configured_durations_are_clamped_not_a_panic() {
    let config = AgentConfig {
        controlling: true,
        ta: Duration::MAX,
        gather_timeout: Duration::MAX,
        check_rto: Duration::MAX,
        consent_interval: Duration::MAX,
        disconnect_timeout: Duration::MAX,
        consent_timeout: Duration::MAX,
        pac_timeout: Duration::MAX,
        keepalive_interval: Duration::MAX,
        stun_servers: vec!["192.0.2.10:3478".parse().unwrap()],
        ..AgentConfig::default()
    };
    let mut w = Wire::new(config);
    w.add_remote(remote(), 0x7e00_00ff);
    w.advance(Duration::from_secs(5));
    w.answer_requests_to(remote());
    let t = w.agent.poll_timeout().unwrap();
    assert!(t <= w.now + Duration::from_secs(86_400 * 2));
}

#[test]
fn link_local_ipv6_matches_without_scope_id() {
    let now = Instant::now();
    let mut agent = IceAgent::new(AgentConfig::default(), now, [1; 32]);
    let base: SocketAddr = "[fe80::1%3]:5000".parse().unwrap();
    agent.add_local_socket(now, base);
    agent.start_gathering(now);
    agent.set_remote_credentials(now, REMOTE_UFRAG, REMOTE_PWD);
    let signalled: SocketAddr = "[fe80::2]:6000".parse().unwrap();
    agent
        .add_remote_candidate(now, host(signalled, 0x7e00_00ff))
        .unwrap();
    // Checks go to the peer with our scope, and the peer's check from there is no stranger.
    let mut buf = [0u8; 1500];
    let mut destinations = Vec::new();
    let mut t = now;
    for _ in 0..5 {
        t += 60 * MS;
        agent.handle_timeout(t);
        while let Some(tx) = agent.poll_transmit(&mut buf).unwrap() {
            destinations.push(tx.destination);
        }
    }
    let scoped: SocketAddr = "[fe80::2%3]:6000".parse().unwrap();
    assert!(destinations.contains(&scoped), "{destinations:?}");
    assert_eq!(agent.pairs().len(), 1);
    assert_eq!(agent.pairs()[0].remote_address(), scoped);
    assert_eq!(agent.remote_candidates().len(), 1);
    assert_eq!(agent.remote_candidates()[0].address, signalled);
}

/// An agent with one STUN server whose query is answered with `mapped`, written by `add`.
fn with_srflx(add: impl FnOnce(&mut MessageWriter<'_>)) -> Wire {
    let server: SocketAddr = "192.0.2.10:3478".parse().unwrap();
    let mut w = Wire::new(AgentConfig {
        stun_servers: vec![server],
        ..AgentConfig::default()
    });
    w.advance(100 * MS);
    let (_, req) = w
        .sent
        .iter()
        .find(|(t, _)| t.destination == server)
        .unwrap()
        .clone();
    let tid = Message::decode(&req).unwrap().transaction_id();
    let mut buf = [0u8; 128];
    let mut m = MessageWriter::new(&mut buf, MessageType::BINDING_SUCCESS, tid).unwrap();
    add(&mut m);
    let len = m.finish();
    w.receive(server, &buf[..len]);
    w
}

#[test]
fn server_reflexive_from_an_rfc3489_mapped_address() {
    let mapped: SocketAddr = "203.0.113.9:4000".parse().unwrap();
    let w = with_srflx(|m| m.add(&MappedAddress(mapped)).unwrap());
    assert!(w
        .agent
        .local_candidates()
        .iter()
        .any(|c| c.kind == CandidateKind::ServerReflexive && c.address == mapped));
}

#[test]
fn server_reflexive_candidates_pair_through_their_base_only() {
    let mapped: SocketAddr = "203.0.113.9:4000".parse().unwrap();
    let mut w = with_srflx(|m| m.add(&XorMappedAddress(mapped)).unwrap());
    w.add_remote(remote(), 0x7e00_00ff);
    // One pair, from the host base: the srflx candidate was replaced by its base, and the
    // pair it would form is the same (RFC 8445 §6.1.2.4, RFC 8838 §10, §11).
    let pairs = w.agent.pairs();
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0].local_address(), local());
    let idx = pairs[0].local_candidate_index();
    assert_eq!(w.agent.local_candidates()[idx].kind, CandidateKind::Host);
}

#[test]
fn link_local_and_global_addresses_are_never_paired() {
    let now = Instant::now();
    let mut agent = IceAgent::new(AgentConfig::default(), now, [1; 32]);
    agent.add_local_socket(now, "[fe80::1%3]:5000".parse().unwrap());
    agent.start_gathering(now);
    agent.set_remote_credentials(now, REMOTE_UFRAG, REMOTE_PWD);
    agent
        .add_remote_candidate(
            now,
            host("[2001:db8::2]:6000".parse().unwrap(), 0x7e00_00ff),
        )
        .unwrap();
    assert!(agent.pairs().is_empty());
    agent
        .add_remote_candidate(now, host("[fe80::2]:6000".parse().unwrap(), 0x7e00_00fe))
        .unwrap();
    assert_eq!(agent.pairs().len(), 1);
}
