//! Hostile signaling: whatever the peer sends as a description or a candidate, the session
//! answers with an error or takes it, and never panics.

use std::net::SocketAddr;
use std::time::Instant;

use floe_sdp::{IceCandidateInit, SdpType, SessionDescriptionInit};
use floe_session::{Session, SessionConfig};
use proptest::prelude::*;

fn session() -> Session {
    let base: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    Session::new(SessionConfig::default(), &[base], [5; 32])
}

/// A real offer, to mutate.
fn offer() -> String {
    let mut s = Session::new(
        SessionConfig::default(),
        &["10.0.0.2:6000".parse().unwrap()],
        [6; 32],
    );
    s.create_offer(Instant::now()).unwrap().sdp
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_remote_description_is_taken_or_refused(
        cuts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        noise in ".{0,200}",
        answer in any::<bool>(),
    ) {
        let mut sdp = offer().into_bytes();
        for (at, byte) in cuts {
            let i = at.index(sdp.len());
            sdp[i] = byte;
        }
        let sdp = String::from_utf8_lossy(&sdp).into_owned() + &noise;
        let sdp_type = if answer { SdpType::Answer } else { SdpType::Offer };
        let now = Instant::now();
        let mut s = session();
        let _ = s.set_remote_description(now, SessionDescriptionInit { sdp_type, sdp });
        let _ = s.create_answer();
        s.handle_timeout(now);
        while s.poll_event().is_some() {}
    }

    #[test]
    fn any_trickled_candidate_is_taken_or_refused(
        candidate in "(candidate:)?[ -~]{0,120}",
        mid in proptest::option::of("[ -~]{0,8}"),
        index in proptest::option::of(any::<u16>()),
        ufrag in proptest::option::of("[ -~]{0,8}"),
    ) {
        let now = Instant::now();
        let mut s = session();
        let offer = offer();
        s.set_remote_description(now, SessionDescriptionInit { sdp_type: SdpType::Offer, sdp: offer }).unwrap();
        let init = IceCandidateInit { candidate, sdp_mid: mid, sdp_m_line_index: index, username_fragment: ufrag };
        let _ = s.add_ice_candidate(now, Some(init));
        let mut buf = vec![0u8; 1500];
        while s.poll_transmit(&mut buf).is_some() {}
        while s.poll_event().is_some() {}
    }
}
