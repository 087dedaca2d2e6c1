//! Given events, when a command, then events or an error — one test per set-up rule.

use super::clinic::{self, ChangeClinicProfile, ChangeStaff, CreateClinic, NewStaff, Role};
use super::closure::{self, AddClosure};
use super::hours::{self, HoursRange, MINUTES_PER_DAY, SetWeeklyHours, Weekday, Weekdays};
use super::menu::{self, MAX_BOOKING_FEE_YEN, MenuChanges, MenuDefinition};
use super::*;
use crate::envelope::{EventData, StoredEvent};
use crate::error::{DomainError, ErrorKind};
use crate::ids::{ClinicId, StaffId};
use crate::menu::ConsultationMode::{self, InPerson, Online};
use crate::values::{
    ClinicName, ClosureReason, EmailAddress, IanaTimeZone, MenuName, PhoneNumber, StaffName,
};
use chrono::NaiveDate;
use proptest::prelude::*;
use uuid::Uuid;

fn clinic_id() -> ClinicId {
    ClinicId(Uuid::from_u128(1))
}
fn other_clinic() -> ClinicId {
    ClinicId(Uuid::from_u128(99))
}
fn staff(n: u128) -> StaffId {
    StaffId(Uuid::from_u128(100 + n))
}
/// The first administrator.
fn yamada() -> StaffId {
    staff(0)
}
fn tokyo() -> IanaTimeZone {
    IanaTimeZone::parse("Asia/Tokyo").unwrap()
}
fn email(raw: &str) -> EmailAddress {
    EmailAddress::parse_field("email", raw).unwrap()
}
fn name(raw: &str) -> StaffName {
    StaffName::parse(raw).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The clinic and its staff
// ---------------------------------------------------------------------------------------------

fn create_clinic() -> clinic::Command {
    clinic::Command::CreateClinic(CreateClinic {
        clinic_id: clinic_id(),
        name: ClinicName::parse("デモクリニック").unwrap(),
        phone: Some(PhoneNumber::parse("03-1234-5678").unwrap()),
        time_zone: tokyo(),
        first_admin: NewStaff {
            staff_id: yamada(),
            name: name("山田 太郎"),
            email: email("yamada@demo.enkaku.test"),
            role: Role::Doctor,
        },
    })
}

fn invite(n: u128, address: &str, role: Role, admin: bool) -> clinic::Command {
    clinic::Command::InviteStaff {
        staff: NewStaff {
            staff_id: staff(n),
            name: name(&format!("スタッフ {n}")),
            email: email(address),
            role,
        },
        admin,
    }
}

fn set_admin(id: StaffId, admin: bool) -> clinic::Command {
    clinic::Command::ChangeStaff(ChangeStaff {
        staff_id: id,
        name: None,
        role: None,
        admin: Some(admin),
    })
}

/// Given these commands were accepted, return the history they produced.
fn given_clinic(commands: &[clinic::Command]) -> Vec<Event> {
    let mut history = vec![];
    for command in commands {
        let events =
            clinic::decide(&clinic::fold(&history), command).expect("given commands must be accepted");
        history.extend(events);
    }
    history
}

fn when_clinic(history: &[Event], command: clinic::Command) -> Result<Vec<Event>, DomainError> {
    clinic::decide(&clinic::fold(history), &command)
}

fn then_clinic(history: &[Event], more: &[Event]) -> clinic::Clinic {
    let all: Vec<Event> = history.iter().chain(more).cloned().collect();
    clinic::fold(&all).clinic().cloned().expect("the clinic exists")
}

/// A clinic with its administrator (yamada) and a doctor (staff 1), a receptionist (2).
fn created_clinic() -> Vec<Event> {
    given_clinic(&[
        create_clinic(),
        invite(1, "sato@demo.enkaku.test", Role::Doctor, false),
        invite(2, "uketsuke@demo.enkaku.test", Role::Reception, false),
    ])
}

#[test]
fn given_nothing_when_a_clinic_is_created_then_it_has_its_profile_and_its_first_admin() {
    let events = when_clinic(&[], create_clinic()).unwrap();
    assert_eq!(
        events.iter().map(StoredEvent::event_type).collect::<Vec<_>>(),
        ["ClinicCreated", "StaffInvited"],
        "the clinic and its administrator arrive in one append"
    );
    let clinic = then_clinic(&[], &events);
    assert_eq!(clinic.id, clinic_id());
    assert_eq!(clinic.name.as_str(), "デモクリニック");
    assert_eq!(clinic.phone.as_ref().unwrap().as_str(), "03-1234-5678");
    assert_eq!(clinic.time_zone.tz(), chrono_tz::Asia::Tokyo);
    assert!(!clinic.two_factor_required);
    let admin = clinic.member(yamada()).unwrap();
    assert_eq!(
        (admin.name.as_str(), admin.email.as_str(), admin.role),
        ("山田 太郎", "yamada@demo.enkaku.test", Role::Doctor)
    );
    assert!(admin.is_active_admin());
}

#[test]
fn creating_a_clinic_twice_is_rejected() {
    assert_eq!(
        when_clinic(&created_clinic(), create_clinic()),
        Err(DomainError::AlreadyExists)
    );
}

#[test]
fn commands_on_a_clinic_never_created_are_not_found() {
    for command in [
        clinic::Command::ChangeClinicProfile(ChangeClinicProfile::default()),
        invite(1, "sato@demo.enkaku.test", Role::Doctor, false),
        clinic::Command::SetTwoFactorRequired { required: true },
        clinic::Command::DeactivateStaff { staff_id: yamada() },
    ] {
        assert_eq!(when_clinic(&[], command), Err(DomainError::NotFound));
    }
}

#[test]
fn a_profile_change_records_only_what_changed() {
    let history = created_clinic();
    let events = when_clinic(
        &history,
        clinic::Command::ChangeClinicProfile(ChangeClinicProfile {
            name: Some(ClinicName::parse("デモクリニック").unwrap()),
            phone: Some(Some(PhoneNumber::parse("03-9876-5432").unwrap())),
            time_zone: Some(tokyo()),
        }),
    )
    .unwrap();
    assert_eq!(
        events,
        [Event::ClinicProfileChanged(ClinicProfileChanged {
            name: None,
            phone: Some(Some(PhoneNumber::parse("03-9876-5432").unwrap())),
            time_zone: None,
        })]
    );
    assert_eq!(
        then_clinic(&history, &events).phone.unwrap().as_str(),
        "03-9876-5432"
    );
}

#[test]
fn a_new_time_zone_and_name_are_recorded() {
    let history = created_clinic();
    let utc = IanaTimeZone::parse("UTC").unwrap();
    let events = when_clinic(
        &history,
        clinic::Command::ChangeClinicProfile(ChangeClinicProfile {
            name: Some(ClinicName::parse("えんかく医院").unwrap()),
            phone: None,
            time_zone: Some(utc),
        }),
    )
    .unwrap();
    let clinic = then_clinic(&history, &events);
    assert_eq!((clinic.name.as_str(), clinic.time_zone), ("えんかく医院", utc));
    assert!(clinic.phone.is_some(), "an absent phone is unchanged");
}

#[test]
fn the_phone_number_can_be_removed_and_the_event_says_so_with_null() {
    let history = created_clinic();
    let events = when_clinic(
        &history,
        clinic::Command::ChangeClinicProfile(ChangeClinicProfile {
            phone: Some(None),
            ..ChangeClinicProfile::default()
        }),
    )
    .unwrap();
    assert_eq!(events[0].to_data(), serde_json::json!({ "phone": null }));
    assert_eq!(then_clinic(&history, &events).phone, None);
    // Removing it again changes nothing.
    let all: Vec<Event> = history.into_iter().chain(events).collect();
    assert_eq!(
        when_clinic(
            &all,
            clinic::Command::ChangeClinicProfile(ChangeClinicProfile {
                phone: Some(None),
                ..ChangeClinicProfile::default()
            })
        ),
        Ok(vec![])
    );
}

#[test]
fn a_profile_change_event_reads_absent_as_unchanged_and_null_as_removed() {
    let read =
        |data: serde_json::Value| match Event::decode("ClinicProfileChanged", 1, &EventData::from(&data))
            .unwrap()
        {
            Event::ClinicProfileChanged(e) => e,
            other => panic!("{other:?}"),
        };
    assert_eq!(read(serde_json::json!({})), ClinicProfileChanged::default());
    assert_eq!(read(serde_json::json!({ "phone": null })).phone, Some(None));
    assert_eq!(
        read(serde_json::json!({ "phone": "06-1234-5678" })).phone,
        Some(Some(PhoneNumber::parse("06-1234-5678").unwrap()))
    );
}

#[test]
fn a_profile_change_that_changes_nothing_records_nothing() {
    let history = created_clinic();
    for change in [
        ChangeClinicProfile::default(),
        ChangeClinicProfile {
            name: Some(ClinicName::parse(" デモクリニック ").unwrap()),
            phone: Some(Some(PhoneNumber::parse("０３－１２３４－５６７８").unwrap())),
            time_zone: Some(tokyo()),
        },
    ] {
        assert_eq!(
            when_clinic(&history, clinic::Command::ChangeClinicProfile(change)),
            Ok(vec![])
        );
    }
}

#[test]
fn invited_staff_join_the_roster_active_with_their_role_and_flag() {
    let history = created_clinic();
    let events = when_clinic(&history, invite(3, "kansa@demo.enkaku.test", Role::Auditor, true)).unwrap();
    let clinic = then_clinic(&history, &events);
    let auditor = clinic.member(staff(3)).unwrap();
    assert_eq!(
        (auditor.role, auditor.admin, auditor.active),
        (Role::Auditor, true, true)
    );
    assert_eq!(clinic.staff.len(), 4, "in the order they joined");
    assert_eq!(clinic.staff.last().unwrap().id, staff(3));
}

#[test]
fn given_a_member_with_an_address_when_another_is_invited_with_it_in_any_case_then_email_taken() {
    let history = created_clinic();
    for taken in [
        "sato@demo.enkaku.test",
        "Sato@Demo.Enkaku.Test",
        "  SATO@DEMO.ENKAKU.TEST ",
    ] {
        let err = when_clinic(&history, invite(3, taken, Role::Doctor, false)).unwrap_err();
        assert_eq!(err, DomainError::EmailTaken, "{taken}");
        assert_eq!(
            (err.code().as_str(), err.kind(), err.field()),
            ("email_taken", ErrorKind::Conflict, Some("email"))
        );
    }
    assert!(when_clinic(&history, invite(3, "sato2@demo.enkaku.test", Role::Doctor, false)).is_ok());
}

#[test]
fn a_deactivated_member_keeps_their_address() {
    let history = given_clinic(&[
        create_clinic(),
        invite(1, "sato@demo.enkaku.test", Role::Doctor, false),
        clinic::Command::DeactivateStaff { staff_id: staff(1) },
    ]);
    assert_eq!(
        when_clinic(&history, invite(2, "sato@demo.enkaku.test", Role::Doctor, false)),
        Err(DomainError::EmailTaken)
    );
}

#[test]
fn inviting_an_id_already_on_the_roster_is_rejected() {
    assert_eq!(
        when_clinic(
            &created_clinic(),
            invite(1, "new@demo.enkaku.test", Role::Doctor, false)
        ),
        Err(DomainError::AlreadyExists)
    );
}

#[test]
fn a_staff_change_records_only_what_changed() {
    let history = created_clinic();
    let events = when_clinic(
        &history,
        clinic::Command::ChangeStaff(ChangeStaff {
            staff_id: staff(2),
            name: Some(name("スタッフ 2")),
            role: Some(Role::Auditor),
            admin: Some(false),
        }),
    )
    .unwrap();
    assert_eq!(
        events,
        [Event::StaffChanged(StaffChanged {
            staff_id: staff(2),
            name: None,
            role: Some(Role::Auditor),
            admin: None,
        })]
    );
    assert_eq!(
        events[0].to_data(),
        serde_json::json!({ "staff_id": staff(2), "role": "auditor" }),
        "unchanged fields are absent"
    );
    let member = then_clinic(&history, &events).member(staff(2)).cloned().unwrap();
    assert_eq!((member.role, member.name.as_str()), (Role::Auditor, "スタッフ 2"));
}

#[test]
fn a_staff_change_that_changes_nothing_records_nothing() {
    let history = created_clinic();
    for change in [
        ChangeStaff {
            staff_id: staff(1),
            name: None,
            role: None,
            admin: None,
        },
        ChangeStaff {
            staff_id: staff(1),
            name: Some(name("スタッフ 1")),
            role: Some(Role::Doctor),
            admin: Some(false),
        },
    ] {
        assert_eq!(
            when_clinic(&history, clinic::Command::ChangeStaff(change)),
            Ok(vec![])
        );
    }
    // The last admin "demoted" to what they are already is no change either.
    assert_eq!(when_clinic(&history, set_admin(yamada(), true)), Ok(vec![]));
}

#[test]
fn given_one_active_admin_when_they_are_demoted_then_last_admin() {
    let err = when_clinic(&created_clinic(), set_admin(yamada(), false)).unwrap_err();
    assert_eq!(err, DomainError::LastAdmin);
    assert_eq!(
        (err.code().as_str(), err.kind()),
        ("last_admin", ErrorKind::Conflict)
    );
}

#[test]
fn given_one_active_admin_when_they_are_deactivated_then_last_admin() {
    assert_eq!(
        when_clinic(
            &created_clinic(),
            clinic::Command::DeactivateStaff { staff_id: yamada() }
        ),
        Err(DomainError::LastAdmin)
    );
}

#[test]
fn given_two_active_admins_when_one_is_demoted_or_deactivated_then_the_other_remains() {
    let history = given_clinic(&[
        create_clinic(),
        invite(1, "sato@demo.enkaku.test", Role::Doctor, true),
    ]);
    let demoted = when_clinic(&history, set_admin(yamada(), false)).unwrap();
    assert!(!then_clinic(&history, &demoted).member(yamada()).unwrap().admin);
    let deactivated = when_clinic(&history, clinic::Command::DeactivateStaff { staff_id: yamada() }).unwrap();
    let clinic = then_clinic(&history, &deactivated);
    assert!(!clinic.member(yamada()).unwrap().active);
    // And then the other one is the last.
    let after: Vec<Event> = history.iter().chain(&deactivated).cloned().collect();
    assert_eq!(
        when_clinic(&after, set_admin(staff(1), false)),
        Err(DomainError::LastAdmin)
    );
}

#[test]
fn a_deactivated_admin_does_not_count_as_the_admin_who_remains() {
    let history = given_clinic(&[
        create_clinic(),
        invite(1, "sato@demo.enkaku.test", Role::Doctor, true),
        clinic::Command::DeactivateStaff { staff_id: staff(1) },
    ]);
    assert_eq!(
        when_clinic(&history, set_admin(yamada(), false)),
        Err(DomainError::LastAdmin)
    );
    // Demoting the deactivated admin is fine: they administer nothing.
    assert!(when_clinic(&history, set_admin(staff(1), false)).is_ok());
    // Once reactivated, they count again.
    let back: Vec<Event> = history
        .iter()
        .cloned()
        .chain(when_clinic(&history, clinic::Command::ReactivateStaff { staff_id: staff(1) }).unwrap())
        .collect();
    assert!(when_clinic(&back, set_admin(yamada(), false)).is_ok());
}

#[test]
fn unknown_staff_ids_are_not_found() {
    let history = created_clinic();
    let stranger = staff(42);
    for command in [
        clinic::Command::ChangeStaff(ChangeStaff {
            staff_id: stranger,
            name: Some(name("誰か")),
            role: None,
            admin: None,
        }),
        clinic::Command::DeactivateStaff { staff_id: stranger },
        clinic::Command::ReactivateStaff { staff_id: stranger },
    ] {
        let err = when_clinic(&history, command).unwrap_err();
        assert_eq!(
            (err.clone(), err.code().as_str()),
            (DomainError::NotFound, "not_found")
        );
    }
}

#[test]
fn deactivation_and_reactivation_are_recorded_once_and_keep_role_and_flag() {
    let history = given_clinic(&[
        create_clinic(),
        invite(1, "sato@demo.enkaku.test", Role::Doctor, true),
    ]);
    let deactivate = clinic::Command::DeactivateStaff { staff_id: staff(1) };
    let reactivate = clinic::Command::ReactivateStaff { staff_id: staff(1) };
    assert_eq!(
        when_clinic(&history, reactivate.clone()),
        Ok(vec![]),
        "already active"
    );
    let off = given_clinic(&[
        create_clinic(),
        invite(1, "sato@demo.enkaku.test", Role::Doctor, true),
        deactivate.clone(),
    ]);
    assert_eq!(when_clinic(&off, deactivate), Ok(vec![]), "already inactive");
    let on = when_clinic(&off, reactivate).unwrap();
    assert_eq!(
        on,
        [Event::StaffReactivated(StaffReactivated { staff_id: staff(1) })]
    );
    let member = then_clinic(&off, &on).member(staff(1)).cloned().unwrap();
    assert_eq!(
        (member.active, member.role, member.admin),
        (true, Role::Doctor, true)
    );
}

#[test]
fn the_two_factor_requirement_is_recorded_only_when_it_changes() {
    let history = created_clinic();
    assert_eq!(
        when_clinic(
            &history,
            clinic::Command::SetTwoFactorRequired { required: false }
        ),
        Ok(vec![])
    );
    let events = when_clinic(&history, clinic::Command::SetTwoFactorRequired { required: true }).unwrap();
    assert!(then_clinic(&history, &events).two_factor_required);
    let all: Vec<Event> = history.into_iter().chain(events).collect();
    assert_eq!(
        when_clinic(&all, clinic::Command::SetTwoFactorRequired { required: true }),
        Ok(vec![])
    );
}

// ---------------------------------------------------------------------------------------------
// Menus
// ---------------------------------------------------------------------------------------------

fn definition(modes: &[ConsultationMode]) -> MenuDefinition {
    MenuDefinition {
        name: MenuName::parse("一般内科").unwrap(),
        modes: modes.to_vec(),
        duration_first_min: 30,
        duration_revisit_min: 15,
        booking_fee_yen: 0,
    }
}

fn create_menu(menu: MenuDefinition) -> menu::Command {
    menu::Command::CreateMenu {
        clinic_id: clinic_id(),
        menu,
    }
}

fn change_menu(changes: MenuChanges) -> menu::Command {
    menu::Command::ChangeMenu {
        clinic_id: clinic_id(),
        changes,
    }
}

fn created_menu() -> Vec<Event> {
    menu::decide(
        &menu::State::Absent,
        &create_menu(definition(&[InPerson, Online])),
    )
    .unwrap()
}

fn when_menu(history: &[Event], command: menu::Command) -> Result<Vec<Event>, DomainError> {
    menu::decide(&menu::fold(history), &command)
}

fn then_menu(history: &[Event], more: &[Event]) -> menu::ClinicMenu {
    menu::fold(history.iter().chain(more))
        .menu()
        .cloned()
        .expect("the menu exists")
}

#[test]
fn given_nothing_when_a_menu_is_created_then_it_holds_what_was_entered() {
    let events = created_menu();
    let menu = then_menu(&[], &events);
    assert_eq!(menu.clinic_id, clinic_id());
    assert!(!menu.retired);
    let menu = menu.definition;
    assert_eq!(menu.name.as_str(), "一般内科");
    assert_eq!(menu.modes, [InPerson, Online]);
    assert_eq!((menu.duration_first_min, menu.duration_revisit_min), (30, 15));
    assert_eq!(menu.booking_fee_yen, 0);
}

#[test]
fn a_created_menu_is_recorded_flat_beside_its_clinic() {
    assert_eq!(
        created_menu()[0].to_data(),
        serde_json::json!({
            "clinic_id": clinic_id(),
            "name": "一般内科",
            "modes": ["in_person", "online"],
            "duration_first_min": 30,
            "duration_revisit_min": 15,
            "booking_fee_yen": 0,
        })
    );
}

#[test]
fn a_menus_modes_are_a_set_in_one_order() {
    let events = when_menu(&[], create_menu(definition(&[Online, InPerson, Online]))).unwrap();
    assert_eq!(then_menu(&[], &events).definition.modes, [InPerson, Online]);
    // The same set in another order is no change.
    assert_eq!(
        when_menu(
            &events,
            change_menu(MenuChanges {
                modes: Some(vec![Online, InPerson]),
                ..MenuChanges::default()
            })
        ),
        Ok(vec![])
    );
}

#[test]
fn a_menu_without_modes_is_refused() {
    let err = when_menu(&[], create_menu(definition(&[]))).unwrap_err();
    assert_eq!(err.field(), Some("modes"));
    let err = when_menu(
        &created_menu(),
        change_menu(MenuChanges {
            modes: Some(vec![]),
            ..MenuChanges::default()
        }),
    )
    .unwrap_err();
    assert_eq!(
        (err.field(), err.code().as_str()),
        (Some("modes"), "validation_failed")
    );
}

#[test]
fn durations_must_be_between_5_and_240_minutes() {
    for (minutes, ok) in [(4, false), (5, true), (240, true), (241, false), (0, false)] {
        let first = MenuDefinition {
            duration_first_min: minutes,
            ..definition(&[Online])
        };
        let revisit = MenuDefinition {
            duration_revisit_min: minutes,
            ..definition(&[Online])
        };
        for (menu, field) in [(first, "duration_first_min"), (revisit, "duration_revisit_min")] {
            match when_menu(&[], create_menu(menu)) {
                Ok(_) => assert!(ok, "{minutes} min accepted for {field}"),
                Err(e) => {
                    assert!(!ok, "{minutes} min refused for {field}");
                    assert_eq!(e.field(), Some(field));
                }
            }
        }
    }
    let err = when_menu(
        &created_menu(),
        change_menu(MenuChanges {
            duration_revisit_min: Some(241),
            ..MenuChanges::default()
        }),
    )
    .unwrap_err();
    assert_eq!(err.field(), Some("duration_revisit_min"));
}

#[test]
fn a_booking_fee_is_zero_up_to_the_maximum() {
    for (yen, ok) in [
        (0, true),
        (3000, true),
        (MAX_BOOKING_FEE_YEN, true),
        (MAX_BOOKING_FEE_YEN + 1, false),
    ] {
        let menu = MenuDefinition {
            booking_fee_yen: yen,
            ..definition(&[Online])
        };
        let result = when_menu(&[], create_menu(menu));
        assert_eq!(result.is_ok(), ok, "{yen} yen");
        if let Err(e) = result {
            assert_eq!(e.field(), Some("booking_fee_yen"));
        }
    }
}

#[test]
fn a_menu_change_records_only_what_changed() {
    let history = created_menu();
    let events = when_menu(
        &history,
        change_menu(MenuChanges {
            name: Some(MenuName::parse("一般内科").unwrap()),
            modes: Some(vec![Online]),
            duration_first_min: Some(30),
            duration_revisit_min: Some(20),
            booking_fee_yen: Some(3000),
        }),
    )
    .unwrap();
    assert_eq!(
        events,
        [Event::MenuChanged(MenuChanged {
            name: None,
            modes: Some(vec![Online]),
            duration_first_min: None,
            duration_revisit_min: Some(20),
            booking_fee_yen: Some(3000),
        })]
    );
    let menu = then_menu(&history, &events).definition;
    assert_eq!(
        (
            menu.modes.as_slice(),
            menu.duration_revisit_min,
            menu.booking_fee_yen
        ),
        ([Online].as_slice(), 20, 3000)
    );
}

#[test]
fn a_menu_change_that_changes_nothing_records_nothing() {
    let history = created_menu();
    assert_eq!(
        when_menu(&history, change_menu(MenuChanges::default())),
        Ok(vec![])
    );
    assert_eq!(
        when_menu(
            &history,
            change_menu(MenuChanges {
                duration_first_min: Some(30),
                booking_fee_yen: Some(0),
                ..MenuChanges::default()
            })
        ),
        Ok(vec![])
    );
}

#[test]
fn retiring_and_reinstating_are_recorded_once_each() {
    let history = created_menu();
    let retire = menu::Command::RetireMenu {
        clinic_id: clinic_id(),
    };
    let reinstate = menu::Command::ReinstateMenu {
        clinic_id: clinic_id(),
    };
    assert_eq!(
        when_menu(&history, reinstate.clone()),
        Ok(vec![]),
        "already bookable"
    );
    let retired = when_menu(&history, retire.clone()).unwrap();
    assert!(then_menu(&history, &retired).retired);
    let all: Vec<Event> = history.iter().chain(&retired).cloned().collect();
    assert_eq!(when_menu(&all, retire), Ok(vec![]), "already retired");
    // A retired menu can still be corrected, and comes back as it was left.
    let fixed = when_menu(
        &all,
        change_menu(MenuChanges {
            duration_first_min: Some(45),
            ..MenuChanges::default()
        }),
    )
    .unwrap();
    let all: Vec<Event> = all.into_iter().chain(fixed).collect();
    let back = when_menu(&all, reinstate).unwrap();
    let menu = then_menu(&all, &back);
    assert_eq!((menu.retired, menu.definition.duration_first_min), (false, 45));
}

#[test]
fn another_clinics_menu_is_not_found_whatever_is_asked() {
    let history = created_menu();
    for command in [
        menu::Command::CreateMenu {
            clinic_id: other_clinic(),
            menu: definition(&[Online]),
        },
        menu::Command::ChangeMenu {
            clinic_id: other_clinic(),
            changes: MenuChanges::default(),
        },
        menu::Command::RetireMenu {
            clinic_id: other_clinic(),
        },
        menu::Command::ReinstateMenu {
            clinic_id: other_clinic(),
        },
    ] {
        assert_eq!(when_menu(&history, command), Err(DomainError::NotFound));
    }
}

#[test]
fn a_menu_is_created_once_and_a_missing_one_is_not_found() {
    assert_eq!(
        when_menu(&created_menu(), create_menu(definition(&[Online]))),
        Err(DomainError::AlreadyExists)
    );
    assert_eq!(
        when_menu(
            &[],
            menu::Command::RetireMenu {
                clinic_id: clinic_id()
            }
        ),
        Err(DomainError::NotFound)
    );
    assert_eq!(
        when_menu(&[], change_menu(MenuChanges::default())),
        Err(DomainError::NotFound)
    );
}

// ---------------------------------------------------------------------------------------------
// Weekly hours
// ---------------------------------------------------------------------------------------------

fn range(start: &str, end: &str) -> HoursRange {
    let minutes = |t: &str| {
        let (h, m) = t.split_once(':').unwrap();
        h.parse::<u32>().unwrap() * 60 + m.parse::<u32>().unwrap()
    };
    HoursRange {
        start_min: minutes(start),
        end_min: minutes(end),
    }
}

/// Mornings and afternoons on weekdays; Saturday mornings; Sunday closed.
fn usual_week() -> Weekdays {
    let day = || vec![range("14:00", "18:00"), range("09:00", "12:00")];
    Weekdays {
        mon: day(),
        tue: day(),
        wed: day(),
        thu: day(),
        fri: day(),
        sat: vec![range("09:00", "12:00")],
        sun: vec![],
    }
}

fn set_hours(slot_min: u32, weekdays: Weekdays) -> SetWeeklyHours {
    SetWeeklyHours {
        clinic_id: clinic_id(),
        doctor_id: staff(1),
        slot_min,
        weekdays,
    }
}

/// The usual week with one day's ranges replaced.
fn usual_week_but(change: impl FnOnce(&mut Weekdays)) -> SetWeeklyHours {
    let mut week = usual_week();
    change(&mut week);
    set_hours(15, week)
}

#[test]
fn given_nothing_when_hours_are_set_then_the_template_is_recorded_earliest_first() {
    let events = hours::decide(&hours::State::Absent, &set_hours(15, usual_week())).unwrap();
    let hours = hours::fold(&events).hours().cloned().unwrap();
    assert_eq!(
        (hours.clinic_id, hours.doctor_id, hours.slot_min),
        (clinic_id(), staff(1), 15)
    );
    assert_eq!(
        hours.weekdays.day(Weekday::Mon),
        [range("09:00", "12:00"), range("14:00", "18:00")]
    );
    assert!(hours.weekdays.day(Weekday::Sun).is_empty());
}

#[test]
fn setting_the_same_template_again_records_nothing_but_a_new_one_replaces_it() {
    let history = hours::decide(&hours::State::Absent, &set_hours(15, usual_week())).unwrap();
    let mut reordered = usual_week();
    reordered.mon.reverse();
    assert_eq!(
        hours::decide(&hours::fold(&history), &set_hours(15, reordered)),
        Ok(vec![])
    );
    let longer_slots = hours::decide(&hours::fold(&history), &set_hours(30, usual_week())).unwrap();
    assert_eq!(longer_slots.len(), 1);
    let closed_saturday = Weekdays {
        sat: vec![],
        ..usual_week()
    };
    let events = hours::decide(&hours::fold(&history), &set_hours(15, closed_saturday)).unwrap();
    let all: Vec<Event> = history.into_iter().chain(events).collect();
    assert!(hours::fold(&all).hours().unwrap().weekdays.sat.is_empty());
}

fn refused_on(command: SetWeeklyHours) -> (Option<&'static str>, String) {
    let err = hours::decide(&hours::State::Absent, &command).unwrap_err();
    assert_eq!(err.code().as_str(), "validation_failed");
    (err.field(), err.to_string())
}

#[test]
fn a_range_must_start_before_it_ends() {
    for bad in [range("12:00", "12:00"), range("12:00", "09:00")] {
        let (field, reason) = refused_on(usual_week_but(|w| w.tue = vec![bad]));
        assert_eq!(field, Some("weekdays.tue"));
        assert!(reason.contains("start before it ends"), "{reason}");
    }
}

#[test]
fn a_range_must_end_by_midnight() {
    let (field, reason) = refused_on(usual_week_but(|w| {
        w.sun = vec![HoursRange {
            start_min: 20 * 60,
            end_min: MINUTES_PER_DAY + 1,
        }]
    }));
    assert_eq!(field, Some("weekdays.sun"));
    assert!(reason.contains("midnight"), "{reason}");
    let until_midnight = usual_week_but(|w| {
        w.sun = vec![HoursRange {
            start_min: 20 * 60,
            end_min: MINUTES_PER_DAY,
        }]
    });
    assert!(hours::decide(&hours::State::Absent, &until_midnight).is_ok());
}

#[test]
fn ranges_of_a_day_must_not_overlap_but_may_touch() {
    let (field, reason) = refused_on(usual_week_but(|w| {
        w.tue = vec![range("09:00", "12:00"), range("11:30", "13:00")]
    }));
    assert_eq!(field, Some("weekdays.tue"));
    assert!(reason.contains("overlap"), "{reason}");
    refused_on(usual_week_but(|w| {
        w.tue = vec![range("09:00", "18:00"), range("10:00", "11:00")]
    }));
    let touching = usual_week_but(|w| w.tue = vec![range("12:00", "15:00"), range("09:00", "12:00")]);
    assert!(hours::decide(&hours::State::Absent, &touching).is_ok());
}

#[test]
fn a_slot_is_5_to_240_minutes_long() {
    for (slot_min, ok) in [(4, false), (5, true), (240, true), (241, false)] {
        let result = hours::decide(&hours::State::Absent, &set_hours(slot_min, usual_week()));
        assert_eq!(result.is_ok(), ok, "{slot_min} min");
        if let Err(e) = result {
            assert_eq!(e.field(), Some("slot_min"));
        }
    }
}

#[test]
fn another_clinics_doctor_has_no_hours_here() {
    let history = hours::decide(&hours::State::Absent, &set_hours(15, usual_week())).unwrap();
    let foreign = SetWeeklyHours {
        clinic_id: other_clinic(),
        ..set_hours(15, Weekdays::default())
    };
    assert_eq!(
        hours::decide(&hours::fold(&history), &foreign),
        Err(DomainError::NotFound)
    );
}

// ---------------------------------------------------------------------------------------------
// Closures
// ---------------------------------------------------------------------------------------------

fn new_year() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 2).unwrap()
}

