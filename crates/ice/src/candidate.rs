//! Candidates: types, priorities (RFC 8445 §5.1.2) and foundations (§5.1.1.3).

use core::fmt;
use core::net::{IpAddr, SocketAddr};

/// The candidate types of RFC 8445 §5.1.1.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CandidateKind {
    /// An address of a local interface.
    Host,
    /// The mapped address a STUN server saw.
    ServerReflexive,
    /// An address learnt from a connectivity check (RFC 8445 §7.2.5.3.1, §7.3.1.3).
    PeerReflexive,
    /// An address on a TURN server.
    Relayed,
}

impl CandidateKind {
    /// The recommended type preference (RFC 8445 §5.1.2.2).
    pub const fn type_preference(self) -> u32 {
        match self {
            CandidateKind::Host => 126,
            CandidateKind::PeerReflexive => 110,
            CandidateKind::ServerReflexive => 100,
            CandidateKind::Relayed => 0,
        }
    }

    /// The `typ` token of the SDP grammar (RFC 8839 §5.1).
    pub const fn sdp_name(self) -> &'static str {
        match self {
            CandidateKind::Host => "host",
            CandidateKind::ServerReflexive => "srflx",
            CandidateKind::PeerReflexive => "prflx",
            CandidateKind::Relayed => "relay",
        }
    }
}

impl fmt::Display for CandidateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sdp_name())
    }
}

/// The direction of a TCP candidate (RFC 6544 §4.5: the `tcptype` attribute).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum TcpType {
    /// Opens connections and never accepts them; signalled with port 9 (RFC 6544 §4.5).
    Active,
    /// Accepts connections and never opens them.
    Passive,
    /// Simultaneous open: both sides open at once. floe pairs such candidates but gathers none.
    SimultaneousOpen,
}

impl TcpType {
    /// The `tcptype` token of RFC 6544 §4.5.
    pub const fn sdp_name(self) -> &'static str {
        match self {
            TcpType::Active => "active",
            TcpType::Passive => "passive",
            TcpType::SimultaneousOpen => "so",
        }
    }

    /// The direction-pref of a host candidate (RFC 6544 §4.2: 6 active, 4 passive, 2 S-O).
    pub const fn direction_preference(self) -> u16 {
        match self {
            TcpType::Active => 6,
            TcpType::Passive => 4,
            TcpType::SimultaneousOpen => 2,
        }
    }

    /// True when a local candidate of this type may pair with a remote one of `remote`
    /// (RFC 6544 §6.2): active with passive, passive with active, S-O with S-O.
    pub const fn pairs_with(self, remote: TcpType) -> bool {
        matches!(
            (self, remote),
            (TcpType::Active, TcpType::Passive)
                | (TcpType::Passive, TcpType::Active)
                | (TcpType::SimultaneousOpen, TcpType::SimultaneousOpen)
        )
    }
}

impl fmt::Display for TcpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sdp_name())
    }
}

/// The port an active TCP candidate is signalled with: 9, the discard port (RFC 6544 §4.5).
pub const ACTIVE_TCP_PORT: u16 = 9;

/// The type preference of a TCP candidate: below every UDP one of the same type, so that no
/// TCP pair outranks a UDP pair of the same candidate types whatever the local preferences
/// (a departure from RFC 6544 §4.2, which keeps the UDP values; see DEVIATIONS.md).
pub const fn tcp_type_preference(kind: CandidateKind) -> u32 {
    match kind {
        CandidateKind::Host => 90,
        CandidateKind::PeerReflexive => 80,
        CandidateKind::ServerReflexive => 70,
        CandidateKind::Relayed => 0,
    }
}

/// The local preference of a TCP candidate (RFC 6544 §4.2): 2^13 · direction-pref +
/// other-pref, other-pref being 8191 for the first IP address and one less for each next one.
pub const fn tcp_local_preference(tcp_type: TcpType, ip_rank: usize) -> u16 {
    let other = if ip_rank > 8191 {
        0
    } else {
        8191 - ip_rank as u16
    };
    (tcp_type.direction_preference() << 13) | other
}

