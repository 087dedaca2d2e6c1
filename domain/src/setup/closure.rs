//! The closure aggregate (stream `closure-<closure id>`): one closed day (休診日) of the whole
//! clinic or of one doctor, with the reason staff see, until it is removed. Every command
//! names the clinic acting: another clinic's closure is not found.

use super::events::*;
use crate::clinic::check_day;
use crate::error::DomainError;
use crate::ids::{ClinicId, StaffId};
use crate::values::ClosureReason;
use chrono::NaiveDate;

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/// Close a day. The handler checks that the doctor, if one is named, is one of the clinic's.
#[derive(Clone, Debug, PartialEq)]
pub struct AddClosure {
    pub clinic_id: ClinicId,
    /// The day, in the clinic's time zone.
    pub date: NaiveDate,
    /// The doctor who is away; `None` closes the whole clinic.
    pub doctor_id: Option<StaffId>,
    pub reason: ClosureReason,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    AddClosure(AddClosure),
    RemoveClosure { clinic_id: ClinicId },
}

impl Command {
    /// The clinic on whose behalf the command is given.
    pub fn clinic_id(&self) -> ClinicId {
        match self {
            Self::AddClosure(c) => c.clinic_id,
            Self::RemoveClosure { clinic_id } => *clinic_id,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
pub struct Closure {
    pub clinic_id: ClinicId,
    pub date: NaiveDate,
    pub doctor_id: Option<StaffId>,
    pub reason: ClosureReason,
    /// A removed closure closes nothing; its history stays.
    pub removed: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub enum State {
    #[default]
    Absent,
    Present(Closure),
}

impl State {
    pub fn closure(&self) -> Option<&Closure> {
        match self {
            Self::Absent => None,
            Self::Present(c) => Some(c),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// decide
// ---------------------------------------------------------------------------------------------

/// The rules: which events `command` causes in `state`, or which rule it breaks. Removing a
/// removed closure changes nothing; closing the day again is a new closure.
pub fn decide(state: &State, command: &Command) -> Result<Vec<Event>, DomainError> {
    match (state, command) {
        (State::Absent, Command::AddClosure(c)) => {
            check_day("date", c.date)?;
            Ok(vec![Event::ClosureAdded(ClosureAdded {
                clinic_id: c.clinic_id,
                date: c.date,
                doctor_id: c.doctor_id,
                reason: c.reason.clone(),
            })])
        }
        (State::Absent, Command::RemoveClosure { .. }) => Err(DomainError::NotFound),
        // Another clinic's closure does not exist for this one, whatever it asks.
        (State::Present(closure), command) if closure.clinic_id != command.clinic_id() => {
            Err(DomainError::NotFound)
        }
        (State::Present(_), Command::AddClosure(_)) => Err(DomainError::AlreadyExists),
        (State::Present(closure), Command::RemoveClosure { .. }) => Ok(if closure.removed {
            vec![]
        } else {
            vec![Event::ClosureRemoved(ClosureRemoved {})]
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// evolve
// ---------------------------------------------------------------------------------------------

/// Fold one event into the state. Events of other set-up streams change nothing here.
pub fn evolve(state: State, event: &Event) -> State {
    match (state, event) {
        (_, Event::ClosureAdded(e)) => State::Present(Closure {
            clinic_id: e.clinic_id,
            date: e.date,
            doctor_id: e.doctor_id,
            reason: e.reason.clone(),
            removed: false,
        }),
        (State::Present(closure), Event::ClosureRemoved(_)) => State::Present(Closure {
            removed: true,
            ..closure
        }),
        (state, _) => state,
    }
}

/// Replay a history into a state.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> State {
    events.into_iter().fold(State::Absent, evolve)
}
