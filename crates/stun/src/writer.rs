//! Encoding into a caller-provided buffer, with integrity and fingerprint computed in place.

use crate::attribute::{types, Attribute};
use crate::error::EncodeError;
use crate::header::{MessageType, TransactionId, HEADER_LEN, MAGIC_COOKIE};
use crate::integrity::{fingerprint_of, IntegrityKey, IntegrityKeySha256};

/// Writes one STUN message into a borrowed buffer without allocating.
///
/// The header's length field is kept current after every attribute, so the integrity and
/// fingerprint attributes are computed over exactly what RFC 8489 §14.5-§14.7 prescribe.
///
/// ```
/// use floe_stun::{attributes::*, IntegrityKey, Message, MessageType, MessageWriter, TransactionId};
/// let mut buf = [0u8; 128];
/// let tid = TransactionId::new([7; 12]);
/// let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, tid).unwrap();
/// w.add(&Username("remote:local")).unwrap();
/// w.add(&Priority(0x6e0001ff)).unwrap();
/// w.add_message_integrity(&IntegrityKey::short_term("password")).unwrap();
/// w.add_fingerprint().unwrap();
/// let len = w.finish();
/// let msg = Message::decode(&buf[..len]).unwrap();
/// assert_eq!(msg.get::<Username>().unwrap(), Some(Username("remote:local")));
/// msg.verify_fingerprint().unwrap();
/// ```
#[derive(Debug)]
pub struct MessageWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
    transaction_id: TransactionId,
    padding: u8,
    /// The last of MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT added, which
    /// limits what may follow (RFC 8489 §14.5–§14.7).
    last_integrity: Option<u16>,
}

impl<'b> MessageWriter<'b> {
    /// Starts a message of type `message_type` in `buf`.
    pub fn new(
        buf: &'b mut [u8],
        message_type: MessageType,
        transaction_id: TransactionId,
    ) -> Result<Self, EncodeError> {
        let header = buf
            .get_mut(..HEADER_LEN)
            .ok_or(EncodeError::BufferTooSmall)?;
        header[..2].copy_from_slice(&message_type.to_u16().to_be_bytes());
        header[2..4].fill(0);
        header[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        header[8..].copy_from_slice(&transaction_id.0);
        Ok(Self {
            buf,
            len: HEADER_LEN,
            transaction_id,
            padding: 0,
            last_integrity: None,
        })
    }

    /// Sets the byte used to pad attribute values to a multiple of four (zero by default; any
    /// value is valid, RFC 8489 §14, and RFC 5769 uses 0x20).
    pub fn set_padding_byte(&mut self, byte: u8) {
        self.padding = byte;
    }

    /// The transaction id in the header.
    pub fn transaction_id(&self) -> TransactionId {
        self.transaction_id
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: the header is written on construction.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Reserves an attribute of `value_len` bytes and returns its value slice.
    fn reserve(&mut self, attr_type: u16, value_len: usize) -> Result<&mut [u8], EncodeError> {
        // After MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, after
        // MESSAGE-INTEGRITY-SHA256 only FINGERPRINT, after FINGERPRINT nothing: a receiver
        // ignores (or rejects) anything else, so writing it is a bug.
        match (self.last_integrity, attr_type) {
            (Some(types::FINGERPRINT), _) => return Err(EncodeError::AfterFingerprint),
            (None, _)
            | (Some(types::MESSAGE_INTEGRITY), types::MESSAGE_INTEGRITY_SHA256)
            | (Some(_), types::FINGERPRINT) => {}
            (Some(_), _) => return Err(EncodeError::AfterIntegrity),
        }
        let value_len16 = u16::try_from(value_len).map_err(|_| EncodeError::TooLong)?;
        let padded = value_len.next_multiple_of(4);
        let end = self.len + 4 + padded;
        let body_len = u16::try_from(end - HEADER_LEN).map_err(|_| EncodeError::TooLong)?;
        let at = self.len;
        let slot = self
            .buf
            .get_mut(at..end)
            .ok_or(EncodeError::BufferTooSmall)?;
        slot[..2].copy_from_slice(&attr_type.to_be_bytes());
        slot[2..4].copy_from_slice(&value_len16.to_be_bytes());
        slot[4 + value_len..].fill(self.padding);
        self.buf[2..4].copy_from_slice(&body_len.to_be_bytes());
        self.len = end;
        Ok(&mut self.buf[at + 4..at + 4 + value_len])
    }

    /// Appends a typed attribute.
    pub fn add<'a, A: Attribute<'a>>(&mut self, attribute: &A) -> Result<(), EncodeError> {
        let tid = self.transaction_id;
        let out = self.reserve(A::TYPE, attribute.value_len())?;
        attribute.encode(&tid, out);
        Ok(())
    }

    /// Appends an attribute given as raw type and value (for unknown or custom attributes).
    pub fn add_raw(&mut self, attr_type: u16, value: &[u8]) -> Result<(), EncodeError> {
        self.reserve(attr_type, value.len())?.copy_from_slice(value);
        Ok(())
    }

    /// Appends MESSAGE-INTEGRITY (HMAC-SHA1 over the message so far, length field including the
    /// attribute, RFC 8489 §14.5).
    pub fn add_message_integrity(&mut self, key: &IntegrityKey) -> Result<(), EncodeError> {
        let start = self.len;
        self.reserve(types::MESSAGE_INTEGRITY, 20)?;
        let mac = key.sign(&[&self.buf[..start]]);
        self.buf[start + 4..start + 24].copy_from_slice(&mac);
        self.last_integrity = Some(types::MESSAGE_INTEGRITY);
        Ok(())
    }

    /// Appends MESSAGE-INTEGRITY-SHA256 with the full 32-byte HMAC-SHA256 (RFC 8489 §14.6).
    pub fn add_message_integrity_sha256(
        &mut self,
        key: &IntegrityKeySha256,
    ) -> Result<(), EncodeError> {
        let start = self.len;
        self.reserve(types::MESSAGE_INTEGRITY_SHA256, 32)?;
        let mac = key.sign(&[&self.buf[..start]]);
        self.buf[start + 4..start + 36].copy_from_slice(&mac);
        self.last_integrity = Some(types::MESSAGE_INTEGRITY_SHA256);
        Ok(())
    }

    /// Appends FINGERPRINT, which must be the last attribute (RFC 8489 §14.7).
    pub fn add_fingerprint(&mut self) -> Result<(), EncodeError> {
        let start = self.len;
        self.reserve(types::FINGERPRINT, 4)?;
        let crc = fingerprint_of(&[&self.buf[..start]]);
        self.buf[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
        self.last_integrity = Some(types::FINGERPRINT);
        Ok(())
    }

    /// Ends the message and returns its length; the message is `buf[..len]`.
    pub fn finish(self) -> usize {
        self.len
    }
}
