//! The resolver's behaviour: what it sends and when, which responses resolve a query, which
//! are ignored, timeouts, the cache and the bounds.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use floe_mdns::*;

const NAME: &str = "3c7e5f0a-1b2c-4d5e-8f90-a1b2c3d4e5f6.local";
const RESPONDER: &str = "192.168.1.20:5353";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn a(name: &str, ip: [u8; 4], ttl: u32) -> Record {
    Record {
        name: Name::from_dotted(name).unwrap(),
        class: 1,
        cache_flush: true,
        ttl,
        data: RecordData::A(Ipv4Addr::from(ip)),
    }
}

fn aaaa(name: &str, ip: &str, ttl: u32) -> Record {
    Record {
        name: Name::from_dotted(name).unwrap(),
        class: 1,
        cache_flush: true,
        ttl,
        data: RecordData::Aaaa(ip.parse::<Ipv6Addr>().unwrap()),
    }
}

fn nsec(name: &str) -> Record {
    Record {
        name: Name::from_dotted(name).unwrap(),
        class: 1,
        cache_flush: true,
        ttl: 120,
        data: RecordData::Other {
            rtype: RecordType(47),
            data: vec![0xC0, 12, 0, 1, 0x40],
        },
    }
}

/// A Multicast DNS response (RFC 6762 §18: ID 0, QR and AA set, no questions).
fn response(answers: Vec<Record>, additionals: Vec<Record>) -> Vec<u8> {
    let m = Message {
        id: 0,
        flags: Flags(Flags::RESPONSE | Flags::AUTHORITATIVE),
        answers,
        additionals,
        ..Message::default()
    };
    let mut buf = vec![0u8; 2048];
    let len = m.encode(&mut buf).unwrap();
    buf.truncate(len);
    buf
}

/// Every transmit queued now, decoded: (destination, question type, question name).
fn drain(r: &mut Resolver) -> Vec<(SocketAddr, RecordType, String)> {
    let mut buf = [0u8; MAX_QUERY_LEN];
    let mut out = Vec::new();
    while let Some(t) = r.poll_transmit(&mut buf) {
        let m = Message::decode(&buf[..t.len]).unwrap();
        assert_eq!(m.id, 0);
        assert_eq!(m.flags, Flags(0));
        assert_eq!(m.questions.len(), 1);
        assert!(m.answers.is_empty() && m.authorities.is_empty() && m.additionals.is_empty());
        let q = &m.questions[0];
        assert_eq!(q.qclass, 1);
        assert!(!q.unicast_response);
        out.push((t.destination, q.qtype, q.name.to_string()));
    }
    out
}

fn events(r: &mut Resolver) -> Vec<Event> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

#[test]
fn first_round_asks_a_and_aaaa_on_each_family() {
    let now = Instant::now();
    let mut r = Resolver::new(ResolverConfig::default());
    r.resolve(now, "Host.Local.").unwrap();
    let v4 = addr("224.0.0.251:5353");
    assert_eq!(
        drain(&mut r),
        vec![
            (v4, RecordType::A, "Host.Local".to_string()),
            (v4, RecordType::AAAA, "Host.Local".to_string()),
        ]
    );

    let config = ResolverConfig {
        ipv6: true,
        ..ResolverConfig::default()
    };
    let mut r = Resolver::new(config);
    r.resolve(now, NAME).unwrap();
    let sent = drain(&mut r);
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[2].0, addr("[ff02::fb]:5353"));
    assert_eq!(sent[3].1, RecordType::AAAA);

    let mut r = Resolver::new(ResolverConfig {
        ipv4: false,
        ..config
    });
    r.resolve(now, NAME).unwrap();
    assert!(drain(&mut r).iter().all(|s| s.0.is_ipv6()));
}

