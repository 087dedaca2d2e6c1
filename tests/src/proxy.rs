//! A TCP proxy a test can cut: a database outage for one application, without stopping the
//! PostgreSQL server every other test shares.

use std::net::SocketAddr;
use std::sync::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct TcpProxy {
    addr: SocketAddr,
    target: String,
    up: watch::Sender<bool>,
    accepting: Mutex<Option<JoinHandle<()>>>,
}

impl TcpProxy {
    /// Forward connections on a fresh loopback port to `target` (`host:port`).
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let addr = listener.local_addr().expect("proxy address");
        let (up, _) = watch::channel(true);
        let proxy = Self {
            addr,
            target,
            up,
            accepting: Mutex::new(None),
        };
        proxy.accept_on(listener);
        proxy
    }

    fn accept_on(&self, listener: TcpListener) {
        let (target, is_up) = (self.target.clone(), self.up.subscribe());
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward(client, target.clone(), is_up.clone()));
            }
        });
        *self.accepting.lock().expect("proxy lock") = Some(accepting);
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

    /// As a stopped server: drop every open connection and refuse new ones (the port is
    /// closed, so connecting fails with "connection refused").
    pub async fn cut(&self) {
        self.up.send_replace(false);
        let accepting = self.accepting.lock().expect("proxy lock").take();
        if let Some(accepting) = accepting {
            accepting.abort();
            let _ = accepting.await;
        }
    }

    /// Listen on the same port and forward again.
    pub async fn restore(&self) {
        self.up.send_replace(true);
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("the proxy's port again");
        self.accept_on(listener);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.up.send_replace(false);
        if let Some(accepting) = self.accepting.lock().ok().and_then(|mut a| a.take()) {
            accepting.abort();
        }
    }
}

async fn forward(mut client: TcpStream, target: String, mut is_up: watch::Receiver<bool>) {
    if !*is_up.borrow() {
        return;
    }
    let Ok(mut server) = TcpStream::connect(&target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = is_up.wait_for(|up| !*up) => {}
    }
}
