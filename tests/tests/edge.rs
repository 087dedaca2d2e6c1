//! What the edge withstands: a connection flood and slow clients, a database outage, and
//! hostile strings in every input that reaches a query.

use enkaku_api::serve::ConnectionLimits;
use enkaku_tests::proxy::TcpProxy;
use enkaku_tests::{
    Backend, Reply, Staff, TestApp, TestStore, YAMADA, fresh_postgres_database, hours_from_now,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A client that opens a new connection for each request (a pooled one could be one the
/// server is about to close).
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The answer carries the headers every answer carries.
#[track_caller]
fn assert_security_headers(reply: &Reply) {
    for name in [
        "content-security-policy",
        "x-content-type-options",
        "x-frame-options",
        "cache-control",
    ] {
        assert!(
            reply.headers.contains_key(name),
            "{name} missing on a {}",
            reply.status
        );
    }
}

/// A 503 problem with `Retry-After` and the usual headers.
#[track_caller]
fn assert_unavailable(reply: &Reply, code: &str) {
    reply.assert_problem(503, code);
    let retry: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert_security_headers(reply);
}

/// Whether the server has closed this socket (it reads end-of-file or an error).
async fn closed(socket: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(1), socket.read(&mut byte)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    }
}

/// A slowloris client: a request head one byte a second, never finished. Returns when the
/// server closes the connection.
async fn slowloris(addr: std::net::SocketAddr) -> Instant {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let head = b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for byte in head.iter().cycle() {
        if socket.write_all(&[*byte]).await.is_err() || closed(&mut socket).await {
            return Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_and_slow_clients_leave_room_for_health_checks_and_staff() {
    let store = TestStore::new(Backend::Sqlite).await;
    let mut config = store.config(([127, 0, 0, 1], 0).into());
    let header_timeout = Duration::from_secs(6);
    config.connections = ConnectionLimits {
        max_connections: 40,
        reserve: 8,
        header_timeout,
        reserve_header_timeout: Duration::from_millis(500),
    };
    let app = TestApp::spawn_with(store, config).await;
    let addr: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let yamada = app.login(YAMADA).await;
    let mut live = app
        .http
        .get(format!("{}/api/v1/live", app.base))
        .bearer_auth(&yamada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);

    let start = Instant::now();
    let slow: Vec<_> = (0..5).map(|_| tokio::spawn(slowloris(addr))).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut idle = Vec::new();
    for _ in 0..60 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }

    // Past the cap, connections are closed at once; those in the reserve within its short
    // deadline, as they send nothing. A health check then finds room in the reserve while the
    // ordinary slots are still held by idle sockets.
    let livez = loop {
        match fresh_client().get(format!("{}/livez", app.base)).send().await {
            Ok(response) => break response,
            Err(_) => {
                assert!(
                    start.elapsed() < header_timeout,
                    "no room for /livez before the header timeout"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(livez.status(), StatusCode::OK);
    let mut still_open = 0;
    for socket in &mut idle {
        if !closed(socket).await {
            still_open += 1;
        }
    }
    assert!(start.elapsed() < header_timeout);
    assert!(
        (20..40).contains(&still_open),
        "{still_open} idle sockets open: the ordinary slots should hold some, the cap close the rest"
    );

    // Logged-in staff get through the reserve; anonymous requests get a 503 problem there.
    let me = Reply::read(
        fresh_client()
            .get(format!("{}/api/v1/me", app.base))
            .bearer_auth(&yamada.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let anonymous = Reply::read(
        fresh_client()
            .get(format!("{}/api/v1/doctors", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_unavailable(&anonymous, "busy");

    // Slow and idle clients are closed after the header timeout, not before.
    for task in slow {
        let closed_at = task.await.unwrap().duration_since(start);
        assert!(
            closed_at >= header_timeout - Duration::from_millis(500) && closed_at < header_timeout * 2,
            "a slowloris socket was closed after {closed_at:?}"
        );
    }
    for socket in &mut idle {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(header_timeout, socket.read(&mut byte)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "an idle socket stayed open");
    }

    // The live stream, open since before the flood, outlived the header timeout and still
    // delivers.
    let booked = yamada
        .book(&hours_from_now(30), "一般内科", "online", "高橋 次郎")
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let chunk = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let chunk = live.chunk().await.unwrap().expect("the stream is still open");
            if String::from_utf8_lossy(&chunk).contains("event: change") {
                return;
            }
        }
    })
    .await;
    assert!(chunk.is_ok(), "no change event on the live stream");
}

#[tokio::test]
async fn a_database_outage_is_answered_at_once_with_problems_and_heals_by_itself() {
    let (proxy, url) = TcpProxy::in_front_of(&fresh_postgres_database().await).await;
    let store = TestStore {
        dir: tempfile::tempdir().unwrap(),
        database_url: Some(url),
    };
    let app = TestApp::spawn_on(store).await;
    let yamada = app.login(YAMADA).await;
    let read = format!("/api/v1/schedule?date=2030-01-01&doctor_id={}", yamada.staff_id);
    assert_eq!(yamada.get(&read).await.status, StatusCode::OK);

    proxy.cut().await;
    let timed = async |request: reqwest::RequestBuilder| {
        let started = Instant::now();
        let answer = Reply::read(request.send().await.unwrap()).await;
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "answered after {:?}",
            started.elapsed()
        );
        answer
    };
    let client = fresh_client();
    let schedule = timed(
        client
            .get(format!("{}{read}", app.base))
            .bearer_auth(&yamada.token),
    )
    .await;
    assert_unavailable(&schedule, "unavailable");
    let command = timed(
        client
            .post(format!("{}/api/v1/video-calls", app.base))
            .bearer_auth(&yamada.token)
            .json(&json!({ "doctor_id": yamada.staff_id, "start_now": true, "title": "停電" })),
    )
    .await;
    assert_unavailable(&command, "unavailable");
    let health = timed(client.get(format!("{}/healthz", app.base))).await;
    assert_unavailable(&health, "unavailable");
    let detail = health.body["detail"].as_str().unwrap();
    assert!(detail.contains("PostgreSQL"), "{detail}");
    assert!(
        !detail.contains("postgres://") && !detail.contains(&proxy.addr().port().to_string()),
        "{detail}"
    );

    proxy.restore().await;
    let healed = Instant::now();
    loop {
        let answer = Reply::read(client.get(format!("{}/healthz", app.base)).send().await.unwrap()).await;
        if answer.status == StatusCode::OK {
            break;
        }
        assert!(
            healed.elapsed() < Duration::from_secs(30),
            "still unhealthy: {}",
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(yamada.get(&read).await.status, StatusCode::OK);
}

#[tokio::test]
async fn out_of_range_dates_and_unstorable_login_fields_are_422_naming_the_field() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let yamada = app.login(YAMADA).await;
    for date in ["+262142-12-31", "-262143-01-01", "1999-12-31", "2200-01-01"] {
        let schedule = yamada
            .get(&format!(
                "/api/v1/schedule?date={}&doctor_id={}&all_times=true",
                urlencode(date),
                yamada.staff_id
            ))
            .await;
        schedule.assert_problem(422, "validation_failed");
        assert_eq!(schedule.body["field"], "date");
        let reception = yamada
            .get(&format!("/api/v1/reception?date={}", urlencode(date)))
            .await;
        reception.assert_problem(422, "validation_failed");
    }
    for (field, email, password) in [
        ("email", "yamada\0@demo.enkaku.test", "demo-password"),
        (
            "email",
            &*format!("{}@demo.enkaku.test", "a".repeat(300)),
            "demo-password",
        ),
        ("password", YAMADA, "demo\u{7}password"),
        ("password", YAMADA, &*"p".repeat(1025)),
    ] {
        let login = Reply::read(
            app.http
                .post(format!("{}/api/v1/login", app.base))
                .json(&json!({ "email": email, "password": password }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        login.assert_problem(422, "validation_failed");
        assert_eq!(login.body["field"], field);
    }
}

fn urlencode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Strings an attacker would try: NUL and other controls, years chrono cannot hold,
/// unicode of every plane, and long ones.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9]{0,8}\u{0}[a-z0-9@.]{0,8}",
        "[+-]?[0-9]{4,6}-[0-9]{1,2}-[0-9]{1,2}",
        "\\PC{1,40}",
        ".{0,3}".prop_map(|s| s.repeat(1000)),
        Just("+262142-12-31".to_owned()),
        Just("\u{0}".to_owned()),
        Just("\u{feff}\u{202e}\u{fffe}".to_owned()),
    ]
}

/// The longest request target the HTTP client sends, with room for the base address.
const MAX_URI: usize = 65_000;

/// Every request that takes a string from outside into a query, with `s` in that place.
async fn requests_with(staff: &Staff, appointment: &str, s: &str) -> Vec<(String, Reply)> {
    let e = urlencode(s);
    let doctor = &staff.staff_id;
    let menu = staff.menu("一般内科").await["id"].clone();
    let json_requests: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/api/v1/login".into(),
            json!({ "email": s, "password": s }),
        ),
        (
            Method::POST,
            "/api/v1/appointments".into(),
            json!({ "doctor_id": doctor, "start_at": s, "patient_name": s, "chart_number": s,
                    "menu_id": menu, "visit_type": "first", "mode": "online", "memo": s }),
        ),
        (
            Method::POST,
            "/api/v1/appointments".into(),
            json!({ "doctor_id": doctor, "start_at": hours_from_now(50), "patient_name": s, "chart_number": s,
                    "menu_id": menu, "visit_type": "first", "mode": "online", "memo": s }),
        ),
        (
            Method::POST,
            "/api/v1/video-calls".into(),
            json!({ "doctor_id": doctor, "start_at": hours_from_now(50), "title": s }),
        ),
        (
            Method::PATCH,
            format!("/api/v1/appointments/{appointment}"),
            json!({ "title": s }),
        ),
        (
            Method::POST,
            "/api/v1/destinations/check".into(),
            json!({ "channel": "sms", "destination": s }),
        ),
        (
            Method::POST,
            "/api/v1/destinations/check".into(),
            json!({ "channel": "email", "destination": s }),
        ),
        (
            Method::POST,
            format!("/api/v1/appointments/{appointment}/send-url"),
            json!({ "channel": "email", "destination": s }),
        ),
        (
            Method::POST,
            format!("/api/v1/appointments/{e}/cancel"),
            json!({}),
        ),
        (
            Method::POST,
            "/api/v1/appointments/search".into(),
            json!({ "query": s }),
        ),
    ];
    let gets = [
        format!("/api/v1/schedule?date={e}&doctor_id={doctor}&all_times=true"),
        format!("/api/v1/schedule?date=2030-01-01&doctor_id={e}"),
        format!("/api/v1/reception?date={e}"),
        format!("/api/v1/appointments/{e}"),
        format!("/api/v1/appointments/{e}/events"),
        format!("/api/v1/call-links/{e}"),
        format!("/api/v1/patient-links/{e}"),
        format!("/api/v1/outbox?{e}={e}"),
    ];
    let mut replies = Vec::new();
    for (method, path, body) in json_requests {
        let answer = staff.request(method.clone(), &path, Some(body), &[]).await;
        replies.push((format!("{method} {path}"), answer));
    }
    // Only targets HTTP can carry: the client refuses a URI longer than 64 KiB before sending
    // (a long string percent-encoded twice in the outbox query gets there).
    for path in gets.into_iter().filter(|path| path.len() < MAX_URI) {
        replies.push((format!("GET {path}"), staff.get(&path).await));
    }
    // Headers that reach a query: the bearer token, the idempotency key, If-Match, the
    // request id. Only values HTTP can carry at all are sent.
    if let Ok(value) = HeaderValue::from_bytes(s.as_bytes()) {
        let send = |request: reqwest::RequestBuilder, header: &'static str| {
            request
                .header(HeaderName::from_static(header), value.clone())
                .send()
        };
        let base = &staff.base;
        let http = &staff.http;
        let bearer = http
            .get(format!("{base}/api/v1/me"))
            .header("authorization", format!("Bearer {s}"))
            .send()
            .await;
        let cookie = send(http.get(format!("{base}/api/v1/me")), "cookie").await;
        let video = json!({ "doctor_id": doctor, "start_at": hours_from_now(50), "title": "x" });
        let key = send(
            http.post(format!("{base}/api/v1/video-calls"))
                .bearer_auth(&staff.token)
                .json(&video),
            "idempotency-key",
        )
        .await;
        let if_match = send(
            http.patch(format!("{base}/api/v1/appointments/{appointment}"))
                .bearer_auth(&staff.token)
                .json(&json!({ "title": "y" })),
            "if-match",
        )
        .await;
        let request_id = send(
            http.get(format!("{base}/api/v1/doctors"))
                .bearer_auth(&staff.token),
            "x-request-id",
        )
        .await;
        for (name, response) in [
            ("bearer", bearer),
            ("cookie", cookie),
            ("idempotency-key", key),
            ("if-match", if_match),
            ("x-request-id", request_id),
        ] {
            if let Ok(response) = response {
                replies.push((format!("header {name}"), Reply::read(response).await));
            }
        }
    }
    replies
}

/// No string, wherever it enters, makes a 5xx: each is refused at the edge (4xx) or handled.
async fn no_string_makes_a_5xx(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let created = yamada.create_video_url(&hours_from_now(40), "検査").await;
    let appointment = created.body["id"].as_str().expect("id").to_owned();
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&hostile(), |s| {
        let replies =
            tokio::task::block_in_place(|| handle.block_on(requests_with(&yamada, &appointment, &s)));
        for (request, answer) in replies {
            prop_assert!(
                answer.status.as_u16() < 500,
                "{request} with {s:?}: {} {}",
                answer.status,
                answer.body
            );
        }
        Ok::<(), TestCaseError>(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_string_makes_a_5xx_on_sqlite() {
    no_string_makes_a_5xx(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_string_makes_a_5xx_on_postgres() {
    no_string_makes_a_5xx(Backend::Postgres).await;
}
