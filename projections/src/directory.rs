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
use async_trait::async_trait;
use enkaku_domain::envelope::RecordedEvent;
use enkaku_domain::ids::{ClinicId, ClosureId, MenuId};
use enkaku_domain::menu::ConsultationMode;
use enkaku_domain::setup::{
    ClinicCreated, ClinicProfileChanged, ClosureAdded, Event, MenuChanged, MenuCreated, StaffChanged,
    StaffInvited, WeeklyHoursSet,
};
use sqlx::AnyConnection;

pub struct DirectoryProjector;

/// The modes of a menu as its row stores them: `in_person,online`.
pub fn modes_column(modes: &[ConsultationMode]) -> String {
    modes.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(",")
}

#[async_trait]
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

    async fn apply(
        &self,
        tx: &mut AnyConnection,
        batch: &[(&RecordedEvent, &Event)],
    ) -> Result<(), sqlx::Error> {
        for (recorded, event) in batch {
            apply_one(tx, recorded, event).await?;
        }
        Ok(())
    }
}

async fn apply_one(
    tx: &mut AnyConnection,
    recorded: &RecordedEvent,
    event: &Event,
) -> Result<(), sqlx::Error> {
    let version = recorded.version as i64;
    let stream = recorded.stream_id.as_str();
    match event {
        Event::ClinicCreated(e) => insert_clinic(tx, e, version).await,
        Event::MenuCreated(e) => {
            let Some(menu) = MenuId::from_stream_id(stream) else {
                return Ok(());
            };
            insert_menu(tx, menu, e, recorded).await
        }
        Event::WeeklyHoursSet(e) => set_hours(tx, e, version).await,
        Event::ClosureAdded(e) => {
            let Some(closure) = ClosureId::from_stream_id(stream) else {
                return Ok(());
            };
            insert_closure(tx, closure, e, version).await
        }
        Event::ClinicProfileChanged(_)
        | Event::StaffInvited(_)
        | Event::StaffChanged(_)
        | Event::StaffDeactivated(_)
        | Event::StaffReactivated(_)
        | Event::TwoFactorRequirementChanged(_) => {
            let Some(clinic) = ClinicId::from_stream_id(stream) else {
                return Ok(());
            };
            if advance(tx, "directory_clinics", &clinic.to_string(), version).await? {
                change_clinic(tx, clinic, event, recorded).await?;
            }
            Ok(())
        }
        Event::MenuChanged(_) | Event::MenuRetired(_) | Event::MenuReinstated(_) => {
            let Some(menu) = MenuId::from_stream_id(stream) else {
                return Ok(());
            };
            if advance(tx, "directory_menus", &menu.to_string(), version).await? {
                change_menu(tx, menu, event).await?;
            }
            Ok(())
        }
        Event::ClosureRemoved(_) => {
            let Some(closure) = ClosureId::from_stream_id(stream) else {
                return Ok(());
            };
            if advance(tx, "directory_closures", &closure.to_string(), version).await? {
                sqlx::query("UPDATE directory_closures SET active = 0 WHERE id = $1")
                    .bind(closure.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(())
        }
    }
}

/// Move the row `id` of `table` to `version` unless it is there already; whether the event
/// of that version is new to the row and should be applied.
async fn advance(tx: &mut AnyConnection, table: &str, id: &str, version: i64) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query(&format!(
        "UPDATE {table} SET version = $1 WHERE id = $2 AND version < $1"
    ))
    .bind(version)
    .bind(id)
    .execute(tx)
    .await?;
    Ok(moved.rows_affected() == 1)
}

async fn insert_clinic(tx: &mut AnyConnection, e: &ClinicCreated, version: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO directory_clinics (id, name, phone, time_zone, requires_two_factor, version)
         VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(e.clinic_id.to_string())
    .bind(e.name.as_str())
    .bind(e.phone.as_ref().map(|p| p.as_str().to_owned()))
    .bind(e.time_zone.to_string())
    .bind(version)
    .execute(tx)
    .await?;
    Ok(())
}

/// A change to the clinic or its staff, already known to be new.
async fn change_clinic(
    tx: &mut AnyConnection,
    clinic: ClinicId,
    event: &Event,
    recorded: &RecordedEvent,
) -> Result<(), sqlx::Error> {
    match event {
        Event::ClinicProfileChanged(e) => change_profile(tx, clinic, e).await,
        Event::StaffInvited(e) => insert_staff(tx, clinic, e, recorded.position as i64).await,
        Event::StaffChanged(e) => change_staff(tx, e).await,
        Event::StaffDeactivated(e) => {
            set_flag(tx, "directory_staff", "active", &e.staff_id.to_string(), false).await
        }
        Event::StaffReactivated(e) => {
            set_flag(tx, "directory_staff", "active", &e.staff_id.to_string(), true).await
        }
        Event::TwoFactorRequirementChanged(e) => {
            set_flag(
                tx,
                "directory_clinics",
                "requires_two_factor",
                &clinic.to_string(),
                e.required,
            )
            .await
        }
        _ => Ok(()),
    }
}

async fn set_flag(
    tx: &mut AnyConnection,
    table: &str,
    column: &str,
    id: &str,
    on: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("UPDATE {table} SET {column} = $1 WHERE id = $2"))
        .bind(i32::from(on))
        .bind(id)
        .execute(tx)
        .await?;
    Ok(())
}

