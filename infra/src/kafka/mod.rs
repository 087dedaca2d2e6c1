//! Kafka: the publisher that copies the event log to a topic, and the feed that lets
//! projectors and reactors read it back. Events travel as structured CloudEvents
//! ([`cloudevent`]), keyed by `stream_id`.

pub mod asyncapi;
pub mod cloudevent;
mod feed;
mod publisher;

pub use feed::KafkaFeed;
pub use publisher::KafkaPublisher;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use std::time::Duration;

pub const DEFAULT_TOPIC: &str = "enkaku.appointments.v1";

#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// `bootstrap.servers`, e.g. `127.0.0.1:9092`.
    pub brokers: String,
    pub topic: String,
    /// Used when enkaku creates a missing topic.
    pub partitions: i32,
    pub replication: i32,
    /// Consumers' client ids (in the broker's logs) are `<prefix><consumer>`, e.g.
    /// `enkaku.schedule`.
    pub client_prefix: String,
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic: DEFAULT_TOPIC.into(),
            partitions: 3,
            replication: 1,
            client_prefix: "enkaku.".into(),
        }
    }

    fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            // After an outage, find the broker again within a second (librdkafka's default
            // backs off up to 10 s).
            .set("reconnect.backoff.max.ms", "1000");
        config
    }
}

/// Create the topic unless it exists (some brokers, tansu among them, do not create topics
/// on first use).
pub async fn ensure_topic(config: &KafkaConfig) -> anyhow::Result<()> {
    let config = config.clone();
    // librdkafka clients block while they shut down (up to their timeouts when the broker
    // is away), so this one lives and dies off the async threads.
    tokio::task::spawn_blocking(move || futures::executor::block_on(create_topic(&config))).await?
}

async fn create_topic(config: &KafkaConfig) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = config.client().create()?;
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let topic = NewTopic::new(
        &config.topic,
        config.partitions,
        TopicReplication::Fixed(config.replication),
    );
    for result in admin.create_topics([&topic], &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("cannot create Kafka topic {name}: {code}"),
        }
    }
    Ok(())
}
