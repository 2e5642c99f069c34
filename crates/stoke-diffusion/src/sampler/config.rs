//! The built-in samplers as one serialisable enum beside the open [`Sampler`] trait (as Burn
//! pairs its norms with `NormalizationConfig`), the noise-level grids they walk
//! ([`GridConfig`]), and the pair of the two that a run samples with ([`SamplerSpec`]).
//!
//! JSON: `{"kind": "heun", "churn": {"s_churn": 0}}`, `{"kind": "karras", "n": 18}`, and a
//! spec `{"sampler": {"kind": "heun"}, "grid": {"kind": "karras", "n": 18}}`, which also reads
//! from the short names runs report it under (`"heun_35"`: Heun on 18 Karras levels, 35 NFE).

use std::fmt;
use std::str::FromStr;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use stoke_core::schedule::{DiscreteSchedule, TimestepSpacing, sigmas_karras, timesteps};
use stoke_core::validate::{positive, size};

use super::{
    Calls, Ddim, Ddpm, DormandPrince, DpmSolverPp2m, Euler, EulerAncestral, Heun, Sampler,
    sigmas_for_timesteps,
};
use crate::denoiser::{Denoised, Denoiser};
use crate::error::{DiffusionError, Result};
use crate::noise::NoiseSource;

/// A built-in sampler with its settings (JSON: `{"kind": "heun", ...}`; omitted settings
/// take the sampler's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SamplerConfig {
    /// [`Ddpm`].
    Ddpm(Ddpm),
    /// [`Ddim`].
    Ddim(Ddim),
    /// [`Euler`].
    Euler(Euler),
    /// [`EulerAncestral`].
    EulerAncestral(EulerAncestral),
    /// [`Heun`].
    Heun(Heun),
    /// [`DpmSolverPp2m`].
    DpmSolverPp2m,
    /// [`DormandPrince`].
    DormandPrince(DormandPrince),
}

impl SamplerConfig {
    /// Every built-in sampler at its default settings: the law tests iterate this, so a new
    /// variant joins them by existing.
    pub fn all() -> [SamplerConfig; 7] {
        [
            Self::Ddpm(Ddpm::default()),
            Self::Ddim(Ddim::default()),
            Self::Euler(Euler::default()),
            Self::EulerAncestral(EulerAncestral::default()),
            Self::Heun(Heun::default()),
            Self::DpmSolverPp2m,
            Self::DormandPrince(DormandPrince::default()),
        ]
    }

    /// The variant's name (the JSON `kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Ddpm(_) => "ddpm",
            Self::Ddim(_) => "ddim",
            Self::Euler(_) => "euler",
            Self::EulerAncestral(_) => "euler_ancestral",
            Self::Heun(_) => "heun",
            Self::DpmSolverPp2m => "dpm_solver_pp2m",
            Self::DormandPrince(_) => "dormand_prince",
        }
    }

    /// Model calls for a grid of `n_levels` noise levels ending in 0 (`None` for the adaptive
    /// solver, whose count depends on the model).
    pub fn nfe(&self, n_levels: usize) -> Option<usize> {
        match self {
            // Two calls per step but one on the last step to 0 [KARRAS22, Alg. 1].
            Self::Heun(_) => Some((2 * n_levels).saturating_sub(1)),
            Self::DormandPrince(_) => None,
            _ => Some(n_levels),
        }
    }
}

impl Sampler for SamplerConfig {
    fn validate(&self) -> Result<()> {
        match self {
            Self::Ddpm(s) => s.validate(),
            Self::Ddim(s) => s.validate(),
            Self::Euler(s) => s.validate(),
            Self::EulerAncestral(s) => s.validate(),
            Self::Heun(s) => s.validate(),
            Self::DpmSolverPp2m => DpmSolverPp2m.validate(),
            Self::DormandPrince(s) => s.validate(),
        }
    }

