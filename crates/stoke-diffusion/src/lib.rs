//! # stoke-diffusion
//!
//! Continuous diffusion and flow matching on Burn: one denoiser interface, training losses,
//! samplers (DDPM, DDIM, Euler, Euler ancestral, Heun/EDM, DPM-Solver++(2M), flow Euler/Heun,
//! adaptive Dormand-Prince), ODE log-likelihoods, conditional flow matching paths and
//! rectified-flow helpers.
//!
//! Design decision: every diffusion sampler sees the model only as k-diffusion's denoiser
//! `D(x; sigma)` in the VE frame `x = x0 + sigma eps` [KARRAS22, Eq. 2]. Adapters turn `eps`,
//! `x0`, `v` and flow-velocity networks on any `stoke-core` schedule (and EDM-preconditioned
//! networks) into that one function, so each sampler is written once, against one equation,
//! and tested against the exact denoiser of a Gaussian mixture. Schedule arithmetic stays in
//! `f64` on the host (per-row coefficients), tensors carry only the data. Noise is drawn
//! only through a [`noise::NoiseSource`], so per-sample seeds are possible. Nothing panics on
//! user data: grids, shapes and the network's outputs are checked and a
//! [`DiffusionError`] names what broke.
//!
//! Conventions: workspace time runs from data (`t = 0`) to noise (`t = 1`); the
//! [`flow_matching`] module follows torchcfm instead (`x0` source noise, `x1` data, `t = 1`
//! data), as documented there. Paper keys resolve in `docs/papers.md`.
//!
//! ```
//! use burn::tensor::{Device, Int, Tensor};
//! use stoke_core::schedule::sigmas_karras;
//! use stoke_diffusion::prelude::*;
//!
//! let device = Device::flex();
//! // The exact denoiser of N(0, 1) data: D(x; sigma) = x / (1 + sigma^2).
//! let denoiser = |x: Tensor<2>, sigma: &[f64], _labels: Option<Tensor<1, Int>>| {
//!     Ok(x.div_scalar(1.0 + sigma[0] * sigma[0]))
//! };
//! let sigmas = sigmas_karras(18, 0.002, 80.0, 7.0)?;
//! let mut noise = HostNoise::seeded(0);
//! let x_t = noise.standard_normal([4, 2], &device)?.mul_scalar(sigmas[0]);
//! let out = Heun::default().sample(&denoiser, x_t, &sigmas, &Guidance::unconditional(), &mut noise)?;
//! assert_eq!(out.nfe, 2 * 18 - 1);
//! # Ok::<(), stoke_diffusion::DiffusionError>(())
//! ```

pub mod denoiser;
pub mod error;
pub mod flow_matching;
pub mod guidance;
pub mod loss;
pub mod noise;
pub mod rectified;
pub mod sampler;
mod serde_inf;
mod tensor;

pub use error::{DiffusionError, Result};

/// The traits and types most callers need.
pub mod prelude {
    pub use crate::denoiser::{
        ClassConditional, Denoised, Denoiser, DenoiserVelocity, EdmDenoiser, Field, Network,
        ScheduleDenoiser, Velocity, VelocityField,
    };
    pub use crate::error::DiffusionError;
    pub use crate::guidance::Guidance;
    pub use crate::noise::{HostNoise, NoiseSource, PerRowNoise};
    pub use crate::sampler::{
        Calls, Churn, Ddim, Ddpm, DdpmVariance, DormandPrince, DpmSolverPp2m, Euler,
        EulerAncestral, FlowEuler, FlowHeun, FlowSampler, GridConfig, Heun, NoiseLevels, Sampled,
        Sampler, SamplerConfig, SamplerSpec, X0Correction,
    };
}
