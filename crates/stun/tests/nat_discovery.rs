//! The RFC 5780 discovery client against floe's own `BindingServer`, through a small simulated
//! NAT with each RFC 4787 mapping and filtering behaviour, on a virtual clock.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use floe_stun::attributes::{ErrorCode, OtherAddress, XorMappedAddress};
use floe_stun::*;
use proptest::prelude::*;

const PRIMARY: &str = "198.51.100.1:3478";
const ALTERNATE: &str = "198.51.100.2:3479";
/// The client's address behind a NAT.
const PRIVATE: &str = "10.0.0.2:5000";
/// The NAT's public IP address.
const PUBLIC_IP: &str = "203.0.113.1";
/// The client's address without a NAT.
const OPEN: &str = "192.0.2.7:5000";
/// One-way delay of every link.
const LATENCY: Duration = Duration::from_millis(10);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// RFC 4787: on what a NAT's mappings or filters depend.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dependence {
    EndpointIndependent,
    AddressDependent,
    AddressAndPortDependent,
}

use Dependence::*;

impl Dependence {
    /// `remote` reduced to what matters under this behaviour.
    fn key(self, remote: SocketAddr) -> SocketAddr {
        match self {
            EndpointIndependent => SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0),
            AddressDependent => SocketAddr::new(remote.ip(), 0),
            AddressAndPortDependent => remote,
        }
    }
}

/// A NAT with one public IP address.
struct Nat {
    public_ip: IpAddr,
    mapping: Dependence,
    filtering: Dependence,
    hairpinning: bool,
    /// (inside address, destination key, public port).
    mappings: Vec<(SocketAddr, SocketAddr, u16)>,
    /// (public port, remote address) for every packet sent out.
    sent: Vec<(u16, SocketAddr)>,
    next_port: u16,
}

impl Nat {
    fn new(mapping: Dependence, filtering: Dependence, hairpinning: bool) -> Self {
        Self {
            public_ip: PUBLIC_IP.parse().unwrap(),
            mapping,
            filtering,
            hairpinning,
            mappings: Vec::new(),
            sent: Vec::new(),
            next_port: 40000,
        }
    }

    /// The public source address of a packet from `inside` to `remote`.
    fn outbound(&mut self, inside: SocketAddr, remote: SocketAddr) -> SocketAddr {
        let key = self.mapping.key(remote);
        let port = match self.mappings.iter().find(|m| m.0 == inside && m.1 == key) {
            Some(m) => m.2,
            None => {
                self.next_port += 1;
                self.mappings.push((inside, key, self.next_port));
                self.next_port
            }
        };
        self.sent.push((port, remote));
        SocketAddr::new(self.public_ip, port)
    }

    /// The inside address of the mapping of `public`.
    fn inside(&self, public: SocketAddr) -> Option<SocketAddr> {
        (public.ip() == self.public_ip)
            .then(|| self.mappings.iter().find(|m| m.2 == public.port()))
            .flatten()
            .map(|m| m.0)
    }

    /// The inside address a packet from `remote` to `public` goes to, if the filter lets it in.
    fn inbound(&self, remote: SocketAddr, public: SocketAddr) -> Option<SocketAddr> {
        let key = self.filtering.key(remote);
        self.sent
            .iter()
            .any(|s| s.0 == public.port() && self.filtering.key(s.1) == key)
            .then(|| self.inside(public))
            .flatten()
    }
}

/// Answers a datagram that arrived on `local` from `from`: (source, destination, bytes).
type Server =
    Box<dyn FnMut(SocketAddr, SocketAddr, &[u8]) -> Option<(SocketAddr, SocketAddr, Vec<u8>)>>;

/// floe's Binding server, RFC 5780 when `alternate` is given.
fn binding_server(alternate: Option<&str>) -> (Vec<SocketAddr>, Server) {
    let server = BindingServer::new(BindingServerConfig {
        software: None,
        primary: addr(PRIMARY),
        alternate: alternate.map(addr),
    })
    .unwrap();
    let locals = server.local_addresses();
    let handle = move |local, from, bytes: &[u8]| {
        let mut out = [0u8; 256];
        let r = server.handle(local, from, bytes, &mut out)?;
        Some((r.source, r.destination, out[..r.len].to_vec()))
    };
    (locals, Box::new(handle))
}

struct Run {
    result: Result<NatBehaviour, NatDiscoveryError>,
    elapsed: Duration,
    transmissions: usize,
}

/// A client, an optional NAT in front of it, a server on its addresses, lossy by `lose` (the
/// index of the client's transmission → dropped).
struct Net {
    nat: Option<Nat>,
    server_addresses: Vec<SocketAddr>,
    server: Server,
    lose: Box<dyn FnMut(usize) -> bool>,
}

