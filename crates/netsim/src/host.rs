//! Hosts and the [`Endpoint`] trait every simulated sans-IO endpoint implements.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::link::Link;

/// A sans-IO endpoint the simulator drives: an ICE agent adapter, a STUN or TURN server, a
/// scripted [`Probe`]...
///
/// The simulator calls `handle_datagram` / `handle_timeout`, then drains `poll_transmit` until it
/// returns `None`, then asks `poll_timeout` for the next wake-up. Transmits are also drained and
/// the timeout re-read before every simulation step, so a test may poke an endpoint through
/// [`Sim::endpoint_mut`](crate::Sim::endpoint_mut) between steps.
///
/// A test wraps its agent in a small adapter and reads the agent's events between steps:
///
/// ```
/// use std::net::SocketAddr;
/// use std::time::{Duration, Instant};
/// use floe_netsim::{Datagram, Endpoint, Nat, Sim};
///
/// /// Stands for a sans-IO agent: answers every datagram once, logs what it saw.
/// #[derive(Default)]
/// struct Adapter { events: Vec<String>, out: Vec<Datagram> }
///
/// impl Endpoint for Adapter {
///     fn handle_datagram(&mut self, _: Instant, local: SocketAddr, remote: SocketAddr, p: &[u8]) {
///         self.events.push(format!("{} bytes from {remote}", p.len()));
///         if p != b"ack" {
///             self.out.push(Datagram::new(local, remote, b"ack".to_vec()));
///         }
///     }
///     fn poll_transmit(&mut self, _: Instant) -> Option<Datagram> { self.out.pop() }
/// }
///
/// let mut sim = Sim::new(1);
/// let a = sim.add_host_behind(Nat::full_cone(), Adapter::default());
/// let b = sim.add_host_behind(Nat::open(), Adapter::default());
/// let (from, to) = (sim.addr(a, 1000), sim.addr(b, 2000));
/// sim.endpoint_mut::<Adapter>(a).out.push(Datagram::new(from, to, b"hello".to_vec()));
/// assert!(sim.run_until_condition(
///     |sim| !sim.endpoint_mut::<Adapter>(a).events.is_empty(),
///     Duration::from_secs(1),
/// ));
/// assert_eq!(sim.endpoint::<Adapter>(a).events, [format!("3 bytes from {to}")]);
/// ```
pub trait Endpoint {
    /// A datagram arrived on local address `local` from `remote`.
    fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    );

    /// The deadline returned by [`Endpoint::poll_timeout`] has passed; `now` is at or after it.
    fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
    }

    /// The next datagram to send, if any. Its `source` must be one of the host's addresses
    /// (any port); otherwise the simulator drops it.
    fn poll_transmit(&mut self, now: Instant) -> Option<Datagram>;

    /// When [`Endpoint::handle_timeout`] should be called next; `None` for never.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// A UDP datagram: addresses and payload.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Datagram {
    /// Source transport address (a local address when sent by an endpoint).
    pub source: SocketAddr,
    /// Destination transport address.
    pub destination: SocketAddr,
    /// The UDP payload.
    pub payload: Vec<u8>,
}

impl Datagram {
    /// A datagram from `source` to `destination`.
    pub fn new(source: SocketAddr, destination: SocketAddr, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            source,
            destination,
            payload: payload.into(),
        }
    }
}

impl fmt::Debug for Datagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Datagram({} -> {}, {} bytes)",
            self.source,
            self.destination,
            self.payload.len()
        )
    }
}

/// Identifies a host of a [`Sim`](crate::Sim).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(pub(crate) usize);

impl HostId {
    /// The host's index, in order of creation.
    pub fn index(self) -> usize {
        self.0
    }
}

/// Identifies a private network (and its NAT box) of a [`Sim`](crate::Sim).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetworkId(pub(crate) usize);

impl NetworkId {
    /// The network's index, in order of creation.
    pub fn index(self) -> usize {
        self.0
    }
}

/// Where an interface is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// The public internet: public addresses route directly to each other.
    Public,
    /// A private network behind one NAT box.
    Private(NetworkId),
}

/// A datagram received by a [`Probe`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// The local address it arrived on.
    pub local: SocketAddr,
    /// The source address as seen by the receiver (after any NAT translation).
    pub remote: SocketAddr,
    /// The payload.
    pub payload: Vec<u8>,
}

/// A scripted endpoint: sends what it is told to and records what it receives.
///
/// ```
/// use floe_netsim::{Nat, Probe, Sim};
/// let mut sim = Sim::new(1);
/// let a = sim.add_host_behind(Nat::open(), Probe::new());
/// let b = sim.add_host_behind(Nat::open(), Probe::new());
/// let (from, to) = (sim.addr(a, 4000), sim.addr(b, 5000));
/// sim.endpoint_mut::<Probe>(a).send(from, to, b"hi".to_vec());
/// sim.run_idle();
/// assert_eq!(sim.endpoint::<Probe>(b).received[0].remote, from);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Probe {
    /// Datagrams waiting to be sent, oldest first.
    pub outbox: VecDeque<Datagram>,
    /// Everything received, in order.
    pub received: Vec<Received>,
    /// When set, every received datagram is echoed back to its sender from the local address
    /// it arrived on.
    pub echo: bool,
}

impl Probe {
    /// An idle probe.
    pub fn new() -> Self {
        Self::default()
    }

    /// A probe that echoes everything it receives.
    pub fn echo() -> Self {
        Self {
            echo: true,
            ..Self::default()
        }
    }

    /// Queues a datagram; it leaves at the next simulation step.
    pub fn send(&mut self, source: SocketAddr, destination: SocketAddr, payload: Vec<u8>) {
        self.outbox
            .push_back(Datagram::new(source, destination, payload));
    }

    /// Removes and returns everything received so far.
    pub fn take_received(&mut self) -> Vec<Received> {
        std::mem::take(&mut self.received)
    }
}

impl Endpoint for Probe {
    fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    ) {
        if self.echo {
            self.send(local, remote, payload.to_vec());
        }
        self.received.push(Received {
            at: now,
            local,
            remote,
            payload: payload.to_vec(),
        });
    }

    fn poll_transmit(&mut self, _now: Instant) -> Option<Datagram> {
        self.outbox.pop_front()
    }
}

/// An endpoint the simulator can also hand back as its concrete type.
pub(crate) trait Node: Endpoint {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Endpoint + Any> Node for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// One address of a host and where it is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Interface {
    pub(crate) ip: IpAddr,
    pub(crate) segment: Segment,
}

/// A host: its endpoint, interfaces and access link.
pub(crate) struct Host {
    pub(crate) endpoint: Box<dyn Node>,
    pub(crate) interfaces: Vec<Interface>,
    pub(crate) link: Link,
    /// The endpoint's last reported wake-up.
    pub(crate) timeout: Option<Instant>,
}

impl Host {
    pub(crate) fn interface(&self, ip: IpAddr) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.ip == ip)
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("interfaces", &self.interfaces)
            .field("link", &self.link)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
