//! NAT boxes with the behaviours catalogued by RFC 4787 (NAT Behavioral Requirements for
//! Unicast UDP).
//!
//! A NAT box owns one public IP address and translates the datagrams of the hosts of one private
//! network. Each behaviour is a separate knob of [`NatConfig`]:
//!
//! - mapping (§4.1): which outbound flows share an external address and port,
//! - port assignment (§4.1.1): whether the internal port is kept,
//! - mapping refresh and timeout (§4.3): how long an idle mapping lives,
//! - filtering (§5): which inbound datagrams an existing mapping lets through,
//! - hairpinning (§6): whether a host may reach another host of its own network through the
//!   NAT's public address.
//!
//! The classic names map onto these knobs as in RFC 4787 §3 and RFC 5780: full cone is
//! endpoint-independent mapping and filtering, (address-)restricted cone adds address-dependent
//! filtering, port-restricted cone address-and-port-dependent filtering, and symmetric combines
//! address-and-port-dependent mapping and filtering.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::rng::Rng;

/// When an outbound datagram reuses an existing mapping (RFC 4787 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MappingBehavior {
    /// Endpoint-independent mapping (EIM, §4.1): one external address and port per internal
    /// address and port, whatever the destination. RFC 4787 REQ-1 requires this.
    EndpointIndependent,
    /// Address-dependent mapping (§4.1): reused only for the same destination IP address.
    AddressDependent,
    /// Address-and-port-dependent mapping (§4.1): reused only for the same destination IP
    /// address and port (the "symmetric NAT" mapping).
    AddressAndPortDependent,
}

/// Which inbound datagrams a mapping forwards to the internal host (RFC 4787 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FilteringBehavior {
    /// Endpoint-independent filtering (EIF, §5): anything sent to the external address and port
    /// is forwarded.
    EndpointIndependent,
    /// Address-dependent filtering (ADF, §5): only from IP addresses the internal endpoint has
    /// sent to through this mapping, any port.
    AddressDependent,
    /// Address-and-port-dependent filtering (APDF, §5): only from the exact IP addresses and
    /// ports the internal endpoint has sent to through this mapping.
    AddressAndPortDependent,
}

/// How the external port of a new mapping is chosen (RFC 4787 §4.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortAssignment {
    /// Port preservation (§4.1.1): keep the internal port when it is free on the public
    /// address; otherwise fall back to a random port.
    Preserving,
    /// A random free port in 1024-65535, drawn from the simulation's seeded stream.
    Random,
}

/// The full behaviour of a NAT box.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatConfig {
    /// Mapping behaviour (RFC 4787 §4.1).
    pub mapping: MappingBehavior,
    /// Filtering behaviour (RFC 4787 §5).
    pub filtering: FilteringBehavior,
    /// Port assignment (RFC 4787 §4.1.1).
    pub port_assignment: PortAssignment,
    /// Hairpinning (RFC 4787 §6): a host inside may reach another host inside (or itself)
    /// through the public address, and sees the external address of the sender as source
    /// (REQ-9). Off by default, as in many consumer NATs, although REQ-9 asks for it.
    pub hairpinning: bool,
    /// How long a mapping lives without being refreshed (RFC 4787 §4.3; REQ-5 asks for at
    /// least two minutes, which is the default).
    pub mapping_timeout: Duration,
    /// Whether inbound datagrams refresh a mapping too (RFC 4787 §4.3 "NAT Inbound refresh
    /// behavior"); outbound datagrams always do (REQ-6). Off by default.
    pub inbound_refresh: bool,
}

impl NatConfig {
    /// A NAT with the given mapping and filtering, port preservation, no hairpinning, a
    /// two-minute mapping timeout and outbound-only refresh.
    pub fn new(mapping: MappingBehavior, filtering: FilteringBehavior) -> Self {
        Self {
            mapping,
            filtering,
            port_assignment: PortAssignment::Preserving,
            hairpinning: false,
            mapping_timeout: Duration::from_secs(120),
            inbound_refresh: false,
        }
    }
}

