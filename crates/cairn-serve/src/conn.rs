//! Connections: the accept loop with its connection limit, and the timeouts that close a
//! connection whose client stalls.
//!
//! Three deadlines, all enforced only while the server waits on the client, never while it
//! computes a reply:
//! - header: a request head (and a new connection's first request) must arrive in full within
//!   `--header-timeout` of its first byte (of the connection's start, for the first request);
//! - body: a request body must arrive in full within `--body-timeout` of the handler starting
//!   to wait for it (else 408);
//! - idle: a keep-alive connection with no request in flight is closed after `--idle-timeout`
//!   without the next one starting; a reply the client does not read counts as idle too.
//!
//! At most `--max-connections` connections are open at once; more wait in the listen backlog
//! until one closes, so descriptors cannot run out.
//!
//! A reply given before the request's body was read to its end (a 404, 405, 413 or 415 that
//! never looked at it) says `Connection: close` on HTTP/1: the unread rest of the body would
//! otherwise be taken for the client's next request on the connection.
//!
//! The header and idle deadlines share one timer per connection (allocated once), moved only
//! when it fires or must fire sooner; a keep-alive request costs two relaxed atomic adds, a
//! clock read and a poll of that timer, and hyper's own per-request header timer is off. The
//! body deadline's timer exists only once a body read actually waits.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONNECTION;
use axum::http::{HeaderValue, Request, Version};
use axum::response::Response;
use axum::routing::future::RouteFuture;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, Sleep};

use super::state::AppState;

/// How long the server waits on a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// For a request head, from its first byte.
    pub header: Duration,
    /// For a request body, from the first wait for it.
    pub body: Duration,
    /// For the next request on a kept-alive connection.
    pub idle: Duration,
}

/// Which deadline closed a connection (a body that times out is a 408 reply instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    Header,
    Idle,
}

impl Timeout {
    /// All kinds, in the order of their discriminants.
    pub const ALL: [Timeout; 2] = [Timeout::Header, Timeout::Idle];

