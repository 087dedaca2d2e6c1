//! A local fake of Twilio's Messages API, for tests of the Twilio channel and of the status
//! webhook: it checks requests as Twilio does (path, Basic auth, form fields), answers with
//! Twilio's statuses and JSON, records what it took, and can post Twilio's signed status
//! callbacks.
//!
//! It is stricter than Twilio in one place: a request must name exactly one of `From` and
//! `MessagingServiceSid` (Twilio lets the service win when both are given), because enkaku
//! never means to send both.

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use enkaku_infra::twilio::{TwilioAuth, TwilioConfig, TwilioFrom};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The number a messaging service "picks" in status callbacks (Twilio's test number).
pub const POOL_NUMBER: &str = "+15005550006";

/// How the fake answers the next well-formed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// 201 with the new Message resource; the message is recorded.
    Created,
    /// 400, code 21211, with Twilio's message, which quotes the number.
    InvalidNumber,
    /// 429, code 20429, with `Retry-After: retry_after_secs`.
    TooManyRequests { retry_after_secs: u64 },
    /// 500, code 20500.
    ServerError,
    /// The message is recorded (Twilio took it), then the answer (201) waits this long.
    Hang(Duration),
}

/// A message the fake took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeMessage {
    /// `SM` and 32 hex digits.
    pub sid: String,
    pub to: String,
    pub body: String,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub status_callback: Option<String>,
    /// The Basic auth user: the account SID or the API key SID.
    pub authenticated_as: String,
}

/// A request the fake refused for being wrong (not a scripted answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub code: u32,
}

#[derive(Default)]
struct Log {
    script: VecDeque<Answer>,
    messages: Vec<FakeMessage>,
    rejected: Vec<Rejection>,
    requests: usize,
}

struct Shared {
    account_sid: String,
    auth_token: String,
    api_key_sid: String,
    api_key_secret: String,
    log: Mutex<Log>,
}

impl Shared {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().expect("fake Twilio lock")
    }
}

/// Twilio's Messages API on `127.0.0.1`, with fresh credentials, until dropped.
pub struct FakeTwilio {
    addr: SocketAddr,
    shared: Arc<Shared>,
    http: reqwest::Client,
    serving: JoinHandle<()>,
}

