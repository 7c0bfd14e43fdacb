//! The check schedule (RFC 8445 §14 and floe's departures from it, DEVIATIONS.md): pacing,
//! the check RTO, and how long the controlling agent waits for a better pair.

mod wire;

use std::net::SocketAddr;
use std::time::Duration;

use floe_ice::{AgentConfig, TurnServerConfig};
use floe_stun::{Message, MessageType, TransactionId};
use wire::*;

fn stun_server() -> SocketAddr {
    "192.0.2.10:3478".parse().unwrap()
}

/// Times (since the start of the wire) at which a request with this id was sent.
struct Clock {
    start: std::time::Instant,
}

impl Clock {
    fn at(&self, w: &Wire) -> Duration {
        w.now - self.start
    }
}

/// The transaction ids of requests sent to `to`, in `sent` order.
fn request_ids(w: &Wire, to: SocketAddr) -> Vec<TransactionId> {
    w.requests_to(to).into_iter().map(|r| r.0).collect()
}

/// Steps 1 ms at a time until `to` has received `n` copies of the request `tid`; returns when
/// each copy went out.
fn transmissions(
    w: &mut Wire,
    clock: &Clock,
    to: SocketAddr,
    tid: TransactionId,
    n: usize,
) -> Vec<Duration> {
    let mut times = Vec::new();
    let mut seen = 0;
    for _ in 0..5_000 {
        let count = request_ids(w, to).iter().filter(|t| **t == tid).count();
        for _ in seen..count {
            times.push(clock.at(w));
        }
        seen = count;
        if times.len() >= n {
            return times;
        }
        w.advance(MS);
    }
    panic!("only {} transmissions of {tid:?} to {to}", times.len());
}

#[test]
fn first_check_is_not_held_back_by_a_server_query() {
    let mut w = Wire::new(AgentConfig {
        stun_servers: vec![stun_server()],
        turn_servers: vec![TurnServerConfig {
            server: "192.0.2.11:3478".parse().unwrap(),
            transport: Default::default(),
            username: "u".into(),
            password: "p".into(),
        }],
        ..AgentConfig::default()
    });
    w.add_remote(remote(), 0x7e00_00ff);
    // Both at the first instant: the STUN query and the Allocate are paced on their own.
    assert_eq!(request_ids(&w, stun_server()).len(), 1);
    assert_eq!(request_ids(&w, remote()).len(), 1);
}

#[test]
fn server_queries_and_new_checks_are_each_paced_one_per_ta() {
    let second: SocketAddr = "192.0.2.12:3478".parse().unwrap();
    let mut w = Wire::new(AgentConfig {
        stun_servers: vec![stun_server(), second],
        ..AgentConfig::default()
    });
    let r2: SocketAddr = "10.0.0.3:6000".parse().unwrap();
    let mut c = host(r2, 0x7e00_00fe);
    c.foundation = "2".into();
    w.agent.add_remote_candidate(w.now, c).unwrap();
    w.add_remote(remote(), 0x7e00_00ff);
    let started = w.now;
    let first_query = (
        request_ids(&w, stun_server()).len(),
        request_ids(&w, second).len(),
    );
    let first_checks = request_ids(&w, remote()).len() + request_ids(&w, r2).len();
    assert_eq!(first_query, (1, 0));
    assert_eq!(first_checks, 1);
    let ta = AgentConfig::default().ta;
    w.advance(ta - MS);
    assert_eq!(request_ids(&w, second).len(), 0);
    let checks = |w: &Wire| request_ids(w, remote()).len() + request_ids(w, r2).len();
    assert_eq!(checks(&w), 1);
    w.advance(MS);
    assert_eq!(w.now - started, ta);
    assert_eq!(request_ids(&w, second).len(), 1);
    assert_eq!(checks(&w), 2);
}

#[test]
fn check_rto_is_500ms_before_any_round_trip_is_measured() {
    let mut w = Wire::new(AgentConfig::default());
    let clock = Clock { start: w.now };
    w.add_remote(remote(), 0x7e00_00ff);
    let tid = request_ids(&w, remote())[0];
    let times = transmissions(&mut w, &clock, remote(), tid, 3);
    assert_eq!(times, vec![Duration::ZERO, 500 * MS, 1500 * MS]);
}

