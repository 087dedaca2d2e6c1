//! The URL delivery worker on the real store and queue, SQLite and PostgreSQL: a transient
//! error is retried later without holding up anyone else, a refusal or an unknown outcome
//! is recorded once and never sent again, retries run out, an abandoned claim is settled
//! by what its channel can promise, and several workers on one database send each message
//! once.

use async_trait::async_trait;
use chrono::Utc;
use enkaku_api::workers::Delivery;
use enkaku_commands::capability::LinkSigner;
use enkaku_commands::channel::{HandedOver, OutgoingMessage, SendError, UrlSender};
use enkaku_commands::delivery::{DeliveryQueue, DeliveryWorker, Lease, RetryPolicy};
use enkaku_commands::ports::{Clock, UuidV7};
use enkaku_commands::{AppointmentService, CommandContext, NewVideoUrl};
use enkaku_domain::appointment::{DeliveryOutcome, DeliveryStatus};
use enkaku_domain::envelope::Actor;
use enkaku_domain::ids::AppointmentId;
use enkaku_domain::values::{Destination, EmailAddress, Provider};
use enkaku_infra::delivery_queue::SqlDeliveryQueue;
use enkaku_infra::directory::SqlDirectory;
use enkaku_infra::event_store::SqlEventStore;
use enkaku_infra::feed::{OpeningFeed, StoreFeed};
use enkaku_infra::outbox::Outbox;
use enkaku_infra::vault::{MasterKey, SqlVault};
use enkaku_infra::{Db, demo};
use enkaku_projections::ReactorRunner;
use enkaku_tests::{Backend, ManualClock, TestStore};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// What the scripted channel answers for a destination, in order; once the script runs out
/// it hands over (or, with `hang`, never answers).
#[derive(Clone, Debug)]
enum Answer {
    Transient(Option<Duration>),
    Permanent,
    Unknown,
}

#[derive(Default)]
struct Script {
    answers: HashMap<String, Vec<Answer>>,
    /// Sends per destination, answered or not.
    calls: HashMap<String, usize>,
}

/// A channel like a real provider (repeats are not harmless), or like the outbox.
struct ScriptedChannel {
    script: Mutex<Script>,
    outbox: Option<Outbox>,
}

impl ScriptedChannel {
    fn answer(&self, destination: &str, answers: Vec<Answer>) {
        self.script
            .lock()
            .unwrap()
            .answers
            .insert(destination.into(), answers);
    }

    fn calls(&self, destination: &str) -> usize {
        *self.script.lock().unwrap().calls.get(destination).unwrap_or(&0)
    }
}

#[async_trait]
impl UrlSender for ScriptedChannel {
    async fn send(&self, message: &OutgoingMessage) -> Result<HandedOver, SendError> {
        let address = message.destination.address().to_owned();
        let next = {
            let mut script = self.script.lock().unwrap();
            *script.calls.entry(address.clone()).or_default() += 1;
            let answers = script.answers.entry(address).or_default();
            (!answers.is_empty()).then(|| answers.remove(0))
        };
        match next {
            Some(Answer::Transient(retry_after)) => Err(SendError::Transient {
                reason: "provider busy".into(),
                retry_after,
            }),
            Some(Answer::Permanent) => Err(SendError::Permanent {
                code: "smtp:550".into(),
                reason: "the mailbox does not exist".into(),
            }),
            Some(Answer::Unknown) => Err(SendError::Unknown {
                reason: "no answer".into(),
            }),
            None => match &self.outbox {
                Some(outbox) => outbox.send(message).await,
                None => Ok(HandedOver {
                    provider: Provider::Smtp,
                    provider_message_id: Some(format!("<{}@clinic.example.jp>", message.delivery_id)),
                }),
            },
        }
    }

    fn repeat_is_harmless(&self, _: &Destination) -> bool {
        self.outbox.is_some()
    }
}

struct Setup {
    clock: Arc<ManualClock>,
    noter: ReactorRunner,
    workers: Vec<DeliveryWorker>,
    queue: Arc<SqlDeliveryQueue>,
    service: Arc<AppointmentService>,
    channel: Arc<ScriptedChannel>,
    db: Db,
    ctx: CommandContext,
    _store: TestStore,
}

const LEASE: Lease = Lease {
    attempt: Duration::from_secs(2),
};

