//! Kafka in the path, against a real Kafka-protocol broker (tansu): commands reach the read
//! models and the media relay through the topic; an integrator with a plain Kafka client sees
//! every event with its CloudEvents attributes, in order per key; a broker outage and a
//! crash of enkaku lose nothing and apply nothing twice.

use enkaku_infra::audit::Log;
use enkaku_infra::audit::checkpoint::Checkpoint;
use enkaku_infra::kafka::{DEFAULT_CHECKPOINT_TOPIC, DEFAULT_SETUP_TOPIC, DEFAULT_TOPIC, KafkaConfig};
use enkaku_media::CallSignal;
use enkaku_tests::broker::Broker;
use enkaku_tests::process::{Server, free_port};
use enkaku_tests::{
    Backend, Staff, TestApp, TestStore, YAMADA, health, hours_from_now, tokyo_date, tomorrow_in_tokyo_at,
};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::{ClientConfig, Message};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// The application with Kafka in the path, on a fresh `backend` store.
async fn kafka_app(broker: &Broker, backend: Backend) -> TestApp {
    let store = TestStore::new(backend).await;
    let mut config = store.config(([127, 0, 0, 1], 0).into());
    config.kafka = Some(KafkaConfig::new(broker.address()));
    TestApp::spawn_with(store, config).await
}

/// Poll `check` until it returns something, for up to 30 s.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..600 {
        if let Some(found) = check().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 30 s");
}

/// The status of an appointment in a list answer, if it is listed.
fn status_in(list: &Value, appointment: &str) -> Option<String> {
    list["entries"]
        .as_array()?
        .iter()
        .find(|e| e["appointment_id"] == appointment)
        .map(|e| e["status"].as_str().unwrap_or_default().to_owned())
}

async fn reception_status(staff: &Staff, date: &str, appointment: &str) -> Option<String> {
    status_in(
        &staff.get(&format!("/api/v1/reception?date={date}")).await.body,
        appointment,
    )
}

/// Start in half an hour: the video window (from one hour before) is open now.
fn soon() -> String {
    let t = chrono::Utc::now() + chrono::Duration::minutes(30);
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn commands_reach_the_read_models_and_the_media_relay_through_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::in_memory(dir.path()).await;
    let app = kafka_app(&broker, Backend::Sqlite).await;
    let yamada = app.login(YAMADA).await;
    let mut relay = app.state.calls.subscribe();

    let start = soon();
    let date = tokyo_date(&start);
    let booked = yamada
        .book(&start, "オンライン自費診療", "online", "山田 花子")
        .await;
    assert_eq!(booked.status.as_u16(), 201, "{}", booked.body);
    let id = booked.body["id"].as_str().unwrap().to_owned();
    let status = eventually("the booking in the reception list", async || {
        reception_status(&yamada, &date, &id).await
    })
    .await;
    assert_eq!(status, "booked");

    let started = yamada
        .post(&format!("/api/v1/appointments/{id}/start-call"), json!({}))
        .await;
    assert_eq!(started.status.as_u16(), 200, "{}", started.body);
    let signal = tokio::time::timeout(Duration::from_secs(30), relay.recv())
        .await
        .expect("the relay heard of the call in time")
        .unwrap();
    assert_eq!(signal, CallSignal::Started(id.parse().unwrap()));
    eventually("the call status in the reception list", async || {
        reception_status(&yamada, &date, &id)
            .await
            .filter(|s| s == "in_call")
    })
    .await;

    // Operators see every consumer and its feed.
    let health = health(&app.http, &app.base).await;
    let consumers: Vec<(String, String, String)> = health["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap().to_owned();
            (text("name"), text("kind"), text("feed"))
        })
        .collect();
    let kafka_feed = format!("kafka:{DEFAULT_TOPIC}");
    for name in ["schedule", "reception"] {
        assert!(
            consumers.contains(&(name.into(), "projection".into(), kafka_feed.clone())),
            "{health}"
        );
    }
    assert!(consumers.contains(&("url_delivery".into(), "reactor".into(), kafka_feed.clone())));
    let publisher = format!("kafka_publisher:{DEFAULT_TOPIC}");
    assert!(consumers.contains(&(publisher.clone(), "publisher".into(), "log".into())));
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "enkaku_consumer_lag_events{{consumer=\"{publisher}\",kind=\"publisher\",feed=\"log\"}}"
        )),
        "{metrics}"
    );
    assert!(metrics.contains("enkaku_log_head_position"), "{metrics}");
    app.stop().await;
}

