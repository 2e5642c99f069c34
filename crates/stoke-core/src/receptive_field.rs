//! Receptive fields of convolution and pooling stacks, and an empirical check of them
//! through Burn's autodiff.
//!
//! Bottom-up recurrence (pixel-centred coordinates, input `size = 1, jump = 1, start = 0`)
//! [DUMOULIN16, Sec. 2; ARAUJO19, Eq. 1-2], with the effective kernel
//! `k_eff = d (k - 1) + 1`:
//!
//! - `jump_out = jump_in * s`
//! - `size_out = size_in + (k_eff - 1) * jump_in`
//! - `start_out = start_in + ((k_eff - 1)/2 - p) * jump_in`
//!
//! The top-down form in the seed article, `RF_{n-1} = (RF_n - 1) * stride + ksize`, gives
//! the same size.

use burn::tensor::{Device, Tensor, module::conv1d, ops::ConvOptions};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::validate::count;

/// One layer's geometry (a convolution, or a pooling layer, which has the same receptive
/// field as a convolution of its kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// Kernel size `k`.
    pub kernel: usize,
    /// Stride `s`.
    pub stride: usize,
    /// Zero padding `p` on each side.
    pub padding: usize,
    /// Dilation `d`.
    pub dilation: usize,
}

impl Layer {
    /// A layer with dilation 1.
    ///
    /// # Errors
    /// A zero kernel or stride.
    pub fn new(kernel: usize, stride: usize, padding: usize) -> Result<Self> {
        Self::dilated(kernel, stride, padding, 1)
    }

    /// A dilated layer.
    ///
    /// # Errors
    /// A zero kernel, stride or dilation.
    pub fn dilated(kernel: usize, stride: usize, padding: usize, dilation: usize) -> Result<Self> {
        count("kernel", kernel)?;
        count("stride", stride)?;
        count("dilation", dilation)?;
        Ok(Self { kernel, stride, padding, dilation })
    }

    /// `k_eff = d (k - 1) + 1`.
    pub fn effective_kernel(&self) -> usize {
        self.dilation * (self.kernel - 1) + 1
    }
}

/// The receptive field of one output unit after a layer, in input pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReceptiveField {
    /// Width of the field.
    pub size: usize,
    /// Distance in input pixels between neighbouring output units.
    pub jump: usize,
    /// Input coordinate of the centre of output unit 0's field (half-integer for even
    /// kernels; negative when the field reaches into the padding).
    pub start: f64,
}

impl ReceptiveField {
    /// The inclusive input range `[first, last]` seen by output unit `index`.
    pub fn span(&self, index: usize) -> (f64, f64) {
        let centre = self.start + (index * self.jump) as f64;
        let half = (self.size - 1) as f64 / 2.0;
        (centre - half, centre + half)
    }
}

/// The receptive field after each layer of `layers`.
///
/// # Errors
/// An empty stack.
pub fn receptive_field(layers: &[Layer]) -> Result<Vec<ReceptiveField>> {
    count("layers", layers.len())?;
    let mut field = ReceptiveField { size: 1, jump: 1, start: 0.0 };
    Ok(layers
        .iter()
        .map(|layer| {
            let k_eff = layer.effective_kernel();
            field = ReceptiveField {
                size: field.size + (k_eff - 1) * field.jump,
                jump: field.jump * layer.stride,
                start: field.start
                    + ((k_eff - 1) as f64 / 2.0 - layer.padding as f64) * field.jump as f64,
            };
            field
        })
        .collect())
}

/// Measures the receptive field of output unit `index` by back-propagation: runs a
/// 1-D convolution stack with all-one kernels on `device` (which must have autodiff on)
/// and returns the first and last input positions with a non-zero gradient.
///
/// # Errors
/// An empty stack, or an input too short for `index` to exist.
pub fn empirical_span(
    layers: &[Layer],
    input_len: usize,
    index: usize,
    device: &Device,
) -> Result<(usize, usize)> {
    count("layers", layers.len())?;
    count("input_len", input_len)?;
    // Burn's conv1d panics on an input shorter than its (dilated) kernel: walk the lengths
    // first, so a stack too deep for the input is an error.
    let mut len = input_len;
    for layer in layers {
        count("kernel", layer.kernel)?;
        count("stride", layer.stride)?;
        count("dilation", layer.dilation)?;
        let span = layer.dilation * (layer.kernel - 1) + 1;
        if len + 2 * layer.padding < span {
            return Err(CoreError::OutOfRange {
                name: "input_len",
                value: input_len as f64,
                range: "long enough for every layer's dilated kernel",
            });
        }
        len = (len + 2 * layer.padding - span) / layer.stride + 1;
    }
    let x = Tensor::<3>::ones([1, 1, input_len], device).require_grad();
    let mut h = x.clone();
    for layer in layers {
        let weight = Tensor::<3>::ones([1, 1, layer.kernel], device);
        let options = ConvOptions::new([layer.stride], [layer.padding], [layer.dilation], 1);
        h = conv1d(h, weight, None, options);
    }
    let [_, _, out_len] = h.dims();
    if index >= out_len {
        return Err(CoreError::OutOfRange {
            name: "index",
            value: index as f64,
            range: "[0, output length)",
        });
    }
    let unit = h.slice([0..1, 0..1, index..index + 1]).sum();
    let grads = unit.backward();
    let grad = x.grad(&grads).ok_or(CoreError::Degenerate { what: "take a gradient" })?;
    let values: Vec<f32> = grad.into_data().iter::<f32>().collect();
    let first = values.iter().position(|&g| g != 0.0);
    let last = values.iter().rposition(|&g| g != 0.0);
    match (first, last) {
        (Some(first), Some(last)) => Ok((first, last)),
        _ => Err(CoreError::Degenerate { what: "find a non-zero gradient" }),
    }
}
