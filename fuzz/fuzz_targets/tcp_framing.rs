//! Fuzzes the RFC 4571 framing of ICE-TCP (`floe_ice::framing`): arbitrary bytes under
//! arbitrary caps, cut into arbitrary pieces.
//!
//! - Fed within `room()` and drained after each push, the decoder returns exactly what a plain
//!   reference parser finds in the whole input (the non-empty packets before the first length
//!   over the cap) and fails exactly when that parser finds such a length.
//! - Fed ignoring `room()` and drained only now and then: no panic, the bytes held and the
//!   allocation stay under the cap, no frame is empty or over the cap, and once failed the
//!   decoder refuses all input.
//! - Every packet returned frames back (`frame_into`) to the bytes it came from.
#![no_main]

use floe_ice::framing::{self, FrameDecoder, FramingError};
use libfuzzer_sys::fuzz_target;

/// The non-empty packets before the first length field over `max`, and whether there is one.
fn reference(wire: &[u8], max: usize) -> (Vec<Vec<u8>>, bool) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(head) = wire.get(at..at + 2) {
        let len = usize::from(u16::from_be_bytes([head[0], head[1]]));
        if len > max {
            return (out, true);
        }
        match wire.get(at + 2..at + 2 + len) {
            Some(p) if !p.is_empty() => out.push(p.to_vec()),
            Some(_) => {}
            None => break,
        }
        at += 2 + len;
    }
    (out, false)
}

fn check(d: &FrameDecoder) {
    assert!(d.buffered() <= d.max_buffered());
    assert!(d.allocated() <= d.max_buffered());
}

fn drain(d: &mut FrameDecoder, out: &mut Vec<Vec<u8>>) {
    let max = d.max_frame_len();
    while let Some(f) = d.next_frame() {
        assert!(!f.is_empty() && f.len() <= max);
        out.push(f.to_vec());
    }
}

fuzz_target!(|input: (u16, u16, u8, u8, &[u8])| {
    let (max_frame_len, max_buffered, split, drain_every, wire) = input;
    let step = usize::from(split.max(1));

    // Within room, drained after every push: the reference's answer.
    let mut d = FrameDecoder::with_limits(max_frame_len, usize::from(max_buffered));
    let mut got = Vec::new();
    let mut failed = false;
    let mut at = 0;
    while at < wire.len() {
        let n = step.min(d.room()).min(wire.len() - at);
        assert!(n > 0, "no room after draining");
        let pushed = d.push(&wire[at..at + n]);
        check(&d);
        drain(&mut d, &mut got);
        if let Err(e) = pushed {
            assert!(matches!(e, FramingError::FrameTooLong { len, max } if len > max));
            failed = true;
            break;
        }
        at += n;
    }
    let (expected, fault) = reference(wire, usize::from(max_frame_len));
    assert_eq!(got, expected);
    assert_eq!(failed, fault);

    // Each packet frames back to the bytes it was read from.
    let mut rebuilt = Vec::new();
    let mut buf = vec![0u8; framing::frame_len(usize::from(u16::MAX))];
    for p in &got {
        let n = framing::frame_into(p, &mut buf).unwrap();
        rebuilt.extend_from_slice(&buf[..n]);
    }
    let mut again = FrameDecoder::new();
    again.push(&rebuilt).unwrap();
    let mut round = Vec::new();
    drain(&mut again, &mut round);
    assert_eq!(round, got);

    // Ignoring room, drained now and then: bounded, never a panic, final errors.
    let mut d = FrameDecoder::with_limits(max_frame_len, usize::from(max_buffered));
    let every = usize::from(drain_every % 4) + 1;
    let mut out = Vec::new();
    for (i, chunk) in wire.chunks(step).enumerate() {
        let pushed = d.push(chunk);
        check(&d);
        if i % every == 0 {
            drain(&mut d, &mut out);
        }
        if let Err(e) = pushed {
            assert_eq!(d.error(), Some(e));
            assert_eq!(d.room(), 0);
            assert_eq!(d.push(b"\x00\x01x"), Err(e));
            drain(&mut d, &mut out);
            assert!(d.next_frame().is_none());
            break;
        }
    }
});
