//! The clinic directory (R1): clinics, staff, menus and opening hours. This is reference data
//! managed by set-up, not by the appointment workflow, so it lives in plain tables.

use crate::db::Db;
use crate::ttl_cache::TtlCache;
use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use async_trait::async_trait;
use enkaku_commands::ports::{ClinicProfile, Directory, DirectoryError, Doctor};
use enkaku_domain::clinic::OpeningRange;
use enkaku_domain::ids::{ClinicId, MenuId, StaffId};
use enkaku_domain::menu::{ConsultationMode, Menu};
use enkaku_domain::vocabulary::UnknownName;
use sqlx::FromRow;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Doctor,
    Reception,
}

impl Role {
    /// Every value, for documents that list them (the OpenAPI enums).
    pub const ALL: [Self; 2] = [Self::Doctor, Self::Reception];

    /// The name in the `staff` table and the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Doctor => "doctor",
            Self::Reception => "reception",
        }
    }
}

enkaku_domain::named_by_as_str!(Role => "staff role");

/// A staff member with what login needs. The hash is argon2id in PHC string form.
#[derive(Clone, Debug)]
pub struct StaffRecord {
    pub id: StaffId,
    pub clinic_id: ClinicId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
}

#[derive(FromRow)]
struct StaffRow {
    id: String,
    clinic_id: String,
    email: String,
    name: String,
    role: String,
    password_hash: String,
}

#[derive(FromRow)]
struct MenuRow {
    id: String,
    name: String,
    modes: String,
    duration_first_min: i32,
    duration_revisit_min: i32,
    booking_fee_yen: i32,
}

/// Set-up changes rarely; requests read it constantly. Cached this long.
const SETUP_CACHE: std::time::Duration = std::time::Duration::from_secs(30);

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

    pub async fn staff_by_email(&self, email: &str) -> Result<Option<StaffRecord>, DirectoryError> {
        let row: Option<StaffRow> = sqlx::query_as(
            "SELECT id, clinic_id, email, name, role, password_hash FROM staff WHERE email = $1",
        )
        .bind(email.trim().to_lowercase())
        .fetch_optional(&self.db.pool)
        .await
        .map_err(unavailable)?;
        row.map(staff_record).transpose()
    }

    pub async fn staff(&self, id: StaffId) -> Result<Option<StaffRecord>, DirectoryError> {
        if let Some(cached) = self.staff.get(&id) {
            return Ok(cached);
        }
        let row: Option<StaffRow> =
            sqlx::query_as("SELECT id, clinic_id, email, name, role, password_hash FROM staff WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.db.pool)
                .await
                .map_err(unavailable)?;
        let record = row.map(staff_record).transpose()?;
        self.staff.insert(id, record.clone());
        Ok(record)
    }

    pub async fn doctors(&self, clinic: ClinicId) -> Result<Vec<Doctor>, DirectoryError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, name FROM staff WHERE clinic_id = $1 AND role = 'doctor' ORDER BY email",
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

    pub async fn menus(&self, clinic: ClinicId) -> Result<Vec<Menu>, DirectoryError> {
        if let Some(cached) = self.menus.get(&clinic) {
            return Ok(cached);
        }
        let rows: Vec<MenuRow> = sqlx::query_as(
            "SELECT id, name, modes, duration_first_min, duration_revisit_min, booking_fee_yen
             FROM menus WHERE clinic_id = $1 ORDER BY sort_order",
        )
        .bind(clinic.to_string())
        .fetch_all(&self.db.pool)
        .await
        .map_err(unavailable)?;
        let menus = rows.into_iter().map(menu).collect::<Result<Vec<_>, _>>()?;
        self.menus.insert(clinic, menus.clone());
        Ok(menus)
    }

    pub async fn opening_hours(&self, clinic: ClinicId) -> Result<(Vec<OpeningRange>, u32), DirectoryError> {
        let rows: Vec<(i32, i32, i32)> = sqlx::query_as(
            "SELECT weekday, opens_min, closes_min FROM clinic_hours WHERE clinic_id = $1 ORDER BY weekday, opens_min",
        )
        .bind(clinic.to_string())
        .fetch_all(&self.db.pool)
        .await
        .map_err(unavailable)?;
        let slot: Option<i32> = sqlx::query_scalar("SELECT slot_minutes FROM clinics WHERE id = $1")
            .bind(clinic.to_string())
            .fetch_optional(&self.db.pool)
            .await
            .map_err(unavailable)?;
        let ranges = rows
            .into_iter()
            .map(|(weekday, opens, closes)| OpeningRange {
                weekday: weekday as u32,
                opens_min: opens as u32,
                closes_min: closes as u32,
            })
            .collect();
        Ok((ranges, slot.unwrap_or(15) as u32))
    }
}

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
        password_hash: row.password_hash,
    })
}

