//! Sample quality of 2-D flows: exact-OT W2 and energy distance between model samples and
//! fresh target points at each number of Euler steps (NFE), over several independent draws,
//! against the floor between two target samples of the same size; the dispersion of the
//! samples against the target's (an under-dispersed model can beat the W2 floor of one draw,
//! never its covariance); and their scatter panels.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use stoke_core::transport::{energy_distance, w2};
use stoke_data::Rgb8Image;
use stoke_data::toy::{self, Toy};
use stoke_diffusion::denoiser::VelocityField;
use stoke_diffusion::guidance::Guidance;
use stoke_diffusion::noise::HostNoise;
use stoke_diffusion::sampler::{FlowEuler, FlowSampler};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Stat;
use crate::error::{Result, TrainError};

/// 2-D points on the host.
pub type Points = Vec<[f32; 2]>;

/// Points as a `[n, 2]` tensor.
pub fn points_tensor(points: &[[f32; 2]], device: &Device) -> Tensor<2> {
    let flat: Vec<f32> = points.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [points.len(), 2]), device)
}

/// A `[n, 2]` tensor as points.
pub fn to_points(x: Tensor<2>) -> Points {
    let values: Vec<f32> = x.into_data().iter::<f32>().collect();
    values.chunks(2).map(|c| [c[0], c[1]]).collect()
}

/// Points as `f64` coordinates, row-major, for `stoke-core`'s transport.
pub fn flat64(points: &[[f32; 2]]) -> Vec<f64> {
    points.iter().flatten().map(|&v| f64::from(v)).collect()
}

/// `n` standard-normal 2-D points.
pub fn gaussian<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Points {
    (0..n).map(|_| [StandardNormal.sample(rng), StandardNormal.sample(rng)]).collect()
}

/// `0, 1/nfe, ..., 1`: the Euler grid from the source (`t = 0`) to the target.
pub fn unit_grid(nfe: usize) -> Vec<f64> {
    (0..=nfe).map(|k| k as f64 / nfe as f64).collect()
}

/// Where `nfe` Euler steps of `field` take `noise`.
///
/// # Errors
/// The sampler's errors; samples that are not finite.
pub fn sample_flow<F: VelocityField<2>>(
    field: &F,
    noise: &[[f32; 2]],
    nfe: usize,
    device: &Device,
) -> Result<Points> {
    let out = FlowEuler.sample(
        field,
        points_tensor(noise, device),
        &unit_grid(nfe),
        &Guidance::unconditional(),
        &mut HostNoise::seeded(0),
    )?;
    let samples = to_points(out.x);
    if samples.iter().flatten().any(|v| !v.is_finite()) {
        return Err(TrainError::Invalid(format!("sampling at NFE {nfe} produced NaN")));
    }
    Ok(samples)
}

/// Where a 2-D flow starts: N(0, I) or a toy (JSON and the command line: `gaussian` or the
/// toy's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Source {
    /// The standard normal.
    Gaussian,
    /// A toy distribution.
    Toy(Toy),
}

impl Source {
    /// `n` points of the source.
    pub fn sample<R: Rng + ?Sized>(self, n: usize, rng: &mut R) -> Points {
        match self {
            Self::Gaussian => gaussian(n, rng),
            Self::Toy(t) => toy::sample(t, n, rng),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Gaussian => f.write_str("gaussian"),
            Self::Toy(t) => f.write_str(t.name()),
        }
    }
}

impl FromStr for Source {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self> {
        if s == "gaussian" {
            return Ok(Self::Gaussian);
        }
        s.parse()
            .map(Self::Toy)
            .map_err(|e| TrainError::Invalid(format!("--source: {e} (or 'gaussian' for N(0, I))")))
    }
}

impl TryFrom<String> for Source {
    type Error = TrainError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Source> for String {
    fn from(source: Source) -> Self {
        source.to_string()
    }
}

/// `tr Cov(x) / tr Cov(y)`: 1 for clouds of the same spread, below 1 for an under-dispersed
/// `x` (a mode-collapsed or shrunk model).
///
/// # Shapes
/// `x`, `y`: `[n, 2]` points, `n >= 2`.
pub fn dispersion(x: &[[f32; 2]], y: &[[f32; 2]]) -> f64 {
    fn spread(points: &[[f32; 2]]) -> f64 {
        let n = points.len() as f64;
        let mean = |d: usize| points.iter().map(|p| f64::from(p[d])).sum::<f64>() / n;
        let (mx, my) = (mean(0), mean(1));
        points
            .iter()
            .map(|p| (f64::from(p[0]) - mx).powi(2) + (f64::from(p[1]) - my).powi(2))
            .sum::<f64>()
            / (n - 1.0)
    }
    spread(x) / spread(y)
}

/// How a 2-D model is scored: `draws` independent rounds, each of `n` model samples (from
/// fresh source noise) and `n` fresh target points, plus `n` more target points for the floor.
#[derive(Debug, Clone, Copy)]
pub struct Protocol {
    /// Points per sample set.
    pub n: usize,
    /// Independent draws.
    pub draws: usize,
    /// Seed of the draws (each draw's stream is a function of it and the draw's index).
    pub seed: u64,
}

impl Protocol {
    /// The RNG of draw `k`.
    fn rng(&self, k: usize) -> StdRng {
        StdRng::seed_from_u64(self.seed.wrapping_add(0xE7A1) ^ ((k as u64 + 1) << 32))
    }

