//! Adapters: the SQL event store (SQLite or PostgreSQL), the event feeds (the store's log,
//! Kafka) and the Kafka publisher, the clinic directory and its demo seed, staff password
//! hashing, staff sessions, idempotency records, the embedded outbox and the Twilio SMS
//! channel, and start-up configuration.

pub mod data_dir;
pub mod db;
pub mod demo;
pub mod directory;
pub mod event_store;
pub mod feed;
pub mod idempotency;
pub mod kafka;
pub mod outbox;
pub mod passwords;
pub mod secrets;
pub mod sessions;
pub mod ttl_cache;
pub mod twilio;

pub use db::{Backend, Db};
