//! The normalisations a transformer [`Block`](crate::block::Block) can use: Burn's affine
//! LayerNorm and RmsNorm, or a plain LayerNorm without learned affine parameters for adaLN,
//! where the conditioning supplies the scale and shift [PEEBLES23, Sec. 3.2].
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use stoke_nn::norm::{Norm, plain_layer_norm};
//!
//! let device = Device::flex();
//! let x = Tensor::<3>::from_floats([[[1.0, 2.0, 3.0, 6.0]]], &device);
//! let normalised = plain_layer_norm(x.clone(), 1e-6);
//! let mean = normalised.clone().mean().into_scalar::<f32>();
//! assert!(mean.abs() < 1e-6);
//! assert_eq!(Norm::RmsNorm.init(4, &device).forward(x).dims(), [1, 1, 4]);
//! ```

use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, RmsNorm, RmsNormConfig};
use burn::tensor::{Device, Tensor};

/// `epsilon` of [`Norm::Plain`]: `1e-6`, as in the LayerNorms of DiT's reference code.
pub const PLAIN_EPSILON: f64 = 1e-6;

/// Which normalisation a block applies before its attention and its MLP.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Norm {
    /// Burn's LayerNorm with a learned scale and shift (`epsilon = 1e-5`).
    LayerNorm,
    /// Burn's RmsNorm with a learned scale (`epsilon = 1e-5`).
    RmsNorm,
    /// LayerNorm without learned affine parameters ([`plain_layer_norm`] with
    /// [`PLAIN_EPSILON`]): for adaLN, whose modulation supplies scale and shift.
    Plain,
}

impl Norm {
    /// Builds the layer for tokens of width `d_model` on `device` (`d_model` is checked by
    /// the block that calls this).
    pub fn init(&self, d_model: usize, device: &Device) -> NormLayer {
        match self {
            Self::LayerNorm => NormLayer::LayerNorm(LayerNormConfig::new(d_model).init(device)),
            Self::RmsNorm => NormLayer::RmsNorm(RmsNormConfig::new(d_model).init(device)),
            Self::Plain => NormLayer::Plain(PlainLayerNorm { epsilon: PLAIN_EPSILON }),
        }
    }
}

/// A built [`Norm`].
#[derive(Module, Debug)]
pub enum NormLayer {
    /// Burn's affine LayerNorm.
    LayerNorm(LayerNorm),
    /// Burn's RmsNorm.
    RmsNorm(RmsNorm),
    /// LayerNorm without learned parameters.
    Plain(PlainLayerNorm),
}

impl NormLayer {
    /// Normalises over the last dimension.
    ///
    /// # Shapes
    /// `[..., d_model]` -> `[..., d_model]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::LayerNorm(norm) => norm.forward(x),
            Self::RmsNorm(norm) => norm.forward(x),
            Self::Plain(norm) => plain_layer_norm(x, norm.epsilon),
        }
    }
}

/// See [`Norm::Plain`]: no parameters, only `epsilon`.
#[derive(Module, Debug)]
pub struct PlainLayerNorm {
    epsilon: f64,
}

/// `(x - mean) / sqrt(var + epsilon)` over the last dimension, with the biased variance and
/// no learned affine parameters (PyTorch's `LayerNorm(elementwise_affine=False)`, which
/// adaLN modulates [PEEBLES23, Sec. 3.2]).
///
/// # Shapes
/// `[..., d_model]` -> `[..., d_model]`.
pub fn plain_layer_norm<const D: usize>(x: Tensor<D>, epsilon: f64) -> Tensor<D> {
    let (variance, mean) = x.clone().var_mean_bias(D - 1);
    (x - mean).div(variance.add_scalar(epsilon).sqrt())
}
