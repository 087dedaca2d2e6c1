//! Signalling for the media relay: one WebSocket per participant. The patient joins with the
//! patient link alone, the clinic with the clinic link and a doctor's session of that clinic.
//! Who may join is decided before the upgrade, so a refusal is an ordinary problem answer.
//!
//! The protocol on the socket is `PROTOCOL`, which the OpenAPI document shows too.

use crate::error::{ApiError, Problem};
use crate::extract::{ApiPath, Doctor};
use crate::presence::Participant;
use crate::state::AppState;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use enkaku_domain::appointment::{LinkStatus, Status};
use enkaku_domain::envelope::Actor;
use enkaku_domain::ids::AppointmentId;
use enkaku_domain::presence::{CallRole, LeaveReason};
use enkaku_domain::{DomainError, ErrorCode};
use enkaku_media::CallSignal;
use enkaku_media::ice_servers::IceServer;
use enkaku_media::relay::{IceCandidate, Joined, LegEvent, LegHandle, RelayError};
use governor::{DefaultDirectRateLimiter, Quota};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::{Duration, SystemTime};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// How long a page has to send its first offer after the upgrade.
const OFFER_WAIT: Duration = Duration::from_secs(15);
/// An offer with every candidate of a browser is a few kilobytes.
const MAX_MESSAGE: usize = 64 * 1024;
/// Offers per socket: the join and a few ICE restarts in a row, then one every 15 s.
const OFFERS_PER_MINUTE: u32 = 4;
/// A browser gathers a handful of candidates per network interface and server.
const CANDIDATES_PER_OFFER: u32 = 50;
/// Messages of any kind per socket: a burst of candidates, then a trickle.
const MESSAGES_PER_SECOND: u32 = 10;
const MESSAGE_BURST: u32 = 100;

/// The signalling protocol, for the OpenAPI document's two media operations.
const PROTOCOL: &str = "\
A WebSocket carrying JSON text messages, each with a `type`. The join is allowed or refused \
before the upgrade (401, 403, 404, 409, 429); a plain request that would be allowed gets 426.

Server to page, in this order:
1. `{\"type\":\"hello\",\"ice_servers\":[{\"urls\":[…]},{\"urls\":[…],\"username\":…,\"credential\":…}]}` at \
once: the page's `RTCPeerConnection({iceServers})`. TURN credentials are minted for this \
socket (TURN REST: `<unix expiry>:<opaque id>`, HMAC-SHA1 of the shared secret) and last \
minutes; the list is empty when no STUN or TURN server is configured.
2. `{\"type\":\"answer\",\"sdp\":…}` for each offer.
3. `{\"type\":\"candidate\",\"candidate\":{\"candidate\":…,\"sdpMid\":…,\"sdpMLineIndex\":…}}`: the \
relay's candidates, trickled; `\"candidate\":null` when it has no more (again after each ICE \
restart).
4. `{\"type\":\"started\"}` (at once when the call is already on), `{\"type\":\"ended\"}`, \
`{\"type\":\"replaced\"}` (another page of the same role took over: this one should stop, \
not reconnect) and `{\"type\":\"refused\",\"code\":…}` (an error code); after `ended`, \
`replaced` and `refused` the socket closes.

Page to server: `{\"type\":\"offer\",\"sdp\":…}` first, within 15 s (it joins the call); a \
later offer on the same socket (an ICE restart after a network change) is answered on the \
same connection. `{\"type\":\"candidate\",\"candidate\":{…}|null}`: the page's candidates, \
trickled after its offer.

