//! Connectivity checks and nomination (RFC 8445 §7, §8), one agent on the wire.

mod wire;

use std::net::SocketAddr;
use std::time::Duration;

use floe_ice::{AgentConfig, CandidateKind, IceConnectionState, IceEvent, IceFailure, PairState};
use floe_stun::attributes::{
    ErrorCode, IceControlled, IceControlling, Priority, UnknownAttributes, Username,
};
use floe_stun::{Message, MessageType, TransactionId};
use wire::*;

fn controlling() -> Wire {
    let mut w = Wire::new(AgentConfig {
        controlling: true,
        ..AgentConfig::default()
    });
    w.add_remote(remote(), 0x7e00_00ff);
    w
}

fn first_request_to(w: &Wire, to: SocketAddr) -> Vec<u8> {
    w.sent
        .iter()
        .find(|(t, b)| {
            t.destination == to
                && Message::decode(b)
                    .is_ok_and(|m| m.message_type() == MessageType::BINDING_REQUEST)
        })
        .map(|(_, b)| b.clone())
        .expect("a check was sent")
}

#[test]
fn check_carries_priority_role_and_integrity() {
    let mut w = controlling();
    w.advance(100 * MS);
    let bytes = first_request_to(&w, remote());
    let m = Message::decode(&bytes).unwrap();
    let Ok(Some(Username(user))) = m.get::<Username>() else {
        panic!("no USERNAME")
    };
    assert_eq!(user, format!("{REMOTE_UFRAG}:{}", w.local_ufrag()));
    let Ok(Some(Priority(p))) = m.get::<Priority>() else {
        panic!("no PRIORITY")
    };
    assert_eq!(p >> 24, CandidateKind::PeerReflexive.type_preference());
    assert!(m.get::<IceControlling>().unwrap().is_some());
    assert!(m.get::<IceControlled>().unwrap().is_none());
    m.verify_integrity(&remote_key()).unwrap();
    m.verify_fingerprint().unwrap();
}

#[test]
fn role_conflict_487_switches_to_the_role_opposite_to_the_request() {
    let mut w = controlling();
    let other: SocketAddr = "10.0.0.3:6000".parse().unwrap();
    let mut c = host(other, 0x7e00_00fe);
    c.foundation = "2".into();
    w.agent.add_remote_candidate(w.now, c).unwrap();
    w.advance(200 * MS);
    let a = w.requests_to(remote())[0].0;
    let b = w.requests_to(other)[0].0;
    // Both requests claimed the controlling role: the first 487 makes the agent controlled,
    // the second must not flip it back.
    w.receive(remote(), &error(a, ErrorCode::ROLE_CONFLICT));
    assert!(!w.agent.is_controlling());
    w.receive(other, &error(b, ErrorCode::ROLE_CONFLICT));
    assert!(!w.agent.is_controlling());
    let changes = w
        .events
        .iter()
        .filter(|e| matches!(e, IceEvent::RoleChange { .. }))
        .count();
    assert_eq!(changes, 1);
}

#[test]
fn role_conflict_487_draws_a_new_tie_breaker() {
    let mut w = controlling();
    w.advance(100 * MS);
    let before = Message::decode(&first_request_to(&w, remote()))
        .unwrap()
        .get::<IceControlling>()
        .unwrap()
        .unwrap()
        .0;
    let tid = w.requests_to(remote())[0].0;
    w.take_sent();
    w.receive(remote(), &error(tid, ErrorCode::ROLE_CONFLICT));
    w.advance(100 * MS);
    let retry = first_request_to(&w, remote());
    let after = Message::decode(&retry)
        .unwrap()
        .get::<IceControlled>()
        .unwrap()
        .expect("the retried check claims the controlled role")
        .0;
    assert_ne!(before, after);
}

