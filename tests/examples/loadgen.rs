//! Load generator for `scripts/bench commands`. Against one running server and its database
//! it measures, in the same run:
//! - the HTTP ceiling: N clients hammering `GET /livez`, which touches nothing;
//! - commands: N clients creating video URLs (`POST /api/v1/video-calls`), each a durable
//!   append, while a sampler measures projection lag (201 → entry visible in the schedule);
//! - the naive store: N clients each committing one single-row insert per command, straight
//!   into the same database, with the same durability settings.
//!
//! Prints one JSON line.

use clap::Parser;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Base URL of the running server.
    #[arg(long)]
    base: String,
    /// The server's database, for the naive-store baseline.
    #[arg(long)]
    database_url: String,
    /// Label for the output (`sqlite`, `postgres`).
    #[arg(long)]
    store: String,
    /// Concurrent clients; 64 is where this 2-core machine peaks.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Length of each measured phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[derive(Default)]
struct Phase {
    ok: u64,
    failed: u64,
    latencies_us: Vec<u64>,
    elapsed: Duration,
}

impl Phase {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&mut self, p: f64) -> f64 {
        percentile(&mut self.latencies_us, p) as f64 / 1000.0
    }
}

fn percentile(values: &mut [u64], p: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)]
}

/// Run `op` from `clients` concurrent loops for `seconds`; each call returns success.
async fn measure<F, Fut>(clients: usize, seconds: u64, op: F) -> Phase
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let loops = (0..clients).map(|_| {
        let op = op.clone();
        let counter = counter.clone();
        tokio::spawn(async move {
            let mut phase = Phase::default();
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                if op(n).await {
                    phase.ok += 1;
                    phase.latencies_us.push(t.elapsed().as_micros() as u64);
                } else {
                    phase.failed += 1;
                }
            }
            phase
        })
    });
    let mut total = Phase::default();
    for result in futures::future::join_all(loops).await {
        let phase = result.expect("load loop");
        total.ok += phase.ok;
        total.failed += phase.failed;
        total.latencies_us.extend(phase.latencies_us);
    }
    total.elapsed = started.elapsed();
    total
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients * 2)
        .build()?;
    let login: Value = http
        .post(format!("{}/api/v1/login", args.base))
        .json(&json!({ "email": "yamada@demo.enkaku.test", "password": "demo-password" }))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"].as_str().expect("token").to_owned();
    let doctor = login["staff"]["id"].as_str().expect("doctor").to_owned();

    // 1. The HTTP ceiling.
    let livez = {
        let (http, url) = (http.clone(), format!("{}/livez", args.base));
        move |_| {
            let (http, url) = (http.clone(), url.clone());
            async move { http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) }
        }
    };
    let mut ceiling = measure(args.clients, args.seconds, livez).await;

    // 2. Commands, with the projection-lag sampler running beside them.
    let create = {
        let (http, url, token, doctor) = (
            http.clone(),
            format!("{}/api/v1/video-calls", args.base),
            token.clone(),
            doctor.clone(),
        );
        move |n: u64| {
            let (http, url, token) = (http.clone(), url.clone(), token.clone());
            let body = json!({ "doctor_id": doctor, "start_at": "2030-01-07T10:00:00+09:00", "title": format!("bench {n}") });
            async move {
                http.post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 201)
            }
        }
    };
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn(sample_projection_lag(
        http.clone(),
        args.base.clone(),
        token.clone(),
        doctor.clone(),
        sampling.clone(),
    ));
    let mut commands = measure(args.clients, args.seconds, create).await;
    sampling.store(false, Ordering::Relaxed);
    let mut lags = sampler.await?;

    // 3. The naive store: one durable single-row insert transaction per command.
    let db = enkaku_infra::Db::connect(&args.database_url).await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS bench_naive (id TEXT PRIMARY KEY, payload TEXT NOT NULL)")
        .execute(db.writer())
        .await?;
    let insert = {
        // The writer pool: on SQLite one connection, so writers queue without busy-waiting.
        let pool = db.writer().clone();
        move |_| {
            let pool = pool.clone();
            async move {
                let payload = json!({ "title": "bench", "start_at": "2030-01-07T01:00:00Z" }).to_string();
                sqlx::query("INSERT INTO bench_naive (id, payload) VALUES ($1, $2)")
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(payload)
                    .execute(&pool)
                    .await
                    .is_ok()
            }
        }
    };
    let mut naive = measure(args.clients, args.seconds, insert).await;

    let per_s = commands.per_second();
    println!(
        "{}",
        json!({
            "benchmark": "commands",
            "store": args.store,
            "clients": args.clients,
            "seconds_per_phase": args.seconds,
            "commands_per_s": round(per_s),
            "p50_ms": round(commands.percentile_ms(50.0)),
            "p99_ms": round(commands.percentile_ms(99.0)),
            "failed": commands.failed,
            "http_ceiling_per_s": round(ceiling.per_second()),
            "http_ceiling_p50_ms": round(ceiling.percentile_ms(50.0)),
            "naive_store_per_s": round(naive.per_second()),
            "naive_store_p50_ms": round(naive.percentile_ms(50.0)),
            "naive_store_failed": naive.failed,
            "projection_lag_p50_ms": round(percentile(&mut lags, 50.0) as f64 / 1000.0),
            "projection_lag_p99_ms": round(percentile(&mut lags, 99.0) as f64 / 1000.0),
            "projection_lag_samples": lags.len(),
            "vs_naive_store": round(per_s / naive.per_second()),
            "vs_http_ceiling": round(per_s / ceiling.per_second()),
        })
    );
    Ok(())
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Every 50 ms, create a video URL on a day of its own and time how long after the 201 it
/// shows in that day's schedule. Returns the lags in microseconds.
async fn sample_projection_lag(
    http: reqwest::Client,
    base: String,
    token: String,
    doctor: String,
    running: Arc<AtomicBool>,
) -> Vec<u64> {
    let mut lags = vec![];
    let mut day = 0;
    while running.load(Ordering::Relaxed) {
        day += 1;
        let date = chrono::NaiveDate::from_ymd_opt(2040, 1, 1).unwrap() + chrono::Duration::days(day);
        let body = json!({ "doctor_id": doctor, "start_at": format!("{date}T10:00:00+09:00") });
        let Ok(created) = http
            .post(format!("{base}/api/v1/video-calls"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
        else {
            continue;
        };
        let acknowledged = Instant::now();
        let Ok(created) = created.json::<Value>().await else {
            continue;
        };
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        let url = format!("{base}/api/v1/schedule?date={date}&doctor_id={doctor}");
        while acknowledged.elapsed() < Duration::from_secs(10) {
            let visible = match http.get(&url).bearer_auth(&token).send().await {
                Ok(r) => r.json::<Value>().await.is_ok_and(|s| {
                    s["entries"]
                        .as_array()
                        .is_some_and(|e| e.iter().any(|e| e["appointment_id"] == id.as_str()))
                }),
                Err(_) => false,
            };
            if visible {
                lags.push(acknowledged.elapsed().as_micros() as u64);
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lags
}
