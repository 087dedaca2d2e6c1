//! Adapters: the SQL event store (SQLite or PostgreSQL), the event feeds (the store's log,
//! Kafka) and the Kafka publisher, the clinic directory, its demo seed and the conversion of
//! pre-event set-up tables, staff credentials and password hashing, staff sessions, set-up
//! links and two-factor sign-in, the data keys that seal personal data, idempotency records, the delivery channels (the embedded outbox,
//! Twilio, SMTP) and the delivery worker's queue, and start-up configuration.

pub mod audit;
pub mod bootstrap;
pub mod channels;
pub mod credentials;
pub mod data_dir;
pub mod db;
pub mod delivery_queue;
pub mod demo;
pub mod directory;
pub mod erasure;
pub mod event_store;
pub mod feed;
pub mod idempotency;
pub mod integrations;
pub mod kafka;
pub mod legacy;
pub mod mail;
pub mod outbox;
pub mod passwords;
pub mod privacy;
pub mod secrets;
pub mod sessions;
pub mod setup_links;
mod sqlite_log;
mod sqlite_writer;
mod tokens;
pub mod ttl_cache;
pub mod twilio;
pub mod two_factor;
pub mod vault;

pub use db::{Backend, Db};