fn add_closure(doctor_id: Option<StaffId>) -> closure::Command {
    closure::Command::AddClosure(AddClosure {
        clinic_id: clinic_id(),
        date: new_year(),
        doctor_id,
        reason: ClosureReason::parse("年始休診").unwrap(),
    })
}

fn remove_closure(clinic_id: ClinicId) -> closure::Command {
    closure::Command::RemoveClosure { clinic_id }
}

fn when_closure(history: &[Event], command: closure::Command) -> Result<Vec<Event>, DomainError> {
    closure::decide(&closure::fold(history), &command)
}

#[test]
fn given_nothing_when_a_day_is_closed_then_the_closure_holds_date_doctor_and_reason() {
    let events = when_closure(&[], add_closure(Some(staff(1)))).unwrap();
    let closure = closure::fold(&events).closure().cloned().unwrap();
    assert_eq!(
        (
            closure.clinic_id,
            closure.date,
            closure.doctor_id,
            closure.reason.as_str(),
            closure.removed
        ),
        (clinic_id(), new_year(), Some(staff(1)), "年始休診", false)
    );
    let whole_clinic = when_closure(&[], add_closure(None)).unwrap();
    assert_eq!(closure::fold(&whole_clinic).closure().unwrap().doctor_id, None);
}

#[test]
fn a_closure_on_a_day_no_clinic_means_is_refused() {
    let far = closure::Command::AddClosure(AddClosure {
        date: NaiveDate::from_ymd_opt(1999, 12, 31).unwrap(),
        ..match add_closure(None) {
            closure::Command::AddClosure(c) => c,
            other => unreachable!("{other:?}"),
        }
    });
    assert_eq!(when_closure(&[], far).unwrap_err().field(), Some("date"));
}