impl Net {
    fn new(nat: Option<Nat>) -> Self {
        let (server_addresses, server) = binding_server(Some(ALTERNATE));
        Self {
            nat,
            server_addresses,
            server,
            lose: Box::new(|_| false),
        }
    }

    fn local(&self) -> SocketAddr {
        addr(if self.nat.is_some() { PRIVATE } else { OPEN })
    }

    fn run(&mut self, config: NatDiscoveryConfig) -> Run {
        let start = Instant::now();
        let local = self.local();
        let mut client = NatDiscovery::new(start, config, local, addr(PRIMARY), [9; 32]);
        // (delivery time, from, to, bytes), towards the client or the server.
        let mut flight: Vec<(Instant, SocketAddr, SocketAddr, Vec<u8>)> = Vec::new();
        let mut now = start;
        let mut transmissions = 0;
        loop {
            while let Some(t) = client.poll_transmit() {
                let (to, bytes) = (t.destination, t.payload.to_vec());
                transmissions += 1;
                if (self.lose)(transmissions - 1) {
                    continue;
                }
                match &mut self.nat {
                    None => flight.push((now + LATENCY, local, to, bytes)),
                    Some(nat) if to.ip() == nat.public_ip => {
                        // To the NAT's own public address from inside: hairpinning (RFC 4787
                        // §6), with the source translated as for any other destination.
                        if nat.hairpinning {
                            let from = nat.outbound(local, to);
                            if let Some(inside) = nat.inside(to) {
                                flight.push((now + LATENCY, from, inside, bytes));
                            }
                        }
                    }
                    Some(nat) => {
                        let from = nat.outbound(local, to);
                        flight.push((now + LATENCY, from, to, bytes));
                    }
                }
            }
            if let Some(result) = client.result() {
                return Run {
                    result: result.clone(),
                    elapsed: now - start,
                    transmissions,
                };
            }
            assert!(
                now - start < Duration::from_secs(600),
                "discovery never ends"
            );
            let timeout = client.poll_timeout().expect("unfinished with no timeout");
            let next = flight.iter().map(|p| p.0).min();
            if next.is_some_and(|at| at <= timeout) {
                let i = flight.iter().position(|p| Some(p.0) == next).unwrap();
                let (at, from, to, bytes) = flight.remove(i);
                now = at;
                if to == local {
                    client.handle_datagram(now, from, &bytes);
                } else if self.server_addresses.contains(&to) {
                    if let Some((src, dst, reply)) = (self.server)(to, from, &bytes) {
                        flight.push((now + LATENCY, src, dst, reply));
                    }
                } else if let Some(nat) = &self.nat {
                    if let Some(inside) = nat.inbound(from, to) {
                        flight.push((now, from, inside, bytes));
                    }
                }
            } else {
                now = timeout;
                client.handle_timeout(now);
            }
        }
    }
}

fn discover(nat: Option<Nat>) -> Run {
    Net::new(nat).run(NatDiscoveryConfig::default())
}

#[test]
fn without_a_nat_everything_is_endpoint_independent_and_hairpins() {
    let run = discover(None);
    let b = run.result.unwrap();
    assert!(!b.behind_nat());
    assert_eq!(b.mapped, addr(OPEN));
    assert_eq!(b.local, addr(OPEN));
    assert_eq!(b.server, addr(PRIMARY));
    assert_eq!(b.other_address, addr(ALTERNATE));
    assert_eq!(b.mapped_test_ii, b.mapped);
    assert_eq!(b.mapped_test_iii, None);
    assert_eq!(b.mapping, MappingBehaviour::EndpointIndependent);
    assert_eq!(b.filtering, FilteringBehaviour::EndpointIndependent);
    assert_eq!(b.hairpinning, Hairpinning::Yes);
    // Every test answered at once: a few round trips, no retransmission.
    assert_eq!(run.transmissions, 4);
    assert!(
        run.elapsed < Duration::from_millis(200),
        "{:?}",
        run.elapsed
    );
}

