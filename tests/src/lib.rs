//! Shared harness for enkaku's cross-crate tests: fresh stores on SQLite or PostgreSQL, the
//! real application on a random port, a small HTTP client that logs in like staff do, the
//! real Kafka broker and SMTP server some tests talk to, and a fake of Twilio's Messages API.

pub mod broker;
pub mod flood;
pub mod peer;
pub mod process;
pub mod proxy;
pub mod signalling;
pub mod smtp;
pub mod twilio;

use enkaku_api::{Application, Config};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tempfile::TempDir;

/// The demo clinics in `db`, as the server seeds them: set-up events appended to `store`,
/// folded into the directory read model. For tests that wire the parts without a server.
pub async fn seed_demo(
    db: &enkaku_infra::Db,
    store: std::sync::Arc<enkaku_infra::event_store::SqlEventStore>,
) {
    use enkaku_commands::ports::{SystemClock, UuidV7};
    use std::sync::Arc;
    let setup = enkaku_commands::SetupService::new(store.clone(), Arc::new(SystemClock), Arc::new(UuidV7));
    let credentials = enkaku_infra::credentials::Credentials::new(db.clone());
    enkaku_infra::demo::seed(&setup, &credentials)
        .await
        .expect("seed the demo");
    let directory = enkaku_projections::ProjectionRunner::new(
        "directory",
        Arc::new(db.clone()),
        Arc::new(enkaku_infra::feed::StoreFeed(store)),
        enkaku_projections::setup(),
    );
    directory.prepare().await.expect("directory tables");
    directory.catch_up(&|_| {}).await.expect("project the directory");
}

/// An event for `clinic` as a build other than this one wrote it (an older or a newer one),
/// to append to a store directly: `data` as given, under `event_type` at `schema_version`.
pub fn event_as_written(
    clinic: enkaku_domain::ids::ClinicId,
    event_type: &str,
    schema_version: u32,
    data: Value,
) -> enkaku_domain::envelope::NewEvent {
    use enkaku_domain::envelope::{Actor, EventMetadata, NewEvent};
    NewEvent {
        event_id: uuid::Uuid::now_v7(),
        event_type: event_type.into(),
        schema_version,
        occurred_at: chrono::Utc::now(),
        data,
        metadata: EventMetadata {
            clinic_id: clinic,
            actor: Actor::System,
            correlation_id: uuid::Uuid::now_v7(),
            causation_id: uuid::Uuid::now_v7(),
            client_request_id: None,
        },
    }
}

/// Time as the test sets it, for services built by hand.
pub struct ManualClock(std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl ManualClock {
    pub fn new(now: chrono::DateTime<chrono::Utc>) -> Self {
        Self(std::sync::Mutex::new(now))
    }

    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self.0.lock().unwrap();
        *now += chrono::Duration::from_std(by).unwrap();
    }
}

impl enkaku_commands::ports::Clock for ManualClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }
}

/// Which database a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests use (trust auth on this machine; see scripts/test).
pub fn postgres_server() -> String {
    std::env::var("ENKAKU_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Make each `async fn name(backend: Backend)` of a test file two tests, `sqlite::name` and
/// `postgres::name`, one per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),*) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name($crate::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name($crate::Backend::Postgres).await })*
        }
    };
}

/// A fresh, empty PostgreSQL database for one test; returns its URL.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    let server = postgres_server();
    let name = format!("enkaku_t_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("PostgreSQL must be running for the tests (scripts/test starts it)");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create test database");
    format!("{server}/{name}")
}

/// The configuration tests and benchmarks run enkaku with, on `data_dir` and (PostgreSQL)
/// `database_url`.
pub fn config(data_dir: std::path::PathBuf, database_url: Option<String>, addr: SocketAddr) -> Config {
    Config {
        addr,
        data_dir,
        database_url,
        public_url: None,
        link_secret: None,
        master_key: None,
        seal_personal_data: true,
        record_access: true,
        seed_demo: true,
        trust_forwarded: false,
        kafka: None,
        send_policy: Default::default(),
        connections: enkaku_api::serve::ConnectionLimits::default(),
        media: enkaku_media::relay::RelayConfig {
            addr: [127, 0, 0, 1].into(),
            ports: None,
        },
        ice_servers: Default::default(),
        delivery: Default::default(),
        session_idle: chrono::Duration::minutes(30),
        pii_retention: None,
        audit_signing_key: None,
        audit_checkpoint_every: std::time::Duration::from_secs(600),
        access_log_retention: None,
    }
}

