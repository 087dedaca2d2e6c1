//! The e-mail channel against a real SMTP server (aiosmtpd): what arrives is a proper
//! Japanese multipart e-mail, and every way the hand-over can end gives the answer the
//! delivery worker relies on (refused for good, try again later, or outcome unknown).

use std::time::{Duration, Instant};

use enkaku_commands::channel::{Content, OutgoingMessage, SendError, UrlSender};
use enkaku_domain::ids::{AppointmentId, ClinicId, DeliveryId};
use enkaku_domain::values::{Channel, Destination, Provider};
use enkaku_infra::mail::{SmtpConfig, SmtpSender};
use enkaku_tests::smtp::SmtpServer;
use mail_parser::{MessageParser, MimeHeaders};
use uuid::Uuid;

const FROM: &str = "no-reply@clinic.example.jp";
const CLINIC: &str = "さくら内科クリニック";
const SUBJECT: &str = "【さくら内科クリニック】オンライン診療のURLのご案内";
const LINK: &str = "https://enkaku.example.jp/v/3q2-7Xb_k9";

fn sender(url: String, timeout: Duration) -> SmtpSender {
    SmtpSender::new(SmtpConfig {
        url: url.into(),
        from: FROM.into(),
        timeout,
    })
    .expect("a valid configuration")
}

fn email(to: &str) -> OutgoingMessage {
    OutgoingMessage {
        delivery_id: DeliveryId(Uuid::now_v7()),
        appointment_id: AppointmentId(Uuid::now_v7()),
        clinic_id: ClinicId(Uuid::now_v7()),
        destination: Destination::parse(Channel::Email, to).expect("an e-mail address"),
        clinic_name: CLINIC.into(),
        content: Content::Email {
            subject: SUBJECT.into(),
            text: format!("山田 太郎 様\n\n診察の時間になりましたら、次のURLを開いてください。\n{LINK}\n"),
            html: format!(
                "<p>山田 太郎 様</p><p>診察の時間になりましたら、<a href=\"{LINK}\">こちら</a>を開いてください。</p>"
            ),
        },
    }
}

/// The raw header section of a message (up to the first blank line).
fn header_section(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a blank line after the headers");
    &raw[..end]
}

/// The value of a raw header, unfolded.
fn raw_header(raw: &[u8], name: &str) -> String {
    let headers = String::from_utf8(header_section(raw).to_vec()).expect("ASCII headers");
    let unfolded = headers.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded
        .split("\r\n")
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} header in {unfolded}"))
}

#[tokio::test]
async fn an_accepted_message_arrives_as_japanese_multipart_with_encoded_headers() {
    let server = SmtpServer::start().await;
    let m = email("taro.yamada@example.jp");

    let handed = sender(server.url(), Duration::from_secs(20))
        .send(&m)
        .await
        .unwrap_or_else(|e| panic!("{e}; server log: {}", server.log()));

    let message_id = format!("<{}@clinic.example.jp>", m.delivery_id);
    assert_eq!(handed.provider, Provider::Smtp);
    assert_eq!(handed.provider_message_id.as_deref(), Some(message_id.as_str()));
    let messages = server.messages();
    assert_eq!(messages.len(), 1, "{}", server.log());
    let raw = &messages[0];

    // Japanese headers are RFC 2047 encoded words: the header section is ASCII.
    assert!(header_section(raw).is_ascii(), "{}", String::from_utf8_lossy(raw));
    assert!(
        raw.is_ascii(),
        "bodies are transfer-encoded, so no 8BITMIME is needed"
    );
    let from = raw_header(raw, "From");
    assert!(from.to_ascii_lowercase().starts_with("=?utf-8?"), "{from}");
    assert!(from.ends_with(&format!("<{FROM}>")), "{from}");
    assert!(
        raw_header(raw, "Subject")
            .to_ascii_lowercase()
            .starts_with("=?utf-8?")
    );
    assert_eq!(raw_header(raw, "Message-ID"), message_id);

    let parsed = MessageParser::default().parse(raw).expect("a parsable message");
    let sender_address = parsed.from().and_then(|a| a.first()).expect("From");
    assert_eq!(sender_address.name(), Some(CLINIC));
    assert_eq!(sender_address.address(), Some(FROM));
    let recipient = parsed.to().and_then(|a| a.first()).expect("To");
    assert_eq!(recipient.address(), Some("taro.yamada@example.jp"));
    assert_eq!(parsed.subject(), Some(SUBJECT));
    assert_eq!(
        parsed.message_id(),
        message_id.strip_prefix('<').and_then(|id| id.strip_suffix('>'))
    );
    let date = parsed.date().expect("a parsable Date");
    let skew = date.to_timestamp() - chrono::Utc::now().timestamp();
    assert!(skew.abs() < 300, "Date {date} is {skew} s off");

    let top = parsed.content_type().expect("Content-Type");
    assert_eq!((top.ctype(), top.subtype()), ("multipart", Some("alternative")));
    let part = |subtype: &str| {
        let found: Vec<_> = parsed
            .parts
            .iter()
            .filter(|p| {
                p.content_type()
                    .is_some_and(|c| c.ctype() == "text" && c.subtype() == Some(subtype))
            })
            .collect();
        assert_eq!(found.len(), 1, "one text/{subtype} part");
        let content_type = found[0].content_type().unwrap();
        assert_eq!(
            content_type
                .attribute("charset")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("utf-8"),
            "text/{subtype}"
        );
        found[0].text_contents().expect("text").to_owned()
    };
    let text = part("plain");
    assert!(text.contains(LINK) && text.contains("山田 太郎 様"), "{text}");
    let html = part("html");
    assert!(
        html.contains(&format!("href=\"{LINK}\"")) && html.contains("こちら"),
        "{html}"
    );
}

