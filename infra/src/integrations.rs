//! Integration credentials (docs/integrators.md): bearer tokens a clinic's administrators
//! issue to the systems that consume its events, so they can fetch the data keys of the
//! clinic's appointments. Only each token's digest is stored; a revoked token opens nothing.

use crate::db::Db;
use crate::tokens::{digest, random_token};
use chrono::{DateTime, Utc};
use enkaku_domain::ids::{ClinicId, StaffId};
use uuid::Uuid;

/// An integration credential as administrators see it: never its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Integration {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Clone)]
pub struct Integrations {
    db: Db,
}

type Row = (String, String, i64, Option<i64>);

impl Integrations {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// A new credential for `clinic`, named `name`: the record, and its token, which is not
    /// kept and so is shown this once.
    pub async fn issue(
        &self,
        clinic: ClinicId,
        name: &str,
        by: StaffId,
        now: DateTime<Utc>,
    ) -> Result<(Integration, String), sqlx::Error> {
        let token = random_token();
        let integration = Integration {
            id: Uuid::now_v7(),
            name: name.to_owned(),
            created_at: now,
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO integration_credentials (id, clinic_id, name, token_hash, created_by, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(integration.id.to_string())
        .bind(clinic.to_string())
        .bind(name)
        .bind(digest(&token))
        .bind(by.to_string())
        .bind(now.timestamp_millis())
        .execute(self.db.writer())
        .await?;
        Ok((integration, token))
    }

    /// The clinic's credentials, newest first, revoked ones included.
    pub async fn list(&self, clinic: ClinicId) -> Result<Vec<Integration>, sqlx::Error> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, name, created_at_ms, revoked_at_ms FROM integration_credentials
             WHERE clinic_id = $1 ORDER BY created_at_ms DESC, id DESC",
        )
        .bind(clinic.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        rows.into_iter().map(integration).collect()
    }

    /// Revoke the clinic's credential `id`; `false` when the clinic has none such.
    pub async fn revoke(&self, clinic: ClinicId, id: Uuid, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
        let found = sqlx::query(
            "UPDATE integration_credentials SET revoked_at_ms = COALESCE(revoked_at_ms, $3)
             WHERE id = $1 AND clinic_id = $2",
        )
        .bind(id.to_string())
        .bind(clinic.to_string())
        .bind(now.timestamp_millis())
        .execute(self.db.writer())
        .await?
        .rows_affected();
        Ok(found == 1)
    }

    /// The clinic whose live credential `token` is, if it is one.
    pub async fn clinic_of(&self, token: &str) -> Result<Option<ClinicId>, sqlx::Error> {
        let clinic: Option<String> = sqlx::query_scalar(
            "SELECT clinic_id FROM integration_credentials WHERE token_hash = $1 AND revoked_at_ms IS NULL",
        )
        .bind(digest(token))
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(clinic.and_then(|c| c.parse().ok()).map(ClinicId))
    }
}

fn integration((id, name, created_at_ms, revoked_at_ms): Row) -> Result<Integration, sqlx::Error> {
    let time = |ms: i64| {
        DateTime::from_timestamp_millis(ms)
            .ok_or_else(|| sqlx::Error::Decode(format!("bad time {ms}").into()))
    };
    Ok(Integration {
        id: id.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        name,
        created_at: time(created_at_ms)?,
        revoked_at: revoked_at_ms.map(time).transpose()?,
    })
}