/// A place for one test's data: a temporary directory, and for PostgreSQL a fresh database.
pub struct TestStore {
    pub dir: TempDir,
    pub database_url: Option<String>,
}

impl TestStore {
    pub async fn new(backend: Backend) -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            database_url: match backend {
                Backend::Sqlite => None,
                Backend::Postgres => Some(fresh_postgres_database().await),
            },
        }
    }

    pub fn config(&self, addr: SocketAddr) -> Config {
        config(self.dir.path().to_owned(), self.database_url.clone(), addr)
    }

    pub fn database_url(&self) -> String {
        self.config(([127, 0, 0, 1], 0).into()).database_url()
    }
}

/// The real application, serving on 127.0.0.1 with a random port until dropped.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub store: TestStore,
    pub state: enkaku_api::state::AppState,
    /// The log's head once the app was up: the demo seed's set-up events end there.
    seeded: u64,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub const YAMADA: &str = "yamada@demo.enkaku.test";
pub const SATO: &str = "sato@demo.enkaku.test";
pub const SUZUKI: &str = "suzuki@sample.enkaku.test";
/// デモクリニック's reception account: books and sends, never the doctor in charge.
pub const UKETSUKE: &str = "uketsuke@demo.enkaku.test";
/// デモクリニック's auditor: reads everything, changes nothing.
pub const KANSA: &str = "kansa@demo.enkaku.test";
pub const PASSWORD: &str = "demo-password";

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_on(TestStore::new(backend).await).await
    }

    pub async fn spawn_on(store: TestStore) -> Self {
        let config = store.config(([127, 0, 0, 1], 0).into());
        Self::spawn_with(store, config).await
    }

    /// The application on `store`, configured by `config` (e.g. with Kafka).
    pub async fn spawn_with(store: TestStore, config: Config) -> Self {
        let app = Application::build(config).await.expect("application builds");
        let base = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        let seeded = *state.store.head().borrow();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Self {
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            store,
            state,
            seeded,
            stop: Some(stop),
            serving: Some(serving),
        }
    }

    /// Stop serving and wait until every background worker has stopped (with Kafka, while
    /// the broker is still there to say goodbye to).
    pub async fn stop(mut self) {
        self.halt().await;
    }

    /// Stop serving and wait until the server has. The store (its data directory too) stays
    /// until the app is dropped, for a CLI run on it.
    pub async fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            serving
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }

    /// Events appended since the app was up (what requests appended, not the demo seed).
    pub fn appended(&self) -> u64 {
        *self.state.store.head().borrow() - self.seeded
    }

    /// Log in and return a client that sends the bearer token.
    pub async fn login(&self, email: &str) -> Staff {
        Staff::login(&self.http, &self.base, email).await
    }

    /// Wait until every read model has applied every committed event.
    pub async fn projected(&self) {
        let head = *self.state.store.head().borrow();
        for _ in 0..400 {
            if self.state.workers.projected().await.expect("offsets") >= head {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("read models did not reach position {head} within 10 s");
    }
}

/// A logged-in staff member.
#[derive(Clone)]
pub struct Staff {
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
    pub staff_id: String,
    pub clinic_id: String,
}

/// A response's status, headers and JSON body (`Null` when empty or not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Read a whole response.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Self {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Assert this is a problem+json with the given status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "body: {}",
            self.body
        );
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["title"].is_string()
                && self.body["detail"].is_string()
                && self.body["type"].is_string()
        );
    }
}