#[test]
fn peer_check_on_in_progress_pair_cancels_and_sends_a_new_triggered_check() {
    let mut w = controlling();
    w.advance(60 * MS);
    let first = w.requests_to(remote());
    assert_eq!(first.len(), 1);
    let old = first[0].0;
    // The peer's check on the same pair arrives while ours is in progress.
    let c = check(&w, &Check::from_controlled());
    w.receive(remote(), &c);
    w.advance(Duration::from_secs(3));
    let ids: Vec<TransactionId> = w.requests_to(remote()).iter().map(|r| r.0).collect();
    // The old transaction is never retransmitted; a new one went out.
    assert_eq!(ids.iter().filter(|id| **id == old).count(), 1, "{ids:?}");
    assert!(ids.iter().any(|id| *id != old));
    // A late answer to the cancelled check still counts.
    let mut w2 = controlling();
    w2.advance(60 * MS);
    let old = w2.requests_to(remote())[0].0;
    let c = check(&w2, &Check::default());
    w2.receive(remote(), &c);
    w2.receive(remote(), &success(old, local()));
    assert!(w2.agent.pairs()[0].is_valid());
}

#[test]
fn new_prflx_remote_candidate_forms_only_the_triggered_pair() {
    let mut w = Wire::new(AgentConfig::default());
    let second: SocketAddr = "10.0.0.9:5000".parse().unwrap();
    w.agent.add_local_socket(w.now, second);
    w.drain();
    assert!(w.agent.pairs().is_empty());
    let stranger: SocketAddr = "10.0.0.7:7000".parse().unwrap();
    let c = check(&w, &Check::default());
    w.receive(stranger, &c);
    let pairs = w.agent.pairs();
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0].local_address(), local());
    assert_eq!(
        w.agent.remote_candidates()[0].kind,
        CandidateKind::PeerReflexive
    );
}

#[test]
fn no_new_pairs_or_checks_after_selection() {
    let mut w = Wire::connected(AgentConfig::default());
    let pairs = w.agent.pairs().len();
    let late: SocketAddr = "10.0.0.8:6000".parse().unwrap();
    w.add_remote(late, u32::MAX >> 1);
    w.advance(Duration::from_secs(2));
    assert_eq!(w.agent.pairs().len(), pairs);
    assert!(w.requests_to(late).is_empty());
}

#[test]
fn no_local_candidate_announced_after_our_end_of_candidates() {
    let mut w = Wire::new(AgentConfig::default());
    assert!(w.events.contains(&IceEvent::EndOfCandidates));
    w.events.clear();
    assert!(!announces_a_new_base(&mut w));
}

/// Adds a socket and says whether a local candidate was announced for it.
fn announces_a_new_base(w: &mut Wire) -> bool {
    w.agent
        .add_local_socket(w.now, "10.0.0.9:5000".parse().unwrap());
    w.drain();
    w.events
        .iter()
        .any(|e| matches!(e, IceEvent::LocalCandidate(_)))
}

#[test]
fn authenticated_malformed_request_gets_signed_400() {
    let mut w = Wire::new(AgentConfig::default());
    for bad in [
        Check {
            priority: None,
            ..Check::default()
        },
        Check {
            controlling: None,
            ..Check::default()
        },
        Check {
            controlled: Some(2),
            ..Check::default()
        },
    ] {
        let c = check(&w, &bad);
        w.take_sent();
        w.receive(remote(), &c);
        let sent = w.take_sent();
        assert_eq!(
            answers_to(&sent, remote()),
            vec![(MessageType::BINDING_ERROR, Some(ErrorCode::BAD_REQUEST))]
        );
        let m = Message::decode(&sent[0].1).unwrap();
        m.verify_integrity(&w.local_key()).unwrap();
    }
    assert!(w.agent.pairs().is_empty());
}

