//! Discrete-time beta schedules (DDPM family) and the zero-terminal-SNR rescale.

use std::f64::consts::FRAC_PI_2;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::NoiseSchedule;
use crate::error::{CoreError, Result};
use crate::validate::{count, finite, ordered, size};

/// The beta schedules of the DDPM family, named as diffusers names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BetaSchedule {
    /// `linspace(beta_start, beta_end, T)` [HO20, Sec. 4].
    Linear,
    /// `linspace(sqrt(beta_start), sqrt(beta_end), T)^2` (latent diffusion's schedule).
    ScaledLinear,
    /// Nichol & Dhariwal's cosine, `s = 0.008`, betas capped at `0.999` [NICHOL21, Eq. 17].
    SquaredCosCapV2,
    /// `sigmoid(linspace(-6, 6, T)) (beta_end - beta_start) + beta_start` (GeoDiff).
    Sigmoid,
}

impl BetaSchedule {
    /// Every schedule, in the order of diffusers' documentation.
    pub const ALL: [BetaSchedule; 4] =
        [Self::Linear, Self::ScaledLinear, Self::SquaredCosCapV2, Self::Sigmoid];

    /// The diffusers name (`linear`, `scaled_linear`, `squaredcos_cap_v2`, `sigmoid`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::ScaledLinear => "scaled_linear",
            Self::SquaredCosCapV2 => "squaredcos_cap_v2",
            Self::Sigmoid => "sigmoid",
        }
    }
}

impl fmt::Display for BetaSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown schedule name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSchedule(pub String);

impl fmt::Display for UnknownSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = BetaSchedule::ALL.iter().map(|s| s.name()).collect();
        write!(f, "unknown schedule '{}' (expected one of: {})", self.0, names.join(", "))
    }
}

impl std::error::Error for UnknownSchedule {}

impl FromStr for BetaSchedule {
    type Err = UnknownSchedule;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| UnknownSchedule(s.to_string()))
    }
}

/// Nichol & Dhariwal's cap on cosine betas, so that the last step is not singular
/// [NICHOL21, Sec. 3.2].
pub const COSINE_MAX_BETA: f64 = 0.999;
/// The cosine schedule's offset `s` [NICHOL21, Sec. 3.2].
pub const COSINE_S: f64 = 0.008;

/// A tabulated schedule: betas and their cumulative products `alpha_bar_i = prod (1 - beta_j)`.
///
/// Index `i` in `0..T` sits at time `t_i = i / T`; between grid points `alpha = sqrt(alpha_bar)`
/// is interpolated linearly, and times outside `[0, (T-1)/T]` are clamped to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawDiscreteSchedule")]
pub struct DiscreteSchedule {
    betas: Vec<f64>,
    alphas_cumprod: Vec<f64>,
}

/// [`DiscreteSchedule`]'s tables as read from JSON: the betas are checked by
/// [`DiscreteSchedule::from_betas`], and the cumulative products must be theirs.
#[derive(Deserialize)]
struct RawDiscreteSchedule {
    betas: Vec<f64>,
    alphas_cumprod: Vec<f64>,
}

impl TryFrom<RawDiscreteSchedule> for DiscreteSchedule {
    type Error = CoreError;
    fn try_from(raw: RawDiscreteSchedule) -> Result<Self> {
        let schedule = Self::from_betas(raw.betas)?;
        crate::validate::same_length(
            "alphas_cumprod",
            schedule.alphas_cumprod.len(),
            raw.alphas_cumprod.len(),
        )?;
        // NaN in the stored table counts as inconsistent.
        let agrees = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(1e-300);
        let inconsistent = schedule
            .alphas_cumprod
            .iter()
            .zip(&raw.alphas_cumprod)
            .position(|(&a, &b)| !agrees(a, b));
        match inconsistent {
            None => Ok(schedule),
            Some(index) => Err(CoreError::OutOfRange {
                name: "alphas_cumprod",
                value: raw.alphas_cumprod[index],
                range: "the cumulative products of the betas",
            }),
        }
    }
}

fn linspace(start: f64, end: f64, n: usize) -> impl Iterator<Item = f64> {
    let step = if n > 1 { (end - start) / (n - 1) as f64 } else { 0.0 };
    (0..n).map(move |i| start + step * i as f64)
}

/// `alpha_bar(t) = cos^2((t + s)/(1 + s) pi/2)`, unnormalised [NICHOL21, Eq. 17].
fn cosine_alpha_bar(t: f64) -> f64 {
    ((t + COSINE_S) / (1.0 + COSINE_S) * FRAC_PI_2).cos().powi(2)
}

