//! Roles: role conflicts (RFC 8445 §7.3.1.1, §7.2.5.1) and ICE-lite peers (§2.5, §6.1.1).

mod sim_common;

use std::time::Duration;

use floe_ice::{AgentConfig, IceEvent};
use floe_netsim::{LinkConfig, Nat};
use sim_common::*;

fn conflict(controlling: bool, seed: u64) {
    let config = AgentConfig {
        controlling,
        ..AgentConfig::default()
    };
    let mut duo = Duo::new(Setup {
        nats: [Nat::port_restricted(), Nat::address_restricted()],
        links: [
            LinkConfig::with_latency(10 * MS),
            LinkConfig::with_latency(15 * MS),
        ],
        configs: [config.clone(), config],
        stun: true,
        seed,
        ..Setup::default()
    });
    assert!(
        duo.run_until_connected(Duration::from_secs(10)),
        "both {} (seed {seed}): {:?} / {:?}",
        if controlling {
            "controlling"
        } else {
            "controlled"
        },
        duo.node_ref(0).states(),
        duo.node_ref(1).states()
    );
    assert!(duo.exchange_data("roles", Duration::from_secs(1)));
    let roles = [0, 1].map(|s| duo.agent_ref(s).is_controlling());
    assert!(roles[0] != roles[1], "exactly one side controls: {roles:?}");
    // The side that switched said so.
    let switched = (0..2)
        .filter(|s| {
            duo.node_ref(*s)
                .log
                .iter()
                .any(|(_, e)| matches!(e, IceEvent::RoleChange { .. }))
        })
        .count();
    assert!(switched >= 1);
    // Both select the same path (mirrored).
    let p0 = duo.agent_ref(0).selected_path().unwrap();
    let p1 = duo.agent_ref(1).selected_path().unwrap();
    println!(
        "both {}: seed {seed}, connected at {:?}, roles {roles:?}, paths {p0:?} / {p1:?}",
        if controlling {
            "controlling"
        } else {
            "controlled"
        },
        duo.elapsed()
    );
}

#[test]
fn both_controlling_resolves_to_one_controlling_side_and_connects() {
    for seed in 1..=5 {
        conflict(true, seed);
    }
}

#[test]
fn both_controlled_resolves_to_one_controlling_side_and_connects() {
    for seed in 1..=5 {
        conflict(false, seed);
    }
}

fn lite(lite_side: usize) {
    let full = 1 - lite_side;
    let mut configs = [AgentConfig::default(), AgentConfig::default()];
    configs[lite_side].lite = true;
    let mut remote_lite = [false, false];
    remote_lite[full] = true;
    let mut nats = [Nat::full_cone(), Nat::full_cone()];
    // A lite agent sits on a public address (RFC 8445 §2.5).
    nats[lite_side] = Nat::open();
    let mut duo = Duo::new(Setup {
        nats,
        links: [
            LinkConfig::with_latency(10 * MS),
            LinkConfig::with_latency(10 * MS),
        ],
        configs,
        remote_lite,
        stun: true,
        ..Setup::default()
    });
    assert!(duo.agent_ref(full).is_controlling());
    assert!(!duo.agent_ref(lite_side).is_controlling());
    assert!(
        duo.run_until_connected(Duration::from_secs(5)),
        "{:?} / {:?}",
        duo.node_ref(0).states(),
        duo.node_ref(1).states()
    );
    assert!(duo.exchange_data("lite", Duration::from_secs(1)));
    assert!(duo.agent_ref(full).is_controlling());
    assert!(!duo.agent_ref(lite_side).is_controlling());
    // The lite agent sends no checks of its own, only answers.
    let lite_checks: u64 = duo
        .agent_ref(lite_side)
        .pairs()
        .iter()
        .map(|p| p.stats().requests_sent)
        .sum();
    assert_eq!(lite_checks, 0);
    println!("lite on side {lite_side}: connected at {:?}", duo.elapsed());
}

#[test]
fn lite_agent_on_side_0_connects_with_full_controlling_peer() {
    lite(0);
}

#[test]
fn lite_agent_on_side_1_connects_with_full_controlling_peer() {
    lite(1);
}
