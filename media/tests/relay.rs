//! The relay between two real WebRTC peers on loopback, standing in for the call screen and
//! the patient's page: what reaches whom before and after the start (R18), renumbered for the
//! receiving leg, and nothing left open once the room closes.

use enkaku_domain::ids::AppointmentId;
use enkaku_media::forward::Role;
use enkaku_media::relay::{Relay, RelayConfig};
use enkaku_media::{CallSignal, CallSignals};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine};
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionState,
};
use webrtc::runtime::Runtime;

/// What a peer received, per kind: packets, and the payload types they came with.
#[derive(Default)]
struct Received {
    packets: HashMap<RtpCodecKind, usize>,
    payload_types: HashMap<RtpCodecKind, Vec<u8>>,
}

struct Handler {
    runtime: Arc<dyn Runtime>,
    received: Arc<Mutex<Received>>,
    gathered: tokio::sync::mpsc::Sender<()>,
    connected: tokio::sync::mpsc::Sender<()>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.try_send(());
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if state == RTCPeerConnectionState::Connected {
            let _ = self.connected.try_send(());
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let received = self.received.clone();
        self.runtime.spawn(Box::pin(async move {
            let kind = track.kind().await;
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                    let mut received = received.lock().unwrap();
                    *received.packets.entry(kind).or_default() += 1;
                    let types = received.payload_types.entry(kind).or_default();
                    if !types.contains(&packet.header.payload_type) {
                        types.push(packet.header.payload_type);
                    }
                }
            }
        }));
    }
}

/// A browser stand-in that sends a camera and a microphone track.
struct Peer {
    connection: Arc<dyn PeerConnection>,
    /// Per kind: the track, its SSRC and the payload type its leg negotiated.
    sending: Vec<(RtpCodecKind, Arc<TrackLocalStaticRTP>, u32, u8)>,
    received: Arc<Mutex<Received>>,
}

fn codec(kind: RtpCodecKind, payload_type: u8) -> RTCRtpCodecParameters {
    let (mime_type, clock_rate, channels) = match kind {
        RtpCodecKind::Audio => (MIME_TYPE_OPUS, 48_000, 2),
        _ => (MIME_TYPE_VP8, 90_000, 0),
    };
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime_type.to_owned(),
            clock_rate,
            channels,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        },
        payload_type,
    }
}

