//! The Twilio channel against a local fake of Twilio's Messages API: what it sends (path,
//! credentials, form fields, status callback) and what each of Twilio's answers, or the lack
//! of one, means for the delivery worker.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use enkaku_commands::channel::{Content, HandedOver, OutgoingMessage, SendError, UrlSender};
use enkaku_domain::ids::{AppointmentId, ClinicId, DeliveryId};
use enkaku_domain::values::{Channel, Destination, Provider};
use enkaku_infra::twilio::{TwilioConfig, TwilioFrom, TwilioSender, signature_matches};
use enkaku_tests::twilio::{Answer, FakeTwilio, Rejection};
use secrecy::SecretString;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

const PATIENT: &str = "+819012345678";
const CLINIC_NUMBER: &str = "+815012345678";
const TEXT: &str = "山田クリニックです。診察の URL: https://clinic.example.jp/v/abc";

fn sms(text: &str) -> OutgoingMessage {
    OutgoingMessage {
        delivery_id: DeliveryId(Uuid::now_v7()),
        appointment_id: AppointmentId(Uuid::now_v7()),
        clinic_id: ClinicId(Uuid::now_v7()),
        destination: Destination::parse(Channel::Sms, "090-1234-5678").expect("a mobile number"),
        clinic_name: "山田クリニック".into(),
        content: Content::Sms { text: text.into() },
    }
}

fn number() -> TwilioFrom {
    TwilioFrom::Number(CLINIC_NUMBER.into())
}

fn sender(config: TwilioConfig) -> TwilioSender {
    TwilioSender::new(config).expect("a valid Twilio configuration")
}

fn is_message_sid(sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with("SM") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn a_created_message_is_handed_over_with_twilios_sid() {
    let twilio = FakeTwilio::start().await;
    let handed = sender(twilio.config(number())).send(&sms(TEXT)).await;

    let taken = twilio.messages();
    assert_eq!(taken.len(), 1, "{taken:?}");
    let m = &taken[0];
    assert!(is_message_sid(&m.sid), "{}", m.sid);
    assert_eq!(
        handed,
        Ok(HandedOver {
            provider: Provider::Twilio,
            provider_message_id: Some(m.sid.clone()),
        })
    );
    assert_eq!(m.to, PATIENT);
    assert_eq!(m.body, TEXT);
    assert_eq!(m.from.as_deref(), Some(CLINIC_NUMBER));
    assert_eq!(m.messaging_service_sid, None);
    assert_eq!(m.status_callback, None);
    assert_eq!(m.authenticated_as, twilio.account_sid());
    assert_eq!((twilio.requests(), twilio.rejected()), (1, vec![]));
}

#[tokio::test]
async fn a_messaging_service_is_named_instead_of_a_number_and_an_api_key_authenticates() {
    let twilio = FakeTwilio::start().await;
    let service = format!("MG{}", Uuid::new_v4().simple());
    let mut config = twilio.config(TwilioFrom::MessagingService(service.clone()));
    config.auth = twilio.api_key_auth();
    let handed = sender(config).send(&sms(TEXT)).await.expect("handed over");

    let taken = twilio.messages();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(handed.provider_message_id.as_deref(), Some(taken[0].sid.as_str()));
    assert_eq!(taken[0].messaging_service_sid.as_deref(), Some(service.as_str()));
    assert_eq!(taken[0].from, None);
    assert_eq!(taken[0].authenticated_as, twilio.api_key_sid());
}

#[tokio::test]
async fn refused_credentials_are_retried_once_the_operator_fixes_them() {
    let twilio = FakeTwilio::start().await;
    let mut config = twilio.config(number());
    config.auth = enkaku_infra::twilio::TwilioAuth::AuthToken("not-the-token".into());
    let outcome = sender(config).send(&sms(TEXT)).await;

    assert!(
        matches!(
            outcome,
            Err(SendError::Transient {
                retry_after: None,
                ..
            })
        ),
        "{outcome:?}"
    );
    assert_eq!(
        twilio.rejected(),
        vec![Rejection {
            status: 401,
            code: 20003
        }]
    );
    assert!(twilio.messages().is_empty());
}

#[tokio::test]
async fn an_invalid_number_is_refused_for_good_without_quoting_it() {
    let twilio = FakeTwilio::start().await;
    // Twilio's own answer quotes the number…
    twilio.answer_next(Answer::InvalidNumber);
    let raw = reqwest::Client::new()
        .post(format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            twilio.url(),
            twilio.account_sid()
        ))
        .basic_auth(twilio.account_sid(), Some(twilio.auth_token()))
        .form(&[("To", PATIENT), ("Body", TEXT), ("From", CLINIC_NUMBER)])
        .send()
        .await
        .expect("request");
    assert_eq!(raw.status(), 400);
    let answer: serde_json::Value = raw.json().await.expect("JSON");
    assert_eq!(answer["code"], 21211);
    assert!(answer["message"].as_str().unwrap().contains(PATIENT), "{answer}");

    // …and the channel's refusal does not.
    twilio.answer_next(Answer::InvalidNumber);
    let outcome = sender(twilio.config(number())).send(&sms(TEXT)).await;
    let Err(SendError::Permanent { code, reason }) = outcome else {
        panic!("not permanent: {outcome:?}");
    };
    assert_eq!(code, "twilio:21211");
    assert!(!reason.is_empty());
    for part in [PATIENT, "9012345678", "90-1234", "1234-5678"] {
        assert!(!reason.contains(part), "{reason}");
    }
    assert!(twilio.messages().is_empty());
    assert_eq!(twilio.requests(), 2);
}

