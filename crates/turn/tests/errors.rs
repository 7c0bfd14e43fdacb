//! Error responses the floe server does not produce, scripted by hand: 300 Try Alternate,
//! 438 twice, 441, 486, 508, and responses that fail their integrity check.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_stun::attributes::{
    AlternateServer, ErrorCode, Lifetime, Nonce, Realm, XorMappedAddress, XorRelayedAddress,
};
use floe_stun::{
    Class, LongTermKey, Message, MessageType, MessageWriter, Method, PasswordAlgorithmKind,
    TransactionId,
};
use floe_turn::{ClientConfig, TurnClient, TurnError, TurnEvent};

const SERVER: &str = "192.0.2.1:3478";
const ALTERNATE: &str = "192.0.2.2:3478";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn key() -> LongTermKey {
    LongTermKey::derive(
        "alice",
        "example.test",
        "secret",
        PasswordAlgorithmKind::Md5,
    )
    .unwrap()
}

/// The last request the client sent: (method, transaction id, has integrity).
fn sent(client: &mut TurnClient) -> (Method, TransactionId, bool, SocketAddr) {
    let mut last = None;
    while let Some(t) = client.poll_transmit() {
        let m = Message::decode(t.payload).unwrap();
        last = Some((
            m.method(),
            m.transaction_id(),
            m.has_integrity(),
            t.destination,
        ));
    }
    last.expect("a request")
}

