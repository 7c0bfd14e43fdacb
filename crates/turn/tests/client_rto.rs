//! The TURN client's transactions towards its server (RFC 8489 §6.2, §6.2.1): an RTO from the
//! round trips it measures (RFC 6298, Karn's algorithm), kept for the next client to the same
//! server, and at most 10 requests outstanding. The server is scripted by hand, on a virtual
//! clock.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use floe_stun::attributes::{
    AlternateServer, ErrorCode, Lifetime, Nonce, Realm, XorPeerAddress, XorRelayedAddress,
};
use floe_stun::{
    Class, LongTermKey, Message, MessageType, MessageWriter, Method, PasswordAlgorithmKind,
    TransactionId,
};
use floe_turn::{ClientConfig, TurnClient, TurnEvent};

const SERVER: &str = "192.0.2.1:3478";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config() -> ClientConfig {
    ClientConfig::new(SERVER.parse().unwrap(), "alice", "secret")
}

fn peer(i: u8) -> IpAddr {
    IpAddr::from([203, 0, 113, i])
}

/// One request the client sent.
#[derive(Clone, Debug, PartialEq)]
struct Request {
    method: Method,
    tid: TransactionId,
    /// XOR-PEER-ADDRESS's IP, for CreatePermission.
    peer: Option<IpAddr>,
    lifetime: Option<u32>,
    nonce: Option<String>,
}

/// Everything the client has to send now.
fn sent(client: &mut TurnClient) -> Vec<Request> {
    std::iter::from_fn(|| {
        let t = client.poll_transmit()?;
        let m = Message::decode(t.payload).unwrap();
        Some(Request {
            method: m.method(),
            tid: m.transaction_id(),
            peer: m.get::<XorPeerAddress>().unwrap().map(|p| p.0.ip()),
            lifetime: m.get::<Lifetime>().unwrap().map(|l| l.0),
            nonce: m.get::<Nonce>().unwrap().map(|n| n.0.to_owned()),
        })
    })
    .collect()
}

