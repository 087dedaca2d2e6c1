//! Stores from before set-up was event-sourced kept clinics, staff, menus and hours in plain
//! tables (`clinics`, `staff`, `menus`, `clinic_hours`). At start-up they are recorded as the
//! set-up events that would have made them (actor `system`, same ids), and the tables are
//! dropped; the directory read model then shows them as before. The addresses and password
//! hashes were already copied to `staff_credentials` by migration 0008.
//!
//! Resumable: a clinic already converted is skipped (its stream exists), and the tables go
//! only once every clinic is.

use crate::db::{Backend, Db};
use crate::directory::{self, MenuRow};
use anyhow::Context;
use enkaku_commands::{CommandContext, CommandError, SetupService};
use enkaku_domain::DomainError;
use enkaku_domain::ids::{ClinicId, StaffId};
use enkaku_domain::setup::clinic::{self, CreateClinic, NewStaff, Role};
use enkaku_domain::setup::hours::{HoursRange, SetWeeklyHours, Weekday, Weekdays};
use enkaku_domain::setup::menu::{self, MenuDefinition};
use enkaku_domain::values::{ClinicName, EmailAddress, IanaTimeZone, MenuName, PhoneNumber, StaffName};
use sqlx::FromRow;

#[derive(FromRow)]
struct ClinicRow {
    id: String,
    name: String,
    time_zone: String,
    slot_minutes: i32,
    phone: Option<String>,
}

#[derive(FromRow)]
struct StaffRow {
    id: String,
    email: String,
    name: String,
    role: String,
    admin: i32,
}

/// Key of the PostgreSQL advisory lock held while converting: nodes starting together on an
/// old store convert it once, one after the other (SQLite has one process).
const CONVERSION_LOCK: i64 = 0x656e_6b61_6b75_0008;

/// Convert the old set-up tables, if this store still has them. Returns how many clinics were
/// recorded as events.
pub async fn convert(db: &Db, setup: &SetupService) -> anyhow::Result<usize> {
    if !has_table(db, "clinics").await? {
        return Ok(0);
    }
    let mut lock = db.pool.acquire().await?;
    if db.backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(CONVERSION_LOCK)
            .execute(&mut *lock)
            .await?;
    }
    let converted = convert_tables(db, setup).await;
    if db.backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(CONVERSION_LOCK)
            .execute(&mut *lock)
            .await?;
    }
    converted
}

/// The conversion itself, under the lock: the tables may have gone meanwhile.
async fn convert_tables(db: &Db, setup: &SetupService) -> anyhow::Result<usize> {
    if !has_table(db, "clinics").await? {
        return Ok(0);
    }
    let clinics: Vec<ClinicRow> =
        sqlx::query_as("SELECT id, name, time_zone, slot_minutes, phone FROM clinics ORDER BY id")
            .fetch_all(&db.pool)
            .await?;
    let mut converted = 0;
    for row in clinics {
        let id = row.id.clone();
        if convert_clinic(db, setup, row)
            .await
            .with_context(|| format!("cannot record the set-up of clinic {id} as events"))?
        {
            converted += 1;
        }
    }
    let mut tx = db.begin_write().await?;
    for table in ["clinic_hours", "menus", "staff", "clinics"] {
        sqlx::query(&format!("DROP TABLE {table}"))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(converted)
}

async fn has_table(db: &Db, name: &str) -> Result<bool, sqlx::Error> {
    let query = match db.backend {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name = $1",
        Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
        }
    };
    let found: Option<String> = sqlx::query_scalar(query)
        .bind(name)
        .fetch_optional(&db.pool)
        .await?;
    Ok(found.is_some())
}

/// One clinic: created with its first administrator (an admin, else its first member), then
/// the others, its menus in their order, and its opening hours as every doctor's template.
/// `false` when it was converted before.
async fn convert_clinic(db: &Db, setup: &SetupService, row: ClinicRow) -> anyhow::Result<bool> {
    let clinic_id: ClinicId = row.id.parse()?;
    let ctx = CommandContext::system(clinic_id);
    let staff: Vec<StaffRow> = sqlx::query_as(
        "SELECT id, email, name, role, admin FROM staff WHERE clinic_id = $1 ORDER BY admin DESC, email",
    )
    .bind(&row.id)
    .fetch_all(&db.pool)
    .await?;
    let Some((first, others)) = staff.split_first() else {
        tracing::warn!(clinic = %clinic_id, "a clinic without staff is not carried over");
        return Ok(false);
    };
    let create = clinic::Command::CreateClinic(CreateClinic {
        clinic_id,
        name: ClinicName::parse(&row.name)?,
        phone: row.phone.as_deref().map(PhoneNumber::parse).transpose()?,
        time_zone: IanaTimeZone::parse(&row.time_zone)?,
        first_admin: new_staff(first)?,
    });
    match setup.clinic(&ctx, create).await {
        Ok(_) => {}
        Err(CommandError::Rejected(DomainError::AlreadyExists)) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    for member in others {
        let invite = clinic::Command::InviteStaff {
            staff: new_staff(member)?,
            admin: member.admin != 0,
        };
        setup.clinic(&ctx, invite).await?;
    }
    let menus: Vec<MenuRow> = sqlx::query_as(
        "SELECT id, name, modes, duration_first_min, duration_revisit_min, booking_fee_yen
         FROM menus WHERE clinic_id = $1 ORDER BY sort_order",
    )
    .bind(&row.id)
    .fetch_all(&db.pool)
    .await?;
    for row in menus {
        let menu = directory::menu(row)?;
        let create = menu::Command::CreateMenu {
            clinic_id,
            menu: MenuDefinition {
                name: MenuName::parse(&menu.name)?,
                modes: menu.modes,
                duration_first_min: menu.duration_first_min,
                duration_revisit_min: menu.duration_revisit_min,
                booking_fee_yen: menu.booking_fee_yen,
            },
        };
        setup.menu(&ctx, menu.id, create).await?;
    }
    let weekdays = weekly_hours(db, &row.id).await?;
    for doctor in staff.iter().filter(|s| s.role == Role::Doctor.as_str()) {
        let hours = SetWeeklyHours {
            clinic_id,
            doctor_id: doctor.id.parse::<StaffId>()?,
            slot_min: row.slot_minutes as u32,
            weekdays: weekdays.clone(),
        };
        setup.hours(&ctx, hours).await?;
    }
    Ok(true)
}

fn new_staff(row: &StaffRow) -> anyhow::Result<NewStaff> {
    Ok(NewStaff {
        staff_id: row.id.parse()?,
        name: StaffName::parse(&row.name)?,
        email: EmailAddress::parse_field("email", &row.email)?,
        role: row.role.parse::<Role>()?,
    })
}

/// The clinic-wide hours of the old table (weekday 0 = Monday).
async fn weekly_hours(db: &Db, clinic: &str) -> anyhow::Result<Weekdays> {
    let rows: Vec<(i32, i32, i32)> = sqlx::query_as(
        "SELECT weekday, opens_min, closes_min FROM clinic_hours WHERE clinic_id = $1 ORDER BY weekday, opens_min",
    )
    .bind(clinic)
    .fetch_all(&db.pool)
    .await?;
    let mut weekdays = Weekdays::default();
    for (weekday, opens, closes) in rows {
        let Some(day) = Weekday::ALL.get(weekday as usize) else {
            continue;
        };
        weekdays.day_mut(*day).push(HoursRange {
            start_min: opens as u32,
            end_min: closes as u32,
        });
    }
    Ok(weekdays)
}
