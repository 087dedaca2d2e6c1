//! Patients' personal data (SPEC §9): sealed in the log under a key of each appointment's own,
//! shown to the clinic's staff, and erased for good by destroying that key — while the
//! history stays readable. Canary values, unique to each test, are looked for in the raw
//! bytes of everything the store keeps.

use enkaku_commands::ports::{EventStore, ExpectedVersion};
use enkaku_commands::sealing;
use enkaku_domain::envelope::NewEvent;
use enkaku_domain::ids::ClinicId;
use enkaku_infra::event_store::SqlEventStore;
use enkaku_infra::privacy;
use enkaku_infra::vault::{MasterKey, SqlVault};
use enkaku_tests::{Backend, SATO, SUZUKI, Staff, TestApp, YAMADA, hours_from_now, tokyo_date};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Personal data no other test uses: if any of it turns up in storage, it came from here.
struct Canary {
    name: String,
    chart: String,
    memo: String,
    title: String,
    email: String,
}

impl Canary {
    fn new() -> Self {
        let tag = uuid::Uuid::now_v7().simple().to_string()[20..].to_owned();
        Self {
            name: format!("鳥籠 カナリア{tag}"),
            chart: format!("CN-{tag}"),
            memo: format!("咳が続く{tag}"),
            title: format!("カナリア荘{tag}"),
            email: format!("canary{tag}@example.jp"),
        }
    }

    fn values(&self) -> [&str; 5] {
        [&self.name, &self.chart, &self.memo, &self.title, &self.email]
    }
}

/// An online booking and a video URL with the canary's data, each sent its link by e-mail.
async fn book(app: &TestApp, yamada: &Staff, canary: &Canary) -> (String, String) {
    let menu = yamada.menu("オンライン自費診療").await;
    let start = hours_from_now(2);
    let booked = yamada
        .post(
            "/api/v1/appointments",
            json!({
                "doctor_id": yamada.staff_id, "start_at": start, "patient_name": canary.name,
                "chart_number": canary.chart, "memo": canary.memo, "menu_id": menu["id"],
                "visit_type": "first", "mode": "online", "allow_outside_hours": true
            }),
        )
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let video = yamada
        .post(
            "/api/v1/video-calls",
            json!({ "doctor_id": yamada.staff_id, "start_at": start, "title": canary.title }),
        )
        .await;
    assert_eq!(video.status, StatusCode::CREATED, "{}", video.body);
    let ids = (
        booked.body["id"].as_str().unwrap().to_owned(),
        video.body["id"].as_str().unwrap().to_owned(),
    );
    for id in [&ids.0, &ids.1] {
        let sent = yamada
            .post(
                &format!("/api/v1/appointments/{id}/send-url"),
                json!({ "channel": "email", "destination": canary.email }),
            )
            .await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    }
    wait_until_sent(yamada, &ids.0).await;
    wait_until_sent(yamada, &ids.1).await;
    app.projected().await;
    (ids.0, ids.1)
}

async fn wait_until_sent(staff: &Staff, id: &str) {
    for _ in 0..1200 {
        let reply = staff.get(&format!("/api/v1/appointments/{id}")).await;
        if reply.body["video"]["delivery"]["status"] != "pending" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("delivery stayed pending");
}

/// Everything the database holds, as bytes: SQLite's files (the WAL included) as they lie on
/// disk; on PostgreSQL every row of every table, as text.
async fn stored_bytes(app: &TestApp) -> Vec<u8> {
    match &app.store.database_url {
        None => ["enkaku.db", "enkaku.db-wal"]
            .iter()
            .filter_map(|file| std::fs::read(app.store.dir.path().join(file)).ok())
            .flatten()
            .collect(),
        Some(url) => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let tables: Vec<String> =
                sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            let mut text = String::new();
            for table in tables {
                let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT CAST(t AS TEXT) FROM {table} t"))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                text.extend(rows);
            }
            text.into_bytes()
        }
    }
}

fn found_in(haystack: &[u8], canary: &Canary) -> Vec<String> {
    canary
        .values()
        .iter()
        .filter(|value| haystack.windows(value.len()).any(|w| w == value.as_bytes()))
        .map(|value| value.to_string())
        .collect()
}

