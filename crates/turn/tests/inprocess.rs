//! The client against floe's own server, in-process, sans-IO, in virtual time.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use floe_stun::attributes::AddressFamily;
use floe_stun::{Message, Method};
use floe_turn::client::AllocationFamily;
use floe_turn::{ClientConfig, Received, ServerEvent, Transport, TurnClient, TurnError, TurnEvent};

#[test]
fn allocate_with_the_401_challenge() {
    let mut net = Net::udp();
    let relayed = net.allocate();
    assert_eq!(relayed.len(), 1);
    assert!(relayed[0].is_ipv4());
    assert_eq!(
        net.requests,
        vec![(Method::ALLOCATE, false), (Method::ALLOCATE, true)]
    );
    assert_eq!(net.errors_to_client, vec![401]);
    assert_eq!(net.client.mapped_address(), Some(addr(CLIENT)));
    assert_eq!(net.server.allocation_count(), 1);
}

#[test]
fn sha256_and_password_algorithms_when_offered() {
    let mut server = server_config();
    server.password_algorithms = true;
    let mut net = Net::new(client_config(), server);
    net.allocate();
    net.client
        .create_permission(net.now, addr(PEER).ip())
        .unwrap();
    net.pump();
    assert!(net.client.has_permission(addr(PEER).ip()));
}

#[test]
fn lost_allocate_is_retransmitted() {
    let mut net = Net::udp();
    net.drop_next_to_server = 1;
    net.client.allocate(net.now).unwrap();
    net.pump();
    net.advance(Duration::from_secs(2));
    assert!(net.client.is_allocated(), "{:?}", net.events);
}

#[test]
fn stale_nonce_is_retried_once() {
    let mut server = server_config();
    server.nonce_lifetime = Some(Duration::from_secs(30));
    let mut net = Net::new(client_config(), server);
    net.allocate();
    net.advance(Duration::from_secs(60));
    net.client
        .create_permission(net.now, addr(PEER).ip())
        .unwrap();
    net.pump();
    assert_eq!(net.errors_to_client, vec![401, 438]);
    assert!(net.client.has_permission(addr(PEER).ip()));
    let perms = net
        .requests
        .iter()
        .filter(|r| r.0 == Method::CREATE_PERMISSION)
        .count();
    assert_eq!(perms, 2);
}

#[test]
fn wrong_password_is_a_clear_error_without_a_loop() {
    let mut net = Net::new(
        ClientConfig::new(addr(SERVER), "alice", "wrong"),
        server_config(),
    );
    net.client.allocate(net.now).unwrap();
    net.pump();
    net.advance(Duration::from_secs(120));
    assert_eq!(net.events, vec![TurnEvent::Failed(TurnError::Unauthorized)]);
    assert_eq!(net.requests.len(), 2);
    assert_eq!(net.client.poll_timeout(), None);
    assert!(TurnError::Unauthorized.to_string().contains("password"));
}

#[test]
fn unknown_user_is_rejected_too() {
    let mut net = Net::new(
        ClientConfig::new(addr(SERVER), "mallory", "secret"),
        server_config(),
    );
    net.client.allocate(net.now).unwrap();
    net.pump();
    assert_eq!(net.events, vec![TurnEvent::Failed(TurnError::Unauthorized)]);
}

#[test]
fn send_and_data_indications_through_a_permission() {
    let mut net = Net::udp();
    net.allocate();
    let peer = addr(PEER);
    net.client.create_permission(net.now, peer.ip()).unwrap();
    net.pump();
    assert!(net
        .events
        .contains(&TurnEvent::PermissionCreated { peer: peer.ip() }));
    let wire = net.send(peer, b"hello peer");
    assert!(Message::decode(&wire).is_ok(), "a Send indication");
    let relay = net.relay();
    assert_eq!(net.peer_data, vec![(relay, peer, b"hello peer".to_vec())]);
    net.peer_sends(peer, relay, b"hello client");
    assert_eq!(net.client_data, vec![(peer, b"hello client".to_vec())]);
    // A peer without a permission is dropped by the server.
    let other = addr("198.51.100.8:6000");
    net.peer_sends(other, relay, b"intruder");
    assert_eq!(net.client_data.len(), 1);
}