#[test]
fn a_closure_reason_is_required_and_at_most_200_characters() {
    for bad in ["", "   ", &"休".repeat(201)] {
        assert_eq!(
            ClosureReason::parse(bad).unwrap_err().field(),
            Some("reason"),
            "{bad:?}"
        );
    }
    assert!(ClosureReason::parse(&"休".repeat(200)).is_ok());
}

#[test]
fn a_closure_is_removed_once_and_stays_in_the_history() {
    let history = when_closure(&[], add_closure(None)).unwrap();
    let removed = when_closure(&history, remove_closure(clinic_id())).unwrap();
    assert_eq!(removed, [Event::ClosureRemoved(ClosureRemoved {})]);
    let all: Vec<Event> = history.into_iter().chain(removed).collect();
    let closure = closure::fold(&all).closure().cloned().unwrap();
    assert!(closure.removed);
    assert_eq!(closure.reason.as_str(), "年始休診");
    assert_eq!(when_closure(&all, remove_closure(clinic_id())), Ok(vec![]));
}

#[test]
fn closures_missing_or_of_another_clinic_are_not_found_and_one_is_added_once() {
    assert_eq!(
        when_closure(&[], remove_closure(clinic_id())),
        Err(DomainError::NotFound)
    );
    let history = when_closure(&[], add_closure(None)).unwrap();
    assert_eq!(
        when_closure(&history, remove_closure(other_clinic())),
        Err(DomainError::NotFound)
    );
    assert_eq!(
        when_closure(&history, add_closure(None)),
        Err(DomainError::AlreadyExists)
    );
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

#[test]
fn every_set_up_event_round_trips_through_its_envelope_data() {
    let mut history = given_clinic(&[
        create_clinic(),
        invite(1, "sato@demo.enkaku.test", Role::Doctor, true),
        clinic::Command::ChangeClinicProfile(ChangeClinicProfile {
            phone: Some(None),
            time_zone: Some(IanaTimeZone::parse("Europe/London").unwrap()),
            ..ChangeClinicProfile::default()
        }),
        set_admin(staff(1), false),
        clinic::Command::DeactivateStaff { staff_id: staff(1) },
        clinic::Command::ReactivateStaff { staff_id: staff(1) },
        clinic::Command::SetTwoFactorRequired { required: true },
    ]);
    history.extend(created_menu());
    for command in [
        change_menu(MenuChanges {
            modes: Some(vec![Online]),
            ..MenuChanges::default()
        }),
        menu::Command::RetireMenu {
            clinic_id: clinic_id(),
        },
        menu::Command::ReinstateMenu {
            clinic_id: clinic_id(),
        },
    ] {
        let events = when_menu(&history, command).unwrap();
        history.extend(events);
    }
    history.extend(hours::decide(&hours::State::Absent, &set_hours(15, usual_week())).unwrap());
    let added = when_closure(&[], add_closure(Some(staff(1)))).unwrap();
    let removed = when_closure(&added, remove_closure(clinic_id())).unwrap();
    history.extend(added);
    history.extend(removed);
    let mut seen = std::collections::BTreeSet::new();
    for event in &history {
        let back = Event::decode(
            event.event_type(),
            event.schema_version(),
            &event.to_data().into(),
        )
        .unwrap();
        assert_eq!(&back, event);
        assert_eq!(event.schema_version(), 1);
        seen.insert(event.event_type());
    }
    // One of each: a new event type must be added to this history too.
    assert_eq!(seen.len(), 14, "every event type is covered: {seen:?}");
}

#[test]
fn unknown_types_and_future_versions_are_errors_not_panics() {
    assert!(Event::decode("Nope", 1, &serde_json::json!({}).into()).is_err());
    assert!(Event::decode("MenuRetired", 2, &serde_json::json!({}).into()).is_err());
    assert!(Event::decode("MenuRetired", 0, &serde_json::json!({}).into()).is_err());
    assert!(
        Event::decode(
            "StaffDeactivated",
            1,
            &serde_json::json!({ "staff_id": 5 }).into()
        )
        .is_err()
    );
    assert!(
        Event::decode(
            "WeeklyHoursSet",
            1,
            &serde_json::json!({ "clinic_id": clinic_id(), "slot_min": 15 }).into()
        )
        .is_err()
    );
}

/// Every field name of every payload, read from the events' JSON schema.
fn field_names(schema: &serde_json::Value, names: &mut Vec<String>) {
    match schema {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(properties)) = map.get("properties") {
                names.extend(properties.keys().cloned());
            }
            map.values().for_each(|v| field_names(v, names));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| field_names(v, names)),
        _ => {}
    }
}

