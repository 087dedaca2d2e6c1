//! A clinic sets itself up from nothing (SPEC §8): `enkaku clinic create` makes the clinic and
//! its first administrator and prints a one-time set-up URL; that person chooses a password
//! there and logs in. The link works once, within its validity, and only the newest one.

use chrono::{Duration, Utc};
use enkaku_domain::ids::{ClinicId, StaffId};
use enkaku_infra::setup_links::SetupLinks;
use enkaku_tests::process::{enkaku, run_cli};
use enkaku_tests::{Backend, Reply, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

enkaku_tests::on_both_backends!(
    a_created_clinics_administrator_sets_a_password_once_and_logs_in,
    a_link_works_only_within_its_validity_and_only_the_newest_one,
    bad_input_to_clinic_create_creates_nothing,
    a_password_is_changed_with_the_current_one_and_other_sessions_end,
    a_session_left_unused_ends_and_one_in_use_lives_on,
    an_admin_issues_a_new_set_up_url_for_their_own_staff_only
);

async fn anonymous(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
    let mut request = app.http.request(method, format!("{}{path}", app.base));
    if let Some(body) = body {
        request = request.json(&body);
    }
    Reply::read(request.send().await.expect("request")).await
}

async fn login(app: &TestApp, email: &str, password: &str) -> StatusCode {
    app.http
        .post(format!("{}/api/v1/login", app.base))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("login")
        .status()
}

/// `enkaku clinic create` on the app's store; the token of the set-up URL it printed.
fn create_clinic(app: &TestApp, email: &str) -> String {
    let config = app.store.config(([127, 0, 0, 1], 0).into());
    let printed = run_cli(
        &config,
        &[
            "clinic",
            "create",
            "--name",
            "さくら内科",
            "--admin-email",
            email,
            "--admin-name",
            "桜井 一郎",
            "--public-url",
            "https://clinic.example.jp/",
        ],
    );
    let url = printed
        .lines()
        .find_map(|line| line.strip_prefix("https://clinic.example.jp/setup/"))
        .unwrap_or_else(|| panic!("no set-up URL in: {printed}"));
    url.to_owned()
}

async fn a_created_clinics_administrator_sets_a_password_once_and_logs_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = create_clinic(&app, "sakurai@sakura.example.jp");
    let link = format!("/api/v1/setup-links/{token}");

    let shown = anonymous(&app, reqwest::Method::GET, &link, None).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(shown.body["name"], "桜井 一郎");
    assert_eq!(shown.body["email"], "sakurai@sakura.example.jp");
    assert_eq!(shown.body["clinic_name"], "さくら内科");
    // No password yet: nothing logs in.
    assert_eq!(
        login(&app, "sakurai@sakura.example.jp", "no password was set yet").await,
        StatusCode::UNAUTHORIZED
    );

    anonymous(
        &app,
        reqwest::Method::POST,
        &link,
        Some(json!({ "password": "short" })),
    )
    .await
    .assert_problem(422, "validation_failed");
    let set = anonymous(
        &app,
        reqwest::Method::POST,
        &link,
        Some(json!({ "password": "桜の咲く頃に会いましょう" })),
    )
    .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{}", set.body);

    // Used up: the page and a second password are refused, the first password stands.
    anonymous(&app, reqwest::Method::GET, &link, None)
        .await
        .assert_problem(410, "setup_link_gone");
    anonymous(
        &app,
        reqwest::Method::POST,
        &link,
        Some(json!({ "password": "another password" })),
    )
    .await
    .assert_problem(410, "setup_link_gone");
    assert_eq!(
        login(&app, "sakurai@sakura.example.jp", "another password").await,
        StatusCode::UNAUTHORIZED
    );

    let staff = app
        .http
        .post(format!("{}/api/v1/login", app.base))
        .json(&json!({ "email": "sakurai@sakura.example.jp", "password": "桜の咲く頃に会いましょう" }))
        .send()
        .await
        .expect("login");
    assert_eq!(staff.status(), StatusCode::OK);
    let body: Value = staff.json().await.expect("login body");
    assert_eq!(body["clinic"]["name"], "さくら内科");
    let me = app
        .http
        .get(format!("{}/api/v1/me", app.base))
        .bearer_auth(body["token"].as_str().expect("token"))
        .send()
        .await
        .expect("me");
    let me: Value = me.json().await.expect("me body");
    assert_eq!(me["staff"]["name"], "桜井 一郎");
    assert_eq!(
        me["staff"]["admin"], true,
        "the first staff member administers the clinic"
    );
    assert_eq!(me["clinic"]["time_zone"], "Asia/Tokyo");

    // The clinic is a stream: created by `system`, with its first administrator, and no
    // credential in it.
    let config = app.store.config(([127, 0, 0, 1], 0).into());
    let stream = format!("clinic-{}", me["clinic"]["id"].as_str().unwrap());
    let history = run_cli(&config, &["events", "--stream", &stream]);
    let events: Vec<Value> = history
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{history}");
    assert!(
        events.iter().all(|e| e["metadata"]["actor"] == "system"),
        "{history}"
    );
    assert_eq!(events[1]["data"]["email"], "sakurai@sakura.example.jp");
    assert!(!history.contains(&token), "{history}");

    anonymous(
        &app,
        reqwest::Method::GET,
        "/api/v1/setup-links/not-a-token-anyone-issued",
        None,
    )
    .await
    .assert_problem(404, "not_found");
}

