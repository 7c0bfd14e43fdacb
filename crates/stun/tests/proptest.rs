//! Property tests: whatever attributes are written, they read back the same; integrity and
//! fingerprint verify; no single flipped bit gets past them; the padding byte is irrelevant.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use floe_stun::attributes::*;
use floe_stun::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::Union;

/// An owned description of one attribute, from which a borrowing [`AnyAttribute`] is built.
///
/// MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are not here: they end a message,
/// so they are described by [`Trailer`].
#[derive(Clone, Debug)]
enum Spec {
    MappedAddress(SocketAddr),
    XorMappedAddress(SocketAddr),
    AlternateServer(SocketAddr),
    XorPeerAddress(SocketAddr),
    XorRelayedAddress(SocketAddr),
    ResponseOrigin(SocketAddr),
    OtherAddress(SocketAddr),
    Username(String),
    Realm(String),
    Nonce(String),
    Software(String),
    AlternateDomain(String),
    Data(Vec<u8>),
    Padding(Vec<u8>),
    Userhash([u8; 32]),
    Priority(u32),
    IceControlled(u64),
    IceControlling(u64),
    Lifetime(u32),
    ReservationToken(u64),
    ConnectionId(u32),
    UseCandidate,
    DontFragment,
    ChannelNumber(u16),
    ResponsePort(u16),
    RequestedAddressFamily(AddressFamily),
    AdditionalAddressFamily(AddressFamily),
    RequestedTransport(u8),
    EvenPort(bool),
    ChangeRequest(bool, bool),
    Icmp(u8, u8, u32),
    ErrorCode(u16, String),
    AddressErrorCode(AddressFamily, u16, String),
    PasswordAlgorithm(u16, Vec<u8>),
    PasswordAlgorithms(Vec<(u16, Vec<u8>)>),
    UnknownAttributes(Vec<u16>),
    Unknown(u16, Vec<u8>),
}

/// How the message ends.
#[derive(Clone, Debug)]
enum Trailer {
    /// MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT as the writer computes them.
    Computed { mi: bool, mi256: bool, fp: bool },
    /// The same three attributes written as typed values with arbitrary contents.
    Literal {
        mi: Option<[u8; 20]>,
        mi256: Option<Vec<u8>>,
        fp: Option<u32>,
    },
}

#[derive(Clone, Debug)]
struct Case {
    message_type: MessageType,
    transaction_id: TransactionId,
    attributes: Vec<Spec>,
    trailer: Trailer,
    password: Vec<u8>,
    padding: u8,
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
    ]
}

fn family() -> impl Strategy<Value = AddressFamily> {
    prop_oneof![Just(AddressFamily::Ipv4), Just(AddressFamily::Ipv6)]
}

