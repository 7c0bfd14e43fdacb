//! Consent freshness (RFC 7675), keepalives (RFC 8445 §11) and the W3C states they drive.

mod wire;

use std::time::{Duration, Instant};

use floe_ice::{AgentConfig, IceConnectionState, IceError, IceFailure};
use floe_stun::attributes::{ErrorCode, Username};
use floe_stun::{Message, MessageType, TransactionId};
use wire::*;

fn consent_requests(w: &Wire) -> Vec<TransactionId> {
    w.requests_to(remote()).into_iter().map(|r| r.0).collect()
}

fn state(w: &Wire) -> IceConnectionState {
    w.agent.connection_state()
}

#[test]
fn consent_requests_are_sent_once_never_retransmitted() {
    let mut w = Wire::connected(AgentConfig::default());
    w.advance(Duration::from_secs(25));
    let ids = consent_requests(&w);
    assert!(ids.len() >= 4, "{}", ids.len());
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "a consent request was retransmitted"
    );
}

#[test]
fn outstanding_consent_requests_are_discarded_when_consent_expires() {
    let mut w = Wire::connected(AgentConfig::default());
    w.advance(Duration::from_secs(31));
    assert_eq!(state(&w), IceConnectionState::Failed);
    // An answer to an early request, arriving after expiry, finds nothing waiting for it.
    let early = consent_requests(&w)[0];
    let v = w.receive(remote(), &success(early, local()));
    assert_eq!(v, floe_ice::Verdict::NotForUs);
    assert_eq!(state(&w), IceConnectionState::Failed);
    assert!(w.agent.selected_path().is_none());
}

#[test]
fn authenticated_403_revokes_consent() {
    let mut w = Wire::connected(AgentConfig::default());
    w.advance(Duration::from_secs(7));
    let tid = consent_requests(&w)[0];
    w.receive(remote(), &error(tid, ErrorCode::FORBIDDEN));
    assert_eq!(state(&w), IceConnectionState::Failed);
    assert_eq!(w.agent.failure(), Some(IceFailure::ConsentRevoked));
    let mut buf = [0u8; 64];
    assert_eq!(w.agent.send(b"x", &mut buf), Err(IceError::NotConnected));
}

#[test]
fn consent_interval_cannot_go_below_4s() {
    let mut w = Wire::connected(AgentConfig {
        consent_interval: Duration::from_millis(100),
        ..AgentConfig::default()
    });
    let mut times: Vec<Instant> = Vec::new();
    let mut seen = 0;
    for _ in 0..200 {
        w.advance(100 * MS);
        let ids = consent_requests(&w);
        for _ in seen..ids.len() {
            times.push(w.now);
        }
        seen = ids.len();
        w.answer_requests_to(remote());
        seen = seen.min(consent_requests(&w).len());
    }
    assert!(times.len() >= 3, "{}", times.len());
    for gap in times.windows(2).map(|t| t[1] - t[0]) {
        // 4 s less 20 % jitter (RFC 7675 §5.1).
        assert!(gap >= Duration::from_millis(3200), "{gap:?}");
    }
}

#[test]
fn consent_keeps_running_on_the_old_path_during_restart() {
    let mut w = Wire::connected(AgentConfig::default());
    let old_ufrag = w.local_ufrag();
    let path = w.agent.selected_path();
    w.agent.restart(w.now);
    w.drain();
    assert_ne!(w.local_ufrag(), old_ufrag);
    // No new remote description yet: consent on the old path, with the old credentials.
    for _ in 0..4 {
        w.advance(Duration::from_secs(4));
        let old_requests: Vec<_> = w
            .sent
            .iter()
            .filter(|(t, _)| t.destination == remote())
            .filter_map(|(_, b)| Message::decode(b).ok())
            .filter(|m| m.message_type() == MessageType::BINDING_REQUEST)
            .map(|m| m.get::<Username>().unwrap().unwrap().0.to_owned())
            .collect();
        assert!(old_requests
            .iter()
            .all(|u| u == &format!("{REMOTE_UFRAG}:{old_ufrag}")));
        w.answer_requests_to(remote());
        assert_eq!(w.agent.selected_path(), path);
        assert_ne!(state(&w), IceConnectionState::Failed);
    }
}

