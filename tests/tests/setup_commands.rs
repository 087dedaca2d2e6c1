//! The set-up command handlers against the real event stores (SQLite and PostgreSQL): what
//! they append, with whose name on it, and what racing administrators get — a conflict or a
//! decision on fresh state, never a lost update.

use enkaku_commands::ports::{EventStore, SystemClock, UuidV7};
use enkaku_commands::{CommandContext, CommandError, SetupService, Versioned};
use enkaku_domain::DomainError;
use enkaku_domain::envelope::{Actor, RecordedEvent};
use enkaku_domain::ids::{ClinicId, ClosureId, MenuId, StaffId};
use enkaku_domain::menu::ConsultationMode;
use enkaku_domain::setup::clinic::{self, ChangeStaff, Clinic, CreateClinic, NewStaff, Role};
use enkaku_domain::setup::closure::{self, AddClosure};
use enkaku_domain::setup::hours::{HoursRange, SetWeeklyHours, Weekdays};
use enkaku_domain::setup::menu::{self, MenuDefinition};
use enkaku_domain::values::{ClinicName, ClosureReason, EmailAddress, IanaTimeZone, MenuName, StaffName};
use enkaku_infra::Db;
use enkaku_infra::event_store::SqlEventStore;
use enkaku_tests::{Backend, TestStore};
use std::sync::Arc;
use uuid::Uuid;

struct Setup {
    service: Arc<SetupService>,
    store: Arc<SqlEventStore>,
    _keep: TestStore,
}

async fn open(backend: Backend) -> Setup {
    let keep = TestStore::new(backend).await;
    let db = Db::connect(&keep.database_url()).await.expect("connect");
    let store = Arc::new(SqlEventStore::open(db).await.expect("open store"));
    let service = SetupService::new(store.clone(), Arc::new(SystemClock), Arc::new(UuidV7));
    Setup {
        service: Arc::new(service),
        store,
        _keep: keep,
    }
}

fn ctx(clinic: ClinicId, actor: Actor, if_match: Option<u64>) -> CommandContext {
    CommandContext {
        clinic_id: clinic,
        actor,
        correlation_id: Uuid::now_v7(),
        causation_id: Uuid::now_v7(),
        client_request_id: None,
        if_match,
    }
}

fn new_staff(address: &str, role: Role) -> NewStaff {
    NewStaff {
        staff_id: StaffId(Uuid::now_v7()),
        name: StaffName::parse("テスト スタッフ").unwrap(),
        email: EmailAddress::parse_field("email", address).unwrap(),
        role,
    }
}

fn invite(address: &str, role: Role, admin: bool) -> clinic::Command {
    clinic::Command::InviteStaff {
        staff: new_staff(address, role),
        admin,
    }
}

fn demote(staff_id: StaffId) -> clinic::Command {
    clinic::Command::ChangeStaff(ChangeStaff {
        staff_id,
        name: None,
        role: None,
        admin: Some(false),
    })
}

/// A new clinic, as `enkaku clinic create` makes it: its first administrator is a doctor.
/// Returns the clinic and that administrator.
async fn clinic_created(s: &Setup) -> (ClinicId, StaffId) {
    let clinic = ClinicId(Uuid::now_v7());
    let admin = new_staff("admin@clinic.example.jp", Role::Doctor);
    let created = s
        .service
        .clinic(
            &ctx(clinic, Actor::System, None),
            clinic::Command::CreateClinic(CreateClinic {
                clinic_id: clinic,
                name: ClinicName::parse("えんかく医院").unwrap(),
                phone: None,
                time_zone: IanaTimeZone::parse("Asia/Tokyo").unwrap(),
                first_admin: admin.clone(),
            }),
        )
        .await
        .unwrap();
    assert_eq!(created.version, 2, "the clinic and its administrator");
    (clinic, admin.staff_id)
}

async fn stream(s: &Setup, stream_id: &str) -> Vec<RecordedEvent> {
    s.store.read_stream(stream_id).await.unwrap()
}