/// `nodes` workers on one database, as several enkaku processes would be.
async fn setup(backend: Backend, like_the_outbox: bool, nodes: usize) -> Setup {
    let store = TestStore::new(backend).await;
    let db = Db::connect(&store.database_url()).await.unwrap();
    let events = Arc::new(SqlEventStore::open(db.clone()).await.unwrap());
    enkaku_tests::seed_demo(&db, events.clone()).await;
    let directory = Arc::new(SqlDirectory::new(db.clone()));
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let vault = Arc::new(SqlVault::new(
        db.clone(),
        MasterKey::from_bytes(&[1; 32]).unwrap(),
    ));
    let service = Arc::new(AppointmentService::new(
        events.clone(),
        directory.clone(),
        clock.clone(),
        Arc::new(UuidV7),
        vault.clone(),
    ));
    let channel = Arc::new(ScriptedChannel {
        script: Mutex::default(),
        outbox: like_the_outbox.then(|| Outbox::new(db.clone())),
    });
    let queue = Arc::new(SqlDeliveryQueue::new(db.clone()));
    let worker = || DeliveryWorker {
        service: service.clone(),
        directory: directory.clone(),
        sender: channel.clone(),
        queue: queue.clone(),
        links: Arc::new(LinkSigner::new(vec![7u8; 32].into())),
        public_url: "https://clinic.example.jp".into(),
        retry: RetryPolicy {
            max_attempts: 4,
            ..RetryPolicy::default()
        },
        lease: LEASE,
    };
    let noter = ReactorRunner::new(
        Arc::new(db.clone()),
        Arc::new(OpeningFeed {
            feed: Arc::new(StoreFeed(events)),
            vault,
        }),
        Arc::new(Delivery {
            worker: Arc::new(worker()),
            wake: Arc::new(Notify::new()),
        }),
    );
    let ctx = CommandContext {
        clinic_id: demo::demo_clinic(),
        actor: Actor::Staff(demo::yamada()),
        correlation_id: uuid::Uuid::now_v7(),
        causation_id: uuid::Uuid::now_v7(),
        client_request_id: None,
        if_match: None,
    };
    Setup {
        clock,
        noter,
        workers: (0..nodes).map(|_| worker()).collect(),
        queue,
        service,
        channel,
        db,
        ctx,
        _store: store,
    }
}

impl Setup {
    /// A video URL whose patient link is requested to `to`, noted by the feed's half.
    async fn request(&self, to: &str) -> AppointmentId {
        let id = AppointmentId(uuid::Uuid::now_v7());
        let input = NewVideoUrl {
            doctor_id: demo::yamada(),
            start_at: None,
            title: None,
        };
        self.service.create_video_url(&self.ctx, id, input).await.unwrap();
        let to = Destination::Email(EmailAddress::parse(to).unwrap());
        self.service.send_url(&self.ctx, id, to, false).await.unwrap();
        self.noter.catch_up().await.unwrap();
        id
    }

    async fn run(&self) -> usize {
        self.workers[0].run_due().await.unwrap().len()
    }

    async fn outcome(&self, id: AppointmentId) -> DeliveryOutcome {
        let at = self.service.get(self.ctx.clinic_id, id).await.unwrap();
        at.appointment.latest_delivery().unwrap().outcome.clone()
    }

    async fn status(&self, id: AppointmentId) -> DeliveryStatus {
        let at = self.service.get(self.ctx.clinic_id, id).await.unwrap();
        at.appointment.latest_delivery().unwrap().status()
    }

    /// Let the next retry fall due.
    fn wait_for_retry(&self) {
        self.clock.advance(Duration::from_secs(3600));
    }
}

async fn each_backend<F, Fut>(test: F)
where
    F: Fn(Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in [Backend::Sqlite, Backend::Postgres] {
        test(backend).await;
    }
}

