//! What the mux routes where, what it drops and counts, and the bounds of its tables.

use std::net::SocketAddr;

use floe_mux::{Mux, MuxConfig, MuxError, MuxStats};
use floe_stun::attributes::{ErrorCode, Priority, Username, XorMappedAddress};
use floe_stun::{IntegrityKey, MessageType, MessageWriter, TransactionId};

fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([198, 51, 100, last], 4000))
}

fn tid(n: u8) -> TransactionId {
    TransactionId::new([n; 12])
}

fn encode(message_type: MessageType, id: TransactionId, username: Option<&str>) -> Vec<u8> {
    let mut buf = [0u8; 1024];
    let mut w = MessageWriter::new(&mut buf, message_type, id).unwrap();
    if let Some(username) = username {
        w.add(&Username(username)).unwrap();
        w.add(&Priority(0x6e00_01ff)).unwrap();
    }
    if message_type == MessageType::BINDING_SUCCESS {
        w.add(&XorMappedAddress(addr(250))).unwrap();
    }
    if message_type == MessageType::BINDING_ERROR {
        w.add(&ErrorCode::new(ErrorCode::ROLE_CONFLICT, "Role Conflict"))
            .unwrap();
    }
    // Signed with a key the mux never sees: it routes without verifying.
    w.add_message_integrity(&IntegrityKey::short_term("some-password-0123456789"))
        .unwrap();
    w.add_fingerprint().unwrap();
    let len = w.finish();
    buf[..len].to_vec()
}

fn check(username: &str, n: u8) -> Vec<u8> {
    encode(MessageType::BINDING_REQUEST, tid(n), Some(username))
}

fn request(n: u8) -> Vec<u8> {
    encode(MessageType::BINDING_REQUEST, tid(n), None)
}

fn success(n: u8) -> Vec<u8> {
    encode(MessageType::BINDING_SUCCESS, tid(n), None)
}

fn error(n: u8) -> Vec<u8> {
    encode(MessageType::BINDING_ERROR, tid(n), None)
}

fn indication(n: u8) -> Vec<u8> {
    encode(MessageType::BINDING_INDICATION, tid(n), None)
}

/// Sessions 1 ("ufragOne") and 2 ("ufragTwo").
fn two_sessions() -> Mux<u32> {
    let mut mux = Mux::new(MuxConfig::default());
    mux.insert(1, "ufragOne").unwrap();
    mux.insert(2, "ufragTwo").unwrap();
    mux
}

fn sizes(stats: MuxStats) -> (usize, usize, usize) {
    (stats.sessions, stats.remotes, stats.transactions)
}

#[test]
fn routes_requests_by_the_local_ufrag_in_username() {
    let mut mux = two_sessions();
    // From an address nobody has learnt: the ufrag alone decides.
    assert_eq!(mux.route(addr(9), &check("ufragOne:peer", 1)), Some(1));
    assert_eq!(mux.route(addr(9), &check("ufragTwo:peer", 2)), Some(2));
    // Ours is what precedes the first ':' (a browser's ufrag may be anything after it).
    assert_eq!(mux.route(addr(9), &check("ufragTwo:pe:er", 3)), Some(2));
    // Even from an address another session learnt: requests go by ufrag first.
    mux.learn_remote(1, addr(5));
    assert_eq!(mux.route(addr(5), &check("ufragTwo:peer", 4)), Some(2));
    assert_eq!(mux.stats().routed, 4);
}

#[test]
fn the_first_check_on_an_ice_tcp_connection_finds_its_session_by_ufrag_only() {
    let mut mux = two_sessions();
    mux.learn_remote(1, addr(1));
    assert_eq!(mux.session_of_check(&check("ufragTwo:peer", 1)), Some(2));
    assert_eq!(mux.session_of_check(&check("nobody:peer", 2)), None);
    // Nothing else names a session: not a request without USERNAME, a response or garbage,
    // whatever remote addresses the mux knows.
    assert_eq!(mux.session_of_check(&request(3)), None);
    assert_eq!(mux.session_of_check(&success(4)), None);
    assert_eq!(mux.session_of_check(&[0xff; 40]), None);
    let stats = mux.stats();
    assert_eq!((stats.routed, stats.dropped_unknown_ufrag), (1, 1));
    assert_eq!(sizes(stats), (2, 1, 0));
}

#[test]
fn requests_without_username_route_by_remote_address() {
    let mut mux = two_sessions();
    assert_eq!(mux.route(addr(5), &request(1)), None);
    mux.learn_remote(2, addr(5));
    assert_eq!(mux.route(addr(5), &request(1)), Some(2));
    let stats = mux.stats();
    assert_eq!((stats.routed, stats.dropped_unknown_remote), (1, 1));
}

