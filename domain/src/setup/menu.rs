//! The menu aggregate (stream `menu-<menu id>`): one treatment menu of a clinic (R1), which
//! can be changed, retired (no longer bookable) and reinstated. Every command names the
//! clinic acting: another clinic's menu is not found, as if it did not exist.

use super::events::*;
use super::overwrite;
use crate::clinic::{LONGEST_MINUTES, SHORTEST_MINUTES};
use crate::error::DomainError;
use crate::ids::{ClinicId, MenuId};
use crate::menu::{ConsultationMode, Menu};
use crate::values::MenuName;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The highest booking fee a menu can have. A self-pay booking fee is a few thousand yen; a
/// million is a typing error (a zero too many), not a fee.
pub const MAX_BOOKING_FEE_YEN: u32 = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/// What a menu offers. An administrator's entry is checked by `decide`, which records the
/// modes as a set in one order; a recorded one holds values within these ranges.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MenuDefinition {
    pub name: MenuName,
    /// The consultation modes it allows: one or both, recorded in the order `in_person`,
    /// `online`.
    pub modes: Vec<ConsultationMode>,
    /// Minutes of a first visit (初診), 5 to 240.
    pub duration_first_min: u32,
    /// Minutes of a revisit (再診), 5 to 240.
    pub duration_revisit_min: u32,
    /// Booking fee of a self-pay menu in yen, up to 1,000,000; 0 when none.
    pub booking_fee_yen: u32,
}

/// Change a menu: only the fields given change.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MenuChanges {
    pub name: Option<MenuName>,
    pub modes: Option<Vec<ConsultationMode>>,
    pub duration_first_min: Option<u32>,
    pub duration_revisit_min: Option<u32>,
    pub booking_fee_yen: Option<u32>,
}

/// A command about one menu, on behalf of `clinic_id`.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    CreateMenu {
        clinic_id: ClinicId,
        menu: MenuDefinition,
    },
    ChangeMenu {
        clinic_id: ClinicId,
        changes: MenuChanges,
    },
    RetireMenu {
        clinic_id: ClinicId,
    },
    ReinstateMenu {
        clinic_id: ClinicId,
    },
}

