//! A WebRTC peer standing in for a browser (the call screen or the patient's page): it sends
//! a camera and a microphone track of its own numbering and counts what it receives. The
//! media benchmark (`examples/mediabench.rs`) drives many of them, sending its own payloads and
//! watching every packet that arrives.

use anyhow::Context;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine};
use rtc::peer_connection::sdp::RTCSessionDescription;
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

pub use rtc::rtp_transceiver::rtp_sender::RtpCodecKind as Kind;

/// Sees every RTP packet a peer receives, with its kind.
pub type Observer = Arc<dyn Fn(Kind, &rtp::Packet) + Send + Sync>;

/// What a peer received, per kind: packets, and the payload types they came with.
#[derive(Default)]
struct Received {
    packets: HashMap<RtpCodecKind, usize>,
    payload_types: HashMap<RtpCodecKind, Vec<u8>>,
}

struct Handler {
    runtime: Arc<dyn Runtime>,
    received: Arc<Mutex<Received>>,
    observer: Option<Observer>,
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
        let observer = self.observer.clone();
        self.runtime.spawn(Box::pin(async move {
            let kind = track.kind().await;
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                    if let Some(observe) = &observer {
                        observe(kind, &packet);
                    }
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
pub struct Peer {
    pub connection: Arc<dyn PeerConnection>,
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
    /// Connects with VP8 and Opus at payload types of its own; `exchange` takes the offer
    /// (with every candidate) to the relay and brings back its answer.
    pub async fn connect(
        video_pt: u8,
        audio_pt: u8,
        exchange: impl AsyncFnOnce(RTCSessionDescription) -> RTCSessionDescription,
    ) -> Self {
        Self::try_connect(video_pt, audio_pt, None, async move |offer| {
            Ok(exchange(offer).await)
        })
        .await
        .unwrap()
    }

    /// As `connect`, with `observer` seeing every packet received; a peer that does not
    /// connect is an error, not a panic.
    pub async fn try_connect(
        video_pt: u8,
        audio_pt: u8,
        observer: Option<Observer>,
        exchange: impl AsyncFnOnce(RTCSessionDescription) -> anyhow::Result<RTCSessionDescription>,
    ) -> anyhow::Result<Self> {
        let runtime = webrtc::runtime::default_runtime().context("no async runtime")?;
        let received = Arc::new(Mutex::new(Received::default()));
        let (gathered, mut gathered_rx) = tokio::sync::mpsc::channel(1);
        let (connected, mut connected_rx) = tokio::sync::mpsc::channel(1);
        let mut media_engine = MediaEngine::default();
        let kinds = [(RtpCodecKind::Video, video_pt), (RtpCodecKind::Audio, audio_pt)];
        for (kind, pt) in kinds {
            media_engine.register_codec(codec(kind, pt), kind)?;
        }
        let connection: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_media_engine(media_engine)
                .with_handler(Arc::new(Handler {
                    runtime: runtime.clone(),
                    received: received.clone(),
                    observer,
                    gathered,
                    connected,
                }))
                .with_runtime(runtime)
                .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
                .build()
                .await?,
        );
        let mut tracks = Vec::new();
        for (kind, pt) in kinds {
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
                    codec: codec(kind, pt).rtp_codec,
                    ..Default::default()
                }],
            )));
            let sender = connection.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
            tracks.push((kind, track, ssrc, sender));
        }
        let offer = connection.create_offer(None).await?;
        connection.set_local_description(offer).await?;
        tokio::time::timeout(Duration::from_secs(5), gathered_rx.recv())
            .await
            .context("gathering candidates")?;
        let offer = connection.local_description().await.context("no offer")?;
        let answer = exchange(offer).await?;
        connection.set_remote_description(answer).await?;
        tokio::time::timeout(Duration::from_secs(10), connected_rx.recv())
            .await
            .context("connecting to the relay")?;
        let mut sending = Vec::new();
        for (kind, track, ssrc, sender) in tracks {
            let parameters = sender.get_parameters().await?;
            let negotiated = parameters.rtp_parameters.codecs[0].payload_type;
            let offered = if kind == RtpCodecKind::Video {
                video_pt
            } else {
                audio_pt
            };
            anyhow::ensure!(
                negotiated == offered,
                "{kind} negotiated {negotiated}, not {offered}"
            );
            sending.push((kind, track, ssrc, negotiated));
        }
        Ok(Self {
            connection,
            sending,
            received,
        })
    }

    /// Send one packet of `kind` with this payload.
    pub async fn write(
        &self,
        kind: RtpCodecKind,
        sequence_number: u16,
        timestamp: u32,
        payload: bytes::Bytes,
    ) -> anyhow::Result<()> {
        let (_, track, ssrc, payload_type) = self
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
            payload,
        };
        track.write_rtp(packet).await?;
        Ok(())
    }

    /// Send `n` packets of each kind, 10 ms apart.
    pub async fn send(&self, first: u16, n: u16) {
        // The start of a VP8 keyframe, so the relay sees what a camera sends first.
        let payload = bytes::Bytes::from_static(&[0x10, 0, 0, 0, 0, 0, 0, 0]);
        for i in first..first + n {
            for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
                self.write(kind, i, u32::from(i) * 3000, payload.clone())
                    .await
                    .unwrap();
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
