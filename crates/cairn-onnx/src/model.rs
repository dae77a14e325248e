//! An ONNX model prepared for serving: the graph checked, rewritten where tract needs it,
//! optimised for any batch size, and run once on a row of zeros so that what its outputs are
//! is known before the first request.

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use prost::Message;
use tract_onnx::pb::tensor_proto::{DataLocation, DataType};
use tract_onnx::pb::{self, tensor_shape_proto::dimension::Value as Dim};
use tract_onnx::prelude::*;

use cairn_core::error::{Error, Result};
use cairn_ml::model::{Prediction, Task};

use crate::graph_rewrite;
use crate::signature::{self, GraphNames, Sidecar};

/// Operators a converter may emit that the runtime lacks, with what to do instead.
const ADVICE: [(&str, &str); 1] = [(
    "ZipMap",
    "convert without it: skl2onnx's to_onnx(…, options={'zipmap': False})",
)];

/// How the features reach the graph.
#[derive(Debug, Clone, Copy)]
enum Input {
    /// One `[N, features]` tensor.
    Matrix(DatumType),
    /// One `[N, 1]` tensor per feature, in feature order.
    Columns(DatumType),
}

/// Which of the graph's outputs carry what cairn answers.
#[derive(Debug, Clone, Copy, Default)]
struct Outputs {
    /// `[N]` class indices.
    label: Option<usize>,
    /// `[N, classes]` probabilities.
    probabilities: Option<usize>,
    /// `[N]` or `[N, 1]` predicted numbers.
    value: Option<usize>,
}

/// A loaded ONNX model.
pub struct OnnxModel {
    /// Input feature names, in column order.
    pub features: Vec<String>,
    /// Class names, in the order of the probabilities; empty for a regressor.
    pub classes: Vec<String>,
    /// What it predicts.
    pub task: Task,
    /// What wrote the file (`skl2onnx 1.20.0`, `pytorch 2.5`), or `onnx`.
    pub producer: String,
    plan: Arc<TypedSimplePlan>,
    input: Input,
    outputs: Outputs,
    /// Run states kept between requests: a state holds buffers sized for its last run.
    idle: Mutex<Vec<TypedSimpleState>>,
}