async fn history(staff: &Staff, id: &str) -> Vec<Value> {
    let reply = staff.get(&format!("/api/v1/appointments/{id}/events")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"].as_array().unwrap().clone()
}

async fn personal_data_is_sealed_in_the_log_and_shown_to_staff(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let canary = Canary::new();
    let (booking, video) = book(&app, &yamada, &canary).await;

    // Staff see it as entered, in the appointment and in its history.
    let shown = yamada.get(&format!("/api/v1/appointments/{booking}")).await;
    assert_eq!(shown.body["patient_name"], canary.name.as_str());
    assert_eq!(shown.body["chart_number"], canary.chart.as_str());
    assert_eq!(shown.body["erased"], false);
    let booked = &history(&yamada, &booking).await[0];
    assert_eq!(booked["data"]["personal"]["patient_name"], canary.name.as_str());
    let titled = &history(&yamada, &video).await[0];
    assert_eq!(titled["data"]["personal"]["title"], canary.title.as_str());

    // The log holds it sealed: each appointment's events under one key of its own.
    let db = enkaku_infra::Db::connect(&app.store.database_url())
        .await
        .unwrap();
    let store = SqlEventStore::open(db).await.unwrap();
    let mut keys = Vec::new();
    for id in [&booking, &video] {
        let raw = store.read_stream(&format!("appointment-{id}")).await.unwrap();
        let sealed: Vec<Value> = raw
            .iter()
            .filter_map(|e| e.data.to_value().get("personal").cloned())
            .collect();
        assert_eq!(
            sealed.len(),
            2,
            "the creation and the send carry personal data: {raw:?}"
        );
        assert!(
            sealed.iter().all(|p| p["alg"] == "XChaCha20-Poly1305"),
            "{sealed:?}"
        );
        assert_eq!(sealed[0]["key_id"], sealed[1]["key_id"]);
        keys.push(sealed[0]["key_id"].clone());
        let text = serde_json::to_string(&raw).unwrap();
        assert_eq!(found_in(text.as_bytes(), &canary), Vec::<String>::new());
    }
    assert_ne!(keys[0], keys[1], "one key per appointment");
}

async fn erasure_leaves_no_personal_byte_and_keeps_the_history(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let canary = Canary::new();
    let (booking, video) = book(&app, &yamada, &canary).await;
    assert!(
        !found_in(&stored_bytes(&app).await, &canary).is_empty(),
        "the read models and the outbox hold it"
    );
    let events_before = history(&yamada, &booking).await.len();

    // Only administrators erase.
    let sato = app.login(SATO).await;
    sato.post(&format!("/api/v1/appointments/{booking}/erase"), json!({}))
        .await
        .assert_problem(403, "forbidden");

    for id in [&booking, &video] {
        let erased = yamada
            .post(&format!("/api/v1/appointments/{id}/erase"), json!({}))
            .await;
        assert_eq!(erased.status, StatusCode::OK, "{}", erased.body);
        assert_eq!(erased.body["erased"], true);
    }
    let shown = yamada.get(&format!("/api/v1/appointments/{booking}")).await;
    for field in ["patient_name", "chart_number", "memo"] {
        assert_eq!(shown.body[field], Value::Null, "{field}: {}", shown.body);
    }
    assert_eq!(shown.body["video"]["delivery"]["destination"], Value::Null);
    let shown = yamada.get(&format!("/api/v1/appointments/{video}")).await;
    assert_eq!(shown.body["title"], Value::Null);

    // The lists say so without the data.
    let date = tokyo_date(shown.body["start_at"].as_str().unwrap());
    let schedule = yamada
        .get(&format!(
            "/api/v1/schedule?date={date}&doctor_id={}",
            yamada.staff_id
        ))
        .await;
    let entries: Vec<&Value> = schedule.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["appointment_id"] == booking.as_str() || e["appointment_id"] == video.as_str())
        .collect();
    assert_eq!(entries.len(), 2);
    assert!(
        entries
            .iter()
            .all(|e| e["erased"] == true && e["display_name"].is_null()),
        "{entries:?}"
    );
    let outbox = yamada.get("/api/v1/outbox").await;
    let sent: Vec<&Value> = outbox.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["appointment_id"] == booking.as_str())
        .collect();
    assert!(
        sent.iter()
            .all(|m| m["erased"] == true && m["destination"].is_null() && m["body"].is_null()),
        "{sent:?}"
    );
    for query in [&canary.chart, &canary.name, &canary.title] {
        let search = yamada
            .post("/api/v1/appointments/search", json!({ "query": query }))
            .await;
        assert_eq!(search.body["entries"], json!([]), "{}", search.body);
    }

    // The history is whole, with the erasure in it and nothing personal.
    let after = history(&yamada, &booking).await;
    assert_eq!(after.len(), events_before + 1);
    assert_eq!(after.last().unwrap()["type"], "PersonalDataErased");
    assert_eq!(after[0]["data"]["personal"], Value::Null);
    assert_eq!(
        after[0]["data"]["menu"]["name"], "オンライン自費診療",
        "what is not personal stays"
    );

    // Not a byte of it anywhere the database keeps, nor in any answer.
    assert_eq!(found_in(&stored_bytes(&app).await, &canary), Vec::<String>::new());
    let answers = format!("{after:?}{}{}", schedule.body, outbox.body);
    assert_eq!(found_in(answers.as_bytes(), &canary), Vec::<String>::new());

    // Erasing again changes nothing.
    let again = yamada
        .post(&format!("/api/v1/appointments/{booking}/erase"), json!({}))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(history(&yamada, &booking).await.len(), events_before + 1);
    // And nothing personal can be added back.
    yamada
        .post(
            &format!("/api/v1/appointments/{booking}/resend-url"),
            json!({ "channel": "email", "destination": canary.email }),
        )
        .await
        .assert_problem(409, "appointment_erased");
}

