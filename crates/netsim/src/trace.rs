//! The packet trace, its running hash, and whole-simulation counters.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::host::{HostId, NetworkId};

/// Why the simulator dropped a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Random loss on a link.
    Lost,
    /// Larger than a link's MTU.
    Oversized,
    /// Rejected by a NAT's filtering (RFC 4787 §5).
    Filtered,
    /// Sent to a NAT's public address on a port with no live mapping (RFC 4787 §4.3).
    NoMapping,
    /// Sent to the sender's own NAT's public address with hairpinning off (RFC 4787 §6).
    HairpinRefused,
    /// The NAT had no free external port (RFC 4787 §4.1.1).
    PortsExhausted,
    /// No host or NAT owns the destination address.
    Unroutable,
    /// The endpoint sent from an address its host does not have.
    UnknownSource,
}

/// What happened to a datagram at one point of its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TraceKind {
    /// An endpoint sent it.
    Sent(HostId),
    /// A NAT box rewrote it; the entry shows the addresses after translation.
    Translated(NetworkId),
    /// It reached a host's endpoint.
    Delivered(HostId),
    /// It was dropped.
    Dropped(DropReason),
}

/// One trace record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TraceEntry {
    /// Simulated time since the start.
    pub at: Duration,
    /// What happened.
    pub kind: TraceKind,
    /// Source address at this point of the path.
    pub source: SocketAddr,
    /// Destination address at this point of the path.
    pub destination: SocketAddr,
    /// Payload length in bytes.
    pub len: usize,
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            TraceKind::Sent(h) => format!("sent by host {}", h.index()),
            TraceKind::Translated(n) => format!("translated by nat {}", n.index()),
            TraceKind::Delivered(h) => format!("delivered to host {}", h.index()),
            TraceKind::Dropped(r) => format!("dropped ({r:?})"),
        };
        write!(
            f,
            "{:>10.6}s {} -> {} {}B {}",
            self.at.as_secs_f64(),
            self.source,
            self.destination,
            self.len,
            what
        )
    }
}

/// Whole-simulation counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SimStats {
    /// Datagrams sent by endpoints (or injected with [`Sim::send`](crate::Sim::send)).
    pub sent: u64,
    /// Datagrams handed to an endpoint (duplicates count twice).
    pub delivered: u64,
    /// Datagrams dropped, for any reason.
    pub dropped: u64,
    /// Simulation events processed (deliveries, hops and timeouts).
    pub events: u64,
}

/// A 64-bit FNV-1a hasher; stable across platforms and Rust versions, unlike `DefaultHasher`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fnv(pub(crate) u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn write_addr(&mut self, addr: &SocketAddr) {
        match addr {
            SocketAddr::V4(a) => self.write(&a.ip().octets()),
            SocketAddr::V6(a) => self.write(&a.ip().octets()),
        }
        self.write(&addr.port().to_be_bytes());
    }

    /// Folds one trace record (and its payload) into the hash.
    pub(crate) fn record(&mut self, entry: &TraceEntry, payload: &[u8]) {
        let (tag, id) = match entry.kind {
            TraceKind::Sent(h) => (0u8, h.0 as u64),
            TraceKind::Translated(n) => (1, n.0 as u64),
            TraceKind::Delivered(h) => (2, h.0 as u64),
            TraceKind::Dropped(r) => (3, r as u64),
        };
        self.write(&[tag]);
        self.write(&id.to_le_bytes());
        self.write(&(entry.at.as_nanos() as u64).to_le_bytes());
        self.write_addr(&entry.source);
        self.write_addr(&entry.destination);
        self.write(&(payload.len() as u64).to_le_bytes());
        self.write(payload);
    }
}