impl Command {
    /// The clinic on whose behalf the command is given.
    pub fn clinic_id(&self) -> ClinicId {
        match self {
            Self::CreateMenu { clinic_id, .. }
            | Self::ChangeMenu { clinic_id, .. }
            | Self::RetireMenu { clinic_id }
            | Self::ReinstateMenu { clinic_id } => *clinic_id,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// A menu as the clinic has defined it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClinicMenu {
    pub clinic_id: ClinicId,
    pub definition: MenuDefinition,
    /// A retired menu cannot be booked; bookings made with it keep what they copied.
    pub retired: bool,
}

impl ClinicMenu {
    /// The menu `id` as bookings and menu lists see it.
    pub fn as_menu(&self, id: MenuId) -> Menu {
        let d = &self.definition;
        Menu {
            id,
            name: d.name.to_string(),
            modes: d.modes.clone(),
            duration_first_min: d.duration_first_min,
            duration_revisit_min: d.duration_revisit_min,
            booking_fee_yen: d.booking_fee_yen,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub enum State {
    #[default]
    Absent,
    Present(ClinicMenu),
}

impl State {
    pub fn menu(&self) -> Option<&ClinicMenu> {
        match self {
            Self::Absent => None,
            Self::Present(m) => Some(m),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// decide
// ---------------------------------------------------------------------------------------------

/// The rules: which events `command` causes in `state`, or which rule it breaks. An empty
/// list means "already so".
pub fn decide(state: &State, command: &Command) -> Result<Vec<Event>, DomainError> {
    let menu = match (state, command) {
        (State::Absent, Command::CreateMenu { clinic_id, menu }) => {
            return create_menu(*clinic_id, menu);
        }
        (State::Absent, _) => return Err(DomainError::NotFound),
        // Another clinic's menu does not exist for this one, whatever it asks.
        (State::Present(menu), command) if menu.clinic_id != command.clinic_id() => {
            return Err(DomainError::NotFound);
        }
        (State::Present(menu), _) => menu,
    };
    match command {
        Command::CreateMenu { .. } => Err(DomainError::AlreadyExists),
        Command::ChangeMenu { changes, .. } => change_menu(&menu.definition, changes),
        Command::RetireMenu { .. } if menu.retired => Ok(vec![]),
        Command::RetireMenu { .. } => Ok(vec![Event::MenuRetired(MenuRetired {})]),
        Command::ReinstateMenu { .. } if menu.retired => Ok(vec![Event::MenuReinstated(MenuReinstated {})]),
        Command::ReinstateMenu { .. } => Ok(vec![]),
    }
}

fn create_menu(clinic_id: ClinicId, menu: &MenuDefinition) -> Result<Vec<Event>, DomainError> {
    Ok(vec![Event::MenuCreated(MenuCreated {
        clinic_id,
        menu: MenuDefinition {
            name: menu.name.clone(),
            modes: checked_modes(&menu.modes)?,
            duration_first_min: checked_duration("duration_first_min", menu.duration_first_min)?,
            duration_revisit_min: checked_duration("duration_revisit_min", menu.duration_revisit_min)?,
            booking_fee_yen: checked_fee(menu.booking_fee_yen)?,
        },
    })])
}

fn change_menu(menu: &MenuDefinition, c: &MenuChanges) -> Result<Vec<Event>, DomainError> {
    let modes = c.modes.as_deref().map(checked_modes).transpose()?;
    let first = c
        .duration_first_min
        .map(|d| checked_duration("duration_first_min", d))
        .transpose()?;
    let revisit = c
        .duration_revisit_min
        .map(|d| checked_duration("duration_revisit_min", d))
        .transpose()?;
    let fee = c.booking_fee_yen.map(checked_fee).transpose()?;
    let changed = MenuChanged {
        name: c.name.clone().filter(|n| *n != menu.name),
        modes: modes.filter(|m| *m != menu.modes),
        duration_first_min: first.filter(|d| *d != menu.duration_first_min),
        duration_revisit_min: revisit.filter(|d| *d != menu.duration_revisit_min),
        booking_fee_yen: fee.filter(|f| *f != menu.booking_fee_yen),
    };
    if changed == MenuChanged::default() {
        return Ok(vec![]);
    }
    Ok(vec![Event::MenuChanged(changed)])
}

/// At least one mode, each once, in the order of [`ConsultationMode::ALL`]: the same set
/// always reads the same, so choosing it again changes nothing.
fn checked_modes(modes: &[ConsultationMode]) -> Result<Vec<ConsultationMode>, DomainError> {
    let set: Vec<ConsultationMode> = ConsultationMode::ALL
        .into_iter()
        .filter(|m| modes.contains(m))
        .collect();
    if set.is_empty() {
        return Err(DomainError::invalid(
            "modes",
            "must allow at least one of in_person and online",
        ));
    }
    Ok(set)
}

fn checked_duration(field: &'static str, minutes: u32) -> Result<u32, DomainError> {
    if (SHORTEST_MINUTES..=LONGEST_MINUTES).contains(&minutes) {
        Ok(minutes)
    } else {
        Err(DomainError::invalid(
            field,
            format!("must be between {SHORTEST_MINUTES} and {LONGEST_MINUTES} minutes"),
        ))
    }
}

fn checked_fee(yen: u32) -> Result<u32, DomainError> {
    if yen <= MAX_BOOKING_FEE_YEN {
        Ok(yen)
    } else {
        Err(DomainError::invalid(
            "booking_fee_yen",
            format!("must be at most {MAX_BOOKING_FEE_YEN} yen"),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// evolve
// ---------------------------------------------------------------------------------------------

/// Fold one event into the state. Events of other set-up streams change nothing here.
pub fn evolve(state: State, event: &Event) -> State {
    let mut menu = match (state, event) {
        (_, Event::MenuCreated(e)) => {
            return State::Present(ClinicMenu {
                clinic_id: e.clinic_id,
                definition: e.menu.clone(),
                retired: false,
            });
        }
        (State::Absent, _) => return State::Absent,
        (State::Present(menu), _) => menu,
    };
    match event {
        Event::MenuChanged(e) => {
            let menu = &mut menu.definition;
            overwrite(&mut menu.name, &e.name);
            overwrite(&mut menu.modes, &e.modes);
            overwrite(&mut menu.duration_first_min, &e.duration_first_min);
            overwrite(&mut menu.duration_revisit_min, &e.duration_revisit_min);
            overwrite(&mut menu.booking_fee_yen, &e.booking_fee_yen);
        }
        Event::MenuRetired(_) => menu.retired = true,
        Event::MenuReinstated(_) => menu.retired = false,
        _ => {}
    }
    State::Present(menu)
}

/// Replay a history into a state.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> State {
    events.into_iter().fold(State::Absent, evolve)
}