impl Staff {
    /// Log in at the server at `base`.
    pub async fn login(http: &reqwest::Client, base: &str, email: &str) -> Self {
        let response = http
            .post(format!("{base}/api/v1/login"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .expect("login request");
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        let body: Value = response.json().await.expect("login body");
        Self {
            base: base.to_owned(),
            http: http.clone(),
            token: body["token"].as_str().expect("token").to_owned(),
            staff_id: body["staff"]["id"].as_str().expect("staff id").to_owned(),
            clinic_id: body["clinic"]["id"].as_str().expect("clinic id").to_owned(),
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::read(request.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(body), &[]).await
    }

    pub async fn doctor_ids(&self) -> Vec<String> {
        let reply = self.get("/api/v1/doctors").await;
        reply.body["items"]
            .as_array()
            .expect("doctors")
            .iter()
            .map(|d| d["id"].as_str().expect("id").to_owned())
            .collect()
    }

    /// The menu with this name in the staff member's clinic.
    pub async fn menu(&self, name: &str) -> Value {
        let reply = self.get("/api/v1/menus").await;
        reply.body["items"]
            .as_array()
            .expect("menus")
            .iter()
            .find(|m| m["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("menu {name} in {}", reply.body))
    }

    /// A video URL for this staff member as the doctor, starting `start_at`.
    pub async fn create_video_url(&self, start_at: &str, title: &str) -> Reply {
        self.post(
            "/api/v1/video-calls",
            json!({ "doctor_id": self.staff_id, "start_at": start_at, "title": title }),
        )
        .await
    }

    /// An in-clinic booking with this staff member as the doctor, at whatever time the test
    /// chose (often some hours from now, at night or on a weekend): staff confirmed it may be
    /// outside the doctor's hours.
    pub async fn book(&self, start_at: &str, menu_name: &str, mode: &str, patient: &str) -> Reply {
        let menu = self.menu(menu_name).await;
        self.post(
            "/api/v1/appointments",
            json!({
                "doctor_id": self.staff_id, "start_at": start_at, "patient_name": patient,
                "chart_number": "K-123", "menu_id": menu["id"], "visit_type": "first",
                "mode": mode, "memo": "初診・発熱", "allow_outside_hours": true
            }),
        )
        .await
    }
}

/// The server's `/healthz` answer.
pub async fn health(http: &reqwest::Client, base: &str) -> Value {
    let response = http.get(format!("{base}/healthz")).send().await.expect("healthz");
    response.json().await.expect("healthz body")
}

/// An RFC 3339 time `hours` from now, whole seconds.
pub fn hours_from_now(hours: i64) -> String {
    let t = chrono::Utc::now() + chrono::Duration::hours(hours);
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An RFC 3339 time tomorrow at `hour`:00 clinic-local (Asia/Tokyo) time: times built from it
/// a few hours apart fall on one clinic day, whatever the hour a test runs at.
pub fn tomorrow_in_tokyo_at(hour: u32) -> String {
    let tokyo = chrono::FixedOffset::east_opt(9 * 3600).expect("UTC+9");
    let day = (chrono::Utc::now().with_timezone(&tokyo) + chrono::Duration::days(1)).date_naive();
    let at = day.and_hms_opt(hour, 0, 0).expect("an hour of the day");
    at.and_local_timezone(tokyo)
        .single()
        .expect("a fixed offset has one local time")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The clinic-local (Asia/Tokyo) date of an RFC 3339 time.
pub fn tokyo_date(rfc3339: &str) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).expect("rfc3339");
    (t.with_timezone(&chrono::Utc) + chrono::Duration::hours(9))
        .format("%Y-%m-%d")
        .to_string()
}

/// Every entry of a paged list (`/api/v1/schedule?…` or `/api/v1/reception?…`), following
/// `next_cursor` to the end as the web UI does; `None` when a page cannot be read.
pub async fn list_entries(http: &reqwest::Client, base: &str, token: &str, path: &str) -> Option<Vec<Value>> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}{path}&limit=500");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page: Value = http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        entries.extend(page["entries"].as_array()?.iter().cloned());
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            return Some(entries);
        }
    }
}
