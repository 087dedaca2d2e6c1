//! Projectors fold the ordered event feed into SQL read models: the **schedule** (per
//! doctor, per day, every kind of appointment) and the **reception list** (per day, in-clinic
//! bookings only); beside them the **presence** of each call (who has it open), the
//! **delivery log** of patient links (送信ボックス), and the **patient search** (患者検索: every
//! appointment by the words of its patient's name or title and its chart number).
//!
//! The **directory** (clinics, staff, menus, hours, closures) is folded the same way from the
//! set-up streams, by a runner of its own (see [`directory`]).
//!
//! Reactors (URL delivery, the media relay's hook) run on the same feeds.
//!
//! Each projector keeps its offsets in the same transaction as its rows, so a crash can
//! never leave rows ahead of or behind the checkpoint; rows also carry the stream version
//! they reflect, so applying an event twice changes nothing.

pub mod bulk;
pub mod changes;
pub mod deliveries;
pub mod directory;
pub mod feed;
pub mod offsets;
pub mod patient_search;
pub mod presence;
pub mod queries;
pub mod reactor;
pub mod reception;
pub mod runner;
pub mod schedule;
pub mod writes;

pub use changes::{Change, Changes};
pub use feed::{EventFeed, FeedError};
pub use reactor::{Reactor, ReactorRunner, Relay, RetryLater};
pub use runner::{ProjectionRunner, Projector, QueryIndex, RunningProjections, WriteTransactions};

use std::sync::Arc;

/// Every projector enkaku runs, in a stable order.
pub fn all() -> Vec<Arc<dyn Projector>> {
    vec![
        Arc::new(schedule::ScheduleProjector),
        Arc::new(reception::ReceptionProjector),
        Arc::new(presence::PresenceProjector),
        Arc::new(deliveries::DeliveriesProjector),
        Arc::new(patient_search::PatientSearchProjector),
    ]
}

/// The read models of the set-up streams.
pub fn setup() -> Vec<Arc<dyn Projector<enkaku_domain::setup::Event>>> {
    vec![Arc::new(directory::DirectoryProjector)]
}
