//! Reading the read models: what the schedule, reception, patient search and outbox endpoints
//! serve.

use crate::patient_search::SearchPrefix;
use chrono::{DateTime, Utc};
use enkaku_domain::appointment::{DeliveryStatus, Kind, Status};
use enkaku_domain::ids::{AppointmentId, ClinicId, DeliveryId, StaffId};
use enkaku_domain::menu::ConsultationMode;
use enkaku_domain::values::{Channel, Provider};
use enkaku_domain::vocabulary::UnknownName;
use serde::Serialize;
use sqlx::{AnyPool, FromRow};

/// A time range `[from, to)`, e.g. one local day.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// A place in a list: the sort key (start, then appointment id) of the last entry given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct After {
    pub start_at_ms: i64,
    pub appointment_id: AppointmentId,
}

/// Which page of a list: at most `limit` entries after `after` (from the start when `None`).
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<After>,
}

/// A page of a list, and where the next one starts (`None`: this was the last).
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<After>,
}

impl PageRequest {
    /// The keyset bounds bound into the queries: strictly after `after` in
    /// (start_at_ms, appointment_id) order, or after everything's lower bound.
    fn bounds(&self) -> (i64, String) {
        match self.after {
            Some(after) => (after.start_at_ms, after.appointment_id.to_string()),
            None => (i64::MIN, String::new()),
        }
    }

    /// Keep `limit` of the `limit + 1` rows read; the extra one says another page exists.
    fn page<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> After) -> Page<T> {
        let limit = self.limit as usize;
        let more = items.len() > limit;
        items.truncate(limit);
        let next = if more { items.last().map(key) } else { None };
        Page { items, next }
    }
}

/// An appointment as the lists show it (the schedule, the reception list, search results):
/// what every list has, and what only some fill (`None` elsewhere).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListEntry {
    pub appointment_id: AppointmentId,
    pub kind: Kind,
    pub doctor_id: StaffId,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub status: Status,
    pub video: bool,
    /// The patient's name, or the title of a video URL; `None` once erased.
    pub display_name: Option<String>,
    /// The appointment's personal data was erased (SPEC §9): its name and chart number are
    /// gone for good.
    pub erased: bool,
    /// The reception list and search results.
    pub chart_number: Option<String>,
    /// In-clinic bookings in the reception list and search results.
    pub menu_name: Option<String>,
    pub mode: Option<ConsultationMode>,
    /// Since when the patient has had the call open, while they have.
    pub patient_joined_at: Option<DateTime<Utc>>,
    /// The reception list: where the newest delivery of the patient URL stands; `None` when
    /// none was asked for.
    pub url_delivery: Option<DeliveryStatus>,
}

/// A list's row as every list query selects it (`CAST(NULL AS TEXT)` for what it lacks).
#[derive(FromRow)]
struct EntryRow {
    appointment_id: String,
    kind: String,
    doctor_id: String,
    start_at_ms: i64,
    end_at_ms: i64,
    status: String,
    video: i32,
    display_name: Option<String>,
    chart_number: Option<String>,
    menu_name: Option<String>,
    mode: Option<String>,
    patient_since_ms: Option<i64>,
    url_delivery: Option<String>,
}

impl EntryRow {
    fn entry(self) -> Result<ListEntry, sqlx::Error> {
        Ok(ListEntry {
            appointment_id: appointment_id(&self.appointment_id)?,
            kind: named(&self.kind)?,
            doctor_id: staff_id(&self.doctor_id)?,
            start_at: time(self.start_at_ms)?,
            end_at: time(self.end_at_ms)?,
            status: named(&self.status)?,
            video: self.video != 0,
            erased: self.display_name.is_none(),
            display_name: self.display_name,
            chart_number: self.chart_number,
            menu_name: self.menu_name,
            mode: self.mode.as_deref().map(named).transpose()?,
            patient_joined_at: self.patient_since_ms.map(time).transpose()?,
            url_delivery: self.url_delivery.as_deref().map(named).transpose()?,
        })
    }
}

/// The rows of a list, read back, or the first that does not.
fn entries(rows: Vec<EntryRow>) -> Result<Vec<ListEntry>, sqlx::Error> {
    rows.into_iter().map(EntryRow::entry).collect()
}

/// Where the next page starts after `e`.
fn after(e: &ListEntry) -> After {
    After {
        start_at_ms: e.start_at.timestamp_millis(),
        appointment_id: e.appointment_id,
    }
}

/// A row that does not read back is a broken read model, not an entry to show with a made-up
/// id or date: it fails the query (and `enkaku replay` rebuilds the table).
fn corrupt(what: &str, value: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("read-model row with a bad {what}: {value}").into())
}

fn time(ms: i64) -> Result<DateTime<Utc>, sqlx::Error> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt("time", ms))
}

fn appointment_id(text: &str) -> Result<AppointmentId, sqlx::Error> {
    text.parse().map_err(|_| corrupt("appointment id", text))
}

fn staff_id(text: &str) -> Result<StaffId, sqlx::Error> {
    text.parse().map_err(|_| corrupt("staff id", text))
}

