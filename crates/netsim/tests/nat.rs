//! RFC 4787 NAT behaviours: mapping (§4.1), port assignment (§4.1.1), refresh and timeout
//! (§4.3), filtering (§5) and hairpinning (§6).

use std::net::SocketAddr;
use std::time::Duration;

use floe_netsim::{
    DropReason, FilteringBehavior, HostId, MappingBehavior, Nat, PortAssignment, Probe, Sim,
};

const MS: Duration = Duration::from_millis(1);

/// Sends one datagram from `from` (a host) and runs the simulation for a while.
fn send(sim: &mut Sim, host: HostId, from: SocketAddr, to: SocketAddr, payload: &[u8]) {
    sim.endpoint_mut::<Probe>(host)
        .send(from, to, payload.to_vec());
    sim.run_for(10 * MS);
}

/// [`send`] with the addresses evaluated before the simulation is borrowed mutably.
macro_rules! send {
    ($sim:expr, $host:expr, $from:expr, $to:expr, $payload:expr) => {{
        let (from, to) = ($from, $to);
        send(&mut $sim, $host, from, to, $payload)
    }};
}

fn received(sim: &mut Sim, host: HostId) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
    sim.endpoint_mut::<Probe>(host)
        .take_received()
        .into_iter()
        .map(|r| (r.local, r.remote, r.payload))
        .collect()
}

/// A host behind `nat` and two public probes; returns (sim, inside, public1, public2).
fn setup(nat: Nat) -> (Sim, HostId, HostId, HostId) {
    let mut sim = Sim::new(11);
    let inside = sim.add_host_behind(nat, Probe::new());
    let p1 = sim.add_public_host(Probe::new());
    let p2 = sim.add_public_host(Probe::new());
    (sim, inside, p1, p2)
}

#[test]
fn endpoint_independent_mapping_reuses_port_for_all_destinations() {
    let (mut sim, a, p1, p2) = setup(Nat::port_restricted());
    let local = sim.addr(a, 5000);
    for (peer, port) in [(p1, 1000), (p1, 2000), (p2, 1000)] {
        send!(sim, a, local, sim.addr(peer, port), b"x");
    }
    let seen: Vec<SocketAddr> = [p1, p2]
        .into_iter()
        .flat_map(|p| received(&mut sim, p))
        .map(|(_, remote, _)| remote)
        .collect();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|&s| s == seen[0]), "{seen:?}");
    let SocketAddr::V4(_) = seen[0] else { panic!() };
    assert_eq!(seen[0].port(), 5000, "port preservation (§4.1.1)");
    assert_ne!(seen[0].ip(), local.ip());
    let net = sim.network_of(a).unwrap();
    assert_eq!(seen[0].ip(), sim.public_ip(net));
    assert_eq!(sim.nat_stats(net).mappings_created, 1);
    assert_eq!(sim.mappings(net).len(), 1);
}

#[test]
fn address_and_port_dependent_mapping_differs_per_destination() {
    let (mut sim, a, p1, p2) = setup(Nat::symmetric());
    let local = sim.addr(a, 5000);
    send!(sim, a, local, sim.addr(p1, 1000), b"1");
    send!(sim, a, local, sim.addr(p1, 2000), b"2");
    send!(sim, a, local, sim.addr(p2, 1000), b"3");
    send!(sim, a, local, sim.addr(p1, 1000), b"4");
    let at_p1 = received(&mut sim, p1);
    let at_p2 = received(&mut sim, p2);
    let first = at_p1[0].1;
    let other_port = at_p1[1].1;
    let other_host = at_p2[0].1;
    assert_ne!(first, other_port);
    assert_ne!(first, other_host);
    assert_ne!(other_port, other_host);
    assert_eq!(at_p1[2].1, first, "the same destination reuses its mapping");
}

