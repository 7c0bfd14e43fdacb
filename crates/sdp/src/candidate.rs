//! ICE candidates: the `a=candidate` attribute of RFC 8839 §5.1, and the
//! trickled `candidate` string of an RTCIceCandidate.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::error::CandidateError;

/// Longest candidate string accepted, in bytes; bounds the extension list.
pub const MAX_CANDIDATE_LEN: usize = 4096;

/// Longest host name accepted as a candidate address (RFC 1035 §2.3.4).
const MAX_FQDN_LEN: usize = 253;

/// The transport of a candidate (RFC 8839 §5.1 `transport`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `udp`.
    Udp,
    /// `tcp` (RFC 6544).
    Tcp,
    /// Any other `transport-extension` token, kept as written.
    Other(String),
}

impl Transport {
    fn parse(s: &str) -> Result<Self, CandidateError> {
        if s.eq_ignore_ascii_case("udp") {
            Ok(Transport::Udp)
        } else if s.eq_ignore_ascii_case("tcp") {
            Ok(Transport::Tcp)
        } else if is_token(s) {
            Ok(Transport::Other(s.to_owned()))
        } else {
            Err(CandidateError::InvalidTransport)
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Other(s) => s,
        })
    }
}

/// The candidate type (RFC 8839 §5.1 `cand-type`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CandidateType {
    /// `host`.
    Host,
    /// `srflx`: server reflexive.
    ServerReflexive,
    /// `prflx`: peer reflexive.
    PeerReflexive,
    /// `relay`: relayed.
    Relay,
    /// Any other token, kept as written.
    Other(String),
}

impl CandidateType {
    fn parse(s: &str) -> Result<Self, CandidateError> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "host" => CandidateType::Host,
            "srflx" => CandidateType::ServerReflexive,
            "prflx" => CandidateType::PeerReflexive,
            "relay" => CandidateType::Relay,
            _ if is_token(s) => CandidateType::Other(s.to_owned()),
            _ => return Err(CandidateError::InvalidType),
        })
    }
}

impl fmt::Display for CandidateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CandidateType::Host => "host",
            CandidateType::ServerReflexive => "srflx",
            CandidateType::PeerReflexive => "prflx",
            CandidateType::Relay => "relay",
            CandidateType::Other(s) => s,
        })
    }
}

/// The TCP candidate type of RFC 6544 §4.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpType {
    /// `active`: opens connections, does not accept them.
    Active,
    /// `passive`: accepts connections, does not open them.
    Passive,
    /// `so`: simultaneous open.
    SimultaneousOpen,
}

impl FromStr for TcpType {
    type Err = CandidateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "active" => Ok(TcpType::Active),
            "passive" => Ok(TcpType::Passive),
            "so" => Ok(TcpType::SimultaneousOpen),
            _ => Err(CandidateError::InvalidTcpType),
        }
    }
}

impl fmt::Display for TcpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpType::Active => "active",
            TcpType::Passive => "passive",
            TcpType::SimultaneousOpen => "so",
        })
    }
}

/// A candidate's connection address: an IP address, or a fully qualified
/// domain name such as an mDNS `<uuid>.local` name (RFC 8839 §5.1 allows
/// an FQDN; the ICE agent resolves it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CandidateAddress {
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A host name.
    Fqdn(String),
}

impl CandidateAddress {
    /// The IP address, if this is not a host name.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            CandidateAddress::Ip(ip) => Some(*ip),
            CandidateAddress::Fqdn(_) => None,
        }
    }

    /// Whether this is an mDNS name (ends in `.local`, RFC 6762).
    pub fn is_mdns(&self) -> bool {
        match self {
            CandidateAddress::Fqdn(name) => {
                let n = name.trim_end_matches('.');
                n.len() > 6
                    && n.get(n.len() - 6..)
                        .is_some_and(|t| t.eq_ignore_ascii_case(".local"))
            }
            CandidateAddress::Ip(_) => false,
        }
    }
}

