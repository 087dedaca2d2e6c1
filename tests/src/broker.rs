//! A real Kafka-protocol broker (tansu) for the Kafka tests, on its own loopback port.
//! `scripts/test` installs it and exports `ENKAKU_TANSU`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn tansu() -> PathBuf {
    let path = std::env::var_os("ENKAKU_TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/enkaku/tools/bin/tansu"));
    assert!(
        path.exists(),
        "the tansu broker is missing at {}: run scripts/test, which installs it (or set ENKAKU_TANSU)",
        path.display()
    );
    path
}

pub struct Broker {
    pub port: u16,
    storage: String,
    /// Its working directory: the log and any data file live there.
    dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Broker {
    /// A broker that keeps its data in memory: lost when it stops.
    pub async fn in_memory(dir: &std::path::Path) -> Self {
        Self::start("memory://tansu/".into(), dir).await
    }

    /// A broker that keeps its data in a file in `dir`, so a restart loses nothing.
    ///
    /// tansu's SQLite engine creates its own schema; its PostgreSQL engine expects a schema
    /// that is not published with the crate, so the tests use the file.
    pub async fn persistent(dir: &std::path::Path) -> Self {
        Self::start("sqlite://tansu.db".into(), dir).await
    }

    async fn start(storage: String, dir: &std::path::Path) -> Self {
        let port = crate::process::free_port();
        let mut broker = Self {
            port,
            storage,
            dir: dir.to_owned(),
            log: dir.join(format!("tansu-{port}.log")),
            child: None,
        };
        broker.resume().await;
        broker
    }

    /// `bootstrap.servers` for clients.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kill the broker (SIGKILL: an outage, not a goodbye).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Start it again on the same port and storage.
    pub async fn resume(&mut self) {
        let listener = format!("tcp://{}", self.address());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("broker log");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &listener,
                "--advertised-listener-url",
                &listener,
            ])
            .args(["--storage-engine", &self.storage])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(self.address()).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "tansu did not listen on {}; see {}",
            self.address(),
            self.log.display()
        );
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}
