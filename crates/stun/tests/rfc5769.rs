//! RFC 5769 test vectors, read from `shared/testdata/rfc5769/` beside the repository.

use floe_stun::attributes::*;
use floe_stun::*;
use std::net::SocketAddr;

mod common;
use common::vector;

const PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";
const TID: [u8; 12] = [
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];

#[test]
fn sample_request_decodes_and_verifies() {
    let bytes = vector("sample-request.hex");
    let msg = Message::decode(&bytes).unwrap();
    assert_eq!(msg.message_type(), MessageType::BINDING_REQUEST);
    assert_eq!(msg.transaction_id(), TransactionId::new(TID));
    assert_eq!(
        msg.get::<Software>().unwrap(),
        Some(Software("STUN test client"))
    );
    assert_eq!(msg.get::<Priority>().unwrap(), Some(Priority(0x6e0001ff)));
    assert_eq!(
        msg.get::<IceControlled>().unwrap(),
        Some(IceControlled(0x932ff9b151263b36))
    );
    assert_eq!(msg.get::<Username>().unwrap(), Some(Username("evtj:h6vY")));
    msg.verify_integrity(&IntegrityKey::short_term(PASSWORD))
        .unwrap();
    msg.verify_fingerprint().unwrap();
    assert_eq!(
        msg.verify_integrity(&IntegrityKey::short_term("wrong")),
        Err(IntegrityError::Mismatch)
    );
}

fn check_response(name: &str, expected: &str) {
    let bytes = vector(name);
    let msg = Message::decode(&bytes).unwrap();
    assert_eq!(msg.message_type(), MessageType::BINDING_SUCCESS);
    assert_eq!(
        msg.get::<Software>().unwrap(),
        Some(Software("test vector"))
    );
    let addr: SocketAddr = expected.parse().unwrap();
    assert_eq!(
        msg.get::<XorMappedAddress>().unwrap(),
        Some(XorMappedAddress(addr))
    );
    msg.verify_integrity(&IntegrityKey::short_term(PASSWORD))
        .unwrap();
    msg.verify_fingerprint().unwrap();

    // Re-encode byte for byte (the vectors pad SOFTWARE with spaces).
    let mut buf = [0u8; 256];
    let mut w = MessageWriter::new(
        &mut buf,
        MessageType::BINDING_SUCCESS,
        TransactionId::new(TID),
    )
    .unwrap();
    w.set_padding_byte(0x20);
    w.add(&Software("test vector")).unwrap();
    w.add(&XorMappedAddress(addr)).unwrap();
    w.add_message_integrity(&IntegrityKey::short_term(PASSWORD))
        .unwrap();
    w.add_fingerprint().unwrap();
    let len = w.finish();
    assert_eq!(&buf[..len], &bytes[..]);
}

#[test]
fn sample_ipv4_response_decodes_verifies_and_reencodes() {
    check_response("sample-ipv4-response.hex", "192.0.2.1:32853");
}

#[test]
fn sample_ipv6_response_decodes_verifies_and_reencodes() {
    check_response(
        "sample-ipv6-response.hex",
        "[2001:db8:1234:5678:11:2233:4455:6677]:32853",
    );
}

#[test]
fn sample_long_term_request_verifies_with_saslprep_key_and_reencodes() {
    let bytes = vector("sample-long-term-request.hex");
    let msg = Message::decode(&bytes).unwrap();
    let username = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";
    let nonce = "f//499k954d6OL34oL9FSTvy64sA";
    assert_eq!(msg.get::<Username>().unwrap(), Some(Username(username)));
    assert_eq!(msg.get::<Nonce>().unwrap(), Some(Nonce(nonce)));
    assert_eq!(msg.get::<Realm>().unwrap(), Some(Realm("example.org")));
    assert!(!msg.has_fingerprint());
    // SASLprep maps "TheMªtrⅨ" to "TheMatrIX".
    let key = LongTermKey::derive(
        username,
        "example.org",
        "TheM\u{00AA}tr\u{2168}",
        PasswordAlgorithmKind::Md5,
    )
    .unwrap();
    msg.verify_integrity(&key.integrity_key()).unwrap();

    let mut buf = [0u8; 256];
    let tid = msg.transaction_id();
    let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, tid).unwrap();
    w.add(&Username(username)).unwrap();
    w.add(&Nonce(nonce)).unwrap();
    w.add(&Realm("example.org")).unwrap();
    w.add_message_integrity(&key.integrity_key()).unwrap();
    let len = w.finish();
    assert_eq!(&buf[..len], &bytes[..]);
}
