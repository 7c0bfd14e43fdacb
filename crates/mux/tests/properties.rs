//! Property tests: arbitrary datagrams never panic `route` nor grow the tables, and the mux
//! agrees with a plain reference model over arbitrary sequences of calls.

mod model;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use floe_mux::{Mux, MuxConfig};
use floe_stun::attributes::Username;
use floe_stun::{MessageType, MessageWriter, TransactionId, MAGIC_COOKIE};
use proptest::prelude::*;

fn registered() -> Mux<u32> {
    let mut mux = Mux::new(MuxConfig::default());
    for key in 0..8u32 {
        mux.insert(key, &format!("sess{key}")).unwrap();
        mux.learn_remote(key, SocketAddr::from(([192, 0, 2, key as u8], 5000)));
        let mut buf = [0u8; 64];
        let w = MessageWriter::new(
            &mut buf,
            MessageType::BINDING_REQUEST,
            TransactionId::new([key as u8; 12]),
        )
        .unwrap();
        let len = w.finish();
        mux.on_transmit(key, SocketAddr::from(([192, 0, 2, 200], 3478)), &buf[..len]);
    }
    mux
}

/// A STUN header (any type with the top bits clear, the magic cookie, any transaction id)
/// with a body of arbitrary attribute bytes and a length field that matches or not.
fn stun_shaped() -> impl Strategy<Value = Vec<u8>> {
    (
        0u16..0x4000,
        any::<[u8; 12]>(),
        prop::collection::vec(any::<u8>(), 0..300),
        any::<bool>(),
    )
        .prop_map(|(message_type, tid, body, fix_length)| {
            let mut out = Vec::with_capacity(20 + body.len());
            out.extend_from_slice(&message_type.to_be_bytes());
            let len = if fix_length {
                body.len() & !3
            } else {
                body.len()
            };
            out.extend_from_slice(&(len as u16).to_be_bytes());
            out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
            out.extend_from_slice(&tid);
            out.extend_from_slice(&body[..len]);
            out
        })
}

/// A well-formed request whose USERNAME is arbitrary text, sometimes a registered ufrag's
/// prefix or a near miss.
fn request_with_username() -> impl Strategy<Value = Vec<u8>> {
    ("[a-zA-Z0-9+/:]{0,40}", any::<[u8; 12]>()).prop_map(|(username, tid)| {
        let mut buf = [0u8; 128];
        let mut w = MessageWriter::new(
            &mut buf,
            MessageType::BINDING_REQUEST,
            TransactionId::new(tid),
        )
        .unwrap();
        w.add(&Username(&username)).unwrap();
        let len = w.finish();
        buf[..len].to_vec()
    })
}

fn datagram() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        stun_shaped(),
        request_with_username(),
        // ChannelData headers (RFC 8656 §12.4) with arbitrary lengths and payloads.
        (
            0x4000u16..0x5000,
            any::<u16>(),
            prop::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(channel, len, payload)| {
                let mut out = channel.to_be_bytes().to_vec();
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&payload);
                out
            }),
    ]
}

fn source() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u16; 8]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_first_frames_never_panic_session_of_check_nor_change_the_tables(
        frames in prop::collection::vec(datagram(), 1..64),
    ) {
        let mut mux = registered();
        let before = mux.stats();
        for bytes in &frames {
            if let Some(key) = mux.session_of_check(bytes) {
                prop_assert!(key < 8);
            }
        }
        let after = mux.stats();
        prop_assert_eq!(
            (after.sessions, after.remotes, after.transactions),
            (before.sessions, before.remotes, before.transactions)
        );
    }

    #[test]
    fn arbitrary_datagrams_never_panic_route_nor_grow_the_tables(
        datagrams in prop::collection::vec((source(), datagram()), 1..64),
    ) {
        let mut mux = registered();
        let before = mux.stats();
        for (from, bytes) in &datagrams {
            let _ = mux.route(*from, bytes);
        }
        let after = mux.stats();
        prop_assert_eq!(mux.len(), 8);
        prop_assert_eq!(after.sessions, before.sessions);
        prop_assert_eq!(after.remotes, before.remotes);
        prop_assert!(after.transactions <= before.transactions);
        let counted = after.routed
            + after.dropped_unknown_ufrag
            + after.dropped_unknown_remote
            + after.dropped_unknown_transaction
            + after.dropped_malformed;
        prop_assert_eq!(counted, datagrams.len() as u64, "every datagram is routed or counted");
    }

    #[test]
    fn mux_and_reference_model_agree(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        model::run(&bytes);
    }
}
