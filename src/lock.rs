//! pipeline.lock: read and write, deterministic.
