//! Fuzzes the STUN decoder: whatever the bytes, decoding, reading every attribute and verifying
//! must not panic; a message that decodes must survive re-encoding attribute by attribute.
#![no_main]

use floe_stun::{
    classify, is_stun, AnyAttribute, EncodeError, IntegrityError, IntegrityKey, IntegrityKeySha256,
    Message, MessageWriter, PacketKind,
};

const KEY: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let kind = classify(data);
    let looks_like_stun = is_stun(data);

    let Ok(msg) = Message::decode(data) else {
        return;
    };
    // A decodable message passes the quick check, and the demultiplexer never takes it for
    // TURN ChannelData or RTP/RTCP (its first byte is below 64); RFC 7983 only claims first
    // bytes 0-3 for STUN, so methods above 0x0ff may fall in the ZRTP, DTLS or unassigned ranges.
    assert!(looks_like_stun);
    assert!(!matches!(kind, PacketKind::ChannelData | PacketKind::Rtp));
    if data[0] <= 3 {
        assert_eq!(kind, PacketKind::Stun);
    }

    let tid = msg.transaction_id();
    let mut typed = [None; 64];
    let mut count = 0;
    let mut all_typed = true;
    for raw in msg.attributes() {
        // Decoded attributes borrow from `data`; every value lies within it.
        let start = raw.value.as_ptr() as usize - data.as_ptr() as usize;
        assert!(start + raw.value.len() <= data.len());
        match AnyAttribute::decode(raw, &tid) {
            Ok(any) => {
                assert_eq!(any.attr_type(), raw.attr_type);
                if let Some(slot) = typed.get_mut(count) {
                    *slot = Some(any);
                }
            }
            Err(e) => {
                assert_eq!(e.attr_type, raw.attr_type);
                all_typed = false;
            }
        }
        count += 1;
    }
    let _ = msg.unknown_comprehension_required().count();

    let key = IntegrityKey::new(KEY);
    let key256 = IntegrityKeySha256::new(KEY);
    let mi = msg.verify_integrity(&key);
    let mi256 = msg.verify_integrity_sha256(&key256);
    let fp = msg.verify_fingerprint();
    // Missing is reported exactly when the attribute is absent.
    assert_eq!(mi == Err(IntegrityError::Missing), !msg.has_integrity());
    assert_eq!(
        mi256 == Err(IntegrityError::Missing),
        !msg.has_integrity_sha256()
    );
    assert_eq!(fp == Err(IntegrityError::Missing), !msg.has_fingerprint());

    // Re-encode every counted attribute and decode the result: the same attributes come back.
    if !all_typed || count > typed.len() {
        return;
    }
    let mut buf = [0u8; 70_000];
    let Ok(mut w) = MessageWriter::new(&mut buf, msg.message_type(), tid) else {
        return;
    };
    for any in typed[..count].iter().flatten() {
        match any.write_to(&mut w) {
            Ok(()) => {}
            // Canonical padding inside PASSWORD-ALGORITHM(S) may grow a maximal message past
            // the 16-bit length.
            Err(EncodeError::TooLong) => return,
            Err(e) => panic!("re-encoding {any:?}: {e}"),
        }
    }
    let len = w.finish();
    let again = Message::decode(&buf[..len]).expect("re-encoded message decodes");
    assert_eq!(again.message_type(), msg.message_type());
    assert_eq!(again.transaction_id(), tid);
    let mut n = 0;
    for (raw, original) in again.attributes().zip(typed[..count].iter().flatten()) {
        let decoded = AnyAttribute::decode(raw, &tid).expect("re-encoded attribute decodes");
        assert_eq!(&decoded, original);
        n += 1;
    }
    assert_eq!(n, count);
    assert_eq!(again.attributes().count(), count);
});