#[test]
fn every_rfc4787_mapping_and_filtering_behaviour_is_told_apart() {
    let all = [
        EndpointIndependent,
        AddressDependent,
        AddressAndPortDependent,
    ];
    let mapping_of = |d| match d {
        EndpointIndependent => MappingBehaviour::EndpointIndependent,
        AddressDependent => MappingBehaviour::AddressDependent,
        AddressAndPortDependent => MappingBehaviour::AddressAndPortDependent,
    };
    let filtering_of = |d| match d {
        EndpointIndependent => FilteringBehaviour::EndpointIndependent,
        AddressDependent => FilteringBehaviour::AddressDependent,
        AddressAndPortDependent => FilteringBehaviour::AddressAndPortDependent,
    };
    for mapping in all {
        for filtering in all {
            for hairpinning in [true, false] {
                let case = format!("{mapping:?} mapping, {filtering:?} filtering");
                let run = discover(Some(Nat::new(mapping, filtering, hairpinning)));
                let b = run.result.unwrap_or_else(|e| panic!("{case}: {e}"));
                assert!(b.behind_nat(), "{case}");
                assert_eq!(b.mapped.ip(), PUBLIC_IP.parse::<IpAddr>().unwrap());
                assert_eq!(b.mapping, mapping_of(mapping), "{case}");
                assert_eq!(b.filtering, filtering_of(filtering), "{case}");
                let hairpins = if hairpinning {
                    Hairpinning::Yes
                } else {
                    Hairpinning::No
                };
                assert_eq!(b.hairpinning, hairpins, "{case}");
                match mapping {
                    EndpointIndependent => {
                        assert_eq!(b.mapped_test_ii, b.mapped, "{case}");
                        assert_eq!(b.mapped_test_iii, None, "{case}");
                    }
                    AddressDependent => {
                        assert_ne!(b.mapped_test_ii, b.mapped, "{case}");
                        assert_eq!(b.mapped_test_iii, Some(b.mapped_test_ii), "{case}");
                    }
                    AddressAndPortDependent => {
                        assert_ne!(b.mapped_test_ii, b.mapped, "{case}");
                        assert_ne!(b.mapped_test_iii, Some(b.mapped_test_ii), "{case}");
                    }
                }
            }
        }
    }
}

#[test]
fn unanswered_filtering_tests_each_take_the_test_timeout() {
    let run = discover(Some(Nat::new(
        EndpointIndependent,
        AddressAndPortDependent,
        true,
    )));
    assert_eq!(
        run.result.unwrap().filtering,
        FilteringBehaviour::AddressAndPortDependent
    );
    let timeout = NatDiscoveryConfig::default().test_timeout;
    assert!(run.elapsed >= 2 * timeout, "{:?}", run.elapsed);
    assert!(
        run.elapsed < 2 * timeout + Duration::from_secs(1),
        "{:?}",
        run.elapsed
    );
}

#[test]
fn lost_requests_are_retransmitted_and_the_result_is_unchanged() {
    let nat = || Some(Nat::new(EndpointIndependent, AddressDependent, true));
    let clean = discover(nat());
    let mut net = Net::new(nat());
    // Every other request is lost, test I's first among them.
    net.lose = Box::new(|n| n % 2 == 0);
    let lossy = net.run(NatDiscoveryConfig::default());
    let (clean_b, lossy_b) = (clean.result.unwrap(), lossy.result.unwrap());
    assert_eq!(lossy_b.mapping, clean_b.mapping);
    assert_eq!(lossy_b.filtering, FilteringBehaviour::AddressDependent);
    assert_eq!(lossy_b.hairpinning, Hairpinning::Yes);
    assert!(lossy.transmissions > clean.transmissions);
    // A lost request costs one RTO (500 ms) per answered test.
    assert!(lossy.elapsed >= clean.elapsed + Duration::from_millis(500));
}

#[test]
fn unreachable_server_fails_after_the_test_timeout() {
    let mut net = Net::new(None);
    net.lose = Box::new(|_| true);
    let run = net.run(NatDiscoveryConfig::default());
    let err = run.result.unwrap_err();
    assert_eq!(
        err,
        NatDiscoveryError::ServerUnreachable {
            server: addr(PRIMARY)
        }
    );
    assert_eq!(
        err.to_string(),
        format!("no answer from {PRIMARY} to test I")
    );
    // Sent at 0, 0.5, 1.5 and 3.5 s (RFC 8489 §6.2.1), given up at 5 s.
    assert_eq!(run.elapsed, Duration::from_secs(5));
    assert_eq!(run.transmissions, 4);

    // With a test timeout beyond the transaction's, the transaction's (39.5 s) bounds it.
    let run = net.run(NatDiscoveryConfig {
        test_timeout: Duration::from_secs(600),
        ..NatDiscoveryConfig::default()
    });
    assert!(matches!(
        run.result,
        Err(NatDiscoveryError::ServerUnreachable { .. })
    ));
    assert_eq!(run.elapsed, Duration::from_millis(39_500));
    assert_eq!(run.transmissions, 7);
}