fn types(recorded: &[RecordedEvent]) -> Vec<&str> {
    recorded.iter().map(|r| r.event_type.as_str()).collect()
}

async fn given_a_new_clinic_when_staff_are_invited_then_every_event_names_who_acted(backend: Backend) {
    let s = open(backend).await;
    let (clinic, admin) = clinic_created(&s).await;
    let as_admin = ctx(clinic, Actor::Staff(admin), None);
    let sato = s
        .service
        .clinic(&as_admin, invite("sato@clinic.example.jp", Role::Doctor, false))
        .await
        .unwrap();
    assert_eq!(sato.version, 3);
    assert_eq!(sato.value.staff.len(), 2);
    let recorded = stream(&s, &clinic.stream_id()).await;
    assert_eq!(
        types(&recorded),
        ["ClinicCreated", "StaffInvited", "StaffInvited"]
    );
    let actors: Vec<Actor> = recorded.iter().map(|r| r.metadata.actor).collect();
    assert_eq!(actors, [Actor::System, Actor::System, Actor::Staff(admin)]);
    assert!(
        recorded
            .iter()
            .all(|r| r.metadata.clinic_id == clinic && r.schema_version == 1)
    );
    assert_eq!(recorded[2].data.to_value()["email"], "sato@clinic.example.jp");
}

async fn an_if_match_naming_an_older_version_is_refused_and_nothing_changes(backend: Backend) {
    let s = open(backend).await;
    let (clinic, admin) = clinic_created(&s).await;
    let at = |version| ctx(clinic, Actor::Staff(admin), Some(version));
    s.service
        .clinic(&at(2), invite("sato@clinic.example.jp", Role::Doctor, false))
        .await
        .unwrap();
    let stale = s
        .service
        .clinic(&at(2), invite("ito@clinic.example.jp", Role::Reception, false))
        .await;
    assert!(
        matches!(stale, Err(CommandError::VersionMismatch { current: 3 })),
        "{stale:?}"
    );
    assert_eq!(stream(&s, &clinic.stream_id()).await.len(), 3);
    // Something missing is not found, whatever If-Match says.
    let missing = s
        .service
        .menu(
            &at(1),
            MenuId(Uuid::now_v7()),
            menu::Command::RetireMenu { clinic_id: clinic },
        )
        .await;
    assert!(
        matches!(missing, Err(CommandError::Rejected(DomainError::NotFound))),
        "{missing:?}"
    );
}

/// Runs `commands` on the clinic at once, each from its own task.
async fn at_once(
    s: &Setup,
    ctx: CommandContext,
    commands: Vec<clinic::Command>,
) -> Vec<Result<Versioned<Clinic>, CommandError>> {
    let racers = commands.into_iter().map(|command| {
        let service = s.service.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move { service.clinic(&ctx, command).await })
    });
    futures::future::join_all(racers)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

async fn racing_writers_with_the_same_if_match_get_one_success_and_conflicts(backend: Backend) {
    let s = open(backend).await;
    let (clinic, admin) = clinic_created(&s).await;
    let invites = (0..8)
        .map(|n| invite(&format!("staff{n}@clinic.example.jp"), Role::Reception, false))
        .collect();
    let results = at_once(&s, ctx(clinic, Actor::Staff(admin), Some(2)), invites).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    let conflicted = results
        .iter()
        .filter(|r| matches!(r, Err(CommandError::VersionMismatch { .. })))
        .count();
    assert_eq!((won, conflicted), (1, 7), "{results:?}");
    assert_eq!(stream(&s, &clinic.stream_id()).await.len(), 3);
}

async fn racing_writers_without_if_match_never_lose_an_update(backend: Backend) {
    let s = open(backend).await;
    let (clinic, admin) = clinic_created(&s).await;
    let invites: Vec<_> = (0..5)
        .map(|n| invite(&format!("staff{n}@clinic.example.jp"), Role::Reception, false))
        .collect();
    let results = at_once(&s, ctx(clinic, Actor::Staff(admin), None), invites).await;
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(CommandError::Contended))),
        "only success or contention: {results:?}"
    );
    let recorded = stream(&s, &clinic.stream_id()).await;
    assert_eq!(
        recorded.len(),
        2 + accepted,
        "every acknowledged invitation is in the log"
    );
    let versions: Vec<u64> = recorded.iter().map(|r| r.version).collect();
    assert_eq!(versions, (1..=recorded.len() as u64).collect::<Vec<_>>());
}