    /// The reference and floor target points and the source noise of every draw.
    pub fn draw(&self, source: &Source, target: Toy) -> Vec<Draw> {
        (0..self.draws)
            .map(|k| {
                let mut rng = self.rng(k);
                let reference = toy::sample(target, self.n, &mut rng);
                let fresh = toy::sample(target, self.n, &mut rng);
                let noise = source.sample(self.n, &mut rng);
                Draw { reference, fresh, noise }
            })
            .collect()
    }
}

/// One draw of [`Protocol::draw`].
pub struct Draw {
    /// Target points the samples are compared with.
    pub reference: Points,
    /// Independent target points: the floor's side.
    pub fresh: Points,
    /// Source points the model integrates.
    pub noise: Points,
}

/// The floor: a target sample against another, per draw.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Floor {
    /// W2 between two target samples.
    pub w2: Stat,
    /// Energy distance between two target samples.
    pub energy_distance: Stat,
}

impl Floor {
    /// The floor over `draws`.
    ///
    /// # Errors
    /// Transport input errors.
    pub fn of(draws: &[Draw]) -> Result<Self> {
        let (mut w, mut e) = (Vec::new(), Vec::new());
        for d in draws {
            w.push(w2(&flat64(&d.fresh), &flat64(&d.reference), 2)?);
            e.push(energy_distance(&flat64(&d.fresh), &flat64(&d.reference), 2)?);
        }
        Ok(Self { w2: Stat::of(&w), energy_distance: Stat::of(&e) })
    }
}

/// A model's scores at each NFE, each a [`Stat`] over the draws.
pub struct NfeScores {
    /// W2 to the reference, by NFE.
    pub w2: BTreeMap<usize, Stat>,
    /// Energy distance to the reference, by NFE.
    pub energy_distance: BTreeMap<usize, Stat>,
    /// [`dispersion`] of the samples against the reference, by NFE.
    pub dispersion: BTreeMap<usize, Stat>,
    /// The first draw's samples, by NFE (for pictures).
    pub samples: BTreeMap<usize, Points>,
}

impl NfeScores {
    /// The `metrics.json` keys: `w2`, `energy_distance`, `dispersion` (means by NFE) and their
    /// `*_stderr`.
    pub fn to_json(&self) -> Map<String, Value> {
        let by_nfe = |m: &BTreeMap<usize, Stat>, f: fn(&Stat) -> f64| -> Value {
            Value::Object(m.iter().map(|(k, s)| (k.to_string(), json!(f(s)))).collect())
        };
        let mut out = Map::new();
        for (key, m) in [
            ("w2", &self.w2),
            ("energy_distance", &self.energy_distance),
            ("dispersion", &self.dispersion),
        ] {
            out.insert(key.into(), by_nfe(m, |s| s.mean));
            out.insert(format!("{key}_stderr"), by_nfe(m, |s| s.stderr));
        }
        out
    }
}

/// Samples `field` from every draw's noise at every NFE of `eval_nfe` and scores each against
/// the draw's reference points.
///
/// # Errors
/// As [`sample_flow`]; transport input errors.
pub fn score_per_nfe<F: VelocityField<2>>(
    field: &F,
    draws: &[Draw],
    eval_nfe: &[usize],
    device: &Device,
) -> Result<NfeScores> {
    let mut scores = NfeScores {
        w2: BTreeMap::new(),
        energy_distance: BTreeMap::new(),
        dispersion: BTreeMap::new(),
        samples: BTreeMap::new(),
    };
    for &nfe in eval_nfe {
        let (mut w, mut e, mut d) = (Vec::new(), Vec::new(), Vec::new());
        for (k, draw) in draws.iter().enumerate() {
            let samples = sample_flow(field, &draw.noise, nfe, device)?;
            w.push(w2(&flat64(&samples), &flat64(&draw.reference), 2)?);
            e.push(energy_distance(&flat64(&samples), &flat64(&draw.reference), 2)?);
            d.push(dispersion(&samples, &draw.reference));
            if k == 0 {
                scores.samples.insert(nfe, samples);
            }
        }
        scores.w2.insert(nfe, Stat::of(&w));
        scores.energy_distance.insert(nfe, Stat::of(&e));
        scores.dispersion.insert(nfe, Stat::of(&d));
    }
    Ok(scores)
}

/// The target's density histogram and plot bounds, for panels.
pub struct Backdrop {
    density: Vec<f32>,
    bounds: toy::Bounds,
}

impl Backdrop {
    /// `toy`'s density from 200,000 draws of `rng` on a 100x100 grid.
    pub fn new<R: Rng + ?Sized>(toy: Toy, rng: &mut R) -> Self {
        let bounds = toy::bounds(toy);
        // 100 is within the largest resolution, so the density always exists.
        let density = toy::density_image(toy, 200_000, rng, bounds, 100).unwrap_or_default();
        Self { density, bounds }
    }

    /// `points` scattered over the density, titled, `size` pixels square.
    pub fn panel(&self, points: &[[f32; 2]], title: &str, size: usize) -> Rgb8Image {
        stoke_data::plot::scatter_over_density(&self.density, 100, self.bounds, points, title, size)
    }
}
