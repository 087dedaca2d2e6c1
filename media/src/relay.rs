//! The relay's rooms: one per online appointment, one peer connection per participant (the
//! clinic's call screen, the patient's page), RTP forwarded between them by the rules of
//! `forward`.
//!
//! Rooms live in this process's memory: two participants of one call must reach the same
//! process (docs/architecture.md says how several nodes share calls).
//!
//! Signalling is trickled: a join answers at once, and the relay's own candidates follow as
//! `LegEvent`s while the page's are added as they come. A leg lives as long as its
//! participant's signalling holds it: a second offer on it (an ICE restart after a network
//! change) renegotiates the same connection, keeping its tracks and its forwarding state.

use crate::CallSignal;
use crate::codecs;
use crate::forward::{Codec, MediaKind, Negotiated, Rewriter, VideoCodec, flows};
use crate::keyframes::{self, KeyframeSource, MarkKeyframeRequests};
use crate::ports::{PortRange, Ports};
use enkaku_domain::ids::AppointmentId;
use enkaku_domain::presence::CallRole;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::Slot;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RTCRtpParameters, RtpCodecKind,
};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, Registry,
};
use webrtc::runtime::Runtime;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("the browser's offer cannot be used: {0}")]
    BadOffer(String),
    #[error("the relay cannot take a participant now: {0}")]
    Unavailable(String),
    #[error("the browser's candidate cannot be used: {0}")]
    BadCandidate(String),
    /// The leg was replaced, failed or its room closed: a new join is needed.
    #[error("the participant's connection has left the room")]
    Left,
}

/// An ICE candidate as signalling carries it (the browser's `RTCIceCandidateInit`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default)]
    pub sdp_mid: Option<String>,
    #[serde(default, rename = "sdpMLineIndex")]
    pub sdp_mline_index: Option<u16>,
    #[serde(default)]
    pub username_fragment: Option<String>,
}

/// What a leg tells its participant's signalling after the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegEvent {
    /// One of the relay's own candidates; `None` once it has gathered them all (again after
    /// each ICE restart).
    Candidate(Option<IceCandidate>),
    /// Another connection of the same role took this one's place; this one is closed.
    Replaced,
}

/// A participant's place in a room, as its signalling holds it.
pub struct Joined {
    pub answer: RTCSessionDescription,
    pub leg: LegHandle,
    pub events: tokio::sync::mpsc::UnboundedReceiver<LegEvent>,
}

/// A browser's offer, from its SDP.
pub fn offer(sdp: String) -> Result<RTCSessionDescription, RelayError> {
    RTCSessionDescription::offer(sdp).map_err(|e| RelayError::BadOffer(e.to_string()))
}

/// Where the relay listens for media.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// The address of the relay's ICE host candidates (127.0.0.1 on the embedded default).
    pub addr: IpAddr,
    /// The UDP ports its connections bind, one each; `None` for any port the system gives.
    pub ports: Option<PortRange>,
}

fn kind_of(kind: RtpCodecKind) -> Option<MediaKind> {
    match kind {
        RtpCodecKind::Audio => Some(MediaKind::Audio),
        RtpCodecKind::Video => Some(MediaKind::Video),
        _ => None,
    }
}

/// What one leg negotiated, in the terms `forward` works with.
fn negotiated(parameters: &RTCRtpParameters) -> Negotiated {
    Negotiated {
        payload_types: parameters
            .codecs
            .iter()
            .map(|c| {
                let codec = &c.rtp_codec;
                (
                    Codec::new(
                        &codec.mime_type,
                        codec.clock_rate,
                        codec.channels,
                        &codec.sdp_fmtp_line,
                    ),
                    c.payload_type,
                )
            })
            .collect(),
        extensions: parameters
            .header_extensions
            .iter()
            .filter_map(|e| Some((e.uri.clone(), u8::try_from(e.id).ok()?)))
            .collect(),
    }
}

/// What goes out on one track of a leg: the rewriter, and which connection of the other side
/// it last took packets from (a rejoin brings new numbering).
struct Outbound {
    track: Arc<TrackLocalStaticRTP>,
    forwarding: tokio::sync::Mutex<Forwarding>,
    /// Set when this participant's connection is up: what was sent before could not be
    /// decrypted here, so it waits for a keyframe again.
    connected: AtomicBool,
}

