//! The embedded delivery channel: instead of an SMS or an e-mail, the message is stored for
//! staff to read in 送信ボックス (the delivery log joins it). The delivery id is the primary
//! key, so handing the same message over twice stores it once.

use crate::db::Db;
use async_trait::async_trait;
use chrono::Utc;
use enkaku_commands::channel::{Content, HandedOver, OutgoingMessage, SendError, UrlSender};
use enkaku_domain::values::{Destination, Provider};

#[derive(Clone)]
pub struct Outbox {
    db: Db,
}

impl Outbox {
    pub fn new(db: Db) -> Self {
        Self { db }
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