/// The one request the client has to send now.
fn one(client: &mut TurnClient) -> Request {
    let mut all = sent(client);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

/// Answers `req` at `now`: an error when `code` is given, signed unless it is the 401.
fn respond(
    client: &mut TurnClient,
    now: Instant,
    req: &Request,
    code: Option<u16>,
    attrs: impl FnOnce(&mut MessageWriter<'_>),
) {
    let mut buf = [0u8; 512];
    let class = match code {
        Some(_) => Class::ErrorResponse,
        None => Class::SuccessResponse,
    };
    let ty = MessageType::new(class, req.method);
    let mut w = MessageWriter::new(&mut buf, ty, req.tid).unwrap();
    if let Some(code) = code {
        w.add(&ErrorCode::new(code, "scripted")).unwrap();
    }
    attrs(&mut w);
    if code != Some(401) && req.nonce.is_some() {
        let key = LongTermKey::derive(
            "alice",
            "example.test",
            "secret",
            PasswordAlgorithmKind::Md5,
        );
        w.add_message_integrity(&key.unwrap().integrity_key())
            .unwrap();
    }
    w.add_fingerprint().unwrap();
    let n = w.finish();
    let from = client.server();
    client.handle_datagram(now, from, &buf[..n]);
}

/// Allocates from `start`, the server answering the Allocate (401, then success with
/// `lifetime`) after `rtt` each time; returns when it is done.
fn allocate(client: &mut TurnClient, start: Instant, rtt: Duration, lifetime: u32) -> Instant {
    client.allocate(start).unwrap();
    let req = one(client);
    respond(client, start + rtt, &req, Some(401), |w| {
        w.add(&Realm("example.test")).unwrap();
        w.add(&Nonce("nonce-1")).unwrap();
    });
    let req = one(client);
    let now = start + rtt * 2;
    respond(client, now, &req, None, |w| {
        w.add(&XorRelayedAddress("192.0.2.1:50000".parse().unwrap()))
            .unwrap();
        w.add(&Lifetime(lifetime)).unwrap();
    });
    assert!(client.is_allocated());
    std::iter::from_fn(|| client.poll_event()).for_each(drop);
    now
}

/// The times, after `from`, at which `req` is sent again, up to `until`.
fn retransmissions(
    client: &mut TurnClient,
    req: &Request,
    from: Instant,
    until: Instant,
) -> Vec<Duration> {
    let mut times = Vec::new();
    while let Some(at) = client.poll_timeout().filter(|at| *at <= until) {
        client.handle_timeout(at);
        for r in sent(client) {
            assert_eq!(r.tid, req.tid, "another request: {r:?}");
            times.push(at - from);
        }
    }
    times
}

/// RFC 8489 §6.2.1 with RFC 6298: two round trips of 60 ms give SRTT 60 ms and RTTVAR 22.5 ms,
/// so an RTO of 150 ms: a lost CreatePermission is sent again 150 ms later, then 300 ms after
/// that, not after the 500 ms a client without measurements waits.
#[test]
fn rto_follows_measured_round_trips() {
    let start = Instant::now();
    let mut client = TurnClient::new(config(), [1; 32]);
    let now = allocate(&mut client, start, ms(60), 600);
    assert_eq!(client.rtt().srtt(), Some(ms(60)));
    assert_eq!(client.rto(), ms(150));
    client.create_permission(now, peer(1)).unwrap();
    let req = one(&mut client);
    let times = retransmissions(&mut client, &req, now, now + ms(500));
    assert_eq!(times, [ms(150), ms(450)]);
}

/// Round trips of 20 ms would give an RTO of 50 ms; it stays at `min_rto` (100 ms by default),
/// and follows a lower `min_rto` when configured.
#[test]
fn rto_is_no_less_than_min_rto() {
    let start = Instant::now();
    let mut client = TurnClient::new(config(), [1; 32]);
    let now = allocate(&mut client, start, ms(20), 600);
    assert_eq!(client.rto(), ms(100));
    client.create_permission(now, peer(1)).unwrap();
    let req = one(&mut client);
    assert_eq!(
        retransmissions(&mut client, &req, now, now + ms(100)),
        [ms(100)]
    );

    let mut config = config();
    config.min_rto = ms(10);
    let mut client = TurnClient::new(config, [1; 32]);
    allocate(&mut client, start, ms(20), 600);
    assert_eq!(client.rto(), ms(50));
}

/// Karn's algorithm (RFC 8489 §6.2.1, RFC 6298 §3): a response to a request sent twice may
/// answer either copy, so it gives no sample; the next request answered at once does.
#[test]
fn retransmitted_requests_give_no_rtt_sample() {
    let start = Instant::now();
    let mut client = TurnClient::new(config(), [1; 32]);
    client.allocate(start).unwrap();
    let req = one(&mut client);
    let times = retransmissions(&mut client, &req, start, start + ms(500));
    assert_eq!(times, [ms(500)]);
    // 20 ms after the retransmission, 520 ms after the first copy: neither is a round trip.
    respond(&mut client, start + ms(520), &req, Some(401), |w| {
        w.add(&Realm("example.test")).unwrap();
        w.add(&Nonce("nonce-1")).unwrap();
    });
    assert_eq!(client.rtt().srtt(), None);
    assert_eq!(client.rto(), ms(500));
    let req = one(&mut client);
    respond(&mut client, start + ms(550), &req, None, |w| {
        w.add(&XorRelayedAddress("192.0.2.1:50000".parse().unwrap()))
            .unwrap();
    });
    assert!(client.is_allocated());
    assert_eq!(client.rtt().srtt(), Some(ms(30)));
}

/// RFC 8489 §6.2.1: the RTO is kept for the next transactions to the same server. A driver
/// that opens a second allocation there passes the first client's estimate on, and the second
/// client's very first request is retransmitted after the measured RTO.
#[test]
fn rto_carries_over_to_the_next_client_for_the_same_server() {
    let start = Instant::now();
    let mut first = TurnClient::new(config(), [1; 32]);
    let now = allocate(&mut first, start, ms(60), 600);
    let mut config = config();
    config.rtt = first.rtt();
    let mut second = TurnClient::new(config, [2; 32]);
    assert_eq!(second.rto(), ms(150));
    second.allocate(now).unwrap();
    let req = one(&mut second);
    assert_eq!(
        retransmissions(&mut second, &req, now, now + ms(200)),
        [ms(150)]
    );
}

/// The estimate belongs to a server (by IP address): after a 300 to another server the
/// client starts again from the initial 500 ms.
#[test]
fn rto_is_forgotten_on_a_redirect_to_another_server() {
    let start = Instant::now();
    let mut first = TurnClient::new(config(), [1; 32]);
    allocate(&mut first, start, ms(60), 600);
    let mut config = config();
    config.rtt = first.rtt();
    let mut client = TurnClient::new(config, [2; 32]);
    client.allocate(start).unwrap();
    let req = one(&mut client);
    let alternate: SocketAddr = "192.0.2.2:3478".parse().unwrap();
    let now = start + ms(60);
    respond(&mut client, now, &req, Some(300), |w| {
        w.add(&AlternateServer(alternate)).unwrap()
    });
    assert_eq!(
        client.poll_event(),
        Some(TurnEvent::AlternateServer { server: alternate })
    );
    assert_eq!(client.rtt().srtt(), None);
    let req = one(&mut client);
    assert_eq!(
        retransmissions(&mut client, &req, now, now + ms(500)),
        [ms(500)]
    );
}

/// RFC 8489 §6.2.1: an RTO is stale after 10 minutes without a transaction to the server. An
/// allocation of one hour is refreshed after 48 minutes, with the initial RTO again.
#[test]
fn rto_goes_stale_after_ten_minutes_without_a_transaction() {
    let start = Instant::now();
    let mut config = config();
    config.lifetime = Some(Duration::from_secs(3600));
    let mut client = TurnClient::new(config, [1; 32]);
    let now = allocate(&mut client, start, ms(60), 3600);
    assert_eq!(client.rto(), ms(150));
    let refresh_at = now + Duration::from_secs(2880);
    assert_eq!(client.poll_timeout(), Some(refresh_at));
    client.handle_timeout(refresh_at);
    let req = one(&mut client);
    assert_eq!(req.method, Method::REFRESH);
    assert_eq!(
        retransmissions(&mut client, &req, refresh_at, refresh_at + ms(500)),
        [ms(500)]
    );
}

/// RFC 8489 §6.2: at most 10 transactions outstanding towards the server. 30 permissions asked
/// at once from a silent server: 10 CreatePermissions go out; each that ends (3 answered, the
/// others timed out) lets the next waiting one go, in the order asked, until all 30 were sent.
#[test]
fn at_most_ten_requests_are_outstanding() {
    let start = Instant::now();
    let mut client = TurnClient::new(config(), [1; 32]);
    let mut now = allocate(&mut client, start, ms(20), 600);
    for i in 1..=30 {
        client.create_permission(now, peer(i)).unwrap();
    }
    // Each CreatePermission, at its first transmission.
    let mut first_sent: Vec<Request> = Vec::new();
    fn record(client: &mut TurnClient, first_sent: &mut Vec<Request>) {
        for r in sent(client) {
            assert_eq!(r.method, Method::CREATE_PERMISSION);
            if !first_sent.iter().any(|f| f.tid == r.tid) {
                first_sent.push(r);
            }
        }
    }
    record(&mut client, &mut first_sent);
    assert_eq!(first_sent.len(), 10);
    for req in &first_sent[..3] {
        respond(&mut client, now + ms(20), req, None, |_| {});
    }
    record(&mut client, &mut first_sent);
    assert_eq!(first_sent.len(), 13, "one sent for each answered");
    let mut ended = 3;
    while ended < 30 {
        now = client.poll_timeout().expect("a timer");
        client.handle_timeout(now);
        record(&mut client, &mut first_sent);
        ended += std::iter::from_fn(|| client.poll_event())
            .filter(|e| matches!(e, TurnEvent::PermissionFailed { .. }))
            .count();
        assert!(
            first_sent.len() - ended <= 10,
            "{} outstanding",
            first_sent.len() - ended
        );
    }
    let peers: Vec<IpAddr> = first_sent.iter().filter_map(|r| r.peer).collect();
    assert_eq!(peers, (1..=30).map(peer).collect::<Vec<_>>());
    assert!(now < start + Duration::from_secs(60), "{:?}", now - start);
}

/// `ClientConfig::max_outstanding` sets the limit.
#[test]
fn the_outstanding_limit_is_configurable() {
    let start = Instant::now();
    let mut config = config();
    config.max_outstanding = 2;
    let mut client = TurnClient::new(config, [1; 32]);
    let now = allocate(&mut client, start, ms(20), 600);
    for i in 1..=5 {
        client.create_permission(now, peer(i)).unwrap();
    }
    let out = sent(&mut client);
    assert_eq!(out.len(), 2);
    respond(&mut client, now, &out[0], None, |_| {});
    assert_eq!(one(&mut client).peer, Some(peer(3)));
}

/// A request that waited is encoded when it goes out, with the nonce of that moment: a 438
/// answered meanwhile does not make it stale too.
#[test]
fn a_waiting_request_carries_the_current_nonce() {
    let start = Instant::now();
    let mut client = TurnClient::new(config(), [1; 32]);
    let now = allocate(&mut client, start, ms(20), 600);
    for i in 1..=11 {
        client.create_permission(now, peer(i)).unwrap();
    }
    let out = sent(&mut client);
    assert_eq!(out.len(), 10);
    respond(&mut client, now, &out[0], Some(438), |w| {
        w.add(&Nonce("nonce-2")).unwrap()
    });
    let retry = one(&mut client);
    assert_eq!(
        (retry.peer, retry.nonce.as_deref()),
        (Some(peer(1)), Some("nonce-2")),
        "the retry keeps its place"
    );
    respond(&mut client, now, &out[1], None, |_| {});
    let waited = one(&mut client);
    assert_eq!(
        (waited.peer, waited.nonce.as_deref()),
        (Some(peer(11)), Some("nonce-2"))
    );
}

/// close() sends its deleting Refresh at once, not behind the permissions in flight and
/// waiting; those are moot and dropped: nothing else goes out or is reported after it.
#[test]
fn close_is_not_queued_behind_permissions() {
    let start = Instant::now();
    let mut client = TurnClient::new(config(), [1; 32]);
    let now = allocate(&mut client, start, ms(20), 600);
    for i in 1..=30 {
        client.create_permission(now, peer(i)).unwrap();
    }
    let in_flight: BTreeSet<TransactionId> = sent(&mut client).iter().map(|r| r.tid).collect();
    assert_eq!(in_flight.len(), 10);
    client.close(now);
    let refresh = one(&mut client);
    assert_eq!(
        (refresh.method, refresh.lifetime),
        (Method::REFRESH, Some(0))
    );
    respond(&mut client, now + ms(20), &refresh, None, |_| {});
    assert_eq!(client.poll_event(), Some(TurnEvent::Closed));
    while let Some(at) = client.poll_timeout() {
        client.handle_timeout(at);
        assert_eq!(sent(&mut client), [], "at {:?}", at - now);
    }
    assert_eq!(client.poll_event(), None);
}
