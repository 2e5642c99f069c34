//! The language-model backbone shared by masked diffusion, SEDD, block diffusion and the
//! autoregressive baseline: token embeddings, pre-norm blocks with rotary positions
//! [SU21, Sec. 3.2] (bidirectional for a denoiser, causal for an autoregressive model, any
//! further boolean mask), a final norm and a linear head to one logit per vocabulary entry.
//!
//! With `conditioned = true` it is MDLM's and SEDD's DiT backbone [SAHOO24, Sec. 4.1]: a
//! noise level (a time or a total noise `sigma`) is embedded sinusoidally, passed through a
//! two-layer SiLU MLP, and modulates every block by adaLN-zero [PEEBLES23, Fig. 3] and the
//! final norm by a zero-initialised shift and scale. LLaDA's denoiser takes no noise level
//! [NIE25, Sec. 2.1]; MDLM reports the same for its log-linear schedule.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use stoke_nn::attention::Visibility;
//! use stoke_nn::lm::LmTransformerConfig;
//!
//! let device = Device::flex();
//! let lm = LmTransformerConfig::new(12, 8, 16, 2, 4).init(&device)?;
//! // Two rows of 3 ids -> one logit per vocabulary entry at each position.
//! let ids = [1, 5, 7, 2, 4, 4];
//! assert_eq!(lm.logits(&ids, [2, 3], None, None, &device)?.dims(), [2, 3, 12]);
//! // A causal, noise-conditioned model needs its noise level.
//! let lm = LmTransformerConfig::new(12, 8, 16, 2, 4)
//!     .with_visibility(Visibility::Causal)
//!     .with_conditioned(true)
//!     .init(&device)?;
//! assert!(lm.logits(&ids, [2, 3], None, None, &device).is_err());
//! let noise = Tensor::<1>::from_floats([0.5, 0.1], &device);
//! assert_eq!(lm.logits(&ids, [2, 3], Some(noise), None, &device)?.dims(), [2, 3, 12]);
//! // Rows longer than the context, or ids outside the vocabulary: errors.
//! assert!(lm.logits(&[1; 9], [1, 9], None, None, &device).is_err());
//! # Ok::<(), stoke_nn::NnError>(())
//! ```

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Bool, Device, Tensor};
use stoke_core::validate;

use crate::attention::{AttentionCall, Positions, RotaryConfig, Visibility};
use crate::block::{Block, BlockConfig, modulate, modulation_chunks};
use crate::embedding::{Frequencies, TokenEmbedding, TokenEmbeddingConfig, sinusoidal_embedding};
use crate::error::{NnError, Result, check_shape};
use crate::norm::{Norm, NormLayer, PLAIN_EPSILON, plain_layer_norm};

/// The keys and values of the tokens an [`LmTransformer`] has seen, per block, for
/// [`LmTransformer::logits_cached`].
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    /// Per block: keys and values, `[batch, heads, len, d_head]` each (rotated).
    layers: Vec<(Tensor<4>, Tensor<4>)>,
    /// Tokens cached.
    len: usize,
    /// The batch the cache holds.
    batch: Option<usize>,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tokens cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Longest period of the noise-level embedding (DiT's and MDLM's `10_000`).
const MAX_PERIOD: f64 = 10_000.0;

/// A transformer over rows of at most `context` token ids with a language-model head.
#[derive(Config, Debug)]
pub struct LmTransformerConfig {
    /// Token ids are `0..vocab_size` (the head has one logit per id).
    pub vocab_size: usize,
    /// The longest row (the rotary table's length).
    pub context: usize,
    /// Token width.
    pub d_model: usize,
    /// Number of transformer blocks.
    pub n_layers: usize,
    /// Attention heads per block (`d_model / n_heads` must be even for rotary positions).
    pub n_heads: usize,
    /// MLP hidden width as a multiple of `d_model`.
    #[config(default = 4)]
    pub mlp_ratio: usize,
    /// Bidirectional (a denoiser) or causal (an autoregressive model).
    #[config(default = "Visibility::Bidirectional")]
    pub visibility: Visibility,
    /// Whether the model takes a noise level (adaLN-zero conditioning).
    #[config(default = false)]
    pub conditioned: bool,
    /// Frequencies of the noise-level embedding (its width is twice this).
    #[config(default = 64)]
    pub n_frequencies: usize,
    /// Base of the rotary frequencies [SU21, Sec. 3.2].
    #[config(default = 10_000.0)]
    pub rotary_theta: f64,
}

