//! Typed errors for decoding, encoding and verifying STUN messages.

use core::fmt;

/// Why a datagram is not a well-formed STUN message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DecodeError {
    /// Fewer than 20 bytes.
    TooShort,
    /// One of the two most significant bits is set (RFC 8489 §5): not STUN.
    NotStun,
    /// The magic cookie is not 0x2112A442.
    BadMagicCookie,
    /// The length field is not a multiple of 4 (RFC 8489 §5).
    UnalignedLength,
    /// The length field does not match the bytes that follow the header.
    LengthMismatch {
        /// Length announced in the header.
        declared: usize,
        /// Bytes actually present after the header.
        actual: usize,
    },
    /// An attribute (with its padding) runs past the end of the message.
    AttributeOverrun {
        /// The attribute's type.
        attr_type: u16,
        /// Byte offset of its header in the message.
        offset: usize,
    },
    /// An attribute follows FINGERPRINT, which must be the last (RFC 8489 §14.7).
    AttributeAfterFingerprint {
        /// The attribute's type.
        attr_type: u16,
        /// Byte offset of its header in the message.
        offset: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort => f.write_str("shorter than a STUN header"),
            DecodeError::NotStun => f.write_str("top two bits are not zero: not a STUN message"),
            DecodeError::BadMagicCookie => f.write_str("wrong magic cookie"),
            DecodeError::UnalignedLength => f.write_str("length is not a multiple of 4"),
            DecodeError::LengthMismatch { declared, actual } => write!(
                f,
                "header announces {declared} bytes of attributes but {actual} follow"
            ),
            DecodeError::AttributeOverrun { attr_type, offset } => write!(
                f,
                "attribute 0x{attr_type:04x} at offset {offset} runs past the end of the message"
            ),
            DecodeError::AttributeAfterFingerprint { attr_type, offset } => write!(
                f,
                "attribute 0x{attr_type:04x} at offset {offset} follows FINGERPRINT"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// What is wrong with one attribute's value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AttributeErrorKind {
    /// The value has a length the attribute's format does not allow.
    BadLength,
    /// An address family other than IPv4 (0x01) or IPv6 (0x02).
    BadFamily,
    /// Text that is not UTF-8.
    NotUtf8,
    /// Text longer than the attribute allows.
    TooLong,
    /// A field holds a value outside its range (for example an error class outside 3-6).
    BadValue,
}

/// An attribute whose value could not be read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AttributeError {
    /// The attribute's type.
    pub attr_type: u16,
    /// What was wrong.
    pub kind: AttributeErrorKind,
}

impl AttributeError {
    pub(crate) const fn new(attr_type: u16, kind: AttributeErrorKind) -> Self {
        Self { attr_type, kind }
    }
}

impl fmt::Display for AttributeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            AttributeErrorKind::BadLength => "bad length",
            AttributeErrorKind::BadFamily => "unknown address family",
            AttributeErrorKind::NotUtf8 => "text is not UTF-8",
            AttributeErrorKind::TooLong => "text is too long",
            AttributeErrorKind::BadValue => "value out of range",
        };
        write!(f, "attribute 0x{:04x}: {what}", self.attr_type)
    }
}

impl std::error::Error for AttributeError {}

/// Why MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 or FINGERPRINT did not verify.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IntegrityError {
    /// The attribute is not in the message.
    Missing,
    /// The attribute's value has the wrong length.
    Malformed,
    /// The value does not match what the key (or CRC) gives.
    Mismatch,
}

impl fmt::Display for IntegrityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IntegrityError::Missing => "integrity attribute missing",
            IntegrityError::Malformed => "integrity attribute malformed",
            IntegrityError::Mismatch => "integrity check failed",
        })
    }
}

impl std::error::Error for IntegrityError {}

/// Why a message could not be written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EncodeError {
    /// The caller's buffer is too small for what was added.
    BufferTooSmall,
    /// The message would exceed the 16-bit length field, or an attribute its 16-bit length.
    TooLong,
    /// An attribute was added after FINGERPRINT, or integrity after FINGERPRINT.
    AfterFingerprint,
    /// An attribute other than MESSAGE-INTEGRITY-SHA256 or FINGERPRINT was added after
    /// MESSAGE-INTEGRITY, or one other than FINGERPRINT after MESSAGE-INTEGRITY-SHA256
    /// (RFC 8489 §14.5, §14.6).
    AfterIntegrity,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncodeError::BufferTooSmall => "buffer too small for the STUN message",
            EncodeError::TooLong => "STUN message or attribute too long",
            EncodeError::AfterFingerprint => "nothing may follow FINGERPRINT",
            EncodeError::AfterIntegrity => {
                "only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT may follow MESSAGE-INTEGRITY"
            }
        })
    }
}

impl std::error::Error for EncodeError {}
