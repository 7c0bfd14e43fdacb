//! The offer and answer builders produce what Chromium produces.

use floe_sdp::{
    AnswerBuilder, Candidate, Fingerprint, IceCandidateInit, IceOption, OfferBuilder, SdpType,
    SessionDescription, SessionDescriptionInit, Setup,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata/sdp/");

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}{name}")).unwrap()
}

/// Chromium's output without the two session attributes we do not write.
fn without_chromium_extras(s: &str) -> String {
    s.replace("a=extmap-allow-mixed\r\n", "")
        .replace("a=msid-semantic: WMS\r\n", "")
}

fn candidates(d: &SessionDescription) -> Vec<Candidate> {
    d.media[0].candidates().collect()
}

#[test]
fn offer_builder_reproduces_chromium_stun_turn_offer() {
    let text = read("chromium-offer-stun-turn.sdp");
    let chromium = SessionDescription::parse(&text).unwrap();
    let offer = OfferBuilder::new(
        "1Y9e",
        "5d5rS6DfAmzGIMAXmObmt5Bb",
        chromium.fingerprint_for(0).unwrap(),
        5000,
    )
    .session_id(chromium.origin.session_id)
    .candidates(candidates(&chromium))
    .build();
    // The relay candidate becomes the default (m= port and c= address).
    assert_eq!(offer.to_string(), without_chromium_extras(&text));
}

#[test]
fn offer_without_ip_candidates_uses_port_9_and_any_address() {
    let text = read("chromium-offer-datachannel-mdns.sdp");
    let chromium = SessionDescription::parse(&text).unwrap();
    let offer = OfferBuilder::new(
        "XRJI",
        "mBFfqu0ygnES9rol4GhbfMlw",
        chromium.fingerprint_for(0).unwrap(),
        5000,
    )
    .session_id(chromium.origin.session_id)
    .candidates(candidates(&chromium))
    .build();
    assert_eq!(offer.to_string(), without_chromium_extras(&text));
}

#[test]
fn answer_builder_reproduces_chromium_answer() {
    let offer = SessionDescription::parse(&read("chromium-offer-datachannel-rawip.sdp")).unwrap();
    let text = read("chromium-answer-datachannel.sdp");
    let chromium = SessionDescription::parse(&text).unwrap();
    let answer = AnswerBuilder::new(
        &offer,
        "3I75",
        "3WlCdQJ/J/AaGed99l4EKBO6",
        chromium.fingerprint_for(0).unwrap(),
        5000,
    )
    .session_id(chromium.origin.session_id)
    .candidates(candidates(&chromium))
    .build();
    assert_eq!(answer.setup_for(0), Some(Setup::Active));
    assert_eq!(answer.to_string(), without_chromium_extras(&text));
}

fn fp() -> Fingerprint {
    Fingerprint::new("sha-256", "AB:CD")
}

#[test]
fn answer_rejects_sections_it_does_not_handle_and_keeps_mids() {
    let offer = SessionDescription::parse(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE a d v\r\n\
         m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:a\r\na=setup:active\r\n\
         m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:d\r\na=setup:active\r\n\
         m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:d2\r\n\
         m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:v\r\n",
    )
    .unwrap();
    let builder = AnswerBuilder::new(&offer, "uf00", "pwd0pwd0pwd0pwd0pwd0pwd0", fp(), 5000)
        .ice_options(vec![])
        .max_message_size(None)
        .end_of_candidates(true);
    assert_eq!(builder.accepted_index(), Some(1));
    let answer = builder.build();
    assert_eq!(answer.mids(), [Some("a"), Some("d"), Some("d2"), Some("v")]);
    let ports: Vec<_> = answer.media.iter().map(|m| m.port).collect();
    assert_eq!(ports, [0, 9, 0, 0]);
    assert_eq!(answer.media[3].formats, ["96", "97"]);
    assert_eq!(answer.media[0].proto, "UDP/TLS/RTP/SAVPF");
    assert_eq!(answer.bundle_group().unwrap().mids, ["d"]);
    // The offerer chose active, so the answerer is passive (RFC 8842 §5.3).
    assert_eq!(answer.setup_for(1), Some(Setup::Passive));
    assert!(answer.media[1].end_of_candidates());
    assert_eq!(answer.ice_options_for(1), None);
    assert_eq!(answer.media[1].max_message_size(), None);
    // What we write parses back to the same thing.
    assert_eq!(
        SessionDescription::parse(&answer.to_string()).unwrap(),
        answer
    );
}