impl FromStr for CandidateAddress {
    type Err = CandidateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(CandidateAddress::Ip(ip));
        }
        // Host names: letters, digits, '-', '_' and dots (liberal: '_' is
        // common in lab setups), bounded by the DNS name length.
        let ok = !s.is_empty()
            && s.len() <= MAX_FQDN_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if ok {
            Ok(CandidateAddress::Fqdn(s.to_owned()))
        } else {
            Err(CandidateError::InvalidAddress)
        }
    }
}

impl fmt::Display for CandidateAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CandidateAddress::Ip(ip) => ip.fmt(f),
            CandidateAddress::Fqdn(name) => f.write_str(name),
        }
    }
}

impl From<IpAddr> for CandidateAddress {
    fn from(ip: IpAddr) -> Self {
        CandidateAddress::Ip(ip)
    }
}

/// One ICE candidate (RFC 8839 §5.1).
///
/// `Display` writes the canonical `candidate:...` text in Chromium's field
/// order (`raddr`, `rport`, `tcptype`, then extensions as stored); the
/// alternate form `{:#}` leaves out the `candidate:` prefix, which is the
/// `a=candidate` attribute value. [`FromStr`] accepts the string with or
/// without the `candidate:` (or `a=candidate:`) prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// Foundation: 1 to 32 `ice-char`s.
    pub foundation: String,
    /// Component id: 1 for RTP / data, 2 for RTCP.
    pub component: u16,
    /// Transport protocol.
    pub transport: Transport,
    /// Priority (RFC 8445 §5.1.2).
    pub priority: u32,
    /// Connection address.
    pub address: CandidateAddress,
    /// Port.
    pub port: u16,
    /// Candidate type (`typ`).
    pub typ: CandidateType,
    /// Related address (`raddr`), for reflexive and relayed candidates.
    pub related_address: Option<CandidateAddress>,
    /// Related port (`rport`).
    pub related_port: Option<u16>,
    /// TCP candidate type (`tcptype`, RFC 6544 §4.5).
    pub tcp_type: Option<TcpType>,
    /// Other extension name/value pairs in order, e.g. `generation`,
    /// `ufrag`, `network-id`, `network-cost`.
    pub extensions: Vec<(String, String)>,
}

impl Candidate {
    /// A candidate with no related address, tcptype or extensions.
    pub fn new(
        foundation: impl Into<String>,
        component: u16,
        transport: Transport,
        priority: u32,
        address: CandidateAddress,
        port: u16,
        typ: CandidateType,
    ) -> Self {
        Self {
            foundation: foundation.into(),
            component,
            transport,
            priority,
            address,
            port,
            typ,
            related_address: None,
            related_port: None,
            tcp_type: None,
            extensions: Vec::new(),
        }
    }

