//! Clinic administration through the HTTP API (SPEC §8), on SQLite and PostgreSQL: staff are
//! invited, changed and deactivated, the clinic's profile is edited, and every change is an
//! event with its administrator as actor. Non-admins get 403, another clinic's staff 404.

use enkaku_domain::envelope::{Actor, StoredEvent};
use enkaku_domain::setup;
use enkaku_tests::{Backend, Reply, SATO, SUZUKI, Staff, TestApp, TestStore, UKETSUKE, YAMADA};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn patch(staff: &Staff, path: &str, body: Value, if_match: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = if_match.map(|v| ("If-Match", v)).into_iter().collect();
    staff.request(Method::PATCH, path, Some(body), &headers).await
}

/// Invite `email` as `role` and choose their password through the set-up URL; returns the
/// invitation's answer.
async fn invite_and_set_up(app: &TestApp, admin: &Staff, email: &str, role: &str) -> Value {
    let invited = admin
        .post(
            "/api/v1/admin/staff",
            json!({ "name": "新人 医師", "email": email, "role": role }),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    assert_eq!(invited.headers["cache-control"], "no-store");
    let url = invited.body["setup_url"].as_str().expect("setup_url");
    let token = url.rsplit('/').next().unwrap();
    let link = format!("{}/api/v1/setup-links/{token}", app.base);
    let shown: Value = app.http.get(&link).send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["email"], email);
    assert_eq!(shown["clinic_name"], "デモクリニック");
    let set = app
        .http
        .post(&link)
        .json(&json!({ "password": enkaku_tests::PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    invited.body
}

async fn login_status(app: &TestApp, email: &str) -> StatusCode {
    app.http
        .post(format!("{}/api/v1/login", app.base))
        .json(&json!({ "email": email, "password": enkaku_tests::PASSWORD }))
        .send()
        .await
        .unwrap()
        .status()
}

fn emails(list: &Reply) -> Vec<String> {
    list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| s["email"].as_str().unwrap().to_owned())
        .collect()
}

async fn an_invited_doctor_sets_a_password_signs_in_and_can_be_booked_for(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let before = yamada.get("/api/v1/admin/staff").await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);
    assert_eq!(
        emails(&before),
        [YAMADA, SATO, UKETSUKE, "kansa@demo.enkaku.test"]
    );

    let invited = invite_and_set_up(&app, &yamada, "Shinjin@Example.JP", "doctor").await;
    assert_eq!(invited["role"], "doctor");
    assert_eq!(invited["admin"], false);
    assert_eq!(invited["active"], true);
    // Sign-in takes the address in any case.
    let doctor = app.login("shinjin@example.jp").await;
    assert_eq!(doctor.staff_id, invited["id"].as_str().unwrap());
    assert!(yamada.doctor_ids().await.contains(&doctor.staff_id));

    // The invitation is an event of the clinic's stream, by yamada.
    let stream = format!("clinic-{}", yamada.clinic_id);
    let events = app.state.store.read_stream(&stream).await.unwrap();
    let last = events.last().expect("clinic events");
    let decoded = setup::Event::decode(&last.event_type, last.schema_version, &last.data).unwrap();
    assert!(matches!(decoded, setup::Event::StaffInvited(_)), "{decoded:?}");
    assert_eq!(
        last.metadata.actor,
        Actor::Staff(yamada.staff_id.parse().unwrap())
    );
    assert!(
        !serde_json::to_string(&events)
            .unwrap()
            .contains(invited["setup_url"].as_str().unwrap().rsplit('/').next().unwrap()),
        "the set-up token never enters an event"
    );
}

async fn deactivation_ends_sessions_at_once_and_reactivation_lets_them_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let sato = app.login(SATO).await;
    assert_eq!(sato.get("/api/v1/me").await.status, StatusCode::OK);
    let path = format!("/api/v1/admin/staff/{}", sato.staff_id);

    let off = patch(&yamada, &path, json!({ "active": false }), None).await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    assert_eq!(off.body["active"], false);
    sato.get("/api/v1/me").await.assert_problem(401, "unauthorized");
    assert_eq!(login_status(&app, SATO).await, StatusCode::UNAUTHORIZED);
    assert!(!yamada.doctor_ids().await.contains(&sato.staff_id));
    // Their appointments stay; nobody can be booked for them meanwhile.
    let refused = yamada
        .post(
            "/api/v1/video-calls",
            json!({ "doctor_id": sato.staff_id, "start_now": true }),
        )
        .await;
    refused.assert_problem(422, "unknown_doctor");
    // A set-up URL for them waits until they are back.
    yamada
        .post(&format!("{path}/setup-url"), json!({}))
        .await
        .assert_problem(409, "staff_inactive");

    let on = patch(&yamada, &path, json!({ "active": true }), None).await;
    assert_eq!(on.body["active"], true, "{}", on.body);
    assert_eq!(login_status(&app, SATO).await, StatusCode::OK);
    assert!(yamada.doctor_ids().await.contains(&sato.staff_id));
}

