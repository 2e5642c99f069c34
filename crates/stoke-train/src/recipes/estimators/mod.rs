//! Recipes that demonstrate `stoke-estimators`: the sigmoid-F1 surrogate against
//! cross-entropy, every estimator on the Bernoulli toy, and a categorical VAE on the digits.

pub mod bernoulli_toy;
pub mod soft_f1;
pub mod vae_digits;
