//! The session description (RFC 8866 §5) and its session-level fields.

use std::fmt;
use std::str::FromStr;

use crate::attribute::{
    names, Attribute, AttributeList, Direction, Fingerprint, Group, IceOption, Setup,
};
use crate::error::{ParseError, ParseLimits};
use crate::media::{self, MediaDescription};

/// The `o=` line (RFC 8866 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// User name; `-` when there is none.
    pub username: String,
    /// Session id (numeric string in the grammar).
    pub session_id: u64,
    /// Session version; RFC 3264 §8 requires it to grow with each new offer.
    pub session_version: u64,
    /// Network type, `IN`.
    pub net_type: String,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// Unicast address or host name of the originator.
    pub unicast_address: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.net_type,
            self.addr_type,
            self.unicast_address
        )
    }
}

/// The `c=` line (RFC 8866 §5.7).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Connection {
    /// Network type, `IN`.
    pub net_type: String,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// Connection address as written, including any `/ttl/count` suffix.
    pub address: String,
}

impl Connection {
    /// `IN IP4 <ip>` or `IN IP6 <ip>` for a unicast address.
    pub fn from_ip(ip: std::net::IpAddr) -> Self {
        Self {
            net_type: "IN".into(),
            addr_type: if ip.is_ipv4() { "IP4" } else { "IP6" }.into(),
            address: ip.to_string(),
        }
    }

    /// The address as an IP address, if it is one (without suffix).
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        self.address.split('/').next()?.parse().ok()
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

/// The `b=` line (RFC 8866 §5.8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bandwidth {
    /// Bandwidth type, e.g. `AS`, `CT`, `TIAS`.
    pub bwtype: String,
    /// The value (kilobits per second for `AS`/`CT`).
    pub bandwidth: u64,
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.bwtype, self.bandwidth)
    }
}

/// The unit letter of a typed time (RFC 8866 §5.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// `d`.
    Days,
    /// `h`.
    Hours,
    /// `m`.
    Minutes,
    /// `s`.
    Seconds,
}

/// A `typed-time`: a number of seconds, or of the given unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TypedTime {
    /// The number.
    pub value: u64,
    /// The unit letter, if one was written.
    pub unit: Option<TimeUnit>,
}

impl TypedTime {
    /// The duration in seconds (saturating).
    pub fn seconds(&self) -> u64 {
        let mul = match self.unit {
            Some(TimeUnit::Days) => 86_400,
            Some(TimeUnit::Hours) => 3_600,
            Some(TimeUnit::Minutes) => 60,
            Some(TimeUnit::Seconds) | None => 1,
        };
        self.value.saturating_mul(mul)
    }
}

impl fmt::Display for TypedTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value)?;
        match self.unit {
            Some(TimeUnit::Days) => f.write_str("d"),
            Some(TimeUnit::Hours) => f.write_str("h"),
            Some(TimeUnit::Minutes) => f.write_str("m"),
            Some(TimeUnit::Seconds) => f.write_str("s"),
            None => Ok(()),
        }
    }
}

/// An `r=` line (RFC 8866 §5.10).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repeat {
    /// Repeat interval.
    pub interval: TypedTime,
    /// Active duration.
    pub active_duration: TypedTime,
    /// Offsets from the start time (at least one).
    pub offsets: Vec<TypedTime>,
}

impl fmt::Display for Repeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.interval, self.active_duration)?;
        for o in &self.offsets {
            write!(f, " {o}")?;
        }
        Ok(())
    }
}

/// A `t=` line and the `r=` lines after it (RFC 8866 §5.9).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Timing {
    /// Start time (NTP seconds), 0 for unbounded.
    pub start: u64,
    /// Stop time (NTP seconds), 0 for unbounded.
    pub stop: u64,
    /// `r=` lines.
    pub repeats: Vec<Repeat>,
}

/// One adjustment of the `z=` line (RFC 8866 §5.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZoneAdjustment {
    /// When the adjustment happens (NTP seconds).
    pub time: u64,
    /// Whether the offset is negative (a `-` was written).
    pub negative: bool,
    /// The offset.
    pub offset: TypedTime,
}

/// A whole session description (RFC 8866 §5).
///
/// Parse with [`SessionDescription::parse`] (or `str::parse`), write with
/// `Display` (CRLF line endings). A well-formed description parses and
/// writes back byte for byte: structured lines are written in canonical
/// form, text lines and attribute values are stored as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionDescription {
    /// `o=`.
    pub origin: Origin,
    /// `s=`, as written (may be empty or a single space).
    pub session_name: String,
    /// `i=`.
    pub information: Option<String>,
    /// `u=`.
    pub uri: Option<String>,
    /// `e=` lines.
    pub emails: Vec<String>,
    /// `p=` lines.
    pub phones: Vec<String>,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines (RFC 8866 §5.9: at least one) with their `r=` lines.
    pub timings: Vec<Timing>,
    /// `z=` adjustments; empty means no `z=` line.
    pub time_zones: Vec<TimeZoneAdjustment>,
    /// Session-level `k=` (obsolete, kept as written).
    pub key: Option<String>,
    /// Session-level `a=` lines in order.
    pub attributes: Vec<Attribute>,
    /// `m=` sections in order.
    pub media: Vec<MediaDescription>,
}

