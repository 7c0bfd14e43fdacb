//! Session descriptions (JSEP §5.2, §5.3): the offer and answer a session makes, and the
//! section ICE runs on.

use floe_ice::Credentials;
use floe_sdp::{
    AnswerBuilder, Fingerprint, OfferBuilder, SdpType, SessionDescription, SessionDescriptionInit,
    Setup,
};

use crate::error::SessionError;

/// A data channel offer with the session's credentials and the candidates gathered so far.
pub(crate) fn offer(
    creds: &Credentials,
    fingerprint: &Fingerprint,
    sctp_port: u16,
    lite: bool,
    candidates: Vec<floe_sdp::Candidate>,
    complete: bool,
) -> SessionDescriptionInit {
    let desc = OfferBuilder::new(&creds.ufrag, &creds.pwd, fingerprint.clone(), sctp_port)
        .ice_lite(lite)
        .candidates(candidates)
        .end_of_candidates(complete)
        .build();
    SessionDescriptionInit::new(SdpType::Offer, &desc)
}

/// The answer to `offer`, mirroring its data section.
pub(crate) fn answer(
    offer: &SessionDescription,
    creds: &Credentials,
    fingerprint: &Fingerprint,
    sctp_port: u16,
    lite: bool,
    candidates: Vec<floe_sdp::Candidate>,
    complete: bool,
) -> SessionDescriptionInit {
    let desc = AnswerBuilder::new(
        offer,
        &creds.ufrag,
        &creds.pwd,
        fingerprint.clone(),
        sctp_port,
    )
    .ice_lite(lite)
    .setup(Setup::Active)
    .candidates(candidates)
    .end_of_candidates(complete)
    .build();
    SessionDescriptionInit::new(SdpType::Answer, &desc)
}

pub(crate) fn parse(init: &SessionDescriptionInit) -> Result<SessionDescription, SessionError> {
    init.description()
        .map_err(|e| SessionError::InvalidDescription(e.to_string()))
}

/// The index of the section ICE runs on: the first usable data channel section, else the
/// first section (floe bundles everything on one transport).
pub(crate) fn data_section(desc: &SessionDescription) -> Result<usize, SessionError> {
    if desc.media.is_empty() {
        return Err(SessionError::InvalidDescription("no m= section".into()));
    }
    Ok(desc
        .media
        .iter()
        .position(|m| m.is_data_channel() && !m.is_rejected())
        .unwrap_or(0))
}

/// `init` with section `index`'s candidates replaced by `candidates`, and
/// `a=end-of-candidates` when `complete`.
pub(crate) fn with_candidates(
    init: &SessionDescriptionInit,
    index: usize,
    candidates: &[floe_sdp::Candidate],
    complete: bool,
) -> SessionDescriptionInit {
    let Ok(mut desc) = parse(init) else {
        return init.clone();
    };
    if let Some(media) = desc.media.get_mut(index) {
        media.clear_candidates();
        for c in candidates {
            media.add_candidate(c);
        }
        media.set_end_of_candidates(complete);
    }
    SessionDescriptionInit::new(init.sdp_type, &desc)
}
