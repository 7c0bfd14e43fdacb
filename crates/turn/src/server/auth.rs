//! The long-term credential mechanism on the server side (RFC 8489 §9.2.4): a user table of
//! derived keys (no passwords kept), stateless nonces, and signing of responses.
//!
//! A nonce is `obMatJos2` ‖ four security-feature characters ‖ its expiry ‖ a MAC, keyed with
//! a secret of this server, over the features, the expiry and the client's transport address.
//! Nothing is stored per nonce, so a flood of unauthenticated requests, each of which gets a
//! 401 with a fresh nonce, cannot evict the nonces of real clients; and a nonce is good only
//! from the address it was handed to.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_stun::attributes::{
    ErrorCode, List, Nonce, PasswordAlgorithm, PasswordAlgorithms, Realm, Userhash, Username,
};
use floe_stun::{
    userhash, EncodeError, LongTermKey, Message, MessageWriter, PasswordAlgorithmKind,
    SecurityFeatures, NONCE_COOKIE,
};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

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
    /// 400: integrity without the attributes that go with it, or a password algorithm that
    /// does not match what was offered.
    BadRequest,
    /// 438 with a fresh nonce.
    StaleNonce,
}

/// One user's keys, derived once: the password itself is not kept.
#[derive(Debug)]
struct UserKeys {
    md5: LongTermKey,
    sha256: Option<LongTermKey>,
}

/// The algorithms offered in PASSWORD-ALGORITHMS, in order.
const OFFERED: [u16; 2] = [PasswordAlgorithm::SHA256, PasswordAlgorithm::MD5];

/// Bytes of MAC in a nonce (128 bits).
const NONCE_MAC_LEN: usize = 16;

/// User table and nonce key.
#[derive(Debug)]
pub(crate) struct ServerAuth {
    realm: String,
    users: HashMap<String, UserKeys>,
    nonce_lifetime: Option<Duration>,
    /// Offer SHA-256 with PASSWORD-ALGORITHMS (the nonce cookie's bit 0).
    password_algorithms: bool,
    nonce_key: [u8; 32],
    /// Nonce expiries count in milliseconds from here (the first `now` seen).
    epoch: Option<Instant>,
}

impl ServerAuth {
    pub(crate) fn new(
        realm: String,
        users: &HashMap<String, String>,
        nonce_lifetime: Option<Duration>,
        password_algorithms: bool,
        rng: &mut Csprng,
    ) -> Self {
        let derive = |name: &str, password: &str, kind| {
            LongTermKey::derive(name, &realm, password, kind).ok()
        };
        let users = users
            .iter()
            .filter_map(|(name, password)| {
                let md5 = derive(name, password, PasswordAlgorithmKind::Md5)?;
                let sha256 = derive(name, password, PasswordAlgorithmKind::Sha256);
                Some((name.clone(), UserKeys { md5, sha256 }))
            })
            .collect();
        Self {
            realm,
            users,
            nonce_lifetime,
            password_algorithms,
            nonce_key: rng.key(),
            epoch: None,
        }
    }

    fn features(&self) -> SecurityFeatures {
        SecurityFeatures {
            password_algorithms: self.password_algorithms,
            username_anonymity: false,
        }
    }

    fn millis_since_epoch(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        u64::try_from(now.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn nonce_mac(&self, features: &[u8], expiry: u64, client: SocketAddr) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.nonce_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(features);
        mac.update(&expiry.to_be_bytes());
        match client.ip() {
            std::net::IpAddr::V4(ip) => mac.update(&ip.octets()),
            std::net::IpAddr::V6(ip) => mac.update(&ip.octets()),
        }
        mac.update(&client.port().to_be_bytes());
        mac
    }

    /// A fresh nonce for `client`; nothing is stored.
    fn new_nonce(&mut self, now: Instant, client: SocketAddr) -> String {
        let expiry = match self.nonce_lifetime {
            Some(lifetime) => {
                let lifetime = u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX);
                self.millis_since_epoch(now).saturating_add(lifetime)
            }
            None => u64::MAX,
        };
        let features = self.features().to_nonce_chars();
        let tag = self
            .nonce_mac(&features, expiry, client)
            .finalize()
            .into_bytes();
        let mut nonce = format!(
            "{NONCE_COOKIE}{}{expiry:016x}",
            core::str::from_utf8(&features).unwrap_or("AAAA")
        );
        for b in &tag[..NONCE_MAC_LEN] {
            nonce.push_str(&format!("{b:02x}"));
        }
        nonce
    }

