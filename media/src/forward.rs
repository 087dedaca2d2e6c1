//! How one participant's media becomes the other's (R18–R19): what may flow when, and what
//! the relay rewrites between the two legs of a call.
//!
//! Each leg negotiated its own SSRCs, payload types and header-extension ids with its
//! browser. A packet passed on unchanged would not match what the other leg negotiated, and
//! the sending side drops such packets without a word; so every forwarded packet is renumbered
//! for the leg it leaves on.

use bytes::Bytes;
use enkaku_domain::presence::CallRole;
use rtc::rtp::Packet;
use rtc::rtp::header::Extension;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
}

/// Whether `from`'s media of `kind` reaches the other side. Before the call starts the
/// doctor sees the patient arrive, without sound, and the patient receives nothing (R18);
/// once it has started, everything flows both ways.
pub fn flows(from: CallRole, kind: MediaKind, started: bool) -> bool {
    started || (from == CallRole::Patient && kind == MediaKind::Video)
}

/// A codec as the two legs can agree on it, whatever payload type each gave it: the MIME
/// type, clock rate and channels, and for H.264 the packetization mode (a receiver cannot
/// read packets of the other mode).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Codec {
    mime_type: String,
    clock_rate: u32,
    channels: u16,
    packetization_mode: Option<String>,
}

impl Codec {
    pub fn new(mime_type: &str, clock_rate: u32, channels: u16, fmtp: &str) -> Self {
        let mime_type = mime_type.to_ascii_lowercase();
        let packetization_mode = (mime_type == "video/h264").then(|| {
            fmtp.split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(key, _)| key.eq_ignore_ascii_case("packetization-mode"))
                .map_or_else(|| "0".to_owned(), |(_, value)| value.trim().to_owned())
        });
        Self {
            mime_type,
            clock_rate,
            channels,
            packetization_mode,
        }
    }
}

/// Header extensions whose meaning holds end to end. The rest (transport-wide sequence
/// numbers, send times, MID, RID) describe one leg, and the leg a packet leaves on writes its
/// own.
const END_TO_END_EXTENSIONS: &[&str] = &[
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    // A phone held upright sends this instead of rotating its frames.
    "urn:3gpp:video-orientation",
];

/// What one leg negotiated for one kind of media.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Negotiated {
    /// Payload type of each codec.
    pub payload_types: Vec<(Codec, u8)>,
    /// Id of each header-extension URI.
    pub extensions: Vec<(String, u8)>,
}

impl Negotiated {
    fn codec(&self, payload_type: u8) -> Option<&Codec> {
        self.payload_types
            .iter()
            .find(|(_, pt)| *pt == payload_type)
            .map(|(codec, _)| codec)
    }

    fn payload_type(&self, codec: &Codec) -> Option<u8> {
        self.payload_types
            .iter()
            .find(|(c, _)| c == codec)
            .map(|(_, pt)| *pt)
    }

    fn extension_uri(&self, id: u8) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(_, i)| *i == id)
            .map(|(uri, _)| uri.as_str())
    }

    fn extension_id(&self, uri: &str) -> Option<u8> {
        self.extensions.iter().find(|(u, _)| u == uri).map(|(_, id)| *id)
    }
}

/// Where the outbound stream stands, so a new inbound stream continues it.
#[derive(Clone, Copy, Debug)]
struct Continuity {
    source: u32,
    sequence_offset: u16,
    timestamp_offset: u32,
    last_sequence: u16,
    last_timestamp: u32,
}

/// Rewrites the packets of one side's stream of one kind for the other side's leg: payload
/// type and extension ids from the inbound leg's numbering to the outbound one's, the SSRC to
/// the outbound track's, and sequence numbers and timestamps kept continuous when the inbound
/// stream changes (a participant who reloads comes back with a new SSRC and new counters; the
/// other side's decoder sees one stream throughout).
#[derive(Debug)]
pub struct Rewriter {
    ssrc: u32,
    inbound: Negotiated,
    outbound: Negotiated,
    at: Option<Continuity>,
}

/// The timestamp step put between the last packet of one inbound stream and the first of the
/// next: 20 ms, one audio frame, of the codec's clock.
fn switch_step(clock_rate: u32) -> u32 {
    clock_rate / 50
}