async fn two_admins_demoting_each_other_at_once_leave_one_admin(backend: Backend) {
    let s = open(backend).await;
    for _ in 0..5 {
        let (clinic, first) = clinic_created(&s).await;
        let as_first = ctx(clinic, Actor::Staff(first), None);
        let second = new_staff("second@clinic.example.jp", Role::Doctor);
        let second_id = second.staff_id;
        s.service
            .clinic(
                &as_first,
                clinic::Command::InviteStaff {
                    staff: second,
                    admin: true,
                },
            )
            .await
            .unwrap();
        let results = at_once(&s, as_first, vec![demote(second_id), demote(first)]).await;
        let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(refused.len(), 1, "{results:?}");
        assert!(
            matches!(
                refused[0],
                CommandError::Rejected(DomainError::LastAdmin) | CommandError::Contended
            ),
            "{refused:?}"
        );
        // The refused one appended nothing: the winner's answer is the clinic as it is.
        assert_eq!(stream(&s, &clinic.stream_id()).await.len(), 4);
        let clinic = &results.iter().find_map(|r| r.as_ref().ok()).unwrap().value;
        let admins = clinic.staff.iter().filter(|m| m.is_active_admin()).count();
        assert_eq!(admins, 1);
    }
}

async fn racing_invitations_of_one_address_let_exactly_one_in(backend: Backend) {
    let s = open(backend).await;
    let (clinic, admin) = clinic_created(&s).await;
    let invites = [
        "sato@clinic.example.jp",
        "Sato@Clinic.example.jp",
        "SATO@CLINIC.EXAMPLE.JP",
    ]
    .into_iter()
    .map(|address| invite(address, Role::Doctor, false))
    .collect();
    let results = at_once(&s, ctx(clinic, Actor::Staff(admin), None), invites).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| matches!(
        e,
        CommandError::Rejected(DomainError::EmailTaken) | CommandError::Contended
    )));
    assert_eq!(types(&stream(&s, &clinic.stream_id()).await).len(), 3);
}

fn general_menu() -> MenuDefinition {
    MenuDefinition {
        name: MenuName::parse("一般内科").unwrap(),
        modes: vec![ConsultationMode::InPerson, ConsultationMode::Online],
        duration_first_min: 30,
        duration_revisit_min: 15,
        booking_fee_yen: 0,
    }
}

async fn another_clinics_menu_is_not_found_and_stays_as_it_was(backend: Backend) {
    let s = open(backend).await;
    let (clinic, admin) = clinic_created(&s).await;
    let (other, other_admin) = clinic_created(&s).await;
    let id = MenuId(Uuid::now_v7());
    let created = s
        .service
        .menu(
            &ctx(clinic, Actor::Staff(admin), None),
            id,
            menu::Command::CreateMenu {
                clinic_id: clinic,
                menu: general_menu(),
            },
        )
        .await
        .unwrap();
    assert_eq!((created.version, created.value.retired), (1, false));
    let as_other = ctx(other, Actor::Staff(other_admin), None);
    for command in [
        menu::Command::RetireMenu { clinic_id: other },
        // A command naming the menu's clinic is still given by the other clinic's staff.
        menu::Command::RetireMenu { clinic_id: clinic },
    ] {
        let refused = s.service.menu(&as_other, id, command).await;
        assert!(
            matches!(refused, Err(CommandError::Rejected(DomainError::NotFound))),
            "{refused:?}"
        );
    }
    assert_eq!(types(&stream(&s, &id.stream_id()).await), ["MenuCreated"]);
    let retired = s
        .service
        .menu(
            &ctx(clinic, Actor::Staff(admin), Some(1)),
            id,
            menu::Command::RetireMenu { clinic_id: clinic },
        )
        .await
        .unwrap();
    assert_eq!((retired.version, retired.value.retired), (2, true));
}

