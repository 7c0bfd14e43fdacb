//! Attacks on the server's long-term credential mechanism (RFC 8489 §9.2.4): nonce floods,
//! nonces replayed from elsewhere, a stripped PASSWORD-ALGORITHMS offer, and the order of the
//! checks. Requests are written by hand so they can be wrong in exactly one way.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use floe_stun::attributes::{ErrorCode, Nonce, PasswordAlgorithm, PasswordAlgorithms, Realm};
use floe_stun::{Class, Message, MessageType, MessageWriter, Method};
use floe_turn::{ClientConfig, ServerConfig, TurnClient, TurnEvent, TurnServer};

fn server(password_algorithms: bool) -> TurnServer {
    let mut config = ServerConfig::new(REALM, "alice", "secret");
    config.password_algorithms = password_algorithms;
    TurnServer::new(config, [4; 32])
}

/// A server that answers every unauthenticated request (no reply budget).
fn unlimited_server() -> TurnServer {
    let mut config = ServerConfig::new(REALM, "alice", "secret");
    config.unauthenticated_replies = 0;
    TurnServer::new(config, [4; 32])
}

/// Nonces are stateless: 20,000 unauthenticated Allocates from as many spoofed sources, each
/// answered with a 401 and a fresh nonce, do not make a real client's nonce stale (with a
/// table of handed-out nonces they evicted it, and the client's next request got 438).
#[test]
fn a_flood_of_401s_does_not_make_a_clients_nonce_stale() {
    let now = Instant::now();
    let mut server = unlimited_server();
    let nonce = nonce_for(&mut server, now, addr(CLIENT));
    let ok = ask(
        &mut server,
        now,
        addr(CLIENT),
        &allocate_with(&nonce).encode(),
    );
    assert_eq!(error_code(&ok[0]), None, "allocated");
    for i in 0..20_000u32 {
        let from = SocketAddr::from(([203, 0, (i >> 8) as u8, i as u8], 40_000));
        let replies = ask(&mut server, now, from, &unauthenticated_allocate(i));
        assert_eq!(error_code(&replies[0]), Some(401));
    }
    let refresh = Signed {
        method: Method::REFRESH,
        ..allocate_with(&nonce)
    };
    let replies = ask(&mut server, now, addr(CLIENT), &refresh.encode());
    assert_eq!(error_code(&replies[0]), None);
    assert_eq!(server.allocation_count(), 1);
}

/// A nonce is bound to the transport address it was handed to: from anywhere else, even with
/// the right password, it is stale (438, with a nonce for the new address).
#[test]
fn a_nonce_is_good_only_from_the_address_it_was_given_to() {
    let now = Instant::now();
    let mut server = server(false);
    let nonce = nonce_for(&mut server, now, addr(CLIENT));
    let elsewhere = addr("198.51.100.11:5000");
    let replies = ask(&mut server, now, elsewhere, &allocate_with(&nonce).encode());
    assert_eq!(error_code(&replies[0]), Some(438));
    let fresh = Message::decode(&replies[0]).unwrap();
    let fresh = fresh.get::<Nonce>().unwrap().unwrap().0.to_owned();
    let replies = ask(&mut server, now, elsewhere, &allocate_with(&fresh).encode());
    assert_eq!(error_code(&replies[0]), None);
}

/// Nonces go stale after their lifetime (RFC 8489 §9.2.4 step 6).
#[test]
fn a_nonce_goes_stale_after_its_lifetime() {
    let now = Instant::now();
    let mut server = server(false);
    let nonce = nonce_for(&mut server, now, addr(CLIENT));
    let later = now + Duration::from_secs(601);
    let replies = ask(
        &mut server,
        later,
        addr(CLIENT),
        &allocate_with(&nonce).encode(),
    );
    assert_eq!(error_code(&replies[0]), Some(438));
}

/// RFC 8489 §9.2.4: staleness is checked last. A wrong password with a stale nonce gets 401,
/// so a 438 (and a fresh nonce) goes only to someone who knows the password.
#[test]
fn a_wrong_password_with_a_stale_nonce_gets_401_not_438() {
    let now = Instant::now();
    let mut server = server(false);
    let wrong = Signed {
        password: "guess",
        ..allocate_with("obMatJos2AAAAnot-a-nonce-of-ours")
    };
    let replies = ask(&mut server, now, addr(CLIENT), &wrong.encode());
    assert_eq!(error_code(&replies[0]), Some(401));
}