#[test]
fn send_without_permission_requests_one() {
    let mut net = Net::udp();
    net.allocate();
    let peer = addr(PEER);
    net.send(peer, b"first");
    assert!(net.client.has_permission(peer.ip()));
    net.send(peer, b"second");
    assert_eq!(net.peer_data.last().unwrap().2, b"second");
}

#[test]
fn channel_bind_and_channel_data_both_ways() {
    let mut net = Net::udp();
    net.allocate();
    let peer = addr(PEER);
    let channel = net.client.bind_channel(net.now, peer).unwrap();
    assert_eq!(channel, 0x4000);
    net.pump();
    assert!(net
        .events
        .contains(&TurnEvent::ChannelBound { peer, channel }));
    let wire = net.send(peer, b"over the channel");
    assert_eq!(&wire[..2], &[0x40, 0x00]);
    assert_eq!(wire.len(), 4 + 16);
    let relay = net.relay();
    assert_eq!(
        net.peer_data,
        vec![(relay, peer, b"over the channel".to_vec())]
    );
    net.peer_sends(peer, relay, b"back");
    assert_eq!(net.client_data, vec![(peer, b"back".to_vec())]);
}

#[test]
fn refresh_keeps_the_allocation_across_its_lifetime() {
    let mut net = Net::udp();
    net.allocate();
    net.advance(Duration::from_secs(3 * 3600));
    assert!(net.client.is_allocated());
    assert_eq!(net.server.allocation_count(), 1);
    let refreshes = net
        .events
        .iter()
        .filter(|e| matches!(e, TurnEvent::Refreshed { .. }))
        .count();
    // 600 s lifetime refreshed every 480 s.
    assert!(refreshes >= 22, "{refreshes}");
}

#[test]
fn permissions_and_channels_are_refreshed() {
    let mut net = Net::udp();
    net.allocate();
    let peer = addr(PEER);
    let peer2 = addr("198.51.100.9:7000");
    net.client.create_permission(net.now, peer.ip()).unwrap();
    net.client.bind_channel(net.now, peer2).unwrap();
    net.pump();
    net.advance(Duration::from_secs(3600));
    let relay = net.relay();
    net.peer_sends(peer, relay, b"perm still here");
    net.peer_sends(peer2, relay, b"channel still here");
    assert_eq!(
        net.client_data,
        vec![
            (peer, b"perm still here".to_vec()),
            (peer2, b"channel still here".to_vec())
        ]
    );
    let wire = net.send(peer2, b"x");
    assert_eq!(wire[0] & 0xf0, 0x40, "still ChannelData");
    assert!(
        net.requests
            .iter()
            .filter(|r| r.0 == Method::CHANNEL_BIND)
            .count()
            >= 6
    );
    assert!(
        net.requests
            .iter()
            .filter(|r| r.0 == Method::CREATE_PERMISSION)
            .count()
            >= 14
    );
}

#[test]
fn close_deallocates() {
    let mut net = Net::udp();
    let relayed = net.allocate();
    net.client.close(net.now);
    net.pump();
    assert_eq!(net.events.last(), Some(&TurnEvent::Closed));
    assert_eq!(net.server.allocation_count(), 0);
    assert!(!net.client.is_allocated());
    let _ = relayed;
    assert_eq!(net.client.poll_timeout(), None);
}

#[test]
fn server_expires_an_allocation_that_is_not_refreshed() {
    let mut net = Net::udp();
    net.allocate();
    // Let the server see time pass without the client.
    let later = net.now + Duration::from_secs(601);
    net.server.handle_timeout(later);
    assert_eq!(net.server.allocation_count(), 0);
    assert!(matches!(
        net.server.poll_event(),
        Some(ServerEvent::ReleaseRelay { .. })
    ));
    // The client's next refresh gets 437 and reports the loss.
    net.now = later;
    net.client.handle_timeout(net.now);
    net.pump();
    assert!(net
        .events
        .contains(&TurnEvent::Failed(TurnError::AllocationMismatch)));
}

