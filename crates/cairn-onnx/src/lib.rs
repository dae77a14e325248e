//! Models trained outside cairn, as ONNX files: read, checked and run by tract, a pure-Rust
//! ONNX runtime (nothing native is downloaded at build or run time).
//!
//! A file is checked whole before it serves: every operator must be one the runtime implements
//! (the error names those it does not), the inputs must be a matrix of features or one column
//! per feature, and the outputs must be what a classifier or a regressor answers. Feature and
//! class names come from a sidecar file, the model's metadata, the graph's input names and the
//! classifier's labels, in that order (see [`Signature`]).

mod graph_rewrite;
mod model;
mod signature;

pub use model::OnnxModel;
pub use signature::{SIDECAR_SUFFIX, Sidecar, Signature};

/// Whether `bytes` are an ONNX model rather than a cairn model file: a cairn model is JSON (its
/// first non-blank byte is `{`), an ONNX file is a protobuf whose first field is `ir_version`
/// (field 1, a varint: tag byte 0x08).
pub fn is_onnx(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x08)
}
