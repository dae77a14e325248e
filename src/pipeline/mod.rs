//! pipeline.yaml and params.yaml: parse, template, validate, build the DAG.
