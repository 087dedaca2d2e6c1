//! The background consumers of the event feed, wired for the chosen mode:
//!
//! - embedded: one projection runner for every read model, and the reactors (URL delivery,
//!   the media relay's hook), all reading the store's log;
//! - Kafka: the publisher reads the store's log into the topic; one projection runner per
//!   read model and the reactors read the topic, each as its own consumer.

use enkaku_commands::CommandError;
use enkaku_commands::delivery::DeliveryWorker;
use enkaku_domain::appointment::Event;
use enkaku_domain::ids::AppointmentId;
use enkaku_media::{CallSignal, CallSignals};
use enkaku_projections::feed::FeedEvent;
use enkaku_projections::runner::ProjectionError;
use enkaku_projections::{ProjectionRunner, Reactor, ReactorRunner, RetryLater};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Clone, Default)]
pub struct Workers {
    pub projections: Vec<Arc<ProjectionRunner>>,
    pub reactors: Vec<Arc<ReactorRunner>>,
}

/// How far behind the feed one consumer is.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ConsumerLag {
    pub name: String,
    /// `projection`, `reactor` or `publisher`.
    pub kind: &'static str,
    /// `log` or `kafka:<topic>`.
    pub feed: String,
    /// Events in the feed it has not handled yet.
    pub lag: u64,
}

/// The name the publisher's reactor has; its lag is the publisher lag.
pub fn is_publisher(name: &str) -> bool {
    name.starts_with("kafka_publisher")
}

impl Workers {
    pub fn spawn(&self, stop: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let projections = self
            .projections
            .iter()
            .map(|r| tokio::spawn(r.clone().run(stop.clone())));
        let reactors = self
            .reactors
            .iter()
            .map(|r| tokio::spawn(r.clone().run(stop.clone())));
        projections.chain(reactors).collect()
    }

    /// The lowest position every read model has reached (see `ProjectionRunner::position`).
    pub async fn projected(&self) -> Result<u64, ProjectionError> {
        let mut lowest = None::<u64>;
        for runner in &self.projections {
            let p = runner.position().await?;
            lowest = Some(lowest.map_or(p, |l| l.min(p)));
        }
        Ok(lowest.unwrap_or(0))
    }

    pub fn lags(&self) -> Vec<ConsumerLag> {
        let projections = self.projections.iter().map(|r| ConsumerLag {
            name: r.name().to_owned(),
            kind: "projection",
            feed: r.feed_name(),
            lag: r.lag(),
        });
        let reactors = self.reactors.iter().map(|r| ConsumerLag {
            name: r.name().to_owned(),
            kind: if is_publisher(r.name()) {
                "publisher"
            } else {
                "reactor"
            },
            feed: r.feed_name(),
            lag: r.lag(),
        });
        projections.chain(reactors).collect()
    }
}

/// URL delivery as a reactor.
pub struct Delivery(pub DeliveryWorker);

#[async_trait::async_trait]
impl Reactor for Delivery {
    fn name(&self) -> &str {
        "url_delivery"
    }

    async fn react(&self, batch: &[FeedEvent]) -> Result<bool, RetryLater> {
        let mut delivered = false;
        for fed in batch {
            delivered |= self
                .0
                .handle(&fed.event)
                .await
                .map_err(|e: CommandError| RetryLater(e.to_string()))?;
        }
        Ok(delivered)
    }
}

/// The media relay's hook: call starts and ends become signals to the relay.
pub struct CallHook(pub CallSignals);

#[async_trait::async_trait]
impl Reactor for CallHook {
    fn name(&self) -> &str {
        "media_relay"
    }

    async fn react(&self, batch: &[FeedEvent]) -> Result<bool, RetryLater> {
        for fed in batch {
            let e = &fed.event;
            if !matches!(
                e.event_type.as_str(),
                "CallStarted" | "CallEnded" | "CallCancelled"
            ) {
                continue;
            }
            let (Some(id), Ok(event)) = (
                AppointmentId::from_stream_id(&e.stream_id),
                Event::decode(&e.event_type, e.schema_version, &e.data),
            ) else {
                continue;
            };
            self.0.publish(match event {
                Event::CallStarted(_) => CallSignal::Started(id),
                _ => CallSignal::Closed(id),
            });
        }
        // Signals are live news: the place need not be saved after each batch.
        Ok(false)
    }
}
