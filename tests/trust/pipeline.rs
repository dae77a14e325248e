//! Trust boundary: pipeline.yaml, params and pipeline.lock written by someone else.
