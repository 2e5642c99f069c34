//! stoke-estimators' integration tests in one binary: REBAR/RELAX against exact gradients and
//! the estimators against PyTorch, closed forms and sample-size tolerances.

mod control_variate;
mod estimators;
mod fuzz;
