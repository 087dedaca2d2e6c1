//! A WebRTC peer standing in for a browser (the call screen or the patient's page): it sends
//! a camera and a microphone track of its own numbering, counts what it receives and the
//! keyframe requests that reach its camera, and asks for keyframes of what it receives. Like
//! a page it offers before it has gathered and trickles its candidates both ways, through any
//! `Signalling` (the relay's API directly, or enkaku's WebSocket). The media benchmark
//! (`examples/mediabench.rs`) drives many of them, sending its own payloads and watching every
//! packet that arrives.

use anyhow::Context;
use enkaku_media::codecs::codec;
use enkaku_media::keyframes::{self, MarkKeyframeRequests};
use enkaku_media::relay::IceCandidate;
use rtc::interceptor::{Registry, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine,
};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState,
};
use webrtc::runtime::Runtime;

pub use rtc::rtp_transceiver::rtp_sender::RtpCodecKind as Kind;

/// Sees every RTP packet a peer receives, with its kind.
pub type Observer = Arc<dyn Fn(Kind, &rtp::Packet) + Send + Sync>;

/// What a peer received, per kind: packets, and the payload types they came with.
#[derive(Default)]
struct Received {
    packets: HashMap<RtpCodecKind, usize>,
    payload_types: HashMap<RtpCodecKind, Vec<u8>>,
    /// The received video and its SSRC, to ask for keyframes of.
    video: Option<(Arc<dyn TrackRemote>, u32)>,
}

/// How a peer reaches the relay: offers out and answers back, candidates both ways (`None`
/// ends one side's gathering).
#[async_trait::async_trait]
pub trait Signalling: Send {
    /// Takes an offer to the relay and brings back its answer.
    async fn exchange(&mut self, offer: RTCSessionDescription) -> anyhow::Result<RTCSessionDescription>;
    /// Where the peer's own candidates go; they must reach the relay after the offer.
    fn to_relay(&self) -> UnboundedSender<Option<IceCandidate>>;
    /// The relay's candidates, handed over once.
    fn take_relay_candidates(&mut self) -> UnboundedReceiver<Option<IceCandidate>>;
}

/// Candidates one way: the sending half goes to whoever gathers them, the receiving half is
/// handed over once.
pub struct Trickle {
    pub tx: UnboundedSender<Option<IceCandidate>>,
    rx: Option<UnboundedReceiver<Option<IceCandidate>>>,
}

impl Default for Trickle {
    fn default() -> Self {
        let (tx, rx) = unbounded_channel();
        Self { tx, rx: Some(rx) }
    }
}

impl Trickle {
    /// The receiving half, the first time; `None` after.
    pub fn take(&mut self) -> Option<UnboundedReceiver<Option<IceCandidate>>> {
        self.rx.take()
    }
}

