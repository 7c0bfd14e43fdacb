//! Which peers the server relays to (RFC 8656 §21.4 and §22, "Attacks on the Internal
//! Network"): a TURN server on the Internet must not become a way into the network it runs in.
//! By default it refuses, with 403 Forbidden, peers in loopback, private (RFC 1918), shared
//! (CGNAT, RFC 6598), link-local, multicast, unspecified, reserved and unique-local ranges, the
//! 6to4 and Teredo prefixes (which tunnel to arbitrary IPv4 addresses), IPv4 addresses embedded
//! in IPv6 (mapped, NAT64) that fall in those ranges, port 0, and the server's own listening
//! addresses (a client could otherwise nest allocations inside the server). The operator opens
//! what it wants with [`super::ServerConfig::allowed_peers`].

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::IpNet;

/// The ranges refused unless allowed.
const DENIED: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
    "2002::/16",
    "2001::/32",
];

/// The peer policy of one server.
#[derive(Clone, Debug)]
pub(crate) struct PeerPolicy {
    denied: Vec<IpNet>,
    allowed: Vec<IpNet>,
}

impl PeerPolicy {
    pub(crate) fn new(allowed: &[IpNet]) -> Self {
        Self {
            denied: DENIED.iter().filter_map(|s| s.parse().ok()).collect(),
            allowed: allowed.to_vec(),
        }
    }

    /// Whether a permission for `ip` may be installed (RFC 8656 §10.2; CreatePermission has
    /// no port).
    pub(crate) fn permits_ip(&self, ip: IpAddr) -> bool {
        if self.allowed.iter().any(|n| n.contains(&ip)) {
            return true;
        }
        if self.denied.iter().any(|n| n.contains(&ip)) {
            return false;
        }
        // An IPv4 address inside IPv6 is judged as IPv4.
        match embedded_ipv4(ip) {
            Some(v4) => self.permits_ip(IpAddr::V4(v4)),
            None => true,
        }
    }

    /// Whether data may go to `peer` from a server listening on `listening` (RFC 8656 §11.2,
    /// §12.2): a permitted IP, a real port, and not the server itself.
    pub(crate) fn permits(&self, peer: SocketAddr, listening: SocketAddr) -> bool {
        peer.port() != 0 && !same_endpoint(peer, listening) && self.permits_ip(peer.ip())
    }
}

/// `peer` reaches the listening socket: the same address, or any address on its port when it
/// listens on all of them.
fn same_endpoint(peer: SocketAddr, listening: SocketAddr) -> bool {
    peer.port() == listening.port()
        && (peer.ip() == listening.ip() || listening.ip().is_unspecified())
}

/// The IPv4 address carried by an IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96) or
/// NAT64 (64:ff9b::/96) IPv6 address.
fn embedded_ipv4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else {
        return None;
    };
    let s = v6.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(tail()),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_ranges_are_refused_by_default() {
        let p = PeerPolicy::new(&[]);
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.1.1",
            "224.0.0.251",
            "255.255.255.255",
            "0.0.0.0",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "2002:c0a8:0101::1",
            "2001:0:4136:e378::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!p.permits_ip(ip(s)), "{s} permitted");
        }
    }

    #[test]
    fn public_addresses_are_permitted() {
        let p = PeerPolicy::new(&[]);
        for s in [
            "8.8.8.8",
            "198.51.100.7",
            "203.0.113.9",
            "172.32.0.1",
            "2001:db8::1",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(p.permits_ip(ip(s)), "{s} refused");
        }
    }

    #[test]
    fn allowed_ranges_open_what_the_operator_asks() {
        let p = PeerPolicy::new(&["127.0.0.0/8".parse().unwrap()]);
        assert!(p.permits_ip(ip("127.0.0.1")));
        assert!(!p.permits_ip(ip("10.0.0.1")));
    }

    #[test]
    fn port_zero_and_the_listening_socket_are_refused() {
        let p = PeerPolicy::new(&[]);
        let listening: SocketAddr = "198.51.100.1:3478".parse().unwrap();
        assert!(!p.permits("198.51.100.2:0".parse().unwrap(), listening));
        assert!(!p.permits(listening, listening));
        assert!(!p.permits(listening, "0.0.0.0:3478".parse().unwrap()));
        assert!(p.permits("198.51.100.1:50000".parse().unwrap(), listening));
    }
}
