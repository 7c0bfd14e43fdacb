//! Parses arbitrary bytes as SDP; whatever parses must write, reparse to
//! the same value, and survive every typed accessor.
#![no_main]

use floe_sdp::{ParseLimits, SessionDescription};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(desc) = SessionDescription::parse(&text) else {
        return;
    };
    let written = desc.to_string();
    // CRLF output can outgrow an LF-only input, so reparse without limits.
    let unlimited = ParseLimits {
        max_input_len: usize::MAX,
        max_lines: usize::MAX,
        max_media: usize::MAX,
        max_attributes: usize::MAX,
        max_candidates: usize::MAX,
    };
    let again = SessionDescription::parse_with_limits(&written, &unlimited)
        .unwrap_or_else(|e| panic!("written form does not parse: {e}\n{written}"));
    assert_eq!(again, desc);
    assert_eq!(again.to_string(), written);

    let _ = (
        desc.ice_ufrag(),
        desc.ice_pwd(),
        desc.ice_options(),
        desc.ice_lite(),
    );
    let _ = (
        desc.fingerprint(),
        desc.setup(),
        desc.direction(),
        desc.bundle_group(),
    );
    let _ = (desc.groups().count(), desc.mids());
    for (i, m) in desc.media.iter().enumerate() {
        let _ = (
            desc.ice_ufrag_for(i),
            desc.ice_pwd_for(i),
            desc.ice_options_for(i),
        );
        let _ = (
            desc.fingerprint_for(i),
            desc.setup_for(i),
            desc.direction_for(i),
        );
        let _ = (
            m.mid(),
            m.ice_ufrag(),
            m.ice_pwd(),
            m.ice_options(),
            m.end_of_candidates(),
        );
        let _ = (
            m.setup(),
            m.fingerprint(),
            m.sctp_port(),
            m.max_message_size(),
        );
        let _ = (
            m.rtcp_mux(),
            m.direction(),
            m.is_rejected(),
            m.is_data_channel(),
        );
        for c in &m.connections {
            let _ = c.ip();
        }
        // Every a=candidate validated by the parser must be readable.
        let n = m
            .attributes
            .iter()
            .filter(|a| a.name == "candidate")
            .count();
        assert_eq!(m.candidates().count(), n);
        for c in m.candidates() {
            let back: floe_sdp::Candidate = c.to_string().parse().expect("candidate reparses");
            assert_eq!(back, c);
        }
    }
});