#[test]
fn routes_responses_by_transaction_id_and_only_once() {
    let mut mux = two_sessions();
    let server = addr(200);
    mux.on_transmit(1, server, &request(10));
    mux.on_transmit(2, server, &request(20));
    assert_eq!(mux.stats().transactions, 2);
    // From an address neither session learnt (a STUN server): the transaction id decides.
    assert_eq!(mux.route(server, &success(20)), Some(2));
    assert_eq!(mux.route(server, &error(10)), Some(1));
    // Used once: a duplicate response is nobody's.
    assert_eq!(mux.route(server, &success(20)), None);
    assert_eq!(mux.route(server, &success(30)), None);
    let stats = mux.stats();
    assert_eq!(stats.transactions, 0);
    assert_eq!(stats.routed, 2);
    assert_eq!(stats.dropped_unknown_transaction, 2);
}

#[test]
fn responses_do_not_route_by_remote_address() {
    let mut mux = two_sessions();
    mux.learn_remote(1, addr(5));
    assert_eq!(mux.route(addr(5), &success(1)), None);
    assert_eq!(mux.stats().dropped_unknown_transaction, 1);
}

#[test]
fn routes_data_channel_data_and_indications_by_remote_address() {
    let mut mux = two_sessions();
    mux.learn_remote(1, addr(5));
    mux.learn_remote(2, addr(6));
    let channel_data = [0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4];
    let dtls = [22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1];
    assert_eq!(mux.route(addr(5), b"hello"), Some(1));
    assert_eq!(mux.route(addr(6), &channel_data), Some(2));
    assert_eq!(mux.route(addr(6), &dtls), Some(2));
    assert_eq!(mux.route(addr(5), &indication(1)), Some(1));
    assert_eq!(mux.route(addr(5), &[]), Some(1));
    assert_eq!(mux.route(addr(7), b"hello"), None);
    let stats = mux.stats();
    assert_eq!((stats.routed, stats.dropped_unknown_remote), (5, 1));
}

#[test]
fn unknown_ufrag_is_dropped_and_counted() {
    let mut mux = two_sessions();
    mux.learn_remote(1, addr(5));
    // Even from a learnt address: a request naming no session's ufrag is nobody's.
    assert_eq!(mux.route(addr(5), &check("nobodys:peer", 1)), None);
    assert_eq!(mux.route(addr(9), &check("ufragOn:peer", 2)), None);
    assert_eq!(mux.route(addr(9), &check("ufragOneX:peer", 3)), None);
    // USERNAME that is not `ours:theirs`.
    assert_eq!(mux.route(addr(9), &check("ufragOne", 4)), None);
    assert_eq!(mux.route(addr(9), &check(":ufragOne", 5)), None);
    let stats = mux.stats();
    assert_eq!(stats.dropped_unknown_ufrag, 5);
    assert_eq!(stats.routed, 0);
    assert_eq!(sizes(stats), (2, 1, 0));
}

#[test]
fn malformed_stun_is_dropped_and_counted() {
    let mut mux = two_sessions();
    mux.learn_remote(1, addr(5));
    let mut truncated = check("ufragOne:peer", 1);
    truncated.truncate(truncated.len() - 4);
    let mut overrun = check("ufragOne:peer", 1);
    // USERNAME's length reaching past the end of the message.
    overrun[22..24].copy_from_slice(&0x0400u16.to_be_bytes());
    assert_eq!(mux.route(addr(5), &truncated), None);
    assert_eq!(mux.route(addr(5), &overrun), None);
    assert_eq!(mux.stats().dropped_malformed, 2);
}

#[test]
fn remove_leaves_no_entry() {
    let mut mux = two_sessions();
    for last in 1..=5 {
        mux.learn_remote(1, addr(last));
    }
    for n in 1..=5 {
        mux.on_transmit(1, addr(1), &request(n));
    }
    mux.learn_remote(2, addr(20));
    mux.on_transmit(2, addr(20), &request(20));
    mux.remove(1);
    assert!(!mux.contains(1));
    assert_eq!(sizes(mux.stats()), (1, 1, 1));
    assert_eq!(mux.route(addr(1), b"data"), None);
    assert_eq!(mux.route(addr(9), &check("ufragOne:peer", 9)), None);
    assert_eq!(mux.route(addr(1), &success(3)), None);
    // The other session is untouched.
    assert_eq!(mux.route(addr(20), b"data"), Some(2));
    assert_eq!(mux.route(addr(20), &success(20)), Some(2));
    mux.remove(2);
    assert!(mux.is_empty());
    assert_eq!(mux.len(), 0);
    assert_eq!(sizes(mux.stats()), (0, 0, 0));
    // Removing twice, or a key never inserted, is harmless; the ufrag is free again.
    mux.remove(2);
    mux.remove(77);
    mux.insert(3, "ufragOne").unwrap();
    assert_eq!(mux.route(addr(9), &check("ufragOne:peer", 9)), Some(3));
}

