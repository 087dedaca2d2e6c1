//! One connection pool over sqlx's `Any` driver, so the same SQL serves the embedded SQLite
//! file and PostgreSQL. Where the two differ (write locks, durability pragmas) [`Backend`]
//! says which one this is.

use crate::sqlite_writer::SqliteWriteBehind;
use enkaku_projections::writes::{InTransactions, Placeholders, WriteBehind};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The product's name, for health answers and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }

    /// How its many-row statements name their parameters.
    pub fn placeholders(self) -> Placeholders {
        match self {
            Self::Sqlite => Placeholders::Bare,
            Self::Postgres => Placeholders::Numbered,
        }
    }

    /// The backend of a connection, by the name sqlx gives it.
    pub fn of(conn: &sqlx::AnyConnection) -> Self {
        match conn.backend_name() {
            "SQLite" => Self::Sqlite,
            _ => Self::Postgres,
        }
    }

    /// How long a request waits for a connection (which covers connecting) before it fails
    /// with `PoolTimedOut`, answered 503. PostgreSQL is a server that can be down: fail fast.
    /// SQLite is a local file whose single writer connection is a queue: wait as long as its
    /// busy timeout would.
    pub fn acquire_timeout(self) -> Duration {
        match self {
            Self::Sqlite => Duration::from_secs(10),
            Self::Postgres => POSTGRES_ACQUIRE_TIMEOUT,
        }
    }
}

/// See [`Backend::acquire_timeout`].
pub const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone, Debug)]
pub struct Db {
    /// For reads (and, on PostgreSQL, for writes too).
    pub pool: AnyPool,
    /// For writes. On SQLite this is one connection: SQLite takes one writer at a time
    /// anyway, and waiting for the connection in async code is fair and immediate where
    /// SQLite's busy handler would sleep and retry.
    writer: AnyPool,
    pub backend: Backend,
    /// The SQLite file, for readers that open it themselves (the event store's log); `None`
    /// on PostgreSQL and for an in-memory database.
    pub file: Option<std::path::PathBuf>,
    /// What each new SQLite connection runs first.
    pragmas: &'static str,
}

impl Db {
    /// Connect to `url` (`sqlite://…` or `postgres://…`) and bring the schema up to date.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        // WAL lets readers run beside the writer; synchronous=FULL makes every commit durable
        // before it is acknowledged; the busy timeout queues the few writers instead of
        // failing them; secure_delete zeroes what a delete or update frees, so erased
        // personal data leaves no trace in free pages (SPEC §9).
        Self::connect_with(
            url,
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;",
        )
        .await
    }

    /// A new SQLite file that is built whole and rebuilt rather than recovered (a replay's):
    /// no commit waits for the disk, the rollback journal stays in memory and the page cache
    /// is large (256 MiB), so a bulk load costs no second write of every page (a WAL's) and no
    /// flush per transaction. Its pages are of 16 KiB rather than 4: a bulk load's B-trees
    /// split a quarter as often. A crash can leave it unreadable: its maker writes it under a
    /// name of its own and renames it once whole. Erased data is still zeroed.
    pub async fn connect_scratch(path: &std::path::Path) -> Result<Self, sqlx::Error> {
        Self::connect_with(
            &format!("sqlite://{}?mode=rwc", path.display()),
            "PRAGMA page_size = 16384; PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;",
        )
        .await
    }

    /// Connect with `pragmas` run on every new SQLite connection.
    async fn connect_with(url: &str, pragmas: &'static str) -> Result<Self, sqlx::Error> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(sqlx::Error::Configuration(
                format!("unsupported database URL scheme in {}", redact(url)).into(),
            ));
        };
        let options = |connections: u32| {
            let options = AnyPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(backend.acquire_timeout());
            if backend == Backend::Postgres {
                return options;
            }
            options.after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute(pragmas).await?;
                    Ok(())
                })
            })
        };
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                let writer = options(1).connect(url).await?;
                (options(8).connect(url).await?, writer)
            }
            Backend::Postgres => {
                let pool = options(16).connect(url).await?;
                (pool.clone(), pool)
            }
        };
        let db = Self {
            pool,
            writer,
            backend,
            file: crate::data_dir::sqlite_path(url),
            pragmas,
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Where a fold that is the one writer of the read models here sends its batches: on an
    /// SQLite file a writer of its own ([`SqliteWriteBehind`]), else these transactions.
    pub fn write_behind(&self) -> Result<Box<dyn WriteBehind>, sqlx::Error> {
        Ok(match &self.file {
            Some(file) => Box::new(
                SqliteWriteBehind::start(file, self.pragmas)
                    .map_err(|e| sqlx::Error::Configuration(e.into()))?,
            ),
            None => Box::new(InTransactions(std::sync::Arc::new(self.clone()))),
        })
    }

    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        sqlx::migrate!("./migrations")
            .set_ignore_missing(true)
            .run(&self.writer)
            .await
            .map_err(|e| sqlx::Error::Migrate(Box::new(e)))
    }

    /// Start a transaction that holds the write lock from its first statement. SQLite's
    /// default deferred transaction would fail (not wait) when it upgrades to a writer.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.writer.begin().await,
        }
    }

    /// Close every connection, waiting for each to finish what it does.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    /// Where single-statement writes go.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Cheap round trip for health checks, bounded like an acquire: a connection whose
    /// server went silent (no reset, no answer) must not hold the health check for minutes.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        let ping = sqlx::query("SELECT 1").execute(&self.pool);
        match tokio::time::timeout(self.backend.acquire_timeout(), ping).await {
            Ok(result) => result.map(|_| ()),
            Err(_) => Err(sqlx::Error::PoolTimedOut),
        }
    }
}

/// Read-model and offset transactions for projections and reactors.
#[async_trait::async_trait]
impl enkaku_projections::WriteTransactions for Db {
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        Db::begin_write(self).await
    }

    fn pool(&self) -> &AnyPool {
        &self.pool
    }

    fn placeholders(&self) -> Placeholders {
        self.backend.placeholders()
    }
}

/// A database URL without its password, fit for logs and error messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***{}", &url[..scheme_end], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
