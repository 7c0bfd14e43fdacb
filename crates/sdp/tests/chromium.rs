//! Real Chromium captures from `shared/testdata/sdp/` parse, expose the
//! right values and write back byte for byte.

use std::net::IpAddr;

use floe_sdp::{
    Candidate, CandidateAddress, CandidateType, Fingerprint, IceOption, SessionDescription, Setup,
    Transport,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata/sdp/");

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}{name}")).expect("test data file")
}

fn ip(s: &str) -> CandidateAddress {
    CandidateAddress::Ip(s.parse::<IpAddr>().unwrap())
}

/// Parses, checks the round trip, and returns the description.
fn parse_round_trip(name: &str) -> SessionDescription {
    let text = read(name);
    let desc = SessionDescription::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(desc.to_string(), text, "{name} does not round-trip");
    desc
}

fn common_checks(desc: &SessionDescription) {
    assert_eq!(desc.origin.username, "-");
    assert_eq!(desc.origin.session_version, 2);
    assert_eq!(desc.session_name, "-");
    assert_eq!(desc.media.len(), 1);
    let m = &desc.media[0];
    assert!(m.is_data_channel());
    assert_eq!(m.proto, "UDP/DTLS/SCTP");
    assert_eq!(m.formats, ["webrtc-datachannel"]);
    assert_eq!(desc.mids(), [Some("0")]);
    assert_eq!(desc.bundle_group().unwrap().mids, ["0"]);
    assert_eq!(m.sctp_port(), Some(5000));
    assert_eq!(m.max_message_size(), Some(262_144));
    assert_eq!(desc.ice_options_for(0), Some(vec![IceOption::Trickle]));
    assert_eq!(
        desc.ice_ufrag(),
        None,
        "Chromium puts ICE attributes in the section"
    );
    assert!(!desc.ice_lite());
    // Unknown session attributes survive, value as written.
    let names: Vec<_> = desc.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["group", "extmap-allow-mixed", "msid-semantic"]);
    assert_eq!(desc.attributes[2].value.as_deref(), Some(" WMS"));
}

#[test]
fn every_capture_round_trips_byte_for_byte() {
    let mut n = 0;
    for entry in std::fs::read_dir(DIR).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sdp") {
            parse_round_trip(path.file_name().unwrap().to_str().unwrap());
            n += 1;
        }
    }
    assert_eq!(n, 5);
}

#[test]
fn mdns_offer_has_fqdn_host_candidate() {
    let desc = parse_round_trip("chromium-offer-datachannel-mdns.sdp");
    common_checks(&desc);
    assert_eq!(desc.origin.session_id, 1_562_239_695_300_849_492);
    assert_eq!(desc.ice_ufrag_for(0), Some("XRJI"));
    assert_eq!(desc.ice_pwd_for(0), Some("mBFfqu0ygnES9rol4GhbfMlw"));
    let m = &desc.media[0];
    assert_eq!(m.port, 9);
    assert_eq!(m.connections[0].address, "0.0.0.0");
    assert_eq!(m.setup(), Some(Setup::ActPass));
    let c: Vec<_> = m.candidates().collect();
    assert_eq!(c.len(), 1);
    let c = &c[0];
    assert_eq!(c.foundation, "969558077");
    assert_eq!(c.component, 1);
    assert_eq!(c.transport, Transport::Udp);
    assert_eq!(c.priority, 2_113_937_151);
    assert_eq!(
        c.address,
        CandidateAddress::Fqdn("b432674c-5d61-4fab-8bb1-2110caf85ab9.local".into())
    );
    assert!(c.address.is_mdns());
    assert_eq!(c.port, 49894);
    assert_eq!(c.typ, CandidateType::Host);
    assert_eq!(c.related_address, None);
    assert_eq!(
        c.extensions,
        [
            ("generation".to_owned(), "0".to_owned()),
            ("network-cost".to_owned(), "999".to_owned())
        ]
    );
    assert!(!m.end_of_candidates());
}

#[test]
fn raw_ip_offer_has_ip_host_candidate_matching_m_line() {
    let desc = parse_round_trip("chromium-offer-datachannel-rawip.sdp");
    common_checks(&desc);
    assert_eq!(desc.ice_ufrag_for(0), Some("Wnvo"));
    assert_eq!(desc.ice_pwd_for(0), Some("o4b55kPDXmfEJ0DadAVj0fJ7"));
    let m = &desc.media[0];
    assert_eq!(m.port, 46423);
    assert_eq!(m.connections[0].ip(), Some("10.99.0.1".parse().unwrap()));
    let c: Vec<_> = m.candidates().collect();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].address, ip("10.99.0.1"));
    assert_eq!(c[0].port, 46423);
    assert_eq!(c[0].foundation, "743187228");
    assert_eq!(
        m.fingerprint(),
        Some(Fingerprint::new(
            "sha-256",
            "F7:27:37:86:3C:EC:9C:E9:8C:30:F7:EA:3C:E2:75:91:2F:6E:4F:AB:B5:B8:5A:2E:22:A4:2C:6B:42:24:75:06"
        ))
    );
}

