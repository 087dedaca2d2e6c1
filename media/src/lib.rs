//! The media relay. Its hook into the event feed: the relay learns that a call started or
//! ended from `CallStarted` / `CallEnded` / `CallCancelled` events, whichever feed (the
//! store's log or Kafka) carries them. And what it does with a packet (`forward`): which of
//! one side's media reaches the other when, renumbered for the other side's leg. The peer
//! connections that carry the packets subscribe to the signals to open and close rooms.

pub mod codecs;
pub mod forward;
pub mod ice_servers;
pub mod keyframes;
pub mod ports;
pub mod relay;

use enkaku_domain::ids::AppointmentId;
use tokio::sync::broadcast;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallSignal {
    /// Staff started the call: the relay may admit the patient.
    Started(AppointmentId),
    /// The call ended or was cancelled: the relay closes the room.
    Closed(AppointmentId),
}

/// Fans call signals out to the relay's listeners. Signals are live news, not state: a
/// listener that joins later asks the appointment's stream for the current status.
#[derive(Clone)]
pub struct CallSignals(broadcast::Sender<CallSignal>);

impl Default for CallSignals {
    fn default() -> Self {
        Self(broadcast::channel(1024).0)
    }
}

impl CallSignals {
    pub fn publish(&self, signal: CallSignal) {
        // No listener is fine: then no room needs the news.
        let _ = self.0.send(signal);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CallSignal> {
        self.0.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[tokio::test]
    async fn listeners_hear_signals_sent_after_they_subscribed() {
        let signals = CallSignals::default();
        let id = AppointmentId(Uuid::now_v7());
        signals.publish(CallSignal::Closed(id)); // nobody listens yet: dropped, no error
        let mut listener = signals.subscribe();
        signals.publish(CallSignal::Started(id));
        assert_eq!(listener.recv().await.unwrap(), CallSignal::Started(id));
    }
}
