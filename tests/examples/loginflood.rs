//! Load generator for `scripts/bench login-flood`. Against one running server (and its
//! process id, for memory) it measures, in the same run:
//! - quiet: logins with a wrong password one after another, and `/api/v1/me`, with nothing
//!   else going on;
//! - flood: many loopback addresses sending wrong passwords as fast as answers come back
//!   (`enkaku_tests::flood`), while `/api/v1/me` is read every 100 ms.
//!
//! Prints one JSON line.

use clap::Parser;
use enkaku_tests::flood::{Flood, memory_kib, percentile_ms};
use serde_json::json;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Base URL of the running server.
    #[arg(long)]
    base: String,
    /// The server's process id.
    #[arg(long)]
    pid: u32,
    /// Client addresses in the flood.
    #[arg(long, default_value_t = 20)]
    addresses: u8,
    /// Logins in flight at once during the flood.
    #[arg(long, default_value_t = 160)]
    in_flight: usize,
    /// Length of the flood.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

fn ms(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let http = reqwest::Client::new();
    let token = enkaku_tests::Staff::login(&http, &args.base, enkaku_tests::YAMADA)
        .await
        .token;

    let idle_kib = memory_kib(args.pid, "VmRSS");
    let (mut quiet_logins, mut quiet_me) = (Vec::new(), Vec::new());
    for n in 0..20 {
        let started = Instant::now();
        let response = http
            .post(format!("{}/api/v1/login", args.base))
            .json(&json!({ "email": format!("quiet{n}@example.test"), "password": "wrong" }))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 401);
        quiet_logins.push(started.elapsed().as_micros() as u64);
        let started = Instant::now();
        let response = http
            .get(format!("{}/api/v1/me", args.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("me");
        assert!(response.status().is_success());
        quiet_me.push(started.elapsed().as_micros() as u64);
    }
    let quiet_peak_kib = memory_kib(args.pid, "VmHWM");

    let mut flood = Flood {
        base: args.base.clone(),
        addresses: args.addresses,
        in_flight: args.in_flight,
        duration: Duration::from_secs(args.seconds),
        token,
        pid: args.pid,
        // A safety stop far above the bound, so a regression cannot take the machine.
        stop_above_kib: 4 * 1024 * 1024,
    }
    .run()
    .await;
    let attempts: u64 = flood.statuses.values().sum();
    println!(
        "{}",
        json!({
            "bench": "login-flood",
            "quiet": {
                "idle_rss_mib": mib(idle_kib),
                "peak_rss_mib": mib(quiet_peak_kib),
                "login_p50_ms": ms(percentile_ms(&mut quiet_logins, 50.0)),
                "login_p99_ms": ms(percentile_ms(&mut quiet_logins, 99.0)),
                "me_p99_ms": ms(percentile_ms(&mut quiet_me, 99.0)),
            },
            "flood": {
                "addresses": args.addresses,
                "in_flight": args.in_flight,
                "seconds": args.seconds,
                "attempts": attempts,
                "statuses": flood.statuses,
                "unexpected": flood.unexpected.len(),
                "stopped_early": flood.stopped_early,
                "peak_rss_mib": mib(flood.peak_rss_kib),
                "login_p50_ms": ms(percentile_ms(&mut flood.login_latencies_us, 50.0)),
                "login_p99_ms": ms(percentile_ms(&mut flood.login_latencies_us, 99.0)),
                "me_p50_ms": ms(percentile_ms(&mut flood.me_latencies_us, 50.0)),
                "me_p99_ms": ms(percentile_ms(&mut flood.me_latencies_us, 99.0)),
                "me_failures": flood.me_failures,
            },
            "bar": {"peak_rss_mib_at_most": 400, "me_p99_ms_at_most": 3000, "unexpected": 0},
        })
    );
}
