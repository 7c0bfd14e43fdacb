//! Parses arbitrary bytes as a trickled candidate string; whatever parses
//! must print and reparse to the same value, with and without prefix.
#![no_main]

use floe_sdp::Candidate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(c) = text.parse::<Candidate>() else {
        return;
    };
    let with_prefix = c.to_string();
    let bare = c.to_value_string();
    assert_eq!(
        with_prefix.parse::<Candidate>().expect("prefixed reparses"),
        c
    );
    assert_eq!(Candidate::parse_value(&bare).expect("bare reparses"), c);
    assert_eq!(with_prefix.strip_prefix("candidate:"), Some(bare.as_str()));
    let _ = (
        c.address.ip(),
        c.address.is_mdns(),
        c.ufrag(),
        c.extension("generation"),
    );
    if let Some(a) = &c.related_address {
        let _ = (a.ip(), a.is_mdns());
    }
});
