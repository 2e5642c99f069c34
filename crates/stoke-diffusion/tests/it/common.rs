//! Shared test helpers: an f64 CPU device, the exact denoiser of an isotropic Gaussian
//! mixture, replayed noise, and the one-sample Kolmogorov-Smirnov test.

#![allow(dead_code)]

use std::sync::Once;

use burn::tensor::{Device, FloatDType, Int, Tensor, TensorData};
use stoke_diffusion::noise::NoiseSource;
use stoke_diffusion::{DiffusionError, Result};

/// The flex CPU device with f64 floats, so tolerances measure the algorithms, not f32.
pub fn device() -> Device {
    static CONFIGURE: Once = Once::new();
    let mut device = Device::flex();
    CONFIGURE.call_once(|| {
        device.configure(FloatDType::F64).expect("configure before the first tensor");
    });
    device
}

pub fn tensor2(values: &[f64], shape: [usize; 2]) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), &device())
}

pub fn host<const D: usize>(x: Tensor<D>) -> Vec<f64> {
    x.into_data().iter::<f64>().collect()
}

/// A mixture of isotropic Gaussians `sum_k w_k N(mu_k, s_k^2 I)` in `dim` dimensions.
#[derive(Debug, Clone)]
pub struct Mixture {
    pub weights: Vec<f64>,
    pub means: Vec<Vec<f64>>,
    pub stds: Vec<f64>,
}

impl Mixture {
    /// A skewed 1-D mixture of three components.
    pub fn one_d() -> Self {
        Self {
            weights: vec![0.5, 0.3, 0.2],
            means: vec![vec![-1.5], vec![0.5], vec![2.0]],
            stds: vec![0.3, 0.5, 0.2],
        }
    }

    /// A 2-D mixture of two components.
    pub fn two_d() -> Self {
        Self {
            weights: vec![0.6, 0.4],
            means: vec![vec![-1.0, 0.5], vec![1.5, -1.0]],
            stds: vec![0.4, 0.6],
        }
    }

    /// A single Gaussian.
    pub fn gaussian(mean: Vec<f64>, std: f64) -> Self {
        Self { weights: vec![1.0], means: vec![mean], stds: vec![std] }
    }

    pub fn dim(&self) -> usize {
        self.means[0].len()
    }

    /// Component `k` alone.
    pub fn component(&self, k: usize) -> Self {
        Self { weights: vec![1.0], means: vec![self.means[k].clone()], stds: vec![self.stds[k]] }
    }

    /// `E[x0 | x]` at noise level `sigma` for one row.
    pub fn posterior_mean(&self, x: &[f64], sigma: f64) -> Vec<f64> {
        let d = self.dim() as f64;
        let log_r: Vec<f64> = (0..self.weights.len())
            .map(|k| {
                let v = self.stds[k].powi(2) + sigma * sigma;
                let sq: f64 = x.iter().zip(&self.means[k]).map(|(a, m)| (a - m).powi(2)).sum();
                self.weights[k].ln()
                    - 0.5 * d * (2.0 * std::f64::consts::PI * v).ln()
                    - sq / (2.0 * v)
            })
            .collect();
        let max = log_r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let r: Vec<f64> = log_r.iter().map(|l| (l - max).exp()).collect();
        let total: f64 = r.iter().sum();
        let mut out = vec![0.0; x.len()];
        for ((r, std), mean) in r.iter().zip(&self.stds).zip(&self.means) {
            let shrink = std * std / (std * std + sigma * sigma);
            for (o, (a, m)) in out.iter_mut().zip(x.iter().zip(mean)) {
                *o += r / total * (m + shrink * (a - m));
            }
        }
        out
    }

    /// `D(x; sigma)` for a batch (`sigma`: one value or one per row).
    pub fn denoise<const D: usize>(&self, x: Tensor<D>, sigma: &[f64]) -> Tensor<D> {
        let (dims, dev) = (x.dims(), x.device());
        let values = host(x);
        let dim = self.dim();
        let out: Vec<f64> = values
            .chunks(dim)
            .enumerate()
            .flat_map(|(i, row)| {
                self.posterior_mean(row, sigma[if sigma.len() == 1 { 0 } else { i }])
            })
            .collect();
        Tensor::from_data(TensorData::new(out, dims), &dev)
    }