#[test]
fn retransmits_at_0_250_750_ms_then_times_out_at_2_s() {
    let start = Instant::now();
    let mut r = Resolver::new(ResolverConfig::default());
    let id = r.resolve(start, NAME).unwrap();
    assert_eq!(drain(&mut r).len(), 2);
    assert_eq!(r.poll_timeout(), Some(start + ms(250)));

    // Early wake-ups do nothing.
    r.handle_timeout(start + ms(249));
    assert!(drain(&mut r).is_empty());

    r.handle_timeout(start + ms(250));
    assert_eq!(drain(&mut r).len(), 2);
    assert_eq!(r.poll_timeout(), Some(start + ms(750)));

    r.handle_timeout(start + ms(750));
    assert_eq!(drain(&mut r).len(), 2);
    // Three transmissions: only the deadline is left.
    assert_eq!(r.poll_timeout(), Some(start + ms(2000)));

    r.handle_timeout(start + ms(1999));
    assert!(drain(&mut r).is_empty());
    assert!(events(&mut r).is_empty());

    r.handle_timeout(start + ms(2000));
    assert_eq!(
        events(&mut r),
        vec![Event::TimedOut {
            id,
            name: NAME.to_string()
        }]
    );
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(r.outstanding(), 0);
}

#[test]
fn a_late_caller_gets_one_round_not_a_burst() {
    let start = Instant::now();
    let mut r = Resolver::new(ResolverConfig {
        max_transmissions: 5,
        timeout: ms(10_000),
        ..ResolverConfig::default()
    });
    r.resolve(start, NAME).unwrap();
    drain(&mut r);
    // Rounds are due at 250, 750, 1750 and 3750 ms; waking at 2 s sends one round and
    // schedules the one at 3750 ms.
    r.handle_timeout(start + ms(2000));
    assert_eq!(drain(&mut r).len(), 2);
    assert_eq!(r.poll_timeout(), Some(start + ms(3750)));
}

#[test]
fn every_query_ends_by_its_deadline_with_any_config() {
    for (interval, transmissions, timeout) in [
        (ms(0), 10, ms(100)),
        (ms(1000), 3, ms(500)),
        (ms(10), 0, ms(50)),
        (ms(10), u32::MAX, ms(300)),
        (Duration::MAX, 3, ms(1)),
        (ms(10), 3, ms(0)),
    ] {
        let start = Instant::now();
        let mut r = Resolver::new(ResolverConfig {
            retransmit_interval: interval,
            max_transmissions: transmissions,
            timeout,
            ..ResolverConfig::default()
        });
        let id = r.resolve(start, NAME).unwrap();
        let mut steps = 0;
        while let Some(at) = r.poll_timeout() {
            assert!(at <= start + timeout);
            r.handle_timeout(at);
            drain(&mut r);
            steps += 1;
            assert!(steps < 100, "{interval:?} {transmissions} {timeout:?}");
        }
        assert_eq!(
            events(&mut r),
            vec![Event::TimedOut {
                id,
                name: NAME.to_string()
            }]
        );
    }
}

#[test]
fn resolves_from_the_answer_section_ignoring_case() {
    let now = Instant::now();
    let mut r = Resolver::new(ResolverConfig::default());
    let id = r.resolve(now, NAME).unwrap();
    drain(&mut r);
    let upper = NAME.to_ascii_uppercase();
    let bytes = response(
        vec![
            a(&upper, [192, 168, 1, 20], 120),
            a(NAME, [192, 168, 1, 20], 120),
            aaaa(NAME, "fe80::1", 120),
        ],
        vec![],
    );
    r.handle_datagram(now + ms(5), addr(RESPONDER), &bytes);
    assert_eq!(
        events(&mut r),
        vec![Event::Resolved {
            id,
            name: NAME.to_string(),
            addresses: vec![
                IpAddr::from([192, 168, 1, 20]),
                "fe80::1".parse::<IpAddr>().unwrap()
            ],
        }]
    );
    // Resolved: no more transmissions or timers.
    assert_eq!(r.poll_timeout(), None);
    r.handle_timeout(now + ms(250));
    assert!(drain(&mut r).is_empty());
    assert!(events(&mut r).is_empty());
}

/// Chromium answers a question for a record type the name lacks with an NSEC record in the
/// answer section and the address in the additional section.
#[test]
fn resolves_from_the_additional_section() {
    let now = Instant::now();
    let mut r = Resolver::new(ResolverConfig::default());
    let id = r.resolve(now, NAME).unwrap();
    let bytes = response(vec![nsec(NAME)], vec![a(NAME, [10, 0, 0, 3], 120)]);
    r.handle_datagram(now, addr("10.0.0.3:5353"), &bytes);
    assert_eq!(
        events(&mut r),
        vec![Event::Resolved {
            id,
            name: NAME.to_string(),
            addresses: vec![IpAddr::from([10, 0, 0, 3])],
        }]
    );
}

