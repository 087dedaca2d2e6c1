//! Given events, when a command, then events or an error — one test per product rule (docs/rules.md).

use super::*;
use crate::clinic::DayHours;
use crate::envelope::EventData;
use crate::error::{ErrorCode, ErrorKind};
use crate::ids::{ClinicId, DeliveryId, MenuId, StaffId};
use crate::setup::hours::HoursRange;
use crate::values::{Channel, EmailAddress, SmsNumber};
use chrono::TimeZone;
use proptest::prelude::*;
use uuid::Uuid;

fn clinic() -> ClinicId {
    ClinicId(Uuid::from_u128(1))
}
fn doctor() -> StaffId {
    StaffId(Uuid::from_u128(2))
}
fn other_doctor() -> StaffId {
    StaffId(Uuid::from_u128(3))
}
/// 2022-08-30 13:00 in Tokyo, the example of R13.
fn start() -> DateTime<Utc> {
    chrono_tz::Asia::Tokyo
        .with_ymd_and_hms(2022, 8, 30, 13, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}
fn at(minutes_from_start: i64) -> DateTime<Utc> {
    start() + Duration::minutes(minutes_from_start)
}

fn menu(modes: &[ConsultationMode], fee: u32) -> Menu {
    Menu {
        id: MenuId(Uuid::from_u128(10)),
        name: "内科".into(),
        modes: modes.to_vec(),
        duration_first_min: 30,
        duration_revisit_min: 15,
        booking_fee_yen: fee,
    }
}

/// The doctor's hours on the day of [`start`]: one range, in Tokyo.
fn open(from_hour: u32, to_hour: u32) -> Option<BookingHours> {
    Some(BookingHours {
        time_zone: chrono_tz::Asia::Tokyo,
        day: DayHours {
            slot_minutes: 15,
            ranges: vec![HoursRange {
                start_min: from_hour * 60,
                end_min: to_hour * 60,
            }],
        },
    })
}

/// A booking at [`start`], within the doctor's hours.
fn booking(mode: ConsultationMode, menu: Menu) -> CreateAppointment {
    CreateAppointment {
        clinic_id: clinic(),
        doctor_id: doctor(),
        start_at: start(),
        patient_name: PatientName::parse("山田 花子").unwrap(),
        chart_number: Some(ChartNumber::parse("A-0001").unwrap()),
        menu,
        visit_type: VisitType::First,
        mode,
        memo: Some(Memo::parse("初診").unwrap()),
        hours: open(9, 18),
    }
}

fn both_modes() -> Menu {
    menu(&[ConsultationMode::InPerson, ConsultationMode::Online], 0)
}

fn video_url() -> CreateVideoUrl {
    CreateVideoUrl {
        clinic_id: clinic(),
        doctor_id: doctor(),
        start_at: start(),
        title: Some(Title::parse("さくら苑").unwrap()),
    }
}

fn send(id: u128, now: DateTime<Utc>) -> SendUrl {
    SendUrl {
        delivery_id: DeliveryId(Uuid::from_u128(id)),
        destination: Destination::Sms(SmsNumber::parse("090-1234-5678").unwrap()),
        now,
        policy: SendPolicy::default(),
    }
}

/// Given these commands were accepted, return the history they produced.
fn given(commands: &[Command]) -> Vec<Event> {
    let mut history = vec![];
    for command in commands {
        let events = decide(&fold(&history), command).expect("given commands must be accepted");
        history.extend(events);
    }
    history
}

fn when(history: &[Event], command: Command) -> Result<Vec<Event>, DomainError> {
    decide(&fold(history), &command)
}

fn then_state(history: &[Event], more: &[Event]) -> Appointment {
    let all: Vec<Event> = history.iter().chain(more).cloned().collect();
    fold(&all).appointment().cloned().expect("appointment exists")
}

fn online_booking() -> Vec<Event> {
    given(&[Command::CreateAppointment(booking(
        ConsultationMode::Online,
        both_modes(),
    ))])
}

fn created_video_url() -> Vec<Event> {
    given(&[Command::CreateVideoUrl(video_url())])
}

#[test]
fn r3_duration_comes_from_the_menu_and_the_visit_type() {
    let mut first = booking(ConsultationMode::Online, both_modes());
    let events = when(&[], Command::CreateAppointment(first.clone())).unwrap();
    let Event::AppointmentBooked(e) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(e.end_at - e.start_at, Duration::minutes(30));
    assert_eq!(e.menu.duration_min, 30);
    assert_eq!(e.menu.name, "内科");

    first.visit_type = VisitType::Revisit;
    let events = when(&[], Command::CreateAppointment(first)).unwrap();
    let Event::AppointmentBooked(e) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(e.end_at - e.start_at, Duration::minutes(15));
}

#[test]
fn r3_booking_records_every_field_staff_entered() {
    let a = then_state(&online_booking(), &[]);
    let Details::InClinic(d) = &a.details else {
        panic!()
    };
    let patient = d.patient.known().unwrap();
    assert_eq!(patient.patient_name.as_str(), "山田 花子");
    assert_eq!(patient.chart_number.as_ref().unwrap().as_str(), "A-0001");
    assert_eq!(patient.memo.as_ref().unwrap().as_str(), "初診");
    assert_eq!(a.doctor_id, doctor());
    assert_eq!(a.status, Status::Booked);
    assert_eq!(a.kind(), Kind::InClinic);
}

#[test]
fn r5_in_clinic_booking_waives_the_booking_fee() {
    let self_pay = menu(&[ConsultationMode::Online], 3000);
    let events = when(
        &[],
        Command::CreateAppointment(booking(ConsultationMode::Online, self_pay)),
    )
    .unwrap();
    let Event::AppointmentBooked(e) = &events[0] else {
        panic!()
    };
    assert_eq!(e.waived_booking_fee_yen, 3000);
}

#[test]
fn r6_in_person_bookings_have_no_video_call() {
    let history = given(&[Command::CreateAppointment(booking(
        ConsultationMode::InPerson,
        both_modes(),
    ))]);
    let a = then_state(&history, &[]);
    assert_eq!(a.video, None);
    assert_eq!(a.link_status(0, at(0)), None);
    assert_eq!(
        when(&history, Command::SendUrl(send(1, at(0)))),
        Err(DomainError::NoVideoCall)
    );
    assert_eq!(
        when(&history, Command::StartCall { now: at(0) }),
        Err(DomainError::NoVideoCall)
    );
}

#[test]
fn r6_online_bookings_get_a_validity_window() {
    let a = then_state(&online_booking(), &[]);
    assert_eq!(a.video, Some(ValidityWindow::for_start(start())));
}

#[test]
fn r6_a_menu_that_does_not_allow_the_mode_is_rejected() {
    let online_only = menu(&[ConsultationMode::Online], 0);
    assert_eq!(
        when(
            &[],
            Command::CreateAppointment(booking(ConsultationMode::InPerson, online_only))
        ),
        Err(DomainError::ModeNotAllowed { mode: "in_person" })
    );
    let in_person_only = menu(&[ConsultationMode::InPerson], 0);
    assert_eq!(
        when(
            &[],
            Command::CreateAppointment(booking(ConsultationMode::Online, in_person_only))
        ),
        Err(DomainError::ModeNotAllowed { mode: "online" })
    );
}

#[test]
fn given_nothing_when_a_booking_runs_outside_the_doctors_hours_then_outside_hours() {
    // 13:00 for 30 minutes, against a morning that ends at 13:00, an afternoon that begins
    // at 14:00, and a closed day (no ranges).
    let closed = BookingHours {
        time_zone: chrono_tz::Asia::Tokyo,
        day: DayHours::default(),
    };
    for hours in [open(9, 13), open(14, 18), Some(closed)] {
        let mut c = booking(ConsultationMode::Online, both_modes());
        c.hours = hours;
        let e = when(&[], Command::CreateAppointment(c)).unwrap_err();
        assert_eq!(e, DomainError::OutsideHours);
        assert_eq!(
            (e.code(), e.kind(), e.field()),
            (ErrorCode::OutsideHours, ErrorKind::Invalid, Some("start_at"))
        );
    }
}

#[test]
fn given_nothing_when_staff_confirm_a_booking_outside_hours_then_it_is_booked() {
    let mut c = booking(ConsultationMode::Online, both_modes());
    c.hours = None;
    let events = when(&[], Command::CreateAppointment(c)).unwrap();
    assert!(matches!(events[..], [Event::AppointmentBooked(_)]), "{events:?}");
}

#[test]
fn given_nothing_when_a_booking_outside_hours_breaks_another_rule_then_that_rule_is_named() {
    // Confirming the hours would not help: the person hears of the mode first.
    let mut c = booking(ConsultationMode::InPerson, menu(&[ConsultationMode::Online], 0));
    c.hours = open(14, 18);
    assert_eq!(
        when(&[], Command::CreateAppointment(c)),
        Err(DomainError::ModeNotAllowed { mode: "in_person" })
    );
}

#[test]
fn r8_video_url_has_a_window_and_a_title() {
    let a = then_state(&created_video_url(), &[]);
    assert_eq!(a.kind(), Kind::VideoUrl);
    assert_eq!(a.display_name(), Some("さくら苑"));
    assert_eq!(a.video, Some(ValidityWindow::for_start(start())));
    assert_eq!(a.end_at - a.start_at, Duration::minutes(VIDEO_URL_DURATION_MIN));
}

#[test]
fn start_times_outside_any_sensible_range_are_rejected_not_overflowed() {
    for year in [1900, 2200, 262_000] {
        let start_at = chrono::NaiveDate::from_ymd_opt(year, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        let video = CreateVideoUrl {
            start_at,
            ..video_url()
        };
        assert!(matches!(
            when(&[], Command::CreateVideoUrl(video)),
            Err(DomainError::InvalidField {
                field: "start_at",
                ..
            })
        ));
        let mut booking = booking(ConsultationMode::Online, both_modes());
        booking.start_at = start_at;
        assert!(when(&[], Command::CreateAppointment(booking)).is_err());
    }
}

#[test]
fn given_nothing_when_a_creation_starts_on_a_leap_second_then_start_at_is_refused() {
    // What serde makes of `2026-12-01T10:14:60+09:00`.
    let leap: DateTime<Utc> = serde_json::from_str("\"2026-12-01T10:14:60+09:00\"").unwrap();
    assert!(
        chrono::Timelike::nanosecond(&leap) >= 1_000_000_000,
        "chrono's leap-second form"
    );
    let video = CreateVideoUrl {
        start_at: leap,
        ..video_url()
    };
    let mut booking = booking(ConsultationMode::Online, both_modes());
    booking.start_at = leap;
    for command in [
        Command::CreateVideoUrl(video),
        Command::CreateAppointment(booking),
    ] {
        match when(&[], command) {
            Err(e @ DomainError::InvalidField { .. }) => {
                assert_eq!(e.field(), Some("start_at"));
                assert!(e.to_string().contains("leap second"), "{e}");
            }
            other => panic!("a leap second was accepted: {other:?}"),
        }
    }
    let just_before: DateTime<Utc> = serde_json::from_str("\"2026-12-01T10:14:59.999+09:00\"").unwrap();
    let video = CreateVideoUrl {
        start_at: just_before,
        ..video_url()
    };
    assert!(when(&[], Command::CreateVideoUrl(video)).is_ok());
}

#[test]
fn creating_twice_is_rejected() {
    assert_eq!(
        when(&created_video_url(), Command::CreateVideoUrl(video_url())),
        Err(DomainError::AlreadyExists)
    );
}

#[test]
fn commands_on_a_missing_appointment_are_not_found() {
    assert_eq!(
        when(&[], Command::CancelCall { now: at(0) }),
        Err(DomainError::NotFound)
    );
}

#[test]
fn r10_title_and_doctor_can_be_edited() {
    let history = created_video_url();
    let edit = EditVideoUrl {
        title: Some(Title::parse("ひまわり荘").unwrap()),
        doctor_id: Some(other_doctor()),
        requested_start: false,
    };
    let events = when(&history, Command::EditVideoUrl(edit)).unwrap();
    let a = then_state(&history, &events);
    assert_eq!(a.display_name(), Some("ひまわり荘"));
    assert_eq!(a.doctor_id, other_doctor());
}

#[test]
fn r10_an_edit_that_changes_nothing_records_nothing() {
    let history = created_video_url();
    let same = EditVideoUrl {
        title: Some(Title::parse("さくら苑").unwrap()),
        doctor_id: Some(doctor()),
        requested_start: false,
    };
    assert_eq!(when(&history, Command::EditVideoUrl(same)), Ok(vec![]));
}

#[test]
fn r10_a_requested_start_is_refused_even_when_unchanged() {
    let history = created_video_url();
    // Alone, or beside a title that could change: the whole edit is refused.
    for title in [None, Some(Title::parse("ひまわり荘").unwrap())] {
        let edit = EditVideoUrl {
            title,
            doctor_id: None,
            requested_start: true,
        };
        assert_eq!(
            when(&history, Command::EditVideoUrl(edit)),
            Err(DomainError::StartTimeImmutable)
        );
    }
    // In-clinic bookings get the same answer: the start is never edited.
    let edit = EditVideoUrl {
        requested_start: true,
        ..EditVideoUrl::default()
    };
    assert_eq!(
        when(&online_booking(), Command::EditVideoUrl(edit)),
        Err(DomainError::StartTimeImmutable)
    );
}

#[test]
fn r10_in_clinic_bookings_are_not_edited_this_way() {
    assert_eq!(
        when(&online_booking(), Command::EditVideoUrl(EditVideoUrl::default())),
        Err(DomainError::NotEditable)
    );
}

#[test]
fn r11_cancel_closes_the_links_and_repeating_it_changes_nothing() {
    let history = given(&[
        Command::CreateVideoUrl(video_url()),
        Command::CancelCall { now: at(-120) },
    ]);
    let a = then_state(&history, &[]);
    assert_eq!(a.status, Status::Cancelled);
    assert_eq!(a.link_status(0, at(0)), Some(LinkStatus::Cancelled));
    assert_eq!(when(&history, Command::CancelCall { now: at(-110) }), Ok(vec![]));
    assert_eq!(
        when(&history, Command::StartCall { now: at(0) }),
        Err(DomainError::Cancelled)
    );
    assert_eq!(
        when(&history, Command::ResendUrl(send(1, at(0)))),
        Err(DomainError::Cancelled)
    );
}

#[test]
fn r11_staff_cancel_an_in_clinic_booking_as_they_cancel_a_video_url() {
    let history = online_booking();
    let events = when(&history, Command::CancelCall { now: at(-120) }).unwrap();
    assert!(matches!(events[..], [Event::CallCancelled(_)]));
    let a = then_state(&history, &events);
    assert_eq!(a.status, Status::Cancelled);
    assert_eq!(a.link_status(0, at(0)), Some(LinkStatus::Cancelled));
}

#[test]
fn r11_a_call_in_progress_cannot_be_cancelled() {
    let history = given(&[
        Command::CreateVideoUrl(video_url()),
        Command::StartCall { now: at(0) },
    ]);
    assert_eq!(
        when(&history, Command::CancelCall { now: at(1) }),
        Err(DomainError::CallInProgress)
    );
}

#[test]
fn r13_link_status_follows_the_window() {
    let a = then_state(&created_video_url(), &[]);
    assert_eq!(a.link_status(0, at(-61)), Some(LinkStatus::NotYetOpen));
    assert_eq!(a.link_status(0, at(-60)), Some(LinkStatus::Open));
    assert_eq!(a.link_status(0, at(24 * 60)), Some(LinkStatus::Open));
    assert_eq!(a.link_status(0, at(24 * 60 + 1)), Some(LinkStatus::Expired));
}

fn reissue(m: i64) -> Command {
    Command::ReissuePatientUrl { now: at(m) }
}

#[test]
fn reissuing_the_patient_url_revokes_every_earlier_one() {
    let history = created_video_url();
    let events = when(&history, reissue(0)).unwrap();
    assert_eq!(
        events,
        vec![Event::PatientUrlReissued(PatientUrlReissued {
            generation: 1,
            reissued_at: at(0),
        })]
    );
    let a = then_state(&history, &events);
    assert_eq!(a.patient_link_generation, 1);
    assert_eq!(a.link_status(0, at(0)), Some(LinkStatus::Revoked));
    assert_eq!(a.link_status(1, at(0)), Some(LinkStatus::Open));
    // A generation never issued opens nothing.
    assert_eq!(a.link_status(2, at(0)), None);

    let twice = given(&[Command::CreateVideoUrl(video_url()), reissue(0), reissue(1)]);
    let a = then_state(&twice, &[]);
    assert_eq!(a.patient_link_generation, 2);
    assert_eq!(a.link_status(1, at(2)), Some(LinkStatus::Revoked));
    assert_eq!(a.link_status(0, at(2)), Some(LinkStatus::Revoked));
}

#[test]
fn reissuing_keeps_the_booking_and_its_deliveries_and_the_new_url_can_be_sent() {
    let history = given(&[
        Command::CreateAppointment(booking(ConsultationMode::Online, both_modes())),
        Command::SendUrl(send(1, at(-30))),
        reissue(-20),
    ]);
    let a = then_state(&history, &[]);
    assert_eq!(a.status, Status::Booked);
    assert_eq!(a.deliveries.len(), 1);
    assert!(when(&history, Command::ResendUrl(send(2, at(-10)))).is_ok());
}

#[test]
fn a_cancelled_or_ended_appointment_gets_no_new_patient_url() {
    let cancelled = given(&[
        Command::CreateVideoUrl(video_url()),
        Command::CancelCall { now: at(-120) },
    ]);
    assert_eq!(when(&cancelled, reissue(0)), Err(DomainError::Cancelled));
    let ended = given(&[
        Command::CreateVideoUrl(video_url()),
        Command::StartCall { now: at(0) },
        Command::EndCall { now: at(10) },
    ]);
    assert_eq!(when(&ended, reissue(11)), Err(DomainError::CallEnded));
}

#[test]
fn an_in_person_booking_has_no_patient_url_to_reissue() {
    let history = given(&[Command::CreateAppointment(booking(
        ConsultationMode::InPerson,
        both_modes(),
    ))]);
    assert_eq!(when(&history, reissue(0)), Err(DomainError::NoVideoCall));
}

#[test]
fn the_patient_url_is_not_reissued_during_the_call_or_after_the_window() {
    let in_call = given(&[
        Command::CreateVideoUrl(video_url()),
        Command::StartCall { now: at(0) },
    ]);
    assert_eq!(when(&in_call, reissue(1)), Err(DomainError::CallInProgress));
    assert_eq!(
        when(&created_video_url(), reissue(24 * 60 + 1)),
        Err(DomainError::OutsideValidityWindow)
    );
    // Before the window opens it is fine: the URL was sent early to a wrong number.
    assert!(when(&created_video_url(), reissue(-600)).is_ok());
}

#[test]
fn r13_the_call_starts_only_inside_the_window() {
    let history = created_video_url();
    assert_eq!(
        when(&history, Command::StartCall { now: at(-61) }),
        Err(DomainError::OutsideValidityWindow)
    );
    assert_eq!(
        when(&history, Command::StartCall { now: at(24 * 60 + 1) }),
        Err(DomainError::OutsideValidityWindow)
    );
    assert!(matches!(
        when(&history, Command::StartCall { now: at(-60) }).unwrap()[..],
        [Event::CallStarted(_)]
    ));
}

#[test]
fn r14_first_send_is_recorded_and_a_second_send_must_be_a_resend() {
    let history = given(&[
        Command::CreateVideoUrl(video_url()),
        Command::SendUrl(send(1, at(-600))),
    ]);
    let a = then_state(&history, &[]);
    let d = a.latest_delivery().unwrap();
    assert_eq!(d.channel, Channel::Sms);
    assert_eq!(d.destination.known().unwrap().address(), "+819012345678");
    assert_eq!(d.outcome, DeliveryOutcome::Pending);
    assert!(!d.resend);
    assert_eq!(
        when(&history, Command::SendUrl(send(2, at(-500)))),
        Err(DomainError::AlreadySent)
    );
}

#[test]
fn r14_an_expired_link_is_not_sent() {
    assert_eq!(
        when(&created_video_url(), Command::SendUrl(send(1, at(24 * 60 + 1)))),
        Err(DomainError::OutsideValidityWindow)
    );
}

#[test]
fn r15_resend_overwrites_what_is_shown_and_keeps_every_attempt() {
    let corrected = SendUrl {
        delivery_id: DeliveryId(Uuid::from_u128(2)),
        destination: Destination::Email(EmailAddress::parse("hanako@example.jp").unwrap()),
        now: at(-300),
        policy: SendPolicy::default(),
    };
    let history = given(&[
        Command::CreateVideoUrl(video_url()),
        Command::SendUrl(send(1, at(-600))),
        Command::RecordDelivery {
            delivery_id: DeliveryId(Uuid::from_u128(1)),
            report: sent(at(-599)),
        },
        Command::ResendUrl(corrected),
        Command::RecordDelivery {
            delivery_id: DeliveryId(Uuid::from_u128(2)),
            report: sent(at(-299)),
        },
    ]);
    let a = then_state(&history, &[]);
    assert_eq!(a.deliveries.len(), 2);
    let shown = a.latest_delivery().unwrap();
    assert_eq!(shown.destination.known().unwrap().address(), "hanako@example.jp");
    assert_eq!(shown.outcome, DeliveryOutcome::HandedOver);
    assert_eq!(shown.handed_over.as_ref().unwrap().at, at(-299));
    assert!(shown.resend);
    assert_eq!(a.deliveries[0].handed_over.as_ref().unwrap().at, at(-599));
}

#[test]
fn given_sms_to_japan_only_when_a_uk_mobile_is_sent_to_then_it_is_refused_and_nothing_happens() {
    let to_uk = SendUrl {
        destination: Destination::Sms(SmsNumber::parse("+44 7400 123456").unwrap()),
        ..send(1, at(-600))
    };
    for command in [Command::SendUrl(to_uk.clone()), Command::ResendUrl(to_uk.clone())] {
        assert_eq!(
            when(&created_video_url(), command),
            Err(DomainError::SmsCountryNotAllowed { allowed: "JP".into() })
        );
    }
    let uk_allowed = SendUrl {
        policy: SendPolicy {
            sms_countries: "JP,GB".parse().unwrap(),
            ..SendPolicy::default()
        },
        ..to_uk
    };
    assert!(when(&created_video_url(), Command::SendUrl(uk_allowed)).is_ok());
}

#[test]
fn given_five_sends_within_the_hour_when_a_sixth_is_asked_then_it_waits_for_the_oldest_to_leave() {
    // Sends at -60, -50, -40, -30, -20 minutes; the limit is 5 an hour.
    let mut commands = vec![
        Command::CreateVideoUrl(video_url()),
        Command::SendUrl(send(1, at(-60))),
    ];
    commands.extend((2..=5).map(|i| Command::ResendUrl(send(i, at(-60 + 10 * (i as i64 - 1))))));
    let history = given(&commands);
    let now = at(-10);
    assert_eq!(
        when(&history, Command::ResendUrl(send(6, now))),
        Err(DomainError::SendLimited {
            per_hour: 5,
            retry_after_secs: 10 * 60,
        }),
        "the send at -60 leaves the hour at 0"
    );
    let err = when(&history, Command::ResendUrl(send(6, now))).unwrap_err();
    assert_eq!(
        (err.code().as_str(), err.kind(), err.retry_after_secs()),
        ("send_limited", ErrorKind::Limited, Some(600))
    );
    assert!(
        when(&history, Command::ResendUrl(send(6, at(0)))).is_ok(),
        "an hour after the oldest"
    );
    assert!(
        when(
            &history,
            Command::ResendUrl(send(6, at(0) - Duration::milliseconds(1)))
        )
        .is_err(),
        "a millisecond earlier it is still inside"
    );
}

#[test]
fn given_a_lower_limit_than_the_sends_of_the_hour_when_asked_then_enough_of_them_must_leave() {
    let history = given(&[
        Command::CreateVideoUrl(video_url()),
        Command::SendUrl(send(1, at(-60))),
        Command::ResendUrl(send(2, at(-50))),
        Command::ResendUrl(send(3, at(-40))),
    ]);
    let two_an_hour = SendUrl {
        policy: SendPolicy {
            sends_per_hour: 2,
            ..SendPolicy::default()
        },
        ..send(4, at(-30))
    };
    assert_eq!(
        when(&history, Command::ResendUrl(two_an_hour)),
        Err(DomainError::SendLimited {
            per_hour: 2,
            retry_after_secs: 40 * 60,
        }),
        "the sends at -60 and -50 must both leave: -50 does at +10"
    );
}

#[test]
fn a_resend_naming_an_attempt_already_recorded_changes_nothing() {
    let history = given(&[
        Command::CreateVideoUrl(video_url()),
        Command::ResendUrl(send(1, at(0))),
    ]);
    assert_eq!(when(&history, Command::ResendUrl(send(1, at(1)))), Ok(vec![]));
}

#[test]
fn r15_resend_works_without_a_first_send() {
    let events = when(&created_video_url(), Command::ResendUrl(send(1, at(0)))).unwrap();
    assert!(matches!(&events[..], [Event::UrlDeliveryRequested(e)] if e.resend));
}

#[test]
fn delivery_reports_are_recorded_once() {
    let history = given(&[
        Command::CreateVideoUrl(video_url()),
        Command::SendUrl(send(1, at(0))),
        Command::RecordDelivery {
            delivery_id: DeliveryId(Uuid::from_u128(1)),
            report: DeliveryReport::Failed {
                at: at(1),
                code: "smtp:550".into(),
                reason: "refused".into(),
            },
        },
    ]);
    let again = Command::RecordDelivery {
        delivery_id: DeliveryId(Uuid::from_u128(1)),
        report: sent(at(2)),
    };
    assert_eq!(when(&history, again), Ok(vec![]));
    let unknown = Command::RecordDelivery {
        delivery_id: DeliveryId(Uuid::from_u128(9)),
        report: sent(at(2)),
    };
    assert_eq!(when(&history, unknown), Err(DomainError::UnknownDelivery));
}

fn sent(at: DateTime<Utc>) -> DeliveryReport {
    DeliveryReport::Sent {
        at,
        provider: Provider::Twilio,
        provider_message_id: Some("SM1".into()),
    }
}

fn carrier(id: u128, status: CarrierStatus, at: DateTime<Utc>) -> CarrierReport {
    CarrierReport {
        delivery_id: DeliveryId(Uuid::from_u128(id)),
        provider: Provider::Twilio,
        provider_message_id: "SM1".into(),
        status,
        error_code: (status != CarrierStatus::Delivered).then(|| "30003".into()),
        at,
    }
}

fn sent_once() -> Vec<Event> {
    given(&[
        Command::CreateVideoUrl(video_url()),
        Command::SendUrl(send(1, at(0))),
    ])
}

#[test]
fn given_a_message_handed_to_twilio_when_the_carrier_reports_then_its_final_word_is_kept() {
    let mut history = sent_once();
    history.extend(
        when(
            &history,
            Command::RecordDelivery {
                delivery_id: DeliveryId(Uuid::from_u128(1)),
                report: sent(at(1)),
            },
        )
        .unwrap(),
    );
    assert_eq!(
        then_state(&history, &[]).deliveries[0].status(),
        DeliveryStatus::Sent
    );
    let events = when(
        &history,
        Command::RecordCarrierStatus(carrier(1, CarrierStatus::Undelivered, at(2))),
    )
    .unwrap();
    assert!(
        matches!(&events[..], [Event::UrlDeliveryReported(e)] if e.error_code.as_deref() == Some("30003"))
    );
    let a = then_state(&history, &events);
    assert_eq!(
        a.deliveries[0].outcome,
        DeliveryOutcome::Failed {
            at: at(2),
            code: Some("twilio:30003".into()),
            reason: "the carrier reported the message undelivered".into(),
        }
    );
    history.extend(events);
    // Twilio may call more than once; a settled message stays as it is.
    assert_eq!(
        when(
            &history,
            Command::RecordCarrierStatus(carrier(1, CarrierStatus::Delivered, at(3)))
        ),
        Ok(vec![])
    );
}

#[test]
fn given_a_callback_that_outran_the_worker_when_it_arrives_then_the_hand_over_is_recorded_with_it() {
    let history = sent_once();
    let events = when(
        &history,
        Command::RecordCarrierStatus(carrier(1, CarrierStatus::Delivered, at(2))),
    )
    .unwrap();
    assert!(matches!(
        &events[..],
        [Event::UrlDelivered(d), Event::UrlDeliveryReported(_)] if d.provider_message_id.as_deref() == Some("SM1")
    ));
    let mut history = history;
    history.extend(events);
    let a = then_state(&history, &[]);
    assert_eq!(a.deliveries[0].status(), DeliveryStatus::Delivered);
    // The worker's report comes after: nothing more to record.
    assert_eq!(
        when(
            &history,
            Command::RecordDelivery {
                delivery_id: DeliveryId(Uuid::from_u128(1)),
                report: sent(at(3)),
            }
        ),
        Ok(vec![])
    );
}

#[test]
fn given_an_unknown_outcome_when_the_carrier_reports_then_it_is_settled_and_otherwise_it_stays_for_staff() {
    let mut history = sent_once();
    history.extend(
        when(
            &history,
            Command::RecordDelivery {
                delivery_id: DeliveryId(Uuid::from_u128(1)),
                report: DeliveryReport::Unknown {
                    at: at(1),
                    reason: "timed out".into(),
                },
            },
        )
        .unwrap(),
    );
    assert_eq!(
        then_state(&history, &[]).deliveries[0].status(),
        DeliveryStatus::Unknown
    );
    // Only staff can send again: a late report from the worker does not change it.
    assert_eq!(
        when(
            &history,
            Command::RecordDelivery {
                delivery_id: DeliveryId(Uuid::from_u128(1)),
                report: sent(at(2)),
            }
        ),
        Ok(vec![])
    );
    let events = when(
        &history,
        Command::RecordCarrierStatus(carrier(1, CarrierStatus::Delivered, at(3))),
    )
    .unwrap();
    assert_eq!(
        then_state(&history, &events).deliveries[0].outcome,
        DeliveryOutcome::Delivered { at: at(3) }
    );
}

#[test]
fn a_carrier_report_about_another_message_or_a_kept_one_changes_nothing() {
    let mut history = sent_once();
    history.extend(
        when(
            &history,
            Command::RecordDelivery {
                delivery_id: DeliveryId(Uuid::from_u128(1)),
                report: DeliveryReport::Sent {
                    at: at(1),
                    provider: Provider::Outbox,
                    provider_message_id: None,
                },
            },
        )
        .unwrap(),
    );
    assert_eq!(
        then_state(&history, &[]).deliveries[0].status(),
        DeliveryStatus::Kept
    );
    assert_eq!(
        when(
            &history,
            Command::RecordCarrierStatus(carrier(1, CarrierStatus::Delivered, at(2)))
        ),
        Ok(vec![])
    );
    let mut twilio = sent_once();
    twilio.extend(
        when(
            &twilio,
            Command::RecordDelivery {
                delivery_id: DeliveryId(Uuid::from_u128(1)),
                report: sent(at(1)),
            },
        )
        .unwrap(),
    );
    let other = CarrierReport {
        provider_message_id: "SM2".into(),
        ..carrier(1, CarrierStatus::Delivered, at(2))
    };
    assert_eq!(when(&twilio, Command::RecordCarrierStatus(other)), Ok(vec![]));
    assert_eq!(
        when(
            &twilio,
            Command::RecordCarrierStatus(carrier(9, CarrierStatus::Delivered, at(2)))
        ),
        Err(DomainError::UnknownDelivery)
    );
}

#[test]
fn delivery_events_of_schema_v1_read_as_kept_in_the_outbox_and_failed_without_a_code() {
    let delivered = Event::decode(
        "UrlDelivered",
        1,
        &serde_json::json!({"delivery_id": Uuid::from_u128(1), "sent_at": "2026-12-01T00:00:00Z"}).into(),
    )
    .unwrap();
    assert!(matches!(
        delivered,
        Event::UrlDelivered(UrlDelivered {
            provider: Provider::Outbox,
            provider_message_id: None,
            ..
        })
    ));
    let failed = Event::decode(
        "UrlDeliveryFailed",
        1,
        &serde_json::json!({"delivery_id": Uuid::from_u128(1), "failed_at": "2026-12-01T00:00:00Z", "reason": "x"}).into(),
    )
    .unwrap();
    assert!(matches!(
        failed,
        Event::UrlDeliveryFailed(UrlDeliveryFailed { code: None, .. })
    ));
}

#[test]
fn r18_starting_twice_is_harmless() {
    let history = given(&[
        Command::CreateVideoUrl(video_url()),
        Command::StartCall { now: at(0) },
    ]);
    assert_eq!(then_state(&history, &[]).status, Status::InCall);
    assert_eq!(when(&history, Command::StartCall { now: at(5) }), Ok(vec![]));
}

#[test]
fn r20_ending_closes_the_call_for_good() {
    let history = given(&[
        Command::CreateVideoUrl(video_url()),
        Command::StartCall { now: at(0) },
        Command::EndCall { now: at(20) },
    ]);
    let a = then_state(&history, &[]);
    assert_eq!(a.status, Status::Ended);
    assert_eq!(a.link_status(0, at(21)), Some(LinkStatus::Ended));
    assert_eq!(when(&history, Command::EndCall { now: at(21) }), Ok(vec![]));
    assert_eq!(
        when(&history, Command::StartCall { now: at(22) }),
        Err(DomainError::CallEnded)
    );
}

#[test]
fn r20_a_call_that_never_started_cannot_end() {
    assert_eq!(
        when(&created_video_url(), Command::EndCall { now: at(0) }),
        Err(DomainError::CallNotStarted)
    );
}

#[test]
fn every_event_round_trips_through_its_envelope_data() {
    let mut history = online_booking();
    history.extend(given(&[
        Command::CreateVideoUrl(video_url()),
        Command::EditVideoUrl(EditVideoUrl {
            title: None,
            doctor_id: Some(other_doctor()),
            requested_start: false,
        }),
        Command::ReissuePatientUrl { now: at(0) },
        Command::SendUrl(send(1, at(0))),
        Command::RecordDelivery {
            delivery_id: DeliveryId(Uuid::from_u128(1)),
            report: sent(at(1)),
        },
        Command::ResendUrl(send(2, at(2))),
        Command::RecordDelivery {
            delivery_id: DeliveryId(Uuid::from_u128(2)),
            report: DeliveryReport::Failed {
                at: at(3),
                code: "twilio:21211".into(),
                reason: "x".into(),
            },
        },
        Command::ResendUrl(send(3, at(4))),
        Command::RecordDelivery {
            delivery_id: DeliveryId(Uuid::from_u128(3)),
            report: DeliveryReport::Unknown {
                at: at(4),
                reason: "timed out".into(),
            },
        },
        Command::RecordCarrierStatus(carrier(3, CarrierStatus::Undelivered, at(5))),
        Command::StartCall { now: at(4) },
        Command::EndCall { now: at(5) },
    ]));
    history.extend(given(&[
        Command::CreateVideoUrl(video_url()),
        Command::CancelCall { now: at(0) },
        erase(at(1)),
    ]));
    let mut seen = std::collections::BTreeSet::new();
    for event in &history {
        let back = Event::decode(
            event.event_type(),
            event.schema_version(),
            &event.to_data().into(),
        )
        .unwrap();
        assert_eq!(&back, event);
        seen.insert(event.event_type());
    }
    // One of each: a new event type must be added to this history too.
    assert_eq!(seen.len(), 13, "every event type is covered: {seen:?}");
}

#[test]
fn an_appointment_booked_v1_payload_is_upcast_to_the_current_shape() {
    let v1 = serde_json::json!({
        "clinic_id": clinic(), "doctor_id": doctor(),
        "start_at": "2022-08-30T04:00:00Z", "end_at": "2022-08-30T04:30:00Z",
        "patient_name": "山田 花子", "chart_number": null,
        "menu_id": MenuId(Uuid::from_u128(10)), "menu_name": "内科", "duration_min": 30,
        "visit_type": "first", "mode": "online", "memo": null,
        "booking_fee_yen": 3000,
        "video": { "valid_from": "2022-08-30T03:00:00Z", "valid_until": "2022-08-31T04:00:00Z" }
    });
    let event = Event::decode("AppointmentBooked", 1, &EventData::from(&v1)).unwrap();
    let Event::AppointmentBooked(e) = event else {
        panic!()
    };
    assert_eq!(
        e.menu,
        BookedMenu {
            id: MenuId(Uuid::from_u128(10)),
            name: "内科".into(),
            duration_min: 30
        }
    );
    assert_eq!(e.waived_booking_fee_yen, 3000);
    assert_eq!(e.start_at, start());
}

#[test]
fn personal_data_kept_among_other_fields_before_v3_is_upcast_into_personal() {
    let v2 = serde_json::json!({
        "clinic_id": clinic(), "doctor_id": doctor(),
        "start_at": "2022-08-30T04:00:00Z", "end_at": "2022-08-30T04:30:00Z",
        "patient_name": "山田 花子", "chart_number": "A-0001", "memo": null,
        "menu": { "id": MenuId(Uuid::from_u128(10)), "name": "内科", "duration_min": 30 },
        "visit_type": "first", "mode": "online", "waived_booking_fee_yen": 0, "video": null
    });
    let Event::AppointmentBooked(e) = Event::decode("AppointmentBooked", 2, &EventData::from(&v2)).unwrap()
    else {
        panic!()
    };
    let patient = e.personal.known().unwrap();
    assert_eq!(patient.patient_name.as_str(), "山田 花子");
    assert_eq!(patient.chart_number.as_ref().unwrap().as_str(), "A-0001");

    let v1 = serde_json::json!({
        "delivery_id": DeliveryId(Uuid::from_u128(1)), "channel": "email",
        "destination": "hanako@example.jp", "resend": false, "requested_at": "2022-08-30T04:00:00Z"
    });
    let Event::UrlDeliveryRequested(e) =
        Event::decode("UrlDeliveryRequested", 1, &EventData::from(&v1)).unwrap()
    else {
        panic!()
    };
    assert_eq!(e.channel, Channel::Email);
    assert_eq!(e.personal.known().unwrap().address(), "hanako@example.jp");

    let v1 = serde_json::json!({ "title": "さくら苑", "doctor_id": null });
    let Event::VideoCallEdited(e) = Event::decode("VideoCallEdited", 1, &EventData::from(&v1)).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        e.personal.known().unwrap().title.as_ref().unwrap().as_str(),
        "さくら苑"
    );
}

fn erase(now: DateTime<Utc>) -> Command {
    Command::ErasePersonalData {
        now,
        reason: ErasureReason::Requested,
    }
}

#[test]
fn erasure_is_recorded_without_personal_data_and_the_appointment_forgets_it() {
    let history = given(&[
        Command::CreateAppointment(booking(ConsultationMode::Online, both_modes())),
        Command::SendUrl(send(1, at(-600))),
    ]);
    let events = when(&history, erase(at(-500))).unwrap();
    assert_eq!(
        events,
        vec![Event::PersonalDataErased(PersonalDataErased {
            erased_at: at(-500),
            reason: ErasureReason::Requested,
        })]
    );
    let recorded = serde_json::to_string(&events[0].to_data()).unwrap();
    for personal in ["山田", "A-0001", "初診", "9012345678"] {
        assert!(!recorded.contains(personal), "{recorded}");
    }
    let a = then_state(&history, &events);
    assert_eq!(a.erased_at, Some(at(-500)));
    assert_eq!(a.display_name(), None);
    let Details::InClinic(d) = &a.details else {
        panic!()
    };
    assert!(d.patient.is_erased());
    assert!(
        a.deliveries
            .iter()
            .all(|d| d.destination.is_erased() && d.channel == Channel::Sms)
    );
    // Once is enough.
    assert_eq!(when(&[history, events].concat(), erase(at(-400))), Ok(vec![]));
}

#[test]
fn a_call_in_progress_is_not_erased() {
    let history = given(&[
        Command::CreateVideoUrl(video_url()),
        Command::StartCall { now: at(0) },
    ]);
    assert_eq!(when(&history, erase(at(1))), Err(DomainError::CallInProgress));
}

#[test]
fn after_erasure_nothing_sends_shows_or_records_personal_data_again() {
    let history = given(&[
        Command::CreateVideoUrl(video_url()),
        Command::SendUrl(send(1, at(-600))),
        erase(at(-500)),
    ]);
    let edit = EditVideoUrl {
        title: Some(Title::parse("ひまわり荘").unwrap()),
        ..EditVideoUrl::default()
    };
    for refused in [
        Command::ResendUrl(send(2, at(-400))),
        Command::EditVideoUrl(edit),
        Command::StartCall { now: at(0) },
        Command::ReissuePatientUrl { now: at(-400) },
    ] {
        assert_eq!(when(&history, refused), Err(DomainError::Erased));
    }
    // What happened to the message sent before is still recorded, and the clinic can cancel.
    assert!(matches!(
        when(
            &history,
            Command::RecordDelivery {
                delivery_id: DeliveryId(Uuid::from_u128(1)),
                report: sent(at(-400))
            }
        )
        .as_deref(),
        Ok([Event::UrlDelivered(_)])
    ));
    assert!(matches!(
        when(&history, Command::CancelCall { now: at(-400) }).as_deref(),
        Ok([Event::CallCancelled(_)])
    ));
}

#[test]
fn an_event_whose_personal_data_cannot_be_opened_reads_as_erased() {
    // What a reader gets once the data key is destroyed: `personal` is null.
    let data = serde_json::json!({
        "delivery_id": DeliveryId(Uuid::from_u128(1)), "channel": "sms", "resend": false,
        "requested_at": "2022-08-30T04:00:00Z", "personal": null
    });
    let event = Event::decode("UrlDeliveryRequested", 2, &EventData::from(&data)).unwrap();
    let mut history = created_video_url();
    history.push(event);
    let a = then_state(&history, &[]);
    assert!(a.deliveries[0].destination.is_erased());
    assert_eq!(a.deliveries[0].channel, Channel::Sms);
}

#[test]
fn unknown_types_and_future_versions_are_errors_not_panics() {
    assert!(Event::decode("Nope", 1, &serde_json::json!({}).into()).is_err());
    assert!(Event::decode("CallStarted", 7, &serde_json::json!({}).into()).is_err());
    assert!(Event::decode("CallStarted", 1, &serde_json::json!({"started_at": 5}).into()).is_err());
}

fn any_command() -> impl Strategy<Value = Command> {
    let minute = -200i64..(26 * 60);
    prop_oneof![
        Just(Command::CreateVideoUrl(video_url())),
        Just(Command::CreateAppointment(booking(
            ConsultationMode::Online,
            both_modes()
        ))),
        Just(Command::CreateAppointment(booking(
            ConsultationMode::InPerson,
            both_modes()
        ))),
        (1u128..4, minute.clone()).prop_map(|(id, m)| Command::SendUrl(send(id, at(m)))),
        (1u128..4, minute.clone()).prop_map(|(id, m)| Command::ResendUrl(send(id, at(m)))),
        minute.clone().prop_map(|m| Command::CancelCall { now: at(m) }),
        minute.clone().prop_map(|m| Command::StartCall { now: at(m) }),
        minute.clone().prop_map(|m| Command::EndCall { now: at(m) }),
        minute
            .clone()
            .prop_map(|m| Command::ReissuePatientUrl { now: at(m) }),
        (1u128..4, minute.clone()).prop_map(|(id, m)| Command::RecordDelivery {
            delivery_id: DeliveryId(Uuid::from_u128(id)),
            report: sent(at(m)),
        }),
        (1u128..4, minute.clone()).prop_map(|(id, m)| Command::RecordDelivery {
            delivery_id: DeliveryId(Uuid::from_u128(id)),
            report: DeliveryReport::Unknown {
                at: at(m),
                reason: "timed out".into(),
            },
        }),
        (
            1u128..4,
            prop::sample::select(CarrierStatus::ALL.to_vec()),
            minute.clone()
        )
            .prop_map(|(id, status, m)| Command::RecordCarrierStatus(carrier(id, status, at(m)))),
        minute.prop_map(|m| erase(at(m))),
    ]
}

proptest! {
    /// Whatever staff do, in whatever order: nothing panics, a cancelled or ended appointment
    /// never comes back, only online appointments ever hold deliveries or reissued URLs.
    #[test]
    fn any_command_sequence_keeps_the_invariants(commands in prop::collection::vec(any_command(), 0..25)) {
        let mut history: Vec<Event> = vec![];
        let mut was_closed = false;
        let mut was_erased = false;
        let mut settled: std::collections::HashMap<DeliveryId, DeliveryOutcome> = Default::default();
        for command in &commands {
            if let Ok(events) = decide(&fold(&history), command) {
                history.extend(events);
            }
            if let Some(a) = fold(&history).appointment() {
                if was_closed {
                    prop_assert!(matches!(a.status, Status::Cancelled | Status::Ended));
                }
                was_closed = matches!(a.status, Status::Cancelled | Status::Ended);
                // Erased stays erased: nothing personal comes back.
                if was_erased {
                    prop_assert!(a.is_erased() && a.display_name().is_none());
                }
                was_erased = a.is_erased();
                if a.video.is_none() {
                    prop_assert!(a.deliveries.is_empty());
                    prop_assert_eq!(a.patient_link_generation, 0);
                }
                // A carrier's final word, or a failure, is never overwritten.
                for d in &a.deliveries {
                    if let Some(before) = settled.get(&d.id) {
                        prop_assert_eq!(before, &d.outcome);
                    }
                    if matches!(d.outcome, DeliveryOutcome::Delivered { .. } | DeliveryOutcome::Failed { .. }) {
                        settled.insert(d.id, d.outcome.clone());
                    }
                }
                // The current patient URL is never the revoked one.
                prop_assert_ne!(a.link_status(a.patient_link_generation, at(0)), Some(LinkStatus::Revoked));
            }
        }
    }
}

#[test]
fn enum_names_in_the_api_and_read_models_match_their_serde_names() {
    fn same<T: serde::Serialize>(value: T, name: &str) {
        assert_eq!(serde_json::to_value(value).unwrap(), name);
    }
    for s in Status::ALL {
        same(s, s.as_str());
    }
    for k in Kind::ALL {
        same(k, k.as_str());
    }
    for l in LinkStatus::ALL {
        same(l, l.as_str());
    }
    for v in VisitType::ALL {
        same(v, v.as_str());
    }
    for m in ConsultationMode::ALL {
        same(m, m.as_str());
    }
    for c in Channel::ALL {
        same(c, c.as_str());
    }
}
