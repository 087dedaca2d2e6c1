//! The media relay between real WebRTC peers on loopback, standing in for the call screen and
//! the patient's page: directly, and through enkaku's signalling with the real links and
//! session. What reaches whom before and after the start (R18), renumbered for the receiving
//! leg, a reload that takes over, an ICE restart on the same leg, the signalling's greeting
//! and bounds, and nothing left open once calls close.

use async_trait::async_trait;
use enkaku_domain::ids::AppointmentId;
use enkaku_domain::presence::CallRole;
use enkaku_media::ice_servers::{IceServers, turn_credential};
use enkaku_media::ports::PortRange;
use enkaku_media::relay::{IceCandidate, LegEvent, LegHandle, Relay, RelayConfig, RelayError};
use enkaku_media::{CallSignal, CallSignals};
use enkaku_tests::peer::{Kind, Peer, Signalling, Trickle, h264};
use enkaku_tests::signalling::Socket;
use enkaku_tests::{Backend, Staff, TestApp, TestStore, YAMADA, hours_from_now};
use rtc::peer_connection::sdp::RTCSessionDescription;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

fn relay() -> Arc<Relay> {
    Arc::new(
        Relay::new(RelayConfig {
            addr: "127.0.0.1".parse().unwrap(),
            ports: None,
        })
        .unwrap(),
    )
}

/// Signalling straight to the relay's API, as enkaku's socket does it, for a call that has
/// not started (unless told it has).
struct Direct {
    relay: Arc<Relay>,
    room: AppointmentId,
    role: CallRole,
    started: bool,
    leg: Option<Arc<LegHandle>>,
    to_relay: Trickle,
    from_relay: Trickle,
}

impl Direct {
    fn new(relay: &Arc<Relay>, room: AppointmentId, role: CallRole) -> Self {
        Self {
            relay: relay.clone(),
            room,
            role,
            started: false,
            leg: None,
            to_relay: Trickle::default(),
            from_relay: Trickle::default(),
        }
    }

    /// For a call that has started.
    fn in_call(mut self) -> Self {
        self.started = true;
        self
    }
}

#[async_trait]
impl Signalling for Direct {
    async fn exchange(&mut self, offer: RTCSessionDescription) -> anyhow::Result<RTCSessionDescription> {
        if let Some(leg) = &self.leg {
            return Ok(leg.renegotiate(offer).await?);
        }
        let joined = self.relay.join(self.room, self.role, offer, self.started).await?;
        let (from_relay, mut events) = (self.from_relay.tx.clone(), joined.events);
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let LegEvent::Candidate(candidate) = event {
                    let _ = from_relay.send(candidate);
                }
            }
        });
        let leg = Arc::new(joined.leg);
        let (held, mut to_relay) = (Arc::downgrade(&leg), self.to_relay.take().expect("one join"));
        tokio::spawn(async move {
            while let Some(candidate) = to_relay.recv().await {
                if let (Some(candidate), Some(leg)) = (candidate, held.upgrade()) {
                    leg.add_candidate(candidate)
                        .await
                        .expect("the peer's candidates are usable");
                }
            }
        });
        self.leg = Some(leg);
        Ok(joined.answer)
    }

    fn to_relay(&self) -> UnboundedSender<Option<IceCandidate>> {
        self.to_relay.tx.clone()
    }

    fn take_relay_candidates(&mut self) -> UnboundedReceiver<Option<IceCandidate>> {
        self.from_relay.take().expect("taken once")
    }
}

