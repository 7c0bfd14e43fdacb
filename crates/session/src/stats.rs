//! [`StatsReport`]: what `RTCPeerConnection.getStats()` reports about ICE, shaped after the
//! W3C webrtc-stats dictionaries `RTCTransportStats`, `RTCIceCandidatePairStats` and
//! `RTCIceCandidateStats`, read off the agent.

use std::time::Duration;

use floe_ice::{IceAgent, IceConnectionState, IceGatheringState, PairState};

use crate::convert::{base_as_related, to_sdp_candidate_related};

/// A snapshot of a connection's ICE statistics.
#[derive(Clone, Debug, Default)]
pub struct StatsReport {
    /// The ICE transport (`type: "transport"`).
    pub transport: TransportStats,
    /// Every candidate pair in the check list (`type: "candidate-pair"`).
    pub candidate_pairs: Vec<CandidatePairStats>,
    /// Local candidates (`type: "local-candidate"`).
    pub local_candidates: Vec<CandidateStats>,
    /// Remote candidates, peer-reflexive ones included (`type: "remote-candidate"`).
    pub remote_candidates: Vec<CandidateStats>,
}

impl StatsReport {
    /// The selected pair's entry, if a pair is selected.
    pub fn selected_pair(&self) -> Option<&CandidatePairStats> {
        let id = self.transport.selected_candidate_pair_id.as_deref()?;
        self.candidate_pairs.iter().find(|p| p.id == id)
    }

    /// A candidate (local or remote) by its `id`.
    pub fn candidate(&self, id: &str) -> Option<&CandidateStats> {
        self.local_candidates
            .iter()
            .chain(&self.remote_candidates)
            .find(|c| c.id == id)
    }
}

/// `RTCTransportStats`, the ICE part.
#[derive(Clone, Debug, Default)]
pub struct TransportStats {
    /// `iceState`.
    pub ice_state: Option<IceConnectionState>,
    /// `iceGatheringState` (not in webrtc-stats; the connection's attribute).
    pub ice_gathering_state: Option<IceGatheringState>,
    /// `iceRole`: `"controlling"` or `"controlled"`.
    pub ice_role: Option<&'static str>,
    /// `iceLocalUsernameFragment`.
    pub ice_local_username_fragment: Option<String>,
    /// `selectedCandidatePairId`.
    pub selected_candidate_pair_id: Option<String>,
    /// `bytesSent`: application bytes, summed over pairs.
    pub bytes_sent: u64,
    /// `bytesReceived`: application bytes, summed over pairs.
    pub bytes_received: u64,
}

/// `RTCIceCandidatePairStats`.
#[derive(Clone, Debug)]
pub struct CandidatePairStats {
    /// `id`.
    pub id: String,
    /// `localCandidateId`.
    pub local_candidate_id: String,
    /// `remoteCandidateId`.
    pub remote_candidate_id: String,
    /// `state`: `frozen`, `waiting`, `in-progress`, `failed` or `succeeded`.
    pub state: &'static str,
    /// `nominated`.
    pub nominated: bool,
    /// True for the selected pair (the transport's `selectedCandidatePairId`).
    pub selected: bool,
    /// `priority`.
    pub priority: u64,
    /// `requestsSent`, retransmissions and consent checks included.
    pub requests_sent: u64,
    /// `requestsReceived`.
    pub requests_received: u64,
    /// `responsesSent`.
    pub responses_sent: u64,
    /// `responsesReceived`.
    pub responses_received: u64,
    /// `bytesSent`: application bytes.
    pub bytes_sent: u64,
    /// `bytesReceived`: application bytes.
    pub bytes_received: u64,
    /// `currentRoundTripTime`: the smoothed RTT of the checks.
    pub current_round_trip_time: Option<Duration>,
}

/// `RTCIceCandidateStats`.
#[derive(Clone, Debug)]
pub struct CandidateStats {
    /// `id`.
    pub id: String,
    /// `address`.
    pub address: String,
    /// `port`.
    pub port: u16,
    /// `protocol`: `"udp"` (floe pairs UDP candidates only).
    pub protocol: &'static str,
    /// `candidateType`: `host`, `srflx`, `prflx` or `relay`.
    pub candidate_type: String,
    /// `priority`.
    pub priority: u32,
    /// `foundation`.
    pub foundation: String,
    /// `relatedAddress`.
    pub related_address: Option<String>,
    /// `relatedPort`.
    pub related_port: Option<u16>,
    /// The candidate as an SDP `candidate:` line.
    pub candidate: String,
}

/// webrtc-stats `RTCStatsIceCandidatePairState`.
const fn pair_state(state: PairState) -> &'static str {
    match state {
        PairState::Frozen => "frozen",
        PairState::Waiting => "waiting",
        PairState::InProgress => "in-progress",
        PairState::Succeeded => "succeeded",
        PairState::Failed => "failed",
    }
}

fn candidates(
    list: &[floe_ice::Candidate],
    prefix: &str,
    related: impl Fn(&floe_ice::Candidate) -> Option<std::net::SocketAddr>,
) -> Vec<CandidateStats> {
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            let sdp = to_sdp_candidate_related(c, related(c));
            CandidateStats {
                id: format!("{prefix}{i}"),
                address: sdp.address.to_string(),
                port: sdp.port,
                protocol: "udp",
                candidate_type: sdp.typ.to_string(),
                priority: sdp.priority,
                foundation: sdp.foundation.clone(),
                related_address: sdp.related_address.as_ref().map(ToString::to_string),
                related_port: sdp.related_port,
                candidate: sdp.to_string(),
            }
        })
        .collect()
}

/// Reads the report off the agent; `None` (no agent yet) gives an empty report.
pub fn report(agent: Option<&IceAgent>) -> StatsReport {
    let Some(agent) = agent else {
        return StatsReport::default();
    };
    let selected = agent.selected_pair().map(|p| p.id());
    let mut transport = TransportStats {
        ice_state: Some(agent.connection_state()),
        ice_gathering_state: Some(agent.gathering_state()),
        ice_role: Some(if agent.is_controlling() {
            "controlling"
        } else {
            "controlled"
        }),
        ice_local_username_fragment: Some(agent.local_credentials().ufrag.clone()),
        ..TransportStats::default()
    };
    let candidate_pairs = agent
        .pairs()
        .iter()
        .map(|p| {
            let (l, r) = (p.local_candidate_index(), p.remote_candidate_index());
            let stats = p.stats();
            transport.bytes_sent += stats.bytes_sent;
            transport.bytes_received += stats.bytes_received;
            let id = format!("CP{l}_{r}");
            if selected == Some(p.id()) {
                transport.selected_candidate_pair_id = Some(id.clone());
            }
            CandidatePairStats {
                id,
                local_candidate_id: format!("L{l}"),
                remote_candidate_id: format!("R{r}"),
                state: pair_state(p.state()),
                nominated: p.is_nominated(),
                selected: selected == Some(p.id()),
                priority: p.priority(),
                requests_sent: stats.requests_sent,
                requests_received: stats.requests_received,
                responses_sent: stats.responses_sent,
                responses_received: stats.responses_received,
                bytes_sent: stats.bytes_sent,
                bytes_received: stats.bytes_received,
                current_round_trip_time: stats.smoothed_rtt,
            }
        })
        .collect();
    StatsReport {
        transport,
        candidate_pairs,
        local_candidates: candidates(agent.local_candidates(), "L", |c| agent.related_address(c)),
        remote_candidates: candidates(agent.remote_candidates(), "R", base_as_related),
    }
}