#[test]
fn tcp_framing_with_partial_and_coalesced_input() {
    for chunk in [1, 2, 3, 5, 7, 64, 1500] {
        let mut config = client_config();
        config.transport = Transport::Stream;
        let mut net = Net::new(config, server_config());
        net.chunk = chunk;
        net.allocate();
        let peer = addr(PEER);
        net.client.bind_channel(net.now, peer).unwrap();
        net.pump();
        let wire = net.send(peer, b"abcde");
        assert_eq!(wire.len(), 12, "padded to four bytes on streams");
        let relay = net.relay();
        net.peer_sends(peer, relay, b"xyz");
        net.peer_sends(peer, relay, b"0123456789");
        assert_eq!(
            net.client_data,
            vec![(peer, b"xyz".to_vec()), (peer, b"0123456789".to_vec())],
            "chunk {chunk}"
        );
        // Over a stream nothing is retransmitted.
        let allocates = net
            .requests
            .iter()
            .filter(|r| r.0 == Method::ALLOCATE)
            .count();
        assert_eq!(allocates, 2);
    }
}

#[test]
fn ipv6_allocation() {
    let mut config = client_config();
    config.family = AllocationFamily::Ipv6;
    let mut net = Net::new(config, server_config());
    let relayed = net.allocate();
    assert_eq!(relayed.len(), 1);
    assert!(relayed[0].is_ipv6());
    let peer = addr(PEER6);
    net.send(peer, b"v6");
    net.send(peer, b"v6 again");
    assert_eq!(net.peer_data.last().unwrap().2, b"v6 again");
    assert_eq!(
        net.client.create_permission(net.now, addr(PEER).ip()),
        Err(floe_turn::SendError::PeerFamilyMismatch)
    );
}

#[test]
fn dual_stack_allocation() {
    let mut config = client_config();
    config.family = AllocationFamily::DualStack;
    let mut net = Net::new(config.clone(), server_config());
    let relayed = net.allocate();
    assert_eq!(relayed.len(), 2);
    assert!(relayed[0].is_ipv4() && relayed[1].is_ipv6());

    let mut server = server_config();
    server.ipv6_relays = false;
    let mut net = Net::new(config, server);
    let relayed = net.allocate();
    assert_eq!(relayed.len(), 1);
    assert!(net.events.iter().any(|e| matches!(
        e,
        TurnEvent::AddressFamilyRejected {
            family: AddressFamily::Ipv6,
            code: 440,
            ..
        }
    )));
}

#[test]
fn ipv6_refused_by_a_server_without_ipv6() {
    let mut config = client_config();
    config.family = AllocationFamily::Ipv6;
    let mut server = server_config();
    server.ipv6_relays = false;
    let mut net = Net::new(config, server);
    net.client.allocate(net.now).unwrap();
    net.pump();
    assert_eq!(
        net.events,
        vec![TurnEvent::Failed(TurnError::AddressFamilyNotSupported)]
    );
}

#[test]
fn quota_reached_is_a_clear_error() {
    let mut server = server_config();
    server.max_allocations = 0;
    let mut net = Net::new(client_config(), server);
    net.client.allocate(net.now).unwrap();
    net.pump();
    assert_eq!(
        net.events,
        vec![TurnEvent::Failed(TurnError::AllocationQuotaReached)]
    );
}

#[test]
fn unanswered_allocate_times_out() {
    let mut net = Net::udp();
    net.drop_next_to_server = usize::MAX;
    net.client.allocate(net.now).unwrap();
    net.pump();
    net.advance(Duration::from_secs(60));
    assert_eq!(net.events, vec![TurnEvent::Failed(TurnError::Timeout)]);
    assert_eq!(net.requests.len(), 7, "Rc = 7 transmissions");
}

#[test]
fn data_from_strangers_and_other_sources_is_ignored() {
    let mut net = Net::udp();
    net.allocate();
    let now = net.now;
    assert_eq!(
        net.client
            .handle_datagram(now, addr("203.0.113.1:3478"), &[0x40, 0, 0, 1, 9]),
        Received::Ignored
    );
    assert_eq!(
        net.client
            .handle_datagram(now, addr(SERVER), &[0x40, 0x01, 0, 1, 9]),
        Received::Ignored,
        "unknown channel"
    );
}

