//! The access log's HTTP side (docs/audit.md): which requests leave a record, and the
//! middleware that writes it before the answer leaves.
//!
//! A request leaves a record when something in it says who acted: the staff extractors (every
//! signed-in read or change, a refusal by role included), the login handler (an attempt that
//! reached the password check, whose address is kept only as a keyed hash), and the set-up
//! link (whose holder is named). What a client without a session sends and is refused before
//! that (no session, a rate limit, malformed input) leaves none, so nobody can fill the log
//! from outside faster than the login and link limits allow.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use enkaku_domain::ids::{AppointmentId, ClinicId, StaffId};
use enkaku_infra::audit::access::{AccessLog, AccessRecord, Action, Outcome};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// What the sign-in address's keyed hash is made with, derived from the link key.
pub const SUBJECT_KEY_PURPOSE: &[u8] = b"enkaku-access-subject-v1";

/// Writes the access log for the routes.
pub struct AccessRecorder {
    pub log: AccessLog,
    /// Keys the hash of a sign-in's address: without it, the hash cannot be reversed by
    /// trying addresses.
    subject_key: SecretSlice<u8>,
    /// Read the client from `X-Forwarded-For` (only behind a trusted proxy).
    trust_forwarded: bool,
    /// False only in the benchmark that measures what the log costs.
    recording: bool,
}

impl AccessRecorder {
    pub fn new(log: AccessLog, subject_key: SecretSlice<u8>, trust_forwarded: bool) -> Self {
        Self {
            log,
            subject_key,
            trust_forwarded,
            recording: true,
        }
    }

    /// Write nothing: to measure what the log costs (`scripts/bench commands`), never for a
    /// clinic.
    pub fn not_recording(self) -> Self {
        Self {
            recording: false,
            ..self
        }
    }

    /// HMAC-SHA256 of the address as sign-in looks it up (trimmed, lower case), in hex.
    pub fn subject_hmac(&self, email: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.subject_key.expose_secret())
            .expect("HMAC takes any key length");
        mac.update(email.trim().to_lowercase().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Who a request acted as, filled in by whatever found out while it was served.
#[derive(Clone, Debug, Default)]
pub struct Identified(Arc<Mutex<Option<Actor>>>);

#[derive(Clone, Debug, Default)]
struct Actor {
    clinic_id: Option<ClinicId>,
    staff_id: Option<StaffId>,
    /// Set where the method and route do not tell (sign-in, set-up links).
    action: Option<Action>,
    /// An appointment named by a token rather than by the path.
    appointment_id: Option<AppointmentId>,
    subject_hmac: Option<String>,
}

impl Identified {
    fn update(&self, change: impl FnOnce(&mut Actor)) {
        let mut slot = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        change(slot.get_or_insert_with(Actor::default));
    }

    /// A signed-in staff member of `clinic`.
    pub fn staff(&self, clinic: ClinicId, staff: StaffId) {
        self.update(|actor| {
            actor.clinic_id = Some(clinic);
            actor.staff_id = Some(staff);
        });
    }

    /// The request concerns `appointment`, though its path does not say so.
    pub fn appointment(&self, appointment: AppointmentId) {
        self.update(|actor| actor.appointment_id = Some(appointment));
    }

    /// A sign-in attempt for the address hashed as `subject_hmac`, whose account (if any) is
    /// `account`.
    pub fn sign_in(&self, subject_hmac: String, account: Option<(ClinicId, StaffId)>) {
        self.update(|actor| {
            actor.action = Some(Action::SignIn);
            actor.subject_hmac = Some(subject_hmac);
            actor.clinic_id = account.map(|(clinic, _)| clinic);
            actor.staff_id = account.map(|(_, staff)| staff);
        });
    }

    /// A set-up link held by `staff` of `clinic` was opened or used.
    pub fn setup_link(&self, clinic: ClinicId, staff: StaffId) {
        self.update(|actor| {
            actor.action = Some(Action::SetupLink);
            actor.clinic_id = Some(clinic);
            actor.staff_id = Some(staff);
        });
    }

    fn take(&self) -> Option<Actor> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }
}

/// Serve the request, then, where it was identified, commit its record before the answer
/// leaves. A record that cannot be committed turns the answer into 503: what the log cannot
/// show was done must not be shown to have been done.
pub async fn record(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let identified = Identified::default();
    request.extensions_mut().insert(identified.clone());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = request.method().clone();
    let path_appointment = route
        .as_deref()
        .filter(|route| route.starts_with("/api/v1/appointments/{id}"))
        .and_then(|_| request.uri().path().split('/').nth(4))
        .and_then(|id| id.parse::<AppointmentId>().ok());
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let client = peer.map_or_else(String::new, |peer| {
        crate::rate_limit::client_address(peer, request.headers(), state.access.trust_forwarded).to_string()
    });

    let response = next.run(request).await;
    if !state.access.recording {
        return response;
    }
    let (Some(actor), Some(route)) = (identified.take(), route) else {
        return response;
    };
    let action = actor.action.unwrap_or(if route == "/api/v1/logout" {
        Action::SignOut
    } else if matches!(method, Method::GET | Method::HEAD) {
        Action::Read
    } else {
        Action::Change
    });
    let record = AccessRecord {
        at: Utc::now(),
        clinic_id: actor.clinic_id,
        staff_id: actor.staff_id,
        action,
        resource: format!("{method} {route}"),
        appointment_id: path_appointment.or(actor.appointment_id),
        outcome: Outcome::of_status(response.status().as_u16()),
        request_id,
        client,
        subject_hmac: actor.subject_hmac,
    };
    match state.access.log.record(record).await {
        Ok(()) => response,
        Err(e) => ApiError::internal(e).into_response(),
    }
}
