//! The per-route layer that counts, times and logs every request. Written as a plain tower
//! service with its own future (no boxing), as it wraps every request on the hot path.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::http::Request;
use axum::response::Response;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::routes::Route;
use super::state::AppState;

/// Wraps a route's service in [`Track`].
#[derive(Clone)]
pub struct TrackLayer {
    state: AppState,
    route: Route,
}

impl TrackLayer {
    /// Tracks requests of `route` in `state`'s metrics.
    pub fn new(state: AppState, route: Route) -> TrackLayer {
        TrackLayer { state, route }
    }
}

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;
    fn layer(&self, inner: S) -> Track<S> {
        Track {
            inner,
            state: self.state.clone(),
            route: self.route,
        }
    }
}

/// A route's service, tracked.
#[derive(Clone)]
pub struct Track<S> {
    inner: S,
    state: AppState,
    route: Route,
}

impl<S, B> Service<Request<B>> for Track<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.state.metrics.enter();
        TrackFuture {
            inner: self.inner.call(request),
            in_flight: InFlight(self.state.clone()),
            route: self.route,
            started: Instant::now(),
        }
    }
}

/// Leaves the in-flight gauge when dropped, also when the client goes away mid-request.
struct InFlight(AppState);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.metrics.leave();
    }
}

pin_project! {
    /// The response future of [`Track`].
    pub struct TrackFuture<F> {
        #[pin]
        inner: F,
        in_flight: InFlight,
        route: Route,
        started: Instant,
    }
}

impl<F, E> Future for TrackFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let status = response.status().as_u16();
        let elapsed = this.started.elapsed();
        let route = *this.route;
        this.in_flight.0.metrics.record(route, status, elapsed);
        if status >= 500 {
            tracing::error!(route = route.path(), status, "request failed");
        } else {
            tracing::debug!(
                route = route.path(),
                status,
                micros = elapsed.as_micros() as u64,
                "request"
            );
        }
        Poll::Ready(Ok(response))
    }
}