impl LmTransformerConfig {
    /// Builds the model on `device`: the token table, the noise MLP (if conditioned), the
    /// blocks, the final modulation (if conditioned) and the head, in that order.
    ///
    /// # Errors
    /// A zero size; `d_model` not a multiple of `n_heads`; an odd head width.
    pub fn init(&self, device: &Device) -> Result<LmTransformer> {
        validate::size("n_layers", self.n_layers)?;
        validate::size("context", self.context)?;
        let d = self.d_model;
        let tokens = TokenEmbeddingConfig::new(self.vocab_size, d).init(device)?;
        let frequencies =
            Frequencies::Transformer { n: self.n_frequencies, max_period: MAX_PERIOD };
        let noise_mlp = if self.conditioned {
            frequencies.validate()?;
            Some(NoiseMlp {
                linear_in: LinearConfig::new(frequencies.d_embedding(), d).init(device),
                linear_out: LinearConfig::new(d, d).init(device),
            })
        } else {
            None
        };
        let norm = if self.conditioned { Norm::Plain } else { Norm::LayerNorm };
        let rotary = RotaryConfig::new(self.context).with_theta(self.rotary_theta);
        let block = BlockConfig::new(d, self.n_heads, self.visibility, norm)
            .with_mlp_ratio(self.mlp_ratio)
            .with_rotary(Some(rotary))
            .with_conditioning(self.conditioned.then_some(d));
        let blocks = (0..self.n_layers).map(|_| block.init(device)).collect::<Result<_>>()?;
        let zero = |d_in: usize, d_out: usize| {
            LinearConfig::new(d_in, d_out).with_initializer(Initializer::Zeros).init(device)
        };
        let final_modulation = self.conditioned.then(|| zero(d, 2 * d));
        Ok(LmTransformer {
            tokens,
            noise_mlp,
            blocks,
            final_norm: norm.init(d, device),
            final_modulation,
            head: LinearConfig::new(d, self.vocab_size).init(device),
            context: self.context,
            n_frequencies: self.n_frequencies,
            causal: self.visibility == Visibility::Causal,
        })
    }
}

/// The noise level's MLP: `linear_out(SiLU(linear_in(sinusoid(noise))))`.
#[derive(Module, Debug)]
struct NoiseMlp {
    linear_in: Linear,
    linear_out: Linear,
}

/// See [`LmTransformerConfig`].
#[derive(Module, Debug)]
pub struct LmTransformer {
    tokens: TokenEmbedding,
    noise_mlp: Option<NoiseMlp>,
    blocks: Vec<Block>,
    final_norm: NormLayer,
    final_modulation: Option<Linear>,
    head: Linear,
    context: usize,
    n_frequencies: usize,
    causal: bool,
}

impl LmTransformer {
    /// Number of token ids (and logits per position).
    pub fn vocab_size(&self) -> usize {
        self.tokens.vocab_size()
    }

    /// The longest row.
    pub fn context(&self) -> usize {
        self.context
    }

    /// Whether the model takes a noise level.
    pub fn conditioned(&self) -> bool {
        self.noise_mlp.is_some()
    }

    /// Whether the blocks are causal.
    pub fn causal(&self) -> bool {
        self.causal
    }

    /// Unnormalised log-probabilities of every vocabulary entry at every position.
    /// `noise` is the noise level each row was corrupted at (required exactly when the
    /// model is conditioned); `hidden` hides keys beyond what the visibility hides, as in
    /// [`SelfAttention::forward`](crate::attention::SelfAttention::forward).
    ///
    /// # Shapes
    /// `ids`: `batch * seq` ids, row-major; `noise: [batch]`; `hidden: [batch | 1,
    /// n_heads | 1, seq | 1, seq]` -> `[batch, seq, vocab_size]`.
    ///
    /// # Errors
    /// `seq > context` ([`NnError::SequenceTooLong`]); an id outside the vocabulary
    /// ([`NnError::TokenOutOfRange`]); a missing or unexpected noise level
    /// ([`NnError::Conditioning`]); shapes that disagree ([`NnError::Shape`]).
    pub fn logits(
        &self,
        ids: &[i64],
        shape: [usize; 2],
        noise: Option<Tensor<1>>,
        hidden: Option<Tensor<4, Bool>>,
        device: &Device,
    ) -> Result<Tensor<3>> {
        self.logits_at(ids, shape, noise, hidden, Positions::default(), device)
    }

