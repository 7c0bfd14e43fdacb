//! The NAT matrix: every combination of open, full-cone, address-restricted, port-restricted
//! and symmetric NAT on each side, each host behind its own NAT on the simulated internet with
//! a STUN server and a TURN server (floe-turn's, as a netsim node). Every pair connects:
//! directly where RFC 4787 allows it, through the relay otherwise.

mod sim_common;

use std::time::Duration;

use floe_netsim::Nat;
use sim_common::*;

/// What a pair of NATs should give.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// A direct path (host, server- or peer-reflexive candidates) is found and preferred.
    Direct,
    /// No direct path exists: the selected pair has a relayed candidate.
    Relayed,
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
        Expect::Relayed
    } else {
        Expect::Direct
    }
}

/// Expected table (open / full-cone / addr-restricted / port-restricted / symmetric, D =
/// direct, R = relayed):
///
/// ```text
///                  open  full  addr  port  sym
/// open              D     D     D     D     D
/// full-cone         D     D     D     D     D
/// addr-restricted   D     D     D     D     D
/// port-restricted   D     D     D     D     R
/// symmetric         D     D     D     R     R
/// ```
#[test]
fn nat_matrix_connects_every_pair_directly_or_through_the_relay() {
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (i, a) in KINDS.iter().enumerate() {
        for (j, b) in KINDS.iter().enumerate() {
            let expect = expected(a, b);
            let setup = Setup {
                nats: [nat(a), nat(b)],
                stun: true,
                turn: true,
                seed: 100 + (i * 5 + j) as u64,
                links: [
                    floe_netsim::LinkConfig::with_latency(5 * MS),
                    floe_netsim::LinkConfig::with_latency(5 * MS),
                ],
                ..Setup::default()
            };
            let mut duo = Duo::new(setup);
            let ok = duo.run_until_connected(Duration::from_secs(10));
            let t = duo.elapsed();
            let data = ok && duo.exchange_data("matrix", Duration::from_secs(1));
            let kinds = duo.node_ref(0).selected_kinds();
            let relayed = duo.node_ref(0).relayed() || duo.node_ref(1).relayed();
            let path_ok = match expect {
                Expect::Direct => !relayed,
                Expect::Relayed => relayed,
            };
            if !ok || !data || !path_ok {
                failures.push(format!(
                    "{a} x {b}: expected {expect:?}; connected={ok} data={data} \
                     relayed={relayed} via {kinds:?}; states {:?} / {:?}",
                    duo.node_ref(0).states(),
                    duo.node_ref(1).states()
                ));
            }
            let how = if relayed { "RELAYED" } else { "direct" };
            report.push(format!(
                "{a:>15} x {b:<15} connected at {t:?} {how} via {kinds:?}"
            ));
        }
    }
    for line in &report {
        println!("{line}");
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