/// RFC 8656 §21.4: a server on the Internet must not relay into its own network. By default
/// CreatePermission and ChannelBind towards loopback, private, link-local, CGNAT, multicast
/// or IPv4-in-IPv6 forms of them get 403, and so does a channel to the server's own port.
#[test]
fn internal_peers_are_refused_with_403() {
    let mut net = Net::udp();
    net.allocate();
    for peer in [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "169.254.0.1",
        "100.64.0.1",
        "224.0.0.1",
    ] {
        let ip: std::net::IpAddr = peer.parse().unwrap();
        net.client.create_permission(net.now, ip).unwrap();
        net.pump();
        assert!(
            net.events.contains(&TurnEvent::PermissionFailed {
                peer: ip,
                error: TurnError::Forbidden
            }),
            "{peer}: {:?}",
            net.events
        );
        assert!(!net.client.has_permission(ip));
    }
    // Nothing reached those peers.
    assert!(net.peer_data.is_empty());
}

#[test]
fn allowed_peers_open_internal_ranges() {
    let mut server = server_config();
    server.allowed_peers = vec!["10.0.0.0/8".parse().unwrap()];
    let mut net = Net::new(ClientConfig::new(addr(SERVER), "alice", "secret"), server);
    net.allocate();
    let peer = addr("10.9.9.9:7000");
    net.client.create_permission(net.now, peer.ip()).unwrap();
    net.pump();
    assert!(net
        .events
        .contains(&TurnEvent::PermissionCreated { peer: peer.ip() }));
    net.send(peer, b"inside");
    assert_eq!(net.peer_data.len(), 1);
    // Even so, never the server's own listening socket: a client could nest allocations
    // inside it.
    net.client.bind_channel(net.now, addr(SERVER)).unwrap();
    net.pump();
    assert!(
        net.events.iter().any(|e| matches!(
            e,
            TurnEvent::ChannelBindFailed {
                error: TurnError::Forbidden,
                ..
            }
        )),
        "{:?}",
        net.events
    );
    assert_eq!(net.peer_data.len(), 1);
}

/// An allocation's own relayed address is never its peer, even inside an opened range: its
/// data would loop back through the server. (Another allocation's is: relay to relay.)
#[test]
fn an_allocations_own_relayed_address_is_never_its_peer() {
    let mut server = server_config();
    server.allowed_peers = vec!["10.0.0.0/8".parse().unwrap()];
    let mut net = Net::new(ClientConfig::new(addr(SERVER), "alice", "secret"), server);
    net.allocate();
    let own = net.relay();
    net.client.bind_channel(net.now, own).unwrap();
    net.pump();
    let forbidden = |net: &Net, peer| {
        net.events.contains(&TurnEvent::ChannelBindFailed {
            peer,
            error: TurnError::Forbidden,
        })
    };
    assert!(forbidden(&net, own), "{:?}", net.events);
    // Send indications to it are dropped though the relay's IP has a permission.
    net.client.create_permission(net.now, own.ip()).unwrap();
    net.pump();
    assert!(net.client.has_permission(own.ip()));
    net.send(own, b"loop");
    assert!(net.peer_data.is_empty(), "{:?}", net.peer_data);
    // A neighbour on the same IP that is no relay is fine.
    let neighbour = SocketAddr::new(own.ip(), own.port() ^ 1);
    net.send(neighbour, b"next door");
    assert_eq!(net.peer_data.len(), 1);
}

/// RFC 8489 §9.2.5: once the client holds a key, only 401 and 438 may come unsigned. A forged
/// unsigned 437 to a Refresh is dropped over UDP (the allocation lives on and the real answer
/// still counts), and a forged 300 does not redirect the client.
#[test]
fn unsigned_errors_other_than_401_and_438_are_dropped_over_udp() {
    let mut net = Net::udp();
    net.allocate();
    net.client
        .create_permission(net.now, addr(PEER).ip())
        .unwrap();
    let (tid, request) = intercept_request(&mut net);
    for code in [437, 300, 403, 500] {
        let forged = forged_error(tid, Method::CREATE_PERMISSION, code);
        let _ = net.client.handle_datagram(net.now, addr(SERVER), &forged);
    }
    while let Some(e) = net.client.poll_event() {
        net.events.push(e);
    }
    assert!(
        !net.events
            .iter()
            .any(|e| matches!(e, TurnEvent::PermissionFailed { .. } | TurnEvent::Failed(_))),
        "{:?}",
        net.events
    );
    // The real server answers: the permission is created, the allocation is intact.
    net.send_to_server(&request);
    net.pump();
    assert!(net.events.contains(&TurnEvent::PermissionCreated {
        peer: addr(PEER).ip()
    }));
    assert!(net.client.is_allocated());
}

