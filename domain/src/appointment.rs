//! The appointment aggregate, for both kinds: an in-clinic booking (院内予約, R3–R7) and a
//! video URL only (ビデオ通話URL作成, R8–R11), plus sending (R14–R15) and the call (R18–R20).
//!
//! `decide(state, command)` returns the events a command causes or the rule it breaks;
//! `evolve(state, event)` folds one event into the state. Both are pure.

use crate::clinic::BookingHours;
use crate::error::DomainError;
use crate::ids::{ClinicId, DeliveryId, MenuId, StaffId};
use crate::menu::{ConsultationMode, Menu, VisitType};
use crate::personal::Personal;
use crate::values::{
    Channel, ChartNumber, Destination, Memo, PatientName, Provider, SmsCountries, Title, ValidityWindow,
    WindowPosition,
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

mod events;
pub use events::*;

/// A video-URL appointment has no menu and so no duration; the schedule draws it over one
/// slot of the grid.
pub const VIDEO_URL_DURATION_MIN: i64 = 15;

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/// 非会員 in-clinic booking (R3). The handler resolves `menu` from the clinic's set-up, checks
/// that `doctor_id` is one of the clinic's doctors, and looks up the doctor's `hours`.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateAppointment {
    pub clinic_id: ClinicId,
    pub doctor_id: StaffId,
    pub start_at: DateTime<Utc>,
    pub patient_name: PatientName,
    pub chart_number: Option<ChartNumber>,
    pub menu: Menu,
    pub visit_type: VisitType,
    pub mode: ConsultationMode,
    pub memo: Option<Memo>,
    /// The doctor's hours that day, which the booking must fit (SPEC §8); `None` when staff
    /// confirmed a booking outside them (`allow_outside_hours`).
    pub hours: Option<BookingHours>,
}

/// ビデオ通話URL作成 (R8). A video URL is never refused for the doctor's hours.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateVideoUrl {
    pub clinic_id: ClinicId,
    pub doctor_id: StaffId,
    pub start_at: DateTime<Utc>,
    pub title: Option<Title>,
}

/// Send or resend the patient URL (R14, R15).
#[derive(Clone, Debug, PartialEq)]
pub struct SendUrl {
    pub delivery_id: DeliveryId,
    pub destination: Destination,
    pub now: DateTime<Utc>,
    pub policy: SendPolicy,
}

/// What the operator allows when the patient URL is sent: configuration the decider gets
/// with every send, so the rule holds the same on every node.
#[derive(Clone, Debug, PartialEq)]
pub struct SendPolicy {
    /// The countries whose mobile numbers may get an SMS.
    pub sms_countries: SmsCountries,
    /// Sends (first send and resends together) of one appointment's URL within any hour.
    /// Each one is an SMS or e-mail the clinic pays for or a patient receives; twenty
    /// resends in a row made twenty messages before this limit.
    pub sends_per_hour: u32,
}

/// The default limit of sends per appointment and hour: enough for a send, a correction and
/// a few "it did not arrive" resends.
pub const DEFAULT_SENDS_PER_HOUR: u32 = 5;

impl Default for SendPolicy {
    fn default() -> Self {
        Self {
            sms_countries: SmsCountries::default(),
            sends_per_hour: DEFAULT_SENDS_PER_HOUR,
        }
    }
}

/// Edit a video-URL appointment (R10): only the fields given change.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct EditVideoUrl {
    pub title: Option<Title>,
    pub doctor_id: Option<StaffId>,
    /// The request asked for a start time (any, even the current one): the start cannot be
    /// edited, so such an edit is refused as a whole.
    pub requested_start: bool,
}

/// What the delivery worker reports back after trying to send.
#[derive(Clone, Debug, PartialEq)]
pub enum DeliveryReport {
    /// The provider took it (the outbox kept it).
    Sent {
        at: DateTime<Utc>,
        provider: Provider,
        provider_message_id: Option<String>,
    },
    /// It will not go out without staff; `code` as in [`UrlDeliveryFailed`].
    Failed {
        at: DateTime<Utc>,
        code: String,
        reason: String,
    },
    /// It may or may not have gone out.
    Unknown { at: DateTime<Utc>, reason: String },
}

