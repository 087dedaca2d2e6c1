//! The demo data the README describes, with fixed ids so links and bookmarks survive a re-seed.

use crate::db::Db;
use crate::directory::Role;
use crate::passwords::hash_password;
use enkaku_domain::ids::{ClinicId, MenuId, StaffId};
use uuid::Uuid;

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
pub fn uketsuke() -> StaffId {
    StaffId(id("staff/uketsuke"))
}
pub fn kansa() -> StaffId {
    StaffId(id("staff/kansa"))
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

/// Seed the demo: both clinics with their hours and menus unless they exist, and each demo
/// staff member who is missing, so a store seeded before an account joined the demo gets it.
/// Returns whether anything was written.
pub async fn seed(db: &Db) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let clinic: Option<String> = sqlx::query_scalar("SELECT id FROM clinics WHERE id = $1")
        .bind(demo_clinic().to_string())
        .fetch_optional(&mut *tx)
        .await?;
    let mut wrote = false;
    if clinic.is_none() {
        seed_clinics(&mut tx).await?;
        wrote = true;
    }
    wrote |= seed_missing_staff(&mut tx).await?;
    tx.commit().await?;
    Ok(wrote)
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// A member of the demo's staff (SPEC §8).
struct Member {
    id: StaffId,
    clinic: ClinicId,
    email: &'static str,
    name: &'static str,
    role: Role,
    admin: bool,
}

fn staff() -> [Member; 5] {
    [
        Member {
            id: yamada(),
            clinic: demo_clinic(),
            email: "yamada@demo.enkaku.test",
            name: "山田 太郎",
            role: Role::Doctor,
            admin: true,
        },
        Member {
            id: sato(),
            clinic: demo_clinic(),
            email: "sato@demo.enkaku.test",
            name: "佐藤 花子",
            role: Role::Doctor,
            admin: false,
        },
        Member {
            id: uketsuke(),
            clinic: demo_clinic(),
            email: "uketsuke@demo.enkaku.test",
            name: "受付 花子",
            role: Role::Reception,
            admin: false,
        },
        Member {
            id: kansa(),
            clinic: demo_clinic(),
            email: "kansa@demo.enkaku.test",
            name: "監査 太郎",
            role: Role::Auditor,
            admin: false,
        },
        Member {
            id: suzuki(),
            clinic: sample_clinic(),
            email: "suzuki@sample.enkaku.test",
            name: "鈴木 一郎",
            role: Role::Doctor,
            admin: true,
        },
    ]
}

/// Add the demo staff members the store lacks; only they cost a password hash.
async fn seed_missing_staff(tx: &mut Tx) -> Result<bool, sqlx::Error> {
    let mut wrote = false;
    for member in staff() {
        let present: Option<String> = sqlx::query_scalar("SELECT id FROM staff WHERE id = $1")
            .bind(member.id.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        if present.is_some() {
            continue;
        }
        sqlx::query(
            "INSERT INTO staff (id, clinic_id, email, name, role, admin, password_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT DO NOTHING",
        )
        .bind(member.id.to_string())
        .bind(member.clinic.to_string())
        .bind(member.email)
        .bind(member.name)
        .bind(member.role.as_str())
        .bind(i32::from(member.admin))
        .bind(hash_password(PASSWORD))
        .execute(&mut **tx)
        .await?;
        wrote = true;
    }
    Ok(wrote)
}

async fn seed_clinics(tx: &mut Tx) -> Result<(), sqlx::Error> {
    let clinics = [
        (demo_clinic(), "デモクリニック", "03-1234-5678"),
        (sample_clinic(), "サンプル医院", "06-1234-5678"),
    ];
    for (clinic, name, phone) in clinics {
        sqlx::query(
            "INSERT INTO clinics (id, name, time_zone, slot_minutes, phone) VALUES ($1, $2, 'Asia/Tokyo', 15, $3)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(clinic.to_string())
        .bind(name)
        .bind(phone)
        .execute(&mut **tx)
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
                .execute(&mut **tx)
                .await?;
            }
        }
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
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