fn menu(row: MenuRow) -> Result<Menu, DirectoryError> {
    let modes = row
        .modes
        .split(',')
        .filter_map(|m| match m.trim() {
            "in_person" => Some(ConsultationMode::InPerson),
            "online" => Some(ConsultationMode::Online),
            _ => None,
        })
        .collect();
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
            .filter(|s| s.clinic_id == clinic && s.role == Role::Doctor)
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
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT name, time_zone FROM clinics WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.db.pool)
                .await
                .map_err(unavailable)?;
        let profile = row
            .map(|(name, tz)| {
                Ok(ClinicProfile {
                    id,
                    name,
                    time_zone: tz
                        .parse()
                        .map_err(|_| DirectoryError(format!("unknown time zone {tz}")))?,
                })
            })
            .transpose()?;
        self.clinics.insert(id, profile.clone());
        Ok(profile)
    }
}

/// The demo data the README describes, with fixed ids so links and bookmarks survive a re-seed.
pub mod demo {
    use super::*;

    pub const PASSWORD: &str = "demo-password";

    fn id(name: &str) -> Uuid {
        Uuid::new_v5(
            &Uuid::NAMESPACE_URL,
            format!("https://enkaku.test/demo/{name}").as_bytes(),
        )
    }

    pub fn demo_clinic() -> ClinicId {
        ClinicId(id("clinic/demo"))
    }
    pub fn sample_clinic() -> ClinicId {
        ClinicId(id("clinic/sample"))
    }
    pub fn yamada() -> StaffId {
        StaffId(id("staff/yamada"))
    }
    pub fn sato() -> StaffId {
        StaffId(id("staff/sato"))
    }
    pub fn suzuki() -> StaffId {
        StaffId(id("staff/suzuki"))
    }
    /// Allows both modes; first visit 30 min, revisit 15 min.
    pub fn general_menu() -> MenuId {
        MenuId(id("menu/general"))
    }
    /// Online only, self-pay, with a booking fee.
    pub fn online_self_pay_menu() -> MenuId {
        MenuId(id("menu/online-self-pay"))
    }
    pub fn in_person_menu() -> MenuId {
        MenuId(id("menu/in-person"))
    }
    pub fn sample_menu() -> MenuId {
        MenuId(id("menu/sample-general"))
    }

