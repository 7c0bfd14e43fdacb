//! Hand-written cases from the RFC 8866 and RFC 8839 grammars.

use floe_sdp::{
    Attribute, Candidate, CandidateAddress, CandidateError, CandidateType, Direction, ErrorKind,
    IceOption, Limit, ParseLimits, SessionDescription, TcpType, TimeUnit, Transport,
};

const HEAD: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

fn parse(s: &str) -> SessionDescription {
    SessionDescription::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

fn error(s: &str) -> (usize, ErrorKind) {
    let e = SessionDescription::parse(s).expect_err("should not parse");
    (e.line, e.kind)
}

fn with_media(attrs: &str) -> String {
    format!("{HEAD}m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n{attrs}")
}

#[test]
fn ipv6_candidate_parses_and_prints() {
    let s = "candidate:1 1 udp 2122262783 2001:db8::1 50000 typ host generation 0";
    let c: Candidate = s.parse().unwrap();
    assert_eq!(
        c.address,
        CandidateAddress::Ip("2001:db8::1".parse().unwrap())
    );
    assert_eq!(c.to_string(), s);
}

#[test]
fn tcp_candidate_has_tcptype() {
    let s = "candidate:2 1 tcp 1518280447 192.0.2.7 9 typ host tcptype active generation 0";
    let c: Candidate = s.parse().unwrap();
    assert_eq!(c.transport, Transport::Tcp);
    assert_eq!(c.tcp_type, Some(TcpType::Active));
    assert_eq!(c.port, 9);
    assert_eq!(c.to_string(), s);
    for (t, want) in [
        ("passive", TcpType::Passive),
        ("so", TcpType::SimultaneousOpen),
    ] {
        let c: Candidate = format!("1 1 TCP 1 ::1 5 typ host tcptype {t}")
            .parse()
            .unwrap();
        assert_eq!(c.tcp_type, Some(want));
    }
}

#[test]
fn fqdn_relay_candidate_keeps_related_address() {
    let s =
        "candidate:3 1 udp 41885439 turn.example.com 3478 typ relay raddr 198.51.100.1 rport 60000";
    let c: Candidate = s.parse().unwrap();
    assert_eq!(c.address, CandidateAddress::Fqdn("turn.example.com".into()));
    assert!(!c.address.is_mdns());
    assert_eq!(c.typ, CandidateType::Relay);
    assert_eq!(c.related_port, Some(60000));
    assert_eq!(c.to_string(), s);
}

#[test]
fn unknown_candidate_extensions_are_kept_in_order() {
    let s = "1 1 udp 1 10.0.0.1 1 typ host network-id 3 network-cost 10 x-new a+b";
    let c: Candidate = s.parse().unwrap();
    assert_eq!(c.extension("network-id"), Some("3"));
    assert_eq!(c.extensions.len(), 3);
    assert_eq!(c.extensions[2], ("x-new".into(), "a+b".into()));
    assert_eq!(c.to_value_string(), s);
}

#[test]
fn candidate_accepts_a_line_prefix_and_surrounding_whitespace() {
    let c: Candidate = " a=candidate:1 1 UDP 5 10.0.0.1 1 typ HOST \r\n"
        .parse()
        .unwrap();
    assert_eq!(c.transport, Transport::Udp);
    assert_eq!(c.typ, CandidateType::Host);
}

#[test]
fn unknown_candidate_type_and_transport_are_kept() {
    let c: Candidate = "1 1 sctp 5 10.0.0.1 1 typ future".parse().unwrap();
    assert_eq!(c.transport, Transport::Other("sctp".into()));
    assert_eq!(c.typ, CandidateType::Other("future".into()));
}

#[test]
fn bad_candidates_name_what_is_wrong() {
    let cases: &[(&str, CandidateError)] = &[
        ("", CandidateError::Missing("foundation")),
        ("1 1 udp 5 10.0.0.1", CandidateError::Missing("port")),
        ("1 1 udp 5 10.0.0.1 1 host", CandidateError::InvalidType),
        (
            "1 1 udp 5 10.0.0.1 1 typ",
            CandidateError::Missing("candidate type"),
        ),
        (
            "f=o 1 udp 5 10.0.0.1 1 typ host",
            CandidateError::InvalidFoundation,
        ),
        (
            "1 1000 udp 5 10.0.0.1 1 typ host",
            CandidateError::InvalidComponent,
        ),
        (
            "1 1 udp 4294967296 10.0.0.1 1 typ host",
            CandidateError::InvalidPriority,
        ),
        (
            "1 1 udp -5 10.0.0.1 1 typ host",
            CandidateError::InvalidPriority,
        ),
        (
            "1 1 udp 5 10.0.0.1 65536 typ host",
            CandidateError::InvalidPort,
        ),
        (
            "1 1 udp 5 bad%host 1 typ host",
            CandidateError::InvalidAddress,
        ),
        (
            "1 1 udp 5 10.0.0.1 1 typ srflx raddr",
            CandidateError::DanglingExtension("raddr".into()),
        ),
        (
            "1 1 udp 5 10.0.0.1 1 typ srflx rport x",
            CandidateError::InvalidRelatedPort,
        ),
        (
            "1 1 udp 5 10.0.0.1 1 typ srflx raddr ! rport 1",
            CandidateError::InvalidRelatedAddress,
        ),
        (
            "1 1 tcp 5 10.0.0.1 1 typ host tcptype both",
            CandidateError::InvalidTcpType,
        ),
        (
            "1 1 udp 5 10.0.0.1 1 typ srflx rport 1 rport 2",
            CandidateError::Duplicate("rport"),
        ),
    ];
    for (s, want) in cases {
        assert_eq!(&s.parse::<Candidate>().unwrap_err(), want, "{s}");
    }
    let long = format!("1 1 udp 5 10.0.0.1 1 typ host{}", " a b".repeat(2000));
    assert_eq!(
        long.parse::<Candidate>().unwrap_err(),
        CandidateError::TooLong
    );
}

#[test]
fn media_level_ufrag_wins_over_session_level() {
    let s = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-ufrag:sess\r\na=ice-pwd:sessionpassword0123456789\r\n\
         a=ice-options:ice2 trickle\r\n\
         m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-ufrag:media\r\na=mid:a\r\n\
         m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:b\r\na=ice-options:renomination\r\n";
    let d = parse(s);
    assert_eq!(d.ice_ufrag_for(0), Some("media"));
    assert_eq!(d.ice_pwd_for(0), Some("sessionpassword0123456789"));
    assert_eq!(d.ice_ufrag_for(1), Some("sess"));
    assert_eq!(
        d.ice_options_for(0),
        Some(vec![IceOption::Ice2, IceOption::Trickle])
    );
    assert_eq!(d.ice_options_for(1), Some(vec![IceOption::Renomination]));
    assert_eq!(d.media_by_mid("b").map(|m| m.ice_ufrag()), Some(None));
    assert_eq!(d.to_string(), s);
}

#[test]
fn ice_lite_is_read_at_session_level() {
    let d = parse(&format!("{HEAD}a=ice-lite\r\n"));
    assert!(d.ice_lite());
    let mut d2 = parse(HEAD);
    assert!(!d2.ice_lite());
    d2.set_ice_lite(true);
    assert_eq!(d2.to_string(), d.to_string());
}

#[test]
fn every_session_level_line_round_trips() {
    let s = "v=0\r\no=jdoe 3724394400 3724394405 IN IP4 198.51.100.1\r\ns=Call to John Smith\r\n\
             i=SDP Offer #1\r\nu=http://www.jdoe.example.com/home.html\r\ne=Jane Doe <jane@jdoe.example.com>\r\n\
             e=j@x.example\r\np=+1 617 555-6011\r\nc=IN IP4 198.51.100.1\r\nb=CT:128\r\nt=0 0\r\n\
             t=3724394400 3724398000\r\nr=7d 1h 0 25h\r\nr=604800 3600 0 90000\r\n\
             z=2882844526 -1h 2898848070 0\r\nk=prompt\r\na=recvonly\r\n\
             m=audio 49170/2 RTP/AVP 0 8\r\ni=voice\r\nc=IN IP6 2001:db8::2\r\nc=IN IP4 233.252.0.1/127/3\r\n\
             b=AS:64\r\nk=clear:abc\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\na=rtcp-mux\r\n\
             m=video 0 RTP/AVP 99\r\na=rtpmap:99 h263-1998/90000\r\n";
    let d = parse(s);
    assert_eq!(d.to_string(), s);
    assert_eq!(d.emails.len(), 2);
    assert_eq!(d.timings[1].repeats[0].interval.unit, Some(TimeUnit::Days));
    assert_eq!(d.timings[1].repeats[0].active_duration.seconds(), 3600);
    assert!(d.time_zones[0].negative);
    assert_eq!(d.media[0].num_ports, Some(2));
    assert_eq!(d.media[0].connections.len(), 2);
    assert_eq!(d.direction_for(0), Direction::SendOnly);
    assert_eq!(d.direction_for(1), Direction::RecvOnly);
    assert!(d.media[0].rtcp_mux());
    assert!(d.media[1].is_rejected());
}

#[test]
fn missing_optional_fields_default_sensibly() {
    let d = parse(&with_media(""));
    let m = &d.media[0];
    assert_eq!(m.mid(), None);
    assert_eq!(d.ice_ufrag_for(0), None);
    assert_eq!(m.candidates().count(), 0);
    assert_eq!(m.setup(), None);
    assert_eq!(m.sctp_port(), None);
    assert_eq!(d.direction_for(0), Direction::SendRecv);
    assert_eq!(d.direction_for(7), Direction::SendRecv);
    assert_eq!(d.bundle_group(), None);
    assert_eq!(d.ice_options_for(0), None);
}

#[test]
fn lf_only_line_endings_and_trailing_whitespace_are_accepted() {
    let s = "v=0\no=- 1 2 IN IP4 127.0.0.1 \ns=-\nt=0 0\t\n\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=ice-ufrag:abcd  \na=rtcp-mux \n";
    let d = parse(s);
    assert_eq!(d.media[0].ice_ufrag(), Some("abcd"));
    assert!(d.media[0].rtcp_mux());
    // Writing normalises to CRLF; writing again is stable.
    let out = d.to_string();
    assert!(out.ends_with("a=rtcp-mux\r\n"));
    assert_eq!(parse(&out), d);
}

#[test]
fn unknown_attributes_are_kept_in_order() {
    let s = with_media("a=x-b:2\r\na=x-a\r\na=x-b:1\r\na=x-empty:\r\n");
    let d = parse(&s);
    let a = &d.media[0].attributes;
    assert_eq!(a[0], Attribute::new("x-b", "2"));
    assert_eq!(a[1], Attribute::flag("x-a"));
    assert_eq!(a[3], Attribute::new("x-empty", ""));
    assert_eq!(d.to_string(), s);
}

#[test]
fn setters_replace_or_append_attributes() {
    let mut d = parse(&with_media("a=mid:0\r\na=setup:actpass\r\n"));
    let m = &mut d.media[0];
    m.set_setup(floe_sdp::Setup::Passive);
    m.set_sctp_port(5001);
    m.set_end_of_candidates(true);
    m.add_candidate(&"1 1 udp 1 10.0.0.1 1 typ host".parse().unwrap());
    m.set_direction(Direction::Inactive);
    m.set_direction(Direction::SendOnly);
    let names: Vec<_> = m.attributes.iter().map(|a| a.to_string()).collect();
    assert_eq!(
        names,
        [
            "mid:0",
            "setup:passive",
            "sctp-port:5001",
            "candidate:1 1 udp 1 10.0.0.1 1 typ host",
            "end-of-candidates",
            "sendonly"
        ]
    );
    d.set_bundle_group(&["0", "1"]);
    assert_eq!(d.bundle_group().unwrap().mids, ["0", "1"]);
    d.set_bundle_group(&[]);
    assert_eq!(d.bundle_group(), None);
}

#[test]
fn missing_version_is_an_error_on_line_one() {
    assert_eq!(
        error("o=- 1 2 IN IP4 127.0.0.1\r\n"),
        (1, ErrorKind::MissingVersion)
    );
    assert_eq!(error(""), (1, ErrorKind::MissingVersion));
    assert_eq!(error("v=1\r\n"), (1, ErrorKind::UnsupportedVersion));
}

#[test]
fn missing_mandatory_lines_name_the_line() {
    assert_eq!(error("v=0\r\ns=-\r\n"), (2, ErrorKind::MissingLine('o')));
    assert_eq!(
        error("v=0\r\no=- 1 2 IN IP4 ::1\r\nt=0 0\r\n"),
        (3, ErrorKind::MissingLine('s'))
    );
    assert_eq!(
        error("v=0\r\no=- 1 2 IN IP4 ::1\r\ns=-\r\na=foo\r\n"),
        (4, ErrorKind::MissingLine('t'))
    );
    assert_eq!(
        error("v=0\r\no=- 1 2 IN IP4 ::1\r\ns=-\r\n"),
        (4, ErrorKind::MissingLine('t'))
    );
}

#[test]
fn m_line_without_port_or_format_is_rejected() {
    let (line, kind) = error(&format!("{HEAD}m=audio\r\n"));
    assert_eq!(line, 5);
    assert_eq!(
        kind,
        ErrorKind::Malformed {
            line_type: 'm',
            reason: "missing port"
        }
    );
    let (line, kind) = error(&format!("{HEAD}m=audio 9 RTP/AVP\r\n"));
    assert_eq!(line, 5);
    assert_eq!(
        kind,
        ErrorKind::Malformed {
            line_type: 'm',
            reason: "missing format"
        }
    );
    let (_, kind) = error(&format!("{HEAD}m=audio 70000 RTP/AVP 0\r\n"));
    assert_eq!(
        kind,
        ErrorKind::Malformed {
            line_type: 'm',
            reason: "bad port"
        }
    );
}

#[test]
fn bad_candidate_line_names_the_line() {
    let s = with_media("a=mid:0\r\na=candidate:1 1 udp x 10.0.0.1 1 typ host\r\n");
    let e = SessionDescription::parse(&s).unwrap_err();
    assert_eq!(e.line, 7);
    assert_eq!(
        e.kind,
        ErrorKind::InvalidCandidate(CandidateError::InvalidPriority)
    );
    assert_eq!(e.text, "a=candidate:1 1 udp x 10.0.0.1 1 typ host");
    let msg = e.to_string();
    assert!(msg.contains("line 7") && msg.contains("priority"), "{msg}");
}

#[test]
fn known_attributes_with_bad_values_are_rejected() {
    for (attr, name) in [
        ("a=setup:sometimes", "setup"),
        ("a=sctp-port:x", "sctp-port"),
        ("a=fingerprint:sha-256", "fingerprint"),
        ("a=ice-ufrag", "ice-ufrag"),
        ("a=mid:", "mid"),
    ] {
        let (line, kind) = error(&with_media(&format!("{attr}\r\n")));
        assert_eq!(line, 6, "{attr}");
        assert!(
            matches!(kind, ErrorKind::InvalidAttribute { name: n, .. } if n == name),
            "{attr}"
        );
    }
}

#[test]
fn lines_out_of_grammar_order_are_rejected() {
    assert_eq!(
        error(&format!("{HEAD}s=again\r\n")).1,
        ErrorKind::Unexpected('s')
    );
    assert_eq!(
        error(&format!("{HEAD}a=x\r\nc=IN IP4 ::1\r\n")).1,
        ErrorKind::Unexpected('c')
    );
    assert_eq!(
        error(&with_media("t=0 0\r\n")).1,
        ErrorKind::Unexpected('t')
    );
    assert_eq!(
        error(&with_media("a=x\r\ni=late\r\n")).1,
        ErrorKind::Unexpected('i')
    );
    assert_eq!(
        error(&format!("{HEAD}x=1\r\n")),
        (5, ErrorKind::UnknownType('x'))
    );
    assert_eq!(
        error(&format!("{HEAD}not a line\r\n")),
        (5, ErrorKind::Syntax)
    );
    assert_eq!(
        error("v=0\r\no=- 1 2 IN IP4 ::1\r\ns=-\r\nr=1 1 1\r\nt=0 0\r\n").1,
        ErrorKind::Unexpected('r')
    );
}

#[test]
fn limits_exceeded_are_reported() {
    let small = ParseLimits {
        max_input_len: 10,
        ..ParseLimits::default()
    };
    let e = SessionDescription::parse_with_limits(HEAD, &small).unwrap_err();
    assert_eq!(
        (e.line, e.kind),
        (0, ErrorKind::LimitExceeded(Limit::InputLength))
    );

    let lines = ParseLimits {
        max_lines: 3,
        ..ParseLimits::default()
    };
    let e = SessionDescription::parse_with_limits(HEAD, &lines).unwrap_err();
    assert_eq!(
        (e.line, e.kind),
        (4, ErrorKind::LimitExceeded(Limit::Lines))
    );

    let attrs = ParseLimits {
        max_attributes: 2,
        ..ParseLimits::default()
    };
    let e = SessionDescription::parse_with_limits(&with_media("a=a\r\na=b\r\na=c\r\n"), &attrs)
        .unwrap_err();
    assert_eq!(
        (e.line, e.kind),
        (8, ErrorKind::LimitExceeded(Limit::Attributes))
    );

    let cands = ParseLimits {
        max_candidates: 1,
        ..ParseLimits::default()
    };
    let c = "a=candidate:1 1 udp 1 10.0.0.1 1 typ host\r\n";
    let e = SessionDescription::parse_with_limits(&with_media(&c.repeat(2)), &cands).unwrap_err();
    assert_eq!(
        (e.line, e.kind),
        (7, ErrorKind::LimitExceeded(Limit::Candidates))
    );

    let media = ParseLimits {
        max_media: 1,
        ..ParseLimits::default()
    };
    let two = format!("{}m=audio 0 RTP/AVP 0\r\n", with_media(""));
    let e = SessionDescription::parse_with_limits(&two, &media).unwrap_err();
    assert_eq!(
        (e.line, e.kind),
        (6, ErrorKind::LimitExceeded(Limit::Media))
    );
}

#[test]
fn error_text_is_truncated_on_a_char_boundary() {
    let long = format!("{HEAD}x={}\r\n", "é".repeat(200));
    let e = SessionDescription::parse(&long).unwrap_err();
    assert!(e.text.len() <= 128);
    assert!(e.text.starts_with("x=é"));
}