/// Everything a plain Kafka consumer in its own group reads from the topic until it has seen
/// every id in `expected`, in arrival order.
async fn read_topic(broker: &Broker, expected: &HashSet<String>) -> Vec<(String, Value, Option<String>)> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.address())
        .set("group.id", format!("integrator-{}", uuid::Uuid::now_v7()))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[DEFAULT_TOPIC, DEFAULT_SETUP_TOPIC]).unwrap();
    let mut seen = Vec::new();
    let mut ids = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !expected.is_subset(&ids) {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {} events arrived", ids.len(), expected.len()))
            .unwrap();
        let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
        let doc: Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
        // Set-up events on their own topic, typed as such; the appointments' on theirs.
        let setup = ["clinic-", "menu-", "hours-", "closure-"]
            .iter()
            .any(|prefix| key.starts_with(prefix));
        let (topic, family) = if setup {
            (DEFAULT_SETUP_TOPIC, "enkaku.setup.")
        } else {
            (DEFAULT_TOPIC, "enkaku.appointment.")
        };
        assert_eq!(message.topic(), topic, "{key}");
        assert!(doc["type"].as_str().unwrap().starts_with(family), "{doc}");
        let content_type = message.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key == "content-type")
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        });
        ids.insert(doc["id"].as_str().unwrap().to_owned());
        seen.push((key, doc, content_type));
    }
    seen
}

/// The store's events by id, as the integrator should see them.
async fn stored_events(app: &TestApp) -> HashMap<String, enkaku_domain::envelope::RecordedEvent> {
    app.state
        .store
        .read_all(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event_id.to_string(), e))
        .collect()
}

/// Each key's events in first-arrival order must run 1, 2, 3, … in stream version.
fn assert_in_order_per_key(seen: &[(String, Value, Option<String>)]) {
    let mut first = HashSet::new();
    let mut versions: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (key, doc, _) in seen {
        if first.insert(doc["id"].as_str().unwrap()) {
            versions
                .entry(key)
                .or_default()
                .push(doc["streamversion"].as_u64().unwrap());
        }
    }
    for (key, versions) in versions {
        let expected: Vec<u64> = (1..=versions.len() as u64).collect();
        assert_eq!(versions, expected, "events of {key} out of order");
    }
}

/// Some traffic, all on one clinic day (tomorrow): video calls sent by SMS, some cancelled,
/// and a booking.
async fn traffic(staff: &Staff, calls: usize) {
    for n in 0..calls {
        let created = staff
            .create_video_url(&tomorrow_in_tokyo_at(10), &format!("再診 {n}"))
            .await;
        assert_eq!(created.status.as_u16(), 201, "{}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        let sent = staff
            .post(
                &format!("/api/v1/appointments/{id}/send-url"),
                json!({ "channel": "sms", "destination": "090-1234-5678" }),
            )
            .await;
        assert_eq!(sent.status.as_u16(), 202, "{}", sent.body);
        if n % 2 == 0 {
            let cancelled = staff
                .post(&format!("/api/v1/appointments/{id}/cancel"), json!({}))
                .await;
            assert_eq!(cancelled.status.as_u16(), 200, "{}", cancelled.body);
        }
    }
    let booked = staff
        .book(&tomorrow_in_tokyo_at(11), "一般内科", "in_person", "対面 太郎")
        .await;
    assert_eq!(booked.status.as_u16(), 201, "{}", booked.body);
}

#[tokio::test]
async fn an_integrator_sees_every_event_as_a_cloudevent_in_order_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::in_memory(dir.path()).await;
    let app = kafka_app(&broker, Backend::Sqlite).await;
    let yamada = app.login(YAMADA).await;
    traffic(&yamada, 6).await;
    let before = stored_events(&app).await;
    let seen = read_topic(&broker, &before.keys().cloned().collect()).await;
    // The delivery worker may have recorded outcomes meanwhile.
    let stored = stored_events(&app).await;

    for (key, doc, content_type) in &seen {
        let event = &stored[doc["id"].as_str().unwrap()];
        assert_eq!(
            content_type.as_deref(),
            Some("application/cloudevents+json; charset=utf-8")
        );
        assert_eq!(key, &event.stream_id);
        assert_eq!(doc["specversion"], "1.0");
        assert!(
            doc["type"]
                .as_str()
                .unwrap()
                .ends_with(&format!(".{}", event.event_type))
        );
        assert_eq!(doc["subject"], event.stream_id);
        assert_eq!(doc["source"], format!("/clinics/{}", event.metadata.clinic_id));
        let time = chrono::DateTime::parse_from_rfc3339(doc["time"].as_str().unwrap()).unwrap();
        assert_eq!(time, event.occurred_at);
        assert_eq!(doc["datacontenttype"], "application/json");
        assert_eq!(doc["data"], event.data.to_value());
        assert_eq!(doc["streamversion"], event.version);
        assert_eq!(doc["position"], event.position);
        assert_eq!(doc["schemaversion"], event.schema_version);
        assert_eq!(doc["actor"], event.metadata.actor.to_string());
        assert_eq!(doc["correlationid"], event.metadata.correlation_id.to_string());
    }
    assert_in_order_per_key(&seen);
    // No secret travels: the patient URL and its token never enter the topic (R12).
    app.projected().await;
    let outbox = yamada.get("/api/v1/outbox").await.body;
    let kept: Vec<&str> = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert!(!kept.is_empty(), "{outbox}");
    for body in kept {
        let token = body
            .rsplit("/p/")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_owned();
        assert!(seen.iter().all(|(_, doc, _)| !doc.to_string().contains(&token)));
    }
    app.stop().await;
}

