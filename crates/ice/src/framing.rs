//! RFC 4571 framing for ICE-TCP: on a TCP connection, ICE over TCP (RFC 6544 §3) sends every
//! STUN message and every packet of application data preceded by a 16-bit length in network
//! byte order, so that a byte stream can carry datagrams. [`frame_into`] and [`header`] write
//! that framing; [`FrameDecoder`] takes it off again, whatever the way the stream cuts it.
//!
//! ```
//! use floe_ice::framing::{self, FrameDecoder};
//!
//! let mut wire = [0u8; 32];
//! let a = framing::frame_into(b"hello", &mut wire).unwrap();
//! let b = framing::frame_into(b"world!", &mut wire[a..]).unwrap();
//!
//! let mut decoder = FrameDecoder::new();
//! decoder.push(&wire[..3]).unwrap(); // the length field and one byte of "hello"
//! assert_eq!(decoder.next_frame(), None);
//! decoder.push(&wire[3..a + b]).unwrap(); // the rest of "hello" and all of "world!"
//! assert_eq!(decoder.next_frame(), Some(&b"hello"[..]));
//! assert_eq!(decoder.next_frame(), Some(&b"world!"[..]));
//! assert_eq!(decoder.next_frame(), None);
//! ```

use core::fmt;

/// The length field that precedes every packet: two bytes (RFC 4571 §2).
pub const HEADER_LEN: usize = 2;

/// The longest packet the 16-bit length field can describe.
pub const MAX_FRAME_LEN: usize = u16::MAX as usize;

/// The default cap on bytes a [`FrameDecoder`] holds: two frames of the largest size, so a
/// caller that drains every frame after each [`FrameDecoder::push`] can always push another
/// 65,537 bytes.
pub const DEFAULT_MAX_BUFFERED: usize = 2 * frame_len(MAX_FRAME_LEN);

/// The bytes on the wire for a packet of `packet_len` bytes: the length field plus the packet.
/// Saturates instead of overflowing; [`frame_into`] refuses packets over [`MAX_FRAME_LEN`].
pub const fn frame_len(packet_len: usize) -> usize {
    packet_len.saturating_add(HEADER_LEN)
}

/// The length field for a packet of `packet_len` bytes, for callers that write the packet
/// next to it themselves (a vectored write, or a buffer the packet is already in).
pub fn header(packet_len: usize) -> Result<[u8; HEADER_LEN], FramingError> {
    let len = u16::try_from(packet_len).map_err(|_| FramingError::FrameTooLong {
        len: packet_len,
        max: MAX_FRAME_LEN,
    })?;
    Ok(len.to_be_bytes())
}

/// Writes the length field and `packet` into the front of `out` and returns how many bytes
/// that took ([`frame_len`]`(packet.len())`). Errors when the packet is longer than 65,535
/// bytes or `out` is too short; `out` is left untouched then.
pub fn frame_into(packet: &[u8], out: &mut [u8]) -> Result<usize, FramingError> {
    let head = header(packet.len())?;
    let total = frame_len(packet.len());
    let available = out.len();
    let slot = out.get_mut(..total).ok_or(FramingError::BufferTooSmall {
        needed: total,
        available,
    })?;
    slot[..HEADER_LEN].copy_from_slice(&head);
    slot[HEADER_LEN..].copy_from_slice(packet);
    Ok(total)
}

