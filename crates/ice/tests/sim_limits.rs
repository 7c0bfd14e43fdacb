//! Bounded resources: the pair limit (RFC 8445 §6.1.2.5), candidate floods, and checks that
//! fail authentication (RFC 8445 §7.3: no answer).

mod sim_common;

use std::net::SocketAddr;
use std::time::Duration;

use floe_ice::{AgentConfig, Candidate, CandidateKind, IceError};
use floe_netsim::{LinkConfig, Nat, Probe, Segment};
use floe_stun::attributes::{IceControlling, Priority, Username};
use floe_stun::{IntegrityKey, MessageType, MessageWriter, TransactionId};
use sim_common::*;

fn bogus(i: u32, priority: u32) -> Candidate {
    Candidate {
        kind: CandidateKind::Host,
        address: SocketAddr::new(
            std::net::Ipv4Addr::from(0xc612_0000 + (i >> 8)).into(),
            1000 + (i & 0xff) as u16,
        ),
        base: None,
        priority,
        foundation: format!("f{}", i % 7),
        component: 1,
        tcp_type: None,
    }
}

#[test]
fn pairs_never_exceed_max_pairs_with_many_candidates() {
    let config = |controlling| AgentConfig {
        controlling,
        max_pairs: 10,
        ..AgentConfig::default()
    };
    let mut duo = Duo::new(Setup {
        nats: [Nat::open(), Nat::full_cone()],
        links: [
            LinkConfig::with_latency(5 * MS),
            LinkConfig::with_latency(5 * MS),
        ],
        configs: [config(true), config(false)],
        stun: true,
        ..Setup::default()
    });
    // A second and third interface on side 0: more local candidates.
    for k in 0..2u8 {
        let ip = std::net::IpAddr::from([198, 51, 100, 200 + k]);
        let host = duo.hosts[0];
        duo.sim.add_interface(host, Segment::Public, ip);
        let now = duo.sim.now();
        duo.agent(0)
            .add_local_socket(now, SocketAddr::new(ip, PORT));
    }
    // 60 low-priority remote candidates that lead nowhere, to both sides.
    for i in 0..60 {
        duo.signal(0, Signal::Candidate(bogus(i, 1000 + i)));
        duo.signal(1, Signal::Candidate(bogus(i + 100, 1000 + i)));
    }
    let mut max_seen = 0;
    let ok = duo.run_until(
        |d| {
            for s in 0..2 {
                max_seen = max_seen.max(d.agent_ref(s).pairs().len());
            }
            d.is_connected(0) && d.is_connected(1)
        },
        Duration::from_secs(10),
    );
    duo.run_until(
        |d| {
            for s in 0..2 {
                max_seen = max_seen.max(d.agent_ref(s).pairs().len());
            }
            false
        },
        Duration::from_secs(5),
    );
    println!("most pairs seen: {max_seen} (limit 10); connected: {ok}");
    assert!(max_seen <= 10);
    assert!(ok);
    assert!(duo.exchange_data("limits", Duration::from_secs(1)));
}

#[test]
fn ten_thousand_remote_candidates_are_capped() {
    let mut duo = Duo::new(Setup::default());
    assert!(duo.run_until_connected(Duration::from_secs(2)));
    let now = duo.sim.now();
    let max = duo.agent_ref(0).config().max_remote_candidates;
    let mut refused = 0;
    for i in 0..10_000 {
        match duo.agent(0).add_remote_candidate(now, bogus(i, 1 + i)) {
            Ok(()) => {}
            Err(IceError::TooManyCandidates) => refused += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    duo.node(0).drain(now);
    assert!(duo.agent_ref(0).remote_candidates().len() <= max);
    assert!(refused >= 10_000 - max);
    assert!(duo.agent_ref(0).pairs().len() <= duo.agent_ref(0).config().max_pairs);
    duo.run_for(Duration::from_secs(3));
    assert!(duo.is_connected(0) && duo.is_connected(1));
    assert!(duo.exchange_data("flood", Duration::from_secs(1)));
}

/// A Binding request with ICE attributes; signed with `key` when given.
fn check(tid: u64, username: Option<&str>, key: Option<&IntegrityKey>) -> Vec<u8> {
    let mut buf = [0u8; 512];
    let mut id = [0u8; 12];
    id[..8].copy_from_slice(&tid.to_be_bytes());
    let mut w = MessageWriter::new(
        &mut buf,
        MessageType::BINDING_REQUEST,
        TransactionId::new(id),
    )
    .unwrap();
    if let Some(u) = username {
        w.add(&Username(u)).unwrap();
    }
    w.add(&Priority(0x6e00_1eff)).unwrap();
    w.add(&IceControlling(tid)).unwrap();
    if let Some(k) = key {
        w.add_message_integrity(k).unwrap();
    }
    w.add_fingerprint().unwrap();
    let len = w.finish();
    buf[..len].to_vec()
}

#[test]
fn unauthenticated_and_wrongly_signed_checks_get_no_answer_and_no_state() {
    let mut duo = Duo::new(Setup {
        nats: [Nat::open(), Nat::open()],
        links: [
            LinkConfig::with_latency(5 * MS),
            LinkConfig::with_latency(5 * MS),
        ],
        ..Setup::default()
    });
    let victim = duo.addr(1);
    let ufrag = duo.agent_ref(1).local_credentials().ufrag.clone();
    let wrong = IntegrityKey::short_term("not-the-password-at-all-123");
    let attackers: Vec<_> = (0..20)
        .map(|_| duo.sim.add_public_host(Probe::new()))
        .collect();
    let mut sent = 0u64;
    for (a, host) in attackers.iter().enumerate() {
        for port in 0..50u16 {
            let from = duo.sim.addr(*host, 20_000 + port);
            let tid = (a as u64) << 32 | u64::from(port);
            let payloads = [
                check(tid, None, None),
                check(tid + 1, Some(&format!("{ufrag}:evil")), None),
                check(tid + 2, Some(&format!("{ufrag}:evil")), Some(&wrong)),
                check(tid + 3, Some("wrong:evil"), Some(&wrong)),
            ];
            for p in payloads {
                duo.sim.endpoint_mut::<Probe>(*host).send(from, victim, p);
                sent += 1;
            }
        }
    }
    assert!(duo.run_until_connected(Duration::from_secs(3)));
    duo.run_for(Duration::from_secs(1));
    let answered: usize = attackers
        .iter()
        .map(|h| duo.sim.endpoint::<Probe>(*h).received.len())
        .sum();
    println!("{sent} forged checks, {answered} answers");
    assert_eq!(answered, 0);
    let agent = duo.agent_ref(1);
    assert!(
        agent.remote_candidates().len() <= 2,
        "{:?}",
        agent.remote_candidates()
    );
    assert!(agent.pairs().len() <= 2);
    assert!(duo.exchange_data("after forgery", Duration::from_secs(1)));
}
