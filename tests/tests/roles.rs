//! Staff roles (SPEC §8) over HTTP, on both backends: what `/me` says of each demo account, an
//! auditor refused every change the OpenAPI document lists (so a new route cannot forget it),
//! only doctors in charge and in the doctor list, only doctors starting, joining and ending
//! calls, and a store seeded before roles existed getting the demo's admins and accounts.

use enkaku_tests::{
    Backend, KANSA, Reply, SATO, SUZUKI, Staff, TestApp, TestStore, UKETSUKE, YAMADA, hours_from_now,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn id(reply: &Reply) -> String {
    assert!(reply.status.is_success(), "{} {}", reply.status, reply.body);
    reply.body["id"].as_str().expect("id").to_owned()
}

/// The token at the end of a capability URL.
fn token_of(url: &Value) -> String {
    url.as_str().expect("url").rsplit('/').next().unwrap().to_owned()
}

async fn me(staff: &Staff) -> Value {
    let reply = staff.get("/api/v1/me").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["staff"].clone()
}

/// Where the event store's log stands: an unchanged head means nothing was recorded.
fn head(app: &TestApp) -> u64 {
    *app.state.store.head().borrow()
}

/// Each demo account's role and admin flag, as `/me` says them (SPEC §8).
async fn assert_demo_roles(app: &TestApp) {
    for (email, role, admin) in [
        (YAMADA, "doctor", true),
        (SATO, "doctor", false),
        (UKETSUKE, "reception", false),
        (KANSA, "auditor", false),
        (SUZUKI, "doctor", true),
    ] {
        let staff = me(&app.login(email).await).await;
        assert_eq!(
            (staff["role"].as_str(), staff["admin"].as_bool()),
            (Some(role), Some(admin)),
            "{email}: {staff}"
        );
    }
}

async fn me_shows_each_demo_account_its_role_and_admin_flag(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_demo_roles(&app).await;
    let doc = app.login(KANSA).await.get("/api/v1/openapi.json").await.body;
    let view = &doc["components"]["schemas"]["StaffView"];
    assert_eq!(view["properties"]["admin"]["type"], "boolean", "{view}");
    assert!(view["required"].as_array().unwrap().contains(&json!("admin")));
}

/// The POSTs every role may send: they change none of the clinic's data (a search, a check)
/// or only the sender's own session and sign-in. Adding to this list is a decision about what
/// an auditor may do: the route must take `AnyStaff` (or `AnySession`).
const EVERY_ROLE_MAY: [&str; 7] = [
    "/api/v1/logout",
    "/api/v1/password",
    "/api/v1/two-factor/enrolment",
    "/api/v1/two-factor/enrolment/confirm",
    "/api/v1/two-factor/disable",
    "/api/v1/appointments/search",
    "/api/v1/destinations/check",
];

async fn an_auditor_is_refused_every_change_the_document_lists_and_nothing_changes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let kansa = app.login(KANSA).await;
    let created = yamada.create_video_url(&hours_from_now(0), "監査の確認").await;
    let appointment = id(&created);
    let clinic_token = token_of(&created.body["video"]["clinic_url"]);
    let before = head(&app);

    let doc = kansa.get("/api/v1/openapi.json").await.body;
    let mut refused = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let public = operation["security"] == json!([{}]);
            if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS)
                || public
                || EVERY_ROLE_MAY.contains(&path.as_str())
            {
                continue;
            }
            let concrete = path
                .replace("{id}", &appointment)
                .replace("{token}", &clinic_token);
            assert!(!concrete.contains('{'), "a path parameter to fill in: {path}");
            let reply = kansa
                .request(method.clone(), &concrete, Some(json!({})), &[])
                .await;
            assert_eq!(
                (reply.status, reply.body["code"].as_str()),
                (StatusCode::FORBIDDEN, Some("forbidden")),
                "{method} {path}: {}",
                reply.body
            );
            refused.push(format!("{method} {path}"));
        }
    }
    // The walk reached the changes there are (not an empty document).
    for change in [
        "POST /api/v1/appointments",
        "POST /api/v1/video-calls",
        "PATCH /api/v1/appointments/{id}",
        "POST /api/v1/appointments/{id}/send-url",
        "POST /api/v1/appointments/{id}/resend-url",
        "POST /api/v1/appointments/{id}/cancel",
        "POST /api/v1/appointments/{id}/start-call",
        "POST /api/v1/appointments/{id}/end-call",
        "POST /api/v1/appointments/{id}/reissue-patient-url",
    ] {
        assert!(refused.contains(&change.to_owned()), "{change} in {refused:?}");
    }
    assert_eq!(head(&app), before, "an auditor's requests recorded nothing");
    let unchanged = kansa.get(&format!("/api/v1/appointments/{appointment}")).await;
    assert_eq!(unchanged.status, StatusCode::OK);
    assert_eq!(unchanged.headers["etag"], created.headers["etag"]);

    // What an auditor reads, and the POSTs that change nothing.
    for path in [
        format!("/api/v1/appointments/{appointment}/events"),
        format!("/api/v1/appointments/{appointment}/presence"),
        format!("/api/v1/call-links/{clinic_token}"),
        "/api/v1/doctors".to_owned(),
        "/api/v1/menus".to_owned(),
        "/api/v1/outbox".to_owned(),
        format!(
            "/api/v1/reception?date={}",
            enkaku_tests::tokyo_date(&hours_from_now(0))
        ),
    ] {
        let reply = kansa.get(&path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
    }
    let found = kansa
        .post("/api/v1/appointments/search", json!({ "query": "監査" }))
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    let checked = kansa
        .post(
            "/api/v1/destinations/check",
            json!({ "channel": "sms", "destination": "090-1234-5678" }),
        )
        .await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
    let out = kansa.request(Method::POST, "/api/v1/logout", None, &[]).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(head(&app), before);
}