/// A provider's status callback about a message (Twilio's `MessageStatus`).
#[derive(Clone, Debug, PartialEq)]
pub struct CarrierReport {
    pub delivery_id: DeliveryId,
    pub provider: Provider,
    pub provider_message_id: String,
    pub status: CarrierStatus,
    pub error_code: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    CreateAppointment(CreateAppointment),
    CreateVideoUrl(CreateVideoUrl),
    SendUrl(SendUrl),
    ResendUrl(SendUrl),
    EditVideoUrl(EditVideoUrl),
    CancelCall {
        now: DateTime<Utc>,
    },
    StartCall {
        now: DateTime<Utc>,
    },
    EndCall {
        now: DateTime<Utc>,
    },
    /// 「患者用URLを再発行」: revoke the patient URL (sent to a wrong number, say) and issue a
    /// new one. The clinic URL stays as it is.
    ReissuePatientUrl {
        now: DateTime<Utc>,
    },
    RecordDelivery {
        delivery_id: DeliveryId,
        report: DeliveryReport,
    },
    RecordCarrierStatus(CarrierReport),
    /// Erase the appointment's personal data for good (SPEC §9).
    ErasePersonalData {
        now: DateTime<Utc>,
        reason: ErasureReason,
    },
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Booked,
    InCall,
    Ended,
    Cancelled,
}

impl Status {
    /// Every value, for documents that list them (the OpenAPI enums).
    pub const ALL: [Self; 4] = [Self::Booked, Self::InCall, Self::Ended, Self::Cancelled];

    /// The name used in JSON, read models and the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::InCall => "in_call",
            Self::Ended => "ended",
            Self::Cancelled => "cancelled",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    InClinic,
    VideoUrl,
}

impl Kind {
    /// Every value, for documents that list them (the OpenAPI enums).
    pub const ALL: [Self; 2] = [Self::InClinic, Self::VideoUrl];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::InClinic => "in_clinic",
            Self::VideoUrl => "video_url",
        }
    }
}

/// What the patient page may learn about its link (`GET /api/v1/patient-links/{token}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    NotYetOpen,
    Open,
    Expired,
    Cancelled,
    Ended,
    /// The patient URL was reissued: this one no longer opens anything.
    Revoked,
}

impl LinkStatus {
    /// Every value, for documents that list them (the OpenAPI enums).
    pub const ALL: [Self; 6] = [
        Self::NotYetOpen,
        Self::Open,
        Self::Expired,
        Self::Cancelled,
        Self::Ended,
        Self::Revoked,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::NotYetOpen => "not_yet_open",
            Self::Open => "open",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Ended => "ended",
            Self::Revoked => "revoked",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct InClinicDetails {
    pub patient: Personal<BookedPatient>,
    pub menu: BookedMenu,
    pub visit_type: VisitType,
    pub mode: ConsultationMode,
    pub waived_booking_fee_yen: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Details {
    InClinic(InClinicDetails),
    VideoUrl { title: Personal<Option<Title>> },
}

/// Where a delivery attempt stands.
#[derive(Clone, Debug, PartialEq)]
pub enum DeliveryOutcome {
    /// Waiting for the worker (or for a retry).
    Pending,
    /// The provider took it (see [`Delivery::handed_over`]); no final word yet.
    HandedOver,
    /// The carrier reported it reached the phone.
    Delivered { at: DateTime<Utc> },
    /// It did not go out, or the carrier could not deliver it.
    Failed {
        at: DateTime<Utc>,
        code: Option<String>,
        reason: String,
    },
    /// It may or may not have gone out; staff decide whether to resend.
    Unknown { at: DateTime<Utc>, reason: String },
}

/// Who took a message and when.
#[derive(Clone, Debug, PartialEq)]
pub struct HandOver {
    pub at: DateTime<Utc>,
    pub provider: Provider,
    pub provider_message_id: Option<String>,
}

/// How far a delivery attempt got, as the API names it: its [`DeliveryOutcome`] without
/// times and reasons, with the outbox's keeping told apart from a real send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    /// Kept in the outbox: no provider is configured for its channel, nothing was sent.
    Kept,
    Sent,
    Delivered,
    Failed,
    Unknown,
}

impl DeliveryStatus {
    /// Where a message taken by `provider` stands: the outbox only keeps it.
    pub fn handed_over_to(provider: Provider) -> Self {
        if provider == Provider::Outbox {
            Self::Kept
        } else {
            Self::Sent
        }
    }

    /// Every value, for documents that list them (the OpenAPI enums).
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Kept,
        Self::Sent,
        Self::Delivered,
        Self::Failed,
        Self::Unknown,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Kept => "kept",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }
}

/// One attempt to deliver the patient URL; all of them stay (R15).
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub channel: Channel,
    pub destination: Personal<Destination>,
    pub requested_at: DateTime<Utc>,
    pub resend: bool,
    pub outcome: DeliveryOutcome,
    pub handed_over: Option<HandOver>,
}