#[tokio::test]
async fn an_unknown_mailbox_is_refused_for_good_in_our_words_without_the_address() {
    let server = SmtpServer::start().await;
    let to = "reject.hanako@example.jp";

    let answer = sender(server.url(), Duration::from_secs(20))
        .send(&email(to))
        .await;

    match answer {
        Err(SendError::Permanent { code, reason }) => {
            assert_eq!(code, "smtp:550");
            assert_eq!(reason, "the mailbox does not exist or refused the message");
            assert!(!reason.contains("hanako") && !reason.contains('@'), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_mailbox_busy_for_now_is_tried_again_later() {
    let server = SmtpServer::start().await;

    let answer = sender(server.url(), Duration::from_secs(20))
        .send(&email("later.jiro@example.jp"))
        .await;

    match answer {
        Err(SendError::Transient { reason, .. }) => {
            assert!(reason.starts_with("smtp 451: "), "{reason}");
            assert!(!reason.contains("jiro") && !reason.contains('@'), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_server_that_is_not_there_is_tried_again_later() {
    let port = enkaku_tests::process::free_port();

    let answer = sender(format!("smtp://127.0.0.1:{port}"), Duration::from_secs(20))
        .send(&email("taro@example.jp"))
        .await;

    assert!(
        matches!(&answer, Err(SendError::Transient { reason, .. }) if reason.starts_with("could not connect")),
        "{answer:?}"
    );
}

#[tokio::test]
async fn no_tls_with_a_server_that_does_not_speak_it_is_tried_again_later() {
    let server = SmtpServer::start().await;
    // The server speaks plain SMTP: the smtps handshake fails, and it offers no STARTTLS.
    for (url, says) in [
        (format!("smtps://127.0.0.1:{}", server.port), "could not connect"),
        (
            format!("smtp://127.0.0.1:{}?tls=required", server.port),
            "the mail server lacks",
        ),
    ] {
        let answer = sender(url.clone(), Duration::from_secs(20))
            .send(&email("taro@example.jp"))
            .await;
        assert!(
            matches!(&answer, Err(SendError::Transient { reason, .. }) if reason.starts_with(says)),
            "{url}: {answer:?}"
        );
    }
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_server_that_stalls_after_the_message_leaves_the_outcome_unknown() {
    let server = SmtpServer::start().await;
    let started = Instant::now();

    let answer = sender(server.url(), Duration::from_secs(2))
        .send(&email("stall.taro@example.jp"))
        .await;

    assert!(
        matches!(&answer, Err(SendError::Unknown { reason }) if reason.contains("in time")),
        "{answer:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_connection_lost_before_the_answer_leaves_the_outcome_unknown() {
    let server = SmtpServer::start().await;

    let answer = sender(server.url(), Duration::from_secs(20))
        .send(&email("vanish.taro@example.jp"))
        .await;

    assert!(
        matches!(&answer, Err(SendError::Unknown { reason }) if reason.contains("broke")),
        "{answer:?}"
    );
    // Which is why: the server did take it.
    assert_eq!(server.messages().len(), 1, "{}", server.log());
}
