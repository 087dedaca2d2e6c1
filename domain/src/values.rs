//! Value types that can only be built through a validating constructor ("parse, don't
//! validate"): once a `PatientName` or `SmsNumber` exists, it is valid.

use crate::error::DomainError;
use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Invisible characters that carry nothing a person meant and do not change how the text
/// looks: zero-width space, non-joiner and joiner, word joiner, and the byte-order mark
/// (U+FEFF, also "zero-width no-break space"). They arrive by copy and paste (a BOM from a
/// file, a zero-width space from a web page or a word processor) and let two names that look
/// the same differ, so a search or a duplicate check misses one. They are **stripped**, not
/// refused: removing them stores exactly what the typist saw, and refusing would stop staff
/// with an error about something they cannot see. (A joiner inside an emoji sequence is lost
/// too: the emoji then shows as its parts, which no Japanese name or title needs.)
fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Bidirectional controls: the embeddings and overrides (U+202A–U+202E), the isolates
/// (U+2066–U+2069) and the direction marks (U+200E, U+200F, U+061C). They reorder what is
/// shown, so `U+202E` can make one name or chart number read as another on screen and in
/// print. They are **refused**: stripping would store something other than what the person
/// saw, and none of them belongs in a Japanese name, title or memo.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Unicode non-characters (U+FDD0–U+FDEF and the last two code points of every plane, such as
/// U+FFFE): never text, only a program's internal markers or the trace of a broken encoder.
/// **Refused**, as control characters are.
fn is_noncharacter(c: char) -> bool {
    let code = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&code) || code & 0xFFFE == 0xFFFE
}

/// Checks shared by every free-text field: invisible zero-width characters stripped, then
/// trimmed, length-bounded, and no control characters (a newline in a name would break SMS
/// bodies and CSV exports alike), bidirectional controls or non-characters. Everything else
/// stays as typed: kanji, kana (half-width too), combining marks, the ideographic space and
/// the variation selectors some family names need.
fn clean_text(
    field: &'static str,
    raw: &str,
    max_chars: usize,
    allow_newlines: bool,
) -> Result<String, DomainError> {
    let visible: String = raw.chars().filter(|c| !is_zero_width(*c)).collect();
    let text = visible.trim();
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !(allow_newlines && (c == '\n' || c == '\r' || c == '\t')))
    {
        return Err(DomainError::invalid(field, "must not contain control characters"));
    }
    if text.chars().any(is_bidi_control) {
        return Err(DomainError::invalid(
            field,
            "must not contain bidirectional control characters (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C)",
        ));
    }
    if text.chars().any(is_noncharacter) {
        return Err(DomainError::invalid(
            field,
            "must not contain Unicode non-characters",
        ));
    }
    Ok(text.to_owned())
}

/// Free text a person must fill in: cleaned as [`clean_text`] does, and not empty.
fn required_text(field: &'static str, raw: &str, max_chars: usize) -> Result<String, DomainError> {
    let text = clean_text(field, raw, max_chars, false)?;
    if text.is_empty() {
        return Err(DomainError::invalid(field, "is required"));
    }
    Ok(text)
}

/// A stored value (an event written before the rules above) without the characters they now
/// refuse, so an old history still loads; what it shows is what a new entry would hold.
fn without_refused(stored: &str) -> String {
    stored
        .chars()
        .filter(|c| !is_bidi_control(*c) && !is_noncharacter(*c))
        .collect()
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident) => {
        text_type!(@type $(#[$doc])* $name);

        /// How stored values (events) are read back: through the same parser, after
        /// dropping what newer rules refuse (see [`without_refused`]).
        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&without_refused(&value))
            }
        }
    };
    // The type alone: its own `TryFrom<String>` says how a stored value is read back.
    (@type $(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A [`text_type!`] a person must fill in, reported on `field` when empty or over `max`
/// characters.
macro_rules! required_text_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal) => {
        text_type!($(#[$doc])* $name);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, DomainError> {
                required_text($field, raw, $max).map(Self)
            }
        }
    };
}

