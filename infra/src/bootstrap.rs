//! A clinic's first set-up from the command line (`enkaku clinic create`): the clinic and its
//! first administrator, who then chooses a password through a set-up link. Everything else
//! (staff, menus, hours) is set up by that administrator.

use crate::db::Db;
use enkaku_domain::ids::{ClinicId, StaffId};
use enkaku_domain::values::{ClinicName, EmailAddress, IanaTimeZone, StaffName};
use thiserror::Error;
use uuid::Uuid;

/// The slot length a new clinic starts with (changed with its hours).
const DEFAULT_SLOT_MINUTES: i32 = 15;

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
    #[error("--name: must be 1 to 100 characters")]
    Name,
    #[error("--admin-name: must be 1 to 100 characters")]
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

/// Create the clinic and its first administrator (a doctor, with no password until the
/// set-up link is used), all or nothing.
pub async fn create_clinic(db: &Db, new: &NewClinic<'_>) -> Result<CreatedClinic, CreateClinicError> {
    let clinic_name = ClinicName::parse(new.name).map_err(|_| CreateClinicError::Name)?;
    let admin_name = StaffName::parse(new.admin_name).map_err(|_| CreateClinicError::AdminName)?;
    let email = EmailAddress::parse(new.admin_email).map_err(|_| CreateClinicError::Email)?;
    let time_zone = IanaTimeZone::parse(new.time_zone)
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
        .bind(clinic_name.as_str())
        .bind(time_zone.tz().name())
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
    .bind(admin_name.as_str())
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
