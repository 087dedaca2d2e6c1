//! The clinic directory (R1): clinics, staff, menus, hours and closures as the directory read
//! model holds them (`enkaku_projections::directory`, folded from the set-up streams), with
//! the password hashes of `staff_credentials` beside them for sign-in.

use crate::db::Db;
use crate::ttl_cache::TtlCache;
use async_trait::async_trait;
use chrono::NaiveDate;
use enkaku_commands::ports::{ClinicProfile, Directory, DirectoryError, Doctor};
use enkaku_domain::clinic::DayHours;
use enkaku_domain::ids::{ClinicId, ClosureId, MenuId, StaffId};
use enkaku_domain::menu::{ConsultationMode, Menu};
use enkaku_domain::setup::hours::Weekdays;
use enkaku_domain::vocabulary::UnknownName;
use sqlx::FromRow;
use std::sync::Arc;
use uuid::Uuid;

/// A staff member's role: the set-up domain's, as the directory stores it by name.
pub use enkaku_domain::setup::clinic::Role;

/// A staff member with what login needs. The hash is argon2id in PHC string form.
#[derive(Clone, Debug)]
pub struct StaffRecord {
    pub id: StaffId,
    pub clinic_id: ClinicId,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Administers the clinic's set-up, whatever the role (SPEC §8).
    pub admin: bool,
    /// A deactivated member cannot sign in, and is no doctor in charge.
    pub active: bool,
    /// Empty until they chose a password through their set-up link.
    pub password_hash: String,
}

#[derive(FromRow)]
struct StaffRow {
    id: String,
    clinic_id: String,
    email: String,
    name: String,
    role: String,
    admin: i32,
    active: i32,
    password_hash: String,
}

/// A menu as a table row holds it (the directory's, and the old `menus` table's).
#[derive(FromRow)]
pub(crate) struct MenuRow {
    id: String,
    name: String,
    modes: String,
    duration_first_min: i32,
    duration_revisit_min: i32,
    booking_fee_yen: i32,
}

/// A menu as administrators see it: retired ones too, with their stream's version.
#[derive(Clone, Debug)]
pub struct MenuRecord {
    pub menu: Menu,
    pub active: bool,
    pub version: u64,
}

#[derive(FromRow)]
struct MenuRecordRow {
    #[sqlx(flatten)]
    menu: MenuRow,
    active: i32,
    version: i64,
}

/// A closed day (休診日) that is in force, with its stream's version.
#[derive(Clone, Debug)]
pub struct ClosureRecord {
    pub id: ClosureId,
    pub date: NaiveDate,
    /// `None`: the whole clinic.
    pub doctor_id: Option<StaffId>,
    pub reason: String,
    pub version: u64,
}

/// Set-up changes rarely; requests read it constantly. Cached this long: a change made on
/// another node shows here within it.
pub const SETUP_CACHE: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Clone)]
pub struct SqlDirectory {
    db: Db,
    staff: Arc<TtlCache<StaffId, Option<StaffRecord>>>,
    menus: Arc<TtlCache<ClinicId, Vec<Menu>>>,
    clinics: Arc<TtlCache<ClinicId, Option<ClinicProfile>>>,
}

fn unavailable(e: sqlx::Error) -> DirectoryError {
    DirectoryError(e.to_string())
}

fn uuid(text: &str) -> Result<Uuid, DirectoryError> {
    text.parse()
        .map_err(|_| DirectoryError(format!("bad id in directory: {text}")))
}

