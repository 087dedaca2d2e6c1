//! The appointment command handler: load → decide → append with the expected version.

use crate::ports::{
    Clock, Directory, EventStore, ExpectedVersion, IdSource, KeyId, StoreError, Vault, VaultError,
};
use crate::sealing;
use chrono::{DateTime, SubsecRound, Utc};
use enkaku_domain::DomainError;
use enkaku_domain::appointment::{
    self, Appointment, CarrierReport, Command, CreateAppointment, CreateVideoUrl, DeliveryReport,
    EditVideoUrl, ErasureReason, Event, SendPolicy, SendUrl, State,
};
use enkaku_domain::clinic::{BookingHours, local_date};
use enkaku_domain::envelope::{Actor, EventMetadata, NewEvent, RecordedEvent, StoredEvent};
use enkaku_domain::ids::{AppointmentId, ClinicId, DeliveryId, MenuId, StaffId};
use enkaku_domain::menu::{ConsultationMode, VisitType};
use enkaku_domain::presence::{self, CallRole, LeaveReason, Presence, PresenceCommand};
use enkaku_domain::values::{Channel, ChartNumber, Destination, Memo, PatientName, Title};
use std::sync::Arc;
use thiserror::Error;
use uuid::Uuid;

/// How often a command is retried on fresh state when another writer got there first.
pub(crate) const MAX_ATTEMPTS: usize = 5;

/// Who is asking, on behalf of which clinic, and under which request.
#[derive(Clone, Debug)]
pub struct CommandContext {
    pub clinic_id: ClinicId,
    pub actor: Actor,
    /// Shared by everything this request causes. Always made by the server: a client's
    /// choice must not be able to join its events to someone else's chain.
    pub correlation_id: Uuid,
    /// What directly caused this command (the request id, or the event a worker reacts to).
    pub causation_id: Uuid,
    /// The `X-Request-Id` the client sent, already sanitised, kept apart for its own
    /// tracing; `None` when it sent none (or one that was dropped) and for workers.
    pub client_request_id: Option<String>,
    /// `If-Match`: the version the caller last saw. A different current version fails the
    /// command instead of retrying it.
    pub if_match: Option<u64>,
}

impl CommandContext {
    /// A command enkaku gives on its own account for `clinic_id` (start-up set-up, the
    /// command line): actor `system`, a causal chain of its own.
    pub fn system(clinic_id: ClinicId) -> Self {
        let id = Uuid::now_v7();
        Self {
            clinic_id,
            actor: Actor::System,
            correlation_id: id,
            causation_id: id,
            client_request_id: None,
            if_match: None,
        }
    }

    /// `event` in its envelope, with this command's clinic, actor and causal chain.
    pub fn envelope(&self, event_id: Uuid, occurred_at: DateTime<Utc>, event: &impl StoredEvent) -> NewEvent {
        NewEvent {
            event_id,
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            occurred_at,
            data: event.to_data(),
            metadata: EventMetadata {
                clinic_id: self.clinic_id,
                actor: self.actor,
                correlation_id: self.correlation_id,
                causation_id: self.causation_id,
                client_request_id: self.client_request_id.clone(),
            },
        }
    }
}

#[derive(Debug, Error)]
pub enum CommandError {
    #[error(transparent)]
    Rejected(#[from] DomainError),
    #[error("no doctor with this id in the clinic")]
    UnknownDoctor,
    #[error("no menu with this id in the clinic")]
    UnknownMenu,
    #[error("the record is at version {current}, not the one given in If-Match")]
    VersionMismatch { current: u64 },
    #[error("the record kept changing under this command; try again")]
    Contended,
    #[error("a backing store is unavailable: {0}")]
    Unavailable(String),
    /// An event of the stream cannot be read by this build (unknown type, or a payload no
    /// upcaster fixes). Retrying will not help; an operator must look.
    #[error("the record's history cannot be read: {0}")]
    UnreadableHistory(String),
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<VaultError> for CommandError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Unavailable(_) => Self::Unavailable(e.to_string()),
            VaultError::UnknownKey(_) | VaultError::Corrupt(_) => Self::UnreadableHistory(e.to_string()),
        }
    }
}

