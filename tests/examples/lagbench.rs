//! Load generator for `scripts/bench projection-lag`, in three parts the script runs in turn:
//! - `lag`: an open-loop stream of in-clinic bookings at a fixed rate against a running
//!   server; for every fifth, the time from its 201 until it shows in that day's reception
//!   list over HTTP;
//! - `drain`: how fast the server's Kafka publisher empties a backlog (from its `/healthz`);
//! - `plain`: a plain rdkafka producer sending the same CloudEvent bytes for the same events
//!   to the same broker, awaiting every acknowledgement.
//!
//! Each prints one JSON object.

use clap::{Parser, Subcommand};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    part: Part,
}

#[derive(Subcommand)]
enum Part {
    Lag {
        #[arg(long)]
        base: String,
        #[arg(long, default_value_t = 200)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    Drain {
        #[arg(long)]
        base: String,
    },
    Plain {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        brokers: String,
        #[arg(long)]
        topic: String,
    },
}

fn percentile(values: &mut [u64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable();
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)] as f64 / 1000.0
}

async fn login(http: &reqwest::Client, base: &str) -> anyhow::Result<(String, String, String)> {
    let login: Value = http
        .post(format!("{base}/api/v1/login"))
        .json(&json!({ "email": "yamada@demo.enkaku.test", "password": "demo-password" }))
        .send()
        .await?
        .json()
        .await?;
    let menus: Value = http
        .get(format!("{base}/api/v1/menus"))
        .bearer_auth(login["token"].as_str().unwrap_or_default())
        .send()
        .await?
        .json()
        .await?;
    let menu = menus["items"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "一般内科"))
        .map(|m| m["id"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    Ok((text(&login["token"]), text(&login["staff"]["id"]), menu))
}

/// Book at `rate` per second for `seconds`; time every fifth booking until it is listed.
async fn lag(base: String, rate: u64, seconds: u64) -> anyhow::Result<Value> {
    let http = reqwest::Client::new();
    let (token, doctor, menu) = login(&http, &base).await?;
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let mut watchers = Vec::new();
    let mut failed = 0;
    let started = Instant::now();
    for n in 0..rate * seconds {
        ticks.tick().await;
        // Each sampled booking on a day of its own, so its reception list is small; weekends
        // too, so confirmed outside the doctor's hours.
        let date = chrono::NaiveDate::from_ymd_opt(2041, 1, 1).unwrap() + chrono::Duration::days(n as i64);
        let body = json!({
            "doctor_id": doctor, "start_at": format!("{date}T10:00:00+09:00"), "patient_name": "負荷 試験",
            "menu_id": menu, "visit_type": "first", "mode": "in_person", "allow_outside_hours": true,
        });
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        watchers.push(tokio::spawn(async move {
            let created = http
                .post(format!("{base}/api/v1/appointments"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .ok()
                .filter(|r| r.status().as_u16() == 201)?;
            let acknowledged = Instant::now();
            let id = created.json::<Value>().await.ok()?["id"].as_str()?.to_owned();
            if n % 5 != 0 {
                return Some(None);
            }
            let path = format!("/api/v1/reception?date={date}");
            while acknowledged.elapsed() < Duration::from_secs(10) {
                if enkaku_tests::list_entries(&http, &base, &token, &path)
                    .await
                    .is_some_and(|e| e.iter().any(|e| e["appointment_id"] == id.as_str()))
                {
                    return Some(Some(acknowledged.elapsed().as_micros() as u64));
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            None
        }));
    }
    let mut lags = Vec::new();
    for watcher in watchers {
        match watcher.await? {
            Some(Some(lag)) => lags.push(lag),
            Some(None) => {}
            None => failed += 1,
        }
    }
    Ok(json!({
        "commands_per_second": (rate * seconds) as f64 / started.elapsed().as_secs_f64(),
        "lag_p50_ms": percentile(&mut lags, 50.0),
        "lag_p99_ms": percentile(&mut lags, 99.0),
        "samples": lags.len(),
        "failed": failed,
    }))
}

/// Time the publisher from its first reported backlog until it is empty.
async fn drain(base: String) -> anyhow::Result<Value> {
    let http = reqwest::Client::new();
    let publisher_lag = async || -> anyhow::Result<u64> {
        let health: Value = http.get(format!("{base}/healthz")).send().await?.json().await?;
        Ok(health["consumers"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["kind"] == "publisher"))
            .and_then(|c| c["lag"].as_u64())
            .unwrap_or(0))
    };
    let head = {
        let health: Value = http.get(format!("{base}/healthz")).send().await?.json().await?;
        health["head"].as_u64().unwrap_or(0)
    };
    // Timed from the moment the server answers; done once the publisher, having had the
    // backlog, reports none left.
    let started = Instant::now();
    let mut seen_backlog = false;
    loop {
        let lag = publisher_lag().await?;
        seen_backlog |= lag > 0;
        if seen_backlog && lag == 0 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the publisher did not drain"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(json!({ "events": head, "seconds": elapsed, "events_per_second": head as f64 / elapsed }))
}

/// The same events' bytes through a plain idempotent producer.
async fn plain(database_url: String, brokers: String, topic: String) -> anyhow::Result<Value> {
    use enkaku_commands::ports::EventStore;
    let db = enkaku_infra::Db::connect(&database_url).await?;
    let store = enkaku_infra::event_store::SqlEventStore::open(db).await?;
    let mut events = Vec::new();
    loop {
        let after = events
            .last()
            .map_or(0, |e: &enkaku_domain::envelope::RecordedEvent| e.position);
        let batch = store.read_all(after, 10_000).await?;
        if batch.is_empty() {
            break;
        }
        events.extend(batch);
    }
    let messages: Vec<(String, Vec<u8>)> = events
        .iter()
        .map(|e| (e.stream_id.clone(), enkaku_infra::kafka::cloudevent::encode(e)))
        .collect();
    let config = enkaku_infra::kafka::KafkaConfig {
        topic: topic.clone(),
        ..enkaku_infra::kafka::KafkaConfig::new(&brokers)
    };
    enkaku_infra::kafka::ensure_topic(&config).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .create()?;
    let started = Instant::now();
    let mut acks = Vec::with_capacity(messages.len());
    for (key, payload) in &messages {
        let mut record = FutureRecord::to(&topic).key(key).payload(payload);
        loop {
            match producer.send_result(record) {
                Ok(ack) => break acks.push(ack),
                Err((_, back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }
    for ack in acks {
        ack.await?.map_err(|(e, _)| e)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(
        json!({ "events": messages.len(), "seconds": elapsed, "events_per_second": messages.len() as f64 / elapsed }),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let result = match Args::parse().part {
        Part::Lag { base, rate, seconds } => lag(base, rate, seconds).await?,
        Part::Drain { base } => drain(base).await?,
        Part::Plain {
            database_url,
            brokers,
            topic,
        } => plain(database_url, brokers, topic).await?,
    };
    println!("{result}");
    Ok(())
}