#[test]
fn unknown_comprehension_required_attribute_gets_420_with_unknown_attributes() {
    let mut w = Wire::new(AgentConfig::default());
    let c = check(
        &w,
        &Check {
            extra: Some((0x7f00, vec![0; 4])),
            ..Check::default()
        },
    );
    w.take_sent();
    w.receive(remote(), &c);
    let sent = w.take_sent();
    assert_eq!(
        answers_to(&sent, remote()),
        vec![(
            MessageType::BINDING_ERROR,
            Some(ErrorCode::UNKNOWN_ATTRIBUTE)
        )]
    );
    let m = Message::decode(&sent[0].1).unwrap();
    m.verify_integrity(&w.local_key()).unwrap();
    let Ok(Some(unknown)) = m.get::<UnknownAttributes>() else {
        panic!("no UNKNOWN-ATTRIBUTES")
    };
    assert_eq!(unknown.iter().collect::<Vec<u16>>(), vec![0x7f00]);
}

#[test]
fn failed_nominating_check_leaves_the_pair_invalid() {
    let mut w = controlling();
    w.advance(60 * MS);
    w.answer_requests_to(remote());
    // The nominating check goes out; the peer rejects it.
    w.advance(200 * MS);
    let mut nominating: Vec<_> = w
        .requests_to(remote())
        .into_iter()
        .filter(|r| r.1)
        .collect();
    // Retransmissions carry the same transaction id.
    nominating.dedup_by_key(|r| r.0);
    assert_eq!(nominating.len(), 1);
    w.receive(remote(), &error(nominating[0].0, ErrorCode::BAD_REQUEST));
    let pair = &w.agent.pairs()[0];
    assert!(!pair.is_valid());
    assert!(!pair.is_nominated());
    assert!(w.agent.selected_path().is_none());
}

#[test]
fn fails_after_pac_timer_when_nothing_is_selectable() {
    // Controlled: our check succeeds, but the peer never nominates.
    let mut w = Wire::new(AgentConfig::default());
    w.add_remote(remote(), 0x7e00_00ff);
    w.agent.add_remote_end_of_candidates(w.now);
    w.advance(100 * MS);
    w.answer_requests_to(remote());
    assert!(w.agent.pairs()[0].is_valid());
    w.advance(Duration::from_secs(38));
    assert_eq!(w.agent.connection_state(), IceConnectionState::Checking);
    w.advance(Duration::from_secs(2));
    assert_eq!(w.agent.connection_state(), IceConnectionState::Failed);
    let Some(IceFailure::NoWorkingPair(summary)) = w.agent.failure() else {
        panic!("{:?}", w.agent.failure());
    };
    assert_eq!((summary.pairs, summary.succeeded), (1, 1));
    assert_eq!(
        summary.to_string(),
        "1 of 1 candidate pair succeeded but none was nominated — the controlling peer never \
         sent USE-CANDIDATE"
    );
}

#[test]
fn response_from_other_address_fails_the_pair() {
    let mut w = controlling();
    let second: SocketAddr = "10.0.0.9:5000".parse().unwrap();
    w.agent.add_local_socket(w.now, second);
    w.advance(60 * MS);
    let tid = w.requests_to(remote())[0].0;
    // The answer arrives on another socket than the request left from (RFC 8445 §7.2.5.2.1).
    let id = w
        .agent
        .pairs()
        .iter()
        .find(|p| p.local_address() == local())
        .unwrap()
        .id();
    w.agent
        .handle_datagram(w.now, second, remote(), &success(tid, local()));
    w.drain();
    let pair = w.agent.pairs().iter().find(|p| p.id() == id).unwrap();
    assert_eq!(pair.state(), PairState::Failed);
    assert!(!pair.is_valid());
}

#[test]
fn success_response_with_unknown_mapped_address_adds_prflx_local() {
    let mut w = controlling();
    w.advance(60 * MS);
    let tid = w.requests_to(remote())[0].0;
    let mapped: SocketAddr = "198.51.100.7:7000".parse().unwrap();
    w.receive(remote(), &success(tid, mapped));
    let prflx = w
        .agent
        .local_candidates()
        .iter()
        .find(|c| c.address == mapped)
        .expect("a peer-reflexive local candidate");
    assert_eq!(prflx.kind, CandidateKind::PeerReflexive);
    assert_eq!(prflx.base, Some(local()));
}

