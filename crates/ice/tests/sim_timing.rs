//! Time to connected in simulated time, and determinism.

mod sim_common;

use std::time::Duration;

use floe_ice::{CandidateKind, IceConnectionState};
use floe_netsim::{LinkConfig, Nat};
use sim_common::*;

/// Both hosts get half of the one-way delay on their access link, so the path RTT is `rtt`.
fn links(rtt: Duration) -> [LinkConfig; 2] {
    [
        LinkConfig::with_latency(rtt / 4),
        LinkConfig::with_latency(rtt / 4),
    ]
}

/// Runs until both sides are connected; returns (time both had each other's credentials and
/// candidates of `kinds`, time each side reported `connected`).
fn measure(
    nats: [Nat; 2],
    stun: bool,
    rtt: Duration,
    kinds: &[CandidateKind],
) -> (Duration, [Duration; 2]) {
    let mut duo = Duo::new(Setup {
        nats,
        links: links(rtt),
        stun,
        ..Setup::default()
    });
    assert!(duo.run_until_connected(Duration::from_secs(5)));
    assert!(duo.exchange_data("timing", Duration::from_secs(1)));
    let ready = duo
        .signalled_by(0, kinds)
        .unwrap()
        .max(duo.signalled_by(1, kinds).unwrap());
    let connected = [0, 1].map(|s| {
        duo.node_ref(s)
            .first_time(IceConnectionState::Connected)
            .unwrap()
    });
    (ready, connected)
}

#[test]
fn host_to_host_connects_within_three_rtt_plus_ta() {
    for rtt_ms in [10, 100] {
        let rtt = Duration::from_millis(rtt_ms);
        let (ready, connected) = measure(
            [Nat::open(), Nat::open()],
            false,
            rtt,
            &[CandidateKind::Host],
        );
        let took = connected.map(|c| c - ready);
        println!("host<->host, RTT {rtt:?}: ready at {ready:?}, connected after {took:?}");
        let bound = rtt * 3 + TA;
        assert!(took.iter().all(|t| *t <= bound), "{took:?} > {bound:?}");
    }
}

/// Through full-cone NATs the host candidates are useless (private addresses), so the clock
/// starts when both server-reflexive candidates have been exchanged (gathering them is one RTT
/// to the STUN server, not checking time). One more Ta than host↔host is unavoidable: the
/// host↔host pair has the higher priority, so it takes the next free pacer slot (RFC 8445
/// §6.1.4.2) and the server-reflexive pair's check goes one Ta later. Nomination then costs no
/// extra wait: the unroutable host check was sent more than two RTTs before the valid pair
/// succeeded, so the controlling agent nominates at once. Bound: 3 RTT + 2 Ta.
#[test]
fn full_cone_nats_connect_within_three_rtt_plus_two_ta_of_srflx_exchange() {
    for rtt_ms in [10, 100] {
        let rtt = Duration::from_millis(rtt_ms);
        let (ready, connected) = measure(
            [Nat::full_cone(), Nat::full_cone()],
            true,
            rtt,
            &[CandidateKind::ServerReflexive],
        );
        let took = connected.map(|c| c.saturating_sub(ready));
        println!(
            "full cone<->full cone, RTT {rtt:?}: srflx exchanged at {ready:?}, connected at \
             {connected:?}, i.e. after {took:?}"
        );
        let bound = rtt * 3 + TA * 2;
        assert!(took.iter().all(|t| *t <= bound), "{took:?} > {bound:?}");
    }
}

#[test]
fn same_seed_gives_the_same_event_timeline() {
    let run = |seed: u64| {
        let mut duo = Duo::new(Setup {
            nats: [Nat::port_restricted(), Nat::symmetric()],
            links: [
                LinkConfig::with_latency(7 * MS).jitter(5 * MS).loss(0.2),
                LinkConfig::with_latency(3 * MS).jitter(2 * MS),
            ],
            stun: true,
            seed,
            signal_delay: 30 * MS,
            ..Setup::default()
        });
        duo.run_until_connected(Duration::from_secs(30));
        duo.run_for(Duration::from_secs(12));
        (duo.timeline(), duo.sim.trace_hash())
    };
    let (a, ha) = run(7);
    let (b, hb) = run(7);
    assert!(!a.is_empty());
    assert_eq!(a, b);
    assert_eq!(ha, hb);
    let (c, hc) = run(8);
    assert!(
        c != a || hc != ha,
        "a different seed should change something"
    );
}
