//! The background consumers of the event feed, wired for the chosen mode:
//!
//! - embedded: one projection runner for every read model of the appointments, and the
//!   reactors (URL delivery, the media relay's hook, finishing erasures), all reading the
//!   store's log;
//! - Kafka: the publisher reads the store's log into the topics; one projection runner per
//!   read model and the reactors read the appointments' topic, each as its own consumer.
//!
//! In both, the directory (set-up) runner reads the store's log.

use crate::state::AppState;
use enkaku_commands::delivery::DeliveryWorker;
use enkaku_commands::ports::{EventStore, Vault};
use enkaku_commands::{AppointmentService, CommandContext, CommandError};
use enkaku_domain::DomainError;
use enkaku_domain::appointment::{ErasureReason, Event};
use enkaku_domain::envelope::RecordedEvent;
use enkaku_domain::ids::AppointmentId;
use enkaku_infra::audit::prune::prune_access_log;
use enkaku_infra::audit::{AuditTrail, Log, checkpoint};
use enkaku_infra::kafka::CheckpointPublisher;
use enkaku_infra::{Db, erasure};
use enkaku_media::{CallSignal, CallSignals};
use enkaku_projections::queries;
use enkaku_projections::runner::ProjectionError;
use enkaku_projections::{Change, Changes, Reactor, ReactorRunner, RetryLater, RunningProjections};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

#[derive(Clone, Default)]
pub struct Workers {
    pub projections: Vec<Arc<dyn RunningProjections>>,
    pub reactors: Vec<Arc<ReactorRunner>>,
    /// What they changed, as it is committed (the live-update stream listens).
    pub changes: Changes,
}

/// How far behind the feed one consumer is.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ConsumerLag {
    pub name: String,
    /// `projection`, `reactor` or `publisher`.
    pub kind: &'static str,
    /// `log` or `kafka:<topic>`.
    pub feed: String,
    /// Events in the feed it has not handled yet.
    pub lag: u64,
}

/// The name the publisher's reactor has; its lag is the publisher lag.
pub fn is_publisher(name: &str) -> bool {
    name.starts_with("kafka_publisher")
}

impl Workers {
    pub fn spawn(&self, stop: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let projections = self
            .projections
            .iter()
            .map(|r| tokio::spawn(r.clone().run(stop.clone())));
        let reactors = self
            .reactors
            .iter()
            .map(|r| tokio::spawn(r.clone().run(stop.clone())));
        projections.chain(reactors).collect()
    }

    /// The lowest position every read model has reached (see `ProjectionRunner::position`).
    pub async fn projected(&self) -> Result<u64, ProjectionError> {
        let mut lowest = None::<u64>;
        for runner in &self.projections {
            let p = runner.position().await?;
            lowest = Some(lowest.map_or(p, |l| l.min(p)));
        }
        Ok(lowest.unwrap_or(0))
    }

    pub fn lags(&self) -> Vec<ConsumerLag> {
        let projections = self.projections.iter().map(|r| ConsumerLag {
            name: r.name().to_owned(),
            kind: "projection",
            feed: r.feed_name(),
            lag: r.lag(),
        });
        let reactors = self.reactors.iter().map(|r| ConsumerLag {
            name: r.name().to_owned(),
            kind: if is_publisher(r.name()) {
                "publisher"
            } else {
                "reactor"
            },
            feed: r.feed_name(),
            lag: r.lag(),
        });
        projections.chain(reactors).collect()
    }
}

/// URL delivery's feed half: every requested delivery goes into the worker's queue, and the
/// sending half ([`send_deliveries`]) is woken.
pub struct Delivery {
    pub worker: Arc<DeliveryWorker>,
    pub wake: Arc<Notify>,
}

#[async_trait::async_trait]
impl Reactor for Delivery {
    fn name(&self) -> &str {
        "url_delivery"
    }

    async fn react(&self, batch: &[(&RecordedEvent, &Event)]) -> Result<bool, RetryLater> {
        let mut noted = false;
        for (recorded, event) in batch {
            noted |= self
                .worker
                .note(recorded, event)
                .await
                .map_err(|e: CommandError| RetryLater(e.to_string()))?;
        }
        if noted {
            self.wake.notify_one();
        }
        // Noting twice is harmless: the place need not be saved at once.
        Ok(false)
    }
}

