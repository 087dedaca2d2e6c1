//! The URL delivery worker's contract with its channel, on the real store: a channel that is
//! down is tried again (never recorded as a failure), a refusal is recorded for staff, and a
//! message is handed over once per delivery however often the worker passes by.

use async_trait::async_trait;
use enkaku_api::workers::Delivery;
use enkaku_commands::capability::LinkSigner;
use enkaku_commands::channel::{HandedOver, OutgoingMessage, SendError, UrlSender};
use enkaku_commands::delivery::DeliveryWorker;
use enkaku_commands::ports::{SystemClock, UuidV7};
use enkaku_commands::{AppointmentService, CommandContext, NewVideoUrl};
use enkaku_domain::appointment::DeliveryOutcome;
use enkaku_domain::envelope::Actor;
use enkaku_domain::ids::AppointmentId;
use enkaku_domain::values::{Destination, EmailAddress};
use enkaku_infra::directory::SqlDirectory;
use enkaku_infra::event_store::SqlEventStore;
use enkaku_infra::feed::StoreFeed;
use enkaku_infra::outbox::Outbox;
use enkaku_infra::{Db, demo};
use enkaku_projections::{Change, Changes, ReactorRunner};
use enkaku_tests::{Backend, TestStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A channel that is down for its first `outages` calls, then refuses or delivers to the outbox.
struct Channel {
    outbox: Outbox,
    outages: AtomicUsize,
    refuse: bool,
    calls: AtomicUsize,
}

#[async_trait]
impl UrlSender for Channel {
    async fn send(&self, message: &OutgoingMessage) -> Result<HandedOver, SendError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.outages.load(Ordering::SeqCst) > 0 {
            self.outages.fetch_sub(1, Ordering::SeqCst);
            return Err(SendError::Transient {
                reason: "connection refused".into(),
                retry_after: None,
            });
        }
        if self.refuse {
            return Err(SendError::Permanent {
                code: "smtp:550".into(),
                reason: "mailbox does not exist".into(),
            });
        }
        self.outbox.send(message).await
    }
}

struct Setup {
    worker: ReactorRunner,
    changes: Changes,
    db: Db,
    service: Arc<AppointmentService>,
    channel: Arc<Channel>,
    outbox: Outbox,
    ctx: CommandContext,
    _store: TestStore,
}

async fn setup(outages: usize, refuse: bool) -> Setup {
    let store = TestStore::new(Backend::Sqlite).await;
    let db = Db::connect(&store.database_url()).await.unwrap();
    demo::seed(&db).await.unwrap();
    let events = Arc::new(SqlEventStore::open(db.clone()).await.unwrap());
    let directory = Arc::new(SqlDirectory::new(db.clone()));
    let service = Arc::new(AppointmentService::new(
        events.clone(),
        directory.clone(),
        Arc::new(SystemClock),
        Arc::new(UuidV7),
    ));
    let outbox = Outbox::new(db.clone());
    let channel = Arc::new(Channel {
        outbox: outbox.clone(),
        outages: AtomicUsize::new(outages),
        refuse,
        calls: AtomicUsize::new(0),
    });
    let delivery = DeliveryWorker {
        service: service.clone(),
        directory,
        sender: channel.clone(),
        links: Arc::new(LinkSigner::new(vec![7u8; 32].into())),
        public_url: "https://clinic.example.jp".into(),
    };
    let changes = Changes::default();
    let worker = ReactorRunner::new(
        Arc::new(db.clone()),
        Arc::new(StoreFeed(events)),
        Arc::new(Delivery {
            worker: delivery,
            changes: changes.clone(),
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
        worker,
        changes,
        db,
        service,
        channel,
        outbox,
        ctx,
        _store: store,
    }
}

async fn request_a_delivery(s: &Setup) -> AppointmentId {
    let id = AppointmentId(uuid::Uuid::now_v7());
    let input = NewVideoUrl {
        doctor_id: demo::yamada(),
        start_at: None,
        title: None,
    };
    s.service.create_video_url(&s.ctx, id, input).await.unwrap();
    let to = Destination::Email(EmailAddress::parse("hanako@example.jp").unwrap());
    s.service.send_url(&s.ctx, id, to, false).await.unwrap();
    id
}

/// What staff pages hear once an outcome is recorded: that appointment changed, in no read
/// model.
fn outcome_announced(s: &Setup, id: AppointmentId) -> Change {
    Change {
        clinic_id: s.ctx.clinic_id,
        read_models: vec![],
        appointment_ids: vec![id],
    }
}

async fn outcome(s: &Setup, id: AppointmentId) -> DeliveryOutcome {
    let at = s.service.get(s.ctx.clinic_id, id).await.unwrap();
    at.appointment.latest_delivery().unwrap().outcome.clone()
}

#[tokio::test]
async fn a_channel_that_is_down_is_tried_again_not_recorded_as_failed() {
    let s = setup(2, false).await;
    let mut heard = s.changes.subscribe();
    let id = request_a_delivery(&s).await;
    for _ in 0..2 {
        let err = s.worker.catch_up().await.unwrap_err();
        assert!(err.0.contains("connection refused"), "{err}");
        assert_eq!(outcome(&s, id).await, DeliveryOutcome::Pending);
        assert!(heard.try_recv().is_err(), "nothing to announce while pending");
    }
    assert!(s.worker.catch_up().await.unwrap(), "delivered");
    assert!(matches!(outcome(&s, id).await, DeliveryOutcome::Sent { .. }));
    assert_eq!(heard.try_recv().unwrap(), outcome_announced(&s, id));
    // Reading the request again (its place lost, as after a crash) hands nothing over twice.
    sqlx::query("DELETE FROM feed_offsets")
        .execute(&s.db.pool)
        .await
        .unwrap();
    assert!(!s.worker.catch_up().await.unwrap(), "nothing left to deliver");
    assert!(heard.try_recv().is_err(), "no news when nothing was recorded");
    let messages = s.outbox.list(s.ctx.clinic_id, 10).await.unwrap();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].body.contains("https://clinic.example.jp/p/"));
    assert_eq!(s.channel.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_refusal_is_recorded_for_staff_to_see() {
    let s = setup(0, true).await;
    let mut heard = s.changes.subscribe();
    let id = request_a_delivery(&s).await;
    s.worker.catch_up().await.unwrap();
    assert_eq!(heard.try_recv().unwrap(), outcome_announced(&s, id));
    match outcome(&s, id).await {
        DeliveryOutcome::Failed { reason, .. } => assert_eq!(reason, "mailbox does not exist"),
        other => panic!("{other:?}"),
    }
    assert!(s.outbox.list(s.ctx.clinic_id, 10).await.unwrap().is_empty());
}
