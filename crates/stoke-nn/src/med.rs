//! BLIP's multimodal mixture of encoder-decoder (MED) [LI22, Sec. 3.1]: one text transformer
//! that runs in three modes.
//!
//! - [`MedMode::Text`]: the unimodal text encoder (bidirectional self-attention, no image).
//! - [`MedMode::Grounded`]: the image-grounded text encoder (bidirectional self-attention,
//!   then cross-attention to the image tokens in every block).
//! - [`MedMode::Decoder`]: the image-grounded text decoder (causal self-attention, the same
//!   cross-attention), with a language-model head.
//!
//! How the sharing is done in Burn: every weight lives once, in one field of [`MedLayer`]
//! (a Burn module visits each parameter once, so the optimizer, the gradients and a
//! checkpoint see it once); the mode only chooses which of the two self-attention sublayers
//! (each with its own pre-norm) a block runs. So the token and position embeddings, the
//! cross-attention, the MLP, their norms and the final norm are shared by the encoder and
//! the decoder, and the self-attention is not: the paper's choice [LI22, Sec. 3.1], where
//! sharing the self-attention hurt because encoding and decoding differ most there. The LM
//! head is the decoder's own. A shared weight receives the gradients of every mode that
//! used it in a step, summed, as in the PyTorch reference where the tied tensors are one.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use stoke_nn::attention::Memory;
//! use stoke_nn::med::{MedConfig, MedMode};
//!
//! let device = Device::flex();
//! let med = MedConfig::new(12, 6, 16, 2, 2, 8).init(&device)?;
//! let image = Memory { tokens: Tensor::<3>::ones([2, 4, 8], &device), hidden: None };
//! let ids = [1, 5, 7, 2, 1, 3, 2, 0];
//! let text = med.hidden_states(&ids, &[4, 3], &device, MedMode::Text, None)?;
//! assert_eq!(text.dims(), [2, 4, 16]);
//! let logits = med.logits(&ids, &[4, 3], &device, &image)?;
//! assert_eq!(logits.dims(), [2, 4, 12]);
//! // The grounded modes need the image; the text mode refuses one.
//! assert!(med.hidden_states(&ids, &[4, 3], &device, MedMode::Grounded, None).is_err());
//! assert!(med.hidden_states(&ids, &[4, 3], &device, MedMode::Text, Some(&image)).is_err());
//! # Ok::<(), stoke_nn::NnError>(())
//! ```

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::{Bool, Device, Tensor};
use stoke_core::validate;

use crate::attention::{
    CrossAttention, CrossAttentionConfig, Memory, SelfAttention, SelfAttentionConfig, Visibility,
    padding_mask,
};
use crate::embedding::{TokenEmbedding, TokenEmbeddingConfig};
use crate::error::{NnError, Result};
use crate::norm::{Norm, NormLayer};

/// Which of the three MED functions a call computes [LI22, Fig. 2].
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum MedMode {
    /// Unimodal text encoder: bidirectional self-attention, no image.
    Text,
    /// Image-grounded text encoder: bidirectional self-attention and cross-attention.
    Grounded,
    /// Image-grounded text decoder: causal self-attention and cross-attention.
    Decoder,
}

/// A MED over rows of at most `context` token ids, reading `d_memory`-wide image tokens.
#[derive(Config, Debug)]
pub struct MedConfig {
    /// Token ids are `0..vocab_size`.
    pub vocab_size: usize,
    /// The longest row.
    pub context: usize,
    /// Token width.
    pub d_model: usize,
    /// Blocks.
    pub n_layers: usize,
    /// Attention heads per block; `d_model` must be a multiple of it.
    pub n_heads: usize,
    /// Width of the image tokens the cross-attention reads.
    pub d_memory: usize,
    /// MLP hidden width as a multiple of `d_model`.
    #[config(default = 4)]
    pub mlp_ratio: usize,
    /// The pre-norms and the final norm.
    #[config(default = "Norm::LayerNorm")]
    pub norm: Norm,
}