impl AttributeList for SessionDescription {
    fn attrs(&self) -> &[Attribute] {
        &self.attributes
    }
    fn attrs_mut(&mut self) -> &mut Vec<Attribute> {
        &mut self.attributes
    }
}

impl SessionDescription {
    /// A minimal description (`o=- <id> <version> IN IP4 127.0.0.1`,
    /// `s=-`, `t=0 0`, like browsers write) without attributes or media.
    pub fn new(session_id: u64, session_version: u64) -> Self {
        Self {
            origin: Origin {
                username: "-".into(),
                session_id,
                session_version,
                net_type: "IN".into(),
                addr_type: "IP4".into(),
                unicast_address: "127.0.0.1".into(),
            },
            session_name: "-".into(),
            information: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            timings: vec![Timing {
                start: 0,
                stop: 0,
                repeats: Vec::new(),
            }],
            time_zones: Vec::new(),
            key: None,
            attributes: Vec::new(),
            media: Vec::new(),
        }
    }

    /// Parses with the default [`ParseLimits`].
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        crate::parse::parse(input, &ParseLimits::default())
    }

    /// Parses with the given limits.
    pub fn parse_with_limits(input: &str, limits: &ParseLimits) -> Result<Self, ParseError> {
        crate::parse::parse(input, limits)
    }

    /// The first session-level attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.first(name)
    }

    /// The trimmed value of the first session-level attribute `name`.
    pub fn attribute_value(&self, name: &str) -> Option<&str> {
        self.value(name)
    }

    /// Whether a session-level attribute called `name` is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.has(name)
    }

    /// Replaces the first session-level attribute of that name (dropping
    /// repeats) or appends it.
    pub fn set_attribute(&mut self, attr: Attribute) {
        self.set(attr);
    }

    /// Removes every session-level attribute called `name`.
    pub fn remove_attribute(&mut self, name: &str) {
        self.remove(name);
    }

    /// Session-level `a=ice-ufrag`.
    pub fn ice_ufrag(&self) -> Option<&str> {
        self.value(names::ICE_UFRAG)
    }

    /// Session-level `a=ice-pwd`.
    pub fn ice_pwd(&self) -> Option<&str> {
        self.value(names::ICE_PWD)
    }

    /// Sets session-level `a=ice-ufrag` and `a=ice-pwd`.
    pub fn set_ice_credentials(&mut self, ufrag: &str, pwd: &str) {
        self.set(Attribute::new(names::ICE_UFRAG, ufrag));
        self.set(Attribute::new(names::ICE_PWD, pwd));
    }

    /// Session-level `a=ice-options`.
    pub fn ice_options(&self) -> Option<Vec<IceOption>> {
        self.value(names::ICE_OPTIONS).map(IceOption::parse_list)
    }

    /// Sets session-level `a=ice-options`; an empty list removes it.
    pub fn set_ice_options(&mut self, options: &[IceOption]) {
        media::set_ice_options(self, options);
    }

    /// `a=ice-lite` (RFC 8839 §5.3: session level only).
    pub fn ice_lite(&self) -> bool {
        self.has(names::ICE_LITE)
    }

    /// Adds or removes `a=ice-lite`.
    pub fn set_ice_lite(&mut self, on: bool) {
        media::set_flag(self, names::ICE_LITE, on);
    }

    /// Session-level `a=fingerprint`.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.value(names::FINGERPRINT)?.parse().ok()
    }

    /// Session-level `a=setup`.
    pub fn setup(&self) -> Option<Setup> {
        self.value(names::SETUP)?.parse().ok()
    }

    /// Session-level direction attribute.
    pub fn direction(&self) -> Option<Direction> {
        media::direction(&self.attributes)
    }

    /// Every `a=group` line.
    pub fn groups(&self) -> impl Iterator<Item = Group> + '_ {
        self.attributes
            .iter()
            .filter(|a| a.name == names::GROUP)
            .filter_map(|a| a.trimmed_value()?.parse().ok())
    }

    /// The `a=group:BUNDLE` group (RFC 8843), if any.
    pub fn bundle_group(&self) -> Option<Group> {
        self.groups().find(|g| g.semantics == "BUNDLE")
    }

    /// Replaces the BUNDLE group with `mids`, or removes it when empty.
    pub fn set_bundle_group(&mut self, mids: &[&str]) {
        let pos = self.attributes.iter().position(|a| {
            a.name == names::GROUP
                && a.trimmed_value()
                    .and_then(|v| v.split_ascii_whitespace().next())
                    == Some("BUNDLE")
        });
        let group = Group {
            semantics: "BUNDLE".into(),
            mids: mids.iter().map(|m| (*m).to_owned()).collect(),
        };
        let attr = Attribute::new(names::GROUP, group.to_string());
        match (pos, mids.is_empty()) {
            (Some(i), true) => {
                self.attributes.remove(i);
            }
            (Some(i), false) => {
                if let Some(slot) = self.attributes.get_mut(i) {
                    *slot = attr;
                }
            }
            // Groups lead the attribute list in browser output.
            (None, false) => self.attributes.insert(0, attr),
            (None, true) => {}
        }
    }

    /// The `a=mid` of every section, in order (`None` where absent).
    pub fn mids(&self) -> Vec<Option<&str>> {
        self.media.iter().map(MediaDescription::mid).collect()
    }

    /// The section with the given `a=mid`.
    pub fn media_by_mid(&self, mid: &str) -> Option<&MediaDescription> {
        self.media.iter().find(|m| m.mid() == Some(mid))
    }

    /// The effective `a=ice-ufrag` of section `index`: media level wins over
    /// session level (RFC 8839 §5.4).
    pub fn ice_ufrag_for(&self, index: usize) -> Option<&str> {
        self.media
            .get(index)
            .and_then(MediaDescription::ice_ufrag)
            .or_else(|| self.ice_ufrag())
    }

    /// The effective `a=ice-pwd` of section `index` (media level wins).
    pub fn ice_pwd_for(&self, index: usize) -> Option<&str> {
        self.media
            .get(index)
            .and_then(MediaDescription::ice_pwd)
            .or_else(|| self.ice_pwd())
    }

    /// The effective `a=ice-options` of section `index` (media level wins).
    pub fn ice_options_for(&self, index: usize) -> Option<Vec<IceOption>> {
        self.media
            .get(index)
            .and_then(MediaDescription::ice_options)
            .or_else(|| self.ice_options())
    }

    /// The effective `a=fingerprint` of section `index` (media level wins,
    /// RFC 8122 §5).
    pub fn fingerprint_for(&self, index: usize) -> Option<Fingerprint> {
        self.media
            .get(index)
            .and_then(MediaDescription::fingerprint)
            .or_else(|| self.fingerprint())
    }

    /// The effective `a=setup` of section `index` (media level wins).
    pub fn setup_for(&self, index: usize) -> Option<Setup> {
        self.media
            .get(index)
            .and_then(MediaDescription::setup)
            .or_else(|| self.setup())
    }

    /// The effective direction of section `index`: media level, else
    /// session level, else `sendrecv` (RFC 8866 §6.7).
    pub fn direction_for(&self, index: usize) -> Direction {
        self.media
            .get(index)
            .and_then(MediaDescription::direction)
            .or_else(|| self.direction())
            .unwrap_or(Direction::SendRecv)
    }
}

