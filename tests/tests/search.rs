//! 患者検索 (`POST /api/v1/appointments/search`) on both backends: an appointment is found by
//! its patient's name, a word of it, how one begins or its chart number, however they are
//! typed; a rename moves it; other clinics' appointments are never found; bad queries are
//! problems. The read model behind it is the `patient_search` projector.

use enkaku_tests::{Backend, SUZUKI, Staff, TestApp, YAMADA, hours_from_now};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn search(staff: &Staff, body: Value) -> Value {
    let reply = staff.post("/api/v1/appointments/search", body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// The appointment ids a query finds, in the order answered.
async fn found(staff: &Staff, query: &str) -> Vec<String> {
    search(staff, json!({ "query": query })).await["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["appointment_id"].as_str().unwrap().to_owned())
        .collect()
}

/// An in-person booking of `patient` with chart number `chart`, for the clinic's first menu, at
/// whatever time the test chose (outside the doctor's hours too).
async fn book(staff: &Staff, start_at: &str, patient: &str, chart: &str) -> String {
    let menus = staff.get("/api/v1/menus").await.body;
    let menu = &menus["items"][0];
    let reply = staff
        .post(
            "/api/v1/appointments",
            json!({
                "doctor_id": staff.staff_id, "start_at": start_at, "patient_name": patient,
                "chart_number": chart, "menu_id": menu["id"], "visit_type": "first", "mode": "in_person",
                "allow_outside_hours": true
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

async fn a_booking_is_found_by_its_name_any_word_of_it_and_its_chart_number(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let start = hours_from_now(26);
    let id = book(&yamada, &start, "山田 花子", "AB12").await;
    let other = book(&yamada, &hours_from_now(27), "ヤマモト タロウ", "CD-34").await;
    app.projected().await;

    for query in [
        "山田",
        "花子",
        "山田花子",
        "山田 花子",
        "山田　花子",
        "山",
        "ＡＢ１２",
        "ab",
        "AB12",
    ] {
        assert_eq!(found(&yamada, query).await, [id.as_str()], "{query}");
    }
    // Katakana is found by hiragana and half-width kana too, and a chart number by its start.
    for query in ["やまもと", "ﾀﾛｳ", "たろう", "cd-3"] {
        assert_eq!(found(&yamada, query).await, [other.as_str()], "{query}");
    }
    // Words are found from their beginning, not from the middle.
    for query in ["田", "子", "B12", "佐藤"] {
        assert!(found(&yamada, query).await.is_empty(), "{query}");
    }

    let hit = &search(&yamada, json!({ "query": "花子" })).await["entries"][0];
    assert_eq!(hit["display_name"], "山田 花子");
    assert_eq!(hit["chart_number"], "AB12");
    assert_eq!(hit["kind"], "in_clinic");
    assert_eq!(hit["status"], "booked");
    assert_eq!(hit["menu_name"], "一般内科");
    assert_eq!(hit["mode"], "in_person");
    assert_eq!(hit["video"], false);
    assert_eq!(hit["doctor_id"], yamada.staff_id);
    let shown = chrono::DateTime::parse_from_rfc3339(hit["start_at"].as_str().unwrap()).unwrap();
    assert_eq!(shown, chrono::DateTime::parse_from_rfc3339(&start).unwrap());
    assert!(
        hit["start_at"].as_str().unwrap().ends_with("+09:00"),
        "in the clinic's zone"
    );
    assert!(hit["end_at"].is_string());

    // A cancelled booking is still found, as cancelled.
    yamada
        .post(&format!("/api/v1/appointments/{id}/cancel"), json!({}))
        .await;
    app.projected().await;
    let hit = &search(&yamada, json!({ "query": "AB12" })).await["entries"][0];
    assert_eq!(hit["status"], "cancelled");
}

async fn a_renamed_video_url_is_found_by_its_new_title_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let created = yamada
        .create_video_url(&hours_from_now(3), "さくら苑 田中様")
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    app.projected().await;
    assert_eq!(found(&yamada, "田中").await, [id.as_str()]);
    let hit = &search(&yamada, json!({ "query": "サクラ" })).await["entries"][0];
    assert_eq!(hit["kind"], "video_url");
    assert_eq!(hit["video"], true);
    assert!(hit.get("chart_number").is_none() && hit.get("menu_name").is_none());

    let edited = yamada
        .request(
            Method::PATCH,
            &format!("/api/v1/appointments/{id}"),
            Some(json!({ "title": "ひまわり荘 鈴木様" })),
            &[],
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    app.projected().await;
    assert!(
        found(&yamada, "さくら").await.is_empty(),
        "the old title finds nothing"
    );
    assert!(found(&yamada, "田中").await.is_empty());
    assert_eq!(found(&yamada, "鈴木").await, [id.as_str()]);
    let hit = &search(&yamada, json!({ "query": "ひまわり" })).await["entries"][0];
    assert_eq!(hit["display_name"], "ひまわり荘 鈴木様");
}

async fn another_clinics_appointments_are_never_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let suzuki = app.login(SUZUKI).await;
    let mine = book(&yamada, &hours_from_now(5), "高橋 一郎", "X-1").await;
    let theirs = book(&suzuki, &hours_from_now(5), "高橋 一郎", "X-1").await;
    app.projected().await;
    assert_eq!(found(&yamada, "高橋").await, [mine.as_str()]);
    assert_eq!(found(&suzuki, "高橋").await, [theirs.as_str()]);
    assert_eq!(found(&suzuki, "x-1").await, [theirs]);
}

async fn hits_come_latest_first_and_a_limit_says_when_more_match(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let mut ids = Vec::new();
    for hours in [30, 10, 20] {
        ids.push(book(&yamada, &hours_from_now(hours), "伊藤 さくら", "K-9").await);
    }
    app.projected().await;
    let latest_first = vec![ids[0].clone(), ids[2].clone(), ids[1].clone()];
    assert_eq!(found(&yamada, "伊藤").await, latest_first);
    let first_two = search(&yamada, json!({ "query": "伊藤", "limit": 2 })).await;
    assert_eq!(first_two["entries"].as_array().unwrap().len(), 2);
    assert_eq!(first_two["entries"][0]["appointment_id"], latest_first[0]);
    assert_eq!(first_two["more"], true);
    assert_eq!(
        search(&yamada, json!({ "query": "伊藤", "limit": 3 })).await["more"],
        false
    );
}

async fn a_query_that_looks_for_nothing_is_a_problem_on_its_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let path = "/api/v1/appointments/search";
    for (body, field) in [
        (json!({ "query": "" }), "query"),
        (json!({ "query": "  　 " }), "query"),
        (json!({ "query": "\u{200B}" }), "query"),
        (json!({ "query": "山".repeat(101) }), "query"),
        (json!({ "query": "山田", "limit": 0 }), "limit"),
        (json!({ "query": "山田", "limit": 501 }), "limit"),
    ] {
        let reply = yamada.post(path, body.clone()).await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.body["field"], field, "{body}");
        assert!(
            !reply.body["detail"].as_str().unwrap().contains('山'),
            "the query is not repeated in the problem"
        );
    }
    yamada
        .post(path, json!({ "name": "山田" }))
        .await
        .assert_problem(422, "validation_failed");
    yamada
        .post(path, json!({ "query": 5 }))
        .await
        .assert_problem(422, "validation_failed");
    // 100 characters is not too long, and a query no one's name begins with finds nothing.
    assert!(found(&yamada, &"山".repeat(100)).await.is_empty());
    let anonymous = app
        .http
        .post(format!("{}{path}", app.base))
        .json(&json!({ "query": "山田" }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // The contract says the same: a body with the query, and nothing in the URL.
    let doc = yamada.get("/api/v1/openapi.json").await.body;
    let operation = &doc["paths"][path]["post"];
    assert!(
        operation["parameters"].as_array().is_none_or(Vec::is_empty),
        "{operation}"
    );
    let request = &doc["components"]["schemas"]["SearchRequest"];
    assert_eq!(request["required"], json!(["query"]), "{request}");
    assert_eq!(request["properties"]["query"]["maxLength"], 100);
    assert!(operation["responses"]["422"].is_object());
}

enkaku_tests::on_both_backends!(
    a_booking_is_found_by_its_name_any_word_of_it_and_its_chart_number,
    a_renamed_video_url_is_found_by_its_new_title_only,
    another_clinics_appointments_are_never_found,
    hits_come_latest_first_and_a_limit_says_when_more_match,
    a_query_that_looks_for_nothing_is_a_problem_on_its_field
);
