//! The clinic directory (R1, SPEC §8): clinics, their staff, menus, each doctor's weekly
//! hours and closed days, folded from the set-up streams. Everything that asks "who works
//! here, what can be booked, when is it open" reads these tables; set-up changes are made only
//! by commands, as events.
//!
//! Password hashes, set-up links and second factors are not here: they are credentials, kept
//! outside the log (a replay rebuilds these tables and never touches them).
//!
//! Every row carries the version of its stream it reflects (staff rows share their clinic's),
//! and an event is applied only when it is newer than that, so applying one twice changes
//! nothing.

use crate::runner::Projector;
use crate::writes::{Statement, Value, Writes};
use enkaku_domain::envelope::RecordedEvent;
use enkaku_domain::ids::{ClinicId, ClosureId, MenuId};
use enkaku_domain::menu::ConsultationMode;
use enkaku_domain::setup::{
    ClinicProfileChanged, ClosureAdded, Event, MenuChanged, MenuCreated, StaffChanged, StaffInvited,
    WeeklyHoursSet,
};

pub struct DirectoryProjector;

/// The modes of a menu as its row stores them: `in_person,online`.
pub fn modes_column(modes: &[ConsultationMode]) -> String {
    modes.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(",")
}

impl Projector<Event> for DirectoryProjector {
    fn name(&self) -> &'static str {
        "directory"
    }

    fn schema(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS directory_clinics (
            id                  TEXT    PRIMARY KEY,
            name                TEXT    NOT NULL,
            phone               TEXT,
            time_zone           TEXT    NOT NULL,
            requires_two_factor INTEGER NOT NULL,
            version             BIGINT  NOT NULL
        );
        CREATE TABLE IF NOT EXISTS directory_staff (
            id        TEXT    PRIMARY KEY,
            clinic_id TEXT    NOT NULL,
            email     TEXT    NOT NULL,
            name      TEXT    NOT NULL,
            role      TEXT    NOT NULL,
            admin     INTEGER NOT NULL,
            active    INTEGER NOT NULL,
            joined    BIGINT  NOT NULL
        );
        CREATE INDEX IF NOT EXISTS directory_staff_by_clinic ON directory_staff (clinic_id, joined);
        CREATE TABLE IF NOT EXISTS directory_menus (
            id                   TEXT    PRIMARY KEY,
            clinic_id            TEXT    NOT NULL,
            name                 TEXT    NOT NULL,
            modes                TEXT    NOT NULL,
            duration_first_min   INTEGER NOT NULL,
            duration_revisit_min INTEGER NOT NULL,
            booking_fee_yen      INTEGER NOT NULL,
            active               INTEGER NOT NULL,
            created              BIGINT  NOT NULL,
            version              BIGINT  NOT NULL
        );
        CREATE INDEX IF NOT EXISTS directory_menus_by_clinic ON directory_menus (clinic_id, created);
        CREATE TABLE IF NOT EXISTS directory_hours (
            doctor_id TEXT    PRIMARY KEY,
            clinic_id TEXT    NOT NULL,
            slot_min  INTEGER NOT NULL,
            weekdays  TEXT    NOT NULL,
            version   BIGINT  NOT NULL
        );
        CREATE TABLE IF NOT EXISTS directory_closures (
            id        TEXT    PRIMARY KEY,
            clinic_id TEXT    NOT NULL,
            day       TEXT    NOT NULL,
            doctor_id TEXT,
            reason    TEXT    NOT NULL,
            active    INTEGER NOT NULL,
            version   BIGINT  NOT NULL
        );
        CREATE INDEX IF NOT EXISTS directory_closures_by_day ON directory_closures (clinic_id, day);"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "directory_clinics",
            "directory_staff",
            "directory_menus",
            "directory_hours",
            "directory_closures",
        ]
    }

    fn shows(&self, _event: &Event) -> bool {
        true
    }

    fn apply(&self, batch: &[(&RecordedEvent, &Event)], writes: &mut Writes) {
        for (recorded, event) in batch {
            apply_one(writes, recorded, event);
        }
    }
}

