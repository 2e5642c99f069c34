//! stoke-diffusion's integration tests in one binary: golden values against diffusers and
//! k-diffusion, law tests, and statistical sampler tests against exact Gaussian-mixture
//! denoisers.

mod common;
mod fuzz;
mod golden;
mod laws;
mod samplers;