async fn names_roles_and_admin_flags_change_and_the_last_admin_stays(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let list = yamada.get("/api/v1/admin/staff").await;
    let etag = list.headers["etag"].to_str().unwrap().to_owned();
    let sato_path = format!("/api/v1/admin/staff/{}", app.login(SATO).await.staff_id);

    let changed = patch(
        &yamada,
        &sato_path,
        json!({ "name": "佐藤 花", "admin": true }),
        Some(&etag),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["name"], "佐藤 花");
    assert_eq!(changed.body["admin"], true);
    // The list's version has moved on: the old one is stale.
    patch(&yamada, &sato_path, json!({ "name": "佐藤" }), Some(&etag))
        .await
        .assert_problem(412, "version_conflict");

    // sato is an admin now, so yamada may step down; then sato is the last one.
    let yamada_path = format!("/api/v1/admin/staff/{}", yamada.staff_id);
    let stepped_down = patch(&yamada, &yamada_path, json!({ "admin": false }), None).await;
    assert_eq!(stepped_down.body["admin"], false, "{}", stepped_down.body);
    yamada
        .get("/api/v1/admin/staff")
        .await
        .assert_problem(403, "forbidden");
    let sato = app.login(SATO).await;
    patch(&sato, &sato_path, json!({ "admin": false }), None)
        .await
        .assert_problem(409, "last_admin");
    patch(&sato, &sato_path, json!({ "active": false }), None)
        .await
        .assert_problem(409, "last_admin");

    // A doctor made reception leaves the doctor selector.
    let reception = patch(&sato, &yamada_path, json!({ "role": "reception" }), None).await;
    assert_eq!(reception.body["role"], "reception", "{}", reception.body);
    assert!(!sato.doctor_ids().await.contains(&yamada.staff_id));
}

async fn bad_input_and_taken_addresses_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let before = yamada.get("/api/v1/admin/staff").await;
    for (body, status, code) in [
        (
            json!({ "name": "x", "email": SUZUKI, "role": "doctor" }),
            409,
            "email_taken",
        ),
        (
            json!({ "name": "x", "email": SATO.to_uppercase(), "role": "doctor" }),
            409,
            "email_taken",
        ),
        (
            json!({ "name": "", "email": "a@example.jp", "role": "doctor" }),
            422,
            "validation_failed",
        ),
        (
            json!({ "name": "x", "email": "not an address", "role": "doctor" }),
            422,
            "validation_failed",
        ),
        (
            json!({ "name": "x", "email": "a@example.jp", "role": "admin" }),
            422,
            "validation_failed",
        ),
        (
            json!({ "name": "x", "email": "a@example.jp", "role": "doctor", "password": "p" }),
            422,
            "validation_failed",
        ),
    ] {
        yamada
            .post("/api/v1/admin/staff", body.clone())
            .await
            .assert_problem(status, code);
    }
    let after = yamada.get("/api/v1/admin/staff").await;
    assert_eq!(before.body, after.body);
    assert_eq!(before.headers["etag"], after.headers["etag"]);
    // The address refused as taken is still free to use once it is not.
    let fresh = invite_and_set_up(&app, &yamada, "a@example.jp", "reception").await;
    assert_eq!(fresh["role"], "reception");
}

