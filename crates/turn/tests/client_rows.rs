//! The client's side of RFC 8656 row by row (`conformance/rfc8656.md`): what it does with
//! responses and data that arrive out of turn, forged or incomplete.

mod common;

use std::time::Duration;

use common::*;
use floe_stun::attributes::Lifetime;
use floe_stun::{Class, Message, Method};
use floe_turn::{Received, TurnError, TurnEvent};

/// RFC 8489 §9.2.5: over UDP a response that fails its integrity check is dropped and the
/// request retransmitted; when nothing better came by the end of the transaction, the failure
/// is reported as an integrity failure, not as a timeout.
#[test]
fn every_response_failing_integrity_over_udp_ends_as_an_integrity_error() {
    let mut net = Net::udp();
    net.allocate();
    let peer = addr(PEER).ip();
    net.client.create_permission(net.now, peer).unwrap();
    let (tid, _) = intercept_request(&mut net);
    let forged = forged_error(tid, Method::CREATE_PERMISSION, 403);
    assert_eq!(
        net.client.handle_datagram(net.now, addr(SERVER), &forged),
        Received::Ignored
    );
    assert_eq!(net.client.poll_event(), None, "dropped, not reported yet");
    // Every retransmission is lost.
    net.drop_next_to_server = usize::MAX;
    net.advance(Duration::from_secs(60));
    let retransmitted = net
        .requests
        .iter()
        .filter(|r| r.0 == Method::CREATE_PERMISSION)
        .count();
    assert!(retransmitted >= 2, "{retransmitted}");
    let failures: Vec<&TurnEvent> = net
        .events
        .iter()
        .filter(|e| matches!(e, TurnEvent::PermissionFailed { .. }))
        .collect();
    assert_eq!(
        failures,
        [&TurnEvent::PermissionFailed {
            peer,
            error: TurnError::Integrity
        }]
    );
    assert!(net.client.is_allocated());
}

/// RFC 8656 §8.3: a 437 to the Refresh that deletes the allocation means it is gone already:
/// the client reports it closed, not failed.
#[test]
fn a_437_to_the_deleting_refresh_closes_the_allocation() {
    let mut net = Net::udp();
    net.allocate();
    // The allocation goes at the server behind the client's back.
    let nonce = nonce_for(&mut net.server, net.now, addr(CLIENT));
    let delete = Signed {
        method: Method::REFRESH,
        attrs: Some(&|w| w.add(&Lifetime(0)).unwrap()),
        ..allocate_with(&nonce)
    };
    let replies = ask(&mut net.server, net.now, addr(CLIENT), &delete.encode());
    assert_eq!(error_code(&replies[0]), None);
    assert_eq!(net.server.allocation_count(), 0);
    net.events.clear();
    net.client.close(net.now);
    net.pump();
    assert_eq!(net.errors_to_client, vec![401, 437]);
    assert_eq!(net.events, vec![TurnEvent::Closed]);
    assert!(!net.client.is_allocated());
    assert_eq!(net.client.poll_timeout(), None);
}

/// RFC 8656 §11.4: the client discards a Data indication without XOR-PEER-ADDRESS or DATA,
/// and one from a peer it holds no permission for.
#[test]
fn data_indications_without_peer_or_data_or_from_strangers_are_discarded() {
    let mut net = Net::udp();
    net.allocate();
    let (peer, data): (_, &[u8]) = (addr(PEER), b"data");
    net.send(peer, data);
    assert!(net.client.has_permission(peer.ip()));
    for (what, peer, data) in [
        ("no XOR-PEER-ADDRESS", None, Some(data)),
        ("no DATA", Some(peer), None),
        ("no permission", Some(addr("198.51.100.8:6000")), Some(data)),
    ] {
        let bytes = indication(Method::DATA, peer, data);
        assert_eq!(
            net.client.handle_datagram(net.now, addr(SERVER), &bytes),
            Received::Ignored,
            "{what}"
        );
    }
    let bytes = indication(Method::DATA, Some(peer), Some(data));
    assert_eq!(
        net.client.handle_datagram(net.now, addr(SERVER), &bytes),
        Received::Data { peer, data }
    );
}

/// RFC 8656 §12: the client takes ChannelData on a channel as soon as it has sent the
/// ChannelBind (the server may relay before the success response arrives), and frames Send
/// indications for the peer until the binding is confirmed.
#[test]
fn channel_data_is_taken_while_the_channel_bind_is_in_flight() {
    let mut net = Net::udp();
    net.allocate();
    let peer = addr(PEER);
    let channel = net.client.bind_channel(net.now, peer).unwrap();
    let (_, bind) = intercept_request(&mut net);
    let success = ask(&mut net.server, net.now, addr(CLIENT), &bind);
    assert_eq!(error_code(&success[0]), None);
    // The server relays the peer's datagram over the channel before the client has its answer.
    let relay = net.relay();
    net.server.handle_peer(net.now, relay, peer, b"early");
    let early = net.server.poll_transmit().unwrap().payload;
    assert_eq!(early[..2], channel.to_be_bytes(), "ChannelData");
    assert_eq!(
        net.client.handle_datagram(net.now, addr(SERVER), &early),
        Received::Data {
            peer,
            data: b"early"
        }
    );
    // Until the success arrives, data for the peer goes as Send indications.
    assert_eq!(net.client.channel(peer), None);
    let mut buf = [0u8; 256];
    let n = net.client.send_to(net.now, peer, b"x", &mut buf).unwrap();
    let send = Message::decode(&buf[..n]).unwrap();
    assert_eq!(
        (send.class(), send.method()),
        (Class::Indication, Method::SEND)
    );
    assert_eq!(
        net.client
            .handle_datagram(net.now, addr(SERVER), &success[0]),
        Received::Handled
    );
    net.pump();
    assert!(net
        .events
        .contains(&TurnEvent::ChannelBound { peer, channel }));
    let n = net.client.send_to(net.now, peer, b"x", &mut buf).unwrap();
    assert_eq!(buf[..2], channel.to_be_bytes(), "ChannelData once bound");
    assert_eq!(n, 5);
}
