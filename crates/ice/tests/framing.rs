//! RFC 4571 framing (`floe_ice::framing`) against random streams: whatever the way a stream of
//! framed packets is cut, the same packets come out in order; whatever the bytes, the decoder
//! never panics and never holds more than its cap.

use floe_ice::framing::{self, FrameDecoder, FramingError, MAX_FRAME_LEN};
use proptest::prelude::*;

/// A packet of `len` bytes counting up from `seed` (cheap to make, even at 65,535 bytes).
fn packet(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
}

fn frame_all(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut wire = vec![0u8; packets.iter().map(|p| framing::frame_len(p.len())).sum()];
    let mut at = 0;
    for p in packets {
        at += framing::frame_into(p, &mut wire[at..]).unwrap();
    }
    assert_eq!(at, wire.len());
    wire
}

/// What a decoder capped at `max_frame_len` must return for `wire`, read in one go: the
/// non-empty packets before the first length field over the cap, and whether there is one.
fn reference(wire: &[u8], max_frame_len: usize) -> (Vec<Vec<u8>>, bool) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(head) = wire.get(at..at + 2) {
        let len = usize::from(u16::from_be_bytes([head[0], head[1]]));
        if len > max_frame_len {
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

fn check_bounds(d: &FrameDecoder) {
    assert!(d.buffered() <= d.max_buffered(), "{d:?}");
    assert!(d.allocated() <= d.max_buffered(), "{d:?}");
}

/// Drains every complete frame, checking each against the cap.
fn drain(d: &mut FrameDecoder, out: &mut Vec<Vec<u8>>) {
    let max = d.max_frame_len();
    while let Some(f) = d.next_frame() {
        assert!(
            !f.is_empty() && f.len() <= max,
            "frame of {} bytes",
            f.len()
        );
        out.push(f.to_vec());
    }
}

/// Feeds `wire` in pieces of the sizes in `chunks` (cycled), each no larger than the
/// decoder's room, draining after each push. Returns the frames and the error, if any.
fn feed_within_room(
    d: &mut FrameDecoder,
    wire: &[u8],
    chunks: &[usize],
) -> (Vec<Vec<u8>>, Option<FramingError>) {
    let mut out = Vec::new();
    let mut at = 0;
    for &size in chunks.iter().cycle() {
        if at == wire.len() {
            break;
        }
        let n = size.min(d.room()).min(wire.len() - at);
        assert!(n > 0, "no room after draining: {d:?}");
        let pushed = d.push(&wire[at..at + n]);
        check_bounds(d);
        drain(d, &mut out);
        if let Err(e) = pushed {
            return (out, Some(e));
        }
        at += n;
    }
    (out, None)
}

/// Packet lengths: mostly STUN- and datagram-sized, some empty, a few near the 16-bit limit.
fn packet_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        2 => Just(0usize),
        10 => 1usize..1500,
        1 => (MAX_FRAME_LEN - 16)..=MAX_FRAME_LEN,
    ]
}

