//! The zero-copy message view: validates a datagram once, then reads attributes in place.

use crate::attribute::{types, Attribute, RawAttribute};
use crate::error::{AttributeError, DecodeError, IntegrityError};
use crate::header::{Class, MessageType, Method, TransactionId, HEADER_LEN, MAGIC_COOKIE};
use crate::integrity::{fingerprint_of, IntegrityKey, IntegrityKeySha256};

/// A validated STUN message borrowed from the bytes it was decoded from.
///
/// Decoding checks the header and walks every attribute once, so reading attributes later cannot
/// run out of bounds. Nothing is allocated.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    bytes: &'a [u8],
    message_type: MessageType,
    transaction_id: TransactionId,
    /// Offsets of the attribute headers, where present and not ignored.
    integrity: Option<usize>,
    integrity_sha256: Option<usize>,
    fingerprint: Option<usize>,
}

/// Which attributes the walk keeps: RFC 8489 §14.5 says to ignore everything after
/// MESSAGE-INTEGRITY but MESSAGE-INTEGRITY-SHA256 and FINGERPRINT; §14.6 and §14.7 narrow that
/// further after MESSAGE-INTEGRITY-SHA256 (only FINGERPRINT) and after FINGERPRINT (nothing).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
enum Stage {
    #[default]
    Open,
    AfterIntegrity,
    AfterIntegritySha256,
    AfterFingerprint,
}

impl Stage {
    /// Whether an attribute of this type counts, and the stage after it.
    fn admit(self, attr_type: u16) -> (bool, Stage) {
        use types::{FINGERPRINT, MESSAGE_INTEGRITY, MESSAGE_INTEGRITY_SHA256};
        match (self, attr_type) {
            (Stage::AfterFingerprint, _) => (false, self),
            (_, FINGERPRINT) => (true, Stage::AfterFingerprint),
            (Stage::Open | Stage::AfterIntegrity, MESSAGE_INTEGRITY_SHA256) => {
                (true, Stage::AfterIntegritySha256)
            }
            (Stage::Open, MESSAGE_INTEGRITY) => (true, Stage::AfterIntegrity),
            (Stage::Open, _) => (true, self),
            _ => (false, self),
        }
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Quick check that a datagram looks like STUN: header size, zero top bits, magic cookie
/// (RFC 8489 §5, RFC 7983 first-byte range 0-3).
pub fn is_stun(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_LEN
        && bytes[0] & 0xc0 == 0
        && bytes[4..8] == MAGIC_COOKIE.to_be_bytes()
        && (usize::from(be16(bytes, 2)) % 4) == 0
}

impl<'a> Message<'a> {
    /// Validates `bytes` as exactly one STUN message.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::TooShort);
        }
        let message_type = MessageType::from_u16(be16(bytes, 0)).ok_or(DecodeError::NotStun)?;
        let declared = usize::from(be16(bytes, 2));
        if bytes[4..8] != MAGIC_COOKIE.to_be_bytes() {
            return Err(DecodeError::BadMagicCookie);
        }
        if declared % 4 != 0 {
            return Err(DecodeError::UnalignedLength);
        }
        let actual = bytes.len() - HEADER_LEN;
        if declared != actual {
            return Err(DecodeError::LengthMismatch { declared, actual });
        }
        let mut tid = [0u8; 12];
        tid.copy_from_slice(&bytes[8..20]);
        let mut msg = Message {
            bytes,
            message_type,
            transaction_id: TransactionId(tid),
            integrity: None,
            integrity_sha256: None,
            fingerprint: None,
        };
        let mut offset = HEADER_LEN;
        let mut stage = Stage::Open;
        while offset < bytes.len() {
            // Alignment is kept (length is a multiple of 4, so is every padded attribute), so the
            // four header bytes are always there.
            let attr_type = be16(bytes, offset);
            let len = usize::from(be16(bytes, offset + 2));
            let next = offset + 4 + len.next_multiple_of(4);
            if next > bytes.len() {
                return Err(DecodeError::AttributeOverrun { attr_type, offset });
            }
            if stage == Stage::AfterFingerprint {
                return Err(DecodeError::AttributeAfterFingerprint { attr_type, offset });
            }
            let (admitted, after) = stage.admit(attr_type);
            if admitted {
                match attr_type {
                    types::MESSAGE_INTEGRITY => msg.integrity = Some(offset),
                    types::MESSAGE_INTEGRITY_SHA256 => msg.integrity_sha256 = Some(offset),
                    types::FINGERPRINT => msg.fingerprint = Some(offset),
                    _ => {}
                }
            }
            stage = after;
            offset = next;
        }
        Ok(msg)
    }

    /// The whole message as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Class and method.
    pub fn message_type(&self) -> MessageType {
        self.message_type
    }

    /// The class (request, indication, success or error response).
    pub fn class(&self) -> Class {
        self.message_type.class
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.message_type.method
    }

    /// The transaction id.
    pub fn transaction_id(&self) -> TransactionId {
        self.transaction_id
    }

