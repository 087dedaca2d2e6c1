//! A clinic's first set-up from the command line (`enkaku clinic create`): the clinic and its
//! first administrator, who then chooses a password through a set-up link. Everything else
//! (staff, menus, hours) is set up by that administrator.

use crate::credentials::Credentials;
use crate::db::Db;
use enkaku_commands::{CommandContext, CommandError, SetupService};
use enkaku_domain::DomainError;
use enkaku_domain::ids::{ClinicId, StaffId};
use enkaku_domain::setup::clinic::{self, CreateClinic, NewStaff, Role};
use enkaku_domain::values::{ClinicName, EmailAddress, IanaTimeZone, StaffName};
use thiserror::Error;
use uuid::Uuid;

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
    #[error("{0}")]
    Command(CommandError),
}

/// Create the clinic and its first administrator (a doctor, with no password until the
/// set-up link is used), as the events of a new clinic stream (actor `system`).
pub async fn create_clinic(
    setup: &SetupService,
    credentials: &Credentials,
    new: &NewClinic<'_>,
) -> Result<CreatedClinic, CreateClinicError> {
    let clinic_name = ClinicName::parse(new.name).map_err(|_| CreateClinicError::Name)?;
    let admin_name = StaffName::parse(new.admin_name).map_err(|_| CreateClinicError::AdminName)?;
    let email = EmailAddress::parse_field("email", new.admin_email).map_err(|_| CreateClinicError::Email)?;
    let time_zone = IanaTimeZone::parse(new.time_zone)
        .map_err(|_| CreateClinicError::TimeZone(new.time_zone.to_owned()))?;
    let created = CreatedClinic {
        clinic: ClinicId(Uuid::now_v7()),
        admin: StaffId(Uuid::now_v7()),
    };
    let command = clinic::Command::CreateClinic(CreateClinic {
        clinic_id: created.clinic,
        name: clinic_name,
        phone: None,
        time_zone,
        first_admin: NewStaff {
            staff_id: created.admin,
            name: admin_name,
            email: email.clone(),
            role: Role::Doctor,
        },
    });
    let ctx = CommandContext::system(created.clinic);
    match credentials
        .claiming(created.admin, &email, setup.clinic(&ctx, command))
        .await
    {
        Ok(_) => Ok(created),
        Err(CommandError::Rejected(DomainError::EmailTaken)) => {
            Err(CreateClinicError::EmailTaken(email.to_string()))
        }
        Err(e) => Err(CreateClinicError::Command(e)),
    }
}

/// Whether the store has any clinic yet (a `--no-demo` install before `clinic create`).
pub async fn has_clinics(db: &Db) -> Result<bool, sqlx::Error> {
    let any: Option<String> = sqlx::query_scalar("SELECT id FROM directory_clinics LIMIT 1")
        .fetch_optional(&db.pool)
        .await?;
    Ok(any.is_some())
}
