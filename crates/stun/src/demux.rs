//! Telling protocols apart on one socket by the first byte (RFC 7983 §7).

/// What a datagram on a multiplexed socket is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PacketKind {
    /// First byte 0-3: STUN.
    Stun,
    /// First byte 16-19: ZRTP.
    Zrtp,
    /// First byte 20-63: DTLS.
    Dtls,
    /// First byte 64-79: TURN ChannelData.
    ChannelData,
    /// First byte 128-191: RTP or RTCP.
    Rtp,
    /// Anything else, or an empty datagram: drop it (RFC 7983 §7).
    Unknown,
}

/// Classifies a datagram by its first byte, per the ranges of RFC 7983 §7 (updated by RFC 9443).
pub fn classify(datagram: &[u8]) -> PacketKind {
    match datagram.first() {
        Some(0..=3) => PacketKind::Stun,
        Some(16..=19) => PacketKind::Zrtp,
        Some(20..=63) => PacketKind::Dtls,
        Some(64..=79) => PacketKind::ChannelData,
        Some(128..=191) => PacketKind::Rtp,
        _ => PacketKind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_byte_ranges_follow_rfc7983() {
        assert_eq!(classify(&[0x00, 0x01]), PacketKind::Stun);
        assert_eq!(classify(&[0x03]), PacketKind::Stun);
        assert_eq!(classify(&[0x04]), PacketKind::Unknown);
        assert_eq!(classify(&[16]), PacketKind::Zrtp);
        assert_eq!(classify(&[22, 0xfe, 0xfd]), PacketKind::Dtls);
        assert_eq!(classify(&[0x40, 0x00]), PacketKind::ChannelData);
        assert_eq!(classify(&[0x4f]), PacketKind::ChannelData);
        assert_eq!(classify(&[0x50]), PacketKind::Unknown);
        assert_eq!(classify(&[0x80]), PacketKind::Rtp);
        assert_eq!(classify(&[0xc0]), PacketKind::Unknown);
        assert_eq!(classify(&[]), PacketKind::Unknown);
    }
}
