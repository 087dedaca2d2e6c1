//! The HTTP contract, exercised against the real application on a random port.
//! Most tests run on the embedded default (SQLite); `flows_on_postgres` repeats the main
//! flows on PostgreSQL.

use enkaku_tests::{
    Backend, Reply, SATO, SUZUKI, Staff, TestApp, YAMADA, health, hours_from_now, tokyo_date,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

async fn app() -> TestApp {
    TestApp::spawn(Backend::Sqlite).await
}

fn id(reply: &Reply) -> String {
    assert!(reply.status.is_success(), "{} {}", reply.status, reply.body);
    reply.body["id"].as_str().expect("id").to_owned()
}

fn token_of(url: &Value) -> String {
    url.as_str().expect("url").rsplit('/').next().unwrap().to_owned()
}

async fn public_get(app: &TestApp, path: &str) -> Reply {
    let response = app.http.get(format!("{}{path}", app.base)).send().await.unwrap();
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.json().await.unwrap_or(Value::Null),
    }
}

async fn schedule(staff: &Staff, date: &str) -> Value {
    let reply = staff
        .get(&format!(
            "/api/v1/schedule?date={date}&doctor_id={}",
            staff.staff_id
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

async fn reception(staff: &Staff, date: &str) -> Value {
    let reply = staff.get(&format!("/api/v1/reception?date={date}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

fn entry<'a>(list: &'a Value, appointment: &str) -> Option<&'a Value> {
    list["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["appointment_id"] == appointment)
}

/// Poll until the URL delivery worker has recorded an outcome: usually within milliseconds,
/// but a machine busy with other builds has been seen to take over five seconds.
async fn delivered(staff: &Staff, appointment: &str) -> Value {
    for _ in 0..1200 {
        let reply = staff.get(&format!("/api/v1/appointments/{appointment}")).await;
        if reply.body["video"]["delivery"]["status"] != "pending" {
            return reply.body;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("delivery stayed pending");
}

#[tokio::test]
async fn login_me_and_bad_credentials() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let me = yamada.get("/api/v1/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["clinic"]["name"], "デモクリニック");
    assert_eq!(me.body["staff"]["email"], YAMADA);

    let bad = app
        .http
        .post(format!("{}/api/v1/login", app.base))
        .json(&json!({ "email": YAMADA, "password": "wrong" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");

    let anonymous = public_get(&app, "/api/v1/me").await;
    anonymous.assert_problem(401, "unauthorized");
    let forged = Staff {
        token: "forged".into(),
        ..yamada.clone()
    };
    forged
        .get("/api/v1/doctors")
        .await
        .assert_problem(401, "unauthorized");

    let out = yamada.request(Method::POST, "/api/v1/logout", None, &[]).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    yamada.get("/api/v1/me").await.assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn r1_clinic_setup_matches_the_demo_and_tenants_are_isolated() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let suzuki = app.login(SUZUKI).await;
    assert_eq!(yamada.doctor_ids().await.len(), 2);
    assert_eq!(suzuki.doctor_ids().await, vec![suzuki.staff_id.clone()]);
    let menus = yamada.get("/api/v1/menus").await.body["items"]
        .as_array()
        .unwrap()
        .clone();
    assert!(menus.iter().any(|m| m["modes"] == json!(["in_person", "online"])
        && m["duration_first_min"] != m["duration_revisit_min"]));
    assert!(
        menus
            .iter()
            .any(|m| m["modes"] == json!(["online"]) && m["booking_fee_yen"].as_u64() > Some(0))
    );

    let created = yamada.create_video_url(&hours_from_now(2), "さくら苑").await;
    let appointment = id(&created);
    // Another clinic sees nothing of it, and can change nothing.
    suzuki
        .get(&format!("/api/v1/appointments/{appointment}"))
        .await
        .assert_problem(404, "not_found");
    suzuki
        .get(&format!("/api/v1/appointments/{appointment}/events"))
        .await
        .assert_problem(404, "not_found");
    suzuki
        .post(&format!("/api/v1/appointments/{appointment}/cancel"), json!({}))
        .await
        .assert_problem(404, "not_found");
    // Nor book with the other clinic's doctor.
    let foreign_doctor = json!({ "doctor_id": yamada.staff_id, "start_at": hours_from_now(2) });
    suzuki
        .post("/api/v1/video-calls", foreign_doctor)
        .await
        .assert_problem(422, "unknown_doctor");
    let still = yamada.get(&format!("/api/v1/appointments/{appointment}")).await;
    assert_eq!(still.body["status"], "booked");
}

#[tokio::test]
async fn r2_schedule_shows_the_slot_grid_and_all_times_on_request() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    // 2022-08-30 was a Tuesday.
    let day = schedule(&yamada, "2022-08-30").await;
    let slots = day["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 28);
    assert_eq!(slots[0]["start_at"], "2022-08-30T09:00:00+09:00");
    assert!(slots.iter().all(|s| s["closed"] == false));
    let all = yamada
        .get(&format!(
            "/api/v1/schedule?date=2022-08-30&doctor_id={}&all_times=true",
            yamada.staff_id
        ))
        .await;
    assert_eq!(all.body["slots"].as_array().unwrap().len(), 96);
    yamada
        .get("/api/v1/schedule?date=nope&doctor_id=x")
        .await
        .assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn r3_r4_r5_an_in_clinic_booking_appears_in_schedule_and_reception_with_the_fee_waived() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let start = hours_from_now(3);
    let created = yamada
        .book(&start, "オンライン自費診療", "online", "山田 花子")
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let body = &created.body;
    assert_eq!(body["kind"], "in_clinic");
    assert_eq!(body["patient_name"], "山田 花子");
    assert_eq!(body["chart_number"], "K-123");
    assert_eq!(body["memo"], "初診・発熱");
    assert_eq!(body["menu"]["name"], "オンライン自費診療");
    assert_eq!(body["menu"]["duration_min"], 20);
    assert_eq!(body["booking_fee_waived"], true);
    assert_eq!(body["waived_booking_fee_yen"], 3000);
    assert_eq!(body["doctor_id"], yamada.staff_id);
    assert_eq!(body["status"], "booked");
    assert_eq!(body["version"], 1);
    assert_eq!(created.headers["etag"], "\"1\"");
    let appointment = id(&created);

    app.projected().await;
    let date = tokyo_date(&start);
    let in_schedule = schedule(&yamada, &date).await;
    let e = entry(&in_schedule, &appointment).expect("R4: in the schedule");
    assert_eq!(e["display_name"], "山田 花子");
    assert_eq!(e["video"], true);
    let in_reception = reception(&yamada, &date).await;
    let r = entry(&in_reception, &appointment).expect("R4: in the reception list");
    assert_eq!(r["kind"], "in_clinic");
    assert_eq!(r["video"], true);
    assert!(r.get("url_delivery").is_none(), "nothing sent yet: {r}");
    // The other doctor's schedule does not show it.
    let sato = app.login(SATO).await;
    assert!(entry(&schedule(&sato, &date).await, &appointment).is_none());

    // Once the patient URL went out, the reception list says so.
    let sent = yamada
        .post(
            &format!("/api/v1/appointments/{appointment}/send-url"),
            json!({ "channel": "sms", "destination": "090-1234-5678" }),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    delivered(&yamada, &appointment).await;
    app.projected().await;
    let in_reception = reception(&yamada, &date).await;
    let r = entry(&in_reception, &appointment).expect("still in the reception list");
    assert_eq!(r["url_delivery"], "kept");
}

#[tokio::test]
async fn r3_patient_name_is_required_and_bad_input_changes_nothing() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let menu = yamada.menu("一般内科").await;
    let base = json!({
        "doctor_id": yamada.staff_id, "start_at": hours_from_now(1), "patient_name": "  ",
        "menu_id": menu["id"], "visit_type": "first", "mode": "online"
    });
    yamada
        .post("/api/v1/appointments", base.clone())
        .await
        .assert_problem(422, "validation_failed");
    let mut unknown_menu = base.clone();
    unknown_menu["patient_name"] = json!("患者");
    unknown_menu["menu_id"] = json!(uuid::Uuid::now_v7());
    yamada
        .post("/api/v1/appointments", unknown_menu)
        .await
        .assert_problem(422, "unknown_menu");
    let mut bad_visit = base.clone();
    bad_visit["patient_name"] = json!("患者");
    bad_visit["visit_type"] = json!("third");
    let reply = yamada.post("/api/v1/appointments", bad_visit).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(app.appended(), 0, "nothing was appended");
}

#[tokio::test]
async fn r6_in_person_bookings_have_no_url_and_menus_restrict_modes() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let in_person = yamada
        .book(&hours_from_now(1), "一般内科", "in_person", "対面 太郎")
        .await;
    assert_eq!(in_person.status, StatusCode::CREATED);
    assert_eq!(in_person.body["video"], Value::Null);
    let appointment = id(&in_person);
    let send = json!({ "channel": "sms", "destination": "090-1234-5678" });
    yamada
        .post(&format!("/api/v1/appointments/{appointment}/send-url"), send)
        .await
        .assert_problem(409, "no_video_call");
    yamada
        .post(
            &format!("/api/v1/appointments/{appointment}/start-call"),
            json!({}),
        )
        .await
        .assert_problem(409, "no_video_call");
    yamada
        .book(&hours_from_now(1), "オンライン自費診療", "in_person", "対面 太郎")
        .await
        .assert_problem(422, "mode_not_allowed");
    yamada
        .book(&hours_from_now(1), "予防接種", "online", "対面 太郎")
        .await
        .assert_problem(422, "mode_not_allowed");
}

#[tokio::test]
async fn r8_r9_a_video_url_is_in_the_schedule_only_with_a_camera_mark() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let start = hours_from_now(5);
    let created = yamada.create_video_url(&start, "さくら苑").await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["kind"], "video_url");
    assert_eq!(created.body["title"], "さくら苑");
    assert!(created.body.get("patient_name").is_none());
    let appointment = id(&created);
    app.projected().await;
    let date = tokyo_date(&start);
    let e = entry(&schedule(&yamada, &date).await, &appointment)
        .cloned()
        .expect("in the schedule");
    assert_eq!(e["video"], true);
    assert_eq!(e["kind"], "video_url");
    assert_eq!(e["display_name"], "さくら苑");
    assert!(
        entry(&reception(&yamada, &date).await, &appointment).is_none(),
        "R9: never in reception"
    );

    // "Create at current time".
    let now = yamada
        .post(
            "/api/v1/video-calls",
            json!({ "doctor_id": yamada.staff_id, "start_now": true }),
        )
        .await;
    assert_eq!(now.status, StatusCode::CREATED);
    let start_at = chrono::DateTime::parse_from_rfc3339(now.body["start_at"].as_str().unwrap()).unwrap();
    assert!(
        (chrono::Utc::now() - start_at.with_timezone(&chrono::Utc))
            .num_seconds()
            .abs()
            < 60
    );
    let link = public_get(
        &app,
        &format!(
            "/api/v1/patient-links/{}",
            token_of(&now.body["video"]["patient_url"])
        ),
    )
    .await;
    assert_eq!(link.body["status"], "open");
    // The patient is told when, and whom to call: nothing staff entered.
    assert_eq!(link.body["start_at"], now.body["start_at"]);
    assert_eq!(link.body["clinic_phone"], "03-1234-5678");
    let me = yamada.get("/api/v1/me").await;
    assert_eq!(me.body["clinic"]["phone"], "03-1234-5678");
    yamada
        .post("/api/v1/video-calls", json!({ "doctor_id": yamada.staff_id }))
        .await
        .assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn r10_title_and_doctor_can_be_edited_but_not_the_start_time() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let sato = app.login(SATO).await;
    let appointment = id(&yamada.create_video_url(&hours_from_now(2), "さくら苑").await);
    let path = format!("/api/v1/appointments/{appointment}");
    let edited = yamada
        .request(
            Method::PATCH,
            &path,
            Some(json!({ "title": "ひまわり荘", "doctor_id": sato.staff_id })),
            &[],
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    assert_eq!(edited.body["title"], "ひまわり荘");
    assert_eq!(edited.body["doctor_id"], sato.staff_id);
    let refused = yamada
        .request(
            Method::PATCH,
            &path,
            Some(json!({ "start_at": hours_from_now(4) })),
            &[],
        )
        .await;
    refused.assert_problem(422, "start_time_immutable");
    assert!(refused.body["detail"].as_str().unwrap().contains("cancel"));
    app.projected().await;
    let date = tokyo_date(&hours_from_now(2));
    let moved = entry(&schedule(&sato, &date).await, &appointment)
        .cloned()
        .expect("now on sato's schedule");
    assert_eq!(moved["display_name"], "ひまわり荘");
    let booking = id(&yamada
        .book(&hours_from_now(2), "一般内科", "online", "患者")
        .await);
    yamada
        .request(
            Method::PATCH,
            &format!("/api/v1/appointments/{booking}"),
            Some(json!({ "title": "x" })),
            &[],
        )
        .await
        .assert_problem(422, "not_editable");
}

#[tokio::test]
async fn r11_cancelling_closes_both_urls_and_tells_the_patient_page() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let created = yamada.create_video_url(&hours_from_now(0), "さくら苑").await;
    let appointment = id(&created);
    let patient = token_of(&created.body["video"]["patient_url"]);
    let cancelled = yamada
        .post(&format!("/api/v1/appointments/{appointment}/cancel"), json!({}))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK);
    assert_eq!(cancelled.body["status"], "cancelled");
    let link = public_get(&app, &format!("/api/v1/patient-links/{patient}")).await;
    assert_eq!(link.body["status"], "cancelled");
    yamada
        .post(
            &format!("/api/v1/appointments/{appointment}/start-call"),
            json!({}),
        )
        .await
        .assert_problem(409, "appointment_cancelled");
    app.projected().await;
    let outbox = yamada.get("/api/v1/outbox").await;
    assert_eq!(
        outbox.body["items"],
        json!([]),
        "cancelling sends the patient nothing"
    );
}

/// Staff cancel in-clinic bookings too: the booking stays in both lists, marked cancelled,
/// and its patient link (for an online one) says so.
#[tokio::test]
async fn r11_an_in_clinic_booking_is_cancelled_like_a_video_url() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let start = hours_from_now(3);
    let booked = yamada.book(&start, "一般内科", "online", "山田 花子").await;
    let appointment = id(&booked);
    let cancelled = yamada
        .post(&format!("/api/v1/appointments/{appointment}/cancel"), json!({}))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    let patient = token_of(&booked.body["video"]["patient_url"]);
    let link = public_get(&app, &format!("/api/v1/patient-links/{patient}")).await;
    assert_eq!(link.body["status"], "cancelled");
    app.projected().await;
    let date = tokyo_date(&start);
    for list in [schedule(&yamada, &date).await, reception(&yamada, &date).await] {
        assert_eq!(
            entry(&list, &appointment).expect("still listed")["status"],
            "cancelled"
        );
    }
}

#[tokio::test]
async fn r12_urls_are_distinct_capabilities_that_never_enter_the_event_log() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let created = yamada.create_video_url(&hours_from_now(0), "さくら苑").await;
    let appointment = id(&created);
    let video = &created.body["video"];
    let (clinic, patient) = (token_of(&video["clinic_url"]), token_of(&video["patient_url"]));
    assert_ne!(clinic, patient);
    assert!(patient.len() >= 43, "at least 256 bits of MAC");
    // The URLs can be shown again at any time, unchanged.
    let again = yamada.get(&format!("/api/v1/appointments/{appointment}")).await;
    assert_eq!(again.body["video"]["patient_url"], video["patient_url"]);
    // The clinic's token does not open the patient's look-up; a forged one opens nothing.
    public_get(&app, &format!("/api/v1/patient-links/{clinic}"))
        .await
        .assert_problem(404, "not_found");
    let mut forged = patient.clone();
    forged.replace_range(forged.len() - 2.., "AA");
    public_get(&app, &format!("/api/v1/patient-links/{forged}"))
        .await
        .assert_problem(404, "not_found");
    public_get(&app, "/api/v1/patient-links/nothing")
        .await
        .assert_problem(404, "not_found");
    // The look-up tells the patient page nothing staff entered.
    let link = public_get(&app, &format!("/api/v1/patient-links/{patient}")).await;
    assert_eq!(link.body["clinic_name"], "デモクリニック");
    assert!(!link.body.to_string().contains("さくら苑"));

    yamada
        .post(
            &format!("/api/v1/appointments/{appointment}/send-url"),
            json!({"channel": "email", "destination": "hanako@example.jp"}),
        )
        .await;
    delivered(&yamada, &appointment).await;
    let history = yamada
        .get(&format!("/api/v1/appointments/{appointment}/events"))
        .await;
    let text = history.body.to_string();
    assert_eq!(history.body["items"].as_array().unwrap().len(), 3);
    assert!(
        !text.contains(&clinic) && !text.contains(&patient),
        "no secret in the log"
    );
    let all = app.state.store.read_all(0, 1000).await.unwrap();
    assert!(all.iter().all(|e| !e.data.to_string().contains(&patient)));
}

/// The look-up of a patient token, as the patient page makes it.
async fn patient_link(app: &TestApp, token: &str) -> Reply {
    public_get(app, &format!("/api/v1/patient-links/{token}")).await
}

#[tokio::test]
async fn reissuing_the_patient_url_revokes_the_old_one_and_the_new_one_is_sent() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let created = yamada.create_video_url(&hours_from_now(0), "誤送信").await;
    let appointment = id(&created);
    let old_video = created.body["video"].clone();
    let old = token_of(&old_video["patient_url"]);
    // Sent to a wrong number...
    yamada
        .post(
            &format!("/api/v1/appointments/{appointment}/send-url"),
            json!({"channel": "sms", "destination": "090-1111-2222"}),
        )
        .await;
    delivered(&yamada, &appointment).await;
    let current = yamada.get(&format!("/api/v1/appointments/{appointment}")).await;
    let etag = current.headers["etag"].to_str().unwrap().to_owned();

    // ...so staff reissue it, under If-Match like every change.
    let reissue = format!("/api/v1/appointments/{appointment}/reissue-patient-url");
    yamada
        .request(Method::POST, &reissue, None, &[("if-match", "\"1\"")])
        .await
        .assert_problem(412, "version_conflict");
    let reissued = yamada
        .request(Method::POST, &reissue, None, &[("if-match", etag.as_str())])
        .await;
    assert_eq!(reissued.status, StatusCode::OK, "{}", reissued.body);
    let video = &reissued.body["video"];
    let new = token_of(&video["patient_url"]);
    assert_ne!(new, old);
    assert_eq!(
        video["clinic_url"], old_video["clinic_url"],
        "the clinic URL stays"
    );
    assert_eq!(
        video["deliveries"].as_array().unwrap().len(),
        1,
        "the history stays"
    );
    assert_eq!(
        yamada
            .get(&format!("/api/v1/appointments/{appointment}"))
            .await
            .body["video"]["patient_url"],
        video["patient_url"]
    );

    // The old link says it was replaced; the new one opens.
    let old_link = patient_link(&app, &old).await;
    assert_eq!(old_link.status, StatusCode::OK);
    assert_eq!(old_link.body["status"], "revoked");
    assert_eq!(patient_link(&app, &new).await.body["status"], "open");
    let call = yamada
        .get(&format!("/api/v1/call-links/{}", token_of(&video["clinic_url"])))
        .await;
    assert_eq!(call.status, StatusCode::OK, "the call screen is unaffected");

    // The new URL goes out with the usual resend, and only it.
    yamada
        .post(
            &format!("/api/v1/appointments/{appointment}/resend-url"),
            json!({"channel": "sms", "destination": "090-1234-5678"}),
        )
        .await;
    delivered(&yamada, &appointment).await;
    let outbox = yamada.get("/api/v1/outbox").await;
    let newest = outbox.body["items"][0]["body"].as_str().unwrap().to_owned();
    assert!(newest.contains(&new) && !newest.contains(&old), "{newest}");

    // A second reissue revokes the first reissued link too.
    let again = yamada.post(&reissue, json!({})).await;
    let newer = token_of(&again.body["video"]["patient_url"]);
    assert_eq!(patient_link(&app, &new).await.body["status"], "revoked");
    assert_eq!(patient_link(&app, &newer).await.body["status"], "open");

    // The event says what happened, and no token is in the log.
    let history = yamada
        .get(&format!("/api/v1/appointments/{appointment}/events"))
        .await;
    let reissues: Vec<&Value> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "PatientUrlReissued")
        .collect();
    assert_eq!(reissues.len(), 2);
    assert_eq!(reissues[0]["data"]["generation"], 1);
    assert_eq!(reissues[1]["data"]["generation"], 2);
    assert_eq!(reissues[0]["metadata"]["actor"], yamada.staff_id);
    let text = history.body.to_string();
    for token in [&old, &new, &newer] {
        assert!(!text.contains(token.as_str()));
    }
}

#[tokio::test]
async fn a_patient_url_is_not_reissued_where_no_link_could_be_used() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let reissue = |id: &str| format!("/api/v1/appointments/{id}/reissue-patient-url");

    let in_person = id(&yamada
        .book(&hours_from_now(3), "一般内科", "in_person", "山田 花子")
        .await);
    yamada
        .post(&reissue(&in_person), json!({}))
        .await
        .assert_problem(409, "no_video_call");

    let cancelled = id(&yamada.create_video_url(&hours_from_now(3), "").await);
    yamada
        .post(&format!("/api/v1/appointments/{cancelled}/cancel"), json!({}))
        .await;
    yamada
        .post(&reissue(&cancelled), json!({}))
        .await
        .assert_problem(409, "appointment_cancelled");

    let in_call = id(&yamada.create_video_url(&hours_from_now(0), "").await);
    yamada
        .post(&format!("/api/v1/appointments/{in_call}/start-call"), json!({}))
        .await;
    yamada
        .post(&reissue(&in_call), json!({}))
        .await
        .assert_problem(409, "call_in_progress");
    yamada
        .post(&format!("/api/v1/appointments/{in_call}/end-call"), json!({}))
        .await;
    yamada
        .post(&reissue(&in_call), json!({}))
        .await
        .assert_problem(409, "call_ended");

    // Another clinic's appointment is not found.
    let suzuki = app.login(SUZUKI).await;
    let mine = id(&yamada.create_video_url(&hours_from_now(3), "").await);
    suzuki
        .post(&reissue(&mine), json!({}))
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn r13_the_server_enforces_the_validity_window() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let future = yamada.create_video_url(&hours_from_now(3), "").await;
    let future_link = token_of(&future.body["video"]["patient_url"]);
    let link = public_get(&app, &format!("/api/v1/patient-links/{future_link}")).await;
    assert_eq!(link.status, StatusCode::OK);
    assert_eq!(link.body["status"], "not_yet_open");
    yamada
        .post(
            &format!("/api/v1/appointments/{}/start-call", id(&future)),
            json!({}),
        )
        .await
        .assert_problem(409, "outside_validity_window");

    let past = yamada.create_video_url(&hours_from_now(-25), "").await;
    let past_link = token_of(&past.body["video"]["patient_url"]);
    assert_eq!(
        public_get(&app, &format!("/api/v1/patient-links/{past_link}"))
            .await
            .body["status"],
        "expired"
    );
    yamada
        .post(
            &format!("/api/v1/appointments/{}/start-call", id(&past)),
            json!({}),
        )
        .await
        .assert_problem(409, "outside_validity_window");

    // Window = start − 1 h … start + 24 h, in the clinic's time zone.
    let fixed = yamada.create_video_url("2022-08-30T13:00:00+09:00", "").await;
    assert_eq!(fixed.body["video"]["valid_from"], "2022-08-30T12:00:00+09:00");
    assert_eq!(fixed.body["video"]["valid_until"], "2022-08-31T13:00:00+09:00");
}

#[tokio::test]
async fn r14_r15_sending_validates_the_destination_and_resend_overwrites_what_is_shown() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let appointment = id(&yamada
        .book(&hours_from_now(1), "一般内科", "online", "山田 花子")
        .await);
    let send = format!("/api/v1/appointments/{appointment}/send-url");
    for bad in [
        json!({ "channel": "sms", "destination": "03-1234-5678" }),
        json!({ "channel": "sms", "destination": "abc" }),
        json!({ "channel": "email", "destination": "not-an-address" }),
        json!({ "channel": "fax", "destination": "090-1234-5678" }),
    ] {
        let reply = yamada.post(&send, bad.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            reply.body
        );
        assert_eq!(reply.content_type(), "application/problem+json");
    }
    assert_eq!(
        yamada
            .get(&format!("/api/v1/appointments/{appointment}"))
            .await
            .body["version"],
        1
    );

    let sent = yamada
        .post(&send, json!({ "channel": "sms", "destination": "090-1234-5678" }))
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    let shown = delivered(&yamada, &appointment).await;
    let delivery = &shown["video"]["delivery"];
    assert_eq!(delivery["channel"], "sms");
    assert_eq!(delivery["destination"], "+819012345678");
    assert_eq!(delivery["status"], "kept");
    assert!(delivery["sent_at"].is_string());
    yamada
        .post(&send, json!({ "channel": "sms", "destination": "090-1234-5678" }))
        .await
        .assert_problem(409, "already_sent");

    let resend = format!("/api/v1/appointments/{appointment}/resend-url");
    let again = yamada
        .post(
            &resend,
            json!({ "channel": "email", "destination": "hanako@example.jp" }),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    let shown = delivered(&yamada, &appointment).await;
    assert_eq!(shown["video"]["delivery"]["channel"], "email");
    assert_eq!(shown["video"]["delivery"]["destination"], "hanako@example.jp");
    assert_eq!(
        shown["video"]["deliveries"].as_array().unwrap().len(),
        2,
        "every attempt stays"
    );

    let outbox = yamada.get("/api/v1/outbox").await;
    let messages = outbox.body["items"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    let patient_url = shown["video"]["patient_url"].as_str().unwrap();
    assert!(
        messages
            .iter()
            .all(|m| m["body"].as_str().unwrap().contains(patient_url))
    );
    assert!(
        messages
            .iter()
            .all(|m| !m["body"].as_str().unwrap().contains("山田 花子")),
        "R3: no name to the patient"
    );
    assert!(
        messages
            .iter()
            .any(|m| m["destination"] == "hanako@example.jp" && m["channel"] == "email")
    );
}

#[tokio::test]
async fn r18_r20_a_call_starts_inside_the_window_and_ends_for_both_sides() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let created = yamada.create_video_url(&hours_from_now(0), "").await;
    let appointment = id(&created);
    let patient = token_of(&created.body["video"]["patient_url"]);
    let end = format!("/api/v1/appointments/{appointment}/end-call");
    yamada
        .post(&end, json!({}))
        .await
        .assert_problem(409, "call_not_started");
    let started = yamada
        .post(
            &format!("/api/v1/appointments/{appointment}/start-call"),
            json!({}),
        )
        .await;
    assert_eq!(started.body["status"], "in_call");
    let ended = yamada.post(&end, json!({})).await;
    assert_eq!(ended.status, StatusCode::OK);
    assert_eq!(ended.body["status"], "ended");
    assert_eq!(
        public_get(&app, &format!("/api/v1/patient-links/{patient}"))
            .await
            .body["status"],
        "ended"
    );
    let history = yamada
        .get(&format!("/api/v1/appointments/{appointment}/events"))
        .await;
    let types: Vec<_> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(
        types,
        vec![json!("VideoUrlCreated"), json!("CallStarted"), json!("CallEnded")]
    );
    let first = &history.body["items"][0];
    assert_eq!(first["metadata"]["actor"], yamada.staff_id);
    assert_eq!(first["metadata"]["clinic_id"], yamada.clinic_id);
    assert_eq!(first["stream_id"], format!("appointment-{appointment}"));
    assert_eq!(first["schema_version"], 2);
    assert!(first["position"].as_u64().unwrap() >= 1 && first["event_id"].is_string());
    assert!(first["metadata"]["correlation_id"].is_string() && first["metadata"]["causation_id"].is_string());
}

#[tokio::test]
async fn etag_and_if_match_guard_against_stale_writes() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let appointment = id(&yamada.create_video_url(&hours_from_now(2), "a").await);
    let path = format!("/api/v1/appointments/{appointment}");
    let read = yamada.get(&path).await;
    assert_eq!(read.headers["etag"], "\"1\"");
    let ok = yamada
        .request(
            Method::PATCH,
            &path,
            Some(json!({ "title": "b" })),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.headers["etag"], "\"2\"");
    let stale = yamada
        .request(
            Method::PATCH,
            &path,
            Some(json!({ "title": "c" })),
            &[("if-match", "\"1\"")],
        )
        .await;
    stale.assert_problem(412, "version_conflict");
    let cancel = yamada
        .request(
            Method::POST,
            &format!("{path}/cancel"),
            None,
            &[("if-match", "\"1\"")],
        )
        .await;
    cancel.assert_problem(412, "version_conflict");
    assert_eq!(yamada.get(&path).await.body["title"], "b");
    // If-Match compares strongly: a weak tag never matches, even with the right number.
    yamada
        .request(
            Method::PATCH,
            &path,
            Some(json!({ "title": "d" })),
            &[("if-match", "W/\"2\"")],
        )
        .await
        .assert_problem(412, "version_conflict");
    // A well-formed tag that is not a version is stale too; what is not an entity tag at
    // all is a malformed request, not a stale one.
    for (value, status, code) in [
        ("\"v2\"", 412, "version_conflict"),
        ("2", 400, "malformed_if_match"),
        ("", 400, "malformed_if_match"),
        ("\"2", 400, "malformed_if_match"),
    ] {
        yamada
            .request(
                Method::PATCH,
                &path,
                Some(json!({ "title": "d" })),
                &[("if-match", value)],
            )
            .await
            .assert_problem(status, code);
    }
    assert_eq!(yamada.get(&path).await.body["title"], "b");
    // A missing appointment is not found, whatever If-Match says.
    let missing = format!("/api/v1/appointments/{}", uuid::Uuid::now_v7());
    yamada
        .request(
            Method::PATCH,
            &missing,
            Some(json!({ "title": "x" })),
            &[("if-match", "\"1\"")],
        )
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_without_if_match_never_lose_an_update() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let appointment = id(&yamada.create_video_url(&hours_from_now(2), "").await);
    let resend = format!("/api/v1/appointments/{appointment}/resend-url");
    // As many racers as one appointment may send in an hour, so only the race decides.
    let racers = (0..5).map(|n| {
        let staff = yamada.clone();
        let resend = resend.clone();
        tokio::spawn(async move {
            staff
                .post(
                    &resend,
                    json!({ "channel": "email", "destination": format!("p{n}@example.jp") }),
                )
                .await
        })
    });
    let replies = futures::future::join_all(racers).await;
    let accepted = replies
        .iter()
        .filter(|r| r.as_ref().unwrap().status == StatusCode::ACCEPTED)
        .count();
    let conflicted = replies
        .iter()
        .filter(|r| r.as_ref().unwrap().status == StatusCode::CONFLICT)
        .count();
    assert_eq!(accepted + conflicted, 5, "only 202 or 409");
    let shown = yamada.get(&format!("/api/v1/appointments/{appointment}")).await;
    let requests = yamada
        .get(&format!("/api/v1/appointments/{appointment}/events"))
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "UrlDeliveryRequested")
        .count();
    assert_eq!(requests, accepted, "every acknowledged resend is in the history");
    assert!(shown.body["video"]["deliveries"].as_array().unwrap().len() >= accepted);
}

