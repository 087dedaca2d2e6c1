//! Clinic administration of menus, weekly hours and closed days through the HTTP API (SPEC §8),
//! on SQLite and PostgreSQL; and what they do to bookings and the schedule: a retired menu
//! cannot be booked, the slot grid follows the template and the closures, and an in-clinic
//! booking outside the doctor's hours needs `allow_outside_hours` (video URLs never do).

use enkaku_tests::{Backend, Reply, SATO, SUZUKI, Staff, TestApp, UKETSUKE, YAMADA};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// 2030-06-03 is a Monday: the demo doctors work 09:00–12:00 and 14:00–18:00 on it.
const MONDAY: &str = "2030-06-03";
const TUESDAY: &str = "2030-06-04";
const SATURDAY: &str = "2030-06-08";

async fn send(
    staff: &Staff,
    method: Method,
    path: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> Reply {
    let headers: Vec<(&str, &str)> = if_match.map(|v| ("If-Match", v)).into_iter().collect();
    staff.request(method, path, body, &headers).await
}

fn etag(reply: &Reply) -> String {
    reply.headers["etag"].to_str().unwrap().to_owned()
}

fn items(reply: &Reply) -> &Vec<Value> {
    reply.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items in {}", reply.body))
}

fn names(reply: &Reply) -> Vec<&str> {
    items(reply).iter().map(|m| m["name"].as_str().unwrap()).collect()
}

/// An in-clinic 一般内科 booking for `doctor` at `time` (JST) on `date`.
fn booking(doctor: &str, menu: &Value, date: &str, time: &str, visit: &str) -> Value {
    json!({
        "doctor_id": doctor, "start_at": format!("{date}T{time}:00+09:00"), "patient_name": "時間 確認",
        "menu_id": menu["id"], "visit_type": visit, "mode": "in_person"
    })
}

/// The slots of `doctor`'s day, as `HH:MM` of their starts, and whether each is closed.
async fn slots(staff: &Staff, doctor: &str, date: &str, all_times: bool) -> Vec<(String, bool)> {
    let day = staff
        .get(&format!(
            "/api/v1/schedule?date={date}&doctor_id={doctor}&all_times={all_times}"
        ))
        .await;
    assert_eq!(day.status, StatusCode::OK, "{}", day.body);
    day.body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let start = s["start_at"].as_str().unwrap();
            (start[11..16].to_owned(), s["closed"].as_bool().unwrap())
        })
        .collect()
}

fn open_times(slots: &[(String, bool)]) -> Vec<&str> {
    slots
        .iter()
        .filter(|(_, closed)| !closed)
        .map(|(t, _)| t.as_str())
        .collect()
}

fn head(app: &TestApp) -> u64 {
    *app.state.store.head().borrow()
}

