//! Adapters: the SQL event store (SQLite or PostgreSQL), the clinic directory, staff
//! sessions, idempotency records, the embedded outbox, and start-up configuration.

pub mod checkpoints;
pub mod db;
pub mod directory;
pub mod event_store;
pub mod feed;
pub mod idempotency;
pub mod outbox;
pub mod secrets;
pub mod sessions;
pub mod ttl_cache;

pub use db::{Backend, Db};