/// Why a packet could not be framed, or a stream could not be deframed.
///
/// The decoder's errors ([`FrameTooLong`](Self::FrameTooLong) and
/// [`BufferFull`](Self::BufferFull)) are final: the decoder refuses all further input and the
/// connection should be closed, since nothing tells where the next frame would start.
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FramingError {
    /// A frame is longer than allowed: a packet to frame over 65,535 bytes, or a length field
    /// on the stream above the decoder's [`FrameDecoder::max_frame_len`].
    FrameTooLong {
        /// The packet's length.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
    /// [`FrameDecoder::push`] was given more bytes than fit under the decoder's cap on
    /// buffered bytes ([`FrameDecoder::room`] tells how many do). The bytes were not taken.
    BufferFull {
        /// Bytes already held: received but not yet returned as frames.
        buffered: usize,
        /// The bytes pushed.
        pushed: usize,
        /// The cap, [`FrameDecoder::max_buffered`].
        max: usize,
    },
    /// The output buffer of [`frame_into`] is too short.
    BufferTooSmall {
        /// The bytes the frame takes.
        needed: usize,
        /// The bytes the buffer has.
        available: usize,
    },
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingError::FrameTooLong { len, max } => {
                write!(f, "frame of {len} bytes is over the limit of {max}")
            }
            FramingError::BufferFull {
                buffered,
                pushed,
                max,
            } => write!(
                f,
                "{pushed} bytes pushed onto {buffered} buffered would exceed the cap of {max}"
            ),
            FramingError::BufferTooSmall { needed, available } => write!(
                f,
                "output buffer of {available} bytes is too small for a frame of {needed}"
            ),
        }
    }
}

impl std::error::Error for FramingError {}

/// Takes RFC 4571 frames off a byte stream, sans IO: the caller pushes whatever each read
/// returned (part of a frame, several frames, a cut anywhere, even between the two bytes of a
/// length field) and takes complete packets out, in order, with [`next_frame`](Self::next_frame).
///
/// **Copies.** [`push`](Self::push) copies the bytes once into an internal buffer and
/// [`next_frame`](Self::next_frame) lends each packet out of that buffer, so a packet is never
/// copied again. Bytes already returned are reclaimed lazily: only when a push would not fit
/// in the allocation does the decoder move the unreturned tail (at most one partial frame for
/// a caller that drains after each push) to the front, instead of growing.
///
/// **Bounds.** Two caps, both checked on [`push`](Self::push), keep a peer from making the
/// decoder hold much: [`max_frame_len`](Self::max_frame_len) (65,535 by default; lower it
/// for a peer that has not authenticated yet) is checked as soon as a length field is
/// complete, before the packet's body arrives; [`max_buffered`](Self::max_buffered) caps the
/// bytes held, and the allocation never grows past it. Breaking either is a [`FramingError`]
/// after which every push fails with the same error: close the connection. Frames completed
/// before the fault can still be drained.
///
/// **Empty frames.** RFC 4571 allows a length of zero; such a frame carries no packet, so it is
/// skipped and only counted ([`empty_frames`](Self::empty_frames)).
///
/// `next_frame` lends from the decoder, so it is a method rather than an [`Iterator`]: loop
/// with `while let Some(packet) = decoder.next_frame()`.
#[derive(Clone)]
pub struct FrameDecoder {
    /// Received bytes; `buf[start..]` are not returned yet.
    buf: Vec<u8>,
    /// Where the next frame to return starts.
    start: usize,
    /// Where the next length field not yet checked against the cap starts; may lie past the
    /// end of `buf` while a frame's body is still arriving. Always `>= start`.
    scan: usize,
    max_frame_len: usize,
    max_buffered: usize,
    empty_frames: u64,
    error: Option<FramingError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the bytes: up to DEFAULT_MAX_BUFFERED of them.
        f.debug_struct("FrameDecoder")
            .field("buffered", &self.buffered())
            .field("max_frame_len", &self.max_frame_len)
            .field("max_buffered", &self.max_buffered)
            .field("empty_frames", &self.empty_frames)
            .field("error", &self.error)
            .finish()
    }
}

impl FrameDecoder {
    /// A decoder that takes frames up to 65,535 bytes and holds up to
    /// [`DEFAULT_MAX_BUFFERED`] bytes. Nothing is allocated until the first push.
    pub fn new() -> Self {
        Self::with_limits(u16::MAX, DEFAULT_MAX_BUFFERED)
    }