impl DiscreteSchedule {
    /// Builds one of diffusers' beta schedules with `n_steps` training steps.
    ///
    /// `beta_start` and `beta_end` are ignored by the cosine schedule. diffusers' defaults are
    /// `1e-4` and `0.02` [HO20, Sec. 4].
    ///
    /// # Errors
    /// Zero steps; betas that are not finite or not in `(0, 1)`; `beta_start >= beta_end`.
    pub fn new(kind: BetaSchedule, n_steps: usize, beta_start: f64, beta_end: f64) -> Result<Self> {
        size("n_steps", n_steps)?;
        if kind != BetaSchedule::SquaredCosCapV2 {
            for (name, beta) in [("beta_start", beta_start), ("beta_end", beta_end)] {
                finite(name, beta)?;
                if !(beta > 0.0 && beta < 1.0) {
                    return Err(CoreError::OutOfRange { name, value: beta, range: "(0, 1)" });
                }
            }
            ordered("beta_start", beta_start, "beta_end", beta_end)?;
        }
        let n = n_steps;
        let betas: Vec<f64> = match kind {
            BetaSchedule::Linear => linspace(beta_start, beta_end, n).collect(),
            BetaSchedule::ScaledLinear => {
                linspace(beta_start.sqrt(), beta_end.sqrt(), n).map(|b| b * b).collect()
            }
            BetaSchedule::SquaredCosCapV2 => (0..n)
                .map(|i| {
                    let (t1, t2) = (i as f64 / n as f64, (i + 1) as f64 / n as f64);
                    // Floating-point division: integer division here gives 999 zero betas.
                    (1.0 - cosine_alpha_bar(t2) / cosine_alpha_bar(t1)).min(COSINE_MAX_BETA)
                })
                .collect(),
            BetaSchedule::Sigmoid => linspace(-6.0, 6.0, n)
                .map(|x| 1.0 / (1.0 + (-x).exp()) * (beta_end - beta_start) + beta_start)
                .collect(),
        };
        Self::from_betas(betas)
    }

    /// diffusers' defaults for `kind`: `T = 1000`, `beta_start = 1e-4`, `beta_end = 0.02`.
    pub fn diffusers(kind: BetaSchedule) -> Self {
        Self::new(kind, 1000, 1e-4, 0.02).expect("defaults are valid")
    }

    /// A schedule from explicit betas.
    ///
    /// # Errors
    /// Empty input; a beta that is not finite or not in `(0, 1]` (`1` is allowed: a
    /// zero-terminal-SNR schedule ends on it).
    pub fn from_betas(betas: Vec<f64>) -> Result<Self> {
        count("betas.len()", betas.len())?;
        for &beta in &betas {
            finite("beta", beta)?;
            if !(beta > 0.0 && beta <= 1.0) {
                return Err(CoreError::OutOfRange { name: "beta", value: beta, range: "(0, 1]" });
            }
        }
        let alphas_cumprod = betas
            .iter()
            .scan(1.0, |acc, beta| {
                *acc *= 1.0 - beta;
                Some(*acc)
            })
            .collect();
        Ok(Self { betas, alphas_cumprod })
    }

    /// Rescales so that the last step has zero SNR while the first keeps its own
    /// [LIN24, Alg. 1]: shift `sqrt(alpha_bar)` so its last value is 0, scale so its first is
    /// unchanged, and recover betas from the ratios.
    ///
    /// # Errors
    /// A schedule with a single step or a constant `alpha_bar` (nothing to rescale).
    pub fn rescale_zero_terminal_snr(&self) -> Result<Self> {
        let sqrt_ab: Vec<f64> = self.alphas_cumprod.iter().map(|a| a.sqrt()).collect();
        let (first, last) = (sqrt_ab[0], sqrt_ab[sqrt_ab.len() - 1]);
        let falls = first > last; // false for NaN too
        if !falls {
            return Err(CoreError::Degenerate {
                what: "rescale a schedule whose alpha_bar is constant",
            });
        }
        let scale = first / (first - last);
        let alpha_bar: Vec<f64> = sqrt_ab.iter().map(|a| ((a - last) * scale).powi(2)).collect();
        let betas = std::iter::once(1.0 - alpha_bar[0])
            .chain(alpha_bar.windows(2).map(|w| 1.0 - w[1] / w[0]))
            .collect();
        Self::from_betas(betas)
    }

    /// Number of training steps `T`.
    pub fn len(&self) -> usize {
        self.betas.len()
    }

    /// Always false: a schedule has at least one step.
    pub fn is_empty(&self) -> bool {
        self.betas.is_empty()
    }

    /// `beta_i`.
    pub fn betas(&self) -> &[f64] {
        &self.betas
    }

    /// `alpha_bar_i = prod_{j <= i} (1 - beta_j)` [HO20, Eq. 4].
    pub fn alphas_cumprod(&self) -> &[f64] {
        &self.alphas_cumprod
    }

