//! # stoke-estimators
//!
//! Gradient estimators for discrete and stochastic nodes, each a small function that plugs
//! into Burn's autodiff on any device: Gaussian reparameterisation with closed-form KL,
//! Gumbel-max and Gumbel-softmax (soft and straight-through hard), straight-through argmax,
//! sign and rounding, REINFORCE surrogates with moving-average, leave-one-out and learned baselines, REBAR and
//! RELAX for Bernoulli and categorical variables,
//! smooth surrogates of accuracy and F1, and a gradient-variance probe.
//!
//! Design decision: noise is drawn on the host from a caller's seeded RNG and passed in as a
//! tensor, so every estimator is a pure function of its inputs: tests fix the noise, compare
//! with PyTorch on the same noise, and the same seed reproduces a run on every backend.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use rand::SeedableRng;
//! use stoke_estimators::gumbel::{gumbel_softmax, sample_gumbel};
//!
//! let device = Device::flex().autodiff();
//! let logits = Tensor::<2>::from_floats([[1.0, 0.0, -1.0]], &device).require_grad();
//! let noise = sample_gumbel(1, 3, &mut rand::rngs::StdRng::seed_from_u64(0), &device);
//! // Forward: exactly one-hot. Backward: the soft sample's gradient.
//! let y = gumbel_softmax(logits.clone(), noise, 0.5, true)?;
//! let values: Vec<f32> = y.clone().into_data().iter::<f32>().collect();
//! assert_eq!(values.iter().filter(|&&v| v == 1.0).count(), 1);
//! let weights = Tensor::<2>::from_floats([[1.0, 2.0, 3.0]], &device);
//! let grads = (y * weights).sum().backward();
//! assert!(logits.grad(&grads).is_some());
//! # Ok::<(), stoke_estimators::EstimatorError>(())
//! ```

pub mod control_net;
pub mod control_variate;
pub mod error;
pub mod gaussian;
pub mod gumbel;
pub mod kind;
pub mod probe;
pub mod score_function;
pub mod straight_through;
pub mod surrogates;

pub use error::{EstimatorError, Result};
pub use kind::EstimatorKind;