    /// A decoder that refuses frames longer than `max_frame_len` and holds at most
    /// `max_buffered` bytes. `max_buffered` is raised to [`frame_len`]`(max_frame_len)` when
    /// lower, so that the largest allowed frame fits.
    pub fn with_limits(max_frame_len: u16, max_buffered: usize) -> Self {
        let max_frame_len = usize::from(max_frame_len);
        Self {
            buf: Vec::new(),
            start: 0,
            scan: 0,
            max_frame_len,
            max_buffered: max_buffered.max(frame_len(max_frame_len)),
            empty_frames: 0,
            error: None,
        }
    }

    /// The longest frame accepted.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// The most bytes held at once (and the largest allocation).
    pub fn max_buffered(&self) -> usize {
        self.max_buffered
    }

    /// Bytes received but not yet returned as frames: at most [`max_buffered`](Self::max_buffered).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The size of the internal allocation, in bytes: at most
    /// [`max_buffered`](Self::max_buffered).
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// How many bytes the next [`push`](Self::push) may take: the cap less what is buffered,
    /// zero once the decoder has failed. A caller that reads from the socket into a buffer of
    /// this size never gets [`FramingError::BufferFull`].
    pub fn room(&self) -> usize {
        if self.error.is_some() {
            0
        } else {
            self.max_buffered - self.buffered()
        }
    }

    /// Zero-length frames seen and skipped so far.
    pub fn empty_frames(&self) -> u64 {
        self.empty_frames
    }

    /// The error that stopped the decoder, if any.
    pub fn error(&self) -> Option<FramingError> {
        self.error
    }