    /// The VE noise level of each step, `sigma_i = sqrt((1 - alpha_bar_i) / alpha_bar_i)`
    /// (k-diffusion's `DiscreteSchedule.sigmas`); `inf` where `alpha_bar = 0`.
    pub fn sigmas(&self) -> Vec<f64> {
        self.alphas_cumprod.iter().map(|a| ((1.0 - a) / a).sqrt()).collect()
    }

    /// `lambda_i = ln(alpha_bar_i / (1 - alpha_bar_i))`.
    pub fn log_snrs(&self) -> Vec<f64> {
        self.alphas_cumprod.iter().map(|a| a.ln() - (1.0 - a).ln()).collect()
    }

    /// Fractional grid position of `t` and the segment it falls in.
    fn locate(&self, t: f64) -> (usize, f64) {
        let last = (self.len() - 1) as f64;
        let pos = (t * self.len() as f64).clamp(0.0, last);
        let i = (pos.floor() as usize).min(self.len().saturating_sub(2));
        (i, pos - i as f64)
    }

    fn sqrt_ab(&self, i: usize) -> f64 {
        self.alphas_cumprod[i].sqrt()
    }
}

impl NoiseSchedule for DiscreteSchedule {
    fn alpha(&self, t: f64) -> f64 {
        if self.len() == 1 {
            return self.sqrt_ab(0);
        }
        let (i, frac) = self.locate(t);
        self.sqrt_ab(i) + frac * (self.sqrt_ab(i + 1) - self.sqrt_ab(i))
    }
    fn sigma(&self, t: f64) -> f64 {
        let alpha = self.alpha(t);
        ((1.0 - alpha) * (1.0 + alpha)).max(0.0).sqrt()
    }
    fn d_alpha(&self, t: f64) -> f64 {
        if self.len() == 1 {
            return 0.0;
        }
        let (i, _) = self.locate(t);
        (self.sqrt_ab(i + 1) - self.sqrt_ab(i)) * self.len() as f64
    }
    fn d_sigma(&self, t: f64) -> f64 {
        -self.alpha(t) * self.d_alpha(t) / self.sigma(t)
    }
    fn t_from_log_snr(&self, log_snr: f64) -> f64 {
        let target = (1.0 / (1.0 + (-log_snr).exp())).sqrt();
        let n = self.len();
        // sqrt(alpha_bar) decreases with i: find the first grid point at or below target.
        let j = (0..n).find(|&i| self.sqrt_ab(i) <= target).unwrap_or(n - 1);
        if j == 0 {
            return 0.0;
        }
        let (hi, lo) = (self.sqrt_ab(j - 1), self.sqrt_ab(j));
        let frac = if hi > lo { (hi - target) / (hi - lo) } else { 0.0 };
        (j as f64 - 1.0 + frac) / n as f64
    }
}

/// The `betas` and `alphas_cumprod` tables as diffusers' `DDPMScheduler` computes them: the
/// same formulas, but rounded to `f32` and accumulated in `f32` (including the zero-SNR
/// rescale). Use it to compare against diffusers output; [`DiscreteSchedule`] itself keeps
/// `f64`, which differs from these tables by float32 rounding (up to ~1e-5 relative on the
/// smallest `alpha_bar`, and ~1e-3 on zero-SNR betas, where diffusers' float32 division
/// cancels).
///
/// # Errors
/// As [`DiscreteSchedule::new`] and [`DiscreteSchedule::rescale_zero_terminal_snr`].
pub fn diffusers_f32_tables(
    kind: BetaSchedule,
    n_steps: usize,
    beta_start: f64,
    beta_end: f64,
    zero_terminal_snr: bool,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let exact = DiscreteSchedule::new(kind, n_steps, beta_start, beta_end)?;
    if zero_terminal_snr {
        exact.rescale_zero_terminal_snr()?;
    }
    let mut betas: Vec<f32> = exact.betas().iter().map(|&b| b as f32).collect();
    if zero_terminal_snr {
        let sqrt_ab: Vec<f32> = cumprod_f32(&betas).iter().map(|a| a.sqrt()).collect();
        let (first, last) = (sqrt_ab[0], sqrt_ab[sqrt_ab.len() - 1]);
        let scale = first / (first - last);
        let alpha_bar: Vec<f32> = sqrt_ab.iter().map(|a| ((a - last) * scale).powi(2)).collect();
        betas = std::iter::once(1.0 - alpha_bar[0])
            .chain(alpha_bar.windows(2).map(|w| 1.0 - w[1] / w[0]))
            .collect();
    }
    let alphas_cumprod = cumprod_f32(&betas);
    Ok((betas, alphas_cumprod))
}

fn cumprod_f32(betas: &[f32]) -> Vec<f32> {
    betas
        .iter()
        .scan(1.0f32, |acc, beta| {
            *acc *= 1.0 - beta;
            Some(*acc)
        })
        .collect()
}
