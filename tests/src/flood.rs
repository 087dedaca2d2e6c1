//! A login flood: many loopback addresses (127.0.0.2, .3, …) sending wrong passwords for
//! addresses no one has, as fast as answers come back, so every attempt that gets through
//! costs a password check; meanwhile one logged-in member of staff keeps reading
//! `/api/v1/me`. Shared by the flood test (tests/tests/login_flood.rs) and
//! `scripts/bench login-flood` (tests/examples/loginflood.rs).

use serde_json::json;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Flood {
    pub base: String,
    /// Distinct client addresses, from 127.0.0.2 up.
    pub addresses: u8,
    /// Logins in flight at once, over all addresses.
    pub in_flight: usize,
    pub duration: Duration,
    /// A session token: `/api/v1/me` is read with it every 100 ms during the flood.
    pub token: String,
    /// The server's process, whose memory is watched; the flood stops early when its
    /// resident memory passes `stop_above_kib` (so an unbounded server does not take the
    /// machine with it).
    pub pid: u32,
    pub stop_above_kib: u64,
}

#[derive(Debug, Default)]
pub struct FloodReport {
    /// Login answers by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Answers outside the contract: a 5xx other than 503 `busy`, a 429 or 503 without
    /// `Retry-After`, a failed connection.
    pub unexpected: Vec<String>,
    pub login_latencies_us: Vec<u64>,
    pub me_latencies_us: Vec<u64>,
    /// `/api/v1/me` answers other than 200.
    pub me_failures: u64,
    /// The server's peak resident memory (VmHWM) after the flood.
    pub peak_rss_kib: u64,
    /// Whether the flood was stopped because memory passed the limit.
    pub stopped_early: bool,
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
pub fn memory_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The value at percentile `p` (0–100), in milliseconds, of microsecond samples.
pub fn percentile_ms(values: &mut [u64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable();
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)] as f64 / 1000.0
}

/// A client whose connections come from `ip`.
pub fn client_from(ip: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// One login with a wrong password; records its answer.
async fn attempt(http: &reqwest::Client, base: &str, n: u64) -> (Option<u16>, Option<String>) {
    let sent = http
        .post(format!("{base}/api/v1/login"))
        .json(&json!({ "email": format!("flood{n}@example.test"), "password": "wrong" }))
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => return (None, Some(format!("request failed: {e}"))),
    };
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key("retry-after");
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let code = body["code"].as_str().unwrap_or("").to_owned();
    let unexpected = match status {
        401 => None,
        429 | 503 if !retry_after => Some(format!("{status} {code} without Retry-After")),
        503 if code != "busy" => Some(format!("503 {code}")),
        429 | 503 => None,
        _ => Some(format!("{status} {code}")),
    };
    (Some(status), unexpected)
}

impl Flood {
    pub async fn run(&self) -> FloodReport {
        let deadline = Instant::now() + self.duration;
        let stop = Arc::new(AtomicBool::new(false));
        let counter = Arc::new(AtomicU64::new(0));
        let clients: Vec<reqwest::Client> = (0..self.addresses.max(1))
            .map(|k| client_from(IpAddr::from([127, 0, 0, k.saturating_add(2)])))
            .collect();
        let loops: Vec<_> = (0..self.in_flight)
            .map(|i| {
                let http = clients[i % clients.len()].clone();
                let base = self.base.clone();
                let (stop, counter) = (stop.clone(), counter.clone());
                tokio::spawn(async move {
                    let mut report = FloodReport::default();
                    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        let started = Instant::now();
                        let (status, unexpected) = attempt(&http, &base, n).await;
                        report
                            .login_latencies_us
                            .push(started.elapsed().as_micros() as u64);
                        if let Some(status) = status {
                            *report.statuses.entry(status).or_default() += 1;
                        }
                        report.unexpected.extend(unexpected);
                    }
                    report
                })
            })
            .collect();
        let me = {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client");
            let url = format!("{}/api/v1/me", self.base);
            let token = self.token.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let (mut latencies, mut failures) = (Vec::new(), 0);
                while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let ok = http
                        .get(&url)
                        .bearer_auth(&token)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    latencies.push(started.elapsed().as_micros() as u64);
                    failures += u64::from(!ok);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                (latencies, failures)
            })
        };
        let mut stopped_early = false;
        while Instant::now() < deadline {
            if memory_kib(self.pid, "VmRSS") > self.stop_above_kib {
                stopped_early = true;
                stop.store(true, Ordering::Relaxed);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut report = FloodReport {
            stopped_early,
            ..FloodReport::default()
        };
        for handle in loops {
            let part = handle.await.expect("flood loop");
            for (status, count) in part.statuses {
                *report.statuses.entry(status).or_default() += count;
            }
            report.unexpected.extend(part.unexpected);
            report.login_latencies_us.extend(part.login_latencies_us);
        }
        (report.me_latencies_us, report.me_failures) = me.await.expect("me loop");
        report.peak_rss_kib = memory_kib(self.pid, "VmHWM");
        report
    }
}
