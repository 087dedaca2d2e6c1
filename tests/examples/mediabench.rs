//! Load generator for `scripts/bench media`. Against one running server (and its process id,
//! for CPU and memory) it opens 1:1 calls through enkaku's signalling as the call screen and
//! the patient's page do (`enkaku_tests::peer`, `enkaku_tests::signalling`), starts them, and
//! makes both sides of every call send what a camera and a microphone send: ~1 Mbps of
//! video-sized packets and Opus-sized audio. For each number of calls, over one window:
//! - the server's CPU (utime + stime from /proc) and its resident memory above idle;
//! - the packets that reach the peers, their delay (each payload carries its send time; both
//!   peers live in this process, on one clock) and the share lost;
//! - then the same packet rates through a plain UDP reflector (`mediabench reflect`, a process
//!   of its own that receives on one socket and sends from another) with its CPU: the ceiling
//!   of forwarding on this machine.
//!
//! Prints one JSON line per number of calls and a summary line. Stops at the first number
//! that breaks: more than 5% lost, or this generator not sending what it should.

use bytes::Bytes;
use clap::{Parser, Subcommand};
use enkaku_tests::flood::{memory_kib, percentile_ms};
use enkaku_tests::peer::{Kind, Observer, Peer, vp8};
use enkaku_tests::signalling::Socket;
use enkaku_tests::{Staff, YAMADA, hours_from_now};
use futures::StreamExt;
use serde_json::{Value, json};
use std::io::{BufRead, Read, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::time::MissedTickBehavior;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    part: Part,
}

#[derive(Subcommand)]
enum Part {
    /// Calls through the server at `base`, against the reflector in the same run.
    Calls {
        #[arg(long)]
        base: String,
        /// The server's process id.
        #[arg(long)]
        pid: u32,
        /// Numbers of calls, in turn (each adds to the calls already open).
        #[arg(long, value_delimiter = ',', default_value = "10,25,50,100,200")]
        calls: Vec<usize>,
        /// Length of each measuring window.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The plain UDP reflector: prints the address it receives on, sends everything to `to`,
    /// and ends when its standard input closes (when the generator ends).
    Reflect {
        #[arg(long)]
        to: SocketAddr,
    },
}

/// One kind of media a participant sends.
#[derive(Clone, Copy)]
struct Stream {
    kind: Kind,
    /// Payload bytes per packet.
    size: usize,
    per_second: u32,
    clock_rate: u64,
}

/// A camera at ~1 Mbps: 1100-byte packets, 110 a second.
const VIDEO: Stream = Stream {
    kind: Kind::Video,
    size: 1100,
    per_second: 110,
    clock_rate: 90_000,
};
/// Opus: 100-byte packets, one per 20 ms.
const AUDIO: Stream = Stream {
    kind: Kind::Audio,
    size: 100,
    per_second: 50,
    clock_rate: 48_000,
};
const STREAMS: [Stream; 2] = [VIDEO, AUDIO];
/// The reflector's datagrams carry an RTP header's worth of bytes before the payload, so
/// both paths move packets of one size.
const RTP_HEADER: usize = 12;

/// What is being driven now.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Nothing,
    Relay,
    Reflector,
}

/// The counts of the window being measured; window 0 is none (warming up).
struct Tally {
    target: Target,
    window: u32,
    sent: u64,
    received: u64,
    delays_us: Vec<u64>,
}

static TALLY: Mutex<Tally> = Mutex::new(Tally {
    target: Target::Nothing,
    window: 0,
    sent: 0,
    received: 0,
    delays_us: Vec::new(),
});
static CLOCK: LazyLock<Instant> = LazyLock::new(Instant::now);

fn tally() -> std::sync::MutexGuard<'static, Tally> {
    TALLY.lock().unwrap_or_else(|e| e.into_inner())
}

fn micros_now() -> u64 {
    CLOCK.elapsed().as_micros() as u64
}

