//! The real `enkaku` binary configured for real delivery: SMS through a stand-in of Twilio's
//! REST API and e-mail through a real SMTP server (aiosmtpd). Links go out once, Twilio's
//! signed status callbacks are recorded (a wrong signature changes nothing), refusals show
//! with their code, and a server killed in the middle of a retry loop sends nothing twice
//! after a restart: every request ends with exactly one outcome. Nothing personal reaches
//! the server log, at debug level.

use enkaku_commands::delivery::{SMS_MAX_SEGMENTS, ucs2_segments};
use enkaku_tests::process::{Server, free_port};
use enkaku_tests::smtp::SmtpServer;
use enkaku_tests::twilio::{Answer, FakeTwilio};
use enkaku_tests::{Backend, TestStore, hours_from_now};
use mail_parser::MessageParser;
use serde_json::{Value, json};
use std::time::Duration;

const SENDER: &str = "+815012345678";
const MAIL_FROM: &str = "no-reply@clinic.example.jp";

struct Clinic {
    server: Server,
    http: reqwest::Client,
    token: String,
}

/// The environment that puts both channels on real providers.
fn providers(base: &str, twilio: &FakeTwilio, smtp: &SmtpServer) -> Vec<(&'static str, String)> {
    vec![
        ("ENKAKU_PUBLIC_URL", base.to_owned()),
        ("ENKAKU_TWILIO_ACCOUNT_SID", twilio.account_sid().to_owned()),
        ("ENKAKU_TWILIO_AUTH_TOKEN", twilio.auth_token().to_owned()),
        ("ENKAKU_TWILIO_FROM", SENDER.to_owned()),
        ("ENKAKU_TWILIO_BASE_URL", twilio.url()),
        ("ENKAKU_SMTP_URL", smtp.url()),
        ("ENKAKU_MAIL_FROM", MAIL_FROM.to_owned()),
        ("ENKAKU_DELIVERY_TIMEOUT", "2".to_owned()),
    ]
}

