//! The sans-IO one-shot resolver: queries for `.local` names, their retransmissions and
//! deadlines, matching responses, and a small cache.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::{Duration, Instant};

use crate::message::{
    encode_query, Message, Record, RecordData, RecordType, CLASS_IN, MDNS_IPV4, MDNS_IPV6,
    MDNS_PORT,
};
use crate::name::{Name, NameError};

/// Timing, address families and bounds of a [`Resolver`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ResolverConfig {
    /// Send queries to 224.0.0.251:5353.
    pub ipv4: bool,
    /// Send queries to \[ff02::fb\]:5353 (the driver picks the interface: the destination
    /// carries no scope id).
    pub ipv6: bool,
    /// Wait before the first retransmission; each later wait is twice the one before. With
    /// the defaults, queries go out at 0, 250 and 750 ms.
    pub retransmit_interval: Duration,
    /// Transmissions of each query, the first included (at least one is sent).
    pub max_transmissions: u32,
    /// A query with no answer by then ends with [`Event::TimedOut`]. RFC 6762 §5.1 suggests
    /// two or three seconds for one-shot queries; the default is 2 s, which also covers
    /// responders that answer a name at most once a second (Chromium's, RFC 6762 §6) when
    /// the first answer is lost.
    pub timeout: Duration,
    /// At most this many queries are outstanding; [`Resolver::resolve`] fails beyond it.
    pub max_outstanding: usize,
    /// At most this many resolved names are cached (0: no cache).
    pub max_cached: usize,
    /// A cached result lives for the smallest TTL of its records, but no longer than this.
    pub max_cache_ttl: Duration,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            ipv4: true,
            ipv6: false,
            retransmit_interval: Duration::from_millis(250),
            max_transmissions: 3,
            timeout: Duration::from_secs(2),
            max_outstanding: 64,
            max_cached: 256,
            max_cache_ttl: Duration::from_secs(120),
        }
    }
}

/// Identifies one query, from [`Resolver::resolve`] to its [`Event`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct QueryId(u64);

impl fmt::Display for QueryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mdns#{}", self.0)
    }
}

/// Why [`Resolver::resolve`] refused a name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ResolveError {
    /// The name is not a valid domain name.
    InvalidName(NameError),
    /// The name does not end in `.local` with at least one label before it (RFC 6762 §3).
    NotLocal,
    /// A label holds a control character, a space or DEL: not a host name.
    BadCharacter,
    /// [`ResolverConfig::max_outstanding`] queries are already outstanding.
    Full,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::InvalidName(e) => write!(f, "invalid name: {e}"),
            ResolveError::NotLocal => f.write_str("not a .local name"),
            ResolveError::BadCharacter => f.write_str("control character or space in a name"),
            ResolveError::Full => f.write_str("too many outstanding mDNS queries"),
        }
    }
}

impl std::error::Error for ResolveError {}

/// The end of a query, in the order queries end.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Event {
    /// A response answered the query (or the cache did).
    Resolved {
        /// The query.
        id: QueryId,
        /// The name as passed to [`Resolver::resolve`] (without a final dot).
        name: String,
        /// Every A and AAAA address the response gave for the name, in order, without
        /// duplicates; never empty. IPv6 link-local addresses carry no scope: the interface
        /// the response came in on is theirs.
        addresses: Vec<IpAddr>,
    },
    /// No answer came by the deadline ([`ResolverConfig::timeout`] after `resolve`).
    TimedOut {
        /// The query.
        id: QueryId,
        /// The name as passed to [`Resolver::resolve`] (without a final dot).
        name: String,
    },
}

/// A query datagram to send: [`Resolver::poll_transmit`] wrote `len` octets into the caller's
/// buffer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[must_use = "a transmit that is not sent is a lost packet"]
pub struct Transmit {
    /// 224.0.0.251:5353 or \[ff02::fb\]:5353. Send it from an ephemeral port, never 5353
    /// (RFC 6762 §5.1), on every interface that may reach the peer.
    pub destination: SocketAddr,
    /// Octets written at the start of the buffer.
    pub len: usize,
}

#[derive(Debug)]
struct Query {
    name: Name,
    text: String,
    started: Instant,
    deadline: Instant,
    /// Transmission rounds queued so far.
    rounds: u32,
    next_round: Option<Instant>,
}

#[derive(Debug)]
struct CacheEntry {
    addresses: Vec<IpAddr>,
    expires: Instant,
}

/// One query datagram waiting for [`Resolver::poll_transmit`].
#[derive(Debug)]
struct PendingSend {
    id: QueryId,
    qtype: RecordType,
    destination: SocketAddr,
}

