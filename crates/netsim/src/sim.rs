//! The simulation: virtual clock, event queue, topology and routing.

use std::any::type_name;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::host::{Datagram, Endpoint, Host, HostId, Interface, NetworkId, Segment};
use crate::link::{Direction, Link, LinkConfig, LinkStatsPair};
use crate::nat::{MappingInfo, Nat, NatBox, NatConfig, NatStats};
use crate::rng::Rng;

mod route;
use crate::trace::{DropReason, Fnv, SimStats, TraceEntry};

/// Events processed at one instant before the simulator decides an endpoint is spinning.
const MAX_EVENTS_PER_INSTANT: u64 = 1_000_000;

/// How long [`Sim::run_idle`] runs at most.
const IDLE_LIMIT: Duration = Duration::from_secs(3600);

/// Which link a datagram is crossing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LinkRef {
    Host(HostId),
    Wan(NetworkId),
}

/// Where a datagram is going next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hop {
    /// The router of a segment (the public internet or a private LAN), which forwards it.
    Router(Segment),
    /// The public side of a NAT box, which filters and translates it inwards.
    NatWan(NetworkId),
    /// A host's endpoint.
    Host(HostId),
}

/// A datagram in flight, arriving at `hop` at `at` after crossing `via`.
#[derive(Debug)]
struct Event {
    at: Duration,
    seq: u64,
    hop: Hop,
    via: (LinkRef, Direction),
    datagram: Datagram,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    /// Reversed, so the `BinaryHeap` pops the earliest event, ties broken by creation order.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A private network: its NAT box, WAN link and address counter.
#[derive(Debug)]
struct Network {
    nat: NatBox,
    wan: Link,
    next_host: u32,
}

/// Who owns an address on the public segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PublicOwner {
    Host(HostId),
    Nat(NetworkId),
}

/// What happens next in the simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Packet(Duration),
    Timeout(Duration, HostId),
}

impl Next {
    fn at(self) -> Duration {
        match self {
            Next::Packet(at) | Next::Timeout(at, _) => at,
        }
    }
}

/// A deterministic network simulation.
///
/// Time is virtual: [`Sim::now`] is an `Instant` taken once at creation plus the simulated time
/// elapsed, and only moves when the simulation runs. Every random choice (loss, jitter,
/// duplication, reordering, NAT ports) comes from streams derived from the seed, and
/// simultaneous events are processed in creation order, so the same seed and the same endpoints
/// give the same packets at the same times ([`Sim::trace_hash`]).
///
/// Topology: one public segment where public addresses reach each other directly; private
/// networks, each behind one NAT box with one public address; hosts with one or more
/// interfaces on either. See the crate documentation for the routing rules.
///
/// ```
/// use std::time::Duration;
/// use floe_netsim::{LinkConfig, Nat, Probe, Sim};
/// let mut sim = Sim::new(42);
/// let a = sim.add_host_behind(Nat::port_restricted(), Probe::new());
/// let b = sim.add_host_behind(Nat::open(), Probe::echo());
/// sim.set_link(a, LinkConfig::with_latency(Duration::from_millis(10)));
/// let (from, to) = (sim.addr(a, 5000), sim.addr(b, 7000));
/// sim.endpoint_mut::<Probe>(a).send(from, to, b"ping".to_vec());
/// sim.run_for(Duration::from_millis(100));
/// let echoed = &sim.endpoint::<Probe>(a).received[0];
/// assert_eq!(echoed.remote, to);
/// assert_eq!(echoed.at - sim.start(), Duration::from_millis(20));
/// ```
#[derive(Debug)]
pub struct Sim {
    start: Instant,
    now: Duration,
    seed: u64,
    root: Rng,
    hosts: Vec<Host>,
    networks: Vec<Network>,
    public: BTreeMap<IpAddr, PublicOwner>,
    private: BTreeMap<(NetworkId, IpAddr), HostId>,
    queue: BinaryHeap<Event>,
    seq: u64,
    tracing: bool,
    trace: Vec<TraceEntry>,
    hash: Fnv,
    stats: SimStats,
    drops: BTreeMap<DropReason, u64>,
    next_public: u32,
    instant_events: u64,
}

