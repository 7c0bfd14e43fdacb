//! Why ICE failed: the summary each failure carries counts what the pairs went through, and
//! says it in words a user can act on (RFC 8489 §9.1.4 for answers that fail their integrity
//! check, RFC 8863 §4 for when the agent gives up).

mod wire;

use std::net::SocketAddr;
use std::time::Duration;

use floe_ice::{AgentConfig, CheckSummary, IceConnectionState, IceFailure, PairFailure};
use floe_stun::attributes::ErrorCode;
use floe_stun::{IntegrityKey, Message, MessageType, MessageWriter, TransactionId};
use wire::*;

/// Past the PAC timer (39.5 s, RFC 8863 §4): the agent has given up.
const PAST_PAC: Duration = Duration::from_secs(40);

fn other_remote() -> SocketAddr {
    "10.0.0.3:6000".parse().unwrap()
}

fn controlling() -> Wire {
    Wire::new(AgentConfig {
        controlling: true,
        ..AgentConfig::default()
    })
}

/// The summary of a `NoWorkingPair` failure.
fn failure_summary(w: &Wire) -> CheckSummary {
    assert_eq!(w.agent.connection_state(), IceConnectionState::Failed);
    match w.agent.failure() {
        Some(IceFailure::NoWorkingPair(summary)) => summary,
        other => panic!("not NoWorkingPair: {other:?}"),
    }
}

/// A 401 to the request `tid`, as a peer that could not authenticate it answers
/// (RFC 8489 §9.1.3): unsigned, or signed with a password the agent does not hold.
fn unauthenticated(tid: TransactionId, signed: bool) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_ERROR, tid).unwrap();
    w.add(&ErrorCode::new(
        ErrorCode::UNAUTHENTICATED,
        "Unauthenticated",
    ))
    .unwrap();
    if signed {
        let theirs = IntegrityKey::short_term("the-peer-has-another-password");
        w.add_message_integrity(&theirs).unwrap();
    }
    w.add_fingerprint().unwrap();
    let len = w.finish();
    buf.truncate(len);
    buf
}

#[test]
fn all_checks_time_out() {
    let mut w = controlling();
    w.add_remote(remote(), 0x7e00_00ff);
    let mut c = host(other_remote(), 0x7e00_00fe);
    c.foundation = "2".into();
    w.agent.add_remote_candidate(w.now, c).unwrap();
    w.advance(Duration::from_secs(1));
    // Before the agent gives up, the summary says the checks are still going.
    let early = w.agent.check_summary();
    assert_eq!((early.pairs, early.in_progress, early.timed_out), (2, 2, 0));
    assert!(early.to_string().contains("2 still unanswered"), "{early}");

    w.advance(PAST_PAC);
    let s = failure_summary(&w);
    assert_eq!(
        (s.local_candidates, s.remote_candidates, s.pairs, s.tried),
        (1, 2, 2, 2)
    );
    // The PAC timer runs from the remote credentials, so the check on the second pair, sent
    // one Ta later, is still being retransmitted when the agent gives up.
    assert_eq!((s.succeeded, s.pending), (0, 0));
    assert_eq!((s.timed_out, s.in_progress), (1, 1));
    assert_eq!(s.error_codes().count(), 0);
    assert_eq!((s.integrity_violated, s.checked_by_peer), (0, 0));
    assert_eq!(w.agent.pairs()[0].failure(), Some(PairFailure::TimedOut));
    assert_eq!(
        w.agent.failure().unwrap().to_string(),
        "no candidate pair succeeded: 2 pairs tried, 1 timed out, 1 still unanswered — nothing \
         answered: the peer's addresses cannot be reached from here (firewall, NAT, another \
         network); a TURN server would get through"
    );
    // Once the last check times out too, every pair has failed for that reason.
    w.advance(Duration::from_secs(1));
    let s = w.agent.check_summary();
    assert_eq!((s.timed_out, s.in_progress), (2, 0));
    for pair in w.agent.pairs() {
        assert_eq!(pair.failure(), Some(PairFailure::TimedOut));
    }
}