impl Peer {
    /// Joins `role` to the relay's room with VP8 and Opus at payload types of its own.
    async fn join(relay: &Relay, room: AppointmentId, role: Role, video_pt: u8, audio_pt: u8) -> Self {
        let runtime = webrtc::runtime::default_runtime().unwrap();
        let received = Arc::new(Mutex::new(Received::default()));
        let (gathered, mut gathered_rx) = tokio::sync::mpsc::channel(1);
        let (connected, mut connected_rx) = tokio::sync::mpsc::channel(1);
        let mut media_engine = MediaEngine::default();
        let kinds = [(RtpCodecKind::Video, video_pt), (RtpCodecKind::Audio, audio_pt)];
        for (kind, pt) in kinds {
            media_engine.register_codec(codec(kind, pt), kind).unwrap();
        }
        let connection: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_media_engine(media_engine)
                .with_handler(Arc::new(Handler {
                    runtime: runtime.clone(),
                    received: received.clone(),
                    gathered,
                    connected,
                }))
                .with_runtime(runtime)
                .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
                .build()
                .await
                .unwrap(),
        );
        let mut tracks = Vec::new();
        for (kind, pt) in kinds {
            let ssrc = rand::random::<u32>();
            let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                format!("{role:?}"),
                format!("{kind}"),
                format!("{kind}"),
                kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec: codec(kind, pt).rtp_codec,
                    ..Default::default()
                }],
            )));
            let sender = connection
                .add_track(track.clone() as Arc<dyn TrackLocal>)
                .await
                .unwrap();
            tracks.push((kind, track, ssrc, sender));
        }
        let offer = connection.create_offer(None).await.unwrap();
        connection.set_local_description(offer).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), gathered_rx.recv())
            .await
            .expect("gathered");
        let offer = connection.local_description().await.unwrap();
        let answer = relay
            .join(room, role, offer, false)
            .await
            .expect("the relay answers");
        connection.set_remote_description(answer).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), connected_rx.recv())
            .await
            .expect("connected to the relay");
        let mut sending = Vec::new();
        for (kind, track, ssrc, sender) in tracks {
            let parameters = sender.get_parameters().await.unwrap();
            let negotiated = parameters.rtp_parameters.codecs[0].payload_type;
            assert_eq!(
                negotiated,
                if kind == RtpCodecKind::Video {
                    video_pt
                } else {
                    audio_pt
                }
            );
            sending.push((kind, track, ssrc, negotiated));
        }
        Self {
            connection,
            sending,
            received,
        }
    }

    /// Send `n` packets of each kind, 10 ms apart.
    async fn send(&self, first: u16, n: u16) {
        for i in first..first + n {
            for (_, track, ssrc, payload_type) in &self.sending {
                let packet = rtp::Packet {
                    header: rtp::Header {
                        version: 2,
                        payload_type: *payload_type,
                        sequence_number: i,
                        timestamp: u32::from(i) * 3000,
                        ssrc: *ssrc,
                        ..Default::default()
                    },
                    payload: bytes::Bytes::from(vec![0x10, 0, 0, 0, 0, 0, 0, 0]),
                };
                track.write_rtp(packet).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn received(&self, kind: RtpCodecKind) -> (usize, Vec<u8>) {
        let received = self.received.lock().unwrap();
        (
            received.packets.get(&kind).copied().unwrap_or(0),
            received.payload_types.get(&kind).cloned().unwrap_or_default(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_start_the_clinic_sees_the_patient_then_both_ways_until_the_room_closes() {
    let relay = Arc::new(
        Relay::new(RelayConfig {
            addr: "127.0.0.1".parse().unwrap(),
        })
        .unwrap(),
    );
    // The call's events reach the relay as they reach it in enkaku: as signals from the feed.
    let signals = CallSignals::default();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let following = tokio::spawn({
        let (relay, signals) = (relay.clone(), signals.subscribe());
        async move { relay.follow(signals, stopped).await }
    });
    let room = AppointmentId(uuid::Uuid::now_v7());
    // Each browser numbers its codecs its own way; the relay's are different again.
    let clinic = Peer::join(&relay, room, Role::Clinic, 102, 109).await;
    let patient = Peer::join(&relay, room, Role::Patient, 100, 111).await;
    assert_eq!(relay.participants(), 2);

    tokio::join!(clinic.send(0, 50), patient.send(0, 50));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (video, types) = clinic.received(RtpCodecKind::Video);
    assert!(video > 20, "the doctor sees the patient arrive: {video} packets");
    assert_eq!(types, [102], "renumbered for the clinic's leg");
    assert_eq!(
        clinic.received(RtpCodecKind::Audio).0,
        0,
        "but does not hear them yet"
    );
    assert_eq!(
        patient.received(RtpCodecKind::Video).0,
        0,
        "the patient receives nothing"
    );
    assert_eq!(patient.received(RtpCodecKind::Audio).0, 0);

    signals.publish(CallSignal::Started(room));
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::join!(clinic.send(50, 50), patient.send(50, 50));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (audio, types) = clinic.received(RtpCodecKind::Audio);
    assert!(audio > 20 && types == [109], "{audio} {types:?}");
    let (video, types) = patient.received(RtpCodecKind::Video);
    assert!(video > 20 && types == [100], "{video} {types:?}");
    let (audio, types) = patient.received(RtpCodecKind::Audio);
    assert!(audio > 20 && types == [111], "{audio} {types:?}");

    // The patient reloads: a new connection, numbered its own way, takes the old one's place,
    // and the doctor keeps receiving one stream.
    let before = clinic.received(RtpCodecKind::Video).0;
    let reloaded = Peer::join(&relay, room, Role::Patient, 98, 111).await;
    assert_eq!(relay.participants(), 2, "replaced, not added");
    reloaded.send(0, 50).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (video, types) = clinic.received(RtpCodecKind::Video);
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
    let relay = Relay::new(RelayConfig {
        addr: "127.0.0.1".parse().unwrap(),
    })
    .unwrap();
    let call = || async {
        let room = AppointmentId(uuid::Uuid::now_v7());
        let clinic = Peer::join(&relay, room, Role::Clinic, 96, 111).await;
        let patient = Peer::join(&relay, room, Role::Patient, 96, 111).await;
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
