//! Rewrites of the ONNX graph before the runtime reads it, for what converters emit and tract
//! lacks or mishandles:
//! - `Scaler` (ai.onnx.ml, skl2onnx's StandardScaler and MinMaxScaler) is not in tract; it is
//!   `(x - offset) * scale`, so it becomes a `Sub` and a `Mul` on constants.
//! - A classifier whose labels are strings (`classlabels_strings`, what skl2onnx writes for a
//!   model fitted on named classes) makes tract fail on its string label output. cairn answers
//!   with class indices anyway, so the labels become `0..C` and their names are kept aside.
//! - `TreeEnsembleRegressor` (skl2onnx's forests and boosted trees for regression) is not in
//!   tract, but its `TreeEnsembleClassifier` sums leaf weights per class the same way: a
//!   regressor becomes a classifier whose first class carries the target (weights divided by
//!   the number of trees for an average), and a `Gather` takes that column.

use std::collections::BTreeSet;

use tract_onnx::pb::{self, attribute_proto::AttributeType, tensor_proto::DataType};

/// The classifiers whose labels are attributes, with the attribute naming integer labels.
const CLASSIFIERS: [(&str, &str); 2] = [
    ("LinearClassifier", "classlabels_ints"),
    ("TreeEnsembleClassifier", "classlabels_int64s"),
];

/// The operators rewritten here, which the runtime need not know.
pub const REWRITTEN: [&str; 2] = ["Scaler", "TreeEnsembleRegressor"];

/// Expands every `Scaler` node into `Sub` and `Mul`.
pub fn expand_scalers(graph: &mut pb::GraphProto) -> Result<(), String> {
    let mut nodes = Vec::with_capacity(graph.node.len());
    for node in std::mem::take(&mut graph.node) {
        if node.op_type != "Scaler" {
            nodes.push(node);
            continue;
        }
        let (Some(input), Some(output)) = (node.input.first(), node.output.first()) else {
            return Err(format!(
                "Scaler node '{}' has no input or output",
                node.name
            ));
        };
        let offset = floats(&node, "offset").unwrap_or_else(|| vec![0.0]);
        let scale = floats(&node, "scale").unwrap_or_else(|| vec![1.0]);
        let offset_name = format!("{output}__cairn_offset");
        let scale_name = format!("{output}__cairn_scale");
        let centred = format!("{output}__cairn_centred");
        graph.initializer.push(constant(&offset_name, offset));
        graph.initializer.push(constant(&scale_name, scale));
        nodes.push(plain_node(
            "Sub",
            [input.clone(), offset_name],
            centred.clone(),
        ));
        nodes.push(plain_node("Mul", [centred, scale_name], output.clone()));
    }
    graph.node = nodes;
    Ok(())
}

