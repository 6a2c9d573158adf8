//! Per-client rate limits and the security headers of every response.
//!
//! A client is its token's subject, or its network address before it has authenticated. Each
//! has a token bucket (`rate` requests per second, bursts of twice that); an empty bucket is a
//! 429 with `Retry-After` and an OperationOutcome. Hand-written because the tower limiters are
//! global or per-connection, and a client here spans connections.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

use crate::error::ApiError;

/// Buckets kept before idle ones are dropped.
const MAX_CLIENTS: usize = 100_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per client.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `rate` requests per second per client, bursts of `2 × rate`.
    pub fn new(rate: u32) -> RateLimiter {
        RateLimiter {
            rate: f64::from(rate.max(1)),
            burst: f64::from(rate.max(1)) * 2.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `client`'s bucket; the 429 if it is empty.
    pub fn take(&self, client: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= MAX_CLIENTS {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = buckets.entry(client.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - b.tokens) / self.rate).ceil().max(1.0);
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            format!(
                "too many requests from this client: at most {} per second; retry in {wait} s",
                self.rate
            ),
        ))
    }
}

/// Adds the security headers every response carries: no MIME sniffing, no framing, no
/// referrer, a restrictive content security policy (the sign-in page has inline styles only),
/// and HSTS when served over TLS.
pub async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_and_are_per_client() {
        let l = RateLimiter::new(5);
        for _ in 0..10 {
            assert!(l.take("a").is_ok());
        }
        let e = l.take("a").unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(l.take("b").is_ok(), "another client has its own bucket");
        std::thread::sleep(std::time::Duration::from_millis(450));
        assert!(l.take("a").is_ok(), "two tokens back after 0.4 s at 5/s");
    }
}
