//! The e-mail channel: hands a message to an SMTP server (the clinic's relay or a mail
//! service's submission port) with lettre, over rustls, one connection per message.
//!
//! The message is `multipart/alternative` (the same words as UTF-8 plain text and HTML), from
//! the clinic by name at the configured address, with `Message-ID: <delivery id@sender's
//! domain>` so a bounce or a complaint names the delivery. Headers with Japanese are encoded
//! as RFC 2047 words and bodies as quoted-printable or base64, so the message is plain ASCII
//! and needs no 8BITMIME or SMTPUTF8 from the server.
//!
//! Nothing here logs or returns an address, a body or the password: errors carry our own
//! words and the reply code only (a server's text often quotes the recipient).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use enkaku_commands::channel::{Content, HandedOver, OutgoingMessage, SendError, UrlSender};
use enkaku_domain::values::{Destination, Provider};
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

/// Where and as whom e-mail is sent.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The server in lettre's URL form: `smtps://user:pass@host` (TLS from the start, port
    /// 465), `smtp://user:pass@host:587?tls=required` (STARTTLS, refused if the server does
    /// not offer it), or `smtp://127.0.0.1:2525` (no TLS: a relay on this machine). A path
    /// sets the EHLO name (`smtp://host/mail.clinic.example.jp`); without one lettre says
    /// `[127.0.0.1]`. A password needs `smtps` or `tls=required`.
    pub url: SecretString,
    /// The sender's address, e.g. `no-reply@clinic.example.jp`; its domain ends every
    /// `Message-ID`. The clinic's name is the display name.
    pub from: String,
    /// How long one hand-over may take in all. Connecting must succeed within half of it,
    /// so that a host that never answers (nothing handed over) is told apart from a server
    /// that stalls in the middle of the conversation (outcome unknown).
    pub timeout: Duration,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field(
                "url",
                &shown_url(self.url.expose_secret()).unwrap_or_else(|why| format!("(not shown: {why})")),
            )
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The URL with its password replaced by `***`, or why it cannot be shown safely: a URL
/// that does not parse, or whose `@` is not where the user part ends (a password with an
/// unencoded `/`, `?` or `#` would spill into the path, query or fragment).
fn shown_url(url: &str) -> Result<String, &'static str> {
    let not_a_url = "it is not an smtp:// or smtps:// URL with a host";
    let (_, rest) = url.split_once("://").ok_or(not_a_url)?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if rest[authority_end..].contains('@') {
        return Err("it has an `@` after its host: percent-encode the user name and password");
    }
    let mut parsed = url::Url::parse(url).map_err(|_| not_a_url)?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(not_a_url);
    }
    if parsed.password().is_some() {
        parsed.set_password(Some("***")).map_err(|()| not_a_url)?;
    }
    Ok(parsed.to_string())
}

/// A configuration [`SmtpSender::new`] refuses. The URL appears without its password.
#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    #[error("the SMTP URL {url} cannot be used: {reason}")]
    Url { url: String, reason: String },
    #[error("the sender address {from:?} cannot be used: {reason}")]
    From { from: String, reason: String },
    #[error("the SMTP timeout must be at least one second (it is {0:?})")]
    Timeout(Duration),
}

/// The e-mail channel. Each message gets its own connection (lettre without its pool), so a
/// connection the server broke never carries the next one.
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// The configured URL without its password, for `Debug`.
    server: String,
    from: Address,
    timeout: Duration,
}