/// Text of at most `max_chars` characters of any script (at most 4 bytes each).
fn text(max_chars: usize) -> BoxedStrategy<String> {
    proptest::string::string_regex(&format!("\\PC{{0,{max_chars}}}"))
        .unwrap()
        .boxed()
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn error_code() -> impl Strategy<Value = u16> {
    300u16..=699
}

fn unknown_type() -> impl Strategy<Value = u16> {
    any::<u16>().prop_filter("a type floe does not know", |t| !types::is_known(*t))
}

/// Any attribute; `max_chars` bounds text, `max_bytes` opaque values (all within the limits of
/// the attribute types, the longest of which are also generated).
fn spec(max_chars: usize, max_bytes: usize) -> impl Strategy<Value = Spec> {
    let arms: Vec<BoxedStrategy<Spec>> = vec![
        socket_addr().prop_map(Spec::MappedAddress).boxed(),
        socket_addr().prop_map(Spec::XorMappedAddress).boxed(),
        socket_addr().prop_map(Spec::AlternateServer).boxed(),
        socket_addr().prop_map(Spec::XorPeerAddress).boxed(),
        socket_addr().prop_map(Spec::XorRelayedAddress).boxed(),
        socket_addr().prop_map(Spec::ResponseOrigin).boxed(),
        socket_addr().prop_map(Spec::OtherAddress).boxed(),
        prop_oneof![
            4 => text(max_chars),
            1 => proptest::string::string_regex("[a-z:]{509,513}").unwrap(),
        ]
        .prop_map(Spec::Username)
        .boxed(),
        text(max_chars).prop_map(Spec::Realm).boxed(),
        text(max_chars).prop_map(Spec::Nonce).boxed(),
        text(max_chars).prop_map(Spec::Software).boxed(),
        text(max_chars.min(63))
            .prop_map(Spec::AlternateDomain)
            .boxed(),
        bytes(max_bytes).prop_map(Spec::Data).boxed(),
        bytes(max_bytes).prop_map(Spec::Padding).boxed(),
        any::<[u8; 32]>().prop_map(Spec::Userhash).boxed(),
        any::<u32>().prop_map(Spec::Priority).boxed(),
        any::<u64>().prop_map(Spec::IceControlled).boxed(),
        any::<u64>().prop_map(Spec::IceControlling).boxed(),
        any::<u32>().prop_map(Spec::Lifetime).boxed(),
        any::<u64>().prop_map(Spec::ReservationToken).boxed(),
        any::<u32>().prop_map(Spec::ConnectionId).boxed(),
        Just(Spec::UseCandidate).boxed(),
        Just(Spec::DontFragment).boxed(),
        any::<u16>().prop_map(Spec::ChannelNumber).boxed(),
        any::<u16>().prop_map(Spec::ResponsePort).boxed(),
        family().prop_map(Spec::RequestedAddressFamily).boxed(),
        family().prop_map(Spec::AdditionalAddressFamily).boxed(),
        any::<u8>().prop_map(Spec::RequestedTransport).boxed(),
        any::<bool>().prop_map(Spec::EvenPort).boxed(),
        any::<(bool, bool)>()
            .prop_map(|(ip, port)| Spec::ChangeRequest(ip, port))
            .boxed(),
        any::<(u8, u8, u32)>()
            .prop_map(|(t, c, d)| Spec::Icmp(t, c, d))
            .boxed(),
        (error_code(), text(max_chars))
            .prop_map(|(c, r)| Spec::ErrorCode(c, r))
            .boxed(),
        (family(), error_code(), text(max_chars))
            .prop_map(|(f, c, r)| Spec::AddressErrorCode(f, c, r))
            .boxed(),
        (any::<u16>(), bytes(max_bytes.min(16)))
            .prop_map(|(a, p)| Spec::PasswordAlgorithm(a, p))
            .boxed(),
        vec((any::<u16>(), bytes(max_bytes.min(9))), 0..5)
            .prop_map(Spec::PasswordAlgorithms)
            .boxed(),
        vec(any::<u16>(), 0..8)
            .prop_map(Spec::UnknownAttributes)
            .boxed(),
        (unknown_type(), bytes(max_bytes))
            .prop_map(|(t, v)| Spec::Unknown(t, v))
            .boxed(),
    ];
    Union::new(arms)
}

fn trailer() -> impl Strategy<Value = Trailer> {
    let mi256_len = prop_oneof![Just(16usize), Just(20), Just(24), Just(28), Just(32)];
    prop_oneof![
        3 => any::<(bool, bool, bool)>()
            .prop_map(|(mi, mi256, fp)| Trailer::Computed { mi, mi256, fp }),
        1 => (
            proptest::option::of(any::<[u8; 20]>()),
            proptest::option::of(mi256_len.prop_flat_map(|n| vec(any::<u8>(), n))),
            proptest::option::of(any::<u32>()),
        )
            .prop_map(|(mi, mi256, fp)| Trailer::Literal { mi, mi256, fp }),
    ]
}

fn case(
    max_attributes: usize,
    max_chars: usize,
    max_bytes: usize,
    trailer: impl Strategy<Value = Trailer>,
) -> impl Strategy<Value = Case> {
    (
        0u16..0x4000,
        any::<[u8; 12]>(),
        vec(spec(max_chars, max_bytes), 0..=max_attributes),
        trailer,
        bytes(24),
        any::<u8>(),
    )
        .prop_map(|(t, tid, attributes, trailer, password, padding)| Case {
            message_type: MessageType::from_u16(t).unwrap(),
            transaction_id: TransactionId::new(tid),
            attributes,
            trailer,
            password,
            padding,
        })
}

/// Owned storage the borrowed list types point into, one entry per attribute.
fn algorithm_storage(specs: &[Spec]) -> Vec<Vec<PasswordAlgorithm<'_>>> {
    specs
        .iter()
        .map(|s| match s {
            Spec::PasswordAlgorithms(list) => list
                .iter()
                .map(|(algorithm, parameters)| PasswordAlgorithm {
                    algorithm: *algorithm,
                    parameters,
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn any_attribute<'a>(spec: &'a Spec, algorithms: &'a [PasswordAlgorithm<'a>]) -> AnyAttribute<'a> {
    use AnyAttribute as A;
    match spec {
        Spec::MappedAddress(a) => A::MappedAddress(MappedAddress(*a)),
        Spec::XorMappedAddress(a) => A::XorMappedAddress(XorMappedAddress(*a)),
        Spec::AlternateServer(a) => A::AlternateServer(AlternateServer(*a)),
        Spec::XorPeerAddress(a) => A::XorPeerAddress(XorPeerAddress(*a)),
        Spec::XorRelayedAddress(a) => A::XorRelayedAddress(XorRelayedAddress(*a)),
        Spec::ResponseOrigin(a) => A::ResponseOrigin(ResponseOrigin(*a)),
        Spec::OtherAddress(a) => A::OtherAddress(OtherAddress(*a)),
        Spec::Username(s) => A::Username(Username(s)),
        Spec::Realm(s) => A::Realm(Realm(s)),
        Spec::Nonce(s) => A::Nonce(Nonce(s)),
        Spec::Software(s) => A::Software(Software(s)),
        Spec::AlternateDomain(s) => A::AlternateDomain(AlternateDomain(s)),
        Spec::Data(b) => A::Data(Data(b)),
        Spec::Padding(b) => A::Padding(Padding(b)),
        Spec::Userhash(h) => A::Userhash(Userhash(h)),
        Spec::Priority(v) => A::Priority(Priority(*v)),
        Spec::IceControlled(v) => A::IceControlled(IceControlled(*v)),
        Spec::IceControlling(v) => A::IceControlling(IceControlling(*v)),
        Spec::Lifetime(v) => A::Lifetime(Lifetime(*v)),
        Spec::ReservationToken(v) => A::ReservationToken(ReservationToken(*v)),
        Spec::ConnectionId(v) => A::ConnectionId(ConnectionId(*v)),
        Spec::UseCandidate => A::UseCandidate(UseCandidate),
        Spec::DontFragment => A::DontFragment(DontFragment),
        Spec::ChannelNumber(v) => A::ChannelNumber(ChannelNumber(*v)),
        Spec::ResponsePort(v) => A::ResponsePort(ResponsePort(*v)),
        Spec::RequestedAddressFamily(f) => A::RequestedAddressFamily(RequestedAddressFamily(*f)),
        Spec::AdditionalAddressFamily(f) => A::AdditionalAddressFamily(AdditionalAddressFamily(*f)),
        Spec::RequestedTransport(v) => A::RequestedTransport(RequestedTransport(*v)),
        Spec::EvenPort(r) => A::EvenPort(EvenPort { reserve_next: *r }),
        Spec::ChangeRequest(ip, port) => A::ChangeRequest(ChangeRequest {
            change_ip: *ip,
            change_port: *port,
        }),
        Spec::Icmp(t, c, d) => A::Icmp(Icmp {
            icmp_type: *t,
            code: *c,
            error_data: *d,
        }),
        Spec::ErrorCode(code, reason) => A::ErrorCode(ErrorCode::new(*code, reason)),
        Spec::AddressErrorCode(family, code, reason) => A::AddressErrorCode(AddressErrorCode {
            family: *family,
            code: *code,
            reason,
        }),
        Spec::PasswordAlgorithm(algorithm, parameters) => A::PasswordAlgorithm(PasswordAlgorithm {
            algorithm: *algorithm,
            parameters,
        }),
        Spec::PasswordAlgorithms(_) => {
            A::PasswordAlgorithms(PasswordAlgorithms(List::Items(algorithms)))
        }
        Spec::UnknownAttributes(list) => A::UnknownAttributes(UnknownAttributes(List::Items(list))),
        Spec::Unknown(attr_type, value) => A::Unknown(RawAttribute {
            attr_type: *attr_type,
            value,
        }),
    }
}

/// Writes the case with the given padding byte; returns the length.
fn encode(case: &Case, body: &[AnyAttribute<'_>], padding: u8, buf: &mut [u8]) -> usize {
    let mut w = MessageWriter::new(buf, case.message_type, case.transaction_id).unwrap();
    w.set_padding_byte(padding);
    for a in body {
        a.write_to(&mut w).unwrap();
    }
    match &case.trailer {
        Trailer::Computed { mi, mi256, fp } => {
            if *mi {
                w.add_message_integrity(&IntegrityKey::new(&case.password))
                    .unwrap();
            }
            if *mi256 {
                w.add_message_integrity_sha256(&IntegrityKeySha256::new(&case.password))
                    .unwrap();
            }
            if *fp {
                w.add_fingerprint().unwrap();
            }
        }
        Trailer::Literal { mi, mi256, fp } => {
            if let Some(v) = mi {
                w.add(&MessageIntegrity(v)).unwrap();
            }
            if let Some(v) = mi256 {
                w.add(&MessageIntegritySha256(v)).unwrap();
            }
            if let Some(v) = fp {
                w.add(&Fingerprint(*v)).unwrap();
            }
        }
    }
    w.finish()
}

fn decode_all<'a>(msg: &Message<'a>) -> Vec<AnyAttribute<'a>> {
    let tid = msg.transaction_id();
    msg.attributes()
        .map(|raw| AnyAttribute::decode(raw, &tid).expect("attribute decodes"))
        .collect()
}

const BUF: usize = 1 << 16;

/// Round trip of one case: checks everything and returns the decoded body for comparison.
fn check_round_trip(case: &Case, padding: u8) -> Result<(), TestCaseError> {
    let storage = algorithm_storage(&case.attributes);
    let body: Vec<AnyAttribute<'_>> = case
        .attributes
        .iter()
        .zip(&storage)
        .map(|(s, algs)| any_attribute(s, algs))
        .collect();
    let mut buf = vec![0u8; BUF];
    let len = encode(case, &body, padding, &mut buf);
    let bytes = &buf[..len];
    prop_assert!(is_stun(bytes));
    // RFC 7983 only claims first bytes 0-3 for STUN (methods up to 0x0ff).
    if case.message_type.method.value() < 0x100 {
        prop_assert_eq!(classify(bytes), PacketKind::Stun);
    }

    let msg = Message::decode(bytes).expect("written message decodes");
    prop_assert_eq!(msg.message_type(), case.message_type);
    prop_assert_eq!(msg.transaction_id(), case.transaction_id);
    let decoded = decode_all(&msg);
    prop_assert!(decoded.len() >= body.len());
    prop_assert_eq!(&decoded[..body.len()], &body[..]);
    let tail = &decoded[body.len()..];

    match &case.trailer {
        Trailer::Computed { mi, mi256, fp } => {
            let expected: Vec<u16> = [
                (*mi, types::MESSAGE_INTEGRITY),
                (*mi256, types::MESSAGE_INTEGRITY_SHA256),
                (*fp, types::FINGERPRINT),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, t)| *t)
            .collect();
            let got: Vec<u16> = tail.iter().map(|a| a.attr_type()).collect();
            prop_assert_eq!(got, expected);
            let key = IntegrityKey::new(&case.password);
            let key256 = IntegrityKeySha256::new(&case.password);
            prop_assert_eq!(msg.has_integrity(), *mi);
            prop_assert_eq!(msg.has_integrity_sha256(), *mi256);
            prop_assert_eq!(msg.has_fingerprint(), *fp);
            let missing = Err(IntegrityError::Missing);
            let want = |on: bool| if on { Ok(()) } else { missing };
            prop_assert_eq!(msg.verify_integrity(&key), want(*mi));
            prop_assert_eq!(msg.verify_integrity_sha256(&key256), want(*mi256));
            prop_assert_eq!(msg.verify_fingerprint(), want(*fp));
            if *mi {
                let mut wrong = case.password.clone();
                wrong.push(b'x');
                prop_assert_eq!(
                    msg.verify_integrity(&IntegrityKey::new(&wrong)),
                    Err(IntegrityError::Mismatch)
                );
            }
        }
        Trailer::Literal { mi, mi256, fp } => {
            let mut expected = Vec::new();
            if let Some(v) = mi {
                expected.push(AnyAttribute::MessageIntegrity(MessageIntegrity(v)));
            }
            if let Some(v) = mi256 {
                expected.push(AnyAttribute::MessageIntegritySha256(
                    MessageIntegritySha256(v),
                ));
            }
            if let Some(v) = fp {
                expected.push(AnyAttribute::Fingerprint(Fingerprint(*v)));
            }
            prop_assert_eq!(tail, &expected[..]);
        }
    }

    // The same message padded with zeros reads the same.
    let mut zero_padded = vec![0u8; BUF];
    let zero_len = encode(case, &body, 0, &mut zero_padded);
    prop_assert_eq!(zero_len, len);
    let zero_msg = Message::decode(&zero_padded[..zero_len]).unwrap();
    let zero_decoded = decode_all(&zero_msg);
    prop_assert_eq!(&zero_decoded[..body.len()], &decoded[..body.len()]);
    prop_assert_eq!(
        zero_decoded
            .iter()
            .map(|a| a.attr_type())
            .collect::<Vec<_>>(),
        decoded.iter().map(|a| a.attr_type()).collect::<Vec<_>>()
    );
    Ok(())
}

