//! Algorithms: linear models, a deterministic CART, forests of it, their hyperparameters and
//! the seeded random numbers they draw.

pub mod forest;
pub mod hyper;
pub mod linear;
pub mod rng;
pub mod trees;