impl SqlDirectory {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            staff: Arc::new(TtlCache::new(SETUP_CACHE, 10_000)),
            menus: Arc::new(TtlCache::new(SETUP_CACHE, 10_000)),
            clinics: Arc::new(TtlCache::new(SETUP_CACHE, 10_000)),
        }
    }

    /// Drop what this process cached of `clinic` (its profile and menus) and of `staff`, after
    /// a set-up change.
    pub fn forget(&self, clinic: ClinicId, staff: Option<StaffId>) {
        self.clinics.remove(&clinic);
        self.menus.remove(&clinic);
        if let Some(staff) = staff {
            self.staff.remove(&staff);
        }
    }

    pub async fn staff_by_email(&self, email: &str) -> Result<Option<StaffRecord>, DirectoryError> {
        let row: Option<StaffRow> = sqlx::query_as(&format!(
            "{STAFF_COLUMNS} FROM staff_credentials c JOIN directory_staff s ON s.id = c.staff_id WHERE c.email = $1"
        ))
        .bind(email.trim().to_lowercase())
        .fetch_optional(&self.db.pool)
        .await
        .map_err(unavailable)?;
        row.map(staff_record).transpose()
    }

    /// Replace a staff member's password hash and end their other sessions (whoever knew the
    /// old password is out), keeping the one with digest `keep`: all or nothing. Returns the
    /// digests of the sessions ended, for `SessionStore::forget`.
    pub async fn change_password(
        &self,
        id: StaffId,
        hash: &str,
        keep: &str,
    ) -> Result<Vec<String>, DirectoryError> {
        let mut tx = self.db.begin_write().await.map_err(unavailable)?;
        let ended = replace_password(&mut tx, &id.to_string(), hash, keep)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        self.staff.remove(&id);
        Ok(ended)
    }

    pub async fn staff(&self, id: StaffId) -> Result<Option<StaffRecord>, DirectoryError> {
        if let Some(cached) = self.staff.get(&id) {
            return Ok(cached);
        }
        let row: Option<StaffRow> = sqlx::query_as(&format!(
            "{STAFF_COLUMNS} FROM directory_staff s LEFT JOIN staff_credentials c ON c.staff_id = s.id WHERE s.id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.db.pool)
        .await
        .map_err(unavailable)?;
        let record = row.map(staff_record).transpose()?;
        self.staff.insert(id, record.clone());
        Ok(record)
    }

    /// The clinic's active doctors: who can be the doctor in charge.
    pub async fn doctors(&self, clinic: ClinicId) -> Result<Vec<Doctor>, DirectoryError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, name FROM directory_staff WHERE clinic_id = $1 AND role = 'doctor' AND active = 1
             ORDER BY lower(email)",
        )
        .bind(clinic.to_string())
        .fetch_all(&self.db.pool)
        .await
        .map_err(unavailable)?;
        rows.into_iter()
            .map(|(id, name)| {
                Ok(Doctor {
                    id: StaffId(uuid(&id)?),
                    clinic_id: clinic,
                    name,
                })
            })
            .collect()
    }

    /// The menus that can be booked (not retired), in the order they were created.
    pub async fn menus(&self, clinic: ClinicId) -> Result<Vec<Menu>, DirectoryError> {
        if let Some(cached) = self.menus.get(&clinic) {
            return Ok(cached);
        }
        let rows: Vec<MenuRow> = sqlx::query_as(
            "SELECT id, name, modes, duration_first_min, duration_revisit_min, booking_fee_yen
             FROM directory_menus WHERE clinic_id = $1 AND active = 1 ORDER BY created",
        )
        .bind(clinic.to_string())
        .fetch_all(&self.db.pool)
        .await
        .map_err(unavailable)?;
        let menus = rows.into_iter().map(menu).collect::<Result<Vec<_>, _>>()?;
        self.menus.insert(clinic, menus.clone());
        Ok(menus)
    }

    /// Every menu of the clinic, retired ones too, in the order they were created: for its
    /// administrators, so never from the cache.
    pub async fn menu_records(&self, clinic: ClinicId) -> Result<Vec<MenuRecord>, DirectoryError> {
        let rows: Vec<MenuRecordRow> = sqlx::query_as(
            "SELECT id, name, modes, duration_first_min, duration_revisit_min, booking_fee_yen, active, version
             FROM directory_menus WHERE clinic_id = $1 ORDER BY created",
        )
        .bind(clinic.to_string())
        .fetch_all(&self.db.pool)
        .await
        .map_err(unavailable)?;
        rows.into_iter()
            .map(|row| {
                Ok(MenuRecord {
                    menu: menu(row.menu)?,
                    active: row.active != 0,
                    version: row.version as u64,
                })
            })
            .collect()
    }

    /// The clinic's closures in force from `from` to `to` (both included), by date.
    pub async fn closures(
        &self,
        clinic: ClinicId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<ClosureRecord>, DirectoryError> {
        let rows: Vec<(String, String, Option<String>, String, i64)> = sqlx::query_as(
            "SELECT id, day, doctor_id, reason, version FROM directory_closures
             WHERE clinic_id = $1 AND active = 1 AND day >= $2 AND day <= $3 ORDER BY day, id",
        )
        .bind(clinic.to_string())
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(&self.db.pool)
        .await
        .map_err(unavailable)?;
        rows.into_iter()
            .map(|(id, day, doctor, reason, version)| {
                Ok(ClosureRecord {
                    id: ClosureId(uuid(&id)?),
                    date: day
                        .parse()
                        .map_err(|_| DirectoryError(format!("bad date in directory: {day}")))?,
                    doctor_id: doctor.as_deref().map(uuid).transpose()?.map(StaffId),
                    reason,
                    version: version as u64,
                })
            })
            .collect()
    }
}

