//! Kafka as an event feed: each consumer (a projector runner or a reactor) reads every
//! partition of the topic, from offsets kept in SQL next to what it did with them. The
//! partitions are assigned by enkaku, not balanced by the group coordinator: the offsets in
//! SQL are the source of truth, so a rebalance could only get in the way. Applied offsets
//! are also committed to the consumer group `<prefix><consumer>`, so operators' usual Kafka
//! tools show each consumer's progress.

use super::{KafkaConfig, cloudevent};
use async_trait::async_trait;
use enkaku_projections::FeedError;
use enkaku_projections::feed::{Cursor, EventFeed, FeedBatch, FeedEvent, FeedReader};
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientContext, Message, Offset, Statistics, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct KafkaFeed {
    config: KafkaConfig,
}

impl KafkaFeed {
    pub fn new(config: KafkaConfig) -> Self {
        Self { config }
    }
}

fn unavailable(e: impl std::fmt::Display) -> FeedError {
    FeedError(format!("Kafka: {e}"))
}

#[async_trait]
impl EventFeed for KafkaFeed {
    fn name(&self) -> String {
        format!("kafka:{}", self.config.topic)
    }

    async fn open(&self, consumer: &str, from: &Cursor) -> Result<Box<dyn FeedReader>, FeedError> {
        // Before the first event is published, the topic may not exist yet.
        super::ensure_topic(&self.config).await.map_err(unavailable)?;
        let topic = self.config.topic.clone();
        let context = HighWatermarks {
            topic: topic.clone(),
            high: Mutex::default(),
        };
        let kafka: StreamConsumer<HighWatermarks> = self
            .config
            .client()
            .set("group.id", format!("{}{consumer}", self.config.group_prefix))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            // The broker answers a fetch as soon as data arrives; this bounds the wait when
            // it does not, and so the projection lag.
            .set("fetch.wait.max.ms", "5")
            .set("statistics.interval.ms", "1000")
            .create_with_context(context)
            .map_err(unavailable)?;
        let kafka = Arc::new(kafka);
        let metadata = {
            let (kafka, topic) = (kafka.clone(), topic.clone());
            tokio::task::spawn_blocking(move || kafka.fetch_metadata(Some(&topic), Duration::from_secs(10)))
                .await
                .map_err(unavailable)?
                .map_err(unavailable)?
        };
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err(FeedError(format!(
                "Kafka topic {topic} has no partitions (does it exist?)"
            )));
        }
        let next: Cursor = partitions
            .iter()
            .map(|&p| (p, from.get(&p).copied().unwrap_or(0)))
            .collect();
        let mut assignment = TopicPartitionList::new();
        for (&p, &offset) in &next {
            assignment
                .add_partition_offset(&topic, p, Offset::Offset(offset as i64))
                .map_err(unavailable)?;
        }
        kafka.assign(&assignment).map_err(unavailable)?;
        Ok(Box::new(KafkaReader { kafka, topic, next }))
    }
}

struct KafkaReader {
    kafka: Arc<StreamConsumer<HighWatermarks>>,
    topic: String,
    next: Cursor,
}

impl KafkaReader {
    fn take(&mut self, message: &BorrowedMessage<'_>, batch: &mut FeedBatch) {
        let (partition, offset) = (message.partition(), message.offset() as u64);
        self.next.insert(partition, offset + 1);
        batch.reached.insert(partition, offset + 1);
        match cloudevent::decode(message.payload().unwrap_or_default()) {
            Ok(event) => batch.events.push(FeedEvent {
                partition,
                offset,
                event,
            }),
            // Someone else's message on our topic: step over it rather than stall.
            Err(error) => tracing::warn!(partition, offset, %error, "Kafka message skipped"),
        }
    }
}

#[async_trait]
impl FeedReader for KafkaReader {
    async fn next_batch(&mut self, limit: usize, wait: Duration) -> Result<FeedBatch, FeedError> {
        let mut batch = FeedBatch::default();
        let kafka = self.kafka.clone();
        match tokio::time::timeout(wait, kafka.recv()).await {
            Err(_) => return Ok(batch),
            Ok(first) => self.take(&first.map_err(unavailable)?, &mut batch),
        }
        // Whatever else has already arrived, without waiting.
        while batch.events.len() < limit {
            match tokio::time::timeout(Duration::ZERO, kafka.recv()).await {
                Ok(Ok(message)) => self.take(&message, &mut batch),
                _ => break,
            }
        }
        Ok(batch)
    }

    fn lag(&self) -> u64 {
        let high = self.kafka.context().high.lock().expect("not poisoned");
        self.next
            .iter()
            .map(|(p, &next)| high.get(p).map_or(0, |&h| h.saturating_sub(next)))
            .sum()
    }

    fn applied(&mut self, cursor: &Cursor) {
        let mut offsets = TopicPartitionList::new();
        for (&p, &next) in cursor {
            let _ = offsets.add_partition_offset(&self.topic, p, Offset::Offset(next as i64));
        }
        if let Err(e) = self.kafka.commit(&offsets, CommitMode::Async) {
            tracing::debug!(error = %e, "cannot commit offsets to the consumer group");
        }
    }
}

impl Drop for KafkaReader {
    fn drop(&mut self) {
        // Closing a consumer waits for the broker (up to its timeouts when the broker is
        // away): let that happen off the async threads.
        let kafka = self.kafka.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn_blocking(move || drop(kafka));
        }
    }
}

/// Keeps each partition's high watermark from librdkafka's statistics, for the lag.
struct HighWatermarks {
    topic: String,
    high: Mutex<BTreeMap<i32, u64>>,
}

impl ClientContext for HighWatermarks {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        let mut high = self.high.lock().expect("not poisoned");
        for (&p, partition) in &topic.partitions {
            if p >= 0 && partition.hi_offset >= 0 {
                high.insert(p, partition.hi_offset as u64);
            }
        }
    }
}

impl ConsumerContext for HighWatermarks {}
