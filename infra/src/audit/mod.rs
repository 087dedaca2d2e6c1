//! The audit trail (docs/audit.md): the access log, the Merkle trees that make the event log
//! and the access log tamper-evident, signed checkpoints, and their verification.

pub mod access;
pub mod checkpoint;
pub mod merkle;
pub mod prune;
pub mod records;
pub mod trail;
pub mod tree;
pub mod verify;

pub use records::Log;
pub use trail::AuditTrail;
