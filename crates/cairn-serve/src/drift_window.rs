//! The recent inputs of each served model, kept in a ring per model version, and the drift
//! figures of that window against the model's training profile, exported on `/metrics` as
//! gauges so that a Prometheus alert can fire without a batch job.
//!
//! Recording never waits: a request that finds the ring busy (another request recording at
//! that instant) is not recorded, so under heavy concurrency the window is a sample of the
//! traffic rather than all of it.

use std::fmt::Write;
use std::sync::Mutex;

use cairn_ml::drift::{Profile, Thresholds, compare};
use cairn_ml::model::Prediction;

use super::input::Rows;
use super::loaded::LoadedModel;
use super::metrics::escape;

/// The last `capacity` inputs of one model.
pub struct DriftWindow {
    profile: Profile,
    ring: Mutex<Ring>,
}

struct Ring {
    capacity: usize,
    width: usize,
    values: Vec<f64>,
    classes: Vec<Option<usize>>,
    next: usize,
    len: usize,
}

impl DriftWindow {
    /// A window of `capacity` inputs for a model with this profile.
    pub fn new(profile: Profile, capacity: usize) -> DriftWindow {
        let width = profile.features.len();
        DriftWindow {
            profile,
            ring: Mutex::new(Ring {
                capacity,
                width,
                values: vec![0.0; capacity * width],
                classes: vec![None; capacity],
                next: 0,
                len: 0,
            }),
        }
    }

    /// Records `rows` and what was predicted for them, unless another request is recording.
    pub fn record(&self, rows: &Rows, predictions: &[Prediction]) {
        let Ok(mut ring) = self.ring.try_lock() else {
            return;
        };
        let ring = &mut *ring;
        if ring.capacity == 0 || rows.width != ring.width {
            return;
        }
        for (row, p) in rows.iter().zip(predictions) {
            let at = ring.next;
            ring.values[at * ring.width..(at + 1) * ring.width].copy_from_slice(row);
            ring.classes[at] = p.class;
            ring.next = (at + 1) % ring.capacity;
            ring.len = (ring.len + 1).min(ring.capacity);
        }
    }

    /// The window's columns, oldest first, and the predicted classes counted.
    fn snapshot(&self, n_classes: usize) -> (Vec<Vec<f64>>, Vec<u64>) {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let mut columns = vec![Vec::with_capacity(ring.len); ring.width];
        let mut counts = vec![0u64; n_classes];
        let start = (ring.next + ring.capacity - ring.len) % ring.capacity.max(1);
        for k in 0..ring.len {
            let at = (start + k) % ring.capacity;
            for (f, column) in columns.iter_mut().enumerate() {
                column.push(ring.values[at * ring.width + f]);
            }
            if let Some(c) = ring.classes[at].and_then(|c| counts.get_mut(c)) {
                *c += 1;
            }
        }
        (columns, counts)
    }
}

/// The drift gauges of every model that has a window with inputs in it.
pub fn exposition(models: &[std::sync::Arc<LoadedModel>]) -> String {
    let mut out = String::new();
    let mut series: [(&str, &str, Vec<String>); 5] = [
        (
            "cairn_feature_drift_psi",
            "PSI of the recent inputs against the training profile, by model version and feature.",
            Vec::new(),
        ),
        (
            "cairn_feature_drift_ks_statistic",
            "Two-sample KS statistic of the recent inputs against the training sample.",
            Vec::new(),
        ),
        (
            "cairn_feature_drift_ks_pvalue",
            "KS p-value, Bonferroni-corrected for the number of features.",
            Vec::new(),
        ),
        (
            "cairn_drift_window_size",
            "Inputs in the drift window, by model version.",
            Vec::new(),
        ),
        (
            "cairn_drift_class_psi",
            "PSI of the predicted class mix in the window against the training classes.",
            Vec::new(),
        ),
    ];
    let mut seen: Vec<&str> = Vec::new();
    for model in models {
        let Some(window) = &model.drift else { continue };
        if seen.contains(&model.version.as_str()) {
            continue;
        }
        seen.push(&model.version);
        let (columns, counts) = window.snapshot(model.classes.len());
        let rows = columns.first().map_or(0, Vec::len);
        let version = escape(&model.version);
        series[3]
            .2
            .push(format!("{{version=\"{version}\"}} {rows}"));
        if rows == 0 {
            continue;
        }
        let predicted = (!model.classes.is_empty()).then_some(counts.as_slice());
        let report = compare(
            &window.profile,
            &columns,
            &model.classes,
            predicted,
            Thresholds::default(),
        );
        for f in &report.features {
            let labels = format!(
                "{{version=\"{version}\",feature=\"{}\"}}",
                escape(&f.feature)
            );
            series[0].2.push(format!("{labels} {}", f.psi));
            series[1].2.push(format!("{labels} {}", f.ks_statistic));
            series[2].2.push(format!("{labels} {}", f.ks_pvalue));
        }
        if let Some(mix) = &report.class_mix {
            series[4]
                .2
                .push(format!("{{version=\"{version}\"}} {}", mix.psi));
        }
    }
    for (name, help, lines) in &series {
        super::metrics::header(&mut out, name, "gauge", help);
        for line in lines {
            let _ = writeln!(out, "{name}{line}");
        }
    }
    out
}