required_text_type!(
    /// 患者名: required, 1–100 characters (R3). Never shown to the patient.
    PatientName, "patient_name", 100
);
required_text_type!(
    /// A clinic's name as patients and staff see it: required, 1–100 characters.
    ClinicName, "name", 100
);
required_text_type!(
    /// A staff member's name, as colleagues see it in lists and the doctor selector:
    /// required, 1–100 characters.
    StaffName, "name", 100
);
required_text_type!(
    /// 診療メニュー名: required, 1–100 characters (R1).
    MenuName, "name", 100
);
required_text_type!(
    /// Why a day is closed (休診理由), as staff see it: required, 1–200 characters.
    ClosureReason, "reason", 200
);

text_type!(
    /// カルテ番号: optional, 1–32 letters, digits, `-` or `_` (R3).
    ChartNumber
);
impl ChartNumber {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let text = clean_text("chart_number", raw, 32, false)?;
        if text.is_empty()
            || !text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(DomainError::invalid(
                "chart_number",
                "must be 1 to 32 letters, digits, '-' or '_'",
            ));
        }
        Ok(Self(text))
    }
}

text_type!(
    /// Clinic-internal title of a video-URL appointment, e.g. a care home's name (R8); may be empty.
    Title
);
impl Title {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        clean_text("title", raw, 100, false).map(Self)
    }
}

text_type!(
    /// 当日メモ: clinic-internal memo, up to 1000 characters, newlines allowed (R3).
    Memo
);
impl Memo {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        clean_text("memo", raw, 1000, true).map(Self)
    }
}

text_type!(
    @type
    /// A mobile phone number able to receive SMS, stored in E.164 form. Numbers without a
    /// country code are read as Japanese (R14).
    SmsNumber
);

/// How a stored number (an event's) is read back: in E.164 form, `+` and up to 15 digits, but
/// not held against the numbering plan again. Plans change — a range is reassigned, the
/// plan's data in a new build differs — and a number a clinic booked with must still read
/// back, or the event it is in would not. (A stored number was checked when it was recorded,
/// and a new send to it checks the allowed countries again.)
impl TryFrom<String> for SmsNumber {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let digits = value.strip_prefix('+').unwrap_or_default();
        let e164 = (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if e164 {
            Ok(Self(value))
        } else {
            Err(DomainError::invalid(
                "destination",
                "is not a stored phone number in E.164 form",
            ))
        }
    }
}

/// A phone number as people type it in Japan, in the ASCII the numbering plans read:
/// full-width digits, `＋` and parentheses become ASCII, every dash a keyboard or an IME makes
/// (`－`, `ー`, `‐`, `−`, …) a hyphen, and the ideographic space a space.
fn ascii_phone_text(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            '０'..='９' => char::from_digit(u32::from(c) - u32::from('０'), 10).unwrap_or(c),
            '＋' => '+',
            '（' => '(',
            '）' => ')',
            '－' | 'ー' | 'ｰ' | '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' => '-',
            '\u{3000}' => ' ',
            c => c,
        })
        .collect()
}

/// A valid phone number of any kind, read as people type it; numbers without a country code
/// are Japanese. `None` when it is no valid number.
fn read_phone_number(raw: &str) -> Option<phonenumber::PhoneNumber> {
    let ascii = ascii_phone_text(raw);
    let text = ascii.trim();
    if text.is_empty() || text.len() > 32 {
        return None;
    }
    let number = phonenumber::parse(Some(phonenumber::country::Id::JP), text).ok()?;
    number.is_valid().then_some(number)
}

impl SmsNumber {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        use phonenumber::{Mode, Type, metadata::DATABASE};
        let number = read_phone_number(raw)
            .ok_or_else(|| DomainError::invalid("destination", "is not a valid mobile phone number"))?;
        match number.number_type(&DATABASE) {
            Type::Mobile | Type::FixedLineOrMobile => {}
            _ => {
                return Err(DomainError::invalid(
                    "destination",
                    "is not a mobile number: SMS needs a mobile phone",
                ));
            }
        }
        Ok(Self(number.format().mode(Mode::E164).to_string()))
    }
}