/// Over TCP/TLS a response that fails its integrity check ends the transaction at once, as an
/// integrity error (RFC 8489 §9.2.5), instead of a 39.5 s wait.
#[test]
fn a_response_failing_integrity_over_a_stream_is_an_integrity_error_at_once() {
    let mut config = client_config();
    config.transport = Transport::Stream;
    let mut net = Net::new(config, server_config());
    net.allocate();
    net.client
        .create_permission(net.now, addr(PEER).ip())
        .unwrap();
    let (tid, _) = intercept_request(&mut net);
    let forged = forged_error(tid, Method::CREATE_PERMISSION, 403);
    net.client.push_stream(&forged);
    while net.client.poll_stream(net.now).is_some() {}
    while let Some(e) = net.client.poll_event() {
        net.events.push(e);
    }
    assert!(
        net.events.contains(&TurnEvent::PermissionFailed {
            peer: addr(PEER).ip(),
            error: TurnError::Integrity
        }),
        "{:?}",
        net.events
    );
}

/// RFC 8656 §7.2 step 4: a server that cannot set DF on its relay sockets treats DONT-FRAGMENT
/// as an unknown comprehension-required attribute: 420 listing it (RFC 8489 §6.3.1.1), signed.
#[test]
fn dont_fragment_gets_420_unless_the_driver_honours_it() {
    let mut config = client_config();
    config.dont_fragment = true;
    let mut net = Net::new(config.clone(), server_config());
    net.client.allocate(net.now).unwrap();
    net.pump();
    assert!(
        net.errors_to_client.contains(&420),
        "{:?}",
        net.errors_to_client
    );
    // RFC 8656 §7.4: the client retries without DONT-FRAGMENT and gets its allocation.
    assert!(net.client.is_allocated(), "{:?}", net.events);
    assert!(!net.client.config().dont_fragment);

    let mut server = server_config();
    server.dont_fragment = true;
    let mut net = Net::new(config, server);
    net.allocate();
    assert!(!net.errors_to_client.contains(&420));
}

/// RFC 8656 §8.2: a Refresh whose REQUESTED-ADDRESS-FAMILY is not the allocation's gets 443,
/// and the allocation is left as it was.
#[test]
fn refresh_for_another_address_family_gets_443() {
    use floe_stun::attributes::{Lifetime, Nonce, Realm, RequestedAddressFamily, Username};
    let mut net = Net::udp();
    net.allocate();
    // The client's own (deallocating) Refresh shows the realm and nonce in use; it is not sent.
    net.client.close(net.now);
    let t = net.client.poll_transmit().expect("a Refresh");
    let theirs = t.payload.to_vec();
    let theirs = Message::decode(&theirs).unwrap();
    let realm = theirs.get::<Realm>().unwrap().unwrap().0.to_owned();
    let nonce = theirs.get::<Nonce>().unwrap().unwrap().0.to_owned();
    let key = floe_stun::LongTermKey::derive(
        "alice",
        &realm,
        "secret",
        floe_stun::PasswordAlgorithmKind::Md5,
    )
    .unwrap();
    let mut buf = [0u8; 256];
    let mut w = floe_stun::MessageWriter::new(
        &mut buf,
        floe_stun::MessageType::new(floe_stun::Class::Request, Method::REFRESH),
        floe_stun::TransactionId::new([9; 12]),
    )
    .unwrap();
    w.add(&Lifetime(600)).unwrap();
    w.add(&RequestedAddressFamily(AddressFamily::Ipv6)).unwrap();
    w.add(&Username("alice")).unwrap();
    w.add(&Realm(&realm)).unwrap();
    w.add(&Nonce(&nonce)).unwrap();
    w.add_message_integrity(&key.integrity_key()).unwrap();
    w.add_fingerprint().unwrap();
    let n = w.finish();
    let request = buf[..n].to_vec();
    net.errors_to_client.clear();
    net.send_to_server(&request);
    net.pump();
    assert_eq!(net.errors_to_client, vec![443]);
    assert_eq!(net.server.allocation_count(), 1);
}

