//! Kafka as an event feed: each consumer (a projector runner or a reactor) reads every
//! partition of the topic, from offsets kept in SQL next to what it did with them. The
//! partitions are assigned by enkaku, without the group coordinator: the offsets in SQL are
//! the source of truth, so a rebalance could only get in the way. Nothing is committed to
//! the broker either: closing a consumer waits for its pending commits, which hung shutdown
//! while the broker was away. Each consumer's lag is on `/metrics` instead.

use super::{KafkaConfig, cloudevent};
use async_trait::async_trait;
use enkaku_projections::FeedError;
use enkaku_projections::feed::{Cursor, EventFeed, FeedBatch, FeedEvent, FeedReader};
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
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
            // librdkafka wants a group id for any consumer; nothing is committed to it.
            .set("group.id", format!("{}{consumer}", self.config.client_prefix))
            .set("client.id", format!("{}{consumer}", self.config.client_prefix))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            // The broker answers a fetch as soon as data arrives; this bounds the wait when
            // it does not, and so the projection lag.
            .set("fetch.wait.max.ms", "5")
            .set("statistics.interval.ms", "1000")
            .create_with_context(context)
            .map_err(unavailable)?;
        // From here on, the reader owns the consumer, so an early return closes it off the
        // async threads too.
        let mut reader = KafkaReader {
            kafka: Some(Arc::new(kafka)),
            next: Cursor::new(),
        };
        let metadata = {
            let (kafka, topic) = (reader.kafka().clone(), topic.clone());
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
        reader.next = partitions
            .iter()
            .map(|&p| (p, from.get(&p).copied().unwrap_or(0)))
            .collect();
        let mut assignment = TopicPartitionList::new();
        for (&p, &offset) in &reader.next {
            assignment
                .add_partition_offset(&topic, p, Offset::Offset(offset as i64))
                .map_err(unavailable)?;
        }
        reader.kafka().assign(&assignment).map_err(unavailable)?;
        Ok(Box::new(reader))
    }
}

struct KafkaReader {
    /// Always `Some` until dropped: `Drop` moves it to a blocking thread (see there).
    kafka: Option<Arc<StreamConsumer<HighWatermarks>>>,
    next: Cursor,
}

impl KafkaReader {
    fn kafka(&self) -> &Arc<StreamConsumer<HighWatermarks>> {
        self.kafka.as_ref().expect("present until dropped")
    }

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
        let kafka = self.kafka().clone();
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
        let high = self.kafka().context().high.lock().expect("not poisoned");
        self.next
            .iter()
            .map(|(p, &next)| high.get(p).map_or(0, |&h| h.saturating_sub(next)))
            .sum()
    }
}

impl Drop for KafkaReader {
    fn drop(&mut self) {
        // Closing a consumer waits for the broker (up to its timeouts when the broker is
        // away): let that happen off the async threads. Every other handle is a clone held
        // only while a call runs, and calls borrow the reader, so this is the last one.
        let kafka = self.kafka.take();
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
