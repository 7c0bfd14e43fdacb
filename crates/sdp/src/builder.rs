//! Builders for what the driver sends: a data-channel offer, and an answer
//! that mirrors a browser's offer.
//!
//! DTLS and SCTP belong to the application, so `a=fingerprint`, `a=setup`
//! and `a=sctp-port` are parameters.

use std::net::{IpAddr, Ipv4Addr};

use crate::attribute::{names, Attribute, Fingerprint, IceOption, Setup};
use crate::candidate::{Candidate, CandidateAddress, CandidateType};
use crate::description::{Connection, SessionDescription};
use crate::media::MediaDescription;

/// Protocol of a WebRTC data channel section (RFC 8841 §4).
pub const DATA_CHANNEL_PROTO: &str = "UDP/DTLS/SCTP";
/// Format of a WebRTC data channel section (RFC 8841 §4).
pub const DATA_CHANNEL_FORMAT: &str = "webrtc-datachannel";
/// The `a=max-message-size` Chromium announces.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 262_144;

/// Parameters shared by both builders.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Params {
    ice_ufrag: String,
    ice_pwd: String,
    ice_options: Vec<IceOption>,
    ice_lite: bool,
    candidates: Vec<Candidate>,
    end_of_candidates: bool,
    fingerprint: Fingerprint,
    setup: Option<Setup>,
    sctp_port: u16,
    max_message_size: Option<u64>,
    session_id: u64,
    session_version: u64,
}

impl Params {
    fn new(ice_ufrag: &str, ice_pwd: &str, fingerprint: Fingerprint, sctp_port: u16) -> Self {
        Self {
            ice_ufrag: ice_ufrag.to_owned(),
            ice_pwd: ice_pwd.to_owned(),
            ice_options: vec![IceOption::Trickle],
            ice_lite: false,
            candidates: Vec::new(),
            end_of_candidates: false,
            fingerprint,
            setup: None,
            sctp_port,
            max_message_size: Some(DEFAULT_MAX_MESSAGE_SIZE),
            session_id: random_session_id(),
            session_version: 2,
        }
    }

    fn session(&self) -> SessionDescription {
        let mut d = SessionDescription::new(self.session_id, self.session_version);
        if self.ice_lite {
            d.set_ice_lite(true);
        }
        d
    }

    /// An accepted data channel section, attributes in Chromium's order.
    fn data_section(&self, proto: &str, mid: Option<&str>, setup: Setup) -> MediaDescription {
        let (port, ip) = default_candidate(&self.candidates);
        let mut m = MediaDescription::new(
            "application",
            port,
            proto,
            vec![DATA_CHANNEL_FORMAT.to_owned()],
        );
        m.connections.push(Connection::from_ip(ip));
        for c in &self.candidates {
            m.add_candidate(c);
        }
        m.set_end_of_candidates(self.end_of_candidates);
        m.set_ice_credentials(&self.ice_ufrag, &self.ice_pwd);
        m.set_ice_options(&self.ice_options);
        m.set_fingerprint(&self.fingerprint);
        m.set_setup(setup);
        if let Some(mid) = mid {
            m.set_mid(mid);
        }
        m.set_sctp_port(self.sctp_port);
        if let Some(size) = self.max_message_size {
            m.set_max_message_size(size);
        }
        m
    }
}

/// A session id: 63 random bits, like browsers (RFC 8866 §5.2 suggests an
/// NTP timestamp; randomness avoids collisions just as well).
fn random_session_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS, so this needs no RNG dependency.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish() >> 1
}

/// The `m=` port and `c=` address: those of the default candidate
/// (RFC 8839 §4.2.1.1 / RFC 8445 §5.1.4 recommend a relayed one), or
/// `9` and `0.0.0.0` when no IP candidate exists yet (RFC 8840 §4.1).
fn default_candidate(candidates: &[Candidate]) -> (u16, IpAddr) {
    let rank = |t: &CandidateType| match t {
        CandidateType::Relay => 0,
        CandidateType::ServerReflexive => 1,
        CandidateType::PeerReflexive => 2,
        CandidateType::Host => 3,
        CandidateType::Other(_) => 4,
    };
    candidates
        .iter()
        .filter(|c| c.component == 1)
        .filter_map(|c| match &c.address {
            CandidateAddress::Ip(ip) => Some((rank(&c.typ), c.port, *ip)),
            CandidateAddress::Fqdn(_) => None,
        })
        .min_by_key(|(r, _, _)| *r)
        .map_or((9, IpAddr::V4(Ipv4Addr::UNSPECIFIED)), |(_, p, ip)| (p, ip))
}