fn apply_one(writes: &mut Writes, recorded: &RecordedEvent, event: &Event) {
    let version = recorded.version as i64;
    let stream = recorded.stream_id.as_str();
    match event {
        Event::ClinicCreated(e) => writes.push(
            "INSERT INTO directory_clinics (id, name, phone, time_zone, requires_two_factor, version)
             VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (id) DO NOTHING",
            vec![
                Value::Text(e.clinic_id.to_string()),
                Value::Text(e.name.as_str().to_owned()),
                Value::MaybeText(e.phone.as_ref().map(|p| p.as_str().to_owned())),
                Value::Text(e.time_zone.to_string()),
                Value::Int(version),
            ],
        ),
        Event::MenuCreated(e) => {
            if let Some(menu) = MenuId::from_stream_id(stream) {
                writes.add(insert_menu(menu, e, recorded));
            }
        }
        Event::WeeklyHoursSet(e) => set_hours(writes, e, version),
        Event::ClosureAdded(e) => {
            if let Some(closure) = ClosureId::from_stream_id(stream) {
                insert_closure(writes, closure, e, version);
            }
        }
        Event::ClinicProfileChanged(_)
        | Event::StaffInvited(_)
        | Event::StaffChanged(_)
        | Event::StaffDeactivated(_)
        | Event::StaffReactivated(_)
        | Event::TwoFactorRequirementChanged(_) => {
            if let Some(clinic) = ClinicId::from_stream_id(stream) {
                advance(
                    writes,
                    "directory_clinics",
                    clinic.to_string(),
                    version,
                    change_clinic(clinic, event, recorded),
                );
            }
        }
        Event::MenuChanged(_) | Event::MenuRetired(_) | Event::MenuReinstated(_) => {
            if let Some(menu) = MenuId::from_stream_id(stream) {
                advance(
                    writes,
                    "directory_menus",
                    menu.to_string(),
                    version,
                    change_menu(menu, event),
                );
            }
        }
        Event::ClosureRemoved(_) => {
            if let Some(closure) = ClosureId::from_stream_id(stream) {
                let id = closure.to_string();
                let removed = Statement::new(
                    "UPDATE directory_closures SET active = 0 WHERE id = $1",
                    vec![Value::Text(id.clone())],
                );
                advance(writes, "directory_closures", id, version, vec![removed]);
            }
        }
    }
}

/// Move the row `id` of `table` to `version` unless it is there already, and only then (the
/// event of that version being new to the row) run `changes`.
fn advance(writes: &mut Writes, table: &str, id: String, version: i64, changes: Vec<Statement>) {
    writes.when_changed(
        format!("UPDATE {table} SET version = $1 WHERE id = $2 AND version < $1"),
        vec![Value::Int(version), Value::Text(id)],
        changes,
    );
}

/// A change to the clinic or its staff, to run if new.
fn change_clinic(clinic: ClinicId, event: &Event, recorded: &RecordedEvent) -> Vec<Statement> {
    match event {
        Event::ClinicProfileChanged(e) => change_profile(clinic, e),
        Event::StaffInvited(e) => vec![insert_staff(clinic, e, recorded.position as i64)],
        Event::StaffChanged(e) => change_staff(e),
        Event::StaffDeactivated(e) => vec![set_flag(
            "directory_staff",
            "active",
            e.staff_id.to_string(),
            false,
        )],
        Event::StaffReactivated(e) => vec![set_flag(
            "directory_staff",
            "active",
            e.staff_id.to_string(),
            true,
        )],
        Event::TwoFactorRequirementChanged(e) => vec![set_flag(
            "directory_clinics",
            "requires_two_factor",
            clinic.to_string(),
            e.required,
        )],
        _ => vec![],
    }
}

fn set_flag(table: &str, column: &str, id: String, on: bool) -> Statement {
    set_int(table, column, id, i64::from(on))
}

fn set_int(table: &str, column: &str, id: String, value: i64) -> Statement {
    Statement::new(
        format!("UPDATE {table} SET {column} = $1 WHERE id = $2"),
        vec![Value::Int(value), Value::Text(id)],
    )
}

fn update_text(table: &str, column: &str, id: String, value: Option<&str>) -> Statement {
    Statement::new(
        format!("UPDATE {table} SET {column} = $1 WHERE id = $2"),
        vec![Value::MaybeText(value.map(str::to_owned)), Value::Text(id)],
    )
}

fn change_profile(clinic: ClinicId, e: &ClinicProfileChanged) -> Vec<Statement> {
    let id = clinic.to_string();
    let table = "directory_clinics";
    let mut changes = Vec::new();
    if let Some(name) = &e.name {
        changes.push(update_text(table, "name", id.clone(), Some(name.as_str())));
    }
    if let Some(phone) = &e.phone {
        changes.push(update_text(
            table,
            "phone",
            id.clone(),
            phone.as_ref().map(|p| p.as_str()),
        ));
    }
    if let Some(zone) = &e.time_zone {
        changes.push(update_text(table, "time_zone", id, Some(&zone.to_string())));
    }
    changes
}