#[test]
fn stun_turn_offer_has_host_srflx_and_relay_candidates() {
    let desc = parse_round_trip("chromium-offer-stun-turn.sdp");
    common_checks(&desc);
    assert_eq!(desc.ice_ufrag_for(0), Some("1Y9e"));
    assert_eq!(desc.ice_pwd_for(0), Some("5d5rS6DfAmzGIMAXmObmt5Bb"));
    let m = &desc.media[0];
    assert_eq!(m.port, 61905);
    let c: Vec<_> = m.candidates().collect();
    let summary: Vec<_> = c
        .iter()
        .map(|c| (c.foundation.as_str(), c.priority, c.typ.clone(), c.port))
        .collect();
    assert_eq!(
        summary,
        [
            ("2809217482", 2_113_937_151, CandidateType::Host, 35681),
            (
                "397125769",
                1_677_729_535,
                CandidateType::ServerReflexive,
                35681
            ),
            ("3259487787", 50_339_839, CandidateType::Relay, 61905),
        ]
    );
    assert_eq!(c[0].related_address, None);
    for cand in &c[1..] {
        assert_eq!(cand.related_address, Some(ip("10.99.0.1")));
        assert_eq!(cand.related_port, Some(35681));
        assert_eq!(cand.extension("network-cost"), Some("999"));
    }
}

#[test]
fn answer_is_active_with_one_host_candidate() {
    let desc = parse_round_trip("chromium-answer-datachannel.sdp");
    common_checks(&desc);
    assert_eq!(desc.origin.session_id, 6_739_503_837_817_090_728);
    assert_eq!(desc.ice_ufrag_for(0), Some("3I75"));
    assert_eq!(desc.ice_pwd_for(0), Some("3WlCdQJ/J/AaGed99l4EKBO6"));
    assert_eq!(desc.setup_for(0), Some(Setup::Active));
    let c: Vec<_> = desc.media[0].candidates().collect();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].foundation, "144343558");
    assert_eq!(c[0].address, ip("10.99.0.1"));
    assert_eq!(c[0].port, 40066);
}

#[test]
fn trickle_initial_offer_has_no_candidates() {
    let desc = parse_round_trip("chromium-offer-trickle-initial.sdp");
    common_checks(&desc);
    assert_eq!(desc.ice_ufrag_for(0), Some("3L7Q"));
    assert_eq!(desc.ice_pwd_for(0), Some("+YsmQF5fj6niiUpy8vLkf/cc"));
    let m = &desc.media[0];
    assert_eq!(m.candidates().count(), 0);
    assert_eq!(m.port, 9);
    assert_eq!(m.connections[0].address, "0.0.0.0");
}

/// The JSON lines of chromium-candidates.txt (without the `# note` line).
fn trickled() -> Vec<serde_json::Value> {
    read("chromium-candidates.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn trickled_candidates_parse_and_print_back_identically() {
    let events = trickled();
    assert_eq!(events.len(), 3);
    let mut types = Vec::new();
    for ev in &events {
        let text = ev["candidate"].as_str().unwrap();
        let c: Candidate = text.parse().unwrap();
        assert_eq!(c.to_string(), text);
        // The same candidate without the prefix is the a=candidate value.
        let bare = text.strip_prefix("candidate:").unwrap();
        assert_eq!(bare.parse::<Candidate>().unwrap(), c);
        assert_eq!(c.to_value_string(), bare);
        assert_eq!(format!("{c:#}"), bare);
        assert_eq!(c.ufrag(), Some("3L7Q"));
        assert_eq!(ev["usernameFragment"], "3L7Q");
        assert_eq!(ev["sdpMid"], "0");
        assert_eq!(ev["sdpMLineIndex"], 0);
        types.push(c.typ);
    }
    assert_eq!(
        types,
        [
            CandidateType::Host,
            CandidateType::ServerReflexive,
            CandidateType::Relay
        ]
    );
}

#[test]
fn trickled_candidates_belong_to_the_trickle_offer() {
    let offer = parse_round_trip("chromium-offer-trickle-initial.sdp");
    let mut m = offer.media[0].clone();
    for ev in trickled() {
        let c: Candidate = ev["candidate"].as_str().unwrap().parse().unwrap();
        assert_eq!(c.ufrag(), offer.ice_ufrag_for(0));
        m.add_candidate(&c);
    }
    let added: Vec<_> = m.candidates().collect();
    assert_eq!(added.len(), 3);
    assert_eq!(added[2].related_port, Some(56227));
    assert_eq!(added[2].port, 53700);
    // Candidates are inserted before the other attributes.
    assert_eq!(m.attributes[0].name, "candidate");
}

#[cfg(feature = "serde")]
#[test]
fn trickled_events_deserialize_as_ice_candidate_init() {
    for line in read("chromium-candidates.txt")
        .lines()
        .filter(|l| l.starts_with('{'))
    {
        let init: floe_sdp::IceCandidateInit = serde_json::from_str(line).unwrap();
        assert_eq!(init.sdp_mid.as_deref(), Some("0"));
        assert_eq!(init.sdp_m_line_index, Some(0));
        assert_eq!(init.username_fragment.as_deref(), Some("3L7Q"));
        let c = init.parse_candidate().unwrap().unwrap();
        assert_eq!(c.to_string(), init.candidate);
        let back: serde_json::Value = serde_json::to_value(&init).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(line).unwrap()
        );
    }
}
