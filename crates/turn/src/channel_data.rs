//! ChannelData messages (RFC 8656 §12.4) and the framing of STUN and ChannelData messages on a
//! byte stream (RFC 8656 §11.5).
//!
//! A ChannelData message is a 4-byte header (channel number, length) followed by the
//! application data. Over UDP the datagram ends the message; over TCP or TLS the message is
//! padded to a multiple of four bytes and the next message follows immediately.
//!
//! ```
//! use floe_turn::channel_data::{self, ChannelData};
//! let mut buf = [0u8; 64];
//! let n = channel_data::encode(0x4001, b"hello", true, &mut buf).unwrap();
//! assert_eq!(n, 12); // 4-byte header, 5 bytes of data, 3 of padding
//! let msg = ChannelData::decode(&buf[..n]).unwrap();
//! assert_eq!((msg.channel, msg.data), (0x4001, &b"hello"[..]));
//! ```

use core::fmt;

use floe_stun::HEADER_LEN;

/// The ChannelData header: channel number and length, two bytes each (RFC 8656 §12.4).
pub const HEADER: usize = 4;

/// The lowest channel number (RFC 8656 §12).
pub const CHANNEL_MIN: u16 = 0x4000;

/// The highest channel number (RFC 8656 §12).
pub const CHANNEL_MAX: u16 = 0x4FFF;

/// True for numbers in the channel range 0x4000-0x4FFF (RFC 8656 §12).
pub const fn is_channel_number(n: u16) -> bool {
    n >= CHANNEL_MIN && n <= CHANNEL_MAX
}

/// Why ChannelData could not be encoded or decoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ChannelDataError {
    /// Fewer bytes than the header and the length it declares.
    TooShort,
    /// The channel number is outside 0x4000-0x4FFF.
    BadChannel(u16),
    /// The data does not fit in the 16-bit length field.
    TooLong,
    /// The output buffer is too small.
    BufferTooSmall,
    /// A stream carries a message that is neither STUN nor ChannelData: the stream cannot be
    /// resynchronised and should be closed.
    Unframeable(u8),
}

impl fmt::Display for ChannelDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelDataError::TooShort => f.write_str("ChannelData shorter than its length"),
            ChannelDataError::BadChannel(c) => write!(f, "channel number 0x{c:04x} out of range"),
            ChannelDataError::TooLong => f.write_str("ChannelData longer than 65535 bytes"),
            ChannelDataError::BufferTooSmall => f.write_str("output buffer too small"),
            ChannelDataError::Unframeable(b) => {
                write!(
                    f,
                    "stream message starts with 0x{b:02x}: neither STUN nor ChannelData"
                )
            }
        }
    }
}

impl std::error::Error for ChannelDataError {}

/// A ChannelData message borrowed from the bytes it was read from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ChannelData<'a> {
    /// The channel number, 0x4000-0x4FFF.
    pub channel: u16,
    /// The application data: a slice of the input, nothing copied.
    pub data: &'a [u8],
}

impl<'a> ChannelData<'a> {
    /// Reads a ChannelData message from the front of `bytes`. Bytes past the declared length
    /// (stream padding, or UDP trailing bytes) are ignored; a message shorter than its length is
    /// an error, and RFC 8656 §12.6 says to discard it silently.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, ChannelDataError> {
        let header: [u8; HEADER] = bytes
            .get(..HEADER)
            .and_then(|h| h.try_into().ok())
            .ok_or(ChannelDataError::TooShort)?;
        let channel = u16::from_be_bytes([header[0], header[1]]);
        if !is_channel_number(channel) {
            return Err(ChannelDataError::BadChannel(channel));
        }
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let data = bytes
            .get(HEADER..HEADER + len)
            .ok_or(ChannelDataError::TooShort)?;
        Ok(Self { channel, data })
    }

    /// The encoded length, padded to four bytes when `padded` (stream transports).
    pub fn encoded_len(&self, padded: bool) -> usize {
        encoded_len(self.data.len(), padded)
    }

    /// Writes the message into `out`; see [`encode`].
    pub fn encode(&self, padded: bool, out: &mut [u8]) -> Result<usize, ChannelDataError> {
        encode(self.channel, self.data, padded, out)
    }
}

/// The length of a ChannelData message carrying `data_len` bytes, padded to four bytes when
/// `padded` (RFC 8656 §12.5: over TCP and TLS the message MUST be padded).
pub const fn encoded_len(data_len: usize, padded: bool) -> usize {
    if padded {
        (HEADER + data_len).next_multiple_of(4)
    } else {
        HEADER + data_len
    }
}

