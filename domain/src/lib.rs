//! The pure core of enkaku: value types that cannot hold invalid data, the appointment
//! decider (`decide` / `evolve`) and the clinic set-up deciders ([`setup`]), their events, and
//! the envelope every stored event travels in.
//!
//! Nothing in this crate performs I/O, reads the clock or draws random numbers: time, ids and
//! menu snapshots arrive inside commands, so every rule can be tested as
//! *given events, when command, then events or error*.

pub mod appointment;
pub mod clinic;
pub mod envelope;
pub mod error;
pub mod ids;
pub mod menu;
pub mod personal;
pub mod presence;
pub mod setup;
pub mod values;
pub mod vocabulary;

pub use error::{DomainError, ErrorCode, ErrorKind};