    /// [`LmTransformer::logits`] with the tokens at `positions` (block diffusion's `x_t (+)
    /// x0` input repeats positions `0..period` [ARRIOLA25, Sec. 3.2]).
    ///
    /// # Errors
    /// As [`LmTransformer::logits`]; positions past the context; a period with `start > 0`.
    pub fn logits_at(
        &self,
        ids: &[i64],
        [batch, seq]: [usize; 2],
        noise: Option<Tensor<1>>,
        hidden: Option<Tensor<4, Bool>>,
        positions: Positions,
        device: &Device,
    ) -> Result<Tensor<3>> {
        self.check_positions(positions, seq)?;
        let c = self.condition(noise, batch)?;
        let mut x = self.tokens.embed(ids, [batch, seq], device)?;
        for block in &self.blocks {
            let mut call = AttentionCall { positions, ..AttentionCall::default() };
            x = block.forward_call(x, c.clone(), hidden.clone(), &mut call)?;
        }
        Ok(self.head_of(x, c))
    }

    /// [`LmTransformer::logits`] for tokens that follow the `cache.len()` tokens `cache`
    /// holds: they see every cached token and each other (no mask), at positions
    /// `cache.len()..`. With `commit`, their keys and values join the cache (block
    /// diffusion's sampler commits each block once it is decoded [ARRIOLA25, Sec. 3.3]).
    /// The logits equal those of the uncached model on the whole sequence under a
    /// block-causal mask.
    ///
    /// # Errors
    /// As [`LmTransformer::logits`]; a causal model or a batch other than the cache's
    /// ([`NnError::Cache`]); the cached and new tokens past the context.
    pub fn logits_cached(
        &self,
        ids: &[i64],
        [batch, seq]: [usize; 2],
        noise: Option<Tensor<1>>,
        cache: &mut KvCache,
        commit: bool,
        device: &Device,
    ) -> Result<Tensor<3>> {
        if self.causal {
            return Err(NnError::Cache {
                reason: "a causal model cannot attend a cached call bidirectionally",
            });
        }
        if cache.batch.is_some_and(|b| b != batch) {
            return Err(NnError::Cache { reason: "the batch size differs from the cached one" });
        }
        let positions = Positions { start: cache.len, period: None };
        self.check_positions(positions, seq)?;
        let c = self.condition(noise, batch)?;
        let mut x = self.tokens.embed(ids, [batch, seq], device)?;
        let mut presents = Vec::with_capacity(self.blocks.len());
        for (i, block) in self.blocks.iter().enumerate() {
            let mut call = AttentionCall { positions, past: cache.layers.get(i), present: None };
            x = block.forward_call(x, c.clone(), None, &mut call)?;
            presents.push(call.present);
        }
        if commit {
            for (i, present) in presents.into_iter().enumerate() {
                let Some((k, v)) = present else { continue };
                match cache.layers.get_mut(i) {
                    // [batch, heads, past + seq, d_head]
                    Some((past_k, past_v)) => {
                        *past_k = Tensor::cat(vec![past_k.clone(), k], 2);
                        *past_v = Tensor::cat(vec![past_v.clone(), v], 2);
                    }
                    None => cache.layers.push((k, v)),
                }
            }
            cache.len += seq;
            cache.batch = Some(batch);
        }
        Ok(self.head_of(x, c))
    }

