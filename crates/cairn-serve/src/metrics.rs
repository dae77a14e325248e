//! Prometheus metrics kept in atomics (no lock on the request path) and rendered as text on
//! `GET /metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::conn::Timeout;
use super::routes::Route;

/// Statuses counted separately; anything else is counted as `other`.
const STATUSES: [u16; 14] = [
    200, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 500, 503, 0,
];

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
];

/// A latency histogram: a count per bucket (not cumulative; summed when rendered).
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// Per-route counters.
#[derive(Default)]
struct RouteMetrics {
    by_status: [AtomicU64; STATUSES.len()],
    latency: Histogram,
}

/// The prediction counters of one model version.
struct VersionCounters {
    version: String,
    total: Arc<AtomicU64>,
    classes: Vec<(String, Arc<AtomicU64>)>,
}

/// Every metric of the server.
pub struct Metrics {
    /// Inputs kept per model for the drift gauges (`--drift-window`; 0: none).
    pub drift_window: usize,
    routes: Vec<RouteMetrics>,
    in_flight: AtomicI64,
    connections: AtomicI64,
    timeouts: [AtomicU64; Timeout::ALL.len()],
    /// Prediction counters by model version; a loaded model holds its own, so counting is one
    /// atomic add, and a version reloaded (or rolled back to) keeps counting on.
    versions: Mutex<Vec<VersionCounters>>,
    /// Shadow answers that were the same as / different from the answer returned.
    shadow_same: AtomicU64,
    shadow_different: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            drift_window: 1000,
            routes: Route::ALL.iter().map(|_| RouteMetrics::default()).collect(),
            in_flight: AtomicI64::new(0),
            connections: AtomicI64::new(0),
            timeouts: Default::default(),
            versions: Mutex::new(Vec::new()),
            shadow_same: AtomicU64::new(0),
            shadow_different: AtomicU64::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Counts a request as in flight (until [`Metrics::leave`]).
    pub fn enter(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    /// Counts a request as no longer in flight.
    pub fn leave(&self) {
        self.in_flight.fetch_sub(1, Relaxed);
    }

    /// Counts a connection as open (until [`Metrics::connection_closed`]).
    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Relaxed);
    }

    /// Counts a connection as closed.
    pub fn connection_closed(&self) {
        self.connections.fetch_sub(1, Relaxed);
    }

    /// Counts a connection closed because the client let `timeout` pass.
    pub fn timed_out(&self, timeout: Timeout) {
        self.timeouts[timeout as usize].fetch_add(1, Relaxed);
    }

    /// Records a finished request.
    pub fn record(&self, route: Route, status: u16, elapsed: Duration) {
        let m = &self.routes[route as usize];
        let slot = STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(STATUSES.len() - 1);
        m.by_status[slot].fetch_add(1, Relaxed);
        let secs = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        m.latency.buckets[bucket].fetch_add(1, Relaxed);
        m.latency
            .sum_nanos
            .fetch_add(elapsed.as_nanos() as u64, Relaxed);
    }

    /// The prediction counters of `version`: its total and one per class of `classes`, created
    /// on first use.
    pub fn counters(
        &self,
        version: &str,
        classes: &[String],
    ) -> (Arc<AtomicU64>, Vec<Arc<AtomicU64>>) {
        let mut versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        let at = match versions.iter().position(|v| v.version == version) {
            Some(at) => at,
            None => {
                versions.push(VersionCounters {
                    version: version.to_string(),
                    total: Arc::new(AtomicU64::new(0)),
                    classes: Vec::new(),
                });
                versions.len() - 1
            }
        };
        let entry = &mut versions[at];
        let counters = classes
            .iter()
            .map(|c| match entry.classes.iter().find(|(k, _)| k == c) {
                Some((_, counter)) => counter.clone(),
                None => {
                    let counter = Arc::new(AtomicU64::new(0));
                    entry.classes.push((c.clone(), counter.clone()));
                    counter
                }
            })
            .collect();
        (entry.total.clone(), counters)
    }

    /// Counts a shadow answer compared with the one returned.
    pub fn shadow_compared(&self, same: bool) {
        let counter = if same {
            &self.shadow_same
        } else {
            &self.shadow_different
        };
        counter.fetch_add(1, Relaxed);
    }

    /// Counts a reload attempt.
    pub fn reloaded(&self, ok: bool) {
        let counter = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        };
        counter.fetch_add(1, Relaxed);
    }

    /// The Prometheus text exposition; `models` are the labels of each model's info series.
    pub fn render(&self, models: &[Vec<(&str, String)>]) -> String {
        let mut out = String::with_capacity(8192);
        header(
            &mut out,
            "cairn_http_requests_total",
            "counter",
            "HTTP requests by route and status.",
        );
        for (route, m) in Route::ALL.iter().zip(&self.routes) {
            for (status, n) in STATUSES.iter().zip(&m.by_status) {
                let n = n.load(Relaxed);
                if n > 0 {
                    let status = if *status == 0 {
                        "other".to_string()
                    } else {
                        status.to_string()
                    };
                    let _ = writeln!(
                        out,
                        "cairn_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                        route.path()
                    );
                }
            }
        }
        header(
            &mut out,
            "cairn_http_errors_total",
            "counter",
            "HTTP replies with a 4xx or 5xx status, by route.",
        );
        for (route, m) in Route::ALL.iter().zip(&self.routes) {
            let errors: u64 = STATUSES
                .iter()
                .zip(&m.by_status)
                .filter(|(s, _)| **s >= 400 || **s == 0)
                .map(|(_, n)| n.load(Relaxed))
                .sum();
            if errors > 0 {
                let _ = writeln!(
                    out,
                    "cairn_http_errors_total{{route=\"{}\"}} {errors}",
                    route.path()
                );
            }
        }
        header(
            &mut out,
            "cairn_http_request_duration_seconds",
            "histogram",
            "Time from request to reply, by route.",
        );
        for (route, m) in Route::ALL.iter().zip(&self.routes) {
            let counts: Vec<u64> = m.latency.buckets.iter().map(|b| b.load(Relaxed)).collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (i, n) in counts.iter().enumerate() {
                cumulative += n;
                let le = BUCKETS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "cairn_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{le}\"}} {cumulative}",
                    route.path()
                );
            }
            let sum = m.latency.sum_nanos.load(Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "cairn_http_request_duration_seconds_sum{{route=\"{}\"}} {sum}",
                route.path()
            );
            let _ = writeln!(
                out,
                "cairn_http_request_duration_seconds_count{{route=\"{}\"}} {total}",
                route.path()
            );
        }
        header(
            &mut out,
            "cairn_http_requests_in_flight",
            "gauge",
            "Requests being answered.",
        );
        let _ = writeln!(
            out,
            "cairn_http_requests_in_flight {}",
            self.in_flight.load(Relaxed)
        );
        header(
            &mut out,
            "cairn_http_connections_open",
            "gauge",
            "Client connections open.",
        );
        let _ = writeln!(
            out,
            "cairn_http_connections_open {}",
            self.connections.load(Relaxed)
        );
        header(
            &mut out,
            "cairn_http_connections_timed_out_total",
            "counter",
            "Connections closed because the client sent nothing in time, by timeout.",
        );
        for (timeout, n) in Timeout::ALL.iter().zip(&self.timeouts) {
            let _ = writeln!(
                out,
                "cairn_http_connections_timed_out_total{{timeout=\"{}\"}} {}",
                timeout.name(),
                n.load(Relaxed)
            );
        }
        header(
            &mut out,
            "cairn_predictions_total",
            "counter",
            "Instances predicted, by model version (shadow predictions included).",
        );
        let versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        for v in versions.iter() {
            let _ = writeln!(
                out,
                "cairn_predictions_total{{version=\"{}\"}} {}",
                escape(&v.version),
                v.total.load(Relaxed)
            );
        }
        header(
            &mut out,
            "cairn_predictions_by_class_total",
            "counter",
            "Instances predicted, by model version and predicted class.",
        );
        for v in versions.iter() {
            for (class, n) in &v.classes {
                let _ = writeln!(
                    out,
                    "cairn_predictions_by_class_total{{version=\"{}\",class=\"{}\"}} {}",
                    escape(&v.version),
                    escape(class),
                    n.load(Relaxed)
                );
            }
        }
        drop(versions);
        header(
            &mut out,
            "cairn_shadow_predictions_total",
            "counter",
            "Instances the shadow model predicted, by whether it agreed with the answer returned.",
        );
        for (agreement, n) in [
            ("same", &self.shadow_same),
            ("different", &self.shadow_different),
        ] {
            let _ = writeln!(
                out,
                "cairn_shadow_predictions_total{{agreement=\"{agreement}\"}} {}",
                n.load(Relaxed)
            );
        }
        header(
            &mut out,
            "cairn_model_reloads_total",
            "counter",
            "Model reloads, by result.",
        );
        let _ = writeln!(
            out,
            "cairn_model_reloads_total{{result=\"ok\"}} {}",
            self.reloads_ok.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "cairn_model_reloads_total{{result=\"error\"}} {}",
            self.reloads_failed.load(Relaxed)
        );
        header(
            &mut out,
            "cairn_model_info",
            "gauge",
            "The models being served, by role (value always 1).",
        );
        for labels in models {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = writeln!(out, "cairn_model_info{{{}}} 1", labels.join(","));
        }
        out
    }
}

/// `# HELP` and `# TYPE` of one series.
pub(crate) fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Escapes a Prometheus label value.
pub(crate) fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