    fn walk<const D: usize, M: Denoiser<D>, S: NoiseSource>(
        &self,
        model: &mut Calls<'_, M, Denoised>,
        x: Tensor<D>,
        sigmas: &[f64],
        noise: &mut S,
    ) -> Result<Tensor<D>> {
        match self {
            Self::Ddpm(s) => s.walk(model, x, sigmas, noise),
            Self::Ddim(s) => s.walk(model, x, sigmas, noise),
            Self::Euler(s) => s.walk(model, x, sigmas, noise),
            Self::EulerAncestral(s) => s.walk(model, x, sigmas, noise),
            Self::Heun(s) => s.walk(model, x, sigmas, noise),
            Self::DpmSolverPp2m => DpmSolverPp2m.walk(model, x, sigmas, noise),
            Self::DormandPrince(s) => s.walk(model, x, sigmas, noise),
        }
    }
}

/// What a grid is built from: a discrete schedule for timestep grids, a sigma range for the
/// continuous grids.
#[derive(Debug, Clone, Copy)]
pub struct NoiseLevels<'a> {
    /// The discrete (diffusers) schedule whose timesteps [`GridConfig::Timesteps`] picks.
    pub discrete: Option<&'a DiscreteSchedule>,
    /// The smallest positive level of a continuous grid.
    pub sigma_min: f64,
    /// The largest level of a continuous grid.
    pub sigma_max: f64,
}

/// A noise-level grid, ending in 0 (JSON: `{"kind": "karras", "n": 18}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum GridConfig {
    /// `n` levels from `sigma_max` to `sigma_min`, uniform in `sigma^(1/rho)`, then 0
    /// [KARRAS22, Eq. 5].
    Karras {
        /// Levels before the final 0.
        n: usize,
        /// The warp `rho` (7 in EDM).
        #[serde(default = "default_rho")]
        rho: f64,
    },
    /// `n` timesteps of the discrete schedule with diffusers' `spacing`, their VE levels,
    /// then 0 ([`sigmas_for_timesteps`]).
    Timesteps {
        /// Inference steps.
        n: usize,
        /// diffusers' `timestep_spacing`.
        #[serde(default = "default_spacing")]
        spacing: TimestepSpacing,
    },
}

fn default_rho() -> f64 {
    7.0
}

fn default_spacing() -> TimestepSpacing {
    TimestepSpacing::Leading
}

impl GridConfig {
    /// Checks the parameters.
    ///
    /// # Errors
    /// Zero levels; a non-positive `rho`.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::Karras { n, rho } => {
                size("n", n)?;
                positive("rho", rho)?;
            }
            Self::Timesteps { n, .. } => {
                size("n", n)?;
            }
        }
        Ok(())
    }

    /// Levels before the final 0.
    pub fn len(&self) -> usize {
        match *self {
            Self::Karras { n, .. } | Self::Timesteps { n, .. } => n,
        }
    }

    /// Whether the grid has no levels (an invalid grid).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The grid's noise levels, descending, ending in 0.
    ///
    /// # Errors
    /// Invalid parameters; a timestep grid without a discrete schedule, or with more steps
    /// than it has; an invalid sigma range.
    pub fn sigmas(&self, levels: &NoiseLevels) -> Result<Vec<f64>> {
        self.validate()?;
        match *self {
            Self::Karras { n, rho } => {
                Ok(sigmas_karras(n, levels.sigma_min, levels.sigma_max, rho)?)
            }
            Self::Timesteps { n, spacing } => {
                let schedule = levels.discrete.ok_or(DiffusionError::NoSchedule)?;
                let steps = timesteps(schedule.len(), n, spacing, 0)?;
                sigmas_for_timesteps(schedule, &steps)
            }
        }
    }
}

/// A sampler and the grid it walks: what a run samples with, and the key it reports under
/// ([`SamplerSpec::name`]). Reads from JSON as `{"sampler": ..., "grid": ...}` or as a short
/// name ([`SamplerSpec::from_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SpecRepr")]
pub struct SamplerSpec {
    /// The sampler.
    pub sampler: SamplerConfig,
    /// Its grid.
    pub grid: GridConfig,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SpecRepr {
    Name(String),
    Full { sampler: SamplerConfig, grid: GridConfig },
}

impl TryFrom<SpecRepr> for SamplerSpec {
    type Error = DiffusionError;
    fn try_from(repr: SpecRepr) -> Result<Self> {
        let spec = match repr {
            SpecRepr::Name(name) => name.parse()?,
            SpecRepr::Full { sampler, grid } => Self { sampler, grid },
        };
        spec.validate()?;
        Ok(spec)
    }
}

/// The short names (`<name>_<count>`): the sampler at its defaults on its usual grid.
const SHORT_NAMES: [&str; 5] = ["ddpm_ancestral", "ddim", "euler", "heun", "dpmpp2m"];

impl SamplerSpec {
    /// Checks the sampler and the grid.
    ///
    /// # Errors
    /// As [`Sampler::validate`] and [`GridConfig::validate`].
    pub fn validate(&self) -> Result<()> {
        self.sampler.validate()?;
        self.grid.validate()
    }