impl From<crate::ports::DirectoryError> for CommandError {
    fn from(e: crate::ports::DirectoryError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// An appointment at a version: what every endpoint answers with.
#[derive(Clone, Debug, PartialEq)]
pub struct AppointmentAt {
    pub id: AppointmentId,
    pub appointment: Appointment,
    pub version: u64,
}

/// Input of an in-clinic booking, already parsed at the edge.
#[derive(Clone, Debug)]
pub struct NewBooking {
    pub doctor_id: StaffId,
    pub start_at: DateTime<Utc>,
    pub patient_name: PatientName,
    pub chart_number: Option<ChartNumber>,
    pub menu_id: MenuId,
    pub visit_type: VisitType,
    pub mode: ConsultationMode,
    pub memo: Option<Memo>,
    /// Staff confirmed a booking outside the doctor's hours (SPEC §8).
    pub allow_outside_hours: bool,
}

/// Input of a video URL; `start_at: None` means "create at current time" (R8).
#[derive(Clone, Debug)]
pub struct NewVideoUrl {
    pub doctor_id: StaffId,
    pub start_at: Option<DateTime<Utc>>,
    pub title: Option<Title>,
}

/// A page's arrival in or departure from a call, as the signalling side saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresenceChange {
    Joined(CallRole),
    Left(CallRole, LeaveReason),
}

pub struct AppointmentService {
    store: Arc<dyn EventStore>,
    directory: Arc<dyn Directory>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    vault: Arc<dyn Vault>,
    /// Whether personal data is sealed before it is appended; off only to measure what
    /// sealing costs (`scripts/bench commands`).
    sealing: bool,
    send_policy: SendPolicy,
}

impl AppointmentService {
    pub fn new(
        store: Arc<dyn EventStore>,
        directory: Arc<dyn Directory>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
        vault: Arc<dyn Vault>,
    ) -> Self {
        Self {
            store,
            directory,
            clock,
            ids,
            vault,
            sealing: true,
            send_policy: SendPolicy::default(),
        }
    }

    /// Append personal data in the clear: for the benchmark that measures what sealing
    /// costs, never for a clinic.
    pub fn without_sealing(mut self) -> Self {
        self.sealing = false;
        self
    }

    /// Send with `policy` instead of the default (SMS to Japan only).
    pub fn with_send_policy(mut self, policy: SendPolicy) -> Self {
        self.send_policy = policy;
        self
    }