async fn change_profile(
    tx: &mut AnyConnection,
    clinic: ClinicId,
    e: &ClinicProfileChanged,
) -> Result<(), sqlx::Error> {
    let id = clinic.to_string();
    if let Some(name) = &e.name {
        update_text(tx, "directory_clinics", "name", &id, Some(name.as_str())).await?;
    }
    if let Some(phone) = &e.phone {
        update_text(
            tx,
            "directory_clinics",
            "phone",
            &id,
            phone.as_ref().map(|p| p.as_str()),
        )
        .await?;
    }
    if let Some(zone) = &e.time_zone {
        update_text(tx, "directory_clinics", "time_zone", &id, Some(&zone.to_string())).await?;
    }
    Ok(())
}

async fn update_text(
    tx: &mut AnyConnection,
    table: &str,
    column: &str,
    id: &str,
    value: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("UPDATE {table} SET {column} = $1 WHERE id = $2"))
        .bind(value.map(str::to_owned))
        .bind(id)
        .execute(tx)
        .await?;
    Ok(())
}

async fn insert_staff(
    tx: &mut AnyConnection,
    clinic: ClinicId,
    e: &StaffInvited,
    joined: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO directory_staff (id, clinic_id, email, name, role, admin, active, joined)
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(e.staff_id.to_string())
    .bind(clinic.to_string())
    .bind(e.email.as_str())
    .bind(e.name.as_str())
    .bind(e.role.as_str())
    .bind(i32::from(e.admin))
    .bind(joined)
    .execute(tx)
    .await?;
    Ok(())
}

async fn change_staff(tx: &mut AnyConnection, e: &StaffChanged) -> Result<(), sqlx::Error> {
    let id = e.staff_id.to_string();
    if let Some(name) = &e.name {
        update_text(tx, "directory_staff", "name", &id, Some(name.as_str())).await?;
    }
    if let Some(role) = &e.role {
        update_text(tx, "directory_staff", "role", &id, Some(role.as_str())).await?;
    }
    if let Some(admin) = e.admin {
        set_flag(tx, "directory_staff", "admin", &id, admin).await?;
    }
    Ok(())
}

async fn insert_menu(
    tx: &mut AnyConnection,
    menu: MenuId,
    e: &MenuCreated,
    recorded: &RecordedEvent,
) -> Result<(), sqlx::Error> {
    let m = &e.menu;
    sqlx::query(
        "INSERT INTO directory_menus
           (id, clinic_id, name, modes, duration_first_min, duration_revisit_min, booking_fee_yen, active, created, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9) ON CONFLICT (id) DO NOTHING",
    )
    .bind(menu.to_string())
    .bind(e.clinic_id.to_string())
    .bind(m.name.as_str())
    .bind(modes_column(&m.modes))
    .bind(m.duration_first_min as i32)
    .bind(m.duration_revisit_min as i32)
    .bind(m.booking_fee_yen as i32)
    .bind(recorded.position as i64)
    .bind(recorded.version as i64)
    .execute(tx)
    .await?;
    Ok(())
}

async fn change_menu(tx: &mut AnyConnection, menu: MenuId, event: &Event) -> Result<(), sqlx::Error> {
    let id = menu.to_string();
    match event {
        Event::MenuChanged(MenuChanged {
            name,
            modes,
            duration_first_min,
            duration_revisit_min,
            booking_fee_yen,
        }) => {
            if let Some(name) = name {
                update_text(tx, "directory_menus", "name", &id, Some(name.as_str())).await?;
            }
            if let Some(modes) = modes {
                update_text(tx, "directory_menus", "modes", &id, Some(&modes_column(modes))).await?;
            }
            for (column, value) in [
                ("duration_first_min", duration_first_min),
                ("duration_revisit_min", duration_revisit_min),
                ("booking_fee_yen", booking_fee_yen),
            ] {
                if let Some(value) = value {
                    sqlx::query(&format!("UPDATE directory_menus SET {column} = $1 WHERE id = $2"))
                        .bind(*value as i32)
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            Ok(())
        }
        Event::MenuRetired(_) => set_flag(tx, "directory_menus", "active", &id, false).await,
        Event::MenuReinstated(_) => set_flag(tx, "directory_menus", "active", &id, true).await,
        _ => Ok(()),
    }
}

/// The whole template replaces the earlier one, unless the row already reflects this one or
/// a later one.
async fn set_hours(tx: &mut AnyConnection, e: &WeeklyHoursSet, version: i64) -> Result<(), sqlx::Error> {
    let weekdays = serde_json::to_string(&e.weekdays).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO directory_hours (doctor_id, clinic_id, slot_min, weekdays, version)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (doctor_id) DO UPDATE SET slot_min = excluded.slot_min, weekdays = excluded.weekdays,
           version = excluded.version
         WHERE directory_hours.version < excluded.version",
    )
    .bind(e.doctor_id.to_string())
    .bind(e.clinic_id.to_string())
    .bind(e.slot_min as i32)
    .bind(weekdays)
    .bind(version)
    .execute(tx)
    .await?;
    Ok(())
}

async fn insert_closure(
    tx: &mut AnyConnection,
    closure: ClosureId,
    e: &ClosureAdded,
    version: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO directory_closures (id, clinic_id, day, doctor_id, reason, active, version)
         VALUES ($1, $2, $3, $4, $5, 1, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(closure.to_string())
    .bind(e.clinic_id.to_string())
    .bind(e.date.to_string())
    .bind(e.doctor_id.map(|d| d.to_string()))
    .bind(e.reason.as_str())
    .bind(version)
    .execute(tx)
    .await?;
    Ok(())
}
