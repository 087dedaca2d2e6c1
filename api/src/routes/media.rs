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
use crate::state::AppState;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use enkaku_domain::appointment::{LinkStatus, Status};
use enkaku_domain::ids::AppointmentId;
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
    accept(state, upgrade, at.id, Role::Patient, started)
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
    accept(state, upgrade, at.id, Role::Clinic, started)
}

/// Upgrade to the signalling socket, once the join is allowed: a plain request that got this
/// far is told the address speaks WebSocket only.
fn accept(
    state: AppState,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    id: AppointmentId,
    role: Role,
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
        .on_upgrade(move |socket| signal(state, socket, calls, id, role, started)))
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
    id: AppointmentId,
    role: Role,
    started: bool,
) {
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
    // A page that (re)joins a call in progress is told at once.
    if started && !send(&mut socket, &ToPage::Started).await {
        return;
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
                    if !send(&mut socket, &ToPage::Started).await {
                        return;
                    }
                }
                Ok(CallSignal::Closed(call)) if call == id => {
                    send(&mut socket, &ToPage::Ended).await;
                    return;
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            message = socket.recv() => match message {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
            () = &mut shutdown => return,
        }
    }
}
