//! Rectified flow helpers [LIU22, Sec. 2]: the straightness of a learned flow, and reflow couplings
//! (noise paired with where the trained ODE takes it, to retrain on).

use burn::tensor::Tensor;

use crate::denoiser::{Velocity, VelocityField};
use crate::error::{DiffusionError, Result};
use crate::guidance::Guidance;
use crate::noise::NoiseSource;
use crate::sampler::{Calls, FlowSampler, check_times};
use crate::tensor::{batch_of, check_state, host};

/// The straightness of a flow along simulated paths.
#[derive(Debug, Clone)]
pub struct Straightness<const D: usize> {
    /// `S` per path.
    pub per_path: Vec<f64>,
    /// The mean over paths: the estimate of `S(Z)`.
    pub mean: f64,
    /// Where the paths end.
    pub endpoint: Tensor<D>,
    /// Model evaluations used.
    pub nfe: usize,
}

/// Liu et al.'s straightness `S = 1/|T| int ||(x_end - x_start) / T - v(x_t, t)||^2 |dt|`
/// along the Euler path of `dx/dt = v` over `times` (`T = t_end - t_start`); on `[0, 1]` this
/// is `int_0^1 E||(Z_1 - Z_0) - v(Z_t, t)||^2 dt` [LIU22, Sec. 2], zero exactly for straight
/// paths. The integral is the left Riemann sum on the grid, using the Euler step's own calls.
///
/// # Shapes
/// `x_start: [batch, ...]`.
///
/// # Errors
/// As [`crate::sampler::FlowEuler`].
pub fn straightness<const D: usize, F: VelocityField<D>>(
    field: &F,
    x_start: Tensor<D>,
    times: &[f64],
    guidance: &Guidance,
) -> Result<Straightness<D>> {
    check_times(times)?;
    check_state(&x_start, "the starting point")?;
    let batch = batch_of(&x_start);
    let span = times[times.len() - 1] - times[0];
    let mut model = Calls::<F, Velocity>::new(field, guidance);
    let mut x = x_start.clone();
    let mut velocities = Vec::with_capacity(times.len().saturating_sub(1));
    for step_idx in 0..times.len() - 1 {
        let dt = times[step_idx + 1] - times[step_idx];
        let v = model.call(&x, times[step_idx], step_idx)?;
        x = x + v.clone().mul_scalar(dt);
        velocities.push((dt, v));
    }
    let mut per_path = vec![0.0; batch];
    if span != 0.0 {
        let direction = (x.clone() - x_start).div_scalar(span);
        for (dt, v) in velocities {
            let gap = host((direction.clone() - v).square());
            let features = gap.len() / batch.max(1);
            for (row, s) in per_path.iter_mut().enumerate() {
                let sq: f64 = gap[row * features..(row + 1) * features].iter().sum();
                *s += sq * dt.abs() / span.abs();
            }
        }
    }
    let mean = per_path.iter().sum::<f64>() / batch.max(1) as f64;
    if !mean.is_finite() {
        return Err(DiffusionError::NonFiniteState { which: "the result" });
    }
    check_state(&x, "the result")?;
    Ok(Straightness { per_path, mean, endpoint: x, nfe: model.nfe() })
}

/// A reflow coupling: noise and the end point the trained flow takes it to.
#[derive(Debug, Clone)]
pub struct ReflowCoupling<const D: usize> {
    /// The starting noise.
    pub noise: Tensor<D>,
    /// The ODE's end point from it.
    pub endpoint: Tensor<D>,
    /// Model evaluations used.
    pub nfe: usize,
}

/// Generates reflow pairs [LIU22, Alg. 1, "Reflow"]: integrates the trained ODE from
/// `noise` along `times` with `sampler`, and returns `(noise, endpoint)`, the deterministic
/// coupling on which the next rectified flow is trained (with `x0 = noise`, `x1 = endpoint`
/// in [`crate::flow_matching`]'s convention).
///
/// # Errors
/// The sampler's errors.
pub fn reflow_coupling<const D: usize, F: VelocityField<D>, P: FlowSampler, S: NoiseSource>(
    field: &F,
    sampler: &P,
    noise: Tensor<D>,
    times: &[f64],
    guidance: &Guidance,
    noise_source: &mut S,
) -> Result<ReflowCoupling<D>> {
    let out = sampler.sample(field, noise.clone(), times, guidance, noise_source)?;
    Ok(ReflowCoupling { noise, endpoint: out.x, nfe: out.nfe })
}