async fn menus_are_created_changed_retired_and_reinstated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let before = yamada.get("/api/v1/admin/menus").await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);
    assert_eq!(names(&before), ["一般内科", "オンライン自費診療", "予防接種"]);
    assert!(
        items(&before)
            .iter()
            .all(|m| m["active"] == true && m["version"] == 1)
    );

    let created = yamada
        .post(
            "/api/v1/admin/menus",
            json!({ "name": "禁煙外来", "modes": ["online", "in_person"], "duration_first_min": 40, "duration_revisit_min": 20 }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["modes"], json!(["in_person", "online"]));
    assert_eq!(created.body["booking_fee_yen"], 0);
    assert_eq!(
        (&created.body["active"], &created.body["version"]),
        (&json!(true), &json!(1))
    );
    assert_eq!(etag(&created), "\"1\"");
    let path = format!("/api/v1/admin/menus/{}", created.body["id"].as_str().unwrap());
    assert!(names(&yamada.get("/api/v1/menus").await).contains(&"禁煙外来"));
    // The change is an event of the menu's stream, by yamada.
    let stream = format!("menu-{}", created.body["id"].as_str().unwrap());
    let events = app.state.store.read_stream(&stream).await.unwrap();
    assert_eq!(events[0].event_type, "MenuCreated");
    assert_eq!(
        events[0].metadata.actor,
        enkaku_domain::envelope::Actor::Staff(yamada.staff_id.parse().unwrap())
    );

    let changed = send(
        &yamada,
        Method::PATCH,
        &path,
        Some(json!({ "name": "禁煙外来（初回）", "duration_first_min": 45, "booking_fee_yen": 1500 })),
        Some(&etag(&created)),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["name"], "禁煙外来（初回）");
    assert_eq!(changed.body["duration_first_min"], 45);
    assert_eq!(changed.body["duration_revisit_min"], 20);
    assert_eq!(changed.body["booking_fee_yen"], 1500);
    assert_eq!(changed.body["version"], 2);
    send(
        &yamada,
        Method::PATCH,
        &path,
        Some(json!({ "name": "x" })),
        Some(&etag(&created)),
    )
    .await
    .assert_problem(412, "version_conflict");

    // Retired: gone from the booking list, still in the administrators' one.
    let retired = send(
        &yamada,
        Method::PATCH,
        &path,
        Some(json!({ "active": false })),
        Some("\"2\""),
    )
    .await;
    assert_eq!(retired.body["active"], false, "{}", retired.body);
    assert_eq!(retired.body["version"], 3);
    assert!(!names(&yamada.get("/api/v1/menus").await).contains(&"禁煙外来（初回）"));
    let listed = yamada.get("/api/v1/admin/menus").await;
    let entry = items(&listed)
        .iter()
        .find(|m| m["name"] == "禁煙外来（初回）")
        .expect("listed");
    assert_eq!((&entry["active"], &entry["version"]), (&json!(false), &json!(3)));
    assert_eq!(
        names(&listed).last(),
        Some(&"禁煙外来（初回）"),
        "in creation order"
    );
    yamada
        .post(
            "/api/v1/appointments",
            booking(&yamada.staff_id, &retired.body, MONDAY, "10:00", "first"),
        )
        .await
        .assert_problem(422, "unknown_menu");

    let reinstated = send(
        &yamada,
        Method::PATCH,
        &path,
        Some(json!({ "active": true })),
        None,
    )
    .await;
    assert_eq!(reinstated.body["active"], true, "{}", reinstated.body);
    let booked = yamada
        .post(
            "/api/v1/appointments",
            booking(&yamada.staff_id, &reinstated.body, MONDAY, "10:00", "first"),
        )
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    // Asking for what already is records nothing.
    let again = send(
        &yamada,
        Method::PATCH,
        &path,
        Some(json!({ "active": true, "duration_revisit_min": 20 })),
        None,
    )
    .await;
    assert_eq!(
        again.body["version"], reinstated.body["version"],
        "{}",
        again.body
    );
}

async fn a_booking_keeps_what_it_copied_from_a_menu_edited_or_retired_after(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let general = yamada.menu("一般内科").await;
    let booked = yamada
        .post(
            "/api/v1/appointments",
            booking(&yamada.staff_id, &general, MONDAY, "10:00", "first"),
        )
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let appointment = format!("/api/v1/appointments/{}", booked.body["id"].as_str().unwrap());
    let menu_path = format!("/api/v1/admin/menus/{}", general["id"].as_str().unwrap());
    let edited = send(
        &yamada,
        Method::PATCH,
        &menu_path,
        Some(json!({ "name": "内科", "duration_first_min": 60, "active": false })),
        None,
    )
    .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    let after = yamada.get(&appointment).await;
    assert_eq!(after.body["menu"], booked.body["menu"]);
    assert_eq!(after.body["menu"]["name"], "一般内科");
    assert_eq!(after.body["menu"]["duration_min"], 30);
    assert_eq!(after.body["end_at"], "2030-06-03T10:30:00+09:00");
}

