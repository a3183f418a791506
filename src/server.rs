//! The API's HTTP server: accept loops, connection limits, TLS, graceful shutdown.
//!
//! hyper-util's `auto` builder serves HTTP/1.1 and HTTP/2 (h2 by ALPN over TLS, or prior
//! knowledge) on each accepted connection; the axum router answers. Around it:
//! - **a connection cap** (`server.connections_max`, one semaphore over all listeners): an
//!   accept loop takes a permit *before* it accepts, so at the cap new connections wait in the
//!   kernel's backlog (back-pressure) instead of being accepted and dropped;
//! - **accept errors never end a listener**: a client-side error (reset before accept) is
//!   skipped; anything else (EMFILE/ENFILE when the open-file limit is reached, ENOBUFS) is
//!   logged and retried after a growing pause (10 ms … 1 s), since the connections that hold
//!   the descriptors close on their own timeouts;
//! - **per-connection deadlines**, enforced by the connection's I/O wrapper ([`Io`]): a fresh
//!   connection must complete its request head within `header_read_timeout`, a kept-alive one
//!   may stay quiet for `idle_timeout` and then has `header_read_timeout` from its next first
//!   byte; while a request is in flight, the connection must make progress writing its
//!   responses: no byte written for `idle_timeout` (at least [`BUSY_STALL_MIN`]) closes it, so
//!   an HTTP/2 client that opens streams and never reads (a zero flow-control window) cannot
//!   hold a connection and its responses forever. hyper's own `header_read_timeout` is not
//!   used: it starts as soon as a connection is idle, so it cannot tell "idle" from "slow";
//! - **HTTP/2 streams** per connection are capped at [`H2_STREAMS_MAX`];
//! - **a request-body deadline** (`body_timeout`) over the *whole* body, counted from the
//!   request head ([`DeadlineBody`]); tower-http's body timeout restarts at every frame, so a
//!   client trickling a byte at a time would never hit it. A late body is answered 408;
//! - **lingering close**: when a connection ends, its write side is shut and what the client
//!   still sends is read and dropped for a bounded time and amount ([`linger`]) before the
//!   socket closes — otherwise the kernel answers the unread bytes with a reset that destroys
//!   an answer (such as a 413 to an oversized body) the client has not read yet.
//!
//! TLS is rustls through tokio-rustls; [`Tls::reload`] swaps the certificate for new
//! connections (SIGHUP). [`Server::shutdown`] stops accepting, asks every connection to finish
//! its in-flight requests (HTTP/2 GOAWAY, HTTP/1 close after the current response) and waits
//! up to the grace period.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Sleep;
use tower::ServiceExt;

pub use crate::config::ServerLimits;

/// Shortest "no progress" deadline of a connection with requests in flight: a handler may
/// legitimately write nothing for a while (a preview within its budget, an approval waiting
/// for the scheduler's reply, which times out after 10 s).
pub const BUSY_STALL_MIN: Duration = Duration::from_secs(15);

/// Most concurrent HTTP/2 streams per connection: with `connections_max` it bounds the
/// responses one client can keep the daemon holding.
pub const H2_STREAMS_MAX: u32 = 32;

/// First pause after an accept error that is not the client's; doubled up to the maximum.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Lingering close: at most this long in total, and this long without any byte, reading what
/// a client still sends after the connection is done (nginx's `lingering_time` and
/// `lingering_timeout` have the same roles).
const LINGER_TOTAL: Duration = Duration::from_secs(5);
const LINGER_QUIET: Duration = Duration::from_secs(1);
/// Most bytes read and dropped while lingering: about three times the largest body a client
/// may still be sending when its 413 goes out (the body limit is at most 64 MiB).
const LINGER_BYTES_MAX: usize = 192 * 1024 * 1024;