/// The priority of a TCP candidate: RFC 8445 §5.1.2.1 with [`tcp_type_preference`] and
/// [`tcp_local_preference`].
pub const fn tcp_candidate_priority(
    kind: CandidateKind,
    tcp_type: TcpType,
    ip_rank: usize,
    component: u16,
) -> u32 {
    (tcp_type_preference(kind) << 24)
        | ((tcp_local_preference(tcp_type, ip_rank) as u32) << 8)
        | (256 - component as u32)
}

/// Component ID of the only component floe handles: RTP/RTCP multiplexed data (RFC 8445 §4).
pub const COMPONENT_RTP: u16 = 1;

/// The priority formula of RFC 8445 §5.1.2.1.
pub const fn candidate_priority(kind: CandidateKind, local_preference: u16, component: u16) -> u32 {
    (kind.type_preference() << 24) | ((local_preference as u32) << 8) | (256 - component as u32)
}

/// Server slots per base: candidates of one type from up to this many servers on one base get
/// distinct local preferences.
pub const SERVER_SLOTS: usize = 16;

/// Local preference of a candidate on the base of rank `rank` among the bases of its address
/// family (in the driver's order), gathered through server `slot` (0 for host candidates).
///
/// Distinct for every (base, server) (RFC 8445 §5.1.2.1), and interleaving the families as
/// RFC 8421 §4 recommends: the first IPv6 base, then the first IPv4 one, then the second IPv6
/// one, and so on.
pub fn local_preference(rank: usize, ip: &IpAddr, slot: usize) -> u16 {
    let max_rank = usize::from(u16::MAX) / (2 * SERVER_SLOTS) - 1;
    let family = usize::from(ip.is_ipv4());
    let position = (2 * rank.min(max_rank) + family) * SERVER_SLOTS + slot.min(SERVER_SLOTS - 1);
    u16::MAX - u16::try_from(position).unwrap_or(u16::MAX)
}

/// A candidate: local or remote (RFC 8445 §5.1).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Candidate {
    /// Host, server-reflexive, peer-reflexive or relayed.
    pub kind: CandidateKind,
    /// The transport address.
    pub address: SocketAddr,
    /// The base (RFC 8445 §5.1.1.1): the local socket it sends from. For remote candidates the
    /// related address, where the peer gave one.
    pub base: Option<SocketAddr>,
    /// Priority (RFC 8445 §5.1.2).
    pub priority: u32,
    /// Foundation (RFC 8445 §5.1.1.3): equal for candidates of the same type, base IP, server
    /// and transport.
    pub foundation: String,
    /// Component ID; always 1 here.
    pub component: u16,
    /// `None` for a UDP candidate; the direction of a TCP one (RFC 6544).
    pub tcp_type: Option<TcpType>,
}

impl Candidate {
    /// The `candidate:` attribute value of RFC 8839 §5.1: transport `udp`, or `tcp` with its
    /// `tcptype` extension (RFC 6544 §4.5).
    pub fn to_sdp_string(&self) -> String {
        let mut s = format!(
            "candidate:{} {} {} {} {} {} typ {}",
            self.foundation,
            self.component,
            if self.tcp_type.is_some() {
                "tcp"
            } else {
                "udp"
            },
            self.priority,
            self.address.ip(),
            self.address.port(),
            self.kind
        );
        if let (Some(base), true) = (self.base, self.kind != CandidateKind::Host) {
            s.push_str(&format!(" raddr {} rport {}", base.ip(), base.port()));
        }
        if let Some(tcp_type) = self.tcp_type {
            s.push_str(" tcptype ");
            s.push_str(tcp_type.sdp_name());
        }
        s
    }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.address)
    }
}