impl Delivery {
    pub fn status(&self) -> DeliveryStatus {
        match &self.outcome {
            DeliveryOutcome::Pending => DeliveryStatus::Pending,
            DeliveryOutcome::HandedOver => DeliveryStatus::handed_over_to(
                self.handed_over.as_ref().map_or(Provider::Twilio, |h| h.provider),
            ),
            DeliveryOutcome::Delivered { .. } => DeliveryStatus::Delivered,
            DeliveryOutcome::Failed { .. } => DeliveryStatus::Failed,
            DeliveryOutcome::Unknown { .. } => DeliveryStatus::Unknown,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Appointment {
    pub clinic_id: ClinicId,
    pub doctor_id: StaffId,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub details: Details,
    /// Present for online appointments only (R6): the URLs and their validity (R13).
    pub video: Option<ValidityWindow>,
    pub status: Status,
    pub deliveries: Vec<Delivery>,
    /// Which patient URL is current: 0 until the first reissue, then one more per reissue.
    /// It goes into what the patient token signs, so older tokens are told apart (revoked).
    pub patient_link_generation: u32,
    /// When its personal data was erased (SPEC §9); it then takes no change that would send,
    /// show or record personal data again.
    pub erased_at: Option<DateTime<Utc>>,
}

impl Appointment {
    pub fn kind(&self) -> Kind {
        match self.details {
            Details::InClinic(_) => Kind::InClinic,
            Details::VideoUrl { .. } => Kind::VideoUrl,
        }
    }

    /// The name staff see in lists: the patient's name, or the title of a video URL; `None`
    /// once erased.
    pub fn display_name(&self) -> Option<&str> {
        match &self.details {
            Details::InClinic(d) => d.patient.known().map(|p| p.patient_name.as_str()),
            Details::VideoUrl { title } => title.known().map(|t| t.as_ref().map_or("", |t| t.as_str())),
        }
    }

    /// Whether its personal data was erased.
    pub fn is_erased(&self) -> bool {
        self.erased_at.is_some()
    }

    /// The delivery attempt `id`.
    pub fn delivery(&self, id: DeliveryId) -> Result<&Delivery, DomainError> {
        self.deliveries
            .iter()
            .find(|d| d.id == id)
            .ok_or(DomainError::UnknownDelivery)
    }

    /// The attempt whose destination and time the appointment shows (R15: the latest wins).
    pub fn latest_delivery(&self) -> Option<&Delivery> {
        self.deliveries.last()
    }

    /// What the patient page shows for a patient URL of `generation`; `None` for in-person
    /// bookings, which have no link, and for generations never issued.
    pub fn link_status(&self, generation: u32, now: DateTime<Utc>) -> Option<LinkStatus> {
        let window = self.video?;
        if generation < self.patient_link_generation {
            return Some(LinkStatus::Revoked);
        }
        if generation > self.patient_link_generation {
            return None;
        }
        Some(match self.status {
            Status::Cancelled => LinkStatus::Cancelled,
            Status::Ended => LinkStatus::Ended,
            Status::Booked | Status::InCall => match window.position(now) {
                WindowPosition::NotYetOpen => LinkStatus::NotYetOpen,
                WindowPosition::Open => LinkStatus::Open,
                WindowPosition::Expired => LinkStatus::Expired,
            },
        })
    }

    pub fn require_video(&self) -> Result<ValidityWindow, DomainError> {
        self.video.ok_or(DomainError::NoVideoCall)
    }

    fn require_not_closed(&self) -> Result<(), DomainError> {
        self.require_not_erased()?;
        match self.status {
            Status::Cancelled => Err(DomainError::Cancelled),
            Status::Ended => Err(DomainError::CallEnded),
            Status::Booked | Status::InCall => Ok(()),
        }
    }

    fn require_not_erased(&self) -> Result<(), DomainError> {
        match self.erased_at {
            Some(_) => Err(DomainError::Erased),
            None => Ok(()),
        }
    }
}

/// The aggregate's state: nothing yet, or an appointment.
// One state lives per command being decided; boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Default, PartialEq)]
pub enum State {
    #[default]
    Absent,
    Present(Appointment),
}

impl State {
    pub fn appointment(&self) -> Option<&Appointment> {
        match self {
            Self::Absent => None,
            Self::Present(a) => Some(a),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// decide
// ---------------------------------------------------------------------------------------------

/// The rules: which events `command` causes in `state`, or which rule it breaks.
/// An empty list means "already so": repeating a cancel, a start or an end changes nothing.
pub fn decide(state: &State, command: &Command) -> Result<Vec<Event>, DomainError> {
    match (state, command) {
        (State::Absent, Command::CreateAppointment(c)) => create_appointment(c),
        (State::Absent, Command::CreateVideoUrl(c)) => {
            check_start(c.start_at)?;
            Ok(vec![create_video_url(c)])
        }
        (State::Present(_), Command::CreateAppointment(_) | Command::CreateVideoUrl(_)) => {
            Err(DomainError::AlreadyExists)
        }
        (State::Absent, _) => Err(DomainError::NotFound),
        (State::Present(a), Command::SendUrl(c)) => {
            if !a.deliveries.is_empty() {
                return Err(DomainError::AlreadySent);
            }
            request_delivery(a, c, false)
        }
        (State::Present(a), Command::ResendUrl(c)) => request_delivery(a, c, true),
        (State::Present(a), Command::EditVideoUrl(c)) => edit_video_url(a, c),
        (State::Present(a), Command::CancelCall { now }) => match a.status {
            Status::Cancelled => Ok(vec![]),
            Status::InCall => Err(DomainError::CallInProgress),
            Status::Ended => Err(DomainError::CallEnded),
            Status::Booked => Ok(vec![Event::CallCancelled(CallCancelled { cancelled_at: *now })]),
        },
        (State::Present(a), Command::StartCall { now }) => {
            let window = a.require_video()?;
            a.require_not_closed()?;
            if a.status == Status::InCall {
                return Ok(vec![]);
            }
            if window.position(*now) != WindowPosition::Open {
                return Err(DomainError::OutsideValidityWindow);
            }
            Ok(vec![Event::CallStarted(CallStarted { started_at: *now })])
        }
        (State::Present(a), Command::EndCall { now }) => {
            a.require_video()?;
            match a.status {
                Status::InCall => Ok(vec![Event::CallEnded(CallEnded { ended_at: *now })]),
                Status::Ended => Ok(vec![]),
                Status::Booked => Err(DomainError::CallNotStarted),
                Status::Cancelled => Err(DomainError::Cancelled),
            }
        }
        (State::Present(a), Command::ReissuePatientUrl { now }) => reissue_patient_url(a, *now),
        (State::Present(a), Command::RecordDelivery { delivery_id, report }) => {
            record_delivery(a.delivery(*delivery_id)?, report)
        }
        (State::Present(a), Command::RecordCarrierStatus(report)) => {
            record_carrier_status(a.delivery(report.delivery_id)?, report)
        }
        (State::Present(a), Command::ErasePersonalData { now, reason }) => erase(a, *now, *reason),
    }
}

/// Erase once; never in the middle of a call, whose screens show the patient's name.
fn erase(a: &Appointment, now: DateTime<Utc>, reason: ErasureReason) -> Result<Vec<Event>, DomainError> {
    if a.is_erased() {
        return Ok(vec![]);
    }
    if a.status == Status::InCall {
        return Err(DomainError::CallInProgress);
    }
    Ok(vec![Event::PersonalDataErased(PersonalDataErased {
        erased_at: now,
        reason,
    })])
}

/// The worker's report, for a delivery still waiting for one; a report for a settled
/// delivery (a repeat after a crash, or a callback that came first) changes nothing.
fn record_delivery(d: &Delivery, report: &DeliveryReport) -> Result<Vec<Event>, DomainError> {
    if d.outcome != DeliveryOutcome::Pending {
        return Ok(vec![]);
    }
    Ok(vec![match report {
        DeliveryReport::Sent {
            at,
            provider,
            provider_message_id,
        } => Event::UrlDelivered(UrlDelivered {
            delivery_id: d.id,
            sent_at: *at,
            provider: *provider,
            provider_message_id: provider_message_id.clone(),
        }),
        DeliveryReport::Failed { at, code, reason } => Event::UrlDeliveryFailed(UrlDeliveryFailed {
            delivery_id: d.id,
            failed_at: *at,
            code: Some(code.clone()),
            reason: reason.clone(),
        }),
        DeliveryReport::Unknown { at, reason } => {
            Event::UrlDeliveryOutcomeUnknown(UrlDeliveryOutcomeUnknown {
                delivery_id: d.id,
                noticed_at: *at,
                reason: reason.clone(),
            })
        }
    }])
}

/// The carrier's final word. It also proves the provider took the message, so it settles a
/// delivery still pending (the callback outran the worker's record) or unknown (the answer
/// was lost). Later words, and words about another message, change nothing.
fn record_carrier_status(d: &Delivery, report: &CarrierReport) -> Result<Vec<Event>, DomainError> {
    let reported = Event::UrlDeliveryReported(UrlDeliveryReported {
        delivery_id: d.id,
        status: report.status,
        error_code: report.error_code.clone(),
        reported_at: report.at,
    });
    match (&d.outcome, &d.handed_over) {
        (DeliveryOutcome::Pending | DeliveryOutcome::Unknown { .. }, _) => Ok(vec![
            Event::UrlDelivered(UrlDelivered {
                delivery_id: d.id,
                sent_at: report.at,
                provider: report.provider,
                provider_message_id: Some(report.provider_message_id.clone()),
            }),
            reported,
        ]),
        (DeliveryOutcome::HandedOver, Some(h))
            if h.provider == report.provider
                && h.provider_message_id
                    .as_deref()
                    .is_none_or(|id| id == report.provider_message_id) =>
        {
            Ok(vec![reported])
        }
        _ => Ok(vec![]),
    }
}

/// Start times a clinic can mean. Anything else is a typing error (or an attempt to overflow
/// the date arithmetic), not an appointment.
pub(crate) const EARLIEST_START_YEAR: i32 = 2000;
pub(crate) const LATEST_START_YEAR: i32 = 2199;

fn check_start(start_at: DateTime<Utc>) -> Result<(), DomainError> {
    use chrono::{Datelike, Timelike};
    if !(EARLIEST_START_YEAR..=LATEST_START_YEAR).contains(&start_at.year()) {
        return Err(DomainError::invalid(
            "start_at",
            format!("must be between the years {EARLIEST_START_YEAR} and {LATEST_START_YEAR}"),
        ));
    }
    // chrono reads `10:14:60` as second 59 with a nanosecond of 1e9 or more, its form of a
    // leap second, at any minute. Stored, it prints as `:60` in one place and `:59` or the
    // next minute in another (and the database keeps milliseconds, which drop it), so the
    // same appointment would show two start times. No clinic books on a leap second.
    if start_at.nanosecond() >= 1_000_000_000 {
        return Err(DomainError::invalid(
            "start_at",
            "must not be a leap second (seconds are 00 to 59)",
        ));
    }
    Ok(())
}

fn create_appointment(c: &CreateAppointment) -> Result<Vec<Event>, DomainError> {
    check_start(c.start_at)?;
    // R6: the menu must allow the chosen mode.
    if !c.menu.allows(c.mode) {
        return Err(DomainError::ModeNotAllowed {
            mode: c.mode.as_str(),
        });
    }
    let duration_min = c.menu.duration_min(c.visit_type);
    // SPEC §8: within the doctor's hours, unless staff confirmed otherwise. Checked last, so
    // a confirmed booking meets no other refusal.
    if let Some(hours) = &c.hours
        && !hours.cover(c.start_at, duration_min)
    {
        return Err(DomainError::OutsideHours);
    }
    Ok(vec![Event::AppointmentBooked(AppointmentBooked {
        clinic_id: c.clinic_id,
        doctor_id: c.doctor_id,
        start_at: c.start_at,
        end_at: c.start_at + Duration::minutes(i64::from(duration_min)),
        menu: BookedMenu {
            id: c.menu.id,
            name: c.menu.name.clone(),
            duration_min,
        },
        visit_type: c.visit_type,
        mode: c.mode,
        // R5: an in-clinic booking never charges the fee; record what was waived.
        waived_booking_fee_yen: c.menu.booking_fee_yen,
        // R6: only online bookings get a video call and URLs.
        video: (c.mode == ConsultationMode::Online).then(|| ValidityWindow::for_start(c.start_at)),
        personal: Personal::Known(BookedPatient {
            patient_name: c.patient_name.clone(),
            chart_number: c.chart_number.clone(),
            memo: c.memo.clone(),
        }),
    })])
}

fn create_video_url(c: &CreateVideoUrl) -> Event {
    Event::VideoUrlCreated(VideoUrlCreated {
        clinic_id: c.clinic_id,
        doctor_id: c.doctor_id,
        start_at: c.start_at,
        end_at: c.start_at + Duration::minutes(VIDEO_URL_DURATION_MIN),
        video: ValidityWindow::for_start(c.start_at),
        personal: Personal::Known(VideoTitle {
            title: c.title.clone(),
        }),
    })
}

fn request_delivery(a: &Appointment, c: &SendUrl, resend: bool) -> Result<Vec<Event>, DomainError> {
    // A delivery id names one attempt: the same request again changes nothing.
    if a.delivery(c.delivery_id).is_ok() {
        return Ok(vec![]);
    }
    c.policy.sms_countries.check(&c.destination)?;
    let window = a.require_video()?;
    a.require_not_closed()?;
    // Sending a link that can no longer open would only confuse the patient.
    if window.position(c.now) == WindowPosition::Expired {
        return Err(DomainError::OutsideValidityWindow);
    }
    check_send_limit(a, c.now, c.policy.sends_per_hour)?;
    Ok(vec![Event::UrlDeliveryRequested(UrlDeliveryRequested {
        delivery_id: c.delivery_id,
        channel: c.destination.channel(),
        resend,
        requested_at: c.now,
        personal: Personal::Known(c.destination.clone()),
    })])
}

/// At most `per_hour` delivery requests within the hour before `now` (a request exactly an
/// hour old has left it). When refused, says how long until enough of them have left.
fn check_send_limit(a: &Appointment, now: DateTime<Utc>, per_hour: u32) -> Result<(), DomainError> {
    let hour = Duration::hours(1);
    let mut recent: Vec<DateTime<Utc>> = a
        .deliveries
        .iter()
        .map(|d| d.requested_at)
        .filter(|at| *at > now - hour)
        .collect();
    let limit = per_hour as usize;
    if recent.len() < limit {
        return Ok(());
    }
    recent.sort();
    // The send whose leaving makes room for one more; with no sends allowed at all, an hour.
    let frees_a_place = limit.checked_sub(1).map(|keep| recent[recent.len() - 1 - keep]);
    let wait = frees_a_place.map_or(hour, |at| at + hour - now);
    let seconds = (wait.num_milliseconds() + 999) / 1000;
    Err(DomainError::SendLimited {
        per_hour,
        retry_after_secs: u64::try_from(seconds).unwrap_or(0).max(1),
    })
}

/// A new patient URL only where the old one could still be used: not for an in-person
/// booking (no URL), a closed appointment (both URLs are dead anyway), an expired window, or
/// a call in progress (the patient in the call is using the URL being revoked).
fn reissue_patient_url(a: &Appointment, now: DateTime<Utc>) -> Result<Vec<Event>, DomainError> {
    let window = a.require_video()?;
    a.require_not_closed()?;
    if a.status == Status::InCall {
        return Err(DomainError::CallInProgress);
    }
    if window.position(now) == WindowPosition::Expired {
        return Err(DomainError::OutsideValidityWindow);
    }
    let generation = a
        .patient_link_generation
        .checked_add(1)
        .ok_or_else(|| DomainError::invalid("patient_url", "cannot be reissued any more"))?;
    Ok(vec![Event::PatientUrlReissued(PatientUrlReissued {
        generation,
        reissued_at: now,
    })])
}

/// R10: title and doctor can change; the start cannot (staff cancel and create again).
fn edit_video_url(a: &Appointment, c: &EditVideoUrl) -> Result<Vec<Event>, DomainError> {
    if c.requested_start {
        return Err(DomainError::StartTimeImmutable);
    }
    let Details::VideoUrl { title } = &a.details else {
        return Err(DomainError::NotEditable);
    };
    a.require_not_closed()?;
    let new_title = c
        .title
        .as_ref()
        .filter(|t| title.known() != Some(&Some((*t).clone())));
    let new_doctor = c.doctor_id.filter(|d| *d != a.doctor_id);
    if new_title.is_none() && new_doctor.is_none() {
        return Ok(vec![]);
    }
    Ok(vec![Event::VideoCallEdited(VideoCallEdited {
        doctor_id: new_doctor,
        personal: Personal::Known(VideoTitle {
            title: new_title.cloned(),
        }),
    })])
}

// ---------------------------------------------------------------------------------------------
// evolve
// ---------------------------------------------------------------------------------------------

/// The status an event moves an existing appointment to, if it moves it: one answer for
/// `evolve` and for the read models. (A creation event starts an appointment at `Booked`.)
pub fn status_after(event: &Event) -> Option<Status> {
    match event {
        Event::CallCancelled(_) => Some(Status::Cancelled),
        Event::CallStarted(_) => Some(Status::InCall),
        Event::CallEnded(_) => Some(Status::Ended),
        Event::AppointmentBooked(_)
        | Event::VideoUrlCreated(_)
        | Event::VideoCallEdited(_)
        | Event::UrlDeliveryRequested(_)
        | Event::UrlDelivered(_)
        | Event::UrlDeliveryFailed(_)
        | Event::UrlDeliveryOutcomeUnknown(_)
        | Event::UrlDeliveryReported(_)
        | Event::PatientUrlReissued(_)
        | Event::ParticipantJoined(_)
        | Event::ParticipantLeft(_)
        | Event::PersonalDataErased(_) => None,
    }
}

/// Fold one event into the state. Events are facts: evolve never rejects one.
pub fn evolve(state: State, event: &Event) -> State {
    match (state, event) {
        (_, Event::AppointmentBooked(e)) => State::Present(Appointment {
            clinic_id: e.clinic_id,
            doctor_id: e.doctor_id,
            start_at: e.start_at,
            end_at: e.end_at,
            details: Details::InClinic(InClinicDetails {
                patient: e.personal.clone(),
                menu: e.menu.clone(),
                visit_type: e.visit_type,
                mode: e.mode,
                waived_booking_fee_yen: e.waived_booking_fee_yen,
            }),
            video: e.video,
            status: Status::Booked,
            deliveries: vec![],
            patient_link_generation: 0,
            erased_at: None,
        }),
        (_, Event::VideoUrlCreated(e)) => State::Present(Appointment {
            clinic_id: e.clinic_id,
            doctor_id: e.doctor_id,
            start_at: e.start_at,
            end_at: e.end_at,
            details: Details::VideoUrl {
                title: e.personal.clone().map(|t| t.title),
            },
            video: Some(e.video),
            status: Status::Booked,
            deliveries: vec![],
            patient_link_generation: 0,
            erased_at: None,
        }),
        (State::Absent, _) => State::Absent,
        (State::Present(mut a), event) => {
            match event {
                // Creation events were matched above, whatever the state.
                Event::AppointmentBooked(_) | Event::VideoUrlCreated(_) => {}
                Event::VideoCallEdited(e) => {
                    if let Some(doctor) = e.doctor_id {
                        a.doctor_id = doctor;
                    }
                    match (&e.personal, &mut a.details) {
                        (Personal::Known(VideoTitle { title: Some(new) }), Details::VideoUrl { title }) => {
                            *title = Personal::Known(Some(new.clone()));
                        }
                        (Personal::Erased, Details::VideoUrl { title }) => *title = Personal::Erased,
                        _ => {}
                    }
                }
                Event::UrlDeliveryRequested(e) => a.deliveries.push(Delivery {
                    id: e.delivery_id,
                    channel: e.channel,
                    destination: e.personal.clone(),
                    requested_at: e.requested_at,
                    resend: e.resend,
                    outcome: DeliveryOutcome::Pending,
                    handed_over: None,
                }),
                Event::UrlDelivered(e) => {
                    if let Some(d) = a.delivery_mut(e.delivery_id) {
                        d.outcome = DeliveryOutcome::HandedOver;
                        d.handed_over = Some(HandOver {
                            at: e.sent_at,
                            provider: e.provider,
                            provider_message_id: e.provider_message_id.clone(),
                        });
                    }
                }
                Event::UrlDeliveryFailed(e) => set_outcome(
                    &mut a,
                    e.delivery_id,
                    DeliveryOutcome::Failed {
                        at: e.failed_at,
                        code: e.code.clone(),
                        reason: e.reason.clone(),
                    },
                ),
                Event::UrlDeliveryOutcomeUnknown(e) => set_outcome(
                    &mut a,
                    e.delivery_id,
                    DeliveryOutcome::Unknown {
                        at: e.noticed_at,
                        reason: e.reason.clone(),
                    },
                ),
                Event::UrlDeliveryReported(e) => {
                    let provider = a
                        .delivery_mut(e.delivery_id)
                        .and_then(|d| d.handed_over.as_ref())
                        .map_or(Provider::Twilio, |h| h.provider);
                    let outcome = match e.status.failure_reason() {
                        None => DeliveryOutcome::Delivered { at: e.reported_at },
                        Some(reason) => DeliveryOutcome::Failed {
                            at: e.reported_at,
                            code: e.error_code.as_deref().map(|c| provider.code(c)),
                            reason,
                        },
                    };
                    set_outcome(&mut a, e.delivery_id, outcome);
                }
                // Their whole effect is the status, below.
                Event::CallCancelled(_) | Event::CallStarted(_) | Event::CallEnded(_) => {}
                Event::PatientUrlReissued(e) => a.patient_link_generation = e.generation,
                // Recorded in the call's own stream, folded by `presence::evolve`.
                Event::ParticipantJoined(_) | Event::ParticipantLeft(_) => {}
                Event::PersonalDataErased(e) => a.erase(e.erased_at),
            }
            if let Some(status) = status_after(event) {
                a.status = status;
            }
            State::Present(a)
        }
    }
}

fn set_outcome(a: &mut Appointment, id: DeliveryId, outcome: DeliveryOutcome) {
    if let Some(d) = a.delivery_mut(id) {
        d.outcome = outcome;
    }
}

impl Appointment {
    /// Forget everything personal: what the events held can no longer be opened either.
    fn erase(&mut self, at: DateTime<Utc>) {
        self.erased_at = Some(at);
        match &mut self.details {
            Details::InClinic(d) => d.patient = Personal::Erased,
            Details::VideoUrl { title } => *title = Personal::Erased,
        }
        for delivery in &mut self.deliveries {
            delivery.destination = Personal::Erased;
        }
    }

    fn delivery_mut(&mut self, id: DeliveryId) -> Option<&mut Delivery> {
        self.deliveries.iter_mut().find(|d| d.id == id)
    }
}

/// Replay a history into a state.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> State {
    events.into_iter().fold(State::Absent, evolve)
}

/// Menu fields copied into the booking (R3), so a later menu edit never rewrites history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BookedMenu {
    pub id: MenuId,
    pub name: String,
    pub duration_min: u32,
}

#[cfg(test)]
mod tests;
