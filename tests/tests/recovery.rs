//! Recovery, against the real `enkaku` binary: acknowledged commands survive SIGKILL, read
//! models converge after a restart, `enkaku replay` rebuilds exactly the rows the live
//! projection wrote (the patient search's terms too), and re-applying events changes nothing.
//! Logs never carry patient data.

use enkaku_api::Stack;
use enkaku_tests::process::{Server, free_port, run_cli};
use enkaku_tests::{Backend, TestStore, YAMADA, hours_from_now, tokyo_date};
use futures::StreamExt;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

async fn kill_after_a_burst_loses_nothing(backend: Backend) {
    let store = TestStore::new(backend).await;
    let log = store.dir.path().join("server.log");
    let http = reqwest::Client::new();
    let port = free_port();
    let server = Server::start(&store, port, &log).await;
    let token = server.token(&http).await;
    let me: Value = server.get(&http, &token, "/api/v1/me").await;
    let doctor = me["staff"]["id"].as_str().unwrap().to_owned();
    let start = hours_from_now(1);

    // Something for the log check: a patient's name and phone number go in.
    let menus: Value = server.get(&http, &token, "/api/v1/menus").await;
    let booking: Value = http
        .post(format!("{}/api/v1/appointments", server.base))
        .bearer_auth(&token)
        .json(&json!({ "doctor_id": doctor, "start_at": start, "patient_name": "秘密 花子", "chart_number": "SECRET-42",
                       "menu_id": menus["items"][0]["id"], "visit_type": "first", "mode": "online",
                       "allow_outside_hours": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let booking_id = booking["id"].as_str().unwrap().to_owned();
    http.post(format!(
        "{}/api/v1/appointments/{booking_id}/send-url",
        server.base
    ))
    .bearer_auth(&token)
    .json(&json!({ "channel": "sms", "destination": "090-9876-5432" }))
    .send()
    .await
    .unwrap();

    // A burst of creations; keep the ids the server acknowledged, then kill it at once.
    let acknowledged: Vec<String> = futures::stream::iter(0..300)
        .map(|n| {
            let (http, base, token, doctor, start) = (
                http.clone(),
                server.base.clone(),
                token.clone(),
                doctor.clone(),
                start.clone(),
            );
            async move {
                let r = http
                    .post(format!("{base}/api/v1/video-calls"))
                    .bearer_auth(&token)
                    .json(&json!({ "doctor_id": doctor, "start_at": start, "title": format!("burst {n}") }))
                    .send()
                    .await
                    .ok()?;
                if r.status() != reqwest::StatusCode::CREATED {
                    return None;
                }
                let body: Value = r.json().await.ok()?;
                Some(body["id"].as_str()?.to_owned())
            }
        })
        .buffer_unordered(16)
        .filter_map(|id| async move { id })
        .collect()
        .await;
    server.kill();
    assert_eq!(acknowledged.len(), 300);

    let server = Server::start(&store, port, &log).await;
    let token = server.token(&http).await;
    for id in &acknowledged {
        let r = http
            .get(format!("{}/api/v1/appointments/{id}", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            reqwest::StatusCode::OK,
            "acknowledged appointment {id} was lost"
        );
    }
    server.converged(&http).await;
    let path = format!("/api/v1/schedule?date={}&doctor_id={doctor}", tokyo_date(&start));
    let entries = enkaku_tests::list_entries(&http, &server.base, &token, &path)
        .await
        .expect("the schedule");
    for id in acknowledged.iter().chain([&booking_id]) {
        assert_eq!(
            entries
                .iter()
                .filter(|e| e["appointment_id"] == id.as_str())
                .count(),
            1,
            "{id} once in the schedule"
        );
    }
    assert_eq!(entries.len(), acknowledged.len() + 1);
    // The delivery worker resumed where it stopped: the URL went out.
    let shown: Value = server
        .get(&http, &token, &format!("/api/v1/appointments/{booking_id}"))
        .await;
    let patient_url = shown["video"]["patient_url"].as_str().unwrap().to_owned();
    server.kill();

    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("request"), "the server logged requests");
    let token_part = patient_url.rsplit('/').next().unwrap();
    for secret in [
        "秘密 花子",
        "SECRET-42",
        "090-9876-5432",
        "+819098765432",
        token_part,
        &token,
    ] {
        let leak = logs.lines().find(|line| line.contains(secret));
        assert!(
            leak.is_none(),
            "the log contains {secret:?}: {}",
            leak.unwrap_or_default()
        );
    }
}

/// SIGTERM finishes in-flight work and exits cleanly.
async fn sigterm_shuts_down_gracefully(backend: Backend) {
    let store = TestStore::new(backend).await;
    let log = store.dir.path().join("server.log");
    let mut server = Server::start(&store, free_port(), &log).await;
    let pid = server.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    for _ in 0..100 {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            assert!(exit.success(), "enkaku exited with {exit} after SIGTERM");
            assert!(std::fs::read_to_string(&log).unwrap().contains("shutting down"));
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("enkaku did not stop within 10 s of SIGTERM");
}

type ScheduleRow = (
    String,
    String,
    String,
    String,
    i64,
    i64,
    String,
    i32,
    String,
    Option<i64>,
    i64,
);
type ReceptionRow = (
    String,
    String,
    String,
    i64,
    i64,
    String,
    i32,
    String,
    Option<String>,
    String,
    String,
    i64,
);

/// A delivery-log row: id, status, provider, when sent, when settled, failure code and
/// reason, version.
type DeliveryRow = (
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    i64,
);

/// A patient-search row: id, kind, doctor, status, display name, chart number, version.
type SearchRow = (String, String, String, String, String, Option<String>, i64);

/// A patient-search term: clinic, the folded term, appointment.
type TermRow = (String, Vec<u8>, String);

#[derive(Debug, PartialEq)]
struct ReadModels {
    schedule: Vec<ScheduleRow>,
    reception: Vec<ReceptionRow>,
    deliveries: Vec<DeliveryRow>,
    search: Vec<SearchRow>,
    terms: Vec<TermRow>,
}

async fn read_models(pool: &sqlx::AnyPool) -> ReadModels {
    let schedule = sqlx::query_as(
        "SELECT appointment_id, clinic_id, doctor_id, kind, start_at_ms, end_at_ms, status, video, display_name,
                cancelled_at_ms, version
         FROM schedule_entries ORDER BY appointment_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let reception = sqlx::query_as(
        "SELECT appointment_id, clinic_id, doctor_id, start_at_ms, end_at_ms, status, video, patient_name, chart_number,
                menu_name, mode, version
         FROM reception_entries ORDER BY appointment_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let deliveries = sqlx::query_as(
        "SELECT delivery_id, status, provider, sent_at_ms, settled_at_ms, failure_code, failure_reason, version
         FROM delivery_log ORDER BY delivery_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let search = sqlx::query_as(
        "SELECT appointment_id, kind, doctor_id, status, display_name, chart_number, version
         FROM patient_search ORDER BY appointment_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let terms = sqlx::query_as(
        "SELECT clinic_id, term, appointment_id FROM patient_search_terms ORDER BY appointment_id, term",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    ReadModels {
        schedule,
        reception,
        deliveries,
        search,
        terms,
    }
}

async fn replay_rebuilds_exactly_the_live_rows(backend: Backend) {
    let mut app = enkaku_tests::TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let sato = app.login(enkaku_tests::SATO).await;
    for n in 0..5 {
        let booking = yamada
            .book(
                &hours_from_now(n),
                "一般内科",
                if n % 2 == 0 { "online" } else { "in_person" },
                "患者",
            )
            .await;
        let id = booking.body["id"].as_str().unwrap().to_owned();
        if n == 1 {
            yamada
                .post(&format!("/api/v1/appointments/{id}/cancel"), json!({}))
                .await;
        }
        let video = yamada
            .create_video_url(&hours_from_now(0), &format!("施設 {n}"))
            .await;
        let vid = video.body["id"].as_str().unwrap().to_owned();
        yamada
            .post(
                &format!("/api/v1/appointments/{vid}/send-url"),
                json!({ "channel": "sms", "destination": "090-1234-5678" }),
            )
            .await;
        let edit = json!({ "title": format!("改名 {n}"), "doctor_id": sato.staff_id });
        yamada
            .request(
                reqwest::Method::PATCH,
                &format!("/api/v1/appointments/{vid}"),
                Some(edit),
                &[],
            )
            .await;
        if n >= 3 {
            yamada
                .post(&format!("/api/v1/appointments/{vid}/start-call"), json!({}))
                .await;
        }
        if n == 4 {
            yamada
                .post(&format!("/api/v1/appointments/{vid}/end-call"), json!({}))
                .await;
        }
    }
    let config = app.store.config(([127, 0, 0, 1], 0).into());
    let stack = Stack::open(&config).await.unwrap();
    // Every delivery settled (the ones of calls cancelled or ended first, as failed), and
    // its outcome projected.
    for _ in 0..200 {
        app.projected().await;
        let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM delivery_log WHERE status = 'pending'")
            .fetch_one(&stack.db.pool)
            .await
            .unwrap();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.projected().await;
    let live = read_models(&stack.db.pool).await;
    assert_eq!(live.schedule.len(), 10);
    assert_eq!(live.reception.len(), 5);
    assert_eq!(live.deliveries.len(), 5);
    assert!(
        live.deliveries.iter().all(|d| d.1 != "pending"),
        "{:?}",
        live.deliveries
    );
    assert!(live.schedule.iter().any(|r| r.6 == "cancelled") && live.schedule.iter().any(|r| r.6 == "ended"));
    assert_eq!(live.search.len(), 10);
    // The renamed video URLs are found by their new titles only: 「改名 0」 by 「改名0」, which
    // 「改名」 begins, and by 「0」.
    let words: std::collections::BTreeSet<String> = live
        .terms
        .iter()
        .map(|t| String::from_utf8(t.1.clone()).unwrap())
        .collect();
    assert!(
        (0..5).all(|n| words.contains(&format!("改名{n}"))) && words.contains("k-123"),
        "{words:?}"
    );
    assert!(!words.iter().any(|w| w.starts_with("施設")), "{words:?}");

    // Applying the same events again (offsets lost, rows kept) changes nothing.
    sqlx::query("DELETE FROM feed_offsets")
        .execute(&stack.db.pool)
        .await
        .unwrap();
    for runner in &stack.projections {
        runner.catch_up(&|_| {}).await.unwrap();
    }
    assert_eq!(
        read_models(&stack.db.pool).await,
        live,
        "re-applying events changed the rows"
    );
    // Stopped, so nothing of it writes while the CLI rebuilds; its store stays until the end.
    app.halt().await;

    // The auditor's rebuild, through the real CLI, on the same store: rows spoiled or lost
    // before it are back after it.
    for spoil in [
        "UPDATE schedule_entries SET display_name = 'spoiled'",
        "DELETE FROM patient_search",
        "UPDATE directory_staff SET name = 'spoiled'",
    ] {
        sqlx::query(spoil).execute(&stack.db.pool).await.unwrap();
    }
    let printed = run_cli(&config, &["replay"]);
    assert!(
        printed.contains("rebuilt the directory and 5 read models"),
        "{printed}"
    );
    assert_eq!(
        read_models(&stack.db.pool).await,
        live,
        "replay produced different rows"
    );
    let spoiled: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM directory_staff WHERE name = 'spoiled'")
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(spoiled, 0, "the directory was rebuilt from the set-up streams");
    assert_has_query_indexes(&stack.db.pool, backend).await;
}

/// Every index the read models' readers use is there: a rebuild or a replay drops them while
/// it folds the log, and builds them once the rows are in.
async fn assert_has_query_indexes(pool: &sqlx::AnyPool, backend: Backend) {
    let sql = match backend {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'index'",
        Backend::Postgres => "SELECT indexname::TEXT FROM pg_indexes WHERE schemaname = current_schema()",
    };
    let names: Vec<String> = sqlx::query_scalar(sql).fetch_all(pool).await.unwrap();
    let wanted: Vec<&str> = enkaku_projections::all()
        .iter()
        .flat_map(|p| p.query_indexes())
        .map(|index| index.name)
        .collect();
    assert!(wanted.len() >= 4, "{wanted:?}");
    for name in wanted {
        assert!(names.iter().any(|n| n == name), "{name} missing from {names:?}");
    }
}

/// `enkaku replay --until` builds the read models as they stood at a past moment, named by
/// time or by position, into a file of its own, and the live ones stay as they are; `events
/// --until` prints the history up to that moment.
/// The directory's staff: id, clinic, name, role.
async fn staff(pool: &sqlx::AnyPool) -> Vec<(String, String, String, String)> {
    sqlx::query_as("SELECT id, clinic_id, name, role FROM directory_staff ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn replay_until_shows_the_past(backend: Backend) {
    let app = enkaku_tests::TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    let booked = yamada
        .book(&hours_from_now(2), "一般内科", "online", "過去 一郎")
        .await;
    let booked = booked.body["id"].as_str().unwrap().to_owned();
    yamada.create_video_url(&hours_from_now(3), "過去の通話").await;
    app.projected().await;
    let config = app.store.config(([127, 0, 0, 1], 0).into());
    let stack = Stack::open(&config).await.unwrap();
    let then = read_models(&stack.db.pool).await;
    let then_position = *app.state.store.head().borrow();
    let then_time = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;

    yamada
        .post(&format!("/api/v1/appointments/{booked}/cancel"), json!({}))
        .await;
    yamada
        .book(&hours_from_now(4), "一般内科", "in_person", "未来 次郎")
        .await;
    app.projected().await;
    let now = read_models(&stack.db.pool).await;
    assert_ne!(now, then);
    assert_eq!(then.schedule.len(), 2);
    assert!(then.schedule.iter().all(|row| row.6 != "cancelled"));

    let time = then_time.to_rfc3339();
    for (n, until) in [time.clone(), then_position.to_string()].iter().enumerate() {
        let into = app.store.dir.path().join(format!("past-{n}"));
        let printed = run_cli(
            &config,
            &["replay", "--until", until, "--into", into.to_str().unwrap()],
        );
        let report: Value = serde_json::from_str(printed.trim()).expect("a JSON report");
        assert_eq!(report["until_position"], then_position, "{printed}");
        assert_eq!(
            files_in(&into),
            ["read-models.db"],
            "only the finished file is left"
        );
        let past = enkaku_infra::Db::connect(&format!("sqlite://{}", into.join("read-models.db").display()))
            .await
            .unwrap();
        assert_eq!(
            read_models(&past.pool).await,
            then,
            "the read models as of {until}"
        );
        // The directory too, folded from the same reading of the log.
        let live_staff = staff(&stack.db.pool).await;
        assert!(!live_staff.is_empty());
        assert_eq!(staff(&past.pool).await, live_staff);
        assert_has_query_indexes(&past.pool, Backend::Sqlite).await;
    }
    // A position past the end stands for the end. What a stopped replay left there is
    // started over.
    let into = app.store.dir.path().join("past-end");
    std::fs::create_dir_all(&into).unwrap();
    std::fs::write(
        into.join("read-models.db.partial"),
        "left by a replay that stopped",
    )
    .unwrap();
    let printed = run_cli(
        &config,
        &["replay", "--until", "999999999", "--into", into.to_str().unwrap()],
    );
    let report: Value = serde_json::from_str(printed.trim()).expect("a JSON report");
    assert_eq!(
        report["until_position"],
        *app.state.store.head().borrow(),
        "{printed}"
    );
    assert_eq!(files_in(&into), ["read-models.db"]);
    assert_eq!(
        read_models(&stack.db.pool).await,
        now,
        "the live read models are untouched"
    );
    let history = run_cli(&config, &["events", "--until", &time]);
    assert_eq!(history.lines().count() as u64, then_position);
}

/// The names of the files in `dir`, sorted.
fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn events_cli_prints_the_auditors_view(backend: Backend) {
    let app = enkaku_tests::TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    // The demo seed's set-up events come first in the log.
    let seeded = *app.state.store.head().borrow();
    let created = yamada.create_video_url(&hours_from_now(0), "監査").await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    yamada
        .post(&format!("/api/v1/appointments/{id}/cancel"), json!({}))
        .await;
    let config = app.store.config(([127, 0, 0, 1], 0).into());
    let run = |args: &[&str]| run_cli(&config, &[&["events"], args].concat());
    let stream: Vec<Value> = run(&["--stream", &id])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(stream.len(), 2);
    assert_eq!(stream[0]["type"], "VideoUrlCreated");
    assert_eq!(stream[1]["type"], "CallCancelled");
    assert_eq!(stream[1]["version"], 2);
    let all: Vec<Value> = run(&[])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(all.len() as u64, seeded + 2);
    let after_seed = run(&["--after", &seeded.to_string()]);
    assert_eq!(after_seed.lines().count(), 2);
    let after_first = run(&["--after", &(seeded + 1).to_string()]);
    assert_eq!(after_first.lines().count(), 1);
}

/// A catch-up's runner that applies none of a batch's events saves its offsets at most once a
/// second; the end of the catch-up still moves them to the end of what it read, so a replay's
/// file says how far each of its read models got.
async fn the_end_of_a_catch_up_moves_every_runners_offsets_to_it(backend: Backend) {
    use enkaku_commands::ports::EventStore;
    use enkaku_infra::feed::{OpeningFeed, PastFeed};
    use enkaku_projections::ProjectionRunner;
    use enkaku_projections::runner::catch_up_together;
    use std::sync::Arc;
    let app = enkaku_tests::TestApp::spawn(backend).await;
    let yamada = app.login(YAMADA).await;
    for hour in 1..=3 {
        yamada.create_video_url(&hours_from_now(hour), "あとから").await;
    }
    let config = app.store.config(([127, 0, 0, 1], 0).into());
    let stack = Stack::open(&config).await.unwrap();
    let head = *stack.store.head().borrow();
    let into = tempfile::tempdir().unwrap();
    let rows = enkaku_infra::Db::connect_scratch(&into.path().join("rows.db"))
        .await
        .unwrap();
    let log = Arc::new(OpeningFeed {
        feed: Arc::new(PastFeed {
            store: stack.store.clone(),
            until: head,
        }),
        vault: stack.vault.clone(),
    });
    // The set-up's read model: the log's last batches, a video URL each, hold nothing of its.
    let directory = ProjectionRunner::new(
        "directory",
        Arc::new(rows.clone()),
        log.clone(),
        enkaku_projections::setup(),
    );
    directory.prepare().await.unwrap();
    catch_up_together(log.as_ref(), "replay", &[&directory], 1, &|_| {})
        .await
        .unwrap();
    let reached = enkaku_projections::offsets::last_position(&rows.pool, "directory", "log")
        .await
        .unwrap();
    assert_eq!(reached, head);
    assert_eq!(directory.position().await.unwrap(), head);
}

enkaku_tests::on_both_backends!(
    kill_after_a_burst_loses_nothing,
    sigterm_shuts_down_gracefully,
    replay_rebuilds_exactly_the_live_rows,
    replay_until_shows_the_past,
    events_cli_prints_the_auditors_view,
    the_end_of_a_catch_up_moves_every_runners_offsets_to_it
);
