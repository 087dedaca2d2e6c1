//! Per-client rate limits for login and patient-link look-ups: a person never notices them
//! (a burst of 30, then one a second), a brute-force run is cut to a trickle.

use crate::error::ApiError;
use axum::http::{HeaderMap, StatusCode};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

pub struct RateLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// Read the client from `X-Forwarded-For` (only behind a trusted proxy).
    trust_forwarded: bool,
}

impl RateLimiter {
    pub fn new(per_minute: u32, burst: u32, trust_forwarded: bool) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            limiter: governor::RateLimiter::keyed(quota),
            trust_forwarded,
        }
    }

    pub fn check(&self, peer: SocketAddr, headers: &HeaderMap) -> Result<(), ApiError> {
        let client = self.client(peer, headers);
        self.limiter.check_key(&client).map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many attempts from this address; wait a minute and try again",
            )
        })
    }

    /// Drop idle clients so memory stays bounded.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }

    fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        if self.trust_forwarded
            && let Some(ip) = headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse().ok())
        {
            return ip;
        }
        peer.ip()
    }
}
