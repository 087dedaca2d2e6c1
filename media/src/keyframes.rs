//! Keyframe requests. A receiver decodes nothing from a video stream until a keyframe passes,
//! and the relay cannot make one: it asks the sending browser. It asks when a receiver joins or
//! its stream changes (the rules in `relay`), and it passes on the receiver's own requests —
//! a browser that lost too much to go on sends PLI or FIR to the relay, which is the sender as
//! far as that browser knows.
//!
//! Inbound RTCP normally ends in the connection's interceptor chain; [`MarkKeyframeRequests`]
//! lets keyframe requests through to the application, where the relay's sender tracks read
//! them.

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::TrackRemote;

/// Where in the interceptor chain the marker sits: application-ward of every default
/// interceptor (the last of them is at 13 000), which have all seen the packet by then.
pub const MARKER_SLOT: usize = 14_000;

/// How often a receiver's requests are passed on, at most, per stream: a browser repeats its
/// request while it waits, and every request answered costs the sender a large frame.
pub const FORWARDED_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// Whether RTCP from a receiver asks for a keyframe: a Picture Loss Indication or a Full Intra
/// Request anywhere in the compound packet.
pub fn asks_for_keyframe(packets: &[Box<dyn rtcp::Packet>]) -> bool {
    packets.iter().any(|packet| {
        let packet = packet.as_any();
        packet.is::<PictureLossIndication>() || packet.is::<FullIntraRequest>()
    })
}

/// An interceptor that marks inbound RTCP carrying a keyframe request for the application;
/// everything else passes on unmarked, to end in the chain as before.
#[derive(Default)]
pub struct MarkKeyframeRequests {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for MarkKeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut message: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &message.message.packet
            && asks_for_keyframe(packets)
        {
            message.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(message);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, message: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(message);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }

    fn close(&mut self) -> Result<(), Self::Error> {
        self.read.clear();
        self.write.clear();
        Ok(())
    }
}

impl Interceptor for MarkKeyframeRequests {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// When a stream was last asked for a keyframe, to keep passed-on requests apart.
#[derive(Debug, Default)]
struct LastRequest(Option<Instant>);

impl LastRequest {
    /// Whether a request at `now` is at least `interval` after the last; if so, it is recorded.
    fn due(&mut self, now: Instant, interval: Duration) -> bool {
        let due = self
            .0
            .is_none_or(|at| now.saturating_duration_since(at) >= interval);
        if due {
            self.0 = Some(now);
        }
        due
    }
}

/// One participant's inbound video, which the relay asks for keyframes.
pub struct KeyframeSource {
    track: Arc<dyn TrackRemote>,
    /// The stream's SSRC as its packets carry it (a PLI names it).
    media_ssrc: AtomicU32,
    last: Mutex<LastRequest>,
}

impl KeyframeSource {
    pub fn new(track: Arc<dyn TrackRemote>, media_ssrc: u32) -> Self {
        Self {
            track,
            media_ssrc: AtomicU32::new(media_ssrc),
            last: Mutex::new(LastRequest::default()),
        }
    }

    /// Ask for a keyframe now: the relay's own rules decided one is needed.
    pub async fn request(&self) {
        if let Ok(mut last) = self.last.lock() {
            last.due(Instant::now(), Duration::ZERO);
        }
        self.send_pli().await;
    }

    /// Pass on a receiver's request, unless the stream was asked less than
    /// [`FORWARDED_REQUEST_INTERVAL`] ago (by this or by the relay's own rules). Returns whether
    /// it was sent.
    pub async fn pass_on(&self) -> bool {
        let due = self
            .last
            .lock()
            .is_ok_and(|mut last| last.due(Instant::now(), FORWARDED_REQUEST_INTERVAL));
        if due {
            self.send_pli().await;
        }
        due
    }

    async fn send_pli(&self) {
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: self.media_ssrc.load(Ordering::Relaxed),
        };
        // Fails only while the sender's connection is closing, when no keyframe is wanted.
        let _ = self.track.write_rtcp(vec![Box::new(pli)]).await;
    }
}

/// Pass on the keyframe requests of the browser that receives `track`, to whatever `source`
/// names when one arrives, until the track's connection closes.
pub async fn pass_on_requests(
    track: Arc<dyn TrackLocal>,
    source: impl Fn() -> Option<Arc<KeyframeSource>> + Send + 'static,
) {
    while let Some(event) = track.poll().await {
        let TrackLocalEvent::OnRtcpPacket(packets) = event else {
            continue;
        };
        if asks_for_keyframe(&packets)
            && let Some(source) = source()
        {
            source.pass_on().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::payload_feedbacks::full_intra_request::FirEntry;
    use rtc::rtcp::receiver_report::ReceiverReport;

    #[test]
    fn pli_and_fir_ask_for_a_keyframe_and_reports_do_not() {
        let report: Box<dyn rtcp::Packet> = Box::new(ReceiverReport::default());
        let pli: Box<dyn rtcp::Packet> = Box::new(PictureLossIndication {
            sender_ssrc: 1,
            media_ssrc: 2,
        });
        let fir: Box<dyn rtcp::Packet> = Box::new(FullIntraRequest {
            sender_ssrc: 1,
            media_ssrc: 0,
            fir: vec![FirEntry {
                ssrc: 2,
                sequence_number: 1,
            }],
        });
        assert!(!asks_for_keyframe(&[]));
        assert!(!asks_for_keyframe(std::slice::from_ref(&report)));
        // A browser's compound packet: its report first, the request after it.
        assert!(asks_for_keyframe(&[report.clone(), pli]));
        assert!(asks_for_keyframe(&[report, fir]));
    }

    #[test]
    fn requests_closer_than_the_interval_are_held_back() {
        let start = Instant::now();
        let interval = FORWARDED_REQUEST_INTERVAL;
        let mut last = LastRequest::default();
        assert!(last.due(start, interval), "the first passes");
        assert!(!last.due(start + interval / 2, interval));
        assert!(last.due(start + interval, interval), "one interval later");
        assert!(!last.due(start + interval, interval), "not twice at once");
        // An own request at any time counts as the last one.
        assert!(last.due(start + interval * 3 / 2, Duration::ZERO));
        assert!(!last.due(start + interval * 2, interval));
    }
}