#[test]
fn server_without_rfc5780_is_reported_after_test_i() {
    let mut net = Net::new(None);
    (net.server_addresses, net.server) = binding_server(None);
    let run = net.run(NatDiscoveryConfig::default());
    let err = run.result.unwrap_err();
    assert_eq!(
        err,
        NatDiscoveryError::NoOtherAddress {
            server: addr(PRIMARY)
        }
    );
    assert!(
        err.to_string().contains("does not support RFC 5780"),
        "{err}"
    );
    assert_eq!(run.transmissions, 1);
}

#[test]
fn server_ignoring_change_request_is_reported() {
    let mut net = Net::new(None);
    let (addresses, mut server) = binding_server(Some(ALTERNATE));
    net.server_addresses = addresses;
    // Answers from the address each request arrived on, whatever CHANGE-REQUEST says.
    net.server = Box::new(move |local, from, bytes| {
        server(local, from, bytes).map(|(_, dst, reply)| (local, dst, reply))
    });
    let err = net.run(NatDiscoveryConfig::default()).result.unwrap_err();
    assert_eq!(
        err,
        NatDiscoveryError::ChangeRequestIgnored {
            test: NatTest::FilteringTestII,
            server: addr(PRIMARY),
            response_origin: addr(PRIMARY),
            expected: addr(ALTERNATE),
        }
    );
}

/// A success response to `request` with these addresses.
fn success(request: &[u8], mapped: SocketAddr, other: Option<SocketAddr>) -> Vec<u8> {
    let id = Message::decode(request).unwrap().transaction_id();
    let mut buf = [0u8; 128];
    let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_SUCCESS, id).unwrap();
    w.add(&XorMappedAddress(mapped)).unwrap();
    if let Some(other) = other {
        w.add(&OtherAddress(other)).unwrap();
    }
    let len = w.finish();
    buf[..len].to_vec()
}

#[test]
fn error_response_ends_discovery_with_its_code() {
    let mut net = Net::new(None);
    // Test I is answered as by an RFC 5780 server, CHANGE-REQUEST with 420.
    net.server = Box::new(|local, from, bytes| {
        let request = Message::decode(bytes).ok()?;
        if request.get::<attributes::ChangeRequest>().ok()?.is_none() {
            return Some((local, from, success(bytes, from, Some(addr(ALTERNATE)))));
        }
        let mut buf = [0u8; 128];
        let mut w = MessageWriter::new(
            &mut buf,
            MessageType::BINDING_ERROR,
            request.transaction_id(),
        )
        .ok()?;
        w.add(&ErrorCode::new(420, "Unknown Attribute")).ok()?;
        let len = w.finish();
        Some((local, from, buf[..len].to_vec()))
    });
    let err = net.run(NatDiscoveryConfig::default()).result.unwrap_err();
    assert_eq!(
        err,
        NatDiscoveryError::ErrorResponse {
            test: NatTest::FilteringTestII,
            destination: addr(PRIMARY),
            code: 420,
            reason: "Unknown Attribute".into(),
        }
    );
}

#[test]
fn other_address_sharing_the_primary_ip_is_refused() {
    let mut net = Net::new(None);
    let other = addr("198.51.100.1:3479");
    net.server =
        Box::new(move |local, from, bytes| Some((local, from, success(bytes, from, Some(other)))));
    let err = net.run(NatDiscoveryConfig::default()).result.unwrap_err();
    assert_eq!(
        err,
        NatDiscoveryError::InvalidOtherAddress {
            server: addr(PRIMARY),
            other
        }
    );
}

#[test]
fn hairpinning_test_can_be_left_out() {
    let run = Net::new(None).run(NatDiscoveryConfig {
        hairpinning: false,
        ..NatDiscoveryConfig::default()
    });
    assert_eq!(run.result.unwrap().hairpinning, Hairpinning::Unknown);
    assert_eq!(run.transmissions, 3);
}

#[test]
fn foreign_datagrams_are_not_taken() {
    let now = Instant::now();
    let config = NatDiscoveryConfig::default();
    let mut client = NatDiscovery::new(now, config, addr(OPEN), addr(PRIMARY), [1; 32]);
    let request = client.poll_transmit().unwrap().payload.to_vec();
    assert_eq!(client.current_test(), Some(NatTest::TestI));
    let from = addr(PRIMARY);
    assert!(!client.handle_datagram(now, from, b"not stun"));
    // A response to another transaction.
    let mut other_id = request.clone();
    other_id[8] ^= 1;
    let reply = success(&other_id, addr(OPEN), Some(addr(ALTERNATE)));
    assert!(!client.handle_datagram(now, from, &reply));
    // The right id from the wrong address: test I is answered from where it was sent.
    let reply = success(&request, addr(OPEN), Some(addr(ALTERNATE)));
    assert!(!client.handle_datagram(now, addr(ALTERNATE), &reply));
    assert!(client.handle_datagram(now, from, &reply));
    assert_eq!(client.current_test(), Some(NatTest::FilteringTestII));
    // A late duplicate of test I's answer is not taken for filtering test II's.
    assert!(!client.handle_datagram(now, from, &reply));
}