/// Other nodes note deliveries too, and retries fall due: look at least this often.
const DELIVERY_POLL: Duration = Duration::from_secs(1);

/// URL delivery's sending half: try what is due, announce each outcome recorded (no read
/// model shows it at once, but an open appointment does), and sleep until the next job is
/// due, a new one is noted, or a second has passed.
pub async fn send_deliveries(
    worker: Arc<DeliveryWorker>,
    wake: Arc<Notify>,
    changes: Changes,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let wait = match worker.run_due().await {
            Ok(settled) => {
                for s in settled {
                    let mut change = Change::new(s.clinic_id);
                    change.touch(Some(s.appointment_id), []);
                    changes.announce(change);
                }
                // Due already (more than one pass claims): at once.
                match worker.next_due().await {
                    Ok(Some(at)) => (at - worker.service.now())
                        .to_std()
                        .unwrap_or(Duration::ZERO)
                        .min(DELIVERY_POLL),
                    _ => DELIVERY_POLL,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "delivery pass failed; trying again");
                DELIVERY_POLL
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
            _ = stop.changed() => {}
        }
    }
}

/// The media relay's hook: call starts and ends become signals to the relay.
pub struct CallHook(pub CallSignals);

#[async_trait::async_trait]
impl Reactor for CallHook {
    fn name(&self) -> &str {
        "media_relay"
    }

    async fn react(&self, batch: &[(&RecordedEvent, &Event)]) -> Result<bool, RetryLater> {
        for (recorded, event) in batch {
            let signal = match event {
                Event::CallStarted(_) => CallSignal::Started,
                Event::CallEnded(_) | Event::CallCancelled(_) => CallSignal::Closed,
                _ => continue,
            };
            if let Some(id) = AppointmentId::from_stream_id(&recorded.stream_id) {
                self.0.publish(signal(id));
            }
        }
        // Signals are live news: the place need not be saved after each batch.
        Ok(false)
    }
}

/// Finishes every erasure (SPEC §9) from the log, whichever node recorded it and whether or
/// not it lived to finish: the appointment's data keys destroyed (which also drops them from
/// this node's memory), and the copies outside the read models deleted. Both are harmless to
/// repeat, as the feed may hand an event over twice.
pub struct Erasures {
    pub db: Db,
    pub store: Arc<dyn EventStore>,
    pub vault: Arc<dyn Vault>,
}

#[async_trait::async_trait]
impl Reactor for Erasures {
    fn name(&self) -> &str {
        "erasure"
    }

    async fn react(&self, batch: &[(&RecordedEvent, &Event)]) -> Result<bool, RetryLater> {
        let retry =
            |e: &dyn std::fmt::Display| RetryLater(format!("an erasure could not be finished now: {e}"));
        let mut finished = false;
        for (recorded, event) in batch {
            let (Event::PersonalDataErased(_), Some(id)) =
                (event, AppointmentId::from_stream_id(&recorded.stream_id))
            else {
                continue;
            };
            erasure::finish(&self.db, self.store.as_ref(), self.vault.as_ref(), id)
                .await
                .map_err(|e| retry(&e))?;
            finished = true;
        }
        if finished {
            erasure::flush_wal(&self.db).await.map_err(|e| retry(&e))?;
        }
        Ok(finished)
    }
}

/// How often appointments are looked at for erasure under `--pii-retention-days`.
pub const RETENTION_SWEEP_EVERY: Duration = Duration::from_secs(24 * 60 * 60);
/// Appointments erased before the read models are waited for and asked again.
const RETENTION_BATCH: u32 = 100;

