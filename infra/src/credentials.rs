//! What staff sign in with, kept outside the event log (SPEC §8): the address each person
//! signs in with, claimed for them before they join a clinic, and their password hash. A
//! replay of the log rebuilds the directory but never touches these.
//!
//! Sign-in is by address alone, so an address belongs to one person across every clinic on
//! the store. The clinic aggregate keeps addresses unique within a clinic; the claim here,
//! a unique row made before the invitation is appended, keeps them unique across clinics.

use crate::db::Db;
use chrono::{DateTime, Utc};
use enkaku_commands::CommandError;
use enkaku_domain::DomainError;
use enkaku_domain::ids::StaffId;
use enkaku_domain::values::EmailAddress;

#[derive(Clone)]
pub struct Credentials {
    db: Db,
}

fn unavailable(e: sqlx::Error) -> CommandError {
    CommandError::Unavailable(e.to_string())
}

impl Credentials {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Run `join`, the command that adds `staff` with `email` to a clinic, with the address
    /// claimed for them first: another person's address is refused as `email_taken` before
    /// anything is recorded, and a claim whose command failed is given back.
    ///
    /// A crash between the claim and the command leaves the address claimed by nobody on
    /// any roster; an operator frees it by deleting that `staff_credentials` row.
    pub async fn claiming<T>(
        &self,
        staff: StaffId,
        email: &EmailAddress,
        join: impl Future<Output = Result<T, CommandError>>,
    ) -> Result<T, CommandError> {
        self.claim(staff, email).await?;
        let joined = join.await;
        if joined.is_err() {
            self.release(staff).await?;
        }
        joined
    }

    /// Claim `email` for `staff`, with no password yet (an empty hash never verifies).
    /// Claiming one's own address again is no change.
    async fn claim(&self, staff: StaffId, email: &EmailAddress) -> Result<(), CommandError> {
        let login = email.as_str().to_lowercase();
        sqlx::query(
            "INSERT INTO staff_credentials (staff_id, email, password_hash) VALUES ($1, $2, '')
             ON CONFLICT DO NOTHING",
        )
        .bind(staff.to_string())
        .bind(&login)
        .execute(self.db.writer())
        .await
        .map_err(unavailable)?;
        let holder: Option<String> =
            sqlx::query_scalar("SELECT staff_id FROM staff_credentials WHERE email = $1")
                .bind(&login)
                .fetch_optional(self.db.writer())
                .await
                .map_err(unavailable)?;
        match holder {
            Some(holder) if holder == staff.to_string() => Ok(()),
            _ => Err(DomainError::EmailTaken.into()),
        }
    }

    /// Give back a claim that never got a password.
    async fn release(&self, staff: StaffId) -> Result<(), CommandError> {
        sqlx::query("DELETE FROM staff_credentials WHERE staff_id = $1 AND password_hash = ''")
            .bind(staff.to_string())
            .execute(self.db.writer())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Whether `staff` has claimed an address but chosen no password yet.
    pub async fn needs_password(&self, staff: StaffId) -> Result<bool, sqlx::Error> {
        let hash: Option<String> =
            sqlx::query_scalar("SELECT password_hash FROM staff_credentials WHERE staff_id = $1")
                .bind(staff.to_string())
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(hash.is_some_and(|h| h.is_empty()))
    }

    /// Set the first password of `staff`, unless they already have one (the demo seed).
    pub async fn set_initial_password(&self, staff: StaffId, hash: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE staff_credentials SET password_hash = $1 WHERE staff_id = $2 AND password_hash = ''",
        )
        .bind(hash)
        .bind(staff.to_string())
        .execute(self.db.writer())
        .await?;
        Ok(())
    }

    /// End every way `staff` is in: their sessions and their unused set-up links, all or
    /// nothing, at `now`. Returns the digests of the sessions ended, for
    /// `SessionStore::forget`. Done by the deactivation itself, so no cache or read-model lag
    /// lets a request of theirs through afterwards.
    pub async fn end_access(&self, staff: StaffId, now: DateTime<Utc>) -> Result<Vec<String>, sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        let ended = sqlx::query_scalar("DELETE FROM sessions WHERE staff_id = $1 RETURNING token_hash")
            .bind(staff.to_string())
            .fetch_all(&mut *tx)
            .await?;
        sqlx::query("UPDATE setup_links SET used_at_ms = $1 WHERE staff_id = $2 AND used_at_ms IS NULL")
            .bind(now.timestamp_millis())
            .bind(staff.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ended)
    }
}
