//! Samplers of training noise levels: which `t` (or `sigma`) each example of a batch is
//! trained at.

use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::validate::{count, finite, ordered, positive};

/// How a batch of training times is drawn. Read from JSON through
/// [`NoiseLevelSampler::validate`], so a config cannot hold a sampler its constructor would
/// refuse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub enum NoiseLevelSampler {
    /// `t ~ U(low, high)` independently.
    Uniform {
        /// Lower end.
        low: f64,
        /// Upper end.
        high: f64,
    },
    /// Low-discrepancy (antithetic, stratified) times: one `u ~ U(0, 1)` per batch and
    /// `t_i = low + (high - low) ((u + i/n) mod 1)`, one draw in each of `n` strata; unbiased
    /// with lower variance [KINGMA21, App. I.1].
    Stratified {
        /// Lower end.
        low: f64,
        /// Upper end.
        high: f64,
    },
    /// `logit(t) ~ N(mean, std^2)`, SD3's default `mean = 0`, `std = 1` [ESSER24, Eq. 19].
    LogitNormal {
        /// Location.
        mean: f64,
        /// Scale.
        std: f64,
    },
    /// EDM's `ln sigma ~ N(p_mean, p_std^2)`, returning `sigma`; `p_mean = -1.2`,
    /// `p_std = 1.2` [KARRAS22, Table 1].
    EdmLogNormal {
        /// `P_mean`.
        p_mean: f64,
        /// `P_std`.
        p_std: f64,
    },
    /// Importance sampling from a piecewise-constant density (see [`ImportanceSampler`]).
    Importance(ImportanceSampler),
}

impl Serialize for NoiseLevelSampler {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        // The derived (remote) serializer, as is.
        Self::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for NoiseLevelSampler {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        // The derived (remote) deserializer, then the constructor's checks.
        let sampler = Self::deserialize(deserializer)?;
        sampler.validate().map_err(serde::de::Error::custom)?;
        Ok(sampler)
    }
}

/// The largest `ln sigma` a log-normal sampler may reach (`exp(709)` is `f64`'s limit).
const MAX_LOG_SIGMA: f64 = 700.0;

impl NoiseLevelSampler {
    /// `U(0, 1)`.
    pub fn uniform() -> Self {
        Self::Uniform { low: 0.0, high: 1.0 }
    }

    /// EDM's log-normal with the paper's parameters.
    pub fn edm() -> Self {
        Self::EdmLogNormal { p_mean: -1.2, p_std: 1.2 }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// Non-finite values, `low >= high` or a range too wide for `f64`, non-positive scales, a
    /// log-normal whose draws within ten standard deviations would overflow `f64`.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::Uniform { low, high } | Self::Stratified { low, high } => {
                finite("low", low)?;
                finite("high", high)?;
                ordered("low", low, "high", high)?;
                finite("high - low", high - low).map(|_| ())
            }
            Self::LogitNormal { mean, std } => {
                finite("mean", mean)?;
                positive("std", std).map(|_| ())
            }
            Self::EdmLogNormal { p_mean, p_std } => {
                finite("p_mean", p_mean)?;
                positive("p_std", p_std)?;
                // exp(p_mean + p_std z) must stay finite for |z| <= 10 (the sampler clamps z
                // there; a draw beyond has probability ~1e-23).
                crate::validate::in_range(
                    "|p_mean| + 10 p_std",
                    p_mean.abs() + 10.0 * p_std,
                    0.0,
                    MAX_LOG_SIGMA,
                    "[0, 700]",
                )
                .map(|_| ())
            }
            Self::Importance(_) => Ok(()),
        }
    }

    /// Draws `n` levels.
    pub fn sample<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Vec<f64> {
        match self {
            Self::Uniform { low, high } => {
                (0..n).map(|_| low + (high - low) * rng.random::<f64>()).collect()
            }
            Self::Stratified { low, high } => {
                let u: f64 = rng.random();
                (0..n).map(|i| low + (high - low) * (u + i as f64 / n as f64).fract()).collect()
            }
            Self::LogitNormal { mean, std } => (0..n)
                .map(|_| {
                    let z: f64 = rng.sample(StandardNormal);
                    1.0 / (1.0 + (-(mean + std * z)).exp())
                })
                .collect(),
            Self::EdmLogNormal { p_mean, p_std } => (0..n)
                .map(|_| {
                    let z: f64 = rng.sample(StandardNormal);
                    (p_mean + p_std * z.clamp(-10.0, 10.0)).exp()
                })
                .collect(),
            Self::Importance(sampler) => {
                sampler.sample(n, rng).into_iter().map(|(t, _)| t).collect()
            }
        }
    }

    /// Draws `n` levels into a tensor on `device`.
    ///
    /// # Shapes
    /// `[n]`.
    pub fn sample_tensor<R: Rng + ?Sized>(
        &self,
        n: usize,
        device: &Device,
        rng: &mut R,
    ) -> Tensor<1> {
        let values: Vec<f32> = self.sample(n, rng).into_iter().map(|t| t as f32).collect();
        Tensor::from_data(TensorData::new(values, [n]), device)
    }
}

