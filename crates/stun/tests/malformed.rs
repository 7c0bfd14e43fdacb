//! Malformed input: every way a datagram can fail to be STUN gives its typed error and never a
//! panic; malformed attribute values give the right `AttributeErrorKind`; attributes after the
//! integrity and fingerprint attributes are ignored as RFC 8489 §14.5-§14.7 say.

use floe_stun::attributes::*;
use floe_stun::*;
use proptest::prelude::*;

mod common;
use common::vector;

const VECTORS: [&str; 4] = [
    "sample-request.hex",
    "sample-ipv4-response.hex",
    "sample-ipv6-response.hex",
    "sample-long-term-request.hex",
];

const TID: TransactionId = TransactionId::new([9; 12]);

fn set_length(bytes: &mut [u8], length: u16) {
    bytes[2..4].copy_from_slice(&length.to_be_bytes());
}

/// A header announcing `body.len()` bytes, followed by `body`.
fn message_with_body(body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42];
    bytes.extend_from_slice(TID.as_bytes());
    set_length(&mut bytes, body.len() as u16);
    bytes.extend_from_slice(body);
    bytes
}

/// Runs everything a receiver might do with a datagram; must never panic.
fn exercise(bytes: &[u8]) {
    let _ = classify(bytes);
    let _ = is_stun(bytes);
    let Ok(msg) = Message::decode(bytes) else {
        return;
    };
    let tid = msg.transaction_id();
    for raw in msg.attributes() {
        if let Ok(any) = AnyAttribute::decode(raw, &tid) {
            let _ = any.attr_type();
            match any {
                AnyAttribute::UnknownAttributes(u) => {
                    let _ = u.iter().count();
                }
                AnyAttribute::PasswordAlgorithms(p) => {
                    let _ = p.iter().count();
                }
                _ => {}
            }
        }
    }
    let _ = msg.unknown_comprehension_required().count();
    let _ = msg.get::<Username>();
    let _ = msg.get::<XorMappedAddress>();
    let _ = msg.get::<ErrorCode>();
    let _ = msg.verify_integrity(&IntegrityKey::new(b"key"));
    let _ = msg.verify_integrity_sha256(&IntegrityKeySha256::new(b"key"));
    let _ = msg.verify_fingerprint();
}

// ---------------------------------------------------------------------------------------------
// Message framing

#[test]
fn every_truncation_of_the_rfc5769_vectors_is_too_short_or_a_length_mismatch() {
    for name in VECTORS {
        let bytes = vector(name);
        let declared = bytes.len() - HEADER_LEN;
        for cut in 0..bytes.len() {
            let prefix = &bytes[..cut];
            let expected = if cut < HEADER_LEN {
                DecodeError::TooShort
            } else {
                DecodeError::LengthMismatch {
                    declared,
                    actual: cut - HEADER_LEN,
                }
            };
            assert_eq!(
                Message::decode(prefix).unwrap_err(),
                expected,
                "{name} cut at {cut}"
            );
            exercise(prefix);
        }
        assert!(Message::decode(&bytes).is_ok(), "{name} whole");
    }
}

#[test]
fn length_field_that_disagrees_with_the_datagram_is_a_length_mismatch() {
    let bytes = vector("sample-request.hex");
    let actual = bytes.len() - HEADER_LEN;
    for declared in [0, actual - 4, actual + 4, 0xfffc] {
        let mut bad = bytes.clone();
        set_length(&mut bad, declared as u16);
        assert_eq!(
            Message::decode(&bad).unwrap_err(),
            DecodeError::LengthMismatch { declared, actual }
        );
    }
    // Trailing bytes after a complete message are not ignored either.
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0; 4]);
    assert_eq!(
        Message::decode(&longer).unwrap_err(),
        DecodeError::LengthMismatch {
            declared: actual,
            actual: actual + 4
        }
    );
}

