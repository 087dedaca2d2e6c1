//! The words of the patient's invitation, by SMS and by e-mail (R14). Japanese, plain, and
//! without the patient's name or the appointment's title: a message can be read by whoever
//! holds the phone or the mailbox.

use crate::channel::Content;
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use enkaku_domain::values::ValidityWindow;

/// An SMS in Japanese travels as UCS-2: 70 code units in one segment, 67 in each segment of a
/// longer one. Two segments are the most a patient's phone shows as one message everywhere
/// (and the most the clinic pays for).
pub const SMS_MAX_SEGMENTS: usize = 2;
const UCS2_SINGLE: usize = 70;
const UCS2_PART: usize = 67;

/// What every invitation says.
#[derive(Clone, Copy, Debug)]
pub struct Invitation<'a> {
    pub clinic_name: &'a str,
    /// For questions; shown in the e-mail when the clinic has one.
    pub clinic_phone: Option<&'a str>,
    pub time_zone: Tz,
    pub start_at: DateTime<Utc>,
    pub window: ValidityWindow,
    /// The patient URL.
    pub url: &'a str,
}

/// How many segments `text` takes as a UCS-2 SMS.
pub fn ucs2_segments(text: &str) -> usize {
    let units = text.encode_utf16().count();
    if units <= UCS2_SINGLE {
        1
    } else {
        units.div_ceil(UCS2_PART)
    }
}

fn weekday(t: DateTime<Tz>) -> &'static str {
    ["日", "月", "火", "水", "木", "金", "土"][t.weekday().num_days_from_sunday() as usize]
}

/// `12月3日(木) 10:00`
fn short_time(t: DateTime<Utc>, tz: Tz) -> String {
    let t = t.with_timezone(&tz);
    format!(
        "{}月{}日({}) {}",
        t.month(),
        t.day(),
        weekday(t),
        t.format("%H:%M")
    )
}

/// `2026年12月3日(木) 10:00`
fn long_time(t: DateTime<Utc>, tz: Tz) -> String {
    format!("{}年{}", t.with_timezone(&tz).year(), short_time(t, tz))
}

/// `name` cut to at most `units` UTF-16 code units, marked with `…` when cut.
fn shorten(name: &str, units: usize) -> String {
    if name.encode_utf16().count() <= units {
        return name.to_owned();
    }
    let mut kept = String::new();
    let mut used = 0;
    for c in name.chars() {
        if used + c.len_utf16() + 1 > units {
            break;
        }
        used += c.len_utf16();
        kept.push(c);
    }
    kept.push('…');
    kept
}

impl Invitation<'_> {
    /// The SMS: clinic, 診察日時 and the link, in at most [`SMS_MAX_SEGMENTS`] segments for any
    /// public URL (`--public-url`) of up to 48 characters. The clinic's name is shortened to
    /// fit.
    pub fn sms(&self) -> Content {
        let text = |name: &str| {
            format!(
                "【{name}】ビデオ診察のご案内\n診察日時 {}\n{}",
                short_time(self.start_at, self.time_zone),
                self.url
            )
        };
        let budget = UCS2_PART * SMS_MAX_SEGMENTS;
        let without_name = text("").encode_utf16().count();
        // Even a long URL keeps a recognisable start of the name.
        let room = budget.saturating_sub(without_name).max(4);
        Content::Sms {
            text: text(&shorten(self.clinic_name, room)),
        }
    }

    /// The e-mail: the same, plus when the link works and whom to call, as text and HTML.
    pub fn email(&self) -> Content {
        let when = long_time(self.start_at, self.time_zone);
        let window = format!(
            "{} 〜 {}",
            short_time(self.window.valid_from, self.time_zone),
            short_time(self.window.valid_until, self.time_zone)
        );
        let contact = self.clinic_phone.map_or_else(
            || format!("ご不明な点は{}までお問い合わせください。", self.clinic_name),
            |phone| {
                format!(
                    "ご不明な点は{}（電話 {phone}）までお問い合わせください。",
                    self.clinic_name
                )
            },
        );
        let text = format!(
            "{clinic}からオンライン診療（ビデオ通話）のご案内です。\n\n\
             診察日時: {when}\n\n\
             診察日時になりましたら、次のURLを開いてください。\n{url}\n\n\
             URLを使える期間: {window}\n\
             {contact}\n\n\
             このメールは送信専用です。返信はできません。\n",
            clinic = self.clinic_name,
            url = self.url,
        );
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"ja\"><body style=\"font-size:16px;line-height:1.6\">\n\
             <p>{clinic}からオンライン診療（ビデオ通話）のご案内です。</p>\n\
             <p><strong>診察日時: {when}</strong></p>\n\
             <p>診察日時になりましたら、次のURLを開いてください。<br>\n<a href=\"{url}\">{url}</a></p>\n\
             <p>URLを使える期間: {window}<br>\n{contact}</p>\n\
             <p>このメールは送信専用です。返信はできません。</p>\n</body></html>\n",
            clinic = escape(self.clinic_name),
            url = escape(self.url),
            contact = escape(&contact),
        );
        Content::Email {
            subject: format!("【{}】オンライン診療のご案内", self.clinic_name),
            text,
            html,
        }
    }
}

