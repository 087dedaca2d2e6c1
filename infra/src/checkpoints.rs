//! Checkpoints of log-tailing workers, and the read-model transactions projections use.

use crate::db::Db;
use async_trait::async_trait;
use enkaku_commands::delivery::Checkpoints;
use enkaku_commands::ports::StoreError;
use enkaku_projections::WriteTransactions;
use sqlx::{Any, Transaction};

pub struct SqlCheckpoints(pub Db);

#[async_trait]
impl Checkpoints for SqlCheckpoints {
    async fn load(&self, name: &str) -> Result<u64, StoreError> {
        let position: Option<i64> =
            sqlx::query_scalar("SELECT position FROM worker_checkpoints WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.0.pool)
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(position.unwrap_or(0) as u64)
    }

    async fn save(&self, name: &str, position: u64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO worker_checkpoints (name, position) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET position = excluded.position",
        )
        .bind(name)
        .bind(position as i64)
        .execute(self.0.writer())
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(())
    }
}

#[async_trait]
impl WriteTransactions for Db {
    async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        Db::begin_write(self).await
    }

    fn pool(&self) -> &sqlx::AnyPool {
        &self.pool
    }
}
