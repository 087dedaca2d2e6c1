//! The embedded delivery channel: instead of an SMS or an e-mail, the message is stored for
//! staff to read in the UI (and for tests to check). The delivery id is the primary key, so
//! handing the same message over twice stores it once.

use crate::db::Db;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use enkaku_commands::channel::{Content, HandedOver, OutgoingMessage, SendError, UrlSender};
use enkaku_domain::ids::ClinicId;
use enkaku_domain::values::{Channel, Destination, Provider};
use enkaku_domain::vocabulary::UnknownName;
use sqlx::FromRow;

#[derive(Clone, Debug)]
pub struct OutboxMessage {
    pub delivery_id: String,
    pub appointment_id: String,
    pub channel: Channel,
    pub destination: String,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// A stored message as the table holds it: the channel by its name.
#[derive(FromRow)]
struct OutboxRow {
    delivery_id: String,
    appointment_id: String,
    channel: String,
    destination: String,
    subject: String,
    body: String,
    created_at_ms: i64,
}

impl TryFrom<OutboxRow> for OutboxMessage {
    type Error = sqlx::Error;

    /// A channel that is not one, or a time out of range, fails the read: a broken row, not a
    /// message to show.
    fn try_from(row: OutboxRow) -> Result<Self, sqlx::Error> {
        let channel = row.channel.parse().map_err(|e: UnknownName| {
            sqlx::Error::Decode(format!("outbox row with a bad {}: {}", e.vocabulary, row.channel).into())
        })?;
        let created_at = DateTime::from_timestamp_millis(row.created_at_ms).ok_or_else(|| {
            sqlx::Error::Decode(format!("outbox row with a bad time: {}", row.created_at_ms).into())
        })?;
        Ok(Self {
            delivery_id: row.delivery_id,
            appointment_id: row.appointment_id,
            channel,
            destination: row.destination,
            subject: row.subject,
            body: row.body,
            created_at,
        })
    }
}

#[derive(Clone)]
pub struct Outbox {
    db: Db,
}

impl Outbox {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The clinic's newest messages first.
    pub async fn list(&self, clinic: ClinicId, limit: i64) -> Result<Vec<OutboxMessage>, sqlx::Error> {
        let rows: Vec<OutboxRow> = sqlx::query_as(
            "SELECT delivery_id, appointment_id, channel, destination, subject, body, created_at_ms
             FROM outbox_messages WHERE clinic_id = $1 ORDER BY created_at_ms DESC, delivery_id DESC LIMIT $2",
        )
        .bind(clinic.to_string())
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        rows.into_iter().map(OutboxMessage::try_from).collect()
    }
}

#[async_trait]
impl UrlSender for Outbox {
    async fn send(&self, m: &OutgoingMessage) -> Result<HandedOver, SendError> {
        let (subject, body) = match &m.content {
            Content::Sms { text } => ("", text),
            Content::Email { subject, text, .. } => (subject.as_str(), text),
        };
        sqlx::query(
            "INSERT INTO outbox_messages (delivery_id, clinic_id, appointment_id, channel, destination, subject, body, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (delivery_id) DO NOTHING",
        )
        .bind(m.delivery_id.to_string())
        .bind(m.clinic_id.to_string())
        .bind(m.appointment_id.to_string())
        .bind(m.destination.channel().as_str())
        .bind(m.destination.address())
        .bind(subject)
        .bind(body)
        .bind(Utc::now().timestamp_millis())
        .execute(self.db.writer())
        .await
        .map(|_| HandedOver {
            provider: Provider::Outbox,
            provider_message_id: None,
        })
        .map_err(|e| SendError::Transient {
            reason: e.to_string(),
            retry_after: None,
        })
    }

    fn repeat_is_harmless(&self, _: &Destination) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(channel: &str) -> OutboxRow {
        OutboxRow {
            delivery_id: "d".into(),
            appointment_id: "a".into(),
            channel: channel.into(),
            destination: "+819012345678".into(),
            subject: String::new(),
            body: String::new(),
            created_at_ms: 0,
        }
    }

    #[test]
    fn a_stored_channel_reads_back_and_an_unknown_one_fails_the_row() {
        for channel in Channel::ALL {
            assert_eq!(
                OutboxMessage::try_from(row(channel.as_str())).unwrap().channel,
                channel
            );
        }
        let error = OutboxMessage::try_from(row("fax")).unwrap_err();
        assert!(error.to_string().contains("bad channel: fax"), "{error}");
    }
}