struct Handler {
    runtime: Arc<dyn Runtime>,
    received: Arc<Mutex<Received>>,
    observer: Option<Observer>,
    candidates: UnboundedSender<Option<IceCandidate>>,
    connected: tokio::sync::mpsc::Sender<()>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let init = event.candidate.to_json().expect("a candidate of its own");
        let _ = self.candidates.send(Some(IceCandidate {
            candidate: init.candidate,
            sdp_mid: init.sdp_mid,
            sdp_mline_index: init.sdp_mline_index,
            username_fragment: None,
        }));
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.candidates.send(None);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if state == RTCPeerConnectionState::Connected {
            let _ = self.connected.try_send(());
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let received = self.received.clone();
        let observer = self.observer.clone();
        self.runtime.spawn(Box::pin(async move {
            let kind = track.kind().await;
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                    if let Some(observe) = &observer {
                        observe(kind, &packet);
                    }
                    let mut received = received.lock().unwrap();
                    if kind == RtpCodecKind::Video && received.video.is_none() {
                        received.video = Some((track.clone(), packet.header.ssrc));
                    }
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
pub struct Peer {
    pub connection: Arc<dyn PeerConnection>,
    /// Per kind: the track, its SSRC, the payload type its leg negotiated and a payload of that
    /// codec (for video, the start of a keyframe).
    sending: Vec<(RtpCodecKind, Arc<TrackLocalStaticRTP>, u32, u8, bytes::Bytes)>,
    received: Arc<Mutex<Received>>,
    /// Keyframe requests (PLI or FIR) that reached this peer's camera.
    keyframe_requests: Arc<AtomicUsize>,
    /// The relay's candidates added so far (ICE could connect on the peer's alone).
    relay_candidates: Arc<AtomicUsize>,
}

/// A video codec a peer offers, at a payload type of its own.
pub fn vp8(payload_type: u8) -> RTCRtpCodecParameters {
    codec(MIME_TYPE_VP8, 90_000, 0, "", payload_type)
}

/// H.264 as Safari offers it first: constrained baseline, packetization mode 1.
pub fn h264(payload_type: u8) -> RTCRtpCodecParameters {
    let fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
    codec(MIME_TYPE_H264, 90_000, 0, fmtp, payload_type)
}

fn opus(payload_type: u8) -> RTCRtpCodecParameters {
    codec(MIME_TYPE_OPUS, 48_000, 2, "", payload_type)
}

/// The first bytes of a keyframe of `mime_type` (a VP8 key frame, an H.264 IDR slice); for
/// audio, anything.
fn keyframe_payload(mime_type: &str) -> bytes::Bytes {
    let first = if mime_type.eq_ignore_ascii_case(MIME_TYPE_H264) {
        0x65
    } else {
        0x10
    };
    bytes::Bytes::from(vec![first, 0, 0, 0, 0, 0, 0, 0])
}

impl Peer {
    /// Connects with VP8 and Opus at payload types of its own: the offer goes before any
    /// candidate, and the candidates of both sides follow through `signalling`.
    pub async fn connect(video_pt: u8, audio_pt: u8, signalling: &mut impl Signalling) -> Self {
        Self::connect_offering(&[vp8(video_pt)], audio_pt, signalling).await
    }

    /// Connects with Opus and `video`'s codecs; it sends video with whichever the answer
    /// kept. (webrtc-rs offers only the codec of the track, `video`'s first.)
    pub async fn connect_offering(
        video: &[RTCRtpCodecParameters],
        audio_pt: u8,
        signalling: &mut impl Signalling,
    ) -> Self {
        Self::try_connect(video, audio_pt, None, signalling)
            .await
            .expect("connected to the relay")
    }

    /// As `connect_offering`, with `observer` seeing every packet received; a peer that does
    /// not connect is an error, not a panic.
    pub async fn try_connect(
        video: &[RTCRtpCodecParameters],
        audio_pt: u8,
        observer: Option<Observer>,
        signalling: &mut impl Signalling,
    ) -> anyhow::Result<Self> {
        let runtime = webrtc::runtime::default_runtime().context("no async runtime")?;
        let received = Arc::new(Mutex::new(Received::default()));
        let (connected, mut connected_rx) = tokio::sync::mpsc::channel(1);
        let mut media_engine = MediaEngine::default();
        for codec in video {
            media_engine.register_codec(codec.clone(), RtpCodecKind::Video)?;
        }
        media_engine.register_codec(opus(audio_pt), RtpCodecKind::Audio)?;
        let kinds = [
            (
                RtpCodecKind::Video,
                video.first().context("no video codec")?.clone(),
            ),
            (RtpCodecKind::Audio, opus(audio_pt)),
        ];
        let connection: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_media_engine(media_engine)
                .with_interceptor_registry(Registry::new().with(
                    Slot::from(keyframes::MARKER_SLOT),
                    MarkKeyframeRequests::default(),
                ))
                .with_handler(Arc::new(Handler {
                    runtime: runtime.clone(),
                    received: received.clone(),
                    observer,
                    candidates: signalling.to_relay(),
                    connected,
                }))
                .with_runtime(runtime.clone())
                .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
                .build()
                .await?,
        );
        let mut tracks = Vec::new();
        let keyframe_requests = Arc::new(AtomicUsize::new(0));
        for (kind, codec) in kinds {
            let ssrc = rand::random::<u32>();
            let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                "peer".to_owned(),
                format!("{kind}"),
                format!("{kind}"),
                kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec: codec.rtp_codec,
                    ..Default::default()
                }],
            )));
            let sender = connection.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
            if kind == RtpCodecKind::Video {
                let (track, count) = (track.clone(), keyframe_requests.clone());
                runtime.spawn(Box::pin(async move {
                    while let Some(event) = track.poll().await {
                        if let TrackLocalEvent::OnRtcpPacket(packets) = event
                            && keyframes::asks_for_keyframe(&packets)
                        {
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }));
            }
            tracks.push((kind, track, ssrc, sender));
        }
        // The offer as created carries no candidate: they all go by trickle.
        let offer = connection.create_offer(None).await?;
        connection.set_local_description(offer.clone()).await?;
        let answer = signalling.exchange(offer).await?;
        anyhow::ensure!(
            !answer.sdp.contains("a=candidate"),
            "the relay answers before it has gathered"
        );
        connection.set_remote_description(answer).await?;
        let mut from_relay = signalling.take_relay_candidates();
        // Weak: the candidates must not keep a closed peer's sockets open.
        let trickled = Arc::downgrade(&connection);
        let relay_candidates = Arc::new(AtomicUsize::new(0));
        let added = relay_candidates.clone();
        runtime.spawn(Box::pin(async move {
            while let Some(candidate) = from_relay.recv().await {
                let (Some(candidate), Some(connection)) = (candidate, trickled.upgrade()) else {
                    continue;
                };
                let init = RTCIceCandidateInit {
                    candidate: candidate.candidate,
                    sdp_mid: candidate.sdp_mid,
                    sdp_mline_index: candidate.sdp_mline_index,
                    ..Default::default()
                };
                // One the peer cannot use is a path fewer; the connection timeout tells.
                if connection.add_ice_candidate(init).await.is_ok() {
                    added.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
        tokio::time::timeout(Duration::from_secs(10), connected_rx.recv())
            .await
            .context("connecting to the relay")?;
        let mut sending = Vec::new();
        for (kind, track, ssrc, sender) in tracks {
            let parameters = sender.get_parameters().await?;
            let negotiated = &parameters.rtp_parameters.codecs[0];
            let offered = if kind == RtpCodecKind::Video {
                video.iter().map(|c| c.payload_type).collect()
            } else {
                vec![audio_pt]
            };
            anyhow::ensure!(
                offered.contains(&negotiated.payload_type),
                "{kind}: its own numbering"
            );
            let payload = keyframe_payload(&negotiated.rtp_codec.mime_type);
            sending.push((kind, track, ssrc, negotiated.payload_type, payload));
        }
        Ok(Self {
            connection,
            sending,
            received,
            keyframe_requests,
            relay_candidates,
        })
    }

    /// Keyframe requests that reached this peer's camera so far.
    pub fn keyframe_requests(&self) -> usize {
        self.keyframe_requests.load(Ordering::SeqCst)
    }

    /// Ask for a keyframe of the video received, as a browser that lost a frame does.
    pub async fn request_keyframe(&self) {
        let video = self.received.lock().unwrap().video.clone();
        let (track, media_ssrc) = video.expect("video received before asking for a keyframe");
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc,
        };
        track.write_rtcp(vec![Box::new(pli)]).await.unwrap();
    }

    pub fn relay_candidates(&self) -> usize {
        self.relay_candidates.load(Ordering::Relaxed)
    }

    /// Restarts ICE as a page does after a network change: a new offer on the same
    /// connection, answered on the same leg. Returns the relay's answer.
    pub async fn restart_ice(&self, signalling: &mut impl Signalling) -> RTCSessionDescription {
        self.connection.restart_ice().await.unwrap();
        let offer = self.connection.create_offer(None).await.unwrap();
        self.connection
            .set_local_description(offer.clone())
            .await
            .unwrap();
        let answer = signalling.exchange(offer).await.unwrap();
        self.connection
            .set_remote_description(answer.clone())
            .await
            .unwrap();
        answer
    }

    /// Send one packet of `kind` with `payload` (`None`: the start of a keyframe of its codec).
    pub async fn write(
        &self,
        kind: RtpCodecKind,
        sequence_number: u16,
        timestamp: u32,
        payload: Option<bytes::Bytes>,
    ) -> anyhow::Result<()> {
        let (_, track, ssrc, payload_type, keyframe) = self
            .sending
            .iter()
            .find(|(sending, ..)| *sending == kind)
            .context("no track of that kind")?;
        let packet = rtp::Packet {
            header: rtp::Header {
                version: 2,
                payload_type: *payload_type,
                sequence_number,
                timestamp,
                ssrc: *ssrc,
                ..Default::default()
            },
            payload: payload.unwrap_or_else(|| keyframe.clone()),
        };
        track.write_rtp(packet).await?;
        Ok(())
    }

    /// Send `n` packets of each kind, 10 ms apart.
    pub async fn send(&self, first: u16, n: u16) {
        for i in first..first + n {
            for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
                self.write(kind, i, u32::from(i) * 3000, None).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn received(&self, kind: RtpCodecKind) -> (usize, Vec<u8>) {
        let received = self.received.lock().unwrap();
        (
            received.packets.get(&kind).copied().unwrap_or(0),
            received.payload_types.get(&kind).cloned().unwrap_or_default(),
        )
    }
}
