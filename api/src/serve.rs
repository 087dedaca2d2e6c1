//! The accept loop: HTTP/1.1 connections under a cap, with deadlines for request heads, and a
//! reserve of connections that only health checks and logged-in staff may use.
//!
//! `axum::serve` keeps every connection for as long as the client likes and accepts until the
//! process runs out of file descriptors, after which nothing, `/livez` included, is answered.
//! Here every connection holds one of `max_connections` permits; a request head (the first
//! one, and each next one on a kept-alive connection) must arrive within `header_timeout`;
//! and once fewer than `reserve` permits are left, a new connection is on probation: its head
//! must arrive within `reserve_header_timeout`, it is answered only if it is a health check or
//! carries a session, and it is closed after that one answer. A response being streamed (live
//! updates) is never cut: hyper reads no head while it writes one.

use crate::error::ApiError;
use crate::extract::SESSION_COOKIE;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use enkaku_domain::ErrorCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

/// How many connections are served at once and how long a client may take to send a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once; one more is accepted and closed at once.
    pub max_connections: usize,
    /// The last this-many connections are kept for health checks and logged-in staff.
    pub reserve: usize,
    /// Time for a request head to arrive, on a new connection and between kept-alive requests.
    pub header_timeout: Duration,
    /// The same on a connection in the reserve.
    pub reserve_header_timeout: Duration,
}

/// Seconds a client gets to send a request head, unless configured.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

impl ConnectionLimits {
    /// Defaults for a process that may open `open_files` descriptors: a quarter of them (at
    /// least 256) stay free for database connections, data files, logs and the media relay's
    /// UDP sockets; a tenth of the connections is the reserve.
    pub fn for_open_files(open_files: u64) -> Self {
        let headroom = (open_files / 4).max(256);
        let max = usize::try_from(open_files.saturating_sub(headroom)).unwrap_or(usize::MAX);
        Self::with_max(max.clamp(16, u32::MAX as usize))
    }

    /// `max` connections, with the default reserve and timeouts.
    pub fn with_max(max_connections: usize) -> Self {
        let max_connections = max_connections.clamp(2, u32::MAX as usize);
        Self {
            max_connections,
            reserve: (max_connections / 10).max(1),
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            reserve_header_timeout: Duration::from_secs(2),
        }
    }
}

impl Default for ConnectionLimits {
    /// Sized to the process's current soft limit of open files.
    fn default() -> Self {
        Self::for_open_files(open_files_limit())
    }
}

/// Descriptors kept beside connections and the media relay's sockets: the database, data
/// files, logs.
pub const SPARE_DESCRIPTORS: u64 = 64;

/// How `open_files` descriptors are shared between HTTP connections and the media relay, whose
/// sockets take `media_descriptors` at most: the connection limits (`max_connections` if
/// configured, else the default for what the relay leaves), or why they do not fit.
pub fn share_open_files(
    open_files: u64,
    max_connections: Option<usize>,
    media_descriptors: u64,
) -> Result<ConnectionLimits, String> {
    let limits = match max_connections {
        Some(max) => ConnectionLimits::with_max(max),
        None => ConnectionLimits::for_open_files(open_files.saturating_sub(media_descriptors)),
    };
    let needed = (limits.max_connections as u64)
        .saturating_add(media_descriptors)
        .saturating_add(SPARE_DESCRIPTORS);
    if needed > open_files {
        return Err(format!(
            "the open-file limit ({open_files}) cannot hold {} HTTP connections, {media_descriptors} \
             media-relay sockets and {SPARE_DESCRIPTORS} spare descriptors ({needed}): raise the limit \
             (LimitNOFILE, ulimit -n), or lower --max-connections, or narrow --media-ports",
            limits.max_connections
        ));
    }
    Ok(limits)
}

/// The soft limit of open files (1024 when it cannot be read).
pub fn open_files_limit() -> u64 {
    rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
}

/// Raise the soft limit of open files to the hard limit; returns the limit now in force.
pub fn raise_open_files_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            open_files_limit()
        }
    }
}