#[test]
fn session_limit_holds() {
    let mut mux = Mux::new(MuxConfig {
        max_sessions: 3,
        ..MuxConfig::default()
    });
    for key in 0..3u32 {
        mux.insert(key, &format!("ufrag{key}")).unwrap();
    }
    assert_eq!(mux.insert(3, "ufrag3"), Err(MuxError::SessionLimit));
    assert_eq!(mux.len(), 3);
    // An existing session may still change its ufrag; a freed slot takes a new one.
    mux.insert(2, "ufragNew").unwrap();
    mux.remove(0);
    mux.insert(3, "ufrag3").unwrap();
    assert_eq!(mux.len(), 3);
}

#[test]
fn remotes_per_session_bound_drops_the_least_recently_learnt() {
    let mut mux = Mux::new(MuxConfig {
        max_remotes_per_session: 3,
        ..MuxConfig::default()
    });
    mux.insert(1, "ufragOne").unwrap();
    mux.learn_remote(1, addr(1));
    mux.learn_remote(1, addr(2));
    mux.learn_remote(1, addr(3));
    // Learning addr(1) again makes it the most recent: addr(2) goes first.
    mux.learn_remote(1, addr(1));
    mux.learn_remote(1, addr(4));
    assert_eq!(mux.stats().remotes, 3);
    assert_eq!(mux.route(addr(2), b"x"), None);
    for last in [1, 3, 4] {
        assert_eq!(mux.route(addr(last), b"x"), Some(1));
    }
    // Many more: still three.
    for last in 10..100 {
        mux.learn_remote(1, addr(last));
    }
    assert_eq!(mux.stats().remotes, 3);
}

#[test]
fn a_remote_learnt_by_another_session_moves_to_it() {
    let mut mux = two_sessions();
    mux.learn_remote(1, addr(5));
    mux.learn_remote(2, addr(5));
    assert_eq!(mux.stats().remotes, 1);
    assert_eq!(mux.route(addr(5), b"x"), Some(2));
    // Session 1 no longer owns it: removing 1 leaves 2's entry.
    mux.remove(1);
    assert_eq!(mux.route(addr(5), b"x"), Some(2));
}

#[test]
fn transactions_bound_evicts_the_oldest() {
    let mut mux = Mux::new(MuxConfig {
        max_transactions: 4,
        ..MuxConfig::default()
    });
    mux.insert(1, "ufragOne").unwrap();
    mux.insert(2, "ufragTwo").unwrap();
    for n in 1..=6u8 {
        mux.on_transmit(u32::from(n % 2 + 1), addr(200), &request(n));
    }
    assert_eq!(mux.stats().transactions, 4);
    // 1 and 2 were the oldest.
    assert_eq!(mux.route(addr(200), &success(1)), None);
    assert_eq!(mux.route(addr(200), &success(2)), None);
    assert_eq!(mux.route(addr(200), &success(3)), Some(2));
    assert_eq!(mux.route(addr(200), &success(6)), Some(1));
    // A retransmission makes its request the newest again.
    mux.on_transmit(1, addr(200), &request(7));
    mux.on_transmit(2, addr(200), &request(8));
    mux.on_transmit(2, addr(200), &request(4));
    mux.on_transmit(1, addr(200), &request(9));
    assert_eq!(mux.stats().transactions, 4);
    assert_eq!(mux.route(addr(200), &success(5)), None);
    assert_eq!(mux.route(addr(200), &success(4)), Some(2));
    // Removing a session takes its entries out of the middle of the order.
    mux.remove(2);
    assert_eq!(mux.stats().transactions, 2);
    assert_eq!(mux.route(addr(200), &success(7)), Some(1));
    assert_eq!(mux.route(addr(200), &success(9)), Some(1));
}

#[test]
fn only_requests_are_remembered_on_transmit() {
    let mut mux = two_sessions();
    mux.on_transmit(1, addr(5), &indication(1));
    mux.on_transmit(1, addr(5), &error(2));
    mux.on_transmit(1, addr(5), b"application data");
    mux.on_transmit(1, addr(5), &[0x40, 0, 0, 0]);
    assert_eq!(sizes(mux.stats()), (2, 0, 0));
}