/// The publisher's lag, from the health answer.
async fn publisher_lag(http: &reqwest::Client, base: &str) -> u64 {
    health(http, base).await["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "publisher")
        .and_then(|c| c["lag"].as_u64())
        .expect("a publisher")
}

/// Every requested delivery gets an outcome, and each one sent is kept in the outbox
/// exactly once: nothing lost, nothing sent twice. (A call cancelled before its message went
/// out records a failure instead.)
async fn assert_each_delivery_handled_once(database_url: &str, staff: &Staff) {
    let db = sqlx::PgPool::connect(database_url).await.unwrap();
    let ids_of = async |event_type: &str| -> HashSet<String> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT data FROM events WHERE event_type = $1")
            .bind(event_type)
            .fetch_all(&db)
            .await
            .unwrap();
        rows.iter()
            .map(|data| {
                serde_json::from_str::<Value>(data).unwrap()["delivery_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let requested = ids_of("UrlDeliveryRequested").await;
    assert!(!requested.is_empty());
    let sent = eventually("an outcome for every delivery", async || {
        let sent = ids_of("UrlDelivered").await;
        let failed = ids_of("UrlDeliveryFailed").await;
        (sent.union(&failed).cloned().collect::<HashSet<_>>() == requested).then_some(sent)
    })
    .await;
    // The outbox's list is a read model: it shows the outcomes once it has applied them.
    let kept = async || {
        let outbox = staff.get("/api/v1/outbox").await.body;
        let listed: Vec<String> = outbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["status"] == "kept")
            .map(|m| m["delivery_id"].as_str().unwrap().to_owned())
            .collect();
        (listed, outbox)
    };
    eventually("the outbox listing every message sent", async || {
        (kept().await.0.len() >= sent.len()).then_some(())
    })
    .await;
    let (listed, outbox) = kept().await;
    assert_eq!(listed.len(), sent.len(), "each kept once: {outbox}");
    assert_eq!(listed.into_iter().collect::<HashSet<_>>(), sent);
}

#[tokio::test]
async fn a_broker_outage_pauses_publishing_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::persistent(dir.path()).await;
    let app = kafka_app(&broker, Backend::Postgres).await;
    let yamada = app.login(YAMADA).await;
    traffic(&yamada, 2).await;
    eventually("the publisher caught up", async || {
        (publisher_lag(&app.http, &app.base).await == 0).then_some(())
    })
    .await;

    broker.stop();
    // Commands do not depend on Kafka: they are acknowledged during the outage.
    let start = hours_from_now(5);
    let booked = yamada.book(&start, "一般内科", "in_person", "停電 次郎").await;
    assert_eq!(booked.status.as_u16(), 201, "{}", booked.body);
    let id = booked.body["id"].as_str().unwrap().to_owned();
    traffic(&yamada, 3).await;
    eventually("the publisher reporting lag", async || {
        (publisher_lag(&app.http, &app.base).await > 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    broker.resume().await;

    let date = tokyo_date(&start);
    eventually(
        "the booking made during the outage in the reception list",
        async || reception_status(&yamada, &date, &id).await,
    )
    .await;
    let stored = stored_events(&app).await;
    let seen = read_topic(&broker, &stored.keys().cloned().collect()).await;
    assert_in_order_per_key(&seen);
    assert_each_delivery_handled_once(app.store.database_url.as_ref().unwrap(), &yamada).await;
    app.stop().await;
}

#[tokio::test]
async fn a_crash_between_produce_and_checkpoint_loses_nothing_and_applies_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::in_memory(dir.path()).await;
    let store = TestStore::new(Backend::Postgres).await;
    let log = store.dir.path().join("server.log");
    // A delivery claimed when the server is killed is taken over once its lease runs out:
    // with a 2 s delivery timeout, within 19 s.
    let env = [
        ("ENKAKU_KAFKA_BROKERS", broker.address()),
        ("ENKAKU_DELIVERY_TIMEOUT", "2".into()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let port = free_port();
    let server = Server::start_with(&store, port, &log, &env).await;
    let http = reqwest::Client::new();
    let yamada = Staff::login(&http, &server.base, YAMADA).await;
    traffic(&yamada, 4).await;
    eventually("the publisher caught up", async || {
        (publisher_lag(&http, &server.base).await == 0).then_some(())
    })
    .await;
    let schedule = |date: String| {
        let yamada = yamada.clone();
        async move {
            let path = format!("/api/v1/schedule?date={date}&doctor_id={}", yamada.staff_id);
            yamada.get(&path).await.body["entries"].clone()
        }
    };
    let date = tokyo_date(&tomorrow_in_tokyo_at(10));
    let before = eventually("the first appointments in the schedule", async || {
        let entries = schedule(date.clone()).await;
        (entries.as_array()?.len() >= 5).then_some(entries)
    })
    .await;
    server.kill();

    // As if the broker had acknowledged everything but the publisher died before saving its
    // place: on restart it sends the whole log again.
    let db = sqlx::PgPool::connect(store.database_url.as_ref().unwrap())
        .await
        .unwrap();
    // (The publisher saves its place at most once a second, so it may well not have saved
    // any yet; forgetting it makes the case certain.)
    sqlx::query("DELETE FROM feed_offsets WHERE consumer LIKE 'kafka_publisher:%'")
        .execute(&db)
        .await
        .unwrap();

    let server = Server::start_with(&store, port, &log, &env).await;
    traffic(&yamada, 2).await;
    let ids: Vec<String> = sqlx::query_scalar("SELECT event_id FROM events")
        .fetch_all(&db)
        .await
        .unwrap();
    let ids: HashSet<String> = ids.into_iter().collect();
    let seen = read_topic(&broker, &ids).await;
    assert!(seen.len() > ids.len(), "the rewound publisher sent events again");
    assert_in_order_per_key(&seen);
    eventually("the publisher caught up again", async || {
        (publisher_lag(&http, &server.base).await == 0).then_some(())
    })
    .await;

    // The duplicates changed no row: the first appointments look exactly as before.
    let after = eventually("the new appointments in the schedule", async || {
        let entries = schedule(date.clone()).await;
        (entries.as_array()?.len() >= before.as_array()?.len() + 2).then_some(entries)
    })
    .await;
    for entry in before.as_array().unwrap() {
        assert!(after.as_array().unwrap().contains(entry), "{entry} changed");
    }
    assert_each_delivery_handled_once(store.database_url.as_ref().unwrap(), &yamada).await;
    server.kill();
}

#[tokio::test]
async fn enkaku_starts_and_takes_commands_before_the_broker_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::persistent(dir.path()).await;
    broker.stop();
    let app = kafka_app(&broker, Backend::Sqlite).await;
    let yamada = app.login(YAMADA).await;
    let start = hours_from_now(2);
    let booked = yamada.book(&start, "一般内科", "in_person", "早朝 一郎").await;
    assert_eq!(booked.status.as_u16(), 201, "{}", booked.body);
    let id = booked.body["id"].as_str().unwrap().to_owned();

    broker.resume().await;
    let date = tokyo_date(&start);
    let status = eventually("the booking in the reception list", async || {
        reception_status(&yamada, &date, &id).await
    })
    .await;
    assert_eq!(status, "booked");
    app.stop().await;
}

/// With Kafka configured, the server's signed audit checkpoints also go to the checkpoints
/// topic, where an auditor's consumer keeps them: they verify under the server's key and pin
/// the log as it grew.
#[tokio::test]
async fn signed_checkpoints_reach_their_topic() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::in_memory(dir.path()).await;
    let store = TestStore::new(Backend::Sqlite).await;
    let mut config = store.config(([127, 0, 0, 1], 0).into());
    config.kafka = Some(KafkaConfig::new(broker.address()));
    config.audit_checkpoint_every = Duration::from_millis(300);
    let app = TestApp::spawn_with(store, config).await;
    let yamada = app.login(YAMADA).await;
    yamada.create_video_url(&hours_from_now(2), "監査").await;
    let head = *app.state.store.head().borrow();

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.address())
        .set("group.id", format!("auditor-{}", uuid::Uuid::now_v7()))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[DEFAULT_CHECKPOINT_TOPIC]).unwrap();
    let key = app.state.audit.signer().public_key();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut logs = HashSet::new();
    loop {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .expect("checkpoints of both logs within 60 s")
            .unwrap();
        let checkpoint: Checkpoint = serde_json::from_slice(message.payload().unwrap()).unwrap();
        assert_eq!(message.key(), Some(checkpoint.log.name().as_bytes()));
        checkpoint.verify(&[key]).expect("signed by the server's key");
        if checkpoint.log == Log::Access || checkpoint.size >= head {
            logs.insert(checkpoint.log);
        }
        if logs.len() == 2 {
            break;
        }
    }
    app.stop().await;
}
