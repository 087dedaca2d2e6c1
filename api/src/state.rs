//! Everything handlers share.

use crate::rate_limit::RateLimiter;
use enkaku_commands::ports::{ClinicProfile, Directory, EventStore};
use enkaku_commands::{AppointmentService, capability::LinkSigner};
use enkaku_domain::ids::ClinicId;
use enkaku_infra::Db;
use enkaku_infra::directory::SqlDirectory;
use enkaku_infra::idempotency::IdempotencyStore;
use enkaku_infra::outbox::Outbox;
use enkaku_infra::sessions::SessionStore;
use enkaku_projections::ProjectionRunner;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub store: Arc<dyn EventStore>,
    pub service: Arc<AppointmentService>,
    pub directory: SqlDirectory,
    pub sessions: SessionStore,
    pub idempotency: IdempotencyStore,
    pub outbox: Outbox,
    pub projections: Arc<ProjectionRunner>,
    pub links: Arc<LinkSigner>,
    /// Base of the clinic and patient URLs, without a trailing slash.
    pub public_url: String,
    /// Whether cookies get `Secure` (the public URL is https).
    pub secure_cookies: bool,
    pub login_limiter: Arc<RateLimiter>,
    pub link_limiter: Arc<RateLimiter>,
    clinics: Arc<RwLock<HashMap<ClinicId, ClinicProfile>>>,
}

pub struct StateParts {
    pub db: Db,
    pub store: Arc<dyn EventStore>,
    pub service: Arc<AppointmentService>,
    pub directory: SqlDirectory,
    pub sessions: SessionStore,
    pub idempotency: IdempotencyStore,
    pub outbox: Outbox,
    pub projections: Arc<ProjectionRunner>,
    pub links: Arc<LinkSigner>,
    pub public_url: String,
    pub login_limiter: Arc<RateLimiter>,
    pub link_limiter: Arc<RateLimiter>,
}

impl AppState {
    pub fn new(p: StateParts) -> Self {
        let public_url = p.public_url.trim_end_matches('/').to_owned();
        Self {
            secure_cookies: public_url.starts_with("https://"),
            db: p.db,
            store: p.store,
            service: p.service,
            directory: p.directory,
            sessions: p.sessions,
            idempotency: p.idempotency,
            outbox: p.outbox,
            projections: p.projections,
            links: p.links,
            public_url,
            login_limiter: p.login_limiter,
            link_limiter: p.link_limiter,
            clinics: Arc::default(),
        }
    }

    /// The clinic's profile (name, time zone), cached: it changes only with set-up.
    pub async fn clinic(&self, id: ClinicId) -> Result<ClinicProfile, crate::error::ApiError> {
        if let Some(profile) = self.clinics.read().ok().and_then(|c| c.get(&id).cloned()) {
            return Ok(profile);
        }
        let profile = self
            .directory
            .clinic(id)
            .await?
            .ok_or_else(crate::error::ApiError::not_found)?;
        if let Ok(mut cache) = self.clinics.write() {
            cache.insert(id, profile.clone());
        }
        Ok(profile)
    }
}
