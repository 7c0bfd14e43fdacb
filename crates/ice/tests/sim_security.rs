//! An attacker who knows the ICE credentials spoofs a USE-CANDIDATE check from a third host's
//! address (RFC 7675 §5.1: no application data before consent). In the simulator, with real
//! peers connecting at the same time.

mod sim_common;

use std::time::Duration;

use floe_netsim::{Datagram, LinkConfig, Nat, Probe};
use floe_stun::attributes::{IceControlling, Priority, UseCandidate, Username};
use floe_stun::{is_stun, IntegrityKey, MessageType, MessageWriter, TransactionId};
use sim_common::*;

#[test]
fn spoofed_use_candidate_from_a_third_host_never_gets_application_data() {
    let mut duo = Duo::new(Setup {
        nats: [Nat::open(), Nat::open()],
        links: [
            LinkConfig::with_latency(10 * MS),
            LinkConfig::with_latency(10 * MS),
        ],
        ..Setup::default()
    });
    let controlled = (0..2)
        .find(|s| !duo.agent_ref(*s).is_controlling())
        .unwrap();
    let victim = duo.sim.add_public_host(Probe::new());
    let victim_addr = duo.sim.addr(victim, 9999);
    // The check the attacker forges, as if from the victim: signed with the controlled
    // agent's password, claiming the controlling role, nominating.
    let target = duo.addr(controlled);
    let creds = duo.agent_ref(controlled).local_credentials().clone();
    let peer_ufrag = duo
        .agent_ref(1 - controlled)
        .local_credentials()
        .ufrag
        .clone();
    let mut buf = [0u8; 256];
    let mut w = MessageWriter::new(
        &mut buf,
        MessageType::BINDING_REQUEST,
        TransactionId::new([0x5a; 12]),
    )
    .unwrap();
    w.add(&Username(&format!("{}:{peer_ufrag}", creds.ufrag)))
        .unwrap();
    w.add(&Priority(u32::MAX >> 1)).unwrap();
    w.add(&IceControlling(u64::MAX)).unwrap();
    w.add(&UseCandidate).unwrap();
    w.add_message_integrity(&IntegrityKey::short_term(&creds.pwd))
        .unwrap();
    w.add_fingerprint().unwrap();
    let len = w.finish();
    duo.sim
        .send(victim, Datagram::new(victim_addr, target, &buf[..len]));

    // The real peers connect meanwhile; the controlled side keeps trying to send data.
    // Every 5 ms at first, so an attempt falls before the real pair is selected.
    let mut sent = 0;
    for i in 0..600 {
        duo.run_for(if i < 200 { 5 * MS } else { 100 * MS });
        if duo.send_data(controlled, b"for the peer only").is_ok() {
            sent += 1;
        }
    }
    assert!(sent > 400, "the real connection works: {sent}");
    assert!(duo.exchange_data("after", Duration::from_secs(1)));
    let got = &duo.sim.endpoint::<Probe>(victim).received;
    assert!(!got.is_empty(), "the victim got our answer and checks");
    assert!(
        got.iter().all(|r| is_stun(&r.payload)),
        "application data reached the victim"
    );
    assert_ne!(
        duo.agent_ref(controlled).selected_path().map(|p| p.1),
        Some(victim_addr)
    );
}
