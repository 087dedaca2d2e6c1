//! The demo data the README describes, with fixed ids so links and bookmarks survive a re-seed.

use crate::credentials::Credentials;
use crate::passwords::hash_password;
use enkaku_commands::{CommandContext, CommandError, SetupService};
use enkaku_domain::DomainError;
use enkaku_domain::ids::{ClinicId, MenuId, StaffId};
use enkaku_domain::menu::ConsultationMode;
use enkaku_domain::setup::clinic::{self, CreateClinic, NewStaff, Role};
use enkaku_domain::setup::hours::{HoursRange, SetWeeklyHours, Weekdays};
use enkaku_domain::setup::menu::{self, MenuDefinition};
use enkaku_domain::values::{ClinicName, EmailAddress, IanaTimeZone, MenuName, PhoneNumber, StaffName};
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

/// Seed the demo as set-up commands, so its clinics, staff, menus and hours are events like
/// any clinic's (actor `system`): each clinic unless it exists, each demo staff member who is
/// missing (a store seeded before an account joined the demo gets it), each menu unless it
/// exists. A doctor's hours are set when they join, so an administrator's later change is
/// kept. Returns whether anything was written.
pub async fn seed(setup: &SetupService, credentials: &Credentials) -> Result<bool, CommandError> {
    let mut wrote = false;
    for clinic in clinics() {
        let ctx = CommandContext::system(clinic.id);
        let admin = &clinic.first_admin;
        let create = clinic::Command::CreateClinic(CreateClinic {
            clinic_id: clinic.id,
            name: text(ClinicName::parse(clinic.name))?,
            phone: Some(text(PhoneNumber::parse(clinic.phone))?),
            time_zone: text(IanaTimeZone::parse("Asia/Tokyo"))?,
            first_admin: admin.new_staff()?,
        });
        let created = credentials
            .claiming(admin.id, &admin.email()?, setup.clinic(&ctx, create))
            .await;
        if new_unless_exists(created)?.is_some() {
            wrote = true;
            seed_hours(setup, &ctx, admin).await?;
        }
        for member in clinic.staff.iter() {
            let invite = clinic::Command::InviteStaff {
                staff: member.new_staff()?,
                admin: member.admin,
            };
            let invited = credentials
                .claiming(member.id, &member.email()?, setup.clinic(&ctx, invite))
                .await;
            if new_unless_exists(invited)?.is_some() {
                wrote = true;
                seed_hours(setup, &ctx, member).await?;
            }
        }
        for member in std::iter::once(admin).chain(&clinic.staff) {
            if credentials.needs_password(member.id).await.map_err(db_error)? {
                let hash = hash_password(PASSWORD);
                credentials
                    .set_initial_password(member.id, &hash)
                    .await
                    .map_err(db_error)?;
            }
        }
        for menu in clinic.menus {
            let create = menu::Command::CreateMenu {
                clinic_id: clinic.id,
                menu: MenuDefinition {
                    name: text(MenuName::parse(menu.name))?,
                    modes: menu.modes.to_vec(),
                    duration_first_min: menu.first,
                    duration_revisit_min: menu.revisit,
                    booking_fee_yen: menu.fee,
                },
            };
            wrote |= new_unless_exists(setup.menu(&ctx, menu.id, create).await)?.is_some();
        }
    }
    Ok(wrote)
}