    /// Appends bytes received from the stream and checks every length field that is now
    /// complete against [`max_frame_len`](Self::max_frame_len).
    ///
    /// Errors: [`FramingError::BufferFull`] when `bytes` is longer than [`room`](Self::room)
    /// (nothing is taken), [`FramingError::FrameTooLong`] when a length field is over the cap
    /// (the bytes from that field on are dropped). Either stops the decoder: every later push
    /// returns the same error, while frames completed before the fault still come out of
    /// [`next_frame`](Self::next_frame).
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), FramingError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let buffered = self.buffered();
        if bytes.len() > self.max_buffered - buffered {
            return Err(self.fail(FramingError::BufferFull {
                buffered,
                pushed: bytes.len(),
                max: self.max_buffered,
            }));
        }
        self.make_room(bytes.len());
        self.buf.extend_from_slice(bytes);
        self.check_lengths()
    }

    /// The next complete packet, without its length field, or `None` until more bytes
    /// arrive. The packet is lent from the decoder's buffer: nothing is copied.
    pub fn next_frame(&mut self) -> Option<&[u8]> {
        loop {
            let body = self.start + HEADER_LEN;
            let head = self.buf.get(self.start..body)?;
            let len = usize::from(u16::from_be_bytes([head[0], head[1]]));
            let end = body + len;
            if end > self.buf.len() {
                return None;
            }
            // Length fields are checked in `push` before anything past them is returned.
            debug_assert!(len <= self.max_frame_len);
            self.start = end;
            if len == 0 {
                self.empty_frames += 1;
                continue;
            }
            return Some(&self.buf[body..end]);
        }
    }

    fn fail(&mut self, e: FramingError) -> FramingError {
        self.error = Some(e);
        e
    }

    /// Makes `n` more bytes fit in the allocation (the caller checked they fit under the
    /// cap), moving the unreturned bytes to the front rather than growing when that suffices.
    fn make_room(&mut self, n: usize) {
        if self.start == self.buf.len() {
            // Everything was returned: start over at the front, no copy.
            self.buf.clear();
            self.scan -= self.start;
            self.start = 0;
        }
        if self.buf.len() + n <= self.buf.capacity() {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start.., 0);
            self.buf.truncate(self.buf.len() - self.start);
            self.scan -= self.start;
            self.start = 0;
        }
        let needed = self.buf.len() + n;
        if needed > self.buf.capacity() {
            // Grow geometrically, but never past the cap (needed <= max_buffered).
            let target = needed
                .max(self.buf.capacity().saturating_mul(2))
                .min(self.max_buffered);
            self.buf.reserve_exact(target - self.buf.len());
        }
    }

    /// Checks each length field that became complete; on one over the cap, drops it and
    /// everything after it and fails.
    fn check_lengths(&mut self) -> Result<(), FramingError> {
        while let Some(head) = self.buf.get(self.scan..self.scan + HEADER_LEN) {
            let len = usize::from(u16::from_be_bytes([head[0], head[1]]));
            if len > self.max_frame_len {
                self.buf.truncate(self.scan);
                return Err(self.fail(FramingError::FrameTooLong {
                    len,
                    max: self.max_frame_len,
                }));
            }
            self.scan += HEADER_LEN + len;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(packets: &[&[u8]]) -> Vec<u8> {
        let mut wire = Vec::new();
        for p in packets {
            let mut buf = vec![0; frame_len(p.len())];
            let n = frame_into(p, &mut buf).unwrap();
            wire.extend_from_slice(&buf[..n]);
        }
        wire
    }

    fn drain(d: &mut FrameDecoder) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(f) = d.next_frame() {
            out.push(f.to_vec());
        }
        out
    }

    #[test]
    fn frame_into_writes_the_length_in_network_byte_order() {
        let packet = vec![7u8; 0x0102];
        let mut out = [0u8; 0x0200];
        let n = frame_into(&packet, &mut out).unwrap();
        assert_eq!(n, 0x0104);
        assert_eq!(out[..2], [0x01, 0x02]);
        assert_eq!(&out[2..n], &packet[..]);
        assert_eq!(out[n], 0, "nothing written past the frame");
    }

    #[test]
    fn frame_into_refuses_packets_over_65535_bytes() {
        let packet = vec![0u8; MAX_FRAME_LEN + 1];
        let mut out = vec![0u8; frame_len(packet.len())];
        assert_eq!(
            frame_into(&packet, &mut out),
            Err(FramingError::FrameTooLong {
                len: 65_536,
                max: 65_535
            })
        );
        let n = frame_into(&packet[..MAX_FRAME_LEN], &mut out).unwrap();
        assert_eq!((n, &out[..2]), (65_537, &[0xff, 0xff][..]));
    }

    #[test]
    fn frame_into_refuses_a_short_output_buffer_and_leaves_it_untouched() {
        let mut out = [0xaau8; 6];
        assert_eq!(
            frame_into(b"hello", &mut out),
            Err(FramingError::BufferTooSmall {
                needed: 7,
                available: 6
            })
        );
        assert_eq!(out, [0xaa; 6]);
    }

    #[test]
    fn header_and_frame_len_agree_with_frame_into() {
        let mut out = [0u8; 16];
        let n = frame_into(b"abc", &mut out).unwrap();
        assert_eq!(n, frame_len(3));
        assert_eq!(out[..HEADER_LEN], header(3).unwrap());
        assert_eq!(frame_len(usize::MAX), usize::MAX);
        assert!(header(MAX_FRAME_LEN + 1).is_err());
    }

    #[test]
    fn a_whole_frame_comes_out_as_pushed() {
        let mut d = FrameDecoder::new();
        d.push(&framed(&[b"binding request"])).unwrap();
        assert_eq!(d.next_frame(), Some(&b"binding request"[..]));
        assert_eq!(d.next_frame(), None);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn a_partial_frame_waits_for_the_rest() {
        let wire = framed(&[b"0123456789"]);
        let mut d = FrameDecoder::new();
        d.push(&wire[..7]).unwrap();
        assert_eq!(d.next_frame(), None);
        assert_eq!(d.buffered(), 7);
        d.push(&wire[7..]).unwrap();
        assert_eq!(d.next_frame(), Some(&b"0123456789"[..]));
    }

    #[test]
    fn frames_split_inside_the_length_field_are_reassembled() {
        let wire = framed(&[b"first", b"second"]);
        let mut d = FrameDecoder::new();
        // Cut between the two bytes of the first length field, then of the second.
        d.push(&wire[..1]).unwrap();
        assert_eq!(d.next_frame(), None);
        d.push(&wire[1..8]).unwrap();
        assert_eq!(d.next_frame(), Some(&b"first"[..]));
        assert_eq!(d.next_frame(), None);
        d.push(&wire[8..]).unwrap();
        assert_eq!(d.next_frame(), Some(&b"second"[..]));
    }

    #[test]
    fn a_stream_fed_one_byte_at_a_time_is_reassembled() {
        let packets: [&[u8]; 3] = [b"a", &[0u8; 300], b"xyz"];
        let mut d = FrameDecoder::new();
        let mut out = Vec::new();
        for b in framed(&packets).chunks(1) {
            d.push(b).unwrap();
            out.extend(drain(&mut d));
        }
        assert_eq!(out, packets.map(<[u8]>::to_vec));
    }

    #[test]
    fn coalesced_frames_come_out_in_order() {
        let packets: [&[u8]; 4] = [b"one", b"two", b"three", &[9u8; 1000]];
        let mut d = FrameDecoder::new();
        d.push(&framed(&packets)).unwrap();
        assert_eq!(drain(&mut d), packets.map(<[u8]>::to_vec));
    }

    #[test]
    fn zero_length_frames_are_skipped_and_counted() {
        let mut d = FrameDecoder::new();
        d.push(&framed(&[b"", b"x", b"", b""])).unwrap();
        assert_eq!(drain(&mut d), [b"x".to_vec()]);
        assert_eq!(d.empty_frames(), 3);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn a_frame_of_65535_bytes_is_accepted_by_default() {
        let packet = vec![0x5au8; MAX_FRAME_LEN];
        let mut d = FrameDecoder::new();
        d.push(&framed(&[&packet])).unwrap();
        assert_eq!(d.next_frame(), Some(&packet[..]));
    }

    #[test]
    fn a_frame_over_the_cap_is_an_error_and_input_stops() {
        let mut d = FrameDecoder::with_limits(100, 1000);
        d.push(&framed(&[&[1u8; 100]])).unwrap();
        let err = FramingError::FrameTooLong { len: 101, max: 100 };
        assert_eq!(d.push(&framed(&[&[2u8; 101]])), Err(err));
        assert_eq!(d.error(), Some(err));
        assert_eq!(d.room(), 0);
        assert_eq!(d.push(&framed(&[b"ok"])), Err(err), "later input refused");
        // The frame before the fault still comes out, nothing after it.
        assert_eq!(d.next_frame(), Some(&[1u8; 100][..]));
        assert_eq!(d.next_frame(), None);
    }

    #[test]
    fn an_oversized_length_is_refused_before_its_body_arrives() {
        let mut d = FrameDecoder::with_limits(500, 0);
        d.push(&[0x01]).unwrap();
        assert_eq!(
            d.push(&[0xf5]),
            Err(FramingError::FrameTooLong { len: 501, max: 500 })
        );
        assert_eq!(d.buffered(), 0, "the bad length field is dropped");
    }

    #[test]
    fn frames_before_a_bad_length_in_the_same_push_can_still_be_drained() {
        let mut wire = framed(&[b"a", b"b"]);
        wire.extend_from_slice(&[0xff, 0xff, 1, 2, 3]);
        let mut d = FrameDecoder::with_limits(1000, 0);
        assert!(matches!(
            d.push(&wire),
            Err(FramingError::FrameTooLong { len: 65_535, .. })
        ));
        assert_eq!(drain(&mut d), [b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn pushing_more_than_the_buffer_cap_is_an_error_and_input_stops() {
        let mut d = FrameDecoder::with_limits(10, 20);
        d.push(&framed(&[b"12345"])).unwrap(); // 7 bytes held
        assert_eq!(d.room(), 13);
        let err = FramingError::BufferFull {
            buffered: 7,
            pushed: 14,
            max: 20,
        };
        assert_eq!(d.push(&[0u8; 14]), Err(err));
        assert_eq!(d.push(&[0u8; 1]), Err(err), "later input refused");
        assert_eq!(d.buffered(), 7, "the refused bytes were not taken");
        assert_eq!(d.next_frame(), Some(&b"12345"[..]));
    }

    #[test]
    fn draining_makes_room_again() {
        let mut d = FrameDecoder::with_limits(10, 12);
        for _ in 0..100 {
            d.push(&framed(&[b"0123456789"])).unwrap();
            assert_eq!(d.room(), 0);
            assert_eq!(d.next_frame(), Some(&b"0123456789"[..]));
            assert_eq!(d.room(), 12);
        }
        assert!(d.allocated() <= 12);
    }

    #[test]
    fn the_buffer_cap_is_never_below_one_largest_frame() {
        let d = FrameDecoder::with_limits(1200, 10);
        assert_eq!(d.max_buffered(), 1202);
        assert_eq!(FrameDecoder::new().max_buffered(), DEFAULT_MAX_BUFFERED);
        assert_eq!(FrameDecoder::new().max_frame_len(), MAX_FRAME_LEN);
    }

    #[test]
    fn returned_bytes_are_reclaimed_instead_of_growing_the_buffer() {
        let wire = framed(&[&[3u8; 200][..]; 7]); // 1414 bytes
        let mut d = FrameDecoder::new();
        let mut frames = 0;
        for _ in 0..1000 {
            for chunk in wire.chunks(300) {
                d.push(chunk).unwrap();
                frames += drain(&mut d).len();
            }
        }
        assert_eq!(frames, 7000);
        assert!(
            d.allocated() <= 2 * 300 + 2 * 202,
            "allocation grew to {}",
            d.allocated()
        );
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn the_allocation_never_exceeds_the_cap() {
        let mut d = FrameDecoder::with_limits(1000, 3000);
        // A partial frame held while more arrives, in uneven pushes.
        let wire = framed(&[&[1u8; 1000][..]; 20]);
        let mut at = 0;
        for step in [1, 999, 1500, 7, 2000, 13].iter().cycle() {
            if at == wire.len() {
                break;
            }
            let n = (*step).min(d.room()).min(wire.len() - at);
            d.push(&wire[at..at + n]).unwrap();
            at += n;
            assert!(d.allocated() <= 3000, "allocated {}", d.allocated());
            drain(&mut d);
        }
    }

    #[test]
    fn an_empty_push_changes_nothing() {
        let mut d = FrameDecoder::with_limits(0, 0);
        d.push(&[]).unwrap();
        assert_eq!((d.buffered(), d.allocated(), d.error()), (0, 0, None));
    }

    #[test]
    fn errors_say_what_went_wrong() {
        let e = FramingError::FrameTooLong { len: 70, max: 60 };
        assert_eq!(e.to_string(), "frame of 70 bytes is over the limit of 60");
        let e = FramingError::BufferFull {
            buffered: 5,
            pushed: 10,
            max: 12,
        };
        assert_eq!(
            e.to_string(),
            "10 bytes pushed onto 5 buffered would exceed the cap of 12"
        );
        let e: Box<dyn std::error::Error> = Box::new(FramingError::BufferTooSmall {
            needed: 7,
            available: 6,
        });
        assert_eq!(
            e.to_string(),
            "output buffer of 6 bytes is too small for a frame of 7"
        );
    }

    #[test]
    fn debug_output_leaves_the_bytes_out() {
        let mut d = FrameDecoder::new();
        d.push(&[0, 5, b's', b'e', b'c']).unwrap();
        let s = format!("{d:?}");
        assert!(s.contains("buffered: 5"), "{s}");
        assert!(!s.contains("115"), "{s}"); // b's'
    }
}