/// Where a host sits: on the public internet ("open") or behind a NAT box.
///
/// The presets use the classic names (RFC 4787 §3 explains why they are imprecise; each preset
/// documents its exact behaviours).
///
/// ```
/// use std::time::Duration;
/// use floe_netsim::{MappingBehavior, Nat};
/// let nat = Nat::symmetric().with_hairpinning(true).with_mapping_timeout(Duration::from_secs(30));
/// assert_eq!(nat.config().unwrap().mapping, MappingBehavior::AddressAndPortDependent);
/// assert!(Nat::open().is_open());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Nat {
    /// No NAT: the host has a public address.
    Open,
    /// Behind a NAT box with this behaviour.
    Translating(NatConfig),
}

impl Nat {
    /// No NAT: the host sits directly on the public segment.
    pub fn open() -> Self {
        Nat::Open
    }

    /// Full cone: endpoint-independent mapping and filtering, port preservation.
    pub fn full_cone() -> Self {
        Nat::Translating(NatConfig::new(
            MappingBehavior::EndpointIndependent,
            FilteringBehavior::EndpointIndependent,
        ))
    }

    /// (Address-)restricted cone: endpoint-independent mapping, address-dependent filtering,
    /// port preservation.
    pub fn address_restricted() -> Self {
        Nat::Translating(NatConfig::new(
            MappingBehavior::EndpointIndependent,
            FilteringBehavior::AddressDependent,
        ))
    }

    /// Port-restricted cone: endpoint-independent mapping, address-and-port-dependent
    /// filtering, port preservation.
    pub fn port_restricted() -> Self {
        Nat::Translating(NatConfig::new(
            MappingBehavior::EndpointIndependent,
            FilteringBehavior::AddressAndPortDependent,
        ))
    }

    /// Symmetric: address-and-port-dependent mapping and filtering, random ports.
    pub fn symmetric() -> Self {
        let mut config = NatConfig::new(
            MappingBehavior::AddressAndPortDependent,
            FilteringBehavior::AddressAndPortDependent,
        );
        config.port_assignment = PortAssignment::Random;
        Nat::Translating(config)
    }

    /// A NAT with any combination of mapping and filtering behaviour.
    pub fn custom(mapping: MappingBehavior, filtering: FilteringBehavior) -> Self {
        Nat::Translating(NatConfig::new(mapping, filtering))
    }

    /// True for [`Nat::Open`].
    pub fn is_open(&self) -> bool {
        matches!(self, Nat::Open)
    }

    /// The NAT behaviour, `None` when open.
    pub fn config(&self) -> Option<&NatConfig> {
        match self {
            Nat::Open => None,
            Nat::Translating(config) => Some(config),
        }
    }

    fn map(mut self, f: impl FnOnce(&mut NatConfig)) -> Self {
        if let Nat::Translating(config) = &mut self {
            f(config);
        }
        self
    }

    /// Turns hairpinning (RFC 4787 §6) on or off; no effect when open.
    pub fn with_hairpinning(self, on: bool) -> Self {
        self.map(|c| c.hairpinning = on)
    }

    /// Sets the mapping timeout (RFC 4787 §4.3); no effect when open.
    pub fn with_mapping_timeout(self, timeout: Duration) -> Self {
        self.map(|c| c.mapping_timeout = timeout)
    }

    /// Sets the port assignment (RFC 4787 §4.1.1); no effect when open.
    pub fn with_port_assignment(self, ports: PortAssignment) -> Self {
        self.map(|c| c.port_assignment = ports)
    }

    /// Sets whether inbound traffic refreshes mappings (RFC 4787 §4.3); no effect when open.
    pub fn with_inbound_refresh(self, on: bool) -> Self {
        self.map(|c| c.inbound_refresh = on)
    }
}

/// Counters of one NAT box.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NatStats {
    /// Outbound datagrams translated (including hairpinned ones).
    pub outbound: u64,
    /// Inbound datagrams translated and forwarded (including hairpinned ones).
    pub inbound: u64,
    /// Inbound datagrams dropped by filtering (RFC 4787 §5).
    pub filtered: u64,
    /// Inbound datagrams to an external port with no (live) mapping.
    pub no_mapping: u64,
    /// Datagrams that took the hairpin (RFC 4787 §6).
    pub hairpinned: u64,
    /// Datagrams to the NAT's own public address dropped because hairpinning is off.
    pub hairpin_refused: u64,
    /// Mappings created (RFC 4787 §4.1).
    pub mappings_created: u64,
    /// Mappings removed after the timeout (RFC 4787 §4.3).
    pub mappings_expired: u64,
}