/// A kind, status or mode, by the name `as_str` stored.
fn named<T: std::str::FromStr<Err = UnknownName>>(text: &str) -> Result<T, sqlx::Error> {
    text.parse().map_err(|e: UnknownName| corrupt(e.vocabulary, text))
}

/// One doctor's entries in `range`, a page at a time, by start and then appointment id.
pub async fn schedule(
    pool: &AnyPool,
    clinic: ClinicId,
    doctor: StaffId,
    range: Range,
    request: PageRequest,
) -> Result<Page<ListEntry>, sqlx::Error> {
    let (after_ms, after_id) = request.bounds();
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT s.appointment_id, s.kind, s.doctor_id, s.start_at_ms, s.end_at_ms, s.status, s.video,
                s.display_name, CAST(NULL AS TEXT) AS chart_number, CAST(NULL AS TEXT) AS menu_name,
                CAST(NULL AS TEXT) AS mode, p.patient_since_ms, CAST(NULL AS TEXT) AS url_delivery
         FROM schedule_entries s LEFT JOIN call_presence p ON p.appointment_id = s.appointment_id
         WHERE s.clinic_id = $1 AND s.doctor_id = $2 AND s.start_at_ms >= $3 AND s.start_at_ms < $4
           AND (s.start_at_ms > $5 OR (s.start_at_ms = $5 AND s.appointment_id > $6))
         ORDER BY s.start_at_ms, s.appointment_id
         LIMIT $7",
    )
    .bind(clinic.to_string())
    .bind(doctor.to_string())
    .bind(range.from.timestamp_millis())
    .bind(range.to.timestamp_millis())
    .bind(after_ms)
    .bind(after_id)
    .bind(i64::from(request.limit) + 1)
    .fetch_all(pool)
    .await?;
    Ok(request.page(entries(rows)?, after))
}

/// The clinic's in-clinic bookings in `range`, a page at a time, by start and then
/// appointment id, each with where its newest patient-URL delivery stands (from the
/// deliveries read model, by its index on the appointment).
pub async fn reception(
    pool: &AnyPool,
    clinic: ClinicId,
    range: Range,
    request: PageRequest,
) -> Result<Page<ListEntry>, sqlx::Error> {
    let (after_ms, after_id) = request.bounds();
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT r.appointment_id, 'in_clinic' AS kind, r.doctor_id, r.start_at_ms, r.end_at_ms, r.status, r.video,
                r.patient_name AS display_name, r.chart_number, r.menu_name, r.mode, p.patient_since_ms,
                (SELECT d.status FROM delivery_log d WHERE d.appointment_id = r.appointment_id
                 ORDER BY d.requested_at_ms DESC, d.delivery_id DESC LIMIT 1) AS url_delivery
         FROM reception_entries r LEFT JOIN call_presence p ON p.appointment_id = r.appointment_id
         WHERE r.clinic_id = $1 AND r.start_at_ms >= $2 AND r.start_at_ms < $3
           AND (r.start_at_ms > $4 OR (r.start_at_ms = $4 AND r.appointment_id > $5))
         ORDER BY r.start_at_ms, r.appointment_id
         LIMIT $6",
    )
    .bind(clinic.to_string())
    .bind(range.from.timestamp_millis())
    .bind(range.to.timestamp_millis())
    .bind(after_ms)
    .bind(after_id)
    .bind(i64::from(request.limit) + 1)
    .fetch_all(pool)
    .await?;
    Ok(request.page(entries(rows)?, after))
}

/// What a search found: at most the `limit` asked for, and whether more matched.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub hits: Vec<ListEntry>,
    pub more: bool,
}

/// The clinic's appointments one of whose terms begins with `prefix`, latest start first
/// (then by appointment id, descending), at most `limit`. The terms are read by a range of
/// their key, so the cost follows the hits, not the clinic's appointments.
pub async fn patient_search(
    pool: &AnyPool,
    clinic: ClinicId,
    prefix: &SearchPrefix,
    limit: u32,
) -> Result<Found, sqlx::Error> {
    let (from, to) = prefix.range();
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT s.appointment_id, s.kind, s.doctor_id, s.start_at_ms, s.end_at_ms, s.status, s.video,
                s.display_name, s.chart_number, s.menu_name, s.mode, p.patient_since_ms,
                CAST(NULL AS TEXT) AS url_delivery
         FROM patient_search s LEFT JOIN call_presence p ON p.appointment_id = s.appointment_id
         WHERE s.clinic_id = $1 AND s.appointment_id IN (
             SELECT t.appointment_id FROM patient_search_terms t
             WHERE t.clinic_id = $1 AND t.term >= $2 AND t.term < $3)
         ORDER BY s.start_at_ms DESC, s.appointment_id DESC
         LIMIT $4",
    )
    .bind(clinic.to_string())
    .bind(from)
    .bind(to)
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?;
    let more = rows.len() > limit as usize;
    let hits = entries(rows.into_iter().take(limit as usize).collect())?;
    Ok(Found { hits, more })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_that_does_not_read_back_fails_instead_of_showing_made_up_values() {
        assert!(appointment_id("not-an-id").is_err());
        assert!(staff_id("").is_err());
        assert!(time(i64::MAX).is_err());
        let id = uuid::Uuid::now_v7();
        assert_eq!(appointment_id(&id.to_string()).unwrap(), AppointmentId(id));
        assert_eq!(time(0).unwrap(), DateTime::UNIX_EPOCH);
    }

    #[test]
    fn a_kind_status_or_mode_that_is_not_one_fails_the_row_naming_what_it_is() {
        let message = |e: sqlx::Error| e.to_string();
        assert!(message(named::<Kind>("in-clinic").unwrap_err()).contains("bad kind: in-clinic"));
        assert!(message(named::<Status>("Booked").unwrap_err()).contains("bad status: Booked"));
        assert!(message(named::<ConsultationMode>("").unwrap_err()).contains("bad consultation mode: "));
        assert_eq!(named::<Kind>("video_url").unwrap(), Kind::VideoUrl);
        assert_eq!(named::<Status>("in_call").unwrap(), Status::InCall);
        assert_eq!(
            named::<ConsultationMode>("in_person").unwrap(),
            ConsultationMode::InPerson
        );
    }
}