    /// The attributes that count, in order: those after MESSAGE-INTEGRITY other than
    /// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are skipped (RFC 8489 §14.5).
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            bytes: self.bytes,
            offset: HEADER_LEN,
            stage: Stage::Open,
        }
    }

    /// The first attribute of type `attr_type`, raw.
    pub fn raw(&self, attr_type: u16) -> Option<RawAttribute<'a>> {
        self.attributes().find(|a| a.attr_type == attr_type)
    }

    /// True when an attribute of this type is present.
    pub fn has(&self, attr_type: u16) -> bool {
        self.raw(attr_type).is_some()
    }

    /// Reads the first attribute of type `A`: `Ok(None)` when absent, an error when malformed.
    pub fn get<A: Attribute<'a>>(&self) -> Result<Option<A>, AttributeError> {
        self.raw(A::TYPE)
            .map(|raw| A::decode(raw.value, &self.transaction_id))
            .transpose()
    }

    /// Comprehension-required attribute types (0x0000-0x7FFF) this crate does not know, for a
    /// 420 response's UNKNOWN-ATTRIBUTES (RFC 8489 §6.3.1.1).
    pub fn unknown_comprehension_required(&self) -> impl Iterator<Item = u16> + 'a {
        self.attributes()
            .map(|a| a.attr_type)
            .filter(|&t| types::is_comprehension_required(t) && !types::is_known(t))
    }

    /// True when the message carries MESSAGE-INTEGRITY.
    pub fn has_integrity(&self) -> bool {
        self.integrity.is_some()
    }

    /// True when the message carries MESSAGE-INTEGRITY-SHA256.
    pub fn has_integrity_sha256(&self) -> bool {
        self.integrity_sha256.is_some()
    }

    /// True when the message carries FINGERPRINT.
    pub fn has_fingerprint(&self) -> bool {
        self.fingerprint.is_some()
    }

    /// The HMAC input for an integrity attribute at `offset`: the message up to that attribute,
    /// with the header's length field covering the attribute itself (RFC 8489 §14.5/§14.6).
    fn signed_parts(&self, offset: usize) -> Result<SignedParts<'a>, IntegrityError> {
        let value_len = usize::from(be16(self.bytes, offset + 2));
        let length = offset + 4 + value_len - HEADER_LEN;
        let length = u16::try_from(length).map_err(|_| IntegrityError::Malformed)?;
        Ok((
            length.to_be_bytes(),
            &self.bytes[..2],
            &self.bytes[4..offset],
        ))
    }

    fn value_at(&self, offset: usize) -> &'a [u8] {
        let len = usize::from(be16(self.bytes, offset + 2));
        &self.bytes[offset + 4..offset + 4 + len]
    }

    /// Checks MESSAGE-INTEGRITY (HMAC-SHA1) with `key`, in constant time (RFC 8489 §14.5).
    pub fn verify_integrity(&self, key: &IntegrityKey) -> Result<(), IntegrityError> {
        let offset = self.integrity.ok_or(IntegrityError::Missing)?;
        let value = self.value_at(offset);
        if value.len() != 20 {
            return Err(IntegrityError::Malformed);
        }
        let (length, type_bytes, rest) = self.signed_parts(offset)?;
        key.verify(&[type_bytes, &length, rest], value)
    }

    /// Checks MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256, possibly truncated) with `key`, in constant
    /// time (RFC 8489 §14.6).
    pub fn verify_integrity_sha256(&self, key: &IntegrityKeySha256) -> Result<(), IntegrityError> {
        let offset = self.integrity_sha256.ok_or(IntegrityError::Missing)?;
        let value = self.value_at(offset);
        if value.len() < 16 || value.len() > 32 || value.len() % 4 != 0 {
            return Err(IntegrityError::Malformed);
        }
        let (length, type_bytes, rest) = self.signed_parts(offset)?;
        key.verify(&[type_bytes, &length, rest], value)
    }

    /// Checks FINGERPRINT: CRC-32 of the message up to it, XOR 0x5354554e (RFC 8489 §14.7).
    pub fn verify_fingerprint(&self) -> Result<(), IntegrityError> {
        let offset = self.fingerprint.ok_or(IntegrityError::Missing)?;
        let value = self.value_at(offset);
        let value: [u8; 4] = value.try_into().map_err(|_| IntegrityError::Malformed)?;
        let (length, type_bytes, rest) = self.signed_parts(offset)?;
        let computed = if length == self.bytes[2..4] {
            // FINGERPRINT is last, as it should be: the header already reads right, so the CRC
            // runs over one contiguous slice (much faster than three small updates).
            fingerprint_of(&[&self.bytes[..offset]])
        } else {
            fingerprint_of(&[type_bytes, &length, rest])
        };
        if computed == u32::from_be_bytes(value) {
            Ok(())
        } else {
            Err(IntegrityError::Mismatch)
        }
    }
}

/// The length field as it must read for an integrity attribute, the type bytes, and the bytes
/// between the length field and the attribute.
type SignedParts<'a> = ([u8; 2], &'a [u8], &'a [u8]);

/// Iterator over a message's attributes; see [`Message::attributes`].
#[derive(Clone, Debug)]
pub struct Attributes<'a> {
    bytes: &'a [u8],
    offset: usize,
    stage: Stage,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = RawAttribute<'a>;

    fn next(&mut self) -> Option<RawAttribute<'a>> {
        loop {
            let header = self.bytes.get(self.offset..self.offset + 4)?;
            let attr_type = be16(header, 0);
            let len = usize::from(be16(header, 2));
            let value = self.bytes.get(self.offset + 4..self.offset + 4 + len)?;
            self.offset += 4 + len.next_multiple_of(4);
            let (admitted, after) = self.stage.admit(attr_type);
            self.stage = after;
            if admitted {
                return Some(RawAttribute { attr_type, value });
            }
        }
    }
}