/// Another client of `net`'s server, from `from`, tries to allocate; its events.
fn another_client_allocates(net: &mut Net, from: SocketAddr) -> Vec<TurnEvent> {
    let mut client = TurnClient::new(client_config(), [5; 32]);
    client.allocate(net.now).unwrap();
    for _ in 0..10 {
        while let Some(t) = client.poll_transmit() {
            let bytes = t.payload.to_vec();
            net.server
                .handle_client(net.now, addr(SERVER), from, Transport::Udp, &bytes);
        }
        net.pump();
        let replies: Vec<Vec<u8>> = net
            .peer_data
            .iter()
            .filter(|(_, to, _)| *to == from)
            .map(|(_, _, b)| b.clone())
            .collect();
        net.peer_data.retain(|(_, to, _)| *to != from);
        for r in replies {
            let _ = client.handle_datagram(net.now, addr(SERVER), &r);
        }
    }
    std::iter::from_fn(|| client.poll_event()).collect()
}

/// One user cannot take every allocation of the server: beyond its quota, 486 (RFC 8656 §7.2).
#[test]
fn allocations_per_user_are_capped_with_486() {
    let mut server = server_config();
    server.max_allocations_per_user = 1;
    let mut net = Net::new(client_config(), server);
    net.allocate();
    let events = another_client_allocates(&mut net, addr("192.0.2.11:5000"));
    assert_eq!(
        events,
        vec![TurnEvent::Failed(TurnError::AllocationQuotaReached)]
    );
    assert_eq!(net.server.allocation_count(), 1);
}

/// An allocation cannot grow without bound: permissions and channels beyond the caps get 508.
#[test]
fn permissions_and_channels_per_allocation_are_capped_with_508() {
    let mut server = server_config();
    server.max_permissions = 2;
    server.max_channels = 1;
    let mut net = Net::new(client_config(), server);
    net.allocate();
    for (i, last) in [(1, false), (2, false), (3, true)] {
        let ip: std::net::IpAddr = format!("198.51.100.{i}").parse().unwrap();
        net.client.create_permission(net.now, ip).unwrap();
        net.pump();
        let failed = net.events.contains(&TurnEvent::PermissionFailed {
            peer: ip,
            error: TurnError::InsufficientCapacity,
        });
        assert_eq!(failed, last, "{ip}: {:?}", net.events);
    }
    net.client
        .bind_channel(net.now, addr("198.51.100.1:7000"))
        .unwrap();
    net.client
        .bind_channel(net.now, addr("198.51.100.2:7000"))
        .unwrap();
    net.pump();
    let refused = net
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                TurnEvent::ChannelBindFailed {
                    error: TurnError::InsufficientCapacity,
                    ..
                }
            )
        })
        .count();
    assert_eq!(refused, 1, "{:?}", net.events);
}

/// RFC 8656 §8.1: a Refresh whose every transmission is lost times out after 39.5 s, long
/// before the allocation expires at the server (600 s lifetime, refreshed at 480 s); the
/// client sends a new Refresh then, instead of giving the allocation up.
#[test]
fn a_refresh_lost_to_the_network_is_sent_again_until_the_allocation_expires() {
    let mut net = Net::udp();
    net.allocate();
    net.advance(Duration::from_secs(479));
    net.drop_next_to_server = 7;
    net.advance(Duration::from_secs(100));
    assert!(net.client.is_allocated(), "{:?}", net.events);
    assert!(!net.events.iter().any(|e| matches!(e, TurnEvent::Failed(_))));
    assert!(net
        .events
        .iter()
        .any(|e| matches!(e, TurnEvent::Refreshed { .. })));
    assert_eq!(net.server.allocation_count(), 1);
}