    /// A destination as a send would take it: well-formed for its channel and allowed by the
    /// send policy. The send form's check asks this, so it agrees with sending.
    pub fn check_destination(&self, channel: Channel, raw: &str) -> Result<Destination, DomainError> {
        let destination = Destination::parse(channel, raw)?;
        self.send_policy.sms_countries.check(&destination)?;
        Ok(destination)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn new_id(&self) -> Uuid {
        self.ids.new_id()
    }

    /// One appointment of `clinic`; another clinic's appointment is not found (R1).
    pub async fn get(&self, clinic: ClinicId, id: AppointmentId) -> Result<AppointmentAt, CommandError> {
        let (state, version) = self.load(id).await?;
        match state {
            State::Present(appointment) if appointment.clinic_id == clinic => Ok(AppointmentAt {
                id,
                appointment,
                version,
            }),
            _ => Err(DomainError::NotFound.into()),
        }
    }

    /// An appointment reached through a capability link (R12): the link itself is the
    /// authority, so no clinic is asked for.
    pub async fn get_by_capability(&self, id: AppointmentId) -> Result<AppointmentAt, CommandError> {
        let (state, version) = self.load(id).await?;
        match state {
            State::Present(appointment) => Ok(AppointmentAt {
                id,
                appointment,
                version,
            }),
            State::Absent => Err(DomainError::NotFound.into()),
        }
    }

    /// The appointment's full history, for auditors: its own events and its call's (who
    /// joined and left), in the order they were recorded.
    pub async fn history(
        &self,
        clinic: ClinicId,
        id: AppointmentId,
    ) -> Result<Vec<RecordedEvent>, CommandError> {
        self.get(clinic, id).await?;
        let mut history = self.store.read_stream(&id.stream_id()).await?;
        sealing::open_stream(self.vault.as_ref(), &mut history).await?;
        history.extend(self.store.read_stream(&id.call_stream_id()).await?);
        history.sort_by_key(|r| r.position);
        Ok(history)
    }

    /// Who has the call of `id` open now, from the call's own stream.
    pub async fn presence(&self, clinic: ClinicId, id: AppointmentId) -> Result<Presence, CommandError> {
        self.get(clinic, id).await?;
        let recorded = self.store.read_stream(&id.call_stream_id()).await?;
        fold(&recorded, Presence::default(), presence::evolve)
    }

    /// Record that a page joined or left the call of `id` (`ctx` names the appointment's
    /// clinic and who the page is). Appended to the call's own stream; what changes nothing
    /// records nothing. The caller has checked that the page may be in the call.
    pub async fn record_presence(
        &self,
        ctx: &CommandContext,
        id: AppointmentId,
        change: PresenceChange,
    ) -> Result<(), CommandError> {
        let stream_id = id.call_stream_id();
        for _ in 0..MAX_ATTEMPTS {
            let recorded = self.store.read_stream(&stream_id).await?;
            let state = fold(&recorded, Presence::default(), presence::evolve)?;
            let now = self.clock.now();
            let command = match change {
                PresenceChange::Joined(role) => PresenceCommand::Join { role, now },
                PresenceChange::Left(role, reason) => PresenceCommand::Leave { role, now, reason },
            };
            let events = presence::decide(&state, &command);
            if events.is_empty() {
                return Ok(());
            }
            let version = recorded.last().map_or(0, |r| r.version);
            let new_events = events.iter().map(|e| self.envelope(ctx, e)).collect();
            match self
                .store
                .append(&stream_id, ExpectedVersion::from_version(version), new_events)
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CommandError::Contended)
    }

    pub async fn create_appointment(
        &self,
        ctx: &CommandContext,
        id: AppointmentId,
        input: NewBooking,
    ) -> Result<AppointmentAt, CommandError> {
        self.require_doctor(ctx.clinic_id, input.doctor_id).await?;
        let menu = self
            .directory
            .menu(ctx.clinic_id, input.menu_id)
            .await?
            .ok_or(CommandError::UnknownMenu)?;
        let hours = if input.allow_outside_hours {
            None
        } else {
            Some(
                self.booking_hours(ctx.clinic_id, input.doctor_id, input.start_at)
                    .await?,
            )
        };
        let command = Command::CreateAppointment(CreateAppointment {
            clinic_id: ctx.clinic_id,
            doctor_id: input.doctor_id,
            start_at: input.start_at,
            patient_name: input.patient_name,
            chart_number: input.chart_number,
            menu,
            visit_type: input.visit_type,
            mode: input.mode,
            memo: input.memo,
            hours,
        });
        self.execute(ctx, id, command).await
    }

    pub async fn create_video_url(
        &self,
        ctx: &CommandContext,
        id: AppointmentId,
        input: NewVideoUrl,
    ) -> Result<AppointmentAt, CommandError> {
        self.require_doctor(ctx.clinic_id, input.doctor_id).await?;
        let command = Command::CreateVideoUrl(CreateVideoUrl {
            clinic_id: ctx.clinic_id,
            doctor_id: input.doctor_id,
            // "Create at current time": to the second, as staff would type it.
            start_at: input
                .start_at
                .unwrap_or_else(|| self.clock.now().trunc_subsecs(0)),
            title: input.title,
        });
        self.execute(ctx, id, command).await
    }

    /// First send (`resend: false`, R14) or resend (R15) of the patient URL.
    pub async fn send_url(
        &self,
        ctx: &CommandContext,
        id: AppointmentId,
        destination: Destination,
        resend: bool,
    ) -> Result<AppointmentAt, CommandError> {
        let send = SendUrl {
            delivery_id: DeliveryId(self.ids.new_id()),
            destination,
            now: self.clock.now(),
            policy: self.send_policy.clone(),
        };
        let command = if resend {
            Command::ResendUrl(send)
        } else {
            Command::SendUrl(send)
        };
        self.execute(ctx, id, command).await
    }

    pub async fn edit_video_url(
        &self,
        ctx: &CommandContext,
        id: AppointmentId,
        edit: EditVideoUrl,
    ) -> Result<AppointmentAt, CommandError> {
        if let Some(doctor) = edit.doctor_id {
            self.require_doctor(ctx.clinic_id, doctor).await?;
        }
        self.execute(ctx, id, Command::EditVideoUrl(edit)).await
    }

    pub async fn cancel(
        &self,
        ctx: &CommandContext,
        id: AppointmentId,
    ) -> Result<AppointmentAt, CommandError> {
        let now = self.clock.now();
        self.execute(ctx, id, Command::CancelCall { now }).await
    }

    pub async fn start_call(
        &self,
        ctx: &CommandContext,
        id: AppointmentId,
    ) -> Result<AppointmentAt, CommandError> {
        let now = self.clock.now();
        self.execute(ctx, id, Command::StartCall { now }).await
    }

    /// 「患者用URLを再発行」: the old patient URL answers `revoked` from now on.
    pub async fn reissue_patient_url(
        &self,
        ctx: &CommandContext,
        id: AppointmentId,
    ) -> Result<AppointmentAt, CommandError> {
        let now = self.clock.now();
        self.execute(ctx, id, Command::ReissuePatientUrl { now }).await
    }

    pub async fn end_call(
        &self,
        ctx: &CommandContext,
        id: AppointmentId,
    ) -> Result<AppointmentAt, CommandError> {
        let now = self.clock.now();
        self.execute(ctx, id, Command::EndCall { now }).await
    }

    pub async fn record_delivery(
        &self,
        ctx: &CommandContext,
        id: AppointmentId,
        delivery_id: DeliveryId,
        report: DeliveryReport,
    ) -> Result<AppointmentAt, CommandError> {
        self.execute(ctx, id, Command::RecordDelivery { delivery_id, report })
            .await
    }

    /// A provider's status callback about a message it was handed (Twilio's `MessageStatus`).
    pub async fn record_carrier_status(
        &self,
        ctx: &CommandContext,
        id: AppointmentId,
        report: CarrierReport,
    ) -> Result<AppointmentAt, CommandError> {
        self.execute(ctx, id, Command::RecordCarrierStatus(report)).await
    }

    async fn require_doctor(&self, clinic: ClinicId, doctor: StaffId) -> Result<(), CommandError> {
        match self.directory.doctor(clinic, doctor).await? {
            Some(_) => Ok(()),
            None => Err(CommandError::UnknownDoctor),
        }
    }

    /// The hours a booking of `doctor` starting `start_at` must fit: theirs on that local day.
    async fn booking_hours(
        &self,
        clinic: ClinicId,
        doctor: StaffId,
        start_at: DateTime<Utc>,
    ) -> Result<BookingHours, CommandError> {
        let time_zone = self
            .directory
            .clinic(clinic)
            .await?
            .ok_or(DomainError::NotFound)?
            .time_zone;
        let day = self
            .directory
            .day_hours(clinic, doctor, local_date(start_at, time_zone))
            .await?;
        Ok(BookingHours { time_zone, day })
    }

    /// Record the erasure of the appointment's personal data (SPEC §9). Readers of its stream
    /// treat it as erased from then on; destroying its keys and the copies is the erasure's
    /// finishing (`infra::erasure::finish`), done at once by the request and, whatever
    /// happens to it, by the reactor that reads the event.
    pub async fn erase(
        &self,
        ctx: &CommandContext,
        id: AppointmentId,
        reason: ErasureReason,
    ) -> Result<AppointmentAt, CommandError> {
        let now = self.clock.now();
        self.execute(ctx, id, Command::ErasePersonalData { now, reason })
            .await
    }

    async fn load(&self, id: AppointmentId) -> Result<(State, u64), CommandError> {
        let (state, version, _) = self.load_with_keys(id).await?;
        Ok((state, version))
    }

    /// The appointment, its version, and the data key its new personal data is sealed with
    /// (the one its earlier events used, if any).
    async fn load_with_keys(&self, id: AppointmentId) -> Result<(State, u64, Option<KeyId>), CommandError> {
        let mut recorded = self.store.read_stream(&id.stream_id()).await?;
        let key = sealing::keys_of(&recorded).first().copied();
        sealing::open_stream(self.vault.as_ref(), &mut recorded).await?;
        let state = fold(&recorded, State::Absent, appointment::evolve)?;
        Ok((state, recorded.last().map_or(0, |r| r.version), key))
    }

    /// Decide on fresh state and append with the version read; on a race, read again and
    /// decide again (or, under `If-Match`, report the mismatch).
    async fn execute(
        &self,
        ctx: &CommandContext,
        id: AppointmentId,
        command: Command,
    ) -> Result<AppointmentAt, CommandError> {
        let stream_id = id.stream_id();
        let creates = matches!(
            command,
            Command::CreateAppointment(_) | Command::CreateVideoUrl(_)
        );
        // A creation almost always targets a new stream: try it without reading first. If the
        // stream exists the append conflicts and the next attempt reads and decides for real.
        let mut assume_new = creates && ctx.if_match.is_none();
        for _ in 0..MAX_ATTEMPTS {
            let (state, version, key) = if std::mem::take(&mut assume_new) {
                (State::Absent, 0, None)
            } else {
                self.load_with_keys(id).await?
            };
            // Another clinic's appointment, or none at all: not found, whatever If-Match says.
            let foreign = state.appointment().is_some_and(|a| a.clinic_id != ctx.clinic_id);
            if foreign || (state == State::Absent && !creates) {
                return Err(DomainError::NotFound.into());
            }
            if let Some(expected) = ctx.if_match
                && expected != version
            {
                return Err(CommandError::VersionMismatch { current: version });
            }
            let events = appointment::decide(&state, &command)?;
            let mut new_events = events.iter().map(|e| self.envelope(ctx, e)).collect::<Vec<_>>();
            if self.sealing && sealing::has_personal_data(&new_events) {
                let key = match key {
                    Some(key) => key,
                    None => self.vault.new_key().await?,
                };
                sealing::seal(self.vault.as_ref(), key, &mut new_events).await?;
            }
            let version = if new_events.is_empty() {
                version
            } else {
                match self
                    .store
                    .append(&stream_id, ExpectedVersion::from_version(version), new_events)
                    .await
                {
                    Ok(appended) => appended.version,
                    Err(StoreError::Conflict { actual, .. }) if ctx.if_match.is_some() => {
                        return Err(CommandError::VersionMismatch { current: actual });
                    }
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            let state = events.iter().fold(state, appointment::evolve);
            let appointment = state.appointment().cloned().ok_or(DomainError::NotFound)?;
            return Ok(AppointmentAt {
                id,
                appointment,
                version,
            });
        }
        Err(CommandError::Contended)
    }

    fn envelope(&self, ctx: &CommandContext, event: &Event) -> NewEvent {
        ctx.envelope(self.ids.new_id(), self.clock.now(), event)
    }
}

/// A stream's state: its events, decoded (and upcast), folded into `initial` by `evolve`.
pub(crate) fn fold<S, E: StoredEvent>(
    recorded: &[RecordedEvent],
    initial: S,
    evolve: impl Fn(S, &E) -> S,
) -> Result<S, CommandError> {
    recorded.iter().try_fold(initial, |state, r| {
        let event = E::decode(&r.event_type, r.schema_version, &r.data)
            .map_err(|e| CommandError::UnreadableHistory(e.to_string()))?;
        Ok(evolve(state, &event))
    })
}