    /// Seed both demo clinics unless they exist. Returns whether anything was written.
    pub async fn seed(db: &Db) -> Result<bool, sqlx::Error> {
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM clinics WHERE id = $1")
            .bind(demo_clinic().to_string())
            .fetch_optional(&db.pool)
            .await?;
        if exists.is_some() {
            return Ok(false);
        }
        let mut tx = db.begin_write().await?;
        let clinics = [
            (demo_clinic(), "デモクリニック"),
            (sample_clinic(), "サンプル医院"),
        ];
        for (clinic, name) in clinics {
            sqlx::query(
                "INSERT INTO clinics (id, name, time_zone, slot_minutes) VALUES ($1, $2, 'Asia/Tokyo', 15)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(clinic.to_string())
            .bind(name)
            .execute(&mut *tx)
            .await?;
            for weekday in 0..5 {
                for (opens, closes) in [(9 * 60, 12 * 60), (14 * 60, 18 * 60)] {
                    sqlx::query(
                        "INSERT INTO clinic_hours (clinic_id, weekday, opens_min, closes_min) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (clinic_id, weekday, opens_min) DO NOTHING",
                    )
                    .bind(clinic.to_string())
                    .bind(weekday)
                    .bind(opens)
                    .bind(closes)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        let staff = [
            (yamada(), demo_clinic(), "yamada@demo.enkaku.test", "山田 太郎"),
            (sato(), demo_clinic(), "sato@demo.enkaku.test", "佐藤 花子"),
            (
                suzuki(),
                sample_clinic(),
                "suzuki@sample.enkaku.test",
                "鈴木 一郎",
            ),
        ];
        for (staff_id, clinic, email, name) in staff {
            sqlx::query(
                "INSERT INTO staff (id, clinic_id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, 'doctor', $5)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(staff_id.to_string())
            .bind(clinic.to_string())
            .bind(email)
            .bind(name)
            .bind(hash_password(PASSWORD))
            .execute(&mut *tx)
            .await?;
        }
        let menus = [
            (
                general_menu(),
                demo_clinic(),
                "一般内科",
                "in_person,online",
                30,
                15,
                0,
                1,
            ),
            (
                online_self_pay_menu(),
                demo_clinic(),
                "オンライン自費診療",
                "online",
                20,
                10,
                3000,
                2,
            ),
            (
                in_person_menu(),
                demo_clinic(),
                "予防接種",
                "in_person",
                15,
                15,
                0,
                3,
            ),
            (
                sample_menu(),
                sample_clinic(),
                "一般診療",
                "in_person,online",
                20,
                10,
                0,
                1,
            ),
        ];
        for (menu_id, clinic, name, modes, first, revisit, fee, order) in menus {
            sqlx::query(
                "INSERT INTO menus (id, clinic_id, name, modes, duration_first_min, duration_revisit_min, booking_fee_yen, sort_order)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            )
            .bind(menu_id.to_string())
            .bind(clinic.to_string())
            .bind(name)
            .bind(modes)
            .bind(first)
            .bind(revisit)
            .bind(fee)
            .bind(order)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// How staff passwords are hashed: argon2id, v1.3, with OWASP's current recommendation for
/// it (Password Storage Cheat Sheet: 19 MiB of memory, 2 passes, 1 lane). Spelled out here
/// rather than left to the crate's defaults so an upgrade cannot change them unseen. Each
/// check holds `PASSWORD_MEMORY_KIB` of memory for its duration: the API bounds how many run
/// at once (docs/security.md, "Login").
pub const PASSWORD_MEMORY_KIB: u32 = 19 * 1024;
pub const PASSWORD_PASSES: u32 = 2;
pub const PASSWORD_LANES: u32 = 1;

/// The most memory a stored hash may ask a check to use. Stored hashes carry their own
/// parameters (PHC string), so hashes made with other settings keep verifying; this ceiling
/// keeps one odd row from costing more than a few ordinary checks.
const MAX_VERIFY_MEMORY_KIB: u32 = 4 * PASSWORD_MEMORY_KIB;

fn password_hasher() -> argon2::Argon2<'static> {
    let params = argon2::Params::new(PASSWORD_MEMORY_KIB, PASSWORD_PASSES, PASSWORD_LANES, None)
        .expect("the password parameters are within argon2's limits");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// Hash a new password with the parameters above and a random salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    password_hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        // Hashing with fixed valid parameters and a generated salt cannot fail.
        .expect("argon2 hashing with fixed parameters")
}

/// The working memory of password checks (argon2's blocks). A thread that checks many
/// passwords keeps one and reuses it: allocating ~19 MiB per check scatters freed blocks over
/// the allocator's per-thread arenas, which then stay resident.
#[derive(Default)]
pub struct PasswordMemory(Vec<argon2::Block>);

/// Check a password against a stored hash, with the parameters the hash names (so hashes
/// made before a change of parameters keep working). A malformed hash, or one asking for
/// more than `MAX_VERIFY_MEMORY_KIB`, simply does not match.
pub fn verify_password(password: &str, hash: &str) -> bool {
    verify_password_in(&mut PasswordMemory::default(), password, hash)
}

/// `verify_password` in `memory`, which grows to what the hash asks for and is kept.
pub fn verify_password_in(memory: &mut PasswordMemory, password: &str, hash: &str) -> bool {
    use argon2::password_hash::{Output, PasswordHash};
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let (Ok(algorithm), Some(salt), Some(expected)) = (
        argon2::Algorithm::try_from(parsed.algorithm),
        parsed.salt,
        parsed.hash,
    ) else {
        return false;
    };
    let Ok(version) = parsed
        .version
        .map_or(Ok(argon2::Version::V0x13), argon2::Version::try_from)
    else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    if params.m_cost() > MAX_VERIFY_MEMORY_KIB {
        return false;
    }
    let blocks = params.block_count();
    if memory.0.len() < blocks {
        memory.0.resize(blocks, argon2::Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    argon2::Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory.0[..blocks])
        .is_ok()
        // `Output`'s comparison is constant-time.
        && Output::new(&out).is_ok_and(|computed| computed == expected)
}

#[cfg(test)]
mod password_tests {
    use super::*;

    #[test]
    fn new_hashes_name_the_documented_parameters() {
        let hash = hash_password("correct horse");
        assert!(
            hash.starts_with(&format!(
                "$argon2id$v=19$m={PASSWORD_MEMORY_KIB},t={PASSWORD_PASSES},p={PASSWORD_LANES}$"
            )),
            "{hash}"
        );
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
    }

    #[test]
    fn hashes_made_with_other_parameters_keep_verifying_within_the_ceiling() {
        let salt = SaltString::generate(&mut OsRng);
        let older = |m: u32| {
            let params = argon2::Params::new(m, 1, 1, None).unwrap();
            argon2::Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x13, params)
                .hash_password(b"pw", &salt)
                .unwrap()
                .to_string()
        };
        assert!(verify_password("pw", &older(8 * 1024)));
        assert!(!verify_password("pw", &older(MAX_VERIFY_MEMORY_KIB + 1024)));
        assert!(!verify_password("pw", "not a hash"));
    }

    #[test]
    fn reused_memory_checks_alike() {
        let mut memory = PasswordMemory::default();
        let hash = hash_password("pw");
        assert!(verify_password_in(&mut memory, "pw", &hash));
        assert!(!verify_password_in(&mut memory, "other", &hash));
        assert!(verify_password_in(&mut memory, "pw", &hash));
    }
}

#[cfg(test)]
mod staff_tests {
    use super::*;

    fn row(role: &str) -> StaffRow {
        StaffRow {
            id: Uuid::now_v7().to_string(),
            clinic_id: Uuid::now_v7().to_string(),
            email: "a@example.jp".into(),
            name: "名前".into(),
            role: role.into(),
            password_hash: String::new(),
        }
    }

    #[test]
    fn an_unknown_role_is_an_error_not_a_lesser_role() {
        assert_eq!(staff_record(row("doctor")).unwrap().role, Role::Doctor);
        assert_eq!(staff_record(row("reception")).unwrap().role, Role::Reception);
        assert!(staff_record(row("auditor?")).is_err());
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
        assert_eq!(Role::ALL.map(|r| r.as_str()), ["doctor", "reception"]);
    }
}