async fn a_link_works_only_within_its_validity_and_only_the_newest_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = create_clinic(&app, "admin@validity.example.jp");
    let shown = anonymous(
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/setup-links/{token}"),
        None,
    )
    .await;
    assert_eq!(shown.status, StatusCode::OK);
    let staff: StaffId = sqlx::query_scalar::<_, String>(
        "SELECT id FROM directory_staff WHERE email = 'admin@validity.example.jp'",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap()
    .parse()
    .unwrap();
    let clinic: ClinicId =
        sqlx::query_scalar::<_, String>("SELECT clinic_id FROM directory_staff WHERE id = $1")
            .bind(staff.to_string())
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap()
            .parse()
            .unwrap();
    let links = SetupLinks::new(app.state.db.clone());

    // A newer link (a forgotten password) voids the one before.
    let newer = links.issue(staff, clinic, Utc::now()).await.unwrap();
    anonymous(
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/setup-links/{token}"),
        None,
    )
    .await
    .assert_problem(410, "setup_link_gone");
    let path = format!("/api/v1/setup-links/{}", newer.token);
    assert_eq!(
        anonymous(&app, reqwest::Method::GET, &path, None).await.status,
        StatusCode::OK
    );

    // One issued a day and a minute ago has expired.
    let expired = links
        .issue(
            staff,
            clinic,
            Utc::now() - Duration::hours(24) - Duration::minutes(1),
        )
        .await
        .unwrap();
    let path = format!("/api/v1/setup-links/{}", expired.token);
    anonymous(&app, reqwest::Method::GET, &path, None)
        .await
        .assert_problem(410, "setup_link_gone");
    anonymous(
        &app,
        reqwest::Method::POST,
        &path,
        Some(json!({ "password": "a long enough password" })),
    )
    .await
    .assert_problem(410, "setup_link_gone");
    assert_eq!(
        login(&app, "admin@validity.example.jp", "a long enough password").await,
        StatusCode::UNAUTHORIZED
    );
}

