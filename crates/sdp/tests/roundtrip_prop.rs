//! Generated descriptions and candidates round-trip: write → parse → equal.

use std::net::IpAddr;

use floe_sdp::{
    Attribute, Bandwidth, Candidate, CandidateAddress, CandidateType, Connection, MediaDescription,
    Origin, Repeat, SessionDescription, TcpType, TimeUnit, TimeZoneAdjustment, Timing, Transport,
    TypedTime,
};
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9!#$%&'*+.^_`{|}~-]{0,11}"
}

fn text() -> impl Strategy<Value = String> {
    "[ -~]{0,24}"
}

fn word() -> impl Strategy<Value = String> {
    "[!-~]{1,12}"
}

fn address() -> impl Strategy<Value = CandidateAddress> {
    prop_oneof![
        any::<IpAddr>().prop_map(CandidateAddress::Ip),
        "[a-z0-9-]{1,16}(\\.[a-z0-9_-]{1,10}){0,3}"
            .prop_filter("not an IP", |s| s.parse::<IpAddr>().is_err())
            .prop_map(CandidateAddress::Fqdn),
    ]
}

fn candidate() -> impl Strategy<Value = Candidate> {
    let transport = prop_oneof![
        Just(Transport::Udp),
        Just(Transport::Tcp),
        token()
            .prop_filter("known", |t| !["udp", "tcp"]
                .contains(&t.to_ascii_lowercase().as_str()))
            .prop_map(Transport::Other),
    ];
    let typ = prop_oneof![
        Just(CandidateType::Host),
        Just(CandidateType::ServerReflexive),
        Just(CandidateType::PeerReflexive),
        Just(CandidateType::Relay),
        token()
            .prop_filter("known", |t| {
                !["host", "srflx", "prflx", "relay"].contains(&t.to_ascii_lowercase().as_str())
            })
            .prop_map(CandidateType::Other),
    ];
    let tcp = prop_oneof![
        Just(TcpType::Active),
        Just(TcpType::Passive),
        Just(TcpType::SimultaneousOpen)
    ];
    let ext = (
        token().prop_filter("own field", |n| {
            !["raddr", "rport", "tcptype"].contains(&n.as_str())
        }),
        word(),
    );
    (
        "[a-zA-Z0-9+/]{1,32}",
        0u16..1000,
        transport,
        any::<u32>(),
        address(),
        any::<u16>(),
        typ,
        proptest::option::of(address()),
        proptest::option::of(any::<u16>()),
        proptest::option::of(tcp),
        proptest::collection::vec(ext, 0..4),
    )
        .prop_map(
            |(f, comp, tr, prio, addr, port, typ, ra, rp, tt, ext)| Candidate {
                foundation: f,
                component: comp,
                transport: tr,
                priority: prio,
                address: addr,
                port,
                typ,
                related_address: ra,
                related_port: rp,
                tcp_type: tt,
                extensions: ext,
            },
        )
}

fn typed_time() -> impl Strategy<Value = TypedTime> {
    let unit = proptest::option::of(prop_oneof![
        Just(TimeUnit::Days),
        Just(TimeUnit::Hours),
        Just(TimeUnit::Minutes),
        Just(TimeUnit::Seconds)
    ]);
    (any::<u64>(), unit).prop_map(|(value, unit)| TypedTime { value, unit })
}

fn connection() -> impl Strategy<Value = Connection> {
    (token(), token(), "[a-z0-9.:/]{1,20}").prop_map(|(n, a, addr)| Connection {
        net_type: n,
        addr_type: a,
        address: addr,
    })
}

fn bandwidth() -> impl Strategy<Value = Bandwidth> {
    ("[A-Z]{1,4}", any::<u64>()).prop_map(|(t, b)| Bandwidth {
        bwtype: t,
        bandwidth: b,
    })
}

fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        "x-[a-z-]{1,8}".prop_map(Attribute::flag),
        ("x-[a-z-]{1,8}", text()).prop_map(|(n, v)| Attribute::new(n, v)),
        candidate().prop_map(|c| Attribute::new("candidate", c.to_value_string())),
        "[a-zA-Z0-9+/]{4,24}".prop_map(|u| Attribute::new("ice-ufrag", u)),
        "[a-z0-9]{1,4}".prop_map(|m| Attribute::new("mid", m)),
        any::<u16>().prop_map(|p| Attribute::new("sctp-port", p.to_string())),
        Just(Attribute::flag("rtcp-mux")),
        Just(Attribute::new("setup", "actpass")),
    ]
}

fn media() -> impl Strategy<Value = MediaDescription> {
    (
        "[a-z]{1,10}",
        any::<u16>(),
        proptest::option::of(any::<u16>()),
        "[A-Z]{1,4}(/[A-Z]{1,4}){0,2}",
        proptest::collection::vec("[a-z0-9-]{1,8}", 1..4),
        proptest::option::of(text()),
        proptest::collection::vec(connection(), 0..2),
        proptest::collection::vec(bandwidth(), 0..2),
        proptest::option::of(text()),
        proptest::collection::vec(attribute(), 0..8),
    )
        .prop_map(
            |(media, port, n, proto, formats, info, conns, bws, key, attrs)| {
                let mut m = MediaDescription::new(media, port, proto, formats);
                m.num_ports = n;
                m.information = info;
                m.connections = conns;
                m.bandwidths = bws;
                m.key = key;
                m.attributes = attrs;
                m
            },
        )
}

fn timing() -> impl Strategy<Value = Timing> {
    let repeat = (
        typed_time(),
        typed_time(),
        proptest::collection::vec(typed_time(), 1..3),
    )
        .prop_map(|(i, d, o)| Repeat {
            interval: i,
            active_duration: d,
            offsets: o,
        });
    (
        any::<u64>(),
        any::<u64>(),
        proptest::collection::vec(repeat, 0..2),
    )
        .prop_map(|(start, stop, repeats)| Timing {
            start,
            stop,
            repeats,
        })
}

fn description() -> impl Strategy<Value = SessionDescription> {
    let origin = (
        "[a-zA-Z0-9-]{1,8}",
        any::<u64>(),
        any::<u64>(),
        token(),
        token(),
        token(),
    )
        .prop_map(|(u, id, v, n, a, addr)| Origin {
            username: u,
            session_id: id,
            session_version: v,
            net_type: n,
            addr_type: a,
            unicast_address: addr,
        });
    let zone =
        (any::<u64>(), any::<bool>(), typed_time()).prop_map(|(t, neg, o)| TimeZoneAdjustment {
            time: t,
            negative: neg,
            offset: o,
        });
    let texts = (
        text(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::collection::vec(text(), 0..2),
        proptest::collection::vec(text(), 0..2),
        proptest::option::of(text()),
    );
    (
        origin,
        texts,
        proptest::option::of(connection()),
        proptest::collection::vec(bandwidth(), 0..2),
        proptest::collection::vec(timing(), 1..3),
        proptest::collection::vec(zone, 0..3),
        proptest::collection::vec(attribute(), 0..6),
        proptest::collection::vec(media(), 0..4),
    )
        .prop_map(|(origin, (s, i, u, e, p, k), c, b, t, z, a, m)| {
            let mut d = SessionDescription::new(0, 0);
            d.origin = origin;
            d.session_name = s;
            d.information = i;
            d.uri = u;
            d.emails = e;
            d.phones = p;
            d.key = k;
            d.connection = c;
            d.bandwidths = b;
            d.timings = t;
            d.time_zones = z;
            d.attributes = a;
            d.media = m;
            d
        })
}

proptest! {
    #[test]
    fn generated_candidates_round_trip(c in candidate()) {
        let text = c.to_string();
        prop_assert_eq!(text.parse::<Candidate>().unwrap(), c.clone());
        prop_assert_eq!(Candidate::parse_value(&c.to_value_string()).unwrap(), c);
    }

    #[test]
    fn generated_descriptions_round_trip(d in description()) {
        let text = d.to_string();
        let parsed = SessionDescription::parse(&text)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(parsed.to_string(), text);
        prop_assert_eq!(parsed, d);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "(([a-z]=)?[ -~]{0,30}\r?\n){0,12}") {
        let _ = SessionDescription::parse(&s);
    }
}