/// RFC 8489 §9.2.4 step 3: a request that names a password algorithm must echo the offered
/// PASSWORD-ALGORITHMS unchanged. One whose echo lost SHA-256 (as a man in the middle that
/// stripped it would make it) gets 400, and so does one that names an algorithm without the
/// list.
#[test]
fn an_altered_password_algorithms_echo_gets_400() {
    let now = Instant::now();
    let mut server = server(true);
    let nonce = nonce_for(&mut server, now, addr(CLIENT));
    let offered = [PasswordAlgorithm::SHA256, PasswordAlgorithm::MD5];
    for (algorithm, echoed) in [
        (PasswordAlgorithm::MD5, Some(&[PasswordAlgorithm::MD5][..])),
        (
            PasswordAlgorithm::SHA256,
            Some(&[PasswordAlgorithm::SHA256][..]),
        ),
        (PasswordAlgorithm::SHA256, None),
    ] {
        let request = Signed {
            algorithm: Some(algorithm),
            offered: echoed,
            ..allocate_with(&nonce)
        };
        let replies = ask(&mut server, now, addr(CLIENT), &request.encode());
        assert_eq!(error_code(&replies[0]), Some(400), "{algorithm} {echoed:?}");
    }
    // The unaltered echo is accepted.
    let request = Signed {
        algorithm: Some(PasswordAlgorithm::SHA256),
        offered: Some(&offered),
        ..allocate_with(&nonce)
    };
    let replies = ask(&mut server, now, addr(CLIENT), &request.encode());
    assert_eq!(error_code(&replies[0]), None);
}

/// The client side of the downgrade (RFC 8489 §9.2.5): a 401 whose nonce says the server
/// offers PASSWORD-ALGORITHMS but which carries none was tampered with; the client gives up
/// rather than answer with MD5.
#[test]
fn the_client_refuses_a_challenge_stripped_of_password_algorithms() {
    let now = Instant::now();
    let mut server = server(true);
    let mut client = TurnClient::new(ClientConfig::new(addr(SERVER), "alice", "secret"), [6; 32]);
    client.allocate(now).unwrap();
    let request = client.poll_transmit().unwrap().payload.to_vec();
    let replies = ask(&mut server, now, addr(CLIENT), &request);
    let challenge = Message::decode(&replies[0]).unwrap();
    let nonce = challenge.get::<Nonce>().unwrap().unwrap().0.to_owned();
    assert!(challenge.get::<PasswordAlgorithms>().unwrap().is_some());
    // The same 401 without PASSWORD-ALGORITHMS.
    let mut buf = [0u8; 256];
    let ty = MessageType::new(Class::ErrorResponse, Method::ALLOCATE);
    let mut w = MessageWriter::new(&mut buf, ty, challenge.transaction_id()).unwrap();
    w.add(&ErrorCode::new(401, "Unauthenticated")).unwrap();
    w.add(&Realm(REALM)).unwrap();
    w.add(&Nonce(&nonce)).unwrap();
    w.add_fingerprint().unwrap();
    let len = w.finish();
    let _ = client.handle_datagram(now, addr(SERVER), &buf[..len]);
    let events: Vec<TurnEvent> = std::iter::from_fn(|| client.poll_event()).collect();
    assert!(matches!(events[..], [TurnEvent::Failed(_)]), "{events:?}");
    // No MD5-keyed answer went out.
    assert!(client.poll_transmit().is_none());
}

/// A spoofed source gets a burst of 20 unauthenticated answers, then 10 a second: a flood of
/// 1,000 small requests from one address makes the server send 20 answers, not 1,000 answers
/// five times their size. Another client is not affected.
#[test]
fn unauthenticated_answers_are_rationed_per_source() {
    let now = Instant::now();
    let mut server = server(false);
    let spoofed = addr("203.0.113.66:1234");
    let mut sent = 0usize;
    let mut answered = 0usize;
    let mut answer_bytes = 0usize;
    for i in 0..1_000u32 {
        let request = unauthenticated_allocate(i);
        sent += request.len();
        let replies = ask(&mut server, now, spoofed, &request);
        answered += replies.len();
        answer_bytes += replies.iter().map(Vec::len).sum::<usize>();
    }
    assert_eq!(answered, 20);
    assert!(
        answer_bytes < sent / 10,
        "{answer_bytes} bytes out for {sent} in"
    );
    // A second later the source has 10 more.
    let later = now + Duration::from_secs(1);
    let more: usize = (0..100u32)
        .map(|i| ask(&mut server, later, spoofed, &unauthenticated_allocate(i)).len())
        .sum();
    assert_eq!(more, 10);
    // A real client elsewhere still gets its challenge and its allocation.
    let nonce = nonce_for(&mut server, later, addr(CLIENT));
    let ok = ask(
        &mut server,
        later,
        addr(CLIENT),
        &allocate_with(&nonce).encode(),
    );
    assert_eq!(error_code(&ok[0]), None);
}