impl SmsNumber {
    /// The number's country (ISO 3166 region code, e.g. `JP`), when the numbering plan tells.
    pub fn region(&self) -> Option<phonenumber::country::Id> {
        phonenumber::parse(None, &self.0).ok()?.country().id()
    }
}

/// The countries whose mobile numbers may get an SMS, as ISO 3166 region codes (`JP`, `GB`).
/// An SMS to any number in the world costs the clinic and invites SMS-pumping fraud (someone
/// makes the service text premium numbers abroad and shares the fee), so only the countries
/// the clinic's patients live in are allowed. Configuration, not a fact about a number: the
/// decider gets it with every send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsCountries(Vec<phonenumber::country::Id>);

impl Default for SmsCountries {
    /// Japan only (R14 reads numbers without a country code as Japanese).
    fn default() -> Self {
        Self(vec![phonenumber::country::Id::JP])
    }
}

impl std::str::FromStr for SmsCountries {
    type Err = String;

    /// A comma-separated list of region codes, e.g. `JP,GB`; case and spaces do not matter.
    fn from_str(list: &str) -> Result<Self, String> {
        let mut countries = vec![];
        for code in list.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let id = code.to_ascii_uppercase().parse().map_err(|_| {
                format!("`{code}` is not an ISO 3166 region code known to the numbering plans")
            })?;
            if !countries.contains(&id) {
                countries.push(id);
            }
        }
        if countries.is_empty() {
            return Err("name at least one country, e.g. JP".into());
        }
        Ok(Self(countries))
    }
}

impl fmt::Display for SmsCountries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let codes: Vec<&str> = self.0.iter().map(|id| id.as_ref()).collect();
        f.write_str(&codes.join(", "))
    }
}

impl SmsCountries {
    /// Whether the patient URL may go to `destination`: e-mail always, SMS only to a number
    /// of an allowed country.
    pub fn check(&self, destination: &Destination) -> Result<(), DomainError> {
        match destination {
            Destination::Sms(number) if !number.region().is_some_and(|id| self.0.contains(&id)) => {
                Err(DomainError::SmsCountryNotAllowed {
                    allowed: self.to_string(),
                })
            }
            _ => Ok(()),
        }
    }
}

text_type!(
    @type
    /// A phone number people can call, of any kind (a landline, a mobile, a free dial), as
    /// they read it: Japanese numbers in their national form (`03-1234-5678`), others in the
    /// international one (`+44 20 7946 0958`).
    PhoneNumber
);

/// How a stored number (a clinic's, in its events) is read back: one in the form
/// [`PhoneNumber::parse`] writes (digits with the spaces, hyphens, parentheses and `+` of its
/// format) as it is, not held against the numbering plan again, for the reason [`SmsNumber`]
/// gives; anything else through the parser, as other stored values are. (Reading every number
/// through the plan also loaded the plan's whole data on the first event that had one.)
impl TryFrom<String> for PhoneNumber {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let digits = value.bytes().filter(u8::is_ascii_digit).count();
        let formatted = (2..=15).contains(&digits)
            && value.len() <= 32
            && value.bytes().all(|b| b.is_ascii_digit() || b" -+()".contains(&b));
        if formatted {
            Ok(Self(value))
        } else {
            Self::parse(&without_refused(&value))
        }
    }
}
impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        use phonenumber::{Mode, country::Id};
        let number = read_phone_number(raw)
            .ok_or_else(|| DomainError::invalid("phone", "is not a valid phone number"))?;
        let mode = if number.country().id() == Some(Id::JP) {
            Mode::National
        } else {
            Mode::International
        };
        Ok(Self(number.format().mode(mode).to_string()))
    }
}

/// An IANA time zone (`Asia/Tokyo`): the clinic's local day, hours and closures are in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct IanaTimeZone(chrono_tz::Tz);

impl IanaTimeZone {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        raw.trim()
            .parse()
            .map(Self)
            .map_err(|_| DomainError::invalid("time_zone", "is not an IANA time zone such as Asia/Tokyo"))
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.0
    }
}