Bounds per socket: messages of at most 64 KiB; at most 4 offers a minute (then one every \
15 s); at most 50 candidates after each offer; at most 10 messages a second after a burst \
of 100. Past a bound: `refused` with `rate_limited`. Anything that is not a message of this \
protocol: `refused` with `malformed_json`; a candidate before the first offer: \
`validation_failed`. When the socket closes, the page's connection leaves the call.";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(patient_media))
        .routes(routes!(clinic_media))
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FromPage {
    Offer { sdp: String },
    Candidate { candidate: Option<IceCandidate> },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ToPage {
    Hello { ice_servers: Vec<IceServer> },
    Answer { sdp: String },
    Candidate { candidate: Option<IceCandidate> },
    Refused { code: &'static str },
    Started,
    Ended,
    Replaced,
}

/// What one socket may still send. A patient's socket needs no account, so these bound what
/// anyone holding a link can make the relay do.
struct Budget {
    messages: DefaultDirectRateLimiter,
    offers: DefaultDirectRateLimiter,
    /// Candidates since the last offer.
    candidates: u32,
}

impl Budget {
    fn new() -> Self {
        let per_second = NonZeroU32::new(MESSAGES_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(MESSAGE_BURST).unwrap_or(NonZeroU32::MIN);
        let offers = NonZeroU32::new(OFFERS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        Self {
            messages: governor::RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst)),
            offers: governor::RateLimiter::direct(Quota::per_minute(offers)),
            candidates: 0,
        }
    }

    /// Whether `message` is within the budget, which it then spends.
    fn allows(&mut self, message: &FromPage) -> bool {
        match message {
            FromPage::Offer { .. } => {
                let allowed = self.offers.check().is_ok();
                if allowed {
                    self.candidates = 0;
                }
                allowed
            }
            FromPage::Candidate { .. } => {
                self.candidates = self.candidates.saturating_add(1);
                self.candidates <= CANDIDATES_PER_OFFER
            }
        }
    }
}

/// The patient's media (R19): a WebSocket, while the patient link is open.
#[utoipa::path(get, path = "/api/v1/media/patient/{token}", security(()), tag = "calls",
    description = PROTOCOL,
    params(("token" = String, Path, description = "the patient link's token")),
    responses((status = 101, description = "signalling WebSocket"), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 426, body = Problem), (status = 429, body = Problem)))]
async fn patient_media(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiPath(token): ApiPath<String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    state.link_limiter.check(peer, &headers)?;
    let (at, status) = state.patient_link(&token).await?;
    match status {
        LinkStatus::Open => {}
        LinkStatus::NotYetOpen | LinkStatus::Expired => Err(DomainError::OutsideValidityWindow)?,
        LinkStatus::Cancelled => Err(DomainError::Cancelled)?,
        LinkStatus::Ended => Err(DomainError::CallEnded)?,
        LinkStatus::Revoked => return Err(ApiError::not_found()),
    }
    let started = at.appointment.status == Status::InCall;
    let page = Participant {
        appointment: at.id,
        clinic: at.appointment.clinic_id,
        role: CallRole::Patient,
        actor: Actor::Patient,
    };
    accept(state, upgrade, page, started)
}

/// The clinic's media (R18): a WebSocket for a doctor of the appointment's clinic. The clinic's
/// side of a call is the doctor's: another member of staff would take it over from them.
#[utoipa::path(get, path = "/api/v1/media/clinic/{token}", tag = "calls",
    description = PROTOCOL,
    params(("token" = String, Path, description = "the clinic link's token")),
    responses((status = 101, description = "signalling WebSocket"), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 426, body = Problem)))]
async fn clinic_media(
    State(state): State<AppState>,
    Doctor(staff): Doctor,
    ApiPath(token): ApiPath<String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let at = state.clinic_link(&staff, &token).await?;
    let started = match at.appointment.status {
        Status::Cancelled => Err(DomainError::Cancelled)?,
        Status::Ended => Err(DomainError::CallEnded)?,
        Status::Booked => false,
        Status::InCall => true,
    };
    let page = Participant {
        appointment: at.id,
        clinic: at.appointment.clinic_id,
        role: CallRole::Clinic,
        actor: Actor::Staff(staff.staff_id),
    };
    accept(state, upgrade, page, started)
}

/// Upgrade to the signalling socket, once the join is allowed: a plain request that got this
/// far is told the address speaks WebSocket only.
fn accept(
    state: AppState,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    page: Participant,
    started: bool,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|_| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            ErrorCode::UpgradeRequired,
            "this address speaks WebSocket only",
        )
    })?;
    // Heard from before the join, so no start or end between the check and the join is lost.
    let calls = state.calls.subscribe();
    Ok(upgrade
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| signal(state, socket, calls, page, started)))
}

