//! Where samplers get their noise: every stochastic sampler draws Gaussian noise only
//! through a [`NoiseSource`], so a caller decides reproducibility (one seed for the batch,
//! or one seeded generator per batch row so that a sample does not depend on its batch-mates).

use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::StandardNormal;

use crate::error::{DiffusionError, Result};

/// A source of standard normal noise.
pub trait NoiseSource {
    /// `N(0, I)` noise of `shape` on `device`.
    ///
    /// # Errors
    /// A shape the source cannot serve (a per-row source asked for another batch size).
    fn standard_normal<const D: usize>(
        &mut self,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Tensor<D>>;
}

fn draw(rng: &mut (impl Rng + ?Sized), n: usize) -> impl Iterator<Item = f64> + '_ {
    (0..n).map(move |_| rng.sample::<f64, _>(StandardNormal))
}

/// Noise drawn on the host, row-major, from one generator for the whole batch.
#[derive(Debug, Clone)]
pub struct HostNoise<R> {
    rng: R,
}

impl HostNoise<StdRng> {
    /// A `StdRng` seeded with `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self { rng: StdRng::seed_from_u64(seed) }
    }
}

impl<R: Rng> HostNoise<R> {
    /// Noise from `rng`.
    pub fn new(rng: R) -> Self {
        Self { rng }
    }
}

impl<R: Rng> NoiseSource for HostNoise<R> {
    fn standard_normal<const D: usize>(
        &mut self,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Tensor<D>> {
        let n = shape.iter().product();
        let values: Vec<f64> = draw(&mut self.rng, n).collect();
        Ok(Tensor::from_data(TensorData::new(values, shape), device))
    }
}

/// Noise with one generator per batch row: row `i` of every draw comes from generator `i`,
/// so sample `i` is the same whatever else is in its batch (diffusers' list of generators).
#[derive(Debug, Clone)]
pub struct PerRowNoise<R> {
    rngs: Vec<R>,
}

impl PerRowNoise<StdRng> {
    /// One `StdRng` per row, seeded with `seeds[i]`.
    pub fn seeded(seeds: &[u64]) -> Self {
        Self { rngs: seeds.iter().map(|&s| StdRng::seed_from_u64(s)).collect() }
    }
}

impl<R: Rng> PerRowNoise<R> {
    /// One generator per row.
    pub fn new(rngs: Vec<R>) -> Self {
        Self { rngs }
    }
}

impl<R: Rng> NoiseSource for PerRowNoise<R> {
    fn standard_normal<const D: usize>(
        &mut self,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Tensor<D>> {
        let batch = shape.first().copied().unwrap_or(1);
        if batch != self.rngs.len() {
            return Err(DiffusionError::Length {
                what: "per-row noise generators",
                batch,
                got: self.rngs.len(),
            });
        }
        let per_row: usize = shape.iter().skip(1).product();
        let values: Vec<f64> = self.rngs.iter_mut().flat_map(|rng| draw(rng, per_row)).collect();
        Ok(Tensor::from_data(TensorData::new(values, shape), device))
    }
}
