//! Small conformance checks: roles across a restart, USE-CANDIDATE, credentials, keepalive
//! shape, lite agents before a valid pair, unauthenticated 403, the frozen algorithm.

mod wire;

use std::net::SocketAddr;
use std::time::Duration;

use floe_ice::{AgentConfig, IceConnectionState, IceError, PairState};
use floe_stun::attributes::ErrorCode;
use floe_stun::{IntegrityKey, Message, MessageType, MessageWriter};
use wire::*;

#[test]
fn restart_changes_ufrag_and_password_and_keeps_the_role() {
    let mut w = Wire::new(AgentConfig {
        controlling: true,
        ..AgentConfig::default()
    });
    let before = w.agent.local_credentials().clone();
    w.agent.restart(w.now);
    let after = w.agent.local_credentials().clone();
    assert_ne!(before.ufrag, after.ufrag);
    assert_ne!(before.pwd, after.pwd);
    assert!(w.agent.is_controlling());
}

#[test]
fn controlled_agent_never_sends_use_candidate() {
    let mut w = Wire::new(AgentConfig::default());
    w.add_remote(remote(), 0x7e00_00ff);
    for _ in 0..10 {
        w.advance(100 * MS);
        w.answer_requests_to(remote());
    }
    let mut w2 = Wire::new(AgentConfig::default());
    w2.add_remote(remote(), 0x7e00_00ff);
    w2.advance(Duration::from_secs(2));
    let requests = w2.requests_to(remote());
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|(_, nominating)| !nominating));
}

#[test]
fn keepalive_is_an_unauthenticated_indication_with_fingerprint() {
    let mut w = Wire::lite_selected();
    w.advance(Duration::from_secs(16));
    let (_, bytes) = w
        .sent
        .iter()
        .find(|(_, b)| {
            Message::decode(b).is_ok_and(|m| m.message_type() == MessageType::BINDING_INDICATION)
        })
        .expect("a keepalive");
    let m = Message::decode(bytes).unwrap();
    assert!(!m.has_integrity());
    assert!(m.has_fingerprint());
    m.verify_fingerprint().unwrap();
    assert_eq!(m.attributes().count(), 1);
}

#[test]
fn lite_agent_sends_no_data_before_a_valid_pair() {
    let mut w = Wire::new(AgentConfig {
        lite: true,
        ..AgentConfig::default()
    });
    w.add_remote(remote(), 0x7e00_00ff);
    let mut buf = [0u8; 64];
    assert_eq!(w.agent.send(b"x", &mut buf), Err(IceError::NotConnected));
    w.advance(Duration::from_secs(2));
    // A lite agent sends nothing of its own before the peer checks it.
    assert!(w.sent.is_empty(), "{:?}", w.sent);
}

#[test]
fn unauthenticated_403_does_not_revoke_consent() {
    let mut w = Wire::connected(AgentConfig::default());
    w.advance(Duration::from_secs(7));
    let tid = w.requests_to(remote())[0].0;
    let mut buf = [0u8; 128];
    let mut m = MessageWriter::new(&mut buf, MessageType::BINDING_ERROR, tid).unwrap();
    m.add(&ErrorCode::new(ErrorCode::FORBIDDEN, "Forbidden"))
        .unwrap();
    m.add_message_integrity(&IntegrityKey::short_term("someone-else-entirely!!"))
        .unwrap();
    m.add_fingerprint().unwrap();
    let len = m.finish();
    w.receive(remote(), &buf[..len]);
    assert_ne!(w.agent.connection_state(), IceConnectionState::Failed);
    assert!(w.agent.selected_path().is_some());
}

#[test]
fn success_unfreezes_pairs_of_the_same_foundation() {
    let mut w = Wire::new(AgentConfig {
        controlling: true,
        ..AgentConfig::default()
    });
    let second: SocketAddr = "10.0.0.3:6000".parse().unwrap();
    w.add_remote(remote(), 0x7e00_00ff);
    w.add_remote(second, 0x7e00_00fe);
    let state_of = |w: &Wire, a: SocketAddr| {
        w.agent
            .pairs()
            .iter()
            .find(|p| p.remote_address() == a)
            .unwrap()
            .state()
    };
    assert_eq!(state_of(&w, second), PairState::Frozen);
    w.advance(60 * MS);
    let tid = w.requests_to(remote())[0].0;
    w.receive(remote(), &success(tid, local()));
    assert_ne!(state_of(&w, second), PairState::Frozen);
}

#[test]
fn an_answer_queued_before_a_restart_is_signed_with_the_password_it_was_checked_with() {
    // RFC 8445 §7.3.1 / §9: the answer is signed with the password the check was for, even
    // when the application restarts ICE before draining the agent.
    let mut w = Wire::connected(AgentConfig::default());
    w.take_sent();
    let old_key = w.local_key();
    let bytes = check(
        &w,
        &Check {
            tid: [0x5a; 12],
            ..Check::from_controlled()
        },
    );
    w.agent.handle_datagram(w.now, local(), remote(), &bytes);
    w.agent.restart(w.now);
    w.drain();
    let answer = w
        .sent
        .iter()
        .filter(|(t, _)| t.destination == remote())
        .filter_map(|(_, b)| Message::decode(b).ok())
        .find(|m| m.transaction_id().as_bytes() == &[0x5a; 12])
        .expect("the check is answered after the restart");
    assert_eq!(answer.message_type(), MessageType::BINDING_SUCCESS);
    answer.verify_integrity(&old_key).unwrap();
    assert!(answer.verify_integrity(&w.local_key()).is_err());
}
