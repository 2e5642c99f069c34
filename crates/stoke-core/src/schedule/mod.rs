//! Noise schedules: how much signal (`alpha_t`) and noise (`sigma_t`) a Gaussian path
//! `x_t = alpha_t * x0 + sigma_t * eps` carries at time `t` (t = 0 is data, t = 1 is noise).
//!
//! Every schedule implements [`NoiseSchedule`], whose scalar `f64` methods are the reference;
//! [`NoiseSchedule::alpha_tensor`] and [`NoiseSchedule::sigma_tensor`] lift them to tensors on
//! any Burn [`Device`](burn::tensor::Device) (a test checks both agree).

mod continuous;
mod discrete;
mod masking;
mod sigmas;
mod spacing;

pub use continuous::{Edm, Flow, Ve, VpCosine, VpLinear};
pub use discrete::{BetaSchedule, DiscreteSchedule, UnknownSchedule, diffusers_f32_tables};
pub use masking::MaskingSchedule;
pub use sigmas::{
    AncestralStep, ancestral_step, sigmas_exponential, sigmas_karras, sigmas_polyexponential,
    sigmas_vp,
};
pub use spacing::{TimestepSpacing, timesteps};

use burn::tensor::{Tensor, TensorData};

/// The state of a Gaussian path at one time: the coefficients and their time derivatives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathPoint {
    /// Signal scale `alpha_t`.
    pub alpha: f64,
    /// Noise scale `sigma_t`.
    pub sigma: f64,
    /// `d alpha_t / dt`.
    pub d_alpha: f64,
    /// `d sigma_t / dt`.
    pub d_sigma: f64,
}

impl PathPoint {
    /// log-SNR `lambda = ln(alpha^2 / sigma^2)` [KINGMA21, Eq. 2].
    pub fn log_snr(&self) -> f64 {
        2.0 * (self.alpha.ln() - self.sigma.ln())
    }
}

/// A Gaussian noise schedule `x_t = alpha(t) x0 + sigma(t) eps` [KINGMA21, Eq. 1].
///
/// Implementors provide `alpha`, `sigma`, their derivatives and the inverse of the
/// log-SNR; `log_snr` and its derivative follow. Times outside the schedule's domain are
/// clamped to it (documented per schedule).
pub trait NoiseSchedule {
    /// Signal scale `alpha(t)`.
    fn alpha(&self, t: f64) -> f64;
    /// Noise scale `sigma(t)`.
    fn sigma(&self, t: f64) -> f64;
    /// `d alpha / dt`.
    fn d_alpha(&self, t: f64) -> f64;
    /// `d sigma / dt`.
    fn d_sigma(&self, t: f64) -> f64;
    /// The time at which the log-SNR equals `log_snr` (the inverse of [`Self::log_snr`]).
    fn t_from_log_snr(&self, log_snr: f64) -> f64;

    /// log-SNR `lambda(t) = ln(alpha^2 / sigma^2)`, strictly decreasing in `t`
    /// [KINGMA21, Eq. 2]. `+inf` where `sigma = 0`, `-inf` where `alpha = 0`.
    fn log_snr(&self, t: f64) -> f64 {
        2.0 * (self.alpha(t).ln() - self.sigma(t).ln())
    }

    /// `d lambda / dt = 2 (alpha'/alpha - sigma'/sigma)` (negative).
    fn d_log_snr(&self, t: f64) -> f64 {
        2.0 * (self.d_alpha(t) / self.alpha(t) - self.d_sigma(t) / self.sigma(t))
    }

    /// All of `alpha, sigma` and their derivatives at `t`.
    fn point(&self, t: f64) -> PathPoint {
        PathPoint {
            alpha: self.alpha(t),
            sigma: self.sigma(t),
            d_alpha: self.d_alpha(t),
            d_sigma: self.d_sigma(t),
        }
    }

    /// `alpha(t)` for a batch of times on the tensor's device.
    ///
    /// # Shapes
    /// `t: [batch]` -> `[batch]`.
    fn alpha_tensor(&self, t: Tensor<1>) -> Tensor<1> {
        map_on_host(t, |t| self.alpha(t))
    }

    /// `sigma(t)` for a batch of times on the tensor's device.
    ///
    /// # Shapes
    /// `t: [batch]` -> `[batch]`.
    fn sigma_tensor(&self, t: Tensor<1>) -> Tensor<1> {
        map_on_host(t, |t| self.sigma(t))
    }
}

/// Applies a scalar function elementwise by a round trip through host memory: the fallback
/// lifting for schedules without a closed tensor form (tabulated discrete schedules).
pub fn map_on_host(t: Tensor<1>, f: impl Fn(f64) -> f64) -> Tensor<1> {
    let device = t.device();
    let values: Vec<f32> = t.into_data().iter::<f64>().map(|t| f(t) as f32).collect();
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), &device)
}
