//! The ports: what the command side needs from the outside world. `infra` implements them.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use enkaku_domain::clinic::DayHours;
use enkaku_domain::envelope::{NewEvent, RecordedEvent};
use enkaku_domain::ids::{ClinicId, MenuId, StaffId};
use enkaku_domain::menu::Menu;
use enkaku_domain::personal::Sealed;
use thiserror::Error;
use tokio::sync::watch;
use uuid::Uuid;

/// What the writer believes the stream's version is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have exactly this version.
    Exact(u64),
}

impl ExpectedVersion {
    /// The version a stream has when this expectation holds (0 for no stream).
    pub fn as_version(&self) -> u64 {
        match self {
            Self::NoStream => 0,
            Self::Exact(v) => *v,
        }
    }

    pub fn from_version(version: u64) -> Self {
        if version == 0 {
            Self::NoStream
        } else {
            Self::Exact(version)
        }
    }
}

/// Result of a successful append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append.
    pub version: u64,
    /// The global position of the last event appended.
    pub position: u64,
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("stream {stream_id} is at version {actual}, not {expected}")]
    Conflict {
        stream_id: String,
        expected: u64,
        actual: u64,
    },
    #[error("event store unavailable: {0}")]
    Unavailable(String),
}

/// An append-only log of streams with a global order.
///
/// Guarantees every adapter must keep (the conformance suite in `tests` checks them):
/// an append is all-or-nothing and durable once acknowledged; an append with a stale
/// expected version writes nothing; and global positions become visible in order, so a
/// reader tailing by position never skips an event that commits later.
#[async_trait]
pub trait EventStore: Send + Sync {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError>;

    /// The whole stream, oldest first; empty when it does not exist.
    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events with a position greater than `after`, in position order and
    /// without a gap. It may return fewer than exist (an adapter may answer from the events it
    /// committed itself); a tailer reads again from the last position until it gets nothing.
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The position of the last committed event, published on every commit, so tailing
    /// readers wake up instead of polling.
    fn head(&self) -> watch::Receiver<u64>;
}

/// Time is an input: handlers ask this port, tests can pin it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Fresh identifiers (UUID v7: time-ordered, so indexes stay compact).
pub trait IdSource: Send + Sync {
    fn new_id(&self) -> Uuid;
}

pub struct UuidV7;

impl IdSource for UuidV7 {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

#[derive(Debug, Error)]
#[error("directory unavailable: {0}")]
pub struct DirectoryError(pub String);

/// A doctor of a clinic, as the directory knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Doctor {
    pub id: StaffId,
    pub clinic_id: ClinicId,
    pub name: String,
}

/// The clinic set-up (R1): who the doctors are, which menus exist and when each doctor works.
/// Tenancy is part of every question: a doctor or menu of another clinic is simply not found.
#[async_trait]
pub trait Directory: Send + Sync {
    async fn doctor(&self, clinic: ClinicId, id: StaffId) -> Result<Option<Doctor>, DirectoryError>;
    async fn menu(&self, clinic: ClinicId, id: MenuId) -> Result<Option<Menu>, DirectoryError>;
    async fn clinic(&self, id: ClinicId) -> Result<Option<ClinicProfile>, DirectoryError>;
    /// `doctor`'s hours on the clinic-local `date`: their weekly template, without any
    /// opening when the clinic or the doctor is closed that day.
    async fn day_hours(
        &self,
        clinic: ClinicId,
        doctor: StaffId,
        date: NaiveDate,
    ) -> Result<DayHours, DirectoryError>;
}

/// A clinic's profile as the command side needs it (names in messages, local times).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClinicProfile {
    pub id: ClinicId,
    pub name: String,
    /// For patients' questions: shown in the e-mail with their link.
    pub phone: Option<String>,
    pub time_zone: chrono_tz::Tz,
}

/// A data key's id: what a sealed `personal` member names (SPEC §9).
pub type KeyId = Uuid;

#[derive(Debug, Error)]
pub enum VaultError {
    #[error("key store unavailable: {0}")]
    Unavailable(String),
    /// A sealed member names a key the store never had: keys and events were restored from
    /// different moments, or the key table was edited.
    #[error("no data key {0}")]
    UnknownKey(KeyId),
    /// A sealed member that does not open under its key: changed after it was written, or
    /// moved from another event.
    #[error("the personal data of event {0} does not open under its key")]
    Corrupt(Uuid),
}

/// The data keys that seal patients' personal data in events (SPEC §9): one per appointment,
/// kept wrapped by a master key outside the log. Destroying an appointment's key erases its
/// personal data wherever the log was copied.
#[async_trait]
pub trait Vault: Send + Sync {
    /// A data key no appointment has used yet.
    async fn new_key(&self) -> Result<KeyId, VaultError>;

    /// `plaintext` sealed under `key`, bound to the event `event_id`.
    async fn seal(&self, key: KeyId, event_id: Uuid, plaintext: &[u8]) -> Result<Sealed, VaultError>;

    /// Each `(event id, sealed)` opened, or `None` where its key was destroyed.
    async fn open(&self, sealed: &[(Uuid, &Sealed)]) -> Result<Vec<Option<Vec<u8>>>, VaultError>;

    /// Destroy `keys` for good.
    async fn destroy(&self, keys: &[KeyId]) -> Result<(), VaultError>;
}
