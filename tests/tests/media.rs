//! The media relay between real WebRTC peers on loopback, standing in for the call screen and
//! the patient's page: directly, and through enkaku's signalling with the real links and
//! session. What reaches whom before and after the start (R18), renumbered for the receiving
//! leg, a reload that takes over, and nothing left open once calls close.

use enkaku_domain::ids::AppointmentId;
use enkaku_media::forward::Role;
use enkaku_media::relay::{Relay, RelayConfig};
use enkaku_media::{CallSignal, CallSignals};
use enkaku_tests::peer::{Kind, Peer};
use enkaku_tests::signalling::Signalling;
use enkaku_tests::{Backend, TestApp, YAMADA, hours_from_now};
use std::sync::Arc;
use std::time::Duration;

fn relay() -> Arc<Relay> {
    Arc::new(
        Relay::new(RelayConfig {
            addr: "127.0.0.1".parse().unwrap(),
        })
        .unwrap(),
    )
}

/// A peer joined straight to the relay's room, as a call that has not started.
async fn join(relay: &Relay, room: AppointmentId, role: Role, video_pt: u8, audio_pt: u8) -> Peer {
    Peer::connect(video_pt, audio_pt, async |offer| {
        relay
            .join(room, role, offer, false)
            .await
            .expect("the relay answers")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_start_the_clinic_sees_the_patient_then_both_ways_until_the_room_closes() {
    let relay = relay();
    // The call's events reach the relay as they reach it in enkaku: as signals from the feed.
    let signals = CallSignals::default();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let following = tokio::spawn({
        let (relay, signals) = (relay.clone(), signals.subscribe());
        async move { relay.follow(signals, stopped).await }
    });
    let room = AppointmentId(uuid::Uuid::now_v7());
    // Each browser numbers its codecs its own way; the relay's are different again.
    let clinic = join(&relay, room, Role::Clinic, 102, 109).await;
    let patient = join(&relay, room, Role::Patient, 100, 111).await;
    assert_eq!(relay.participants(), 2);

    tokio::join!(clinic.send(0, 50), patient.send(0, 50));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (video, types) = clinic.received(Kind::Video);
    assert!(video > 20, "the doctor sees the patient arrive: {video} packets");
    assert_eq!(types, [102], "renumbered for the clinic's leg");
    assert_eq!(clinic.received(Kind::Audio).0, 0, "but does not hear them yet");
    assert_eq!(patient.received(Kind::Video).0, 0, "the patient receives nothing");
    assert_eq!(patient.received(Kind::Audio).0, 0);

    signals.publish(CallSignal::Started(room));
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::join!(clinic.send(50, 50), patient.send(50, 50));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (audio, types) = clinic.received(Kind::Audio);
    assert!(audio > 20 && types == [109], "{audio} {types:?}");
    let (video, types) = patient.received(Kind::Video);
    assert!(video > 20 && types == [100], "{video} {types:?}");
    let (audio, types) = patient.received(Kind::Audio);
    assert!(audio > 20 && types == [111], "{audio} {types:?}");

    // The patient reloads: a new connection, numbered its own way, takes the old one's place,
    // and the doctor keeps receiving one stream.
    let before = clinic.received(Kind::Video).0;
    let reloaded = join(&relay, room, Role::Patient, 98, 111).await;
    assert_eq!(relay.participants(), 2, "replaced, not added");
    reloaded.send(0, 50).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (video, types) = clinic.received(Kind::Video);
    assert!(video > before + 20, "{before} then {video}");
    assert_eq!(types, [102], "still the clinic leg's numbering");

    signals.publish(CallSignal::Closed(room));
    for _ in 0..50 {
        if relay.participants() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(relay.participants(), 0, "the end of the call closes the room");
    let _ = reloaded.connection.close().await;
    stop.send(true).unwrap();
    following.await.unwrap();
    let _ = clinic.connection.close().await;
    let _ = patient.connection.close().await;
}

/// Descriptors open in this process: every peer connection holds UDP sockets.
fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_calls_opened_and_closed_leave_nothing_open() {
    let relay = relay();
    let call = || async {
        let room = AppointmentId(uuid::Uuid::now_v7());
        let clinic = join(&relay, room, Role::Clinic, 96, 111).await;
        let patient = join(&relay, room, Role::Patient, 96, 111).await;
        relay.close(room).await;
        let _ = clinic.connection.close().await;
        let _ = patient.connection.close().await;
    };
    // The first call opens what is opened once (the runtime's own descriptors).
    call().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = open_files();
    for _ in 0..50 {
        call().await;
    }
    assert_eq!(relay.participants(), 0);
    // Sockets close as their connections' drivers wind down.
    let mut after = open_files();
    for _ in 0..50 {
        if after <= before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = open_files();
    }
    assert!(
        after <= before,
        "{before} descriptors open before, {after} after 50 calls"
    );
}

fn token_of(url: &serde_json::Value) -> String {
    url.as_str().unwrap().rsplit('/').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_enkakus_signalling_follows_the_appointment() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let yamada = app.login(YAMADA).await;
    let created = yamada.create_video_url(&hours_from_now(0), "さくら苑").await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let clinic_token = token_of(&created.body["video"]["clinic_url"]);
    let patient_token = token_of(&created.body["video"]["patient_url"]);

    // The clinic's socket needs a staff session; a patient link is not a clinic link.
    let anonymous = app
        .http
        .get(format!("{}/api/v1/media/clinic/{clinic_token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = yamada.get(&format!("/api/v1/media/clinic/{patient_token}")).await;
    assert_eq!(wrong.status, 404);
    let plain = yamada.get(&format!("/api/v1/media/clinic/{clinic_token}")).await;
    plain.assert_problem(426, "upgrade_required");

    let mut clinic_socket = Signalling::open(
        &app.base,
        &format!("/api/v1/media/clinic/{clinic_token}"),
        Some(&yamada.token),
    )
    .await;
    let clinic = Peer::connect(102, 109, async |offer| {
        clinic_socket.exchange(offer).await.expect("an answer")
    })
    .await;
    let mut patient_socket =
        Signalling::open(&app.base, &format!("/api/v1/media/patient/{patient_token}"), None).await;
    let patient = Peer::connect(100, 111, async |offer| {
        patient_socket.exchange(offer).await.expect("an answer")
    })
    .await;

    tokio::join!(clinic.send(0, 50), patient.send(0, 50));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        clinic.received(Kind::Video).0 > 20,
        "the doctor sees the patient arrive"
    );
    assert_eq!(clinic.received(Kind::Audio).0, 0);
    assert_eq!(patient.received(Kind::Video).0, 0);

    // Starting the call is a command; its event reaches the relay and both pages.
    let started = yamada
        .post(
            &format!("/api/v1/appointments/{id}/start-call"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    assert_eq!(clinic_socket.next().await["type"], "started");
    assert_eq!(patient_socket.next().await["type"], "started");
    tokio::join!(clinic.send(50, 50), patient.send(50, 50));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(patient.received(Kind::Video).0 > 20);
    assert!(patient.received(Kind::Audio).0 > 20);
    assert!(clinic.received(Kind::Audio).0 > 20);

    let ended = yamada
        .post(
            &format!("/api/v1/appointments/{id}/end-call"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert_eq!(clinic_socket.next().await["type"], "ended");
    assert_eq!(patient_socket.next().await["type"], "ended");
    for _ in 0..50 {
        if app.state.relay.participants() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.state.relay.participants(), 0, "the end closes the room");

    // A rejoin after the end is refused before any socket opens.
    let refused = app
        .http
        .get(format!("{}/api/v1/media/patient/{patient_token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    let _ = clinic.connection.close().await;
    let _ = patient.connection.close().await;
}