#[tokio::test]
async fn idempotency_keys_make_creation_retry_safe() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let body = json!({ "doctor_id": yamada.staff_id, "start_at": hours_from_now(2), "title": "retry" });
    let key = [("idempotency-key", "0b6f0b1e-key-1")];
    let first = yamada
        .request(Method::POST, "/api/v1/video-calls", Some(body.clone()), &key)
        .await;
    let second = yamada
        .request(Method::POST, "/api/v1/video-calls", Some(body.clone()), &key)
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(first.body, second.body);
    assert_eq!(second.headers["etag"], "\"1\"");
    assert_eq!(app.appended(), 1, "the retry appended nothing");

    let mut other = body.clone();
    other["title"] = json!("different");
    yamada
        .request(Method::POST, "/api/v1/video-calls", Some(other), &key)
        .await
        .assert_problem(422, "idempotency_key_reused");
    // Keys belong to a clinic: another clinic's identical key is a different request.
    let suzuki = app.login(SUZUKI).await;
    let theirs = json!({ "doctor_id": suzuki.staff_id, "start_at": hours_from_now(2) });
    let reply = suzuki
        .request(Method::POST, "/api/v1/video-calls", Some(theirs), &key)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
}

#[tokio::test]
async fn idempotency_keys_belong_to_the_staff_member_who_sent_them() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let sato = app.login(SATO).await;
    // Same clinic, same key, same body: two people, so two requests.
    let body = json!({ "doctor_id": yamada.staff_id, "start_at": hours_from_now(2), "title": "同じキー" });
    let key = [("idempotency-key", "shared-key-1")];
    let first = yamada
        .request(Method::POST, "/api/v1/video-calls", Some(body.clone()), &key)
        .await;
    let second = sato
        .request(Method::POST, "/api/v1/video-calls", Some(body.clone()), &key)
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(second.status, StatusCode::CREATED);
    assert_ne!(id(&first), id(&second), "each got an appointment of their own");
    assert_eq!(app.appended(), 2);
    // Each one's retry still gets their own answer.
    let again = sato
        .request(Method::POST, "/api/v1/video-calls", Some(body), &key)
        .await;
    assert_eq!(id(&again), id(&second));
    assert_eq!(app.appended(), 2);
}