/// A snapshot of one live mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MappingInfo {
    /// The internal (private) address and port.
    pub internal: SocketAddr,
    /// The external (public) address and port.
    pub external: SocketAddr,
    /// Time left before the mapping expires unless refreshed.
    pub expires_in: Duration,
}

/// Why a NAT dropped a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NatDrop {
    Filtered,
    NoMapping,
    PortsExhausted,
}

/// The destination part of a mapping's key, as far as the mapping behaviour looks at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum DestKey {
    Any,
    Ip(IpAddr),
    IpPort(SocketAddr),
}

#[derive(Debug)]
struct Mapping {
    internal: SocketAddr,
    key: DestKey,
    /// Offset from the simulation start of the last refresh.
    refreshed: Duration,
    /// Remote endpoints the internal host has sent to through this mapping (for §5 filtering).
    contacted: BTreeSet<SocketAddr>,
}

/// The live translation state of one NAT box.
#[derive(Debug)]
pub(crate) struct NatBox {
    pub(crate) config: NatConfig,
    pub(crate) public_ip: IpAddr,
    pub(crate) stats: NatStats,
    /// Live mappings by external port; each mapping has its own port.
    by_port: BTreeMap<u16, Mapping>,
    by_key: BTreeMap<(SocketAddr, DestKey), u16>,
    rng: Rng,
}

const FIRST_DYNAMIC_PORT: u16 = 1024;

impl NatBox {
    pub(crate) fn new(config: NatConfig, public_ip: IpAddr, rng: Rng) -> Self {
        Self {
            config,
            public_ip,
            stats: NatStats::default(),
            by_port: BTreeMap::new(),
            by_key: BTreeMap::new(),
            rng,
        }
    }

    fn dest_key(&self, destination: SocketAddr) -> DestKey {
        match self.config.mapping {
            MappingBehavior::EndpointIndependent => DestKey::Any,
            MappingBehavior::AddressDependent => DestKey::Ip(destination.ip()),
            MappingBehavior::AddressAndPortDependent => DestKey::IpPort(destination),
        }
    }

    /// Drops every mapping idle for the timeout or longer (RFC 4787 §4.3).
    pub(crate) fn expire(&mut self, now: Duration) {
        let timeout = self.config.mapping_timeout;
        let expired: Vec<u16> = self
            .by_port
            .iter()
            .filter(|(_, m)| now >= m.refreshed + timeout)
            .map(|(&port, _)| port)
            .collect();
        for port in expired {
            if let Some(m) = self.by_port.remove(&port) {
                self.by_key.remove(&(m.internal, m.key));
                self.stats.mappings_expired += 1;
            }
        }
    }

    /// Chooses the external port of a new mapping (RFC 4787 §4.1.1).
    fn allocate_port(&mut self, internal_port: u16) -> Option<u16> {
        if self.config.port_assignment == PortAssignment::Preserving
            && internal_port != 0
            && !self.by_port.contains_key(&internal_port)
        {
            return Some(internal_port);
        }
        let span = u64::from(u16::MAX - FIRST_DYNAMIC_PORT) + 1;
        for _ in 0..64 {
            let port = FIRST_DYNAMIC_PORT + self.rng.below(span) as u16;
            if !self.by_port.contains_key(&port) {
                return Some(port);
            }
        }
        (FIRST_DYNAMIC_PORT..=u16::MAX).find(|p| !self.by_port.contains_key(p))
    }

    /// Translates the source of an outbound datagram, creating or refreshing a mapping
    /// (RFC 4787 §4.1, §4.3 REQ-6).
    pub(crate) fn outbound(
        &mut self,
        now: Duration,
        source: SocketAddr,
        destination: SocketAddr,
    ) -> Result<SocketAddr, NatDrop> {
        self.expire(now);
        let key = self.dest_key(destination);
        let port = match self.by_key.get(&(source, key)) {
            Some(&port) => port,
            None => {
                let port = self
                    .allocate_port(source.port())
                    .ok_or(NatDrop::PortsExhausted)?;
                self.by_port.insert(
                    port,
                    Mapping {
                        internal: source,
                        key,
                        refreshed: now,
                        contacted: BTreeSet::new(),
                    },
                );
                self.by_key.insert((source, key), port);
                self.stats.mappings_created += 1;
                port
            }
        };
        let mapping = self
            .by_port
            .get_mut(&port)
            .expect("mapping indexed by port");
        mapping.refreshed = now;
        mapping.contacted.insert(destination);
        self.stats.outbound += 1;
        Ok(SocketAddr::new(self.public_ip, port))
    }

