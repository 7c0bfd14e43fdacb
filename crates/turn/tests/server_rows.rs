//! The server's side of RFC 8656 row by row (`conformance/rfc8656.md`): what it answers to
//! requests that are wrong in exactly one way, and how long permissions and channels last.
//! Requests are written by hand with [`Signed`] where floe's client would never send them.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use floe_stun::attribute::types;
use floe_stun::attributes::{
    AdditionalAddressFamily, AddressFamily, ChannelNumber, RequestedAddressFamily,
    RequestedTransport, XorPeerAddress,
};
use floe_stun::{Class, Message, MessageWriter, Method};
use floe_turn::{TurnEvent, TurnServer};

const PEER2: &str = "198.51.100.8:6000";
const PEER3: &str = "198.51.100.9:6000";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A request of `method` on `net`'s 5-tuple, signed by alice with a fresh nonce and carrying
/// `attrs`: the error code of the server's answer, `None` for a success.
fn answer(net: &mut Net, method: Method, attrs: &dyn Fn(&mut MessageWriter<'_>)) -> Option<u16> {
    let nonce = nonce_for(&mut net.server, net.now, addr(CLIENT));
    let request = Signed {
        method,
        attrs: Some(attrs),
        ..allocate_with(&nonce)
    };
    let replies = ask(&mut net.server, net.now, addr(CLIENT), &request.encode());
    assert_eq!(replies.len(), 1, "one answer");
    error_code(&replies[0])
}

/// The same for an Allocate to a server without allocations.
fn allocate_answer(attrs: &dyn Fn(&mut MessageWriter<'_>)) -> Option<u16> {
    let mut server = TurnServer::new(server_config(), [3; 32]);
    let now = Instant::now();
    let nonce = nonce_for(&mut server, now, addr(CLIENT));
    let request = Signed {
        attrs: Some(attrs),
        ..allocate_with(&nonce)
    };
    let replies = ask(&mut server, now, addr(CLIENT), &request.encode());
    assert_eq!(replies.len(), 1, "one answer");
    let code = error_code(&replies[0]);
    assert_eq!(server.allocation_count(), usize::from(code.is_none()));
    code
}

/// Whether the server relays `data` from `peer` to the client (as a Data indication or
/// ChannelData; whether the client takes it is the client's business, RFC 8656 §11.4).
fn peer_reaches_client(net: &mut Net, peer: SocketAddr, data: &[u8]) -> bool {
    let relay = net.relay();
    net.server.handle_peer(net.now, relay, peer, data);
    let mut relayed = false;
    while let Some(t) = net.server.poll_transmit() {
        relayed |=
            t.destination == addr(CLIENT) && t.payload.windows(data.len()).any(|w| w == data);
    }
    relayed
}

/// Whether `data` the client frames for `peer` (Send indication or ChannelData) reaches it.
fn client_reaches_peer(net: &mut Net, peer: SocketAddr, data: &[u8]) -> bool {
    net.peer_data.clear();
    net.send(peer, data);
    net.peer_data == [(net.relay(), peer, data.to_vec())]
}

/// Whether a Send indication written by hand reaches a peer.
fn send_indication_is_relayed(
    net: &mut Net,
    peer: Option<SocketAddr>,
    data: Option<&[u8]>,
) -> bool {
    net.peer_data.clear();
    net.send_to_server(&indication(Method::SEND, peer, data));
    net.pump();
    !net.peer_data.is_empty()
}

/// RFC 8656 §5: an allocation belongs to the user that created it. bob, a user of the server
/// with his own good password, gets 441 for requests on alice's 5-tuple, and alice's
/// allocation is untouched.
#[test]
fn a_request_as_another_user_on_an_allocation_gets_441() {
    let mut config = server_config();
    config.users.insert("bob".to_owned(), "hunter2".to_owned());
    let mut net = Net::new(client_config(), config);
    net.allocate();
    let nonce = nonce_for(&mut net.server, net.now, addr(CLIENT));
    let peer = |w: &mut MessageWriter<'_>| w.add(&XorPeerAddress(addr(PEER))).unwrap();
    for (method, attrs) in [
        (Method::REFRESH, None),
        (
            Method::CREATE_PERMISSION,
            Some(&peer as &dyn Fn(&mut MessageWriter<'_>)),
        ),
    ] {
        let bob = Signed {
            method,
            attrs,
            username: Some("bob"),
            password: "hunter2",
            ..allocate_with(&nonce)
        };
        let replies = ask(&mut net.server, net.now, addr(CLIENT), &bob.encode());
        assert_eq!(error_code(&replies[0]), Some(441), "{method:?}");
        // The same request as alice is fine: the 441 is for the user name.
        let alice = Signed {
            method,
            attrs,
            ..allocate_with(&nonce)
        };
        let replies = ask(&mut net.server, net.now, addr(CLIENT), &alice.encode());
        assert_eq!(error_code(&replies[0]), None, "{method:?}");
    }
    assert_eq!(net.server.allocation_count(), 1);
    assert!(!peer_reaches_client(
        &mut net,
        addr(PEER2),
        b"no permission from bob"
    ));
}

/// RFC 8489 §9.2.4: MESSAGE-INTEGRITY without USERNAME (or USERHASH), REALM or NONCE gets
/// 400, not 401: the request is malformed rather than unauthenticated.
#[test]
fn integrity_without_username_realm_or_nonce_gets_400() {
    let now = Instant::now();
    let mut server = TurnServer::new(server_config(), [3; 32]);
    let nonce = nonce_for(&mut server, now, addr(CLIENT));
    for (what, request, code) in [
        (
            "no USERNAME",
            Signed {
                username: None,
                ..allocate_with(&nonce)
            },
            Some(400),
        ),
        (
            "no REALM",
            Signed {
                realm: None,
                ..allocate_with(&nonce)
            },
            Some(400),
        ),
        (
            "no NONCE",
            Signed {
                nonce: None,
                ..allocate_with(&nonce)
            },
            Some(400),
        ),
        // With all three the same request allocates.
        ("all three", allocate_with(&nonce), None),
    ] {
        let replies = ask(&mut server, now, addr(CLIENT), &request.encode());
        assert_eq!(error_code(&replies[0]), code, "{what}");
        assert_eq!(server.allocation_count(), usize::from(code.is_none()));
    }
}

/// RFC 8656 §7.2 step 2: an Allocate (a new transaction) on a 5-tuple that has an allocation
/// gets 437, and the allocation stays as it was.
#[test]
fn allocate_on_an_existing_allocation_gets_437() {
    let mut net = Net::udp();
    let relayed = net.allocate();
    let code = answer(&mut net, Method::ALLOCATE, &|w| {
        w.add(&RequestedTransport::UDP).unwrap()
    });
    assert_eq!(code, Some(437));
    assert_eq!(net.server.allocation_count(), 1);
    assert_eq!(net.client.relayed_addresses(), relayed);
    assert!(client_reaches_peer(&mut net, addr(PEER), b"still relayed"));
}

/// RFC 8656 §7.2 step 2: a retransmission of the Allocate that made the allocation (same
/// transaction id, same 5-tuple) gets the same success response again, byte for byte, and no
/// second relay.
#[test]
fn retransmitted_allocate_gets_the_same_success() {
    let now = Instant::now();
    let mut server = TurnServer::new(server_config(), [3; 32]);
    let nonce = nonce_for(&mut server, now, addr(CLIENT));
    let request = allocate_with(&nonce).encode();
    let first = ask(&mut server, now, addr(CLIENT), &request);
    assert_eq!(first.len(), 1);
    let success = Message::decode(&first[0]).unwrap();
    assert_eq!(success.class(), Class::SuccessResponse);
    let later = now + secs(2);
    let again = ask(&mut server, later, addr(CLIENT), &request);
    assert_eq!(again, first);
    assert_eq!(server.allocation_count(), 1);
    assert_eq!(server.poll_event(), None, "no second relay asked for");
    // Another transaction is another Allocate: 437.
    let other = Signed {
        tid: [8; 12],
        ..allocate_with(&nonce)
    };
    let replies = ask(&mut server, later, addr(CLIENT), &other.encode());
    assert_eq!(error_code(&replies[0]), Some(437));
}

/// RFC 8656 §7.2 step 3: REQUESTED-TRANSPORT is mandatory (400 without it or when it does not
/// decode), and a protocol other than UDP gets 442.
#[test]
fn requested_transport_missing_or_malformed_gets_400_and_tcp_442() {
    assert_eq!(allocate_answer(&|_| {}), Some(400), "missing");
    assert_eq!(
        allocate_answer(&|w| w.add_raw(types::REQUESTED_TRANSPORT, &[17]).unwrap()),
        Some(400),
        "one byte long"
    );
    assert_eq!(
        allocate_answer(&|w| w.add(&RequestedTransport::TCP).unwrap()),
        Some(442)
    );
    assert_eq!(
        allocate_answer(&|w| w.add(&RequestedTransport::UDP).unwrap()),
        None
    );
}

/// RFC 8656 §7.2 step 6 and §18.11: REQUESTED-ADDRESS-FAMILY with ADDITIONAL-ADDRESS-FAMILY
/// gets 400, and so does ADDITIONAL-ADDRESS-FAMILY IPv4.
#[test]
fn both_address_family_attributes_or_an_ipv4_additional_family_get_400() {
    let udp = |w: &mut MessageWriter<'_>| w.add(&RequestedTransport::UDP).unwrap();
    assert_eq!(
        allocate_answer(&|w| {
            udp(w);
            w.add(&RequestedAddressFamily(AddressFamily::Ipv4)).unwrap();
            w.add(&AdditionalAddressFamily(AddressFamily::Ipv6))
                .unwrap();
        }),
        Some(400),
        "both"
    );
    assert_eq!(
        allocate_answer(&|w| {
            udp(w);
            w.add(&AdditionalAddressFamily(AddressFamily::Ipv4))
                .unwrap();
        }),
        Some(400),
        "additional IPv4"
    );
    assert_eq!(
        allocate_answer(&|w| {
            udp(w);
            w.add(&AdditionalAddressFamily(AddressFamily::Ipv6))
                .unwrap();
        }),
        None,
        "additional IPv6"
    );
}

/// RFC 8656 §7.2 step 7 and §8.2: the lifetime asked for is capped at the maximum (3600 s)
/// and raised to the default (600 s) when shorter; the server keeps the allocation for the
/// lifetime it granted, and a Refresh asking the same is granted the same.
#[test]
fn a_requested_lifetime_is_capped_at_the_maximum_and_raised_to_the_default() {
    for (asked, granted) in [(7200, 3600), (60, 600), (1200, 1200)] {
        let net = || {
            let mut config = client_config();
            config.lifetime = Some(secs(asked));
            Net::new(config, server_config())
        };
        let mut net1 = net();
        net1.allocate();
        let t0 = net1.now;
        assert!(
            net1.events.iter().any(|e| matches!(
                e,
                TurnEvent::Allocated { lifetime, .. } if *lifetime == secs(granted)
            )),
            "{asked}: {:?}",
            net1.events
        );
        net1.server.handle_timeout(t0 + secs(granted - 1));
        assert_eq!(net1.server.allocation_count(), 1, "{asked}");
        net1.server.handle_timeout(t0 + secs(granted + 1));
        assert_eq!(net1.server.allocation_count(), 0, "{asked}");

        let mut net2 = net();
        net2.allocate();
        net2.advance(secs(granted * 9 / 10));
        assert!(
            net2.events.contains(&TurnEvent::Refreshed {
                lifetime: secs(granted)
            }),
            "{asked}: {:?}",
            net2.events
        );
    }
}

/// RFC 8656 §9: a permission lasts 300 s from when it was installed or last refreshed, by a
/// CreatePermission or a ChannelBind for the peer, and then the peer's datagrams are dropped.
/// The client is set not to refresh permissions on its own; its channel it rebinds every 200 s.
#[test]
fn a_permission_lasts_300_s_unless_create_permission_or_channel_bind_refreshes_it() {
    let mut config = client_config();
    config.permission_refresh = secs(10_000);
    config.channel_refresh = secs(200);
    let mut net = Net::new(config, server_config());
    net.allocate();
    let (lapses, by_create, by_bind) = (addr(PEER), addr(PEER2), addr(PEER3));
    net.client.create_permission(net.now, lapses.ip()).unwrap();
    net.client
        .create_permission(net.now, by_create.ip())
        .unwrap();
    net.client.bind_channel(net.now, by_bind).unwrap();
    net.pump();
    net.advance(secs(200));
    // A second CreatePermission for the peer: a refresh.
    net.client
        .create_permission(net.now, by_create.ip())
        .unwrap();
    net.pump();
    net.advance(secs(99));
    assert!(peer_reaches_client(&mut net, lapses, b"at 299 s"));
    net.advance(secs(2));
    assert!(!peer_reaches_client(&mut net, lapses, b"at 301 s"));
    assert!(peer_reaches_client(&mut net, by_create, b"at 301 s"));
    assert!(peer_reaches_client(&mut net, by_bind, b"at 301 s"));
    net.advance(secs(198));
    assert!(peer_reaches_client(&mut net, by_create, b"at 499 s"));
    net.advance(secs(2));
    assert!(!peer_reaches_client(&mut net, by_create, b"at 501 s"));
    assert!(peer_reaches_client(&mut net, by_bind, b"at 501 s"));
}

/// RFC 8656 §10.2: a CreatePermission without XOR-PEER-ADDRESS, or with one that does not
/// decode, gets 400; a peer of a family the allocation does not relay gets 443. None of them
/// installs a permission.
#[test]
fn create_permission_without_a_valid_peer_gets_400_and_another_family_443() {
    let mut net = Net::udp();
    net.allocate();
    let m = Method::CREATE_PERMISSION;
    assert_eq!(answer(&mut net, m, &|_| {}), Some(400), "no peer");
    assert_eq!(
        answer(&mut net, m, &|w| w
            .add_raw(types::XOR_PEER_ADDRESS, &[0, 1, 2])
            .unwrap()),
        Some(400),
        "malformed"
    );
    assert_eq!(
        answer(&mut net, m, &|w| w
            .add(&XorPeerAddress(addr(PEER6)))
            .unwrap()),
        Some(443),
        "IPv6 peer, IPv4 relay"
    );
    assert!(!peer_reaches_client(&mut net, addr(PEER), b"no permission"));
    assert_eq!(
        answer(&mut net, m, &|w| w
            .add(&XorPeerAddress(addr(PEER)))
            .unwrap()),
        None
    );
    assert!(peer_reaches_client(&mut net, addr(PEER), b"permitted"));
}

/// RFC 8656 §11.2: a Send indication is dropped without XOR-PEER-ADDRESS or DATA, towards a
/// peer without a permission, and towards a peer the server refuses (here its own listening
/// socket and port 0, on an IP it holds a permission for).
#[test]
fn send_indications_incomplete_unpermitted_or_to_a_refused_peer_are_dropped() {
    let mut server = server_config();
    server.allowed_peers = vec!["10.0.0.0/8".parse().unwrap()];
    let mut net = Net::new(client_config(), server);
    net.allocate();
    let own_ip = addr(SERVER).ip();
    net.client
        .create_permission(net.now, addr(PEER).ip())
        .unwrap();
    net.client.create_permission(net.now, own_ip).unwrap();
    net.pump();
    let peer = Some(addr(PEER));
    let data: Option<&[u8]> = Some(b"data");
    assert!(!send_indication_is_relayed(&mut net, None, data));
    assert!(!send_indication_is_relayed(&mut net, peer, None));
    assert!(!send_indication_is_relayed(
        &mut net,
        Some(addr(PEER2)),
        data
    ));
    assert!(!send_indication_is_relayed(
        &mut net,
        Some(addr(SERVER)),
        data
    ));
    let port_zero = SocketAddr::new(addr(PEER).ip(), 0);
    assert!(!send_indication_is_relayed(&mut net, Some(port_zero), data));
    // Complete, permitted and allowed: relayed.
    assert!(send_indication_is_relayed(&mut net, peer, data));
    let own_other_port = SocketAddr::new(own_ip, 9000);
    assert!(send_indication_is_relayed(
        &mut net,
        Some(own_other_port),
        data
    ));
}

/// RFC 8656 §11.2: a Send indication does not refresh the permission it goes through: sent
/// every 50 s, the permission still lapses 300 s after its CreatePermission.
#[test]
fn a_send_indication_never_refreshes_a_permission() {
    let mut config = client_config();
    config.permission_refresh = secs(10_000);
    let mut net = Net::new(config, server_config());
    net.allocate();
    let peer = addr(PEER);
    net.client.create_permission(net.now, peer.ip()).unwrap();
    net.pump();
    for _ in 0..5 {
        net.advance(secs(50));
        assert!(client_reaches_peer(&mut net, peer, b"send"));
    }
    net.advance(secs(51));
    net.peer_data.clear();
    let wire = net.send(peer, b"at 301 s");
    assert!(Message::decode(&wire).is_ok(), "a Send indication");
    assert!(net.peer_data.is_empty());
    assert!(!peer_reaches_client(&mut net, peer, b"at 301 s"));
}

/// RFC 8656 §12.2: a ChannelBind gets 400 without CHANNEL-NUMBER or XOR-PEER-ADDRESS, with a
/// number outside 0x4000–0x4FFF, with a number bound to another peer, or for a peer bound to
/// another number; a peer of another family gets 443.
#[test]
fn channel_bind_with_a_bad_number_or_peer_gets_400_and_another_family_443() {
    let mut net = Net::udp();
    net.allocate();
    let bound = net.client.bind_channel(net.now, addr(PEER)).unwrap();
    net.pump();
    assert_eq!(net.client.channel(addr(PEER)), Some(bound));
    let bind = |net: &mut Net, channel: Option<u16>, peer: Option<&str>| {
        answer(net, Method::CHANNEL_BIND, &|w| {
            if let Some(n) = channel {
                w.add(&ChannelNumber(n)).unwrap();
            }
            if let Some(p) = peer {
                w.add(&XorPeerAddress(addr(p))).unwrap();
            }
        })
    };
    let free = bound + 1;
    assert_eq!(bind(&mut net, None, Some(PEER2)), Some(400), "no number");
    assert_eq!(bind(&mut net, Some(free), None), Some(400), "no peer");
    assert_eq!(bind(&mut net, Some(0x3FFF), Some(PEER2)), Some(400));
    assert_eq!(bind(&mut net, Some(0x5000), Some(PEER2)), Some(400));
    assert_eq!(bind(&mut net, Some(bound), Some(PEER2)), Some(400), "taken");
    assert_eq!(
        bind(&mut net, Some(free), Some(PEER)),
        Some(400),
        "peer bound"
    );
    assert_eq!(bind(&mut net, Some(free), Some(PEER6)), Some(443));
    assert!(!peer_reaches_client(
        &mut net,
        addr(PEER2),
        b"no channel, no permission"
    ));
    // The same number and peer again is a refresh; a free number for a free peer a binding.
    assert_eq!(bind(&mut net, Some(bound), Some(PEER)), None);
    assert_eq!(bind(&mut net, Some(free), Some(PEER2)), None);
    assert!(peer_reaches_client(&mut net, addr(PEER2), b"bound"));
}

/// A client with a channel to [`PEER`] that it never rebinds, refreshing the permission with
/// CreatePermission after `permission_refresh`, sends ChannelData every 50 s for `rounds`
/// rounds, each relayed; then, 51 s on, once more: whether that was relayed.
fn channel_data_every_50_s(permission_refresh: Duration, rounds: usize) -> (Net, bool) {
    let mut config = client_config();
    config.permission_refresh = permission_refresh;
    config.channel_refresh = secs(10_000);
    let mut net = Net::new(config, server_config());
    net.allocate();
    let peer = addr(PEER);
    net.client.bind_channel(net.now, peer).unwrap();
    net.pump();
    for _ in 0..rounds {
        net.advance(secs(50));
        assert!(client_reaches_peer(&mut net, peer, b"channel data"));
    }
    net.advance(secs(51));
    net.peer_data.clear();
    let wire = net.send(peer, b"last");
    assert_eq!(wire[0] & 0xC0, 0x40, "ChannelData");
    let relayed = !net.peer_data.is_empty();
    (net, relayed)
}

/// RFC 8656 §12.6: ChannelData does not refresh the peer's permission: sent every 50 s over a
/// channel, with neither rebound by the client, the permission lapses at 300 s and the relay
/// drops the channel's data both ways.
#[test]
fn channel_data_never_refreshes_a_permission() {
    let (mut net, relayed) = channel_data_every_50_s(secs(10_000), 5);
    assert!(!relayed, "at 301 s");
    assert!(!peer_reaches_client(&mut net, addr(PEER), b"at 301 s"));
}

/// RFC 8656 §12.6: ChannelData does not refresh the binding either: the permission kept alive
/// by CreatePermission, the channel used every 50 s but never rebound, its binding lapses at
/// 600 s and the server drops its ChannelData while the peer still gets through.
#[test]
fn channel_data_never_refreshes_a_binding() {
    let (mut net, relayed) = channel_data_every_50_s(secs(240), 11);
    assert!(!relayed, "at 601 s");
    assert!(peer_reaches_client(
        &mut net,
        addr(PEER),
        b"permission alive"
    ));
}