fn respond(
    client: &mut TurnClient,
    now: Instant,
    method: Method,
    tid: TransactionId,
    code: Option<u16>,
    sign: bool,
    attrs: impl FnOnce(&mut MessageWriter<'_>),
) {
    let mut buf = [0u8; 512];
    let class = if code.is_some() {
        Class::ErrorResponse
    } else {
        Class::SuccessResponse
    };
    let mut w = MessageWriter::new(&mut buf, MessageType::new(class, method), tid).unwrap();
    if let Some(code) = code {
        w.add(&ErrorCode::new(code, "scripted")).unwrap();
    }
    attrs(&mut w);
    if sign {
        w.add_message_integrity(&key().integrity_key()).unwrap();
    }
    w.add_fingerprint().unwrap();
    let n = w.finish();
    let from = client.server();
    client.handle_datagram(now, from, &buf[..n]);
}

fn challenge(w: &mut MessageWriter<'_>) {
    w.add(&Realm("example.test")).unwrap();
    w.add(&Nonce("nonce-1")).unwrap();
}

/// A client that got past the 401 and has an allocation.
fn allocated(now: Instant) -> TurnClient {
    let mut client = TurnClient::new(ClientConfig::new(addr(SERVER), "alice", "secret"), [3; 32]);
    client.allocate(now).unwrap();
    let (m, tid, _, _) = sent(&mut client);
    respond(&mut client, now, m, tid, Some(401), false, challenge);
    let (m, tid, signed, _) = sent(&mut client);
    assert!(signed);
    respond(&mut client, now, m, tid, None, true, |w| {
        w.add(&XorRelayedAddress(addr("192.0.2.1:50000"))).unwrap();
        w.add(&XorMappedAddress(addr("198.51.100.1:4000"))).unwrap();
        w.add(&Lifetime(600)).unwrap();
    });
    assert!(client.is_allocated());
    client
}

fn events(client: &mut TurnClient) -> Vec<TurnEvent> {
    std::iter::from_fn(|| client.poll_event()).collect()
}

#[test]
fn try_alternate_moves_to_the_new_server_once() {
    let now = Instant::now();
    let mut client = TurnClient::new(ClientConfig::new(addr(SERVER), "alice", "secret"), [3; 32]);
    client.allocate(now).unwrap();
    let (m, tid, _, _) = sent(&mut client);
    respond(&mut client, now, m, tid, Some(300), false, |w| {
        w.add(&AlternateServer(addr(ALTERNATE))).unwrap()
    });
    assert_eq!(
        events(&mut client),
        vec![TurnEvent::AlternateServer {
            server: addr(ALTERNATE)
        }]
    );
    let (m, tid, signed, dest) = sent(&mut client);
    assert_eq!(
        (m, signed, dest),
        (Method::ALLOCATE, false, addr(ALTERNATE))
    );
    // Redirected back to the first server: a loop, reported once.
    respond(&mut client, now, m, tid, Some(300), false, |w| {
        w.add(&AlternateServer(addr(SERVER))).unwrap()
    });
    assert_eq!(
        events(&mut client),
        vec![TurnEvent::Failed(TurnError::RedirectLoop)]
    );
    assert!(client.poll_transmit().is_none());
}

/// Follows 300s from SERVER through `hops`; returns the events of the last one.
fn redirect_chain(hops: &[&str]) -> Vec<TurnEvent> {
    let now = Instant::now();
    let mut client = TurnClient::new(ClientConfig::new(addr(SERVER), "alice", "secret"), [3; 32]);
    client.allocate(now).unwrap();
    let mut last = Vec::new();
    for hop in hops {
        let (m, tid, _, _) = sent(&mut client);
        respond(&mut client, now, m, tid, Some(300), false, |w| {
            w.add(&AlternateServer(addr(hop))).unwrap()
        });
        last = events(&mut client);
        if last.iter().any(|e| matches!(e, TurnEvent::Failed(_))) {
            break;
        }
    }
    last
}

/// RFC 8489 §10 leaves the hop count to the client: floe follows at most three redirects.
#[test]
fn try_alternate_is_followed_at_most_three_times() {
    let ok = redirect_chain(&["192.0.2.2:3478", "192.0.2.3:3478", "192.0.2.4:3478"]);
    assert!(
        matches!(ok[..], [TurnEvent::AlternateServer { .. }]),
        "{ok:?}"
    );
    let too_far = redirect_chain(&[
        "192.0.2.2:3478",
        "192.0.2.3:3478",
        "192.0.2.4:3478",
        "192.0.2.5:3478",
    ]);
    assert_eq!(too_far, vec![TurnEvent::Failed(TurnError::RedirectLoop)]);
}

/// A public server's 300 must not aim the client (and an HMAC keyed with its password) at its
/// own network, another family, port 0 or a multicast address.
#[test]
fn try_alternate_to_an_internal_or_unusable_address_is_refused() {
    for target in [
        "127.0.0.1:3478",
        "10.0.0.5:3478",
        "192.168.1.1:3478",
        "169.254.1.1:3478",
        "224.0.0.1:3478",
        "0.0.0.0:3478",
        "192.0.2.9:0",
        "[2001:db8::1]:3478",
    ] {
        assert_eq!(
            redirect_chain(&[target]),
            vec![TurnEvent::Failed(TurnError::RedirectLoop)],
            "{target}"
        );
    }
}

/// RFC 8489 §9.2.5: a 438 brings a new nonce to retry with. floe retries as long as each 438
/// brings a nonce it has not used, three times at most, so a nonce that expires between the
/// answer and the retry costs no allocation, and a server that answers every request with 438
/// costs three retries.
#[test]
fn stale_nonce_is_retried_with_each_new_nonce_three_times_at_most() {
    let now = Instant::now();
    let mut client = allocated(now);
    events(&mut client);
    client
        .create_permission(now, addr("203.0.113.9:1").ip())
        .unwrap();
    let (mut m, mut tid, _, _) = sent(&mut client);
    for i in 2..5 {
        let nonce = format!("nonce-{i}");
        respond(&mut client, now, m, tid, Some(438), false, |w| {
            w.add(&Nonce(&nonce)).unwrap()
        });
        let (m2, tid2, signed, _) = sent(&mut client);
        assert_eq!((m2, signed), (Method::CREATE_PERMISSION, true));
        assert_ne!(tid, tid2);
        (m, tid) = (m2, tid2);
    }
    respond(&mut client, now, m, tid, Some(438), false, |w| {
        w.add(&Nonce("nonce-5")).unwrap()
    });
    assert!(client.poll_transmit().is_none(), "a fourth retry");
    assert_eq!(
        events(&mut client),
        vec![TurnEvent::PermissionFailed {
            peer: addr("203.0.113.9:1").ip(),
            error: TurnError::StaleNonce
        }]
    );
}

/// A 438 that brings back the nonce just used is not worth a retry.
#[test]
fn stale_nonce_with_the_same_nonce_is_an_error() {
    let now = Instant::now();
    let mut client = allocated(now);
    events(&mut client);
    client
        .create_permission(now, addr("203.0.113.9:1").ip())
        .unwrap();
    let (m, tid, _, _) = sent(&mut client);
    respond(&mut client, now, m, tid, Some(438), false, |w| {
        w.add(&Nonce("nonce-1")).unwrap()
    });
    assert!(client.poll_transmit().is_none());
    assert_eq!(
        events(&mut client),
        vec![TurnEvent::PermissionFailed {
            peer: addr("203.0.113.9:1").ip(),
            error: TurnError::StaleNonce
        }]
    );
}

#[test]
fn clear_errors_for_441_486_508_and_437() {
    for (code, error) in [
        (441, TurnError::WrongCredentials),
        (486, TurnError::AllocationQuotaReached),
        (508, TurnError::InsufficientCapacity),
        (437, TurnError::AllocationMismatch),
    ] {
        let now = Instant::now();
        let mut client =
            TurnClient::new(ClientConfig::new(addr(SERVER), "alice", "secret"), [3; 32]);
        client.allocate(now).unwrap();
        let (m, tid, _, _) = sent(&mut client);
        respond(&mut client, now, m, tid, Some(401), false, challenge);
        let (m, tid, _, _) = sent(&mut client);
        respond(&mut client, now, m, tid, Some(code), true, |_| {});
        assert_eq!(events(&mut client), vec![TurnEvent::Failed(error.clone())]);
        assert!(client.poll_transmit().is_none());
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn forged_success_is_dropped_and_the_request_retransmitted() {
    let now = Instant::now();
    let mut client = allocated(now);
    events(&mut client);
    client
        .create_permission(now, addr("203.0.113.9:1").ip())
        .unwrap();
    let (m, tid, _, _) = sent(&mut client);
    // Unsigned success: dropped.
    respond(&mut client, now, m, tid, None, false, |_| {});
    assert!(events(&mut client).is_empty());
    client.handle_timeout(now + Duration::from_millis(500));
    let (m2, tid2, _, _) = sent(&mut client);
    assert_eq!((m2, tid2), (m, tid), "retransmitted unchanged");
    respond(&mut client, now, m, tid, None, true, |_| {});
    assert_eq!(
        events(&mut client),
        vec![TurnEvent::PermissionCreated {
            peer: addr("203.0.113.9:1").ip()
        }]
    );
}

#[test]
fn refresh_schedule_follows_the_lifetime() {
    let now = Instant::now();
    let mut client = allocated(now);
    events(&mut client);
    assert_eq!(client.poll_timeout(), Some(now + Duration::from_secs(480)));
    client.handle_timeout(now + Duration::from_secs(480));
    let (m, tid, signed, _) = sent(&mut client);
    assert_eq!((m, signed), (Method::REFRESH, true));
    let later = now + Duration::from_secs(480);
    respond(&mut client, later, m, tid, None, true, |w| {
        w.add(&Lifetime(300)).unwrap()
    });
    assert_eq!(
        events(&mut client),
        vec![TurnEvent::Refreshed {
            lifetime: Duration::from_secs(300)
        }]
    );
    assert_eq!(
        client.poll_timeout(),
        Some(later + Duration::from_secs(240))
    );
    client.close(later);
    let (m, tid, _, _) = sent(&mut client);
    assert_eq!(m, Method::REFRESH);
    respond(&mut client, later, m, tid, None, true, |w| {
        w.add(&Lifetime(0)).unwrap()
    });
    assert_eq!(events(&mut client), vec![TurnEvent::Closed]);
}