/// Erase, as the system and for `retention`, the personal data of every appointment that
/// ended or was cancelled `retention` ago or longer (docs/privacy.md). `caught_up` waits for
/// the read models to fold the erasures made, so that the next question does not find them
/// again. A call in progress is left for the next sweep. Answers how many it erased.
pub async fn erase_expired(
    service: &AppointmentService,
    pool: &sqlx::AnyPool,
    retention: chrono::Duration,
    caught_up: impl Fn() -> futures::future::BoxFuture<'static, ()>,
) -> Result<u64, CommandError> {
    let mut erased = 0;
    loop {
        let cutoff = service.now() - retention;
        let due = queries::due_for_erasure(pool, cutoff, RETENTION_BATCH)
            .await
            .map_err(|e| CommandError::Unavailable(e.to_string()))?;
        let mut erased_now = 0;
        for (clinic, id) in due {
            match service
                .erase(&CommandContext::system(clinic), id, ErasureReason::Retention)
                .await
            {
                Ok(_) => erased_now += 1,
                Err(CommandError::Rejected(DomainError::CallInProgress)) => {}
                Err(e) => return Err(e),
            }
        }
        if erased_now == 0 {
            return Ok(erased);
        }
        erased += erased_now;
        caught_up().await;
    }
}

/// Once at start and then every [`RETENTION_SWEEP_EVERY`]: [`erase_expired`]. The `erasure`
/// reactor finishes each erasure it records.
pub async fn sweep_retention(state: AppState, retention: chrono::Duration, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let caught_up = || {
            let state = state.clone();
            let head = *state.store.head().borrow();
            Box::pin(async move { state.read_models_at(head).await })
                as futures::future::BoxFuture<'static, ()>
        };
        match erase_expired(&state.service, &state.db.pool, retention, caught_up).await {
            Ok(0) => {}
            Ok(erased) => tracing::info!(erased, "erased personal data past its retention"),
            Err(e) => tracing::warn!(error = %e, "the retention sweep failed; it runs again later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RETENTION_SWEEP_EVERY) => {}
            _ = stop.changed() => {}
        }
    }
}

/// How often records past the access log's retention are pruned.
const ACCESS_LOG_PRUNING_EVERY: Duration = Duration::from_secs(3600);

/// How often the audit trees fold what was written since: a proof or checkpoint asked for
/// folds first in any case, so this only keeps that work small.
const AUDIT_FOLD_EVERY: Duration = Duration::from_secs(1);

/// Keep the Merkle trees of both logs up with them, and every `every` write a signed
/// checkpoint of each to the data directory and, with Kafka, to its checkpoints topic
/// (docs/audit.md). Every node does this: folding is idempotent, and each node's checkpoints
/// are its own copies.
pub async fn keep_audit_trail(
    trail: Arc<AuditTrail>,
    every: Duration,
    kafka: Option<CheckpointPublisher>,
    access_log_retention: Option<chrono::Duration>,
    mut stop: watch::Receiver<bool>,
) {
    let mut next_checkpoint = tokio::time::Instant::now() + every;
    let mut next_pruning = tokio::time::Instant::now();
    while !*stop.borrow() {
        if let Some(retention) = access_log_retention
            && tokio::time::Instant::now() >= next_pruning
        {
            next_pruning += ACCESS_LOG_PRUNING_EVERY;
            let now = chrono::Utc::now();
            match prune_access_log(&trail, now - retention, now).await {
                Ok(None) => {}
                Ok(Some(pruned)) => {
                    tracing::info!(up_to = pruned.size, "pruned the access log past its retention")
                }
                Err(e) => tracing::warn!(error = %e, "cannot prune the access log; it is tried again later"),
            }
        }
        for log in Log::ALL {
            if let Err(e) = trail.catch_up(log).await {
                tracing::warn!(log = log.name(), error = %e, "cannot fold the log into its audit tree");
            }
        }
        if tokio::time::Instant::now() >= next_checkpoint {
            next_checkpoint += every;
            for log in Log::ALL {
                let signed = match trail.checkpoint(log, chrono::Utc::now()).await {
                    Ok(signed) => signed,
                    Err(e) => {
                        tracing::warn!(log = log.name(), error = %e, "cannot sign the audit checkpoint");
                        continue;
                    }
                };
                if let Err(e) = checkpoint::save(trail.dir(), &signed) {
                    tracing::warn!(log = log.name(), error = %e, "cannot write the audit checkpoint");
                }
                if let Some(kafka) = &kafka
                    && let Err(e) = kafka.publish(&signed).await
                {
                    tracing::warn!(log = log.name(), error = %e, "cannot publish the audit checkpoint");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(AUDIT_FOLD_EVERY) => {}
            _ = stop.changed() => {}
        }
    }
}