impl Clinic {
    async fn start(store: &TestStore, port: u16, env: &[(&'static str, String)]) -> Self {
        let log = store.dir.path().join("server.log");
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let server = Server::start_with(store, port, &log, &env).await;
        let http = reqwest::Client::new();
        let token = server.token(&http).await;
        Self { server, http, token }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.server.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        self.server.get(&self.http, &self.token, path).await
    }

    /// A video URL starting in an hour, titled with something no message may carry.
    async fn video_call(&self) -> (String, String) {
        let me = self.get("/api/v1/me").await;
        let created = self
            .post(
                "/api/v1/video-calls",
                json!({ "doctor_id": me["staff"]["id"], "start_at": hours_from_now(1), "title": "秘密の件名" }),
            )
            .await;
        (
            created["id"].as_str().unwrap().to_owned(),
            created["video"]["patient_url"].as_str().unwrap().to_owned(),
        )
    }

    async fn send(&self, id: &str, resend: bool, channel: &str, destination: &str) {
        let path = if resend { "resend-url" } else { "send-url" };
        self.post(
            &format!("/api/v1/appointments/{id}/{path}"),
            json!({ "channel": channel, "destination": destination }),
        )
        .await;
    }

    /// The latest delivery once its status is no longer `pending` (and not `from`).
    async fn settled(&self, id: &str, from: &str) -> Value {
        for _ in 0..600 {
            let delivery = self.get(&format!("/api/v1/appointments/{id}")).await["video"]["delivery"].clone();
            let status = delivery["status"].as_str().unwrap_or("pending");
            if status != "pending" && status != from {
                return delivery;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the delivery of {id} stayed {from}");
    }

    /// The outcome events of the appointment's history, by type.
    async fn outcomes(&self, id: &str) -> Vec<String> {
        let events = self.get(&format!("/api/v1/appointments/{id}/events")).await;
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .filter(|t| {
                t.starts_with("UrlDelivered")
                    || t.starts_with("UrlDeliveryFailed")
                    || t.starts_with("UrlDeliveryOutcome")
            })
            .collect()
    }
}

#[tokio::test]
async fn links_go_out_through_twilio_and_smtp_and_twilio_reports_back() {
    let store = TestStore::new(Backend::Sqlite).await;
    let (twilio, smtp) = (FakeTwilio::start().await, SmtpServer::start().await);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let clinic = Clinic::start(&store, port, &providers(&base, &twilio, &smtp)).await;
    let health = clinic.server.health(&clinic.http).await;
    assert_eq!(
        health["channels"],
        json!({ "sms": "twilio", "email": "smtp", "sms_status_callbacks": true })
    );
    assert!(!health.to_string().contains(twilio.auth_token()));

    // SMS: once, to the number in E.164, with the link, in two segments at most.
    let (id, patient_url) = clinic.video_call().await;
    clinic.send(&id, false, "sms", "090-1234-5678").await;
    let sent = clinic.settled(&id, "pending").await;
    assert_eq!(sent["status"], "sent");
    assert_eq!(sent["provider"], "twilio");
    let messages = twilio.messages();
    assert_eq!(messages.len(), 1);
    let sms = &messages[0];
    assert_eq!(sms.to, "+819012345678");
    assert_eq!(sms.from.as_deref(), Some(SENDER));
    assert!(sms.body.contains(&patient_url), "{}", sms.body);
    assert!(
        sms.body.contains("デモクリニック") && sms.body.contains("診察日時"),
        "{}",
        sms.body
    );
    assert!(!sms.body.contains("秘密"), "no title in a message: {}", sms.body);
    assert!(ucs2_segments(&sms.body) <= SMS_MAX_SEGMENTS, "{}", sms.body);
    let callback = sms.status_callback.as_deref().unwrap();
    assert!(
        callback.starts_with(&format!("{base}/webhooks/twilio/status?clinic=")),
        "{callback}"
    );

    // A callback that is not Twilio's changes nothing; Twilio's is recorded.
    let forged = twilio
        .report_status_signed_with(&sms.sid, "delivered", None, "bm90IGEgc2lnbmF0dXJl")
        .await;
    assert_eq!(forged, reqwest::StatusCode::FORBIDDEN);
    assert_eq!(
        clinic.get(&format!("/api/v1/appointments/{id}")).await["video"]["delivery"]["status"],
        "sent"
    );
    assert_eq!(
        twilio.report_status(&sms.sid, "sent", None).await,
        reqwest::StatusCode::NO_CONTENT
    );
    assert_eq!(
        twilio.report_status(&sms.sid, "delivered", None).await,
        reqwest::StatusCode::NO_CONTENT
    );
    let delivered = clinic.settled(&id, "sent").await;
    assert_eq!(delivered["status"], "delivered");
    assert!(delivered["delivered_at"].is_string());

    // E-mail: through SMTP, with the link in both parts and the clinic as the sender's name.
    clinic.send(&id, true, "email", "hanako@example.jp").await;
    let mailed = clinic.settled(&id, "pending").await;
    assert_eq!(
        (mailed["status"].as_str(), mailed["provider"].as_str()),
        (Some("sent"), Some("smtp"))
    );
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1);
    let mail = MessageParser::default().parse(&mails[0]).unwrap();
    let from = mail.from().unwrap().first().unwrap();
    assert_eq!(
        (from.name(), from.address()),
        (Some("デモクリニック"), Some(MAIL_FROM))
    );
    assert!(mail.body_text(0).unwrap().contains(&patient_url));
    assert!(mail.body_html(0).unwrap().contains(&patient_url));
    assert!(
        mail.body_text(0).unwrap().contains("03-1234-5678"),
        "the clinic's phone"
    );

    // Twilio refuses a number: failed at once with its code, never retried.
    twilio.answer_next(Answer::InvalidNumber);
    clinic.send(&id, true, "sms", "090-1111-2222").await;
    let refused = clinic.settled(&id, "pending").await;
    assert_eq!(
        (refused["status"].as_str(), refused["failure_code"].as_str()),
        (Some("failed"), Some("twilio:21211"))
    );
    let reason = refused["failure_reason"].as_str().unwrap();
    assert!(!reason.contains("1111"), "no number in the reason: {reason}");

    // The carrier cannot deliver: 「配信失敗」 with the carrier's code.
    clinic.send(&id, true, "sms", "090-3333-4444").await;
    assert_eq!(clinic.settled(&id, "pending").await["status"], "sent");
    let last = twilio.messages().last().unwrap().sid.clone();
    assert_eq!(
        twilio.report_status(&last, "undelivered", Some("30003")).await,
        reqwest::StatusCode::NO_CONTENT
    );
    let undelivered = clinic.settled(&id, "sent").await;
    assert_eq!(
        (
            undelivered["status"].as_str(),
            undelivered["failure_code"].as_str()
        ),
        (Some("failed"), Some("twilio:30003"))
    );

    // 送信ボックス lists all four with where they stand; only kept messages carry a body.
    clinic.server.converged(&clinic.http).await;
    let outbox = clinic.get("/api/v1/outbox").await;
    let statuses: Vec<_> = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "failed", "sent", "delivered"]);
    assert!(
        outbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["body"].is_null())
    );
    assert_eq!(
        (outbox["sms_provider"].as_str(), outbox["email_provider"].as_str()),
        (Some("twilio"), Some("smtp"))
    );
    assert_eq!(
        twilio.messages().len(),
        2,
        "two SMS taken; the refused one never was"
    );