/// The columns of a [`StaffRow`], from `directory_staff s` and `staff_credentials c`.
const STAFF_COLUMNS: &str = "SELECT s.id, s.clinic_id, s.email, s.name, s.role, s.admin, s.active,
    COALESCE(c.password_hash, '') AS password_hash";

fn staff_record(row: StaffRow) -> Result<StaffRecord, DirectoryError> {
    Ok(StaffRecord {
        id: StaffId(uuid(&row.id)?),
        clinic_id: ClinicId(uuid(&row.clinic_id)?),
        email: row.email,
        name: row.name,
        // Not a lesser role by default: a row nobody can read is an error to fix.
        role: row
            .role
            .parse()
            .map_err(|e: UnknownName| DirectoryError(e.to_string()))?,
        admin: row.admin != 0,
        active: row.active != 0,
        password_hash: row.password_hash,
    })
}

pub(crate) fn menu(row: MenuRow) -> Result<Menu, DirectoryError> {
    // A mode nobody can read is an error to fix, not a mode the menu quietly loses.
    let modes = row
        .modes
        .split(',')
        .map(|m| m.trim().parse::<ConsultationMode>())
        .collect::<Result<_, _>>()
        .map_err(|e: UnknownName| DirectoryError(e.to_string()))?;
    Ok(Menu {
        id: MenuId(uuid(&row.id)?),
        name: row.name,
        modes,
        duration_first_min: row.duration_first_min as u32,
        duration_revisit_min: row.duration_revisit_min as u32,
        booking_fee_yen: row.booking_fee_yen as u32,
    })
}

#[async_trait]
impl Directory for SqlDirectory {
    async fn doctor(&self, clinic: ClinicId, id: StaffId) -> Result<Option<Doctor>, DirectoryError> {
        Ok(self
            .staff(id)
            .await?
            .filter(|s| s.clinic_id == clinic && s.role == Role::Doctor && s.active)
            .map(|s| Doctor {
                id: s.id,
                clinic_id: s.clinic_id,
                name: s.name,
            }))
    }

    async fn menu(&self, clinic: ClinicId, id: MenuId) -> Result<Option<Menu>, DirectoryError> {
        Ok(self.menus(clinic).await?.into_iter().find(|m| m.id == id))
    }