#[tokio::test]
async fn a_transient_error_is_retried_later_and_holds_up_no_other_delivery() {
    each_backend(|backend| async move {
        let s = setup(backend, false, 1).await;
        s.channel.answer(
            "busy@example.jp",
            vec![
                Answer::Transient(Some(Duration::from_secs(120))),
                Answer::Transient(None),
            ],
        );
        let busy = s.request("busy@example.jp").await;
        let fine = s.request("fine@example.jp").await;
        assert_eq!(s.run().await, 1, "the other delivery went out at once");
        assert_eq!(s.status(fine).await, DeliveryStatus::Sent);
        assert_eq!(s.outcome(busy).await, DeliveryOutcome::Pending);
        // Not before the provider's Retry-After.
        let due = s.queue.next_due().await.unwrap().unwrap();
        let asked = s.clock.now() + chrono::Duration::seconds(120);
        assert!(due.timestamp_millis() >= asked.timestamp_millis(), "{due}");
        s.clock.advance(Duration::from_secs(60));
        assert_eq!(s.run().await, 0);
        assert_eq!(s.channel.calls("busy@example.jp"), 1);
        s.wait_for_retry();
        assert_eq!(s.run().await, 0, "the second attempt is busy too");
        s.wait_for_retry();
        assert_eq!(s.run().await, 1);
        assert_eq!(s.status(busy).await, DeliveryStatus::Sent);
        assert_eq!(s.channel.calls("busy@example.jp"), 3);
        assert_eq!(s.channel.calls("fine@example.jp"), 1);
        // Nothing is due any more, however long one waits.
        s.wait_for_retry();
        assert_eq!(s.run().await, 0);
        assert_eq!(s.queue.next_due().await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn a_refusal_and_an_unknown_outcome_are_recorded_once_and_never_sent_again() {
    each_backend(|backend| async move {
        let s = setup(backend, false, 1).await;
        s.channel.answer("nobody@example.jp", vec![Answer::Permanent]);
        s.channel.answer("lost@example.jp", vec![Answer::Unknown]);
        let refused = s.request("nobody@example.jp").await;
        let lost = s.request("lost@example.jp").await;
        assert_eq!(s.run().await, 2);
        match s.outcome(refused).await {
            DeliveryOutcome::Failed { code, .. } => assert_eq!(code.as_deref(), Some("smtp:550")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(s.outcome(lost).await, DeliveryOutcome::Unknown { .. }));
        // Reading the requests again (the feed's place lost, as after a crash) sends nothing.
        sqlx::query("DELETE FROM feed_offsets")
            .execute(&s.db.pool)
            .await
            .unwrap();
        s.noter.catch_up().await.unwrap();
        s.wait_for_retry();
        assert_eq!(s.run().await, 0);
        assert_eq!(s.channel.calls("nobody@example.jp"), 1);
        assert_eq!(s.channel.calls("lost@example.jp"), 1);
    })
    .await;
}

#[tokio::test]
async fn when_retries_run_out_the_delivery_fails_for_staff_to_see() {
    let s = setup(Backend::Sqlite, false, 1).await;
    s.channel
        .answer("down@example.jp", vec![Answer::Transient(None); 10]);
    let id = s.request("down@example.jp").await;
    for _ in 0..4 {
        s.run().await;
        s.wait_for_retry();
    }
    match s.outcome(id).await {
        DeliveryOutcome::Failed { code, reason, .. } => {
            assert_eq!(code.as_deref(), Some("enkaku:retries_exhausted"));
            assert!(reason.contains("4 attempts"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.channel.calls("down@example.jp"), 4, "max_attempts in all");
}

#[tokio::test]
async fn an_abandoned_claim_is_unknown_for_a_provider_and_sent_again_only_by_the_outbox() {
    for like_the_outbox in [false, true] {
        let s = setup(Backend::Sqlite, like_the_outbox, 1).await;
        let id = s.request("hanako@example.jp").await;
        // A node claims the job and dies before it reports.
        let claimed = s.queue.claim_due(s.clock.now(), 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        // Within the lease nobody touches it.
        assert_eq!(s.run().await, 0);
        assert_eq!(s.outcome(id).await, DeliveryOutcome::Pending);
        s.clock.advance(LEASE.expiry() + Duration::from_secs(1));
        s.run().await;
        s.run().await;
        if like_the_outbox {
            assert_eq!(s.status(id).await, DeliveryStatus::Kept);
            assert_eq!(s.channel.calls("hanako@example.jp"), 1);
        } else {
            assert!(matches!(s.outcome(id).await, DeliveryOutcome::Unknown { .. }));
            assert_eq!(s.channel.calls("hanako@example.jp"), 0, "never sent again");
        }
    }
}

#[tokio::test]
async fn a_message_for_a_cancelled_appointment_is_not_sent() {
    let s = setup(Backend::Sqlite, false, 1).await;
    let id = s.request("hanako@example.jp").await;
    s.service.cancel(&s.ctx, id).await.unwrap();
    assert_eq!(s.run().await, 1);
    match s.outcome(id).await {
        DeliveryOutcome::Failed { code, .. } => {
            assert_eq!(code.as_deref(), Some("enkaku:appointment_closed"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.channel.calls("hanako@example.jp"), 0);
}

#[tokio::test]
async fn several_workers_on_one_postgresql_send_each_message_once() {
    let s = setup(Backend::Postgres, false, 3).await;
    let mut ids = vec![];
    for n in 0..30 {
        ids.push((n, s.request(&format!("p{n}@example.jp")).await));
    }
    let passes = s.workers.iter().map(|w| async move {
        let mut settled = 0;
        for _ in 0..3 {
            settled += w.run_due().await.unwrap().len();
        }
        settled
    });
    let settled: usize = futures::future::join_all(passes).await.into_iter().sum();
    assert_eq!(settled, 30);
    for (n, id) in ids {
        assert_eq!(s.status(id).await, DeliveryStatus::Sent);
        assert_eq!(s.channel.calls(&format!("p{n}@example.jp")), 1);
    }
}
