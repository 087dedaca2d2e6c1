//! Two-factor sign-in (TOTP, RFC 6238) through HTTP: a person enrols their authenticator app
//! and confirms it, then sign-in needs a code, each code works once, recovery codes work once,
//! a wrong code counts like a wrong password, turning it off needs the password, and an
//! administrator can require it of the whole clinic. Codes are computed here with totp-rs from
//! the secret the enrolment returned, as an authenticator app would.

use enkaku_domain::envelope::Actor;
use enkaku_infra::demo;
use enkaku_tests::{Backend, PASSWORD, Reply, SATO, SUZUKI, Staff, TestApp, YAMADA};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use totp_rs::{Builder, Secret, Totp};

enkaku_tests::on_both_backends!(
    an_enrolled_person_signs_in_with_a_code_that_works_once,
    a_wrong_code_counts_as_a_failed_login,
    a_recovery_code_signs_in_once,
    turning_off_or_replacing_needs_the_password,
    a_clinic_requirement_lets_an_unenrolled_session_only_enrol,
    an_admin_takes_away_a_lost_second_factor
);

/// An authenticator app holding the secret an enrolment showed.
struct App {
    secret: String,
    totp: Totp,
}

impl App {
    fn new(secret: &str) -> Self {
        let base32 = Secret::try_from_base32(secret).expect("the enrolment's secret is base32");
        Self {
            secret: secret.to_owned(),
            totp: Builder::new()
                .with_secret(base32)
                .build()
                .expect("an RFC 6238 secret"),
        }
    }

    /// The code for the time step `offset` steps from now.
    fn code(&self, offset: i64) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        self.totp.generate((now + offset * 30) as u64).to_string()
    }

    /// The codes the server accepts now (this step and its neighbours).
    fn valid_now(&self) -> [String; 3] {
        [self.code(-1), self.code(0), self.code(1)]
    }

    /// Six digits the app shows at none of the steps the server accepts now.
    fn wrong_code(&self) -> String {
        let valid = self.valid_now();
        ["000000", "111111", "222222", "333333"]
            .into_iter()
            .find(|c| !valid.iter().any(|v| v == c))
            .expect("three codes cannot take four values")
            .to_owned()
    }
}

/// Wait, if need be, until at least 15 s of the current 30-s step remain, so that codes
/// computed now for this and the neighbouring steps keep their meaning for what follows.
async fn early_in_a_step() {
    let into_step = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() % 30;
    if into_step > 15 {
        tokio::time::sleep(Duration::from_secs(30 - into_step)).await;
    }
}

async fn login(app: &TestApp, email: &str, password: &str, code: Option<&str>) -> Reply {
    let mut body = json!({ "email": email, "password": password });
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    let response = app
        .http
        .post(format!("{}/api/v1/login", app.base))
        .json(&body)
        .send()
        .await
        .expect("login");
    Reply::read(response).await
}

/// The session a successful login answer carries.
fn signed_in(app: &TestApp, reply: &Reply) -> Staff {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    Staff {
        base: app.base.clone(),
        http: app.http.clone(),
        token: reply.body["token"].as_str().expect("token").to_owned(),
        staff_id: reply.body["staff"]["id"].as_str().expect("id").to_owned(),
        clinic_id: reply.body["clinic"]["id"].as_str().expect("clinic").to_owned(),
    }
}

async fn put(staff: &Staff, path: &str, body: Value) -> Reply {
    staff.request(reqwest::Method::PUT, path, Some(body), &[]).await
}

/// Start an enrolment and check what it shows: the otpauth URI (also as a QR code) and the
/// secret for typing in. Returns the secret.
async fn start(staff: &Staff) -> String {
    let started = staff.post("/api/v1/two-factor/enrolment", json!({})).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let secret = started.body["secret"].as_str().expect("secret").to_owned();
    let uri = started.body["otpauth_uri"].as_str().expect("otpauth_uri");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    let qr = started.body["qr_code"].as_str().expect("qr_code");
    assert!(qr.starts_with("data:image/svg+xml;base64,"), "{qr}");
    secret
}

