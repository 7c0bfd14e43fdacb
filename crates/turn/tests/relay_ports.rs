//! Relayed addresses on floe's server (RFC 8656 §7.2): ports drawn at random from the
//! configured range, EVEN-PORT and its R bit, RESERVATION-TOKEN, ports the driver cannot bind;
//! and the bounds that hold under a flood of spoofed Allocates.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use floe_stun::attribute::types;
use floe_stun::attributes::{
    AdditionalAddressFamily, AddressFamily, Data, EvenPort, Lifetime, RequestedAddressFamily,
    RequestedTransport, ReservationToken, XorPeerAddress, XorRelayedAddress,
};
use floe_stun::{Message, MessageWriter, Method};
use floe_turn::{ServerConfig, ServerEvent, TurnServer};

fn server() -> TurnServer {
    TurnServer::new(ServerConfig::new(REALM, "alice", "secret"), [5; 32])
}

fn client(n: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, n], 5000))
}

/// What the driver does with the server's events: binds the port asked for (and the next one
/// with `reserve_next`) unless it is in `taken`; returns the ports asked for and the relays
/// released.
fn drive(server: &mut TurnServer, now: Instant, taken: &HashSet<u16>) -> (Vec<u16>, Vec<u16>) {
    let (mut asked, mut released) = (Vec::new(), Vec::new());
    while let Some(ev) = server.poll_event() {
        match ev {
            ServerEvent::BindRelay {
                allocation,
                family,
                port,
                reserve_next,
                ..
            } => {
                asked.push(port);
                let free = !(taken.contains(&port) || reserve_next && taken.contains(&(port + 1)));
                let ip = match family {
                    AddressFamily::Ipv4 => addr(SERVER).ip(),
                    AddressFamily::Ipv6 => "2001:db8::1".parse().unwrap(),
                };
                let relay = free.then_some(SocketAddr::new(ip, port));
                server.relay_bound(now, allocation, family, relay);
            }
            ServerEvent::ReleaseRelay { relay } => released.push(relay.port()),
        }
    }
    (asked, released)
}

/// An Allocate from `from` signed by alice, with `attrs` after REQUESTED-TRANSPORT; returns the
/// response, the ports the server asked the driver for and the relays it released.
fn allocate(
    server: &mut TurnServer,
    now: Instant,
    from: SocketAddr,
    taken: &HashSet<u16>,
    attrs: Attrs<'_>,
) -> (Message<'static>, Vec<u16>) {
    let nonce = nonce_for(server, now, from);
    let all = |w: &mut MessageWriter<'_>| {
        w.add(&RequestedTransport::UDP).unwrap();
        attrs(w);
    };
    let request = Signed {
        attrs: Some(&all),
        ..allocate_with(&nonce)
    };
    server.handle_client(
        now,
        addr(SERVER),
        from,
        floe_turn::Transport::Udp,
        &request.encode(),
    );
    let (asked, _) = drive(server, now, taken);
    let reply = std::iter::from_fn(|| server.poll_transmit())
        .find(|t| t.destination == from)
        .expect("an answer");
    let bytes: &'static [u8] = Vec::leak(reply.payload);
    (Message::decode(bytes).unwrap(), asked)
}

fn relayed(msg: &Message<'_>) -> Vec<SocketAddr> {
    msg.attributes()
        .filter(|a| a.attr_type == floe_stun::attribute::types::XOR_RELAYED_ADDRESS)
        .map(|a| {
            use floe_stun::Attribute;
            XorRelayedAddress::decode(a.value, &msg.transaction_id())
                .unwrap()
                .0
        })
        .collect()
}

fn code(msg: &Message<'_>) -> Option<u16> {
    msg.get::<floe_stun::attributes::ErrorCode>()
        .unwrap()
        .map(|e| e.code)
}

