//! Prometheus metrics: request counts and latency by method and status class, resources per type,
//! and process memory. Hand-rolled text exposition: a handful of atomic counters do not justify a
//! metrics framework.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

const METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "PATCH", "OTHER"];
const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

/// Request counters shared by the middleware and the `/metrics` handler.
#[derive(Default)]
pub struct Metrics {
    counts: [[AtomicU64; 4]; 6],
    micros: [AtomicU64; 6],
}

impl Metrics {
    fn record(&self, method: &str, status: u16, micros: u64) {
        let m = METHODS.iter().position(|x| *x == method).unwrap_or(5);
        let c = match status {
            200..=299 => 0,
            300..=399 => 1,
            400..=499 => 2,
            _ => 3,
        };
        self.counts[m][c].fetch_add(1, Ordering::Relaxed);
        self.micros[m].fetch_add(micros, Ordering::Relaxed);
    }

    /// The text exposition, with per-type resource counts and resident memory appended.
    pub fn render(&self, resource_counts: &[(String, u64)]) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP zdrav_http_requests_total HTTP requests by method and status class.\n",
        );
        out.push_str("# TYPE zdrav_http_requests_total counter\n");
        for (mi, m) in METHODS.iter().enumerate() {
            for (ci, c) in CLASSES.iter().enumerate() {
                let n = self.counts[mi][ci].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "zdrav_http_requests_total{{method=\"{m}\",status=\"{c}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP zdrav_http_request_seconds_total Time spent answering requests.\n");
        out.push_str("# TYPE zdrav_http_request_seconds_total counter\n");
        for (mi, m) in METHODS.iter().enumerate() {
            let s = self.micros[mi].load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "zdrav_http_request_seconds_total{{method=\"{m}\"}} {s}"
            );
        }
        out.push_str("# HELP zdrav_resources Current (not deleted) resources by type.\n");
        out.push_str("# TYPE zdrav_resources gauge\n");
        for (t, n) in resource_counts {
            let _ = writeln!(out, "zdrav_resources{{type=\"{t}\"}} {n}");
        }
        if let Some(rss) = resident_bytes() {
            out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n");
            out.push_str("# TYPE process_resident_memory_bytes gauge\n");
            let _ = writeln!(out, "process_resident_memory_bytes {rss}");
        }
        out
    }
}

/// Resident set size from /proc (Linux only).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Middleware recording every request.
pub async fn track(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    m.record(
        &method,
        resp.status().as_u16(),
        start.elapsed().as_micros() as u64,
    );
    resp
}
