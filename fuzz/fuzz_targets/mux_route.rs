//! Fuzzes the shared-socket mux (floe-mux).
//!
//! - The input as one datagram, routed from a learnt address and from an unknown one to a mux
//!   holding sessions, remotes and pending requests: no panic, the tables never grow, every
//!   datagram is routed or counted as dropped, and the sessions still route afterwards.
//! - The input as a sequence of calls (insert, set_ufrag, remove, learn_remote, on_transmit,
//!   route with crafted STUN and data) run against the mux and against a plain reference model
//!   (`crates/mux/tests/model`): same answers, same stats, bounds held, after every call.
#![no_main]

use std::net::SocketAddr;

use floe_mux::{Mux, MuxConfig, MuxStats};
use floe_stun::{MessageType, MessageWriter, TransactionId};
use libfuzzer_sys::fuzz_target;

#[path = "../../crates/mux/tests/model/mod.rs"]
mod model;

fn learnt(key: u32) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, key as u8], 5000))
}

fn request(key: u32) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let w = MessageWriter::new(
        &mut buf,
        MessageType::BINDING_REQUEST,
        TransactionId::new([key as u8; 12]),
    )
    .unwrap();
    let len = w.finish();
    buf[..len].to_vec()
}

fn populated() -> Mux<u32> {
    let mut mux = Mux::new(MuxConfig {
        max_sessions: 8,
        max_remotes_per_session: 2,
        max_transactions: 16,
    });
    for key in 1..=4 {
        mux.insert(key, &format!("ufrag{key}")).unwrap();
        mux.learn_remote(key, learnt(key));
        mux.on_transmit(key, learnt(key), &request(key));
    }
    mux
}

fn sizes(s: MuxStats) -> (usize, usize, usize) {
    (s.sessions, s.remotes, s.transactions)
}

fn counted(s: MuxStats) -> u64 {
    s.routed
        + s.dropped_unknown_ufrag
        + s.dropped_unknown_remote
        + s.dropped_unknown_transaction
        + s.dropped_malformed
}

fuzz_target!(|data: &[u8]| {
    let mut mux = populated();
    let before = mux.stats();
    let unknown = SocketAddr::from(([192, 0, 2, 1], 9));
    let a = mux.route(learnt(1), data);
    let b = mux.route(unknown, data);
    let after = mux.stats();
    assert_eq!(after.sessions, before.sessions);
    assert_eq!(after.remotes, before.remotes);
    assert!(after.transactions <= before.transactions);
    assert_eq!(counted(after), 2);
    assert_eq!(
        after.routed,
        u64::from(a.is_some()) + u64::from(b.is_some())
    );
    if let Some(key) = a.or(b) {
        assert!((1..=4).contains(&key));
    }
    // Undisturbed: each session's address still routes to it.
    for key in 1..=4 {
        assert_eq!(mux.route(learnt(key), b"\xffdata"), Some(key));
    }
    assert_eq!(sizes(mux.stats()).0, 4);

    model::run(data);
});