/// True when `bytes` decodes and every protection the original carried verifies.
fn accepted(bytes: &[u8], case: &Case, mi: bool, mi256: bool, fp: bool) -> bool {
    let Ok(msg) = Message::decode(bytes) else {
        return false;
    };
    (!mi || msg
        .verify_integrity(&IntegrityKey::new(&case.password))
        .is_ok())
        && (!mi256
            || msg
                .verify_integrity_sha256(&IntegrityKeySha256::new(&case.password))
                .is_ok())
        && (!fp || msg.verify_fingerprint().is_ok())
}

fn protected_trailer() -> impl Strategy<Value = Trailer> {
    any::<(bool, bool, bool)>()
        .prop_filter("at least one protection", |(a, b, c)| *a || *b || *c)
        .prop_map(|(mi, mi256, fp)| Trailer::Computed { mi, mi256, fp })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn written_attributes_decode_back_unchanged_and_integrity_verifies(
        case in case(12, 40, 64, trailer())
    ) {
        check_round_trip(&case, case.padding)?;
    }

    #[test]
    fn padding_byte_does_not_change_what_decodes(
        case in case(8, 20, 32, trailer()),
        padding in 1u8..=255,
    ) {
        check_round_trip(&case, padding)?;
    }
}

proptest! {
    // Each case flips every bit of the message, so fewer, smaller cases.
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn no_single_bit_flip_passes_integrity_and_fingerprint(
        case in case(8, 24, 48, protected_trailer())
    ) {
        let Trailer::Computed { mi, mi256, fp } = case.trailer else { unreachable!() };
        let storage = algorithm_storage(&case.attributes);
        let body: Vec<AnyAttribute<'_>> = case
            .attributes
            .iter()
            .zip(&storage)
            .map(|(s, algs)| any_attribute(s, algs))
            .collect();
        let mut buf = vec![0u8; BUF];
        let len = encode(&case, &body, case.padding, &mut buf);
        let bytes = &mut buf[..len];
        prop_assert!(accepted(bytes, &case, mi, mi256, fp));
        for bit in 0..len * 8 {
            bytes[bit / 8] ^= 1 << (bit % 8);
            let ok = accepted(bytes, &case, mi, mi256, fp);
            bytes[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(!ok, "flipping bit {} of {} bytes was accepted", bit, len);
        }
    }
}