#[test]
fn a_401_from_a_peer_with_another_password() {
    let mut w = controlling();
    w.add_remote(remote(), 0x7e00_00ff);
    // The peer answers every check with 401: it cannot authenticate our requests, signed with
    // the ice-pwd signaling gave us. Those answers fail our integrity check in turn, so they
    // are discarded and the checks retransmitted (RFC 8489 §9.1.4) until they time out.
    let mut answered = 0;
    let end = w.now + PAST_PAC;
    while w.now < end {
        w.advance(20 * MS);
        for (t, bytes) in w.take_sent() {
            let Ok(m) = Message::decode(&bytes) else {
                continue;
            };
            if t.destination == remote() && m.message_type() == MessageType::BINDING_REQUEST {
                let answer = unauthenticated(m.transaction_id(), answered % 2 == 1);
                answered += 1;
                w.receive(remote(), &answer);
            }
        }
    }
    // One answer per transmission: the check was retransmitted, not failed at the first 401.
    assert_eq!(answered, 7);
    let s = failure_summary(&w);
    assert_eq!((s.pairs, s.tried, s.timed_out), (1, 1, 0));
    assert_eq!(
        s.error_codes().collect::<Vec<_>>(),
        [(ErrorCode::UNAUTHENTICATED, 1)]
    );
    assert_eq!(
        w.agent.pairs()[0].failure(),
        Some(PairFailure::IntegrityViolated { code: Some(401) })
    );
    assert_eq!(
        s.to_string(),
        "no candidate pair succeeded: 1 pair tried, 1 got 401 Unauthenticated — check the \
         ice-ufrag and ice-pwd passed through signaling"
    );
}

#[test]
fn an_authenticated_error_fails_the_pair_with_its_code() {
    let mut w = controlling();
    w.add_remote(remote(), 0x7e00_00ff);
    w.advance(100 * MS);
    let tid = w.requests_to(remote())[0].0;
    w.receive(remote(), &error(tid, ErrorCode::BAD_REQUEST));
    assert_eq!(
        w.agent.pairs()[0].failure(),
        Some(PairFailure::ErrorResponse(400))
    );
    let s = w.agent.check_summary();
    assert_eq!(s.error_codes().collect::<Vec<_>>(), [(400, 1)]);
    assert_eq!(
        s.to_string(),
        "no candidate pair succeeded: 1 pair tried, 1 got 400 Bad Request"
    );
}

#[test]
fn no_remote_candidates() {
    let mut w = controlling();
    w.advance(PAST_PAC);
    let s = failure_summary(&w);
    assert!(s.remote_credentials);
    assert_eq!((s.local_candidates, s.remote_candidates), (1, 0));
    assert_eq!((s.remote_refused, s.pairs, s.tried), (0, 0, 0));
    assert_eq!(
        w.agent.failure().unwrap().to_string(),
        "the peer sent no candidates — check signaling"
    );
}

#[test]
fn refused_remote_candidates_are_counted() {
    let mut w = controlling();
    let mut bad = host(remote(), 0x7e00_00ff);
    bad.priority = 0;
    assert!(w.agent.add_remote_candidate(w.now, bad).is_err());
    let s = w.agent.check_summary();
    assert_eq!((s.remote_candidates, s.remote_refused), (0, 1));
    assert_eq!(
        s.to_string(),
        "the peer's 1 candidate was refused or ignored — the log says why"
    );
}

#[test]
fn the_peers_checks_that_fail_our_integrity_check_point_at_the_password() {
    let mut w = controlling();
    w.add_remote(remote(), 0x7e00_00ff);
    // The peer signs its checks with a password other than ours: dropped unanswered.
    let forged = check(
        &w,
        &Check {
            sign: false,
            ..Check::from_controlled()
        },
    );
    w.receive(remote(), &forged);
    w.advance(PAST_PAC);
    let s = failure_summary(&w);
    assert_eq!((s.timed_out, s.peer_checks_refused), (1, 1));
    assert!(
        s.to_string()
            .ends_with("— check the ice-ufrag and ice-pwd passed through signaling"),
        "{s}"
    );
}
