//! Euler and Heun on a flow ODE `dx/dt = v(x, t)` along a time grid.
//!
//! Direction: the grid may run either way; the step is `dt = t_{i+1} - t_i`, signed. With the
//! workspace convention (t = 0 data, t = 1 noise, e.g. [`crate::denoiser::DenoiserVelocity`]
//! or a `Flow`-schedule velocity network), integrate from near 1 down
//! to 0; with torchcfm's (t = 0 noise, t = 1 data) from 0 up to 1.

use burn::tensor::Tensor;

use super::{Calls, FlowSampler};
use crate::denoiser::{Velocity, VelocityField};
use crate::error::Result;
use crate::noise::NoiseSource;

/// Euler's method: `x <- x + (t_{i+1} - t_i) v(x, t_i)`; one call per step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FlowEuler;

impl FlowSampler for FlowEuler {
    fn walk<const D: usize, F: VelocityField<D>, S: NoiseSource>(
        &self,
        field: &mut Calls<'_, F, Velocity>,
        mut x: Tensor<D>,
        times: &[f64],
        _noise: &mut S,
    ) -> Result<Tensor<D>> {
        for step_idx in 0..times.len() - 1 {
            let dt = times[step_idx + 1] - times[step_idx];
            let v = field.call(&x, times[step_idx], step_idx)?;
            x = x + v.mul_scalar(dt);
        }
        Ok(x)
    }
}

/// Heun's method (explicit trapezoid): `x' = x + dt v(x, t_i)`,
/// `x <- x + dt (v(x, t_i) + v(x', t_{i+1})) / 2`; two calls per step, including the last
/// (the field must accept the grid's end point).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FlowHeun;

impl FlowSampler for FlowHeun {
    fn walk<const D: usize, F: VelocityField<D>, S: NoiseSource>(
        &self,
        field: &mut Calls<'_, F, Velocity>,
        mut x: Tensor<D>,
        times: &[f64],
        _noise: &mut S,
    ) -> Result<Tensor<D>> {
        for step_idx in 0..times.len() - 1 {
            let dt = times[step_idx + 1] - times[step_idx];
            let v = field.call(&x, times[step_idx], step_idx)?;
            let x_euler = x.clone() + v.clone().mul_scalar(dt);
            let v_2 = field.call(&x_euler, times[step_idx + 1], step_idx)?;
            x = x + (v + v_2).mul_scalar(0.5 * dt);
        }
        Ok(x)
    }
}
