//! Long-term credentials (RFC 8489 §9.2): key derivation, USERHASH, PASSWORD-ALGORITHMS
//! negotiation and the nonce cookie's security-feature bits.

use core::fmt;
use std::borrow::Cow;

use md5::{Digest, Md5};
use sha2::Sha256;

use crate::attributes::{PasswordAlgorithm, PasswordAlgorithms};
use crate::integrity::{IntegrityKey, IntegrityKeySha256};

/// Why credentials could not be prepared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CredentialError {
    /// SASLprep rejected the password (prohibited or unassigned characters).
    Saslprep,
    /// The algorithm is neither MD5 nor SHA-256.
    UnsupportedAlgorithm(u16),
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialError::Saslprep => f.write_str("password rejected by SASLprep"),
            CredentialError::UnsupportedAlgorithm(a) => {
                write!(f, "unsupported password algorithm 0x{a:04x}")
            }
        }
    }
}

impl std::error::Error for CredentialError {}

/// The digest used to derive a long-term key (RFC 8489 §18.5).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PasswordAlgorithmKind {
    /// MD5: 16-byte key; the only algorithm of RFC 5389 servers.
    Md5,
    /// SHA-256: 32-byte key.
    Sha256,
}

impl PasswordAlgorithmKind {
    /// The registry number.
    pub const fn code(self) -> u16 {
        match self {
            PasswordAlgorithmKind::Md5 => PasswordAlgorithm::MD5,
            PasswordAlgorithmKind::Sha256 => PasswordAlgorithm::SHA256,
        }
    }

    /// From the registry number.
    pub const fn from_code(code: u16) -> Option<Self> {
        match code {
            PasswordAlgorithm::MD5 => Some(PasswordAlgorithmKind::Md5),
            PasswordAlgorithm::SHA256 => Some(PasswordAlgorithmKind::Sha256),
            _ => None,
        }
    }

    /// Picks the first algorithm in the server's list that we support (RFC 8489 §9.2.4: the
    /// client uses the first one it supports, in the server's order).
    pub fn negotiate(offered: &PasswordAlgorithms<'_>) -> Option<Self> {
        offered
            .iter()
            .find_map(|a| Self::from_code(a.algorithm).filter(|_| a.parameters.is_empty()))
    }
}

/// A long-term credential key: the digest of `username ":" realm ":" password`.
#[derive(Clone, PartialEq, Eq)]
pub enum LongTermKey {
    /// 16-byte MD5 key.
    Md5([u8; 16]),
    /// 32-byte SHA-256 key.
    Sha256([u8; 32]),
}

impl fmt::Debug for LongTermKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LongTermKey::Md5(_) => f.write_str("LongTermKey::Md5(..)"),
            LongTermKey::Sha256(_) => f.write_str("LongTermKey::Sha256(..)"),
        }
    }
}

impl LongTermKey {
    /// Derives the key (RFC 8489 §9.2.2). The password goes through SASLprep (RFC 4013), as in
    /// RFC 5389 and the RFC 5769 vectors; user name and realm are used as given.
    pub fn derive(
        username: &str,
        realm: &str,
        password: &str,
        algorithm: PasswordAlgorithmKind,
    ) -> Result<Self, CredentialError> {
        let password: Cow<'_, str> =
            stringprep::saslprep(password).map_err(|_| CredentialError::Saslprep)?;
        let parts: [&[u8]; 5] = [
            username.as_bytes(),
            b":",
            realm.as_bytes(),
            b":",
            password.as_bytes(),
        ];
        Ok(match algorithm {
            PasswordAlgorithmKind::Md5 => {
                let mut h = Md5::new();
                parts.iter().for_each(|p| h.update(p));
                LongTermKey::Md5(h.finalize().into())
            }
            PasswordAlgorithmKind::Sha256 => {
                let mut h = Sha256::new();
                parts.iter().for_each(|p| h.update(p));
                LongTermKey::Sha256(h.finalize().into())
            }
        })
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            LongTermKey::Md5(k) => k,
            LongTermKey::Sha256(k) => k,
        }
    }

    /// The MESSAGE-INTEGRITY key.
    pub fn integrity_key(&self) -> IntegrityKey {
        IntegrityKey::new(self.as_bytes())
    }

    /// The MESSAGE-INTEGRITY-SHA256 key.
    pub fn integrity_key_sha256(&self) -> IntegrityKeySha256 {
        IntegrityKeySha256::new(self.as_bytes())
    }
}