    /// Model calls the spec makes (`None` for the adaptive solver).
    pub fn nfe(&self) -> Option<usize> {
        self.sampler.nfe(self.grid.len())
    }

    /// The key a run reports this spec under: the short name for a default sampler on its
    /// usual grid (`ddim_50`, `heun_35`, ...), else `<kind>_<grid>_<n>`.
    pub fn name(&self) -> String {
        let short = match (self.sampler, self.grid) {
            (SamplerConfig::Ddpm(s), GridConfig::Timesteps { n, spacing })
                if s == Ddpm::default() && spacing == TimestepSpacing::Leading =>
            {
                Some(format!("ddpm_ancestral_{n}"))
            }
            (SamplerConfig::Ddim(s), GridConfig::Timesteps { n, spacing })
                if s == Ddim::default() && spacing == TimestepSpacing::Leading =>
            {
                Some(format!("ddim_{n}"))
            }
            (SamplerConfig::Euler(s), GridConfig::Karras { n, rho })
                if s == Euler::default() && rho == 7.0 =>
            {
                Some(format!("euler_{n}"))
            }
            (SamplerConfig::Heun(s), GridConfig::Karras { n, rho })
                if s == Heun::default() && rho == 7.0 =>
            {
                Some(format!("heun_{}", 2 * n - 1))
            }
            (SamplerConfig::DpmSolverPp2m, GridConfig::Karras { n, rho: 7.0 }) => {
                Some(format!("dpmpp2m_{n}"))
            }
            _ => None,
        };
        short.unwrap_or_else(|| {
            let grid = match self.grid {
                GridConfig::Karras { n, .. } => format!("karras_{n}"),
                GridConfig::Timesteps { n, .. } => format!("timesteps_{n}"),
            };
            format!("{}_{grid}", self.sampler.kind())
        })
    }
}

impl fmt::Display for SamplerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for SamplerSpec {
    type Err = DiffusionError;

    /// `ddpm_ancestral_N` and `ddim_N` (DDPM and DDIM on `N` leading timesteps), `euler_N`
    /// and `dpmpp2m_N` (on `N` Karras levels), `heun_N` (`N` model calls: `(N + 1) / 2`
    /// Karras levels, `N` odd).
    fn from_str(name: &str) -> Result<Self> {
        let unknown = || DiffusionError::UnknownSampler {
            name: name.to_string(),
            known: SHORT_NAMES.iter().map(|s| format!("{s}_N")).collect::<Vec<_>>().join(", "),
        };
        let (kind, n) = name.rsplit_once('_').ok_or_else(unknown)?;
        let n: usize = n.parse().map_err(|_| unknown())?;
        size("the sampler's step count", n)?;
        let karras = |n| GridConfig::Karras { n, rho: 7.0 };
        let leading = |n| GridConfig::Timesteps { n, spacing: TimestepSpacing::Leading };
        let (sampler, grid) = match kind {
            "ddpm_ancestral" => (SamplerConfig::Ddpm(Ddpm::default()), leading(n)),
            "ddim" => (SamplerConfig::Ddim(Ddim::default()), leading(n)),
            "euler" => (SamplerConfig::Euler(Euler::default()), karras(n)),
            "dpmpp2m" => (SamplerConfig::DpmSolverPp2m, karras(n)),
            "heun" if n % 2 == 1 => (SamplerConfig::Heun(Heun::default()), karras(n.div_ceil(2))),
            "heun" => {
                return Err(DiffusionError::UnknownSampler {
                    name: name.to_string(),
                    known: "heun_N counts model calls, which is odd (2 per level but the last)"
                        .into(),
                });
            }
            _ => return Err(unknown()),
        };
        Ok(Self { sampler, grid })
    }
}