    /// The metric label.
    pub fn name(self) -> &'static str {
        match self {
            Timeout::Header => "header",
            Timeout::Idle => "idle",
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the requests in flight
/// finish and returns once every connection has closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    state: AppState,
    timeouts: Timeouts,
    max_connections: usize,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The header deadline is ours (hyper's would also cut idle keep-alive connections short).
    builder.http1().header_read_timeout(None);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(max_connections));
    // Connections watch `stop` for the shutdown, and hold `open` until they close.
    let (stop, _) = watch::channel(false);
    let (all_closed, open) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut full = false;
    loop {
        // Take a slot first: while none is free, new connections wait in the listen backlog.
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => {
                full = false;
                slot
            }
            Err(_) => {
                if !full {
                    full = true;
                    tracing::warn!(
                        max_connections,
                        "connection limit reached: new connections wait until one closes (see --max-connections)"
                    );
                }
                tokio::select! {
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of descriptors or memory: wait instead of spinning.
                    tracing::error!("accepting a connection failed: {e}");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(200)) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        let conn = Arc::new(ConnState::default());
        let io = TokioIo::new(TimedIo::new(
            stream,
            Arc::clone(&conn),
            state.clone(),
            timeouts,
        ));
        let service = Handler {
            router: router.clone(),
            conn,
            body_timeout: timeouts.body,
        };
        let builder = Arc::clone(&builder);
        let mut stop = stop.subscribe();
        let open = open.clone();
        let state = state.clone();
        tokio::spawn(async move {
            state.metrics.connection_opened();
            let mut connection = std::pin::pin!(builder.serve_connection(io, service));
            let mut stopping = false;
            loop {
                tokio::select! {
                    served = connection.as_mut() => {
                        if let Err(e) = served {
                            tracing::debug!("connection closed: {e}");
                        }
                        break;
                    }
                    changed = stop.changed(), if !stopping => {
                        stopping = true;
                        if changed.is_ok() {
                            // Finish the request in flight, if any, then close.
                            connection.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
            state.metrics.connection_closed();
            drop(open);
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(open);
    all_closed.closed().await;
}

/// Raises the soft limit on open files towards `wanted` (as far as the hard limit allows) and
/// returns the limit in force; `None` where it cannot be read.
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not everywhere
pub fn raise_open_file_limit(wanted: u64) -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read and write only the struct passed.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            let current = limit.rlim_cur as u64;
            if current >= wanted || limit.rlim_cur == libc::RLIM_INFINITY {
                return Some(current.max(wanted));
            }
            let raised = if limit.rlim_max == libc::RLIM_INFINITY {
                wanted
            } else {
                wanted.min(limit.rlim_max as u64)
            };
            let new = libc::rlimit {
                rlim_cur: raised as libc::rlim_t,
                rlim_max: limit.rlim_max,
            };
            if raised > current && libc::setrlimit(libc::RLIMIT_NOFILE, &new) == 0 {
                Some(raised)
            } else {
                Some(current)
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = wanted;
        None
    }
}

/// Errors of one connection that `accept` reports and that say nothing about the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Requests started and finished on one connection, shared by its I/O and its service.
#[derive(Default)]
struct ConnState {
    started: AtomicU64,
    finished: AtomicU64,
    /// The current HTTP/1 request's body has not been read to its end (an HTTP/1 connection
    /// serves one request at a time, so one flag per connection is enough).
    body_unread: AtomicBool,
}

/// What a connection waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A request head: the header deadline runs.
    Head,
    /// The next request: the idle deadline runs.
    Idle,
    /// A reply being computed (its body has its own deadline).
    Busy,
}

/// The connection's socket, failing reads and writes that wait past the deadline of the
/// connection's phase.
struct TimedIo {
    io: TcpStream,
    conn: Arc<ConnState>,
    state: AppState,
    timeouts: Timeouts,
    phase: Phase,
    /// Requests finished when the phase was last brought up to date.
    finished: u64,
    /// When the current phase's wait ends.
    deadline: Instant,
    /// Fires at or before `deadline`; moved only when it fires early or must fire sooner.
    timer: Pin<Box<Sleep>>,
}

impl TimedIo {
    fn new(io: TcpStream, conn: Arc<ConnState>, state: AppState, timeouts: Timeouts) -> TimedIo {
        // The first request's head is due within the header timeout of the connection's start.
        let deadline = Instant::now() + timeouts.header;
        TimedIo {
            io,
            conn,
            state,
            timeouts,
            phase: Phase::Head,
            finished: 0,
            deadline,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    /// Brings the phase up to date with the requests the service started and finished.
    fn refresh(&mut self) {
        let finished = self.conn.finished.load(Relaxed);
        if self.conn.started.load(Relaxed) != finished {
            self.phase = Phase::Busy;
        } else if finished != self.finished || self.phase == Phase::Busy {
            // A reply went out: idle until the next request begins.
            self.finished = finished;
            self.phase = Phase::Idle;
            self.deadline = Instant::now() + self.timeouts.idle;
        }
    }

    /// Bytes arrived: an idle connection has begun its next request.
    fn received(&mut self) {
        self.refresh();
        if self.phase == Phase::Idle {
            self.phase = Phase::Head;
            self.deadline = Instant::now() + self.timeouts.header;
        }
    }

    /// After a reply is flushed: the connection may have gone idle without a read waiting on
    /// the socket (the request was read whole before its reply was computed), so make sure the
    /// timer will wake the connection at the idle deadline.
    fn arm(&mut self, cx: &mut Context<'_>) {
        if self.poll_expired(cx).is_ready() {
            // Already past it: the next read, woken now, fails.
            cx.waker().wake_by_ref();
        }
    }

    /// Called when the socket would block: an error once the phase's deadline has passed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let kind = ready!(self.poll_expired(cx));
        self.state.metrics.timed_out(kind);
        tracing::debug!(timeout = kind.name(), "closing a connection that timed out");
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client sent nothing for the {} timeout", kind.name()),
        ))
    }

    /// Whether the phase's deadline has passed; if not, the timer wakes the task by then.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<Timeout> {
        self.refresh();
        let kind = match self.phase {
            Phase::Busy => return Poll::Pending,
            Phase::Head => Timeout::Header,
            Phase::Idle => Timeout::Idle,
        };
        loop {
            if self.timer.deadline() > self.deadline {
                self.timer.as_mut().reset(self.deadline);
            }
            ready!(self.timer.as_mut().poll(cx));
            // (The timer's clock ticks in milliseconds.)
            if Instant::now() + Duration::from_millis(1) >= self.deadline {
                return Poll::Ready(kind);
            }
            // It fired for an earlier deadline that has since moved on.
            self.timer.as_mut().reset(self.deadline);
        }
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.received();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_deadline(cx).map(Err),
        }
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Pending => this.poll_deadline(cx).map(Err),
            done => done,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.poll_deadline(cx).map(Err),
            done => done,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.io).poll_flush(cx);
        if flushed.is_ready() {
            this.arm(cx);
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The per-connection service: counts requests for [`TimedIo`]'s phases, gives each request
/// body its deadline, and hands the request to the router.
#[derive(Clone)]
struct Handler {
    router: Router,
    conn: Arc<ConnState>,
    body_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for Handler {
    type Response = Response;
    type Error = Infallible;
    type Future = Counted;

    fn call(&self, request: Request<Incoming>) -> Counted {
        self.conn.started.fetch_add(1, Relaxed);
        let http1 = request.version() < Version::HTTP_2;
        if http1 {
            use hyper::body::Body as _;
            self.conn
                .body_unread
                .store(!request.body().is_end_stream(), Relaxed);
        }
        let timeout = self.body_timeout;
        let conn = http1.then(|| Arc::clone(&self.conn));
        let request = request.map(|body| TimedBody::new(body, timeout, conn));
        Counted {
            inner: tower_service::Service::call(&mut self.router.clone(), request),
            done: Finished(Arc::clone(&self.conn)),
            http1,
        }
    }
}

/// Counts the request as finished when dropped: replied to, or abandoned.
struct Finished(Arc<ConnState>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Relaxed);
    }
}

pin_project! {
    /// The router's future, counted.
    struct Counted {
        #[pin]
        inner: RouteFuture<Infallible>,
        done: Finished,
        http1: bool,
    }
}

impl Future for Counted {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = ready!(this.inner.poll(cx));
        // Answered without reading the whole body: close rather than read the rest as the
        // next request.
        if *this.http1 && this.done.0.body_unread.load(Relaxed) {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(Ok(response))
    }
}

/// A request body that did not arrive within `--body-timeout`.
#[derive(Debug)]
pub struct BodyTimedOut(Duration);

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body did not arrive within {} (see `cairn serve --body-timeout`)",
            humane(self.0)
        )
    }
}

impl std::error::Error for BodyTimedOut {}

/// Whether `error`, or an error it wraps, is a [`BodyTimedOut`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<BodyTimedOut>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// Errors of a [`TimedBody`].
#[derive(Debug)]
enum BodyError {
    Hyper(hyper::Error),
    TimedOut(BodyTimedOut),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Hyper(e) => e.fmt(f),
            BodyError::TimedOut(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BodyError::Hyper(e) => Some(e),
            BodyError::TimedOut(e) => Some(e),
        }
    }
}

pin_project! {
    /// A request body with a deadline; its timer is made only when a read has to wait.
    struct TimedBody {
        #[pin]
        body: Incoming,
        #[pin]
        timer: Option<Sleep>,
        timeout: Duration,
        // The connection of an HTTP/1 request, told when the body has been read to its end.
        conn: Option<Arc<ConnState>>,
    }
}

impl TimedBody {
    fn new(body: Incoming, timeout: Duration, conn: Option<Arc<ConnState>>) -> TimedBody {
        TimedBody {
            body,
            timer: None,
            timeout,
            conn,
        }
    }
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let mut this = self.project();
        if let Poll::Ready(frame) = this.body.as_mut().poll_frame(cx) {
            if let Some(conn) = this.conn
                && (frame.is_none() || this.body.is_end_stream())
            {
                conn.body_unread.store(false, Relaxed);
            }
            return Poll::Ready(frame.map(|f| f.map_err(BodyError::Hyper)));
        }
        if this.timer.is_none() {
            this.timer.set(Some(tokio::time::sleep(*this.timeout)));
        }
        if let Some(timer) = this.timer.as_pin_mut() {
            ready!(timer.poll(cx));
            return Poll::Ready(Some(Err(BodyError::TimedOut(BodyTimedOut(*this.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// `10s`, `1.5s`, `250ms`.
pub fn humane(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else if d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}