/// One patient-link delivery as the 送信ボックス lists it, with the message itself where the
/// outbox kept it (real providers' messages are not stored: they hold the patient URL).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeliveryLogEntry {
    pub delivery_id: DeliveryId,
    pub appointment_id: AppointmentId,
    pub channel: Channel,
    /// The phone number or address; `None` once the appointment's personal data was erased.
    pub destination: Option<String>,
    pub erased: bool,
    pub resend: bool,
    pub requested_at: DateTime<Utc>,
    pub status: DeliveryStatus,
    pub provider: Option<Provider>,
    pub sent_at: Option<DateTime<Utc>>,
    pub settled_at: Option<DateTime<Utc>>,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
}

#[derive(FromRow)]
struct DeliveryLogRow {
    delivery_id: String,
    appointment_id: String,
    channel: String,
    destination: Option<String>,
    resend: i32,
    requested_at_ms: i64,
    status: String,
    provider: Option<String>,
    sent_at_ms: Option<i64>,
    settled_at_ms: Option<i64>,
    failure_code: Option<String>,
    failure_reason: Option<String>,
    subject: Option<String>,
    body: Option<String>,
}

/// The clinic's `limit` newest deliveries, newest first.
pub async fn delivery_log(
    pool: &AnyPool,
    clinic: ClinicId,
    limit: u32,
) -> Result<Vec<DeliveryLogEntry>, sqlx::Error> {
    let rows: Vec<DeliveryLogRow> = sqlx::query_as(
        "SELECT d.delivery_id, d.appointment_id, d.channel, d.destination, d.resend, d.requested_at_ms,
                d.status, d.provider, d.sent_at_ms, d.settled_at_ms, d.failure_code, d.failure_reason,
                o.subject, o.body
         FROM delivery_log d LEFT JOIN outbox_messages o ON o.delivery_id = d.delivery_id
         WHERE d.clinic_id = $1
         ORDER BY d.requested_at_ms DESC, d.delivery_id DESC
         LIMIT $2",
    )
    .bind(clinic.to_string())
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(DeliveryLogEntry {
                delivery_id: DeliveryId(
                    r.delivery_id
                        .parse()
                        .map_err(|_| corrupt("delivery id", &r.delivery_id))?,
                ),
                appointment_id: appointment_id(&r.appointment_id)?,
                channel: named(&r.channel)?,
                erased: r.destination.is_none(),
                destination: r.destination,
                resend: r.resend != 0,
                requested_at: time(r.requested_at_ms)?,
                status: named(&r.status)?,
                provider: r.provider.as_deref().map(named).transpose()?,
                sent_at: r.sent_at_ms.map(time).transpose()?,
                settled_at: r.settled_at_ms.map(time).transpose()?,
                failure_code: r.failure_code,
                failure_reason: r.failure_reason,
                subject: r.subject,
                body: r.body,
            })
        })
        .collect()
}

/// Up to `limit` appointments whose personal data is due for erasure under a retention that
/// ended at `cutoff`: not erased yet, not in a call, and ended (or cancelled) at or before it.
pub async fn due_for_erasure(
    pool: &AnyPool,
    cutoff: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<(ClinicId, AppointmentId)>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT clinic_id, appointment_id FROM schedule_entries
         WHERE display_name IS NOT NULL AND status <> $1
           AND (end_at_ms <= $2 OR cancelled_at_ms <= $2)
         ORDER BY end_at_ms
         LIMIT $3",
    )
    .bind(Status::InCall.as_str())
    .bind(cutoff.timestamp_millis())
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|(clinic, id)| {
            let clinic = clinic
                .parse()
                .map(ClinicId)
                .map_err(|_| corrupt("clinic id", clinic))?;
            Ok((clinic, appointment_id(id)?))
        })
        .collect()
}
