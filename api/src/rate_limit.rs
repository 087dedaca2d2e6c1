//! Rate limits for login and patient-link look-ups. Per client: a person never notices them
//! (a burst of 30, then one a second), a brute-force run is cut to a trickle. Overall (login
//! only): however many addresses an attacker has, password checks stay within what the
//! machine can afford.

use crate::error::ApiError;
use axum::http::{HeaderMap, StatusCode};
use enkaku_domain::ErrorCode;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

fn quota(per_minute: u32, burst: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN))
}

/// Whole seconds for `Retry-After`, rounded up: coming back a fraction early would only be
/// refused again.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

pub struct RateLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// Read the client from the last `X-Forwarded-For` entry (only behind a trusted proxy).
    trust_forwarded: bool,
}

impl RateLimiter {
    pub fn new(per_minute: u32, burst: u32, trust_forwarded: bool) -> Self {
        Self {
            limiter: governor::RateLimiter::keyed(quota(per_minute, burst)),
            trust_forwarded,
        }
    }

    pub fn check(&self, peer: SocketAddr, headers: &HeaderMap) -> Result<(), ApiError> {
        let client = self.client(peer, headers);
        self.limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(self.limiter.clock()));
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                "too many attempts from this address; wait a moment and try again",
            )
            .retry_after(retry_after_seconds(wait))
        })
    }

    /// Drop idle clients so memory stays bounded.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }

    fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        client_address(peer, headers, self.trust_forwarded)
    }
}

/// The client's address: the peer's, or with `trust_forwarded` (only behind a trusted proxy)
/// the last `X-Forwarded-For` entry.
pub fn client_address(peer: SocketAddr, headers: &HeaderMap, trust_forwarded: bool) -> IpAddr {
    if trust_forwarded
        && let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            // The right-most entry is the one our proxy added; those left of it are
            // whatever the client chose to send.
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return ip;
    }
    peer.ip()
}

/// One budget shared by every client: what a flood from many addresses at once gets.
pub struct GlobalRateLimiter {
    limiter: DefaultDirectRateLimiter,
    code: ErrorCode,
    detail: &'static str,
}

impl GlobalRateLimiter {
    /// Refusals are 429 with `code` and `detail`.
    pub fn new(per_minute: u32, burst: u32, code: ErrorCode, detail: &'static str) -> Self {
        Self {
            limiter: governor::RateLimiter::direct(quota(per_minute, burst)),
            code,
            detail,
        }
    }

    pub fn check(&self) -> Result<(), ApiError> {
        self.limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(self.limiter.clock()));
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, self.code, self.detail)
                .retry_after(retry_after_seconds(wait))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    #[test]
    fn behind_a_proxy_the_client_is_the_address_the_proxy_added() {
        let proxy: SocketAddr = "10.0.0.1:443".parse().unwrap();
        let limiter = RateLimiter::new(60, 2, true);
        // A client that invents a new left-most address on every try is still one client.
        for n in 0..2 {
            limiter
                .check(proxy, &forwarded(&format!("198.51.100.{n}, 203.0.113.7")))
                .unwrap();
        }
        assert!(
            limiter
                .check(proxy, &forwarded("198.51.100.99, 203.0.113.7"))
                .is_err()
        );
        assert!(
            limiter.check(proxy, &forwarded("203.0.113.8")).is_ok(),
            "another client"
        );
    }

    #[test]
    fn the_global_budget_is_shared_by_every_client() {
        let limiter = GlobalRateLimiter::new(60, 3, ErrorCode::Busy, "too many");
        for _ in 0..3 {
            limiter.check().unwrap();
        }
        let refused = limiter.check().unwrap_err();
        assert_eq!((refused.status.as_u16(), refused.code), (429, ErrorCode::Busy));
        assert_eq!(refused.retry_after, Some(1));
    }

    #[test]
    fn without_a_trusted_proxy_the_header_is_ignored() {
        let peer: SocketAddr = "192.0.2.5:5000".parse().unwrap();
        let limiter = RateLimiter::new(60, 1, false);
        limiter.check(peer, &forwarded("203.0.113.1")).unwrap();
        assert!(limiter.check(peer, &forwarded("203.0.113.2")).is_err());
    }
}