impl Rewriter {
    /// For the outbound track with `ssrc`, on a leg that negotiated `outbound`.
    pub fn new(ssrc: u32, outbound: Negotiated) -> Self {
        Self {
            ssrc,
            inbound: Negotiated::default(),
            outbound,
            at: None,
        }
    }

    /// The inbound leg (re)negotiated: a participant's new connection.
    pub fn set_inbound(&mut self, inbound: Negotiated) {
        self.inbound = inbound;
    }

    /// The packet as the outbound leg must send it, or `None` when that leg has no such
    /// codec (it did not offer it, or the packet's payload type was never negotiated).
    /// Returns also whether a new inbound stream began, which wants a keyframe.
    pub fn rewrite(&mut self, mut packet: Packet) -> Option<(Packet, bool)> {
        let codec = self.inbound.codec(packet.header.payload_type)?;
        let payload_type = self.outbound.payload_type(codec)?;
        let step = switch_step(codec.clock_rate);
        let header = &mut packet.header;
        let switched = self.at.is_none_or(|at| at.source != header.ssrc);
        if switched {
            self.at = Some(match self.at {
                // The first packet of the next stream follows the last one sent.
                Some(at) => Continuity {
                    source: header.ssrc,
                    sequence_offset: at
                        .last_sequence
                        .wrapping_add(1)
                        .wrapping_sub(header.sequence_number),
                    timestamp_offset: at
                        .last_timestamp
                        .wrapping_add(step)
                        .wrapping_sub(header.timestamp),
                    last_sequence: at.last_sequence,
                    last_timestamp: at.last_timestamp,
                },
                None => Continuity {
                    source: header.ssrc,
                    sequence_offset: 0,
                    timestamp_offset: 0,
                    last_sequence: header.sequence_number,
                    last_timestamp: header.timestamp,
                },
            });
        }
        let at = self.at.as_mut()?;
        header.ssrc = self.ssrc;
        header.payload_type = payload_type;
        header.sequence_number = header.sequence_number.wrapping_add(at.sequence_offset);
        header.timestamp = header.timestamp.wrapping_add(at.timestamp_offset);
        // Packets may arrive out of order: continue after the newest, not the latest.
        if is_newer(header.sequence_number, at.last_sequence) || switched {
            at.last_sequence = header.sequence_number;
            at.last_timestamp = header.timestamp;
        }
        let extensions: Vec<(u8, Bytes)> = header
            .extensions
            .iter()
            .filter_map(|Extension { id, payload }| {
                let uri = self.inbound.extension_uri(*id)?;
                END_TO_END_EXTENSIONS.contains(&uri).then_some(())?;
                Some((self.outbound.extension_id(uri)?, payload.clone()))
            })
            .collect();
        header.extensions.clear();
        header.extension = false;
        header.extension_profile = 0;
        header.extensions_padding = 0;
        for (id, payload) in extensions {
            // Ids from SDP are in 1..=255 and fit the profile the header picks; a value that
            // does not fit is left out rather than sent malformed.
            let _ = header.set_extension(id, payload);
        }
        Some((packet, switched))
    }
}

/// Whether a VP8 RTP payload is the first packet of a keyframe (RFC 7741): the start of
/// partition 0, whose VP8 header has the inverse key-frame bit clear.
pub fn starts_vp8_keyframe(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let (extended, start, partition) = (first & 0x80 != 0, first & 0x10 != 0, first & 0x07);
    if !start || partition != 0 {
        return false;
    }
    let mut at = 1;
    if extended {
        let Some(&flags) = payload.get(1) else {
            return false;
        };
        at = 2;
        if flags & 0x80 != 0 {
            // The picture id: one byte, or two when its first bit is set.
            let Some(&id) = payload.get(at) else { return false };
            at += if id & 0x80 != 0 { 2 } else { 1 };
        }
        if flags & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if flags & 0x30 != 0 {
            at += 1; // TID and KEYIDX
        }
    }
    payload.get(at).is_some_and(|header| header & 0x01 == 0)
}

/// The video codecs the relay forwards. A room's two legs must use the same one: the relay
/// passes packets on as they are and cannot translate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// Every browser has it; preferred.
    Vp8,
    /// Packetization mode 1, for browsers (older Safari) that offer no VP8.
    H264,
}

