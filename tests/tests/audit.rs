//! The audit trail (docs/audit.md), on both backends: the access log records sign-ins, reads
//! and changes without patient data; `enkaku audit verify` passes on an untouched store and
//! names the place of each kind of tampering done with direct SQL; an old checkpoint stays
//! consistent as the log grows; an inclusion proof checks out.

use enkaku_infra::audit::access::AccessFilter;
use enkaku_infra::audit::checkpoint::Checkpoint;
use enkaku_infra::audit::prune::prune_access_log;
use enkaku_infra::audit::verify::proves_inclusion;
use enkaku_infra::audit::{Log, merkle::Hash};
use enkaku_tests::process::{Server, enkaku, free_port};
use enkaku_tests::{Backend, KANSA, PASSWORD, TestApp, TestStore, UKETSUKE, YAMADA, hours_from_now};
use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::Connection;

const PATIENT: &str = "秘密 花子";
const PHONE: &str = "090-9876-5432";

async fn access_log_records_who_did_what_and_nothing_personal(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let login = |email: &str, password: &str| {
        app.http
            .post(format!("{}/api/v1/login", app.base))
            .json(&json!({ "email": email, "password": password }))
            .send()
    };
    assert_eq!(login(YAMADA, "wrong-password").await.unwrap().status(), 401);
    assert_eq!(
        login("nobody@nowhere.test", PASSWORD).await.unwrap().status(),
        401
    );
    let admin = app.login(YAMADA).await;
    let booked = admin
        .book(&hours_from_now(30), "一般内科", "online", PATIENT)
        .await;
    assert_eq!(booked.status, 201, "{}", booked.body);
    let id = booked.body["id"].as_str().unwrap().to_owned();
    let sent = admin
        .post(
            &format!("/api/v1/appointments/{id}/send-url"),
            json!({ "channel": "sms", "destination": PHONE }),
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    let shown = admin.get(&format!("/api/v1/appointments/{id}")).await;
    assert_eq!(shown.status, 200);
    let patient_url = shown.body["video"]["patient_url"]
        .as_str()
        .expect("the patient URL")
        .to_owned();
    let patient_token = patient_url.rsplit('/').next().unwrap();
    assert_eq!(admin.get("/api/v1/outbox").await.status, 200);
    let reception = app.login(UKETSUKE).await;
    assert_eq!(reception.get("/api/v1/admin/access-log").await.status, 403);
    let logged_out = admin.post("/api/v1/logout", json!({})).await;
    assert_eq!(logged_out.status, 204);

    let auditor = app.login(KANSA).await;
    let page = auditor.get("/api/v1/admin/access-log?limit=500").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let items = page.body["items"].as_array().unwrap().clone();
    let find = |action: &str, resource: &str, outcome: &str, staff: &str| {
        items.iter().find(|r| {
            r["action"] == action
                && r["resource"] == resource
                && r["outcome"] == outcome
                && r["staff_id"] == staff
        })
    };
    let signed_in = find("sign_in", "POST /api/v1/login", "success", &admin.staff_id).expect("the sign-in");
    assert_eq!(signed_in["staff_name"], "山田 太郎");
    assert!(signed_in["at"].as_str().unwrap().starts_with("20"));
    assert_eq!(signed_in["client"], "127.0.0.1");
    let hmac = signed_in["subject_hmac"].as_str().unwrap();
    assert!(hmac.len() == 64 && hmac.chars().all(|c| c.is_ascii_hexdigit()));
    let wrong = find("sign_in", "POST /api/v1/login", "denied", &admin.staff_id).expect("the wrong password");
    assert_eq!(wrong["subject_hmac"], hmac, "one address, one keyed hash");
    let read = find(
        "read",
        "GET /api/v1/appointments/{id}",
        "success",
        &admin.staff_id,
    )
    .expect("the read");
    assert_eq!(read["appointment_id"], id.as_str());
    assert!(
        find(
            "change",
            "POST /api/v1/appointments/{id}/send-url",
            "success",
            &admin.staff_id
        )
        .is_some()
    );
    assert!(find("read", "GET /api/v1/outbox", "success", &admin.staff_id).is_some());
    assert!(
        find(
            "read",
            "GET /api/v1/admin/access-log",
            "denied",
            &reception.staff_id
        )
        .is_some()
    );
    assert!(find("sign_out", "POST /api/v1/logout", "success", &admin.staff_id).is_some());
    // Page by page: `next` leads on, without a gap or an overlap.
    let first = auditor.get("/api/v1/admin/access-log?limit=3").await;
    let next = first.body["next"].as_u64().expect("a next page");
    let second = auditor
        .get(&format!("/api/v1/admin/access-log?limit=3&after={next}"))
        .await;
    let positions: Vec<u64> = [&first, &second]
        .iter()
        .flat_map(|page| page.body["items"].as_array().unwrap().iter())
        .map(|r| r["position"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = items
        .iter()
        .take(6)
        .map(|r| r["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, expected);
    // A position past what the log can hold is refused, not read as the end of the log.
    let beyond = auditor
        .get("/api/v1/admin/access-log?after=9223372036854775808")
        .await;
    assert_eq!(beyond.status, 422, "{}", beyond.body);
    assert_eq!(beyond.body["code"], "validation_failed");
    // A creation names the appointment it made.
    assert!(
        items
            .iter()
            .any(|r| r["resource"] == "POST /api/v1/appointments" && r["appointment_id"] == id.as_str())
    );
    // The server's request id of the answer is the record's.
    let answer = auditor.get(&format!("/api/v1/appointments/{id}")).await;
    let request_id = answer.headers["x-request-id"].to_str().unwrap().to_owned();
    let about = auditor
        .get(&format!("/api/v1/admin/access-log?appointment_id={id}"))
        .await;
    let about = about.body["items"].as_array().unwrap();
    assert!(about.iter().all(|r| r["appointment_id"] == id.as_str()));
    assert!(about.iter().any(|r| r["request_id"] == request_id.as_str()));

    // The address no one has is in no clinic's log, only the operator's, under its keyed hash.
    assert!(
        !items
            .iter()
            .any(|r| r["staff_id"].is_null() && r["action"] == "sign_in")
    );
    let everything = app
        .state
        .access
        .log
        .list(&AccessFilter::default(), 500)
        .await
        .unwrap();
    let stranger = everything
        .iter()
        .find(|r| r.action == "sign_in" && r.staff_id.is_none())
        .expect("the unknown address's sign-in");
    assert_eq!(
        (stranger.clinic_id.as_deref(), stranger.outcome.as_str()),
        (None, "denied")
    );
    assert_ne!(stranger.subject_hmac.as_deref(), Some(hmac));

    // Nothing personal, no token, no address: every column of every row.
    let dump = serde_json::to_string(&everything).unwrap();
    let secrets = [
        PATIENT,
        PHONE,
        "+819098765432",
        "K-123",
        YAMADA,
        "nobody@nowhere.test",
        patient_token,
        &admin.token,
    ];
    for secret in secrets {
        assert!(!dump.contains(secret), "the access log holds {secret:?}");
    }
    app.stop().await;
}

/// Filled with some events and access records, folded, stopped: a store to tamper with.
async fn store_with_history(backend: Backend) -> TestApp {
    let mut app = TestApp::spawn(backend).await;
    let staff = app.login(YAMADA).await;
    for n in 0..6 {
        let made = staff
            .create_video_url(&hours_from_now(2 + n), &format!("call {n}"))
            .await;
        assert_eq!(made.status, 201);
    }
    for log in Log::ALL {
        app.state.audit.catch_up(log).await.unwrap();
    }
    app.halt().await;
    app
}

/// `enkaku audit <args>` on the app's store: whether it succeeded, and what it printed.
fn audit(app: &TestApp, args: &[&str]) -> (bool, String) {
    let output = enkaku(app.store.dir.path(), app.store.database_url.as_ref())
        .arg("audit")
        .args(args)
        .output()
        .expect("run enkaku audit");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output.status.success(), String::from_utf8(output.stdout).unwrap())
}

async fn execute(app: &TestApp, statements: &[&str]) {
    let url = app.store.config(([127, 0, 0, 1], 0).into()).database_url();
    match app.store.database_url {
        Some(_) => {
            let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
            for sql in statements {
                sqlx::query(sql).execute(&mut db).await.unwrap();
            }
        }
        None => {
            let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
            for sql in statements {
                sqlx::query(sql).execute(&mut db).await.unwrap();
            }
        }
    }
}

async fn head(app: &TestApp, table: &str) -> i64 {
    let url = app.store.config(([127, 0, 0, 1], 0).into()).database_url();
    let sql = format!("SELECT MAX(position) FROM {table}");
    match app.store.database_url {
        Some(_) => {
            let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar(&sql).fetch_one(&mut db).await.unwrap()
        }
        None => {
            let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query_scalar(&sql).fetch_one(&mut db).await.unwrap()
        }
    }
}

/// Each tampering with direct SQL, on a fresh store each: verify passes before and fails
/// after, naming the place.
async fn audit_verify_names_each_tampering(backend: Backend) {
    let changed =
        "UPDATE events SET metadata = replace(metadata, '\"actor\"', '\"actoR\"') WHERE position = 5";
    let cases: [(&[&str], &str); 5] = [
        (
            &[changed],
            "events: .* TAMPERED: position 5: the record was changed",
        ),
        // A rewrite enkaku recorded itself is named as such, and still fails.
        (
            &[
                changed,
                "INSERT INTO event_rewrites (position, event_id, from_schema_version, to_schema_version, personal_data, rewritten_at_ms)
                 SELECT position, event_id, schema_version, schema_version, 'sealed', 1764720000000 FROM events WHERE position = 5",
            ],
            "events: .* TAMPERED: position 5: the record was changed (event_rewrites says `enkaku privacy migrate` rewrote it at 2025-12-03",
        ),
        (
            &["DELETE FROM events WHERE position = 5"],
            "events: .* TAMPERED: position 5: the record is missing",
        ),
        (
            &[
                "UPDATE events SET position = -5 WHERE position = 5",
                "UPDATE events SET position = 5 WHERE position = 6",
                "UPDATE events SET position = 6 WHERE position = -5",
            ],
            "events: .* TAMPERED: position 5: the record was changed",
        ),
        (
            &["UPDATE access_log SET client = '10.0.0.1' WHERE position = 2"],
            "access: .* TAMPERED: position 2: the record was changed",
        ),
    ];
    for (statements, expected) in cases {
        let app = store_with_history(backend).await;
        let (intact, before) = audit(&app, &["verify"]);
        assert!(intact, "an untouched store verifies: {before}");
        assert_eq!(before.matches(": intact").count(), 2, "{before}");
        execute(&app, statements).await;
        let (intact, after) = audit(&app, &["verify"]);
        assert!(!intact, "{statements:?} went unnoticed: {after}");
        let pattern = regex_lite(expected);
        assert!(
            pattern(&after),
            "{statements:?}: expected {expected:?} in {after}"
        );
    }

    // The tail cut off: the stored tree still holds it.
    let app = store_with_history(backend).await;
    let last = head(&app, "events").await;
    execute(
        &app,
        &[&format!("DELETE FROM events WHERE position > {}", last - 3)],
    )
    .await;
    let (intact, after) = audit(&app, &["verify"]);
    assert!(!intact);
    assert!(
        after.contains(&format!("position {}: the record is missing", last - 2)),
        "{after}"
    );
}

/// A few literal parts separated by `.*`, in order: enough pattern for these messages.
fn regex_lite(pattern: &str) -> impl Fn(&str) -> bool + '_ {
    move |text: &str| {
        text.lines().any(|line| {
            let mut rest = line;
            pattern.split(".*").all(|part| match rest.find(part) {
                Some(at) => {
                    rest = &rest[at + part.len()..];
                    true
                }
                None => false,
            })
        })
    }
}

/// A checkpoint of a log still empty (no one signed in yet) holds the empty tree's root, and
/// verifies as such later.
async fn a_checkpoint_of_an_empty_log_verifies(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    app.halt().await;
    let (ok, printed) = audit(&app, &["checkpoint"]);
    assert!(ok);
    assert!(printed.contains("\"log\":\"access\",\"size\":0"), "{printed}");
    let (intact, report) = audit(&app, &["verify"]);
    assert!(intact, "{report}");
}

/// A checkpoint taken early stays a verified prefix as the logs grow; the records and stored
/// tree rewritten together contradict it, and verify says between which positions.
async fn an_old_checkpoint_stays_consistent_and_exposes_a_rewrite(backend: Backend) {
    let app = store_with_history(backend).await;
    let (ok, printed) = audit(&app, &["checkpoint"]);
    assert!(ok);
    let old: Vec<Checkpoint> = printed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(old.len(), 2);
    let outside = app.store.dir.path().join("kept-elsewhere.jsonl");
    std::fs::write(&outside, &printed).unwrap();
    // Remove the data directory's copies: only the auditor's file pins the past now.
    std::fs::remove_dir_all(app.store.dir.path().join("checkpoints")).unwrap();

    let app = {
        let store = app_store(app);
        let mut app = TestApp::spawn_on(store).await;
        let staff = app.login(YAMADA).await;
        for n in 0..4 {
            staff.create_video_url(&hours_from_now(10 + n), "later").await;
        }
        for log in Log::ALL {
            app.state.audit.catch_up(log).await.unwrap();
        }
        app.halt().await;
        app
    };
    let outside_arg = outside.to_str().unwrap();
    let (intact, report) = audit(&app, &["verify", "--json", "--checkpoint", outside_arg]);
    assert!(intact, "{report}");
    let reports: Vec<Value> = report.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let events = &reports[0];
    assert_eq!(events["checkpoints"], 1);
    assert!(events["records"].as_u64().unwrap() > old[0].size);

    // Rewrite a record and the whole stored tree with it: the tree agrees with the records,
    // the old checkpoint does not.
    execute(
        &app,
        &[
            "UPDATE events SET metadata = replace(metadata, '\"actor\"', '\"actoR\"') WHERE position = 3",
            "DELETE FROM audit_nodes WHERE log = 'events'",
        ],
    )
    .await;
    let (ok, _) = audit(&app, &["checkpoint"]);
    assert!(ok, "checkpoint folds the rewritten log afresh");
    std::fs::remove_dir_all(app.store.dir.path().join("checkpoints")).unwrap();
    let (intact, report) = audit(&app, &["verify", "--checkpoint", outside_arg]);
    assert!(!intact);
    assert!(
        report.contains(&format!(
            "positions 1–{}: the records differ from the signed checkpoint",
            old[0].size
        )),
        "{report}"
    );
}

/// Pruning the access log's oldest records keeps it verifiable: verify starts from the signed
/// pruning checkpoint, a checkpoint from before stays a proven prefix, and a forged pruning
/// checkpoint is found.
async fn a_pruned_access_log_still_verifies(backend: Backend) {
    let app = store_with_history(backend).await;
    let (ok, printed) = audit(&app, &["checkpoint"]);
    assert!(ok);
    let kept = app.store.dir.path().join("before-pruning.jsonl");
    std::fs::write(&kept, &printed).unwrap();
    let third: String = sqlx::query_scalar("SELECT at FROM access_log WHERE position = 3")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let before = chrono::DateTime::parse_from_rfc3339(&third).unwrap().to_utc();
    let pruned = prune_access_log(&app.state.audit, before, chrono::Utc::now())
        .await
        .unwrap()
        .expect("records older than the third");
    assert!((1..=2).contains(&pruned.size));
    let (_, listed) = audit(&app, &["access", "--json"]);
    let first: Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(first["position"], pruned.size + 1, "whole from the first");

    let (intact, report) = audit(&app, &["verify", "--checkpoint", kept.to_str().unwrap()]);
    assert!(intact, "{report}");
    execute(
        &app,
        &[&format!(
            "UPDATE audit_prunings SET checkpoint = replace(checkpoint, '\"size\":{0}', '\"size\":{1}'), size = {1}",
            pruned.size,
            pruned.size + 1
        )],
    )
    .await;
    let (intact, report) = audit(&app, &["verify"]);
    assert!(!intact);
    assert!(
        report.contains("the pruning checkpoint: its signature does not verify"),
        "{report}"
    );
}

/// The store of a stopped app, to serve it again.
fn app_store(mut app: TestApp) -> enkaku_tests::TestStore {
    std::mem::replace(
        &mut app.store,
        enkaku_tests::TestStore {
            dir: tempfile::tempdir().unwrap(),
            database_url: None,
        },
    )
}

/// The proof the API gives checks out with `ct-merkle`, for the clinic's own event; another
/// clinic's event is not found, and only inspectors may ask.
async fn an_inclusion_proof_checks_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.login(YAMADA).await;
    let made = staff.create_video_url(&hours_from_now(3), "proof").await;
    let position = app
        .state
        .store
        .read_stream(&format!("appointment-{}", made.body["id"].as_str().unwrap()))
        .await
        .unwrap()[0]
        .position;
    let reply = staff
        .get(&format!("/api/v1/audit/proof?position={position}"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let record = base64_decode(reply.body["record"].as_str().unwrap());
    let proof: Vec<Hash> = reply.body["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hex::decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    let checkpoint: Checkpoint = serde_json::from_value(reply.body["checkpoint"].clone()).unwrap();
    checkpoint
        .verify(&[app.state.audit.signer().public_key()])
        .expect("a signature of the server's key");
    let root: Hash = checkpoint.root().unwrap();
    assert!(proves_inclusion(
        &record,
        position - 1,
        checkpoint.size,
        &root,
        &proof
    ));
    assert!(!proves_inclusion(
        &record,
        position,
        checkpoint.size,
        &root,
        &proof
    ));

    // The other clinic's first event, and a position past the end.
    let other = app.login(enkaku_tests::SUZUKI).await;
    let theirs = other.create_video_url(&hours_from_now(3), "theirs").await;
    let their_position = app
        .state
        .store
        .read_stream(&format!("appointment-{}", theirs.body["id"].as_str().unwrap()))
        .await
        .unwrap()[0]
        .position;
    staff
        .get(&format!("/api/v1/audit/proof?position={their_position}"))
        .await
        .assert_problem(404, "not_found");
    staff
        .get("/api/v1/audit/proof?position=999999")
        .await
        .assert_problem(404, "not_found");
    app.login(UKETSUKE)
        .await
        .get(&format!("/api/v1/audit/proof?position={position}"))
        .await
        .assert_problem(403, "forbidden");
    app.stop().await;
}

/// Every read that was answered is in the access log, even when the server is killed right
/// after a burst of them: the record is committed before the answer leaves.
async fn answered_reads_survive_sigkill(backend: Backend) {
    let store = TestStore::new(backend).await;
    let log = store.dir.path().join("server.log");
    let http = reqwest::Client::new();
    let server = Server::start(&store, free_port(), &log).await;
    let token = server.token(&http).await;
    let answered: Vec<String> = futures::stream::iter(0..300)
        .map(|_| {
            let (http, base, token) = (http.clone(), server.base.clone(), token.clone());
            async move {
                let reply = http
                    .get(format!("{base}/api/v1/me"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .ok()?;
                (reply.status() == 200).then(|| reply.headers()["x-request-id"].to_str().unwrap().to_owned())
            }
        })
        .buffer_unordered(32)
        .filter_map(|id| async move { id })
        .collect()
        .await;
    server.kill();
    assert_eq!(answered.len(), 300);

    let stack = enkaku_api::Stack::open(&store.config(([127, 0, 0, 1], 0).into()))
        .await
        .unwrap();
    let recorded: Vec<String> =
        sqlx::query_scalar("SELECT request_id FROM access_log WHERE resource = 'GET /api/v1/me'")
            .fetch_all(&stack.db.pool)
            .await
            .unwrap();
    let recorded: std::collections::HashSet<String> = recorded.into_iter().collect();
    let lost: Vec<&String> = answered.iter().filter(|id| !recorded.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} answered reads are not in the access log",
        lost.len()
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

enkaku_tests::on_both_backends!(
    access_log_records_who_did_what_and_nothing_personal,
    audit_verify_names_each_tampering,
    an_old_checkpoint_stays_consistent_and_exposes_a_rewrite,
    an_inclusion_proof_checks_out,
    answered_reads_survive_sigkill,
    a_pruned_access_log_still_verifies,
    a_checkpoint_of_an_empty_log_verifies
);
