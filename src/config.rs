//! [`Configuration`], shaped like the browser's RTCConfiguration, and the ICE server URLs of
//! RFC 7064 (`stun:`, `stuns:`) and RFC 7065 (`turn:`, `turns:`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use crate::error::{Error, Result};

/// Default port of `stun:` and `turn:` URLs (RFC 8489 §9).
pub const DEFAULT_STUN_PORT: u16 = 3478;
/// Default port of `stuns:` and `turns:` URLs (RFC 8489 §9).
pub const DEFAULT_STUNS_PORT: u16 = 5349;
/// Default `a=sctp-port` (RFC 8841 §5: 5000 is what browsers use).
pub const DEFAULT_SCTP_PORT: u16 = 5000;

/// The scheme of an ICE server URL.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum IceServerScheme {
    /// `stun:` (RFC 7064).
    Stun,
    /// `stuns:` (RFC 7064): STUN over TLS or DTLS.
    Stuns,
    /// `turn:` (RFC 7065).
    Turn,
    /// `turns:` (RFC 7065).
    Turns,
}

impl IceServerScheme {
    /// The scheme as written in URLs, without the colon.
    pub const fn as_str(self) -> &'static str {
        match self {
            IceServerScheme::Stun => "stun",
            IceServerScheme::Stuns => "stuns",
            IceServerScheme::Turn => "turn",
            IceServerScheme::Turns => "turns",
        }
    }

    const fn default_port(self) -> u16 {
        match self {
            IceServerScheme::Stun | IceServerScheme::Turn => DEFAULT_STUN_PORT,
            IceServerScheme::Stuns | IceServerScheme::Turns => DEFAULT_STUNS_PORT,
        }
    }
}

/// A parsed ICE server URL: `stun:host[:port]`, `turn:host[:port][?transport=udp|tcp]`, ...
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct IceServerUrl {
    /// The scheme.
    pub scheme: IceServerScheme,
    /// Host name or IP address literal (IPv6 without brackets).
    pub host: String,
    /// The port, defaulted per scheme when the URL has none.
    pub port: u16,
    /// The `transport` query parameter of a TURN URL (RFC 7065 §3.1), if given.
    pub transport: Option<String>,
}

impl IceServerUrl {
    /// True for `stun:` URLs, the only kind the driver queries for server-reflexive
    /// candidates (`stuns:` is not supported; TURN servers yield them too).
    pub fn is_supported(&self) -> bool {
        self.scheme == IceServerScheme::Stun
    }

    /// How a TURN URL reaches its server (RFC 7065 §3): `turn:` over UDP unless
    /// `?transport=tcp`, `turns:` over TLS on TCP. `None` for STUN URLs.
    pub fn turn_transport(&self) -> Option<TurnUrlTransport> {
        let tcp = self
            .transport
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("tcp"));
        match self.scheme {
            IceServerScheme::Turn if tcp => Some(TurnUrlTransport::Tcp),
            IceServerScheme::Turn => Some(TurnUrlTransport::Udp),
            IceServerScheme::Turns => Some(TurnUrlTransport::Tls),
            IceServerScheme::Stun | IceServerScheme::Stuns => None,
        }
    }
}

/// The transport to a TURN server named by a URL.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum TurnUrlTransport {
    /// `turn:host` or `turn:host?transport=udp`.
    Udp,
    /// `turn:host?transport=tcp`.
    Tcp,
    /// `turns:host` (TLS over TCP; RFC 7065 allows no DTLS for `turns:` here).
    Tls,
}

impl FromStr for IceServerUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::InvalidConfiguration(format!("ICE server URL {s:?}: {why}"));
        let (scheme, rest) = s.split_once(':').ok_or_else(|| bad("no scheme"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "stun" => IceServerScheme::Stun,
            "stuns" => IceServerScheme::Stuns,
            "turn" => IceServerScheme::Turn,
            "turns" => IceServerScheme::Turns,
            _ => return Err(bad("scheme must be stun, stuns, turn or turns")),
        };
        // RFC 7064 §3.1: no "//" authority marker, no path; only TURN URLs have a query.
        let (hostport, query) = match rest.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (rest, None),
        };
        if hostport.starts_with("//") || hostport.contains('/') {
            return Err(bad("no \"//\" or path allowed (RFC 7064)"));
        }
        let transport = match (scheme, query) {
            (_, None) => None,
            (IceServerScheme::Turn | IceServerScheme::Turns, Some(q)) => {
                let value = q
                    .strip_prefix("transport=")
                    .ok_or_else(|| bad("only ?transport= is allowed"))?;
                if !matches!(value.to_ascii_lowercase().as_str(), "udp" | "tcp") {
                    return Err(bad("transport must be udp or tcp"));
                }
                Some(value.to_ascii_lowercase())
            }
            (_, Some(_)) => return Err(bad("stun: URLs take no query")),
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("bad host or port"))?;
        Ok(IceServerUrl {
            scheme,
            host,
            port: port.unwrap_or(scheme.default_port()),
            transport,
        })
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (v6, port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':'));
    if !host_ok {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0)?),
    };
    Some((host.to_owned(), port))
}

