//! Staff sessions. The token is handed to the client once; only its digest is stored
//! (`crate::tokens`), so a copy of the database does not let anyone log in.

use crate::db::Db;
use crate::tokens::{digest, random_token};
use chrono::{DateTime, Duration, Utc};
use enkaku_domain::ids::{ClinicId, StaffId};
use tokio::sync::broadcast;

/// A session's name in the store: the digest of its token. Safe to hold on to (it does not
/// log anyone in) where the token itself must not linger, e.g. in a long-lived stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionKey(String);

impl SessionKey {
    /// The token's digest, as the `sessions` table keys it.
    pub fn digest(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub key: SessionKey,
    pub staff_id: StaffId,
    pub clinic_id: ClinicId,
    /// Double-submit token: cookie-authenticated mutations must echo it in `X-CSRF-Token`.
    pub csrf_token: String,
    /// Signed in while the clinic requires two-factor and the person had not enrolled: the
    /// session may only enrol (and say who it is, and log out) until they have.
    pub enrolment_only: bool,
}

/// A freshly issued session: the secrets go to the client, never to a log.
pub struct IssuedSession {
    pub token: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// A used session's idle deadline is moved forward at most this often: a write a minute per
/// active session, not one per request.
const IDLE_STEP: Duration = Duration::minutes(1);

#[derive(Clone)]
pub struct SessionStore {
    db: Db,
    ttl: Duration,
    /// How long a session may go unused before it ends.
    idle: Duration,
    /// Sessions revoked in this process, for what outlives a request (see [`Self::ended`]).
    revoked: broadcast::Sender<SessionKey>,
}

impl SessionStore {
    /// Sessions that last `ttl` at most, and end after `idle` unused.
    pub fn new(db: Db, ttl: Duration, idle: Duration) -> Self {
        Self {
            db,
            ttl,
            idle,
            revoked: broadcast::channel(256).0,
        }
    }

    pub async fn issue(
        &self,
        staff: StaffId,
        clinic: ClinicId,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, sqlx::Error> {
        self.issue_scoped(staff, clinic, now, false).await
    }

    /// A new session; `enrolment_only`: see [`Session::enrolment_only`].
    pub async fn issue_scoped(
        &self,
        staff: StaffId,
        clinic: ClinicId,
        now: DateTime<Utc>,
        enrolment_only: bool,
    ) -> Result<IssuedSession, sqlx::Error> {
        let session = IssuedSession {
            token: random_token(),
            csrf_token: random_token(),
            expires_at: now + self.ttl,
        };
        sqlx::query(
            "INSERT INTO sessions (token_hash, staff_id, clinic_id, csrf_token, expires_at_ms, idle_until_ms, enrolment_only)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(digest(&session.token))
        .bind(staff.to_string())
        .bind(clinic.to_string())
        .bind(&session.csrf_token)
        .bind(session.expires_at.timestamp_millis())
        .bind((now + self.idle).timestamp_millis())
        .bind(i32::from(enrolment_only))
        .execute(self.db.writer())
        .await?;
        Ok(session)
    }

    /// The live session a token opens, if any; using it moves its idle deadline forward.
    ///
    /// Every request asks the database (a primary-key read), with no cache in front: a
    /// session ended anywhere — a logout, a password change, a deactivation, on whichever
    /// node — is refused at once on every node.
    pub async fn find(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Session>, sqlx::Error> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let key = digest(token);
        let row: Option<(String, String, String, Option<i64>, i32)> = sqlx::query_as(
            "SELECT staff_id, clinic_id, csrf_token, idle_until_ms, enrolment_only FROM sessions
             WHERE token_hash = $1 AND expires_at_ms > $2 AND (idle_until_ms IS NULL OR idle_until_ms > $2)",
        )
        .bind(&key)
        .bind(now.timestamp_millis())
        .fetch_optional(&self.db.pool)
        .await?;
        let Some((staff, clinic, csrf_token, idle_until_ms, enrolment_only)) = row else {
            return Ok(None);
        };
        let idle_until = now + self.idle;
        if idle_until_ms.is_none_or(|at| at < (idle_until - IDLE_STEP).timestamp_millis()) {
            sqlx::query("UPDATE sessions SET idle_until_ms = $1 WHERE token_hash = $2")
                .bind(idle_until.timestamp_millis())
                .bind(&key)
                .execute(self.db.writer())
                .await?;
        }
        let (Ok(staff_id), Ok(clinic_id)) = (staff.parse(), clinic.parse()) else {
            return Ok(None);
        };
        Ok(Some(Session {
            key: SessionKey(key),
            staff_id,
            clinic_id,
            csrf_token,
            enrolment_only: enrolment_only != 0,
        }))
    }

    /// Delete sessions that have expired.
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
        sqlx::query("DELETE FROM sessions WHERE expires_at_ms <= $1 OR idle_until_ms <= $1")
            .bind(now.timestamp_millis())
            .execute(self.db.writer())
            .await
            .map(|r| r.rows_affected())
    }

    /// Sessions another store operation already deleted (by their digests): their live
    /// streams in this process end at once.
    pub fn forget(&self, digests: Vec<String>) {
        for key in digests {
            let _ = self.revoked.send(SessionKey(key));
        }
    }

    /// `staff` has enrolled: their enrolment-only sessions become full ones, at once on every
    /// node (sessions are looked up on every request).
    pub async fn end_enrolment_only(&self, staff: StaffId) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE sessions SET enrolment_only = 0 WHERE staff_id = $1 AND enrolment_only <> 0")
            .bind(staff.to_string())
            .execute(self.db.writer())
            .await?;
        Ok(())
    }

    pub async fn revoke(&self, token: &str) -> Result<(), sqlx::Error> {
        let key = digest(token);
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(&key)
            .execute(self.db.writer())
            .await?;
        // Nobody listening is fine: then no stream of this session is open here.
        let _ = self.revoked.send(SessionKey(key));
        Ok(())
    }

    /// Resolves once the session is over, for responses that outlive their request (the
    /// live-update stream): at once when it is logged out in this process; otherwise when a
    /// look-up every `recheck` finds it expired or gone from the database (logged out or
    /// revoked by another process), so the lag is `recheck`.
    /// A database error counts as still live: an outage is not a logout.
    pub fn ended<N>(
        &self,
        key: SessionKey,
        recheck: std::time::Duration,
        now: N,
    ) -> impl Future<Output = ()> + Send + 'static + use<N>
    where
        N: Fn() -> DateTime<Utc> + Send + 'static,
    {
        let store = self.clone();
        let mut revoked = self.revoked.subscribe();
        async move {
            loop {
                tokio::select! {
                    received = revoked.recv() => match received {
                        Ok(gone) if gone == key => return,
                        Ok(_) => continue,
                        // Missed some (or, impossibly, closed): ask the database.
                        Err(_) => {}
                    },
                    _ = tokio::time::sleep(recheck) => {}
                }
                if let Ok(false) = store.live_in_store(&key, now()).await {
                    return;
                }
            }
        }
    }

    /// Whether the database still holds the session unexpired and not idle for too long.
    /// Watching is not using: it moves no idle deadline.
    async fn live_in_store(&self, key: &SessionKey, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT expires_at_ms FROM sessions
             WHERE token_hash = $1 AND expires_at_ms > $2 AND (idle_until_ms IS NULL OR idle_until_ms > $2)",
        )
        .bind(&key.0)
        .bind(now.timestamp_millis())
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(row.is_some())
    }
}