async fn menu_input_that_breaks_a_rule_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let general = yamada.menu("一般内科").await;
    let path = format!("/api/v1/admin/menus/{}", general["id"].as_str().unwrap());
    let before = yamada.get("/api/v1/admin/menus").await;
    let valid = json!({ "name": "新メニュー", "modes": ["online"], "duration_first_min": 30, "duration_revisit_min": 15 });
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    for (body, field) in [
        (with("name", json!(" ")), Some("name")),
        (with("modes", json!([])), Some("modes")),
        (with("modes", json!(["house_call"])), None),
        (with("duration_first_min", json!(4)), Some("duration_first_min")),
        (
            with("duration_revisit_min", json!(241)),
            Some("duration_revisit_min"),
        ),
        (with("booking_fee_yen", json!(1_000_001)), Some("booking_fee_yen")),
        (with("booking_fee_yen", json!(-1)), None),
        (with("active", json!(false)), None),
    ] {
        let refused = yamada.post("/api/v1/admin/menus", body.clone()).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.body["field"].as_str(), field, "{body}");
    }
    for body in [
        json!({ "modes": [] }),
        json!({ "duration_first_min": 0, "active": false }),
        json!({ "name": "", "active": false }),
        json!({ "price": 100 }),
    ] {
        send(&yamada, Method::PATCH, &path, Some(body), None)
            .await
            .assert_problem(422, "validation_failed");
    }
    let missing = format!("/api/v1/admin/menus/{}", uuid::Uuid::now_v7());
    send(
        &yamada,
        Method::PATCH,
        &missing,
        Some(json!({ "active": false })),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(yamada.get("/api/v1/admin/menus").await.body, before.body);
}

async fn weekly_hours_are_read_and_set_and_the_schedule_follows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let hours_path = format!("/api/v1/admin/hours?doctor_id={}", yamada.staff_id);
    let seeded = yamada.get(&hours_path).await;
    assert_eq!(seeded.status, StatusCode::OK, "{}", seeded.body);
    let weekday = json!([{ "start": "09:00", "end": "12:00" }, { "start": "14:00", "end": "18:00" }]);
    assert_eq!(
        seeded.body,
        json!({
            "doctor_id": yamada.staff_id, "slot_min": 15,
            "weekdays": { "mon": weekday, "tue": weekday, "wed": weekday, "thu": weekday, "fri": weekday, "sat": [], "sun": [] },
            "version": 1
        })
    );
    assert_eq!(etag(&seeded), "\"1\"");
    assert_eq!(
        open_times(&slots(&yamada, &yamada.staff_id, SATURDAY, false).await),
        Vec::<&str>::new()
    );

    // Mornings only on Monday, in half hours, and Saturdays until midnight; days left out close.
    let template = json!({
        "doctor_id": yamada.staff_id, "slot_min": 30,
        "weekdays": { "mon": [{ "start": "08:00", "end": "10:00" }], "sat": [{ "start": "22:00", "end": "24:00" }] }
    });
    let set = send(
        &yamada,
        Method::PUT,
        "/api/v1/admin/hours",
        Some(template.clone()),
        Some(&etag(&seeded)),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["version"], 2);
    assert_eq!(
        set.body["weekdays"]["sat"],
        json!([{ "start": "22:00", "end": "24:00" }])
    );
    assert_eq!(set.body["weekdays"]["tue"], json!([]));
    assert_eq!(yamada.get(&hours_path).await.body, set.body);
    assert_eq!(
        open_times(&slots(&yamada, &yamada.staff_id, MONDAY, false).await),
        ["08:00", "08:30", "09:00", "09:30"]
    );
    assert_eq!(
        open_times(&slots(&yamada, &yamada.staff_id, SATURDAY, false).await),
        ["22:00", "22:30", "23:00", "23:30"]
    );
    let tuesday = slots(&yamada, &yamada.staff_id, TUESDAY, true).await;
    assert_eq!(tuesday.len(), 48);
    assert!(tuesday.iter().all(|(_, closed)| *closed));
    // Another doctor's grid is theirs.
    let sato = app.login(SATO).await;
    assert_eq!(
        open_times(&slots(&yamada, &sato.staff_id, MONDAY, false).await).len(),
        28
    );
    // The old version is stale now.
    send(
        &yamada,
        Method::PUT,
        "/api/v1/admin/hours",
        Some(template),
        Some(&etag(&seeded)),
    )
    .await
    .assert_problem(412, "version_conflict");

    // A doctor without hours yet: every day closed, 15-minute slots, version 0.
    let invited = yamada
        .post(
            "/api/v1/admin/staff",
            json!({ "name": "新人 医師", "email": "shinjin@example.jp", "role": "doctor" }),
        )
        .await;
    let newcomer = invited.body["id"].as_str().unwrap();
    let empty = yamada
        .get(&format!("/api/v1/admin/hours?doctor_id={newcomer}"))
        .await;
    assert_eq!(empty.body["slot_min"], 15, "{}", empty.body);
    assert_eq!(empty.body["version"], 0);
    assert!(
        empty.body["weekdays"]
            .as_object()
            .unwrap()
            .values()
            .all(|d| d == &json!([]))
    );
}

