//! Who has the call open: the clinic's call screen and the patient's page, each joining and
//! leaving the call's media (R18, R19). An aggregate of its own, in the call's own stream
//! (`call-<appointment id>`), so that a flapping network never changes the appointment's
//! version and a staff edit never meets a spurious 412.
//!
//! What counts as one stay is decided at the edge: a page that comes back within a few
//! seconds (a reload, a short drop) is not recorded as leaving and joining again. Here, the
//! rules that hold whatever the edge does: a second page of a role that is already there
//! replaces the first, leaving twice records nothing, and one call records a bounded number
//! of events, so that a patient link cannot grow the log without end.

use crate::appointment::{Event, ParticipantJoined, ParticipantLeft};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The two sides of a call: the doctor's call screen (clinic link and a staff session) and
/// the patient's page (patient link).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallRole {
    Clinic,
    Patient,
}

impl CallRole {
    pub const ALL: [Self; 2] = [Self::Clinic, Self::Patient];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Clinic => "clinic",
            Self::Patient => "patient",
        }
    }

    /// The other side of the call.
    pub fn other(self) -> Self {
        match self {
            Self::Clinic => Self::Patient,
            Self::Patient => Self::Clinic,
        }
    }
}

/// Why a page left the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The page closed its connection, or the call closed (ended or cancelled).
    Closed,
    /// The connection dropped and did not come back in time.
    Network,
    /// Another page of the same role (a second tab, another device) took over.
    Replaced,
}

impl LeaveReason {
    pub const ALL: [Self; 3] = [Self::Closed, Self::Network, Self::Replaced];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Network => "network",
            Self::Replaced => "replaced",
        }
    }
}

/// Events one call records at most. Joining and leaving a hundred times each is far beyond
/// any consultation; past it presence is no longer recorded (the call itself goes on).
pub const MAX_EVENTS_PER_CALL: usize = 200;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Presence {
    /// Since when the clinic has had the call open, if it has.
    pub clinic_since: Option<DateTime<Utc>>,
    /// Since when the patient has had the call open, if they have.
    pub patient_since: Option<DateTime<Utc>>,
    /// Events recorded so far.
    pub recorded: usize,
}

impl Presence {
    pub fn since(&self, role: CallRole) -> Option<DateTime<Utc>> {
        match role {
            CallRole::Clinic => self.clinic_since,
            CallRole::Patient => self.patient_since,
        }
    }

