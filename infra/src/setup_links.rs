//! One-time set-up links: where an invited staff member, or one who forgot their password,
//! chooses a password. The token is in the URL handed to that person once; the store keeps
//! only its digest (`crate::tokens`), never the token, and never in an event. A person has at
//! most one live link: issuing a new one voids the older ones.

use crate::db::Db;
use crate::directory::replace_password;
use crate::tokens::{digest, random_token};
use chrono::{DateTime, Duration, Utc};
use enkaku_domain::ids::{ClinicId, StaffId};
use sqlx::FromRow;

/// How long a set-up link works.
pub const SETUP_LINK_VALIDITY: Duration = Duration::hours(24);

/// A link just issued: the token goes into the URL shown to the admin, nowhere else.
pub struct IssuedLink {
    pub token: String,
    pub valid_until: DateTime<Utc>,
}

/// Whom a link is for, as the set-up page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkHolder {
    pub staff_id: StaffId,
    pub clinic_id: ClinicId,
    pub name: String,
    pub email: String,
    pub clinic_name: String,
    pub valid_until: DateTime<Utc>,
}

/// What a token names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// Unused and within its validity.
    Usable(LinkHolder),
    /// Used, voided by a newer link, or expired.
    Gone,
}

#[derive(FromRow)]
struct LinkRow {
    staff_id: String,
    clinic_id: String,
    name: String,
    email: String,
    clinic_name: String,
    valid_until_ms: i64,
    used_at_ms: Option<i64>,
}

#[derive(Clone)]
pub struct SetupLinks {
    db: Db,
}

impl SetupLinks {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// A new link for `staff`, valid for `SETUP_LINK_VALIDITY` from `now`; the person's older
    /// unused links stop working.
    pub async fn issue(
        &self,
        staff: StaffId,
        clinic: ClinicId,
        now: DateTime<Utc>,
    ) -> Result<IssuedLink, sqlx::Error> {
        let token = random_token();
        let valid_until = now + SETUP_LINK_VALIDITY;
        let mut tx = self.db.begin_write().await?;
        sqlx::query("UPDATE setup_links SET used_at_ms = $1 WHERE staff_id = $2 AND used_at_ms IS NULL")
            .bind(now.timestamp_millis())
            .bind(staff.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO setup_links (token_hash, staff_id, clinic_id, created_at_ms, valid_until_ms)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(digest(&token))
        .bind(staff.to_string())
        .bind(clinic.to_string())
        .bind(now.timestamp_millis())
        .bind(valid_until.timestamp_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(IssuedLink { token, valid_until })
    }

    /// What `token` names at `now`, or `None` for a token never issued.
    pub async fn find(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Link>, sqlx::Error> {
        let row: Option<LinkRow> = sqlx::query_as(
            "SELECT l.staff_id, l.clinic_id, s.name, s.email, c.name AS clinic_name, l.valid_until_ms, l.used_at_ms
             FROM setup_links l JOIN directory_staff s ON s.id = l.staff_id
               JOIN directory_clinics c ON c.id = l.clinic_id
             WHERE l.token_hash = $1",
        )
        .bind(digest(token))
        .fetch_optional(&self.db.pool)
        .await?;
        row.map(|r| {
            if r.used_at_ms.is_some() || r.valid_until_ms <= now.timestamp_millis() {
                return Ok(Link::Gone);
            }
            Ok(Link::Usable(LinkHolder {
                staff_id: r.staff_id.parse().map_err(|_| bad_row("staff id"))?,
                clinic_id: r.clinic_id.parse().map_err(|_| bad_row("clinic id"))?,
                name: r.name,
                email: r.email,
                clinic_name: r.clinic_name,
                valid_until: DateTime::from_timestamp_millis(r.valid_until_ms)
                    .ok_or_else(|| bad_row("time"))?,
            }))
        })
        .transpose()
    }

    /// Use `token` up to set the password to `password_hash`, ending the person's sessions
    /// (whoever knew the old password is out). All or nothing, and only once: `false` when the
    /// link was not usable (another request used it first, or it expired meanwhile), else the
    /// digests of the sessions ended, for `SessionStore::forget`.
    pub async fn use_up(
        &self,
        token: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<String>>, sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        let staff: Option<String> = sqlx::query_scalar(
            "UPDATE setup_links SET used_at_ms = $1
             WHERE token_hash = $2 AND used_at_ms IS NULL AND valid_until_ms > $1
             RETURNING staff_id",
        )
        .bind(now.timestamp_millis())
        .bind(digest(token))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(staff) = staff else {
            return Ok(None);
        };
        let ended = replace_password(&mut tx, &staff, password_hash, "").await?;
        tx.commit().await?;
        Ok(Some(ended))
    }
}

fn bad_row(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("set-up link row with a bad {what}").into())
}