/// The state of one outbound track's forwarding.
struct Forwarding {
    rewriter: Rewriter,
    /// The other side's connection it last took packets from (a rejoin brings new numbering).
    from_serial: u64,
    /// The receiver cannot decode until a keyframe passes: until then the sender is asked for
    /// one, at most once a second.
    awaiting_keyframe: bool,
    last_request: Option<Instant>,
}

/// How often a receiver that still waits for a keyframe asks again.
const KEYFRAME_RETRY: Duration = Duration::from_secs(1);

/// What the browser's offer numbers its media by, per kind: the browser sends with these
/// payload types and extension ids, whatever the relay would have chosen.
fn offered(offer: &RTCSessionDescription) -> Result<HashMap<MediaKind, Negotiated>, RelayError> {
    let parsed = offer
        .unmarshal()
        .map_err(|e| RelayError::BadOffer(e.to_string()))?;
    let mut offered = HashMap::new();
    for media in &parsed.media_descriptions {
        let kind = match media.media_name.media.as_str() {
            "audio" => MediaKind::Audio,
            "video" => MediaKind::Video,
            _ => continue,
        };
        let payload_types = media
            .codecs()
            .into_values()
            .map(|c| {
                let mime_type = format!("{}/{}", media.media_name.media, c.name);
                let channels = c.encoding_parameters.parse().unwrap_or(0);
                (
                    Codec::new(&mime_type, c.clock_rate, channels, &c.fmtp),
                    c.payload_type,
                )
            })
            .collect();
        // `a=extmap:<id>[/<direction>] <uri> [<attributes>]`
        let extensions = media
            .attributes
            .iter()
            .filter(|a| a.key == "extmap")
            .filter_map(|a| {
                let (id, rest) = a.value.as_deref()?.split_once(' ')?;
                let id = id.split('/').next()?.parse().ok()?;
                Some((rest.split_whitespace().next()?.to_owned(), id))
            })
            .collect();
        offered.entry(kind).or_insert(Negotiated {
            payload_types,
            extensions,
        });
    }
    Ok(offered)
}

/// One participant's connection.
struct Leg {
    /// Tells a participant's connections apart, across rejoins.
    serial: u64,
    connection: Arc<dyn PeerConnection>,
    /// Per kind: the track that carries the other side's media to this participant.
    outbound: HashMap<MediaKind, Outbound>,
    /// Per kind: what this participant's browser negotiated for what it sends. A
    /// renegotiation keeps it: an offerer keeps its payload types and extension ids for the
    /// life of a session.
    inbound: HashMap<MediaKind, Negotiated>,
    /// The video codec this leg was given (none when its browser offers no codec the relay
    /// forwards).
    video_codec: Option<VideoCodec>,
    /// The video this participant sends, once it arrives: asked for keyframes on behalf of the
    /// other side.
    video_source: Mutex<Option<Arc<KeyframeSource>>>,
    /// To its participant's signalling.
    events: tokio::sync::mpsc::UnboundedSender<LegEvent>,
}

impl Leg {
    fn video_source(&self) -> Option<Arc<KeyframeSource>> {
        self.video_source.lock().ok()?.clone()
    }
}

#[derive(Default)]
struct Room {
    started: AtomicBool,
    legs: Mutex<HashMap<CallRole, Arc<Leg>>>,
    /// Joins under way: the room is kept while one may still add a leg.
    joining: AtomicUsize,
}

impl Room {
    fn leg(&self, role: CallRole) -> Option<Arc<Leg>> {
        self.legs.lock().ok()?.get(&role).cloned()
    }
}

/// The rooms of this process by appointment. A room is forgotten when the call closes, or
/// when its last participant leaves: appointments that never end leave nothing behind.
#[derive(Default)]
struct Rooms(Mutex<HashMap<AppointmentId, Arc<Room>>>);

impl Rooms {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AppointmentId, Arc<Room>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The room of `appointment`, opened if need be, kept while the join lasts.
    fn enter(self: &Arc<Self>, appointment: AppointmentId) -> Entered {
        let room = self.lock().entry(appointment).or_default().clone();
        room.joining.fetch_add(1, Ordering::SeqCst);
        Entered {
            rooms: self.clone(),
            appointment,
            room,
        }
    }

    /// Forget `room` if nobody is in it or joining it, unless a newer room took its place.
    fn forget_if_empty(&self, appointment: AppointmentId, room: &Arc<Room>) {
        let mut rooms = self.lock();
        let empty = room.joining.load(Ordering::SeqCst) == 0
            && room.legs.lock().map(|legs| legs.is_empty()).unwrap_or(true);
        if empty && rooms.get(&appointment).is_some_and(|r| Arc::ptr_eq(r, room)) {
            rooms.remove(&appointment);
        }
    }
}

