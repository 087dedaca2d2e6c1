//! What the clinic UI and the patient page need from the server beyond the core contract: the embedded
//! pages, problems that name their field, the destination check, the call screen's link and
//! live updates. What a person sees is tested in the browser (`tests/browser`).

use enkaku_tests::{Backend, SUZUKI, Staff, TestApp, YAMADA, hours_from_now};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

async fn app() -> TestApp {
    TestApp::spawn(Backend::Sqlite).await
}

#[tokio::test]
async fn pages_and_assets_are_served_from_the_binary() {
    let app = app().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let root = http.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(root.status(), StatusCode::SEE_OTHER);
    assert_eq!(root.headers()["location"], "/schedule");

    for (path, script) in [
        ("/login", "/ui/login.js"),
        ("/schedule", "/ui/staff.js"),
        ("/reception", "/ui/staff.js"),
        ("/search", "/ui/staff.js"),
        ("/outbox", "/ui/staff.js"),
        ("/settings", "/ui/staff.js"),
        ("/call/some-token", "/ui/call.js"),
        ("/p/some-token", "/ui/patient.js"),
    ] {
        let page = http.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        // Pages run only our own scripts, and capability paths never leak through Referer.
        assert!(
            page.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
        assert_eq!(page.headers()["referrer-policy"], "no-referrer");
        let html = page.text().await.unwrap();
        assert!(html.contains(script), "{path} loads {script}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{path} loads nothing from elsewhere"
        );
    }

    let script = http
        .get(format!("{}/ui/staff.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    let etag = script.headers()["etag"].clone();
    let again = http
        .get(format!("{}/ui/staff.js", app.base))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let missing = http
        .get(format!("{}/ui/nothing.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn problems_name_the_field_at_fault() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let menu = yamada.menu("オンライン自費診療").await;
    let booking = |name: &str, mode: &str| {
        json!({
            "doctor_id": yamada.staff_id, "start_at": hours_from_now(2), "patient_name": name,
            "menu_id": menu["id"], "visit_type": "first", "mode": mode
        })
    };
    let blank = yamada.post("/api/v1/appointments", booking(" ", "online")).await;
    blank.assert_problem(422, "validation_failed");
    assert_eq!(blank.body["field"], "patient_name");
    let in_person = yamada
        .post("/api/v1/appointments", booking("患者", "in_person"))
        .await;
    in_person.assert_problem(422, "mode_not_allowed");
    assert_eq!(in_person.body["field"], "mode");

    let created = yamada.create_video_url(&hours_from_now(1), "").await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let moved = yamada
        .request(
            Method::PATCH,
            &format!("/api/v1/appointments/{id}"),
            Some(json!({ "start_at": hours_from_now(3) })),
            &[],
        )
        .await;
    moved.assert_problem(422, "start_time_immutable");
    assert_eq!(moved.body["field"], "start_at");

    let malformed = yamada
        .post(&format!("/api/v1/appointments/{id}/resend-url"), json!({}))
        .await;
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        malformed.body.get("field").is_none(),
        "a malformed body names no field: {}",
        malformed.body
    );
}

#[tokio::test]
async fn the_destination_check_answers_as_sending_would_and_changes_nothing() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let check = |channel: &str, destination: &str| {
        yamada.post(
            "/api/v1/destinations/check",
            json!({ "channel": channel, "destination": destination }),
        )
    };
    // As people type it, full-width and with a long-vowel mark for a hyphen, too.
    let wide = check("sms", "０９０ー１２３４ー５６７８").await;
    assert_eq!(wide.body["destination"], "+819012345678", "{}", wide.body);
    let phone = check("sms", "090-1234-5678").await;
    assert_eq!(phone.status, StatusCode::OK, "{}", phone.body);
    assert_eq!(
        phone.body,
        json!({ "channel": "sms", "destination": "+819012345678" })
    );
    let mail = check("email", "patient@example.jp").await;
    assert_eq!(mail.body["destination"], "patient@example.jp");
    for (channel, destination) in [
        ("sms", "12345"),
        ("sms", "03-1234-5678x"),
        ("email", "not-an-address"),
        ("sms", ""),
    ] {
        let bad = check(channel, destination).await;
        bad.assert_problem(422, "validation_failed");
        assert_eq!(bad.body["field"], "destination", "{channel} {destination}");
    }
    // The same number is refused by the send itself.
    let created = yamada.create_video_url(&hours_from_now(1), "").await;
    let id = created.body["id"].as_str().unwrap();
    yamada
        .post(
            &format!("/api/v1/appointments/{id}/send-url"),
            json!({ "channel": "sms", "destination": "12345" }),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(app.appended(), 1, "only the creation was appended");

    let anonymous = app
        .http
        .post(format!("{}/api/v1/destinations/check", app.base))
        .json(&json!({ "channel": "sms", "destination": "090-1234-5678" }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_clinic_url_opens_its_appointment_for_that_clinics_staff_only() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let created = yamada.create_video_url(&hours_from_now(1), "さくら苑").await;
    let token_of = |role: &str| {
        created.body["video"][role]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    };
    let clinic = token_of("clinic_url");
    let opened = yamada.get(&format!("/api/v1/call-links/{clinic}")).await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
    assert_eq!(opened.body["id"], created.body["id"]);
    assert_eq!(opened.body["title"], "さくら苑");
    assert_eq!(opened.headers["etag"], format!("\"{}\"", opened.body["version"]));

    // The patient's link is not the clinic's; another clinic's staff see nothing; a forged
    // token is nothing; without a login the link alone opens nothing.
    let patient = token_of("patient_url");
    yamada
        .get(&format!("/api/v1/call-links/{patient}"))
        .await
        .assert_problem(404, "not_found");
    let suzuki = app.login(SUZUKI).await;
    suzuki
        .get(&format!("/api/v1/call-links/{clinic}"))
        .await
        .assert_problem(404, "not_found");
    let mut forged = clinic.clone();
    forged.replace_range(40..41, if &clinic[40..41] == "A" { "B" } else { "A" });
    yamada
        .get(&format!("/api/v1/call-links/{forged}"))
        .await
        .assert_problem(404, "not_found");
    let anonymous = app
        .http
        .get(format!("{}/api/v1/call-links/{clinic}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// The server-sent events of one staff member's `/api/v1/live`, as they arrive.
struct Live {
    response: reqwest::Response,
    buffer: String,
}

impl Live {
    async fn open(staff: &Staff) -> Self {
        let response = staff
            .http
            .get(format!("{}/api/v1/live", staff.base))
            .bearer_auth(&staff.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// Whether the server ends the stream within `wait` (anything sent meanwhile is skipped).
    async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return false,
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None) | Err(_)) => return true,
            }
        }
    }

    /// The next `change` event's data, or None if none comes within `wait`.
    async fn next_change(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                if event.lines().any(|l| l == "event: change") {
                    let data = event.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
                    return Some(serde_json::from_str(data).unwrap());
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()?));
        }
    }
}

#[tokio::test]
async fn live_updates_reach_the_clinic_once_its_read_models_have_the_change() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let suzuki = app.login(SUZUKI).await;
    let mut mine = Live::open(&yamada).await;
    let mut other_clinic = Live::open(&suzuki).await;

    let booked = yamada
        .book(&hours_from_now(30), "一般内科", "online", "高橋 次郎")
        .await;
    let id = booked.body["id"].as_str().unwrap().to_owned();
    let change = mine
        .next_change(Duration::from_secs(10))
        .await
        .expect("a change event");
    assert_eq!(change["appointment_ids"], json!([id]));
    let models = change["read_models"].as_array().unwrap();
    assert!(
        models.contains(&json!("schedule")) && models.contains(&json!("reception")),
        "{change}"
    );

    // Sent after the commit: the list read right now has the booking.
    let date = booked.body["start_at"].as_str().unwrap()[..10].to_owned();
    let list = yamada.get(&format!("/api/v1/reception?date={date}")).await;
    assert!(
        list.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["appointment_id"] == id),
        "{}",
        list.body
    );
    assert_eq!(
        other_clinic.next_change(Duration::from_millis(500)).await,
        None,
        "another clinic hears nothing of it"
    );

    let anonymous = app
        .http
        .get(format!("{}/api/v1/live", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // Open streams do not hold up a shutdown: they end, and pages reconnect.
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("the server stops with live streams open");
    assert_eq!(mine.next_change(Duration::from_secs(1)).await, None);
}

#[tokio::test]
async fn a_live_change_names_only_the_read_models_it_touched() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let mut live = Live::open(&yamada).await;

    // A video URL has a schedule row and a search row, and no reception row.
    let created = yamada.create_video_url(&hours_from_now(30), "再診フォロー").await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let change = live
        .next_change(Duration::from_secs(10))
        .await
        .expect("a change event");
    assert_eq!(change["read_models"], json!(["schedule", "patient_search"]));
    assert_eq!(change["appointment_ids"], json!([created.body["id"]]));
}

#[tokio::test]
async fn a_set_up_change_reaches_the_clinics_pages_as_a_directory_change() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let mut mine = Live::open(&yamada).await;
    let mut other_clinic = Live::open(&app.login(SUZUKI).await).await;

    let changed = yamada
        .request(
            Method::PATCH,
            "/api/v1/admin/clinic",
            Some(json!({"phone": "03-9876-5432"})),
            &[],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let change = mine
        .next_change(Duration::from_secs(10))
        .await
        .expect("a change event");
    // 設定 refetches on it; no appointment changed.
    assert_eq!(
        change,
        json!({"read_models": ["directory"], "appointment_ids": []})
    );
    assert_eq!(
        other_clinic.next_change(Duration::from_millis(500)).await,
        None,
        "another clinic hears nothing of it"
    );
}

#[tokio::test]
async fn a_live_stream_ends_when_its_session_is_logged_out() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let mut live = Live::open(&yamada).await;
    let mut other_session = Live::open(&app.login(YAMADA).await).await;
    let out = yamada.request(Method::POST, "/api/v1/logout", None, &[]).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    // A logout in this process ends the stream at once (the bound is only a guard).
    assert!(live.ends_within(Duration::from_secs(5)).await, "the stream ended");
    assert!(
        !other_session.ends_within(Duration::from_millis(300)).await,
        "the same person's other session keeps its stream"
    );
}

#[tokio::test]
async fn a_live_stream_ends_when_its_session_is_revoked_elsewhere() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let mut live = Live::open(&yamada).await;
    // Another replica's logout: the row is gone, nothing was said in this process.
    let token_hash = format!(
        "{:x}",
        <sha2::Sha256 as sha2::Digest>::digest(yamada.token.as_bytes())
    );
    let deleted = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);
    // The stream re-checks its session every 5 s.
    assert!(
        live.ends_within(Duration::from_secs(15)).await,
        "the stream ended"
    );
    yamada.get("/api/v1/me").await.assert_problem(401, "unauthorized");
}