async fn bad_input_to_clinic_create_creates_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let config = app.store.config(([127, 0, 0, 1], 0).into());
    let clinics = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM directory_clinics")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap()
    };
    let before = clinics().await;
    for (args, said) in [
        (vec!["--name", "  ", "--admin-email", "a@b.example.jp"], "--name"),
        (
            vec!["--name", "X", "--admin-email", "not an address"],
            "--admin-email",
        ),
        (
            vec![
                "--name",
                "X",
                "--admin-email",
                "a@b.example.jp",
                "--time-zone",
                "Mars/Olympus",
            ],
            "--time-zone",
        ),
        // Already a staff member's login, in another case.
        (
            vec!["--name", "X", "--admin-email", "YAMADA@demo.enkaku.test"],
            "already belongs",
        ),
    ] {
        let output = enkaku(&config.data_dir, config.database_url.as_ref())
            .args(["clinic", "create"])
            .args(&args)
            .output()
            .expect("run enkaku");
        assert!(!output.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
    assert_eq!(clinics().await, before, "nothing was created");
}

async fn a_password_is_changed_with_the_current_one_and_other_sessions_end(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let here = app.login(enkaku_tests::YAMADA).await;
    let elsewhere = app.login(enkaku_tests::YAMADA).await;
    let change = |current: &str, new: &str| json!({ "current_password": current, "new_password": new });

    here.post(
        "/api/v1/password",
        change("wrong password", "a brand new password"),
    )
    .await
    .assert_problem(403, "invalid_credentials");
    here.post("/api/v1/password", change(enkaku_tests::PASSWORD, "short"))
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(
        elsewhere.get("/api/v1/me").await.status,
        StatusCode::OK,
        "nothing changed yet"
    );

    let changed = here
        .post(
            "/api/v1/password",
            change(enkaku_tests::PASSWORD, "a brand new password"),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    assert_eq!(
        here.get("/api/v1/me").await.status,
        StatusCode::OK,
        "this session stays"
    );
    elsewhere
        .get("/api/v1/me")
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(
        login(&app, enkaku_tests::YAMADA, enkaku_tests::PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, enkaku_tests::YAMADA, "a brand new password").await,
        StatusCode::OK
    );
}

/// The idle timeout (30 minutes here) beside the absolute 12 h: using a session moves its idle
/// deadline forward; one left alone ends, and the purge removes it.
async fn a_session_left_unused_ends_and_one_in_use_lives_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sessions = &app.state.sessions;
    let start = Utc::now();
    let (staff, clinic) = (enkaku_infra::demo::yamada(), enkaku_infra::demo::demo_clinic());
    let used = sessions.issue(staff, clinic, start).await.unwrap();
    let idle = sessions.issue(staff, clinic, start).await.unwrap();

    let at = |minutes: i64| start + Duration::minutes(minutes);
    assert!(sessions.find(&used.token, at(29)).await.unwrap().is_some());
    assert!(
        sessions.find(&used.token, at(58)).await.unwrap().is_some(),
        "used at 29, alive until 59"
    );
    assert!(
        sessions.find(&idle.token, at(31)).await.unwrap().is_none(),
        "unused for 31 minutes"
    );
    assert!(
        sessions.find(&used.token, at(89)).await.unwrap().is_none(),
        "unused since 58"
    );

    assert_eq!(
        sessions.purge_expired(at(31)).await.unwrap(),
        1,
        "the idle one is purged"
    );
}

/// A forgotten password (SPEC §8): an administrator gets a new set-up URL for someone of their
/// own clinic, and only an administrator may.
async fn an_admin_issues_a_new_set_up_url_for_their_own_staff_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(enkaku_tests::YAMADA).await;
    let sato = app.login(enkaku_tests::SATO).await;
    let suzuki = app.login(enkaku_tests::SUZUKI).await;
    let url_for = |staff: &str| format!("/api/v1/admin/staff/{staff}/setup-url");

    sato.post(&url_for(&yamada.staff_id), json!({}))
        .await
        .assert_problem(403, "forbidden");
    yamada
        .post(&url_for(&suzuki.staff_id), json!({}))
        .await
        .assert_problem(404, "not_found");
    yamada
        .post(&url_for(&uuid::Uuid::now_v7().to_string()), json!({}))
        .await
        .assert_problem(404, "not_found");

    let issued = yamada.post(&url_for(&sato.staff_id), json!({})).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    assert_eq!(issued.headers["cache-control"], "no-store");
    let url = issued.body["setup_url"].as_str().expect("setup_url");
    let token = url.rsplit('/').next().expect("token");
    assert_eq!(url, format!("{}/setup/{token}", app.state.public_url));
    let link = format!("/api/v1/setup-links/{token}");
    let shown = anonymous(&app, reqwest::Method::GET, &link, None).await;
    assert_eq!(shown.body["email"], enkaku_tests::SATO);

    // Nothing changes for sato until the link is used; then only the new password works.
    assert_eq!(sato.get("/api/v1/me").await.status, StatusCode::OK);
    let set = anonymous(
        &app,
        reqwest::Method::POST,
        &link,
        Some(json!({ "password": "忘れないためのパスワード" })),
    )
    .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{}", set.body);
    sato.get("/api/v1/me").await.assert_problem(401, "unauthorized");
    assert_eq!(
        login(&app, enkaku_tests::SATO, enkaku_tests::PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, enkaku_tests::SATO, "忘れないためのパスワード").await,
        StatusCode::OK
    );
}