impl VideoCodec {
    /// The codec of `codec`, if it is one the relay forwards.
    pub fn of(codec: &Codec) -> Option<Self> {
        match (codec.mime_type.as_str(), codec.packetization_mode.as_deref()) {
            ("video/vp8", _) => Some(Self::Vp8),
            ("video/h264", Some("1")) => Some(Self::H264),
            _ => None,
        }
    }

    /// Whether an RTP payload of this codec is the first packet of a keyframe, from which a
    /// receiver can start decoding.
    pub fn starts_keyframe(self, payload: &[u8]) -> bool {
        match self {
            Self::Vp8 => starts_vp8_keyframe(payload),
            Self::H264 => starts_h264_keyframe(payload),
        }
    }
}

/// Whether an H.264 RTP payload (RFC 6184, packetization mode 1) begins a keyframe: it carries
/// an IDR slice or a sequence parameter set (which a browser sends right before its IDR), as a
/// single NAL unit, inside a STAP-A aggregate, or as the first fragment of an FU-A.
pub fn starts_h264_keyframe(payload: &[u8]) -> bool {
    const IDR: u8 = 5;
    const SPS: u8 = 7;
    const STAP_A: u8 = 24;
    const FU_A: u8 = 28;
    let starts = |nal_type: u8| nal_type == IDR || nal_type == SPS;
    let Some(&header) = payload.first() else {
        return false;
    };
    match header & 0x1f {
        STAP_A => {
            // Units, each after its 16-bit size.
            let mut rest = &payload[1..];
            while let [high, low, units @ ..] = rest {
                let size = usize::from(u16::from_be_bytes([*high, *low]));
                let Some(unit) = units.get(..size) else {
                    return false;
                };
                if unit.first().is_some_and(|nal| starts(nal & 0x1f)) {
                    return true;
                }
                rest = &units[size..];
            }
            false
        }
        FU_A => payload
            .get(1)
            .is_some_and(|fu| fu & 0x80 != 0 && starts(fu & 0x1f)),
        nal_type => starts(nal_type),
    }
}

