//! The set-up command handlers: the clinic and its staff, menus, weekly hours and closures.
//!
//! Each loads its stream, folds it, asks the pure decider, and appends the events with the
//! version it read as the expected version, as the appointment handler does. When another
//! writer got there first, the command is decided again on the fresh state (so two
//! administrators demoting each other meet the last-admin rule, and neither update is lost),
//! or, under `If-Match`, refused as a version mismatch (412). Every event carries the
//! command's actor in its envelope: who changed a menu or a role, and when, is in the log.

use crate::ports::{Clock, EventStore, ExpectedVersion, IdSource, StoreError};
use crate::service::{CommandContext, CommandError, MAX_ATTEMPTS, fold};
use enkaku_domain::DomainError;
use enkaku_domain::ids::{ClinicId, ClosureId, MenuId, StaffId};
use enkaku_domain::setup::Event;
use enkaku_domain::setup::clinic::{self, Clinic, Role};
use enkaku_domain::setup::closure::{self, AddClosure, Closure};
use enkaku_domain::setup::hours::{self, SetWeeklyHours, WeeklyHours};
use enkaku_domain::setup::menu::{self, ClinicMenu};
use std::sync::Arc;

/// A set-up aggregate at the version its stream has after the command: what an edit's
/// answer carries (its entity tag), and what the next `If-Match` names.
#[derive(Clone, Debug, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

impl<S> Versioned<S> {
    /// The aggregate `present` finds in the state; a command that succeeded leaves one.
    fn present<T: Clone>(self, present: impl FnOnce(&S) -> Option<&T>) -> Result<Versioned<T>, CommandError> {
        let value = present(&self.value).cloned().ok_or(DomainError::NotFound)?;
        Ok(Versioned {
            value,
            version: self.version,
        })
    }
}

pub struct SetupService {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
}

/// A command given on behalf of another clinic than the acting one concerns something that,
/// for the acting clinic, does not exist.
fn require_acting_clinic(ctx: &CommandContext, clinic: ClinicId) -> Result<(), CommandError> {
    if clinic == ctx.clinic_id {
        Ok(())
    } else {
        Err(DomainError::NotFound.into())
    }
}

impl SetupService {
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>, ids: Arc<dyn IdSource>) -> Self {
        Self { store, clock, ids }
    }

    /// A command about the acting clinic (`ctx.clinic_id`), its profile or its staff. A
    /// creation must name that clinic.
    pub async fn clinic(
        &self,
        ctx: &CommandContext,
        command: clinic::Command,
    ) -> Result<Versioned<Clinic>, CommandError> {
        if let clinic::Command::CreateClinic(c) = &command {
            require_acting_clinic(ctx, c.clinic_id)?;
        }
        self.execute(ctx, &ctx.clinic_id.stream_id(), clinic::evolve, |state| {
            clinic::decide(state, &command)
        })
        .await?
        .present(clinic::State::clinic)
    }

    /// The clinic as its stream holds it now; a clinic without a stream is not found.
    pub async fn clinic_state(&self, clinic: ClinicId) -> Result<Versioned<Clinic>, CommandError> {
        let recorded = self.store.read_stream(&clinic.stream_id()).await?;
        Versioned {
            value: fold(&recorded, clinic::State::Absent, clinic::evolve)?,
            version: recorded.last().map_or(0, |r| r.version),
        }
        .present(clinic::State::clinic)
    }

    /// A command about the menu `id` of the acting clinic.
    pub async fn menu(
        &self,
        ctx: &CommandContext,
        id: MenuId,
        command: menu::Command,
    ) -> Result<Versioned<ClinicMenu>, CommandError> {
        require_acting_clinic(ctx, command.clinic_id())?;
        self.execute(ctx, &id.stream_id(), menu::evolve, |state| {
            menu::decide(state, &command)
        })
        .await?
        .present(menu::State::menu)
    }

    /// Set the weekly hours of one of the acting clinic's doctors.
    pub async fn hours(
        &self,
        ctx: &CommandContext,
        command: SetWeeklyHours,
    ) -> Result<Versioned<WeeklyHours>, CommandError> {
        require_acting_clinic(ctx, command.clinic_id)?;
        self.require_doctor(ctx.clinic_id, command.doctor_id).await?;
        self.execute(
            ctx,
            &command.doctor_id.hours_stream_id(),
            hours::evolve,
            |state| hours::decide(state, &command),
        )
        .await?
        .present(hours::State::hours)
    }

    /// A command about the closure `id` of the acting clinic.
    pub async fn closure(
        &self,
        ctx: &CommandContext,
        id: ClosureId,
        command: closure::Command,
    ) -> Result<Versioned<Closure>, CommandError> {
        require_acting_clinic(ctx, command.clinic_id())?;
        if let closure::Command::AddClosure(AddClosure {
            doctor_id: Some(doctor),
            ..
        }) = &command
        {
            self.require_doctor(ctx.clinic_id, *doctor).await?;
        }
        self.execute(ctx, &id.stream_id(), closure::evolve, |state| {
            closure::decide(state, &command)
        })
        .await?
        .present(closure::State::closure)
    }

    /// Hours and closures name only doctors on the clinic's roster (deactivated ones too: an
    /// administrator may still tidy up their hours).
    async fn require_doctor(&self, clinic: ClinicId, doctor: StaffId) -> Result<(), CommandError> {
        let recorded = self.store.read_stream(&clinic.stream_id()).await?;
        let state = fold(&recorded, clinic::State::Absent, clinic::evolve)?;
        match state.clinic().and_then(|c| c.member(doctor)) {
            Some(member) if member.role == Role::Doctor => Ok(()),
            _ => Err(CommandError::UnknownDoctor),
        }
    }

    /// Decide on fresh state and append with the version read; on a race, read again and
    /// decide again (or, under `If-Match`, report the mismatch).
    async fn execute<S: Default>(
        &self,
        ctx: &CommandContext,
        stream_id: &str,
        evolve: fn(S, &Event) -> S,
        decide: impl Fn(&S) -> Result<Vec<Event>, DomainError>,
    ) -> Result<Versioned<S>, CommandError> {
        for _ in 0..MAX_ATTEMPTS {
            let recorded = self.store.read_stream(stream_id).await?;
            let version = recorded.last().map_or(0, |r| r.version);
            let state = fold(&recorded, S::default(), evolve)?;
            let decided = decide(&state);
            // Missing, or another clinic's: not found, whatever If-Match says.
            if decided == Err(DomainError::NotFound) {
                return Err(DomainError::NotFound.into());
            }
            if let Some(expected) = ctx.if_match
                && expected != version
            {
                return Err(CommandError::VersionMismatch { current: version });
            }
            let events = decided?;
            if events.is_empty() {
                return Ok(Versioned {
                    value: state,
                    version,
                });
            }
            let now = self.clock.now();
            let new_events = events
                .iter()
                .map(|e| ctx.envelope(self.ids.new_id(), now, e))
                .collect();
            match self
                .store
                .append(stream_id, ExpectedVersion::from_version(version), new_events)
                .await
            {
                Ok(appended) => {
                    return Ok(Versioned {
                        value: events.iter().fold(state, evolve),
                        version: appended.version,
                    });
                }
                Err(StoreError::Conflict { actual, .. }) if ctx.if_match.is_some() => {
                    return Err(CommandError::VersionMismatch { current: actual });
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CommandError::Contended)
    }
}