#[tokio::test]
async fn saved_idempotency_answers_hold_no_capability_urls_and_replays_rebuild_them() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let body = json!({ "doctor_id": yamada.staff_id, "start_at": hours_from_now(2), "title": "保存" });
    let key = [("idempotency-key", "no-urls-at-rest")];
    let first = yamada
        .request(Method::POST, "/api/v1/video-calls", Some(body.clone()), &key)
        .await;
    let (clinic, patient) = (
        token_of(&first.body["video"]["clinic_url"]),
        token_of(&first.body["video"]["patient_url"]),
    );
    let rows: Vec<(String,)> = sqlx::query_as("SELECT response_body FROM idempotency_keys")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let saved = &rows[0].0;
    assert!(saved.contains(&id(&first)), "the answer is saved: {saved}");
    for secret in [
        clinic.as_str(),
        patient.as_str(),
        "/call/",
        "/p/",
        "clinic_url",
        "patient_url",
    ] {
        assert!(!saved.contains(secret), "{secret} is in the saved answer {saved}");
    }
    let replay = yamada
        .request(Method::POST, "/api/v1/video-calls", Some(body), &key)
        .await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.body, first.body, "the replay has the URLs again");
    assert_eq!(replay.headers["etag"], "\"1\"");
}

#[tokio::test]
async fn a_key_whose_first_request_is_still_running_gets_409() {
    use enkaku_api::idempotency::request_hash;
    use enkaku_api::routes::appointments::CreateVideoUrlRequest;
    use enkaku_infra::idempotency::{Claim, KeyOwner};
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let clinic = yamada.clinic_id.parse().unwrap();
    let start_at = chrono::Utc::now() + chrono::Duration::hours(2);
    let request = CreateVideoUrlRequest {
        doctor_id: yamada.staff_id.parse().unwrap(),
        start_at: Some(start_at),
        start_now: false,
        title: None,
    };
    // Claim the key exactly as a request still in flight holds it...
    let hash = request_hash("/api/v1/video-calls", &request).unwrap();
    let in_flight = enkaku_domain::ids::AppointmentId(uuid::Uuid::now_v7());
    let owner = KeyOwner {
        clinic,
        staff: yamada.staff_id.parse().unwrap(),
    };
    let claim = app
        .state
        .idempotency
        .claim(owner, "busy-key", &hash, in_flight, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(claim, Claim::Fresh(in_flight));
    // ...then retry it over HTTP.
    let body = serde_json::to_value(&request).unwrap();
    let retry = yamada
        .request(
            Method::POST,
            "/api/v1/video-calls",
            Some(body),
            &[("idempotency-key", "busy-key")],
        )
        .await;
    retry.assert_problem(409, "idempotency_key_in_use");
    assert_eq!(app.appended(), 0, "the retry appended nothing");
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_problems() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let raw = |body: Vec<u8>| {
        app.http
            .post(format!("{}/api/v1/video-calls", app.base))
            .bearer_auth(&yamada.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let broken = raw(b"{\"doctor_id\": ".to_vec()).await.unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    assert_eq!(broken.headers()["content-type"], "application/problem+json");
    let huge = raw(vec![b' '; 2 * 1024 * 1024]).await.unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(huge.headers()["content-type"], "application/problem+json");
    // Also where the handler never reads a body.
    let cancel = app
        .http
        .post(format!(
            "{}/api/v1/appointments/{}/cancel",
            app.base,
            uuid::Uuid::now_v7()
        ))
        .bearer_auth(&yamada.token)
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(cancel.headers()["content-type"], "application/problem+json");
    let unknown = yamada
        .post(
            "/api/v1/video-calls",
            json!({ "doctor_id": yamada.staff_id, "start_now": true, "colour": "red" }),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    yamada
        .get("/api/v1/appointments/not-a-uuid")
        .await
        .assert_problem(404, "not_found");
    yamada
        .get("/api/v1/nowhere")
        .await
        .assert_problem(404, "not_found");
    yamada
        .request(Method::DELETE, "/api/v1/me", None, &[])
        .await
        .assert_problem(405, "method_not_allowed");
    assert_eq!(app.appended(), 0);
}

#[tokio::test]
async fn login_and_patient_links_are_rate_limited_per_client_but_not_for_a_person() {
    let app = app().await;
    // Each try at another address, so only the per-address limit is in play (one account's
    // own budget is `login_failures_are_budgeted_per_account_but_a_known_device_still_gets_in`).
    let attempt = |n: usize| {
        app.http
            .post(format!("{}/api/v1/login", app.base))
            .json(&json!({ "email": format!("guess{n}@demo.enkaku.test"), "password": "guess" }))
            .send()
    };
    for n in 0..30 {
        assert_eq!(
            attempt(n).await.unwrap().status(),
            StatusCode::UNAUTHORIZED,
            "attempt {n} was limited"
        );
    }
    let mut limited = 0;
    for n in 30..70 {
        let response = attempt(n).await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(response.headers()["content-type"], "application/problem+json");
            let retry_after: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&retry_after), "come back in {retry_after} s");
            limited += 1;
        }
    }
    assert!(limited >= 30, "a brute-force run is limited ({limited} of 40)");

    let mut link_limited = 0;
    for n in 0..200 {
        let reply = public_get(&app, "/api/v1/patient-links/guess").await;
        if n < 30 {
            assert_eq!(reply.status, StatusCode::NOT_FOUND);
        }
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            link_limited += 1;
        }
    }
    assert!(
        link_limited > 100,
        "token guessing is limited ({link_limited} of 200)"
    );
}