/// Importance sampling of `t` from a density proportional to given non-negative weights on
/// the cells of a grid, uniform within each cell. Each draw comes with its importance weight
/// `1 / q(t)`, so `E_q[g(t) / q(t)] = integral of g` stays unbiased while the draws
/// concentrate where the weights are large [KINGMA21, App. I.2; KINGMA23, Sec. 4].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawImportanceSampler")]
pub struct ImportanceSampler {
    edges: Vec<f64>,
    cdf: Vec<f64>,
    density: Vec<f64>,
}

/// [`ImportanceSampler`]'s tables as read from JSON: rebuilt by [`ImportanceSampler::new`]
/// from the edges and the cell masses `density * width` (the stored `cdf` is derived).
#[derive(Deserialize)]
struct RawImportanceSampler {
    edges: Vec<f64>,
    density: Vec<f64>,
}

impl TryFrom<RawImportanceSampler> for ImportanceSampler {
    type Error = CoreError;
    fn try_from(raw: RawImportanceSampler) -> Result<Self> {
        let widths: Vec<f64> = raw.edges.windows(2).map(|e| e[1] - e[0]).collect();
        let weights = raw
            .density
            .iter()
            .zip(widths.iter().chain(std::iter::repeat(&1.0)))
            .map(|(d, w)| d * w)
            .collect();
        Self::new(raw.edges, weights)
    }
}

impl ImportanceSampler {
    /// A sampler with cell `i = [edges[i], edges[i+1])` of mass proportional to `weights[i]`.
    ///
    /// # Errors
    /// Fewer than two edges; edges not strictly increasing or not finite; a weight negative
    /// or not finite; `weights.len() != edges.len() - 1`; all weights zero.
    pub fn new(edges: Vec<f64>, weights: Vec<f64>) -> Result<Self> {
        count("cells", edges.len().saturating_sub(1))?;
        if weights.len() != edges.len() - 1 {
            return Err(CoreError::LengthMismatch {
                name: "weights",
                expected: edges.len() - 1,
                got: weights.len(),
            });
        }
        for &e in &edges {
            finite("edge", e)?;
        }
        if let Some(index) = edges.windows(2).position(|w| w[1] <= w[0]) {
            return Err(CoreError::NotMonotone { name: "edges", index: index + 1 });
        }
        for &w in &weights {
            crate::validate::non_negative("weight", w)?;
        }
        let total: f64 = weights.iter().sum();
        positive("sum of weights", total)?;
        let mut cdf = Vec::with_capacity(weights.len());
        let mut acc = 0.0;
        for &w in &weights {
            acc += w / total;
            cdf.push(acc);
        }
        let density =
            weights.iter().zip(edges.windows(2)).map(|(w, e)| w / total / (e[1] - e[0])).collect();
        Ok(Self { edges, cdf, density })
    }

    /// The sampling density `q(t)`.
    pub fn pdf(&self, t: f64) -> f64 {
        match self.cell(t) {
            Some(i) => self.density[i],
            None => 0.0,
        }
    }

    fn cell(&self, t: f64) -> Option<usize> {
        let last = *self.edges.last()?;
        if t < self.edges[0] || t > last {
            return None;
        }
        Some(self.edges.partition_point(|&e| e <= t).saturating_sub(1).min(self.density.len() - 1))
    }

    /// Draws `n` pairs `(t, 1 / q(t))`.
    pub fn sample<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Vec<(f64, f64)> {
        (0..n)
            .map(|_| {
                let u: f64 = rng.random();
                // First cell whose cumulative mass reaches u; skip zero-mass cells.
                let i = self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1);
                let i = (i..self.density.len()).find(|&j| self.density[j] > 0.0).unwrap_or(i);
                let (lo, hi) = (self.edges[i], self.edges[i + 1]);
                let t = lo + (hi - lo) * rng.random::<f64>();
                (t, 1.0 / self.density[i])
            })
            .collect()
    }
}
