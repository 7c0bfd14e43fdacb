//! The long-term credential mechanism on the server side (RFC 8489 §9.2.4): a static user
//! table, nonces that go stale, and signing of responses.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use floe_stun::attributes::{
    ErrorCode, List, Nonce, PasswordAlgorithm, PasswordAlgorithms, Realm, Userhash, Username,
};
use floe_stun::{
    userhash, EncodeError, LongTermKey, Message, MessageWriter, PasswordAlgorithmKind,
    SecurityFeatures, NONCE_COOKIE,
};

use crate::rng::Csprng;

/// The credentials a request was verified with, to sign its response.
#[derive(Clone, Debug)]
pub(crate) struct Verified {
    pub(crate) username: String,
    pub(crate) key: LongTermKey,
    /// The request used MESSAGE-INTEGRITY-SHA256, so the response does too.
    pub(crate) sha256: bool,
}

impl Verified {
    /// Adds MESSAGE-INTEGRITY (or -SHA256) and FINGERPRINT.
    pub(crate) fn sign(&self, w: &mut MessageWriter<'_>) -> Result<(), EncodeError> {
        if self.sha256 {
            w.add_message_integrity_sha256(&self.key.integrity_key_sha256())?;
        } else {
            w.add_message_integrity(&self.key.integrity_key())?;
        }
        w.add_fingerprint()
    }
}

/// Why a request was not authenticated: the error response to send.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Rejection {
    /// 401 with a fresh challenge.
    Unauthenticated,
    /// 400: integrity without the attributes that go with it.
    BadRequest,
    /// 438 with a fresh nonce.
    StaleNonce,
}

/// User table and nonces.
#[derive(Debug)]
pub(crate) struct ServerAuth {
    realm: String,
    users: HashMap<String, String>,
    nonce_lifetime: Option<Duration>,
    /// Offer SHA-256 with PASSWORD-ALGORITHMS (the nonce cookie's bit 0).
    password_algorithms: bool,
    /// Nonces handed out and when they go stale.
    nonces: HashMap<String, Option<Instant>>,
}

const MAX_NONCES: usize = 4096;

impl ServerAuth {
    pub(crate) fn new(
        realm: String,
        users: HashMap<String, String>,
        nonce_lifetime: Option<Duration>,
        password_algorithms: bool,
    ) -> Self {
        Self {
            realm,
            users,
            nonce_lifetime,
            password_algorithms,
            nonces: HashMap::new(),
        }
    }

    /// A fresh nonce, remembered until it goes stale.
    fn new_nonce(&mut self, now: Instant, rng: &mut Csprng) -> String {
        if self.nonces.len() >= MAX_NONCES {
            self.nonces
                .retain(|_, exp| !matches!(exp, Some(e) if *e <= now));
            if self.nonces.len() >= MAX_NONCES {
                self.nonces.clear();
            }
        }
        let features = SecurityFeatures {
            password_algorithms: self.password_algorithms,
            username_anonymity: false,
        };
        let chars = features.to_nonce_chars();
        let nonce = format!(
            "{NONCE_COOKIE}{}{:016x}",
            core::str::from_utf8(&chars).unwrap_or("AAAA"),
            rng.next_u64()
        );
        let expiry = self.nonce_lifetime.map(|l| now + l);
        self.nonces.insert(nonce.clone(), expiry);
        nonce
    }

    /// Adds REALM, a fresh NONCE and PASSWORD-ALGORITHMS to a 401 or 438 (RFC 8489 §9.2.4).
    pub(crate) fn add_challenge(
        &mut self,
        now: Instant,
        rng: &mut Csprng,
        w: &mut MessageWriter<'_>,
    ) -> Result<(), EncodeError> {
        let nonce = self.new_nonce(now, rng);
        w.add(&Realm(&self.realm))?;
        w.add(&Nonce(&nonce))?;
        if self.password_algorithms {
            let offered = [
                PasswordAlgorithm::new(PasswordAlgorithm::SHA256),
                PasswordAlgorithm::new(PasswordAlgorithm::MD5),
            ];
            w.add(&PasswordAlgorithms(List::Items(&offered)))?;
        }
        Ok(())
    }

    /// Verifies a request (RFC 8489 §9.2.4, in its order of checks).
    pub(crate) fn verify(&self, now: Instant, msg: &Message<'_>) -> Result<Verified, Rejection> {
        if !msg.has_integrity() && !msg.has_integrity_sha256() {
            return Err(Rejection::Unauthenticated);
        }
        let username = msg.get::<Username>().ok().flatten();
        let hash = msg.get::<Userhash>().ok().flatten();
        let realm = msg.get::<Realm>().ok().flatten();
        let nonce = msg.get::<Nonce>().ok().flatten();
        let (Some(realm), Some(nonce)) = (realm, nonce) else {
            return Err(Rejection::BadRequest);
        };
        if username.is_none() && hash.is_none() {
            return Err(Rejection::BadRequest);
        }
        let algorithm = match msg.get::<PasswordAlgorithm>() {
            Ok(Some(a)) if self.password_algorithms => {
                PasswordAlgorithmKind::from_code(a.algorithm).ok_or(Rejection::BadRequest)?
            }
            Ok(None) => PasswordAlgorithmKind::Md5,
            _ => return Err(Rejection::BadRequest),
        };
        match self.nonces.get(nonce.0) {
            Some(None) => {}
            Some(Some(expiry)) if *expiry > now => {}
            _ => return Err(Rejection::StaleNonce),
        }
        if realm.0 != self.realm {
            return Err(Rejection::Unauthenticated);
        }
        let user = match (username, hash) {
            (Some(u), _) => self.users.get_key_value(u.0),
            (None, Some(h)) => self
                .users
                .iter()
                .find(|(name, _)| &userhash(name, &self.realm) == h.0),
            (None, None) => None,
        };
        let (name, password) = user.ok_or(Rejection::Unauthenticated)?;
        let key = LongTermKey::derive(name, &self.realm, password, algorithm)
            .map_err(|_| Rejection::Unauthenticated)?;
        let sha256 = msg.has_integrity_sha256();
        let ok = if sha256 {
            msg.verify_integrity_sha256(&key.integrity_key_sha256())
        } else {
            msg.verify_integrity(&key.integrity_key())
        };
        ok.map_err(|_| Rejection::Unauthenticated)?;
        Ok(Verified {
            username: name.clone(),
            key,
            sha256,
        })
    }

    /// The error code of a rejection.
    pub(crate) fn code(rejection: Rejection) -> (u16, &'static str) {
        match rejection {
            Rejection::Unauthenticated => (ErrorCode::UNAUTHENTICATED, "Unauthenticated"),
            Rejection::BadRequest => (ErrorCode::BAD_REQUEST, "Bad Request"),
            Rejection::StaleNonce => (ErrorCode::STALE_NONCE, "Stale Nonce"),
        }
    }
}
