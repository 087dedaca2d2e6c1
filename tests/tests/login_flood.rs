//! A login flood against the real binary, as a child process so the memory measured is the
//! server's own: wrong passwords from many addresses must not exhaust memory, nor crowd out
//! staff who are already logged in. Generous bounds only; the figures themselves are
//! `scripts/bench login-flood`'s.

use enkaku_tests::flood::{Flood, memory_kib, percentile_ms};
use enkaku_tests::process::{Server, free_port};
use enkaku_tests::{Backend, TestStore};
use std::time::Duration;

/// Peak resident memory allowed under the flood. Unbounded, 150 checks in flight took the
/// server to 2.9 GB; bounded, it stays near its idle size plus a few checks of ~19 MiB.
const MEMORY_CAP_KIB: u64 = 400 * 1024;

#[tokio::test]
async fn a_login_flood_from_many_addresses_keeps_memory_bounded_and_staff_served() {
    let store = TestStore::new(Backend::Sqlite).await;
    let log = store.dir.path().join("server.log");
    let server = Server::start(&store, free_port(), &log).await;
    let http = reqwest::Client::new();
    let token = server.token(&http).await;
    let pid = server.child.id();
    let idle_kib = memory_kib(pid, "VmRSS");

    let report = Flood {
        base: server.base.clone(),
        addresses: 20,
        in_flight: 160,
        duration: Duration::from_secs(4),
        token,
        pid,
        stop_above_kib: MEMORY_CAP_KIB,
    }
    .run()
    .await;
    let summary = format!(
        "idle {idle_kib} KiB, peak {} KiB, logins {:?}, /me p99 {} ms",
        report.peak_rss_kib,
        report.statuses,
        percentile_ms(&mut report.me_latencies_us.clone(), 99.0)
    );
    eprintln!("{summary}");

    assert!(
        !report.stopped_early && report.peak_rss_kib < MEMORY_CAP_KIB,
        "memory passed the cap: {summary}"
    );
    assert!(report.unexpected.is_empty(), "{:?}; {summary}", report.unexpected);
    assert!(
        report.statuses.get(&401).copied().unwrap_or(0) > 0,
        "some attempts were checked: {summary}"
    );
    assert!(
        report.statuses.get(&429).copied().unwrap_or(0) > 0,
        "the flood was limited: {summary}"
    );
    assert_eq!(report.me_failures, 0, "{summary}");
    let slowest_me = report.me_latencies_us.iter().max().copied().unwrap_or(0);
    assert!(
        !report.me_latencies_us.is_empty() && slowest_me < 3_000_000,
        "a logged-in request took {slowest_me} µs: {summary}"
    );
}