fn weekday_mornings() -> Weekdays {
    let morning = || {
        vec![HoursRange {
            start_min: 9 * 60,
            end_min: 12 * 60,
        }]
    };
    Weekdays {
        mon: morning(),
        tue: morning(),
        wed: morning(),
        thu: morning(),
        fri: morning(),
        ..Weekdays::default()
    }
}

async fn hours_and_closures_name_only_doctors_of_the_clinic(backend: Backend) {
    let s = open(backend).await;
    let (clinic, doctor) = clinic_created(&s).await;
    let (_, other_clinics_doctor) = clinic_created(&s).await;
    let as_admin = ctx(clinic, Actor::Staff(doctor), None);
    let reception = s
        .service
        .clinic(
            &as_admin,
            invite("uketsuke@clinic.example.jp", Role::Reception, false),
        )
        .await
        .unwrap()
        .value
        .staff[1]
        .id;
    let hours_of = |doctor_id| SetWeeklyHours {
        clinic_id: clinic,
        doctor_id,
        slot_min: 15,
        weekdays: weekday_mornings(),
    };
    let set = s.service.hours(&as_admin, hours_of(doctor)).await.unwrap();
    assert_eq!((set.version, set.value.slot_min), (1, 15));
    // The same template again appends nothing.
    let again = s.service.hours(&as_admin, hours_of(doctor)).await.unwrap();
    assert_eq!(again.version, 1);
    assert_eq!(
        types(&stream(&s, &doctor.hours_stream_id()).await),
        ["WeeklyHoursSet"]
    );
    for not_a_doctor_here in [reception, other_clinics_doctor, StaffId(Uuid::now_v7())] {
        let refused = s.service.hours(&as_admin, hours_of(not_a_doctor_here)).await;
        assert!(matches!(refused, Err(CommandError::UnknownDoctor)), "{refused:?}");
        let closure = s
            .service
            .closure(
                &as_admin,
                ClosureId(Uuid::now_v7()),
                closure::Command::AddClosure(AddClosure {
                    clinic_id: clinic,
                    date: chrono::NaiveDate::from_ymd_opt(2026, 1, 2).unwrap(),
                    doctor_id: Some(not_a_doctor_here),
                    reason: ClosureReason::parse("学会").unwrap(),
                }),
            )
            .await;
        assert!(matches!(closure, Err(CommandError::UnknownDoctor)), "{closure:?}");
    }
    let id = ClosureId(Uuid::now_v7());
    let whole_clinic = s
        .service
        .closure(
            &as_admin,
            id,
            closure::Command::AddClosure(AddClosure {
                clinic_id: clinic,
                date: chrono::NaiveDate::from_ymd_opt(2026, 1, 2).unwrap(),
                doctor_id: None,
                reason: ClosureReason::parse("年始休診").unwrap(),
            }),
        )
        .await
        .unwrap();
    assert_eq!((whole_clinic.version, whole_clinic.value.doctor_id), (1, None));
    let remove = closure::Command::RemoveClosure { clinic_id: clinic };
    let removed = s.service.closure(&as_admin, id, remove.clone()).await.unwrap();
    assert!(removed.value.removed);
    let again = s.service.closure(&as_admin, id, remove).await.unwrap();
    assert_eq!((removed.version, again.version), (2, 2));
}

enkaku_tests::on_both_backends!(
    given_a_new_clinic_when_staff_are_invited_then_every_event_names_who_acted,
    an_if_match_naming_an_older_version_is_refused_and_nothing_changes,
    racing_writers_with_the_same_if_match_get_one_success_and_conflicts,
    racing_writers_without_if_match_never_lose_an_update,
    two_admins_demoting_each_other_at_once_leave_one_admin,
    racing_invitations_of_one_address_let_exactly_one_in,
    another_clinics_menu_is_not_found_and_stays_as_it_was,
    hours_and_closures_name_only_doctors_of_the_clinic
);