/// A legacy unicast response (RFC 6762 §6.7) repeats the ID and the question.
#[test]
fn resolves_from_a_legacy_unicast_response() {
    let now = Instant::now();
    let mut r = Resolver::new(ResolverConfig::default());
    let id = r.resolve(now, NAME).unwrap();
    let m = Message {
        id: 0,
        flags: Flags(Flags::RESPONSE | Flags::AUTHORITATIVE),
        questions: vec![Question {
            name: Name::from_dotted(NAME).unwrap(),
            qtype: RecordType::A,
            qclass: 1,
            unicast_response: false,
        }],
        answers: vec![Record {
            cache_flush: false,
            ..a(NAME, [10, 1, 2, 3], 10)
        }],
        ..Message::default()
    };
    let mut buf = [0u8; 512];
    let len = m.encode(&mut buf).unwrap();
    r.handle_datagram(now, addr("10.1.2.3:5353"), &buf[..len]);
    assert!(matches!(
        events(&mut r).as_slice(),
        [Event::Resolved { id: got, .. }] if *got == id
    ));
}

#[test]
fn ignores_what_rfc_6762_says_to_ignore() {
    let now = Instant::now();
    let mut r = Resolver::new(ResolverConfig::default());
    r.resolve(now, NAME).unwrap();
    let good = response(vec![a(NAME, [192, 168, 1, 20], 120)], vec![]);

    // §6: a response from a port other than 5353.
    r.handle_datagram(now, addr("192.168.1.20:5354"), &good);
    // §18.3, §18.11: nonzero OPCODE or RCODE.
    let mut bad = good.clone();
    bad[2] |= 0x08; // OPCODE 1
    r.handle_datagram(now, addr(RESPONDER), &bad);
    let mut bad = good.clone();
    bad[3] |= 0x03; // RCODE 3
    r.handle_datagram(now, addr(RESPONDER), &bad);
    // A query, not a response.
    let mut bad = good.clone();
    bad[2] &= 0x7F;
    r.handle_datagram(now, addr(RESPONDER), &bad);
    // Other names, other classes, goodbyes, unusable addresses.
    let other = response(
        vec![
            a("other.local", [192, 168, 1, 21], 120),
            Record {
                class: 3,
                ..a(NAME, [192, 168, 1, 22], 120)
            },
            a(NAME, [192, 168, 1, 23], 0),
            a(NAME, [0, 0, 0, 0], 120),
            a(NAME, [224, 0, 0, 251], 120),
            a(NAME, [255, 255, 255, 255], 120),
            aaaa(NAME, "::", 120),
            aaaa(NAME, "ff02::fb", 120),
        ],
        vec![],
    );
    r.handle_datagram(now, addr(RESPONDER), &other);
    // The authority section does not answer.
    let m = Message {
        flags: Flags(Flags::RESPONSE),
        authorities: vec![a(NAME, [192, 168, 1, 24], 120)],
        ..Message::default()
    };
    let mut buf = [0u8; 512];
    let len = m.encode(&mut buf).unwrap();
    r.handle_datagram(now, addr(RESPONDER), &buf[..len]);
    // Malformed: truncated anywhere.
    for cut in 0..good.len() {
        r.handle_datagram(now, addr(RESPONDER), &good[..cut]);
    }
    assert!(events(&mut r).is_empty());
    assert_eq!(r.outstanding(), 1);

    // The intact response still resolves.
    r.handle_datagram(now, addr(RESPONDER), &good);
    assert_eq!(events(&mut r).len(), 1);
}

#[test]
fn one_query_per_name_and_the_cache() {
    let now = Instant::now();
    let mut r = Resolver::new(ResolverConfig::default());
    let id = r.resolve(now, NAME).unwrap();
    assert_eq!(r.resolve(now, &NAME.to_uppercase()).unwrap(), id);
    assert_eq!(drain(&mut r).len(), 2);
    assert_eq!(r.outstanding(), 1);

    r.handle_datagram(
        now,
        addr(RESPONDER),
        &response(vec![a(NAME, [192, 168, 1, 20], 10)], vec![]),
    );
    assert_eq!(events(&mut r).len(), 1);

    // Within the TTL the cache answers at once, without sending.
    let again = r.resolve(now + ms(9_999), NAME).unwrap();
    assert_ne!(again, id);
    assert!(drain(&mut r).is_empty());
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(
        events(&mut r),
        vec![Event::Resolved {
            id: again,
            name: NAME.to_string(),
            addresses: vec![IpAddr::from([192, 168, 1, 20])],
        }]
    );

    // After it, a new query goes out.
    r.resolve(now + ms(10_000), NAME).unwrap();
    assert_eq!(drain(&mut r).len(), 2);
    assert!(events(&mut r).is_empty());
}