    /// Whether `nonce` is one this server handed to `client` and it has not expired.
    fn nonce_is_fresh(&mut self, now: Instant, nonce: &str, client: SocketAddr) -> bool {
        let Some(rest) = nonce.strip_prefix(NONCE_COOKIE) else {
            return false;
        };
        let (Some(features), Some(expiry), Some(tag)) =
            (rest.get(..4), rest.get(4..20), rest.get(20..))
        else {
            return false;
        };
        let Ok(expiry) = u64::from_str_radix(expiry, 16) else {
            return false;
        };
        let Some(tag) = decode_hex(tag) else {
            return false;
        };
        let mac = self.nonce_mac(features.as_bytes(), expiry, client);
        tag.len() == NONCE_MAC_LEN
            && mac.verify_truncated_left(&tag).is_ok()
            && expiry > self.millis_since_epoch(now)
    }

    /// Adds REALM, a fresh NONCE and PASSWORD-ALGORITHMS to a 401 or 438 (RFC 8489 §9.2.4).
    pub(crate) fn add_challenge(
        &mut self,
        now: Instant,
        client: SocketAddr,
        w: &mut MessageWriter<'_>,
    ) -> Result<(), EncodeError> {
        let nonce = self.new_nonce(now, client);
        w.add(&Realm(&self.realm))?;
        w.add(&Nonce(&nonce))?;
        if self.password_algorithms {
            let offered = OFFERED.map(PasswordAlgorithm::new);
            w.add(&PasswordAlgorithms(List::Items(&offered)))?;
        }
        Ok(())
    }

    /// The password algorithm of a request (RFC 8489 §9.2.4 step 3): MD5 when it names none;
    /// when it names one, PASSWORD-ALGORITHMS must be there too, exactly as offered, and the
    /// chosen algorithm one of them. Without the check a man in the middle could strip SHA-256
    /// from the offer and have the client fall back to MD5.
    fn password_algorithm(&self, msg: &Message<'_>) -> Result<PasswordAlgorithmKind, Rejection> {
        let chosen = msg
            .get::<PasswordAlgorithm>()
            .map_err(|_| Rejection::BadRequest)?;
        let echoed = msg
            .get::<PasswordAlgorithms>()
            .map_err(|_| Rejection::BadRequest)?;
        match (chosen, echoed) {
            (None, None) => Ok(PasswordAlgorithmKind::Md5),
            (Some(chosen), Some(echoed)) if self.password_algorithms => {
                let echoed: Vec<u16> = echoed.iter().map(|a| a.algorithm).collect();
                if echoed != OFFERED || !echoed.contains(&chosen.algorithm) {
                    return Err(Rejection::BadRequest);
                }
                PasswordAlgorithmKind::from_code(chosen.algorithm).ok_or(Rejection::BadRequest)
            }
            _ => Err(Rejection::BadRequest),
        }
    }

    /// Verifies a request from `client` in the order of RFC 8489 §9.2.4: integrity present,
    /// the attributes that go with it, the password algorithm, the user, the integrity itself,
    /// and only then the nonce's freshness (438 is for clients that know the password).
    pub(crate) fn verify(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        client: SocketAddr,
    ) -> Result<Verified, Rejection> {
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
        let algorithm = self.password_algorithm(msg)?;
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
        let (name, keys) = user.ok_or(Rejection::Unauthenticated)?;
        let key = match algorithm {
            PasswordAlgorithmKind::Sha256 => keys.sha256.clone(),
            _ => Some(keys.md5.clone()),
        }
        .ok_or(Rejection::Unauthenticated)?;
        let sha256 = msg.has_integrity_sha256();
        let ok = if sha256 {
            msg.verify_integrity_sha256(&key.integrity_key_sha256())
        } else {
            msg.verify_integrity(&key.integrity_key())
        };
        ok.map_err(|_| Rejection::Unauthenticated)?;
        let name = name.clone();
        if !self.nonce_is_fresh(now, nonce.0, client) {
            return Err(Rejection::StaleNonce);
        }
        Ok(Verified {
            username: name,
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

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