impl fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSender")
            .field("server", &self.server)
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl SmtpSender {
    /// Checks the URL and the sender's address without connecting.
    pub fn new(config: SmtpConfig) -> Result<Self, SmtpConfigError> {
        let raw = config.url.expose_secret();
        let server = shown_url(raw).map_err(|why| SmtpConfigError::Url {
            url: "(not shown)".into(),
            reason: why.into(),
        })?;
        let url_error = |reason: String| SmtpConfigError::Url {
            url: server.clone(),
            reason,
        };
        let parsed = url::Url::parse(raw).map_err(|e| url_error(e.to_string()))?;
        let tls = parsed
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.into_owned());
        let encrypted = match (parsed.scheme(), tls.as_deref()) {
            ("smtps", None) | ("smtp", Some("required")) => true,
            ("smtp", None | Some("opportunistic")) => false,
            ("smtp" | "smtps", Some(_)) => {
                return Err(url_error(
                    "`tls` must be `required` or `opportunistic`, and only with smtp://".into(),
                ));
            }
            _ => return Err(url_error("the scheme must be smtp or smtps".into())),
        };
        if parsed.password().is_some() && !encrypted {
            return Err(url_error(
                "it holds a password but does not require TLS, so the password could cross the \
                 network in clear: use smtps:// or ?tls=required"
                    .into(),
            ));
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(raw)
            .map_err(|e| {
                // lettre's words name the part of the URL it disliked, never the password;
                // hide it anyway should that change.
                let mut reason = e.to_string();
                if let Some(password) = parsed.password().filter(|p| !p.is_empty()) {
                    reason = reason.replace(password, "***");
                }
                url_error(reason)
            })?
            .timeout(Some(config.timeout / 2))
            .build();

        let from_error = |reason: &str| SmtpConfigError::From {
            from: config.from.clone(),
            reason: reason.to_owned(),
        };
        if !config.from.is_ascii() {
            return Err(from_error("it must be ASCII"));
        }
        let from: Address = config.from.trim().parse().map_err(|_| {
            from_error(
                "it is not an e-mail address (write only the address, e.g. no-reply@clinic.example.jp)",
            )
        })?;
        if !from.domain().contains('.') || from.domain().starts_with('[') {
            return Err(from_error(
                "its domain must be a dotted name: it ends every Message-ID",
            ));
        }
        if config.timeout < Duration::from_secs(1) {
            return Err(SmtpConfigError::Timeout(config.timeout));
        }
        Ok(Self {
            transport,
            server,
            from,
            timeout: config.timeout,
        })
    }

    /// The `Message-ID` of a delivery's message, with its angle brackets.
    pub fn message_id(&self, delivery_id: &enkaku_domain::ids::DeliveryId) -> String {
        format!("<{delivery_id}@{}>", self.from.domain())
    }

    /// The message as it will be sent, or why it cannot be.
    fn compose(&self, m: &OutgoingMessage) -> Result<Message, SendError> {
        let (to, subject, text, html) = match (&m.destination, &m.content) {
            (Destination::Email(to), Content::Email { subject, text, html }) => (to, subject, text, html),
            _ => {
                return Err(SendError::Permanent {
                    code: "enkaku:wrong_channel".into(),
                    reason: "the SMTP channel sends e-mail only".into(),
                });
            }
        };
        let to: Address = Some(to.as_str())
            .filter(|address| address.is_ascii())
            .and_then(|address| address.parse().ok())
            .ok_or_else(|| SendError::Permanent {
                code: "enkaku:bad_address".into(),
                reason: "the address cannot be written into an e-mail (only ASCII addresses are sent)".into(),
            })?;
        let name = one_line(&m.clinic_name);
        let from = Mailbox::new((!name.is_empty()).then_some(name), self.from.clone());
        Message::builder()
            .from(from)
            .to(Mailbox::new(None, to))
            .subject(one_line(subject))
            .date_now()
            .message_id(Some(self.message_id(&m.delivery_id)))
            .multipart(MultiPart::alternative_plain_html(text.clone(), html.clone()))
            .map_err(|_| SendError::Permanent {
                code: "enkaku:bad_message".into(),
                reason: "the e-mail could not be composed".into(),
            })
    }
}

/// `text` on one line: line breaks and other control characters become single spaces. A
/// header cannot hold them (lettre panics on a display name with one).
fn one_line(text: &str) -> String {
    text.split(char::is_control)
        .map(str::trim)
        .filter(|piece| !piece.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[async_trait]
impl UrlSender for SmtpSender {
    /// See [`Failure`] for how lettre's errors become answers.
    async fn send(&self, m: &OutgoingMessage) -> Result<HandedOver, SendError> {
        let message = self.compose(m)?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_reply)) => Ok(HandedOver {
                provider: Provider::Smtp,
                provider_message_id: Some(self.message_id(&m.delivery_id)),
            }),
            Ok(Err(error)) => Err(Failure::of(&error).answer()),
            Err(_elapsed) => Err(Failure::Stalled.answer()),
        }
    }
}

