//! The embedded delivery channel: instead of an SMS or an e-mail, the message is stored for
//! staff to read in the UI (and for tests to check). The delivery id is the primary key, so
//! handing the same message over twice stores it once.

use crate::db::Db;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use enkaku_commands::delivery::{OutgoingMessage, SendError, UrlSender};
use enkaku_domain::ids::ClinicId;
use serde::Serialize;
use sqlx::FromRow;

#[derive(Clone, Debug, Serialize, FromRow)]
pub struct OutboxMessage {
    pub delivery_id: String,
    pub appointment_id: String,
    pub channel: String,
    pub destination: String,
    pub subject: String,
    pub body: String,
    #[serde(skip)]
    pub created_at_ms: i64,
}

impl OutboxMessage {
    pub fn created_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.created_at_ms).unwrap_or_default()
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
        sqlx::query_as(
            "SELECT delivery_id, appointment_id, channel, destination, subject, body, created_at_ms
             FROM outbox_messages WHERE clinic_id = $1 ORDER BY created_at_ms DESC, delivery_id DESC LIMIT $2",
        )
        .bind(clinic.to_string())
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await
    }
}

#[async_trait]
impl UrlSender for Outbox {
    async fn send(&self, m: &OutgoingMessage) -> Result<(), SendError> {
        sqlx::query(
            "INSERT INTO outbox_messages (delivery_id, clinic_id, appointment_id, channel, destination, subject, body, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (delivery_id) DO NOTHING",
        )
        .bind(m.delivery_id.to_string())
        .bind(m.clinic_id.to_string())
        .bind(m.appointment_id.to_string())
        .bind(m.destination.channel().as_str())
        .bind(m.destination.address())
        .bind(&m.subject)
        .bind(&m.body)
        .bind(Utc::now().timestamp_millis())
        .execute(self.db.writer())
        .await
        .map(|_| ())
        .map_err(|e| SendError::Unavailable(e.to_string()))
    }
}