/// A join's hold on its room; a join that failed leaves no empty room behind.
struct Entered {
    rooms: Arc<Rooms>,
    appointment: AppointmentId,
    room: Arc<Room>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        self.room.joining.fetch_sub(1, Ordering::SeqCst);
        self.rooms.forget_if_empty(self.appointment, &self.room);
    }
}

/// The rooms of this process.
pub struct Relay {
    config: RelayConfig,
    runtime: Arc<dyn Runtime>,
    rooms: Arc<Rooms>,
    ports: Ports,
    /// The next leg's serial; 0 is none.
    serials: AtomicU64,
}

impl Relay {
    pub fn new(config: RelayConfig) -> Result<Self, RelayError> {
        let runtime = webrtc::runtime::default_runtime()
            .ok_or_else(|| RelayError::Unavailable("no async runtime".into()))?;
        Ok(Self {
            ports: Ports::new(config.ports),
            config,
            runtime,
            rooms: Arc::default(),
            serials: AtomicU64::new(1),
        })
    }

    /// Follow the calls' events until `stop` turns true: a start lets everything flow both
    /// ways, an end or a cancel closes the room (both pages are told when signalling does).
    /// Signals missed by a listener that fell behind are lost; a room whose end was missed
    /// stays open until its connections close.
    pub async fn follow(
        &self,
        mut signals: broadcast::Receiver<CallSignal>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let signal = tokio::select! {
                signal = signals.recv() => signal,
                _ = stop.changed() => return,
            };
            match signal {
                Ok(CallSignal::Started(id)) => self.start(id),
                Ok(CallSignal::Closed(id)) => self.close(id).await,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the relay missed call signals");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Rooms open now.
    pub fn rooms(&self) -> usize {
        self.rooms.lock().len()
    }

    /// Connections open now, across every room.
    pub fn participants(&self) -> usize {
        let rooms = self.rooms.lock();
        rooms
            .values()
            .map(|room| room.legs.lock().map(|legs| legs.len()).unwrap_or(0))
            .sum()
    }

    /// The call started: from now on everything flows both ways. A room opened later is told
    /// by its first join.
    pub fn start(&self, appointment: AppointmentId) {
        let rooms = self.rooms.lock();
        if let Some(room) = rooms.get(&appointment) {
            room.started.store(true, Ordering::SeqCst);
        }
    }

    /// The call ended or was cancelled: close both connections and forget the room.
    pub async fn close(&self, appointment: AppointmentId) {
        let room = self.rooms.lock().remove(&appointment);
        let legs: Vec<Arc<Leg>> = room
            .and_then(|room| {
                room.legs
                    .lock()
                    .ok()
                    .map(|mut legs| legs.drain().map(|(_, leg)| leg).collect())
            })
            .unwrap_or_default();
        for leg in legs {
            let _ = leg.connection.close().await;
        }
    }

    /// Let `role` into the room of `appointment` with its browser's `offer`; the answer goes
    /// back to the browser at once and the relay's candidates follow on `events`. `started`
    /// is whether the call has started, as the appointment's history says. A participant
    /// already there in that role is replaced (and told so on its own `events`).
    pub async fn join(
        &self,
        appointment: AppointmentId,
        role: CallRole,
        offer: RTCSessionDescription,
        started: bool,
    ) -> Result<Joined, RelayError> {
        let inbound = offered(&offer)?;
        let entered = self.rooms.enter(appointment);
        let room = &entered.room;
        if started {
            room.started.store(true, Ordering::SeqCst);
        }
        let other_video = room.leg(role.other()).and_then(|leg| leg.video_codec);
        let video_codec = inbound
            .get(&MediaKind::Video)
            .and_then(|offered| codecs::choose_video(offered, other_video));
        let serial = self.serials.fetch_add(1, Ordering::Relaxed);
        let (events_tx, events) = tokio::sync::mpsc::unbounded_channel();
        let handler = Arc::new(Handler {
            rooms: Arc::downgrade(&self.rooms),
            appointment,
            room: Arc::downgrade(room),
            role,
            serial,
            runtime: self.runtime.clone(),
            events: events_tx.clone(),
        });
        let connection = self
            .connect(video_codec.unwrap_or(VideoCodec::Vp8), handler)
            .await?;
        let answered = self.answer(&connection, room, role, offer, video_codec).await;
        let (outbound, answer) = match answered {
            Ok(answered) => answered,
            Err(e) => {
                // Its port goes back to the range.
                let _ = connection.close().await;
                return Err(e);
            }
        };
        let leg = Arc::new(Leg {
            serial,
            connection,
            outbound,
            inbound,
            video_codec,
            video_source: Mutex::new(None),
            events: events_tx,
        });
        let replaced = room
            .legs
            .lock()
            .ok()
            .and_then(|mut legs| legs.insert(role, leg.clone()));
        if let Some(old) = replaced {
            // Its signalling may be gone already (a reload): then nobody needs the news.
            let _ = old.events.send(LegEvent::Replaced);
            let _ = old.connection.close().await;
        }
        Ok(Joined {
            answer,
            leg: LegHandle {
                room: Arc::downgrade(room),
                role,
                leg,
            },
            events,
        })
    }

    /// A connection for a leg given `video`, on a free port of the relay's range.
    async fn connect(
        &self,
        video: VideoCodec,
        handler: Arc<Handler>,
    ) -> Result<Arc<dyn PeerConnection>, RelayError> {
        let unavailable = |e: webrtc::error::Error| RelayError::Unavailable(e.to_string());
        let mut media_engine = MediaEngine::default();
        for (kind, codec) in codecs::for_leg(video) {
            media_engine.register_codec(codec, kind).map_err(unavailable)?;
        }
        let registry = register_default_interceptors(Registry::new(), &mut media_engine)
            .map_err(unavailable)?
            .with(
                Slot::from(keyframes::MARKER_SLOT),
                MarkKeyframeRequests::default(),
            );
        // Browsers reach the relay at its address; multicast DNS would only hold a socket more.
        let settings = SettingEngineBuilder::new()
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .build();
        let address = self
            .ports
            .free(self.config.addr)
            .ok_or_else(|| RelayError::Unavailable("every media port of the relay is in use".into()))?;
        let connection = PeerConnectionBuilder::new()
            .with_media_engine(media_engine)
            .with_setting_engine(settings)
            .with_interceptor_registry(registry)
            .with_handler(handler)
            .with_runtime(self.runtime.clone())
            .with_udp_addrs(vec![address])
            .build()
            .await
            .map_err(unavailable)?;
        Ok(Arc::new(connection))
    }

    /// Answer `offer` on `connection`: the tracks that carry the other side's media to `role`,
    /// and the answer (the relay's candidates follow by trickle).
    async fn answer(
        &self,
        connection: &Arc<dyn PeerConnection>,
        room: &Arc<Room>,
        role: CallRole,
        offer: RTCSessionDescription,
        video_codec: Option<VideoCodec>,
    ) -> Result<(HashMap<MediaKind, Outbound>, RTCSessionDescription), RelayError> {
        let unavailable = |e: webrtc::error::Error| RelayError::Unavailable(e.to_string());
        // The offer first: tracks added after it take the transceivers its m-lines made.
        connection
            .set_remote_description(offer)
            .await
            .map_err(|e| RelayError::BadOffer(e.to_string()))?;
        let mut outbound = HashMap::new();
        let mut senders = Vec::new();
        let mut kinds = HashSet::new();
        for (codec_kind, codec) in codecs::for_leg(video_codec.unwrap_or(VideoCodec::Vp8)) {
            // One track per kind, starting with the kind's first codec.
            let Some(kind) = kind_of(codec_kind).filter(|kind| kinds.insert(*kind)) else {
                continue;
            };
            let ssrc = rand_ssrc();
            let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                // One stream: the other participant's camera and microphone.
                format!("enkaku-{:?}", role.other()).to_lowercase(),
                format!("{kind:?}").to_lowercase(),
                format!("{kind:?}").to_lowercase(),
                codec_kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec: codec.rtp_codec.clone(),
                    ..Default::default()
                }],
            )));
            let sender = connection
                .add_track(track.clone() as Arc<dyn TrackLocal>)
                .await
                .map_err(unavailable)?;
            self.runtime.spawn(Box::pin(keyframes::pass_on_requests(
                track.clone() as Arc<dyn TrackLocal>,
                keyframe_source_for(Arc::downgrade(room), role),
            )));
            senders.push((kind, ssrc, track, sender));
        }
        let answer = connection
            .create_answer(None)
            .await
            .map_err(|e| RelayError::BadOffer(e.to_string()))?;
        // The answer as created, without the candidates gathered meanwhile: every one of them
        // goes by trickle, whichever moment it was gathered at.
        connection
            .set_local_description(answer.clone())
            .await
            .map_err(unavailable)?;
        for (kind, ssrc, track, sender) in senders {
            let parameters = sender.get_parameters().await.map_err(unavailable)?;
            let rewriter = Rewriter::new(ssrc, negotiated(&parameters.rtp_parameters));
            let forwarding = tokio::sync::Mutex::new(Forwarding {
                rewriter,
                from_serial: 0,
                awaiting_keyframe: true,
                last_request: None,
            });
            outbound.insert(
                kind,
                Outbound {
                    track,
                    forwarding,
                    connected: AtomicBool::new(false),
                },
            );
        }
        Ok((outbound, answer))
    }
}