#[test]
fn attribute_longer_than_the_message_is_an_overrun() {
    // The sample request's USERNAME sits at offset 60; make it claim 200 bytes.
    let mut bytes = vector("sample-request.hex");
    assert_eq!(&bytes[60..62], &[0x00, 0x06]);
    bytes[62..64].copy_from_slice(&200u16.to_be_bytes());
    assert_eq!(
        Message::decode(&bytes).unwrap_err(),
        DecodeError::AttributeOverrun {
            attr_type: types::USERNAME,
            offset: 60
        }
    );

    // The last attribute's padding runs past the end: 5 bytes of value need 8 with padding.
    let bytes = message_with_body(&[0x80, 0x22, 0x00, 0x05, b'a', b'b', b'c', b'd']);
    assert_eq!(
        Message::decode(&bytes).unwrap_err(),
        DecodeError::AttributeOverrun {
            attr_type: types::SOFTWARE,
            offset: 20
        }
    );
}

#[test]
fn wrong_magic_cookie_is_rejected() {
    let mut bytes = vector("sample-ipv4-response.hex");
    bytes[7] ^= 0x01;
    assert_eq!(
        Message::decode(&bytes).unwrap_err(),
        DecodeError::BadMagicCookie
    );
    assert!(!is_stun(&bytes));
    // An RFC 3489 message (no cookie) is not accepted either.
    let mut classic = message_with_body(&[]);
    classic[4..8].fill(0x5a);
    assert_eq!(
        Message::decode(&classic).unwrap_err(),
        DecodeError::BadMagicCookie
    );
}

#[test]
fn either_top_bit_set_is_not_stun() {
    for top in [0x80u8, 0x40, 0xc0] {
        let mut bytes = vector("sample-request.hex");
        bytes[0] |= top;
        assert_eq!(Message::decode(&bytes).unwrap_err(), DecodeError::NotStun);
        assert!(!is_stun(&bytes));
    }
}

#[test]
fn length_not_a_multiple_of_four_is_unaligned() {
    for n in [1usize, 2, 3, 5, 7] {
        let body = vec![0u8; n];
        let bytes = message_with_body(&body);
        assert_eq!(
            Message::decode(&bytes).unwrap_err(),
            DecodeError::UnalignedLength,
            "{n} bytes"
        );
        assert!(!is_stun(&bytes));
    }
}

