//! The two logs the Merkle trees cover, and the bytes of a record *exactly as stored*: the
//! columns of its row as the database holds them (the event's `data` with patient data
//! sealed), so the tree still holds after a data key is destroyed.
//!
//! A record's bytes are its log's tag, then each column as text (integers in decimal), every
//! part preceded by its length as 4 bytes big-endian. Nothing is parsed or re-encoded on the
//! way, so any change to a stored byte changes the leaf.

use crate::db::Db;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Log {
    /// The event store: every command's outcome.
    Events,
    /// Who signed in, read or changed what.
    Access,
}

impl Log {
    pub const ALL: [Log; 2] = [Log::Events, Log::Access];

    pub fn name(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::Access => "access",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|log| log.name() == name)
    }

    /// The first part of every record's bytes, so a record of one log never passes for one
    /// of another.
    fn tag(self) -> &'static str {
        match self {
            Self::Events => "enkaku-event-v1",
            Self::Access => "enkaku-access-v1",
        }
    }

    fn columns(self) -> &'static [Column] {
        use Column::{Int, Text, TextOrNull};
        match self {
            Self::Events => &[
                Int("position"),
                Text("event_id"),
                Text("stream_id"),
                Int("version"),
                Text("event_type"),
                Int("schema_version"),
                Text("occurred_at"),
                Text("data"),
                Text("metadata"),
            ],
            Self::Access => &[
                Int("position"),
                Text("at"),
                TextOrNull("clinic_id"),
                TextOrNull("staff_id"),
                Text("action"),
                Text("resource"),
                TextOrNull("appointment_id"),
                Text("outcome"),
                Text("request_id"),
                Text("client"),
                TextOrNull("subject_hmac"),
            ],
        }
    }

    fn table(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::Access => "access_log",
        }
    }

    /// Up to `limit` records after `after`, in order, as `(position, bytes)`.
    pub async fn read(self, db: &Db, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, sqlx::Error> {
        let columns = self
            .columns()
            .iter()
            .map(Column::select)
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM {} WHERE position > $1 ORDER BY position LIMIT $2",
            self.table()
        );
        let rows = sqlx::query(&sql)
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&db.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let position: i64 = row.try_get(0)?;
                Ok((position as u64, self.bytes(row)?))
            })
            .collect()
    }

    fn bytes(self, row: &AnyRow) -> Result<Vec<u8>, sqlx::Error> {
        let mut out = Vec::with_capacity(512);
        part(&mut out, self.tag().as_bytes());
        for (i, column) in self.columns().iter().enumerate() {
            match column {
                Column::Int(_) => part(&mut out, row.try_get::<i64, _>(i)?.to_string().as_bytes()),
                Column::Text(_) => part(&mut out, row.try_get::<String, _>(i)?.as_bytes()),
                // Absent and empty differ: an absent value is the single byte 0xFF, which no
                // UTF-8 text is.
                Column::TextOrNull(_) => match row.try_get::<Option<String>, _>(i)? {
                    Some(text) => part(&mut out, text.as_bytes()),
                    None => part(&mut out, &[0xFF]),
                },
            }
        }
        Ok(out)
    }
}

enum Column {
    Int(&'static str),
    Text(&'static str),
    TextOrNull(&'static str),
}

impl Column {
    /// Integers are read as 64-bit on both backends (PostgreSQL's INTEGER is 32-bit).
    fn select(&self) -> String {
        match self {
            Self::Int(name) => format!("CAST({name} AS BIGINT)"),
            Self::Text(name) | Self::TextOrNull(name) => (*name).to_owned(),
        }
    }
}

fn part(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}