/// A client from loopback address `127.0.0.<n>`, so the server sees another address.
fn from_address(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, n]))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// POST a login for `email`, sending `device` as the device cookie if given.
async fn try_login(
    http: &reqwest::Client,
    app: &TestApp,
    email: &str,
    password: &str,
    device: Option<&str>,
) -> Reply {
    let mut request = http
        .post(format!("{}/api/v1/login", app.base))
        .json(&json!({ "email": email, "password": password }));
    if let Some(device) = device {
        request = request.header("cookie", format!("enkaku_device={device}"));
    }
    let response = request.send().await.unwrap();
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.json().await.unwrap_or(Value::Null),
    }
}

/// The device cookie a successful login set, after checking its attributes.
fn device_cookie(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let cookie = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("enkaku_device="))
        .expect("a device cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/api/v1/login", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    cookie["enkaku_device=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[track_caller]
fn assert_retry_after(reply: &Reply, code: &str) {
    reply.assert_problem(429, code);
    let seconds: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&seconds), "come back in {seconds} s");
}

#[tokio::test]
async fn login_failures_are_budgeted_per_account_but_a_known_device_still_gets_in() {
    use enkaku_api::login::failures::FREE_FAILURES;
    let app = app().await;
    // The real person signs in once from 127.0.0.10: their browser becomes a known device.
    let home = from_address(10);
    let yamada_device = device_cookie(&try_login(&home, &app, YAMADA, enkaku_tests::PASSWORD, None).await);
    let sato_device =
        device_cookie(&try_login(&from_address(11), &app, SATO, enkaku_tests::PASSWORD, None).await);

    // Ten addresses guess at the account together, four tries each.
    let guesses = futures::future::join_all((20..30).map(|n| {
        let app = &app;
        async move {
            let http = from_address(n);
            let mut replies = Vec::new();
            for _ in 0..4 {
                replies.push(try_login(&http, app, YAMADA, "guess", None).await);
            }
            replies
        }
    }))
    .await;
    let replies: Vec<Reply> = guesses.into_iter().flatten().collect();
    let checked = replies
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    let locked: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(checked + locked.len(), 40, "only 401 and 429");
    // The free failures and one more, which starts the first wait (30 s, longer than this
    // test runs).
    assert_eq!(checked, FREE_FAILURES as usize + 1, "guesses checked");
    for reply in &locked {
        assert_retry_after(reply, "too_many_failures");
    }

    // An unknown address is treated alike: same budget, same answers.
    for _ in 0..=FREE_FAILURES {
        let reply = try_login(&from_address(31), &app, "nobody@demo.enkaku.test", "guess", None).await;
        reply.assert_problem(401, "invalid_credentials");
    }
    assert_retry_after(
        &try_login(&from_address(32), &app, "nobody@demo.enkaku.test", "guess", None).await,
        "too_many_failures",
    );

    // The attacker also uses the person's own address until its limit is spent.
    let shared = from_address(10);
    let mut last = try_login(&shared, &app, YAMADA, "guess", None).await;
    for _ in 0..40 {
        last = try_login(&shared, &app, YAMADA, "guess", None).await;
    }
    assert_retry_after(&last, "rate_limited");

    // Through all this, the person's known device gets in, from the shared address.
    let again = try_login(&home, &app, YAMADA, enkaku_tests::PASSWORD, Some(&yamada_device)).await;
    assert_eq!(device_cookie(&again), yamada_device, "the same device");
    // Its own mistakes count against its own budget only.
    try_login(&home, &app, YAMADA, "typo", Some(&yamada_device))
        .await
        .assert_problem(401, "invalid_credentials");

    // Another account's device cookie, or a forged one, does not help.
    let mut forged = yamada_device.clone().into_bytes();
    forged[3] = if forged[3] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for cookie in [sato_device.as_str(), forged.as_str(), "junk"] {
        let reply = try_login(
            &from_address(40),
            &app,
            YAMADA,
            enkaku_tests::PASSWORD,
            Some(cookie),
        )
        .await;
        // Refused like any stranger: by the account's budget, or by the whole server's
        // once this test's own attempts have used up the global burst.
        let code = reply.body["code"].as_str().unwrap_or_default().to_owned();
        assert!(
            ["too_many_failures", "too_many_logins"].contains(&code.as_str()),
            "{code}"
        );
        assert_retry_after(&reply, &code);
    }
}