impl FromStr for SessionDescription {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SessionDescription::parse(s)
    }
}

impl fmt::Display for SessionDescription {
    /// Writes the description in grammar order with CRLF line endings
    /// (RFC 8866 §5 requires CRLF on output).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("v=0\r\n")?;
        write!(f, "o={}\r\n", self.origin)?;
        write!(f, "s={}\r\n", self.session_name)?;
        if let Some(i) = &self.information {
            write!(f, "i={i}\r\n")?;
        }
        if let Some(u) = &self.uri {
            write!(f, "u={u}\r\n")?;
        }
        for e in &self.emails {
            write!(f, "e={e}\r\n")?;
        }
        for p in &self.phones {
            write!(f, "p={p}\r\n")?;
        }
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        for b in &self.bandwidths {
            write!(f, "b={b}\r\n")?;
        }
        for t in &self.timings {
            write!(f, "t={} {}\r\n", t.start, t.stop)?;
            for r in &t.repeats {
                write!(f, "r={r}\r\n")?;
            }
        }
        if !self.time_zones.is_empty() {
            f.write_str("z=")?;
            for (i, z) in self.time_zones.iter().enumerate() {
                let sep = if i == 0 { "" } else { " " };
                let sign = if z.negative { "-" } else { "" };
                write!(f, "{sep}{} {sign}{}", z.time, z.offset)?;
            }
            f.write_str("\r\n")?;
        }
        if let Some(k) = &self.key {
            write!(f, "k={k}\r\n")?;
        }
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        for m in &self.media {
            m.fmt(f)?;
        }
        Ok(())
    }
}
