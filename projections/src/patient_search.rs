//! The patient search read model (患者検索): every appointment of either kind, found by the
//! patient's name, any word of it, a video URL's title or the カルテ番号, as staff type them.
//!
//! Two tables: `patient_search` holds what a hit shows, one row per appointment;
//! `patient_search_terms` holds the words it is found by, folded (see [`fold`]), keyed by
//! clinic and term. A search is one range of that key (the terms that begin with the folded
//! query), never a scan of the appointments. Terms are bytes (`BYTEA`, a blob on SQLite), so
//! both databases order them byte by byte whatever their collation: a prefix range on text
//! would follow PostgreSQL's locale instead.

use crate::bulk::BulkInsert;
use crate::runner::Projector;
use crate::schedule::{edited_title, fold_status, forget_personal, row_key, update_status};
use crate::writes::{Statement, Value, Writes};
use enkaku_domain::appointment::{Event, Kind, Status, status_after};
use enkaku_domain::envelope::RecordedEvent;
use std::collections::BTreeSet;
use unicode_normalization::UnicodeNormalization;

/// The longest term kept, and the most of a query compared, in characters after folding: a
/// name's 100 characters can grow under NFKC (「㍿」 is 「株式会社」), and an index entry must
/// stay small on every backend. A query is cut the same way, so it still finds the term.
const MAX_TERM_CHARS: usize = 100;

/// The form names, titles, chart numbers and queries are compared in: NFKC (full-width
/// letters and digits and half-width kana become the usual ones), lower case, katakana as
/// hiragana, and without spaces or the invisible zero-width characters pasted text carries.
/// So 「ＡＢ１２」 finds AB12, 「やまだ」 finds ヤマダ and 「山田 花子」 finds 山田花子.
fn fold(text: &str) -> String {
    fold_normalized(text.nfkc())
}

/// [`fold`] of text already in NFKC.
fn fold_normalized(text: impl Iterator<Item = char>) -> String {
    text.flat_map(char::to_lowercase)
        .filter(|c| !c.is_whitespace() && !matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}'))
        .map(as_hiragana)
        .take(MAX_TERM_CHARS)
        .collect()
}

/// Katakana ァ–ヶ as the hiragana of the same sound (the blocks are 0x60 apart).
fn as_hiragana(c: char) -> char {
    match c {
        '\u{30A1}'..='\u{30F6}' => char::from_u32(u32::from(c) - 0x60).unwrap_or(c),
        _ => c,
    }
}

/// The terms an appointment is found by: its whole name (or title), each word of it (so the
/// given name finds it too), and its chart number; less those that begin another of them (the
/// family name begins the whole name), since a search finds a term by its beginning: they
/// would find nothing the longer one does not, and cost a row each.
fn terms(name: &str, chart_number: Option<&str>) -> Vec<String> {
    // Normalized once: the words of NFKC text are NFKC themselves (no whitespace composes
    // with its neighbours), so they are only folded.
    let normalized: String = name.nfkc().collect();
    let sorted: BTreeSet<String> = std::iter::once(normalized.as_str())
        .chain(normalized.split_whitespace())
        .map(|text| fold_normalized(text.chars()))
        .chain(chart_number.map(fold))
        .filter(|term| !term.is_empty())
        .collect();
    // In byte order, a term that begins others comes right before one of them.
    let mut sorted = sorted.into_iter().peekable();
    let mut kept = Vec::new();
    while let Some(term) = sorted.next() {
        if !sorted.peek().is_some_and(|next| next.starts_with(&term)) {
            kept.push(term);
        }
    }
    kept
}

/// What a search looks for: the query folded like the terms. An appointment is a hit when one
/// of its terms begins with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchPrefix(String);

impl SearchPrefix {
    /// `None` when the query holds nothing to look for (only spaces, say).
    pub fn of(query: &str) -> Option<Self> {
        let folded = fold(query);
        (!folded.is_empty()).then_some(Self(folded))
    }

    /// The range of the terms that begin with it: `[prefix, prefix + 0xFF)`. UTF-8 never holds
    /// the byte 0xFF, so every term with this prefix sorts inside, and every other outside.
    pub(crate) fn range(&self) -> (Vec<u8>, Vec<u8>) {
        let from = self.0.as_bytes().to_vec();
        let mut to = from.clone();
        to.push(0xFF);
        (from, to)
    }
}

