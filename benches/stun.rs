//! STUN codec benchmarks: floe against the bare crypto it runs ("the floor") and against other
//! Rust STUN crates, on the RFC 5769 sample request (short-term credentials, MESSAGE-INTEGRITY
//! and FINGERPRINT).
//!
//! Groups:
//! - `stun/decode_verify/{floe,floor,stun_types,stun_codec,stun_rs}`: decode the request, check
//!   MESSAGE-INTEGRITY with the short-term password and check FINGERPRINT.
//! - `stun/encode/floe`: write an ICE connectivity check (USERNAME, PRIORITY, ICE-CONTROLLING,
//!   USE-CANDIDATE, MESSAGE-INTEGRITY, FINGERPRINT) into a stack buffer.
//!
//! Every baseline is asserted once, outside the timed loop, to really verify (and to reject a
//! tampered copy), so no crate is timed on a path that skips the checks.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use floe_stun::attributes::{IceControlling, Priority, UseCandidate, Username};
use floe_stun::{IntegrityKey, Message, MessageType, MessageWriter, TransactionId};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

const PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

fn vector(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/testdata/rfc5769/");
    let text = std::fs::read_to_string(format!("{path}{name}"))
        .unwrap_or_else(|e| panic!("reading {path}{name}: {e}"));
    let hex: String = text.split_whitespace().collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// A copy with one bit of the SOFTWARE value flipped: every verifier must reject it.
fn tampered(bytes: &[u8]) -> Vec<u8> {
    let mut bad = bytes.to_vec();
    bad[24] ^= 0x01;
    bad
}

// ---------------------------------------------------------------------------------------------
// floe

fn floe_decode_verify(bytes: &[u8], key: &IntegrityKey) -> bool {
    match Message::decode(bytes) {
        Ok(msg) => msg.verify_integrity(key).is_ok() && msg.verify_fingerprint().is_ok(),
        Err(_) => false,
    }
}

fn floe_encode(buf: &mut [u8], key: &IntegrityKey, tid: TransactionId) -> usize {
    let mut w = MessageWriter::new(buf, MessageType::BINDING_REQUEST, tid).unwrap();
    w.add(&Username("evtj:h6vY")).unwrap();
    w.add(&Priority(0x6e00_01ff)).unwrap();
    w.add(&IceControlling(0x932f_f9b1_5126_3b36)).unwrap();
    w.add(&UseCandidate).unwrap();
    w.add_message_integrity(key).unwrap();
    w.add_fingerprint().unwrap();
    w.finish()
}

// ---------------------------------------------------------------------------------------------
// The floor: HMAC-SHA1 and CRC-32 over the same bytes, with the same crates and the same
// precomputed-and-cloned HMAC state floe uses, and nothing else.

struct Floor {
    mac: Hmac<Sha1>,
    /// Offsets of MESSAGE-INTEGRITY and FINGERPRINT, found once outside the loop.
    mi: usize,
    fp: usize,
}

impl Floor {
    fn new(bytes: &[u8]) -> Self {
        let mut at = 20;
        let (mut mi, mut fp) = (0, 0);
        while at < bytes.len() {
            let t = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
            let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
            match t {
                0x0008 => mi = at,
                0x8028 => fp = at,
                _ => {}
            }
            at += 4 + len.next_multiple_of(4);
        }
        assert!(mi > 0 && fp > mi);
        Self {
            mac: <Hmac<Sha1> as KeyInit>::new_from_slice(PASSWORD.as_bytes()).unwrap(),
            mi,
            fp,
        }
    }

    fn verify(&self, bytes: &[u8]) -> bool {
        let mi_len = ((self.mi + 24 - 20) as u16).to_be_bytes();
        let mut mac = self.mac.clone();
        mac.update(&bytes[..2]);
        mac.update(&mi_len);
        mac.update(&bytes[4..self.mi]);
        let mac_ok = mac.verify_slice(&bytes[self.mi + 4..self.mi + 24]).is_ok();
        let mut crc = crc32fast::Hasher::new();
        crc.update(&bytes[..self.fp]);
        let fp_value = u32::from_be_bytes(bytes[self.fp + 4..self.fp + 8].try_into().unwrap());
        let crc_ok = crc.finalize() ^ 0x5354_554e == fp_value;
        mac_ok && crc_ok
    }
}

// ---------------------------------------------------------------------------------------------
// stun-types 2.x: `Message::from_bytes` checks FINGERPRINT; `validate_integrity_with_key` takes a
// cached key.

fn stun_types_decode_verify(bytes: &[u8], key: &stun_types::message::IntegrityKey) -> bool {
    match stun_types::message::Message::from_bytes(bytes) {
        Ok(msg) => msg.validate_integrity_with_key(key).is_ok(),
        Err(_) => false,
    }
}

// ---------------------------------------------------------------------------------------------
// stun_codec 0.4: the decoder checks FINGERPRINT after decoding; MESSAGE-INTEGRITY is checked with
// the password.

mod sc {
    pub use stun_codec::rfc5245::attributes::{
        IceControlled, IceControlling, Priority, UseCandidate,
    };
    pub use stun_codec::rfc5389::attributes::{Fingerprint, MessageIntegrity, Software, Username};
    stun_codec::define_attribute_enums!(
        Attribute,
        AttributeDecoder,
        AttributeEncoder,
        [
            Software,
            Username,
            Priority,
            IceControlled,
            IceControlling,
            UseCandidate,
            MessageIntegrity,
            Fingerprint
        ]
    );
}

fn stun_codec_decode_verify(bytes: &[u8]) -> bool {
    use bytecodec::DecodeExt;
    let mut decoder = stun_codec::MessageDecoder::<sc::Attribute>::new();
    let Ok(Ok(msg)) = decoder.decode_from_bytes(bytes) else {
        return false;
    };
    if msg.get_attribute::<sc::Fingerprint>().is_none() {
        return false;
    }
    match msg.get_attribute::<sc::MessageIntegrity>() {
        Some(mi) => mi.check_short_term_credential(PASSWORD).is_ok(),
        None => false,
    }
}

// ---------------------------------------------------------------------------------------------
// stun-rs 0.1: a decoder with a key and validation on checks both while decoding.

fn stun_rs_decoder() -> stun_rs::MessageDecoder {
    let key = stun_rs::HMACKey::new_short_term(PASSWORD).unwrap();
    let ctx = stun_rs::DecoderContextBuilder::default()
        .with_key(key)
        .with_validation()
        .build();
    stun_rs::MessageDecoderBuilder::default()
        .with_context(ctx)
        .build()
}

fn stun_rs_decode_verify(bytes: &[u8], decoder: &stun_rs::MessageDecoder) -> bool {
    match decoder.decode(bytes) {
        Ok((msg, _)) => {
            use stun_rs::attributes::stun::{Fingerprint, MessageIntegrity};
            msg.get::<MessageIntegrity>().is_some() && msg.get::<Fingerprint>().is_some()
        }
        Err(_) => false,
    }
}

// ---------------------------------------------------------------------------------------------

fn decode_verify(c: &mut Criterion) {
    let bytes = vector("sample-request.hex");
    let bad = tampered(&bytes);
    let mut group = c.benchmark_group("stun/decode_verify");

    let key = IntegrityKey::short_term(PASSWORD);
    assert!(floe_decode_verify(&bytes, &key));
    assert!(!floe_decode_verify(&bad, &key));
    group.bench_function("floe", |b| {
        b.iter(|| floe_decode_verify(black_box(&bytes), black_box(&key)))
    });

    let floor = Floor::new(&bytes);
    assert!(floor.verify(&bytes));
    assert!(!floor.verify(&bad));
    group.bench_function("floor", |b| {
        b.iter(|| black_box(&floor).verify(black_box(&bytes)))
    });

    let st_key = stun_types::message::ShortTermCredentials::new(PASSWORD.to_owned()).make_key();
    assert!(stun_types_decode_verify(&bytes, &st_key));
    assert!(!stun_types_decode_verify(&bad, &st_key));
    group.bench_function("stun_types", |b| {
        b.iter(|| stun_types_decode_verify(black_box(&bytes), black_box(&st_key)))
    });

    assert!(stun_codec_decode_verify(&bytes));
    assert!(!stun_codec_decode_verify(&bad));
    group.bench_function("stun_codec", |b| {
        b.iter(|| stun_codec_decode_verify(black_box(&bytes)))
    });

    let decoder = stun_rs_decoder();
    assert!(stun_rs_decode_verify(&bytes, &decoder));
    assert!(!stun_rs_decode_verify(&bad, &decoder));
    group.bench_function("stun_rs", |b| {
        b.iter(|| stun_rs_decode_verify(black_box(&bytes), black_box(&decoder)))
    });

    group.finish();
}

fn encode(c: &mut Criterion) {
    let key = IntegrityKey::short_term(PASSWORD);
    let tid = TransactionId::new([
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ]);
    {
        let mut buf = [0u8; 128];
        let len = floe_encode(&mut buf, &key, tid);
        let msg = Message::decode(&buf[..len]).unwrap();
        msg.verify_integrity(&key).unwrap();
        msg.verify_fingerprint().unwrap();
    }
    let mut group = c.benchmark_group("stun/encode");
    group.bench_function("floe", |b| {
        b.iter(|| {
            let mut buf = [0u8; 128];
            let len = floe_encode(&mut buf, black_box(&key), black_box(tid));
            black_box(buf);
            len
        })
    });
    group.finish();
}

criterion_group!(benches, decode_verify, encode);
criterion_main!(benches);
