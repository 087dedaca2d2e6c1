//! Who is in which call, as the signalling sockets of this process see it, turned into
//! `ParticipantJoined` / `ParticipantLeft`. A page that comes back within [`GRACE`] (a
//! reload, a dropped network that returns) continues its stay: neither its leaving nor its
//! return is recorded. The rules that hold whatever this side does (a replaced page, a
//! bound per call) are the domain's (`presence::decide`).
//!
//! Per process, like the relay's rooms: both pages of one call reach the same process.

use enkaku_commands::{AppointmentService, CommandContext, PresenceChange};
use enkaku_domain::envelope::Actor;
use enkaku_domain::ids::{AppointmentId, ClinicId};
use enkaku_domain::presence::{CallRole, LeaveReason};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// How long a page may be gone before it has left.
pub const GRACE: Duration = Duration::from_secs(5);

/// One role's stay in one call.
struct Stay {
    /// Its pages connected now (two while a second tab takes over).
    pages: u32,
    /// Counts departures, so a leave waiting out the grace knows whether the page came back.
    departures: u64,
}

/// A page in a call: whose, and on whose behalf its presence is recorded.
#[derive(Clone, Copy, Debug)]
pub struct Participant {
    pub appointment: AppointmentId,
    pub clinic: ClinicId,
    pub role: CallRole,
    pub actor: Actor,
}

impl Participant {
    fn key(&self) -> (AppointmentId, CallRole) {
        (self.appointment, self.role)
    }
}

pub struct CallPresence {
    service: Arc<AppointmentService>,
    stays: Mutex<HashMap<(AppointmentId, CallRole), Stay>>,
}

impl CallPresence {
    pub fn new(service: Arc<AppointmentService>) -> Self {
        Self {
            service,
            stays: Mutex::new(HashMap::new()),
        }
    }

    /// A page has joined: recorded unless it returns within the grace of its last leaving.
    pub async fn arrive(&self, page: Participant) {
        let returning = {
            let mut stays = self.stays.lock().unwrap_or_else(|e| e.into_inner());
            let stay = stays.entry(page.key()).or_insert(Stay {
                pages: 0,
                departures: 0,
            });
            let returning = stay.pages == 0 && stay.departures > 0;
            stay.pages += 1;
            returning
        };
        if !returning {
            self.record(page, PresenceChange::Joined(page.role)).await;
        }
    }

    /// A page has gone, for `reason`: once the grace has passed without its return, recorded.
    pub fn depart(self: &Arc<Self>, page: Participant, reason: LeaveReason) {
        let ticket = {
            let mut stays = self.stays.lock().unwrap_or_else(|e| e.into_inner());
            let Some(stay) = stays.get_mut(&page.key()) else {
                return;
            };
            stay.pages = stay.pages.saturating_sub(1);
            if stay.pages > 0 {
                return;
            }
            stay.departures += 1;
            stay.departures
        };
        let presence = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(GRACE).await;
            if presence.settle(page, ticket) {
                presence
                    .record(page, PresenceChange::Left(page.role, reason))
                    .await;
            }
        });
    }

    /// Whether the departure numbered `ticket` still stands; if so the stay is over.
    fn settle(&self, page: Participant, ticket: u64) -> bool {
        let mut stays = self.stays.lock().unwrap_or_else(|e| e.into_inner());
        let over = stays
            .get(&page.key())
            .is_some_and(|stay| stay.pages == 0 && stay.departures == ticket);
        if over {
            stays.remove(&page.key());
        }
        over
    }

    async fn record(&self, page: Participant, change: PresenceChange) {
        let id = Uuid::now_v7();
        let ctx = CommandContext {
            clinic_id: page.clinic,
            actor: page.actor,
            correlation_id: id,
            causation_id: id,
            client_request_id: None,
            if_match: None,
        };
        // Presence is a record beside the call: failing to write it must not end the call.
        if let Err(error) = self.service.record_presence(&ctx, page.appointment, change).await {
            tracing::warn!(appointment = %page.appointment, %error, "a call's presence was not recorded");
        }
    }
}
