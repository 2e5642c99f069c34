//! Networks the recipes train.

pub mod dit;

pub use dit::{Dit, DitConfig};

use std::f64::consts::PI;

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor, TensorData};

/// A time-conditioned MLP `f(x, t)` for low-dimensional data: `x` concatenated with a
/// sinusoidal embedding of `t` [VASWANI17, Sec. 3.5], then `n_hidden` SiLU layers (the shape
/// of torchcfm's 2-D MLP, with SiLU for its SELU).
#[derive(Config, Debug)]
pub struct TimeMlpConfig {
    /// Data dimension.
    #[config(default = 2)]
    pub dim: usize,
    /// Hidden width (torchcfm's 2-D tutorials use 64).
    #[config(default = 128)]
    pub width: usize,
    /// Number of hidden layers.
    #[config(default = 3)]
    pub n_hidden: usize,
    /// Number of embedding frequencies (the embedding has twice as many features).
    #[config(default = 8)]
    pub n_frequencies: usize,
}

impl TimeMlpConfig {
    /// Builds the network on `device`.
    pub fn init(&self, device: &Device) -> TimeMlp {
        let input = LinearConfig::new(self.dim + 2 * self.n_frequencies, self.width).init(device);
        let hidden = (1..self.n_hidden.max(1))
            .map(|_| LinearConfig::new(self.width, self.width).init(device))
            .collect();
        let output = LinearConfig::new(self.width, self.dim).init(device);
        TimeMlp { input, hidden, output, n_frequencies: self.n_frequencies }
    }
}

/// See [`TimeMlpConfig`].
#[derive(Module, Debug)]
pub struct TimeMlp {
    input: Linear,
    hidden: Vec<Linear>,
    output: Linear,
    n_frequencies: usize,
}

impl TimeMlp {
    /// `f(x, t)`.
    ///
    /// # Shapes
    /// `x: [batch, dim]`, `t: [batch]` -> `[batch, dim]`.
    pub fn forward(&self, x: Tensor<2>, t: Tensor<1>) -> Tensor<2> {
        let embedding = time_embedding(t, self.n_frequencies);
        let mut h = silu(self.input.forward(Tensor::cat(vec![x, embedding], 1)));
        for layer in &self.hidden {
            h = silu(layer.forward(h));
        }
        self.output.forward(h)
    }
}

/// `[sin(2 pi 2^k t), cos(2 pi 2^k t)]` for `k = 0..n` scaled so `t in [0, 1]` spans
/// `n` octaves.
///
/// # Shapes
/// `t: [batch]` -> `[batch, 2 n]`.
pub fn time_embedding(t: Tensor<1>, n_frequencies: usize) -> Tensor<2> {
    let device = t.device();
    let frequencies: Vec<f32> =
        (0..n_frequencies).map(|k| (PI * 2f64.powi(k as i32 - 2)) as f32).collect();
    let frequencies =
        Tensor::<1>::from_data(TensorData::new(frequencies, [n_frequencies]), &device);
    let [batch] = t.dims();
    // [batch, 1] * [1, n] -> [batch, n]
    let angles = t.reshape([batch, 1]).mul(frequencies.reshape([1, n_frequencies]));
    Tensor::cat(vec![angles.clone().sin(), angles.cos()], 1)
}

/// A plain MLP `d_input -> width (ReLU) -> d_output` for classifiers.
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input features.
    pub d_input: usize,
    /// Output features (logits).
    pub d_output: usize,
    /// Hidden width.
    #[config(default = 64)]
    pub width: usize,
}

impl MlpConfig {
    /// Builds the network on `device`.
    pub fn init(&self, device: &Device) -> Mlp {
        Mlp {
            hidden: LinearConfig::new(self.d_input, self.width).init(device),
            output: LinearConfig::new(self.width, self.d_output).init(device),
        }
    }
}

/// See [`MlpConfig`].
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Linear,
    output: Linear,
}

impl Mlp {
    /// Logits.
    ///
    /// # Shapes
    /// `[batch, d_input]` -> `[batch, d_output]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.output.forward(burn::tensor::activation::relu(self.hidden.forward(x)))
    }
}