    fn since_mut(&mut self, role: CallRole) -> &mut Option<DateTime<Utc>> {
        match role {
            CallRole::Clinic => &mut self.clinic_since,
            CallRole::Patient => &mut self.patient_since,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum PresenceCommand {
    Join {
        role: CallRole,
        now: DateTime<Utc>,
    },
    Leave {
        role: CallRole,
        now: DateTime<Utc>,
        reason: LeaveReason,
    },
}

/// The events a join or a leave records; none when it changes nothing or the call has
/// recorded its share. Never an error: presence is a record of what happened, not a request.
pub fn decide(state: &Presence, command: &PresenceCommand) -> Vec<Event> {
    let events = match *command {
        PresenceCommand::Join { role, now } => {
            let joined = Event::ParticipantJoined(ParticipantJoined { role, joined_at: now });
            if state.since(role).is_some() {
                let replaced = Event::ParticipantLeft(ParticipantLeft {
                    role,
                    left_at: now,
                    reason: LeaveReason::Replaced,
                });
                vec![replaced, joined]
            } else {
                vec![joined]
            }
        }
        PresenceCommand::Leave { role, now, reason } if state.since(role).is_some() => {
            vec![Event::ParticipantLeft(ParticipantLeft {
                role,
                left_at: now,
                reason,
            })]
        }
        PresenceCommand::Leave { .. } => vec![],
    };
    if state.recorded + events.len() > MAX_EVENTS_PER_CALL {
        return vec![];
    }
    events
}

/// Fold one event of the call's stream; events of the appointment's own kinds change nothing.
pub fn evolve(mut state: Presence, event: &Event) -> Presence {
    match event {
        Event::ParticipantJoined(e) => *state.since_mut(e.role) = Some(e.joined_at),
        Event::ParticipantLeft(e) => *state.since_mut(e.role) = None,
        _ => return state,
    }
    state.recorded += 1;
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 10, minute, 0).unwrap()
    }

    fn given(events: &[Event]) -> Presence {
        events.iter().fold(Presence::default(), evolve)
    }

    fn join(role: CallRole, minute: u32) -> PresenceCommand {
        PresenceCommand::Join {
            role,
            now: at(minute),
        }
    }

    fn leave(role: CallRole, minute: u32, reason: LeaveReason) -> PresenceCommand {
        PresenceCommand::Leave {
            role,
            now: at(minute),
            reason,
        }
    }

    fn joined(role: CallRole, minute: u32) -> Event {
        Event::ParticipantJoined(ParticipantJoined {
            role,
            joined_at: at(minute),
        })
    }

    fn left(role: CallRole, minute: u32, reason: LeaveReason) -> Event {
        Event::ParticipantLeft(ParticipantLeft {
            role,
            left_at: at(minute),
            reason,
        })
    }

    #[test]
    fn a_first_join_is_recorded_and_shows_since_when() {
        let events = decide(&given(&[]), &join(CallRole::Patient, 2));
        assert_eq!(events, vec![joined(CallRole::Patient, 2)]);
        let state = given(&events);
        assert_eq!(state.since(CallRole::Patient), Some(at(2)));
        assert_eq!(state.since(CallRole::Clinic), None);
    }

    #[test]
    fn a_second_page_of_a_role_that_is_there_replaces_the_first() {
        let state = given(&[joined(CallRole::Clinic, 0)]);
        assert_eq!(
            decide(&state, &join(CallRole::Clinic, 5)),
            vec![
                left(CallRole::Clinic, 5, LeaveReason::Replaced),
                joined(CallRole::Clinic, 5)
            ]
        );
    }

    #[test]
    fn a_leave_is_recorded_once_with_its_reason() {
        let state = given(&[joined(CallRole::Patient, 0)]);
        let events = decide(&state, &leave(CallRole::Patient, 9, LeaveReason::Network));
        assert_eq!(events, vec![left(CallRole::Patient, 9, LeaveReason::Network)]);
        let state = events.iter().fold(state, evolve);
        assert_eq!(state.since(CallRole::Patient), None);
        assert!(decide(&state, &leave(CallRole::Patient, 9, LeaveReason::Closed)).is_empty());
    }

    #[test]
    fn leaving_a_call_one_never_joined_records_nothing() {
        assert!(decide(&given(&[]), &leave(CallRole::Clinic, 1, LeaveReason::Closed)).is_empty());
    }

    #[test]
    fn appointment_events_do_not_count_as_presence() {
        let started = Event::CallStarted(crate::appointment::CallStarted { started_at: at(1) });
        assert_eq!(given(&[started]), Presence::default());
    }

    fn command() -> impl Strategy<Value = PresenceCommand> {
        let role = prop_oneof![Just(CallRole::Clinic), Just(CallRole::Patient)];
        let reason = prop::sample::select(LeaveReason::ALL.to_vec());
        (role, any::<bool>(), reason, 0..60u32).prop_map(|(role, joins, reason, minute)| {
            if joins {
                join(role, minute)
            } else {
                leave(role, minute, reason)
            }
        })
    }

    proptest! {
        /// Whatever pages do, one call's stream stays bounded, and every leave in it follows
        /// a join of the same role.
        #[test]
        fn any_sequence_records_at_most_the_bound_and_leaves_only_who_joined(
            commands in prop::collection::vec(command(), 0..400)
        ) {
            let mut state = Presence::default();
            let mut log = Vec::new();
            for command in &commands {
                let events = decide(&state, command);
                state = events.iter().fold(state, evolve);
                log.extend(events);
            }
            prop_assert!(log.len() <= MAX_EVENTS_PER_CALL);
            let mut present = std::collections::HashSet::new();
            for event in &log {
                match event {
                    Event::ParticipantJoined(e) => prop_assert!(present.insert(e.role)),
                    Event::ParticipantLeft(e) => prop_assert!(present.remove(&e.role)),
                    _ => unreachable!("presence records only its own events"),
                }
            }
        }
    }
}