#[test]
fn address_dependent_mapping_shares_port_across_ports_of_one_address() {
    let nat = Nat::custom(
        MappingBehavior::AddressDependent,
        FilteringBehavior::AddressAndPortDependent,
    );
    let (mut sim, a, p1, p2) = setup(nat);
    let local = sim.addr(a, 5000);
    send!(sim, a, local, sim.addr(p1, 1000), b"1");
    send!(sim, a, local, sim.addr(p1, 2000), b"2");
    send!(sim, a, local, sim.addr(p2, 1000), b"3");
    let at_p1 = received(&mut sim, p1);
    let at_p2 = received(&mut sim, p2);
    assert_eq!(at_p1[0].1, at_p1[1].1);
    assert_ne!(at_p1[0].1, at_p2[0].1);
}

#[test]
fn random_port_assignment_does_not_preserve_ports() {
    let nat = Nat::full_cone().with_port_assignment(PortAssignment::Random);
    let (mut sim, a, p1, _) = setup(nat);
    send!(sim, a, sim.addr(a, 5000), sim.addr(p1, 1), b"x");
    let seen = received(&mut sim, p1)[0].1;
    assert_ne!(seen.port(), 5000);
    assert!(seen.port() >= 1024);
}

/// Opens a mapping from `a` to `p1:1000` and returns the external address.
fn open_mapping(sim: &mut Sim, a: HostId, p1: HostId) -> SocketAddr {
    send!(*sim, a, sim.addr(a, 5000), sim.addr(p1, 1000), b"open");
    received(sim, p1)[0].1
}

/// Sends from each (host, port) to `external` and returns which ones got through.
fn probe_filter(
    sim: &mut Sim,
    a: HostId,
    external: SocketAddr,
    from: &[(HostId, u16)],
) -> Vec<bool> {
    from.iter()
        .map(|&(h, port)| {
            send!(*sim, h, sim.addr(h, port), external, b"in");
            let got = received(sim, a);
            got.len() == 1 && got[0].0 == sim.addr(a, 5000)
        })
        .collect()
}

#[test]
fn endpoint_independent_filtering_delivers_from_any_endpoint() {
    let (mut sim, a, p1, p2) = setup(Nat::full_cone());
    let external = open_mapping(&mut sim, a, p1);
    let got = probe_filter(&mut sim, a, external, &[(p1, 1000), (p1, 9), (p2, 9)]);
    assert_eq!(got, [true, true, true]);
}

#[test]
fn address_dependent_filtering_drops_unsolicited_addresses_but_not_other_ports() {
    let (mut sim, a, p1, p2) = setup(Nat::address_restricted());
    let external = open_mapping(&mut sim, a, p1);
    let got = probe_filter(&mut sim, a, external, &[(p1, 1000), (p1, 9), (p2, 1000)]);
    assert_eq!(got, [true, true, false]);
    assert_eq!(sim.drops(DropReason::Filtered), 1);
}

#[test]
fn address_and_port_dependent_filtering_drops_unsolicited_ports() {
    let (mut sim, a, p1, p2) = setup(Nat::port_restricted());
    let external = open_mapping(&mut sim, a, p1);
    let got = probe_filter(&mut sim, a, external, &[(p1, 1000), (p1, 9), (p2, 1000)]);
    assert_eq!(got, [true, false, false]);
    assert_eq!(sim.drops(DropReason::Filtered), 2);
}

#[test]
fn unsolicited_datagram_without_mapping_is_dropped_even_by_full_cone() {
    let (mut sim, a, p1, _) = setup(Nat::full_cone());
    let net = sim.network_of(a).unwrap();
    let target = SocketAddr::new(sim.public_ip(net), 5000);
    send!(sim, p1, sim.addr(p1, 1000), target, b"knock");
    assert!(received(&mut sim, a).is_empty());
    assert_eq!(sim.drops(DropReason::NoMapping), 1);
    assert_eq!(sim.nat_stats(net).no_mapping, 1);
}

fn hairpin_setup(hairpinning: bool) -> (Sim, HostId, HostId, HostId) {
    let mut sim = Sim::new(5);
    let config = Nat::port_restricted()
        .with_hairpinning(hairpinning)
        .config()
        .cloned()
        .unwrap();
    let net = sim.add_nat(config);
    let a = sim.add_private_host(net, Probe::new());
    let b = sim.add_private_host(net, Probe::new());
    let p = sim.add_public_host(Probe::new());
    (sim, a, b, p)
}

