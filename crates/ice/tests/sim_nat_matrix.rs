//! The NAT matrix: every combination of open, full-cone, address-restricted, port-restricted
//! and symmetric NAT on each side, each host behind its own NAT on the simulated internet with
//! a STUN server, and the outcome RFC 4787 predicts for direct (non-relayed) ICE.

mod sim_common;

use std::time::Duration;

use floe_ice::IceConnectionState;
use floe_netsim::Nat;
use sim_common::*;

/// What a pair of NATs should give.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// A direct path (host, server- or peer-reflexive candidates) is found.
    Direct,
    /// No direct path exists; without TURN the agents fail cleanly. When TURN lands these
    /// become "relayed".
    Fail,
}

const KINDS: [&str; 5] = [
    "open",
    "full-cone",
    "addr-restricted",
    "port-restricted",
    "symmetric",
];

fn nat(kind: &str) -> Nat {
    match kind {
        "open" => Nat::open(),
        "full-cone" => Nat::full_cone(),
        "addr-restricted" => Nat::address_restricted(),
        "port-restricted" => Nat::port_restricted(),
        "symmetric" => Nat::symmetric(),
        _ => unreachable!(),
    }
}

/// RFC 4787: a symmetric NAT (address-and-port-dependent mapping) shows the peer a new port
/// for every destination, so only a peer whose filtering ignores the port (open, full cone,
/// address-restricted) can be reached without a relay.
fn expected(a: &str, b: &str) -> Expect {
    let strict = |k: &str| matches!(k, "port-restricted" | "symmetric");
    if (a == "symmetric" && strict(b)) || (b == "symmetric" && strict(a)) {
        Expect::Fail
    } else {
        Expect::Direct
    }
}

#[test]
fn nat_matrix_connects_what_rfc4787_allows_and_fails_the_rest_cleanly() {
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (i, a) in KINDS.iter().enumerate() {
        for (j, b) in KINDS.iter().enumerate() {
            let expect = expected(a, b);
            let setup = Setup {
                nats: [nat(a), nat(b)],
                stun: true,
                seed: 100 + (i * 5 + j) as u64,
                links: [
                    floe_netsim::LinkConfig::with_latency(5 * MS),
                    floe_netsim::LinkConfig::with_latency(5 * MS),
                ],
                ..Setup::default()
            };
            let mut duo = Duo::new(setup);
            let line = match expect {
                Expect::Direct => {
                    let ok = duo.run_until_connected(Duration::from_secs(10));
                    let t = duo.elapsed();
                    let data = ok && duo.exchange_data("matrix", Duration::from_secs(1));
                    let kinds = duo.node_ref(0).selected_kinds();
                    if !ok || !data {
                        failures.push(format!(
                            "{a} x {b}: expected a direct path; connected={ok} data={data} \
                             states {:?} / {:?}",
                            duo.node_ref(0).states(),
                            duo.node_ref(1).states()
                        ));
                    }
                    format!("{a:>15} x {b:<15} connected at {t:?} via {kinds:?}")
                }
                Expect::Fail => {
                    let failed = duo.run_until(
                        |d| {
                            d.state(0) == IceConnectionState::Failed
                                && d.state(1) == IceConnectionState::Failed
                        },
                        Duration::from_secs(45),
                    );
                    let t = duo.elapsed();
                    let eoc = duo.delivered[0]
                        .iter()
                        .chain(duo.delivered[1].iter())
                        .any(|(_, s)| matches!(s, Signal::EndOfCandidates));
                    let never_connected = (0..2).all(|s| {
                        duo.node_ref(s)
                            .first_time(IceConnectionState::Connected)
                            .is_none()
                    });
                    if !failed || !eoc || !never_connected {
                        failures.push(format!(
                            "{a} x {b}: expected failed within 45 s; got {:?} / {:?}",
                            duo.node_ref(0).states(),
                            duo.node_ref(1).states()
                        ));
                    }
                    format!("{a:>15} x {b:<15} failed at {t:?} (no relay yet)")
                }
            };
            report.push(line);
        }
    }
    for line in &report {
        println!("{line}");
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
