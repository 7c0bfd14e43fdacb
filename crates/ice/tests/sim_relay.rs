//! Relayed candidates through the simulator's TURN server node: the `relay` transport policy,
//! a dead TURN server and deallocation on close.

mod sim_common;

use std::time::Duration;

use floe_ice::TurnServerConfig;
use floe_ice::{AgentConfig, CandidateKind, IceEvent, IceGatheringState, TransportPolicy};
use floe_netsim::{Nat, TurnNode};
use sim_common::*;

fn relay_only(controlling: bool) -> AgentConfig {
    AgentConfig {
        controlling,
        transport_policy: TransportPolicy::Relay,
        ..AgentConfig::default()
    }
}

#[test]
fn relay_policy_signals_only_relayed_candidates_and_connects_through_the_relay() {
    let mut duo = Duo::new(Setup {
        nats: [Nat::open(), Nat::port_restricted()],
        configs: [relay_only(true), relay_only(false)],
        stun: true,
        turn: true,
        seed: 7,
        ..Setup::default()
    });
    assert!(duo.run_until_connected(Duration::from_secs(5)));
    let t = duo.elapsed();
    assert!(duo.exchange_data("relay-only", Duration::from_secs(1)));
    for side in 0..2 {
        let kinds: Vec<CandidateKind> = duo.delivered[1 - side]
            .iter()
            .filter_map(|(_, s)| match s {
                Signal::Candidate(c) => Some(c.kind),
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            [CandidateKind::Relayed],
            "side {side} signalled {kinds:?}"
        );
        assert_eq!(
            duo.node_ref(side).selected_kinds(),
            Some((CandidateKind::Relayed, CandidateKind::Relayed))
        );
        assert!(
            duo.node_ref(side).relayed_in >= 1,
            "data came framed by the relay"
        );
    }
    println!("relay-only connected at {t:?}");
}

#[test]
fn a_dead_turn_server_holds_gathering_back_no_longer_than_gather_timeout() {
    let dead = TurnServerConfig {
        server: "198.51.100.9:3478".parse().unwrap(),
        transport: Default::default(),
        username: "alice".into(),
        password: "secret".into(),
    };
    let mut configs = Setup::default().configs;
    for c in &mut configs {
        c.turn_servers.push(dead.clone());
    }
    let mut duo = Duo::new(Setup {
        configs,
        stun: true,
        seed: 8,
        ..Setup::default()
    });
    let complete = |d: &mut Duo| {
        (0..2).all(|s| d.agent_ref(s).gathering_state() == IceGatheringState::Complete)
    };
    assert!(duo.run_until(complete, Duration::from_secs(10)));
    let t = duo.elapsed();
    println!("gathering complete at {t:?} with a dead TURN server");
    assert!(
        t >= Duration::from_secs(3) && t <= Duration::from_millis(3100),
        "{t:?}"
    );
    // Direct connectivity is unaffected.
    assert!(duo.run_until_connected(Duration::from_secs(5)));
}

#[test]
fn close_deletes_the_allocation() {
    let mut duo = Duo::new(Setup {
        nats: [Nat::symmetric(), Nat::symmetric()],
        stun: true,
        turn: true,
        seed: 9,
        ..Setup::default()
    });
    assert!(duo.run_until_connected(Duration::from_secs(5)));
    assert!(duo.node_ref(0).relayed() && duo.node_ref(1).relayed());
    let turn = duo.turn.unwrap();
    assert_eq!(
        duo.sim
            .endpoint::<TurnNode>(turn)
            .server()
            .allocation_count(),
        2
    );
    let now = duo.sim.now();
    duo.agent(0).close(now);
    duo.node(0).drain(now);
    assert!(duo
        .node_ref(0)
        .log
        .iter()
        .any(|(_, e)| matches!(e, IceEvent::ConnectionStateChange(s) if s.as_str() == "closed")));
    duo.run_for(Duration::from_millis(200));
    assert_eq!(
        duo.sim
            .endpoint::<TurnNode>(turn)
            .server()
            .allocation_count(),
        1
    );
    assert_eq!(
        duo.agent_ref(0).poll_timeout(),
        None,
        "nothing left to do after close"
    );
}

#[test]
fn allocation_and_permissions_outlive_their_lifetimes_while_ice_runs() {
    // RFC 8445 §5.1.1.4 / §7.2.1: the allocation (10 min) and its permissions (5 min) are
    // refreshed for as long as ICE uses them.
    let mut duo = Duo::new(Setup {
        nats: [Nat::open(), Nat::port_restricted()],
        configs: [relay_only(true), relay_only(false)],
        stun: true,
        turn: true,
        seed: 11,
        ..Setup::default()
    });
    assert!(duo.run_until_connected(Duration::from_secs(5)));
    for minute in 1..=12 {
        duo.run_for(Duration::from_secs(60));
        assert!(
            duo.exchange_data(&format!("minute {minute}"), Duration::from_secs(2)),
            "data through the relay after {minute} min"
        );
        assert!(duo.is_connected(0) && duo.is_connected(1));
    }
}