    /// The value of the first extension called `name`, e.g. `ufrag`.
    pub fn extension(&self, name: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `ufrag` extension that trickled candidates carry.
    pub fn ufrag(&self) -> Option<&str> {
        self.extension("ufrag")
    }

    /// The text without the `candidate:` prefix (the `a=candidate` value).
    pub fn to_value_string(&self) -> String {
        format!("{self:#}")
    }

    /// Parses an `a=candidate` value (no prefix allowed).
    pub fn parse_value(s: &str) -> Result<Self, CandidateError> {
        if s.len() > MAX_CANDIDATE_LEN {
            return Err(CandidateError::TooLong);
        }
        let mut it = s.split_ascii_whitespace();
        let foundation = it.next().ok_or(CandidateError::Missing("foundation"))?;
        if foundation.len() > 32 || !foundation.bytes().all(is_ice_char) {
            return Err(CandidateError::InvalidFoundation);
        }
        let component = next(&mut it, "component id")?;
        let component =
            parse_digits::<u16>(component, 3).ok_or(CandidateError::InvalidComponent)?;
        let transport = Transport::parse(next(&mut it, "transport")?)?;
        let priority = next(&mut it, "priority")?;
        let priority = parse_digits::<u32>(priority, 10).ok_or(CandidateError::InvalidPriority)?;
        let address = next(&mut it, "connection address")?.parse()?;
        let port = next(&mut it, "port")?;
        let port = parse_digits::<u16>(port, 5).ok_or(CandidateError::InvalidPort)?;
        if !next(&mut it, "typ")?.eq_ignore_ascii_case("typ") {
            return Err(CandidateError::InvalidType);
        }
        let typ = CandidateType::parse(next(&mut it, "candidate type")?)?;
        let mut cand = Candidate::new(
            foundation.to_owned(),
            component,
            transport,
            priority,
            address,
            port,
            typ,
        );
        // Extensions come in name/value pairs; raddr, rport and tcptype get
        // their own fields wherever they appear (liberal about order).
        while let Some(name) = it.next() {
            let value = it
                .next()
                .ok_or_else(|| CandidateError::DanglingExtension(name.to_owned()))?;
            match name {
                "raddr" => {
                    if cand.related_address.is_some() {
                        return Err(CandidateError::Duplicate("raddr"));
                    }
                    let a = value
                        .parse()
                        .map_err(|_| CandidateError::InvalidRelatedAddress)?;
                    cand.related_address = Some(a);
                }
                "rport" => {
                    if cand.related_port.is_some() {
                        return Err(CandidateError::Duplicate("rport"));
                    }
                    let p =
                        parse_digits::<u16>(value, 5).ok_or(CandidateError::InvalidRelatedPort)?;
                    cand.related_port = Some(p);
                }
                "tcptype" => {
                    if cand.tcp_type.is_some() {
                        return Err(CandidateError::Duplicate("tcptype"));
                    }
                    cand.tcp_type = Some(value.parse()?);
                }
                _ => cand.extensions.push((name.to_owned(), value.to_owned())),
            }
        }
        Ok(cand)
    }
}

impl FromStr for Candidate {
    type Err = CandidateError;

    /// Accepts `candidate:...`, `a=candidate:...` or the bare value.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_CANDIDATE_LEN {
            return Err(CandidateError::TooLong);
        }
        let s = s.trim();
        let s = s.strip_prefix("a=").unwrap_or(s);
        let s = match s.get(..10) {
            Some(p) if p.eq_ignore_ascii_case("candidate:") => s.get(10..).unwrap_or_default(),
            _ => s,
        };
        Candidate::parse_value(s)
    }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            f.write_str("candidate:")?;
        }
        write!(
            f,
            "{} {} {} {} {} {} typ {}",
            self.foundation,
            self.component,
            self.transport,
            self.priority,
            self.address,
            self.port,
            self.typ
        )?;
        if let Some(a) = &self.related_address {
            write!(f, " raddr {a}")?;
        }
        if let Some(p) = self.related_port {
            write!(f, " rport {p}")?;
        }
        if let Some(t) = self.tcp_type {
            write!(f, " tcptype {t}")?;
        }
        for (n, v) in &self.extensions {
            write!(f, " {n} {v}")?;
        }
        Ok(())
    }
}

fn next<'a>(
    it: &mut impl Iterator<Item = &'a str>,
    what: &'static str,
) -> Result<&'a str, CandidateError> {
    it.next().ok_or(CandidateError::Missing(what))
}

/// Parses 1 to `max` ASCII digits into `T`, rejecting signs and overflow.
pub(crate) fn parse_digits<T: FromStr>(s: &str, max: usize) -> Option<T> {
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `ice-char = ALPHA / DIGIT / "+" / "/"` (RFC 8839 §5.1).
pub(crate) fn is_ice_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// `token` of RFC 8866 §9.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'{'
                        | b'|'
                        | b'}'
                        | b'~'
                )
        })
}