/// A one-shot Multicast DNS resolver (RFC 6762 §5.1) for the A and AAAA records of `.local`
/// names, without sockets or clocks.
///
/// [`Resolver::resolve`] starts a query; the caller sends what [`Resolver::poll_transmit`]
/// yields, feeds every datagram received on its mDNS sockets to
/// [`Resolver::handle_datagram`], calls [`Resolver::handle_timeout`] when
/// [`Resolver::poll_timeout`] says, and reads the outcome from [`Resolver::poll_event`]. Every
/// query ends with exactly one event, [`Event::TimedOut`] at its deadline at the latest.
///
/// Each transmission round sends two queries per address family, one for A and one for AAAA,
/// one question each.
#[derive(Debug)]
pub struct Resolver {
    config: ResolverConfig,
    next_id: u64,
    queries: BTreeMap<QueryId, Query>,
    pending: VecDeque<PendingSend>,
    events: VecDeque<Event>,
    cache: HashMap<Name, CacheEntry>,
}

impl Resolver {
    /// A resolver with nothing outstanding.
    pub fn new(config: ResolverConfig) -> Self {
        Resolver {
            config,
            next_id: 0,
            queries: BTreeMap::new(),
            pending: VecDeque::new(),
            events: VecDeque::new(),
            cache: HashMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ResolverConfig {
        &self.config
    }

    /// Starts resolving `name`, which must end in `.local` (a final dot is allowed); case is
    /// kept in the query and ignored when matching answers.
    ///
    /// A name already outstanding returns that query's id (its event names the first
    /// caller's spelling). A name in the cache resolves at once: its [`Event::Resolved`] is
    /// queued before this returns, and nothing is sent.
    pub fn resolve(&mut self, now: Instant, name: &str) -> Result<QueryId, ResolveError> {
        let text = name.strip_suffix('.').unwrap_or(name);
        let parsed = Name::from_dotted(text).map_err(ResolveError::InvalidName)?;
        if !parsed.is_local() || parsed.labels().count() < 2 {
            return Err(ResolveError::NotLocal);
        }
        if parsed.labels().flatten().any(|&b| b <= b' ' || b == 0x7F) {
            return Err(ResolveError::BadCharacter);
        }
        if let Some((&id, _)) = self.queries.iter().find(|(_, q)| q.name == parsed) {
            return Ok(id);
        }
        if let Some(entry) = self.cache.get(&parsed) {
            if entry.expires > now {
                let addresses = entry.addresses.clone();
                let id = self.new_id();
                self.events.push_back(Event::Resolved {
                    id,
                    name: text.to_owned(),
                    addresses,
                });
                return Ok(id);
            }
            self.cache.remove(&parsed);
        }
        if self.queries.len() >= self.config.max_outstanding {
            return Err(ResolveError::Full);
        }
        let id = self.new_id();
        let mut query = Query {
            name: parsed,
            text: text.to_owned(),
            started: now,
            deadline: now + self.config.timeout,
            rounds: 0,
            next_round: None,
        };
        self.queue_round(id, &mut query, now);
        self.queries.insert(id, query);
        Ok(id)
    }

    /// Forgets a query without an event. Returns whether it was outstanding.
    pub fn cancel(&mut self, id: QueryId) -> bool {
        self.queries.remove(&id).is_some()
    }

    /// Queries still waiting for an answer.
    pub fn outstanding(&self) -> usize {
        self.queries.len()
    }

    /// Takes one datagram received on an mDNS socket (from a unicast reply to the query's
    /// ephemeral port, or from the 224.0.0.251:5353 / \[ff02::fb\]:5353 group). Anything
    /// malformed or unrelated is ignored.
    ///
    /// Ignored, as RFC 6762 requires: responses whose source port is not 5353 (§6: "MUST
    /// silently ignore"), messages with a nonzero OPCODE (§18.3) or RCODE (§18.11), and
    /// queries. The ID (§18.1: ignored in multicast responses) and the question section
    /// (§6: ignored in responses) are not looked at. A and AAAA records of class IN in the
    /// answer and additional sections whose name matches an outstanding query resolve it;
    /// records with TTL 0 are goodbyes (§10.1) and drop the name from the cache instead.
    /// Unspecified, multicast and broadcast addresses are skipped: they cannot be a peer.
    ///
    /// Responses are accepted from any source address: the querier (the driver) must only
    /// pass on datagrams that come from the local link (§11).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if from.port() != MDNS_PORT {
            return;
        }
        let Ok(msg) = Message::decode(bytes) else {
            return;
        };
        if !msg.flags.is_response() || msg.flags.opcode() != 0 || msg.flags.rcode() != 0 {
            return;
        }
        // Per outstanding query: the addresses found and their smallest TTL.
        let mut found: BTreeMap<QueryId, (Vec<IpAddr>, u32)> = BTreeMap::new();
        for record in msg.answers.iter().chain(&msg.additionals) {
            let Some(addr) = address_of(record) else {
                continue;
            };
            if record.ttl == 0 {
                self.cache.remove(&record.name);
                continue;
            }
            if !usable(addr) {
                continue;
            }
            let Some((&id, _)) = self.queries.iter().find(|(_, q)| q.name == record.name) else {
                continue;
            };
            let (addrs, ttl) = found.entry(id).or_insert_with(|| (Vec::new(), u32::MAX));
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
            *ttl = (*ttl).min(record.ttl);
        }
        for (id, (addresses, ttl)) in found {
            let Some(query) = self.queries.remove(&id) else {
                continue;
            };
            let lifetime = Duration::from_secs(u64::from(ttl)).min(self.config.max_cache_ttl);
            self.insert_cache(now, query.name, addresses.clone(), lifetime);
            self.events.push_back(Event::Resolved {
                id,
                name: query.text,
                addresses,
            });
        }
    }