/// Enrol and confirm with the current code; returns the app and the recovery codes.
async fn enrol(staff: &Staff) -> (App, Vec<String>) {
    let app = App::new(&start(staff).await);
    let confirmed = staff
        .post(
            "/api/v1/two-factor/enrolment/confirm",
            json!({ "code": app.code(0) }),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let codes = confirmed.body["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    (app, codes)
}

async fn two_factor_of(staff: &Staff) -> Value {
    let me = staff.get("/api/v1/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    me.body["two_factor"].clone()
}

async fn an_enrolled_person_signs_in_with_a_code_that_works_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    assert_eq!(
        two_factor_of(&yamada).await,
        json!({ "enrolled": false, "required": false })
    );
    let first = App::new(&start(&yamada).await);
    // Starting again replaces the enrolment: the first secret's codes no longer confirm.
    let phone = App::new(&start(&yamada).await);
    let stale = first.code(0);
    if !phone.valid_now().contains(&stale) {
        yamada
            .post("/api/v1/two-factor/enrolment/confirm", json!({ "code": stale }))
            .await
            .assert_problem(422, "invalid_two_factor_code");
    }
    yamada
        .post(
            "/api/v1/two-factor/enrolment/confirm",
            json!({ "code": phone.wrong_code() }),
        )
        .await
        .assert_problem(422, "invalid_two_factor_code");
    assert_eq!(two_factor_of(&yamada).await["enrolled"], false);
    // Nothing asked for a code yet.
    signed_in(&app, &login(&app, YAMADA, PASSWORD, None).await);

    early_in_a_step().await;
    let confirmed = yamada
        .post(
            "/api/v1/two-factor/enrolment/confirm",
            json!({ "code": phone.code(-1) }),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let codes = confirmed.body["recovery_codes"].as_array().expect("codes");
    assert_eq!(codes.len(), 10);
    assert!(
        codes.iter().all(|c| c
            .as_str()
            .is_some_and(|c| c.len() == 19 && c.matches('-').count() == 3)),
        "{codes:?}"
    );
    assert_eq!(
        two_factor_of(&yamada).await,
        json!({ "enrolled": true, "required": false })
    );
    yamada
        .post(
            "/api/v1/two-factor/enrolment/confirm",
            json!({ "code": phone.code(0) }),
        )
        .await
        .assert_problem(409, "two_factor_not_started");

    // The password alone no longer signs in; a wrong password says nothing of enrolment.
    login(&app, YAMADA, PASSWORD, None)
        .await
        .assert_problem(401, "two_factor_required");
    login(&app, YAMADA, "not the password", Some(&phone.code(0)))
        .await
        .assert_problem(401, "invalid_credentials");
    // The code that confirmed the enrolment was used; so is each code that signs in.
    login(&app, YAMADA, PASSWORD, Some(&phone.code(-1)))
        .await
        .assert_problem(401, "invalid_two_factor_code");
    let now = phone.code(0);
    let session = signed_in(&app, &login(&app, YAMADA, PASSWORD, Some(&now)).await);
    assert_eq!(session.get("/api/v1/doctors").await.status, StatusCode::OK);
    login(&app, YAMADA, PASSWORD, Some(&now))
        .await
        .assert_problem(401, "invalid_two_factor_code");
    // The next step's code (a phone's clock a little ahead) is still good, once, and typed
    // in full-width digits (a Japanese input method) too.
    let full_width: String = phone
        .code(1)
        .chars()
        .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap())
        .collect();
    signed_in(&app, &login(&app, YAMADA, PASSWORD, Some(&full_width)).await);
}

async fn a_wrong_code_counts_as_a_failed_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (phone, _) = enrol(&app.login(SATO).await).await;
    // Five failures are free (the first login, without a code, is one of them); the sixth
    // sets a wait, and then even the right code is not checked.
    login(&app, SATO, PASSWORD, None)
        .await
        .assert_problem(401, "two_factor_required");
    for _ in 0..5 {
        login(&app, SATO, PASSWORD, Some(&phone.wrong_code()))
            .await
            .assert_problem(401, "invalid_two_factor_code");
    }
    let refused = login(&app, SATO, PASSWORD, Some(&phone.code(0))).await;
    refused.assert_problem(429, "too_many_failures");
    assert!(refused.headers.contains_key("retry-after"));
    // Not a code at all: the same answer as a wrong one (another account, another budget).
    enrol(&app.login(YAMADA).await).await;
    for junk in ["", "12345", "abc", "1234567", "0000-0000-0000-000!"] {
        login(&app, YAMADA, PASSWORD, Some(junk))
            .await
            .assert_problem(401, "invalid_two_factor_code");
    }
    login(&app, YAMADA, PASSWORD, Some(&"9".repeat(65)))
        .await
        .assert_problem(422, "validation_failed");
}

async fn a_recovery_code_signs_in_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, codes) = enrol(&app.login(YAMADA).await).await;
    signed_in(&app, &login(&app, YAMADA, PASSWORD, Some(&codes[0])).await);
    login(&app, YAMADA, PASSWORD, Some(&codes[0]))
        .await
        .assert_problem(401, "invalid_two_factor_code");
    // Typed without hyphens, in capitals: the same code.
    let typed = codes[1].replace('-', "").to_uppercase();
    signed_in(&app, &login(&app, YAMADA, PASSWORD, Some(&typed)).await);
    login(&app, YAMADA, PASSWORD, Some(&codes[1]))
        .await
        .assert_problem(401, "invalid_two_factor_code");
    // Another person's codes are not this person's.
    let (_, satos) = enrol(&app.login(SATO).await).await;
    login(&app, YAMADA, PASSWORD, Some(&satos[0]))
        .await
        .assert_problem(401, "invalid_two_factor_code");
}