#[tokio::test]
async fn too_many_requests_is_retried_after_the_time_twilio_gives() {
    let twilio = FakeTwilio::start().await;
    twilio.answer_next(Answer::TooManyRequests { retry_after_secs: 7 });
    let outcome = sender(twilio.config(number())).send(&sms(TEXT)).await;

    let Err(SendError::Transient { retry_after, .. }) = outcome else {
        panic!("not transient: {outcome:?}");
    };
    assert_eq!(retry_after, Some(Duration::from_secs(7)));
    assert!(twilio.messages().is_empty());
    assert_eq!(twilio.requests(), 1);
}

#[tokio::test]
async fn a_server_error_is_retried() {
    let twilio = FakeTwilio::start().await;
    twilio.answer_next(Answer::ServerError);
    let channel = sender(twilio.config(number()));
    let outcome = channel.send(&sms(TEXT)).await;

    assert!(
        matches!(
            outcome,
            Err(SendError::Transient {
                retry_after: None,
                ..
            })
        ),
        "{outcome:?}"
    );
    assert!(twilio.messages().is_empty());
    // The script is used up: the retry goes out.
    assert!(channel.send(&sms(TEXT)).await.is_ok());
    assert_eq!((twilio.requests(), twilio.messages().len()), (2, 1));
}

