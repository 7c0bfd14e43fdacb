//! Media descriptions (`m=` sections, RFC 8866 §5.14) and their typed
//! attribute views.

use std::fmt;

use crate::attribute::{names, Attribute, AttributeList, Direction, Fingerprint, IceOption, Setup};
use crate::candidate::{parse_digits, Candidate};
use crate::description::{Bandwidth, Connection};

/// One media section: the `m=` line and its `i=`, `c=`, `b=`, `k=` and
/// `a=` lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MediaDescription {
    /// Media type, e.g. `application`, `audio`.
    pub media: String,
    /// Transport port; 0 rejects the section (RFC 3264 §6).
    pub port: u16,
    /// The optional `/<number of ports>`.
    pub num_ports: Option<u16>,
    /// Transport protocol, e.g. `UDP/DTLS/SCTP`.
    pub proto: String,
    /// Media formats, e.g. `webrtc-datachannel` (at least one, RFC 8866 §5.14).
    pub formats: Vec<String>,
    /// `i=` media title.
    pub information: Option<String>,
    /// `c=` lines.
    pub connections: Vec<Connection>,
    /// `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `k=` line (obsolete, kept as written).
    pub key: Option<String>,
    /// `a=` lines in order.
    pub attributes: Vec<Attribute>,
}

impl AttributeList for MediaDescription {
    fn attrs(&self) -> &[Attribute] {
        &self.attributes
    }
    fn attrs_mut(&mut self) -> &mut Vec<Attribute> {
        &mut self.attributes
    }
}

impl MediaDescription {
    /// A section with the given `m=` line and nothing else.
    pub fn new(
        media: impl Into<String>,
        port: u16,
        proto: impl Into<String>,
        formats: Vec<String>,
    ) -> Self {
        Self {
            media: media.into(),
            port,
            num_ports: None,
            proto: proto.into(),
            formats,
            information: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            key: None,
            attributes: Vec::new(),
        }
    }

    /// Whether the port is 0, i.e. the section is rejected or disabled.
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }

    /// Whether this is a WebRTC data channel section
    /// (`m=application ... UDP/DTLS/SCTP webrtc-datachannel`, RFC 8841 §4).
    pub fn is_data_channel(&self) -> bool {
        self.media == "application"
            && self.proto.ends_with("DTLS/SCTP")
            && self.formats.iter().any(|f| f == "webrtc-datachannel")
    }

    /// The first attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.first(name)
    }

    /// The trimmed value of the first attribute called `name`.
    pub fn attribute_value(&self, name: &str) -> Option<&str> {
        self.value(name)
    }

    /// Whether an attribute called `name` is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.has(name)
    }

    /// Replaces the first attribute of that name (dropping repeats) or
    /// appends it.
    pub fn set_attribute(&mut self, attr: Attribute) {
        self.set(attr);
    }

    /// Removes every attribute called `name`.
    pub fn remove_attribute(&mut self, name: &str) {
        self.remove(name);
    }

    /// `a=mid` (RFC 5888 §4).
    pub fn mid(&self) -> Option<&str> {
        self.value(names::MID)
    }

    /// Sets `a=mid`.
    pub fn set_mid(&mut self, mid: &str) {
        self.set(Attribute::new(names::MID, mid));
    }

    /// Media-level `a=ice-ufrag` only; see
    /// [`SessionDescription::ice_ufrag_for`](crate::SessionDescription::ice_ufrag_for)
    /// for the effective value.
    pub fn ice_ufrag(&self) -> Option<&str> {
        self.value(names::ICE_UFRAG)
    }

    /// Media-level `a=ice-pwd` only.
    pub fn ice_pwd(&self) -> Option<&str> {
        self.value(names::ICE_PWD)
    }

    /// Sets media-level `a=ice-ufrag` and `a=ice-pwd`.
    pub fn set_ice_credentials(&mut self, ufrag: &str, pwd: &str) {
        self.set(Attribute::new(names::ICE_UFRAG, ufrag));
        self.set(Attribute::new(names::ICE_PWD, pwd));
    }

    /// Media-level `a=ice-options`, or `None` when absent.
    pub fn ice_options(&self) -> Option<Vec<IceOption>> {
        self.value(names::ICE_OPTIONS).map(IceOption::parse_list)
    }

    /// Sets media-level `a=ice-options`; an empty list removes it.
    pub fn set_ice_options(&mut self, options: &[IceOption]) {
        set_ice_options(self, options);
    }

    /// The `a=candidate` lines that parse (the parser rejects those that do
    /// not, so only code-built sections can hold bad ones).
    pub fn candidates(&self) -> impl Iterator<Item = Candidate> + '_ {
        self.attributes
            .iter()
            .filter(|a| a.name == names::CANDIDATE)
            .filter_map(|a| Candidate::parse_value(a.trimmed_value()?).ok())
    }

    /// Adds an `a=candidate` after the existing ones; the first one goes
    /// before `a=end-of-candidates` or else `a=ice-ufrag` (where Chromium
    /// writes them), or at the end.
    pub fn add_candidate(&mut self, candidate: &Candidate) {
        let attr = Attribute::new(names::CANDIDATE, candidate.to_value_string());
        let list = &mut self.attributes;
        let at = list
            .iter()
            .rposition(|a| a.name == names::CANDIDATE)
            .map(|i| i + 1)
            .or_else(|| list.iter().position(|a| a.name == names::END_OF_CANDIDATES))
            .or_else(|| list.iter().position(|a| a.name == names::ICE_UFRAG))
            .unwrap_or(list.len());
        list.insert(at, attr);
    }

    /// Removes every `a=candidate`.
    pub fn clear_candidates(&mut self) {
        self.remove(names::CANDIDATE);
    }

    /// `a=end-of-candidates` (RFC 8840 §8.2).
    pub fn end_of_candidates(&self) -> bool {
        self.has(names::END_OF_CANDIDATES)
    }

    /// Adds or removes `a=end-of-candidates`.
    pub fn set_end_of_candidates(&mut self, on: bool) {
        set_flag(self, names::END_OF_CANDIDATES, on);
    }

    /// Media-level `a=setup`.
    pub fn setup(&self) -> Option<Setup> {
        self.value(names::SETUP)?.parse().ok()
    }

    /// Sets `a=setup`.
    pub fn set_setup(&mut self, setup: Setup) {
        self.set(Attribute::new(names::SETUP, setup.to_string()));
    }

    /// Media-level `a=fingerprint` (the first one).
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.value(names::FINGERPRINT)?.parse().ok()
    }

    /// Sets `a=fingerprint`.
    pub fn set_fingerprint(&mut self, fingerprint: &Fingerprint) {
        self.set(Attribute::new(names::FINGERPRINT, fingerprint.to_string()));
    }

    /// `a=sctp-port` (RFC 8841 §5).
    pub fn sctp_port(&self) -> Option<u16> {
        parse_digits(self.value(names::SCTP_PORT)?, 5)
    }

    /// Sets `a=sctp-port`.
    pub fn set_sctp_port(&mut self, port: u16) {
        self.set(Attribute::new(names::SCTP_PORT, port.to_string()));
    }

    /// `a=max-message-size` (RFC 8841 §6).
    pub fn max_message_size(&self) -> Option<u64> {
        parse_digits(self.value(names::MAX_MESSAGE_SIZE)?, 20)
    }

    /// Sets `a=max-message-size`.
    pub fn set_max_message_size(&mut self, size: u64) {
        self.set(Attribute::new(names::MAX_MESSAGE_SIZE, size.to_string()));
    }

    /// `a=rtcp-mux` (RFC 5761).
    pub fn rtcp_mux(&self) -> bool {
        self.has(names::RTCP_MUX)
    }

    /// Adds or removes `a=rtcp-mux`.
    pub fn set_rtcp_mux(&mut self, on: bool) {
        set_flag(self, names::RTCP_MUX, on);
    }

    /// Media-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction(&self.attributes)
    }

    /// Replaces any direction attribute with `dir`.
    pub fn set_direction(&mut self, dir: Direction) {
        set_direction(&mut self.attributes, dir);
    }
}