#[test]
fn disconnected_after_one_unanswered_consent_request() {
    let mut w = Wire::connected(AgentConfig::default());
    // Answer the first consent request, then stop.
    while consent_requests(&w).is_empty() {
        w.advance(100 * MS);
    }
    w.answer_requests_to(remote());
    while consent_requests(&w).is_empty() {
        w.advance(10 * MS);
    }
    let sent_at = w.now;
    while state(&w) != IceConnectionState::Disconnected {
        w.advance(10 * MS);
        assert!(
            w.now - sent_at < Duration::from_secs(2),
            "still {:?}",
            state(&w)
        );
    }
    let after = w.now - sent_at;
    println!("disconnected {after:?} after the unanswered request");
    assert!(after >= Duration::from_millis(490) && after <= Duration::from_millis(600));
    // The next answered request brings it back.
    w.take_sent();
    while consent_requests(&w).is_empty() {
        w.advance(100 * MS);
    }
    w.answer_requests_to(remote());
    assert_eq!(state(&w), IceConnectionState::Connected);
}

#[test]
fn failed_30s_after_last_response_says_consent_expired() {
    let mut w = Wire::connected(AgentConfig::default());
    let last_response = w.now;
    while state(&w) != IceConnectionState::Failed {
        w.advance(100 * MS);
        assert!(w.now - last_response < Duration::from_secs(31));
    }
    assert!(w.now - last_response >= Duration::from_secs(30));
    assert_eq!(w.agent.failure(), Some(IceFailure::ConsentExpired));
    assert!(IceFailure::ConsentExpired
        .to_string()
        .contains("consent expired"));
}

#[test]
fn failed_is_sticky_until_restart() {
    let mut w = Wire::connected(AgentConfig::default());
    w.advance(Duration::from_secs(31));
    assert_eq!(state(&w), IceConnectionState::Failed);
    // The peer comes back: its checks are answered, ours succeed, but `failed` stays.
    let c = check(&w, &Check::from_controlled());
    w.receive(remote(), &c);
    for _ in 0..20 {
        w.advance(100 * MS);
        w.answer_requests_to(remote());
    }
    assert_eq!(state(&w), IceConnectionState::Failed);
    let failed_events = w
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                floe_ice::IceEvent::ConnectionStateChange(IceConnectionState::Failed)
            )
        })
        .count();
    assert_eq!(failed_events, 1);
    w.agent.restart(w.now);
    w.drain();
    assert_ne!(state(&w), IceConnectionState::Failed);
    assert_eq!(w.agent.failure(), None);
}

fn indications_to(w: &Wire) -> usize {
    w.sent
        .iter()
        .filter(|(t, b)| {
            t.destination == remote()
                && Message::decode(b)
                    .is_ok_and(|m| m.message_type() == MessageType::BINDING_INDICATION)
        })
        .count()
}

#[test]
fn keepalive_after_15s_without_traffic() {
    // Consent every 20 s (its timeout raised to match): the gap leaves room for a keepalive.
    let mut w = Wire::connected(AgentConfig {
        consent_interval: Duration::from_secs(20),
        consent_timeout: Duration::from_secs(60),
        ..AgentConfig::default()
    });
    w.advance(Duration::from_secs(14));
    assert_eq!(indications_to(&w), 0);
    w.advance(Duration::from_secs(2));
    assert_eq!(indications_to(&w), 1);
    // Application data counts as traffic: no keepalive while it flows.
    w.take_sent();
    let mut buf = [0u8; 64];
    for _ in 0..20 {
        let _ = w.agent.send(b"data", &mut buf).unwrap();
        w.advance(Duration::from_secs(1));
        w.answer_requests_to(remote());
    }
    assert_eq!(indications_to(&w), 0);
}

#[test]
fn lite_agent_sends_keepalives() {
    let mut w = Wire::lite_selected();
    w.advance(Duration::from_secs(16));
    assert_eq!(indications_to(&w), 1);
}

#[test]
fn keepalive_interval_cannot_go_below_15s() {
    let mut w = Wire::new(AgentConfig {
        lite: true,
        keepalive_interval: Duration::from_secs(1),
        ..AgentConfig::default()
    });
    let c = check(&w, &Check::nominating());
    w.receive(remote(), &c);
    w.take_sent();
    w.advance(Duration::from_secs(14));
    assert_eq!(indications_to(&w), 0);
    w.advance(Duration::from_secs(2));
    assert_eq!(indications_to(&w), 1);
}