#[test]
fn request_without_fingerprint_is_dropped_and_answers_carry_one() {
    let mut w = Wire::new(AgentConfig::default());
    let bare = check(
        &w,
        &Check {
            fingerprint: false,
            ..Check::default()
        },
    );
    w.take_sent();
    w.receive(remote(), &bare);
    assert!(answers_to(&w.take_sent(), remote()).is_empty());
    let c = check(&w, &Check::default());
    w.receive(remote(), &c);
    let sent = w.take_sent();
    let (_, answer) = sent
        .iter()
        .find(|(t, _)| t.destination == remote())
        .unwrap();
    let m = Message::decode(answer).unwrap();
    assert_eq!(m.message_type(), MessageType::BINDING_SUCCESS);
    m.verify_fingerprint().unwrap();
}

#[test]
fn the_highest_priority_nominated_pair_carries_data() {
    // Controlled; an RFC 5245 peer nominates two pairs, the lower one first.
    let mut w = Wire::new(AgentConfig::default());
    let low: SocketAddr = "10.0.0.3:6000".parse().unwrap();
    w.add_remote(remote(), 0x7e00_00ff);
    let mut c = host(low, 0x6400_00ff);
    c.foundation = "2".into();
    w.agent.add_remote_candidate(w.now, c).unwrap();
    for _ in 0..10 {
        w.advance(60 * MS);
        w.answer_requests_to(remote());
        w.answer_requests_to(low);
    }
    assert!(w.agent.pairs().iter().all(|p| p.is_valid()));
    let nominate_low = check(
        &w,
        &Check {
            tid: [3; 12],
            ..Check::nominating()
        },
    );
    w.receive(low, &nominate_low);
    assert_eq!(w.agent.selected_path(), Some((local(), low)));
    let nominate_high = check(
        &w,
        &Check {
            tid: [4; 12],
            ..Check::nominating()
        },
    );
    w.receive(remote(), &nominate_high);
    assert_eq!(w.agent.selected_path(), Some((local(), remote())));
}

#[test]
fn no_candidates_trickled_after_nomination() {
    // A STUN server that never answers keeps gathering open for 3 s, past the nomination.
    let mut w = Wire::connected(AgentConfig {
        stun_servers: vec!["192.0.2.10:3478".parse().unwrap()],
        ..AgentConfig::default()
    });
    assert!(!w.events.contains(&IceEvent::EndOfCandidates));
    w.events.clear();
    // A base that appears after the nomination still gathers, but is not announced.
    assert!(!announces_a_new_base(&mut w));
}

#[test]
fn completed_once_a_pair_is_selected_with_unchecked_pairs_left() {
    let mut w = controlling();
    let (mid, low): (SocketAddr, SocketAddr) = (
        "10.0.0.4:6000".parse().unwrap(),
        "10.0.0.5:6000".parse().unwrap(),
    );
    w.agent
        .add_remote_candidate(w.now, host(mid, 0x7e00_00f0))
        .unwrap();
    w.agent
        .add_remote_candidate(w.now, host(low, 0x7e00_00e0))
        .unwrap();
    w.agent.add_remote_end_of_candidates(w.now);
    while w.requests_to(remote()).is_empty() {
        w.advance(MS);
    }
    // Our first check is out; the peer's check on the same pair arrives within the same Ta, so
    // the new triggered check waits in the queue (§7.3.1.4) while the old one is answered.
    let first = w.requests_to(remote())[0].0;
    let c = check(&w, &Check::from_controlled());
    w.receive(remote(), &c);
    w.receive(remote(), &success(first, local()));
    for _ in 0..5 {
        w.answer_requests_to(remote());
        w.advance(MS);
    }
    assert_eq!(w.agent.selected_path(), Some((local(), remote())));
    // §8.1.2: no checks go out any more, so nothing is left pending (the two other pairs of
    // the foundation wait Frozen, the triggered check is queued): `completed`.
    assert_eq!(w.agent.connection_state(), IceConnectionState::Completed);
    assert!(w.agent.pairs().iter().all(|p| !matches!(
        p.state(),
        PairState::Frozen | PairState::Waiting | PairState::InProgress
    )));
}
