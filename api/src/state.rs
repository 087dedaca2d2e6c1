//! Everything handlers share.

use crate::error::ApiError;
use crate::extract::Staff;
use crate::login::LoginGuard;
use crate::rate_limit::RateLimiter;
use crate::workers::Workers;
use enkaku_commands::AppointmentAt;
use enkaku_commands::capability::{Capability, LinkRole};
use enkaku_commands::ports::{ClinicProfile, Directory, EventStore};
use enkaku_commands::{AppointmentService, SetupService, capability::LinkSigner};
use enkaku_domain::appointment::LinkStatus;
use enkaku_domain::ids::{AppointmentId, ClinicId, StaffId};
use enkaku_domain::setup;
use enkaku_infra::Db;
use enkaku_infra::channels::Channels;
use enkaku_infra::credentials::Credentials;
use enkaku_infra::directory::SqlDirectory;
use enkaku_infra::idempotency::IdempotencyStore;
use enkaku_infra::integrations::Integrations;
use enkaku_infra::sessions::SessionStore;
use enkaku_infra::setup_links::SetupLinks;
use enkaku_infra::two_factor::TwoFactorStore;
use enkaku_infra::vault::SqlVault;
use enkaku_media::CallSignals;
use enkaku_media::ice_servers::IceServers;
use enkaku_media::relay::Relay;
use enkaku_projections::ProjectionRunner;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

/// How long an erasure's answer waits for the read models to fold it.
const ERASURE_WAIT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub store: Arc<dyn EventStore>,
    /// The data keys of personal data.
    pub vault: Arc<SqlVault>,
    /// The credentials integrators fetch data keys with.
    pub integrations: Integrations,
    pub service: Arc<AppointmentService>,
    pub directory: SqlDirectory,
    pub sessions: SessionStore,
    pub setup_links: SetupLinks,
    /// The clinic, its staff, menus, hours and closures (set-up commands and their state).
    pub setup: Arc<SetupService>,
    /// Folds set-up events into the directory; caught up after each set-up command.
    pub directory_projection: Arc<ProjectionRunner<setup::Event>>,
    /// Sign-in addresses and password hashes, outside the log.
    pub credentials: Credentials,
    /// Staff members' second factors (TOTP secrets, recovery-code digests).
    pub two_factor: TwoFactorStore,
    pub idempotency: IdempotencyStore,
    /// Which provider carries each channel (for `/healthz` and the 送信ボックス).
    pub channels: Channels,
    /// Verifies Twilio's status callbacks; `None` turns the callback off.
    pub twilio_auth_token: Option<Arc<SecretString>>,
    /// Per-address limit on provider callbacks, which need no login.
    pub webhook_limiter: Arc<RateLimiter>,
    pub workers: Workers,
    /// Call starts and ends for the media relay.
    pub calls: CallSignals,
    /// The media relay's rooms, which follow `calls`.
    pub relay: Arc<Relay>,
    /// Who is in which call, recorded as the call's presence.
    pub presence: Arc<crate::presence::CallPresence>,
    /// The STUN and TURN servers each page is told to use.
    pub ice_servers: Arc<IceServers>,
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
    /// Writes the access log (docs/audit.md).
    pub access: Arc<crate::access::AccessRecorder>,
    /// The Merkle trees over the event log and the access log, and the checkpoint signer.
    pub audit: Arc<enkaku_infra::audit::AuditTrail>,
}

impl AppState {
    /// After a set-up command of `clinic` (about `staff`, if one): the directory shows it
    /// before the answer leaves, so what this node serves next reads the change. Other nodes'
    /// caches of the directory catch up within `SETUP_CACHE` (docs/architecture.md).
    pub async fn directory_changed(&self, clinic: ClinicId, staff: Option<StaffId>) -> Result<(), ApiError> {
        self.directory_projection
            .catch_up(&|_| {})
            .await
            .map_err(ApiError::internal)?;
        self.directory.forget(clinic, staff);
        Ok(())
    }

    /// After an erasure of `appointment` was recorded: it is finished (keys destroyed, copies
    /// deleted), and the read models have folded it before the answer leaves (within
    /// [`ERASURE_WAIT`]; they do in any case, as they read on), then SQLite's WAL is emptied.
    pub async fn erased(&self, appointment: AppointmentId) -> Result<(), ApiError> {
        enkaku_infra::erasure::finish(&self.db, self.store.as_ref(), self.vault.as_ref(), appointment)
            .await?;
        let history = self
            .store
            .read_stream(&appointment.stream_id())
            .await
            .map_err(enkaku_commands::CommandError::from)?;
        self.read_models_at(history.last().map_or(0, |e| e.position))
            .await;
        enkaku_infra::erasure::flush_wal(&self.db)
            .await
            .map_err(ApiError::internal)
    }

    /// Wait until the read models of the appointments have folded the log up to `position`,
    /// or [`ERASURE_WAIT`] has passed (they go on reading in any case).
    pub async fn read_models_at(&self, position: u64) {
        let deadline = tokio::time::Instant::now() + ERASURE_WAIT;
        // The directory's runner reads no appointment's events.
        let read_models = self
            .workers
            .projections
            .iter()
            .filter(|runner| runner.name() != self.directory_projection.name());
        for runner in read_models {
            while runner.position().await.is_ok_and(|at| at < position)
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// The clinic's profile (cached by the directory like the rest of set-up).
    pub async fn clinic(&self, id: ClinicId) -> Result<ClinicProfile, ApiError> {
        self.directory.clinic(id).await?.ok_or_else(ApiError::not_found)
    }

    /// The appointment a patient link opens, with the link's status now (R12, R13). A token
    /// that is no patient link, or names no video call, is simply not found.
    pub async fn patient_link(&self, token: &str) -> Result<(AppointmentAt, LinkStatus), ApiError> {
        let Some(Capability {
            role: LinkRole::Patient,
            id,
            generation,
        }) = self.links.verify(token)
        else {
            return Err(ApiError::not_found());
        };
        let at = self.service.get_by_capability(id).await?;
        let status = at
            .appointment
            .link_status(generation, self.service.now())
            .ok_or_else(ApiError::not_found)?;
        Ok((at, status))
    }

    /// The appointment a clinic link opens, for staff of its clinic only (the link alone is
    /// not enough); otherwise not found.
    pub async fn clinic_link(&self, staff: &Staff, token: &str) -> Result<AppointmentAt, ApiError> {
        let Some(Capability {
            role: LinkRole::Clinic,
            id,
            ..
        }) = self.links.verify(token)
        else {
            return Err(ApiError::not_found());
        };
        staff.identified.appointment(id);
        Ok(self.service.get(staff.clinic_id, id).await?)
    }
}