#[test]
fn a_goodbye_empties_the_cache() {
    let now = Instant::now();
    let mut r = Resolver::new(ResolverConfig::default());
    r.resolve(now, NAME).unwrap();
    r.handle_datagram(
        now,
        addr(RESPONDER),
        &response(vec![a(NAME, [192, 168, 1, 20], 120)], vec![]),
    );
    events(&mut r);
    r.handle_datagram(
        now,
        addr(RESPONDER),
        &response(vec![a(NAME, [192, 168, 1, 20], 0)], vec![]),
    );
    r.resolve(now, NAME).unwrap();
    assert_eq!(drain(&mut r).len(), 2);
    assert!(events(&mut r).is_empty());
}

#[test]
fn the_cache_is_bounded() {
    let now = Instant::now();
    let mut r = Resolver::new(ResolverConfig {
        max_cached: 2,
        ..ResolverConfig::default()
    });
    for (i, ttl) in [(1u8, 30), (2, 10), (3, 20)] {
        let name = format!("h{i}.local");
        r.resolve(now, &name).unwrap();
        r.handle_datagram(
            now,
            addr(RESPONDER),
            &response(vec![a(&name, [10, 0, 0, i], ttl)], vec![]),
        );
    }
    drain(&mut r);
    events(&mut r);
    // h2 expired first, so it was evicted; h1 and h3 are cached.
    for (name, cached) in [("h1.local", true), ("h2.local", false), ("h3.local", true)] {
        r.resolve(now, name).unwrap();
        assert_eq!(drain(&mut r).is_empty(), cached, "{name}");
    }
}

#[test]
fn names_are_validated_and_outstanding_queries_bounded() {
    let now = Instant::now();
    let mut r = Resolver::new(ResolverConfig {
        max_outstanding: 2,
        ..ResolverConfig::default()
    });
    assert_eq!(r.resolve(now, "example.com"), Err(ResolveError::NotLocal));
    assert_eq!(r.resolve(now, "local"), Err(ResolveError::NotLocal));
    assert_eq!(r.resolve(now, "local."), Err(ResolveError::NotLocal));
    assert_eq!(r.resolve(now, ""), Err(ResolveError::NotLocal));
    assert_eq!(
        r.resolve(now, "a..local"),
        Err(ResolveError::InvalidName(NameError::EmptyLabel))
    );
    assert_eq!(
        r.resolve(now, &format!("{}.local", "x".repeat(64))),
        Err(ResolveError::InvalidName(NameError::LabelTooLong))
    );
    assert_eq!(r.resolve(now, "a b.local"), Err(ResolveError::BadCharacter));
    assert_eq!(
        r.resolve(now, "a\nb.local"),
        Err(ResolveError::BadCharacter)
    );
    assert!(r.resolve(now, "a.LOCAL").is_ok());
    assert!(r.resolve(now, "b.c.local").is_ok());
    assert_eq!(r.resolve(now, "d.local"), Err(ResolveError::Full));
    assert_eq!(r.outstanding(), 2);
}

#[test]
fn cancel_forgets_a_query_silently() {
    let now = Instant::now();
    let mut r = Resolver::new(ResolverConfig::default());
    let id = r.resolve(now, NAME).unwrap();
    assert!(r.cancel(id));
    assert!(!r.cancel(id));
    assert!(drain(&mut r).is_empty());
    assert_eq!(r.poll_timeout(), None);
    r.handle_timeout(now + ms(5000));
    assert!(events(&mut r).is_empty());
}

#[test]
fn a_small_buffer_drops_the_datagram_without_panicking() {
    let now = Instant::now();
    let mut r = Resolver::new(ResolverConfig::default());
    r.resolve(now, NAME).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(r.poll_transmit(&mut buf), None);
}