#[test]
fn an_answered_check_teaches_the_remote() {
    let mut mux = two_sessions();
    assert_eq!(mux.route(addr(5), &check("ufragOne:peer", 1)), Some(1));
    // The agent authenticated the check and answered it with success.
    mux.on_transmit(1, addr(5), &success(1));
    assert_eq!(mux.route(addr(5), b"data"), Some(1));
    assert_eq!(mux.stats().remotes, 1);
}

#[test]
fn set_ufrag_moves_routing() {
    let mut mux = two_sessions();
    mux.learn_remote(1, addr(5));
    mux.on_transmit(1, addr(5), &request(1));
    mux.set_ufrag(1, "restarted").unwrap();
    assert_eq!(mux.route(addr(5), &check("ufragOne:peer", 2)), None);
    assert_eq!(mux.route(addr(5), &check("restarted:peer", 3)), Some(1));
    // The path that carries data, and the pending request, stay through the restart.
    assert_eq!(mux.route(addr(5), b"data"), Some(1));
    assert_eq!(mux.route(addr(5), &success(1)), Some(1));
    // The old ufrag is free for anyone.
    mux.insert(3, "ufragOne").unwrap();
    assert_eq!(mux.route(addr(9), &check("ufragOne:peer", 4)), Some(3));
    assert_eq!(sizes(mux.stats()), (3, 1, 0));
}

#[test]
fn ufrags_in_use_invalid_or_of_unknown_sessions_are_refused() {
    let mut mux = two_sessions();
    assert_eq!(mux.insert(3, "ufragOne"), Err(MuxError::UfragInUse));
    assert_eq!(mux.set_ufrag(2, "ufragOne"), Err(MuxError::UfragInUse));
    assert_eq!(mux.set_ufrag(1, "ufragOne"), Ok(()));
    assert_eq!(mux.set_ufrag(9, "ufragNine"), Err(MuxError::UnknownSession));
    let too_long = "a".repeat(257);
    for bad in ["", "abc", "with:colon", "sp ace", "ünï", too_long.as_str()] {
        assert_eq!(mux.insert(3, bad), Err(MuxError::InvalidUfrag), "{bad:?}");
        assert_eq!(
            mux.set_ufrag(1, bad),
            Err(MuxError::InvalidUfrag),
            "{bad:?}"
        );
    }
    let longest = "a".repeat(256);
    mux.insert(3, &longest).unwrap();
    mux.insert(4, "a+/Z").unwrap();
    assert_eq!(mux.len(), 4);
    assert_eq!(mux.route(addr(9), &check("ufragOne:peer", 1)), Some(1));
    assert_eq!(
        mux.route(addr(9), &check(&format!("{longest}:peer"), 2)),
        Some(3)
    );
    assert_eq!(mux.route(addr(9), &check("a+/Z:peer", 3)), Some(4));
    // Prefixes and extensions of a long ufrag are other ufrags.
    assert_eq!(
        mux.route(addr(9), &check(&format!("{}:peer", &longest[..255]), 4)),
        None
    );
    mux.set_ufrag(3, &"b".repeat(100)).unwrap();
    assert_eq!(
        mux.route(addr(9), &check(&format!("{longest}:peer"), 5)),
        None
    );
}

#[test]
fn calls_for_unregistered_sessions_add_nothing() {
    let mut mux = two_sessions();
    mux.learn_remote(9, addr(5));
    mux.on_transmit(9, addr(5), &request(1));
    mux.on_transmit(9, addr(5), &success(1));
    assert_eq!(sizes(mux.stats()), (2, 0, 0));
    assert_eq!(mux.route(addr(5), b"x"), None);
}

#[test]
fn zero_bounds_store_nothing() {
    let mut mux = Mux::new(MuxConfig {
        max_sessions: 0,
        max_remotes_per_session: 0,
        max_transactions: 0,
    });
    assert_eq!(mux.insert(1, "ufragOne"), Err(MuxError::SessionLimit));
    let mut mux = Mux::new(MuxConfig {
        max_remotes_per_session: 0,
        max_transactions: 0,
        ..MuxConfig::default()
    });
    mux.insert(1, "ufragOne").unwrap();
    mux.learn_remote(1, addr(5));
    mux.on_transmit(1, addr(5), &request(1));
    assert_eq!(sizes(mux.stats()), (1, 0, 0));
    assert_eq!(mux.route(addr(9), &check("ufragOne:peer", 1)), Some(1));
}

#[test]
fn a_mux_can_move_to_the_task_that_owns_the_socket() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Mux<u64>>();
}