/// A participant's signalling's hold on its leg.
pub struct LegHandle {
    room: Weak<Room>,
    role: CallRole,
    leg: Arc<Leg>,
}

impl LegHandle {
    /// Whether the leg is still its role's in a room that is still open.
    fn is_current(&self) -> bool {
        self.room
            .upgrade()
            .and_then(|room| room.leg(self.role))
            .is_some_and(|leg| leg.serial == self.leg.serial)
    }

    /// Answer a later offer of the same browser (an ICE restart) on the same connection: its
    /// tracks and their forwarding stay as they are. The offer must keep the media sections
    /// of the first, so a page cannot add tracks (and forwarding tasks) by renegotiating.
    pub async fn renegotiate(
        &self,
        offer: RTCSessionDescription,
    ) -> Result<RTCSessionDescription, RelayError> {
        if !self.is_current() {
            return Err(RelayError::Left);
        }
        let connection = &self.leg.connection;
        let first = connection.remote_description().await;
        if first.as_ref().map(media_sections).transpose()? != Some(media_sections(&offer)?) {
            return Err(RelayError::BadOffer(
                "a later offer changes the media sections".into(),
            ));
        }
        let bad_offer = |e: webrtc::error::Error| RelayError::BadOffer(e.to_string());
        connection
            .set_remote_description(offer)
            .await
            .map_err(bad_offer)?;
        let answer = connection.create_answer(None).await.map_err(bad_offer)?;
        connection
            .set_local_description(answer.clone())
            .await
            .map_err(|e| RelayError::Unavailable(e.to_string()))?;
        Ok(answer)
    }