/// Why a TLS configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the certificate chain {path}: {source}")]
    Cert {
        path: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("the certificate file {0} holds no certificate")]
    NoCert(String),
    #[error("cannot read the private key {path}: {source}")]
    Key {
        path: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("the certificate and key are not usable together: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The TLS configuration new connections are accepted with; replaced by [`Tls::reload`].
pub struct Tls(RwLock<Arc<rustls::ServerConfig>>);

impl Tls {
    /// Loads a PEM certificate chain and private key.
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        Ok(Tls(RwLock::new(Arc::new(server_config(cert, key)?))))
    }

    /// Re-reads the files; on error the running configuration stays.
    pub fn reload(&self, cert: &Path, key: &Path) -> Result<(), TlsError> {
        let new = Arc::new(server_config(cert, key)?);
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = new;
        Ok(())
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let cert_path = cert.display().to_string();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Cert { path: cert_path.clone(), source })?;
    if chain.is_empty() {
        return Err(TlsError::NoCert(cert_path));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|source| TlsError::Key { path: key.display().to_string(), source })?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// What every connection task shares.
struct Shared {
    router: Router,
    tls: Option<Arc<Tls>>,
    limits: ServerLimits,
    connections: Arc<Semaphore>,
    builder: auto::Builder<TokioExecutor>,
}

/// The running listeners.
pub struct Server {
    stop: watch::Sender<bool>,
    /// Shared with the accept loops, which take a watcher per connection; theirs are gone
    /// once they have stopped.
    graceful: Arc<GracefulShutdown>,
    accept_loops: Vec<JoinHandle<()>>,
}

impl Server {
    /// Serves `router` on every listener (already bound, so the caller knows the addresses).
    pub fn start(
        listeners: Vec<std::net::TcpListener>,
        router: Router,
        tls: Option<Arc<Tls>>,
        limits: ServerLimits,
    ) -> io::Result<Server> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // The deadlines are enforced by `Io` (see the module doc), not by hyper's timer.
        builder.http1().timer(TokioTimer::new()).header_read_timeout(None);
        builder.http2().timer(TokioTimer::new()).max_concurrent_streams(H2_STREAMS_MAX);
        let shared = Arc::new(Shared {
            router,
            tls,
            limits,
            connections: Arc::new(Semaphore::new(limits.connections_max)),
            builder,
        });
        let (stop, _) = watch::channel(false);
        let graceful = Arc::new(GracefulShutdown::new());
        let mut accept_loops = Vec::new();
        for l in listeners {
            l.set_nonblocking(true)?;
            let listener = TcpListener::from_std(l)?;
            let (shared, stop) = (shared.clone(), stop.subscribe());
            accept_loops.push(tokio::spawn(accept_loop(listener, shared, stop, graceful.clone())));
        }
        Ok(Server { stop, graceful, accept_loops })
    }

    /// Stops accepting, lets open connections finish their requests, and waits for them up to
    /// `grace` (connections still open then are closed when the process exits).
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        for l in self.accept_loops {
            let _ = l.await;
        }
        let Ok(graceful) = Arc::try_unwrap(self.graceful) else {
            return;
        };
        if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
            tracing::warn!(grace_seconds = grace.as_secs(), "connections still open after the grace period");
        }
    }
}

/// Errors of `accept` that concern only the connection being accepted (the client gave up):
/// the listener is fine, go on at once.
fn is_client_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
    )
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    graceful: Arc<GracefulShutdown>,
) {
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        // Back-pressure: at the cap, wait for a connection to close before accepting.
        let permit = tokio::select! {
            p = shared.connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = ACCEPT_BACKOFF_MIN;
                tokio::spawn(connection(stream, peer, permit, shared.clone(), graceful.watcher()));
            }
            Err(e) if is_client_error(&e) => {}
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64,
                    "cannot accept a connection (open-file limit reached?); retrying");
                drop(permit);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

/// The TCP or TLS stream of a connection.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    fn into_tcp(self) -> TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.into_inner().0,
        }
    }
}

/// A request extension: whether the request arrived over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverTls(pub bool);

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    shared: Arc<Shared>,
    watcher: Watcher,
) {
    let _permit = permit;
    let _ = stream.set_nodelay(true);
    let limits = shared.limits;
    let stream = match &shared.tls {
        None => Stream::Plain(stream),
        Some(tls) => match tokio::time::timeout(limits.header_read_timeout, tls.acceptor().accept(stream)).await {
            Ok(Ok(s)) => Stream::Tls(Box::new(s)),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
    };
    let phase = Arc::new(PhaseCell::new());
    let (give_back, taken_back) = oneshot::channel();
    let io = Io {
        stream: Some(stream),
        phase: phase.clone(),
        seen: 0,
        sleep: None,
        stall: None,
        limits,
        give_back: Some(give_back),
    };
    let router = shared.router.clone();
    let over_tls = OverTls(shared.tls.is_some());
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        // The client's address, for ingest allow-lists and the event log.
        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        // Whether the connection is TLS (the dashboard's cookie is `Secure` then).
        req.extensions_mut().insert(over_tls);
        let (router, phase) = (router.clone(), phase.clone());
        async move { Ok::<_, Infallible>(serve_request(router, phase, limits, req).await) }
    });
    let conn = shared.builder.serve_connection(TokioIo::new(io), service).into_owned();
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
    if let Ok(tcp) = taken_back.await {
        linger(tcp).await;
    }
}

