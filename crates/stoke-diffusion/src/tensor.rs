//! Small tensor helpers shared by the samplers and losses: per-row coefficients computed on
//! the host in `f64` and lifted to a broadcastable column, shape and finiteness checks.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::error::{DiffusionError, Result};

/// The batch size (the first dimension).
pub(crate) fn batch_of<const D: usize>(x: &Tensor<D>) -> usize {
    x.dims()[0]
}

/// The number of features per row (the product of the non-batch dimensions).
pub(crate) fn features_of<const D: usize>(x: &Tensor<D>) -> usize {
    x.dims()[1..].iter().product()
}

/// Checks that `values` has one entry or one per row, and returns one per row.
pub(crate) fn expand_rows(what: &'static str, values: &[f64], batch: usize) -> Result<Vec<f64>> {
    match values.len() {
        1 => Ok(vec![values[0]; batch]),
        n if n == batch => Ok(values.to_vec()),
        got => Err(DiffusionError::Length { what, batch, got }),
    }
}

/// Checks that `values` has one entry or one per row.
pub(crate) fn check_rows(what: &'static str, values: &[f64], batch: usize) -> Result<()> {
    if values.len() == 1 || values.len() == batch {
        Ok(())
    } else {
        Err(DiffusionError::Length { what, batch, got: values.len() })
    }
}

/// A `[n]` tensor of `values` on `device`.
pub(crate) fn vector(values: &[f64], device: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

/// A `[n]` integer tensor of `values` on `device`.
pub(crate) fn int_vector(values: &[i64], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

/// `values` as a column `[n, 1, ..., 1]` that broadcasts against a `[n, ...]` tensor.
pub(crate) fn column<const D: usize>(values: &[f64], device: &Device) -> Tensor<D> {
    let mut shape = [1usize; D];
    shape[0] = values.len();
    // [n] -> [n, 1, ..., 1]
    vector(values, device).reshape(shape)
}

/// Multiplies each row of `x` by its coefficient (`c` has one entry or one per row).
pub(crate) fn scale_rows<const D: usize>(x: Tensor<D>, c: &[f64]) -> Tensor<D> {
    if c.len() == 1 {
        x.mul_scalar(c[0])
    } else {
        let device = x.device();
        x * column::<D>(c, &device)
    }
}

/// Checks that `got` has the shape of `expected`.
pub(crate) fn check_same_shape<const D: usize>(
    what: &'static str,
    expected: &Tensor<D>,
    got: &Tensor<D>,
) -> Result<()> {
    if expected.dims() == got.dims() {
        Ok(())
    } else {
        Err(DiffusionError::Shape {
            what,
            expected: expected.dims().to_vec(),
            got: got.dims().to_vec(),
        })
    }
}

/// Checks that every entry of `x` is finite; the error names the step and noise level.
pub(crate) fn check_finite<const D: usize>(
    x: &Tensor<D>,
    step_idx: usize,
    noise_level: f64,
) -> Result<()> {
    let all_finite: bool = x.clone().is_finite().all().into_scalar();
    if all_finite { Ok(()) } else { Err(DiffusionError::NonFiniteOutput { step_idx, noise_level }) }
}

/// Checks a sampler's state (`which`: `"the starting point"`, `"the result"`).
///
/// # Errors
/// [`DiffusionError::NonFiniteState`].
pub(crate) fn check_state<const D: usize>(x: &Tensor<D>, which: &'static str) -> Result<()> {
    let all_finite: bool = x.clone().is_finite().all().into_scalar();
    if all_finite { Ok(()) } else { Err(DiffusionError::NonFiniteState { which }) }
}

/// The tensor's values on the host, row-major.
pub(crate) fn host<const D: usize>(x: Tensor<D>) -> Vec<f64> {
    x.into_data().iter::<f64>().collect()
}

/// The mean over every non-batch dimension.
///
/// # Shapes
/// `[batch, ...]` -> `[batch]`.
pub(crate) fn mean_per_row<const D: usize>(x: Tensor<D>) -> Tensor<1> {
    let batch = batch_of(&x);
    let features = features_of(&x);
    // [batch, ...] -> [batch, features] -> [batch, 1] -> [batch]
    x.reshape([batch, features]).mean_dim(1).reshape([batch])
}