    /// One of the browser's candidates, trickled after its offer.
    pub async fn add_candidate(&self, candidate: IceCandidate) -> Result<(), RelayError> {
        self.leg
            .connection
            .add_ice_candidate(RTCIceCandidateInit {
                candidate: candidate.candidate,
                sdp_mid: candidate.sdp_mid,
                sdp_mline_index: candidate.sdp_mline_index,
                username_fragment: candidate.username_fragment,
                url: None,
            })
            .await
            .map_err(|e| RelayError::BadCandidate(e.to_string()))
    }

    /// The signalling ended: the leg leaves its room (unless replaced already) and closes.
    pub async fn leave(&self) {
        if let Some(room) = self.room.upgrade()
            && let Ok(mut legs) = room.legs.lock()
            && legs
                .get(&self.role)
                .is_some_and(|leg| leg.serial == self.leg.serial)
        {
            legs.remove(&self.role);
        }
        let _ = self.leg.connection.close().await;
    }
}

/// The kinds of a description's media sections, in order.
fn media_sections(description: &RTCSessionDescription) -> Result<Vec<String>, RelayError> {
    let parsed = description
        .unmarshal()
        .map_err(|e| RelayError::BadOffer(e.to_string()))?;
    Ok(parsed
        .media_descriptions
        .iter()
        .map(|media| media.media_name.media.clone())
        .collect())
}

/// A random SSRC, never 0 (which some receivers read as "none").
fn rand_ssrc() -> u32 {
    rand::random::<u32>() | 1
}

