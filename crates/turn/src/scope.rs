//! Internal address ranges: where a TURN server must not relay by default (RFC 8656 §21.4)
//! and where a redirect from a server outside them must not send a client (RFC 8489 §10).

use core::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use ipnet::IpNet;

/// Loopback, "this network", private (RFC 1918), shared (CGNAT, RFC 6598), IETF protocol
/// assignments, link-local, benchmarking, multicast and reserved IPv4; unspecified, loopback,
/// unique-local, link-local and multicast IPv6, and the 6to4 and Teredo prefixes, which tunnel
/// to arbitrary IPv4 addresses.
const INTERNAL: &[&str] = &[
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

fn internal_ranges() -> &'static [IpNet] {
    static RANGES: OnceLock<Vec<IpNet>> = OnceLock::new();
    RANGES.get_or_init(|| INTERNAL.iter().filter_map(|s| s.parse().ok()).collect())
}

/// Whether `ip` is in an internal range, an IPv4 address embedded in IPv6 (mapped, compatible,
/// NAT64) judged as IPv4.
pub(crate) fn is_internal(ip: IpAddr) -> bool {
    if internal_ranges().iter().any(|n| n.contains(&ip)) {
        return true;
    }
    embedded_ipv4(ip).is_some_and(|v4| is_internal(IpAddr::V4(v4)))
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
