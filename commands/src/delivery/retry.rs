//! When to try a delivery again after a transient error: exponential backoff with jitter,
//! never sooner than the provider asked (`Retry-After`), and a bounded number of attempts.

use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; it doubles with each further one.
    pub first_delay: Duration,
    /// No wait of our own is longer.
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is cut to it: a provider's wish, not a reason to
    /// leave a patient without their link for a day.
    pub max_retry_after: Duration,
    /// Attempts in all, the first included; after the last the delivery is recorded failed.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// Eight attempts over about twenty minutes: a provider's bad quarter of an hour is
    /// bridged, and staff learn of a longer outage while the patient can still be called.
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(10 * 60),
            max_retry_after: Duration::from_secs(60 * 60),
            max_attempts: 8,
        }
    }
}

impl RetryPolicy {
    /// When to try again after attempt number `attempt` (1 for the first) failed, or `None`
    /// when it was the last. `jitter` in `[0, 1)` spreads the wait over its upper half, so
    /// deliveries that failed together (a provider outage) do not all come back at once.
    pub fn next_attempt(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> Option<DateTime<Utc>> {
        if attempt >= self.max_attempts {
            return None;
        }
        let doublings = attempt.saturating_sub(1).min(30);
        let backoff = self
            .first_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay);
        let spread = backoff.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0);
        let asked = retry_after.unwrap_or_default().min(self.max_retry_after);
        let wait = spread.max(asked);
        Some(now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn wait(at: DateTime<Utc>) -> Duration {
        (at - now()).to_std().unwrap()
    }

    #[test]
    fn the_wait_doubles_up_to_the_longest_and_the_last_attempt_gives_up() {
        let policy = RetryPolicy::default();
        let waits: Vec<_> = (1..policy.max_attempts)
            .map(|attempt| wait(policy.next_attempt(attempt, None, now(), 0.999_999).unwrap()).as_secs())
            .collect();
        assert_eq!(waits, [9, 19, 39, 79, 159, 319, 599]);
        assert_eq!(policy.next_attempt(policy.max_attempts, None, now(), 0.5), None);
    }

    #[test]
    fn retry_after_is_honoured_up_to_an_hour() {
        let policy = RetryPolicy::default();
        let asked = Duration::from_secs(120);
        assert_eq!(
            wait(policy.next_attempt(1, Some(asked), now(), 0.0).unwrap()),
            asked
        );
        let day = Duration::from_secs(86_400);
        assert_eq!(
            wait(policy.next_attempt(1, Some(day), now(), 0.0).unwrap()),
            policy.max_retry_after
        );
    }

    proptest! {
        /// Whatever the attempt, jitter and provider's wish: the wait is at least half the
        /// backoff and the provider's (capped) wish, and never beyond the longest of both.
        #[test]
        fn every_wait_is_within_its_bounds(attempt in 1u32..40, jitter in 0.0f64..1.0, asked in proptest::option::of(0u64..10_000)) {
            let policy = RetryPolicy { max_attempts: 50, ..RetryPolicy::default() };
            let asked = asked.map(Duration::from_secs);
            let got = wait(policy.next_attempt(attempt, asked, now(), jitter).unwrap());
            let backoff = policy.first_delay.saturating_mul(1 << (attempt - 1).min(30)).min(policy.max_delay);
            let wish = asked.unwrap_or_default().min(policy.max_retry_after);
            prop_assert!(got + Duration::from_millis(1) >= backoff / 2);
            prop_assert!(got >= wish);
            prop_assert!(got <= backoff.max(wish));
        }
    }
}