#[test]
fn other_protocols_and_garbage_are_rejected_with_typed_errors() {
    assert_eq!(Message::decode(&[]).unwrap_err(), DecodeError::TooShort);
    assert_eq!(
        Message::decode(&[0; HEADER_LEN - 1]).unwrap_err(),
        DecodeError::TooShort
    );
    // HTTP: 'G' has bit 0x40 set.
    assert_eq!(
        Message::decode(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n").unwrap_err(),
        DecodeError::NotStun
    );
    // A DTLS ClientHello record: first byte 22, no cookie.
    let mut dtls = vec![22u8, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20];
    dtls.extend_from_slice(&[0xab; 32]);
    assert_eq!(
        Message::decode(&dtls).unwrap_err(),
        DecodeError::BadMagicCookie
    );
    // RTP version 2.
    let rtp = [0x80u8; 40];
    assert_eq!(Message::decode(&rtp).unwrap_err(), DecodeError::NotStun);
    // All zeros of header size: type 0, no cookie.
    assert_eq!(
        Message::decode(&[0; 20]).unwrap_err(),
        DecodeError::BadMagicCookie
    );
}

#[test]
fn empty_message_is_valid_and_has_no_attributes() {
    let bytes = message_with_body(&[]);
    let msg = Message::decode(&bytes).unwrap();
    assert_eq!(msg.attributes().count(), 0);
    assert_eq!(
        msg.verify_integrity(&IntegrityKey::new(b"k")),
        Err(IntegrityError::Missing)
    );
    assert_eq!(msg.verify_fingerprint(), Err(IntegrityError::Missing));
}

// ---------------------------------------------------------------------------------------------
// Attribute values

fn decode_err<'a, A: Attribute<'a> + core::fmt::Debug>(value: &'a [u8]) -> AttributeError {
    A::decode(value, &TID).expect_err("value must be rejected")
}

fn assert_kind<'a, A: Attribute<'a> + core::fmt::Debug>(value: &'a [u8], kind: AttributeErrorKind) {
    assert_eq!(
        decode_err::<A>(value),
        AttributeError {
            attr_type: A::TYPE,
            kind
        },
        "type 0x{:04x}, value {:02x?}",
        A::TYPE,
        value
    );
}

#[test]
fn fixed_size_values_with_the_wrong_length_are_bad_length() {
    use AttributeErrorKind::BadLength;
    for len in [0usize, 3, 5, 8] {
        let v = vec![0u8; len];
        assert_kind::<Priority>(&v, BadLength);
        assert_kind::<Lifetime>(&v, BadLength);
        assert_kind::<ConnectionId>(&v, BadLength);
        assert_kind::<Fingerprint>(&v, BadLength);
        assert_kind::<ChannelNumber>(&v, BadLength);
        assert_kind::<ResponsePort>(&v, BadLength);
        assert_kind::<RequestedTransport>(&v, BadLength);
        assert_kind::<RequestedAddressFamily>(&v, BadLength);
        assert_kind::<AdditionalAddressFamily>(&v, BadLength);
        assert_kind::<ChangeRequest>(&v, BadLength);
    }
    for len in [0usize, 4, 7, 9, 16] {
        let v = vec![0u8; len];
        assert_kind::<IceControlled>(&v, BadLength);
        assert_kind::<IceControlling>(&v, BadLength);
        assert_kind::<ReservationToken>(&v, BadLength);
        assert_kind::<Icmp>(&v, BadLength);
    }
    assert_kind::<UseCandidate>(&[0; 4], BadLength);
    assert_kind::<DontFragment>(&[1], BadLength);
    assert_kind::<EvenPort>(&[], BadLength);
    assert_kind::<EvenPort>(&[0x80, 0, 0, 0], BadLength);
    assert_kind::<Userhash>(&[0; 31], BadLength);
    assert_kind::<Userhash>(&[0; 33], BadLength);
    assert_kind::<MessageIntegrity>(&[0; 19], BadLength);
    assert_kind::<MessageIntegrity>(&[0; 32], BadLength);
    for len in [0usize, 12, 15, 18, 33, 36] {
        assert_kind::<MessageIntegritySha256>(&vec![0; len], BadLength);
    }
    for len in [16usize, 20, 24, 28, 32] {
        assert!(MessageIntegritySha256::decode(&vec![0; len], &TID).is_ok());
    }
}

#[test]
fn address_values_with_bad_family_or_length_are_rejected() {
    use AttributeErrorKind::{BadFamily, BadLength};
    // Family 0x03 and 0x00 are not addresses.
    for family in [0x00u8, 0x03, 0xff] {
        let v = [0, family, 0x12, 0x34, 1, 2, 3, 4];
        assert_kind::<MappedAddress>(&v, BadFamily);
        assert_kind::<XorMappedAddress>(&v, BadFamily);
        assert_kind::<XorPeerAddress>(&v, BadFamily);
        assert_kind::<XorRelayedAddress>(&v, BadFamily);
        assert_kind::<AlternateServer>(&v, BadFamily);
        assert_kind::<ResponseOrigin>(&v, BadFamily);
        assert_kind::<OtherAddress>(&v, BadFamily);
    }
    // Shorter than the family/port header.
    assert_kind::<XorMappedAddress>(&[0, 1, 0], BadLength);
    assert_kind::<MappedAddress>(&[], BadLength);
    // IPv4 family with an IPv6-sized address and the other way round.
    let mut v4_long = vec![0, 1, 0x12, 0x34];
    v4_long.extend_from_slice(&[0; 16]);
    assert_kind::<XorMappedAddress>(&v4_long, BadLength);
    assert_kind::<MappedAddress>(&[0, 2, 0x12, 0x34, 1, 2, 3, 4], BadLength);
    assert_kind::<MappedAddress>(&[0, 1, 0x12, 0x34, 1, 2, 3], BadLength);
    // Family attributes.
    assert_kind::<RequestedAddressFamily>(&[0x03, 0, 0, 0], BadFamily);
    assert_kind::<AdditionalAddressFamily>(&[0x00, 0, 0, 0], BadFamily);
    assert_kind::<AddressErrorCode>(&[0x07, 0, 4, 40], BadFamily);
}

#[test]
fn text_values_that_are_not_utf8_or_too_long_are_rejected() {
    use AttributeErrorKind::{NotUtf8, TooLong};
    let bad_utf8: &[u8] = &[b'a', 0xff, 0xfe, b'b'];
    assert_kind::<Username>(bad_utf8, NotUtf8);
    assert_kind::<Realm>(bad_utf8, NotUtf8);
    assert_kind::<Nonce>(bad_utf8, NotUtf8);
    assert_kind::<Software>(bad_utf8, NotUtf8);
    assert_kind::<AlternateDomain>(bad_utf8, NotUtf8);
    // A truncated multi-byte character.
    assert_kind::<Username>(&"\u{30DE}".as_bytes()[..2], NotUtf8);
    let mut error = vec![0, 0, 4, 1];
    error.extend_from_slice(bad_utf8);
    assert_kind::<ErrorCode>(&error, NotUtf8);

    let long = vec![b'a'; Username::MAX_BYTES + 1];
    assert_kind::<Username>(&long, TooLong);
    assert!(Username::decode(&long[..Username::MAX_BYTES], &TID).is_ok());
    let long = vec![b'a'; Software::MAX_BYTES + 1];
    assert_kind::<Software>(&long, TooLong);
    assert_kind::<Realm>(&long, TooLong);
    assert_kind::<Nonce>(&long, TooLong);
    let long = vec![b'a'; AlternateDomain::MAX_BYTES + 1];
    assert_kind::<AlternateDomain>(&long, TooLong);
}

#[test]
fn error_codes_outside_300_to_699_are_bad_values() {
    use AttributeErrorKind::{BadLength, BadValue};
    assert_kind::<ErrorCode>(&[0, 0, 4], BadLength);
    assert_kind::<ErrorCode>(&[0, 0, 2, 0], BadValue);
    assert_kind::<ErrorCode>(&[0, 0, 7, 0], BadValue);
    assert_kind::<ErrorCode>(&[0, 0, 4, 100], BadValue);
    assert_kind::<AddressErrorCode>(&[1, 0, 4], BadLength);
    assert_kind::<AddressErrorCode>(&[1, 0, 1, 0], BadValue);
    assert_eq!(
        ErrorCode::decode(&[0, 0, 4, 38, b'S'], &TID).unwrap(),
        ErrorCode::new(438, "S")
    );
    // The reserved bits above the class are ignored.
    assert_eq!(
        ErrorCode::decode(&[0xff, 0xff, 0xf4, 1], &TID)
            .unwrap()
            .code,
        401
    );
}

#[test]
fn list_values_that_do_not_split_into_items_are_bad_length() {
    use AttributeErrorKind::BadLength;
    assert_kind::<UnknownAttributes>(&[0, 1, 0], BadLength);
    // An algorithm entry announcing more parameter bytes than follow.
    assert_kind::<PasswordAlgorithms>(&[0, 1, 0, 4, 1, 2], BadLength);
    assert_kind::<PasswordAlgorithms>(&[0, 1, 0], BadLength);
    assert_kind::<PasswordAlgorithm>(&[0, 2, 0], BadLength);
    // PASSWORD-ALGORITHM holds exactly one entry.
    assert_kind::<PasswordAlgorithm>(&[0, 2, 0, 0, 0, 1, 0, 0], BadLength);
    let two = [0u8, 1, 0, 0, 0, 2, 0, 0];
    let algs = PasswordAlgorithms::decode(&two, &TID).unwrap();
    assert_eq!(
        algs.iter().map(|a| a.algorithm).collect::<Vec<_>>(),
        vec![PasswordAlgorithm::MD5, PasswordAlgorithm::SHA256]
    );
}

#[test]
fn malformed_attribute_is_reported_by_get_with_its_type() {
    // PRIORITY with two bytes of value inside an otherwise valid message.
    let bytes = message_with_body(&[0x00, 0x24, 0x00, 0x02, 0xaa, 0xbb, 0, 0]);
    let msg = Message::decode(&bytes).unwrap();
    assert_eq!(
        msg.get::<Priority>(),
        Err(AttributeError {
            attr_type: types::PRIORITY,
            kind: AttributeErrorKind::BadLength
        })
    );
    assert_eq!(msg.get::<Username>(), Ok(None));
}

// ---------------------------------------------------------------------------------------------
// What counts after MESSAGE-INTEGRITY and FINGERPRINT

fn types_of(msg: &Message<'_>) -> Vec<u16> {
    msg.attributes().map(|a| a.attr_type).collect()
}

/// Appends an attribute by hand, as a sender that ignores the ordering rules would (the writer
/// refuses to), keeping the length field current.
fn append(bytes: &mut Vec<u8>, attr_type: u16, value: &[u8]) {
    bytes.extend_from_slice(&attr_type.to_be_bytes());
    bytes.extend_from_slice(&(value.len() as u16).to_be_bytes());
    bytes.extend_from_slice(value);
    bytes.resize(bytes.len().div_ceil(4) * 4, 0);
    let body = (bytes.len() - HEADER_LEN) as u16;
    set_length(bytes, body);
}

/// Appends MESSAGE-INTEGRITY (SHA-1) or MESSAGE-INTEGRITY-SHA256 computed over what precedes
/// it (RFC 8489 §14.5, §14.6), by hand.
fn append_integrity(bytes: &mut Vec<u8>, key: &[u8], sha256: bool) {
    use hmac::{Hmac, KeyInit, Mac};
    let start = bytes.len();
    let (attr_type, len) = if sha256 {
        (types::MESSAGE_INTEGRITY_SHA256, 32)
    } else {
        (types::MESSAGE_INTEGRITY, 20)
    };
    append(bytes, attr_type, &vec![0; len]);
    let mac = if sha256 {
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        m.update(&bytes[..start]);
        m.finalize().into_bytes().to_vec()
    } else {
        let mut m = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
        m.update(&bytes[..start]);
        m.finalize().into_bytes().to_vec()
    };
    bytes[start + 4..start + 4 + len].copy_from_slice(&mac);
}

/// Appends FINGERPRINT over what precedes it (RFC 8489 §14.7), by hand.
fn append_fingerprint(bytes: &mut Vec<u8>) {
    let start = bytes.len();
    append(bytes, types::FINGERPRINT, &[0; 4]);
    let crc = crc32fast::hash(&bytes[..start]) ^ FINGERPRINT_XOR;
    bytes[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn only_integrity_sha256_and_fingerprint_count_after_message_integrity() {
    let key = IntegrityKey::short_term("pw");
    let key256 = IntegrityKeySha256::new(b"pw");
    let mut buf = [0u8; 256];
    let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TID).unwrap();
    w.add(&Username("a:b")).unwrap();
    w.add_message_integrity(&key).unwrap();
    let len = w.finish();
    let mut bytes = buf[..len].to_vec();
    append(&mut bytes, types::PRIORITY, &7u32.to_be_bytes());
    append(&mut bytes, 0x7f00, b"xyz");
    append_integrity(&mut bytes, b"pw", true);
    append(&mut bytes, types::SOFTWARE, b"late");
    append_fingerprint(&mut bytes);
    let msg = Message::decode(&bytes).unwrap();

    assert_eq!(
        types_of(&msg),
        vec![
            types::USERNAME,
            types::MESSAGE_INTEGRITY,
            types::MESSAGE_INTEGRITY_SHA256,
            types::FINGERPRINT
        ]
    );
    assert_eq!(msg.get::<Priority>(), Ok(None));
    assert_eq!(msg.get::<Software>(), Ok(None));
    assert!(!msg.has(types::PRIORITY));
    assert!(msg.raw(0x7f00).is_none());
    assert_eq!(msg.unknown_comprehension_required().count(), 0);
    assert!(msg.get::<MessageIntegritySha256>().unwrap().is_some());
    // Each check covers the bytes before its own attribute, ignored ones included.
    msg.verify_integrity(&key).unwrap();
    msg.verify_integrity_sha256(&key256).unwrap();
    msg.verify_fingerprint().unwrap();
}

#[test]
fn message_integrity_after_integrity_sha256_does_not_count() {
    let key = IntegrityKey::short_term("pw");
    let key256 = IntegrityKeySha256::new(b"pw");
    let mut buf = [0u8; 256];
    let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TID).unwrap();
    w.add(&Username("a:b")).unwrap();
    w.add_message_integrity_sha256(&key256).unwrap();
    let len = w.finish();
    let mut bytes = buf[..len].to_vec();
    append_integrity(&mut bytes, b"pw", false);
    let msg = Message::decode(&bytes).unwrap();
    assert_eq!(
        types_of(&msg),
        vec![types::USERNAME, types::MESSAGE_INTEGRITY_SHA256]
    );
    assert!(!msg.has_integrity());
    assert_eq!(msg.verify_integrity(&key), Err(IntegrityError::Missing));
    msg.verify_integrity_sha256(&key256).unwrap();
}

/// RFC 8489 §14.5, §14.6: the writer refuses what a receiver would ignore.
#[test]
fn the_writer_refuses_attributes_after_integrity() {
    let key = IntegrityKey::short_term("pw");
    let key256 = IntegrityKeySha256::new(b"pw");
    let mut buf = [0u8; 256];
    let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TID).unwrap();
    w.add(&Username("a:b")).unwrap();
    w.add_message_integrity(&key).unwrap();
    assert_eq!(w.add(&Priority(1)), Err(EncodeError::AfterIntegrity));
    assert_eq!(w.add_raw(0x7f00, b"x"), Err(EncodeError::AfterIntegrity));
    assert_eq!(
        w.add_message_integrity(&key),
        Err(EncodeError::AfterIntegrity)
    );
    w.add_message_integrity_sha256(&key256).unwrap();
    assert_eq!(w.add(&Software("late")), Err(EncodeError::AfterIntegrity));
    assert_eq!(
        w.add_message_integrity(&key),
        Err(EncodeError::AfterIntegrity)
    );
    w.add_fingerprint().unwrap();
    let len = w.finish();
    let msg = Message::decode(&buf[..len]).unwrap();
    msg.verify_integrity(&key).unwrap();
    msg.verify_integrity_sha256(&key256).unwrap();
    msg.verify_fingerprint().unwrap();
}