/// Text made safe to place in HTML (element content and quoted attributes).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn invitation<'a>(clinic_name: &'a str, url: &'a str) -> Invitation<'a> {
        // 2026-12-03 10:00 in Tokyo, a Thursday.
        let start_at = Tz::Asia__Tokyo
            .with_ymd_and_hms(2026, 12, 3, 10, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        Invitation {
            clinic_name,
            clinic_phone: Some("03-1234-5678"),
            time_zone: Tz::Asia__Tokyo,
            start_at,
            window: ValidityWindow::for_start(start_at),
            url,
        }
    }

    /// A patient link as the signer makes it: 44 characters of token.
    const URL: &str = "https://clinic.example.jp/p/cAGTd2Y1dnCrnQ3dKJXs9kJ0eFv3xX4yLQAbCdEfGhIj";

    fn sms_text(content: Content) -> String {
        match content {
            Content::Sms { text } => text,
            other => panic!("not an SMS: {other:?}"),
        }
    }

    #[test]
    fn segments_are_counted_in_ucs2_code_units() {
        assert_eq!(ucs2_segments(&"あ".repeat(70)), 1);
        assert_eq!(ucs2_segments(&"あ".repeat(71)), 2);
        assert_eq!(ucs2_segments(&"あ".repeat(134)), 2);
        assert_eq!(ucs2_segments(&"あ".repeat(135)), 3);
        // A character outside the BMP takes two code units.
        assert_eq!(ucs2_segments(&"𠮷".repeat(35)), 1);
        assert_eq!(ucs2_segments(&"𠮷".repeat(36)), 2);
    }

    #[test]
    fn the_sms_says_clinic_date_and_link_in_two_segments_and_nothing_about_the_patient() {
        let text = sms_text(invitation("えんかくクリニック", URL).sms());
        assert_eq!(
            text,
            format!("【えんかくクリニック】ビデオ診察のご案内\n診察日時 12月3日(木) 10:00\n{URL}")
        );
        assert!(ucs2_segments(&text) <= SMS_MAX_SEGMENTS);
    }

    #[test]
    fn a_long_clinic_name_is_shortened_to_fit() {
        let name = "医療法人社団えんかく会えんかく駅前内科・小児科・皮膚科クリニック本院";
        let text = sms_text(invitation(name, URL).sms());
        assert!(ucs2_segments(&text) <= SMS_MAX_SEGMENTS, "{text}");
        assert!(text.starts_with("【医療法人社団えんかく会"), "{text}");
        assert!(text.contains("…】"), "{text}");
        assert!(text.ends_with(URL));
    }

    #[test]
    fn the_email_adds_the_window_and_the_phone_and_escapes_html() {
        let Content::Email { subject, text, html } = invitation("A&B <クリニック>", URL).email() else {
            panic!("not an e-mail");
        };
        assert_eq!(subject, "【A&B <クリニック>】オンライン診療のご案内");
        assert!(text.contains("診察日時: 2026年12月3日(木) 10:00"), "{text}");
        assert!(
            text.contains("URLを使える期間: 12月3日(木) 09:00 〜 12月4日(金) 10:00"),
            "{text}"
        );
        assert!(text.contains("電話 03-1234-5678"), "{text}");
        assert!(text.contains(URL));
        assert!(html.contains("A&amp;B &lt;クリニック&gt;"), "{html}");
        assert!(html.contains(&format!("<a href=\"{URL}\">{URL}</a>")), "{html}");
    }

    proptest! {
        /// Any clinic name (any script, any length) and any public URL of up to 48
        /// characters, on any day: the SMS fits two segments and ends with the whole link.
        #[test]
        fn every_sms_fits_two_segments(name in "\\PC{1,80}", host in "[a-z]{1,37}", days in 0i64..400) {
            let url = format!("https://{host}.jp/p/{}", "x".repeat(44));
            let mut sent = invitation(&name, &url);
            sent.start_at += chrono::Duration::days(days);
            let text = sms_text(sent.sms());
            prop_assert!(ucs2_segments(&text) <= SMS_MAX_SEGMENTS, "{}", text);
            prop_assert!(text.ends_with(&url));
        }
    }
}