impl Drop for FakeTwilio {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

impl FakeTwilio {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            account_sid: format!("AC{}", Uuid::new_v4().simple()),
            auth_token: Uuid::new_v4().simple().to_string(),
            api_key_sid: format!("SK{}", Uuid::new_v4().simple()),
            api_key_secret: Uuid::new_v4().simple().to_string(),
            log: Mutex::default(),
        });
        let router = Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(create_message))
            .fallback(not_found)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake Twilio port");
        let addr = listener.local_addr().expect("fake Twilio address");
        let serving = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            shared,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
            serving,
        }
    }

    /// The base URL, for [`TwilioConfig::base_url`].
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn account_sid(&self) -> &str {
        &self.shared.account_sid
    }

    pub fn auth_token(&self) -> &str {
        &self.shared.auth_token
    }

    pub fn api_key_sid(&self) -> &str {
        &self.shared.api_key_sid
    }

    /// Authentication with the account's auth token.
    pub fn auth_token_auth(&self) -> TwilioAuth {
        TwilioAuth::AuthToken(self.shared.auth_token.clone().into())
    }

    /// Authentication with the account's API key.
    pub fn api_key_auth(&self) -> TwilioAuth {
        TwilioAuth::ApiKey {
            sid: self.shared.api_key_sid.clone(),
            secret: self.shared.api_key_secret.clone().into(),
        }
    }

    /// A configuration for this fake: auth token, no status callback, a 5 s timeout.
    pub fn config(&self, sender: TwilioFrom) -> TwilioConfig {
        TwilioConfig {
            account_sid: self.shared.account_sid.clone(),
            auth: self.auth_token_auth(),
            sender,
            base_url: self.url(),
            status_callback: None,
            timeout: Duration::from_secs(5),
        }
    }

    /// How to answer the next well-formed request (queued: one answer per request, then
    /// [`Answer::Created`]).
    pub fn answer_next(&self, answer: Answer) {
        self.shared.log().script.push_back(answer);
    }

    /// The messages taken, in order.
    pub fn messages(&self) -> Vec<FakeMessage> {
        self.shared.log().messages.clone()
    }

    /// The requests refused for being wrong, in order.
    pub fn rejected(&self) -> Vec<Rejection> {
        self.shared.log().rejected.clone()
    }

    /// Every request that reached the fake, whatever its answer.
    pub fn requests(&self) -> usize {
        self.shared.log().requests
    }

    /// The status callback Twilio would send for message `sid`: its URL and parameters.
    fn status_report(
        &self,
        sid: &str,
        status: &str,
        error_code: Option<&str>,
    ) -> (String, Vec<(String, String)>) {
        let message = self
            .messages()
            .into_iter()
            .find(|m| m.sid == sid)
            .unwrap_or_else(|| panic!("the fake took no message {sid}"));
        let url = message
            .status_callback
            .clone()
            .unwrap_or_else(|| panic!("message {sid} asked for no status callback"));
        let mut params = vec![
            ("SmsSid", sid.to_owned()),
            ("SmsStatus", status.to_owned()),
            ("MessageStatus", status.to_owned()),
            ("To", message.to.clone()),
            ("MessageSid", sid.to_owned()),
            ("AccountSid", self.shared.account_sid.clone()),
            (
                "From",
                message.from.clone().unwrap_or_else(|| POOL_NUMBER.to_owned()),
            ),
            ("ApiVersion", "2010-04-01".to_owned()),
        ];
        if let Some(service) = &message.messaging_service_sid {
            params.push(("MessagingServiceSid", service.clone()));
        }
        if let Some(code) = error_code {
            params.push(("ErrorCode", code.to_owned()));
        }
        let params = params.into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
        (url, params)
    }

    /// Post Twilio's status callback for message `sid` to the URL it was sent with, signed
    /// with the auth token as Twilio signs it. Returns the webhook's status.
    pub async fn report_status(
        &self,
        sid: &str,
        status: &str,
        error_code: Option<&str>,
    ) -> reqwest::StatusCode {
        let (url, params) = self.status_report(sid, status, error_code);
        let signature = enkaku_infra::twilio::signature(&self.shared.auth_token, &url, &params);
        self.post_report(url, params, &signature).await
    }

    /// The same callback with `signature` as its `X-Twilio-Signature`.
    pub async fn report_status_signed_with(
        &self,
        sid: &str,
        status: &str,
        error_code: Option<&str>,
        signature: &str,
    ) -> reqwest::StatusCode {
        let (url, params) = self.status_report(sid, status, error_code);
        self.post_report(url, params, signature).await
    }

    async fn post_report(
        &self,
        url: String,
        params: Vec<(String, String)>,
        signature: &str,
    ) -> reqwest::StatusCode {
        self.http
            .post(url)
            .header("X-Twilio-Signature", signature)
            .header(header::USER_AGENT, "TwilioProxy/1.1")
            .form(&params)
            .send()
            .await
            .expect("status callback request")
            .status()
    }
}

/// Twilio's error answer.
fn error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, axum::Json(body)).into_response()
}

/// A request the fake refuses: recorded, and answered as Twilio would.
fn reject(shared: &Shared, status: StatusCode, code: u32, message: &str) -> Response {
    shared.log().rejected.push(Rejection {
        status: status.as_u16(),
        code,
    });
    let mut response = error(status, code, message);
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"Twilio API\"".parse().expect("header"),
        );
    }
    response
}

async fn not_found(State(shared): State<Arc<Shared>>, uri: axum::http::Uri) -> Response {
    shared.log().requests += 1;
    let message = format!("The requested resource {} was not found", uri.path());
    reject(&shared, StatusCode::NOT_FOUND, 20404, &message)
}

/// The Basic auth user, if its password is right for the account in the path.
fn authenticated(shared: &Shared, path_sid: &str, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    let valid = path_sid == shared.account_sid
        && ((user == shared.account_sid && password == shared.auth_token)
            || (user == shared.api_key_sid && password == shared.api_key_secret));
    valid.then(|| user.to_owned())
}