async fn only_doctors_are_in_charge_and_in_the_doctor_list(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let sato = app.login(SATO).await;
    let uketsuke = app.login(UKETSUKE).await;
    let kansa = app.login(KANSA).await;
    let mut listed = uketsuke.doctor_ids().await;
    listed.sort();
    let mut doctors = vec![yamada.staff_id.clone(), sato.staff_id.clone()];
    doctors.sort();
    assert_eq!(listed, doctors, "only the clinic's doctors");

    let menu = uketsuke.menu("一般内科").await;
    let start = hours_from_now(2);
    let booking = |doctor: &str| {
        json!({
            "doctor_id": doctor, "start_at": start, "patient_name": "受付 確認",
            "menu_id": menu["id"], "visit_type": "first", "mode": "online", "allow_outside_hours": true
        })
    };
    let before = head(&app);
    for not_a_doctor in [&uketsuke.staff_id, &kansa.staff_id] {
        let refused = uketsuke.post("/api/v1/appointments", booking(not_a_doctor)).await;
        refused.assert_problem(422, "unknown_doctor");
        assert_eq!(refused.body["field"], "doctor_id");
        let refused = uketsuke
            .post(
                "/api/v1/video-calls",
                json!({ "doctor_id": not_a_doctor, "start_now": true }),
            )
            .await;
        refused.assert_problem(422, "unknown_doctor");
    }
    assert_eq!(head(&app), before, "nothing was booked");

    // Reception books for a doctor, and cannot hand the appointment to itself.
    let booked = uketsuke
        .post("/api/v1/appointments", booking(&yamada.staff_id))
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let video = id(&uketsuke
        .post(
            "/api/v1/video-calls",
            json!({ "doctor_id": sato.staff_id, "start_now": true }),
        )
        .await);
    let moved = uketsuke
        .request(
            Method::PATCH,
            &format!("/api/v1/appointments/{video}"),
            Some(json!({ "doctor_id": uketsuke.staff_id })),
            &[],
        )
        .await;
    moved.assert_problem(422, "unknown_doctor");
    assert_eq!(moved.body["field"], "doctor_id");
    let still = uketsuke.get(&format!("/api/v1/appointments/{video}")).await;
    assert_eq!(still.body["doctor_id"], sato.staff_id);
}

async fn only_doctors_start_join_and_end_calls(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let sato = app.login(SATO).await;
    let uketsuke = app.login(UKETSUKE).await;
    let created = uketsuke
        .post(
            "/api/v1/video-calls",
            json!({ "doctor_id": yamada.staff_id, "start_now": true }),
        )
        .await;
    let appointment = id(&created);
    let clinic_token = token_of(&created.body["video"]["clinic_url"]);
    let start = format!("/api/v1/appointments/{appointment}/start-call");
    let end = format!("/api/v1/appointments/{appointment}/end-call");
    let media = format!("/api/v1/media/clinic/{clinic_token}");

    // Reception opens the call screen's appointment, but takes no part in the call.
    let opened = uketsuke.get(&format!("/api/v1/call-links/{clinic_token}")).await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
    uketsuke.get(&media).await.assert_problem(403, "forbidden");
    uketsuke
        .post(&start, json!({}))
        .await
        .assert_problem(403, "forbidden");
    // A doctor's plain request gets as far as asking for the WebSocket.
    yamada.get(&media).await.assert_problem(426, "upgrade_required");
    let started = yamada.post(&start, json!({})).await;
    assert_eq!(started.body["status"], "in_call", "{}", started.body);
    uketsuke
        .post(&end, json!({}))
        .await
        .assert_problem(403, "forbidden");
    // Any doctor of the clinic may end it, not only the doctor in charge.
    let ended = sato.post(&end, json!({})).await;
    assert_eq!(ended.body["status"], "ended", "{}", ended.body);
}

