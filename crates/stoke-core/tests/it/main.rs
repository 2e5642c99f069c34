//! stoke-core's integration tests in one binary: constructors, golden values, laws, tensor
//! lifting, receptive fields and loss weights.

mod constructors;
mod golden;
mod laws;
mod lifting;
mod receptive_field;
mod strategies;
mod weights;