/// One request: marks the connection busy until the response body is done, bounds the
/// request body by the body deadline, and turns a late body into a 408.
async fn serve_request(
    router: Router,
    phase: Arc<PhaseCell>,
    limits: ServerLimits,
    req: Request<Incoming>,
) -> Response<Body> {
    let in_flight = InFlight::begin(phase);
    let late = Arc::new(AtomicBool::new(false));
    let req = req.map(|b| Body::new(DeadlineBody::new(b, limits.body_timeout, late.clone())));
    let resp = match router.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let resp = if late.load(Ordering::SeqCst) { body_timeout_response(&resp, limits.body_timeout) } else { resp };
    resp.map(|b| Body::new(GuardedBody { inner: b, _in_flight: in_flight }))
}

/// 408 in the API's error envelope, keeping the request id the router gave the request.
fn body_timeout_response(original: &Response<Body>, timeout: Duration) -> Response<Body> {
    let rid = original.headers().get("x-request-id").cloned();
    let body = serde_json::json!({
        "success": false,
        "error": format!("Request timeout (the request body did not arrive within {} s)", timeout.as_secs()),
        "request_id": rid.as_ref().and_then(|v| v.to_str().ok()).unwrap_or(""),
    });
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    if let Some(rid) = rid {
        h.insert("x-request-id", rid);
    }
    r
}

/// Where a connection is in its request cycle; the [`Io`] derives its deadline from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request head: `header_read_timeout`.
    Head,
    /// Kept alive with nothing in flight: `idle_timeout`.
    Idle,
    /// At least one request in flight: no connection deadline.
    Busy,
}

/// The phase shared by a connection's I/O and its requests; `generation` changes with every
/// transition, so the I/O knows when to start a new deadline.
struct PhaseCell(Mutex<(Phase, usize, u64)>);

impl PhaseCell {
    fn new() -> PhaseCell {
        PhaseCell(Mutex::new((Phase::Head, 0, 1)))
    }
    fn get(&self) -> (Phase, u64) {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        (g.0, g.2)
    }
    fn update(&self, f: impl FnOnce(&mut Phase, &mut usize)) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (phase, n) = (g.0, g.1);
        let (mut p, mut c) = (phase, n);
        f(&mut p, &mut c);
        if p != phase {
            g.2 += 1;
        }
        g.0 = p;
        g.1 = c;
    }
    /// Bytes arrived: an idle connection starts a request head.
    fn bytes_read(&self) {
        self.update(|p, _| {
            if *p == Phase::Idle {
                *p = Phase::Head;
            }
        });
    }
}

/// Counts a request as in flight until dropped (with its response body).
struct InFlight(Arc<PhaseCell>);

impl InFlight {
    fn begin(phase: Arc<PhaseCell>) -> InFlight {
        phase.update(|p, n| {
            *n += 1;
            *p = Phase::Busy;
        });
        InFlight(phase)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.update(|p, n| {
            *n = n.saturating_sub(1);
            if *n == 0 {
                *p = Phase::Idle;
            }
        });
    }
}

/// A connection's I/O: enforces the phase deadline on reads (and on writes while idle, so a
/// client that never reads its response is not kept forever), notes arriving bytes, and gives
/// the TCP stream back on drop for the lingering close.
struct Io {
    stream: Option<Stream>,
    phase: Arc<PhaseCell>,
    /// The phase generation the current `sleep` belongs to.
    seen: u64,
    sleep: Option<Pin<Box<Sleep>>>,
    /// While requests are in flight: the "no byte written" deadline, pushed back by every write.
    stall: Option<Pin<Box<Sleep>>>,
    limits: ServerLimits,
    give_back: Option<oneshot::Sender<TcpStream>>,
}