impl OnnxModel {
    /// Reads, checks and prepares the ONNX model `bytes`, read from `path` (named in errors),
    /// with the names of `sidecar` if there is one.
    pub fn from_slice(bytes: &[u8], path: &Path, sidecar: Option<&Sidecar>) -> Result<OnnxModel> {
        // The file is someone else's and the runtime is large: should it panic on something
        // cairn did not check, that is this file's error, not the end of a serving process.
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            OnnxModel::prepare(bytes, path, sidecar)
        }))
        .unwrap_or_else(|panic| {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            Err(Error::data(
                path,
                format!("cairn's ONNX runtime (tract) failed on this model: {why}"),
            ))
        })
    }

    fn prepare(bytes: &[u8], path: &Path, sidecar: Option<&Sidecar>) -> Result<OnnxModel> {
        let bad = |message: String| Error::data(path, message);
        let mut proto = pb::ModelProto::decode(bytes)
            .map_err(|e| bad(format!("not an ONNX model (cannot decode it: {e})")))?;
        let producer = match (
            proto.producer_name.as_str(),
            proto.producer_version.as_str(),
        ) {
            ("", _) => "onnx".to_string(),
            (name, "") => name.to_string(),
            (name, version) => format!("{name} {version}"),
        };
        let metadata: Vec<(String, String)> = proto
            .metadata_props
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect();
        let onnx = tract_onnx::onnx();
        let graph = proto
            .graph
            .as_mut()
            .ok_or_else(|| bad("the ONNX model has no graph".into()))?;
        check_operators(graph, &onnx).map_err(bad)?;
        refuse_external_data(graph).map_err(bad)?;
        graph_rewrite::expand_scalers(graph).map_err(bad)?;
        let labels = graph_rewrite::index_class_labels(graph).map_err(bad)?;
        graph_rewrite::regressors_as_classifiers(graph).map_err(bad)?;
        let (input, mut names) = read_inputs(graph).map_err(bad)?;
        names.classes = labels;
        let signature = signature::resolve(path, sidecar, &metadata, names)?;

        let prepare = |e: TractError| {
            bad(format!(
                "cairn's ONNX runtime (tract) cannot prepare the model: {e:#}"
            ))
        };
        let mut model = onnx.model_for_proto_model(&proto).map_err(prepare)?;
        let batch = model.sym("N").to_dim();
        let count = signature.features.len();
        model = match input {
            Input::Matrix(dt) => {
                model.with_input_fact(0, InferenceFact::dt_shape(dt, tvec![batch, count.to_dim()]))
            }
            Input::Columns(dt) => (0..count).try_fold(model, |model, i| {
                model.with_input_fact(
                    i,
                    InferenceFact::dt_shape(dt, tvec![batch.clone(), 1.to_dim()]),
                )
            }),
        }
        .map_err(prepare)?;
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(prepare)?;

        let mut loaded = OnnxModel {
            task: if signature.classes.is_empty() {
                Task::Regression
            } else {
                Task::Classification
            },
            features: signature.features,
            classes: signature.classes,
            producer,
            plan,
            input,
            outputs: Outputs::default(),
            idle: Mutex::new(Vec::new()),
        };
        loaded.outputs = loaded.find_outputs().map_err(bad)?;
        // The first answer, checked the way every answer is.
        loaded
            .predict(&vec![0.0; count], count)
            .map_err(|e| bad(format!("the model cannot predict a row of zeros: {e}")))?;
        Ok(loaded)
    }

    /// Predicts each row of `values` (`width` features per row).
    pub fn predict(&self, values: &[f64], width: usize) -> Result<Vec<Prediction>> {
        let rows = values.len() / width.max(1);
        let outputs = self.run(values, rows, width)?;
        let floats = |ix: usize, per_row: usize, what: &str| -> Result<Vec<f64>> {
            let tensor = outputs[ix].cast_to::<f64>().map_err(failed)?;
            let values = tensor
                .try_as_plain_ram()
                .and_then(|v| v.as_slice::<f64>().map(<[f64]>::to_vec))
                .map_err(failed)?;
            if values.len() != rows * per_row {
                return Err(Error::Failed(format!(
                    "the ONNX model answered {} {what} for {rows} rows",
                    values.len()
                )));
            }
            Ok(values)
        };
        if self.task == Task::Regression {
            let ix = self.outputs.value.unwrap_or(0);
            let values = floats(ix, 1, "values")?;
            return Ok(values
                .into_iter()
                .map(|value| Prediction {
                    class: None,
                    probabilities: Vec::new(),
                    value,
                })
                .collect());
        }
        let classes = self.classes.len();
        let probabilities = floats(
            self.outputs.probabilities.unwrap_or(0),
            classes,
            "probabilities",
        )?;
        let labels = match self.outputs.label {
            Some(ix) => Some(floats(ix, 1, "labels")?),
            None => None,
        };
        probabilities
            .chunks_exact(classes)
            .enumerate()
            .map(|(row, p)| {
                let class = match &labels {
                    // Labels are class indices (see graph_rewrite).
                    Some(labels) => {
                        let label = labels[row];
                        if !(label >= 0.0 && (label as usize) < classes && label.fract() == 0.0) {
                            return Err(Error::Failed(format!(
                                "the ONNX model answered the label {label}, not one of its {classes} classes"
                            )));
                        }
                        label as usize
                    }
                    None => argmax(p),
                };
                Ok(Prediction {
                    class: Some(class),
                    probabilities: p.to_vec(),
                    value: p[class],
                })
            })
            .collect()
    }

    /// Runs the graph on `rows` rows of `values`, with a state kept from an earlier run.
    fn run(&self, values: &[f64], rows: usize, width: usize) -> Result<TVec<TValue>> {
        let inputs: TVec<TValue> = match self.input {
            Input::Matrix(dt) => tvec![tensor(values, &[rows, width], dt)?.into()],
            Input::Columns(dt) => (0..width)
                .map(|j| {
                    let column: Vec<f64> = values.iter().skip(j).step_by(width).copied().collect();
                    tensor(&column, &[rows, 1], dt).map(TValue::from)
                })
                .collect::<Result<_>>()?,
        };
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut state = match idle {
            Some(state) => state,
            None => self.plan.spawn().map_err(failed)?,
        };
        let outputs = state.run(inputs).map_err(failed)?;
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(state);
        Ok(outputs)
    }

    /// Finds the label, probabilities and value outputs from their types and shapes on one row.
    fn find_outputs(&self) -> std::result::Result<Outputs, String> {
        let width = self.features.len();
        let outputs = self
            .run(&vec![0.0; width], 1, width)
            .map_err(|e| e.to_string())?;
        let classes = self.classes.len();
        let mut found = Outputs::default();
        for (ix, output) in outputs.iter().enumerate() {
            let float = output.datum_type().is_float();
            let integer = output.datum_type().is_integer();
            match output.shape() {
                [1] if integer => {
                    found.label = found.label.or(Some(ix));
                }
                [1] | [1, 1] if float => found.value = found.value.or(Some(ix)),
                [1, k] if float && classes > 1 && *k == classes => {
                    found.probabilities = found.probabilities.or(Some(ix));
                }
                _ => {}
            }
        }
        let shapes = || {
            outputs
                .iter()
                .map(|o| format!("{:?} {:?}", o.datum_type(), o.shape()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if classes > 0 && found.probabilities.is_none() {
            return Err(format!(
                "the model has {classes} classes but no output of {classes} probabilities per row (its outputs for one row: {})",
                shapes()
            ));
        }
        if classes == 0 && found.value.is_none() {
            return Err(format!(
                "the model answers no single number per row (its outputs for one row: {}); for a classifier, name its classes in the sidecar {}",
                shapes(),
                crate::SIDECAR_SUFFIX
            ));
        }
        Ok(found)
    }
}

/// Refuses a graph with operators the runtime does not implement, naming all of them.
fn check_operators(
    graph: &pb::GraphProto,
    onnx: &tract_onnx::Onnx,
) -> std::result::Result<(), String> {
    let missing: BTreeSet<String> = graph
        .node
        .iter()
        .filter(|n| {
            !onnx.op_register.0.contains_key(&n.op_type)
                && !graph_rewrite::REWRITTEN.contains(&n.op_type.as_str())
        })
        .map(|n| match n.domain.as_str() {
            "" | "ai.onnx" => n.op_type.clone(),
            domain => format!("{} ({domain})", n.op_type),
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let advice: Vec<String> = ADVICE
        .iter()
        .filter(|(op, _)| graph.node.iter().any(|n| n.op_type == *op))
        .map(|(op, what)| format!("{op}: {what}"))
        .collect();
    Err(format!(
        "the model uses operators cairn's ONNX runtime (tract) does not implement: {}{}",
        missing.into_iter().collect::<Vec<_>>().join(", "),
        if advice.is_empty() {
            String::new()
        } else {
            format!(" ({})", advice.join("; "))
        }
    ))
}

/// Refuses tensors whose data is in other files (ONNX's external data): cairn reads the model
/// file alone, so what it serves is what was hashed, registered and pushed, and a file written
/// by someone else cannot make it read another path.
fn refuse_external_data(graph: &pb::GraphProto) -> std::result::Result<(), String> {
    let external = |t: &pb::TensorProto| {
        !t.external_data.is_empty() || t.data_location == Some(DataLocation::External as i32)
    };
    if let Some(t) = graph.initializer.iter().find(|t| external(t)) {
        return Err(format!(
            "the tensor '{}' keeps its data in another file (ONNX external data); save the model as one file (onnx.save_model(…, save_as_external_data=False))",
            t.name
        ));
    }
    for node in &graph.node {
        for a in &node.attribute {
            if a.t.as_ref().is_some_and(external) || a.tensors.iter().any(external) {
                return Err(format!(
                    "node '{}' keeps a tensor's data in another file (ONNX external data); save the model as one file",
                    node.name
                ));
            }
            for g in a.g.iter().chain(&a.graphs) {
                refuse_external_data(g)?;
            }
        }
    }
    Ok(())
}

/// The graph's inputs (those that are not constants): how features reach them, and what they
/// say of the features (their names when there is one input per feature, their number when
/// the shapes say); the classes are left to the classifier.
fn read_inputs(graph: &pb::GraphProto) -> std::result::Result<(Input, GraphNames), String> {
    let constants: BTreeSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !constants.contains(i.name.as_str()))
        .collect();
    let mut datum = None;
    let mut widths = Vec::new();
    for input in &inputs {
        let Some(pb::type_proto::Value::TensorType(tensor)) =
            input.r#type.as_ref().and_then(|t| t.value.as_ref())
        else {
            return Err(format!("input '{}' is not a tensor", input.name));
        };
        let dt = match DataType::try_from(tensor.elem_type) {
            Ok(DataType::Float) => DatumType::F32,
            Ok(DataType::Double) => DatumType::F64,
            _ => {
                return Err(format!(
                    "input '{}' is not of floats (cairn sends numeric features as float or double)",
                    input.name
                ));
            }
        };
        if datum.is_some_and(|d| d != dt) {
            return Err("the inputs are not all of the same type".into());
        }
        datum = Some(dt);
        let dims = tensor.shape.as_ref().map_or(&[][..], |s| &s.dim[..]);
        if dims.len() != 2 {
            return Err(format!(
                "input '{}' has {} dimensions; cairn sends a batch of rows, [N, features]",
                input.name,
                dims.len()
            ));
        }
        widths.push(match &dims[1].value {
            Some(Dim::DimValue(n)) if *n > 0 => Some(*n as usize),
            _ => None,
        });
    }
    let dt = datum.ok_or("the model has no input")?;
    if inputs.len() == 1 {
        let names = GraphNames {
            features: None,
            width: widths[0],
            classes: None,
        };
        return Ok((Input::Matrix(dt), names));
    }
    if let Some(input) = inputs.iter().zip(&widths).find(|(_, w)| **w != Some(1)) {
        return Err(format!(
            "the model has {} inputs and '{}' is not one column ([N, 1]); cairn sends one input of [N, features] or one [N, 1] input per feature",
            inputs.len(),
            input.0.name
        ));
    }
    let names = GraphNames {
        features: Some(inputs.iter().map(|i| i.name.clone()).collect()),
        width: Some(inputs.len()),
        classes: None,
    };
    Ok((Input::Columns(dt), names))
}

/// `values` as a tensor of `shape` and type `dt`.
fn tensor(values: &[f64], shape: &[usize], dt: DatumType) -> Result<Tensor> {
    let made = if dt == DatumType::F64 {
        Tensor::from_shape(shape, values)
    } else {
        let narrow: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        Tensor::from_shape(shape, &narrow)
    };
    made.map_err(failed)
}

fn argmax(p: &[f64]) -> usize {
    p.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

fn failed(e: TractError) -> Error {
    Error::Failed(format!("the ONNX runtime failed: {e:#}"))
}
