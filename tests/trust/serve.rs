//! Trust boundary: the model server against hostile clients and model files.
