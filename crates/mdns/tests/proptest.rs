//! Property tests: decoding never panics, whatever the bytes; generated messages survive
//! encode → decode unchanged; the resolver takes any datagram without panicking and still
//! ends every query.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use floe_mdns::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// Labels of 1..=63 arbitrary octets, cut so that the name stays within 255 octets.
fn name() -> impl Strategy<Value = Name> {
    vec(vec(any::<u8>(), 1..=63), 0..6).prop_map(|labels| {
        let mut total = 1;
        let kept: Vec<&[u8]> = labels
            .iter()
            .take_while(|l| {
                total += 1 + l.len();
                total <= 255
            })
            .map(|l| l.as_slice())
            .collect();
        Name::from_labels(kept).unwrap()
    })
}

/// Host-name-like `.local` names, in mixed case.
fn local_name() -> impl Strategy<Value = String> {
    vec("[a-zA-Z0-9-]{1,20}", 1..4).prop_map(|labels| format!("{}.local", labels.join(".")))
}

fn record() -> impl Strategy<Value = Record> {
    let data = prop_oneof![
        any::<[u8; 4]>().prop_map(|a| RecordData::A(Ipv4Addr::from(a))),
        any::<[u8; 16]>().prop_map(|a| RecordData::Aaaa(Ipv6Addr::from(a))),
        (any::<u16>(), vec(any::<u8>(), 0..40))
            .prop_filter("address types have their own variants", |(t, _)| {
                *t != 1 && *t != 28
            })
            .prop_map(|(t, data)| RecordData::Other {
                rtype: RecordType(t),
                data
            }),
    ];
    (name(), 0u16..0x8000, any::<bool>(), any::<u32>(), data).prop_map(
        |(name, class, cache_flush, ttl, data)| Record {
            name,
            class,
            cache_flush,
            ttl,
            data,
        },
    )
}

fn message() -> impl Strategy<Value = Message> {
    let question = (name(), any::<u16>(), 0u16..0x8000, any::<bool>()).prop_map(
        |(name, t, qclass, unicast_response)| Question {
            name,
            qtype: RecordType(t),
            qclass,
            unicast_response,
        },
    );
    (
        any::<u16>(),
        any::<u16>(),
        vec(question, 0..3),
        vec(record(), 0..4),
        vec(record(), 0..3),
        vec(record(), 0..4),
    )
        .prop_map(
            |(id, flags, questions, answers, authorities, additionals)| Message {
                id,
                flags: Flags(flags),
                questions,
                answers,
                authorities,
                additionals,
            },
        )
}

fn encoded(m: &Message) -> Vec<u8> {
    let mut buf = vec![0u8; 16_384];
    let len = m.encode(&mut buf).unwrap();
    buf.truncate(len);
    buf
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in vec(any::<u8>(), 0..600)) {
        let _ = Message::decode(&bytes);
    }

    /// Valid messages with a few octets overwritten reach deeper than random bytes.
    #[test]
    fn decode_never_panics_on_damaged_messages(
        m in message(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encoded(&m);
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let _ = Message::decode(&bytes);
        let _ = Message::decode(&bytes[..cut.index(bytes.len() + 1)]);
    }

    #[test]
    fn encode_decode_round_trips(m in message()) {
        let bytes = encoded(&m);
        let back = Message::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &m);
        // Equal ignoring case, and identical octet for octet.
        for (x, y) in back.answers.iter().zip(&m.answers) {
            prop_assert_eq!(x.name.as_wire(), y.name.as_wire());
        }
        // A buffer one octet short fails cleanly.
        let mut small = vec![0u8; bytes.len() - 1];
        prop_assert_eq!(m.encode(&mut small), Err(EncodeError::BufferTooSmall));
    }

    #[test]
    fn names_round_trip_through_text(text in local_name()) {
        let n = Name::from_dotted(&text).unwrap();
        prop_assert_eq!(n.to_string(), text.clone());
        prop_assert_eq!(Name::from_dotted(&n.to_string()).unwrap(), n);
        prop_assert_eq!(Name::from_dotted(&text.to_uppercase()).unwrap(), Name::from_dotted(&text).unwrap());
    }

    /// A query written by the resolver answers to a response naming it in any case.
    #[test]
    fn the_resolver_resolves_any_spelling(text in local_name(), ip in any::<[u8; 4]>()) {
        let ip = Ipv4Addr::from(ip);
        prop_assume!(!ip.is_unspecified() && !ip.is_multicast() && !ip.is_broadcast());
        let now = Instant::now();
        let mut r = Resolver::new(ResolverConfig::default());
        let id = r.resolve(now, &text).unwrap();
        let response = Message {
            flags: Flags(Flags::RESPONSE | Flags::AUTHORITATIVE),
            answers: vec![Record {
                name: Name::from_dotted(&text.to_lowercase()).unwrap(),
                class: 1,
                cache_flush: true,
                ttl: 120,
                data: RecordData::A(ip),
            }],
            ..Message::default()
        };
        r.handle_datagram(now, "10.0.0.1:5353".parse().unwrap(), &encoded(&response));
        prop_assert_eq!(
            r.poll_event(),
            Some(Event::Resolved { id, name: text.clone(), addresses: vec![ip.into()] })
        );
    }

    /// Arbitrary datagrams, from port 5353 or not, at arbitrary times: no panic, and once
    /// the deadline passes nothing is outstanding.
    #[test]
    fn the_resolver_survives_any_datagram(
        datagrams in vec((vec(any::<u8>(), 0..300), any::<bool>(), 0u64..3000), 0..20),
    ) {
        let start = Instant::now();
        let mut r = Resolver::new(ResolverConfig::default());
        r.resolve(start, "a.local").unwrap();
        r.resolve(start, "b.local").unwrap();
        let mut buf = [0u8; MAX_QUERY_LEN];
        for (bytes, port_5353, at) in datagrams {
            let from = SocketAddr::from(([10, 0, 0, 1], if port_5353 { 5353 } else { 40000 }));
            let now = start + Duration::from_millis(at);
            r.handle_datagram(now, from, &bytes);
            r.handle_timeout(now);
            while r.poll_transmit(&mut buf).is_some() {}
        }
        r.handle_timeout(start + Duration::from_secs(2));
        prop_assert_eq!(r.outstanding(), 0);
        prop_assert_eq!(r.poll_timeout(), None);
        let mut ended = 0;
        while r.poll_event().is_some() {
            ended += 1;
        }
        prop_assert_eq!(ended, 2);
    }
}