async fn hours_input_that_breaks_a_rule_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let hours_path = format!("/api/v1/admin/hours?doctor_id={}", yamada.staff_id);
    let before = yamada.get(&hours_path).await;
    let body = |slot_min: Value, weekdays: Value| json!({ "doctor_id": yamada.staff_id, "slot_min": slot_min, "weekdays": weekdays });
    for (request, field) in [
        (
            body(
                json!(15),
                json!({ "tue": [{ "start": "25:00", "end": "26:00" }] }),
            ),
            Some("weekdays.tue"),
        ),
        (
            body(json!(15), json!({ "wed": [{ "start": "9:00", "end": "12:00" }] })),
            Some("weekdays.wed"),
        ),
        (
            body(
                json!(15),
                json!({ "mon": [{ "start": "12:00", "end": "09:00" }] }),
            ),
            Some("weekdays.mon"),
        ),
        (
            body(
                json!(15),
                json!({ "fri": [{ "start": "09:00", "end": "12:00" }, { "start": "11:00", "end": "13:00" }] }),
            ),
            Some("weekdays.fri"),
        ),
        (
            body(
                json!(15),
                json!({ "sun": [{ "start": "24:00", "end": "24:00" }] }),
            ),
            Some("weekdays.sun"),
        ),
        (body(json!(4), json!({})), Some("slot_min")),
        (body(json!(241), json!({})), Some("slot_min")),
        (body(json!(15), json!({ "monday": [] })), None),
        (body(json!(15), json!({ "mon": [{ "start": "09:00" }] })), None),
    ] {
        let refused = send(
            &yamada,
            Method::PUT,
            "/api/v1/admin/hours",
            Some(request.clone()),
            None,
        )
        .await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.body["field"].as_str(), field, "{request}");
    }
    // Only the clinic's doctors have hours.
    let uketsuke = app.login(UKETSUKE).await;
    let suzuki = app.login(SUZUKI).await;
    for someone in [
        &uketsuke.staff_id,
        &suzuki.staff_id,
        &uuid::Uuid::now_v7().to_string(),
    ] {
        yamada
            .get(&format!("/api/v1/admin/hours?doctor_id={someone}"))
            .await
            .assert_problem(422, "unknown_doctor");
        let mut request = body(json!(15), json!({}));
        request["doctor_id"] = json!(someone);
        send(&yamada, Method::PUT, "/api/v1/admin/hours", Some(request), None)
            .await
            .assert_problem(422, "unknown_doctor");
    }
    assert_eq!(yamada.get(&hours_path).await.body, before.body);
}

