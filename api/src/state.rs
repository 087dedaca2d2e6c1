//! Everything handlers share.

use crate::login::LoginGuard;
use crate::rate_limit::RateLimiter;
use crate::workers::Workers;
use enkaku_commands::ports::{ClinicProfile, Directory, EventStore};
use enkaku_commands::{AppointmentService, capability::LinkSigner};
use enkaku_domain::ids::ClinicId;
use enkaku_infra::Db;
use enkaku_infra::directory::SqlDirectory;
use enkaku_infra::idempotency::IdempotencyStore;
use enkaku_infra::outbox::Outbox;
use enkaku_infra::sessions::SessionStore;
use enkaku_media::CallSignals;
use enkaku_media::relay::Relay;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub store: Arc<dyn EventStore>,
    pub service: Arc<AppointmentService>,
    pub directory: SqlDirectory,
    pub sessions: SessionStore,
    pub idempotency: IdempotencyStore,
    pub outbox: Outbox,
    pub workers: Workers,
    /// Call starts and ends for the media relay.
    pub calls: CallSignals,
    /// The media relay's rooms, which follow `calls`.
    pub relay: Arc<Relay>,
    pub links: Arc<LinkSigner>,
    /// Base of the clinic and patient URLs, without a trailing slash.
    pub public_url: String,
    /// Whether cookies get `Secure` (the public URL is https).
    pub secure_cookies: bool,
    /// Login's limits, failure budgets, device cookies and bounded password checks.
    pub login: Arc<LoginGuard>,
    pub link_limiter: Arc<RateLimiter>,
    /// Turns true when the server begins to shut down: long-lived responses (live updates)
    /// end then, or the graceful shutdown would wait for them forever.
    pub closing: tokio::sync::watch::Receiver<bool>,
}

impl AppState {
    /// The clinic's profile (cached by the directory like the rest of set-up).
    pub async fn clinic(&self, id: ClinicId) -> Result<ClinicProfile, crate::error::ApiError> {
        self.directory
            .clinic(id)
            .await?
            .ok_or_else(crate::error::ApiError::not_found)
    }
}