pub(crate) fn direction(attrs: &[Attribute]) -> Option<Direction> {
    attrs.iter().find_map(|a| Direction::from_name(&a.name))
}

pub(crate) fn set_direction(attrs: &mut Vec<Attribute>, dir: Direction) {
    match attrs
        .iter()
        .position(|a| Direction::from_name(&a.name).is_some())
    {
        Some(i) => {
            if let Some(slot) = attrs.get_mut(i) {
                *slot = Attribute::flag(dir.as_str());
            }
            let mut first = true;
            attrs.retain(|a| {
                if Direction::from_name(&a.name).is_none() {
                    return true;
                }
                std::mem::replace(&mut first, false)
            });
        }
        None => attrs.push(Attribute::flag(dir.as_str())),
    }
}

pub(crate) fn set_flag(list: &mut impl AttributeList, name: &str, on: bool) {
    if on {
        if !list.has(name) {
            list.attrs_mut().push(Attribute::flag(name));
        }
    } else {
        list.remove(name);
    }
}

pub(crate) fn set_ice_options(list: &mut impl AttributeList, options: &[IceOption]) {
    if options.is_empty() {
        list.remove(names::ICE_OPTIONS);
        return;
    }
    let v: Vec<String> = options.iter().map(ToString::to_string).collect();
    list.set(Attribute::new(names::ICE_OPTIONS, v.join(" ")));
}

impl fmt::Display for MediaDescription {
    /// Writes the section with CRLF line endings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.media, self.port)?;
        if let Some(n) = self.num_ports {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.proto)?;
        for fmt_ in &self.formats {
            write!(f, " {fmt_}")?;
        }
        f.write_str("\r\n")?;
        if let Some(i) = &self.information {
            write!(f, "i={i}\r\n")?;
        }
        for c in &self.connections {
            write!(f, "c={c}\r\n")?;
        }
        for b in &self.bandwidths {
            write!(f, "b={b}\r\n")?;
        }
        if let Some(k) = &self.key {
            write!(f, "k={k}\r\n")?;
        }
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        Ok(())
    }
}
