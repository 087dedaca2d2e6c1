//! Wiring: configuration in, a running application out. Tests build the same
//! `Application` on port 0 with their own data directory or database.

use crate::access::{self, AccessRecorder};
use crate::login::{self, LoginGuard};
use crate::presence::CallPresence;
use crate::rate_limit::RateLimiter;
use crate::routes;
use crate::serve::{self, ConnectionLimits};
use crate::state::AppState;
use crate::workers::{CallHook, Delivery, Erasures, Workers};
use anyhow::Context;
use enkaku_commands::capability::LinkSigner;
use enkaku_commands::delivery::{DeliveryWorker, Lease, RetryPolicy};
use enkaku_commands::ports::{EventStore, SystemClock, UuidV7};
use enkaku_commands::{AppointmentService, SetupService};
use enkaku_domain::appointment::SendPolicy;
use enkaku_domain::setup;
use enkaku_infra::audit::AuditTrail;
use enkaku_infra::audit::access::AccessLog;
use enkaku_infra::channels::{Channels, Route};
use enkaku_infra::credentials::Credentials;
use enkaku_infra::delivery_queue::SqlDeliveryQueue;
use enkaku_infra::directory::SqlDirectory;
use enkaku_infra::event_store::SqlEventStore;
use enkaku_infra::feed::{OpeningFeed, PastFeed, StoreFeed};
use enkaku_infra::idempotency::IdempotencyStore;
use enkaku_infra::integrations::Integrations;
use enkaku_infra::kafka::{CheckpointPublisher, KafkaConfig, KafkaFeed, KafkaPublisher};
use enkaku_infra::outbox::Outbox;
use enkaku_infra::sessions::SessionStore;
use enkaku_infra::setup_links::SetupLinks;
use enkaku_infra::two_factor::TwoFactorStore;
use enkaku_infra::vault::{MasterKey, SqlVault};
use enkaku_infra::{Db, demo, legacy, secrets};
use enkaku_media::CallSignals;
use enkaku_media::ice_servers::IceServers;
use enkaku_media::relay::{Relay, RelayConfig};
use enkaku_projections::runner::fold_together;
use enkaku_projections::{Changes, EventFeed, ProjectionRunner, ReactorRunner, RunningProjections};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// How long a staff session lasts at most, used or not.
pub const SESSION_LIFETIME: chrono::Duration = chrono::Duration::hours(12);

#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; `None` for the SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// Base of clinic and patient URLs; defaults to `http://<addr>`.
    pub public_url: Option<String>,
    /// Hex key for capability links; defaults to a key file in `data_dir`.
    pub link_secret: Option<String>,
    /// Hex master key that wraps the data keys of personal data; defaults to a key file in
    /// `data_dir`.
    pub master_key: Option<String>,
    /// Seal personal data in new events (SPEC §9). Off only in the benchmark that measures
    /// what sealing costs.
    pub seal_personal_data: bool,
    /// Write the access log (SPEC §9). Off only in the benchmark that measures what it costs.
    pub record_access: bool,
    pub seed_demo: bool,
    /// Read client addresses from `X-Forwarded-For` (behind a trusted proxy only).
    pub trust_forwarded: bool,
    /// Put Kafka in the path: publish every event, feed projectors and reactors from it.
    pub kafka: Option<KafkaConfig>,
    /// Where and how often the patient URL may be sent.
    pub send_policy: SendPolicy,
    /// The connection cap, its reserve, and the deadlines for request heads.
    pub connections: ConnectionLimits,
    /// Where the media relay listens.
    pub media: RelayConfig,
    /// The STUN and TURN servers pages are told to use (none on the embedded default).
    pub ice_servers: IceServers,
    /// Which providers carry the patient link (none: everything to the outbox).
    pub delivery: DeliveryConfig,
    /// A staff session unused this long ends, beside its absolute 12 h.
    pub session_idle: chrono::Duration,
    /// Erase appointments' personal data this long after they ended or were cancelled; kept
    /// without limit when `None`.
    pub pii_retention: Option<chrono::Duration>,
    /// Hex Ed25519 seed that signs the audit checkpoints; defaults to a key file in
    /// `data_dir` (docs/audit.md).
    pub audit_signing_key: Option<String>,
    /// How often the server writes a signed checkpoint of each log to `data_dir`.
    pub audit_checkpoint_every: Duration,
    /// Prune access-log records this old (behind a signed checkpoint); kept forever when
    /// `None`.
    pub access_log_retention: Option<chrono::Duration>,
}

