//! Security properties: no data towards addresses that never answered, secrets from the seed's
//! CSPRNG, unauthenticated requests never acted on.

mod wire;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use floe_ice::{AgentConfig, IceError};
use floe_stun::is_stun;
use wire::*;

fn attacker() -> SocketAddr {
    "192.0.2.66:4444".parse().unwrap()
}

#[test]
fn spoofed_use_candidate_from_a_third_host_gets_no_application_data() {
    // Controlled agent; someone who knows the credentials nominates a third host's address.
    let mut w = Wire::new(AgentConfig::default());
    w.add_remote(remote(), 0x7e00_00ff);
    let spoof = check(&w, &Check::nominating());
    w.receive(attacker(), &spoof);
    let mut buf = [0u8; 1500];
    for _ in 0..45 {
        w.advance(Duration::from_secs(1));
        assert_eq!(
            w.agent.send(b"secret", &mut buf),
            Err(IceError::NotConnected)
        );
        assert!(w.agent.selected_path().is_none());
    }
    // The third host got our answer and our checks, never application data.
    let to_victim: Vec<_> = w
        .sent
        .iter()
        .filter(|(t, _)| t.destination == attacker())
        .collect();
    assert!(!to_victim.is_empty());
    assert!(to_victim.iter().all(|(_, b)| is_stun(b)));
}

#[test]
fn use_candidate_flag_is_cleared_when_our_check_fails() {
    let mut w = Wire::new(AgentConfig::default());
    let spoof = check(&w, &Check::nominating());
    w.receive(attacker(), &spoof);
    // Our check towards it times out.
    w.advance(Duration::from_secs(90));
    assert_eq!(w.agent.pairs()[0].state(), floe_ice::PairState::Failed);
    // Later a plain (non-nominating) check from there, and our triggered check succeeds: the
    // old USE-CANDIDATE must not select the pair now.
    let plain = check(
        &w,
        &Check {
            tid: [2; 12],
            ..Check::default()
        },
    );
    w.take_sent();
    w.receive(attacker(), &plain);
    w.advance(100 * MS);
    assert!(w.answer_requests_to(attacker()) > 0);
    assert!(w.agent.pairs()[0].is_valid());
    assert!(w.agent.selected_pair().is_none());
    assert!(w.agent.selected_path().is_none());
}

fn first_check_bytes(seed: [u8; 32]) -> (String, String, Vec<u8>) {
    let mut w = Wire::with_seed(
        AgentConfig {
            controlling: true,
            ..AgentConfig::default()
        },
        seed,
    );
    w.add_remote(remote(), 0x7e00_00ff);
    w.advance(60 * MS);
    let c = w.agent.local_credentials().clone();
    let bytes = w
        .sent
        .iter()
        .find(|(t, _)| t.destination == remote())
        .unwrap()
        .1
        .clone();
    (c.ufrag, c.pwd, bytes)
}

#[test]
fn credentials_and_tie_breaker_come_from_the_seed() {
    // Same seed: the same run, byte for byte (tie-breaker and transaction id included).
    assert_eq!(first_check_bytes([1; 32]), first_check_bytes([1; 32]));
    // Seeds differing in one bit of the last byte: everything differs.
    let mut other = [1; 32];
    other[31] ^= 1;
    let (a, b) = (first_check_bytes([1; 32]), first_check_bytes(other));
    assert_ne!(a.0, b.0);
    assert_ne!(a.1, b.1);
    assert_ne!(a.2[8..20], b.2[8..20], "transaction ids");
}

#[test]
fn ice_pwd_carries_at_least_128_bits() {
    // RFC 8445 §5.3: ice-pwd has at least 128 bits of randomness. 22+ characters from the
    // 64-symbol ice-char alphabet carry 6 bits each.
    let mut seen = HashSet::new();
    for i in 0..1000u32 {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&i.to_le_bytes());
        let w = Wire::with_seed(AgentConfig::default(), seed);
        let pwd = w.agent.local_credentials().pwd.clone();
        assert!(pwd.len() >= 22);
        assert!(pwd.len() * 6 >= 128);
        assert!(pwd
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'));
        assert!(seen.insert(pwd));
    }
    // Every symbol position varies: no fixed characters.
    let symbols: HashSet<char> = seen.iter().flat_map(|p| p.chars()).collect();
    assert!(symbols.len() >= 60, "{}", symbols.len());
}

#[test]
fn transaction_ids_differ_between_seeds() {
    let ids = |seed: [u8; 32]| -> Vec<[u8; 12]> {
        let mut w = Wire::with_seed(
            AgentConfig {
                controlling: true,
                ..AgentConfig::default()
            },
            seed,
        );
        for i in 0..5u8 {
            let mut c = host(
                format!("10.0.1.{i}:6000").parse().unwrap(),
                0x7e00_0000 + u32::from(i),
            );
            c.foundation = format!("f{i}");
            w.agent.add_remote_candidate(w.now, c).unwrap();
        }
        w.advance(Duration::from_millis(400));
        w.sent
            .iter()
            .map(|(_, b)| b[8..20].try_into().unwrap())
            .collect()
    };
    let a = ids([3; 32]);
    let b = ids([4; 32]);
    assert!(a.len() >= 5);
    let all: HashSet<_> = a.iter().chain(&b).collect();
    assert_eq!(
        all.len(),
        a.len() + b.len(),
        "ids repeat within or across agents"
    );
}

#[test]
fn unauthenticated_request_with_use_candidate_is_dropped_and_never_acted_on() {
    let mut w = Wire::new(AgentConfig::default());
    w.add_remote(remote(), 0x7e00_00ff);
    w.advance(100 * MS);
    w.answer_requests_to(remote());
    assert!(w.agent.pairs()[0].is_valid());
    let forged = check(
        &w,
        &Check {
            use_candidate: true,
            sign: false,
            ..Check::default()
        },
    );
    w.take_sent();
    w.receive(remote(), &forged);
    w.receive(attacker(), &forged);
    w.advance(Duration::from_secs(1));
    assert!(
        w.sent.is_empty(),
        "no answer, no triggered check: {:?}",
        w.sent
    );
    assert!(w.agent.selected_pair().is_none());
    assert_eq!(w.agent.remote_candidates().len(), 1);
}
