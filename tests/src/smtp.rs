//! A real SMTP server (aiosmtpd, `tests/smtp/server.py`) for the e-mail channel's tests, on
//! its own loopback port. `scripts/test` installs it and exports `ENKAKU_SMTP_PYTHON`.
//!
//! What the server does depends on the recipient's local part: `reject…` is refused with
//! 550, `later…` with 451, `stall…` is never answered, `vanish…` is stored and then the
//! connection closed without an answer, and anything else is stored and accepted.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

/// The Python of the virtual environment `ensure_aiosmtpd` (scripts/lib.sh) makes; the
/// default follows its pinned version.
fn python() -> PathBuf {
    let path = std::env::var_os("ENKAKU_SMTP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/enkaku/tools/aiosmtpd-1.4.6/bin/python"));
    assert!(
        path.exists(),
        "the Python with aiosmtpd is missing at {}: run scripts/test, which installs it (or set \
         ENKAKU_SMTP_PYTHON)",
        path.display()
    );
    path
}

pub struct SmtpServer {
    pub port: u16,
    /// Where it stores what it accepts (`<n>.eml`), and its log (`server.log`).
    dir: TempDir,
    child: Child,
}

impl SmtpServer {
    /// Start a server on a free port and wait until it accepts connections.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).expect("server log");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/smtp/server.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg("0")
            .arg(dir.path())
            // Its stdin closing (this process ended without dropping it) stops it too.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start the SMTP server");
        let stdout = child.stdout.take().expect("stdout");
        // It prints its port once it accepts connections.
        let first_line = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::task::spawn_blocking(move || {
                let mut line = String::new();
                BufReader::new(stdout).read_line(&mut line).map(|_| line)
            }),
        )
        .await;
        let port = match first_line {
            Ok(Ok(Ok(line))) => line.trim().parse().ok(),
            _ => None,
        };
        let Some(port) = port else {
            child.kill().ok();
            child.wait().ok();
            panic!(
                "the SMTP server did not start: {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        };
        Self { port, dir, child }
    }

    /// The URL `SmtpSender` is configured with.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message accepted so far, raw, in the order they arrived.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let mut numbered: Vec<(u64, PathBuf)> = std::fs::read_dir(self.dir.path())
            .expect("message dir")
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let number = path.file_name()?.to_str()?.strip_suffix(".eml")?.parse().ok()?;
                Some((number, path))
            })
            .collect();
        numbered.sort();
        numbered
            .into_iter()
            .map(|(_, path)| std::fs::read(path).expect("read message"))
            .collect()
    }

    /// What the server logged (its errors), for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