/// What went wrong, as far as it decides what the worker does next.
///
/// SMTP has no idempotency key: a message the server took is delivered again if sent again.
/// So only what proves the server did not take it is retryable:
///
/// - a reply code: the server answered and refused (a negative reply to the final `.` of
///   DATA too means it did not take the message). 5xx is [`SendError::Permanent`] with code
///   `smtp:<code>` and our own short reason per code (the server's text may quote the
///   address); 4xx is [`SendError::Transient`].
/// - no connection, or no TLS session with the server (lettre's connection and TLS errors,
///   a connect timeout included): nothing was said, [`SendError::Transient`].
/// - lettre refusing on its own before `MAIL FROM` (the server offers no STARTTLS although
///   `tls=required`, or no login method lettre knows): nothing was sent,
///   [`SendError::Transient`] (an operator's fix makes the retry work).
///
/// Everything else, a connection lost, a reply that does not parse, or the whole exchange
/// outliving the timeout, is [`SendError::Unknown`]: lettre does not say how far the
/// transaction got, and it may have been after the final `.` (the server may have taken the
/// message). Staff decide; the worker does not resend on its own. That is also the answer to
/// the rare server that breaks or stalls before `MAIL FROM`: cautious, never a duplicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    /// A 5xx reply.
    Refused(u16),
    /// A 4xx reply.
    Deferred(u16),
    /// No connection or no TLS session.
    Unreachable,
    /// lettre refused before the transaction.
    Unsupported,
    /// The exchange outlived the timeout.
    Stalled,
    /// The connection broke, or the server answered something unreadable.
    Broken,
}

impl Failure {
    fn of(error: &lettre::transport::smtp::Error) -> Self {
        if let Some(code) = error.status() {
            let number = code.to_string().parse().unwrap_or(0);
            return if error.is_permanent() {
                Self::Refused(number)
            } else {
                Self::Deferred(number)
            };
        }
        // lettre makes connecting (TCP, the TLS handshake of smtps and STARTTLS) its
        // `Connection` kind, which it shows as "Connection error" but has no predicate for;
        // tests/tests/mail.rs checks this against a real refused connection and handshake.
        if error.is_tls() || error.to_string().starts_with("Connection error") {
            Self::Unreachable
        } else if error.is_client() {
            Self::Unsupported
        } else if error.is_timeout() {
            Self::Stalled
        } else {
            Self::Broken
        }
    }

    fn answer(self) -> SendError {
        match self {
            Self::Refused(code) => SendError::Permanent {
                code: format!("smtp:{code}"),
                reason: refused_reason(code).into(),
            },
            Self::Deferred(code) => SendError::Transient {
                reason: format!("smtp {code}: {}", deferred_reason(code)),
                retry_after: None,
            },
            Self::Unreachable => SendError::Transient {
                reason:
                    "could not connect to the mail server or agree on TLS with it; nothing was handed over"
                        .into(),
                retry_after: None,
            },
            Self::Unsupported => SendError::Transient {
                reason: "the mail server lacks what the hand-over needs (STARTTLS or a known login method); \
                         nothing was handed over"
                    .into(),
                retry_after: None,
            },
            Self::Stalled => SendError::Unknown {
                reason: "the mail server did not finish the hand-over in time; it may have taken the message"
                    .into(),
            },
            Self::Broken => SendError::Unknown {
                reason:
                    "the connection to the mail server broke during the hand-over; it may have taken the \
                         message"
                        .into(),
            },
        }
    }
}

/// Our words for a 5xx reply (RFC 5321 §4.2.2–4.2.3, RFC 4954 for AUTH).
fn refused_reason(code: u16) -> &'static str {
    match code {
        500..=504 => "the mail server did not accept a command of ours",
        521 | 556 => "the recipient's domain does not accept mail",
        530 => "the mail server requires a login",
        534 | 538 => "the mail server requires a stronger login method",
        535 => "the mail server refused our login",
        550 => "the mailbox does not exist or refused the message",
        551 => "the mailbox is not served by this mail server",
        552 => "the message exceeds the mailbox's storage or size limit",
        553 => "the mailbox name is not allowed",
        554 => "the mail server refused the message",
        555 => "the mail server refused a parameter of MAIL FROM or RCPT TO",
        _ => "the mail server refused the message for good",
    }
}