/// Writes the 4-byte header for `data_len` bytes on `channel` into `out[..4]`, for callers that
/// put the data at `out[4..]` themselves (no copy at all).
pub fn encode_header(
    channel: u16,
    data_len: usize,
    out: &mut [u8],
) -> Result<(), ChannelDataError> {
    if !is_channel_number(channel) {
        return Err(ChannelDataError::BadChannel(channel));
    }
    let len = u16::try_from(data_len).map_err(|_| ChannelDataError::TooLong)?;
    let header = out
        .get_mut(..HEADER)
        .ok_or(ChannelDataError::BufferTooSmall)?;
    header[..2].copy_from_slice(&channel.to_be_bytes());
    header[2..].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Writes a ChannelData message into `out` and returns its length. With `padded` (stream
/// transports) zero bytes pad it to a multiple of four (RFC 8656 §12.5).
pub fn encode(
    channel: u16,
    data: &[u8],
    padded: bool,
    out: &mut [u8],
) -> Result<usize, ChannelDataError> {
    let total = encoded_len(data.len(), padded);
    let slot = out
        .get_mut(..total)
        .ok_or(ChannelDataError::BufferTooSmall)?;
    encode_header(channel, data.len(), slot)?;
    slot[HEADER..HEADER + data.len()].copy_from_slice(data);
    slot[HEADER + data.len()..].fill(0);
    Ok(total)
}

/// The length of the first framed message at the front of a stream: `Ok(None)` when more bytes
/// are needed to tell, an error when the first byte is neither STUN (0-3) nor ChannelData
/// (0x40-0x4F). STUN messages are 20 bytes plus their length; ChannelData messages are 4 bytes
/// plus their length, padded to four (RFC 8656 §11.5).
pub fn frame_len(stream: &[u8]) -> Result<Option<usize>, ChannelDataError> {
    let Some(&first) = stream.first() else {
        return Ok(None);
    };
    let Some(len) = stream.get(2..4) else {
        // Check the first byte early so garbage is reported without waiting.
        return match first {
            0..=3 | 0x40..=0x4f => Ok(None),
            b => Err(ChannelDataError::Unframeable(b)),
        };
    };
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    match first {
        0..=3 => Ok(Some(HEADER_LEN + len)),
        0x40..=0x4f => Ok(Some((HEADER + len).next_multiple_of(4))),
        b => Err(ChannelDataError::Unframeable(b)),
    }
}

/// One message taken off a stream.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StreamFrame<'a> {
    /// A STUN message, exactly as framed (not yet validated).
    Stun(&'a [u8]),
    /// A ChannelData message (padding stripped).
    ChannelData(ChannelData<'a>),
}

/// Splits a byte stream into STUN and ChannelData messages (RFC 8656 §11.5), whatever the way
/// the bytes arrive: partial messages wait for the rest, coalesced ones come out one by one.
///
/// ```
/// use floe_turn::{channel_data, StreamDecoder, StreamFrame};
/// let mut wire = [0u8; 16];
/// let n = channel_data::encode(0x4000, b"abcdef", true, &mut wire).unwrap();
/// let mut decoder = StreamDecoder::new();
/// decoder.push(&wire[..3]);
/// assert!(decoder.next_frame().is_none());
/// decoder.push(&wire[3..n]);
/// match decoder.next_frame() {
///     Some(Ok(StreamFrame::ChannelData(cd))) => assert_eq!(cd.data, b"abcdef"),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone, Debug, Default)]
pub struct StreamDecoder {
    buf: Vec<u8>,
    /// Bytes before this offset were returned already.
    start: usize,
    /// Set once the stream turned out to be unframeable: nothing more is decoded.
    broken: Option<ChannelDataError>,
}

impl StreamDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            // Drop what was consumed before growing, so the buffer holds at most one partial
            // message plus what just arrived.
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as a message.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete message, `None` when more bytes are needed. An error means the stream
    /// is corrupt (RFC 8656 §11.5 framing lost) and the connection should be closed; it is
    /// returned again on every later call.
    pub fn next_frame(&mut self) -> Option<Result<StreamFrame<'_>, ChannelDataError>> {
        if let Some(e) = self.broken {
            return Some(Err(e));
        }
        let rest = &self.buf[self.start..];
        let len = match frame_len(rest) {
            Ok(Some(len)) if len <= rest.len() => len,
            Ok(_) => return None,
            Err(e) => {
                self.broken = Some(e);
                return Some(Err(e));
            }
        };
        let at = self.start;
        self.start += len;
        let frame = &self.buf[at..at + len];
        Some(Ok(if frame[0] < 4 {
            StreamFrame::Stun(frame)
        } else {
            match ChannelData::decode(frame) {
                Ok(cd) => StreamFrame::ChannelData(cd),
                Err(e) => {
                    // A bad channel number in a well-framed message: RFC 8656 §12.6 discards
                    // the message, and framing is intact, so only this one is reported.
                    return Some(Err(e));
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_and_padding() {
        let mut out = [0xffu8; 16];
        assert_eq!(encode(0x4fff, b"a", false, &mut out), Ok(5));
        assert_eq!(&out[..5], &[0x4f, 0xff, 0, 1, b'a']);
        assert_eq!(encode(0x4000, b"a", true, &mut out), Ok(8));
        assert_eq!(&out[..8], &[0x40, 0, 0, 1, b'a', 0, 0, 0]);
        assert_eq!(
            encode(0x3fff, b"a", true, &mut out),
            Err(ChannelDataError::BadChannel(0x3fff))
        );
        assert_eq!(
            encode(0x4000, &[0; 13], true, &mut out),
            Err(ChannelDataError::BufferTooSmall)
        );
        assert_eq!(
            ChannelData::decode(&[0x40, 0, 0, 5, 1]),
            Err(ChannelDataError::TooShort)
        );
        assert_eq!(
            ChannelData::decode(&[0x50, 0, 0, 0]),
            Err(ChannelDataError::BadChannel(0x5000))
        );
    }

    #[test]
    fn garbage_breaks_the_stream() {
        let mut d = StreamDecoder::new();
        d.push(&[0x80, 1, 2, 3]);
        assert_eq!(
            d.next_frame(),
            Some(Err(ChannelDataError::Unframeable(0x80)))
        );
        assert!(matches!(d.next_frame(), Some(Err(_))));
    }

    /// A STUN-looking frame (header only matters for framing) or a ChannelData message.
    fn frame() -> impl Strategy<Value = (bool, u16, Vec<u8>)> {
        (
            any::<bool>(),
            CHANNEL_MIN..=CHANNEL_MAX,
            proptest::collection::vec(any::<u8>(), 0..200),
        )
    }

    proptest! {
        #[test]
        fn arbitrary_splits_decode_back_the_same(
            frames in proptest::collection::vec(frame(), 0..12),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
        ) {
            // Build the stream.
            let mut stream = Vec::new();
            let mut expected = Vec::new();
            for (is_stun, channel, data) in &frames {
                if *is_stun {
                    let body = data.len() / 4 * 4;
                    let mut m = vec![0u8, 1, (body >> 8) as u8, body as u8];
                    m.extend_from_slice(&0x2112_A442u32.to_be_bytes());
                    m.extend_from_slice(&[7; 12]);
                    m.extend_from_slice(&data[..body]);
                    stream.extend_from_slice(&m);
                    expected.push((true, 0, m));
                } else {
                    let mut out = vec![0u8; encoded_len(data.len(), true)];
                    let n = encode(*channel, data, true, &mut out).unwrap();
                    prop_assert_eq!(n, out.len());
                    prop_assert_eq!(n % 4, 0);
                    stream.extend_from_slice(&out);
                    expected.push((false, *channel, data.clone()));
                }
            }
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            points.push(0);
            points.push(stream.len());
            points.sort_unstable();
            let mut decoder = StreamDecoder::new();
            let mut got = Vec::new();
            for w in points.windows(2) {
                decoder.push(&stream[w[0]..w[1]]);
                while let Some(frame) = decoder.next_frame() {
                    match frame.unwrap() {
                        StreamFrame::Stun(m) => got.push((true, 0, m.to_vec())),
                        StreamFrame::ChannelData(cd) => got.push((false, cd.channel, cd.data.to_vec())),
                    }
                }
            }
            prop_assert_eq!(decoder.buffered(), 0);
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn codec_round_trips(channel in CHANNEL_MIN..=CHANNEL_MAX, data in proptest::collection::vec(any::<u8>(), 0..600), padded: bool) {
            let mut out = vec![0u8; 700];
            let n = encode(channel, &data, padded, &mut out).unwrap();
            let cd = ChannelData::decode(&out[..n]).unwrap();
            prop_assert_eq!(cd.channel, channel);
            prop_assert_eq!(cd.data, &data[..]);
            prop_assert_eq!(frame_len(&out[..n]).unwrap(), Some(encoded_len(data.len(), true)));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = ChannelData::decode(&bytes);
            let _ = frame_len(&bytes);
            let mut d = StreamDecoder::new();
            d.push(&bytes);
            for _ in 0..8 { if d.next_frame().is_none() { break; } }
        }
    }
}