    async fn clinic(&self, id: ClinicId) -> Result<Option<ClinicProfile>, DirectoryError> {
        if let Some(cached) = self.clinics.get(&id) {
            return Ok(cached);
        }
        let row: Option<(String, String, Option<String>)> =
            sqlx::query_as("SELECT name, time_zone, phone FROM directory_clinics WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.db.pool)
                .await
                .map_err(unavailable)?;
        let profile = row
            .map(|(name, tz, phone)| {
                Ok(ClinicProfile {
                    id,
                    name,
                    phone,
                    time_zone: tz
                        .parse()
                        .map_err(|_| DirectoryError(format!("unknown time zone {tz}")))?,
                })
            })
            .transpose()?;
        self.clinics.insert(id, profile.clone());
        Ok(profile)
    }

    async fn day_hours(
        &self,
        clinic: ClinicId,
        doctor: StaffId,
        date: NaiveDate,
    ) -> Result<DayHours, DirectoryError> {
        let template: Option<(i32, String)> = sqlx::query_as(
            "SELECT slot_min, weekdays FROM directory_hours WHERE doctor_id = $1 AND clinic_id = $2",
        )
        .bind(doctor.to_string())
        .bind(clinic.to_string())
        .fetch_optional(&self.db.pool)
        .await
        .map_err(unavailable)?;
        let closed: Option<String> = sqlx::query_scalar(
            "SELECT id FROM directory_closures
             WHERE clinic_id = $1 AND day = $2 AND active = 1 AND (doctor_id IS NULL OR doctor_id = $3) LIMIT 1",
        )
        .bind(clinic.to_string())
        .bind(date.to_string())
        .bind(doctor.to_string())
        .fetch_optional(&self.db.pool)
        .await
        .map_err(unavailable)?;
        let weekly = template
            .map(|(slot, weekdays)| {
                serde_json::from_str::<Weekdays>(&weekdays)
                    .map(|w| (w, slot as u32))
                    .map_err(|e| DirectoryError(format!("unreadable hours of {doctor}: {e}")))
            })
            .transpose()?;
        Ok(DayHours::on(
            date,
            weekly.as_ref().map(|(w, slot)| (w, *slot)),
            closed.is_some(),
        ))
    }
}

/// Within `conn`'s transaction: store the password hash of `staff` and end their sessions but
/// the one with digest `keep` (`""`: none), returning the digests of those ended. Whoever knew
/// the old password is out.
pub(crate) async fn replace_password(
    conn: &mut sqlx::AnyConnection,
    staff: &str,
    hash: &str,
    keep: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query("UPDATE staff_credentials SET password_hash = $1 WHERE staff_id = $2")
        .bind(hash)
        .bind(staff)
        .execute(&mut *conn)
        .await?;
    sqlx::query_scalar("DELETE FROM sessions WHERE staff_id = $1 AND token_hash <> $2 RETURNING token_hash")
        .bind(staff)
        .bind(keep)
        .fetch_all(conn)
        .await
}

#[cfg(test)]
mod row_tests {
    use super::*;

    fn row(role: &str) -> StaffRow {
        StaffRow {
            id: Uuid::now_v7().to_string(),
            clinic_id: Uuid::now_v7().to_string(),
            email: "a@example.jp".into(),
            name: "名前".into(),
            role: role.into(),
            admin: 0,
            active: 1,
            password_hash: String::new(),
        }
    }

    #[test]
    fn an_unknown_role_is_an_error_not_a_lesser_role() {
        assert_eq!(staff_record(row("doctor")).unwrap().role, Role::Doctor);
        assert_eq!(staff_record(row("reception")).unwrap().role, Role::Reception);
        assert_eq!(staff_record(row("auditor")).unwrap().role, Role::Auditor);
        assert!(staff_record(row("admin")).is_err());
    }

    #[test]
    fn a_role_is_written_by_the_name_it_is_read_by() {
        for role in Role::ALL {
            assert_eq!(staff_record(row(role.as_str())).unwrap().role, role);
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::json!(role.as_str())
            );
        }
        assert_eq!(Role::ALL.map(|r| r.as_str()), ["doctor", "reception", "auditor"]);
    }

    fn menu_row(modes: &str) -> MenuRow {
        MenuRow {
            id: Uuid::now_v7().to_string(),
            name: "一般内科".into(),
            modes: modes.into(),
            duration_first_min: 30,
            duration_revisit_min: 15,
            booking_fee_yen: 0,
        }
    }

    #[test]
    fn an_unknown_mode_is_an_error_not_a_mode_the_menu_loses() {
        assert_eq!(
            menu(menu_row("in_person, online")).unwrap().modes,
            [ConsultationMode::InPerson, ConsultationMode::Online]
        );
        assert!(menu(menu_row("in_person,house_call")).is_err());
    }
}