    let log = std::fs::read_to_string(store.dir.path().join("server.log")).unwrap();
    let token = patient_url.rsplit('/').next().unwrap();
    for secret in [
        "9012345678",
        "90-1234-5678",
        "33334444",
        "hanako@example.jp",
        token,
        twilio.auth_token(),
    ] {
        let line = log.lines().find(|line| line.contains(secret));
        assert!(line.is_none(), "the server log holds {secret}: {line:?}");
    }
    assert!(log.contains("DEBUG"), "the log was written at debug level");
}

#[tokio::test]
async fn a_server_killed_mid_retry_sends_nothing_twice_and_each_request_ends_once() {
    let store = TestStore::new(Backend::Sqlite).await;
    let (twilio, smtp) = (FakeTwilio::start().await, SmtpServer::start().await);
    let port = free_port();
    let env = providers(&format!("http://127.0.0.1:{port}"), &twilio, &smtp);
    let clinic = Clinic::start(&store, port, &env).await;
    // The first message meets a 500 and waits for its retry; the second is taken by Twilio,
    // whose answer never comes before the server dies.
    twilio.answer_next(Answer::ServerError);
    twilio.answer_next(Answer::Hang(Duration::from_secs(120)));
    let (retried, _) = clinic.video_call().await;
    clinic.send(&retried, false, "sms", "090-1234-5678").await;
    wait_for(|| twilio.requests() == 1).await;
    let (hung, _) = clinic.video_call().await;
    clinic.send(&hung, false, "sms", "090-8765-4321").await;
    wait_for(|| twilio.requests() == 2).await;
    clinic.server.kill();

    let clinic = Clinic::start(&store, port, &env).await;
    // The retry goes out after its backoff; the hung one's claim expires unanswered.
    assert_eq!(clinic.settled(&retried, "pending").await["status"], "sent");
    assert_eq!(clinic.settled(&hung, "pending").await["status"], "unknown");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        twilio.requests(),
        3,
        "the 500, the hung one, and the retry: nothing twice"
    );
    let to: Vec<_> = twilio.messages().into_iter().map(|m| m.to).collect();
    assert_eq!(to, ["+819087654321", "+819012345678"]);
    assert_eq!(clinic.outcomes(&retried).await, ["UrlDelivered"]);
    assert_eq!(clinic.outcomes(&hung).await, ["UrlDeliveryOutcomeUnknown"]);
}

async fn wait_for(condition: impl Fn() -> bool) {
    for _ in 0..200 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the condition never held");
}
