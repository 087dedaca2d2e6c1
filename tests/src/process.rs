//! The real `enkaku` binary as a child process, for recovery tests that kill it.

use crate::{TestStore, YAMADA};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
/// The `enkaku` binary next to this test's executable (scripts/test builds it first).
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("enkaku");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --bin enkaku` first",
        path.display()
    );
    path
}

/// `enkaku` pointed at a test store: its data directory, and its database if PostgreSQL.
pub fn enkaku(data_dir: &std::path::Path, database_url: Option<&String>) -> Command {
    let mut command = Command::new(binary());
    command
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("ENKAKU_DATABASE_URL");
    if let Some(url) = database_url {
        command.env("ENKAKU_DATABASE_URL", url);
    }
    command
}

/// Run an `enkaku` subcommand to completion; returns what it printed.
pub fn run_cli(config: &enkaku_api::Config, args: &[&str]) -> String {
    let output = enkaku(&config.data_dir, config.database_url.as_ref())
        .args(args)
        .output()
        .expect("run enkaku");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    pub async fn start(store: &TestStore, port: u16, log: &std::path::Path) -> Self {
        Self::start_with(store, port, log, &[]).await
    }

    /// With extra environment, e.g. `ENKAKU_KAFKA_BROKERS`.
    pub async fn start_with(
        store: &TestStore,
        port: u16,
        log: &std::path::Path,
        env: &[(&str, &str)],
    ) -> Self {
        let mut command = enkaku(store.dir.path(), store.database_url.as_ref());
        command.envs(env.iter().copied());
        command
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .env("ENKAKU_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .unwrap(),
            );
        let server = Self {
            child: command.spawn().expect("start enkaku"),
            base: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..300 {
            if let Ok(r) = reqwest::get(format!("{}/healthz", server.base)).await
                && r.status().is_success()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("enkaku did not become healthy; see {}", log.display());
    }

    /// SIGKILL: no shutdown hook runs, nothing is flushed that was not already durable.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// A session token of the demo doctor.
    pub async fn token(&self, http: &reqwest::Client) -> String {
        crate::Staff::login(http, &self.base, YAMADA).await.token
    }

    /// GET a path as the logged-in staff member, as JSON.
    pub async fn get(&self, http: &reqwest::Client, token: &str, path: &str) -> Value {
        let response = http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    pub async fn health(&self, http: &reqwest::Client) -> Value {
        crate::health(http, &self.base).await
    }

    pub async fn converged(&self, http: &reqwest::Client) -> Value {
        for _ in 0..400 {
            let h = self.health(http).await;
            if h["projected"] == h["head"] {
                return h;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("read models did not converge");
    }
}

/// A failing test must not leave its server running (and holding its database).
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