impl MedConfig {
    /// Builds the MED on `device`: positions drawn from `N(0, 0.01)`.
    ///
    /// # Errors
    /// A zero size; `d_model` not a multiple of `n_heads`.
    pub fn init(&self, device: &Device) -> Result<Med> {
        validate::size("n_layers", self.n_layers)?;
        validate::size("context", self.context)?;
        validate::size("mlp_ratio", self.mlp_ratio)?;
        let d_model = validate::size("d_model", self.d_model)?;
        validate::product("context * d_model", &[self.context, d_model])?;
        let d_hidden = validate::product("mlp_ratio * d_model", &[self.mlp_ratio, d_model])?;
        let tokens = TokenEmbeddingConfig::new(self.vocab_size, d_model).init(device)?;
        let attention = |visibility| SelfAttentionConfig::new(d_model, self.n_heads, visibility);
        let layers = (0..self.n_layers)
            .map(|_| {
                Ok(MedLayer {
                    encoder_attention: attention(Visibility::Bidirectional).init(device)?,
                    encoder_norm: self.norm.init(d_model, device),
                    decoder_attention: attention(Visibility::Causal).init(device)?,
                    decoder_norm: self.norm.init(d_model, device),
                    cross: CrossAttentionConfig::new(d_model, self.d_memory, self.n_heads)
                        .init(device)?,
                    cross_norm: self.norm.init(d_model, device),
                    mlp_in: LinearConfig::new(d_model, d_hidden).init(device),
                    mlp_out: LinearConfig::new(d_hidden, d_model).init(device),
                    mlp_norm: self.norm.init(d_model, device),
                })
            })
            .collect::<Result<_>>()?;
        let positions =
            Initializer::Normal { mean: 0.0, std: 0.01 }.init([1, self.context, d_model], device);
        Ok(Med {
            tokens,
            positions,
            layers,
            norm: self.norm.init(d_model, device),
            lm_head: LinearConfig::new(d_model, self.vocab_size).init(device),
            context: self.context,
            d_model,
            d_memory: self.d_memory,
        })
    }
}

/// One MED block. Every field but the two self-attention sublayers (and their norms) is
/// used by all three modes.
#[derive(Module, Debug)]
pub struct MedLayer {
    /// The encoders' bidirectional self-attention (not shared with the decoder).
    pub encoder_attention: SelfAttention,
    /// Its pre-norm.
    pub encoder_norm: NormLayer,
    /// The decoder's causal self-attention (not shared with the encoders).
    pub decoder_attention: SelfAttention,
    /// Its pre-norm.
    pub decoder_norm: NormLayer,
    /// Cross-attention to the image tokens (grounded encoder and decoder).
    pub cross: CrossAttention,
    /// Its pre-norm.
    pub cross_norm: NormLayer,
    /// The MLP's first layer (shared).
    pub mlp_in: Linear,
    /// The MLP's second layer (shared).
    pub mlp_out: Linear,
    /// The MLP's pre-norm (shared).
    pub mlp_norm: NormLayer,
}

impl MedLayer {
    /// `x + attn(norm(x))` with the mode's self-attention, then (grounded modes)
    /// `x + cross(cross_norm(x), memory)`, then `x + mlp(mlp_norm(x))`.
    fn forward(
        &self,
        x: Tensor<3>,
        mode: MedMode,
        hidden: Option<Tensor<4, Bool>>,
        memory: Option<(&Tensor<3>, Option<Tensor<4, Bool>>)>,
    ) -> Tensor<3> {
        let (attention, norm) = match mode {
            MedMode::Decoder => (&self.decoder_attention, &self.decoder_norm),
            MedMode::Text | MedMode::Grounded => (&self.encoder_attention, &self.encoder_norm),
        };
        let x = x.clone() + attention.attend(norm.forward(x), hidden);
        let x = match memory {
            Some((tokens, memory_hidden)) => {
                x.clone()
                    + self.cross.attend(self.cross_norm.forward(x), tokens.clone(), memory_hidden)
            }
            None => x,
        };
        x.clone() + self.mlp_out.forward(gelu(self.mlp_in.forward(self.mlp_norm.forward(x))))
    }
}