proptest! {
    #[test]
    fn framed_packets_cut_anywhere_come_out_unchanged_and_in_order(
        specs in prop::collection::vec((packet_len(), any::<u8>()), 0..30),
        chunks in prop::collection::vec(1usize..5000, 1..40),
    ) {
        let packets: Vec<Vec<u8>> = specs.iter().map(|&(len, seed)| packet(len, seed)).collect();
        let wire = frame_all(&packets);
        let mut d = FrameDecoder::new();
        let (out, err) = feed_within_room(&mut d, &wire, &chunks);
        prop_assert_eq!(err, None);
        let expected: Vec<Vec<u8>> = packets.iter().filter(|p| !p.is_empty()).cloned().collect();
        prop_assert_eq!(out, expected);
        let empty = packets.iter().filter(|p| p.is_empty()).count() as u64;
        prop_assert_eq!(d.empty_frames(), empty);
        prop_assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn any_stream_decodes_as_if_read_whole_under_any_caps(
        wire in prop::collection::vec(any::<u8>(), 0..3000),
        max_frame_len in prop_oneof![0u16..64, any::<u16>()],
        max_buffered in 0usize..5000,
        chunks in prop::collection::vec(1usize..700, 1..20),
    ) {
        let mut d = FrameDecoder::with_limits(max_frame_len, max_buffered);
        let (out, err) = feed_within_room(&mut d, &wire, &chunks);
        let (expected, fault) = reference(&wire, usize::from(max_frame_len));
        prop_assert_eq!(out, expected);
        prop_assert_eq!(err.is_some(), fault);
        if let Some(e) = err {
            prop_assert!(
                matches!(e, FramingError::FrameTooLong { len, max } if len > max),
                "{:?}", e
            );
        }
    }

    #[test]
    fn well_framed_streams_under_tight_caps_decode_as_if_read_whole(
        lens in prop::collection::vec(0usize..300, 0..60),
        max_frame_len in 0u16..300,
        max_buffered in 0usize..1000,
        chunks in prop::collection::vec(1usize..400, 1..20),
    ) {
        // Some packets are over the cap, most not: the decoder must hold, compact and check
        // many length fields before the first one it refuses.
        let packets: Vec<Vec<u8>> = lens.iter().map(|&len| packet(len, len as u8)).collect();
        let wire = frame_all(&packets);
        let mut d = FrameDecoder::with_limits(max_frame_len, max_buffered);
        let (out, err) = feed_within_room(&mut d, &wire, &chunks);
        let (expected, fault) = reference(&wire, usize::from(max_frame_len));
        prop_assert_eq!(out, expected);
        prop_assert_eq!(err.is_some(), fault);
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_exceed_the_cap(
        wire in prop::collection::vec(any::<u8>(), 0..6000),
        max_frame_len in any::<u16>(),
        max_buffered in 0usize..70_000,
        chunks in prop::collection::vec(1usize..8000, 1..20),
        drain_every in 1usize..4,
    ) {
        let mut d = FrameDecoder::with_limits(max_frame_len, max_buffered);
        let mut out = Vec::new();
        let mut at = 0;
        for (i, &size) in chunks.iter().cycle().enumerate() {
            if at == wire.len() {
                break;
            }
            // Ignores `room()`: pushes past the cap must fail cleanly.
            let n = size.min(wire.len() - at);
            let pushed = d.push(&wire[at..at + n]);
            check_bounds(&d);
            if i % drain_every == 0 {
                drain(&mut d, &mut out);
            }
            if let Err(e) = pushed {
                prop_assert_eq!(d.error(), Some(e));
                prop_assert_eq!(d.room(), 0);
                prop_assert_eq!(d.push(&[0, 1]), Err(e));
                drain(&mut d, &mut out);
                prop_assert_eq!(d.next_frame(), None);
                break;
            }
            at += n;
        }
    }

    #[test]
    fn frame_into_round_trips_or_refuses(len in 0usize..70_000, room in 0usize..70_010) {
        let p = packet(len, 1);
        let mut out = vec![0u8; room];
        match framing::frame_into(&p, &mut out) {
            Ok(n) => {
                prop_assert_eq!(n, framing::frame_len(len));
                let mut d = FrameDecoder::new();
                d.push(&out[..n]).unwrap();
                let expected = if len == 0 { None } else { Some(&p[..]) };
                prop_assert_eq!(d.next_frame(), expected);
            }
            Err(FramingError::FrameTooLong { .. }) => prop_assert!(len > MAX_FRAME_LEN),
            Err(FramingError::BufferTooSmall { needed, available }) => {
                prop_assert!(len <= MAX_FRAME_LEN);
                prop_assert_eq!((needed, available), (len + 2, room));
                prop_assert!(room < len + 2);
            }
            Err(e) => prop_assert!(false, "unexpected {:?}", e),
        }
    }
}

/// Decoding throughput, for the record (no assertion on time): 1,001,000 frames of 200 bytes
/// fed in 1,400-byte chunks, as a TCP socket read would deliver them.
/// `cargo test -p floe-ice --release --test framing -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, run by hand in release mode"]
fn decoding_throughput() {
    // 7,000 frames of 202 bytes make 1,414,000 bytes: 1,010 chunks of 1,400 exactly, with
    // frame boundaries everywhere in the chunks.
    let block = frame_all(&vec![packet(200, 9); 7_000]);
    let reps = 143;
    let mut d = FrameDecoder::new();
    let start = std::time::Instant::now();
    let mut frames = 0usize;
    let mut sum = 0u64;
    for _ in 0..reps {
        for chunk in block.chunks(1_400) {
            d.push(std::hint::black_box(chunk)).unwrap();
            while let Some(f) = d.next_frame() {
                frames += 1;
                sum += u64::from(f[199]);
            }
        }
    }
    let elapsed = start.elapsed();
    std::hint::black_box(sum);
    assert_eq!(frames, 7_000 * reps);
    let wire_bytes = (block.len() * reps) as f64;
    let secs = elapsed.as_secs_f64();
    println!(
        "{frames} frames, {:.1} MB of wire in {:.1} ms: {:.0} MB/s, {:.1} M frames/s",
        wire_bytes / 1e6,
        secs * 1e3,
        wire_bytes / 1e6 / secs,
        frames as f64 / 1e6 / secs,
    );
}