pub struct PatientSearchProjector;

/// A batch's creations, buffered: rows first, then their terms, which are written only where
/// the row is still at the version that made them. So applying a creation again after a
/// rename (offsets lost, rows kept) does not bring back the old name's terms.
struct Creations {
    rows: BulkInsert,
    terms: BulkInsert,
}

impl Creations {
    fn new() -> Self {
        Self {
            rows: BulkInsert::new(
                "INSERT INTO patient_search
                   (appointment_id, clinic_id, doctor_id, kind, start_at_ms, end_at_ms, status, video,
                    display_name, chart_number, menu_name, mode, version)",
                13,
                "ON CONFLICT (appointment_id) DO UPDATE SET status = excluded.status, version = excluded.version
                 WHERE patient_search.version < excluded.version",
            ),
            // SQLite needs the WHERE before an upsert clause of an INSERT … SELECT.
            terms: BulkInsert::new(
                "INSERT INTO patient_search_terms (clinic_id, term, appointment_id)
                 SELECT v.column1, v.column2, v.column3 FROM (",
                4,
                ") AS v JOIN patient_search s ON s.appointment_id = v.column3 AND s.version = v.column4
                 WHERE true ON CONFLICT DO NOTHING",
            ),
        }
    }

    /// Buffer the terms `name` and `chart_number` give the appointment at `version`.
    fn find_by(&mut self, clinic: &str, id: &str, version: i64, name: &str, chart_number: Option<&str>) {
        for term in terms(name, chart_number) {
            self.terms.push(
                id,
                vec![
                    Value::Text(clinic.to_owned()),
                    Value::Bytes(term.into_bytes()),
                    Value::Text(id.to_owned()),
                    Value::Int(version),
                ],
            );
        }
    }

    /// Fold a status change into the buffered creation of `id`, its terms following the row's
    /// version; false when `id` has none buffered.
    fn fold_status(&mut self, id: &str, status: Status, version: i64) -> bool {
        const STATUS: usize = 6;
        const VERSION: usize = 12;
        const TERM_VERSION: usize = 3;
        self.terms.fold(id, &[(TERM_VERSION, Value::Int(version))]);
        fold_status(&mut self.rows, id, (STATUS, VERSION), status, version)
    }

    fn flush(&mut self, writes: &mut Writes) {
        self.rows.flush(writes);
        self.terms.flush(writes);
    }

    /// Flush both, terms after rows, when either holds something of the appointment `id`.
    fn flush_for(&mut self, writes: &mut Writes, id: &str) {
        if self.rows.holds(id) || self.terms.holds(id) {
            self.flush(writes);
        }
    }
}

/// The appointment is no longer found by any of its words.
fn forget_terms(id: String) -> Statement {
    Statement::new(
        "DELETE FROM patient_search_terms WHERE appointment_id = $1",
        vec![Value::Text(id)],
    )
}

impl Projector for PatientSearchProjector {
    fn name(&self) -> &'static str {
        "patient_search"
    }

    fn schema(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS patient_search (
            appointment_id TEXT    PRIMARY KEY,
            clinic_id      TEXT    NOT NULL,
            doctor_id      TEXT    NOT NULL,
            kind           TEXT    NOT NULL,
            start_at_ms    BIGINT  NOT NULL,
            end_at_ms      BIGINT  NOT NULL,
            status         TEXT    NOT NULL,
            video          INTEGER NOT NULL,
            -- NULL (with chart_number, and no terms) once the personal data was erased.
            display_name   TEXT,
            chart_number   TEXT,
            menu_name      TEXT,
            mode           TEXT,
            version        BIGINT  NOT NULL
        );
        CREATE TABLE IF NOT EXISTS patient_search_terms (
            clinic_id      TEXT    NOT NULL,
            term           BYTEA   NOT NULL,
            appointment_id TEXT    NOT NULL,
            PRIMARY KEY (clinic_id, term, appointment_id)
        );
        CREATE INDEX IF NOT EXISTS patient_search_terms_by_appointment ON patient_search_terms (appointment_id);"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["patient_search_terms", "patient_search"]
    }