/// A command's outcome where "it exists already" means "seeded before".
fn new_unless_exists<T>(outcome: Result<T, CommandError>) -> Result<Option<T>, CommandError> {
    match outcome {
        Ok(value) => Ok(Some(value)),
        Err(CommandError::Rejected(DomainError::AlreadyExists)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn text<T>(parsed: Result<T, DomainError>) -> Result<T, CommandError> {
    parsed.map_err(CommandError::Rejected)
}

fn db_error(e: sqlx::Error) -> CommandError {
    CommandError::Unavailable(e.to_string())
}

/// Weekdays 09:00–12:00 and 14:00–18:00 in 15-minute slots, for a doctor.
async fn seed_hours(setup: &SetupService, ctx: &CommandContext, member: &Member) -> Result<(), CommandError> {
    if member.role != Role::Doctor {
        return Ok(());
    }
    let day = vec![
        HoursRange {
            start_min: 9 * 60,
            end_min: 12 * 60,
        },
        HoursRange {
            start_min: 14 * 60,
            end_min: 18 * 60,
        },
    ];
    let weekdays = Weekdays {
        mon: day.clone(),
        tue: day.clone(),
        wed: day.clone(),
        thu: day.clone(),
        fri: day,
        ..Weekdays::default()
    };
    setup
        .hours(
            ctx,
            SetWeeklyHours {
                clinic_id: ctx.clinic_id,
                doctor_id: member.id,
                slot_min: 15,
                weekdays,
            },
        )
        .await?;
    Ok(())
}

/// A member of the demo's staff (SPEC §8).
struct Member {
    id: StaffId,
    email: &'static str,
    name: &'static str,
    role: Role,
    admin: bool,
}

impl Member {
    fn email(&self) -> Result<EmailAddress, CommandError> {
        text(EmailAddress::parse_field("email", self.email))
    }

    fn new_staff(&self) -> Result<NewStaff, CommandError> {
        Ok(NewStaff {
            staff_id: self.id,
            name: text(StaffName::parse(self.name))?,
            email: self.email()?,
            role: self.role,
        })
    }
}

struct DemoMenu {
    id: MenuId,
    name: &'static str,
    modes: &'static [ConsultationMode],
    first: u32,
    revisit: u32,
    fee: u32,
}

struct DemoClinic {
    id: ClinicId,
    name: &'static str,
    phone: &'static str,
    first_admin: Member,
    /// Everyone else, in the order they join.
    staff: Vec<Member>,
    menus: Vec<DemoMenu>,
}

const BOTH: &[ConsultationMode] = &[ConsultationMode::InPerson, ConsultationMode::Online];

fn clinics() -> [DemoClinic; 2] {
    [
        DemoClinic {
            id: demo_clinic(),
            name: "デモクリニック",
            phone: "03-1234-5678",
            first_admin: Member {
                id: yamada(),
                email: "yamada@demo.enkaku.test",
                name: "山田 太郎",
                role: Role::Doctor,
                admin: true,
            },
            staff: vec![
                Member {
                    id: sato(),
                    email: "sato@demo.enkaku.test",
                    name: "佐藤 花子",
                    role: Role::Doctor,
                    admin: false,
                },
                Member {
                    id: uketsuke(),
                    email: "uketsuke@demo.enkaku.test",
                    name: "受付 花子",
                    role: Role::Reception,
                    admin: false,
                },
                Member {
                    id: kansa(),
                    email: "kansa@demo.enkaku.test",
                    name: "監査 太郎",
                    role: Role::Auditor,
                    admin: false,
                },
            ],
            menus: vec![
                DemoMenu {
                    id: general_menu(),
                    name: "一般内科",
                    modes: BOTH,
                    first: 30,
                    revisit: 15,
                    fee: 0,
                },
                DemoMenu {
                    id: online_self_pay_menu(),
                    name: "オンライン自費診療",
                    modes: &[ConsultationMode::Online],
                    first: 20,
                    revisit: 10,
                    fee: 3000,
                },
                DemoMenu {
                    id: in_person_menu(),
                    name: "予防接種",
                    modes: &[ConsultationMode::InPerson],
                    first: 15,
                    revisit: 15,
                    fee: 0,
                },
            ],
        },
        DemoClinic {
            id: sample_clinic(),
            name: "サンプル医院",
            phone: "06-1234-5678",
            first_admin: Member {
                id: suzuki(),
                email: "suzuki@sample.enkaku.test",
                name: "鈴木 一郎",
                role: Role::Doctor,
                admin: true,
            },
            staff: vec![],
            menus: vec![DemoMenu {
                id: sample_menu(),
                name: "一般診療",
                modes: BOTH,
                first: 20,
                revisit: 10,
                fee: 0,
            }],
        },
    ]
}