/// RFC 8489 §14.7: FINGERPRINT is the last attribute. The writer refuses to go on after it, and
/// the decoder rejects a message with anything after it.
#[test]
fn an_attribute_after_fingerprint_makes_the_message_malformed() {
    let key = IntegrityKey::short_term("pw");
    let mut buf = [0u8; 256];
    let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TID).unwrap();
    w.add(&Username("a:b")).unwrap();
    w.add_fingerprint().unwrap();
    assert_eq!(w.add(&Priority(1)), Err(EncodeError::AfterFingerprint));
    assert_eq!(
        w.add_message_integrity(&key),
        Err(EncodeError::AfterFingerprint)
    );
    let len = w.finish();
    for (attr_type, value) in [
        (types::PRIORITY, vec![0, 0, 0, 9]),
        (types::MESSAGE_INTEGRITY, vec![0; 20]),
        (types::FINGERPRINT, vec![1, 2, 3, 4]),
        (0x7fff, vec![]),
    ] {
        let mut bytes = buf[..len].to_vec();
        append(&mut bytes, attr_type, &value);
        assert_eq!(
            Message::decode(&bytes).err(),
            Some(DecodeError::AttributeAfterFingerprint {
                attr_type,
                offset: len
            })
        );
    }
}

#[test]
fn unknown_comprehension_required_lists_unknown_types_below_0x8000_only() {
    let mut buf = [0u8; 256];
    let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TID).unwrap();
    w.add(&Username("a:b")).unwrap(); // known, required
    w.add_raw(0x0002, &[0; 4]).unwrap(); // RESPONSE-ADDRESS (RFC 3489): unknown, required
    w.add_raw(0x7fff, b"x").unwrap(); // unknown, required
    w.add_raw(0x8000, &[2, 0, 0, 0]).unwrap(); // ADDITIONAL-ADDRESS-FAMILY: known, optional
    w.add_raw(0x8030, b"yy").unwrap(); // unknown, optional
    w.add_raw(0xffff, b"").unwrap(); // unknown, optional
    w.add(&IceControlling(5)).unwrap(); // known, optional
    w.add_raw(0x0002, &[0; 4]).unwrap(); // repeated
    w.add_message_integrity(&IntegrityKey::short_term("pw"))
        .unwrap();
    let len = w.finish();
    let mut bytes = buf[..len].to_vec();
    append(&mut bytes, 0x0fff, b""); // after MESSAGE-INTEGRITY: ignored
    let msg = Message::decode(&bytes).unwrap();
    let unknown: Vec<u16> = msg.unknown_comprehension_required().collect();
    assert_eq!(unknown, vec![0x0002, 0x7fff, 0x0002]);
    // Unknown optional ones are still readable raw and as AnyAttribute::Unknown.
    let raw = msg.raw(0x8030).unwrap();
    assert_eq!(raw.value, b"yy");
    assert_eq!(
        AnyAttribute::decode(raw, &TID),
        Ok(AnyAttribute::Unknown(raw))
    );
}

