//! Password checks and hashing, bounded: each argon2 run holds ~19 MiB
//! (`enkaku_infra::passwords::PASSWORD_MEMORY_KIB`) for its duration, so only a few run at
//! once, and a request waits for its turn only briefly before it is told to come back.
//!
//! The checks run on a few threads of their own, each with argon2 memory it allocates once
//! and reuses (`PasswordMemory`): a fresh ~19 MiB per check, spread over tokio's blocking
//! pool, left freed blocks resident in the allocator's arenas (570 MB under a flood with only
//! two checks at once).

use crate::error::ApiError;
use axum::http::StatusCode;
use enkaku_domain::ErrorCode;
use enkaku_infra::passwords::{PasswordMemory, hash_password, verify_password_in};
use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// A valid hash of a random password no one knows: an unknown address is checked against it,
/// so it takes as long as a wrong password and the timing does not tell which staff
/// addresses exist.
static UNKNOWN_STAFF_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password(&uuid::Uuid::new_v4().to_string()));

/// Checks running at once at most: one per core, and never more than this.
const MAX_AT_ONCE: usize = 8;
/// How long a login waits for a turn before it gets 503 `busy`.
pub const QUEUE_DEADLINE: Duration = Duration::from_secs(2);

/// What a password thread does, where the answer goes, and the turn it holds until done.
enum Work {
    /// Check a password against a hash (`None`: an unknown address).
    Verify(String, Option<String>, oneshot::Sender<bool>),
    /// Hash a new password.
    Hash(String, oneshot::Sender<String>),
}

type Job = (Work, OwnedSemaphorePermit);

pub struct PasswordChecks {
    permits: Arc<Semaphore>,
    queue_deadline: Duration,
    jobs: mpsc::Sender<Job>,
}

/// Whether `password` matches `hash` (`None`: an unknown address, checked against a stand-in
/// for the same work, which never matches).
fn check(memory: &mut PasswordMemory, password: &str, hash: Option<&str>) -> bool {
    match hash {
        Some(hash) => verify_password_in(memory, password, hash),
        None => {
            std::hint::black_box(verify_password_in(memory, password, &UNKNOWN_STAFF_HASH));
            false
        }
    }
}

impl PasswordChecks {
    /// `at_once` checks at a time, each on a thread of its own; the threads end when this
    /// is dropped.
    pub fn new(at_once: usize, queue_deadline: Duration) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..at_once {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("password-check-{n}"))
                .spawn(move || {
                    let mut memory = PasswordMemory::default();
                    loop {
                        let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok((work, turn)) = job else {
                            return;
                        };
                        match work {
                            Work::Verify(password, hash, answer) => {
                                let ok = check(&mut memory, &password, hash.as_deref());
                                drop(turn);
                                let _ = answer.send(ok);
                            }
                            Work::Hash(password, answer) => {
                                // Rare (a password being set): its own allocation is fine.
                                let hash = hash_password(&password);
                                drop(turn);
                                let _ = answer.send(hash);
                            }
                        }
                    }
                })
                .expect("start a password-check thread");
        }
        Self {
            permits: Arc::new(Semaphore::new(at_once)),
            queue_deadline,
            jobs,
        }
    }

    /// Sized to this machine: as many at once as it has cores (up to `MAX_AT_ONCE`).
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores.clamp(1, MAX_AT_ONCE), QUEUE_DEADLINE)
    }

    /// Whether `password` matches `hash` (`None`: an unknown address, which never matches).
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, ApiError> {
        let (answer, answered) = oneshot::channel();
        self.run(Work::Verify(password, hash, answer)).await?;
        answered.await.map_err(ApiError::internal)
    }

    /// The hash of a new password, made on the same bounded threads as the checks.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let (answer, answered) = oneshot::channel();
        self.run(Work::Hash(password, answer)).await?;
        answered.await.map_err(ApiError::internal)
    }

    /// Queue `work` once a turn is free, or tell the client to come back.
    async fn run(&self, work: Work) -> Result<(), ApiError> {
        let turn = tokio::time::timeout(self.queue_deadline, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| busy(self.queue_deadline))?
            .map_err(ApiError::internal)?;
        // The turn goes with the job, so a client that hangs up does not free it before the
        // work's memory is.
        self.jobs.send((work, turn)).map_err(ApiError::internal)
    }
}

fn busy(wait: Duration) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Busy,
        "the server is checking too many passwords at once; try again shortly",
    )
    .retry_after(wait.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_check_that_gets_no_turn_in_time_is_told_to_come_back() {
        // No turns at all: the wait always ends unserved, however long it is.
        let checks = PasswordChecks::new(0, Duration::from_millis(10));
        let refused = checks.verify("pw".into(), None).await.unwrap_err();
        assert_eq!((refused.status.as_u16(), refused.code.as_str()), (503, "busy"));
        assert_eq!(refused.retry_after, Some(1), "at least a second");
    }

    #[tokio::test]
    async fn an_unknown_address_never_matches() {
        let checks = PasswordChecks::new(1, QUEUE_DEADLINE);
        assert!(!checks.verify("pw".into(), None).await.unwrap());
        let hash = hash_password("pw");
        assert!(checks.verify("pw".into(), Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn a_hash_made_on_the_pool_verifies() {
        let checks = PasswordChecks::new(1, QUEUE_DEADLINE);
        let hash = checks.hash("long enough password".into()).await.unwrap();
        assert!(
            checks
                .verify("long enough password".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !checks
                .verify("another password".into(), Some(hash))
                .await
                .unwrap()
        );
    }
}
