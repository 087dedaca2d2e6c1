//! The demo data the README describes, with fixed ids so links and bookmarks survive a re-seed.

use crate::db::Db;
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