impl fmt::Display for IceServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}:[{}]:{}", self.scheme.as_str(), self.host, self.port)?;
        } else {
            write!(f, "{}:{}:{}", self.scheme.as_str(), self.host, self.port)?;
        }
        if let Some(t) = &self.transport {
            write!(f, "?transport={t}")?;
        }
        Ok(())
    }
}

/// RTCIceServer: one server reachable at one or more URLs.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct IceServer {
    /// `urls`, parsed.
    pub urls: Vec<IceServerUrl>,
    /// `username` (TURN only).
    pub username: Option<String>,
    /// `credential` (TURN only).
    pub credential: Option<String>,
}

impl IceServer {
    /// A server from URL strings; fails on the first malformed one.
    pub fn new<S: AsRef<str>>(urls: impl IntoIterator<Item = S>) -> Result<Self> {
        let urls = urls
            .into_iter()
            .map(|u| u.as_ref().parse())
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            urls,
            username: None,
            credential: None,
        })
    }
}

/// RTCIceTransportPolicy.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum IceTransportPolicy {
    /// Every candidate type.
    #[default]
    All,
    /// Relayed candidates only.
    Relay,
}

/// Which local addresses get a socket (one UDP socket, hence one host candidate, each).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct BindConfig {
    /// Bind exactly these addresses (port 0 picks an ephemeral port). Empty: enumerate the
    /// interfaces.
    pub addresses: Vec<SocketAddr>,
    /// When enumerating, also bind loopback addresses (needed to connect two peers on one host
    /// without a network).
    pub include_loopback: bool,
    /// When enumerating, leave IPv6 addresses out.
    pub ipv4_only: bool,
}

impl BindConfig {
    /// Binds exactly the given IP addresses with ephemeral ports.
    pub fn pinned(ips: impl IntoIterator<Item = IpAddr>) -> Self {
        Self {
            addresses: ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect(),
            ..Self::default()
        }
    }

    /// Binds 127.0.0.1 only: two peers on one host, no network needed.
    pub fn loopback() -> Self {
        Self::pinned([IpAddr::from([127, 0, 0, 1])])
    }

    /// The addresses to bind: the pinned ones, or every up interface address that qualifies.
    /// IPv6 link-local addresses are skipped (they need a scope id per interface).
    pub fn resolve(&self) -> Result<Vec<SocketAddr>> {
        if !self.addresses.is_empty() {
            return Ok(self.addresses.clone());
        }
        let mut out: Vec<SocketAddr> = Vec::new();
        for iface in if_addrs::get_if_addrs()? {
            let ip = iface.ip();
            let link_local_v6 = matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
            if (ip.is_loopback() && !self.include_loopback)
                || (ip.is_ipv6() && self.ipv4_only)
                || link_local_v6
                || ip.is_unspecified()
            {
                continue;
            }
            let addr = SocketAddr::new(ip, 0);
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
        if out.is_empty() {
            return Err(Error::NoUsableAddress);
        }
        Ok(out)
    }
}

/// RTCConfiguration, plus what a browser keeps to itself: which addresses to bind and the
/// application's DTLS/SCTP parameters for the SDP.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Configuration {
    /// `iceServers`. Only `stun:` URLs are used; others are kept and ignored for now.
    pub ice_servers: Vec<IceServer>,
    /// `iceTransportPolicy`.
    pub ice_transport_policy: IceTransportPolicy,
    /// Local addresses to bind.
    pub bind: BindConfig,
    /// `a=sctp-port` for the data channel section.
    pub sctp_port: u16,
    /// `a=fingerprint` as `(hash function, digest)`. `None`: a random placeholder, valid in
    /// syntax, since there is no DTLS yet.
    pub fingerprint: Option<(String, String)>,
    /// Seed of the ICE agent's CSPRNG (credentials, tie-breaker, transaction ids); `None`:
    /// 32 bytes from the OS. Set it only to make a test reproducible.
    pub seed: Option<[u8; 32]>,
    /// PEM files of certificate authorities to trust for `turns:` servers, besides the
    /// system's roots (a private CA, a test certificate).
    pub tls_ca_files: Vec<std::path::PathBuf>,
    /// Leave remote `.local` candidates unresolved instead of asking multicast DNS (RFC 6762)
    /// for their addresses; the peer's checks still reach us (peer-reflexive candidates).
    pub disable_mdns: bool,
    /// ICE over TCP (RFC 6544), off by default: a listening TCP socket on every host address
    /// (a passive candidate, on another port than the UDP socket) and an active candidate on
    /// each, and the peer's TCP candidates are used. Off by default because the listeners
    /// open TCP ports on every host address; UDP pairs are always preferred when both work.
    pub ice_tcp: bool,
    /// For tests: bind no UDP socket, so only TCP host candidates are gathered (no STUN or
    /// TURN either). Implies [`Configuration::ice_tcp`].
    pub no_udp: bool,
}