fn is_e164(value: &str) -> bool {
    value.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

fn is_sid(value: &str, prefix: &str) -> bool {
    value.len() == 34 && value.starts_with(prefix) && value[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

async fn create_message(
    State(shared): State<Arc<Shared>>,
    Path(path_sid): Path<String>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    shared.log().requests += 1;
    let Some(user) = authenticated(&shared, &path_sid, &headers) else {
        return reject(&shared, StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    };
    let Ok(Form(fields)) = form else {
        return reject(
            &shared,
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To' phone number is required.",
        );
    };
    let all = |name: &str| -> Vec<String> {
        fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let (to, body, from, service, callback) = (
        all("To"),
        all("Body"),
        all("From"),
        all("MessagingServiceSid"),
        all("StatusCallback"),
    );
    if [&to, &body, &from, &service, &callback]
        .iter()
        .any(|v| v.len() > 1)
    {
        return reject(
            &shared,
            StatusCode::BAD_REQUEST,
            20001,
            "A parameter was given more than once.",
        );
    }
    let one = |v: &[String]| v.first().cloned();
    let (to, body, from, service, callback) =
        (one(&to), one(&body), one(&from), one(&service), one(&callback));
    let Some(to) = to.filter(|to| !to.is_empty()) else {
        return reject(
            &shared,
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To' phone number is required.",
        );
    };
    if !is_e164(&to) {
        let message = format!("The 'To' number {to} is not a valid phone number.");
        return reject(&shared, StatusCode::BAD_REQUEST, 21211, &message);
    }
    let Some(body) = body.filter(|body| !body.trim().is_empty()) else {
        return reject(
            &shared,
            StatusCode::BAD_REQUEST,
            21602,
            "Message body is required.",
        );
    };
    if body.chars().count() > 1600 {
        return reject(
            &shared,
            StatusCode::BAD_REQUEST,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    match (&from, &service) {
        (None, None) => {
            return reject(
                &shared,
                StatusCode::BAD_REQUEST,
                21603,
                "A 'From' phone number is required.",
            );
        }
        (Some(_), Some(_)) => {
            return reject(
                &shared,
                StatusCode::BAD_REQUEST,
                21603,
                "enkaku's fake takes either 'From' or 'MessagingServiceSid', not both.",
            );
        }
        (Some(from), None) if !is_e164(from) => {
            let message = format!(
                "The 'From' number {from} is not a valid phone number, shortcode, or alphanumeric sender ID."
            );
            return reject(&shared, StatusCode::BAD_REQUEST, 21212, &message);
        }
        (None, Some(service)) if !is_sid(service, "MG") => {
            return reject(
                &shared,
                StatusCode::BAD_REQUEST,
                21701,
                "The Messaging Service does not exist.",
            );
        }
        _ => {}
    }
    if let Some(callback) = &callback
        && reqwest::Url::parse(callback).is_err()
    {
        return reject(
            &shared,
            StatusCode::BAD_REQUEST,
            21609,
            "Invalid StatusCallback url.",
        );
    }
    let answer = shared.log().script.pop_front().unwrap_or(Answer::Created);
    let delay = match answer {
        Answer::Created => Duration::ZERO,
        Answer::Hang(delay) => delay,
        Answer::InvalidNumber => {
            let message = format!("The 'To' number {to} is not a valid phone number.");
            return error(StatusCode::BAD_REQUEST, 21211, &message);
        }
        Answer::TooManyRequests { retry_after_secs } => {
            let mut response = error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_secs.into());
            return response;
        }
        Answer::ServerError => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, 20500, "Internal Server Error");
        }
    };
    let message = FakeMessage {
        sid: format!("SM{}", Uuid::new_v4().simple()),
        to,
        body,
        from,
        messaging_service_sid: service,
        status_callback: callback,
        authenticated_as: user,
    };
    shared.log().messages.push(message.clone());
    tokio::time::sleep(delay).await;
    (
        StatusCode::CREATED,
        axum::Json(resource(&shared.account_sid, &message)),
    )
        .into_response()
}

/// The Message resource Twilio answers a create with.
fn resource(account_sid: &str, m: &FakeMessage) -> Value {
    let now = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string();
    let uri = format!("/2010-04-01/Accounts/{account_sid}/Messages/{}", m.sid);
    json!({
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": m.body,
        "date_created": now,
        "date_sent": null,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": m.from,
        "messaging_service_sid": m.messaging_service_sid,
        "num_media": "0",
        "num_segments": "1",
        "price": null,
        "price_unit": "USD",
        "sid": m.sid,
        "status": if m.messaging_service_sid.is_some() { "accepted" } else { "queued" },
        "subresource_uris": { "media": format!("{uri}/Media.json") },
        "to": m.to,
        "uri": format!("{uri}.json"),
    })
}