async fn closures_close_a_day_for_the_clinic_or_one_doctor_until_removed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let sato = app.login(SATO).await;
    let general = yamada.menu("一般内科").await;

    let whole = yamada
        .post(
            "/api/v1/admin/closures",
            json!({ "date": TUESDAY, "reason": "院内研修" }),
        )
        .await;
    assert_eq!(whole.status, StatusCode::CREATED, "{}", whole.body);
    assert_eq!(whole.body["date"], TUESDAY);
    assert_eq!(whole.body["doctor_id"], Value::Null);
    assert_eq!(whole.body["reason"], "院内研修");
    assert_eq!(whole.body["version"], 1);
    let away = yamada
        .post(
            "/api/v1/admin/closures",
            json!({ "date": MONDAY, "doctor_id": sato.staff_id, "reason": "学会出張" }),
        )
        .await;
    assert_eq!(away.status, StatusCode::CREATED, "{}", away.body);
    let june = "/api/v1/admin/closures?from=2030-06-01&to=2030-06-30";
    let listed = yamada.get(june).await;
    assert_eq!(
        items(&listed)
            .iter()
            .map(|c| c["reason"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["学会出張", "院内研修"],
        "by date"
    );
    assert_eq!(items(&listed)[1], whole.body);
    assert!(
        items(
            &yamada
                .get("/api/v1/admin/closures?from=2030-06-05&to=2030-06-05")
                .await
        )
        .is_empty()
    );

    // The whole clinic's day: nobody's slot is open, and booking on it needs the confirmation.
    for doctor in [&yamada.staff_id, &sato.staff_id] {
        assert!(open_times(&slots(&yamada, doctor, TUESDAY, false).await).is_empty());
        assert!(
            slots(&yamada, doctor, TUESDAY, true)
                .await
                .iter()
                .all(|(_, closed)| *closed)
        );
    }
    yamada
        .post(
            "/api/v1/appointments",
            booking(&yamada.staff_id, &general, TUESDAY, "10:00", "first"),
        )
        .await
        .assert_problem(422, "outside_hours");
    // One doctor's day: theirs only.
    assert!(open_times(&slots(&yamada, &sato.staff_id, MONDAY, false).await).is_empty());
    assert_eq!(
        open_times(&slots(&yamada, &yamada.staff_id, MONDAY, false).await).len(),
        28
    );
    yamada
        .post(
            "/api/v1/appointments",
            booking(&sato.staff_id, &general, MONDAY, "10:00", "first"),
        )
        .await
        .assert_problem(422, "outside_hours");

    // Removed: the day opens again as the template says; removing it again changes nothing.
    let path = format!("/api/v1/admin/closures/{}", whole.body["id"].as_str().unwrap());
    send(&yamada, Method::DELETE, &path, None, Some("\"7\""))
        .await
        .assert_problem(412, "version_conflict");
    let removed = send(&yamada, Method::DELETE, &path, None, Some(&etag(&whole))).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    assert_eq!(
        open_times(&slots(&yamada, &yamada.staff_id, TUESDAY, false).await).len(),
        28
    );
    assert_eq!(items(&yamada.get(june).await).len(), 1);
    let head_before = head(&app);
    assert_eq!(
        send(&yamada, Method::DELETE, &path, None, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(head(&app), head_before);
    let booked = yamada
        .post(
            "/api/v1/appointments",
            booking(&yamada.staff_id, &general, TUESDAY, "10:00", "first"),
        )
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
}

async fn closure_input_that_breaks_a_rule_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let uketsuke = app.login(UKETSUKE).await;
    let suzuki = app.login(SUZUKI).await;
    let before = head(&app);
    for (body, status, code, field) in [
        (
            json!({ "date": MONDAY, "reason": " " }),
            422,
            "validation_failed",
            Some("reason"),
        ),
        (
            json!({ "date": MONDAY, "reason": "あ".repeat(201) }),
            422,
            "validation_failed",
            Some("reason"),
        ),
        (
            json!({ "date": "2030-02-30", "reason": "休み" }),
            422,
            "validation_failed",
            None,
        ),
        (
            json!({ "date": "1999-12-31", "reason": "休み" }),
            422,
            "validation_failed",
            Some("date"),
        ),
        (
            json!({ "date": MONDAY, "reason": "休み", "all_day": true }),
            422,
            "validation_failed",
            None,
        ),
        (
            json!({ "date": MONDAY, "doctor_id": uketsuke.staff_id, "reason": "休み" }),
            422,
            "unknown_doctor",
            Some("doctor_id"),
        ),
        (
            json!({ "date": MONDAY, "doctor_id": suzuki.staff_id, "reason": "休み" }),
            422,
            "unknown_doctor",
            Some("doctor_id"),
        ),
    ] {
        let refused = yamada.post("/api/v1/admin/closures", body.clone()).await;
        refused.assert_problem(status, code);
        assert_eq!(refused.body["field"].as_str(), field, "{body}");
    }
    for (query, field) in [
        ("from=2030-06-30&to=2030-06-01", "to"),
        ("from=2030-01-01&to=2031-01-02", "to"),
        ("from=1999-01-01&to=1999-01-02", "from"),
    ] {
        let refused = yamada.get(&format!("/api/v1/admin/closures?{query}")).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.body["field"], field, "{query}");
    }
    send(
        &yamada,
        Method::DELETE,
        &format!("/api/v1/admin/closures/{}", uuid::Uuid::now_v7()),
        None,
        None,
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(head(&app), before, "nothing was recorded");
    // Without a range: from today, for a year.
    let upcoming = yamada.get("/api/v1/admin/closures").await;
    assert_eq!(upcoming.status, StatusCode::OK, "{}", upcoming.body);
}

async fn an_in_clinic_booking_outside_hours_needs_confirming_and_a_video_url_never_does(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let general = yamada.menu("一般内科").await;
    let doctor = yamada.staff_id.clone();
    let before = head(&app);
    for (date, time, visit) in [
        (MONDAY, "12:00", "revisit"),       // the lunch break
        (MONDAY, "11:45", "first"),         // 30 minutes: runs into it
        (MONDAY, "08:59", "revisit"),       // a minute early
        (MONDAY, "17:50", "revisit"),       // runs past closing
        ("2030-06-02", "10:00", "revisit"), // a Sunday
    ] {
        let refused = yamada
            .post(
                "/api/v1/appointments",
                booking(&doctor, &general, date, time, visit),
            )
            .await;
        refused.assert_problem(422, "outside_hours");
        assert_eq!(refused.body["field"], "start_at", "{date} {time}");
    }
    assert_eq!(head(&app), before, "nothing was booked");
    for (time, visit) in [("11:30", "first"), ("09:00", "revisit"), ("17:45", "revisit")] {
        let booked = yamada
            .post(
                "/api/v1/appointments",
                booking(&doctor, &general, MONDAY, time, visit),
            )
            .await;
        assert_eq!(booked.status, StatusCode::CREATED, "{time}: {}", booked.body);
    }
    // Staff confirm it: the same booking goes through.
    let mut confirmed = booking(&doctor, &general, MONDAY, "12:00", "revisit");
    confirmed["allow_outside_hours"] = json!(true);
    let booked = yamada.post("/api/v1/appointments", confirmed).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    // Explicitly not confirmed is the same as not saying.
    let mut unconfirmed = booking(&doctor, &general, "2030-06-02", "10:00", "revisit");
    unconfirmed["allow_outside_hours"] = json!(false);
    yamada
        .post("/api/v1/appointments", unconfirmed)
        .await
        .assert_problem(422, "outside_hours");

    // Video URLs: on a Sunday night, on a closed day, or now, whatever the hours.
    yamada
        .post(
            "/api/v1/admin/closures",
            json!({ "date": TUESDAY, "reason": "休診" }),
        )
        .await;
    for body in [
        json!({ "doctor_id": doctor, "start_at": "2030-06-02T23:30:00+09:00" }),
        json!({ "doctor_id": doctor, "start_at": format!("{TUESDAY}T10:00:00+09:00") }),
        json!({ "doctor_id": doctor, "start_now": true }),
    ] {
        let created = yamada.post("/api/v1/video-calls", body.clone()).await;
        assert_eq!(created.status, StatusCode::CREATED, "{body}: {}", created.body);
    }
}

async fn only_admins_of_the_same_clinic_administer_menus_hours_and_closures(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let sato = app.login(SATO).await;
    let uketsuke = app.login(UKETSUKE).await;
    let suzuki = app.login(SUZUKI).await;
    let menu = yamada.menu("一般内科").await;
    let menu_path = format!("/api/v1/admin/menus/{}", menu["id"].as_str().unwrap());
    let closure = yamada
        .post(
            "/api/v1/admin/closures",
            json!({ "date": TUESDAY, "reason": "院内研修" }),
        )
        .await;
    let closure_path = format!("/api/v1/admin/closures/{}", closure.body["id"].as_str().unwrap());
    let hours_path = format!("/api/v1/admin/hours?doctor_id={}", sato.staff_id);
    let hours = json!({ "doctor_id": sato.staff_id, "slot_min": 15, "weekdays": {} });
    let before = head(&app);
    for staff in [&sato, &uketsuke] {
        for (method, path, body) in [
            (Method::GET, "/api/v1/admin/menus", None),
            (
                Method::POST,
                "/api/v1/admin/menus",
                Some(
                    json!({ "name": "x", "modes": ["online"], "duration_first_min": 10, "duration_revisit_min": 10 }),
                ),
            ),
            (
                Method::PATCH,
                menu_path.as_str(),
                Some(json!({ "active": false })),
            ),
            (Method::GET, hours_path.as_str(), None),
            (Method::PUT, "/api/v1/admin/hours", Some(hours.clone())),
            (Method::GET, "/api/v1/admin/closures", None),
            (
                Method::POST,
                "/api/v1/admin/closures",
                Some(json!({ "date": MONDAY, "reason": "x" })),
            ),
            (Method::DELETE, closure_path.as_str(), None),
        ] {
            send(staff, method.clone(), path, body, None)
                .await
                .assert_problem(403, "forbidden");
        }
    }
    // Another clinic's administrator finds none of デモクリニック's set-up.
    send(
        &suzuki,
        Method::PATCH,
        &menu_path,
        Some(json!({ "active": false })),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    send(&suzuki, Method::DELETE, &closure_path, None, None)
        .await
        .assert_problem(404, "not_found");
    suzuki
        .get(&hours_path)
        .await
        .assert_problem(422, "unknown_doctor");
    send(&suzuki, Method::PUT, "/api/v1/admin/hours", Some(hours), None)
        .await
        .assert_problem(422, "unknown_doctor");
    assert_eq!(head(&app), before, "nothing was recorded");
    assert_eq!(names(&suzuki.get("/api/v1/admin/menus").await), ["一般診療"]);
    assert!(
        items(
            &suzuki
                .get("/api/v1/admin/closures?from=2030-06-01&to=2030-06-30")
                .await
        )
        .is_empty()
    );
    // デモクリニック's set-up is as it was.
    assert!(names(&yamada.get("/api/v1/menus").await).contains(&"一般内科"));
    assert_eq!(
        items(
            &yamada
                .get("/api/v1/admin/closures?from=2030-06-01&to=2030-06-30")
                .await
        )
        .len(),
        1
    );
}

enkaku_tests::on_both_backends!(
    menus_are_created_changed_retired_and_reinstated,
    a_booking_keeps_what_it_copied_from_a_menu_edited_or_retired_after,
    menu_input_that_breaks_a_rule_changes_nothing,
    weekly_hours_are_read_and_set_and_the_schedule_follows,
    hours_input_that_breaks_a_rule_changes_nothing,
    closures_close_a_day_for_the_clinic_or_one_doctor_until_removed,
    closure_input_that_breaks_a_rule_changes_nothing,
    an_in_clinic_booking_outside_hours_needs_confirming_and_a_video_url_never_does,
    only_admins_of_the_same_clinic_administer_menus_hours_and_closures
);
