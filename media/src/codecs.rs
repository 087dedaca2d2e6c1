//! The codecs a leg may use, and which video codec each leg is given so that the two legs of a
//! room share one (the relay forwards packets as they are; it cannot translate).
//!
//! A browser sends with the first of its own codecs that the answer keeps, so a leg that is
//! answered with one video codec sends exactly that one and is ready to receive it. Each leg is
//! therefore answered with a single video codec: VP8, which every current browser has, unless
//! its offer lacks VP8 or the other leg already in the room was given H.264.

use crate::forward::{Negotiated, VideoCodec};
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};

/// H.264 profiles browsers offer in packetization mode 1 (profile-level-id; the level does not
/// matter to negotiation): constrained baseline, baseline, main, constrained high and high.
const H264_PROFILES: [(&str, u8); 5] = [
    ("42e01f", 102),
    ("42001f", 104),
    ("4d001f", 106),
    ("640c1f", 108),
    ("64001f", 112),
];

/// A codec at a payload type, as a media engine registers it.
pub fn codec(
    mime_type: &str,
    clock_rate: u32,
    channels: u16,
    fmtp: &str,
    payload_type: u8,
) -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime_type.to_owned(),
            clock_rate,
            channels,
            sdp_fmtp_line: fmtp.to_owned(),
            rtcp_feedback: vec![],
        },
        payload_type,
    }
}

/// What a leg given `video` may negotiate: Opus, and that one video codec (for H.264, the
/// profiles browsers offer). The first codec of each kind is its outbound track's.
pub fn for_leg(video: VideoCodec) -> Vec<(RtpCodecKind, RTCRtpCodecParameters)> {
    let mut codecs = vec![(
        RtpCodecKind::Audio,
        codec(MIME_TYPE_OPUS, 48_000, 2, "minptime=10;useinbandfec=1", 111),
    )];
    match video {
        VideoCodec::Vp8 => codecs.push((RtpCodecKind::Video, codec(MIME_TYPE_VP8, 90_000, 0, "", 96))),
        VideoCodec::H264 => codecs.extend(H264_PROFILES.iter().map(|(profile, payload_type)| {
            let fmtp = format!("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={profile}");
            (
                RtpCodecKind::Video,
                codec(MIME_TYPE_H264, 90_000, 0, &fmtp, *payload_type),
            )
        })),
    }
    codecs
}

/// The video codec for a leg whose browser offered `offered`, in a room where the other leg,
/// if any, was given `other`. `None` when the browser offers neither codec: the leg then has
/// no video.
pub fn choose_video(offered: &Negotiated, other: Option<VideoCodec>) -> Option<VideoCodec> {
    let can = |wanted: VideoCodec| {
        offered
            .payload_types
            .iter()
            .any(|(codec, _)| VideoCodec::of(codec) == Some(wanted))
    };
    let preferred = match other {
        // Keep to what the other side already uses, so that both see each other.
        Some(VideoCodec::H264) => [VideoCodec::H264, VideoCodec::Vp8],
        _ => [VideoCodec::Vp8, VideoCodec::H264],
    };
    preferred.into_iter().find(|&codec| can(codec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::Codec;

    fn offer(codecs: &[Codec]) -> Negotiated {
        Negotiated {
            payload_types: codecs.iter().cloned().zip(96..).collect(),
            extensions: vec![],
        }
    }

    fn h264(fmtp: &str) -> Codec {
        Codec::new("video/H264", 90_000, 0, fmtp)
    }

    fn vp8() -> Codec {
        Codec::new("video/VP8", 90_000, 0, "")
    }

    #[test]
    fn vp8_is_preferred_and_h264_serves_an_offer_without_it() {
        let chromium = offer(&[vp8(), h264("packetization-mode=1;profile-level-id=42e01f")]);
        let h264_only = offer(&[h264("packetization-mode=1;profile-level-id=42e01f")]);
        let mode_0_only = offer(&[h264("profile-level-id=42e01f")]);
        assert_eq!(choose_video(&chromium, None), Some(VideoCodec::Vp8));
        assert_eq!(
            choose_video(&chromium, Some(VideoCodec::Vp8)),
            Some(VideoCodec::Vp8)
        );
        assert_eq!(choose_video(&h264_only, None), Some(VideoCodec::H264));
        assert_eq!(
            choose_video(&h264_only, Some(VideoCodec::Vp8)),
            Some(VideoCodec::H264)
        );
        // The other side was given H.264: the newcomer takes it too, so both see each other.
        assert_eq!(
            choose_video(&chromium, Some(VideoCodec::H264)),
            Some(VideoCodec::H264)
        );
        assert_eq!(choose_video(&mode_0_only, None), None, "mode 0 is not forwarded");
        assert_eq!(choose_video(&offer(&[]), None), None);
    }

    #[test]
    fn a_leg_negotiates_opus_and_one_video_codec() {
        let kinds = |video| {
            for_leg(video)
                .into_iter()
                .map(|(kind, c)| {
                    let codec = Codec::new(
                        &c.rtp_codec.mime_type,
                        c.rtp_codec.clock_rate,
                        c.rtp_codec.channels,
                        &c.rtp_codec.sdp_fmtp_line,
                    );
                    (kind, VideoCodec::of(&codec))
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds(VideoCodec::Vp8),
            [
                (RtpCodecKind::Audio, None),
                (RtpCodecKind::Video, Some(VideoCodec::Vp8))
            ]
        );
        let h264 = kinds(VideoCodec::H264);
        assert_eq!(h264[0], (RtpCodecKind::Audio, None));
        assert_eq!(h264.len(), 1 + H264_PROFILES.len());
        assert!(
            h264[1..]
                .iter()
                .all(|c| *c == (RtpCodecKind::Video, Some(VideoCodec::H264)))
        );
        // Payload types are the leg's own and never repeat.
        let mut payload_types: Vec<u8> = for_leg(VideoCodec::H264)
            .iter()
            .map(|(_, c)| c.payload_type)
            .collect();
        payload_types.sort_unstable();
        payload_types.dedup();
        assert_eq!(payload_types.len(), 1 + H264_PROFILES.len());
    }
}