/// Hands out foundations: one per (type, base IP, server), as RFC 8445 §5.1.1.3 asks.
#[derive(Clone, Debug, Default)]
pub(crate) struct Foundations {
    seen: Vec<(CandidateKind, IpAddr, Option<SocketAddr>, Option<TcpType>)>,
}

impl Foundations {
    pub(crate) fn foundation(
        &mut self,
        kind: CandidateKind,
        base_ip: IpAddr,
        server: Option<SocketAddr>,
    ) -> String {
        self.foundation_of(kind, base_ip, server, None)
    }

    /// The foundation of a candidate of `transport` (`None` for UDP). Active and passive TCP
    /// candidates get distinct foundations: a passive pair sends no check until the peer
    /// connects, so sharing a foundation with an active pair would freeze that pair behind it.
    pub(crate) fn foundation_of(
        &mut self,
        kind: CandidateKind,
        base_ip: IpAddr,
        server: Option<SocketAddr>,
        transport: Option<TcpType>,
    ) -> String {
        let key = (kind, base_ip, server, transport);
        let index = match self.seen.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                push_small(&mut self.seen, key);
                self.seen.len() - 1
            }
        };
        (index + 1).to_string()
    }

    pub(crate) fn clear(&mut self) {
        self.seen.clear();
    }
}

/// Pushes onto a vector that stays small, growing it by half instead of doubling (and from one
/// element instead of four), so an agent with one candidate holds room for one.
pub(crate) fn push_small<T>(vec: &mut Vec<T>, item: T) {
    if vec.len() == vec.capacity() {
        vec.reserve_exact((vec.len() / 2).max(1));
    }
    vec.push(item);
}

/// Strips an IPv6 zone/scope id: candidates must never leak it to the peer.
pub(crate) fn without_scope(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(mut v6) => {
            v6.set_scope_id(0);
            SocketAddr::V6(v6)
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_follows_rfc8445_formula() {
        assert_eq!(
            candidate_priority(CandidateKind::Host, 65535, 1),
            (126 << 24) | (65535 << 8) | 255
        );
        assert!(
            candidate_priority(CandidateKind::Host, 0, 1)
                > candidate_priority(CandidateKind::PeerReflexive, 65535, 1)
        );
        assert!(
            candidate_priority(CandidateKind::ServerReflexive, 0, 1)
                > candidate_priority(CandidateKind::Relayed, 65535, 1)
        );
        // RFC 8445 §5.1.2.1: peer-reflexive ranks above server-reflexive.
        assert!(
            candidate_priority(CandidateKind::PeerReflexive, 0, 1)
                > candidate_priority(CandidateKind::ServerReflexive, 65535, 1)
        );
    }

    #[test]
    fn local_preference_is_distinct_per_base_family_and_server() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let mut prefs: Vec<u16> = (0..4)
            .flat_map(|i| (0..3).map(move |s| (i, s)))
            .flat_map(|(i, s)| [local_preference(i, &v4, s), local_preference(i, &v6, s)])
            .collect();
        // RFC 8421 §4: v6 #0 > v4 #0 > v6 #1 > v4 #1.
        assert!(local_preference(0, &v6, 0) > local_preference(0, &v4, 0));
        assert!(local_preference(0, &v4, 0) > local_preference(1, &v6, 0));
        assert!(local_preference(1, &v6, 0) > local_preference(1, &v4, 0));
        prefs.sort();
        prefs.dedup();
        assert_eq!(prefs.len(), 24);
        // Huge ranks and slots saturate instead of overflowing.
        let _ = local_preference(usize::MAX, &v4, usize::MAX);
    }

    #[test]
    fn foundations_group_by_type_base_ip_and_server() {
        let mut f = Foundations::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let server: SocketAddr = "192.0.2.1:3478".parse().unwrap();
        let a = f.foundation(CandidateKind::Host, ip, None);
        let b = f.foundation(CandidateKind::Host, ip, None);
        let c = f.foundation(CandidateKind::ServerReflexive, ip, Some(server));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