/// Attributes written into a request.
type Attrs<'a> = &'a dyn Fn(&mut MessageWriter<'_>);

const NONE: Attrs<'static> = &|_| {};

#[test]
fn relay_ports_are_drawn_at_random_from_the_configured_range() {
    let mut config = ServerConfig::new(REALM, "alice", "secret");
    config.relay_ports = 50_000..=50_099;
    config.max_allocations_per_user = 100;
    let mut server = TurnServer::new(config, [5; 32]);
    let now = Instant::now();
    let mut ports = Vec::new();
    for n in 1..=30 {
        let (reply, asked) = allocate(&mut server, now, client(n), &HashSet::new(), NONE);
        assert_eq!(code(&reply), None);
        assert_eq!(relayed(&reply)[0].port(), asked[0]);
        ports.push(asked[0]);
    }
    assert!(
        ports.iter().all(|p| (50_000..=50_099).contains(p)),
        "{ports:?}"
    );
    let sequential = ports.windows(2).filter(|w| w[1] == w[0] + 1).count();
    assert!(sequential < 5, "not handed out in order: {ports:?}");
    assert!(
        ports.iter().collect::<HashSet<_>>().len() >= 20,
        "{ports:?}"
    );
}

#[test]
fn the_default_range_is_49152_to_65535() {
    let mut server = server();
    let now = Instant::now();
    for n in 1..=10 {
        let (_, asked) = allocate(&mut server, now, client(n), &HashSet::new(), NONE);
        assert!(asked[0] >= 49_152, "{asked:?}");
    }
}

#[test]
fn a_port_the_driver_cannot_bind_is_replaced_by_another() {
    let mut server = server();
    let now = Instant::now();
    // The first port the server asks for is taken: it asks for another, which is bound.
    let nonce = nonce_for(&mut server, now, client(1));
    let request = allocate_with(&nonce).encode();
    server.handle_client(
        now,
        addr(SERVER),
        client(1),
        floe_turn::Transport::Udp,
        &request,
    );
    let Some(ServerEvent::BindRelay {
        allocation,
        family,
        port: first,
        ..
    }) = server.poll_event()
    else {
        panic!("no BindRelay");
    };
    server.relay_bound(now, allocation, family, None);
    let (asked, _) = drive(&mut server, now, &HashSet::new());
    assert_eq!(asked.len(), 1);
    assert_ne!(asked[0], first);
    let reply = server.poll_transmit().unwrap();
    let reply = Message::decode(&reply.payload).unwrap();
    assert_eq!(code(&reply), None);
    assert_eq!(relayed(&reply)[0].port(), asked[0]);
}

#[test]
fn no_bindable_port_after_eight_tries_gets_508() {
    let mut config = ServerConfig::new(REALM, "alice", "secret");
    config.relay_ports = 50_000..=50_003;
    let mut server = TurnServer::new(config, [5; 32]);
    let taken: HashSet<u16> = (50_000..=50_003).collect();
    let (reply, asked) = allocate(&mut server, Instant::now(), client(1), &taken, NONE);
    assert_eq!(code(&reply), Some(508));
    assert_eq!(asked.len(), 8, "{asked:?}");
    assert_eq!(server.allocation_count(), 0);
}

#[test]
fn even_port_gets_an_even_relay_and_no_token() {
    let mut server = server();
    let now = Instant::now();
    for n in 1..=10 {
        let even = |w: &mut MessageWriter<'_>| {
            w.add(&EvenPort {
                reserve_next: false,
            })
            .unwrap()
        };
        let (reply, _) = allocate(&mut server, now, client(n), &HashSet::new(), &even);
        assert_eq!(code(&reply), None);
        assert_eq!(relayed(&reply)[0].port() % 2, 0);
        assert_eq!(reply.get::<ReservationToken>().unwrap(), None);
    }
}

