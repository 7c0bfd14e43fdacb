//! Link impairments: latency, jitter, loss, duplication, reordering, MTU.

use std::time::Duration;

use floe_netsim::{DropReason, HostId, LinkConfig, Nat, Probe, Sim};

const MS: Duration = Duration::from_millis(1);

fn pair(seed: u64) -> (Sim, HostId, HostId) {
    let mut sim = Sim::new(seed);
    let a = sim.add_public_host(Probe::new());
    let b = sim.add_public_host(Probe::new());
    (sim, a, b)
}

fn send_n(sim: &mut Sim, a: HostId, b: HostId, n: usize, len: usize) {
    let (from, to) = (sim.addr(a, 1), sim.addr(b, 2));
    let probe = sim.endpoint_mut::<Probe>(a);
    for i in 0..n {
        let mut payload = vec![0u8; len.max(4)];
        payload[..4].copy_from_slice(&(i as u32).to_be_bytes());
        payload.truncate(len);
        probe.send(from, to, payload);
    }
}

fn seqs(sim: &Sim, b: HostId) -> Vec<u32> {
    sim.endpoint::<Probe>(b)
        .received
        .iter()
        .map(|r| u32::from_be_bytes(r.payload[..4].try_into().unwrap()))
        .collect()
}

#[test]
fn packet_arrives_exactly_latency_later_with_zero_jitter() {
    let (mut sim, a, b) = pair(1);
    sim.set_link(a, LinkConfig::with_latency(15 * MS));
    sim.set_link(b, LinkConfig::with_latency(5 * MS));
    sim.run_for(3 * MS);
    let sent_at = sim.now();
    send_n(&mut sim, a, b, 1, 8);
    sim.run_for(19 * MS);
    assert!(
        sim.endpoint::<Probe>(b).received.is_empty(),
        "not before 20 ms"
    );
    sim.run_for(MS);
    let got = &sim.endpoint::<Probe>(b).received;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].at - sent_at, 20 * MS);
}

#[test]
fn latency_through_nat_adds_wan_link() {
    let mut sim = Sim::new(1);
    let config = Nat::full_cone().config().cloned().unwrap();
    let net = sim.add_nat(config);
    let a = sim.add_private_host(net, Probe::new());
    let b = sim.add_public_host(Probe::new());
    sim.set_link(a, LinkConfig::with_latency(MS));
    sim.set_wan_link(net, LinkConfig::with_latency(30 * MS));
    sim.set_link(b, LinkConfig::with_latency(4 * MS));
    send_n(&mut sim, a, b, 1, 8);
    assert!(sim.run_until_condition(
        |s| !s.endpoint::<Probe>(b).received.is_empty(),
        Duration::from_secs(1)
    ));
    assert_eq!(sim.elapsed(), 35 * MS);
    assert_eq!(sim.wan_stats(net).up.delivered, 1);
}

#[test]
fn loss_and_duplication_rates_match_config_over_many_packets() {
    let (mut sim, a, b) = pair(2024);
    let n = 20_000;
    sim.set_link(a, LinkConfig::default().loss(0.1).duplicate(0.05));
    send_n(&mut sim, a, b, n, 32);
    sim.run_for(Duration::from_secs(1));
    let up = sim.link_stats(a).up;
    assert_eq!(up.sent, n as u64);
    // Binomial standard deviations: loss ~42, duplication ~30; allow about five of them.
    assert!((1800..=2200).contains(&up.lost), "lost {}", up.lost);
    assert!(
        (750..=1050).contains(&up.duplicated),
        "duplicated {}",
        up.duplicated
    );
    assert_eq!(up.delivered, n as u64 - up.lost + up.duplicated);
    assert_eq!(sim.drops(DropReason::Lost), up.lost);
    let received = sim.endpoint::<Probe>(b).received.len() as u64;
    assert_eq!(received, up.delivered);
    assert_eq!(sim.link_stats(b).down.delivered, received);
}

#[test]
fn mtu_drops_oversized() {
    let (mut sim, a, b) = pair(3);
    sim.set_link(b, LinkConfig::default().mtu(1200));
    // IPv4: 20 bytes of IP header and 8 of UDP.
    send_n(&mut sim, a, b, 1, 1172);
    send_n(&mut sim, a, b, 1, 1173);
    sim.run_for(MS);
    let got = &sim.endpoint::<Probe>(b).received;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload.len(), 1172);
    assert_eq!(sim.link_stats(b).down.oversized, 1);
    assert_eq!(sim.drops(DropReason::Oversized), 1);
}

#[test]
fn jitter_alone_keeps_order_and_reordering_breaks_it() {
    let (mut sim, a, b) = pair(4);
    sim.set_link(a, LinkConfig::with_latency(10 * MS).jitter(20 * MS));
    for _ in 0..50 {
        send_n(&mut sim, a, b, 1, 8);
        sim.run_for(MS);
    }
    sim.run_for(Duration::from_secs(1));
    let got = seqs(&sim, b);
    assert_eq!(got.len(), 50);
    assert!(got.windows(2).all(|w| w[0] <= w[1]));

    let (mut sim, a, b) = pair(4);
    sim.set_link(a, LinkConfig::with_latency(10 * MS).reorder(0.3, 5 * MS));
    for i in 0..100u32 {
        let (from, to) = (sim.addr(a, 1), sim.addr(b, 2));
        sim.endpoint_mut::<Probe>(a)
            .send(from, to, i.to_be_bytes().to_vec());
        sim.run_for(MS);
    }
    sim.run_for(Duration::from_secs(1));
    let got = seqs(&sim, b);
    assert_eq!(got.len(), 100);
    assert!(got.windows(2).any(|w| w[0] > w[1]), "some overtaking");
    assert!(sim.link_stats(a).up.reordered > 10);
}