/// Where patient links go out, and how long a provider has to answer.
#[derive(Clone, Default)]
pub struct DeliveryConfig {
    /// SMS through Twilio; the outbox without it.
    pub sms: Option<Route>,
    /// E-mail through SMTP; the outbox without it.
    pub email: Option<Route>,
    /// Verifies Twilio's status callbacks; without it they are off (404).
    pub twilio_auth_token: Option<Arc<SecretString>>,
    pub lease: Lease,
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for DeliveryConfig {
    /// Providers only: the senders hold credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let provider = |route: &Option<Route>| route.as_ref().map(|r| r.provider);
        f.debug_struct("DeliveryConfig")
            .field("sms", &provider(&self.sms))
            .field("email", &provider(&self.email))
            .field("status_callbacks", &self.twilio_auth_token.is_some())
            .field("lease", &self.lease)
            .field("retry", &self.retry)
            .finish()
    }
}

impl Config {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", self.data_dir.join("enkaku.db").display()))
    }
}

/// The parts every entry point (server, replay, events) needs.
pub struct Stack {
    pub db: Db,
    pub store: Arc<SqlEventStore>,
    pub directory: SqlDirectory,
    /// Set-up commands: clinics, staff, menus, hours, closures.
    pub setup: Arc<SetupService>,
    pub credentials: Credentials,
    /// The data keys that seal personal data in events.
    pub vault: Arc<SqlVault>,
    /// What projectors and reactors of the appointments read: the store's log, or Kafka,
    /// with personal data opened.
    pub feed: Arc<dyn EventFeed>,
    pub projections: Vec<Arc<ProjectionRunner>>,
    /// Folds the set-up streams into the directory. It always reads the store's log: every
    /// node needs the directory whole and at once (sign-in reads it), whether or not the
    /// broker is up.
    pub directory_projection: Arc<ProjectionRunner<setup::Event>>,
    /// Where the projection runners announce what they committed.
    pub changes: Changes,
}

/// Events per transaction of a replay or a rebuild, which nobody waits on event by event.
const REPLAY_BATCH: usize = 8192;