/// EVEN-PORT with the R bit: port N (even) for this allocation, N + 1 held under a
/// RESERVATION-TOKEN that another Allocate redeems at once, only once.
#[test]
fn the_r_bit_reserves_the_next_port_for_one_allocate_with_the_token() {
    let mut server = server();
    let now = Instant::now();
    let r_bit = |w: &mut MessageWriter<'_>| w.add(&EvenPort { reserve_next: true }).unwrap();
    let (reply, asked) = allocate(&mut server, now, client(1), &HashSet::new(), &r_bit);
    assert_eq!(code(&reply), None);
    let port = relayed(&reply)[0].port();
    assert_eq!(port % 2, 0);
    assert_eq!(asked, vec![port]);
    let ReservationToken(token) = reply.get::<ReservationToken>().unwrap().expect("a token");
    let redeem = |w: &mut MessageWriter<'_>| w.add(&ReservationToken(token)).unwrap();
    let (reply, asked) = allocate(&mut server, now, client(2), &HashSet::new(), &redeem);
    assert_eq!(code(&reply), None);
    assert_eq!(
        relayed(&reply),
        vec![SocketAddr::new(addr(SERVER).ip(), port + 1)]
    );
    assert!(asked.is_empty(), "the reserved socket is used, none bound");
    let (reply, _) = allocate(&mut server, now, client(3), &HashSet::new(), &redeem);
    assert_eq!(code(&reply), Some(508), "a token is good once");
}

#[test]
fn an_unused_reservation_is_released_after_30_s() {
    let mut server = server();
    let now = Instant::now();
    let r_bit = |w: &mut MessageWriter<'_>| w.add(&EvenPort { reserve_next: true }).unwrap();
    let (reply, _) = allocate(&mut server, now, client(1), &HashSet::new(), &r_bit);
    let port = relayed(&reply)[0].port();
    let ReservationToken(token) = reply.get::<ReservationToken>().unwrap().unwrap();
    server.handle_timeout(now + Duration::from_secs(29));
    assert_eq!(
        drive(&mut server, now, &HashSet::new()).1,
        Vec::<u16>::new()
    );
    let later = now + Duration::from_secs(30);
    assert!(server.poll_timeout().is_some_and(|t| t <= later));
    server.handle_timeout(later);
    assert_eq!(drive(&mut server, later, &HashSet::new()).1, vec![port + 1]);
    let redeem = |w: &mut MessageWriter<'_>| w.add(&ReservationToken(token)).unwrap();
    let (reply, _) = allocate(&mut server, later, client(2), &HashSet::new(), &redeem);
    assert_eq!(code(&reply), Some(508));
}

#[test]
fn a_reservation_token_beside_even_port_or_an_address_family_gets_400() {
    let mut server = server();
    let now = Instant::now();
    let with_even = |w: &mut MessageWriter<'_>| {
        w.add(&ReservationToken(1)).unwrap();
        w.add(&EvenPort {
            reserve_next: false,
        })
        .unwrap();
    };
    let with_family = |w: &mut MessageWriter<'_>| {
        w.add(&ReservationToken(1)).unwrap();
        w.add(&RequestedAddressFamily(AddressFamily::Ipv4)).unwrap();
    };
    let with_additional = |w: &mut MessageWriter<'_>| {
        w.add(&ReservationToken(1)).unwrap();
        w.add(&AdditionalAddressFamily(AddressFamily::Ipv6))
            .unwrap();
    };
    let unknown = |w: &mut MessageWriter<'_>| w.add(&ReservationToken(1)).unwrap();
    let cases: [(Attrs<'_>, u16); 4] = [
        (&with_even, 400),
        (&with_family, 400),
        (&with_additional, 400),
        (&unknown, 508),
    ];
    for (n, (attrs, want)) in cases.into_iter().enumerate() {
        let (reply, _) = allocate(
            &mut server,
            now,
            client(n as u8 + 1),
            &HashSet::new(),
            attrs,
        );
        assert_eq!(code(&reply), Some(want), "case {n}");
    }
    assert_eq!(server.allocation_count(), 0);
}

