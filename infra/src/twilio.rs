//! The Twilio SMS channel: a thin client of Twilio's Messages API
//! (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`) and the check of the
//! `X-Twilio-Signature` Twilio puts on its status callbacks.
//!
//! What Twilio answers decides what the delivery worker does next (see
//! [`enkaku_commands::channel`]): 2xx hands the message over; 429 and 5xx are retried later,
//! when Twilio says (`Retry-After`); a refused message (400 with Twilio's error code) is
//! recorded as failed; refused credentials (401/403) are retried, because the operator fixes
//! them and the waiting messages should then go out. A request that may have reached Twilio
//! but got no answer is an unknown outcome: Twilio has no idempotency key, so sending it
//! again could text the patient twice.
//!
//! Nothing here logs or writes into an error the patient's number, the message (it holds the
//! patient's URL) or a secret. Twilio's own error messages quote the number, so they are
//! never passed on: each known code gets a short text of ours.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use enkaku_commands::channel::{Content, HandedOver, OutgoingMessage, SendError, UrlSender};
use enkaku_domain::values::{Destination, Provider};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// Twilio's production API; the caller chooses it (tests point at a fake).
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// The longest wait for a TCP (and TLS) connection to Twilio. Failing to connect means
/// nothing was sent, so it is kept shorter than the whole request's timeout: a slow connect
/// then ends as a (retried) connect error, not as an unknown outcome.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Twilio's answers are a few hundred bytes; more than this is not read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// How enkaku talks to Twilio.
#[derive(Clone, Debug)]
pub struct TwilioConfig {
    /// The account's SID, `AC` and 32 hex digits.
    pub account_sid: String,
    pub auth: TwilioAuth,
    pub sender: TwilioFrom,
    /// Where the API is, e.g. [`DEFAULT_BASE_URL`]; `http` only on a loopback address.
    pub base_url: String,
    /// Where Twilio reports a message's status (e.g.
    /// `https://clinic.example.jp/webhooks/twilio/status`); `None` asks for no reports. Each
    /// message's callback adds `clinic`, `appointment` and `delivery` to its query.
    pub status_callback: Option<String>,
    /// The longest a whole request may take, answer included.
    pub timeout: Duration,
}

/// The credentials of HTTP Basic authentication. Their `Debug` shows no secret.
#[derive(Clone, Debug)]
pub enum TwilioAuth {
    /// `AccountSid:AuthToken`.
    AuthToken(SecretString),
    /// `KeySid:KeySecret`, an API key (`SK…`) of the same account.
    ApiKey { sid: String, secret: SecretString },
}

/// Who the SMS comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TwilioFrom {
    /// One of the account's numbers, E.164 (`+815012345678`).
    Number(String),
    /// A messaging service (`MG…`), which picks the number.
    MessagingService(String),
}