/// A payload of `size` bytes stamped with the window and its send time, or `None` when
/// `target` is not being driven now. It starts as a VP8 keyframe does (RFC 7741: start of
/// partition 0, key-frame bit clear), so the relay never holds video back for one.
fn payload(target: Target, size: usize) -> Option<Bytes> {
    let window = {
        let mut tally = tally();
        if tally.target != target {
            return None;
        }
        if tally.window != 0 {
            tally.sent += 1;
        }
        tally.window
    };
    let mut payload = vec![0u8; size];
    payload[0] = 0x10;
    payload[2..6].copy_from_slice(&window.to_le_bytes());
    payload[6..14].copy_from_slice(&micros_now().to_le_bytes());
    Some(payload.into())
}

/// A payload arrived: counted, with its delay, when it belongs to the window measured.
fn arrived(payload: &[u8]) {
    let (Some(window), Some(sent)) = (payload.get(2..6), payload.get(6..14)) else {
        return;
    };
    let window = u32::from_le_bytes(window.try_into().unwrap_or_default());
    let sent = u64::from_le_bytes(sent.try_into().unwrap_or_default());
    let delay = micros_now().saturating_sub(sent);
    let mut tally = tally();
    if window != 0 && window == tally.window {
        tally.received += 1;
        tally.delays_us.push(delay);
    }
}

/// Send `stream` for `target` at its rate for as long as the process runs; `send` takes the
/// sequence number, the RTP timestamp and the payload. A generator that falls behind skips
/// ticks, and the window's count of sent packets shows it.
async fn drive(target: Target, stream: Stream, mut send: impl AsyncFnMut(u16, u32, Bytes)) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / stream.per_second);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut sequence: u16 = rand::random();
    loop {
        ticks.tick().await;
        let Some(payload) = payload(target, stream.size) else {
            continue;
        };
        let timestamp = (micros_now() * stream.clock_rate / 1_000_000) as u32;
        send(sequence, timestamp, payload).await;
        sequence = sequence.wrapping_add(1);
    }
}

fn token_of(url: &Value) -> anyhow::Result<String> {
    let url = url.as_str().ok_or_else(|| anyhow::anyhow!("no URL"))?;
    Ok(url.rsplit('/').next().unwrap_or_default().to_owned())
}

/// One call's signalling sockets, kept open while it runs.
struct Call {
    _sockets: [Socket; 2],
}

/// A participant joined through `socket`, sending at the rates of `STREAMS` while the relay
/// is driven and counting what arrives.
async fn participant(socket: &mut Socket, (video_pt, audio_pt): (u8, u8)) -> anyhow::Result<()> {
    let observer: Observer = Arc::new(|_, packet| arrived(&packet.payload));
    let peer = Peer::try_connect(&[vp8(video_pt)], audio_pt, Some(observer), socket).await?;
    let peer = Arc::new(peer);
    for stream in STREAMS {
        let peer = peer.clone();
        tokio::spawn(drive(
            Target::Relay,
            stream,
            async move |sequence, timestamp, payload| {
                // A write fails only while the connection closes; the packet counts as lost.
                let _ = peer.write(stream.kind, sequence, timestamp, Some(payload)).await;
            },
        ));
    }
    Ok(())
}

/// Call number `n`: a video URL starting now, the doctor's and the patient's pages joined
/// through signalling, and the call started so media flows both ways.
async fn open_call(staff: &Staff, n: usize) -> anyhow::Result<Call> {
    let created = staff
        .create_video_url(&hours_from_now(0), &format!("bench {n}"))
        .await;
    anyhow::ensure!(
        created.status.is_success(),
        "creating a video URL: {}",
        created.body
    );
    let id = created.body["id"].as_str().unwrap_or_default().to_owned();
    let clinic_path = format!(
        "/api/v1/media/clinic/{}",
        token_of(&created.body["video"]["clinic_url"])?
    );
    let patient_path = format!(
        "/api/v1/media/patient/{}",
        token_of(&created.body["video"]["patient_url"])?
    );
    let mut clinic = Socket::open_from(None, &staff.base, &clinic_path, Some(&staff.token)).await?;
    participant(&mut clinic, (102, 109)).await?;
    // The patient link's limiter allows a burst per address: patients come from addresses of
    // their own, fifty to each.
    let from = IpAddr::from([127, 0, 0, 2 + u8::try_from(n / 50)?]);
    let mut patient = Socket::open_from(Some(from), &staff.base, &patient_path, None).await?;
    participant(&mut patient, (100, 111)).await?;
    let started = staff
        .post(&format!("/api/v1/appointments/{id}/start-call"), json!({}))
        .await;
    anyhow::ensure!(started.status.is_success(), "starting the call: {}", started.body);
    clinic.next_of("started").await?;
    patient.next_of("started").await?;
    Ok(Call {
        _sockets: [clinic, patient],
    })
}