/// USERHASH = SHA-256(username ":" realm), sent instead of USERNAME when the server offers
/// username anonymity (RFC 8489 §14.4).
pub fn userhash(username: &str, realm: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(username.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.finalize().into()
}

/// The security features a server announces in its nonce (RFC 8489 §9.2).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SecurityFeatures {
    /// Bit 0: password algorithms (the server supports PASSWORD-ALGORITHMS negotiation).
    pub password_algorithms: bool,
    /// Bit 1: username anonymity (USERHASH).
    pub username_anonymity: bool,
}

/// The prefix of a nonce that carries security-feature bits (RFC 8489 §9.2).
pub const NONCE_COOKIE: &str = "obMatJos2";

impl SecurityFeatures {
    /// Reads the bits from a nonce that starts with the nonce cookie followed by four base64
    /// characters (24 bits, most significant first); `None` when the nonce has no cookie.
    pub fn from_nonce(nonce: &str) -> Option<Self> {
        let rest = nonce.strip_prefix(NONCE_COOKIE)?;
        let chars = rest.as_bytes().get(..4)?;
        let mut bits = 0u32;
        for &c in chars {
            bits = (bits << 6) | u32::from(base64_value(c)?);
        }
        Some(Self {
            password_algorithms: bits & (1 << 23) != 0,
            username_anonymity: bits & (1 << 22) != 0,
        })
    }

    /// The four base64 characters that follow the nonce cookie, for servers building nonces.
    pub fn to_nonce_chars(self) -> [u8; 4] {
        let bits = (u32::from(self.password_algorithms) << 23)
            | (u32::from(self.username_anonymity) << 22);
        let mut out = [0u8; 4];
        for (i, c) in out.iter_mut().enumerate() {
            *c = BASE64[((bits >> (18 - 6 * i)) & 0x3f) as usize];
        }
        out
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_value(c: u8) -> Option<u8> {
    BASE64.iter().position(|&b| b == c).map(|p| p as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_feature_bits_round_trip_through_a_nonce() {
        let f = SecurityFeatures {
            password_algorithms: true,
            username_anonymity: false,
        };
        let chars = f.to_nonce_chars();
        let nonce = format!(
            "{NONCE_COOKIE}{}abcdef",
            core::str::from_utf8(&chars).unwrap()
        );
        assert_eq!(SecurityFeatures::from_nonce(&nonce), Some(f));
        assert_eq!(&chars, b"gAAA");
        assert_eq!(SecurityFeatures::from_nonce("plain-nonce"), None);
        assert_eq!(SecurityFeatures::from_nonce("obMatJos2**"), None);
    }

    #[test]
    fn sha256_is_negotiated_when_offered_first() {
        use crate::attributes::List;
        let offered = [
            PasswordAlgorithm::new(PasswordAlgorithm::SHA256),
            PasswordAlgorithm::new(PasswordAlgorithm::MD5),
        ];
        let list = PasswordAlgorithms(List::Items(&offered));
        assert_eq!(
            PasswordAlgorithmKind::negotiate(&list),
            Some(PasswordAlgorithmKind::Sha256)
        );
        let unknown = [PasswordAlgorithm::new(9)];
        assert_eq!(
            PasswordAlgorithmKind::negotiate(&PasswordAlgorithms(List::Items(&unknown))),
            None
        );
    }
}
