//! Everything between a login request and its password check (docs/security.md, "Login"):
//!
//! 1. a known device (a valid device cookie for the account, `device.rs`) goes straight to
//!    its own failure budget; anything else passes the per-address limit, then the global
//!    login budget, then the account's shared failure budget (`failures.rs`);
//! 2. the password check itself waits for one of a few turns (`checks.rs`), so memory stays
//!    bounded whatever gets through.
//!
//! Unknown e-mail addresses get exactly the same treatment as known ones.

pub mod checks;
pub mod device;
pub mod failures;

use crate::error::ApiError;
use crate::rate_limit::{GlobalRateLimiter, RateLimiter, retry_after_seconds};
use axum::http::{HeaderMap, StatusCode};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use checks::PasswordChecks;
use device::DeviceCookies;
use enkaku_domain::ErrorCode;
use failures::{BudgetKey, FailureBudgets};
use secrecy::SecretSlice;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::Instant;

/// Per client address: a burst of 30, then one a minute's worth of 60 (a person gets at least 30
/// tries a minute from one address).
const PER_ADDRESS_PER_MINUTE: u32 = 60;
const PER_ADDRESS_BURST: u32 = 30;
/// All addresses together: far above what a clinic's staff ever need at once, far below what
/// would keep every core hashing.
pub const OVERALL_PER_MINUTE: u32 = 600;
pub const OVERALL_BURST: u32 = 60;

pub struct LoginGuard {
    per_address: RateLimiter,
    overall: GlobalRateLimiter,
    failures: FailureBudgets,
    pub checks: PasswordChecks,
    devices: DeviceCookies,
}

/// A login attempt let through to its password check.
pub struct Admitted {
    key: BudgetKey,
}

/// An account as the budgets and device cookies know it: the SHA-256 of the e-mail address,
/// normalised as the directory looks it up.
fn account_of(email: &str) -> [u8; 32] {
    Sha256::digest(email.trim().to_lowercase().as_bytes()).into()
}

impl LoginGuard {
    /// `device_key`: the key device cookies are signed with (derived from the link key).
    pub fn new(trust_forwarded: bool, device_key: SecretSlice<u8>) -> Self {
        Self {
            per_address: RateLimiter::new(PER_ADDRESS_PER_MINUTE, PER_ADDRESS_BURST, trust_forwarded),
            overall: GlobalRateLimiter::new(
                OVERALL_PER_MINUTE,
                OVERALL_BURST,
                ErrorCode::TooManyLogins,
                "too many login attempts on this server right now; wait a moment and try again",
            ),
            failures: FailureBudgets::default(),
            checks: PasswordChecks::for_this_machine(),
            devices: DeviceCookies::new(device_key),
        }
    }

    /// Let a login attempt for `email` through to its password check, or refuse it (429).
    pub fn admit(
        &self,
        peer: SocketAddr,
        headers: &HeaderMap,
        jar: &CookieJar,
        email: &str,
    ) -> Result<Admitted, ApiError> {
        let account = account_of(email);
        let device = jar
            .get(device::COOKIE)
            .and_then(|c| self.devices.device_for(c.value(), &account));
        if device.is_none() {
            self.per_address.check(peer, headers)?;
            self.overall.check()?;
        }
        let key = BudgetKey { account, device };
        self.failures.begin(key, Instant::now()).map_err(|wait| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyFailures,
                "too many failed logins for this e-mail address; wait, or log in from a device that signed in before",
            )
            .retry_after(retry_after_seconds(wait))
        })?;
        Ok(Admitted { key })
    }

    /// The password was right: the attempt's budget starts afresh and the browser becomes
    /// (or stays) a known device for the account.
    pub fn succeeded(&self, admitted: Admitted, jar: CookieJar, secure: bool) -> CookieJar {
        self.failures.succeeded(&admitted.key);
        let value = self
            .devices
            .after_login(jar.get(device::COOKIE).map(|c| c.value()), &admitted.key.account);
        let device_cookie = Cookie::build((device::COOKIE, value))
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(secure)
            .path(device::COOKIE_PATH)
            .max_age(cookie::time::Duration::days(device::LIFETIME_DAYS))
            .build();
        jar.add(device_cookie)
    }

    /// Drop idle clients and budgets so memory stays bounded.
    pub fn forget_idle(&self) {
        self.per_address.forget_idle();
        self.failures.forget_idle(Instant::now());
    }
}