    /// Writes the next query datagram into `buf` (at least [`crate::MAX_QUERY_LEN`] octets
    /// always suffice; a datagram that does not fit is dropped).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(send) = self.pending.pop_front() {
            let Some(query) = self.queries.get(&send.id) else {
                continue;
            };
            if let Ok(len) = encode_query(buf, &query.name, send.qtype) {
                return Some(Transmit {
                    destination: send.destination,
                    len,
                });
            }
        }
        None
    }

    /// Runs retransmissions and deadlines due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let ids: Vec<QueryId> = self.queries.keys().copied().collect();
        for id in ids {
            let Some(mut query) = self.queries.remove(&id) else {
                continue;
            };
            if now >= query.deadline {
                self.events.push_back(Event::TimedOut {
                    id,
                    name: query.text,
                });
                continue;
            }
            if query.next_round.is_some_and(|t| t <= now) {
                self.queue_round(id, &mut query, now);
            }
            self.queries.insert(id, query);
        }
    }

    /// The next instant [`Resolver::handle_timeout`] has something to do: a retransmission or
    /// a deadline. `None` with nothing outstanding.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queries
            .values()
            .map(|q| q.next_round.map_or(q.deadline, |t| t.min(q.deadline)))
            .min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn new_id(&mut self) -> QueryId {
        self.next_id += 1;
        QueryId(self.next_id)
    }

    /// Queues one transmission round (A and AAAA to each enabled group) and schedules the
    /// next: round k (from 0) goes out at `started + interval * (2^k - 1)`. Rounds missed by a
    /// late caller are skipped, not bunched.
    fn queue_round(&mut self, id: QueryId, query: &mut Query, now: Instant) {
        let mut destinations = Vec::with_capacity(2);
        if self.config.ipv4 {
            destinations.push(SocketAddr::V4(SocketAddrV4::new(MDNS_IPV4, MDNS_PORT)));
        }
        if self.config.ipv6 {
            destinations.push(SocketAddr::V6(SocketAddrV6::new(
                MDNS_IPV6, MDNS_PORT, 0, 0,
            )));
        }
        for destination in destinations {
            for qtype in [RecordType::A, RecordType::AAAA] {
                self.pending.push_back(PendingSend {
                    id,
                    qtype,
                    destination,
                });
            }
        }
        query.rounds += 1;
        query.next_round = None;
        let max = self.config.max_transmissions.max(1);
        while query.rounds < max {
            let Some(at) = round_offset(self.config.retransmit_interval, query.rounds)
                .and_then(|offset| query.started.checked_add(offset))
            else {
                break;
            };
            if at >= query.deadline {
                break;
            }
            if at > now {
                query.next_round = Some(at);
                break;
            }
            query.rounds += 1;
        }
    }

    fn insert_cache(&mut self, now: Instant, name: Name, addresses: Vec<IpAddr>, ttl: Duration) {
        if self.config.max_cached == 0 || ttl.is_zero() {
            return;
        }
        let Some(expires) = now.checked_add(ttl) else {
            return;
        };
        if self.cache.len() >= self.config.max_cached && !self.cache.contains_key(&name) {
            self.cache.retain(|_, e| e.expires > now);
            if self.cache.len() >= self.config.max_cached {
                // Evict the entry that would expire first.
                let soonest = self
                    .cache
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(n, _)| n.clone());
                if let Some(n) = soonest {
                    self.cache.remove(&n);
                }
            }
        }
        self.cache.insert(name, CacheEntry { addresses, expires });
    }
}

/// `interval * (2^k - 1)`, or `None` on overflow.
fn round_offset(interval: Duration, k: u32) -> Option<Duration> {
    let factor = 1u32.checked_shl(k)?.checked_sub(1)?;
    interval.checked_mul(factor)
}

fn address_of(record: &Record) -> Option<IpAddr> {
    if record.class != CLASS_IN {
        return None;
    }
    match record.data {
        RecordData::A(a) => Some(IpAddr::V4(a)),
        RecordData::Aaaa(a) => Some(IpAddr::V6(a)),
        RecordData::Other { .. } => None,
    }
}

fn usable(addr: IpAddr) -> bool {
    !addr.is_unspecified() && !addr.is_multicast() && addr != IpAddr::V4(Ipv4Addr::BROADCAST)
}