/// Marks requests on a connection taken from the reserve.
#[derive(Clone, Copy, Debug)]
pub struct Reserved;

/// On a reserved connection, answer only health checks and requests that carry a session,
/// and close the connection after the answer so it goes back to the reserve.
pub async fn admit_reserved(request: Request, next: axum::middleware::Next) -> Response {
    if request.extensions().get::<Reserved>().is_none() {
        return next.run(request).await;
    }
    let mut response = if may_use_reserve(&request) {
        next.run(request).await
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Busy,
            "the server has too many connections open; try again",
        )
        .retry_after(1)
        .into_response()
    };
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Health checks, and requests with a bearer token or a session cookie (whether the session is
/// valid is checked as usual: a forged one only buys a 401 on a connection closed after it).
fn may_use_reserve(request: &Request) -> bool {
    let path = request.uri().path();
    let headers = request.headers();
    path == "/livez"
        || path == "/healthz"
        || headers.contains_key(header::AUTHORIZATION)
        || headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(';').any(|c| c.trim_start().starts_with(SESSION_COOKIE)))
}

/// Serve `router` on `listener` until `shutdown` completes; then accept nothing more, tell
/// open connections to close once their in-flight request is answered (and long-lived
/// responses, through `closing`, to end), and return when every connection is closed.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    closing: watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors or a connection reset before it was accepted: wait a
                // moment instead of spinning on the same error.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!("connection limit reached: closing a new connection");
            continue;
        };
        let reserved = slots.available_permits() < limits.reserve;
        let connection = Connection {
            socket: Counted { stream, _slot: slot },
            peer,
            reserved,
            header_timeout: if reserved {
                limits.reserve_header_timeout
            } else {
                limits.header_timeout
            },
        };
        tokio::spawn(connection.serve(router.clone(), closing.subscribe()));
    }
    drop(listener);
    let _ = closing.send(true);
    // Every permit back means every socket has closed (upgraded ones must watch `closing`).
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

struct Connection {
    socket: Counted,
    peer: SocketAddr,
    reserved: bool,
    header_timeout: Duration,
}

/// A socket with its slot, given back when the socket is closed: also when an upgrade (the
/// media WebSockets) has taken the socket over from hyper, so upgraded connections count
/// against the cap for as long as they are open.
struct Counted {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

impl Connection {
    async fn serve(self, router: axum::Router, mut closing: watch::Receiver<bool>) {
        let closed = async move {
            let _ = closing.wait_for(|closing| *closing).await;
        };
        let (peer, reserved) = (self.peer, self.reserved);
        let service = tower::service_fn(move |request: Request<hyper::body::Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            if reserved {
                request.extensions_mut().insert(Reserved);
            }
            router.clone().oneshot(request)
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .serve_connection(TokioIo::new(self.socket), TowerToHyperService::new(service))
            .with_upgrades();
        tokio::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = closed => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = result {
            // Timeouts, resets and malformed requests: the client's doing, not an error here.
            tracing::debug!(error = %e, "connection ended");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_connections_and_the_relays_sockets_share_the_open_files() {
        // Unless configured, HTTP takes what the relay leaves, less its own headroom.
        let limits = share_open_files(20_000, None, 1_000).unwrap();
        assert_eq!(limits, ConnectionLimits::for_open_files(19_000));
        // A tiny range of two ports beside the common limit of 1024.
        assert_eq!(share_open_files(1024, None, 2).unwrap().max_connections, 766);
        // A configured cap fits to the descriptor, and not one more.
        let fits = 1024 - 2 - SPARE_DESCRIPTORS as usize;
        assert_eq!(
            share_open_files(1024, Some(fits), 2).unwrap().max_connections,
            fits
        );
        assert!(share_open_files(1024, Some(fits + 1), 2).is_err());
        // A thousand ports do not fit in 1024 descriptors beside any HTTP at all: the server
        // does not start, and says what to change.
        let refused = share_open_files(1024, None, 1_000).unwrap_err();
        assert!(
            refused.contains("1024") && refused.contains("--media-ports"),
            "{refused}"
        );
    }
}