/// A [`TwilioConfig`] that cannot work; found when the channel is built, at start-up.
#[derive(Debug, thiserror::Error)]
pub enum TwilioConfigError {
    #[error("Twilio {field} {problem}")]
    Invalid {
        field: &'static str,
        problem: &'static str,
    },
    #[error("the HTTP client for Twilio cannot be built: {0}")]
    Client(#[source] reqwest::Error),
}

/// The Twilio channel.
#[derive(Clone)]
pub struct TwilioSender {
    http: reqwest::Client,
    messages_url: reqwest::Url,
    account_sid: String,
    auth: TwilioAuth,
    sender: TwilioFrom,
    status_callback: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for TwilioSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioSender")
            .field("messages_url", &self.messages_url.as_str())
            .field("auth", &self.auth)
            .field("sender", &self.sender)
            .field("status_callback", &self.status_callback)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `prefix` followed by 32 hex digits, as Twilio's SIDs are.
fn is_sid(value: &str, prefix: &str) -> bool {
    value.len() == prefix.len() + 32
        && value.starts_with(prefix)
        && value[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `+` and 2 to 15 digits, the first not 0.
fn is_e164(value: &str) -> bool {
    value.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

impl TwilioSender {
    pub fn new(config: TwilioConfig) -> Result<Self, TwilioConfigError> {
        let invalid = |field, problem| TwilioConfigError::Invalid { field, problem };
        if !is_sid(&config.account_sid, "AC") {
            return Err(invalid("account SID", "must be AC and 32 hex digits"));
        }
        match &config.auth {
            TwilioAuth::AuthToken(token) if token.expose_secret().is_empty() => {
                return Err(invalid("auth token", "is empty"));
            }
            TwilioAuth::ApiKey { sid, .. } if !is_sid(sid, "SK") => {
                return Err(invalid("API key SID", "must be SK and 32 hex digits"));
            }
            TwilioAuth::ApiKey { secret, .. } if secret.expose_secret().is_empty() => {
                return Err(invalid("API key secret", "is empty"));
            }
            _ => {}
        }
        match &config.sender {
            TwilioFrom::Number(number) if !is_e164(number) => {
                return Err(invalid("sender number", "must be E.164, e.g. +815012345678"));
            }
            TwilioFrom::MessagingService(sid) if !is_sid(sid, "MG") => {
                return Err(invalid("messaging service SID", "must be MG and 32 hex digits"));
            }
            _ => {}
        }
        let messages_url = reqwest::Url::parse(&format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            config.base_url.trim_end_matches('/'),
            config.account_sid
        ))
        .map_err(|_| invalid("base URL", "is not a URL"))?;
        // The credentials travel in every request: never in clear text off this machine.
        if messages_url.scheme() != "https"
            && !(messages_url.scheme() == "http" && is_loopback(&messages_url))
        {
            return Err(invalid(
                "base URL",
                "must be https (http only on a loopback address)",
            ));
        }
        if let Some(callback) = &config.status_callback {
            let url =
                reqwest::Url::parse(callback).map_err(|_| invalid("status callback", "is not a URL"))?;
            if !matches!(url.scheme(), "https" | "http") || url.fragment().is_some() {
                return Err(invalid(
                    "status callback",
                    "must be an http(s) URL without a fragment",
                ));
            }
        }
        if config.timeout.is_zero() {
            return Err(invalid("timeout", "must be longer than zero"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(config.timeout / 2))
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            // Shorter than any keep-alive Twilio keeps, so a request seldom goes out on a
            // connection Twilio is closing (its outcome would then be unknown).
            .pool_idle_timeout(Duration::from_secs(20))
            .user_agent(concat!("enkaku/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(TwilioConfigError::Client)?;
        Ok(Self {
            http,
            messages_url,
            account_sid: config.account_sid,
            auth: config.auth,
            sender: config.sender,
            status_callback: config.status_callback,
            timeout: config.timeout,
        })
    }

    /// The status callback for one message: the configured URL with the ids the webhook
    /// needs. Twilio signs this exact text.
    fn status_callback_for(&self, m: &OutgoingMessage) -> Option<String> {
        self.status_callback.as_ref().map(|base| {
            let separator = if base.contains('?') { '&' } else { '?' };
            format!(
                "{base}{separator}clinic={}&appointment={}&delivery={}",
                m.clinic_id, m.appointment_id, m.delivery_id
            )
        })
    }

    fn credentials(&self) -> (&str, &str) {
        match &self.auth {
            TwilioAuth::AuthToken(token) => (&self.account_sid, token.expose_secret()),
            TwilioAuth::ApiKey { sid, secret } => (sid, secret.expose_secret()),
        }
    }

    /// What a request that got no HTTP answer means.
    fn network_error(&self, error: &reqwest::Error) -> SendError {
        if error.is_connect() || error.is_builder() {
            SendError::Transient {
                reason: "could not connect to Twilio; nothing was sent".into(),
                retry_after: None,
            }
        } else if error.is_timeout() {
            SendError::Unknown {
                reason: format!(
                    "Twilio did not answer within {} ms; it may have taken the message",
                    self.timeout.as_millis()
                ),
            }
        } else {
            SendError::Unknown {
                reason: "the connection to Twilio was lost before its answer; it may have taken the message"
                    .into(),
            }
        }
    }
}

/// The causes of an error, for the log: the reqwest error itself names the request URL, its
/// causes (I/O, TLS, HTTP parsing) name nothing of the message.
fn causes(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// At most [`MAX_ANSWER_BYTES`] of the answer's body.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_ANSWER_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_ANSWER_BYTES {
            break;
        }
    }
    Ok(body)
}

#[async_trait]
impl UrlSender for TwilioSender {
    async fn send(&self, m: &OutgoingMessage) -> Result<HandedOver, SendError> {
        let (Destination::Sms(to), Content::Sms { text }) = (&m.destination, &m.content) else {
            return Err(SendError::Permanent {
                code: "enkaku:wrong_channel".into(),
                reason: "the Twilio channel sends only SMS to a phone number".into(),
            });
        };
        let callback = self.status_callback_for(m);
        let mut form: Vec<(&str, &str)> = vec![("To", to.as_str()), ("Body", text)];
        match &self.sender {
            TwilioFrom::Number(number) => form.push(("From", number)),
            TwilioFrom::MessagingService(sid) => form.push(("MessagingServiceSid", sid)),
        }
        if let Some(callback) = &callback {
            form.push(("StatusCallback", callback));
        }
        let (user, password) = self.credentials();
        let response = match self
            .http
            .post(self.messages_url.clone())
            .basic_auth(user, Some(password))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
        {
            Ok(response) => response,
            Err(error) => {
                let outcome = self.network_error(&error);
                tracing::warn!(delivery = %m.delivery_id, cause = %causes(&error), error = %outcome, "twilio: no answer");
                return Err(outcome);
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, Utc::now()));
        let body = read_capped(response).await.unwrap_or_else(|error| {
            tracing::warn!(delivery = %m.delivery_id, status, cause = %causes(&error), "twilio: answer's body lost");
            Vec::new()
        });
        if matches!(status, 401 | 403) {
            tracing::error!(
                account_sid = %self.account_sid,
                status,
                twilio_code = ?twilio_error_code(&body),
                "twilio: enkaku's credentials were refused; fix the account SID and the auth token or API key: \
                 SMS deliveries wait and are retried"
            );
        }
        let outcome = classify(status, retry_after, &body);
        match &outcome {
            Ok(handed) => {
                tracing::info!(delivery = %m.delivery_id, sid = ?handed.provider_message_id, "twilio: handed over")
            }
            Err(error) => {
                tracing::warn!(delivery = %m.delivery_id, status, %error, "twilio: not handed over")
            }
        }
        outcome
    }
}

/// What Twilio's HTTP answer means for the message.
fn classify(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Result<HandedOver, SendError> {
    match status {
        200..=299 => Ok(HandedOver {
            provider: Provider::Twilio,
            provider_message_id: message_sid(body),
        }),
        429 => Err(SendError::Transient {
            reason: "Twilio is limiting enkaku's requests (HTTP 429)".into(),
            retry_after,
        }),
        500..=599 => Err(SendError::Transient {
            reason: format!("Twilio is unavailable (HTTP {status})"),
            retry_after,
        }),
        401 | 403 => Err(SendError::Transient {
            reason: format!(
                "Twilio refused enkaku's credentials (HTTP {status}); retried once the operator fixes them"
            ),
            retry_after: None,
        }),
        400..=499 => {
            let code = twilio_error_code(body);
            Err(SendError::Permanent {
                code: match code {
                    Some(code) => format!("twilio:{code}"),
                    None => format!("twilio:http_{status}"),
                },
                reason: refusal_reason(code, status),
            })
        }
        // Twilio neither redirects nor answers 1xx: something in between did, and the
        // message did not reach Twilio's API.
        _ => Err(SendError::Transient {
            reason: format!("unexpected answer from Twilio's address (HTTP {status})"),
            retry_after,
        }),
    }
}

/// The `sid` of the Message resource Twilio answers with.
fn message_sid(body: &[u8]) -> Option<String> {
    let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    let sid = answer.get("sid")?.as_str()?;
    (!sid.is_empty() && sid.len() <= 64 && sid.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| sid.to_owned())
}

/// The `code` of Twilio's error answer (`{"code": 21211, "message": …, "status": 400}`).
fn twilio_error_code(body: &[u8]) -> Option<u64> {
    let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = answer.get("code")?;
    code.as_u64().or_else(|| code.as_str()?.parse().ok())
}

/// Our words for why Twilio refused a message: Twilio's own `message` quotes the number.
fn refusal_reason(code: Option<u64>, status: u16) -> String {
    match code {
        Some(21211) => "invalid 'To' phone number".into(),
        Some(21614) => "the number is not a mobile number".into(),
        Some(21610) => "the recipient has unsubscribed (replied STOP)".into(),
        Some(21408) => "sending to this region is not enabled on the Twilio account".into(),
        Some(21612) => "Twilio cannot route a message to this number".into(),
        Some(21606 | 21659) => "the configured sender cannot send this message".into(),
        Some(code) => format!("Twilio refused the message (error {code})"),
        None => format!("Twilio refused the message (HTTP {status})"),
    }
}

/// A `Retry-After` value: delta-seconds or an HTTP date (IMF-fixdate,
/// `Wed, 21 Oct 2015 07:28:00 GMT`; the obsolete RFC 850 and asctime forms are not read). A
/// date already past means now.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// Twilio's `X-Twilio-Signature` of a request to `url` (exactly as Twilio called it, query
/// included) with the POST parameters `params`: base64 of HMAC-SHA1, keyed with the auth
/// token, over the URL followed by every parameter's name and value, in order of name (then
/// value).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    BASE64.encode(signature_mac(auth_token, url, params).finalize().into_bytes())
}

fn signature_mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<sha1::Sha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// Whether `header` (the request's `X-Twilio-Signature`) is Twilio's signature of it,
/// compared in constant time.
pub fn signature_matches(
    auth_token: &SecretString,
    url: &str,
    params: &[(String, String)],
    header: &str,
) -> bool {
    let Ok(claimed) = BASE64.decode(header.trim()) else {
        return false;
    };
    signature_mac(auth_token.expose_secret(), url, params)
        .verify_slice(&claimed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use enkaku_domain::ids::{AppointmentId, ClinicId, DeliveryId};

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

    fn config() -> TwilioConfig {
        TwilioConfig {
            account_sid: ACCOUNT.into(),
            auth: TwilioAuth::AuthToken("token-that-must-not-show".into()),
            sender: TwilioFrom::Number("+815012345678".into()),
            base_url: DEFAULT_BASE_URL.into(),
            status_callback: Some("https://clinic.example.jp/webhooks/twilio/status".into()),
            timeout: Duration::from_secs(10),
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    /// The example of Twilio's own SDK tests (twilio-python,
    /// tests/unit/test_request_validator.py): auth token `12345`, this URL and these
    /// parameters.
    fn twilio_example() -> (String, Vec<(String, String)>) {
        (
            "https://mycompany.com/myapp.php?foo=1&bar=2".into(),
            pairs(&[
                ("CallSid", "CA1234567890ABCDE"),
                ("Digits", "1234"),
                ("From", "+14158675309"),
                ("To", "+18005551212"),
                ("Caller", "+14158675309"),
            ]),
        )
    }

    #[test]
    fn the_signature_is_twilios_for_its_documented_example() {
        let (url, params) = twilio_example();
        assert_eq!(signature("12345", &url, &params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn repeated_parameters_are_signed_in_order_of_value() {
        // The same SDK test's vector for a name sent twice.
        let params = pairs(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &params),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn only_the_right_signature_matches() {
        let (url, params) = twilio_example();
        let token = SecretString::from("12345");
        assert!(signature_matches(
            &token,
            &url,
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!signature_matches(
            &SecretString::from("12346"),
            &url,
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!signature_matches(
            &token,
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        let mut changed = params.clone();
        changed[1].1 = "9999".into();
        assert!(!signature_matches(
            &token,
            &url,
            &changed,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        for header in [
            "",
            "not base64!",
            "RSOYDt4T1cUTdK1PDd93/VVr8B8",
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=AAAA",
        ] {
            assert!(!signature_matches(&token, &url, &params, header), "{header}");
        }
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_a_date() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:20:00 GMT", now),
            Some(Duration::ZERO)
        );
        for garbage in ["", "-5", "1.5", "soon", "99999999999999999999999"] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage}");
        }
    }

    fn permanent(result: Result<HandedOver, SendError>) -> (String, String) {
        match result {
            Err(SendError::Permanent { code, reason }) => (code, reason),
            other => panic!("not permanent: {other:?}"),
        }
    }

    #[test]
    fn a_created_message_is_handed_over_with_its_sid() {
        let body = br#"{"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"}"#;
        assert_eq!(
            classify(201, None, body),
            Ok(HandedOver {
                provider: Provider::Twilio,
                provider_message_id: Some("SM0123456789abcdef0123456789abcdef".into()),
            })
        );
        // Taken, though its answer was lost: still handed over, never sent again.
        assert_eq!(classify(201, None, b"").unwrap().provider_message_id, None);
    }

    #[test]
    fn busy_or_broken_twilio_is_retried_when_it_says() {
        let later = Some(Duration::from_secs(30));
        for status in [429, 500, 503] {
            match classify(status, later, b"{}") {
                Err(SendError::Transient { retry_after, .. }) => assert_eq!(retry_after, later, "{status}"),
                other => panic!("{status}: {other:?}"),
            }
        }
        assert!(matches!(
            classify(502, None, b"<html>"),
            Err(SendError::Transient {
                retry_after: None,
                ..
            })
        ));
    }

    #[test]
    fn refused_credentials_wait_for_the_operator() {
        for status in [401, 403] {
            let body = br#"{"code": 20003, "message": "Authenticate", "status": 401}"#;
            assert!(
                matches!(classify(status, None, body), Err(SendError::Transient { .. })),
                "{status}"
            );
        }
    }

    #[test]
    fn a_refused_message_gets_our_words_never_twilios() {
        let answer = |code: u64| {
            format!(
                r#"{{"code": {code}, "message": "The 'To' number +819012345678 is not valid.", "status": 400}}"#
            )
        };
        let (code, reason) = permanent(classify(400, None, answer(21211).as_bytes()));
        assert_eq!(code, "twilio:21211");
        assert_eq!(reason, "invalid 'To' phone number");
        for known in [21614, 21610, 21408, 21612, 21606, 21659, 12345] {
            let (code, reason) = permanent(classify(400, None, answer(known).as_bytes()));
            assert_eq!(code, format!("twilio:{known}"));
            assert!(
                !reason.contains("+81") && !reason.contains("9012345678"),
                "{reason}"
            );
        }
        assert_ne!(refusal_reason(Some(21610), 400), refusal_reason(Some(21614), 400));
        assert_eq!(permanent(classify(404, None, b"not json")).0, "twilio:http_404");
        assert_eq!(
            permanent(classify(400, None, br#"{"code": "21614"}"#)).0,
            "twilio:21614"
        );
    }

    #[test]
    fn the_config_is_checked_when_the_channel_is_built() {
        assert!(TwilioSender::new(config()).is_ok());
        let broken: [fn(&mut TwilioConfig); 8] = [
            |c| c.account_sid = "AC123".into(),
            |c| c.auth = TwilioAuth::AuthToken("".into()),
            |c| {
                c.auth = TwilioAuth::ApiKey {
                    sid: "AK1".into(),
                    secret: "s".into(),
                }
            },
            |c| c.sender = TwilioFrom::Number("09012345678".into()),
            |c| c.sender = TwilioFrom::MessagingService("MG1".into()),
            |c| c.base_url = "http://api.twilio.com".into(),
            |c| c.status_callback = Some("clinic.example.jp/status".into()),
            |c| c.timeout = Duration::ZERO,
        ];
        for (i, breaks) in broken.into_iter().enumerate() {
            let mut c = config();
            breaks(&mut c);
            assert!(TwilioSender::new(c).is_err(), "case {i}");
        }
        let mut local = config();
        local.base_url = "http://127.0.0.1:8080/".into();
        let sender = TwilioSender::new(local).unwrap();
        assert_eq!(
            sender.messages_url.as_str(),
            format!("http://127.0.0.1:8080/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
        );
    }

    #[test]
    fn no_secret_shows_in_debug_output() {
        let mut c = config();
        let shown = format!("{c:?} {:?}", TwilioSender::new(c.clone()).unwrap());
        assert!(!shown.contains("token-that-must-not-show"), "{shown}");
        c.auth = TwilioAuth::ApiKey {
            sid: "SK0123456789abcdef0123456789abcdef".into(),
            secret: "key-secret-that-must-not-show".into(),
        };
        let shown = format!("{c:?} {:?}", TwilioSender::new(c.clone()).unwrap());
        assert!(!shown.contains("key-secret-that-must-not-show"), "{shown}");
    }

    #[test]
    fn the_status_callback_carries_the_ids() {
        let sender = TwilioSender::new(config()).unwrap();
        let m = OutgoingMessage {
            delivery_id: DeliveryId(uuid::Uuid::now_v7()),
            appointment_id: AppointmentId(uuid::Uuid::now_v7()),
            clinic_id: ClinicId(uuid::Uuid::now_v7()),
            destination: Destination::parse(enkaku_domain::values::Channel::Sms, "090-1234-5678").unwrap(),
            clinic_name: "Clinic".into(),
            content: Content::Sms { text: "hello".into() },
        };
        assert_eq!(
            sender.status_callback_for(&m).unwrap(),
            format!(
                "https://clinic.example.jp/webhooks/twilio/status?clinic={}&appointment={}&delivery={}",
                m.clinic_id, m.appointment_id, m.delivery_id
            )
        );
        let mut with_query = config();
        with_query.status_callback = Some("https://clinic.example.jp/s?v=1".into());
        let callback = TwilioSender::new(with_query)
            .unwrap()
            .status_callback_for(&m)
            .unwrap();
        assert!(
            callback.starts_with("https://clinic.example.jp/s?v=1&clinic="),
            "{callback}"
        );
    }
}
