//! The per-account failed-login budget: a few free failures, then an exponentially growing
//! wait (capped), so guesses spread over many addresses still reach one account only a
//! trickle at a time.
//!
//! Budgets are kept per account *and device*: attempts from a device that signed in to the
//! account before (a valid device cookie, see `device.rs`) draw on that device's own budget,
//! so the real person is not held back by other addresses' failures; every other attempt on
//! the account shares one budget. Accounts are keys of e-mail addresses whether or not staff
//! with that address exist, so the answers do not tell which addresses are real.
//!
//! Kept in this process's memory: with several nodes each holds its own budgets
//! (docs/architecture.md, "Left for later").

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before any wait.
pub const FREE_FAILURES: u32 = 5;
/// The wait after the first failure beyond the free ones; each further failure doubles it.
pub const FIRST_WAIT: Duration = Duration::from_secs(30);
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// A budget with no failure for this long is forgotten, so memory stays bounded: at most
/// what the global login budget lets through in this time, plus one budget per device that
/// signed in. Longer than the longest wait, so forgetting never cuts a wait short.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
const _: () = assert!(FORGET_AFTER.as_secs() > MAX_WAIT.as_secs());

/// An account (a SHA-256 of its normalised e-mail address) and, for a trusted device, the
/// device's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BudgetKey {
    pub account: [u8; 32],
    pub device: Option<[u8; 16]>,
}

struct Budget {
    failures: u32,
    last: Instant,
    locked_until: Instant,
}

#[derive(Default)]
pub struct FailureBudgets {
    budgets: Mutex<HashMap<BudgetKey, Budget>>,
}

/// The wait after `failures` failures (none while they are free).
fn wait_after(failures: u32) -> Duration {
    let beyond = failures.saturating_sub(FREE_FAILURES);
    if beyond == 0 {
        return Duration::ZERO;
    }
    let doublings = 2u32.saturating_pow(beyond - 1);
    FIRST_WAIT.saturating_mul(doublings).min(MAX_WAIT)
}

impl FailureBudgets {
    /// Let an attempt through, or say how long to wait. An attempt let through is counted as
    /// a failure at once, before its password is checked, so guesses sent in parallel cannot
    /// all pass before the first failure is recorded; `succeeded` clears the budget.
    pub fn begin(&self, key: BudgetKey, now: Instant) -> Result<(), Duration> {
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        let budget = budgets.entry(key).or_insert(Budget {
            failures: 0,
            last: now,
            locked_until: now,
        });
        if budget.locked_until > now {
            return Err(budget.locked_until - now);
        }
        budget.failures = budget.failures.saturating_add(1);
        budget.last = now;
        budget.locked_until = now + wait_after(budget.failures);
        Ok(())
    }

    /// The password was right: this account-and-device budget starts afresh (others keep
    /// theirs: the attacker's failures stay counted).
    pub fn succeeded(&self, key: &BudgetKey) {
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        budgets.remove(key);
    }

    pub fn forget_idle(&self, now: Instant) {
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        budgets.retain(|_, b| now.duration_since(b.last) < FORGET_AFTER);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.budgets.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: [u8; 32] = [1; 32];
    const SHARED: BudgetKey = BudgetKey {
        account: ACCOUNT,
        device: None,
    };

    #[test]
    fn a_few_failures_are_free_then_the_wait_doubles_up_to_a_cap() {
        let budgets = FailureBudgets::default();
        let start = Instant::now();
        for _ in 0..FREE_FAILURES {
            budgets.begin(SHARED, start).unwrap();
        }
        // The first failure beyond the free ones is let through, and sets the first wait.
        budgets.begin(SHARED, start).unwrap();
        assert_eq!(budgets.begin(SHARED, start), Err(FIRST_WAIT));
        let later = start + FIRST_WAIT;
        budgets.begin(SHARED, later).unwrap();
        assert_eq!(budgets.begin(SHARED, later), Err(FIRST_WAIT * 2));
        assert_eq!(wait_after(FREE_FAILURES + 3), FIRST_WAIT * 4);
        assert_eq!(wait_after(FREE_FAILURES + 40), MAX_WAIT);
        assert_eq!(wait_after(u32::MAX), MAX_WAIT);
    }

    #[test]
    fn a_trusted_device_has_its_own_budget_and_success_clears_only_its_own() {
        let budgets = FailureBudgets::default();
        let now = Instant::now();
        for _ in 0..=FREE_FAILURES {
            budgets.begin(SHARED, now).unwrap();
        }
        assert!(budgets.begin(SHARED, now).is_err());
        let device = BudgetKey {
            device: Some([9; 16]),
            ..SHARED
        };
        budgets.begin(device, now).unwrap();
        budgets.succeeded(&device);
        assert!(budgets.begin(SHARED, now).is_err(), "the attack stays counted");
        let other_account = BudgetKey {
            account: [2; 32],
            device: None,
        };
        budgets.begin(other_account, now).unwrap();
    }

    #[test]
    fn idle_budgets_are_forgotten() {
        let budgets = FailureBudgets::default();
        let now = Instant::now();
        budgets.begin(SHARED, now).unwrap();
        let later = now + FORGET_AFTER / 2;
        budgets
            .begin(
                BudgetKey {
                    account: [3; 32],
                    device: None,
                },
                later,
            )
            .unwrap();
        budgets.forget_idle(now + FORGET_AFTER);
        assert_eq!(budgets.len(), 1, "the recent one stays");
        budgets.forget_idle(later + FORGET_AFTER);
        assert_eq!(budgets.len(), 0);
    }
}