async fn only_admins_of_the_same_clinic_administer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sato = app.login(SATO).await;
    let uketsuke = app.login(UKETSUKE).await;
    let yamada = app.login(YAMADA).await;
    let suzuki = app.login(SUZUKI).await;
    let sato_path = format!("/api/v1/admin/staff/{}", sato.staff_id);
    for staff in [&sato, &uketsuke] {
        for (method, path, body) in [
            (Method::GET, "/api/v1/admin/staff", None),
            (
                Method::POST,
                "/api/v1/admin/staff",
                Some(json!({ "name": "x", "email": "x@example.jp", "role": "doctor" })),
            ),
            (Method::PATCH, sato_path.as_str(), Some(json!({ "admin": true }))),
            (Method::GET, "/api/v1/admin/clinic", None),
            (
                Method::PATCH,
                "/api/v1/admin/clinic",
                Some(json!({ "name": "乗っ取り" })),
            ),
        ] {
            staff
                .request(method, path, body, &[])
                .await
                .assert_problem(403, "forbidden");
        }
    }
    // Another clinic's administrator does not find デモクリニック's staff.
    patch(&suzuki, &sato_path, json!({ "active": false }), None)
        .await
        .assert_problem(404, "not_found");
    suzuki
        .post(&format!("{sato_path}/setup-url"), json!({}))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(sato.get("/api/v1/me").await.status, StatusCode::OK);
    let names: Vec<Value> = suzuki.get("/api/v1/admin/staff").await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["email"].clone())
        .collect();
    assert_eq!(names, [json!(SUZUKI)]);
    assert_eq!(
        yamada.get("/api/v1/admin/clinic").await.body["name"],
        "デモクリニック"
    );
}

async fn the_clinic_profile_changes_and_a_new_time_zone_keeps_every_instant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let start_at = enkaku_tests::hours_from_now(30);
    let booked = yamada.create_video_url(&start_at, "時差の確認").await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let appointment = format!("/api/v1/appointments/{}", booked.body["id"].as_str().unwrap());
    let instant = |reply: &Reply| {
        chrono::DateTime::parse_from_rfc3339(reply.body["start_at"].as_str().unwrap()).unwrap()
    };
    let before = yamada.get(&appointment).await;

    let profile = yamada.get("/api/v1/admin/clinic").await;
    assert_eq!(profile.body["time_zone"], "Asia/Tokyo", "{}", profile.body);
    assert_eq!(profile.body["phone"], "03-1234-5678");
    let etag = profile.headers["etag"].to_str().unwrap().to_owned();
    let changed = patch(
        &yamada,
        "/api/v1/admin/clinic",
        json!({ "name": "デモ内科クリニック", "phone": "０３－９８７６－５４３２", "time_zone": "Europe/London" }),
        Some(&etag),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["phone"], "03-9876-5432");
    patch(
        &yamada,
        "/api/v1/admin/clinic",
        json!({ "name": "x" }),
        Some(&etag),
    )
    .await
    .assert_problem(412, "version_conflict");
    patch(
        &yamada,
        "/api/v1/admin/clinic",
        json!({ "time_zone": "Mars/Olympus" }),
        None,
    )
    .await
    .assert_problem(422, "validation_failed");

    let me = yamada.get("/api/v1/me").await;
    assert_eq!(me.body["clinic"]["name"], "デモ内科クリニック");
    assert_eq!(me.body["clinic"]["time_zone"], "Europe/London");
    let after = yamada.get(&appointment).await;
    assert_eq!(instant(&after), instant(&before));
    assert_eq!(
        instant(&after).offset().local_minus_utc(),
        0,
        "{}",
        after.body["start_at"]
    );

    let cleared = patch(&yamada, "/api/v1/admin/clinic", json!({ "phone": null }), None).await;
    assert_eq!(cleared.body["phone"], Value::Null, "{}", cleared.body);
}