#[test]
fn answer_to_offer_without_data_channel_rejects_everything() {
    let offer = SessionDescription::parse(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n",
    )
    .unwrap();
    let b = AnswerBuilder::new(&offer, "uf00", "pwd0pwd0pwd0pwd0pwd0pwd0", fp(), 5000);
    assert_eq!(b.accepted_index(), None);
    let answer = b.build();
    assert!(answer.media.iter().all(|m| m.is_rejected()));
    assert_eq!(answer.bundle_group(), None);
}

#[test]
fn offer_options_are_applied() {
    let offer = OfferBuilder::new("uf00", "pwd0pwd0pwd0pwd0pwd0pwd0", fp(), 5001)
        .mid("data")
        .ice_lite(true)
        .ice_options(vec![IceOption::Trickle, IceOption::Ice2])
        .setup(Setup::Passive)
        .session_version(7)
        .candidate("1 1 udp 2130706431 ::1 4000 typ host".parse().unwrap())
        .build();
    assert!(offer.ice_lite());
    assert_eq!(offer.origin.session_version, 7);
    assert_eq!(offer.mids(), [Some("data")]);
    assert_eq!(offer.bundle_group().unwrap().mids, ["data"]);
    let m = &offer.media[0];
    assert_eq!(m.port, 4000);
    assert_eq!(m.connections[0].to_string(), "IN IP6 ::1");
    assert_eq!(m.sctp_port(), Some(5001));
    assert_eq!(m.setup(), Some(Setup::Passive));
    assert_eq!(
        offer.ice_options_for(0),
        Some(vec![IceOption::Trickle, IceOption::Ice2])
    );
    assert!(offer.origin.session_id < 1 << 63);
}

#[test]
fn session_description_init_wraps_and_parses() {
    let text = read("chromium-offer-trickle-initial.sdp");
    let desc = SessionDescription::parse(&text).unwrap();
    let init = SessionDescriptionInit::new(SdpType::Offer, &desc);
    assert_eq!(init.sdp, text);
    assert_eq!(init.description().unwrap(), desc);
    assert_eq!(SdpType::Answer.to_string(), "answer");
}

#[test]
fn empty_trickled_candidate_is_end_of_candidates() {
    let init = IceCandidateInit {
        candidate: String::new(),
        sdp_mid: Some("0".into()),
        ..IceCandidateInit::default()
    };
    assert!(init.is_end_of_candidates());
    assert_eq!(init.parse_candidate(), Ok(None));
    let c: Candidate = "1 1 udp 1 10.0.0.1 1 typ host".parse().unwrap();
    let init = IceCandidateInit::new(&c, Some("0"), Some(0), Some("uf00"));
    assert_eq!(init.parse_candidate(), Ok(Some(c)));
}

#[cfg(feature = "serde")]
#[test]
fn session_description_init_has_the_browser_json_shape() {
    let json = r#"{"type":"answer","sdp":"v=0\r\n"}"#;
    let init: SessionDescriptionInit = serde_json::from_str(json).unwrap();
    assert_eq!(init.sdp_type, SdpType::Answer);
    assert_eq!(serde_json::to_string(&init).unwrap(), json);
    let c: IceCandidateInit = serde_json::from_str(r#"{"candidate":""}"#).unwrap();
    assert!(c.is_end_of_candidates());
    assert_eq!(c.sdp_m_line_index, None);
}