/// Our words for a 4xx reply.
fn deferred_reason(code: u16) -> &'static str {
    match code {
        421 => "the mail server is not available now",
        450 => "the mailbox is not available now",
        451 => "the mail server had a local error",
        452 => "the mail server lacks storage now",
        454 => "TLS or login is not available now",
        _ => "the mail server asked to try again later",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use enkaku_domain::ids::{AppointmentId, ClinicId, DeliveryId};
    use enkaku_domain::values::Channel;
    use uuid::Uuid;

    const PASSWORD: &str = "s3cr3t-Pa55";

    fn config(url: &str, from: &str) -> SmtpConfig {
        SmtpConfig {
            url: url.into(),
            from: from.into(),
            timeout: Duration::from_secs(10),
        }
    }

    fn sender() -> SmtpSender {
        SmtpSender::new(config("smtp://127.0.0.1:2525", "no-reply@clinic.example.jp")).unwrap()
    }

    fn message(destination: Destination, content: Content) -> OutgoingMessage {
        OutgoingMessage {
            delivery_id: DeliveryId(Uuid::now_v7()),
            appointment_id: AppointmentId(Uuid::now_v7()),
            clinic_id: ClinicId(Uuid::now_v7()),
            destination,
            clinic_name: "さくら内科クリニック".into(),
            content,
        }
    }

    fn email(to: &str) -> OutgoingMessage {
        message(
            Destination::parse(Channel::Email, to).unwrap(),
            Content::Email {
                subject: "オンライン診療のご案内".into(),
                text: "診察の時間になりましたら https://enkaku.example/v/abc を開いてください。".into(),
                html: "<p>診察の時間になりましたら <a href=\"https://enkaku.example/v/abc\">こちら</a></p>"
                    .into(),
            },
        )
    }

    /// The header section of a formatted message, and the rest.
    fn split(raw: &str) -> (&str, &str) {
        raw.split_once("\r\n\r\n").expect("a blank line ends the headers")
    }

    #[test]
    fn the_message_is_ascii_with_encoded_japanese_headers_and_both_parts() {
        let sender = sender();
        let m = email("taro@example.jp");
        let raw = String::from_utf8(sender.compose(&m).unwrap().formatted()).unwrap();
        assert!(raw.is_ascii(), "{raw}");
        let (headers, body) = split(&raw);
        let header = |name: &str| {
            headers
                .split("\r\n")
                .find(|line| line.starts_with(&format!("{name}: ")))
                .unwrap_or_else(|| panic!("no {name} in {headers}"))
        };
        assert!(header("From").starts_with("From: =?utf-8?b?"), "{headers}");
        assert!(
            header("From").ends_with(" <no-reply@clinic.example.jp>"),
            "{headers}"
        );
        assert_eq!(header("To"), "To: taro@example.jp");
        assert!(header("Subject").starts_with("Subject: =?utf-8?b?"), "{headers}");
        assert!(header("Date").len() > "Date: ".len());
        assert_eq!(
            header("Message-ID"),
            format!("Message-ID: <{}@clinic.example.jp>", m.delivery_id)
        );
        assert!(header("Content-Type").starts_with("Content-Type: multipart/alternative;"));
        assert!(
            body.contains("Content-Type: text/plain; charset=utf-8\r\n"),
            "{body}"
        );
        assert!(
            body.contains("Content-Type: text/html; charset=utf-8\r\n"),
            "{body}"
        );
        assert!(
            body.find("text/plain") < body.find("text/html"),
            "plain text comes first"
        );
    }

    #[test]
    fn the_message_id_is_the_delivery_at_the_senders_domain() {
        let sender = sender();
        let id = DeliveryId(Uuid::nil());
        assert_eq!(
            sender.message_id(&id),
            "<00000000-0000-0000-0000-000000000000@clinic.example.jp>"
        );
    }

    #[test]
    fn a_line_break_in_the_clinic_name_or_subject_adds_no_header() {
        let sender = sender();
        let mut m = email("taro@example.jp");
        m.clinic_name = "Clinic\r\nBcc: eve@example.jp".into();
        m.content = Content::Email {
            subject: "Hello\r\nX-Injected: yes".into(),
            text: "t".into(),
            html: "h".into(),
        };
        let raw = String::from_utf8(sender.compose(&m).unwrap().formatted()).unwrap();
        let (headers, _) = split(&raw);
        assert!(
            !headers
                .split("\r\n")
                .any(|line| line.starts_with("Bcc:") || line.starts_with("X-Injected:")),
            "{headers}"
        );
        assert!(
            headers.contains("Subject: Hello X-Injected: yes\r\n"),
            "{headers}"
        );
        assert_eq!(one_line(" \t診察\r\n\r\n  のご案内\u{7f}"), "診察 のご案内");
    }

    #[test]
    fn only_email_content_to_an_email_address_is_sent() {
        let sender = sender();
        let sms = message(
            Destination::parse(Channel::Sms, "090-1234-5678").unwrap(),
            Content::Sms { text: "x".into() },
        );
        let mut mixed = email("taro@example.jp");
        mixed.content = Content::Sms { text: "x".into() };
        for m in [sms, mixed] {
            match sender.compose(&m) {
                Err(SendError::Permanent { code, .. }) => assert_eq!(code, "enkaku:wrong_channel"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn the_url_and_sender_are_checked_up_front_without_showing_the_password() {
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://relay.example.jp:587?tls=opportunistic",
            &format!("smtp://user:{PASSWORD}@smtp.example.jp:587?tls=required"),
            &format!("smtps://user:{PASSWORD}@smtp.example.jp"),
        ] {
            SmtpSender::new(config(url, "no-reply@clinic.example.jp"))
                .unwrap_or_else(|e| panic!("{url}: {e}"));
        }
        for (url, says) in [
            (format!("http://user:{PASSWORD}@smtp.example.jp"), "scheme"),
            (format!("smtp://user:{PASSWORD}@smtp.example.jp:587"), "TLS"),
            (
                format!("smtp://user:{PASSWORD}@smtp.example.jp:587?tls=opportunistic"),
                "TLS",
            ),
            (
                format!("smtp://user:{PASSWORD}@smtp.example.jp?tls=always"),
                "`tls`",
            ),
            (
                format!("smtps://user:{PASSWORD}@smtp.example.jp:notaport"),
                "not shown",
            ),
            (format!("user:{PASSWORD}@smtp.example.jp"), "not shown"),
            (
                format!("smtps://user:1/{PASSWORD}@smtp.example.jp"),
                "percent-encode",
            ),
            (
                format!("smtps://user:{PASSWORD}#1@smtp.example.jp"),
                "percent-encode",
            ),
        ] {
            let error = SmtpSender::new(config(&url, "no-reply@clinic.example.jp")).unwrap_err();
            let text = format!("{error} {error:?}");
            assert!(text.contains(says), "{url}: {text}");
            assert!(!text.contains(PASSWORD), "{url}: {text}");
        }
        for from in [
            "",
            "no-reply",
            "Clinic <no-reply@clinic.example.jp>",
            "no-reply@localhost",
            "受付@clinic.example.jp",
        ] {
            let url = format!("smtps://user:{PASSWORD}@smtp.example.jp");
            let error = SmtpSender::new(config(&url, from)).unwrap_err();
            assert!(matches!(error, SmtpConfigError::From { .. }), "{from}: {error}");
            assert!(!format!("{error} {error:?}").contains(PASSWORD));
        }
        let mut short = config("smtp://127.0.0.1:2525", "no-reply@clinic.example.jp");
        short.timeout = Duration::from_millis(10);
        assert!(matches!(SmtpSender::new(short), Err(SmtpConfigError::Timeout(_))));
    }

    #[test]
    fn debug_shows_the_server_but_not_the_password() {
        let config = config(
            &format!("smtp://user:{PASSWORD}@smtp.example.jp:587?tls=required"),
            "no-reply@clinic.example.jp",
        );
        let shown = format!("{config:?} {:?}", SmtpSender::new(config.clone()).unwrap());
        assert!(
            shown.contains("smtp://user:***@smtp.example.jp:587?tls=required"),
            "{shown}"
        );
        assert!(!shown.contains(PASSWORD), "{shown}");
    }

    #[test]
    fn replies_become_answers_in_our_own_words() {
        assert_eq!(
            Failure::Refused(550).answer(),
            SendError::Permanent {
                code: "smtp:550".into(),
                reason: "the mailbox does not exist or refused the message".into()
            }
        );
        assert!(matches!(
            Failure::Refused(599).answer(),
            SendError::Permanent { code, .. } if code == "smtp:599"
        ));
        assert!(matches!(
            Failure::Deferred(451).answer(),
            SendError::Transient { reason, retry_after: None } if reason.starts_with("smtp 451: ")
        ));
        assert!(matches!(
            Failure::Unreachable.answer(),
            SendError::Transient { .. }
        ));
        assert!(matches!(
            Failure::Unsupported.answer(),
            SendError::Transient { .. }
        ));
        assert!(matches!(Failure::Stalled.answer(), SendError::Unknown { .. }));
        assert!(matches!(Failure::Broken.answer(), SendError::Unknown { .. }));
    }
}