#[test]
fn no_set_up_event_has_a_field_for_a_credential() {
    let mut names = vec![];
    field_names(&schemars::schema_for!(Event).to_value(), &mut names);
    assert!(
        names.iter().any(|n| n == "email"),
        "the scan sees the fields: {names:?}"
    );
    for name in names {
        for secret in ["password", "hash", "token", "secret", "totp", "recovery"] {
            assert!(!name.contains(secret), "a set-up event has a field {name}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn any_staff_command() -> impl Strategy<Value = clinic::Command> {
    let member = (0u128..5).prop_map(staff);
    let address = (0usize..4, any::<bool>()).prop_map(|(n, upper)| {
        let address = ["a@x.jp", "b@x.jp", "c@x.jp", "yamada@demo.enkaku.test"][n];
        if upper {
            address.to_uppercase()
        } else {
            address.to_owned()
        }
    });
    let role = prop::sample::select(Role::ALL.to_vec());
    prop_oneof![
        (1u128..5, address, role.clone(), any::<bool>())
            .prop_map(|(n, address, role, admin)| { invite(n, &address, role, admin) }),
        (
            member.clone(),
            prop::option::of(role),
            prop::option::of(any::<bool>())
        )
            .prop_map(
                |(staff_id, role, admin)| clinic::Command::ChangeStaff(ChangeStaff {
                    staff_id,
                    name: None,
                    role,
                    admin,
                })
            ),
        member
            .clone()
            .prop_map(|staff_id| clinic::Command::DeactivateStaff { staff_id }),
        member.prop_map(|staff_id| clinic::Command::ReactivateStaff { staff_id }),
    ]
}

/// Up to four ranges of a day, as anyone might type them: in any order, maybe overlapping,
/// maybe backwards or past midnight.
fn any_day() -> impl Strategy<Value = Vec<HoursRange>> {
    prop::collection::vec(
        (0u32..1500, 0u32..1500).prop_map(|(start_min, end_min)| HoursRange { start_min, end_min }),
        0..4,
    )
}

/// A day's valid ranges: cut points in the day taken in pairs, then shuffled.
fn valid_day() -> impl Strategy<Value = Vec<HoursRange>> {
    prop::collection::btree_set(0u32..=MINUTES_PER_DAY, 0..8)
        .prop_map(|points| {
            let points: Vec<u32> = points.into_iter().collect();
            points
                .chunks_exact(2)
                .map(|pair| HoursRange {
                    start_min: pair[0],
                    end_min: pair[1],
                })
                .collect::<Vec<_>>()
        })
        .prop_shuffle()
}

fn week_of(days: Vec<Vec<HoursRange>>) -> Weekdays {
    let mut days = days.into_iter();
    let mut next = || days.next().unwrap_or_default();
    Weekdays {
        mon: next(),
        tue: next(),
        wed: next(),
        thu: next(),
        fri: next(),
        sat: next(),
        sun: next(),
    }
}

proptest! {
    /// Whatever administrators do to the staff, in whatever order: nothing panics, the clinic
    /// always keeps an active administrator, no two members share an address (case aside),
    /// and an accepted change given again changes nothing.
    #[test]
    fn any_staff_command_sequence_keeps_an_active_admin_and_one_address_per_member(
        commands in prop::collection::vec(any_staff_command(), 0..30)
    ) {
        let mut history = given_clinic(&[create_clinic()]);
        for command in &commands {
            let Ok(events) = when_clinic(&history, command.clone()) else { continue };
            history.extend(events);
            let clinic = then_clinic(&history, &[]);
            prop_assert!(clinic.staff.iter().any(|m| m.is_active_admin()), "no active admin left");
            for (i, a) in clinic.staff.iter().enumerate() {
                prop_assert!(clinic.staff[i + 1..].iter().all(|b| !a.email.same_mailbox(&b.email)));
            }
            if !matches!(command, clinic::Command::InviteStaff { .. }) {
                prop_assert_eq!(when_clinic(&history, command.clone()), Ok(vec![]));
            }
        }
    }

    /// A valid template, typed in any order, is recorded earliest first, reads back from its
    /// event as it was recorded, and setting it again changes nothing.
    #[test]
    fn any_valid_hours_template_round_trips_through_its_event(
        days in prop::collection::vec(valid_day(), 7),
        slot_min in 5u32..=240,
    ) {
        let command = set_hours(slot_min, week_of(days));
        let events = hours::decide(&hours::State::Absent, &command).unwrap();
        prop_assert_eq!(events.len(), 1);
        let event = &events[0];
        let read = Event::decode(event.event_type(), event.schema_version(), &event.to_data().into()).unwrap();
        prop_assert_eq!(&read, event);
        let state = hours::fold([&read]);
        let hours = state.hours().unwrap();
        prop_assert_eq!(hours.slot_min, slot_min);
        for day in Weekday::ALL {
            let mut typed = command.weekdays.day(day).to_vec();
            typed.sort();
            prop_assert_eq!(hours.weekdays.day(day), typed.as_slice());
        }
        prop_assert_eq!(hours::decide(&state, &command), Ok(vec![]));
    }

    /// Whatever is typed, a template is refused or recorded earliest first with every range
    /// inside the day and none overlapping.
    #[test]
    fn any_hours_template_is_refused_or_recorded_in_order_without_overlaps(
        days in prop::collection::vec(any_day(), 7),
    ) {
        let Ok(events) = hours::decide(&hours::State::Absent, &set_hours(15, week_of(days))) else {
            return Ok(());
        };
        let state = hours::fold(&events);
        for day in Weekday::ALL {
            let ranges = state.hours().unwrap().weekdays.day(day);
            prop_assert!(ranges.iter().all(|r| r.start_min < r.end_min && r.end_min <= MINUTES_PER_DAY));
            prop_assert!(ranges.windows(2).all(|pair| pair[0].end_min <= pair[1].start_min));
        }
    }
}