/// A store seeded before roles existed (migrations 0001–0004, the three demo doctors, a menu and
/// Monday hours in the old tables) ends up like a fresh one: its set-up recorded as events,
/// yamada and suzuki admins, the reception and auditor accounts added.
async fn a_store_seeded_before_roles_gets_the_demo_admins_and_new_accounts(backend: Backend) {
    let store = TestStore::new(backend).await;
    seed_as_before_roles(&store.database_url()).await;
    let app = TestApp::spawn_on(store).await;
    assert_demo_roles(&app).await;
    // The old menu and hours became events: the menu kept its name, the hours their ranges.
    let yamada = app.login(YAMADA).await;
    assert_eq!(
        yamada.menu("一般内科（旧）").await["id"],
        enkaku_infra::demo::general_menu().to_string()
    );
    let monday = "2030-01-07";
    let schedule = yamada
        .get(&format!(
            "/api/v1/schedule?date={monday}&doctor_id={}",
            yamada.staff_id
        ))
        .await;
    let slots = schedule.body["slots"].as_array().expect("slots");
    assert_eq!(
        slots.len(),
        4 * 4,
        "Monday 08:00–12:00 in 15 minutes: {}",
        schedule.body
    );
    assert!(slots[0]["start_at"].as_str().unwrap().contains("T08:00"));
    // Seeding again finds everything there.
    assert!(
        !enkaku_infra::demo::seed(&app.state.setup, &app.state.credentials)
            .await
            .unwrap()
    );
}

/// The schema of migrations 0001–0004 and the demo's clinics and doctors as seeded then.
async fn seed_as_before_roles(url: &str) {
    use enkaku_infra::demo;
    let earlier = tempfile::tempdir().unwrap();
    let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/migrations");
    for entry in std::fs::read_dir(migrations).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0005" {
            std::fs::copy(&path, earlier.path().join(name)).unwrap();
        }
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::migrate::Migrator::new(earlier.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    for (clinic, name) in [
        (demo::demo_clinic(), "デモクリニック"),
        (demo::sample_clinic(), "サンプル医院"),
    ] {
        sqlx::query(
            "INSERT INTO clinics (id, name, time_zone, slot_minutes) VALUES ($1, $2, 'Asia/Tokyo', 15)",
        )
        .bind(clinic.to_string())
        .bind(name)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO menus (id, clinic_id, name, modes, duration_first_min, duration_revisit_min, booking_fee_yen, sort_order)
         VALUES ($1, $2, '一般内科（旧）', 'in_person,online', 30, 15, 0, 1)",
    )
    .bind(demo::general_menu().to_string())
    .bind(demo::demo_clinic().to_string())
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO clinic_hours (clinic_id, weekday, opens_min, closes_min) VALUES ($1, 0, 480, 720)",
    )
    .bind(demo::demo_clinic().to_string())
    .execute(&pool)
    .await
    .unwrap();
    let hash = enkaku_infra::passwords::hash_password(enkaku_tests::PASSWORD);
    for (staff, clinic, email) in [
        (demo::yamada(), demo::demo_clinic(), YAMADA),
        (demo::sato(), demo::demo_clinic(), SATO),
        (demo::suzuki(), demo::sample_clinic(), SUZUKI),
    ] {
        sqlx::query(
            "INSERT INTO staff (id, clinic_id, email, name, role, password_hash) VALUES ($1, $2, $3, '名前', 'doctor', $4)",
        )
        .bind(staff.to_string())
        .bind(clinic.to_string())
        .bind(email)
        .bind(&hash)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
}

enkaku_tests::on_both_backends!(
    me_shows_each_demo_account_its_role_and_admin_flag,
    an_auditor_is_refused_every_change_the_document_lists_and_nothing_changes,
    only_doctors_are_in_charge_and_in_the_doctor_list,
    only_doctors_start_join_and_end_calls,
    a_store_seeded_before_roles_gets_the_demo_admins_and_new_accounts
);