/// A stream of the same packets through the reflector, from a socket of its own.
fn reflected_stream(reflector: SocketAddr) -> anyhow::Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(reflector)?;
    socket.set_nonblocking(true)?;
    let socket = Arc::new(tokio::net::UdpSocket::from_std(socket)?);
    for stream in STREAMS {
        let socket = socket.clone();
        tokio::spawn(drive(Target::Reflector, stream, async move |_, _, payload| {
            let mut datagram = vec![0u8; RTP_HEADER];
            datagram.extend_from_slice(&payload);
            let _ = socket.send(&datagram).await;
        }));
    }
    Ok(())
}

/// CPU time a process has used, in seconds.
fn cpu_seconds(pid: u32, ticks_per_second: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name in parentheses: state is field 3, utime 14 and stime 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / ticks_per_second
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

/// One measuring window's results.
struct Measured {
    seconds: f64,
    cores: f64,
    generator_cores: f64,
    sent: u64,
    received: u64,
    delays_us: Vec<u64>,
}

impl Measured {
    fn loss(&self) -> f64 {
        if self.sent == 0 {
            return 1.0;
        }
        (1.0 - self.received as f64 / self.sent as f64).max(0.0)
    }
}

/// Drive `target` for a warm-up and then a window of `seconds`, measuring process `pid`.
async fn measure(target: Target, window: u32, seconds: u64, pid: u32, ticks: f64) -> Measured {
    tally().target = target;
    tokio::time::sleep(Duration::from_secs(2)).await;
    {
        let mut tally = tally();
        tally.window = window;
        tally.sent = 0;
        tally.received = 0;
        tally.delays_us.clear();
    }
    let own = std::process::id();
    let (cpu, own_cpu, at) = (cpu_seconds(pid, ticks), cpu_seconds(own, ticks), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let elapsed = at.elapsed().as_secs_f64();
    let (cpu, own_cpu) = (cpu_seconds(pid, ticks) - cpu, cpu_seconds(own, ticks) - own_cpu);
    // Sending stops; what is still on its way is counted for a moment longer.
    tally().target = Target::Nothing;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut tally = tally();
    tally.window = 0;
    Measured {
        seconds: elapsed,
        cores: cpu / elapsed,
        generator_cores: own_cpu / elapsed,
        sent: tally.sent,
        received: tally.received,
        delays_us: std::mem::take(&mut tally.delays_us),
    }
}

/// One number of calls' results, in the order a reader wants them.
#[derive(serde::Serialize)]
struct Line {
    bench: &'static str,
    n: usize,
    relay_cores: f64,
    /// Per forwarded ~1 Mbps stream: two per call.
    cores_per_stream: f64,
    /// Resident memory above the idle server's, per call.
    rss_mb_per_call: f64,
    /// Packets that reached the peers.
    forwarded_pps: f64,
    latency_ms_p50: f64,
    latency_ms_p99: f64,
    loss: f64,
    reflector_cores: f64,
    ratio_to_reflector: f64,
    /// What the generator sent; below the calls' rates when it fell behind.
    sent_pps: f64,
    generator_cores: f64,
    reflector_loss: f64,
    reflector_latency_ms_p99: f64,
}

fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

/// The reflector, in a process of its own; its address.
fn start_reflector(to: SocketAddr) -> anyhow::Result<(Child, SocketAddr)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["reflect", "--to", &to.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    Ok((child, line.trim().parse()?))
}

fn reflect(to: SocketAddr) -> anyhow::Result<()> {
    let inbound = UdpSocket::bind("127.0.0.1:0")?;
    let outbound = UdpSocket::bind("127.0.0.1:0")?;
    outbound.connect(to)?;
    println!("{}", inbound.local_addr()?);
    std::io::stdout().flush()?;
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    let mut buffer = [0u8; 2048];
    loop {
        let n = inbound.recv(&mut buffer)?;
        let _ = outbound.send(&buffer[..n]);
    }
}

fn main() -> anyhow::Result<()> {
    match Args::parse().part {
        Part::Reflect { to } => reflect(to),
        Part::Calls {
            base,
            pid,
            calls,
            seconds,
        } => tokio::runtime::Runtime::new()?.block_on(run(base, pid, calls, seconds)),
    }
}

async fn run(base: String, pid: u32, steps: Vec<usize>, seconds: u64) -> anyhow::Result<()> {
    let ticks = clock_ticks();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let staff = Staff::login(&http, &base, YAMADA).await;
    let idle_kib = memory_kib(pid, "VmRSS");

    // What comes back from the reflector.
    let returns = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let (mut reflector, reflector_addr) = start_reflector(returns.local_addr()?)?;
    tokio::spawn(async move {
        let mut buffer = [0u8; 2048];
        while let Ok(n) = returns.recv(&mut buffer).await {
            arrived(buffer.get(RTP_HEADER..n).unwrap_or_default());
        }
    });

    let mut calls: Vec<Call> = Vec::new();
    let mut reflected = 0;
    let mut window = 0;
    let mut largest_clean = None;
    let mut broke = None;
    for n in steps {
        let opened: Vec<anyhow::Result<Call>> = futures::stream::iter(calls.len()..n)
            .map(|i| open_call(&staff, i))
            .buffer_unordered(4)
            .collect()
            .await;
        let mut failed = None;
        for call in opened {
            match call {
                Ok(call) => calls.push(call),
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            broke = Some(json!({ "n": n, "why": format!("opening calls: {e:#}") }));
            break;
        }
        // As many streams through the reflector as the calls send: two each.
        while reflected < 2 * n {
            reflected_stream(reflector_addr)?;
            reflected += 1;
        }

        window += 1;
        let relay = measure(Target::Relay, window, seconds, pid, ticks).await;
        let rss_kib = memory_kib(pid, "VmRSS");
        window += 1;
        let mut reflected = measure(Target::Reflector, window, seconds, reflector.id(), ticks).await;

        let streams = 2 * n;
        let expected = streams as f64 * f64::from(VIDEO.per_second + AUDIO.per_second) * relay.seconds;
        let kept_up = relay.sent as f64 >= 0.95 * expected;
        let loss = relay.loss();
        let mut delays = relay.delays_us;
        let line = Line {
            bench: "media",
            n,
            relay_cores: round(relay.cores, 3),
            cores_per_stream: round(relay.cores / streams as f64, 4),
            rss_mb_per_call: round(rss_kib.saturating_sub(idle_kib) as f64 / 1024.0 / n as f64, 2),
            forwarded_pps: round(relay.received as f64 / relay.seconds, 0),
            latency_ms_p50: round(percentile_ms(&mut delays, 50.0), 2),
            latency_ms_p99: round(percentile_ms(&mut delays, 99.0), 2),
            loss: round(loss, 4),
            reflector_cores: round(reflected.cores, 3),
            ratio_to_reflector: round(relay.cores / reflected.cores.max(0.001), 1),
            sent_pps: round(relay.sent as f64 / relay.seconds, 0),
            generator_cores: round(relay.generator_cores, 2),
            reflector_loss: round(reflected.loss(), 4),
            reflector_latency_ms_p99: round(percentile_ms(&mut reflected.delays_us, 99.0), 2),
        };
        println!("{}", serde_json::to_string(&line)?);
        if loss < 0.01 && kept_up {
            largest_clean = Some(n);
        }
        if loss > 0.05 || !kept_up {
            let why = if kept_up {
                "loss above 5%"
            } else {
                "the generator fell behind"
            };
            broke = Some(json!({ "n": n, "why": why }));
            break;
        }
    }
    println!(
        "{}",
        json!({
            "bench": "media",
            "summary": true,
            "largest_n_under_1pct_loss": largest_clean,
            "broke": broke,
            "seconds_per_window": seconds,
            "bar": {"cores_per_stream_at_most": 0.01, "loss_below": 0.01},
        })
    );
    let _ = reflector.kill();
    let _ = reflector.wait();
    Ok(())
}