#[test]
fn hairpinning_delivers_when_enabled() {
    let (mut sim, a, b, p) = hairpin_setup(true);
    let a_ext = open_mapping(&mut sim, a, p);
    // B's first datagram to A's external address opens B's mapping but A's port-restricted
    // filter has not seen B's external address yet; A answers B's external address, then B
    // gets through.
    send!(sim, b, sim.addr(b, 6000), a_ext, b"b1");
    assert!(received(&mut sim, a).is_empty());
    let b_ext = {
        let mappings = sim.mappings(sim.network_of(b).unwrap());
        mappings
            .iter()
            .find(|m| m.internal == sim.addr(b, 6000))
            .unwrap()
            .external
    };
    send!(sim, a, sim.addr(a, 5000), b_ext, b"a1");
    let at_b = received(&mut sim, b);
    assert_eq!(at_b.len(), 1);
    assert_eq!(
        at_b[0].1, a_ext,
        "REQ-9: the receiver sees the external source (§6)"
    );
    send!(sim, b, sim.addr(b, 6000), a_ext, b"b2");
    let at_a = received(&mut sim, a);
    assert_eq!(at_a, [(sim.addr(a, 5000), b_ext, b"b2".to_vec())]);
}

#[test]
fn hairpinning_refused_when_disabled() {
    let (mut sim, a, b, p) = hairpin_setup(false);
    let a_ext = open_mapping(&mut sim, a, p);
    send!(sim, b, sim.addr(b, 6000), a_ext, b"b1");
    assert!(received(&mut sim, a).is_empty());
    assert_eq!(sim.drops(DropReason::HairpinRefused), 1);
}

#[test]
fn hosts_of_one_network_reach_each_other_directly_over_the_lan() {
    let (mut sim, a, b, _) = hairpin_setup(false);
    send!(sim, a, sim.addr(a, 5000), sim.addr(b, 6000), b"lan");
    assert_eq!(received(&mut sim, b)[0].1, sim.addr(a, 5000));
    let net = sim.network_of(a).unwrap();
    assert_eq!(sim.nat_stats(net).outbound, 0);
}

#[test]
fn private_address_of_another_network_is_unroutable() {
    let mut sim = Sim::new(1);
    let a = sim.add_host_behind(Nat::full_cone(), Probe::new());
    let b = sim.add_host_behind(Nat::full_cone(), Probe::new());
    send!(sim, a, sim.addr(a, 5000), sim.addr(b, 5000), b"x");
    assert!(received(&mut sim, b).is_empty());
    assert_eq!(sim.drops(DropReason::Unroutable), 1);
}

#[test]
fn mapping_expires_after_timeout() {
    let (mut sim, a, p1, _) = setup(Nat::full_cone().with_mapping_timeout(Duration::from_secs(30)));
    let external = open_mapping(&mut sim, a, p1);
    let from_p1 = (p1, 1000);
    // Still alive just before the timeout; inbound traffic does not refresh it (§4.3).
    sim.run_for(Duration::from_secs(29));
    assert_eq!(probe_filter(&mut sim, a, external, &[from_p1]), [true]);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(probe_filter(&mut sim, a, external, &[from_p1]), [false]);
    assert_eq!(sim.drops(DropReason::NoMapping), 1);
    let net = sim.network_of(a).unwrap();
    assert_eq!(sim.nat_stats(net).mappings_expired, 1);
    assert!(sim.mappings(net).is_empty());
}

#[test]
fn outbound_traffic_refreshes_mapping() {
    let (mut sim, a, p1, _) = setup(Nat::symmetric().with_mapping_timeout(Duration::from_secs(30)));
    let external = open_mapping(&mut sim, a, p1);
    for _ in 0..4 {
        sim.run_for(Duration::from_secs(20));
        send!(sim, a, sim.addr(a, 5000), sim.addr(p1, 1000), b"keepalive");
        assert_eq!(
            received(&mut sim, p1)[0].1,
            external,
            "same mapping, refreshed"
        );
    }
    sim.run_for(Duration::from_secs(31));
    send!(sim, a, sim.addr(a, 5000), sim.addr(p1, 1000), b"again");
    assert_ne!(
        received(&mut sim, p1)[0].1,
        external,
        "a new random port after expiry"
    );
}