struct Handler {
    rooms: Weak<Rooms>,
    appointment: AppointmentId,
    room: Weak<Room>,
    role: CallRole,
    /// Its leg's serial.
    serial: u64,
    runtime: Arc<dyn Runtime>,
    /// To the participant's signalling.
    events: tokio::sync::mpsc::UnboundedSender<LegEvent>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            // The browser bundles every m-line on the first's transport; no mid names it
            // better than the index.
            Ok(init) => {
                let _ = self.events.send(LegEvent::Candidate(Some(IceCandidate {
                    candidate: init.candidate,
                    sdp_mid: None,
                    sdp_mline_index: Some(0),
                    username_fragment: None,
                })));
            }
            Err(e) => tracing::warn!(error = %e, "the relay cannot describe one of its candidates"),
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.events.send(LegEvent::Candidate(None));
        }
    }

    /// A participant whose connection is up wants a keyframe of the other side's video; one
    /// whose connection failed or closed leaves the room, unless a newer connection has
    /// replaced it already.
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if state == RTCPeerConnectionState::Connected {
            let Some(room) = self.room.upgrade() else { return };
            let leg = room.leg(self.role).filter(|leg| leg.serial == self.serial);
            if let Some(video) = leg.as_ref().and_then(|leg| leg.outbound.get(&MediaKind::Video)) {
                video.connected.store(true, Ordering::SeqCst);
            }
            return;
        }
        if !matches!(
            state,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
        ) {
            return;
        }
        let Some(room) = self.room.upgrade() else { return };
        if let Ok(mut legs) = room.legs.lock()
            && legs.get(&self.role).is_some_and(|leg| leg.serial == self.serial)
        {
            legs.remove(&self.role);
        }
        if let Some(rooms) = self.rooms.upgrade() {
            rooms.forget_if_empty(self.appointment, &room);
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let Some(kind) = kind_of(track.kind().await) else {
            return;
        };
        let (room, from) = (self.room.clone(), self.role);
        self.runtime
            .spawn(Box::pin(forward_track(room, from, self.serial, kind, track)));
    }
}

/// Where the receiver `role` of a room gets its keyframes from: the other side's video, while
/// it reaches `role`.
fn keyframe_source_for(room: Weak<Room>, role: CallRole) -> impl Fn() -> Option<Arc<KeyframeSource>> {
    move || {
        let room = room.upgrade()?;
        let sender = role.other();
        if !flows(sender, MediaKind::Video, room.started.load(Ordering::SeqCst)) {
            return None;
        }
        room.leg(sender)?.video_source()
    }
}

/// Pass `from`'s track of `kind` on to the other side, for as long as it runs. `serial` is the
/// leg the track arrived on.
async fn forward_track(
    room: Weak<Room>,
    from: CallRole,
    serial: u64,
    kind: MediaKind,
    track: Arc<dyn TrackRemote>,
) {
    let mut keyframe_source: Option<Arc<KeyframeSource>> = None;
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        let Some(room) = room.upgrade() else { return };
        if kind == MediaKind::Video
            && keyframe_source.is_none()
            && let Some(leg) = room.leg(from).filter(|leg| leg.serial == serial)
            && let Ok(mut slot) = leg.video_source.lock()
        {
            // The leg is in the room by the time media arrives: the other side's requests for
            // keyframes reach this track through it.
            let source = Arc::new(KeyframeSource::new(track.clone(), packet.header.ssrc));
            *slot = Some(source.clone());
            keyframe_source = Some(source);
        }
        if !flows(from, kind, room.started.load(Ordering::SeqCst)) {
            continue;
        }
        let (Some(source), Some(target)) = (room.leg(from), room.leg(from.other())) else {
            continue;
        };
        let Some(out) = target.outbound.get(&kind) else {
            continue;
        };
        let (packet, ask_for_keyframe) = {
            let mut forwarding = out.forwarding.lock().await;
            let forwarding = &mut *forwarding;
            if forwarding.from_serial != source.serial {
                let inbound = source.inbound.get(&kind).cloned().unwrap_or_default();
                forwarding.rewriter.set_inbound(inbound);
                forwarding.from_serial = source.serial;
            }
            let Some((packet, switched)) = forwarding.rewriter.rewrite(packet) else {
                continue;
            };
            let ask = kind == MediaKind::Video && {
                if switched || out.connected.swap(false, Ordering::SeqCst) {
                    forwarding.awaiting_keyframe = true;
                }
                let keyframe = source
                    .video_codec
                    .is_some_and(|codec| codec.starts_keyframe(&packet.payload));
                if forwarding.awaiting_keyframe && keyframe {
                    forwarding.awaiting_keyframe = false;
                }
                let due = forwarding
                    .last_request
                    .is_none_or(|at| at.elapsed() >= KEYFRAME_RETRY);
                if forwarding.awaiting_keyframe && due {
                    forwarding.last_request = Some(Instant::now());
                }
                forwarding.awaiting_keyframe && due
            };
            (packet, ask)
        };
        if ask_for_keyframe && let Some(source) = &keyframe_source {
            // A receiver decodes nothing until the next keyframe.
            source.request().await;
        }
        // A write fails only while the other side's connection is closing.
        let _ = out.track.write_rtp(packet).await;
    }
}