#[tokio::test]
async fn cookie_sessions_are_hardened_and_need_the_csrf_token_to_change_things() {
    let app = app().await;
    let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let login = browser
        .post(format!("{}/api/v1/login", app.base))
        .json(&json!({ "email": YAMADA, "password": enkaku_tests::PASSWORD }))
        .send()
        .await
        .unwrap();
    let cookies: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("enkaku_session="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    let body: Value = login.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let staff_id = body["staff"]["id"].as_str().unwrap().to_owned();

    let me = browser
        .get(format!("{}/api/v1/me", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK, "reads work with the cookie alone");
    let create = json!({ "doctor_id": staff_id, "start_now": true });
    let forged = browser
        .post(format!("{}/api/v1/video-calls", app.base))
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let genuine = browser
        .post(format!("{}/api/v1/video-calls", app.base))
        .header("x-csrf-token", csrf)
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(genuine.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn responses_carry_security_headers_and_the_openapi_document_lists_the_contract() {
    let app = app().await;
    let response = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let h = response.headers();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert!(
        !h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("unsafe-inline")
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(h.contains_key("x-request-id"));

    let doc: Value = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/healthz",
        "/api/v1/login",
        "/api/v1/me",
        "/api/v1/doctors",
        "/api/v1/menus",
        "/api/v1/schedule",
        "/api/v1/reception",
        "/api/v1/appointments",
        "/api/v1/video-calls",
        "/api/v1/appointments/{id}",
        "/api/v1/appointments/{id}/send-url",
        "/api/v1/appointments/{id}/resend-url",
        "/api/v1/appointments/{id}/cancel",
        "/api/v1/appointments/{id}/start-call",
        "/api/v1/appointments/{id}/end-call",
        "/api/v1/appointments/{id}/events",
        "/api/v1/appointments/{id}/reissue-patient-url",
        "/api/v1/patient-links/{token}",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["paths"]["/api/v1/appointments/{id}"]["patch"].is_object());
    // Error codes are a closed list an integrator can switch on.
    let codes = doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
        .as_array()
        .expect("the problem code is an enum");
    for code in [
        "version_conflict",
        "start_time_immutable",
        "malformed_json",
        "busy",
    ] {
        assert!(codes.contains(&json!(code)), "{code} missing from {codes:?}");
    }
    // How to authenticate is part of the contract; public endpoints say they need nothing.
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert!(doc["security"].as_array().is_some_and(|s| !s.is_empty()));
    assert_eq!(doc["paths"]["/api/v1/login"]["post"]["security"], json!([{}]));
    assert_eq!(
        doc["paths"]["/api/v1/patient-links/{token}"]["get"]["security"],
        json!([{}])
    );

    // Query parameters are in the query; errors are problems, with Retry-After on 503.
    let schedule = &doc["paths"]["/api/v1/schedule"]["get"];
    for parameter in schedule["parameters"].as_array().unwrap() {
        assert_eq!(parameter["in"], "query", "{parameter}");
    }
    let create = &doc["paths"]["/api/v1/appointments"]["post"]["responses"];
    for status in ["400", "401", "413", "415", "422", "503"] {
        let content = create[status]["content"].as_object().unwrap();
        assert_eq!(
            content.keys().collect::<Vec<_>>(),
            ["application/problem+json"],
            "{status}"
        );
    }
    assert!(create["503"]["headers"]["Retry-After"].is_object());
    let patch = &doc["paths"]["/api/v1/appointments/{id}"]["patch"]["responses"];
    for status in ["404", "409", "412", "422"] {
        assert!(patch[status].is_object(), "PATCH documents {status}");
    }
    // Closed sets of values are enums, listed from the domain's own.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["SendUrlRequest"]["properties"]["channel"]["enum"],
        json!(["sms", "email"])
    );
    assert_eq!(
        schemas["EntryView"]["properties"]["status"]["enum"],
        json!(["booked", "in_call", "ended", "cancelled"])
    );
    assert_eq!(
        doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap(),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
}

#[tokio::test]
async fn a_client_request_id_is_kept_apart_from_the_ids_of_the_causal_chain() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let body = json!({ "doctor_id": yamada.staff_id, "start_at": hours_from_now(2) });
    // A client picking a UUID would have chosen the events' correlation and causation ids.
    let chosen = uuid::Uuid::now_v7().to_string();
    let overlong = "x".repeat(65);
    let cases = [
        (chosen.as_str(), Some(chosen.as_str())),
        ("trace-42/abc", Some("trace-42/abc")),
        ("two words", None),
        (overlong.as_str(), None),
    ];
    for (sent, kept) in cases {
        let created = yamada
            .request(
                Method::POST,
                "/api/v1/video-calls",
                Some(body.clone()),
                &[("x-request-id", sent)],
            )
            .await;
        let server_id = created.headers["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(server_id, sent, "the response names the server's id");
        let history = yamada
            .get(&format!("/api/v1/appointments/{}/events", id(&created)))
            .await;
        let metadata = &history.body["items"][0]["metadata"];
        assert_eq!(metadata["correlation_id"], server_id.as_str(), "{metadata}");
        assert_eq!(metadata["causation_id"], server_id.as_str());
        match kept {
            Some(kept) => assert_eq!(metadata["client_request_id"], kept),
            None => assert!(metadata.get("client_request_id").is_none(), "{metadata}"),
        }
    }
}

#[tokio::test]
async fn twilio_callbacks_without_a_signature_are_refused_and_are_off_without_an_auth_token() {
    let app = app().await;
    let callback = |signature: Option<&str>| {
        let request = app
            .http
            .post(format!(
                "{}/webhooks/twilio/status?clinic={nil}&appointment={nil}&delivery={nil}",
                app.base,
                nil = uuid::Uuid::nil()
            ))
            .form(&[("MessageSid", "SM1"), ("MessageStatus", "delivered")]);
        match signature {
            Some(signature) => request.header("X-Twilio-Signature", signature),
            None => request,
        }
        .send()
    };
    let unsigned = callback(None).await.unwrap();
    assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        unsigned.json::<Value>().await.unwrap()["code"],
        "invalid_signature"
    );
    // The embedded default has no auth token: nothing to check a signature against.
    let signed = callback(Some("c2lnbmVk")).await.unwrap();
    assert_eq!(signed.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        health(&app.http, &app.base).await["channels"],
        json!({ "sms": "outbox", "email": "outbox", "sms_status_callbacks": false })
    );
}

#[tokio::test]
async fn hsts_is_sent_when_the_public_url_is_https_and_only_then() {
    let plain = app().await;
    let response = plain
        .http
        .get(format!("{}/livez", plain.base))
        .send()
        .await
        .unwrap();
    assert!(!response.headers().contains_key("strict-transport-security"));

    let store = enkaku_tests::TestStore::new(Backend::Sqlite).await;
    let mut config = store.config(([127, 0, 0, 1], 0).into());
    config.public_url = Some("https://clinic.example.jp".into());
    let https = TestApp::spawn_with(store, config).await;
    for path in ["/livez", "/api/v1/me", "/login"] {
        let response = https
            .http
            .get(format!("{}{path}", https.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=63072000",
            "{path}"
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_its_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let store = enkaku_tests::TestStore::new(Backend::Sqlite).await;
    let mut config = store.config(([127, 0, 0, 1], 0).into());
    let dir = store.dir.path().join("data");
    config.data_dir = dir.clone();
    let app = TestApp::spawn_with(store, config).await;
    app.login(YAMADA).await; // a write, so the -wal and -shm files exist
    let mode = |name: &str| {
        std::fs::metadata(dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700);
    for file in ["enkaku.db", "enkaku.db-wal", "enkaku.db-shm", "link-secret.key"] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
}

/// The main flows once more, on PostgreSQL.
#[tokio::test]
async fn flows_on_postgres() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let yamada = app.login(YAMADA).await;
    let start = hours_from_now(0);
    let booking = id(&yamada.book(&start, "一般内科", "online", "山田 花子").await);
    let video = id(&yamada.create_video_url(&start, "さくら苑").await);
    let sent = yamada
        .post(
            &format!("/api/v1/appointments/{booking}/send-url"),
            json!({ "channel": "sms", "destination": "080-1111-2222" }),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    assert_eq!(
        delivered(&yamada, &booking).await["video"]["delivery"]["status"],
        "kept"
    );
    yamada
        .post(&format!("/api/v1/appointments/{video}/start-call"), json!({}))
        .await;
    yamada
        .post(&format!("/api/v1/appointments/{video}/end-call"), json!({}))
        .await;
    app.projected().await;
    let date = tokyo_date(&start);
    let day = schedule(&yamada, &date).await;
    assert!(entry(&day, &booking).is_some());
    assert_eq!(entry(&day, &video).unwrap()["status"], "ended");
    let list = reception(&yamada, &date).await;
    assert!(entry(&list, &booking).is_some() && entry(&list, &video).is_none());
    let suzuki = app.login(SUZUKI).await;
    suzuki
        .get(&format!("/api/v1/appointments/{booking}"))
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn an_unreadable_history_does_not_hold_up_other_deliveries() {
    use enkaku_commands::ports::ExpectedVersion;
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    // A stream written by a future build: its creation event is of a schema this build cannot read.
    let broken = uuid::Uuid::now_v7();
    let clinic = yamada.clinic_id.parse().unwrap();
    let envelope = |event_type: &str, schema_version: u32, data: Value| {
        enkaku_tests::event_as_written(clinic, event_type, schema_version, data)
    };
    let request = json!({ "delivery_id": uuid::Uuid::now_v7(), "channel": "sms", "destination": "+819012345678",
                          "resend": false, "requested_at": chrono::Utc::now() });
    app.state
        .store
        .append(
            &format!("appointment-{broken}"),
            ExpectedVersion::NoStream,
            vec![
                envelope("VideoUrlCreated", 99, json!({})),
                envelope("UrlDeliveryRequested", 1, request),
            ],
        )
        .await
        .unwrap();
    yamada
        .get(&format!("/api/v1/appointments/{broken}"))
        .await
        .assert_problem(500, "unreadable_history");

    let fine = id(&yamada.create_video_url(&hours_from_now(1), "").await);
    let sent = yamada
        .post(
            &format!("/api/v1/appointments/{fine}/send-url"),
            json!({ "channel": "email", "destination": "a@example.jp" }),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    assert_eq!(
        delivered(&yamada, &fine).await["video"]["delivery"]["status"],
        "kept"
    );
}

// ---------------------------------------------------------------------------------------------
// What gets accepted: names, start times, SMS countries, sends per hour, paged lists
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn names_with_bidi_controls_are_refused_and_invisible_characters_stripped() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let start = hours_from_now(1);
    let reply = yamada
        .book(&start, "一般内科", "online", "山田\u{202E}子花")
        .await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["field"], "patient_name");
    let reply = yamada.create_video_url(&start, "さくら\u{2066}苑").await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["field"], "title");
    assert_eq!(app.appended(), 0, "nothing was appended");

    let booked = yamada
        .book(&start, "一般内科", "online", "\u{FEFF}山田\u{200B}\u{3000}花子")
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    assert_eq!(booked.body["patient_name"], "山田\u{3000}花子");
}

#[tokio::test]
async fn a_leap_second_start_is_refused_on_both_creation_flows() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let leap = "2030-12-01T10:14:60+09:00";
    for reply in [
        yamada.create_video_url(leap, "さくら苑").await,
        yamada.book(leap, "一般内科", "online", "山田 花子").await,
    ] {
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.body["field"], "start_at", "{}", reply.body);
    }
    assert_eq!(app.appended(), 0, "nothing was appended");
}

#[tokio::test]
async fn sms_goes_only_to_configured_countries_and_the_check_agrees_with_sending() {
    let uk = json!({ "channel": "sms", "destination": "+44 7400 123456" });
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let appointment = id(&yamada.create_video_url(&hours_from_now(1), "さくら苑").await);
    let check = yamada.post("/api/v1/destinations/check", uk.clone()).await;
    let send = yamada
        .post(
            &format!("/api/v1/appointments/{appointment}/send-url"),
            uk.clone(),
        )
        .await;
    for reply in [&check, &send] {
        reply.assert_problem(422, "sms_country_not_allowed");
        assert_eq!(reply.body["field"], "destination");
        assert!(
            reply.body["detail"].as_str().unwrap().contains("JP"),
            "{}",
            reply.body
        );
        assert!(
            !reply.body["detail"].as_str().unwrap().contains("7400"),
            "no number in errors"
        );
    }
    let japan = json!({ "channel": "sms", "destination": "090-1234-5678" });
    assert_eq!(
        yamada.post("/api/v1/destinations/check", japan).await.status,
        StatusCode::OK
    );
    app.stop().await;

    let store = enkaku_tests::TestStore::new(Backend::Sqlite).await;
    let mut config = store.config(([127, 0, 0, 1], 0).into());
    config.send_policy.sms_countries = "JP,GB".parse().unwrap();
    let app = TestApp::spawn_with(store, config).await;
    let yamada = app.login(YAMADA).await;
    let appointment = id(&yamada.create_video_url(&hours_from_now(1), "さくら苑").await);
    let check = yamada.post("/api/v1/destinations/check", uk.clone()).await;
    assert_eq!(check.status, StatusCode::OK, "{}", check.body);
    assert_eq!(check.body["destination"], "+447400123456");
    let send = yamada
        .post(&format!("/api/v1/appointments/{appointment}/send-url"), uk)
        .await;
    assert_eq!(send.status, StatusCode::ACCEPTED, "{}", send.body);
}

#[tokio::test]
async fn resends_are_limited_per_appointment_and_hour_with_retry_after() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let appointment = id(&yamada.create_video_url(&hours_from_now(1), "さくら苑").await);
    let other = id(&yamada.create_video_url(&hours_from_now(1), "ひまわり荘").await);
    let to = json!({ "channel": "email", "destination": "care@example.jp" });
    let first = yamada
        .post(
            &format!("/api/v1/appointments/{appointment}/send-url"),
            to.clone(),
        )
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    let resend = format!("/api/v1/appointments/{appointment}/resend-url");
    for _ in 0..4 {
        let reply = yamada.post(&resend, to.clone()).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    }
    let limited = yamada.post(&resend, to.clone()).await;
    limited.assert_problem(429, "send_limited");
    let retry_after: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (3500..=3600).contains(&retry_after),
        "the first send leaves the hour in about an hour: {retry_after}"
    );
    // Nothing was requested (the delivery worker still records the earlier sends' outcomes).
    let requested = yamada
        .get(&format!("/api/v1/appointments/{appointment}/events"))
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "UrlDeliveryRequested")
        .count();
    assert_eq!(requested, 5, "only the five sends the hour allows");
    let elsewhere = yamada
        .post(&format!("/api/v1/appointments/{other}/send-url"), to)
        .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::ACCEPTED,
        "the limit is per appointment"
    );
    let openapi = yamada.get("/api/v1/openapi.json").await.body;
    for path in ["send-url", "resend-url"] {
        let answer =
            &openapi["paths"][format!("/api/v1/appointments/{{id}}/{path}")]["post"]["responses"]["429"];
        assert!(answer["headers"]["Retry-After"].is_object(), "{path}: {answer}");
    }
}

