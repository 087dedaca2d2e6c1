//! The weekly hours aggregate (stream `hours-<doctor id>`): one doctor's opening ranges for
//! each weekday and the length of a slot, set as a whole template. The schedule's slot grid
//! follows it (R2).

use super::events::*;
use crate::clinic::{LONGEST_MINUTES, SHORTEST_MINUTES};
use crate::error::DomainError;
use crate::ids::{ClinicId, StaffId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Minutes in a day: a range ends at the latest at midnight (`24:00`).
pub const MINUTES_PER_DAY: u32 = 24 * 60;

/// 曜日, as the API and the events name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    /// Every day, Monday first.
    pub const ALL: [Self; 7] = [
        Self::Mon,
        Self::Tue,
        Self::Wed,
        Self::Thu,
        Self::Fri,
        Self::Sat,
        Self::Sun,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Mon => "mon",
            Self::Tue => "tue",
            Self::Wed => "wed",
            Self::Thu => "thu",
            Self::Fri => "fri",
            Self::Sat => "sat",
            Self::Sun => "sun",
        }
    }

    /// The request field holding this day's ranges, so a form shows an error on that day.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Mon => "weekdays.mon",
            Self::Tue => "weekdays.tue",
            Self::Wed => "weekdays.wed",
            Self::Thu => "weekdays.thu",
            Self::Fri => "weekdays.fri",
            Self::Sat => "weekdays.sat",
            Self::Sun => "weekdays.sun",
        }
    }
}

/// One opening range of a day, in minutes after local midnight: `09:00`–`12:00` is
/// `{start_min: 540, end_min: 720}`. The end is exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct HoursRange {
    pub start_min: u32,
    pub end_min: u32,
}

/// The opening ranges of each weekday; a day without any is closed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Weekdays {
    pub mon: Vec<HoursRange>,
    pub tue: Vec<HoursRange>,
    pub wed: Vec<HoursRange>,
    pub thu: Vec<HoursRange>,
    pub fri: Vec<HoursRange>,
    pub sat: Vec<HoursRange>,
    pub sun: Vec<HoursRange>,
}

impl Weekdays {
    pub fn day(&self, day: Weekday) -> &[HoursRange] {
        match day {
            Weekday::Mon => &self.mon,
            Weekday::Tue => &self.tue,
            Weekday::Wed => &self.wed,
            Weekday::Thu => &self.thu,
            Weekday::Fri => &self.fri,
            Weekday::Sat => &self.sat,
            Weekday::Sun => &self.sun,
        }
    }

    pub fn day_mut(&mut self, day: Weekday) -> &mut Vec<HoursRange> {
        match day {
            Weekday::Mon => &mut self.mon,
            Weekday::Tue => &mut self.tue,
            Weekday::Wed => &mut self.wed,
            Weekday::Thu => &mut self.thu,
            Weekday::Fri => &mut self.fri,
            Weekday::Sat => &mut self.sat,
            Weekday::Sun => &mut self.sun,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Command
// ---------------------------------------------------------------------------------------------

/// Set a doctor's weekly hours, on behalf of `clinic_id`. The handler checks that the doctor
/// is one of the clinic's.
#[derive(Clone, Debug, PartialEq)]
pub struct SetWeeklyHours {
    pub clinic_id: ClinicId,
    pub doctor_id: StaffId,
    pub slot_min: u32,
    /// Each day's ranges, in any order.
    pub weekdays: Weekdays,
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// A doctor's template, as the last [`WeeklyHoursSet`] left it.
#[derive(Clone, Debug, PartialEq)]
pub struct WeeklyHours {
    pub clinic_id: ClinicId,
    pub doctor_id: StaffId,
    pub slot_min: u32,
    /// Each day's ranges, earliest first, none overlapping.
    pub weekdays: Weekdays,
}

// One state lives per command being decided; boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Default, PartialEq)]
pub enum State {
    #[default]
    Absent,
    Present(WeeklyHours),
}

impl State {
    pub fn hours(&self) -> Option<&WeeklyHours> {
        match self {
            Self::Absent => None,
            Self::Present(h) => Some(h),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// decide
// ---------------------------------------------------------------------------------------------

/// The template checked and put in order, or the rule it breaks; nothing when it is the one
/// already set.
pub fn decide(state: &State, command: &SetWeeklyHours) -> Result<Vec<Event>, DomainError> {
    if let State::Present(current) = state
        && current.clinic_id != command.clinic_id
    {
        // Another clinic's doctor does not exist for this one.
        return Err(DomainError::NotFound);
    }
    if !(SHORTEST_MINUTES..=LONGEST_MINUTES).contains(&command.slot_min) {
        return Err(DomainError::invalid(
            "slot_min",
            format!("must be between {SHORTEST_MINUTES} and {LONGEST_MINUTES} minutes"),
        ));
    }
    let mut weekdays = Weekdays::default();
    for day in Weekday::ALL {
        *weekdays.day_mut(day) = checked_day(day, command.weekdays.day(day))?;
    }
    let unchanged = state
        .hours()
        .is_some_and(|h| h.slot_min == command.slot_min && h.weekdays == weekdays);
    if unchanged {
        return Ok(vec![]);
    }
    Ok(vec![Event::WeeklyHoursSet(WeeklyHoursSet {
        clinic_id: command.clinic_id,
        doctor_id: command.doctor_id,
        slot_min: command.slot_min,
        weekdays,
    })])
}

/// One day's ranges, earliest first: each starts before it ends, within the day, and none
/// overlaps the next (one may end where the next begins).
fn checked_day(day: Weekday, ranges: &[HoursRange]) -> Result<Vec<HoursRange>, DomainError> {
    let mut sorted = ranges.to_vec();
    sorted.sort();
    for range in &sorted {
        if range.start_min >= range.end_min {
            return Err(DomainError::invalid(
                day.field(),
                "each range must start before it ends",
            ));
        }
        if range.end_min > MINUTES_PER_DAY {
            return Err(DomainError::invalid(
                day.field(),
                "each range must end by midnight (24:00)",
            ));
        }
    }
    if sorted.windows(2).any(|pair| pair[1].start_min < pair[0].end_min) {
        return Err(DomainError::invalid(day.field(), "ranges must not overlap"));
    }
    Ok(sorted)
}

// ---------------------------------------------------------------------------------------------
// evolve
// ---------------------------------------------------------------------------------------------

/// Fold one event into the state: each template replaces the one before. Events of other
/// set-up streams change nothing here.
pub fn evolve(state: State, event: &Event) -> State {
    match event {
        Event::WeeklyHoursSet(e) => State::Present(WeeklyHours {
            clinic_id: e.clinic_id,
            doctor_id: e.doctor_id,
            slot_min: e.slot_min,
            weekdays: e.weekdays.clone(),
        }),
        _ => state,
    }
}

/// Replay a history into a state.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> State {
    events.into_iter().fold(State::Absent, evolve)
}
