//! Live news of committed changes, for the clinic UI: projectors say which read models a
//! batch touched, the delivery reactor says which appointment's delivery it settled. Pages
//! refetch what is named; nothing is announced before it can be read back.
//!
//! The news is per process: a page hears what this process's runners and reactors did
//! (docs/architecture.md has what that means with several nodes).

use enkaku_domain::ids::{AppointmentId, ClinicId};
use tokio::sync::broadcast;

/// What one committed change touched for one clinic.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub clinic_id: ClinicId,
    /// The read models (projector names) whose rows it changed; empty when it changed only
    /// what an appointment's own page shows (a delivery outcome).
    pub read_models: Vec<&'static str>,
    /// The appointments it changed: an open one reloads. None for a change of the clinic's
    /// set-up (the `directory`).
    pub appointment_ids: Vec<AppointmentId>,
}

impl Change {
    pub fn new(clinic_id: ClinicId) -> Self {
        Self {
            clinic_id,
            read_models: Vec::new(),
            appointment_ids: Vec::new(),
        }
    }

    /// Add that `appointment_id` (if the change was one's) changed in `read_models`, once each.
    pub fn touch(
        &mut self,
        appointment_id: Option<AppointmentId>,
        read_models: impl IntoIterator<Item = &'static str>,
    ) {
        for model in read_models {
            if !self.read_models.contains(&model) {
                self.read_models.push(model);
            }
        }
        if let Some(id) = appointment_id
            && !self.appointment_ids.contains(&id)
        {
            self.appointment_ids.push(id);
        }
    }
}

/// Changes are hints, not data: a listener that falls this far behind is told it lagged and
/// refetches everything.
const BUFFER: usize = 256;

/// Where changes are announced and heard; clones share one channel.
#[derive(Clone)]
pub struct Changes(broadcast::Sender<Change>);

impl Default for Changes {
    fn default() -> Self {
        Self(broadcast::channel(BUFFER).0)
    }
}

impl Changes {
    /// Hear every change announced from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.0.subscribe()
    }

    /// Whether anyone listens: a rebuild or a replay announces to nobody, and need not work
    /// out what its batches touched.
    pub fn heard(&self) -> bool {
        self.0.receiver_count() > 0
    }

    /// Tell every listener; call only once the change is committed.
    pub fn announce(&self, change: Change) {
        // No listener is not an error: changes are only hints.
        let _ = self.0.send(change);
    }
}