    /// # Errors
    /// [`NnError::SequenceTooLong`] when the positions pass the rotary table;
    /// [`NnError::Cache`] for a period with a start.
    fn check_positions(&self, positions: Positions, seq: usize) -> Result<()> {
        if positions.period.is_some() && positions.start > 0 {
            return Err(NnError::Cache { reason: "a position period needs start 0" });
        }
        if let Some(period) = positions.period {
            validate::size("period", period)?;
        }
        let end = positions.end(seq);
        if seq > self.context && positions.period.is_none() || end > self.context {
            return Err(NnError::SequenceTooLong { len: end.max(seq), max: self.context });
        }
        Ok(())
    }

    /// The final norm (modulated when conditioned) and the head.
    ///
    /// # Shapes
    /// `x: [batch, seq, d_model]` -> `[batch, seq, vocab_size]`.
    fn head_of(&self, x: Tensor<3>, c: Option<Tensor<2>>) -> Tensor<3> {
        let x = match (&self.final_modulation, c) {
            (Some(modulation), Some(c)) => {
                let [shift, scale] = modulation_chunks(modulation.forward(silu(c)));
                modulate(plain_layer_norm(x, PLAIN_EPSILON), shift, scale)
            }
            _ => self.final_norm.forward(x),
        };
        self.head.forward(x)
    }

    /// The conditioning vector `MLP(sinusoid(noise))`, checked against the model.
    ///
    /// # Shapes
    /// `noise: [batch]` -> `[batch, d_model]`.
    fn condition(&self, noise: Option<Tensor<1>>, batch: usize) -> Result<Option<Tensor<2>>> {
        match (&self.noise_mlp, noise) {
            (Some(mlp), Some(noise)) => {
                check_shape("noise", &[batch], &noise.dims())?;
                let frequencies =
                    Frequencies::Transformer { n: self.n_frequencies, max_period: MAX_PERIOD };
                let embedding = sinusoidal_embedding(noise, &frequencies);
                Ok(Some(mlp.linear_out.forward(silu(mlp.linear_in.forward(embedding)))))
            }
            (Some(_), None) => Err(NnError::Conditioning { expected: true }),
            (None, Some(_)) => Err(NnError::Conditioning { expected: false }),
            (None, None) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, Tolerance};

    use super::LmTransformerConfig;
    use crate::attention::Visibility;

    /// A causal model's logits at position `i` depend on tokens `0..=i` only: changing the
    /// last token leaves every earlier position bit-identical; a bidirectional model's
    /// change everywhere.
    #[test]
    fn causal_logits_ignore_later_tokens() {
        let device = Device::flex();
        for (visibility, conditioned) in [
            (Visibility::Causal, false),
            (Visibility::Causal, true),
            (Visibility::Bidirectional, false),
        ] {
            let lm = LmTransformerConfig::new(9, 6, 16, 2, 2)
                .with_visibility(visibility)
                .with_conditioned(conditioned)
                .init(&device)
                .unwrap();
            let noise = conditioned.then(|| Tensor::<1>::from_floats([0.3], &device));
            let a = lm.logits(&[1, 5, 7, 2, 3, 8], [1, 6], noise.clone(), None, &device).unwrap();
            let b = lm.logits(&[1, 5, 7, 2, 3, 6], [1, 6], noise, None, &device).unwrap();
            let early = |x: Tensor<3>| x.narrow(1, 0, 5).into_data();
            if visibility == Visibility::Causal {
                assert_eq!(early(a.clone()), early(b.clone()));
            } else {
                assert_ne!(early(a.clone()), early(b.clone()));
            }
            // The last position always sees the change.
            let last = |x: Tensor<3>| x.narrow(1, 5, 1).into_data();
            assert_ne!(last(a), last(b));
        }
    }

    /// A row's logits do not depend on the other rows of its batch.
    #[test]
    fn rows_are_independent() {
        let device = Device::flex();
        let lm = LmTransformerConfig::new(9, 4, 16, 1, 2).init(&device).unwrap();
        let both = lm.logits(&[1, 2, 3, 4, 5, 6, 7, 8], [2, 4], None, None, &device).unwrap();
        let second = lm.logits(&[5, 6, 7, 8], [1, 4], None, None, &device).unwrap();
        both.narrow(0, 1, 1)
            .into_data()
            .assert_approx_eq::<f32>(&second.into_data(), Tolerance::absolute(1e-5));
    }
}