#[tokio::test]
async fn nothing_listening_is_retried_because_nothing_was_sent() {
    let twilio = FakeTwilio::start().await;
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
        listener.local_addr().expect("address")
    };
    let mut config = twilio.config(number());
    config.base_url = format!("http://{closed}");
    let outcome = sender(config).send(&sms(TEXT)).await;

    assert!(
        matches!(
            outcome,
            Err(SendError::Transient {
                retry_after: None,
                ..
            })
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn no_answer_in_time_is_an_unknown_outcome_because_twilio_may_have_taken_it() {
    let twilio = FakeTwilio::start().await;
    twilio.answer_next(Answer::Hang(Duration::from_secs(5)));
    let mut config = twilio.config(number());
    config.timeout = Duration::from_millis(500);
    let started = Instant::now();
    let outcome = sender(config).send(&sms(TEXT)).await;

    assert!(matches!(outcome, Err(SendError::Unknown { .. })), "{outcome:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Twilio did take it: sending again would text the patient twice.
    assert_eq!(twilio.messages().len(), 1);
}

#[tokio::test]
async fn an_email_is_not_for_this_channel() {
    let twilio = FakeTwilio::start().await;
    let mut message = sms(TEXT);
    message.content = Content::Email {
        subject: "URL".into(),
        text: TEXT.into(),
        html: format!("<p>{TEXT}</p>"),
    };
    let outcome = sender(twilio.config(number())).send(&message).await;

    let Err(SendError::Permanent { code, .. }) = outcome else {
        panic!("not permanent: {outcome:?}");
    };
    assert_eq!(code, "enkaku:wrong_channel");
    assert_eq!(twilio.requests(), 0);
}

/// What a stand-in for enkaku's status webhook received with a valid signature.
type Reports = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

/// A stand-in for the status webhook: it checks Twilio's signature over the URL it was
/// called at, answering 204 (and keeping the report) or 403.
async fn status_webhook(auth_token: &str) -> (String, Reports, tokio::task::JoinHandle<()>) {
    async fn receive(
        State((token, reports)): State<(Arc<SecretString>, Reports)>,
        headers: HeaderMap,
        uri: Uri,
        Form(params): Form<Vec<(String, String)>>,
    ) -> StatusCode {
        let host = headers["host"].to_str().expect("host");
        let url = format!("http://{host}{uri}");
        let signature = headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !signature_matches(&token, &url, &params, signature) {
            return StatusCode::FORBIDDEN;
        }
        reports.lock().unwrap().push((url, params));
        StatusCode::NO_CONTENT
    }
    let reports = Reports::default();
    let token = Arc::new(SecretString::from(auth_token));
    let router = axum::Router::new()
        .route("/webhooks/twilio/status", post(receive))
        .with_state((token, reports.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let serving = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (base, reports, serving)
}

#[tokio::test]
async fn the_status_callback_carries_the_ids_and_twilios_reports_are_signed() {
    let twilio = FakeTwilio::start().await;
    let (webhook, reports, serving) = status_webhook(twilio.auth_token()).await;
    let mut config = twilio.config(number());
    config.status_callback = Some(format!("{webhook}/webhooks/twilio/status"));
    let message = sms(TEXT);
    let sid = sender(config)
        .send(&message)
        .await
        .expect("handed over")
        .provider_message_id
        .expect("a sid");

    let callback = twilio.messages()[0]
        .status_callback
        .clone()
        .expect("a status callback");
    assert_eq!(
        callback,
        format!(
            "{webhook}/webhooks/twilio/status?clinic={}&appointment={}&delivery={}",
            message.clinic_id, message.appointment_id, message.delivery_id
        )
    );

    assert_eq!(twilio.report_status(&sid, "delivered", None).await, 204);
    assert_eq!(
        twilio
            .report_status_signed_with(&sid, "failed", Some("30003"), "bm90IGEgc2lnbmF0dXJl")
            .await,
        403
    );
    // Signed for another status: a replayed signature does not cover changed parameters.
    let delivered =
        enkaku_infra::twilio::signature(twilio.auth_token(), &callback, &reports.lock().unwrap()[0].1);
    assert_eq!(
        twilio
            .report_status_signed_with(&sid, "failed", Some("30003"), &delivered)
            .await,
        403
    );
    assert_eq!(
        twilio.report_status(&sid, "undelivered", Some("30003")).await,
        204
    );

    let reports = reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 2, "{reports:?}");
    let field = |i: usize, name: &str| {
        reports[i]
            .1
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(reports[0].0, callback);
    assert_eq!(field(0, "MessageSid").as_deref(), Some(sid.as_str()));
    assert_eq!(field(0, "MessageStatus").as_deref(), Some("delivered"));
    assert_eq!(field(0, "ErrorCode"), None);
    assert_eq!(field(0, "AccountSid").as_deref(), Some(twilio.account_sid()));
    assert_eq!(field(1, "MessageStatus").as_deref(), Some("undelivered"));
    assert_eq!(field(1, "ErrorCode").as_deref(), Some("30003"));
    serving.abort();
}

/// A request the fake must refuse: what is wrong, its form, Twilio's status and code.
type Refused<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, u32);

#[tokio::test]
async fn the_fake_refuses_what_twilio_refuses() {
    let twilio = FakeTwilio::start().await;
    let http = reqwest::Client::new();
    let messages = format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        twilio.url(),
        twilio.account_sid()
    );
    let service = format!("MG{}", Uuid::new_v4().simple());
    let cases: Vec<Refused> = vec![
        ("no To", vec![("Body", TEXT), ("From", CLINIC_NUMBER)], 400, 21604),
        (
            "To not E.164",
            vec![("To", "09012345678"), ("Body", TEXT), ("From", CLINIC_NUMBER)],
            400,
            21211,
        ),
        (
            "empty Body",
            vec![("To", PATIENT), ("Body", ""), ("From", CLINIC_NUMBER)],
            400,
            21602,
        ),
        ("no sender", vec![("To", PATIENT), ("Body", TEXT)], 400, 21603),
        (
            "both senders",
            vec![
                ("To", PATIENT),
                ("Body", TEXT),
                ("From", CLINIC_NUMBER),
                ("MessagingServiceSid", service.as_str()),
            ],
            400,
            21603,
        ),
    ];
    for (case, form, status, code) in &cases {
        let response = http
            .post(&messages)
            .basic_auth(twilio.account_sid(), Some(twilio.auth_token()))
            .form(form)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), *status, "{case}");
        let answer: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(answer["code"], *code, "{case}: {answer}");
    }
    let good = [("To", PATIENT), ("Body", TEXT), ("From", CLINIC_NUMBER)];
    let wrong_secret = http
        .post(&messages)
        .basic_auth(twilio.api_key_sid(), Some(twilio.auth_token()))
        .form(&good)
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_secret.status(), 401);
    let other_account = http
        .post(messages.replace(twilio.account_sid(), &format!("AC{}", Uuid::new_v4().simple())))
        .basic_auth(twilio.account_sid(), Some(twilio.auth_token()))
        .form(&good)
        .send()
        .await
        .expect("request");
    assert_eq!(other_account.status(), 401);
    let wrong_path = http
        .post(messages.replace("Messages.json", "Message.json"))
        .basic_auth(twilio.account_sid(), Some(twilio.auth_token()))
        .form(&good)
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_path.status(), 404);

    assert_eq!(twilio.requests(), cases.len() + 3);
    assert_eq!(twilio.rejected().len(), cases.len() + 3);
    assert!(twilio.messages().is_empty());
}