/// Whether sequence number `a` comes after `b`, across the 16-bit wrap (RFC 3550 A.1).
fn is_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rtc::rtp::Header;

    const AUDIO_LEVEL: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
    const TRANSPORT_CC: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

    fn vp8() -> Codec {
        Codec::new("video/VP8", 90_000, 0, "")
    }

    fn leg(vp8_pt: u8, audio_level_id: u8, transport_cc_id: u8) -> Negotiated {
        Negotiated {
            payload_types: vec![
                (vp8(), vp8_pt),
                (
                    Codec::new("video/H264", 90_000, 0, "packetization-mode=1"),
                    vp8_pt + 1,
                ),
            ],
            extensions: vec![
                (AUDIO_LEVEL.to_owned(), audio_level_id),
                (TRANSPORT_CC.to_owned(), transport_cc_id),
            ],
        }
    }

    fn packet(ssrc: u32, payload_type: u8, sequence_number: u16, timestamp: u32) -> Packet {
        Packet {
            header: Header {
                version: 2,
                payload_type,
                sequence_number,
                timestamp,
                ssrc,
                ..Header::default()
            },
            payload: Bytes::from_static(b"frame"),
        }
    }

    fn rewriter() -> Rewriter {
        let mut rewriter = Rewriter::new(7, leg(120, 3, 4));
        rewriter.set_inbound(leg(96, 1, 2));
        rewriter
    }

    #[test]
    fn before_the_start_only_the_patients_video_flows() {
        use CallRole::*;
        use MediaKind::*;
        assert!(flows(Patient, Video, false));
        for (from, kind) in [(Patient, Audio), (Clinic, Video), (Clinic, Audio)] {
            assert!(!flows(from, kind, false), "{from:?} {kind:?}");
            assert!(flows(from, kind, true), "{from:?} {kind:?} after the start");
        }
        assert_eq!(Patient.other(), Clinic);
        assert_eq!(Clinic.other(), Patient);
    }

    #[test]
    fn a_forwarded_packet_carries_the_outbound_legs_ssrc_payload_type_and_extension_ids() {
        let mut rewriter = rewriter();
        let mut sent = packet(1234, 96, 10, 9000);
        sent.header.set_extension(1, Bytes::from_static(&[0x8f])).unwrap();
        sent.header.set_extension(2, Bytes::from_static(&[0, 1])).unwrap();
        let (out, switched) = rewriter.rewrite(sent).unwrap();
        assert!(switched, "the first packet begins a stream");
        assert_eq!((out.header.ssrc, out.header.payload_type), (7, 120));
        assert_eq!((out.header.sequence_number, out.header.timestamp), (10, 9000));
        // The audio level is renumbered; the leg's own transport sequence is not forwarded.
        assert_eq!(out.header.get_extension_ids(), vec![3]);
        assert_eq!(out.header.get_extension(3), Some(Bytes::from_static(&[0x8f])));
        assert_eq!(out.payload, Bytes::from_static(b"frame"));
    }

    #[test]
    fn a_codec_the_outbound_leg_lacks_is_dropped_not_sent_mislabelled() {
        let mut rewriter = Rewriter::new(
            7,
            Negotiated {
                payload_types: vec![(vp8(), 120)],
                extensions: vec![],
            },
        );
        rewriter.set_inbound(leg(96, 1, 2));
        assert!(
            rewriter.rewrite(packet(1, 97, 1, 1)).is_none(),
            "H.264 has no payload type outbound"
        );
        assert!(
            rewriter.rewrite(packet(1, 55, 1, 1)).is_none(),
            "never negotiated"
        );
        assert!(rewriter.rewrite(packet(1, 96, 1, 1)).is_some());
    }

    #[test]
    fn vp8_keyframes_are_told_from_the_rest() {
        // Start of partition 0, no extension; VP8 header with P = 0 (key) or 1 (inter).
        assert!(starts_vp8_keyframe(&[0x10, 0x00, 0x9d]));
        assert!(!starts_vp8_keyframe(&[0x10, 0x01, 0x9d]), "an inter frame");
        assert!(
            !starts_vp8_keyframe(&[0x00, 0x00]),
            "not the start of a partition"
        );
        assert!(!starts_vp8_keyframe(&[0x11, 0x00]), "partition 1");
        // Extended: a two-byte picture id, TL0PICIDX and TID/KEYIDX before the VP8 header.
        assert!(starts_vp8_keyframe(&[0x90, 0xf0, 0x81, 0x23, 0x07, 0x40, 0x00]));
        assert!(!starts_vp8_keyframe(&[0x90, 0xf0, 0x81, 0x23, 0x07, 0x40, 0x01]));
        // A one-byte picture id only.
        assert!(starts_vp8_keyframe(&[0x90, 0x80, 0x05, 0x00]));
        assert!(!starts_vp8_keyframe(&[]));
        assert!(!starts_vp8_keyframe(&[0x90, 0x80]), "cut short");
    }

    #[test]
    fn h264_keyframes_are_told_from_the_rest() {
        // Single NAL units: IDR (type 5) and SPS (7) start a keyframe; a P slice (1), PPS (8) and
        // SEI (6) do not.
        assert!(starts_h264_keyframe(&[0x65, 0x88]));
        assert!(starts_h264_keyframe(&[0x67, 0x42, 0xe0, 0x1f]));
        for header in [0x41, 0x68, 0x06] {
            assert!(!starts_h264_keyframe(&[header, 0x00]), "{header:#x}");
        }
        // STAP-A: SPS and PPS aggregated, as browsers send them before an IDR.
        assert!(starts_h264_keyframe(&[
            0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce
        ]));
        assert!(
            starts_h264_keyframe(&[0x78, 0x00, 0x01, 0x06, 0x00, 0x01, 0x65]),
            "an IDR after an SEI"
        );
        assert!(!starts_h264_keyframe(&[0x78, 0x00, 0x01, 0x06, 0x00, 0x01, 0x41]));
        assert!(
            !starts_h264_keyframe(&[0x78, 0x00, 0x05, 0x65]),
            "a unit longer than the packet"
        );
        // FU-A: only the first fragment of an IDR starts it.
        assert!(starts_h264_keyframe(&[0x7c, 0x85, 0x00]));
        assert!(!starts_h264_keyframe(&[0x7c, 0x05, 0x00]), "a middle fragment");
        assert!(!starts_h264_keyframe(&[0x7c, 0x81, 0x00]), "a P slice's start");
        assert!(!starts_h264_keyframe(&[0x7c]), "cut short");
        assert!(!starts_h264_keyframe(&[]));
    }

    #[test]
    fn only_vp8_and_h264_mode_1_are_forwarded() {
        let of = |mime, fmtp| VideoCodec::of(&Codec::new(mime, 90_000, 0, fmtp));
        assert_eq!(of("video/VP8", ""), Some(VideoCodec::Vp8));
        assert_eq!(
            of("video/H264", "profile-level-id=42e01f;packetization-mode=1"),
            Some(VideoCodec::H264)
        );
        assert_eq!(of("video/H264", "profile-level-id=42e01f"), None, "mode 0");
        assert_eq!(of("video/VP9", ""), None);
        assert!(VideoCodec::Vp8.starts_keyframe(&[0x10, 0x00, 0x9d]));
        assert!(!VideoCodec::H264.starts_keyframe(&[0x10, 0x00, 0x9d]));
        assert!(VideoCodec::H264.starts_keyframe(&[0x65]));
    }

    #[test]
    fn h264_modes_do_not_mix() {
        assert_eq!(
            Codec::new(
                "video/H264",
                90_000,
                0,
                "profile-level-id=42e01f;packetization-mode=1"
            ),
            Codec::new(
                "video/h264",
                90_000,
                0,
                "packetization-mode=1;level-asymmetry-allowed=1"
            ),
        );
        assert_ne!(
            Codec::new("video/H264", 90_000, 0, "packetization-mode=1"),
            Codec::new("video/H264", 90_000, 0, ""),
        );
        assert_eq!(
            Codec::new("audio/opus", 48_000, 2, "minptime=10"),
            Codec::new("audio/OPUS", 48_000, 2, "")
        );
    }

    #[test]
    fn a_rejoin_continues_the_outbound_stream() {
        let mut rewriter = rewriter();
        for n in 0..3 {
            rewriter
                .rewrite(packet(
                    1,
                    96,
                    65_534u16.wrapping_add(n),
                    1000 + u32::from(n) * 3000,
                ))
                .unwrap();
        }
        // The patient reloads: a new SSRC, counters anywhere.
        let (first, switched) = rewriter.rewrite(packet(2, 96, 500, 77)).unwrap();
        assert!(switched, "a new stream wants a keyframe");
        assert_eq!(first.header.sequence_number, 1, "65534, 65535, 0, then 1");
        assert_eq!(first.header.timestamp, 7000 + 1800, "20 ms after the last");
        let (next, switched) = rewriter.rewrite(packet(2, 96, 501, 3077)).unwrap();
        assert!(!switched);
        assert_eq!(
            (next.header.sequence_number, next.header.timestamp),
            (2, 7000 + 1800 + 3000)
        );
    }

    proptest! {
        /// Whatever the counters of the streams before and after a switch, and however the
        /// packets of a stream are reordered, the outbound sequence numbers step by one across
        /// the switch and within a stream keep the inbound spacing.
        #[test]
        fn outbound_sequence_numbers_stay_continuous(
            first_seq in any::<u16>(), first_len in 1u16..50,
            second_seq in any::<u16>(), second_len in 1u16..50,
            ts in any::<u32>(),
        ) {
            let mut rewriter = rewriter();
            let mut out = Vec::new();
            for n in 0..first_len {
                out.push(rewriter.rewrite(packet(1, 96, first_seq.wrapping_add(n), ts)).unwrap().0.header.sequence_number);
            }
            for n in 0..second_len {
                out.push(rewriter.rewrite(packet(2, 96, second_seq.wrapping_add(n), ts)).unwrap().0.header.sequence_number);
            }
            for pair in out.windows(2) {
                prop_assert_eq!(pair[1], pair[0].wrapping_add(1));
            }
        }

        /// Whatever arrives from a browser, telling keyframes never panics.
        #[test]
        fn keyframe_detection_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = starts_h264_keyframe(&payload);
            let _ = starts_vp8_keyframe(&payload);
        }

        #[test]
        fn newer_is_ordered_across_the_wrap(a in any::<u16>(), d in 1u16..0x8000) {
            prop_assert!(is_newer(a.wrapping_add(d), a));
            prop_assert!(!is_newer(a, a.wrapping_add(d)));
            prop_assert!(!is_newer(a, a));
        }
    }
}