async fn turning_off_or_replacing_needs_the_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    enrol(&yamada).await;

    // A new phone: the password first; the old enrolment stays until the new one is confirmed.
    yamada
        .post("/api/v1/two-factor/enrolment", json!({}))
        .await
        .assert_problem(422, "validation_failed");
    yamada
        .post(
            "/api/v1/two-factor/enrolment",
            json!({ "current_password": "not the password" }),
        )
        .await
        .assert_problem(403, "invalid_credentials");
    let replacing = yamada
        .post(
            "/api/v1/two-factor/enrolment",
            json!({ "current_password": PASSWORD }),
        )
        .await;
    assert_eq!(replacing.status, StatusCode::CREATED, "{}", replacing.body);
    login(&app, YAMADA, PASSWORD, None)
        .await
        .assert_problem(401, "two_factor_required");

    let off = |password: &str| json!({ "current_password": password });
    yamada
        .post("/api/v1/two-factor/disable", off("not the password"))
        .await
        .assert_problem(403, "invalid_credentials");
    assert_eq!(two_factor_of(&yamada).await["enrolled"], true);
    let turned_off = yamada.post("/api/v1/two-factor/disable", off(PASSWORD)).await;
    assert_eq!(turned_off.status, StatusCode::NO_CONTENT, "{}", turned_off.body);
    assert_eq!(two_factor_of(&yamada).await["enrolled"], false);
    signed_in(&app, &login(&app, YAMADA, PASSWORD, None).await);
    // The enrolment under way went with it.
    yamada
        .post(
            "/api/v1/two-factor/enrolment/confirm",
            json!({ "code": "123456" }),
        )
        .await
        .assert_problem(409, "two_factor_not_started");
}

async fn a_clinic_requirement_lets_an_unenrolled_session_only_enrol(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let sato = app.login(SATO).await;
    let require = json!({ "required": true });

    put(&sato, "/api/v1/admin/two-factor", require.clone())
        .await
        .assert_problem(403, "forbidden");
    // The demo clinic starts without the requirement.
    assert_eq!(two_factor_of(&sato).await["required"], false);
    let set = put(&yamada, "/api/v1/admin/two-factor", require.clone()).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body, require);
    let stream = app
        .state
        .store
        .read_stream(&demo::demo_clinic().stream_id())
        .await
        .unwrap();
    let last = stream.last().expect("the clinic's events");
    assert_eq!(last.event_type, "TwoFactorRequirementChanged");
    assert_eq!(last.metadata.actor, Actor::Staff(demo::yamada()));

    // Sessions already open carry on; the next sign-in of someone not enrolled may only enrol.
    assert_eq!(sato.get("/api/v1/doctors").await.status, StatusCode::OK);
    let enrolling = signed_in(&app, &login(&app, SATO, PASSWORD, None).await);
    assert_eq!(
        two_factor_of(&enrolling).await,
        json!({ "enrolled": false, "required": true })
    );
    enrolling
        .get("/api/v1/doctors")
        .await
        .assert_problem(403, "two_factor_enrolment_required");
    enrolling
        .post(
            "/api/v1/password",
            json!({ "current_password": PASSWORD, "new_password": "a brand new password" }),
        )
        .await
        .assert_problem(403, "two_factor_enrolment_required");
    let logout_only = signed_in(&app, &login(&app, SATO, PASSWORD, None).await);
    let out = logout_only.post("/api/v1/logout", json!({})).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);

    let (phone, _) = enrol(&enrolling).await;
    assert_eq!(
        enrolling.get("/api/v1/doctors").await.status,
        StatusCode::OK,
        "enrolling lifts the session's limit at once"
    );
    enrolling
        .post(
            "/api/v1/two-factor/disable",
            json!({ "current_password": PASSWORD }),
        )
        .await
        .assert_problem(409, "two_factor_required_by_clinic");
    login(&app, SATO, PASSWORD, None)
        .await
        .assert_problem(401, "two_factor_required");
    let full = signed_in(&app, &login(&app, SATO, PASSWORD, Some(&phone.code(1))).await);
    assert_eq!(full.get("/api/v1/doctors").await.status, StatusCode::OK);

    // No secret reached the event log.
    let log = app.state.store.read_all(0, 10_000).await.unwrap();
    let text = serde_json::to_string(&log).unwrap();
    assert!(
        !text.contains(&phone.secret) && !text.contains("otpauth"),
        "{text}"
    );

    let unset = put(&yamada, "/api/v1/admin/two-factor", json!({ "required": false })).await;
    assert_eq!(unset.body, json!({ "required": false }));
    assert_eq!(two_factor_of(&full).await["required"], false);
}

async fn an_admin_takes_away_a_lost_second_factor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let sato = app.login(SATO).await;
    let suzuki = app.login(SUZUKI).await;
    enrol(&sato).await;
    let path = format!("/api/v1/admin/staff/{}/two-factor", sato.staff_id);
    let delete = |staff: &Staff| {
        let staff = staff.clone();
        let path = path.clone();
        async move { staff.request(reqwest::Method::DELETE, &path, None, &[]).await }
    };

    delete(&sato).await.assert_problem(403, "forbidden");
    delete(&suzuki).await.assert_problem(404, "not_found");
    login(&app, SATO, PASSWORD, None)
        .await
        .assert_problem(401, "two_factor_required");
    let reset = delete(&yamada).await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    signed_in(&app, &login(&app, SATO, PASSWORD, None).await);
}