/// See [`MedConfig`].
#[derive(Module, Debug)]
pub struct Med {
    /// Token embedding (shared).
    pub tokens: TokenEmbedding,
    /// Learned positions (shared), `[1, context, d_model]`.
    pub positions: Param<Tensor<3>>,
    /// The blocks.
    pub layers: Vec<MedLayer>,
    /// The final norm (shared).
    pub norm: NormLayer,
    /// The decoder's language-model head.
    pub lm_head: Linear,
    context: usize,
    d_model: usize,
    d_memory: usize,
}

impl Med {
    /// Token width.
    pub fn d_model(&self) -> usize {
        self.d_model
    }

    /// The longest row.
    pub fn context(&self) -> usize {
        self.context
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        self.tokens.vocab_size()
    }

    /// Width of the image tokens.
    pub fn d_memory(&self) -> usize {
        self.d_memory
    }

    /// Every output token after the final norm, in `mode`. Padding (positions at or past
    /// `lengths[b]`) is hidden from every query.
    ///
    /// # Shapes
    /// `ids`: `batch * seq` ids, row-major, `seq <= context`; `lengths`: `batch` lengths in
    /// `1..=seq`; `memory.tokens: [batch, n_tokens, d_memory]` -> `[batch, seq, d_model]`.
    ///
    /// # Errors
    /// An empty batch; `ids.len()` not a multiple of the batch; `seq > context`; a bad
    /// length or id; a memory missing in a grounded mode or given in [`MedMode::Text`]
    /// ([`NnError::Memory`]), or of the wrong shape.
    pub fn hidden_states(
        &self,
        ids: &[i64],
        lengths: &[usize],
        device: &Device,
        mode: MedMode,
        memory: Option<&Memory>,
    ) -> Result<Tensor<3>> {
        let batch = validate::size("batch", lengths.len())?;
        validate::multiple_of("ids", ids.len(), "batch", batch)?;
        let seq = ids.len() / batch;
        if seq > self.context {
            return Err(NnError::SequenceTooLong { len: seq, max: self.context });
        }
        let memory = match (mode, memory) {
            (MedMode::Text, None) => None,
            (MedMode::Text, Some(_)) => return Err(NnError::Memory { expected: false }),
            (_, None) => return Err(NnError::Memory { expected: true }),
            (_, Some(memory)) => Some(memory),
        };
        let hidden = padding_mask(lengths, seq, device)?;
        let hidden = lengths.iter().any(|&len| len < seq).then_some(hidden);
        // [batch, seq, d_model] + [1, seq, d_model]
        let mut x =
            self.tokens.embed(ids, [batch, seq], device)? + self.positions.val().narrow(1, 0, seq);
        let Some(first) = self.layers.first() else {
            return Ok(self.norm.forward(x));
        };
        let hidden = first.encoder_attention.check(&x, hidden)?;
        let memory = match memory {
            Some(memory) => Some((&memory.tokens, first.cross.check(&x, memory)?)),
            None => None,
        };
        for layer in &self.layers {
            x = layer.forward(x, mode, hidden.clone(), memory.clone());
        }
        Ok(self.norm.forward(x))
    }

    /// The decoder's next-token logits: position `j` scores the token at `j + 1`.
    ///
    /// # Shapes
    /// As [`Med::hidden_states`] -> `[batch, seq, vocab_size]`.
    ///
    /// # Errors
    /// As [`Med::hidden_states`].
    pub fn logits(
        &self,
        ids: &[i64],
        lengths: &[usize],
        device: &Device,
        memory: &Memory,
    ) -> Result<Tensor<3>> {
        let states = self.hidden_states(ids, lengths, device, MedMode::Decoder, Some(memory))?;
        Ok(self.lm_head.forward(states))
    }
}