/// Replaces the classifiers' labels with their indices; returns the labels as text (integer
/// labels in decimal), those of the first classifier, or none when there is no classifier.
pub fn index_class_labels(graph: &mut pb::GraphProto) -> Result<Option<Vec<String>>, String> {
    let mut found: Option<Vec<String>> = None;
    for node in &mut graph.node {
        let Some((_, ints_name)) = CLASSIFIERS.iter().find(|(op, _)| node.op_type == *op) else {
            continue;
        };
        let mut labels: Option<Vec<String>> = None;
        for attribute in &node.attribute {
            if attribute.name == "classlabels_strings" {
                let names = attribute
                    .strings
                    .iter()
                    .map(|s| String::from_utf8(s.clone()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| {
                        format!(
                            "{} node '{}': a class label is not UTF-8",
                            node.op_type, node.name
                        )
                    })?;
                labels = Some(names);
            } else if attribute.name == *ints_name {
                labels = Some(attribute.ints.iter().map(i64::to_string).collect());
            }
        }
        let Some(labels) = labels else {
            return Err(format!(
                "{} node '{}' names no class labels (classlabels_strings or {ints_name})",
                node.op_type, node.name
            ));
        };
        node.attribute
            .retain(|a| a.name != "classlabels_strings" && a.name != *ints_name);
        node.attribute.push(pb::AttributeProto {
            name: (*ints_name).to_string(),
            r#type: AttributeType::Ints as i32,
            ints: (0..labels.len() as i64).collect(),
            ..Default::default()
        });
        if let Some(first) = &found {
            if *first != labels {
                return Err(format!(
                    "the graph has classifiers with different classes ([{}] and [{}])",
                    first.join(", "),
                    labels.join(", ")
                ));
            }
        } else {
            found = Some(labels);
        }
    }
    Ok(found)
}

/// Rewrites every single-target `TreeEnsembleRegressor` as a `TreeEnsembleClassifier` and a
/// `Gather`. Run after [`index_class_labels`]: the classes made here are not the model's.
pub fn regressors_as_classifiers(graph: &mut pb::GraphProto) -> Result<(), String> {
    let mut nodes = Vec::with_capacity(graph.node.len());
    for mut node in std::mem::take(&mut graph.node) {
        if node.op_type != "TreeEnsembleRegressor" {
            nodes.push(node);
            continue;
        }
        let unsupported = |what: String| {
            format!(
                "TreeEnsembleRegressor node '{}': {what} is not supported by cairn's ONNX runtime",
                node.name
            )
        };
        let attribute = |name: &str| node.attribute.iter().find(|a| a.name == name);
        if let Some(a) = attribute("n_targets").filter(|a| a.i != 1) {
            return Err(unsupported(format!("{} targets", a.i)));
        }
        if let Some(a) = attribute("post_transform").filter(|a| a.s != b"NONE") {
            return Err(unsupported(format!(
                "post_transform {}",
                String::from_utf8_lossy(&a.s)
            )));
        }
        if let Some(a) = node
            .attribute
            .iter()
            .find(|a| a.name.ends_with("_as_tensor"))
        {
            return Err(unsupported(format!("'{}' (double precision)", a.name)));
        }
        let trees: BTreeSet<i64> = attribute("nodes_treeids")
            .map(|a| a.ints.iter().copied().collect())
            .unwrap_or_default();
        let divide = match attribute("aggregate_function").map(|a| a.s.as_slice()) {
            None | Some(b"SUM") => 1.0,
            Some(b"AVERAGE") => trees.len().max(1) as f32,
            Some(other) => {
                return Err(unsupported(format!(
                    "aggregate_function {}",
                    String::from_utf8_lossy(other)
                )));
            }
        };
        let base = attribute("base_values").and_then(|a| a.floats.first().copied());
        let (Some(input), Some(output)) =
            (node.input.first().cloned(), node.output.first().cloned())
        else {
            return Err(format!(
                "TreeEnsembleRegressor node '{}' has no input or output",
                node.name
            ));
        };
        node.attribute.retain(|a| {
            !matches!(
                a.name.as_str(),
                "n_targets" | "aggregate_function" | "post_transform" | "base_values"
            )
        });
        for a in &mut node.attribute {
            if let Some(rest) = a.name.strip_prefix("target_").map(str::to_string) {
                if rest == "weights" {
                    a.floats.iter_mut().for_each(|w| *w /= divide);
                }
                a.name = format!("class_{rest}");
            }
        }
        // Three classes, not one: with fewer, tract lays the scores out as a binary classifier's.
        node.attribute.push(pb::AttributeProto {
            name: "classlabels_int64s".into(),
            r#type: AttributeType::Ints as i32,
            ints: vec![0, 1, 2],
            ..Default::default()
        });
        if let Some(base) = base {
            node.attribute.push(pb::AttributeProto {
                name: "base_values".into(),
                r#type: AttributeType::Floats as i32,
                floats: vec![base, 0.0, 0.0],
                ..Default::default()
            });
        }
        let scores = format!("{output}__cairn_scores");
        let column = format!("{output}__cairn_column");
        node.op_type = "TreeEnsembleClassifier".into();
        node.input = vec![input];
        node.output = vec![format!("{output}__cairn_label"), scores.clone()];
        nodes.push(node);
        graph.initializer.push(pb::TensorProto {
            name: column.clone(),
            dims: vec![1],
            data_type: DataType::Int64 as i32,
            int64_data: vec![0],
            ..Default::default()
        });
        let mut gather = plain_node("Gather", [scores, column], output);
        gather.attribute.push(pb::AttributeProto {
            name: "axis".into(),
            r#type: AttributeType::Int as i32,
            i: 1,
            ..Default::default()
        });
        nodes.push(gather);
    }
    graph.node = nodes;
    Ok(())
}

fn floats(node: &pb::NodeProto, name: &str) -> Option<Vec<f32>> {
    node.attribute
        .iter()
        .find(|a| a.name == name && !a.floats.is_empty())
        .map(|a| a.floats.clone())
}

/// A one-dimensional float constant.
fn constant(name: &str, values: Vec<f32>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_string(),
        dims: vec![values.len() as i64],
        data_type: DataType::Float as i32,
        float_data: values,
        ..Default::default()
    }
}

fn plain_node(op: &str, inputs: [String; 2], output: String) -> pb::NodeProto {
    pb::NodeProto {
        name: output.clone(),
        op_type: op.to_string(),
        input: inputs.to_vec(),
        output: vec![output],
        ..Default::default()
    }
}
