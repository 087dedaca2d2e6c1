//! Signalling for the media relay: one WebSocket per participant. The patient joins with the
//! patient link alone, the clinic with the clinic link and a staff session of that clinic.
//! Who may join is decided before the upgrade, so a refusal is an ordinary problem answer.
//!
//! On the socket the page sends its offer once it has gathered its candidates
//! (`{"type":"offer","sdp":…}`) and gets the relay's answer (`answer`); the socket then
//! carries the call's news (`started`, also at once when the call is already on; `ended`)
//! until either side closes it. A join that
//! fails after the upgrade is told `refused` with an error code.

use crate::error::{ApiError, Problem};
use crate::extract::{ApiPath, Staff};
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
use enkaku_media::forward::Role;
use enkaku_media::relay::RelayError;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// How long a page has to send its offer after the upgrade.
const OFFER_WAIT: Duration = Duration::from_secs(15);
/// An offer with every candidate of a browser is a few kilobytes.
const MAX_MESSAGE: usize = 64 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(patient_media))
        .routes(routes!(clinic_media))
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FromPage {
    Offer { sdp: String },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ToPage {
    Answer { sdp: String },
    Refused { code: &'static str },
    Started,
    Ended,
}

/// The patient's media (R19): a WebSocket, while the patient link is open.
#[utoipa::path(get, path = "/api/v1/media/patient/{token}", security(()), tag = "calls",
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

/// The clinic's media (R18): a WebSocket for staff of the appointment's clinic.
#[utoipa::path(get, path = "/api/v1/media/clinic/{token}", tag = "calls",
    params(("token" = String, Path, description = "the clinic link's token")),
    responses((status = 101, description = "signalling WebSocket"), (status = 401, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 426, body = Problem)))]
async fn clinic_media(
    State(state): State<AppState>,
    staff: Staff,
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

/// The page's offer, or `None` when it sends none in time (or closes).
async fn offer(socket: &mut WebSocket) -> Option<Result<FromPage, serde_json::Error>> {
    let wait = async {
        while let Some(Ok(message)) = socket.recv().await {
            if let Message::Text(text) = message {
                return Some(serde_json::from_str(&text));
            }
        }
        None
    };
    tokio::time::timeout(OFFER_WAIT, wait).await.ok().flatten()
}

async fn signal(
    state: AppState,
    mut socket: WebSocket,
    mut calls: tokio::sync::broadcast::Receiver<CallSignal>,
    page: Participant,
    started: bool,
) {
    let (id, role) = (page.appointment, relay_role(page.role));
    let sdp = match offer(&mut socket).await {
        Some(Ok(FromPage::Offer { sdp })) => sdp,
        Some(Err(_)) => {
            let code = ErrorCode::MalformedJson.as_str();
            send(&mut socket, &ToPage::Refused { code }).await;
            return;
        }
        None => return,
    };
    let joined = match enkaku_media::relay::offer(sdp) {
        Ok(offer) => state.relay.join(id, role, offer, started).await,
        Err(e) => Err(e),
    };
    let reply = match joined {
        Ok(answer) => ToPage::Answer { sdp: answer.sdp },
        Err(RelayError::BadOffer(e)) => {
            tracing::info!(error = %e, "a page's offer was refused");
            ToPage::Refused {
                code: ErrorCode::ValidationFailed.as_str(),
            }
        }
        Err(RelayError::Unavailable(e)) => {
            tracing::warn!(error = %e, "the relay could not take a participant");
            ToPage::Refused {
                code: ErrorCode::Unavailable.as_str(),
            }
        }
    };
    let answered = matches!(reply, ToPage::Answer { .. });
    if !send(&mut socket, &reply).await || !answered {
        return;
    }
    state.presence.arrive(page).await;
    let reason = follow_call(&state, &mut socket, &mut calls, id, started).await;
    if let Some(reason) = reason {
        state.presence.depart(page, reason);
    }
}

/// Tell the page the call's news until it or the call goes; why it went, or `None` when the
/// server is shutting down (the page comes back to another run, within the grace or not).
async fn follow_call(
    state: &AppState,
    socket: &mut WebSocket,
    calls: &mut tokio::sync::broadcast::Receiver<CallSignal>,
    id: AppointmentId,
    started: bool,
) -> Option<LeaveReason> {
    // A page that (re)joins a call in progress is told at once.
    if started && !send(socket, &ToPage::Started).await {
        return Some(LeaveReason::Network);
    }
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
                        return Some(LeaveReason::Network);
                    }
                }
                Ok(CallSignal::Closed(call)) if call == id => {
                    send(socket, &ToPage::Ended).await;
                    return Some(LeaveReason::Closed);
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Close(_))) => return Some(LeaveReason::Closed),
                None | Some(Err(_)) => return Some(LeaveReason::Network),
                Some(Ok(_)) => {}
            },
            () = &mut shutdown => return None,
        }
    }
}

/// The relay's name for a side of the call.
fn relay_role(role: CallRole) -> Role {
    match role {
        CallRole::Clinic => Role::Clinic,
        CallRole::Patient => Role::Patient,
    }
}
