//! # stoke-core
//!
//! The math every diffusion and flow model shares, with no modules and no I/O: noise
//! schedules, parameterization conversions, loss weights `w(lambda)`, training noise-level
//! samplers, exact optimal transport for sample metrics, and receptive fields.
//!
//! Design decision: scalar `f64` functions are the reference implementation of each
//! formula, because schedules are tabulated once and compared against Python golden values
//! to 1e-12; tensor methods lift them to any Burn `Device` and are tested against the
//! scalars. Every constructor validates its input and returns a [`CoreError`] naming the
//! bad value, so nothing here panics on user data.
//!
//! Conventions: `x_t = alpha_t x0 + sigma_t eps`, `t in [0, 1]`, **t = 0 is data**, log-SNR
//! `lambda = ln(alpha^2 / sigma^2)` decreases in `t`. Paper keys (`[KARRAS22, Eq. 5]`)
//! resolve in `docs/papers.md`.
//!
//! ```
//! use stoke_core::schedule::{BetaSchedule, DiscreteSchedule, NoiseSchedule, sigmas_karras};
//! use stoke_core::param::{Prediction, convert};
//!
//! // diffusers' squaredcos_cap_v2 with 1000 steps: alpha_bar falls from ~1 to ~0.
//! let cosine = DiscreteSchedule::new(BetaSchedule::SquaredCosCapV2, 1000, 1e-4, 0.02)?;
//! assert!(cosine.alphas_cumprod()[0] > 0.9999 && cosine.alphas_cumprod()[999] < 1e-4);
//!
//! // Karras et al.'s 10-step grid for EDM, ending in 0.
//! let sigmas = sigmas_karras(10, 0.002, 80.0, 7.0)?;
//! assert_eq!(sigmas.len(), 11);
//!
//! // An eps prediction converted to the flow velocity on the rectified path.
//! let flow = stoke_core::schedule::Flow;
//! let point = flow.point(0.3);
//! let (x0, eps) = (0.5, -1.0);
//! let x_t = point.alpha * x0 + point.sigma * eps;
//! let u = convert(Prediction::Eps, Prediction::Velocity, eps, x_t, &point)?;
//! assert!((u - (eps - x0)).abs() < 1e-12);
//!
//! // Bad input is an error, not a panic.
//! assert!(sigmas_karras(10, 80.0, 0.002, 7.0).is_err());
//! # Ok::<(), stoke_core::CoreError>(())
//! ```

pub mod error;
pub mod frechet;
pub mod noise_level;
pub mod param;
pub mod receptive_field;
pub mod schedule;
pub mod transport;
pub mod validate;
pub mod weight;

pub use error::{CoreError, Result};