    fn shows(&self, event: &Event) -> bool {
        matches!(
            event,
            Event::AppointmentBooked(_)
                | Event::VideoUrlCreated(_)
                | Event::VideoCallEdited(_)
                | Event::PersonalDataErased(_)
        ) || status_after(event).is_some()
    }

    fn apply(&self, batch: &[(&RecordedEvent, &Event)], writes: &mut Writes) {
        let mut creations = Creations::new();
        for (recorded, event) in batch {
            let Some((id, version)) = row_key(recorded) else {
                continue;
            };
            let clinic = recorded.metadata.clinic_id.to_string();
            match event {
                Event::AppointmentBooked(e) => {
                    let patient = e.personal.known();
                    let chart_number = patient.and_then(|p| p.chart_number.as_ref()).map(|c| c.as_str());
                    creations.rows.push(
                        &id,
                        vec![
                            Value::Text(id.clone()),
                            Value::Text(clinic.clone()),
                            Value::Text(e.doctor_id.to_string()),
                            Value::Word(Kind::InClinic.as_str()),
                            Value::Int(e.start_at.timestamp_millis()),
                            Value::Int(e.end_at.timestamp_millis()),
                            Value::Word(Status::Booked.as_str()),
                            Value::Int(i64::from(e.video.is_some())),
                            Value::MaybeText(patient.map(|p| p.patient_name.to_string())),
                            Value::MaybeText(chart_number.map(str::to_owned)),
                            Value::MaybeText(Some(e.menu.name.clone())),
                            Value::MaybeText(Some(e.mode.as_str().into())),
                            Value::Int(version),
                        ],
                    );
                    if let Some(patient) = patient {
                        creations.find_by(&clinic, &id, version, patient.patient_name.as_str(), chart_number);
                    }
                }
                Event::VideoUrlCreated(e) => {
                    let title = e
                        .personal
                        .known()
                        .map(|t| t.title.as_ref().map_or("", |t| t.as_str()));
                    creations.rows.push(
                        &id,
                        vec![
                            Value::Text(id.clone()),
                            Value::Text(clinic.clone()),
                            Value::Text(e.doctor_id.to_string()),
                            Value::Word(Kind::VideoUrl.as_str()),
                            Value::Int(e.start_at.timestamp_millis()),
                            Value::Int(e.end_at.timestamp_millis()),
                            Value::Word(Status::Booked.as_str()),
                            Value::Int(1),
                            Value::MaybeText(title.map(str::to_owned)),
                            Value::MaybeText(None),
                            Value::MaybeText(None),
                            Value::MaybeText(None),
                            Value::Int(version),
                        ],
                    );
                    if let Some(title) = title {
                        creations.find_by(&clinic, &id, version, title, None);
                    }
                }
                Event::VideoCallEdited(e) => {
                    creations.flush_for(writes, &id);
                    let title = edited_title(e);
                    // A new title replaces every term (a video URL has no chart number), if the
                    // edit is new to the row.
                    let retermed = match &title {
                        Some(title) => std::iter::once(forget_terms(id.clone()))
                            .chain(terms(title, None).into_iter().map(|term| {
                                Statement::new(
                                    "INSERT INTO patient_search_terms (clinic_id, term, appointment_id)
                                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                                    vec![
                                        Value::Text(clinic.clone()),
                                        Value::Bytes(term.into_bytes()),
                                        Value::Text(id.clone()),
                                    ],
                                )
                            }))
                            .collect(),
                        None => vec![],
                    };
                    writes.when_changed(
                        "UPDATE patient_search
                         SET doctor_id = COALESCE($2, doctor_id), display_name = COALESCE($3, display_name), version = $4
                         WHERE appointment_id = $1 AND version < $4",
                        vec![
                            Value::Text(id),
                            Value::MaybeText(e.doctor_id.map(|d| d.to_string())),
                            Value::MaybeText(title),
                            Value::Int(version),
                        ],
                        retermed,
                    );
                }
                Event::PersonalDataErased(_) => {
                    creations.flush_for(writes, &id);
                    forget_personal(
                        writes,
                        "patient_search",
                        &["display_name", "chart_number"],
                        id.clone(),
                        version,
                    );
                    writes.add(forget_terms(id));
                }
                _ => {
                    if let Some(status) = status_after(event)
                        && !creations.fold_status(&id, status, version)
                    {
                        update_status(writes, "patient_search", id, status, version);
                    }
                }
            }
        }
        creations.flush(writes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(query: &str) -> String {
        SearchPrefix::of(query).expect("something to look for").0
    }

    #[test]
    fn a_name_is_found_whole_by_each_word_and_by_its_chart_number() {
        // 「山田」 begins 「山田花子」: a search for it finds that term.
        assert_eq!(terms("山田 花子", Some("AB12")), ["ab12", "山田花子", "花子"]);
        // The ideographic space separates words too.
        assert!(terms("山田　花子", None).contains(&"花子".to_owned()));
        // A word that is all of a chart number's beginning is left to it, too.
        assert_eq!(terms("K 田中", Some("K-1")), ["k-1", "k田中", "田中"]);
    }

    proptest::proptest! {
        /// Every query that begins the whole name, a word of it or the chart number finds a
        /// kept term: leaving out the terms that begin others loses no hit.
        #[test]
        fn every_word_is_still_found_by_each_of_its_beginnings(
            name in "(\\PC|\\s|\\p{M}){0,16}",
            chart_number in proptest::option::of("[a-zA-Z0-9\\-ー]{1,6}"),
        ) {
            let kept = terms(&name, chart_number.as_deref());
            let normalized: String = name.nfkc().collect();
            let words = std::iter::once(normalized.as_str()).chain(normalized.split_whitespace());
            for word in words.map(fold).chain(chart_number.as_deref().map(fold)) {
                let chars: Vec<char> = word.chars().collect();
                for end in 1..=chars.len() {
                    let query: String = chars[..end].iter().collect();
                    proptest::prop_assert!(
                        kept.iter().any(|term| term.starts_with(&query)),
                        "{query:?} finds none of {kept:?}"
                    );
                }
            }
        }

        /// What [`terms`] relies on to normalize a name once for all its words.
        #[test]
        fn the_words_of_normalized_text_are_normalized(text in "(\\PC|\\s|\\p{M}){0,24}") {
            let normalized: String = text.nfkc().collect();
            for word in normalized.split_whitespace() {
                proptest::prop_assert_eq!(word.nfkc().collect::<String>(), word);
            }
        }
    }

    #[test]
    fn width_case_kana_and_spaces_do_not_matter() {
        assert_eq!(prefix("ＡＢ１２"), "ab12");
        assert_eq!(prefix(" 山田 花子 "), "山田花子");
        assert_eq!(prefix("山田\u{3000}花子"), "山田花子");
        assert_eq!(prefix("ﾔﾏﾀﾞ"), "やまだ");
        assert_eq!(prefix("ヤマダ"), prefix("やまだ"));
        assert_eq!(prefix("\u{200B}k-1\u{FEFF}"), "k-1");
    }

    #[test]
    fn a_query_of_only_spaces_or_invisible_characters_looks_for_nothing() {
        assert_eq!(SearchPrefix::of("  \u{3000} "), None);
        assert_eq!(SearchPrefix::of("\u{200B}"), None);
        assert_eq!(SearchPrefix::of(""), None);
    }

    #[test]
    fn a_long_name_is_found_by_its_beginning_however_much_nfkc_grows_it() {
        let name = "㍿".repeat(100);
        let term = terms(&name, None).into_iter().next().unwrap();
        assert_eq!(term.chars().count(), MAX_TERM_CHARS);
        let (from, to) = SearchPrefix::of(&name).unwrap().range();
        assert!(from.as_slice() <= term.as_bytes() && term.as_bytes() < to.as_slice());
    }

    #[test]
    fn the_range_holds_exactly_the_terms_that_begin_with_the_prefix() {
        let (from, to) = SearchPrefix::of("山田").unwrap().range();
        let inside = |term: &str| from.as_slice() <= term.as_bytes() && term.as_bytes() < to.as_slice();
        assert!(inside("山田") && inside("山田花子") && inside("山田\u{10FFFF}"));
        assert!(!inside("山") && !inside("山本") && !inside("花子"));
    }
}