impl Stack {
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        enkaku_infra::data_dir::prepare(&config.data_dir)
            .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
        let url = config.database_url();
        enkaku_infra::data_dir::prepare_sqlite(&url).with_context(|| {
            format!(
                "cannot create database file for {}",
                enkaku_infra::db::redact(&url)
            )
        })?;
        let db = Db::connect(&url)
            .await
            .with_context(|| format!("cannot open database {}", enkaku_infra::db::redact(&url)))?;
        let store = Arc::new(SqlEventStore::open(db.clone()).await?);
        let master_key = MasterKey::load(config.master_key.as_deref(), &config.data_dir)?;
        let vault = Arc::new(SqlVault::new(db.clone(), master_key));
        let opened = |feed: Arc<dyn EventFeed>| -> Arc<dyn EventFeed> {
            Arc::new(OpeningFeed {
                feed,
                vault: vault.clone(),
            })
        };
        let rows = Arc::new(db.clone());
        let changes = Changes::default();
        let (feed, projections): (Arc<dyn EventFeed>, Vec<_>) = match &config.kafka {
            // A consumer per read model, so each has its own offsets and lag.
            Some(kafka) => {
                let feed = opened(Arc::new(KafkaFeed::new(kafka.clone())));
                let runners = enkaku_projections::all()
                    .into_iter()
                    .map(|p| {
                        Arc::new(
                            ProjectionRunner::new(p.name(), rows.clone(), feed.clone(), vec![p])
                                .announcing_to(&changes),
                        )
                    })
                    .collect();
                (feed, runners)
            }
            // One runner for all: one commit per batch however many read models there are.
            None => {
                let feed = opened(Arc::new(StoreFeed(store.clone())));
                let runner = ProjectionRunner::new(
                    "read_models",
                    rows.clone(),
                    feed.clone(),
                    enkaku_projections::all(),
                )
                .announcing_to(&changes);
                (feed, vec![Arc::new(runner)])
            }
        };
        for runner in &projections {
            runner.prepare().await?;
        }
        let setup = Arc::new(SetupService::new(
            store.clone(),
            Arc::new(SystemClock),
            Arc::new(UuidV7),
        ));
        let converted = legacy::convert(&db, &setup).await?;
        if converted > 0 {
            tracing::info!(clinics = converted, "recorded the old set-up tables as events");
        }
        let directory_projection = Arc::new(
            ProjectionRunner::new(
                "directory",
                rows,
                Arc::new(StoreFeed(store.clone())),
                enkaku_projections::setup(),
            )
            .announcing_to(&changes),
        );
        directory_projection.prepare().await?;
        directory_projection.catch_up(&|_| {}).await?;
        Ok(Self {
            directory: SqlDirectory::new(db.clone()),
            credentials: Credentials::new(db.clone()),
            vault,
            setup,
            db,
            store,
            feed,
            projections,
            directory_projection,
            changes,
        })
    }

    /// Drop the directory and every read model of the live database and build them again from
    /// the store's own log, whatever feed serves them live (Kafka may no longer hold the
    /// oldest events). For a stopped server. Returns events applied, once per read model (the
    /// directory's tables counting as one).
    pub async fn rebuild(&self, progress: &(dyn Fn(u64) + Sync)) -> anyhow::Result<u64> {
        let head = *self.store.head().borrow();
        self.fold_log(head, Arc::new(self.db.clone()), Start::Over, progress)
            .await
    }

    /// Build into `into` (a database of its own) the directory and the read models as they
    /// stood when the log ended at `until`, from the store's log and today's data keys (so
    /// personal data erased since shows as erased). Nothing of the live database is written.
    /// Returns events applied, once per read model (the directory's tables counting as one).
    pub async fn replay_into(
        &self,
        until: u64,
        into: &Db,
        progress: &(dyn Fn(u64) + Sync),
    ) -> anyhow::Result<u64> {
        self.fold_log(until, Arc::new(into.clone()), Start::Anew, progress)
            .await
    }

    /// Fold the store's log up to `until`, its personal data opened, into the directory and
    /// every read model in `rows`.
    async fn fold_log(
        &self,
        until: u64,
        rows: Arc<Db>,
        start: Start,
        progress: &(dyn Fn(u64) + Sync),
    ) -> anyhow::Result<u64> {
        // One reading of the log, opened, for both runners: each would read all of it.
        let log = Arc::new(OpeningFeed {
            feed: Arc::new(PastFeed {
                store: self.store.clone(),
                until,
            }),
            vault: self.vault.clone(),
        });
        let directory = ProjectionRunner::new(
            "directory",
            rows.clone(),
            log.clone(),
            enkaku_projections::setup(),
        );
        let read_models = ProjectionRunner::new(
            "read_models",
            rows.clone(),
            log.clone(),
            enkaku_projections::all(),
        );
        match start {
            Start::Over => {
                directory.reset().await?;
                read_models.reset().await?;
            }
            Start::Anew => {
                directory.prepare().await?;
                read_models.prepare().await?;
            }
        }
        directory.drop_query_indexes().await?;
        read_models.drop_query_indexes().await?;
        // Nothing else writes these read models now: the fold writes them behind its reading.
        let applied = fold_together(
            log.as_ref(),
            "replay",
            &[&directory, &read_models],
            REPLAY_BATCH,
            rows.write_behind()?,
            progress,
        )
        .await?;
        // The indexes only readers use, built once over the rows (a server starting after a
        // rebuild that failed here creates them too).
        directory.prepare().await?;
        read_models.prepare().await?;
        Ok(applied)
    }
}

/// Where [`Stack::fold_log`] starts.
enum Start {
    /// Its tables and offsets dropped first: the live database's.
    Over,
    /// Its tables created: a database of its own, new.
    Anew,
}