/// A peer joined straight to the relay's room, as a call that has not started.
async fn join(
    relay: &Arc<Relay>,
    room: AppointmentId,
    role: CallRole,
    video_pt: u8,
    audio_pt: u8,
) -> (Peer, Direct) {
    let mut signalling = Direct::new(relay, room, role);
    let peer = Peer::connect(video_pt, audio_pt, &mut signalling).await;
    (peer, signalling)
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
    let (clinic, _clinic) = join(&relay, room, CallRole::Clinic, 102, 109).await;
    let (patient, _patient) = join(&relay, room, CallRole::Patient, 100, 111).await;
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
    let (reloaded, _reloaded) = join(&relay, room, CallRole::Patient, 98, 111).await;
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
    let (clinic, _clinic) = join(&relay, room, CallRole::Clinic, 102, 109).await;
    let (patient, _patient) = join(&relay, room, CallRole::Patient, 100, 111).await;
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
            let mut signalling = Direct::new(&relay, room, role).in_call();
            let peer = Peer::connect_offering(&video, 111, &mut signalling).await;
            (peer, signalling)
        }
    };
    // Browsers without VP8 (an older Safari), each numbering H.264 its own way. (Which codec
    // a leg is given when the offers differ is `enkaku_media::codecs`' unit tests' concern:
    // the stand-in offers only the codec it sends.)
    let (patient, _patient) = join_offering(CallRole::Patient, vec![h264(126)]).await;
    let (clinic, _clinic) = join_offering(CallRole::Clinic, vec![h264(125)]).await;

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
    let relay = Arc::new(
        Relay::new(RelayConfig {
            addr: "127.0.0.1".parse().unwrap(),
            ports: Some(free_ports(2)),
        })
        .unwrap(),
    );
    let room = AppointmentId(uuid::Uuid::now_v7());
    let (clinic, _clinic) = join(&relay, room, CallRole::Clinic, 96, 111).await;
    let (patient, _patient) = join(&relay, room, CallRole::Patient, 96, 111).await;

    // Two ports, two participants: a third, in another call or taking a place in this one, is
    // refused before anything of the call changes.
    let elsewhere = AppointmentId(uuid::Uuid::now_v7());
    let refused = relay
        .join(elsewhere, CallRole::Clinic, offer_without_media(), false)
        .await;
    assert!(
        matches!(refused, Err(RelayError::Unavailable(_))),
        "{:?}",
        refused.as_ref().err()
    );
    let refused = relay
        .join(room, CallRole::Patient, offer_without_media(), false)
        .await;
    assert!(
        matches!(refused, Err(RelayError::Unavailable(_))),
        "{:?}",
        refused.as_ref().err()
    );
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
            .join(elsewhere, CallRole::Clinic, offer_without_media(), false)
            .await;
        if !matches!(next, Err(RelayError::Unavailable(_))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        matches!(next, Err(RelayError::BadOffer(_))),
        "{:?}",
        next.as_ref().err()
    );
    // A join that failed gives its port back and leaves no room behind.
    let again = relay
        .join(elsewhere, CallRole::Patient, offer_without_media(), false)
        .await;
    assert!(
        matches!(again, Err(RelayError::BadOffer(_))),
        "{:?}",
        again.as_ref().err()
    );
    assert_eq!((relay.participants(), relay.rooms()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_both_participants_left_is_forgotten() {
    let relay = relay();
    let room = AppointmentId(uuid::Uuid::now_v7());
    let (clinic, _clinic) = join(&relay, room, CallRole::Clinic, 96, 111).await;
    let (patient, _patient) = join(&relay, room, CallRole::Patient, 96, 111).await;
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
        let (clinic, _clinic) = join(&relay, room, CallRole::Clinic, 96, 111).await;
        let (patient, _patient) = join(&relay, room, CallRole::Patient, 96, 111).await;
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

/// A video call of Yamada's clinic that can be joined now, through enkaku's signalling.
struct Call {
    yamada: Staff,
    id: String,
    clinic_token: String,
    patient_token: String,
}

impl Call {
    async fn book(app: &TestApp) -> Self {
        let yamada = app.login(YAMADA).await;
        let created = yamada.create_video_url(&hours_from_now(0), "さくら苑").await;
        assert_eq!(created.status, 201, "{}", created.body);
        Self {
            id: created.body["id"].as_str().unwrap().to_owned(),
            clinic_token: token_of(&created.body["video"]["clinic_url"]),
            patient_token: token_of(&created.body["video"]["patient_url"]),
            yamada,
        }
    }

    async fn clinic_socket(&self, app: &TestApp) -> Socket {
        let path = format!("/api/v1/media/clinic/{}", self.clinic_token);
        Socket::open(&app.base, &path, Some(&self.yamada.token)).await
    }

    async fn patient_socket(&self, app: &TestApp) -> Socket {
        let path = format!("/api/v1/media/patient/{}", self.patient_token);
        Socket::open(&app.base, &path, None).await
    }

    /// Starts or ends the call, as the call screen does.
    async fn command(&self, action: &str) {
        let path = format!("/api/v1/appointments/{}/{action}", self.id);
        let reply = self.yamada.post(&path, serde_json::json!({})).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
}

/// Waits until the relay holds `n` connections.
async fn participants_become(app: &TestApp, n: usize) {
    for _ in 0..100 {
        if app.state.relay.participants() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.state.relay.participants(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_enkakus_signalling_follows_the_appointment() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let call = Call::book(&app).await;
    let (clinic_token, patient_token) = (&call.clinic_token, &call.patient_token);

    // The clinic's socket needs a staff session; a patient link is not a clinic link.
    let anonymous = app
        .http
        .get(format!("{}/api/v1/media/clinic/{clinic_token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = call
        .yamada
        .get(&format!("/api/v1/media/clinic/{patient_token}"))
        .await;
    assert_eq!(wrong.status, 404);
    let plain = call
        .yamada
        .get(&format!("/api/v1/media/clinic/{clinic_token}"))
        .await;
    plain.assert_problem(426, "upgrade_required");

    let mut clinic_socket = call.clinic_socket(&app).await;
    assert_eq!(
        clinic_socket.ice_servers,
        serde_json::json!([]),
        "none on the embedded default"
    );
    let clinic = Peer::connect(102, 109, &mut clinic_socket).await;
    let mut patient_socket = call.patient_socket(&app).await;
    let patient = Peer::connect(100, 111, &mut patient_socket).await;
    assert!(
        clinic.relay_candidates() > 0,
        "the relay's candidates came by trickle"
    );

    tokio::join!(clinic.send(0, 50), patient.send(0, 50));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        clinic.received(Kind::Video).0 > 20,
        "the doctor sees the patient arrive"
    );
    assert_eq!(clinic.received(Kind::Audio).0, 0);
    assert_eq!(patient.received(Kind::Video).0, 0);

    // Starting the call is a command; its event reaches the relay and both pages.
    call.command("start-call").await;
    assert_eq!(clinic_socket.next().await["type"], "started");
    assert_eq!(patient_socket.next().await["type"], "started");
    tokio::join!(clinic.send(50, 50), patient.send(50, 50));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(patient.received(Kind::Video).0 > 20);
    assert!(patient.received(Kind::Audio).0 > 20);
    assert!(clinic.received(Kind::Audio).0 > 20);

    call.command("end-call").await;
    assert_eq!(clinic_socket.next().await["type"], "ended");
    assert_eq!(patient_socket.next().await["type"], "ended");
    participants_become(&app, 0).await;

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

/// The `a=ice-ufrag` of a description: it changes when ICE restarts.
fn ice_ufrag(description: &RTCSessionDescription) -> String {
    let line = description
        .sdp
        .lines()
        .find_map(|line| line.strip_prefix("a=ice-ufrag:"));
    line.expect("an ICE username fragment").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_ice_restart_on_the_same_socket_the_media_keeps_flowing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let call = Call::book(&app).await;
    let mut clinic_socket = call.clinic_socket(&app).await;
    let clinic = Peer::connect(102, 109, &mut clinic_socket).await;
    let mut patient_socket = call.patient_socket(&app).await;
    let patient = Peer::connect(100, 111, &mut patient_socket).await;
    call.command("start-call").await;
    assert_eq!(clinic_socket.next().await["type"], "started");
    assert_eq!(patient_socket.next().await["type"], "started");

    let mut sent = 0;
    // Each side in turn changes networks, as a phone leaving Wi-Fi does.
    for (moving, socket) in [(&patient, &mut patient_socket), (&clinic, &mut clinic_socket)] {
        let before = moving.connection.remote_description().await.unwrap();
        let answer = moving.restart_ice(socket).await;
        assert_ne!(
            ice_ufrag(&answer),
            ice_ufrag(&before),
            "the relay restarted ICE too"
        );
        assert_eq!(
            app.state.relay.participants(),
            2,
            "the same legs: nobody left or joined"
        );
        // The new candidates pair up within moments on loopback.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (to_clinic, to_patient) = (clinic.received(Kind::Video).0, patient.received(Kind::Video).0);
        tokio::join!(clinic.send(sent, 50), patient.send(sent, 50));
        sent += 50;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (video, types) = clinic.received(Kind::Video);
        assert!(video > to_clinic + 20, "{to_clinic} then {video}");
        assert_eq!(types, [102], "the leg's numbering is kept");
        let (video, types) = patient.received(Kind::Video);
        assert!(video > to_patient + 20, "{to_patient} then {video}");
        assert_eq!(types, [100]);
    }
    let _ = clinic.connection.close().await;
    let _ = patient.connection.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_page_of_the_same_role_replaces_the_first_which_is_told() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let call = Call::book(&app).await;
    let mut first_socket = call.patient_socket(&app).await;
    let first = Peer::connect(100, 111, &mut first_socket).await;
    participants_become(&app, 1).await;

    // The same link opened on another device.
    let mut second_socket = call.patient_socket(&app).await;
    let second = Peer::connect(98, 111, &mut second_socket).await;
    assert_eq!(first_socket.next().await["type"], "replaced");
    first_socket.closes().await;
    // The first socket's end does not take the second page's place with it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.state.relay.participants(), 1);

    // The second page is in the call: the doctor sees it.
    let mut clinic_socket = call.clinic_socket(&app).await;
    let clinic = Peer::connect(102, 109, &mut clinic_socket).await;
    second.send(0, 50).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(clinic.received(Kind::Video).0 > 20);
    for peer in [first, second, clinic] {
        let _ = peer.connection.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_page_is_greeted_with_turn_credentials_of_its_own() {
    const SECRET: &str = "shared-with-the-turn-server";
    const TTL: Duration = Duration::from_secs(600);
    let store = TestStore::new(Backend::Sqlite).await;
    let mut config = store.config(([127, 0, 0, 1], 0).into());
    config.ice_servers = IceServers::new(
        vec!["stun:stun.example.jp:3478".into()],
        vec![
            "turn:turn.example.jp:3478".into(),
            "turns:turn.example.jp:5349".into(),
        ],
        Some(SECRET.to_owned().into()),
        TTL,
    )
    .unwrap();
    let app = TestApp::spawn_with(store, config).await;
    let call = Call::book(&app).await;

    let mut usernames = Vec::new();
    for socket in [call.patient_socket(&app).await, call.clinic_socket(&app).await] {
        let servers = &socket.ice_servers;
        assert_eq!(
            servers[0],
            serde_json::json!({ "urls": ["stun:stun.example.jp:3478"] })
        );
        let turn = &servers[1];
        assert_eq!(
            turn["urls"],
            serde_json::json!(["turn:turn.example.jp:3478", "turns:turn.example.jp:5349"])
        );
        let username = turn["username"].as_str().unwrap().to_owned();
        let (expiry, participant) = username.split_once(':').unwrap();
        let expected = (SystemTime::now() + TTL)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(expected.abs_diff(expiry.parse().unwrap()) <= 5, "{expiry}");
        // Opaque: nothing of the link or the person goes to the TURN server.
        assert_eq!(participant.len(), 32);
        assert!(!call.patient_token.contains(participant) && !call.clinic_token.contains(participant));
        assert_eq!(turn["credential"], turn_credential(SECRET.as_bytes(), &username));
        usernames.push(username);
    }
    assert_ne!(usernames[0], usernames[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_floods_its_socket_is_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let call = Call::book(&app).await;

    // Before the offer, nothing else is taken.
    let mut early = call.patient_socket(&app).await;
    early.send(serde_json::json!({ "type": "candidate", "candidate": null }));
    let refused = early.next().await;
    assert_eq!(
        refused,
        serde_json::json!({ "type": "refused", "code": "validation_failed" })
    );
    early.closes().await;

    // After it, a page's candidates are bounded.
    let mut socket = call.patient_socket(&app).await;
    let peer = Peer::connect(100, 111, &mut socket).await;
    let junk =
        serde_json::json!({ "candidate": "candidate:1 1 udp 1 198.51.100.1 9 typ host", "sdpMLineIndex": 0 });
    for _ in 0..60 {
        socket.send(serde_json::json!({ "type": "candidate", "candidate": junk }));
    }
    let refused = socket.next().await;
    assert_eq!(
        refused,
        serde_json::json!({ "type": "refused", "code": "rate_limited" })
    );
    socket.closes().await;
    participants_become(&app, 0).await;
    let _ = peer.connection.close().await;
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
    let call = Call::book(&app).await;
    let (yamada, id) = (&call.yamada, &call.id);
    let appointment = yamada.get(&format!("/api/v1/appointments/{id}")).await;
    let etag = |reply: &enkaku_tests::Reply| reply.headers["etag"].to_str().unwrap().to_owned();
    let before = etag(&appointment);

    let mut socket = call.patient_socket(&app).await;
    let patient = Peer::connect(100, 111, &mut socket).await;
    // Recorded once the relay has answered; the page may be quicker than the append.
    for _ in 0..50 {
        if !presence_log(yamada, id).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        presence_log(yamada, id).await,
        [("patient".into(), "joined".into())]
    );
    let presence = yamada.get(&format!("/api/v1/appointments/{id}/presence")).await;
    assert!(presence.body["patient_since"].is_string(), "{}", presence.body);
    assert!(presence.body["clinic_since"].is_null());
    app.projected().await;
    let day = enkaku_tests::tokyo_date(appointment.body["start_at"].as_str().unwrap());
    let doctor = appointment.body["doctor_id"].as_str().unwrap();
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
    socket.close();
    let _ = patient.connection.close().await;
    let mut socket = call.patient_socket(&app).await;
    let patient = Peer::connect(100, 111, &mut socket).await;
    tokio::time::sleep(enkaku_api::presence::GRACE + Duration::from_secs(1)).await;
    assert_eq!(
        presence_log(yamada, id).await,
        [("patient".into(), "joined".into())]
    );

    // Gone for good: recorded once the grace has passed.
    socket.close();
    let _ = patient.connection.close().await;
    tokio::time::sleep(enkaku_api::presence::GRACE + Duration::from_secs(1)).await;
    assert_eq!(
        presence_log(yamada, id).await,
        [
            ("patient".into(), "joined".into()),
            ("patient".into(), "closed".into())
        ]
    );
    let presence = yamada.get(&format!("/api/v1/appointments/{id}/presence")).await;
    assert!(presence.body["patient_since"].is_null(), "{}", presence.body);
}