/// RFC 8656 §8.2: LIFETIME 0 with REQUESTED-ADDRESS-FAMILY ends that family's relay only.
#[test]
fn a_deleting_refresh_for_one_family_keeps_the_other() {
    let mut server = server();
    let now = Instant::now();
    let dual = |w: &mut MessageWriter<'_>| {
        w.add(&AdditionalAddressFamily(AddressFamily::Ipv6))
            .unwrap()
    };
    let (reply, _) = allocate(&mut server, now, client(1), &HashSet::new(), &dual);
    let relays = relayed(&reply);
    assert_eq!(relays.len(), 2);
    let nonce = nonce_for(&mut server, now, client(1));
    let delete_v6 = |w: &mut MessageWriter<'_>| {
        w.add(&Lifetime(0)).unwrap();
        w.add(&RequestedAddressFamily(AddressFamily::Ipv6)).unwrap();
    };
    let refresh = Signed {
        method: Method::REFRESH,
        tid: [8; 12],
        attrs: Some(&delete_v6),
        ..allocate_with(&nonce)
    };
    let replies = ask(&mut server, now, client(1), &refresh.encode());
    assert_eq!(error_code(&replies[0]), None);
    assert_eq!(server.allocation_count(), 1, "the IPv4 relay lives on");
    // ask() drove the events: the IPv6 relay was released; the server now answers a Refresh
    // for IPv6 with 443 and one for IPv4 with success.
    let v6 = |w: &mut MessageWriter<'_>| {
        w.add(&Lifetime(600)).unwrap();
        w.add(&RequestedAddressFamily(AddressFamily::Ipv6)).unwrap();
    };
    let again = Signed {
        method: Method::REFRESH,
        tid: [9; 12],
        attrs: Some(&v6),
        ..allocate_with(&nonce)
    };
    assert_eq!(
        error_code(&ask(&mut server, now, client(1), &again.encode())[0]),
        Some(443)
    );
}

/// RFC 8656 §11.2, RFC 8489 §6.3.2: an indication gets no 420, so one with DONT-FRAGMENT the
/// server does not honour, or another comprehension-required attribute it does not know, is
/// dropped.
#[test]
fn a_send_indication_asking_for_df_or_with_an_unknown_attribute_is_dropped() {
    let mut net = Net::new(client_config(), server_config());
    net.allocate();
    let peer = addr(PEER);
    net.client.create_permission(net.now, peer.ip()).unwrap();
    net.pump();
    for extra in [types::DONT_FRAGMENT, 0x7f00] {
        let mut buf = [0u8; 128];
        let ty = floe_stun::MessageType::new(floe_stun::Class::Indication, Method::SEND);
        let tid = floe_stun::TransactionId::new([3; 12]);
        let mut w = MessageWriter::new(&mut buf, ty, tid).unwrap();
        w.add(&XorPeerAddress(peer)).unwrap();
        w.add_raw(extra, &[]).unwrap();
        w.add(&Data(b"dropped")).unwrap();
        let len = w.finish();
        net.send_to_server(&buf[..len]);
        net.pump();
        assert!(net.peer_data.is_empty(), "{extra:#x}: {:?}", net.peer_data);
    }
    net.send(peer, b"plain");
    assert_eq!(
        net.peer_data.len(),
        1,
        "the same indication without them is relayed"
    );
    assert_eq!(net.peer_data[0].0, net.relay());
}

/// 100,000 Allocates from as many spoofed sources leave nothing behind: no allocation, no
/// timer, no event, and at most a bounded number of answers (the per-source reply budget).
#[test]
fn a_flood_of_spoofed_allocates_leaves_no_state() {
    let mut server = server();
    let now = Instant::now();
    let mut answers = 0usize;
    for i in 0..100_000u32 {
        let from = SocketAddr::from(([100, 64 | (i >> 16) as u8, (i >> 8) as u8, i as u8], 9));
        server.handle_client(
            now,
            addr(SERVER),
            from,
            floe_turn::Transport::Udp,
            &unauthenticated_allocate(i),
        );
        answers += std::iter::from_fn(|| server.poll_transmit()).count();
    }
    assert_eq!(server.allocation_count(), 0);
    assert_eq!(server.poll_event(), None);
    assert_eq!(server.poll_timeout(), None);
    // 1,024 buckets of a burst of 20 each, at most.
    assert!(answers <= 1024 * 20, "{answers} answers");
}
