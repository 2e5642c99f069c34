//! Sample quality of 2-D flows: exact-OT W2 and energy distance between model samples and
//! fresh target points at each number of Euler steps (NFE), and their scatter panels.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use stoke_core::transport::{energy_distance, w2};
use stoke_data::Rgb8Image;
use stoke_data::toy::{self, Toy};
use stoke_diffusion::denoiser::VelocityField;
use stoke_diffusion::guidance::Guidance;
use stoke_diffusion::noise::HostNoise;
use stoke_diffusion::sampler::{FlowEuler, FlowSampler};

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

/// W2 and energy distance against `reference` at each NFE, with the samples.
pub struct NfeScores {
    /// W2 by NFE (keys are the NFE as text, as `metrics.json` writes them).
    pub w2: BTreeMap<String, f64>,
    /// Energy distance by NFE.
    pub energy_distance: BTreeMap<String, f64>,
    /// The samples by NFE.
    pub samples: BTreeMap<usize, Points>,
}

/// Samples `field` from `noise` at every NFE of `eval_nfe` and scores each against
/// `reference`.
///
/// # Errors
/// As [`sample_flow`]; transport input errors.
pub fn score_per_nfe<F: VelocityField<2>>(
    field: &F,
    noise: &[[f32; 2]],
    reference: &[[f32; 2]],
    eval_nfe: &[usize],
    device: &Device,
) -> Result<NfeScores> {
    let mut scores = NfeScores {
        w2: BTreeMap::new(),
        energy_distance: BTreeMap::new(),
        samples: BTreeMap::new(),
    };
    for &nfe in eval_nfe {
        let samples = sample_flow(field, noise, nfe, device)?;
        scores.w2.insert(nfe.to_string(), w2(&flat64(&samples), &flat64(reference), 2)?);
        scores
            .energy_distance
            .insert(nfe.to_string(), energy_distance(&flat64(&samples), &flat64(reference), 2)?);
        scores.samples.insert(nfe, samples);
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
        Self { density: toy::density_image(toy, 200_000, rng, bounds, 100), bounds }
    }

    /// `points` scattered over the density, titled, `size` pixels square.
    pub fn panel(&self, points: &[[f32; 2]], title: &str, size: usize) -> Rgb8Image {
        stoke_data::plot::scatter_over_density(&self.density, 100, self.bounds, points, title, size)
    }
}