fn insert_staff(clinic: ClinicId, e: &StaffInvited, joined: i64) -> Statement {
    Statement::new(
        "INSERT INTO directory_staff (id, clinic_id, email, name, role, admin, active, joined)
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7) ON CONFLICT (id) DO NOTHING",
        vec![
            Value::Text(e.staff_id.to_string()),
            Value::Text(clinic.to_string()),
            Value::Text(e.email.as_str().to_owned()),
            Value::Text(e.name.as_str().to_owned()),
            Value::Text(e.role.as_str().to_owned()),
            Value::Int(i64::from(e.admin)),
            Value::Int(joined),
        ],
    )
}

fn change_staff(e: &StaffChanged) -> Vec<Statement> {
    let id = e.staff_id.to_string();
    let table = "directory_staff";
    let mut changes = Vec::new();
    if let Some(name) = &e.name {
        changes.push(update_text(table, "name", id.clone(), Some(name.as_str())));
    }
    if let Some(role) = &e.role {
        changes.push(update_text(table, "role", id.clone(), Some(role.as_str())));
    }
    if let Some(admin) = e.admin {
        changes.push(set_flag(table, "admin", id, admin));
    }
    changes
}

/// The insert of a new menu, its values bound.
fn insert_menu(menu: MenuId, e: &MenuCreated, recorded: &RecordedEvent) -> Statement {
    let m = &e.menu;
    Statement::new(
        "INSERT INTO directory_menus
           (id, clinic_id, name, modes, duration_first_min, duration_revisit_min, booking_fee_yen, active, created, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9) ON CONFLICT (id) DO NOTHING",
        vec![
            Value::Text(menu.to_string()),
            Value::Text(e.clinic_id.to_string()),
            Value::Text(m.name.as_str().to_owned()),
            Value::Text(modes_column(&m.modes)),
            Value::Int(i64::from(m.duration_first_min)),
            Value::Int(i64::from(m.duration_revisit_min)),
            Value::Int(i64::from(m.booking_fee_yen)),
            Value::Int(recorded.position as i64),
            Value::Int(recorded.version as i64),
        ],
    )
}

fn change_menu(menu: MenuId, event: &Event) -> Vec<Statement> {
    let id = menu.to_string();
    let table = "directory_menus";
    match event {
        Event::MenuChanged(MenuChanged {
            name,
            modes,
            duration_first_min,
            duration_revisit_min,
            booking_fee_yen,
        }) => {
            let mut changes = Vec::new();
            if let Some(name) = name {
                changes.push(update_text(table, "name", id.clone(), Some(name.as_str())));
            }
            if let Some(modes) = modes {
                changes.push(update_text(
                    table,
                    "modes",
                    id.clone(),
                    Some(&modes_column(modes)),
                ));
            }
            for (column, value) in [
                ("duration_first_min", duration_first_min),
                ("duration_revisit_min", duration_revisit_min),
                ("booking_fee_yen", booking_fee_yen),
            ] {
                if let Some(value) = value {
                    changes.push(set_int(table, column, id.clone(), i64::from(*value)));
                }
            }
            changes
        }
        Event::MenuRetired(_) => vec![set_flag(table, "active", id, false)],
        Event::MenuReinstated(_) => vec![set_flag(table, "active", id, true)],
        _ => vec![],
    }
}

/// The whole template replaces the earlier one, unless the row already reflects this one or
/// a later one.
fn set_hours(writes: &mut Writes, e: &WeeklyHoursSet, version: i64) {
    // Read from the event's JSON, the template writes back to it.
    let weekdays = serde_json::to_string(&e.weekdays).unwrap_or_default();
    writes.push(
        "INSERT INTO directory_hours (doctor_id, clinic_id, slot_min, weekdays, version)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (doctor_id) DO UPDATE SET slot_min = excluded.slot_min, weekdays = excluded.weekdays,
           version = excluded.version
         WHERE directory_hours.version < excluded.version",
        vec![
            Value::Text(e.doctor_id.to_string()),
            Value::Text(e.clinic_id.to_string()),
            Value::Int(i64::from(e.slot_min)),
            Value::Text(weekdays),
            Value::Int(version),
        ],
    );
}

fn insert_closure(writes: &mut Writes, closure: ClosureId, e: &ClosureAdded, version: i64) {
    writes.push(
        "INSERT INTO directory_closures (id, clinic_id, day, doctor_id, reason, active, version)
         VALUES ($1, $2, $3, $4, $5, 1, $6) ON CONFLICT (id) DO NOTHING",
        vec![
            Value::Text(closure.to_string()),
            Value::Text(e.clinic_id.to_string()),
            Value::Text(e.date.to_string()),
            Value::MaybeText(e.doctor_id.map(|d| d.to_string())),
            Value::Text(e.reason.as_str().to_owned()),
            Value::Int(version),
        ],
    );
}