impl TryFrom<String> for IanaTimeZone {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<IanaTimeZone> for String {
    fn from(value: IanaTimeZone) -> String {
        value.0.name().to_owned()
    }
}

impl fmt::Display for IanaTimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

text_type!(
    /// An e-mail address as RFC 5322 allows, with a dotted domain (R14).
    EmailAddress
);
impl EmailAddress {
    /// A patient's address, the destination of their URL (R14).
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::parse_field("destination", raw)
    }

    /// An address given in the request field `field` (a staff member's `email`, say).
    pub fn parse_field(field: &'static str, raw: &str) -> Result<Self, DomainError> {
        let text = raw.trim();
        let options = email_address::Options::default()
            .with_required_tld()
            .without_domain_literal()
            .without_display_text();
        if text.len() > 254 {
            return Err(DomainError::invalid(field, "is too long for an e-mail address"));
        }
        email_address::EmailAddress::parse_with_options(text, options)
            .map(|address| Self(address.as_str().to_owned()))
            .map_err(|e| DomainError::invalid(field, format!("is not a valid e-mail address ({e})")))
    }

    /// Whether both name the same mailbox, as people and sign-in treat addresses: case does
    /// not matter (`Sato@Clinic.jp` is `sato@clinic.jp`).
    pub fn same_mailbox(&self, other: &Self) -> bool {
        self.0.to_lowercase() == other.0.to_lowercase()
    }
}

/// How the patient URL travels (R14).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    /// Every value, for documents that list them (the OpenAPI enums).
    pub const ALL: [Self; 2] = [Self::Sms, Self::Email];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }
}

/// Who carried a message: the embedded outbox (kept for staff to read, not sent), Twilio
/// (SMS) or an SMTP server (e-mail).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Outbox,
    Twilio,
    Smtp,
}

impl Provider {
    /// Every value, for documents that list them (the OpenAPI enums).
    pub const ALL: [Self; 3] = [Self::Outbox, Self::Twilio, Self::Smtp];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Outbox => "outbox",
            Self::Twilio => "twilio",
            Self::Smtp => "smtp",
        }
    }

    /// A failure code of this provider, as events and the API carry it: `twilio:30003`.
    pub fn code(self, code: &str) -> String {
        format!("{}:{code}", self.as_str())
    }
}

/// Where the patient URL goes: a channel and an address valid for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "channel", content = "destination", rename_all = "snake_case")]
pub enum Destination {
    Sms(SmsNumber),
    Email(EmailAddress),
}

impl Destination {
    pub fn parse(channel: Channel, raw: &str) -> Result<Self, DomainError> {
        match channel {
            Channel::Sms => SmsNumber::parse(raw).map(Self::Sms),
            Channel::Email => EmailAddress::parse(raw).map(Self::Email),
        }
    }

    pub fn channel(&self) -> Channel {
        match self {
            Self::Sms(_) => Channel::Sms,
            Self::Email(_) => Channel::Email,
        }
    }

    pub fn address(&self) -> &str {
        match self {
            Self::Sms(n) => n.as_str(),
            Self::Email(e) => e.as_str(),
        }
    }
}

/// When a video call's URLs work (R13): from one hour before the start until the same time
/// the next day. Start 2022-08-30 13:00 → 2022-08-30 12:00 to 2022-08-31 13:00.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ValidityWindow {
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
}

/// Where `now` falls relative to a [`ValidityWindow`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowPosition {
    NotYetOpen,
    Open,
    Expired,
}

impl ValidityWindow {
    pub fn for_start(start_at: DateTime<Utc>) -> Self {
        Self {
            valid_from: start_at - Duration::hours(1),
            valid_until: start_at + Duration::days(1),
        }
    }

