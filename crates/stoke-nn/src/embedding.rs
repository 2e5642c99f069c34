//! Embeddings of scalars and tokens: the one sinusoidal embedding of a noise level, time or
//! position [VASWANI17, Sec. 3.5], and a checked lookup table for token ids.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use stoke_nn::embedding::{Frequencies, TokenEmbeddingConfig, sinusoidal_embedding};
//!
//! let device = Device::flex();
//! let t = Tensor::<1>::from_floats([0.0, 0.5], &device);
//! let features = sinusoidal_embedding(t, &Frequencies::Octaves { n: 8 });
//! assert_eq!(features.dims(), [2, 16]);
//!
//! let tokens = TokenEmbeddingConfig::new(5, 4).init(&device)?;
//! assert_eq!(tokens.embed(&[0, 4, 1, 2], [2, 2], &device)?.dims(), [2, 2, 4]);
//! assert!(tokens.embed(&[0, 5], [1, 2], &device).is_err());
//! # Ok::<(), stoke_nn::NnError>(())
//! ```

use std::f64::consts::PI;

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use stoke_core::validate;

use crate::error::{NnError, Result};

/// The angular frequencies `w_k`, `k = 0..n`, of a [`sinusoidal_embedding`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Frequencies {
    /// `w_k = pi 2^(k - 2)`: periods `8, 4, 2, 1, ...`, so `t in [0, 1]` is spread over `n`
    /// octaves, the slowest turning an eighth of a circle (the time embedding of
    /// [`TimeMlp`](crate::mlp::TimeMlp)).
    Octaves {
        /// Number of frequencies (the embedding has `2 n` features).
        n: usize,
    },
    /// `w_k = exp(-ln(max_period) k / n)`: a geometric range from 1 down to (almost)
    /// `1 / max_period`, the transformer's position encoding [VASWANI17, Sec. 3.5], used by
    /// DiT for the noise level with `max_period = 10_000`.
    Transformer {
        /// Number of frequencies (the embedding has `2 n` features).
        n: usize,
        /// The longest period is `2 pi max_period` (10 000 in [VASWANI17, Sec. 3.5]).
        max_period: f64,
    },
}

impl Frequencies {
    /// Number of frequencies `n`.
    pub fn n(&self) -> usize {
        match *self {
            Self::Octaves { n } | Self::Transformer { n, .. } => n,
        }
    }

    /// The embedding's width, `2 n`.
    pub fn d_embedding(&self) -> usize {
        2 * self.n()
    }

    /// `w_0, ..., w_(n - 1)` in `f64`, the reference the tensor embedding casts to `f32`.
    pub fn values(&self) -> Vec<f64> {
        match *self {
            Self::Octaves { n } => (0..n).map(|k| PI * 2f64.powi(k as i32 - 2)).collect(),
            Self::Transformer { n, max_period } => {
                (0..n).map(|k| (-(max_period.ln()) * k as f64 / n as f64).exp()).collect()
            }
        }
    }

    /// Checks the frequencies.
    ///
    /// # Errors
    /// `n = 0`; for [`Frequencies::Transformer`], a `max_period` that is not a positive
    /// finite number.
    pub fn validate(&self) -> Result<()> {
        validate::size("n_frequencies", self.n())?;
        if let Self::Transformer { max_period, .. } = *self {
            validate::positive("max_period", max_period)?;
        }
        Ok(())
    }
}

/// `[sin(v w_0), ..., sin(v w_(n-1)) | cos(v w_0), ..., cos(v w_(n-1))]` for each value `v`
/// [VASWANI17, Sec. 3.5], the frequencies computed in `f64` and cast to `f32`.
///
/// With `n = 0` the embedding has no features; [`Frequencies::validate`] refuses that for
/// the configs that use it.
///
/// # Shapes
/// `values: [batch]` -> `[batch, 2 n]`.
pub fn sinusoidal_embedding(values: Tensor<1>, frequencies: &Frequencies) -> Tensor<2> {
    let device = values.device();
    let n = frequencies.n();
    let w: Vec<f32> = frequencies.values().into_iter().map(|w| w as f32).collect();
    let w = Tensor::<1>::from_data(TensorData::new(w, [n]), &device);
    let [batch] = values.dims();
    // [batch, 1] * [1, n] -> [batch, n]
    let angles = values.reshape([batch, 1]).mul(w.reshape([1, n]));
    Tensor::cat(vec![angles.clone().sin(), angles.cos()], 1)
}

/// A learned lookup table from token ids to vectors (Burn's [`Embedding`], initialised
/// `N(0, 1)`).
#[derive(Config, Debug)]
pub struct TokenEmbeddingConfig {
    /// Number of token ids; valid ids are `0..vocab_size`.
    pub vocab_size: usize,
    /// Width of each embedding vector.
    pub d_model: usize,
}

impl TokenEmbeddingConfig {
    /// Builds the table on `device`.
    ///
    /// # Errors
    /// A zero size.
    pub fn init(&self, device: &Device) -> Result<TokenEmbedding> {
        validate::size("vocab_size", self.vocab_size)?;
        validate::size("d_model", self.d_model)?;
        let embedding = EmbeddingConfig::new(self.vocab_size, self.d_model).init(device);
        Ok(TokenEmbedding { embedding, vocab_size: self.vocab_size })
    }
}

/// See [`TokenEmbeddingConfig`].
#[derive(Module, Debug)]
pub struct TokenEmbedding {
    embedding: Embedding,
    vocab_size: usize,
}

impl TokenEmbedding {
    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The vectors of `ids`, unchecked: ids outside `0..vocab_size` are not detected here
    /// (the backend may panic or read out of bounds); [`TokenEmbedding::embed`] checks them.
    ///
    /// # Shapes
    /// `ids: [batch, seq]` -> `[batch, seq, d_model]`.
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        self.embedding.forward(ids)
    }

    /// The vectors of `ids` given row-major as `batch` rows of `seq` tokens, checked.
    ///
    /// # Shapes
    /// `ids`: `batch * seq` ids -> `[batch, seq, d_model]`.
    ///
    /// # Errors
    /// A zero `batch` or `seq`; `ids.len() != batch * seq`; an id outside `0..vocab_size`
    /// ([`NnError::TokenOutOfRange`]).
    pub fn embed(
        &self,
        ids: &[i64],
        [batch, seq]: [usize; 2],
        device: &Device,
    ) -> Result<Tensor<3>> {
        validate::size("batch", batch)?;
        validate::size("seq", seq)?;
        validate::same_length("ids", batch * seq, ids.len())?;
        let in_vocabulary = |id: i64| usize::try_from(id).is_ok_and(|id| id < self.vocab_size);
        if let Some(&token) = ids.iter().find(|&&id| !in_vocabulary(id)) {
            return Err(NnError::TokenOutOfRange { token, vocab_size: self.vocab_size });
        }
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [batch, seq]), device);
        Ok(self.forward(ids))
    }
}
