//! A clinic's first set-up from the command line (`enkaku clinic create`): the clinic and its
//! first administrator, who then chooses a password through a set-up link. Everything else
//! (staff, menus, hours) is set up by that administrator.

use crate::db::Db;
use chrono_tz::Tz;
use enkaku_domain::ids::{ClinicId, StaffId};
use enkaku_domain::values::EmailAddress;
use thiserror::Error;
use uuid::Uuid;

/// The slot length a new clinic starts with (changed with its hours).
const DEFAULT_SLOT_MINUTES: i32 = 15;
/// The longest clinic or person name accepted.
const MAX_NAME_CHARS: usize = 100;

/// A clinic to create, as typed.
pub struct NewClinic<'a> {
    pub name: &'a str,
    pub time_zone: &'a str,
    pub admin_name: &'a str,
    pub admin_email: &'a str,
}

/// What was created.
#[derive(Clone, Copy, Debug)]
pub struct CreatedClinic {
    pub clinic: ClinicId,
    pub admin: StaffId,
}

#[derive(Debug, Error)]
pub enum CreateClinicError {
    #[error("--name: must be 1 to {MAX_NAME_CHARS} characters")]
    Name,
    #[error("--admin-name: must be 1 to {MAX_NAME_CHARS} characters")]
    AdminName,
    #[error("--admin-email: is not a valid e-mail address")]
    Email,
    #[error("--time-zone: `{0}` is not an IANA time zone (e.g. Asia/Tokyo)")]
    TimeZone(String),
    #[error("--admin-email: {0} already belongs to a staff member")]
    EmailTaken(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

fn name(raw: &str, error: CreateClinicError) -> Result<&str, CreateClinicError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(error);
    }
    Ok(trimmed)
}

/// Create the clinic and its first administrator (a doctor, with no password until the
/// set-up link is used), all or nothing.
pub async fn create_clinic(db: &Db, new: &NewClinic<'_>) -> Result<CreatedClinic, CreateClinicError> {
    let clinic_name = name(new.name, CreateClinicError::Name)?;
    let admin_name = name(new.admin_name, CreateClinicError::AdminName)?;
    let email = EmailAddress::parse(new.admin_email).map_err(|_| CreateClinicError::Email)?;
    let time_zone: Tz = new
        .time_zone
        .parse()
        .map_err(|_| CreateClinicError::TimeZone(new.time_zone.to_owned()))?;
    let created = CreatedClinic {
        clinic: ClinicId(Uuid::now_v7()),
        admin: StaffId(Uuid::now_v7()),
    };
    let mut tx = db.begin_write().await?;
    // Stored in lower case: login looks addresses up that way.
    let login = email.as_str().to_lowercase();
    let taken: Option<String> = sqlx::query_scalar("SELECT id FROM staff WHERE lower(email) = $1")
        .bind(&login)
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Err(CreateClinicError::EmailTaken(email.to_string()));
    }
    sqlx::query("INSERT INTO clinics (id, name, time_zone, slot_minutes) VALUES ($1, $2, $3, $4)")
        .bind(created.clinic.to_string())
        .bind(clinic_name)
        .bind(time_zone.name())
        .bind(DEFAULT_SLOT_MINUTES)
        .execute(&mut *tx)
        .await?;
    // No password yet: an empty hash never verifies (`passwords::verify_password`).
    sqlx::query(
        "INSERT INTO staff (id, clinic_id, email, name, role, password_hash, admin) VALUES ($1, $2, $3, $4, 'doctor', '', 1)",
    )
    .bind(created.admin.to_string())
    .bind(created.clinic.to_string())
    .bind(&login)
    .bind(admin_name)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// Whether the store has any clinic yet (a `--no-demo` install before `clinic create`).
pub async fn has_clinics(db: &Db) -> Result<bool, sqlx::Error> {
    let any: Option<String> = sqlx::query_scalar("SELECT id FROM clinics LIMIT 1")
        .fetch_optional(&db.pool)
        .await?;
    Ok(any.is_some())
}