    /// `n` draws of `x0 + sigma eps`, row-major.
    pub fn sample(&self, n: usize, sigma: f64, rng: &mut impl rand::Rng) -> Vec<f64> {
        use rand::RngExt;
        let mut out = Vec::with_capacity(n * self.dim());
        for _ in 0..n {
            let u: f64 = rng.random();
            let mut acc = 0.0;
            let k = self
                .weights
                .iter()
                .position(|w| {
                    acc += w;
                    u < acc
                })
                .unwrap_or(self.weights.len() - 1);
            let scale = (self.stds[k].powi(2) + sigma * sigma).sqrt();
            for m in &self.means[k] {
                let z: f64 = rng.sample(rand_distr::StandardNormal);
                out.push(m + scale * z);
            }
        }
        out
    }

    /// The marginal CDF of coordinate `axis` at noise level `sigma`.
    pub fn cdf(&self, x: f64, sigma: f64, axis: usize) -> f64 {
        (0..self.weights.len())
            .map(|k| {
                let scale = (self.stds[k].powi(2) + sigma * sigma).sqrt();
                self.weights[k] * normal_cdf((x - self.means[k][axis]) / scale)
            })
            .sum()
    }

    /// Mean, variance and central fourth moment of coordinate `axis` at `sigma`.
    pub fn moments(&self, sigma: f64, axis: usize) -> (f64, f64, f64) {
        let mean: f64 =
            (0..self.weights.len()).map(|k| self.weights[k] * self.means[k][axis]).sum();
        let (mut var, mut m4) = (0.0, 0.0);
        for k in 0..self.weights.len() {
            let v = self.stds[k].powi(2) + sigma * sigma;
            let delta = self.means[k][axis] - mean;
            var += self.weights[k] * (delta * delta + v);
            m4 += self.weights[k] * (delta.powi(4) + 6.0 * delta * delta * v + 3.0 * v * v);
        }
        (mean, var, m4)
    }
}

/// The exact mixture denoiser as a `Denoiser`; with labels, label `k` conditions on
/// component `k` and the null class (`K`) on the whole mixture.
pub struct MixtureDenoiser {
    pub mixture: Mixture,
}

impl<const D: usize> stoke_diffusion::denoiser::Field<D, stoke_diffusion::denoiser::Denoised>
    for MixtureDenoiser
{
    fn eval(
        &self,
        x: Tensor<D>,
        sigma: &[f64],
        class_labels: Option<Tensor<1, Int>>,
    ) -> Result<Tensor<D>> {
        let Some(labels) = class_labels else {
            return Ok(self.mixture.denoise(x, sigma));
        };
        let labels: Vec<i64> = labels.into_data().iter::<i64>().collect();
        let (dims, dev) = (x.dims(), x.device());
        let dim = self.mixture.dim();
        let values = host(x);
        let mut out = Vec::with_capacity(values.len());
        for (i, row) in values.chunks(dim).enumerate() {
            let s = sigma[if sigma.len() == 1 { 0 } else { i }];
            let k = labels[i] as usize;
            let model = if k >= self.mixture.weights.len() {
                self.mixture.clone()
            } else {
                self.mixture.component(k)
            };
            out.extend(model.posterior_mean(row, s));
        }
        Ok(Tensor::from_data(TensorData::new(out, dims), &dev))
    }
    fn null_class(&self) -> Option<usize> {
        Some(self.mixture.weights.len())
    }
}

/// Standard normal CDF via erfc (W. J. Cody's rational approximations are overkill here; this
/// uses the complementary error function with relative error below 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    // Numerical Recipes' erfcc (Chebyshev fit), |relative error| < 1.2e-7.
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398
                                    + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// The one-sample Kolmogorov-Smirnov statistic of `samples` against `cdf`.
pub fn ks_statistic(samples: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max)
}

/// The KS critical value at level `alpha` for `n` samples (asymptotic,
/// `sqrt(-ln(alpha/2)/2) / sqrt(n)`).
pub fn ks_critical(n: usize, alpha: f64) -> f64 {
    (-(alpha / 2.0).ln() / 2.0).sqrt() / (n as f64).sqrt()
}

/// Noise that replays given values (for golden tests against Python's draws).
pub struct ReplayNoise {
    pub draws: Vec<Vec<f64>>,
}

impl NoiseSource for ReplayNoise {
    fn standard_normal<const D: usize>(
        &mut self,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Tensor<D>> {
        if self.draws.is_empty() {
            return Err(DiffusionError::EmptyGrid);
        }
        let values = self.draws.remove(0);
        Ok(Tensor::from_data(TensorData::new(values, shape), device))
    }
}

/// A noise source that must never be asked (for deterministic samplers).
pub struct NoNoise;

impl NoiseSource for NoNoise {
    fn standard_normal<const D: usize>(
        &mut self,
        _shape: [usize; D],
        _device: &Device,
    ) -> Result<Tensor<D>> {
        panic!("a deterministic sampler drew noise")
    }
}