impl Default for Configuration {
    fn default() -> Self {
        Self {
            ice_servers: Vec::new(),
            ice_transport_policy: IceTransportPolicy::All,
            bind: BindConfig::default(),
            sctp_port: DEFAULT_SCTP_PORT,
            fingerprint: None,
            seed: None,
            tls_ca_files: Vec::new(),
            disable_mdns: false,
            ice_tcp: false,
            no_udp: false,
        }
    }
}

impl Configuration {
    /// The `turn:` and `turns:` servers the driver allocates on, with their credentials.
    pub fn turn_urls(&self) -> impl Iterator<Item = (&IceServerUrl, &str, &str)> {
        self.ice_servers.iter().flat_map(|s| {
            s.urls.iter().filter_map(move |u| {
                u.turn_transport().map(|_| {
                    (
                        u,
                        s.username.as_deref().unwrap_or_default(),
                        s.credential.as_deref().unwrap_or_default(),
                    )
                })
            })
        })
    }

    /// The supported (`stun:`) server URLs of every configured server.
    pub fn stun_urls(&self) -> impl Iterator<Item = &IceServerUrl> {
        self.ice_servers
            .iter()
            .flat_map(|s| s.urls.iter())
            .filter(|u| u.is_supported())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> IceServerUrl {
        s.parse().unwrap()
    }

    #[test]
    fn stun_urls_follow_rfc7064() {
        let u = url("stun:example.org");
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port),
            (IceServerScheme::Stun, "example.org", 3478)
        );
        assert_eq!(url("stun:127.0.0.1:19302").port, 19302);
        assert_eq!(url("stuns:example.org").port, 5349);
        let v6 = url("stun:[::1]:4000");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 4000));
        assert_eq!(v6.to_string(), "stun:[::1]:4000");
        for bad in [
            "stun://example.org",
            "http:example.org",
            "stun:",
            "stun:host:0",
            "stun:host:99999",
            "stun:host?transport=udp",
            "stun:[::1",
            "stun:host/path",
        ] {
            assert!(bad.parse::<IceServerUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn turn_urls_keep_transport_and_are_unsupported() {
        let u = url("turn:turn.example.org?transport=tcp");
        assert_eq!(u.transport.as_deref(), Some("tcp"));
        assert_eq!(u.port, 3478);
        assert!(!u.is_supported());
        assert!("turn:x?transport=sctp".parse::<IceServerUrl>().is_err());
        let cfg = Configuration {
            ice_servers: vec![IceServer::new(["stun:a", "turn:b"]).unwrap()],
            ..Configuration::default()
        };
        assert_eq!(cfg.stun_urls().count(), 1);
        assert_eq!(cfg.turn_urls().count(), 1);
        assert_eq!(u.turn_transport(), Some(TurnUrlTransport::Tcp));
        assert_eq!(
            url("turns:b:443").turn_transport(),
            Some(TurnUrlTransport::Tls)
        );
        assert_eq!(url("turn:b").turn_transport(), Some(TurnUrlTransport::Udp));
        assert_eq!(url("stun:b").turn_transport(), None);
    }

    #[test]
    fn pinned_addresses_are_bound_as_given() {
        let b = BindConfig::loopback();
        assert_eq!(b.resolve().unwrap(), vec!["127.0.0.1:0".parse().unwrap()]);
    }
}
