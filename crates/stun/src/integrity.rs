//! MESSAGE-INTEGRITY keys with precomputed HMAC state, and FINGERPRINT.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::Sha256;

use crate::error::IntegrityError;

/// XOR-ed into the CRC-32 so a FINGERPRINT differs from the CRC of other protocols
/// (RFC 8489 §14.7).
pub const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// CRC-32 over the concatenated parts, XOR 0x5354554e.
pub(crate) fn fingerprint_of(parts: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize() ^ FINGERPRINT_XOR
}

/// A MESSAGE-INTEGRITY (HMAC-SHA1) key.
///
/// Building one runs the HMAC key schedule once (inner and outer pad states); each message signed
/// or verified afterwards starts from a copy of that state, so a busy agent or server does not
/// redo key setup per packet.
#[derive(Clone)]
pub struct IntegrityKey {
    mac: Hmac<Sha1>,
}

impl IntegrityKey {
    /// A key from raw key bytes: the password for short-term credentials (RFC 8489 §9.1.1), the
    /// MD5 or SHA-256 digest for long-term ones (§9.2.2).
    pub fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        Self { mac }
    }

    /// The key for short-term credentials such as ICE's: the password itself.
    pub fn short_term(password: &str) -> Self {
        Self::new(password.as_bytes())
    }

    pub(crate) fn sign(&self, parts: &[&[u8]]) -> [u8; 20] {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    pub(crate) fn verify(&self, parts: &[&[u8]], expected: &[u8]) -> Result<(), IntegrityError> {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        mac.verify_slice(expected)
            .map_err(|_| IntegrityError::Mismatch)
    }
}

impl core::fmt::Debug for IntegrityKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("IntegrityKey(..)")
    }
}

/// A MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256) key, precomputed like [`IntegrityKey`].
#[derive(Clone)]
pub struct IntegrityKeySha256 {
    mac: Hmac<Sha256>,
}

impl IntegrityKeySha256 {
    /// A key from raw key bytes.
    pub fn new(key: &[u8]) -> Self {
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        Self { mac }
    }

    pub(crate) fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Verifies a value that may be truncated to 16-32 bytes (RFC 8489 §14.6).
    pub(crate) fn verify(&self, parts: &[&[u8]], expected: &[u8]) -> Result<(), IntegrityError> {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        mac.verify_truncated_left(expected)
            .map_err(|_| IntegrityError::Mismatch)
    }
}

impl core::fmt::Debug for IntegrityKeySha256 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("IntegrityKeySha256(..)")
    }
}
