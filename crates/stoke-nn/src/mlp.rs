//! Multi-layer perceptrons: a plain two-layer [`Mlp`] for small classifiers and the
//! time-conditioned [`TimeMlp`] `f(x, t)` that low-dimensional diffusion and flow recipes
//! train.
//!
//! ```
//! use burn::tensor::{Device, Int, Tensor};
//! use stoke_nn::mlp::TimeMlpConfig;
//!
//! let device = Device::flex();
//! let model = TimeMlpConfig::new().init(&device)?;
//! let x = Tensor::<2>::zeros([3, 2], &device);
//! let t = Tensor::<1>::from_floats([0.0, 0.5, 1.0], &device);
//! assert_eq!(model.forward(x.clone(), t.clone()).dims(), [3, 2]);
//! // The same call as a stoke-diffusion network (labels ignored).
//! let network = model.as_network();
//! assert_eq!(network(x, t, None::<Tensor<1, Int>>).dims(), [3, 2]);
//! assert!(TimeMlpConfig::new().with_width(0).init(&device).is_err());
//! # Ok::<(), stoke_nn::NnError>(())
//! ```

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{relu, silu};
use burn::tensor::{Device, Int, Tensor};
use stoke_core::validate;

use crate::embedding::{Frequencies, sinusoidal_embedding};
use crate::error::Result;

/// A plain MLP `d_input -> width (ReLU) -> d_output`.
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
    /// Checks the shape without building anything.
    ///
    /// # Errors
    /// A zero size.
    pub fn validate(&self) -> Result<()> {
        validate::size("d_input", self.d_input)?;
        validate::size("d_output", self.d_output)?;
        validate::size("width", self.width)?;
        Ok(())
    }

    /// Builds the network on `device`.
    ///
    /// # Errors
    /// As [`MlpConfig::validate`].
    pub fn init(&self, device: &Device) -> Result<Mlp> {
        self.validate()?;
        Ok(Mlp {
            hidden: LinearConfig::new(self.d_input, self.width).init(device),
            output: LinearConfig::new(self.width, self.d_output).init(device),
        })
    }
}

/// See [`MlpConfig`].
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Linear,
    output: Linear,
}

impl Mlp {
    /// `W_2 relu(W_1 x + b_1) + b_2`.
    ///
    /// # Shapes
    /// `[batch, d_input]` -> `[batch, d_output]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.output.forward(relu(self.hidden.forward(x)))
    }
}

/// A time-conditioned MLP `f(x, t)` for low-dimensional data: `x` concatenated with the
/// sinusoidal embedding of `t` at [`Frequencies::Octaves`] [VASWANI17, Sec. 3.5], then
/// `n_hidden` SiLU layers of `width` and a linear output (the shape of torchcfm's 2-D MLP
/// \[TONG24\], with SiLU for its SELU).
#[derive(Config, Debug)]
pub struct TimeMlpConfig {
    /// Data dimension.
    #[config(default = 2)]
    pub dim: usize,
    /// Hidden width (torchcfm's 2-D tutorials use 64).
    #[config(default = 128)]
    pub width: usize,
    /// Number of hidden (SiLU) layers, the input layer included.
    #[config(default = 3)]
    pub n_hidden: usize,
    /// Number of embedding frequencies (the embedding has twice as many features).
    #[config(default = 8)]
    pub n_frequencies: usize,
}

impl TimeMlpConfig {
    /// Checks the shape without building anything.
    ///
    /// # Errors
    /// A zero size.
    pub fn validate(&self) -> Result<()> {
        validate::size("dim", self.dim)?;
        validate::size("width", self.width)?;
        validate::size("n_hidden", self.n_hidden)?;
        Frequencies::Octaves { n: self.n_frequencies }.validate()
    }

    /// Builds the network on `device`.
    ///
    /// # Errors
    /// As [`TimeMlpConfig::validate`].
    pub fn init(&self, device: &Device) -> Result<TimeMlp> {
        self.validate()?;
        let frequencies = Frequencies::Octaves { n: self.n_frequencies };
        let d_input = self.dim + frequencies.d_embedding();
        let input = LinearConfig::new(d_input, self.width).init(device);
        let hidden = (1..self.n_hidden)
            .map(|_| LinearConfig::new(self.width, self.width).init(device))
            .collect();
        let output = LinearConfig::new(self.width, self.dim).init(device);
        Ok(TimeMlp { input, hidden, output, frequencies })
    }
}

/// See [`TimeMlpConfig`].
#[derive(Module, Debug)]
pub struct TimeMlp {
    input: Linear,
    hidden: Vec<Linear>,
    output: Linear,
    #[module(skip)]
    frequencies: Frequencies,
}

impl TimeMlp {
    /// `f(x, t)`.
    ///
    /// # Shapes
    /// `x: [batch, dim]`, `t: [batch]` -> `[batch, dim]`.
    ///
    /// # Panics
    /// A width other than `dim` or a `t` of another length (Burn's shape checks).
    pub fn forward(&self, x: Tensor<2>, t: Tensor<1>) -> Tensor<2> {
        let embedding = sinusoidal_embedding(t, &self.frequencies);
        let mut h = silu(self.input.forward(Tensor::cat(vec![x, embedding], 1)));
        for layer in &self.hidden {
            h = silu(layer.forward(h));
        }
        self.output.forward(h)
    }

    /// [`TimeMlp::forward`] as a `stoke-diffusion` `Network` (class labels are ignored).
    pub fn as_network(
        &self,
    ) -> impl Fn(Tensor<2>, Tensor<1>, Option<Tensor<1, Int>>) -> Tensor<2> + Clone + '_ {
        move |x: Tensor<2>, t: Tensor<1>, _labels: Option<Tensor<1, Int>>| self.forward(x, t)
    }
}