/// Every page of `path` (which has a query already) with `limit`, following `next_cursor`.
async fn every_page(staff: &Staff, path: &str, limit: u32) -> Vec<Value> {
    let mut pages = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{path}&limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let reply = staff.get(&url).await;
        assert_eq!(reply.status, StatusCode::OK, "{url}: {}", reply.body);
        cursor = reply.body["next_cursor"].as_str().map(str::to_owned);
        assert!(
            cursor.is_some() || reply.body["next_cursor"].is_null(),
            "next_cursor is a string or null: {}",
            reply.body["next_cursor"]
        );
        pages.push(reply.body);
        if cursor.is_none() {
            return pages;
        }
    }
}

#[tokio::test]
async fn schedule_and_reception_come_in_pages_holding_every_entry_exactly_once() {
    let app = app().await;
    let yamada = app.login(YAMADA).await;
    let menu = yamada.menu("一般内科").await;
    // 250 bookings over ten start times: ties on the start are ordered by id.
    for i in 0..250 {
        let start = format!(
            "2030-06-03T{:02}:{:02}:00+09:00",
            9 + (i % 10) / 4,
            (i % 10) % 4 * 15
        );
        let reply = yamada
            .post(
                "/api/v1/appointments",
                json!({
                    "doctor_id": yamada.staff_id, "start_at": start, "patient_name": format!("患者{i}"),
                    "menu_id": menu["id"], "visit_type": "revisit", "mode": "in_person"
                }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    app.projected().await;
    let schedule_path = format!("/api/v1/schedule?date=2030-06-03&doctor_id={}", yamada.staff_id);
    for path in [schedule_path.as_str(), "/api/v1/reception?date=2030-06-03"] {
        let pages = every_page(&yamada, path, 100).await;
        let sizes: Vec<usize> = pages
            .iter()
            .map(|p| p["entries"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [100, 100, 50], "{path}");
        let keys: Vec<(i64, String)> = pages
            .iter()
            .flat_map(|p| p["entries"].as_array().unwrap().clone())
            .map(|e| {
                let start = chrono::DateTime::parse_from_rfc3339(e["start_at"].as_str().unwrap()).unwrap();
                (
                    start.timestamp(),
                    e["appointment_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys, sorted, "{path}: in (start, id) order, each exactly once");
        assert_eq!(keys.len(), 250);
        if path.starts_with("/api/v1/schedule") {
            let grid = &pages[0]["slots"];
            assert!(
                pages.iter().all(|p| p["slots"] == *grid),
                "every page has the whole grid"
            );
        }
    }
    let first = yamada.get(&schedule_path).await;
    assert_eq!(
        first.body["entries"].as_array().unwrap().len(),
        100,
        "the default page"
    );
    assert!(first.body["next_cursor"].is_string());

    for bad in ["nonsense", "bm90LWEtY3Vyc29y", "%00"] {
        let reply = yamada.get(&format!("{schedule_path}&cursor={bad}")).await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.body["field"], "cursor", "{bad}");
        let reply = yamada
            .get(&format!("/api/v1/reception?date=2030-06-03&cursor={bad}"))
            .await;
        reply.assert_problem(422, "validation_failed");
    }
    for bad in ["0", "501", "-1", "x"] {
        let reply = yamada.get(&format!("{schedule_path}&limit={bad}")).await;
        reply.assert_problem(422, "validation_failed");
    }
    let openapi = yamada.get("/api/v1/openapi.json").await.body;
    for path in ["/api/v1/schedule", "/api/v1/reception"] {
        let params = openapi["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .clone();
        for name in ["limit", "cursor"] {
            let param = params
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{path} {name}"));
            assert_eq!(param["in"], "query", "{path} {name}");
        }
    }
    let empty = every_page(&yamada, "/api/v1/reception?date=2030-06-04", 100).await;
    assert_eq!(empty.len(), 1);
    assert_eq!(empty[0]["entries"], json!([]));
}
