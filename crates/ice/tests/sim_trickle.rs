//! Trickle ICE (RFC 8838) orderings: candidates before credentials, end-of-candidates before
//! any candidate, and late candidates after the connection is up.

mod sim_common;

use std::net::SocketAddr;
use std::time::Duration;

use floe_ice::{Candidate, CandidateKind, IceConnectionState, IceEvent};
use floe_netsim::{LinkConfig, Nat};
use sim_common::*;

fn lan(rtt_quarter: Duration) -> [LinkConfig; 2] {
    [
        LinkConfig::with_latency(rtt_quarter),
        LinkConfig::with_latency(rtt_quarter),
    ]
}

#[test]
fn candidates_and_checks_before_credentials_still_connect() {
    // Side i's credentials reach the peer late: checks arrive before the credentials needed
    // to answer them with triggered checks (RFC 8838 §5.3), and candidates before both.
    for delays in [
        [300 * MS, 300 * MS],
        [300 * MS, Duration::ZERO],
        [Duration::ZERO, 300 * MS],
    ] {
        let mut duo = Duo::new(Setup {
            nats: [Nat::full_cone(), Nat::port_restricted()],
            links: lan(5 * MS),
            stun: true,
            credentials_delay: delays,
            ..Setup::default()
        });
        assert!(
            duo.run_until_connected(Duration::from_secs(5)),
            "{delays:?}: {:?} / {:?}",
            duo.node_ref(0).states(),
            duo.node_ref(1).states()
        );
        assert!(duo.exchange_data("late creds", Duration::from_secs(1)));
        // Candidates really did arrive before the credentials.
        for side in 0..2 {
            let first_cand = duo.delivered[side]
                .iter()
                .position(|(_, s)| matches!(s, Signal::Candidate(_)));
            let creds = duo.delivered[side]
                .iter()
                .position(|(_, s)| matches!(s, Signal::Credentials { .. }));
            if delays[1 - side] > Duration::ZERO {
                assert!(first_cand < creds, "side {side}: {:?}", duo.delivered[side]);
            }
        }
        println!(
            "credentials delayed {delays:?}: connected at {:?}",
            duo.elapsed()
        );
    }
}

#[test]
fn candidates_after_remote_end_of_candidates_are_ignored() {
    let mut duo = Duo::new(Setup {
        nats: [Nat::full_cone(), Nat::address_restricted()],
        links: lan(5 * MS),
        stun: true,
        trickle: false,
        forward_end_of_candidates: false,
        ..Setup::default()
    });
    // The peer says "no more candidates" first...
    duo.signal(0, Signal::EndOfCandidates);
    duo.signal(1, Signal::EndOfCandidates);
    duo.run_for(500 * MS);
    // ...and then sends some anyway: RFC 8838 §4.4, they are ignored.
    for side in 0..2 {
        let cands: Vec<Candidate> = duo
            .agent_ref(side)
            .local_candidates()
            .iter()
            .filter(|c| c.kind != CandidateKind::PeerReflexive)
            .cloned()
            .collect();
        assert!(cands.len() >= 2);
        for c in cands {
            duo.signal(1 - side, Signal::Candidate(c));
        }
    }
    duo.run_for(Duration::from_secs(1));
    for side in 0..2 {
        assert!(duo.agent_ref(side).remote_candidates().is_empty());
        assert!(duo.agent_ref(side).pairs().is_empty());
        assert!(!duo.is_connected(side));
    }
    // With nothing to check, the agent fails once the PAC timer (RFC 8863 §4) runs out.
    duo.run_for(Duration::from_secs(40));
    for side in 0..2 {
        assert_eq!(duo.state(side), IceConnectionState::Failed);
        let Some(floe_ice::IceFailure::NoWorkingPair(summary)) = duo.agent_ref(side).failure()
        else {
            panic!("{:?}", duo.agent_ref(side).failure());
        };
        // The late candidates count as ignored, and the words say so.
        assert_eq!(summary.remote_candidates, 0);
        assert!(summary.remote_refused >= 2, "{summary:?}");
        assert!(
            summary.to_string().contains("refused or ignored"),
            "{summary}"
        );
    }
}

#[test]
fn late_higher_priority_candidate_after_connected_does_not_break_the_connection() {
    let mut duo = Duo::new(Setup {
        nats: [Nat::full_cone(), Nat::port_restricted()],
        links: lan(5 * MS),
        stun: true,
        ..Setup::default()
    });
    assert!(duo.run_until_connected(Duration::from_secs(5)));
    duo.run_for(Duration::from_secs(1));
    let paths = [0, 1].map(|s| duo.agent_ref(s).selected_path().unwrap());
    let connected_at = duo.elapsed();
    // A host candidate that outranks everything but leads nowhere, trickled to both sides.
    for side in 0..2 {
        let bogus: SocketAddr = format!("198.18.0.{}:9", side + 1).parse().unwrap();
        duo.signal(
            side,
            Signal::Candidate(Candidate {
                kind: CandidateKind::Host,
                address: bogus,
                base: None,
                priority: u32::MAX - 1,
                foundation: "late".into(),
                component: 1,
                tcp_type: None,
            }),
        );
    }
    duo.run_for(Duration::from_secs(45));
    for (side, path) in paths.into_iter().enumerate() {
        assert_eq!(duo.agent_ref(side).selected_path(), Some(path));
        assert!(
            duo.is_connected(side),
            "side {side}: {:?}",
            duo.node_ref(side).states()
        );
        let after: Vec<_> = duo
            .node_ref(side)
            .log
            .iter()
            .filter(|(t, _)| *t > connected_at)
            .filter(|(_, e)| {
                matches!(
                    e,
                    IceEvent::SelectedPairChange { .. }
                        | IceEvent::ConnectionStateChange(
                            IceConnectionState::Failed | IceConnectionState::Disconnected
                        )
                )
            })
            .collect();
        assert!(after.is_empty(), "side {side}: {after:?}");
        // It came after the peer's end-of-candidates: ignored (RFC 8838 §4.4), and with a
        // pair selected no new pair would form anyway (RFC 8445 §8.1.2).
        assert!(!duo
            .agent_ref(side)
            .remote_candidates()
            .iter()
            .any(|c| c.foundation == "late"));
        assert!(!duo
            .agent_ref(side)
            .pairs()
            .iter()
            .any(|p| p.remote_address().port() == 9));
    }
    assert!(duo.exchange_data("after late", Duration::from_secs(1)));
}