/// Every record of the appointments' topic, as raw bytes, up to the first erasure.
async fn topic_until_erasure(broker: &enkaku_tests::broker::Broker) -> Vec<u8> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::{ClientConfig, Message};
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.address())
        .set("group.id", format!("canary-{}", uuid::Uuid::now_v7()))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[enkaku_infra::kafka::DEFAULT_TOPIC]).unwrap();
    let mut bytes = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .expect("the erasure reaches the topic within a minute")
            .unwrap();
        let payload = message.payload().unwrap_or_default();
        bytes.extend_from_slice(message.key().unwrap_or_default());
        bytes.extend_from_slice(payload);
        let doc: Value = serde_json::from_slice(payload).unwrap();
        if doc["type"] == "enkaku.appointment.PersonalDataErased" {
            return bytes;
        }
    }
}

/// The real binary with Kafka in the path and the log at debug level: the topic never carries
/// the canary in the clear, before or after the erasure, no log line holds it, and
/// `enkaku events` still prints the history without it.
#[tokio::test]
async fn the_topic_and_a_debug_log_never_hold_personal_data() {
    use enkaku_tests::broker::Broker;
    use enkaku_tests::process::{Server, free_port};
    let broker_dir = tempfile::tempdir().unwrap();
    let broker = Broker::in_memory(broker_dir.path()).await;
    let store = enkaku_tests::TestStore::new(Backend::Sqlite).await;
    let log = store.dir.path().join("server.log");
    let server = Server::start_with(
        &store,
        free_port(),
        &log,
        &[("ENKAKU_KAFKA_BROKERS", &broker.address())],
    )
    .await;
    let http = reqwest::Client::new();
    let yamada = Staff::login(&http, &server.base, YAMADA).await;
    let canary = Canary::new();
    let menu = yamada.menu("オンライン自費診療").await;
    let booked = yamada
        .post(
            "/api/v1/appointments",
            json!({
                "doctor_id": yamada.staff_id, "start_at": hours_from_now(2), "patient_name": canary.name,
                "chart_number": canary.chart, "memo": canary.memo, "menu_id": menu["id"],
                "visit_type": "first", "mode": "online", "allow_outside_hours": true
            }),
        )
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let id = booked.body["id"].as_str().unwrap().to_owned();
    let sent = yamada
        .post(
            &format!("/api/v1/appointments/{id}/send-url"),
            json!({ "channel": "email", "destination": canary.email }),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    wait_until_sent(&yamada, &id).await;
    let erased = yamada
        .post(&format!("/api/v1/appointments/{id}/erase"), json!({}))
        .await;
    assert_eq!(erased.status, StatusCode::OK, "{}", erased.body);

    let topic = topic_until_erasure(&broker).await;
    assert!(
        topic.windows(id.len()).any(|w| w == id.as_bytes()),
        "the appointment's records were read"
    );
    assert_eq!(found_in(&topic, &canary), Vec::<String>::new());
    server.kill();
    let logged = std::fs::read(&log).unwrap();
    assert!(
        logged.windows(5).any(|w| w == b"DEBUG"),
        "the log is at debug level, so the search can find something"
    );
    assert_eq!(found_in(&logged, &canary), Vec::<String>::new());

    // The operator's `enkaku events` still prints the whole history, opened: nothing personal.
    let history = enkaku_tests::process::run_cli(
        &store.config(([127, 0, 0, 1], 0).into()),
        &["events", "--stream", &id],
    );
    let types: Vec<String> = history
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(types.first().map(String::as_str), Some("AppointmentBooked"));
    assert_eq!(types.last().map(String::as_str), Some("PersonalDataErased"));
    assert!(types.iter().any(|t| t == "UrlDeliveryRequested"), "{types:?}");
    assert_eq!(found_in(history.as_bytes(), &canary), Vec::<String>::new());
}

/// What an integrator does with a key from the key endpoint (docs/integrators.md): open a
/// sealed member with it, the event's id as associated data.
fn open_as_an_integrator(key: &Value, event: &Value) -> Value {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    let sealed = &event["data"]["personal"];
    let bytes = |v: &Value| STANDARD.decode(v.as_str().unwrap()).unwrap();
    let event_id: uuid::Uuid = event["event_id"].as_str().unwrap().parse().unwrap();
    let cipher = XChaCha20Poly1305::new_from_slice(&bytes(&key["key"])).unwrap();
    let plaintext = cipher
        .decrypt(
            XNonce::from_slice(&bytes(&sealed["nonce"])),
            Payload {
                msg: &bytes(&sealed["ciphertext"]),
                aad: event_id.as_bytes(),
            },
        )
        .expect("the key opens the member");
    serde_json::from_slice(&plaintext).unwrap()
}

async fn integrators_fetch_keys_with_a_credential_and_lose_them_at_erasure(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let canary = Canary::new();
    let (booking, _) = book(&app, &yamada, &canary).await;
    let keys_of = |id: &str| format!("{}/api/v1/integration/appointments/{id}/keys", app.base);
    let fetch = async |token: &str, id: &str| {
        let response = app.http.get(keys_of(id)).bearer_auth(token).send().await.unwrap();
        enkaku_tests::Reply::read(response).await
    };

    // Only administrators issue credentials; the token is shown once.
    app.login(SATO)
        .await
        .post("/api/v1/admin/integrations", json!({ "name": "電子カルテ連携" }))
        .await
        .assert_problem(403, "forbidden");
    let issued = yamada
        .post("/api/v1/admin/integrations", json!({ "name": "電子カルテ連携" }))
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    assert_eq!(issued.headers["cache-control"], "no-store");
    let token = issued.body["token"].as_str().unwrap().to_owned();
    let listed = yamada.get("/api/v1/admin/integrations").await;
    assert_eq!(listed.body["items"][0]["name"], "電子カルテ連携");
    assert!(
        !listed.body.to_string().contains(&token),
        "the token is not listed"
    );

    // With it, the key opens the sealed member exactly as stored (here, as Kafka carries it).
    let got = fetch(&token, &booking).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    let key = &got.body["keys"][0];
    assert_eq!(key["alg"], "XChaCha20-Poly1305");
    let db = enkaku_infra::Db::connect(&app.store.database_url())
        .await
        .unwrap();
    let stored = SqlEventStore::open(db).await.unwrap();
    let booked = serde_json::to_value(
        &stored
            .read_stream(&format!("appointment-{booking}"))
            .await
            .unwrap()[0],
    )
    .unwrap();
    assert_eq!(key["key_id"], booked["data"]["personal"]["key_id"]);
    assert_eq!(
        open_as_an_integrator(key, &booked)["patient_name"],
        canary.name.as_str()
    );

    // Nobody else's: no token, a staff session's token, another clinic's credential.
    fetch("no-such-token", &booking)
        .await
        .assert_problem(401, "unauthorized");
    fetch(&yamada.token, &booking)
        .await
        .assert_problem(401, "unauthorized");
    let suzuki = app.login(SUZUKI).await;
    let theirs = suzuki
        .post("/api/v1/admin/integrations", json!({ "name": "他院" }))
        .await;
    fetch(theirs.body["token"].as_str().unwrap(), &booking)
        .await
        .assert_problem(404, "not_found");

    // Erased, the keys are gone for good; revoked, the token opens nothing.
    yamada
        .post(&format!("/api/v1/appointments/{booking}/erase"), json!({}))
        .await;
    fetch(&token, &booking)
        .await
        .assert_problem(410, "appointment_erased");
    let id = issued.body["id"].as_str().unwrap();
    let revoked = yamada
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/admin/integrations/{id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    fetch(&token, &booking).await.assert_problem(401, "unauthorized");
}

/// An event as a build from before sealing wrote it.
fn old_event(event_type: &str, schema_version: u32, data: Value) -> NewEvent {
    enkaku_tests::event_as_written(
        ClinicId(uuid::Uuid::from_u128(1)),
        event_type,
        schema_version,
        data,
    )
}

fn old_booking(name: &str) -> Value {
    json!({
        "clinic_id": ClinicId(uuid::Uuid::from_u128(1)), "doctor_id": uuid::Uuid::from_u128(2),
        "start_at": "2030-01-07T01:00:00Z", "end_at": "2030-01-07T01:30:00Z",
        "patient_name": name, "chart_number": "OLD-1", "memo": null,
        "menu": { "id": uuid::Uuid::from_u128(3), "name": "内科", "duration_min": 30 },
        "visit_type": "first", "mode": "in_person", "waived_booking_fee_yen": 0, "video": null
    })
}

async fn events_from_before_sealing_are_sealed_in_place_or_dropped_if_erased(backend: Backend) {
    let store = enkaku_tests::TestStore::new(backend).await;
    let db = enkaku_infra::Db::connect(&store.database_url()).await.unwrap();
    let events = SqlEventStore::open(db.clone()).await.unwrap();
    let vault = SqlVault::new(db.clone(), MasterKey::from_bytes(&[5; 32]).unwrap());
    let canary = Canary::new();
    let kept = format!("appointment-{}", uuid::Uuid::now_v7());
    let erased = format!("appointment-{}", uuid::Uuid::now_v7());
    let plain = |name: &str| old_event("AppointmentBooked", 2, old_booking(name));
    events
        .append(&kept, ExpectedVersion::NoStream, vec![plain(&canary.name)])
        .await
        .unwrap();
    let erasure = old_event(
        "PersonalDataErased",
        1,
        json!({ "erased_at": "2030-01-08T00:00:00Z", "reason": "requested" }),
    );
    events
        .append(
            &erased,
            ExpectedVersion::NoStream,
            vec![plain(&canary.title), erasure],
        )
        .await
        .unwrap();

    let migrated = privacy::migrate(&db, &events, &vault).await.unwrap();
    assert_eq!((migrated.sealed, migrated.dropped), (1, 1));
    let stored = events.read_stream(&kept).await.unwrap();
    assert_eq!(stored[0].schema_version, 3);
    assert_eq!(stored[0].data.to_value()["personal"]["alg"], "XChaCha20-Poly1305");
    assert!(stored[0].data.member("patient_name").is_none());
    let mut opened = stored.clone();
    sealing::open_stream(&vault, &mut opened).await.unwrap();
    assert_eq!(
        opened[0].data.to_value()["personal"]["patient_name"],
        canary.name.as_str()
    );
    assert_eq!(opened[0].data.to_value()["menu"]["name"], "内科");
    let dropped = events.read_stream(&erased).await.unwrap();
    assert_eq!(dropped[0].data.to_value()["personal"], Value::Null);
    let rewrites: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM event_rewrites")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rewrites, 2, "each rewrite is recorded");

    // Run again (as the command does, in a process of its own: the store keeps the events it
    // appended in memory), it finds nothing left to do; and the canary is gone from the store.
    let events = SqlEventStore::open(db.clone()).await.unwrap();
    assert_eq!(
        privacy::migrate(&db, &events, &vault).await.unwrap(),
        privacy::Migrated::default()
    );
    let raw = serde_json::to_string(&events.read_all(0, 100).await.unwrap()).unwrap();
    assert_eq!(found_in(raw.as_bytes(), &canary), Vec::<String>::new());
}

async fn retention_erases_on_its_own_once_the_period_has_passed(backend: Backend) {
    use enkaku_commands::ports::{Clock, UuidV7};
    use enkaku_commands::{AppointmentService, CommandContext, NewVideoUrl};
    use enkaku_infra::directory::SqlDirectory;
    use enkaku_infra::feed::{OpeningFeed, StoreFeed};
    use enkaku_projections::ProjectionRunner;
    use enkaku_tests::ManualClock;
    use std::sync::Arc;
    use std::time::Duration;

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);
    let store = enkaku_tests::TestStore::new(backend).await;
    let db = enkaku_infra::Db::connect(&store.database_url()).await.unwrap();
    let events = Arc::new(SqlEventStore::open(db.clone()).await.unwrap());
    enkaku_tests::seed_demo(&db, events.clone()).await;
    let vault = Arc::new(SqlVault::new(
        db.clone(),
        MasterKey::from_bytes(&[6; 32]).unwrap(),
    ));
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let service = AppointmentService::new(
        events.clone(),
        Arc::new(SqlDirectory::new(db.clone())),
        clock.clone(),
        Arc::new(UuidV7),
        vault.clone(),
    );
    let read_models = Arc::new(ProjectionRunner::new(
        "read_models",
        Arc::new(db.clone()),
        Arc::new(OpeningFeed {
            feed: Arc::new(StoreFeed(events.clone())),
            vault,
        }),
        enkaku_projections::all(),
    ));
    read_models.prepare().await.unwrap();
    let caught_up = || {
        let read_models = read_models.clone();
        Box::pin(async move {
            read_models.catch_up(&|_| {}).await.unwrap();
        }) as futures::future::BoxFuture<'static, ()>
    };

    // Two video URLs of yamada's: one for tomorrow, one in 60 days that is cancelled today.
    let doctor: enkaku_domain::ids::StaffId = sqlx::query_scalar::<_, String>(
        "SELECT staff_id FROM staff_credentials WHERE email = 'yamada@demo.enkaku.test'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap()
    .parse()
    .unwrap();
    let clinic = sqlx::query_scalar::<_, String>("SELECT clinic_id FROM directory_staff WHERE id = $1")
        .bind(doctor.to_string())
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .parse()
        .map(ClinicId)
        .unwrap();
    let ctx = CommandContext::system(clinic);
    let create = async |days: u64, title: &str| {
        let id = enkaku_domain::ids::AppointmentId(uuid::Uuid::now_v7());
        let video = NewVideoUrl {
            doctor_id: doctor,
            start_at: Some(clock.now() + DAY * days as u32),
            title: Some(enkaku_domain::values::Title::parse(title).unwrap()),
        };
        service.create_video_url(&ctx, id, video).await.unwrap();
        id
    };
    let tomorrow = create(1, "明日の患者").await;
    let later = create(60, "二か月後の患者").await;
    service.cancel(&ctx, later).await.unwrap();
    caught_up().await;

    let retention = chrono::Duration::days(30);
    let erase = async || {
        enkaku_api::workers::erase_expired(&service, &db.pool, retention, &caught_up)
            .await
            .unwrap()
    };
    assert_eq!(erase().await, 0, "nothing is due yet");
    clock.advance(DAY * 29);
    assert_eq!(
        erase().await,
        0,
        "29 days after the cancellation, 28 after the end"
    );
    clock.advance(DAY * 3);
    assert_eq!(
        erase().await,
        2,
        "31 days after the end, 32 after the cancellation"
    );
    for id in [tomorrow, later] {
        let stream = events.read_stream(&id.stream_id()).await.unwrap();
        let erasure = stream.last().unwrap();
        assert_eq!(erasure.event_type, "PersonalDataErased");
        assert_eq!(erasure.data.to_value()["reason"], "retention");
        assert_eq!(erasure.metadata.actor, enkaku_domain::envelope::Actor::System);
    }
    assert_eq!(erase().await, 0, "erased once");
}

enkaku_tests::on_both_backends!(
    personal_data_is_sealed_in_the_log_and_shown_to_staff,
    erasure_leaves_no_personal_byte_and_keeps_the_history,
    events_from_before_sealing_are_sealed_in_place_or_dropped_if_erased,
    retention_erases_on_its_own_once_the_period_has_passed,
    integrators_fetch_keys_with_a_credential_and_lose_them_at_erasure
);