/// An attribute of a random answer: raw bytes, or a well-formed address of [`addresses`].
#[derive(Clone, Debug)]
enum Attr {
    Raw(u16, Vec<u8>),
    Mapped(usize),
    Other(usize),
}

/// Where random answers come from, and the addresses they name.
fn addresses() -> Vec<SocketAddr> {
    let mut all = binding_server(Some(ALTERNATE)).0;
    all.extend([
        addr(OPEN),
        addr("203.0.113.1:40001"),
        addr("[2001:db8::1]:3478"),
    ]);
    all
}

/// One answer in the property test: a message with the request's transaction id.
#[derive(Clone, Debug)]
struct Answer {
    class: usize,
    attributes: Vec<Attr>,
    /// Which of [`addresses`] it comes from; `None`: where the request went.
    source: Option<usize>,
    /// Instead of answering, let time run to the next timeout.
    time_out: bool,
}

fn answer() -> impl Strategy<Value = Answer> {
    let n = addresses().len();
    let attribute = prop_oneof![
        (
            prop_oneof![
                Just(attribute::types::XOR_MAPPED_ADDRESS),
                Just(attribute::types::MAPPED_ADDRESS),
                Just(attribute::types::OTHER_ADDRESS),
                Just(attribute::types::ERROR_CODE),
                Just(0x7f00u16),
                any::<u16>(),
            ],
            proptest::collection::vec(any::<u8>(), 0..24),
        )
            .prop_map(|(t, v)| Attr::Raw(t, v)),
        (0..n).prop_map(Attr::Mapped),
        // Mostly the right alternate address, so that discovery gets past test I.
        prop_oneof![3 => Just(3), 1 => 0..n].prop_map(Attr::Other),
    ];
    (
        prop_oneof![3 => Just(2usize), 1 => 0usize..4],
        proptest::collection::vec(attribute, 0..4),
        prop_oneof![1 => Just(None), 1 => (0..n).prop_map(Some)],
        proptest::bool::weighted(0.2),
    )
        .prop_map(|(class, attributes, source, time_out)| Answer {
            class,
            attributes,
            source,
            time_out,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_answers_never_panic_and_discovery_ends(
        answers in proptest::collection::vec(answer(), 1..16)
    ) {
        let start = Instant::now();
        let mut now = start;
        let config = NatDiscoveryConfig::default();
        let mut client = NatDiscovery::new(now, config, addr(OPEN), addr(PRIMARY), [3; 32]);
        let addrs = addresses();
        let classes = [
            Class::Request,
            Class::Indication,
            Class::SuccessResponse,
            Class::ErrorResponse,
        ];
        let (mut request, mut destination) = (Vec::new(), addr(PRIMARY));
        for a in answers.iter().cycle().take(64) {
            while let Some(t) = client.poll_transmit() {
                (request, destination) = (t.payload.to_vec(), t.destination);
            }
            if client.is_finished() {
                break;
            }
            if a.time_out {
                now = client.poll_timeout().unwrap();
                client.handle_timeout(now);
                continue;
            }
            let id = Message::decode(&request).unwrap().transaction_id();
            let kind = MessageType::new(classes[a.class], Method::BINDING);
            let mut buf = [0u8; 256];
            let mut w = MessageWriter::new(&mut buf, kind, id).unwrap();
            for attr in &a.attributes {
                let _ = match attr {
                    Attr::Raw(t, v) => w.add_raw(*t, v),
                    Attr::Mapped(i) => w.add(&XorMappedAddress(addrs[*i])),
                    Attr::Other(i) => w.add(&OtherAddress(addrs[*i])),
                };
            }
            let len = w.finish();
            let source = a.source.map_or(destination, |i| addrs[i]);
            client.handle_datagram(now, source, &buf[..len / 2]);
            client.handle_datagram(now, source, &buf[..len]);
        }
        // Left alone, it finishes within six tests' time.
        while let Some(at) = client.poll_timeout() {
            prop_assert!(at >= now);
            now = at;
            client.handle_timeout(now);
            while client.poll_transmit().is_some() {}
        }
        prop_assert!(client.is_finished());
        prop_assert!(now - start <= 6 * config.test_timeout);
    }
}