    /// Filters (RFC 4787 §5) and translates the destination of an inbound datagram sent from
    /// `remote` to the public address at `port`; returns the internal destination.
    pub(crate) fn inbound(
        &mut self,
        now: Duration,
        remote: SocketAddr,
        port: u16,
    ) -> Result<SocketAddr, NatDrop> {
        self.expire(now);
        let Some(mapping) = self.by_port.get_mut(&port) else {
            self.stats.no_mapping += 1;
            return Err(NatDrop::NoMapping);
        };
        let allowed = match self.config.filtering {
            FilteringBehavior::EndpointIndependent => true,
            FilteringBehavior::AddressDependent => {
                mapping.contacted.iter().any(|a| a.ip() == remote.ip())
            }
            FilteringBehavior::AddressAndPortDependent => mapping.contacted.contains(&remote),
        };
        if !allowed {
            self.stats.filtered += 1;
            return Err(NatDrop::Filtered);
        }
        if self.config.inbound_refresh {
            mapping.refreshed = now;
        }
        self.stats.inbound += 1;
        Ok(mapping.internal)
    }

    pub(crate) fn mappings(&self, now: Duration) -> Vec<MappingInfo> {
        self.by_port
            .iter()
            .map(|(&port, m)| MappingInfo {
                internal: m.internal,
                external: SocketAddr::new(self.public_ip, port),
                expires_in: (m.refreshed + self.config.mapping_timeout).saturating_sub(now),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn nat(nat: Nat) -> NatBox {
        NatBox::new(
            nat.config().unwrap().clone(),
            "203.0.113.1".parse().unwrap(),
            Rng::new(5),
        )
    }

    #[test]
    fn address_dependent_mapping_keys_on_ip_only() {
        let mut n = nat(Nat::custom(
            MappingBehavior::AddressDependent,
            FilteringBehavior::EndpointIndependent,
        ));
        let src = addr("10.0.0.2:5000");
        let a = n.outbound(Duration::ZERO, src, addr("1.1.1.1:1")).unwrap();
        let b = n.outbound(Duration::ZERO, src, addr("1.1.1.1:2")).unwrap();
        let c = n.outbound(Duration::ZERO, src, addr("2.2.2.2:1")).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.port(), 5000, "first mapping preserves the port");
    }

    #[test]
    fn preserved_port_taken_falls_back_to_another() {
        let mut n = nat(Nat::full_cone());
        let a = n
            .outbound(Duration::ZERO, addr("10.0.0.2:5000"), addr("1.1.1.1:1"))
            .unwrap();
        let b = n
            .outbound(Duration::ZERO, addr("10.0.0.3:5000"), addr("1.1.1.1:1"))
            .unwrap();
        assert_eq!(a.port(), 5000);
        assert_ne!(b.port(), 5000);
        assert!(b.port() >= FIRST_DYNAMIC_PORT);
    }

    #[test]
    fn inbound_refresh_is_optional() {
        let t = Duration::from_secs;
        let mut n = nat(Nat::full_cone()
            .with_mapping_timeout(t(10))
            .with_inbound_refresh(true));
        let ext = n
            .outbound(t(0), addr("10.0.0.2:5000"), addr("1.1.1.1:1"))
            .unwrap();
        assert!(n.inbound(t(8), addr("1.1.1.1:1"), ext.port()).is_ok());
        assert!(n.inbound(t(16), addr("1.1.1.1:1"), ext.port()).is_ok());
        assert_eq!(
            n.inbound(t(27), addr("1.1.1.1:1"), ext.port()),
            Err(NatDrop::NoMapping)
        );
        assert_eq!(n.stats.mappings_expired, 1);
    }
}
