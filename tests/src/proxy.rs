//! A TCP proxy a test can cut: a database outage for one application, without stopping the
//! PostgreSQL server every other test shares.

use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct TcpProxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
    accepting: JoinHandle<()>,
}

impl TcpProxy {
    /// Forward connections on a fresh loopback port to `target` (`host:port`).
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let addr = listener.local_addr().expect("proxy address");
        let (up, is_up) = watch::channel(true);
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                // While cut, a new connection is closed at once, as a stopped server's would be.
                if *is_up.borrow() {
                    tokio::spawn(forward(client, target.clone(), is_up.clone()));
                }
            }
        });
        Self { addr, up, accepting }
    }

    /// `url` (`postgres://user@host:port/db`) rewritten to go through a new proxy.
    pub async fn in_front_of(url: &str) -> (Self, String) {
        let authority_start = url
            .find('@')
            .map_or_else(|| url.find("://").expect("a URL") + 3, |at| at + 1);
        let rest = &url[authority_start..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let target = &rest[..authority_end];
        let proxy = Self::start(target.to_owned()).await;
        let proxied = format!(
            "{}{}{}",
            &url[..authority_start],
            proxy.addr,
            &rest[authority_end..]
        );
        (proxy, proxied)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drop every open connection and refuse new ones.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Forward again.
    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accepting.abort();
    }
}

async fn forward(mut client: TcpStream, target: String, mut is_up: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(&target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = is_up.wait_for(|up| !*up) => {}
    }
}
