//! Command handlers and the ports they need.
//!
//! A handler loads an aggregate's stream (an appointment's, or a set-up one's), folds it,
//! asks the pure decider what happens, and appends the resulting events with the version it
//! read as the expected version. The store rejects a stale append; the handler then retries
//! on fresh state, so two racing writers never lose an update.

pub mod capability;
pub mod channel;
pub mod delivery;
pub mod ports;
pub mod sealing;
pub mod service;
pub mod setup;

pub use ports::*;
pub use service::*;
pub use setup::{SetupService, Versioned};
