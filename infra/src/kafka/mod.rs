//! Kafka: the publisher that copies the event log to two topics — the appointments' events
//! and the clinic set-up's — and the feed that lets projectors and reactors read the
//! appointments' back. Events travel as structured CloudEvents ([`cloudevent`]), keyed by
//! `stream_id`.

pub mod asyncapi;
pub mod cloudevent;
mod feed;
mod publisher;

pub use feed::KafkaFeed;
pub use publisher::{CheckpointPublisher, KafkaPublisher};

use enkaku_domain::envelope::StoredEvent;
use enkaku_domain::setup;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use std::time::Duration;

pub const DEFAULT_TOPIC: &str = "enkaku.appointments.v1";
pub const DEFAULT_SETUP_TOPIC: &str = "enkaku.setup.v1";
pub const DEFAULT_CHECKPOINT_TOPIC: &str = "enkaku.audit.checkpoints.v1";

#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// `bootstrap.servers`, e.g. `127.0.0.1:9092`.
    pub brokers: String,
    /// The appointments' events (and their calls'): what projectors and reactors read.
    pub topic: String,
    /// The clinic set-up's events (clinics, staff, menus, hours, closures), for integrators.
    pub setup_topic: String,
    /// The signed checkpoints of the audit trail (docs/audit.md), for auditors to keep
    /// outside the writer's reach. One partition: they arrive in the order they were signed.
    pub checkpoint_topic: String,
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
            setup_topic: DEFAULT_SETUP_TOPIC.into(),
            checkpoint_topic: DEFAULT_CHECKPOINT_TOPIC.into(),
            partitions: 3,
            replication: 1,
            client_prefix: "enkaku.".into(),
        }
    }

    /// The topic the events of stream `stream_id` are published to.
    pub fn topic_of(&self, stream_id: &str) -> &str {
        if <setup::Event as StoredEvent>::in_family(stream_id) {
            &self.setup_topic
        } else {
            &self.topic
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

/// Create the topics unless they exist (some brokers, tansu among them, do not create topics
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
    let topics = [
        (&config.topic, config.partitions),
        (&config.setup_topic, config.partitions),
        (&config.checkpoint_topic, 1),
    ]
    .map(|(name, partitions)| NewTopic::new(name, partitions, TopicReplication::Fixed(config.replication)));
    for result in admin.create_topics(&topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("cannot create Kafka topic {name}: {code}"),
        }
    }
    Ok(())
}