macro_rules! common_setters {
    () => {
        /// `a=ice-options` (default: `trickle`); empty leaves it out.
        pub fn ice_options(mut self, options: Vec<IceOption>) -> Self {
            self.params.ice_options = options;
            self
        }

        /// Announce `a=ice-lite` at session level (RFC 8839 §5.3).
        pub fn ice_lite(mut self, on: bool) -> Self {
            self.params.ice_lite = on;
            self
        }

        /// Add one candidate.
        pub fn candidate(mut self, candidate: Candidate) -> Self {
            self.params.candidates.push(candidate);
            self
        }

        /// Add candidates.
        pub fn candidates(mut self, candidates: impl IntoIterator<Item = Candidate>) -> Self {
            self.params.candidates.extend(candidates);
            self
        }

        /// Add `a=end-of-candidates` (RFC 8840 §8.2) when gathering is done.
        pub fn end_of_candidates(mut self, on: bool) -> Self {
            self.params.end_of_candidates = on;
            self
        }

        /// `a=setup` (offer default `actpass`, RFC 8842 §5.2; answer default
        /// the opposite of the offer's, else `active`, RFC 8842 §5.3).
        pub fn setup(mut self, setup: Setup) -> Self {
            self.params.setup = Some(setup);
            self
        }

        /// `a=max-message-size` (default 262144, like Chromium); `None`
        /// leaves it out.
        pub fn max_message_size(mut self, size: Option<u64>) -> Self {
            self.params.max_message_size = size;
            self
        }

        /// The `o=` session id (default random).
        pub fn session_id(mut self, id: u64) -> Self {
            self.params.session_id = id;
            self
        }

        /// The `o=` session version (default 2, like Chromium).
        pub fn session_version(mut self, version: u64) -> Self {
            self.params.session_version = version;
            self
        }
    };
}

/// Builds an offer with one `m=application ... UDP/DTLS/SCTP
/// webrtc-datachannel` section in a BUNDLE group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferBuilder {
    params: Params,
    mid: String,
}

impl OfferBuilder {
    /// An offer with the given ICE credentials, DTLS fingerprint and SCTP
    /// port; mid `0`, `a=setup:actpass`, `a=ice-options:trickle`.
    pub fn new(ice_ufrag: &str, ice_pwd: &str, fingerprint: Fingerprint, sctp_port: u16) -> Self {
        Self {
            params: Params::new(ice_ufrag, ice_pwd, fingerprint, sctp_port),
            mid: "0".to_owned(),
        }
    }

    /// The section's `a=mid` (default `0`).
    pub fn mid(mut self, mid: &str) -> Self {
        mid.clone_into(&mut self.mid);
        self
    }

    common_setters!();

    /// The description.
    pub fn build(&self) -> SessionDescription {
        let p = &self.params;
        let mut d = p.session();
        d.set_bundle_group(&[&self.mid]);
        let setup = p.setup.unwrap_or(Setup::ActPass);
        d.media
            .push(p.data_section(DATA_CHANNEL_PROTO, Some(&self.mid), setup));
        d
    }
}

/// Builds an answer to an offer: accepts the first data channel section,
/// rejects every other with port 0 (RFC 3264 §6), keeps the offer's m-line
/// order and mids, and keeps the accepted mid in the BUNDLE group.
#[derive(Debug, Clone)]
pub struct AnswerBuilder<'a> {
    offer: &'a SessionDescription,
    params: Params,
}

impl<'a> AnswerBuilder<'a> {
    /// An answer to `offer` with the given ICE credentials, DTLS
    /// fingerprint and SCTP port.
    pub fn new(
        offer: &'a SessionDescription,
        ice_ufrag: &str,
        ice_pwd: &str,
        fingerprint: Fingerprint,
        sctp_port: u16,
    ) -> Self {
        Self {
            offer,
            params: Params::new(ice_ufrag, ice_pwd, fingerprint, sctp_port),
        }
    }

    common_setters!();

    /// Index of the section the answer accepts, if any.
    pub fn accepted_index(&self) -> Option<usize> {
        self.offer
            .media
            .iter()
            .position(|m| m.is_data_channel() && !m.is_rejected())
    }

    /// The description.
    pub fn build(&self) -> SessionDescription {
        let p = &self.params;
        let offer = self.offer;
        let accepted = self.accepted_index();
        let mut d = p.session();
        let mut accepted_mid = None;
        for (i, om) in offer.media.iter().enumerate() {
            let mid = om.mid();
            if Some(i) == accepted {
                let setup = p.setup.unwrap_or(match offer.setup_for(i) {
                    Some(Setup::Active) => Setup::Passive,
                    _ => Setup::Active,
                });
                d.media.push(p.data_section(&om.proto, mid, setup));
                accepted_mid = mid;
            } else {
                d.media.push(rejected_section(om, p));
            }
        }
        // RFC 8843 §7.3.3: rejected sections leave the BUNDLE group.
        if let (Some(group), Some(mid)) = (offer.bundle_group(), accepted_mid) {
            if group.mids.iter().any(|m| m == mid) {
                d.set_bundle_group(&[mid]);
            }
        }
        d
    }
}

/// A rejected copy of an offered section: port 0, same media, proto and
/// formats (RFC 3264 §6), and the mid (JSEP, RFC 9429 §5.3.1).
fn rejected_section(offered: &MediaDescription, p: &Params) -> MediaDescription {
    let mut m = MediaDescription::new(
        offered.media.clone(),
        0,
        offered.proto.clone(),
        offered.formats.clone(),
    );
    m.connections
        .push(Connection::from_ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    // Browsers check for ICE credentials in every section of an answer.
    m.set_ice_credentials(&p.ice_ufrag, &p.ice_pwd);
    if let Some(mid) = offered.mid() {
        m.set_mid(mid);
    }
    if offered.proto.contains("RTP") {
        m.attributes.push(Attribute::flag(names::RTCP_MUX));
        m.attributes.push(Attribute::flag("inactive"));
    }
    m
}
