//! Clinic set-up as event-sourced aggregates (SPEC §8): the clinic with its staff, each
//! treatment menu, each doctor's weekly hours and each closed day have a stream of their own,
//! with a pure `decide` / `evolve` pair like the appointment's.
//!
//! | aggregate | stream | events |
//! |---|---|---|
//! | [`clinic`] | `clinic-<clinic id>` | `ClinicCreated`, `ClinicProfileChanged`, `StaffInvited`, `StaffChanged`, `StaffDeactivated`, `StaffReactivated`, `TwoFactorRequirementChanged` |
//! | [`menu`] | `menu-<menu id>` | `MenuCreated`, `MenuChanged`, `MenuRetired`, `MenuReinstated` |
//! | [`hours`] | `hours-<doctor id>` | `WeeklyHoursSet` |
//! | [`closure`] | `closure-<closure id>` | `ClosureAdded`, `ClosureRemoved` |
//!
//! All of them share one [`Event`] enum, so the set-up events can be read, published and
//! documented together; each aggregate's `evolve` passes over the others' events.

pub mod clinic;
pub mod closure;
pub mod hours;
pub mod menu;

mod events;
pub use events::*;

/// What an event that records only what changed does to one field: a present value
/// replaces it, an absent one leaves it.
fn overwrite<T: Clone>(field: &mut T, change: &Option<T>) {
    if let Some(value) = change {
        field.clone_from(value);
    }
}

#[cfg(test)]
mod tests;
