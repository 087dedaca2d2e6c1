//! The publisher (an outbox relay): a relay on the store's log that produces each event to
//! Kafka — an appointment's to the appointments' topic, a set-up event to the set-up topic —
//! and moves its offset only after the broker acknowledged the whole batch.
//!
//! The producer is idempotent with `acks=all`, so the broker neither duplicates nor reorders
//! what one producer session sent. A batch that fails (broker down past the message timeout)
//! is sent again from the saved offset, and so is everything after a crash between the
//! acknowledgement and the save: integrators can see an event twice, always with the same
//! id, and never out of order per key before its first copy.

use super::{KafkaConfig, cloudevent};
use crate::audit::checkpoint::Checkpoint;
use async_trait::async_trait;
use enkaku_projections::feed::FeedEvent;
use enkaku_projections::{Relay, RetryLater};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A producer that waits for every in-sync replica and never writes a message twice, with
/// the topics made sure of on its first send, not at start: so enkaku starts (and takes
/// commands) while the broker is still away.
struct AckedProducer {
    producer: FutureProducer,
    config: KafkaConfig,
    topics_ready: AtomicBool,
}

impl AckedProducer {
    /// `linger_ms`: how long the producer waits to fill a batch.
    fn new(config: &KafkaConfig, linger_ms: u32) -> anyhow::Result<Self> {
        let producer = config
            .client()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // A broker outage longer than this fails the send, which is then made again.
            .set("message.timeout.ms", "30000")
            .set("linger.ms", linger_ms.to_string())
            .create()?;
        Ok(Self {
            producer,
            config: config.clone(),
            topics_ready: AtomicBool::new(false),
        })
    }

    /// Create the topics if missing, the first time only.
    async fn topics_ready(&self) -> anyhow::Result<()> {
        if !self.topics_ready.load(Ordering::Relaxed) {
            super::ensure_topic(&self.config).await?;
            self.topics_ready.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

pub struct KafkaPublisher {
    sender: AckedProducer,
    /// Its offsets' key: one place in the log per appointments' topic.
    name: String,
}

impl KafkaPublisher {
    pub fn new(config: &KafkaConfig) -> anyhow::Result<Self> {
        Ok(Self {
            sender: AckedProducer::new(config, 1)?,
            name: format!("kafka_publisher:{}", config.topic),
        })
    }
}

#[async_trait]
impl Relay for KafkaPublisher {
    fn name(&self) -> &str {
        &self.name
    }

    /// Every batch waits for the broker's acknowledgements before the next is read, so a
    /// backlog drains in large batches.
    fn batch_size(&self) -> usize {
        4096
    }

    async fn relay(&self, batch: &[FeedEvent]) -> Result<bool, RetryLater> {
        self.sender
            .topics_ready()
            .await
            .map_err(|e| RetryLater(e.to_string()))?;
        let started = std::time::Instant::now();
        let mut acks = Vec::with_capacity(batch.len());
        for fed in batch {
            let event = &fed.event;
            let payload = cloudevent::encode(event);
            let headers = OwnedHeaders::new().insert(Header {
                key: "content-type",
                value: Some(cloudevent::CONTENT_TYPE),
            });
            let mut record = FutureRecord::to(self.sender.config.topic_of(&event.stream_id))
                .key(&event.stream_id)
                .payload(&payload)
                .headers(headers);
            // Enqueued one after another, so the producer keeps the log's order per key.
            loop {
                match self.sender.producer.send_result(record) {
                    Ok(ack) => break acks.push(ack),
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => return Err(RetryLater(format!("cannot produce to Kafka: {e}"))),
                }
            }
        }
        let enqueued = started.elapsed();
        for ack in acks {
            match ack.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(RetryLater(format!("Kafka did not take an event: {e}"))),
                Err(_) => return Err(RetryLater("the Kafka producer shut down".into())),
            }
        }
        tracing::debug!(
            events = batch.len(),
            enqueue_ms = enqueued.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "published a batch"
        );
        // Sending again after a crash only makes duplicates consumers already drop by id, so
        // the place is saved once a second rather than after every batch.
        Ok(false)
    }
}

/// Produces each signed checkpoint of the audit trail to the checkpoints topic, keyed by the
/// log's name, and waits for the broker's acknowledgement.
pub struct CheckpointPublisher {
    sender: AckedProducer,
}

impl CheckpointPublisher {
    pub fn new(config: &KafkaConfig) -> anyhow::Result<Self> {
        Ok(Self {
            sender: AckedProducer::new(config, 0)?,
        })
    }

    pub async fn publish(&self, checkpoint: &Checkpoint) -> anyhow::Result<()> {
        self.sender.topics_ready().await?;
        let payload = serde_json::to_vec(checkpoint)?;
        let record = FutureRecord::to(&self.sender.config.checkpoint_topic)
            .key(checkpoint.log.name())
            .payload(&payload)
            .headers(OwnedHeaders::new().insert(Header {
                key: "content-type",
                value: Some("application/json"),
            }));
        self.sender
            .producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| anyhow::anyhow!("the checkpoint was not acknowledged: {e}"))?;
        Ok(())
    }
}
