//! Fills a fresh embedded store for `scripts/bench replay`: the demo clinics, then
//! appointments until the log holds `--events` events — in-clinic bookings whose patients'
//! names and chart numbers are sealed, video URLs sent by SMS to a sealed number, some edited,
//! some cancelled — through the command service in process (no HTTP: a million events take
//! a minute, not an hour). Prints one JSON object.

use clap::Parser;
use enkaku_api::Stack;
use enkaku_commands::ports::{EventStore, SystemClock, UuidV7};
use enkaku_commands::{AppointmentService, CommandContext, NewBooking, NewVideoUrl};
use enkaku_domain::envelope::Actor;
use enkaku_domain::ids::{AppointmentId, ClinicId, MenuId, StaffId};
use enkaku_domain::menu::{ConsultationMode, VisitType};
use enkaku_domain::values::{Channel, ChartNumber, PatientName, Title};
use futures::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    data_dir: std::path::PathBuf,
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Commands in flight at once (the store commits them in groups).
    #[arg(long, default_value_t = 128)]
    in_flight: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = enkaku_tests::config(args.data_dir.clone(), None, ([127, 0, 0, 1], 0).into());
    let stack = Stack::open(&config).await?;
    enkaku_infra::demo::seed(&stack.setup, &stack.credentials).await?;
    stack.directory_projection.catch_up(&|_| {}).await?;
    let (clinic, doctor): (String, String) =
        sqlx::query_as("SELECT clinic_id, id FROM directory_staff WHERE email = 'yamada@demo.enkaku.test'")
            .fetch_one(&stack.db.pool)
            .await?;
    let (menu,): (String,) =
        sqlx::query_as("SELECT id FROM directory_menus WHERE clinic_id = $1 AND name = '一般内科'")
            .bind(&clinic)
            .fetch_one(&stack.db.pool)
            .await?;
    let clinic: ClinicId = clinic.parse()?;
    let doctor = StaffId(doctor.parse()?);
    let menu = MenuId(menu.parse()?);
    let service = Arc::new(AppointmentService::new(
        stack.store.clone(),
        Arc::new(stack.directory.clone()),
        Arc::new(SystemClock),
        Arc::new(UuidV7),
        stack.vault.clone(),
    ));
    let started = Instant::now();
    let seeded = *stack.store.head().borrow();
    let head = stack.store.head();
    let appointments = futures::stream::iter(0u64..)
        .take_while(|_| {
            let full = *head.borrow() >= args.events;
            async move { !full }
        })
        .map(|n| {
            let service = service.clone();
            async move { appointment(&service, clinic, doctor, menu, n).await }
        })
        .buffer_unordered(args.in_flight)
        .fold(0u64, |made, result| async move {
            result.expect("a command of the benchmark's load");
            made + 1
        })
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let appended = *stack.store.head().borrow() - seeded;
    println!(
        "{}",
        json!({
            "events": *stack.store.head().borrow(),
            "appointments": appointments,
            "append_seconds": (seconds * 10.0).round() / 10.0,
            "appended_per_second": (appended as f64 / seconds).round(),
        })
    );
    Ok(())
}

/// One appointment's history: two to four events.
async fn appointment(
    service: &AppointmentService,
    clinic: ClinicId,
    doctor: StaffId,
    menu: MenuId,
    n: u64,
) -> anyhow::Result<()> {
    let ctx = CommandContext {
        clinic_id: clinic,
        actor: Actor::Staff(doctor),
        correlation_id: uuid::Uuid::now_v7(),
        causation_id: uuid::Uuid::now_v7(),
        client_request_id: None,
        if_match: None,
    };
    let id = AppointmentId(uuid::Uuid::now_v7());
    // Spread over a year of days, so the read models hold many dates.
    let start_at = chrono::Utc::now() + chrono::Duration::minutes(15 * (n as i64 % 35_000));
    if n.is_multiple_of(2) {
        let booking = NewBooking {
            doctor_id: doctor,
            start_at,
            patient_name: PatientName::parse(&format!("患者 {n}"))?,
            chart_number: Some(ChartNumber::parse(&format!("K-{n}"))?),
            menu_id: menu,
            visit_type: VisitType::First,
            mode: ConsultationMode::InPerson,
            memo: None,
            allow_outside_hours: true,
        };
        service.create_appointment(&ctx, id, booking).await?;
        if n.is_multiple_of(6) {
            service.cancel(&ctx, id).await?;
        }
    } else {
        let video = NewVideoUrl {
            doctor_id: doctor,
            start_at: Some(start_at),
            title: Some(Title::parse(&format!("オンライン診療 {n}"))?),
        };
        service.create_video_url(&ctx, id, video).await?;
        let number = format!("090-{:04}-{:04}", 1000 + n / 10_000 % 9000, n % 10_000);
        let destination = service.check_destination(Channel::Sms, &number)?;
        service.send_url(&ctx, id, destination, false).await?;
        if n % 5 == 1 {
            service.cancel(&ctx, id).await?;
        }
    }
    Ok(())
}