/// How long an Idempotency-Key (and the answer saved with it) is kept.
const IDEMPOTENCY_KEY_LIFETIME: chrono::Duration = chrono::Duration::hours(24);

/// Once a minute: forget idle rate-limit clients, expired sessions and old idempotency keys.
async fn housekeeping(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = stop.changed() => return,
        }
        state.login.forget_idle();
        state.link_limiter.forget_idle();
        let now = state.service.now();
        if let Err(e) = state.sessions.purge_expired(now).await {
            tracing::warn!(error = %e, "cannot purge expired sessions");
        }
        if let Err(e) = state
            .idempotency
            .purge_claimed_before(now - IDEMPOTENCY_KEY_LIFETIME)
            .await
        {
            tracing::warn!(error = %e, "cannot purge old idempotency keys");
        }
    }
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    workers: Vec<JoinHandle<()>>,
    stop_workers: watch::Sender<bool>,
    closing: watch::Sender<bool>,
    public_url: String,
    connections: ConnectionLimits,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let stack = Stack::open(&config).await?;
        if config.seed_demo && demo::seed(&stack.setup, &stack.credentials).await? {
            tracing::info!("seeded the demo clinics");
            // Served at once: sign-in reads the directory.
            stack.directory_projection.catch_up(&|_| {}).await?;
        }
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        let addr = listener.local_addr()?;
        let public_url = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{addr}"),
        };
        let link_key = secrets::link_key(config.link_secret.as_deref(), &config.data_dir)?;
        let login = Arc::new(LoginGuard::new(
            config.trust_forwarded,
            secrets::derive_key(&link_key, login::device::KEY_PURPOSE),
        ));
        let mut access = AccessRecorder::new(
            AccessLog::open(stack.db.clone()),
            secrets::derive_key(&link_key, access::SUBJECT_KEY_PURPOSE),
            config.trust_forwarded,
        );
        if !config.record_access {
            tracing::warn!("the access log is not written: a benchmark setting, never for a clinic");
            access = access.not_recording();
        }
        let access = Arc::new(access);
        let audit = Arc::new(AuditTrail::open(
            stack.db.clone(),
            config.audit_signing_key.as_deref(),
            &config.data_dir,
        )?);
        let links = Arc::new(LinkSigner::new(link_key));
        let store: Arc<dyn EventStore> = stack.store.clone();
        let directory = Arc::new(stack.directory.clone());
        let mut service = AppointmentService::new(
            store.clone(),
            directory.clone(),
            Arc::new(SystemClock),
            Arc::new(UuidV7),
            stack.vault.clone(),
        )
        .with_send_policy(config.send_policy.clone());
        if !config.seal_personal_data {
            tracing::warn!("personal data is appended in the clear: a benchmark setting, never for a clinic");
            service = service.without_sealing();
        }
        let service = Arc::new(service);
        let calls = CallSignals::default();
        let relay = Arc::new(Relay::new(config.media.clone())?);
        let rows = Arc::new(stack.db.clone());
        let channels = Channels {
            sms: config.delivery.sms.clone(),
            email: config.delivery.email.clone(),
            outbox: Outbox::new(stack.db.clone()),
        };
        let delivery_worker = Arc::new(DeliveryWorker {
            service: service.clone(),
            directory,
            sender: Arc::new(channels.clone()),
            queue: Arc::new(SqlDeliveryQueue::new(stack.db.clone())),
            links: links.clone(),
            public_url: public_url.clone(),
            retry: config.delivery.retry,
            lease: config.delivery.lease,
        });
        let wake_delivery = Arc::new(Notify::new());
        let delivery = Delivery {
            worker: delivery_worker.clone(),
            wake: wake_delivery.clone(),
        };
        let mut reactors = vec![
            Arc::new(ReactorRunner::new(
                rows.clone(),
                stack.feed.clone(),
                Arc::new(delivery),
            )),
            Arc::new(ReactorRunner::new(
                rows.clone(),
                stack.feed.clone(),
                Arc::new(CallHook(calls.clone())),
            )),
            Arc::new(ReactorRunner::new(
                rows.clone(),
                stack.feed.clone(),
                Arc::new(Erasures {
                    db: stack.db.clone(),
                    store: store.clone(),
                    vault: stack.vault.clone(),
                }),
            )),
        ];
        if let Some(kafka) = &config.kafka {
            let publisher = Arc::new(KafkaPublisher::new(kafka)?);
            let log = Arc::new(StoreFeed(store.clone()));
            reactors.push(Arc::new(ReactorRunner::relaying(rows, log, publisher)));
        }
        let mut projections: Vec<Arc<dyn RunningProjections>> = vec![stack.directory_projection.clone()];
        projections.extend(
            stack
                .projections
                .iter()
                .map(|r| r.clone() as Arc<dyn RunningProjections>),
        );
        let workers = Workers {
            projections,
            reactors,
            changes: stack.changes.clone(),
        };
        let (closing, closing_seen) = watch::channel(false);
        let state = AppState {
            db: stack.db.clone(),
            store: store.clone(),
            vault: stack.vault.clone(),
            integrations: Integrations::new(stack.db.clone()),
            service: service.clone(),
            directory: stack.directory.clone(),
            sessions: SessionStore::new(stack.db.clone(), SESSION_LIFETIME, config.session_idle),
            setup_links: SetupLinks::new(stack.db.clone()),
            setup: stack.setup.clone(),
            directory_projection: stack.directory_projection.clone(),
            credentials: stack.credentials.clone(),
            two_factor: TwoFactorStore::new(stack.db.clone()),
            idempotency: IdempotencyStore::new(stack.db.clone(), chrono::Duration::seconds(60)),
            channels,
            twilio_auth_token: config.delivery.twilio_auth_token.clone(),
            webhook_limiter: Arc::new(RateLimiter::new(600, 120, config.trust_forwarded)),
            workers: workers.clone(),
            calls: calls.clone(),
            relay: relay.clone(),
            presence: Arc::new(CallPresence::new(service.clone())),
            ice_servers: Arc::new(config.ice_servers.clone()),
            links: links.clone(),
            public_url: public_url.clone(),
            secure_cookies: public_url.starts_with("https://"),
            login,
            link_limiter: Arc::new(RateLimiter::new(120, 60, config.trust_forwarded)),
            closing: closing_seen,
            access,
            audit: audit.clone(),
        };

        let (stop_workers, stopped) = watch::channel(false);
        let mut workers = workers.spawn(&stopped);
        let signals = calls.subscribe();
        let stop_relay = stopped.clone();
        workers.push(tokio::spawn(
            async move { relay.follow(signals, stop_relay).await },
        ));
        workers.push(tokio::spawn(crate::workers::send_deliveries(
            delivery_worker,
            wake_delivery,
            stack.changes.clone(),
            stopped.clone(),
        )));
        if let Some(retention) = config.pii_retention {
            workers.push(tokio::spawn(crate::workers::sweep_retention(
                state.clone(),
                retention,
                stopped.clone(),
            )));
        }
        let checkpoint_topic = match &config.kafka {
            Some(kafka) => Some(CheckpointPublisher::new(kafka)?),
            None => None,
        };
        workers.push(tokio::spawn(crate::workers::keep_audit_trail(
            audit,
            config.audit_checkpoint_every,
            checkpoint_topic,
            config.access_log_retention,
            stopped.clone(),
        )));
        workers.push(tokio::spawn(housekeeping(state.clone(), stopped)));
        Ok(Self {
            router: routes::router(state.clone()),
            listener,
            state,
            workers,
            stop_workers,
            closing,
            public_url,
            connections: config.connections,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until `shutdown` completes, then finish in-flight requests and stop the
    /// background workers.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        tracing::info!(
            max_connections = self.connections.max_connections,
            reserve = self.connections.reserve,
            header_timeout_secs = self.connections.header_timeout.as_secs_f64(),
            "serving"
        );
        serve::serve(
            self.listener,
            self.router,
            self.connections,
            self.closing,
            shutdown,
        )
        .await;
        let _ = self.stop_workers.send(true);
        for worker in self.workers {
            let _ = worker.await;
        }
        Ok(())
    }
}
