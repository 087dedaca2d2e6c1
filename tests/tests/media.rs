//! The media relay between real WebRTC peers on loopback, standing in for the call screen and
//! the patient's page: directly, and through enkaku's signalling with the real links and
//! session. What reaches whom before and after the start (R18), renumbered for the receiving
//! leg, a reload that takes over, and nothing left open once calls close.

use enkaku_domain::ids::AppointmentId;
use enkaku_media::forward::Role;
use enkaku_media::ports::PortRange;
use enkaku_media::relay::{Relay, RelayConfig, RelayError};
use enkaku_media::{CallSignal, CallSignals};
use enkaku_tests::peer::{Kind, Peer, h264};
use enkaku_tests::{Backend, TestApp, YAMADA, hours_from_now};
use rtc::peer_connection::sdp::RTCSessionDescription;
use std::sync::Arc;
use std::time::Duration;

fn relay() -> Arc<Relay> {
    Arc::new(
        Relay::new(RelayConfig {
            addr: "127.0.0.1".parse().unwrap(),
            ports: None,
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

/// Waits up to two seconds for `done`.
async fn eventually(done: impl Fn() -> bool) -> bool {
    for _ in 0..100 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receivers_keyframe_request_reaches_the_sender_at_most_twice_a_second() {
    let relay = relay();
    let room = AppointmentId(uuid::Uuid::now_v7());
    let clinic = join(&relay, room, Role::Clinic, 102, 109).await;
    let patient = join(&relay, room, Role::Patient, 100, 111).await;
    // The doctor receives the patient's video before the start.
    patient.send(0, 30).await;
    assert!(eventually(|| clinic.received(Kind::Video).0 > 10).await);
    // Past the interval of whatever the relay asked for itself.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = patient.keyframe_requests();

    // A decoder that lost a frame asks, and asks again while it waits.
    for _ in 0..5 {
        clinic.request_keyframe().await;
    }
    assert!(
        eventually(|| patient.keyframe_requests() > before).await,
        "the patient's camera is asked for a keyframe"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        patient.keyframe_requests(),
        before + 1,
        "requests close together are passed on once"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    clinic.request_keyframe().await;
    assert!(
        eventually(|| patient.keyframe_requests() == before + 2).await,
        "a request after the interval is passed on again"
    );

    // Before the start the patient receives no video, so has none to ask about: the doctor's
    // camera is not asked on the patient's behalf.
    assert_eq!(clinic.keyframe_requests(), 0);
    relay.close(room).await;
    let _ = clinic.connection.close().await;
    let _ = patient.connection.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_without_vp8_see_each_other_in_h264() {
    let relay = relay();
    let room = AppointmentId(uuid::Uuid::now_v7());
    let join_offering = |role, video: Vec<_>| {
        let relay = relay.clone();
        async move {
            Peer::connect_offering(&video, 111, async |offer| {
                relay.join(room, role, offer, true).await.expect("answered")
            })
            .await
        }
    };
    // Browsers without VP8 (an older Safari), each numbering H.264 its own way. (Which codec
    // a leg is given when the offers differ is `enkaku_media::codecs`' unit tests' concern:
    // the stand-in offers only the codec it sends.)
    let patient = join_offering(Role::Patient, vec![h264(126)]).await;
    let clinic = join_offering(Role::Clinic, vec![h264(125)]).await;

    // Two and a half seconds of keyframes only.
    tokio::join!(patient.send(0, 250), clinic.send(0, 250));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (video, types) = clinic.received(Kind::Video);
    assert!(video > 200, "the doctor sees the patient: {video} packets");
    assert_eq!(types, [125], "as H.264, in the clinic leg's numbering");
    let (video, types) = patient.received(Kind::Video);
    assert!(video > 200, "the patient sees the doctor: {video} packets");
    assert_eq!(types, [126]);
    // The relay tells H.264 keyframes: the receivers have them, so the cameras are not asked
    // again each second.
    assert!(
        patient.keyframe_requests() <= 1,
        "{}",
        patient.keyframe_requests()
    );
    assert!(clinic.keyframe_requests() <= 1, "{}", clinic.keyframe_requests());
    relay.close(room).await;
    let _ = clinic.connection.close().await;
    let _ = patient.connection.close().await;
}

/// `len` consecutive UDP ports free on loopback now.
fn free_ports(len: u16) -> PortRange {
    loop {
        let first = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let Some(last) = first.checked_add(len - 1) else {
            continue;
        };
        if (first..=last).all(|port| std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()) {
            return PortRange::new(first, last).unwrap();
        }
    }
}

/// An offer the relay reads but cannot answer: it fails after the relay took a port for it.
fn offer_without_media() -> RTCSessionDescription {
    RTCSessionDescription::offer("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n".to_owned()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_beyond_the_port_range_is_refused_and_the_call_in_it_goes_on() {
    let relay = Relay::new(RelayConfig {
        addr: "127.0.0.1".parse().unwrap(),
        ports: Some(free_ports(2)),
    })
    .unwrap();
    let room = AppointmentId(uuid::Uuid::now_v7());
    let clinic = join(&relay, room, Role::Clinic, 96, 111).await;
    let patient = join(&relay, room, Role::Patient, 96, 111).await;

    // Two ports, two participants: a third, in another call or taking a place in this one, is
    // refused before anything of the call changes.
    let elsewhere = AppointmentId(uuid::Uuid::now_v7());
    let refused = relay
        .join(elsewhere, Role::Clinic, offer_without_media(), false)
        .await;
    assert!(matches!(refused, Err(RelayError::Unavailable(_))), "{refused:?}");
    let refused = relay
        .join(room, Role::Patient, offer_without_media(), false)
        .await;
    assert!(matches!(refused, Err(RelayError::Unavailable(_))), "{refused:?}");
    assert_eq!((relay.participants(), relay.rooms()), (2, 1));
    patient.send(0, 30).await;
    assert!(
        eventually(|| clinic.received(Kind::Video).0 > 10).await,
        "the call goes on"
    );

    // The call ends: its ports serve the next join (which fails on its offer, after a port).
    relay.close(room).await;
    let _ = clinic.connection.close().await;
    let _ = patient.connection.close().await;
    let mut next = Err(RelayError::Unavailable(String::new()));
    for _ in 0..50 {
        next = relay
            .join(elsewhere, Role::Clinic, offer_without_media(), false)
            .await;
        if !matches!(next, Err(RelayError::Unavailable(_))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(matches!(next, Err(RelayError::BadOffer(_))), "{next:?}");
    // A join that failed gives its port back and leaves no room behind.
    let again = relay
        .join(elsewhere, Role::Patient, offer_without_media(), false)
        .await;
    assert!(matches!(again, Err(RelayError::BadOffer(_))), "{again:?}");
    assert_eq!((relay.participants(), relay.rooms()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_both_participants_left_is_forgotten() {
    let relay = relay();
    let room = AppointmentId(uuid::Uuid::now_v7());
    let clinic = join(&relay, room, Role::Clinic, 96, 111).await;
    let patient = join(&relay, room, Role::Patient, 96, 111).await;
    assert_eq!(relay.rooms(), 1);
    // The call never ends in enkaku: both simply leave.
    let _ = clinic.connection.close().await;
    let _ = patient.connection.close().await;
    let mut rooms = relay.rooms();
    for _ in 0..300 {
        if rooms == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        rooms = relay.rooms();
    }
    assert_eq!((relay.participants(), rooms), (0, 0));
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

/// A page's signalling socket, speaking the protocol of `/api/v1/media/…`.
struct Signalling(
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
);

impl Signalling {
    async fn open(base: &str, path: &str, bearer: Option<&str>) -> Self {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}{path}", base.replacen("http", "ws", 1));
        let mut request = url.into_client_request().unwrap();
        if let Some(token) = bearer {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        Self(
            tokio_tungstenite::connect_async(request)
                .await
                .expect("upgraded")
                .0,
        )
    }

    async fn next(&mut self) -> serde_json::Value {
        use futures::StreamExt;
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.0.next())
                .await
                .expect("a message in time")
                .expect("the socket is open")
                .unwrap();
            if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                return serde_json::from_str(&text).unwrap();
            }
        }
    }

    /// Close the socket as a page does when it goes away.
    async fn close(mut self) {
        let _ = self.0.close(None).await;
    }

    /// Send the offer and bring back the relay's answer.
    async fn exchange(&mut self, offer: RTCSessionDescription) -> RTCSessionDescription {
        use futures::SinkExt;
        let offer = serde_json::json!({ "type": "offer", "sdp": offer.sdp }).to_string();
        self.0.send(offer.into()).await.unwrap();
        let answer = self.next().await;
        assert_eq!(answer["type"], "answer", "{answer}");
        RTCSessionDescription::answer(answer["sdp"].as_str().unwrap().to_owned()).unwrap()
    }
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
    let clinic = Peer::connect(102, 109, async |offer| clinic_socket.exchange(offer).await).await;
    let mut patient_socket =
        Signalling::open(&app.base, &format!("/api/v1/media/patient/{patient_token}"), None).await;
    let patient = Peer::connect(100, 111, async |offer| patient_socket.exchange(offer).await).await;

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

/// The call's presence events, oldest first, as `(role, "joined" | reason)`.
async fn presence_log(staff: &enkaku_tests::Staff, id: &str) -> Vec<(String, String)> {
    let events = staff.get(&format!("/api/v1/appointments/{id}/events")).await;
    events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["stream_id"].as_str().unwrap().starts_with("call-"))
        .map(|e| {
            let what = match e["type"].as_str().unwrap() {
                "ParticipantJoined" => "joined".to_owned(),
                _ => e["data"]["reason"].as_str().unwrap().to_owned(),
            };
            (e["data"]["role"].as_str().unwrap().to_owned(), what)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_patients_arrival_is_recorded_beside_the_appointment_and_a_quick_return_is_not_a_new_stay() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let yamada = app.login(YAMADA).await;
    let created = yamada.create_video_url(&hours_from_now(0), "さくら苑").await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let patient_path = format!(
        "/api/v1/media/patient/{}",
        token_of(&created.body["video"]["patient_url"])
    );
    let etag = |reply: &enkaku_tests::Reply| reply.headers["etag"].to_str().unwrap().to_owned();
    let before = etag(&yamada.get(&format!("/api/v1/appointments/{id}")).await);

    let mut socket = Signalling::open(&app.base, &patient_path, None).await;
    let patient = Peer::connect(100, 111, async |offer| socket.exchange(offer).await).await;
    // Recorded once the relay has answered; the page may be quicker than the append.
    for _ in 0..50 {
        if !presence_log(&yamada, &id).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        presence_log(&yamada, &id).await,
        [("patient".into(), "joined".into())]
    );
    let presence = yamada.get(&format!("/api/v1/appointments/{id}/presence")).await;
    assert!(presence.body["patient_since"].is_string(), "{}", presence.body);
    assert!(presence.body["clinic_since"].is_null());
    app.projected().await;
    let day = enkaku_tests::tokyo_date(created.body["start_at"].as_str().unwrap());
    let doctor = created.body["doctor_id"].as_str().unwrap();
    let schedule = enkaku_tests::list_entries(
        &app.http,
        &app.base,
        &yamada.token,
        &format!("/api/v1/schedule?date={day}&doctor_id={doctor}&all_times=true"),
    )
    .await
    .unwrap();
    let entry = schedule
        .iter()
        .find(|e| e["appointment_id"] == id.as_str())
        .unwrap();
    // The read model keeps milliseconds.
    let millis = |time: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(time.as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    assert_eq!(
        millis(&entry["patient_joined_at"]),
        millis(&presence.body["patient_since"])
    );
    let after = etag(&yamada.get(&format!("/api/v1/appointments/{id}")).await);
    assert_eq!(before, after, "joining never changes the appointment's version");

    // A reload: the page goes and comes back at once. One stay, nothing new recorded.
    socket.close().await;
    let _ = patient.connection.close().await;
    let mut socket = Signalling::open(&app.base, &patient_path, None).await;
    let patient = Peer::connect(100, 111, async |offer| socket.exchange(offer).await).await;
    tokio::time::sleep(enkaku_api::presence::GRACE + Duration::from_secs(1)).await;
    assert_eq!(
        presence_log(&yamada, &id).await,
        [("patient".into(), "joined".into())]
    );

    // Gone for good: recorded once the grace has passed.
    socket.close().await;
    let _ = patient.connection.close().await;
    tokio::time::sleep(enkaku_api::presence::GRACE + Duration::from_secs(1)).await;
    assert_eq!(
        presence_log(&yamada, &id).await,
        [
            ("patient".into(), "joined".into()),
            ("patient".into(), "closed".into())
        ]
    );
    let presence = yamada.get(&format!("/api/v1/appointments/{id}/presence")).await;
    assert!(presence.body["patient_since"].is_null(), "{}", presence.body);
}
