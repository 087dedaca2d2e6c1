//! The HTTP API and the process that wires every part together.

pub mod app;
pub mod error;
pub mod extract;
pub mod rate_limit;
pub mod routes;
pub mod state;
pub mod views;

pub use app::{Application, Config, Stack};
