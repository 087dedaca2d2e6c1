//! What erasing an appointment's personal data (SPEC §9, docs/privacy.md) empties besides its
//! data keys and the read models, which fold the erasure event themselves: the copies enkaku
//! keeps for its own work.

use crate::db::{Backend, Db};
use crate::privacy;
use enkaku_commands::CommandError;
use enkaku_commands::ports::{EventStore, Vault};
use enkaku_commands::sealing;
use enkaku_domain::ids::AppointmentId;

/// Finish the erasure of `appointment`, recorded in its stream: destroy its data keys, drop
/// what its events from before sealing hold in the clear, and delete the copies. Each step is
/// harmless to repeat.
pub async fn finish(
    db: &Db,
    store: &dyn EventStore,
    vault: &dyn Vault,
    appointment: AppointmentId,
) -> Result<(), CommandError> {
    let stream = store.read_stream(&appointment.stream_id()).await?;
    vault.destroy(&sealing::keys_of(&stream)).await?;
    privacy::drop_old(db, vault, &stream).await?;
    purge_copies(db, appointment)
        .await
        .map_err(|e| CommandError::Unavailable(e.to_string()))
}

/// Delete the outbox's messages to the patient (they hold the address and the link), the
/// saved answers of idempotent requests (they hold what the request and answer held), and
/// the delivery queue's last provider error (a provider may quote the number).
async fn purge_copies(db: &Db, appointment: AppointmentId) -> Result<(), sqlx::Error> {
    let id = appointment.to_string();
    let mut tx = db.begin_write().await?;
    for statement in [
        "DELETE FROM outbox_messages WHERE appointment_id = $1",
        "DELETE FROM idempotency_keys WHERE appointment_id = $1",
        "UPDATE delivery_queue SET last_error = NULL WHERE appointment_id = $1",
    ] {
        sqlx::query(statement).bind(&id).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// On SQLite, copy the write-ahead log into the database and truncate it, so that no page
/// from before an erasure lingers there; freed space in the database itself is zeroed
/// (`secure_delete`). PostgreSQL keeps dead rows until vacuum (docs/privacy.md).
pub async fn flush_wal(db: &Db) -> Result<(), sqlx::Error> {
    if db.backend == Backend::Sqlite {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(db.writer())
            .await?;
    }
    Ok(())
}
