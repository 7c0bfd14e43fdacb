//! Conversions between the agent's candidates ([`floe_ice::Candidate`]) and the SDP ones
//! ([`floe_sdp::Candidate`]): the one place they meet.
//!
//! The `candidate:` prefix, one rule across the crates: the W3C `RTCIceCandidateInit.candidate`
//! string carries it (`candidate:1 1 udp …`), and so does [`floe_sdp::Candidate`]'s `Display`;
//! inside SDP the line is `a=candidate:…`, whose value (`{:#}`,
//! [`floe_sdp::Candidate::to_value_string`]) has none. `FromStr` takes either form.

use std::net::SocketAddr;

use floe_ice::{CandidateKind, TcpType};
use floe_sdp::{CandidateAddress, CandidateType, Transport};

/// The SDP form of an agent candidate, with `raddr`/`rport` set to the candidate's base when it
/// is not a host candidate (for local relayed candidates use [`to_sdp_candidate_related`] with
/// `IceAgent::related_address`, which knows the mapped address).
pub fn to_sdp_candidate(c: &floe_ice::Candidate) -> floe_sdp::Candidate {
    to_sdp_candidate_related(c, base_as_related(c))
}

/// The base as the related address, for any candidate but a host one.
pub fn base_as_related(c: &floe_ice::Candidate) -> Option<SocketAddr> {
    c.base.filter(|_| c.kind != CandidateKind::Host)
}

/// The SDP form of an agent candidate with the given related address (RFC 8839 §5.1).
pub fn to_sdp_candidate_related(
    c: &floe_ice::Candidate,
    related: Option<SocketAddr>,
) -> floe_sdp::Candidate {
    let typ = match c.kind {
        CandidateKind::Host => CandidateType::Host,
        CandidateKind::ServerReflexive => CandidateType::ServerReflexive,
        CandidateKind::PeerReflexive => CandidateType::PeerReflexive,
        CandidateKind::Relayed => CandidateType::Relay,
    };
    let mut out = floe_sdp::Candidate::new(
        c.foundation.clone(),
        c.component,
        if c.tcp_type.is_some() {
            Transport::Tcp
        } else {
            Transport::Udp
        },
        c.priority,
        CandidateAddress::Ip(c.address.ip()),
        c.address.port(),
        typ,
    );
    if let Some(related) = related {
        out.related_address = Some(CandidateAddress::Ip(related.ip()));
        out.related_port = Some(related.port());
    }
    // RFC 6544 §4.5: a TCP candidate says which way it connects.
    out.tcp_type = c.tcp_type.map(|t| match t {
        TcpType::Active => floe_sdp::TcpType::Active,
        TcpType::Passive => floe_sdp::TcpType::Passive,
        TcpType::SimultaneousOpen => floe_sdp::TcpType::SimultaneousOpen,
    });
    out
}

/// Why a remote candidate is skipped rather than handed to the agent.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Unusable {
    /// A transport other than UDP and TCP, a TCP candidate without its `tcptype` (RFC 6544
    /// §4.5), or a TCP candidate while the agent's `ice_tcp` is off.
    Transport,
    /// An FQDN or mDNS `.local` name: not resolved yet.
    Fqdn(String),
    /// An unknown candidate type.
    Type,
}

/// The agent form of a remote SDP candidate, or why it cannot be used.
pub fn from_sdp_candidate(c: &floe_sdp::Candidate) -> Result<floe_ice::Candidate, Unusable> {
    let tcp_type = match (&c.transport, c.tcp_type) {
        (Transport::Udp, _) => None,
        (Transport::Tcp, Some(t)) => Some(match t {
            floe_sdp::TcpType::Active => TcpType::Active,
            floe_sdp::TcpType::Passive => TcpType::Passive,
            floe_sdp::TcpType::SimultaneousOpen => TcpType::SimultaneousOpen,
        }),
        _ => return Err(Unusable::Transport),
    };
    let ip = match &c.address {
        CandidateAddress::Ip(ip) => *ip,
        CandidateAddress::Fqdn(name) => return Err(Unusable::Fqdn(name.clone())),
    };
    let kind = match c.typ {
        CandidateType::Host => CandidateKind::Host,
        CandidateType::ServerReflexive => CandidateKind::ServerReflexive,
        CandidateType::PeerReflexive => CandidateKind::PeerReflexive,
        CandidateType::Relay => CandidateKind::Relayed,
        CandidateType::Other(_) => return Err(Unusable::Type),
    };
    let base = match (&c.related_address, c.related_port) {
        (Some(CandidateAddress::Ip(ip)), Some(port)) => Some(SocketAddr::new(*ip, port)),
        _ => None,
    };
    Ok(floe_ice::Candidate {
        kind,
        address: SocketAddr::new(ip, c.port),
        base,
        priority: c.priority,
        foundation: c.foundation.clone(),
        component: c.component,
        tcp_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_round_trip_through_sdp() {
        let c = floe_ice::Candidate {
            kind: CandidateKind::ServerReflexive,
            address: "192.0.2.7:40000".parse().unwrap(),
            base: Some("10.0.0.2:5000".parse().unwrap()),
            priority: 1_686_052_607,
            foundation: "2".into(),
            component: 1,
            tcp_type: None,
        };
        let sdp = to_sdp_candidate(&c);
        let text = sdp.to_string();
        assert_eq!(
            text,
            "candidate:2 1 udp 1686052607 192.0.2.7 40000 typ srflx raddr 10.0.0.2 rport 5000"
        );
        let parsed: floe_sdp::Candidate = text.parse().unwrap();
        assert_eq!(from_sdp_candidate(&parsed).unwrap(), c);
    }

    #[test]
    fn tcp_candidates_convert_both_ways_with_their_tcptype() {
        for text in [
            "candidate:1 1 tcp 1518280447 10.0.0.1 9 typ host tcptype active",
            "candidate:2 1 tcp 1518214911 10.0.0.1 5000 typ host tcptype passive",
            "candidate:3 1 tcp 1518149375 10.0.0.1 5001 typ host tcptype so",
        ] {
            let sdp: floe_sdp::Candidate = text.parse().unwrap();
            let c = from_sdp_candidate(&sdp).unwrap();
            assert!(c.tcp_type.is_some());
            assert_eq!(to_sdp_candidate(&c).to_string(), text);
            assert_eq!(c.to_sdp_string(), text);
        }
        // RFC 6544 §4.5: a TCP candidate without its tcptype cannot be paired.
        let bare: floe_sdp::Candidate = "candidate:1 1 tcp 1 10.0.0.1 9 typ host".parse().unwrap();
        assert_eq!(from_sdp_candidate(&bare), Err(Unusable::Transport));
    }

    #[test]
    fn mdns_candidates_are_skipped() {
        let mdns: floe_sdp::Candidate = "candidate:1 1 udp 1 abc.local 9 typ host".parse().unwrap();
        assert!(matches!(from_sdp_candidate(&mdns), Err(Unusable::Fqdn(_))));
    }
}