/// The gaps between the first three transmissions of a check on a new pair, after the check
/// on another pair was answered `rtt` after it was sent (the agent's one round-trip sample).
fn retransmission_gaps_after_one_answer_in(rtt: Duration) -> [Duration; 2] {
    let mut w = Wire::new(AgentConfig::default());
    let clock = Clock { start: w.now };
    let r2: SocketAddr = "10.0.0.3:6000".parse().unwrap();
    w.add_remote(remote(), 0x7e00_00ff);
    w.advance(rtt);
    assert_eq!(w.answer_requests_to(remote()), 1);
    // A free pacer slot, so the new pair's check leaves at once.
    w.advance(AgentConfig::default().ta);
    w.add_remote(r2, 0x7e00_00fe);
    let tid = request_ids(&w, r2)[0];
    let times = transmissions(&mut w, &clock, r2, tid, 3);
    [times[1] - times[0], times[2] - times[1]]
}

/// RFC 6298 §2.2 on the first sample: RTO = 3 × RTT, here 3 × 60 ms.
#[test]
fn check_rto_follows_the_measured_round_trip() {
    assert_eq!(
        retransmission_gaps_after_one_answer_in(60 * MS),
        [180 * MS, 360 * MS]
    );
}

/// A fast path gives a fast retransmission, but never before `min_check_rto` (50 ms).
#[test]
fn check_rto_never_goes_below_min_check_rto() {
    let floor = AgentConfig::default().min_check_rto;
    assert_eq!(
        retransmission_gaps_after_one_answer_in(Duration::ZERO),
        [floor, floor * 2]
    );
}

/// Before a check is answered, the round trip to the STUN server stands in: the peer's
/// server-reflexive address is guessed at twice as far, so RTO = 3 × 2 × 40 ms.
#[test]
fn check_rto_before_any_check_is_answered_comes_from_the_stun_round_trip() {
    let mut w = Wire::new(AgentConfig {
        stun_servers: vec![stun_server()],
        ..AgentConfig::default()
    });
    let clock = Clock { start: w.now };
    w.advance(40 * MS);
    let query = w
        .sent
        .iter()
        .find(|(t, _)| t.destination == stun_server())
        .map(|(_, b)| Message::decode(b).unwrap().transaction_id())
        .expect("a STUN query");
    w.receive(
        stun_server(),
        &server_answer(query, "198.51.100.1:40000".parse().unwrap()),
    );
    w.add_remote(remote(), 0x7e00_00ff);
    let tid = request_ids(&w, remote())[0];
    let times = transmissions(&mut w, &clock, remote(), tid, 2);
    assert_eq!(times[1] - times[0], 240 * MS);
}

/// A STUN server's unsigned Binding success with XOR-MAPPED-ADDRESS.
fn server_answer(tid: TransactionId, mapped: SocketAddr) -> Vec<u8> {
    let mut buf = vec![0u8; 128];
    let mut w = floe_stun::MessageWriter::new(&mut buf, MessageType::BINDING_SUCCESS, tid).unwrap();
    w.add(&floe_stun::attributes::XorMappedAddress(mapped))
        .unwrap();
    w.add_fingerprint().unwrap();
    let len = w.finish();
    buf.truncate(len);
    buf
}

/// The bound DEVIATIONS.md states: a pair carries at most 1000 ms / Ta + 1000 ms /
/// `min_check_rto` requests in any second, even when the peer checks it every millisecond and
/// never answers (each of its checks cancels ours and queues a triggered one, RFC 8445
/// §7.3.1.4, but triggered checks take the pacer's slots).
#[test]
fn a_peer_checking_every_millisecond_gets_at_most_one_check_per_ta_back() {
    let config = AgentConfig::default();
    let bound = (1000 / config.ta.as_millis() + 1000 / config.min_check_rto.as_millis()) as usize;
    let mut w = Wire::new(config.clone());
    // An answered check on another pair gives the agent a round trip: its RTO is at the floor.
    let other: SocketAddr = "10.0.0.3:6000".parse().unwrap();
    w.add_remote(other, 0x7e00_00fe);
    assert_eq!(w.answer_requests_to(other), 1);
    w.advance(100 * MS);
    w.add_remote(remote(), 0x7e00_00ff);
    for i in 0..2_000u32 {
        let mut c = Check::default();
        c.tid[..4].copy_from_slice(&i.to_be_bytes());
        let bytes = check(&w, &c);
        w.receive(remote(), &bytes);
        w.advance(MS);
    }
    let requests = request_ids(&w, remote()).len();
    println!("{requests} requests in 2 s against a bound of {bound} per second");
    assert!(requests >= 2, "the peer's checks triggered nothing");
    assert!(requests <= 2 * bound, "{requests} requests in 2 s");
    // And no more than one new check per Ta: the distinct transactions.
    let mut ids = request_ids(&w, remote());
    ids.sort();
    ids.dedup();
    let per_ta = (2000 / config.ta.as_millis()) as usize + 1;
    assert!(ids.len() <= per_ta, "{} checks in 2 s", ids.len());
}