async fn send(socket: &mut WebSocket, message: &ToPage) -> bool {
    let Ok(text) = serde_json::to_string(message) else {
        return false;
    };
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn refuse(socket: &mut WebSocket, code: ErrorCode) {
    send(socket, &ToPage::Refused { code: code.as_str() }).await;
}

/// What the page sent next.
enum FromSocket {
    Message(FromPage),
    Refused(ErrorCode),
    /// The page closed the socket.
    Closed,
    /// The connection broke without a close.
    Dropped,
}

/// The page's next message, spent from `budget`. Safe to cancel: a message is taken from the
/// socket and judged without waiting in between.
async fn receive(socket: &mut WebSocket, budget: &mut Budget) -> FromSocket {
    loop {
        let Some(Ok(message)) = socket.recv().await else {
            return FromSocket::Dropped;
        };
        if budget.messages.check().is_err() {
            return FromSocket::Refused(ErrorCode::RateLimited);
        }
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => return FromSocket::Refused(ErrorCode::MalformedJson),
            Message::Close(_) => return FromSocket::Closed,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        return match serde_json::from_str(&text) {
            Ok(message) if budget.allows(&message) => FromSocket::Message(message),
            Ok(_) => FromSocket::Refused(ErrorCode::RateLimited),
            Err(_) => FromSocket::Refused(ErrorCode::MalformedJson),
        };
    }
}

/// The code a page is refused with when the relay cannot use its offer, or `None` when its
/// leg has left the room (replaced, failed or closed): then the socket just closes and the
/// page connects afresh.
fn refusal(error: RelayError) -> Option<ErrorCode> {
    match error {
        RelayError::BadOffer(e) | RelayError::BadCandidate(e) => {
            tracing::info!(error = %e, "a page's offer was refused");
            Some(ErrorCode::ValidationFailed)
        }
        RelayError::Unavailable(e) => {
            tracing::warn!(error = %e, "the relay could not take a participant");
            Some(ErrorCode::Unavailable)
        }
        RelayError::Left => None,
    }
}

async fn signal(
    state: AppState,
    mut socket: WebSocket,
    calls: tokio::sync::broadcast::Receiver<CallSignal>,
    page: Participant,
    started: bool,
) {
    let (id, role) = (page.appointment, page.role);
    // An id for this socket alone: TURN servers log it, so it names no one.
    let participant = Uuid::new_v4().simple().to_string();
    let ice_servers = state.ice_servers.for_participant(&participant, SystemTime::now());
    if !send(&mut socket, &ToPage::Hello { ice_servers }).await {
        return;
    }
    let mut budget = Budget::new();
    let first = tokio::time::timeout(OFFER_WAIT, receive(&mut socket, &mut budget)).await;
    let sdp = match first {
        Ok(FromSocket::Message(FromPage::Offer { sdp })) => sdp,
        // The offer comes first: nothing else means anything before it.
        Ok(FromSocket::Message(FromPage::Candidate { .. })) => {
            return refuse(&mut socket, ErrorCode::ValidationFailed).await;
        }
        Ok(FromSocket::Refused(code)) => return refuse(&mut socket, code).await,
        Ok(FromSocket::Closed | FromSocket::Dropped) | Err(_) => return,
    };
    let joined = match enkaku_media::relay::offer(sdp) {
        Ok(offer) => state.relay.join(id, role, offer, started).await,
        Err(e) => Err(e),
    };
    let Joined {
        answer,
        leg,
        mut events,
    } = match joined {
        Ok(joined) => joined,
        Err(e) => {
            if let Some(code) = refusal(e) {
                refuse(&mut socket, code).await;
            }
            return;
        }
    };
    if !send(&mut socket, &ToPage::Answer { sdp: answer.sdp }).await {
        return leg.leave().await;
    }
    state.presence.arrive(page).await;
    // A page that (re)joins a call in progress is told at once.
    let left = if started && !send(&mut socket, &ToPage::Started).await {
        Some(LeaveReason::Network)
    } else {
        converse(&state, &mut socket, &mut budget, &leg, &mut events, calls, id).await
    };
    leg.leave().await;
    if let Some(reason) = left {
        state.presence.depart(page, reason);
    }
}

/// After the join: the call's news and the relay's candidates to the page, the page's
/// candidates and later offers to its leg, until either side is done. Why the page left, or
/// `None` when the server is shutting down (the page comes back to another run).
async fn converse(
    state: &AppState,
    socket: &mut WebSocket,
    budget: &mut Budget,
    leg: &LegHandle,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<LegEvent>,
    mut calls: tokio::sync::broadcast::Receiver<CallSignal>,
    id: AppointmentId,
) -> Option<LeaveReason> {
    let gone = Some(LeaveReason::Network);
    let closed = Some(LeaveReason::Closed);
    let mut closing = state.closing.clone();
    // The server is shutting down (the guard it returns is not kept across an await).
    let mut shutdown = std::pin::pin!(async move {
        let _ = closing.wait_for(|closing| *closing).await;
    });
    loop {
        tokio::select! {
            signal = calls.recv() => match signal {
                Ok(CallSignal::Started(call)) if call == id => {
                    if !send(socket, &ToPage::Started).await {
                        return gone;
                    }
                }
                Ok(CallSignal::Closed(call)) if call == id => {
                    send(socket, &ToPage::Ended).await;
                    return closed;
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            },
            event = events.recv() => match event {
                Some(LegEvent::Candidate(candidate)) => {
                    if !send(socket, &ToPage::Candidate { candidate }).await {
                        return gone;
                    }
                }
                Some(LegEvent::Replaced) => {
                    send(socket, &ToPage::Replaced).await;
                    return Some(LeaveReason::Replaced);
                }
                // The leg holds a sender while this holds the leg: not reached.
                None => return closed,
            },
            message = receive(socket, budget) => match message {
                FromSocket::Message(FromPage::Offer { sdp }) => {
                    let answer = match enkaku_media::relay::offer(sdp) {
                        Ok(offer) => leg.renegotiate(offer).await,
                        Err(e) => Err(e),
                    };
                    match answer {
                        Ok(answer) => {
                            if !send(socket, &ToPage::Answer { sdp: answer.sdp }).await {
                                return gone;
                            }
                        }
                        Err(e) => {
                            if let Some(code) = refusal(e) {
                                refuse(socket, code).await;
                            }
                            return closed;
                        }
                    }
                }
                FromSocket::Message(FromPage::Candidate { candidate }) => {
                    // `null` ends the page's candidates; an unusable one (a host name the
                    // relay cannot resolve, say) is only one path fewer.
                    if let Some(candidate) = candidate
                        && leg.add_candidate(candidate).await.is_err()
                    {
                        tracing::debug!("a page's candidate was not usable");
                    }
                }
                FromSocket::Refused(code) => {
                    refuse(socket, code).await;
                    return closed;
                }
                FromSocket::Closed => return closed,
                FromSocket::Dropped => return gone,
            },
            () = &mut shutdown => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer() -> FromPage {
        FromPage::Offer { sdp: String::new() }
    }

    fn candidate() -> FromPage {
        FromPage::Candidate { candidate: None }
    }

    #[test]
    fn a_page_may_restart_a_few_times_in_a_row_but_not_keep_offering() {
        let mut budget = Budget::new();
        for _ in 0..OFFERS_PER_MINUTE {
            assert!(budget.allows(&offer()));
        }
        assert!(!budget.allows(&offer()));
    }

    #[test]
    fn each_offer_may_bring_its_own_candidates_and_no_more() {
        let mut budget = Budget::new();
        for _ in 0..2 {
            assert!(budget.allows(&offer()));
            for _ in 0..CANDIDATES_PER_OFFER {
                assert!(budget.allows(&candidate()));
            }
            assert!(!budget.allows(&candidate()));
        }
    }

    #[test]
    fn the_documented_bounds_are_the_enforced_ones() {
        for bound in [
            format!("at most {OFFERS_PER_MINUTE} offers a minute"),
            format!("at most {CANDIDATES_PER_OFFER} candidates after each offer"),
            format!("at most {MESSAGES_PER_SECOND} messages a second after a burst of {MESSAGE_BURST}"),
            format!("messages of at most {} KiB", MAX_MESSAGE / 1024),
            format!("within {} s", OFFER_WAIT.as_secs()),
        ] {
            assert!(PROTOCOL.contains(&bound), "{bound}");
        }
    }

    #[test]
    fn the_page_s_messages_read_as_the_protocol_says() {
        let message: FromPage = serde_json::from_str(
            r#"{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 10.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"u"}}"#,
        )
        .unwrap();
        let FromPage::Candidate { candidate: Some(c) } = message else {
            panic!("a candidate")
        };
        assert_eq!(c.sdp_mid.as_deref(), Some("0"));
        assert_eq!(c.sdp_mline_index, Some(0));
        let end: FromPage = serde_json::from_str(r#"{"type":"candidate","candidate":null}"#).unwrap();
        assert!(matches!(end, FromPage::Candidate { candidate: None }));
        let to_page = serde_json::to_value(ToPage::Candidate { candidate: None }).unwrap();
        assert_eq!(
            to_page,
            serde_json::json!({ "type": "candidate", "candidate": null })
        );
        let replaced = serde_json::to_value(ToPage::Replaced).unwrap();
        assert_eq!(replaced, serde_json::json!({ "type": "replaced" }));
    }
}