    /// Both ends are inclusive: at exactly 12:00 and exactly 13:00 the next day the link works.
    pub fn position(&self, now: DateTime<Utc>) -> WindowPosition {
        if now < self.valid_from {
            WindowPosition::NotYetOpen
        } else if now > self.valid_until {
            WindowPosition::Expired
        } else {
            WindowPosition::Open
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[test]
    fn r13_window_matches_the_example_of_the_spec() {
        let tokyo = chrono_tz::Asia::Tokyo;
        let start = tokyo.with_ymd_and_hms(2022, 8, 30, 13, 0, 0).unwrap();
        let window = ValidityWindow::for_start(start.with_timezone(&Utc));
        assert_eq!(
            window.valid_from,
            tokyo.with_ymd_and_hms(2022, 8, 30, 12, 0, 0).unwrap()
        );
        assert_eq!(
            window.valid_until,
            tokyo.with_ymd_and_hms(2022, 8, 31, 13, 0, 0).unwrap()
        );
    }

    #[test]
    fn r13_window_edges_are_inclusive() {
        let start = Utc.with_ymd_and_hms(2022, 8, 30, 4, 0, 0).unwrap();
        let w = ValidityWindow::for_start(start);
        let second = Duration::seconds(1);
        assert_eq!(w.position(w.valid_from - second), WindowPosition::NotYetOpen);
        assert_eq!(w.position(w.valid_from), WindowPosition::Open);
        assert_eq!(w.position(w.valid_until), WindowPosition::Open);
        assert_eq!(w.position(w.valid_until + second), WindowPosition::Expired);
    }

    #[test]
    fn r14_japanese_mobile_numbers_are_normalised_to_e164() {
        for raw in [
            "090-1234-5678",
            "09012345678",
            "+81 90 1234 5678",
            " 080-1234-5678 ",
        ] {
            let n = SmsNumber::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert!(n.as_str().starts_with("+81"), "{raw} → {n}");
        }
        assert_eq!(
            SmsNumber::parse("090-1234-5678").unwrap().as_str(),
            "+819012345678"
        );
    }

    #[test]
    fn numbers_are_read_as_people_type_them_full_width_dashes_and_spaces_included() {
        for raw in [
            "０９０－１２３４－５６７８",
            "０９０ー１２３４ー５６７８",
            "090−1234−5678",
            "090‐1234‐5678",
            "０９０\u{3000}１２３４\u{3000}５６７８",
            "＋８１ ９０ １２３４ ５６７８",
            "（０９０）１２３４－５６７８",
        ] {
            let n = SmsNumber::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(n.as_str(), "+819012345678", "{raw}");
        }
        assert!(
            SmsNumber::parse("０３－１２３４－５６７８").is_err(),
            "a landline stays one"
        );
    }

    proptest! {
        /// A number typed in full-width digits reads as the same number in ASCII.
        #[test]
        fn full_width_digits_read_as_their_ascii(digits in "0[789]0[0-9]{8}") {
            let wide: String = digits
                .chars()
                .map(|c| char::from_u32(u32::from(c) - u32::from('0') + u32::from('０')).unwrap())
                .collect();
            prop_assert_eq!(SmsNumber::parse(&wide).ok(), SmsNumber::parse(&digits).ok());
        }
    }

    #[test]
    fn r14_landlines_and_garbage_are_not_sms_numbers() {
        for raw in ["03-1234-5678", "12345", "", "not a number", "090-1234-56789-1"] {
            assert!(SmsNumber::parse(raw).is_err(), "{raw:?} was accepted");
        }
    }

    #[test]
    fn r14_a_stored_number_the_plan_refuses_today_still_reads_back_and_garbage_does_not() {
        // A number whose range the numbering plan no longer knows: refused as new input...
        assert!(SmsNumber::parse("+8120123").is_err());
        // ...yet the event that recorded it still reads back, as it was.
        let stored: SmsNumber = serde_json::from_value(serde_json::json!("+8120123")).unwrap();
        assert_eq!(stored.as_str(), "+8120123");
        let parsed = SmsNumber::parse("090-1234-5678").unwrap();
        let read_back: SmsNumber = serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
        assert_eq!(read_back, parsed);
        for garbage in [
            "09012345678",
            "+81 90 1234 5678",
            "+",
            "+0901234",
            "+8190123456789012",
            "+８１９０",
        ] {
            assert!(
                serde_json::from_value::<SmsNumber>(serde_json::json!(garbage)).is_err(),
                "{garbage:?} was read back"
            );
        }
    }

    #[test]
    fn a_stored_clinic_number_reads_back_as_written_and_other_stored_text_through_the_parser() {
        // In the form the parser writes, even where the plan refuses it today: as it was.
        assert!(PhoneNumber::parse("+8120123").is_err());
        for formatted in ["03-1234-5678", "+44 20 7946 0958", "+8120123", "(03) 1234-5678"] {
            let stored: PhoneNumber = serde_json::from_value(serde_json::json!(formatted)).unwrap();
            assert_eq!(stored.as_str(), formatted);
        }
        // Anything else as new input is read: full-width text normalised, garbage refused.
        let typed: PhoneNumber =
            serde_json::from_value(serde_json::json!("０３－１２３４－５６７８")).unwrap();
        assert_eq!(typed, PhoneNumber::parse("03-1234-5678").unwrap());
        for garbage in ["", "1", "call us", "03-1234-5678-9012-3456-7"] {
            assert!(
                serde_json::from_value::<PhoneNumber>(serde_json::json!(garbage)).is_err(),
                "{garbage:?} was read back"
            );
        }
    }

    #[test]
    fn r14_email_addresses_need_a_real_domain() {
        assert!(EmailAddress::parse("patient@example.jp").is_ok());
        for raw in [
            "patient",
            "patient@",
            "@example.jp",
            "patient@localhost",
            "a b@example.jp",
            "Name <p@example.jp>",
        ] {
            assert!(EmailAddress::parse(raw).is_err(), "{raw:?} was accepted");
        }
    }

    #[test]
    fn r3_patient_name_is_required_and_trimmed() {
        assert!(PatientName::parse("   ").is_err());
        assert_eq!(PatientName::parse(" 山田 花子 ").unwrap().as_str(), "山田 花子");
        assert!(PatientName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn given_the_default_countries_when_a_foreign_mobile_gets_an_sms_then_it_is_refused_naming_japan() {
        let japan = SmsCountries::default();
        let uk = Destination::parse(Channel::Sms, "+44 7400 123456").unwrap();
        assert_eq!(
            japan.check(&uk),
            Err(DomainError::SmsCountryNotAllowed { allowed: "JP".into() })
        );
        let err = japan.check(&uk).unwrap_err();
        assert_eq!(
            (err.code().as_str(), err.field()),
            ("sms_country_not_allowed", Some("destination"))
        );
        assert!(err.to_string().contains("JP"), "{err}");
        assert_eq!(
            japan.check(&Destination::parse(Channel::Sms, "090-1234-5678").unwrap()),
            Ok(())
        );
        assert_eq!(
            japan.check(&Destination::parse(Channel::Email, "a@example.co.uk").unwrap()),
            Ok(()),
            "e-mail goes anywhere"
        );
        let both: SmsCountries = " jp, GB ,jp".parse().unwrap();
        assert_eq!(both.to_string(), "JP, GB");
        assert_eq!(both.check(&uk), Ok(()));
    }

    #[test]
    fn given_a_bad_country_list_when_configured_then_it_is_refused() {
        for bad in ["", " , ", "XX", "JP,Japan", "jpn"] {
            assert!(bad.parse::<SmsCountries>().is_err(), "{bad:?} was accepted");
        }
    }

    type TextParser = fn(&str) -> Result<String, DomainError>;

    /// Every free-text parser, by the field it reports.
    fn text_parsers() -> [(&'static str, TextParser); 8] {
        [
            ("patient_name", |s| PatientName::parse(s).map(String::from)),
            ("chart_number", |s| ChartNumber::parse(s).map(String::from)),
            ("title", |s| Title::parse(s).map(String::from)),
            ("memo", |s| Memo::parse(s).map(String::from)),
            ("name", |s| ClinicName::parse(s).map(String::from)),
            ("name", |s| StaffName::parse(s).map(String::from)),
            ("name", |s| MenuName::parse(s).map(String::from)),
            ("reason", |s| ClosureReason::parse(s).map(String::from)),
        ]
    }

    #[test]
    fn names_of_clinics_staff_and_menus_are_required_and_at_most_100_characters() {
        let long = "あ".repeat(101);
        for (field, parse) in &text_parsers()[4..7] {
            for bad in ["", " \u{3000} ", &long] {
                assert_eq!(parse(bad).unwrap_err().field(), Some(*field), "{bad:?}");
            }
            assert_eq!(parse(" 一般内科 ").unwrap(), "一般内科");
            assert!(parse(&"あ".repeat(100)).is_ok());
        }
    }

    #[test]
    fn a_phone_number_for_patients_may_be_a_landline_and_reads_as_japanese_people_write_it() {
        for (raw, shown) in [
            ("03-1234-5678", "03-1234-5678"),
            ("０３（１２３４）５６７８", "03-1234-5678"),
            ("0312345678", "03-1234-5678"),
            ("+81 3 1234 5678", "03-1234-5678"),
            ("090-1234-5678", "090-1234-5678"),
            ("0120-123-456", "0120-123-456"),
            ("+44 20 7946 0958", "+44 20 7946 0958"),
        ] {
            let phone = PhoneNumber::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(phone.as_str(), shown, "{raw}");
            assert_eq!(PhoneNumber::parse(shown).unwrap(), phone, "parsing is idempotent");
        }
        for bad in ["", "12345", "03-1234", "not a number"] {
            assert_eq!(
                PhoneNumber::parse(bad).unwrap_err().field(),
                Some("phone"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_time_zone_is_an_iana_name_and_travels_as_it() {
        let tokyo = IanaTimeZone::parse(" Asia/Tokyo ").unwrap();
        assert_eq!(tokyo.tz(), chrono_tz::Asia::Tokyo);
        assert_eq!(serde_json::to_value(tokyo).unwrap(), "Asia/Tokyo");
        assert_eq!(
            serde_json::from_value::<IanaTimeZone>(serde_json::json!("Asia/Tokyo")).unwrap(),
            tokyo
        );
        for bad in ["", "Tokyo", "JST+9", "Asia/Nowhere"] {
            assert_eq!(
                IanaTimeZone::parse(bad).unwrap_err().field(),
                Some("time_zone"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_staff_address_is_reported_on_its_own_field_and_compared_without_case() {
        let err = EmailAddress::parse_field("email", "sato@").unwrap_err();
        assert_eq!(err.field(), Some("email"));
        assert_eq!(
            EmailAddress::parse("sato@").unwrap_err().field(),
            Some("destination")
        );
        let sato = EmailAddress::parse_field("email", "sato@demo.enkaku.test").unwrap();
        let shouted = EmailAddress::parse_field("email", "SATO@Demo.Enkaku.Test").unwrap();
        assert!(sato.same_mailbox(&shouted));
        assert_eq!(shouted.as_str(), "SATO@Demo.Enkaku.Test", "kept as typed");
        let other = EmailAddress::parse_field("email", "sato2@demo.enkaku.test").unwrap();
        assert!(!sato.same_mailbox(&other));
    }

    #[test]
    fn given_a_bidi_control_in_any_text_field_when_parsed_then_it_is_refused_naming_the_field() {
        for control in [
            '\u{202E}', '\u{202A}', '\u{2066}', '\u{2069}', '\u{200F}', '\u{061C}',
        ] {
            for (field, parse) in text_parsers() {
                let raw = format!("A{control}123");
                match parse(&raw) {
                    Err(DomainError::InvalidField { field: f, reason }) => {
                        assert_eq!(f, field);
                        assert!(reason.contains("bidirectional"), "{reason}");
                    }
                    other => panic!("{field} accepted U+{:04X}: {other:?}", u32::from(control)),
                }
            }
        }
    }

    #[test]
    fn given_a_noncharacter_when_parsed_then_it_is_refused() {
        for nonchar in [
            '\u{FFFE}',
            '\u{FFFF}',
            '\u{FDD0}',
            '\u{FDEF}',
            '\u{1FFFF}',
            '\u{10FFFE}',
        ] {
            for (field, parse) in text_parsers() {
                let err = parse(&format!("A{nonchar}1")).expect_err(field);
                assert_eq!(err.field(), Some(field));
                assert!(err.to_string().contains("non-characters"), "{err}");
            }
        }
    }

    #[test]
    fn given_zero_width_characters_and_a_bom_when_parsed_then_they_are_stripped() {
        assert_eq!(
            PatientName::parse("\u{FEFF}山\u{200B}田\u{200C} 花\u{200D}子\u{2060}")
                .unwrap()
                .as_str(),
            "山田 花子"
        );
        assert_eq!(
            ChartNumber::parse("\u{FEFF}A-\u{200B}0001").unwrap().as_str(),
            "A-0001"
        );
        assert_eq!(
            Title::parse("\u{200B} さくら苑 \u{FEFF}").unwrap().as_str(),
            "さくら苑"
        );
        assert_eq!(Memo::parse("発熱\u{200B}\n咳").unwrap().as_str(), "発熱\n咳");
        assert!(
            PatientName::parse("\u{200B}\u{FEFF}").is_err(),
            "a name of nothing but invisible characters is no name"
        );
    }

    #[test]
    fn given_japanese_names_when_parsed_then_they_are_kept_as_typed() {
        for name in [
            "山田\u{3000}花子", // ideographic space inside
            "ﾔﾏﾀﾞ ﾊﾅｺ",          // half-width katakana with a half-width voiced mark
            "か\u{3099}ん",     // combining voiced sound mark
            "髙橋 𠮷男",        // outside the BMP
            "葛\u{E0100}飾",    // an ideographic variation selector
            "ヤマダ・ハナコ",
        ] {
            assert_eq!(PatientName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn given_an_event_stored_before_the_rule_when_read_then_it_loads_without_the_controls() {
        let stored = serde_json::json!("山田\u{202E}花子\u{FFFF}");
        let name: PatientName = serde_json::from_value(stored).unwrap();
        assert_eq!(name.as_str(), "山田花子");
    }

    proptest! {
        #[test]
        fn patient_name_never_panics_and_valid_names_round_trip(raw in "\\PC{0,120}") {
            if let Ok(name) = PatientName::parse(&raw) {
                prop_assert_eq!(PatientName::parse(name.as_str()).unwrap(), name.clone());
                prop_assert!(!name.as_str().is_empty());
                prop_assert!(name.as_str().chars().count() <= 100);
            }
        }

        #[test]
        fn no_parsed_text_holds_bidi_controls_zero_widths_or_noncharacters(
            raw in "(\\PC|[\u{200B}-\u{200F}\u{202A}-\u{202E}\u{2060}\u{2066}-\u{2069}\u{FEFF}\u{FFFE}\u{FFFF}\u{FDD0}\u{3000}]){0,60}"
        ) {
            for (_, parse) in text_parsers() {
                if let Ok(text) = parse(&raw) {
                    prop_assert!(
                        !text.chars().any(|c| is_zero_width(c) || is_bidi_control(c) || is_noncharacter(c)),
                        "{:?} kept an invisible or reordering character", text
                    );
                    prop_assert_eq!(parse(&text).unwrap(), text.clone(), "parsing is idempotent");
                }
            }
        }

        #[test]
        fn stripping_zero_widths_never_changes_the_verdict_on_the_rest(
            name in "[\u{3041}-\u{3096}\u{4E00}-\u{9FFF}\u{FF66}-\u{FF9F}\u{3000} ]{1,40}",
            at in 0usize..40,
            invisible in prop::sample::select(vec!['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}']),
        ) {
            let mut chars: Vec<char> = name.chars().collect();
            chars.insert(at.min(chars.len()), invisible);
            let with: String = chars.into_iter().collect();
            prop_assert_eq!(PatientName::parse(&with).ok(), PatientName::parse(&name).ok());
        }

        #[test]
        fn sms_parser_never_panics_and_is_idempotent(raw in "[+0-9 ()-]{0,24}") {
            if let Ok(n) = SmsNumber::parse(&raw) {
                prop_assert_eq!(SmsNumber::parse(n.as_str()).unwrap(), n);
            }
        }

        #[test]
        fn window_always_spans_25_hours_around_the_start(secs in 0i64..4_000_000_000) {
            let start = Utc.timestamp_opt(secs, 0).unwrap();
            let w = ValidityWindow::for_start(start);
            prop_assert_eq!(w.valid_until - w.valid_from, Duration::hours(25));
            prop_assert_eq!(w.position(start), WindowPosition::Open);
        }
    }
}
