//! Consent freshness (RFC 7675) in the simulator: a peer that vanishes, and one that comes back.

mod sim_common;

use std::time::Duration;

use floe_ice::{IceConnectionState, IceError};
use floe_netsim::{LinkConfig, Nat};
use sim_common::*;

fn connected_duo() -> Duo {
    let mut duo = Duo::new(Setup {
        nats: [Nat::full_cone(), Nat::address_restricted()],
        links: [
            LinkConfig::with_latency(10 * MS),
            LinkConfig::with_latency(10 * MS),
        ],
        stun: true,
        ..Setup::default()
    });
    assert!(duo.run_until_connected(Duration::from_secs(5)));
    duo.run_for(Duration::from_secs(3));
    duo
}

#[test]
fn peer_vanishes_disconnected_then_failed_after_30s_without_consent() {
    let mut duo = connected_duo();
    let vanished = duo.elapsed();
    // Side 1's network cable is cut.
    duo.sim
        .set_link(duo.hosts[1], LinkConfig::with_latency(10 * MS).loss(1.0));
    duo.run_for(Duration::from_secs(40));
    let node = duo.node_ref(0);
    let disconnected = node.first_time(IceConnectionState::Disconnected).unwrap() - vanished;
    let failed = node.first_time(IceConnectionState::Failed).unwrap() - vanished;
    println!("peer vanished: disconnected after {disconnected:?}, failed after {failed:?}");
    // The last consent response came at most one consent interval (5 s + 20 %) before the cut.
    assert!(disconnected < failed);
    assert!(disconnected <= Duration::from_secs(7));
    assert!(failed >= Duration::from_secs(24) && failed <= Duration::from_secs(30));
    let mut buf = [0u8; 64];
    assert_eq!(
        duo.agent(0).send(b"x", &mut buf),
        Err(IceError::NotConnected)
    );
}

#[test]
fn consent_recovers_after_a_transient_outage() {
    let mut duo = connected_duo();
    let hosts = duo.hosts;
    duo.sim
        .set_link(hosts[1], LinkConfig::with_latency(10 * MS).loss(1.0));
    assert!(duo.run_until(
        |d| d.state(0) == IceConnectionState::Disconnected,
        Duration::from_secs(15)
    ));
    duo.sim
        .set_link(hosts[1], LinkConfig::with_latency(10 * MS));
    assert!(duo.run_until(|d| d.is_connected(0), Duration::from_secs(7)));
    assert!(duo.exchange_data("recovered", Duration::from_secs(1)));
    println!("states of side 0: {:?}", duo.node_ref(0).states());
    assert!(!duo
        .node_ref(0)
        .states()
        .iter()
        .any(|(_, s)| *s == IceConnectionState::Failed));
}