impl Io {
    fn stall_after(&self) -> Duration {
        self.limits.idle_timeout.max(BUSY_STALL_MIN)
    }

    /// Polls the current deadline; `Err` when it passed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>, writing: bool) -> io::Result<()> {
        let (phase, generation) = self.phase.get();
        if generation != self.seen {
            self.seen = generation;
            self.sleep = match phase {
                Phase::Head => Some(Box::pin(tokio::time::sleep(self.limits.header_read_timeout))),
                Phase::Idle => Some(Box::pin(tokio::time::sleep(self.limits.idle_timeout))),
                Phase::Busy => None,
            };
            self.stall = match phase {
                Phase::Busy => Some(Box::pin(tokio::time::sleep(self.stall_after()))),
                _ => None,
            };
        }
        if phase == Phase::Busy {
            let stalled = self.stall.as_mut().is_some_and(|s| s.as_mut().poll(cx).is_ready());
            if stalled {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no response progress"));
            }
            return Ok(());
        }
        if writing && phase != Phase::Idle {
            return Ok(());
        }
        let expired = self.sleep.as_mut().is_some_and(|s| s.as_mut().poll(cx).is_ready());
        if expired {
            let what = if phase == Phase::Head { "request head not complete in time" } else { "idle timeout" };
            return Err(io::Error::new(io::ErrorKind::TimedOut, what));
        }
        Ok(())
    }

    fn stream(&mut self) -> io::Result<&mut Stream> {
        self.stream.as_mut().ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    /// A write made progress: push the in-flight stall deadline back.
    fn wrote(&mut self, r: &Poll<io::Result<usize>>) {
        if matches!(r, Poll::Ready(Ok(n)) if *n > 0) {
            let at = tokio::time::Instant::now() + self.stall_after();
            if let Some(s) = self.stall.as_mut() {
                s.as_mut().reset(at);
            }
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Err(e) = this.poll_deadline(cx, false) {
            return Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        let r = match this.stream()? {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.phase.bytes_read();
        }
        r
    }
}

impl AsyncWrite for Io {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Err(e) = this.poll_deadline(cx, true) {
            return Poll::Ready(Err(e));
        }
        let r = match this.stream()? {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        };
        this.wrote(&r);
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Err(e) = this.poll_deadline(cx, true) {
            return Poll::Ready(Err(e));
        }
        let r = match this.stream()? {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        };
        this.wrote(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Some(Stream::Plain(s)) => s.is_write_vectored(),
            Some(Stream::Tls(s)) => s.is_write_vectored(),
            None => false,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Err(e) = this.poll_deadline(cx, true) {
            return Poll::Ready(Err(e));
        }
        match this.stream()? {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream()? {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        if let (Some(stream), Some(tx)) = (self.stream.take(), self.give_back.take()) {
            let _ = tx.send(stream.into_tcp());
        }
    }
}

/// Lingering close (see the module doc): shut the write side, then read and drop what the
/// client still sends until it closes, goes quiet for [`LINGER_QUIET`], [`LINGER_TOTAL`]
/// passed or [`LINGER_BYTES_MAX`] were read.
async fn linger(mut tcp: TcpStream) {
    let _ = tcp.shutdown().await;
    let drain = async {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        while total < LINGER_BYTES_MAX {
            match tokio::time::timeout(LINGER_QUIET, tcp.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => total += n,
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TOTAL, drain).await;
}

/// The request body with a deadline over all of it (see the module doc); records that the
/// deadline passed in `late`.
struct DeadlineBody {
    inner: Incoming,
    sleep: Pin<Box<Sleep>>,
    late: Arc<AtomicBool>,
}

impl DeadlineBody {
    fn new(inner: Incoming, timeout: Duration, late: Arc<AtomicBool>) -> DeadlineBody {
        DeadlineBody { inner, sleep: Box::pin(tokio::time::sleep(timeout)), late }
    }
}

/// The request body did not arrive within `server.body_timeout_seconds`.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.inner.is_end_stream() {
            return Poll::Ready(None);
        }
        // The deadline first: a body that always has a next byte ready must still end.
        if this.sleep.as_mut().poll(cx).is_ready() {
            this.late.store(true, Ordering::SeqCst);
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        Pin::new(&mut this.inner).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request counted as in flight until it is done.
struct GuardedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
