//! What the API answers with: the JSON shapes of the HTTP contract, documented in the OpenAPI schema.
//! Times are RFC 3339 in the clinic's time zone.

use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use enkaku_commands::AppointmentAt;
use enkaku_commands::capability::{LinkRole, LinkSigner};
use enkaku_domain::appointment::{Delivery, DeliveryOutcome, DeliveryStatus, Details, Kind, Status};
use enkaku_domain::menu::{ConsultationMode, Menu, VisitType};
use enkaku_domain::values::{Channel, Provider};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

pub fn local(t: DateTime<Utc>, tz: Tz) -> DateTime<FixedOffset> {
    t.with_timezone(&tz).fixed_offset()
}

#[derive(Serialize, ToSchema)]
pub struct MenuView {
    pub id: Uuid,
    pub name: String,
    /// `in_person` and/or `online`.
    #[schema(schema_with = crate::openapi::modes)]
    pub modes: Vec<ConsultationMode>,
    pub duration_first_min: u32,
    pub duration_revisit_min: u32,
    /// 0 when the menu has no booking fee.
    pub booking_fee_yen: u32,
}

impl From<&Menu> for MenuView {
    fn from(m: &Menu) -> Self {
        Self {
            id: m.id.as_uuid(),
            name: m.name.clone(),
            modes: m.modes.clone(),
            duration_first_min: m.duration_first_min,
            duration_revisit_min: m.duration_revisit_min,
            booking_fee_yen: m.booking_fee_yen,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BookedMenuView {
    pub id: Uuid,
    pub name: String,
    pub duration_min: u32,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    #[schema(schema_with = crate::openapi::channel)]
    pub channel: Channel,
    /// The phone number or e-mail address; null once the appointment was erased.
    pub destination: Option<String>,
    pub requested_at: DateTime<FixedOffset>,
    /// `pending` (waiting to go out, or for a retry), `kept` (in the outbox: no provider is
    /// configured for the channel, nothing was sent), `sent` (the provider took it),
    /// `delivered` (the carrier reported it reached the phone), `failed` (see
    /// `failure_code` and `failure_reason`), or `unknown` (it may or may not have gone out:
    /// staff decide whether to resend).
    #[schema(schema_with = crate::openapi::delivery_status)]
    pub status: DeliveryStatus,
    /// Who took it: `outbox`, `twilio` or `smtp`; null until then.
    #[schema(schema_with = crate::openapi::optional_provider)]
    pub provider: Option<Provider>,
    /// When the provider (or the outbox) took it; null before, and when it never did.
    pub sent_at: Option<DateTime<FixedOffset>>,
    /// When the carrier reported it reached the phone.
    pub delivered_at: Option<DateTime<FixedOffset>>,
    pub resend: bool,
    /// `twilio:<code>`, `smtp:<code>` or `enkaku:<why>`, for `failed`.
    pub failure_code: Option<String>,
    /// Why it failed or is unknown, in English for logs and integrators; the UI words it
    /// from `failure_code`.
    pub failure_reason: Option<String>,
}

impl DeliveryView {
    fn new(d: &Delivery, tz: Tz) -> Self {
        let (delivered_at, failure_code, failure_reason) = match &d.outcome {
            DeliveryOutcome::Pending | DeliveryOutcome::HandedOver => (None, None, None),
            DeliveryOutcome::Delivered { at } => (Some(local(*at, tz)), None, None),
            DeliveryOutcome::Failed { code, reason, .. } => (None, code.clone(), Some(reason.clone())),
            DeliveryOutcome::Unknown { reason, .. } => (None, None, Some(reason.clone())),
        };
        Self {
            channel: d.channel,
            destination: d.destination.known().map(|d| d.address().to_owned()),
            requested_at: local(d.requested_at, tz),
            status: d.status(),
            provider: d.handed_over.as_ref().map(|h| h.provider),
            sent_at: d.handed_over.as_ref().map(|h| local(h.at, tz)),
            delivered_at,
            resend: d.resend,
            failure_code,
            failure_reason,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VideoView {
    /// Opens the call screen for the clinic (R12). A capability: keep it private.
    pub clinic_url: String,
    /// The patient's link (R12). A capability: send it only to the patient. It changes when
    /// it is reissued; earlier ones then answer `revoked`.
    pub patient_url: String,
    pub valid_from: DateTime<FixedOffset>,
    pub valid_until: DateTime<FixedOffset>,
    /// The latest delivery attempt: what the appointment shows (R15).
    pub delivery: Option<DeliveryView>,
    /// Every delivery attempt, oldest first (R15).
    pub deliveries: Vec<DeliveryView>,
}

#[derive(Serialize, ToSchema)]
pub struct AppointmentView {
    pub id: Uuid,
    #[schema(schema_with = crate::openapi::kind)]
    pub kind: Kind,
    pub clinic_id: Uuid,
    pub doctor_id: Uuid,
    pub start_at: DateTime<FixedOffset>,
    pub end_at: DateTime<FixedOffset>,
    #[schema(schema_with = crate::openapi::status)]
    pub status: Status,
    pub version: u64,
    /// Its personal data (name, chart number, memo, title, where the URL went) was erased for
    /// good: those fields are null (SPEC §9).
    pub erased: bool,
    /// Video URL only; null once erased.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    #[serde(flatten)]
    #[schema(schema_with = crate::openapi::flattened_booking)]
    pub booking: Option<BookingView>,
    /// Online appointments only; null for in-person bookings (R6).
    pub video: Option<VideoView>,
}

/// Fields of an in-clinic booking (R3, R5).
#[derive(Serialize, ToSchema)]
pub struct BookingView {
    /// Null once erased, like `chart_number` and `memo`.
    pub patient_name: Option<String>,
    pub chart_number: Option<String>,
    pub menu: BookedMenuView,
    #[schema(schema_with = crate::openapi::visit_type)]
    pub visit_type: VisitType,
    #[schema(schema_with = crate::openapi::mode)]
    pub mode: ConsultationMode,
    pub memo: Option<String>,
    /// Always true: in-clinic bookings never charge the fee (R5).
    pub booking_fee_waived: bool,
    /// The menu's booking fee that was not charged.
    pub waived_booking_fee_yen: u32,
}

impl AppointmentView {
    pub fn new(at: &AppointmentAt, tz: Tz, links: &LinkSigner, public_url: &str) -> Self {
        let a = &at.appointment;
        let (title, booking) = match &a.details {
            Details::VideoUrl { title } => (
                Some(
                    title
                        .known()
                        .map(|t| t.as_ref().map(|t| t.to_string()).unwrap_or_default()),
                ),
                None,
            ),
            Details::InClinic(d) => (
                None,
                Some(BookingView {
                    patient_name: d.patient.known().map(|p| p.patient_name.to_string()),
                    chart_number: d
                        .patient
                        .known()
                        .and_then(|p| p.chart_number.as_ref())
                        .map(|c| c.to_string()),
                    menu: BookedMenuView {
                        id: d.menu.id.as_uuid(),
                        name: d.menu.name.clone(),
                        duration_min: d.menu.duration_min,
                    },
                    visit_type: d.visit_type,
                    mode: d.mode,
                    memo: d
                        .patient
                        .known()
                        .and_then(|p| p.memo.as_ref())
                        .map(|m| m.to_string()),
                    booking_fee_waived: true,
                    waived_booking_fee_yen: d.waived_booking_fee_yen,
                }),
            ),
        };
        let video = a.video.map(|w| VideoView {
            clinic_url: links.url(public_url, LinkRole::Clinic, at.id, 0),
            patient_url: links.url(public_url, LinkRole::Patient, at.id, a.patient_link_generation),
            valid_from: local(w.valid_from, tz),
            valid_until: local(w.valid_until, tz),
            delivery: a.latest_delivery().map(|d| DeliveryView::new(d, tz)),
            deliveries: a.deliveries.iter().map(|d| DeliveryView::new(d, tz)).collect(),
        });
        Self {
            id: at.id.as_uuid(),
            kind: a.kind(),
            clinic_id: a.clinic_id.as_uuid(),
            doctor_id: a.doctor_id.as_uuid(),
            start_at: local(a.start_at, tz),
            end_at: local(a.end_at, tz),
            status: a.status,
            version: at.version,
            erased: a.is_erased(),
            title,
            booking,
            video,
        }
    }
}