impl Sim {
    /// An empty simulation whose randomness is derived from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            start: Instant::now(),
            now: Duration::ZERO,
            seed,
            root: Rng::new(seed),
            hosts: Vec::new(),
            networks: Vec::new(),
            public: BTreeMap::new(),
            private: BTreeMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            tracing: false,
            trace: Vec::new(),
            hash: Fnv::default(),
            stats: SimStats::default(),
            drops: BTreeMap::new(),
            next_public: 0,
            instant_events: 0,
        }
    }

    /// The seed the simulation was created with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A random stream derived from the seed and `label`, independent of the simulator's own
    /// streams: handy to seed endpoints (transaction ids, ICE credentials) reproducibly.
    pub fn rng(&self, label: u64) -> Rng {
        self.root.derive(label ^ 0x5eed_0000_0000_0000)
    }

    /// The instant the simulation started at.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The current simulated instant.
    pub fn now(&self) -> Instant {
        self.start + self.now
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now
    }

    // -----------------------------------------------------------------------------------------
    // Topology

    /// A public address not in use yet (the caller is expected to use it).
    pub(crate) fn fresh_public_ip(&mut self) -> IpAddr {
        loop {
            self.next_public += 1;
            let k = self.next_public;
            // The documentation ranges of RFC 5737, then 11.0.0.0/8.
            let ip = match k {
                1..=254 => Ipv4Addr::new(203, 0, 113, k as u8),
                255..=508 => Ipv4Addr::new(198, 51, 100, (k - 254) as u8),
                509..=762 => Ipv4Addr::new(192, 0, 2, (k - 508) as u8),
                _ => Ipv4Addr::from(0x0b00_0000 + k),
            };
            let ip = IpAddr::V4(ip);
            if !self.public.contains_key(&ip) {
                return ip;
            }
        }
    }

    /// Adds a NAT box with an automatically chosen public address (from 203.0.113.0/24 on);
    /// its private network hands out 10.x.y.2, 10.x.y.3... to [`Sim::add_private_host`].
    pub fn add_nat(&mut self, config: NatConfig) -> NetworkId {
        let ip = self.fresh_public_ip();
        self.add_nat_at(ip, config)
    }

    /// Adds a NAT box with public address `public_ip`.
    ///
    /// # Panics
    /// When the address is already used on the public segment.
    pub fn add_nat_at(&mut self, public_ip: IpAddr, config: NatConfig) -> NetworkId {
        let id = NetworkId(self.networks.len());
        assert!(
            !self.public.contains_key(&public_ip),
            "public address {public_ip} is already in use"
        );
        self.public.insert(public_ip, PublicOwner::Nat(id));
        let label = id.0 as u64;
        self.networks.push(Network {
            nat: NatBox::new(config, public_ip, self.root.derive((3 << 32) | label)),
            wan: Link::new(LinkConfig::default(), self.root.derive((2 << 32) | label)),
            next_host: 2,
        });
        id
    }

    /// Adds a host with one interface on `segment` at address `ip`.
    ///
    /// # Panics
    /// When the address is already used on that segment or the network does not exist.
    pub fn add_host_at(
        &mut self,
        segment: Segment,
        ip: IpAddr,
        endpoint: impl Endpoint + 'static,
    ) -> HostId {
        let id = HostId(self.hosts.len());
        self.hosts.push(Host {
            endpoint: Box::new(endpoint),
            interfaces: Vec::new(),
            link: Link::new(
                LinkConfig::default(),
                self.root.derive((1 << 32) | id.0 as u64),
            ),
            timeout: None,
        });
        self.add_interface(id, segment, ip);
        id
    }

    /// Adds an interface to a host (multi-homing), with address `ip` on `segment`. All of a
    /// host's interfaces share its access link.
    ///
    /// # Panics
    /// When the address is already used on that segment or the network does not exist.
    pub fn add_interface(&mut self, host: HostId, segment: Segment, ip: IpAddr) {
        match segment {
            Segment::Public => {
                assert!(
                    !self.public.contains_key(&ip),
                    "public address {ip} is already in use"
                );
                self.public.insert(ip, PublicOwner::Host(host));
            }
            Segment::Private(net) => {
                assert!(net.0 < self.networks.len(), "no network {}", net.0);
                assert!(
                    !self.private.contains_key(&(net, ip)),
                    "address {ip} is already in use in network {}",
                    net.0
                );
                self.private.insert((net, ip), host);
            }
        }
        self.hosts[host.0]
            .interfaces
            .push(Interface { ip, segment });
    }

    /// Adds a host on the public segment with an automatically chosen address.
    pub fn add_public_host(&mut self, endpoint: impl Endpoint + 'static) -> HostId {
        let ip = self.fresh_public_ip();
        self.add_host_at(Segment::Public, ip, endpoint)
    }

    /// Adds a host in private network `net` with the next free address of that network.
    pub fn add_private_host(
        &mut self,
        net: NetworkId,
        endpoint: impl Endpoint + 'static,
    ) -> HostId {
        let ip = loop {
            let network = &mut self.networks[net.0];
            let k = network.next_host;
            network.next_host += 1;
            let n = net.0;
            assert!(k <= 254, "private network {n} has no free address left");
            let ip = IpAddr::V4(Ipv4Addr::new(10, (n >> 8) as u8, n as u8, k as u8));
            if !self.private.contains_key(&(net, ip)) {
                break ip;
            }
        };
        self.add_host_at(Segment::Private(net), ip, endpoint)
    }

    /// Adds a host placed according to `nat`: on the public segment for [`Nat::Open`], else
    /// alone in a new private network behind a new NAT box with that behaviour.
    pub fn add_host_behind(&mut self, nat: Nat, endpoint: impl Endpoint + 'static) -> HostId {
        match nat {
            Nat::Open => self.add_public_host(endpoint),
            Nat::Translating(config) => {
                let net = self.add_nat(config);
                self.add_private_host(net, endpoint)
            }
        }
    }

    /// The address of the host's first interface.
    pub fn ip(&self, host: HostId) -> IpAddr {
        self.hosts[host.0].interfaces[0].ip
    }

    /// The addresses of all the host's interfaces, in the order they were added.
    pub fn ips(&self, host: HostId) -> Vec<IpAddr> {
        self.hosts[host.0].interfaces.iter().map(|i| i.ip).collect()
    }

    /// The host's first address with `port`.
    pub fn addr(&self, host: HostId, port: u16) -> SocketAddr {
        SocketAddr::new(self.ip(host), port)
    }

    /// Where the host's first interface is attached.
    pub fn segment(&self, host: HostId) -> Segment {
        self.hosts[host.0].interfaces[0].segment
    }

    /// The private network of the host's first interface, `None` when it is public.
    pub fn network_of(&self, host: HostId) -> Option<NetworkId> {
        match self.segment(host) {
            Segment::Public => None,
            Segment::Private(net) => Some(net),
        }
    }

    /// The public address of a network's NAT box.
    pub fn public_ip(&self, net: NetworkId) -> IpAddr {
        self.networks[net.0].nat.public_ip
    }

    /// Number of hosts.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Sets the host's access link (both directions).
    pub fn set_link(&mut self, host: HostId, config: LinkConfig) {
        self.hosts[host.0].link.config = config;
    }

    /// Sets the WAN link between a NAT box and the public internet (both directions).
    pub fn set_wan_link(&mut self, net: NetworkId, config: LinkConfig) {
        self.networks[net.0].wan.config = config;
    }

    /// Replaces a NAT box's behaviour; live mappings are kept.
    pub fn set_nat(&mut self, net: NetworkId, config: NatConfig) {
        self.networks[net.0].nat.config = config;
    }

    // -----------------------------------------------------------------------------------------
    // Endpoints and statistics

    /// The host's endpoint as its concrete type.
    ///
    /// # Panics
    /// When the endpoint is not a `T`.
    pub fn endpoint<T: 'static>(&self, host: HostId) -> &T {
        self.hosts[host.0]
            .endpoint
            .as_any()
            .downcast_ref()
            .unwrap_or_else(|| panic!("host {} is not a {}", host.0, type_name::<T>()))
    }

    /// The host's endpoint as its concrete type, mutably. Datagrams it queues and timeouts it
    /// sets are picked up at the next step.
    ///
    /// # Panics
    /// When the endpoint is not a `T`.
    pub fn endpoint_mut<T: 'static>(&mut self, host: HostId) -> &mut T {
        self.try_endpoint_mut(host)
            .unwrap_or_else(|| panic!("host {} is not a {}", host.0, type_name::<T>()))
    }

    /// The host's endpoint as a `T`, or `None` when it is another type.
    pub fn try_endpoint_mut<T: 'static>(&mut self, host: HostId) -> Option<&mut T> {
        self.hosts[host.0].endpoint.as_any_mut().downcast_mut()
    }

    /// Counters of the host's access link.
    pub fn link_stats(&self, host: HostId) -> LinkStatsPair {
        self.hosts[host.0].link.stats
    }

    /// Counters of a NAT box's WAN link.
    pub fn wan_stats(&self, net: NetworkId) -> LinkStatsPair {
        self.networks[net.0].wan.stats
    }

    /// Counters of a NAT box.
    pub fn nat_stats(&self, net: NetworkId) -> NatStats {
        self.networks[net.0].nat.stats
    }

    /// The NAT box's live mappings (expired ones are removed first), by external port.
    pub fn mappings(&mut self, net: NetworkId) -> Vec<MappingInfo> {
        let nat = &mut self.networks[net.0].nat;
        nat.expire(self.now);
        nat.mappings(self.now)
    }

    /// Whole-simulation counters.
    pub fn stats(&self) -> SimStats {
        self.stats
    }

    /// Datagrams dropped for `reason` so far.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops.get(&reason).copied().unwrap_or(0)
    }

    /// Turns recording of [`Sim::trace`] on or off (off by default; the hash is always kept).
    pub fn set_trace(&mut self, on: bool) {
        self.tracing = on;
    }

    /// The recorded trace.
    pub fn trace(&self) -> &[TraceEntry] {
        &self.trace
    }

    /// Removes and returns the recorded trace.
    pub fn take_trace(&mut self) -> Vec<TraceEntry> {
        std::mem::take(&mut self.trace)
    }

    /// A hash of every trace event so far (times, addresses and payloads), recorded whether or
    /// not tracing is on: equal for two runs that behaved identically.
    pub fn trace_hash(&self) -> u64 {
        self.hash.0
    }

    /// Datagrams in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    // -----------------------------------------------------------------------------------------
    // Running

    /// Sends a datagram from `host` now, as if its endpoint had emitted it.
    pub fn send(&mut self, host: HostId, datagram: Datagram) {
        self.send_from(host, datagram);
    }

    /// Drains every endpoint's transmits and re-reads its timeout. Done at the start of every
    /// step; call it to see the effect of [`Sim::endpoint_mut`] before stepping.
    pub fn flush(&mut self) {
        for h in 0..self.hosts.len() {
            self.drain(HostId(h));
        }
    }

    fn next(&self) -> Option<Next> {
        let packet = self.queue.peek().map(|e| Next::Packet(e.at));
        let timeout = self
            .hosts
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let at = h
                    .timeout?
                    .saturating_duration_since(self.start)
                    .max(self.now);
                Some(Next::Timeout(at, HostId(i)))
            })
            .min_by_key(|n| n.at());
        match (packet, timeout) {
            (Some(p), Some(t)) => Some(if p.at() <= t.at() { p } else { t }),
            (p, t) => p.or(t),
        }
    }

    /// When the next event (delivery or endpoint timeout) is due, if any.
    pub fn next_event_time(&mut self) -> Option<Instant> {
        self.flush();
        self.next().map(|n| self.start + n.at())
    }

    fn advance(&mut self, at: Duration) {
        if at > self.now {
            self.now = at;
            self.instant_events = 0;
        }
        self.instant_events += 1;
        self.stats.events += 1;
        assert!(
            self.instant_events < MAX_EVENTS_PER_INSTANT,
            "more than {MAX_EVENTS_PER_INSTANT} events at {:?}: an endpoint keeps asking for \
             an immediate timeout or sending without end",
            self.now
        );
    }

    /// Processes the next event: one datagram hop or one endpoint timeout, advancing the clock
    /// to it. Returns false when nothing is pending.
    pub fn step(&mut self) -> bool {
        self.flush();
        match self.next() {
            None => false,
            Some(Next::Packet(_)) => {
                let event = self.queue.pop().expect("peeked");
                self.advance(event.at);
                self.arrive(event);
                true
            }
            Some(Next::Timeout(at, host)) => {
                self.advance(at);
                let now = self.now();
                self.hosts[host.0].endpoint.handle_timeout(now);
                self.drain(host);
                true
            }
        }
    }

    /// Processes every event due at or before `deadline`, then sets the clock to `deadline`
    /// (when it is in the future).
    pub fn run_until(&mut self, deadline: Instant) {
        let limit = deadline.saturating_duration_since(self.start);
        while self.next_event_time().is_some_and(|t| t <= deadline) {
            self.step();
        }
        self.now = self.now.max(limit);
    }

    /// Runs for `duration` of simulated time.
    pub fn run_for(&mut self, duration: Duration) {
        let deadline = self.now() + duration;
        self.run_until(deadline);
    }

    /// Steps until `condition` holds (checked before the first step and after each), for at
    /// most `max` of simulated time. Returns whether the condition was met; the clock stops at
    /// the event that met it, or at `now + max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use floe_netsim::{Nat, Probe, Sim};
    /// let mut sim = Sim::new(3);
    /// let a = sim.add_host_behind(Nat::open(), Probe::new());
    /// let (from, to) = (sim.addr(a, 1), sim.addr(a, 2));
    /// sim.endpoint_mut::<Probe>(a).send(from, to, vec![0]);
    /// let ok = sim.run_until_condition(
    ///     |sim| !sim.endpoint::<Probe>(a).received.is_empty(),
    ///     Duration::from_secs(1),
    /// );
    /// assert!(ok);
    /// ```
    pub fn run_until_condition(
        &mut self,
        mut condition: impl FnMut(&mut Sim) -> bool,
        max: Duration,
    ) -> bool {
        let deadline = self.now() + max;
        loop {
            if condition(self) {
                return true;
            }
            match self.next_event_time() {
                Some(t) if t <= deadline => {
                    self.step();
                }
                _ => {
                    self.now = deadline - self.start;
                    return condition(self);
                }
            }
        }
    }

    /// Runs until no datagram is in flight and no endpoint has a timeout pending (for at most an
    /// hour of simulated time, as agents with keepalives never go idle). Returns whether it went
    /// idle.
    pub fn run_idle(&mut self) -> bool {
        let deadline = self.now() + IDLE_LIMIT;
        while let Some(t) = self.next_event_time() {
            if t > deadline {
                return false;
            }
            self.step();
        }
        true
    }
}
