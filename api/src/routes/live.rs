//! Live updates for the clinic UI: a server-sent event each time a read model of the staff
//! member's clinic changed, sent after the rows are committed, so a page that refetches on
//! it sees the change. A stream lives no longer than the session that opened it.

use crate::error::Problem;
use crate::extract::Staff;
use crate::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use enkaku_domain::ids::ClinicId;
use enkaku_projections::Change;
use futures::{Stream, StreamExt, stream};
use serde::Serialize;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// How often an open stream asks the database whether its session still exists. A logout
/// in this process ends the stream at once; one elsewhere (another replica), within this.
const SESSION_RECHECK: Duration = Duration::from_secs(5);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(live))
}

/// The data of a `change` event.
#[derive(Serialize, ToSchema)]
pub struct LiveChange {
    /// The read models whose rows changed (`schedule`, `reception`, `presence`, `deliveries`,
    /// `patient_search`, and `directory` for the clinic's set-up: its profile, staff, menus,
    /// hours and closed days); empty when only the appointments' own pages changed (a delivery
    /// outcome).
    pub read_models: Vec<&'static str>,
    /// The appointments that changed; none for a set-up change.
    pub appointment_ids: Vec<String>,
}

/// `text/event-stream`: a `change` event (`LiveChange`) whenever the clinic's schedule or
/// reception list, its set-up, or a delivery of a patient URL, changed, and `resync` when this listener fell behind and should refetch
/// everything. Comments keep the connection open through proxies. The stream ends when its
/// session does (logout, expiry, revocation) or the server shuts down.
#[utoipa::path(get, path = "/api/v1/live", tag = "read models",
    responses((status = 200, content_type = "text/event-stream", body = LiveChange), (status = 401, body = Problem)))]
async fn live(
    State(state): State<AppState>,
    staff: Staff,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changes = changes(state.workers.changes.subscribe(), staff.clinic_id);
    let mut closing = state.closing.clone();
    let service = state.service.clone();
    let session_ended = state
        .sessions
        .ended(staff.session, SESSION_RECHECK, move || service.now());
    let closed = async move {
        tokio::select! {
            _ = closing.wait_for(|closing| *closing) => {}
            () = session_ended => {}
        }
    };
    // The page reconnects by itself, to this server once it is back or to another one (and,
    // after a logout, gets 401).
    let events = changes.take_until(closed).map(Ok);
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// One clinic's changes, as events.
fn changes(receiver: broadcast::Receiver<Change>, clinic: ClinicId) -> impl Stream<Item = Event> {
    stream::unfold(receiver, move |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(change) if change.clinic_id == clinic => {
                    let data = LiveChange {
                        read_models: change.read_models,
                        appointment_ids: change.appointment_ids.iter().map(|id| id.to_string()).collect(),
                    };
                    let event = Event::default()
                        .event("change")
                        .json_data(data)
                        .unwrap_or_else(|_| Event::default().event("resync").data(""));
                    return Some((event, receiver));
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => {
                    return Some((Event::default().event("resync").data(""), receiver));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
