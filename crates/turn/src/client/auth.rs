//! The long-term credential mechanism on the client side (RFC 8489 §9.2, RFC 8656 §7.2).

use floe_stun::attributes::{
    List, Nonce, PasswordAlgorithm, PasswordAlgorithms, Realm, Userhash, Username,
};
use floe_stun::{
    userhash, EncodeError, LongTermKey, Message, MessageWriter, PasswordAlgorithmKind,
    SecurityFeatures,
};

/// What the client knows of its credentials and the server's challenge.
#[derive(Clone, Debug)]
pub(crate) struct Auth {
    username: String,
    password: String,
    /// REALM and NONCE from the last 401 or 438; `None` before the first challenge.
    realm: Option<String>,
    nonce: Option<String>,
    key: Option<LongTermKey>,
    /// The PASSWORD-ALGORITHMS list to echo, as (algorithm, parameters).
    offered: Vec<(u16, Vec<u8>)>,
    algorithm: PasswordAlgorithmKind,
    features: SecurityFeatures,
}

/// Why a challenge could not be answered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ChallengeError {
    /// The 401 or 438 lacks REALM or NONCE.
    Malformed,
    /// No algorithm in PASSWORD-ALGORITHMS is supported, or SASLprep rejected the password.
    Credentials,
}

impl Auth {
    pub(crate) fn new(username: String, password: String) -> Self {
        Self {
            username,
            password,
            realm: None,
            nonce: None,
            key: None,
            offered: Vec::new(),
            algorithm: PasswordAlgorithmKind::Md5,
            features: SecurityFeatures::default(),
        }
    }

    /// Forgets the server's challenge (after a redirect to another server).
    pub(crate) fn reset(&mut self) {
        *self = Self::new(
            core::mem::take(&mut self.username),
            core::mem::take(&mut self.password),
        );
    }

    /// The nonce requests are signed with, once a 401 or 438 supplied one.
    pub(crate) fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    /// True once a 401 supplied REALM and NONCE, so requests are signed.
    pub(crate) fn has_credentials(&self) -> bool {
        self.key.is_some()
    }

    /// Takes REALM, NONCE and PASSWORD-ALGORITHMS from a 401 or 438 response (RFC 8489 §9.2.5).
    pub(crate) fn challenge(&mut self, response: &Message<'_>) -> Result<(), ChallengeError> {
        let realm = response.get::<Realm>().ok().flatten();
        let nonce = response.get::<Nonce>().ok().flatten();
        let (Some(nonce), realm) = (nonce, realm) else {
            return Err(ChallengeError::Malformed);
        };
        // A 438 may omit REALM; keep the one we have.
        let realm = match (realm, &self.realm) {
            (Some(r), _) => r.0.to_owned(),
            (None, Some(r)) => r.clone(),
            (None, None) => return Err(ChallengeError::Malformed),
        };
        self.features = SecurityFeatures::from_nonce(nonce.0).unwrap_or_default();
        self.offered.clear();
        self.algorithm = PasswordAlgorithmKind::Md5;
        if self.features.password_algorithms {
            // RFC 8489 §9.2.5: the nonce says the server offered PASSWORD-ALGORITHMS; without
            // the attribute someone removed it to force MD5 (a downgrade): give up.
            let Ok(Some(offered)) = response.get::<PasswordAlgorithms>() else {
                return Err(ChallengeError::Malformed);
            };
            // RFC 8489 §9.2.4: use the first algorithm of the server's list we support.
            self.offered = offered
                .iter()
                .map(|a| (a.algorithm, a.parameters.to_vec()))
                .collect();
            self.algorithm =
                PasswordAlgorithmKind::negotiate(&offered).ok_or(ChallengeError::Credentials)?;
        }
        let key = LongTermKey::derive(&self.username, &realm, &self.password, self.algorithm)
            .map_err(|_| ChallengeError::Credentials)?;
        self.key = Some(key);
        self.realm = Some(realm);
        self.nonce = Some(nonce.0.to_owned());
        Ok(())
    }

    /// Adds USERNAME (or USERHASH), REALM, NONCE, the password-algorithm attributes,
    /// MESSAGE-INTEGRITY and, when the server offered PASSWORD-ALGORITHMS,
    /// MESSAGE-INTEGRITY-SHA256; then FINGERPRINT. Without a challenge yet, only FINGERPRINT
    /// (the first request goes unauthenticated, RFC 8489 §9.2.3.1).
    pub(crate) fn sign(&self, w: &mut MessageWriter<'_>) -> Result<(), EncodeError> {
        if let (Some(key), Some(realm), Some(nonce)) = (&self.key, &self.realm, &self.nonce) {
            if self.features.username_anonymity {
                w.add(&Userhash(&userhash(&self.username, realm)))?;
            } else {
                w.add(&Username(&self.username))?;
            }
            w.add(&Realm(realm))?;
            w.add(&Nonce(nonce))?;
            if !self.offered.is_empty() {
                let list: Vec<PasswordAlgorithm<'_>> = self
                    .offered
                    .iter()
                    .map(|(algorithm, parameters)| PasswordAlgorithm {
                        algorithm: *algorithm,
                        parameters,
                    })
                    .collect();
                w.add(&PasswordAlgorithms(List::Items(&list)))?;
                w.add(&PasswordAlgorithm::new(self.algorithm.code()))?;
            }
            w.add_message_integrity(&key.integrity_key())?;
            if self.features.password_algorithms {
                w.add_message_integrity_sha256(&key.integrity_key_sha256())?;
            }
        }
        w.add_fingerprint()
    }

    /// Checks a response's integrity (RFC 8489 §9.2.5): once the client holds a key, every
    /// response must carry a valid MESSAGE-INTEGRITY-SHA256 or MESSAGE-INTEGRITY, except the
    /// 401 and 438 challenges, which the server cannot sign. Without that rule a spoofed
    /// unsigned 437 would end the allocation and a spoofed 300 would send the client (and an
    /// HMAC of its password) to an attacker. FINGERPRINT, when present, must verify.
    pub(crate) fn accept_response(&self, response: &Message<'_>, error_code: Option<u16>) -> bool {
        if response.has_fingerprint() && response.verify_fingerprint().is_err() {
            return false;
        }
        let Some(key) = &self.key else {
            return true;
        };
        if response.has_integrity_sha256() {
            response
                .verify_integrity_sha256(&key.integrity_key_sha256())
                .is_ok()
        } else if response.has_integrity() {
            response.verify_integrity(&key.integrity_key()).is_ok()
        } else {
            matches!(error_code, Some(401 | 438))
        }
    }
}
