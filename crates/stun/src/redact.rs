//! Addresses in log fields, hidden on request.
//!
//! The sans-IO crates of floe log through `tracing`, and an address in a log line says where a
//! user is. Every crate formats the addresses it logs through [`Addr`], so one process-wide
//! switch, [`set_redact_addresses`], hides them all: an IP address then shows only its family
//! and the kind of network it is on (loopback, private, link-local, shared, public), which is
//! what debugging connectivity needs; the port stays.
//!
//! [`Addr`] formats only when an event is written: a disabled event costs nothing, and an
//! enabled one costs one relaxed atomic load more.

use core::fmt;
use core::net::{IpAddr, SocketAddr};
use core::sync::atomic::{AtomicBool, Ordering};

/// The switch; off until [`set_redact_addresses`] turns it on.
static REDACT: AtomicBool = AtomicBool::new(false);

/// Hides (or shows again) the IP addresses of every log field formatted through [`Addr`], in
/// every floe crate of the process.
pub fn set_redact_addresses(redact: bool) {
    REDACT.store(redact, Ordering::Relaxed);
}

/// True while addresses are hidden.
pub fn redact_addresses() -> bool {
    REDACT.load(Ordering::Relaxed)
}

/// An address as a log field: `tracing::debug!(remote = %Addr(addr), ...)`. Shown as is, or
/// with [`set_redact_addresses`] as `<ipv4 private>:5000`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Addr<A>(pub A);

impl fmt::Display for Addr<SocketAddr> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if redact_addresses() {
            write!(f, "{}:{}", Addr(self.0.ip()), self.0.port())
        } else {
            self.0.fmt(f)
        }
    }
}

impl fmt::Display for Addr<IpAddr> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if redact_addresses() {
            let family = if self.0.is_ipv4() { "ipv4" } else { "ipv6" };
            write!(f, "<{family} {}>", scope(self.0))
        } else {
            self.0.fmt(f)
        }
    }
}

impl fmt::Display for Addr<Option<SocketAddr>> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(a) => Addr(a).fmt(f),
            None => f.write_str("none"),
        }
    }
}

/// What kind of network an address is on: enough to tell a LAN path from a NAT'd one.
fn scope(ip: IpAddr) -> &'static str {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                "loopback"
            } else if v4.is_private() {
                "private"
            } else if v4.is_link_local() {
                "link-local"
            } else if a == 100 && (64..128).contains(&b) {
                // RFC 6598: carrier-grade NAT.
                "shared"
            } else if v4.is_unspecified() {
                "unspecified"
            } else {
                "public"
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                "loopback"
            } else if first & 0xffc0 == 0xfe80 {
                "link-local"
            } else if first & 0xfe00 == 0xfc00 {
                // RFC 4193 unique local addresses.
                "private"
            } else if v6.is_unspecified() {
                "unspecified"
            } else {
                "public"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_the_address_but_keeps_family_scope_and_port() {
        let a: SocketAddr = "192.168.1.7:5000".parse().unwrap();
        let b: SocketAddr = "[2001:db8::1]:6000".parse().unwrap();
        let c: SocketAddr = "[fe80::1]:7000".parse().unwrap();
        assert_eq!(Addr(a).to_string(), "192.168.1.7:5000");
        set_redact_addresses(true);
        let shown = (
            Addr(a).to_string(),
            Addr(b).to_string(),
            Addr(c).to_string(),
        );
        set_redact_addresses(false);
        assert_eq!(shown.0, "<ipv4 private>:5000");
        assert_eq!(shown.1, "<ipv6 public>:6000");
        assert_eq!(shown.2, "<ipv6 link-local>:7000");
        assert_eq!(Addr(b.ip()).to_string(), "2001:db8::1");
    }
}