// ---------------------------------------------------------------------------------------------
// Arbitrary input

/// Bytes that get past the header checks: a valid header over arbitrary attribute bytes.
fn stun_shaped() -> impl Strategy<Value = Vec<u8>> {
    (0u16..0x4000, proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(t, words)| {
        let mut body = words;
        body.truncate(body.len() / 4 * 4);
        let mut bytes = message_with_body(&body);
        bytes[..2].copy_from_slice(&t.to_be_bytes());
        bytes
    })
}

/// Well-formed attribute headers with random types (biased to known ones) and values.
fn attribute_soup() -> impl Strategy<Value = Vec<u8>> {
    let attr = (
        prop_oneof![
            3 => proptest::sample::select(types::KNOWN.to_vec()),
            1 => any::<u16>(),
        ],
        proptest::collection::vec(any::<u8>(), 0..40),
    );
    proptest::collection::vec(attr, 0..8).prop_map(|attrs| {
        let mut body = Vec::new();
        for (t, v) in attrs {
            body.extend_from_slice(&t.to_be_bytes());
            body.extend_from_slice(&(v.len() as u16).to_be_bytes());
            body.extend_from_slice(&v);
            body.resize(body.len().div_ceil(4) * 4, 0);
        }
        message_with_body(&body)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn an_attribute_after_fingerprint_is_rejected(tail in 0u16..0x8000) {
        let mut buf = [0u8; 64];
        let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TransactionId::new([3; 12])).unwrap();
        w.add_fingerprint().unwrap();
        let n = w.finish();
        let mut bytes = buf[..n].to_vec();
        bytes.extend_from_slice(&tail.to_be_bytes());
        bytes.extend_from_slice(&[0, 0]);
        let len = (bytes.len() - 20) as u16;
        bytes[2..4].copy_from_slice(&len.to_be_bytes());
        prop_assert_eq!(
            Message::decode(&bytes).err(),
            Some(floe_stun::DecodeError::AttributeAfterFingerprint { attr_type: tail, offset: 28 })
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        exercise(&bytes);
    }

    #[test]
    fn arbitrary_attribute_bytes_after_a_valid_header_never_panic(bytes in stun_shaped()) {
        exercise(&bytes);
    }

    #[test]
    fn arbitrary_attribute_values_never_panic(bytes in attribute_soup()) {
        // Well-formed framing decodes, unless something follows FINGERPRINT (RFC 8489 §14.7).
        match Message::decode(&bytes) {
            Ok(msg) => prop_assert!(msg.attributes().count() <= 8),
            Err(e) => prop_assert!(
                matches!(e, floe_stun::DecodeError::AttributeAfterFingerprint { .. }),
                "{e:?}"
            ),
        }
        exercise(&bytes);
    }
}
