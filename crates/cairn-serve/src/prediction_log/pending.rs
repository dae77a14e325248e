//! What waits for the log writer: the requests' rows in a few flat arrays. Request threads
//! append to one set under a mutex; the writer swaps it for the set it has just written and
//! emptied, so in the steady state logging a request allocates nothing, and nothing allocated
//! on a request thread is freed on the writer's. (An owned entry per request, sent through a
//! channel and freed by the writer, cost each request 2.7 µs on a busy server in a build
//! without LTO, the largest part the allocator taking back memory another thread had freed:
//! more than the SQLite writer's whole work for the row. This costs 0.8 µs.)

use std::sync::Arc;

use cairn_ml::model::Prediction;

use crate::loaded::LoadedModel;

/// One logged request.
struct Request {
    /// Index into [`Pending::models`].
    model: usize,
    route: &'static str,
    /// Seconds since the Unix epoch.
    time: f64,
    latency_us: u64,
    rows: usize,
    /// Probabilities per row (0 for a regressor).
    probabilities: usize,
}

/// Requests waiting to be written, or being written.
#[derive(Default)]
pub(crate) struct Pending {
    /// The models the requests name: one per run of consecutive requests a model answered.
    models: Vec<Arc<LoadedModel>>,
    requests: Vec<Request>,
    /// Per row: its inputs, its value, then its probabilities.
    numbers: Vec<f64>,
    /// Per row: the predicted class.
    classes: Vec<Option<usize>>,
}

/// One row as [`Pending::rows`] gives it.
pub(crate) struct PendingRow<'a> {
    pub model: &'a LoadedModel,
    pub route: &'static str,
    pub time: f64,
    pub latency_us: u64,
    pub inputs: &'a [f64],
    pub class: Option<usize>,
    pub value: f64,
    pub probabilities: &'a [f64],
}

impl Pending {
    /// Requests held.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Rows held.
    pub fn row_count(&self) -> usize {
        self.classes.len()
    }

    /// Appends one request: `inputs` holds its rows flat, one prediction per row.
    pub fn push(
        &mut self,
        model: &Arc<LoadedModel>,
        route: &'static str,
        time: f64,
        inputs: &[f64],
        predictions: &[Prediction],
        latency_us: u64,
    ) {
        let width = model.features.len().max(1);
        let rows = (inputs.len() / width).min(predictions.len());
        let probabilities = predictions.first().map_or(0, |p| p.probabilities.len());
        let index = match self.models.last() {
            Some(last) if Arc::ptr_eq(last, model) => self.models.len() - 1,
            _ => {
                self.models.push(Arc::clone(model));
                self.models.len() - 1
            }
        };
        self.requests.push(Request {
            model: index,
            route,
            time,
            latency_us,
            rows,
            probabilities,
        });
        for (x, p) in inputs.chunks_exact(width).zip(predictions).take(rows) {
            self.numbers.extend_from_slice(x);
            self.numbers.push(p.value);
            // Every row of a request has as many probabilities as its first; a model giving
            // fewer is padded with NaN (logged as null) rather than shifting the next rows.
            let given = p.probabilities.len().min(probabilities);
            self.numbers.extend_from_slice(&p.probabilities[..given]);
            self.numbers
                .extend(std::iter::repeat_n(f64::NAN, probabilities - given));
            self.classes.push(p.class);
        }
    }

    /// Moves everything `other` holds to the end of this.
    pub fn append(&mut self, other: &mut Pending) {
        let offset = self.models.len();
        self.models.append(&mut other.models);
        self.requests
            .extend(other.requests.drain(..).map(|r| Request {
                model: r.model + offset,
                ..r
            }));
        self.numbers.append(&mut other.numbers);
        self.classes.append(&mut other.classes);
    }

    /// Empties it, keeping its memory for the next requests: up to what a busy server
    /// needs, not all that a long outage's backlog took.
    pub fn clear(&mut self) {
        const KEEP: usize = 1 << 20;
        self.models.clear();
        self.requests.clear();
        self.numbers.clear();
        self.classes.clear();
        self.requests.shrink_to(KEEP / 16);
        self.numbers.shrink_to(KEEP);
        self.classes.shrink_to(KEEP / 8);
    }

    /// Every row, in the order the requests came.
    pub fn rows(&self) -> impl Iterator<Item = PendingRow<'_>> {
        let mut numbers = self.numbers.as_slice();
        let mut classes = self.classes.as_slice();
        self.requests.iter().flat_map(move |r| {
            let model = &self.models[r.model];
            let width = model.features.len().max(1);
            let (mine, rest) = numbers.split_at(r.rows * (width + 1 + r.probabilities));
            numbers = rest;
            let (my_classes, rest) = classes.split_at(r.rows);
            classes = rest;
            mine.chunks_exact(width + 1 + r.probabilities)
                .zip(my_classes)
                .map(move |(row, class)| PendingRow {
                    model,
                    route: r.route,
                    time: r.time,
                    latency_us: r.latency_us,
                    inputs: &row[..width],
                    class: *class,
                    value: row[width],
                    probabilities: &row[width + 1..],
                })
        })
    }
}