/// Set-up changes (staff, profile, menus, hours, closures) replayed from the log give the
/// same directory.
async fn the_directory_is_rebuilt_the_same_from_the_log(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    invite_and_set_up(&app, &yamada, "replay@example.jp", "doctor").await;
    let sato = app.login(SATO).await;
    patch(
        &yamada,
        &format!("/api/v1/admin/staff/{}", sato.staff_id),
        json!({ "active": false, "name": "佐藤 花" }),
        None,
    )
    .await;
    patch(&yamada, "/api/v1/admin/clinic", json!({ "phone": null }), None).await;
    let menu = yamada
        .post(
            "/api/v1/admin/menus",
            json!({ "name": "再生", "modes": ["online"], "duration_first_min": 20, "duration_revisit_min": 10 }),
        )
        .await;
    let menu_path = format!("/api/v1/admin/menus/{}", menu.body["id"].as_str().unwrap());
    patch(
        &yamada,
        &menu_path,
        json!({ "name": "再生外来", "booking_fee_yen": 500, "active": false }),
        None,
    )
    .await;
    let hours = json!({ "doctor_id": sato.staff_id, "slot_min": 20, "weekdays": { "wed": [{ "start": "13:00", "end": "24:00" }] } });
    let set = yamada
        .request(Method::PUT, "/api/v1/admin/hours", Some(hours), &[])
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    for (date, doctor) in [("2030-06-04", Value::Null), ("2030-06-05", json!(sato.staff_id))] {
        let closure = json!({ "date": date, "doctor_id": doctor, "reason": "再生" });
        assert_eq!(
            yamada.post("/api/v1/admin/closures", closure).await.status,
            StatusCode::CREATED
        );
    }
    let listed = yamada
        .get("/api/v1/admin/closures?from=2030-06-04&to=2030-06-04")
        .await;
    let removed = format!(
        "/api/v1/admin/closures/{}",
        listed.body["items"][0]["id"].as_str().unwrap()
    );
    let gone = yamada.request(Method::DELETE, &removed, None, &[]).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let snapshot = || async {
        let mut rows = Vec::new();
        for query in [
            "SELECT id || name || COALESCE(phone, '-') || time_zone || requires_two_factor || version FROM directory_clinics ORDER BY id",
            "SELECT id || clinic_id || email || name || role || admin || active || joined FROM directory_staff ORDER BY id",
            "SELECT id || clinic_id || name || modes || duration_first_min || duration_revisit_min || booking_fee_yen || active || created || version FROM directory_menus ORDER BY id",
            "SELECT doctor_id || clinic_id || slot_min || weekdays || version FROM directory_hours ORDER BY doctor_id",
            "SELECT id || clinic_id || day || COALESCE(doctor_id, '-') || reason || active || version FROM directory_closures ORDER BY id",
        ] {
            let found: Vec<String> = sqlx::query_scalar(query)
                .fetch_all(&app.state.db.pool)
                .await
                .unwrap();
            rows.push(found);
        }
        rows
    };
    let live = snapshot().await;
    assert_eq!(live[1].len(), 6, "{live:?}");
    assert_eq!(live[2].len(), 5, "{live:?}");
    assert_eq!(live[4].len(), 2, "{live:?}");
    let directory = &app.state.directory_projection;
    directory.reset().await.unwrap();
    assert!(snapshot().await[1].is_empty());
    directory.catch_up(&|_| {}).await.unwrap();
    assert_eq!(snapshot().await, live);
}

enkaku_tests::on_both_backends!(
    an_invited_doctor_sets_a_password_signs_in_and_can_be_booked_for,
    deactivation_ends_sessions_at_once_and_reactivation_lets_them_back,
    names_roles_and_admin_flags_change_and_the_last_admin_stays,
    bad_input_and_taken_addresses_change_nothing,
    only_admins_of_the_same_clinic_administer,
    the_clinic_profile_changes_and_a_new_time_zone_keeps_every_instant,
    the_directory_is_rebuilt_the_same_from_the_log
);

/// Two enkaku nodes on one PostgreSQL: a deactivation on one ends the person's session on the
/// other at its very next request, with no cache in the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deactivation_on_one_node_ends_the_session_on_another() {
    let first = TestApp::spawn(Backend::Postgres).await;
    let second = TestApp::spawn_on(TestStore {
        dir: tempfile::tempdir().unwrap(),
        database_url: first.store.database_url.clone(),
    })
    .await;
    let sato_there = second.login(SATO).await;
    assert_eq!(sato_there.get("/api/v1/me").await.status, StatusCode::OK);
    let yamada_here = first.login(YAMADA).await;
    let off = patch(
        &yamada_here,
        &format!("/api/v1/admin/staff/{}", sato_there.staff_id),
        json!({ "active": false }),
        None,
    )
    .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    sato_there
        .get("/api/v1/me")
        .await
        .assert_problem(401, "unauthorized");
}
