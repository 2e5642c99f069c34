//! The text transformer [RADFORD21, Sec. 2.4]: token and learned position embeddings,
//! pre-norm blocks (causal as in CLIP's text encoder, or bidirectional as in BERT and
//! SigLIP's), a final norm, and the end-of-text token or the mean of the valid tokens as
//! the text's vector.
//!
//! Rows are padded to a common length; `lengths[b]` counts row `b`'s valid tokens, the last
//! of which is the end-of-text token (as `stoke_data::text` encodes them). Padding is hidden
//! from every query and ignored by both poolings, so it never influences a valid output.
//! With `cross_attention: Some(d_memory)` every block reads memory tokens (an image's patch
//! tokens) between its self-attention and its MLP, the slot BLIP's image-grounded encoder
//! and decoder use [LI22, Sec. 3.1].
//!
//! ```
//! use burn::tensor::Device;
//! use stoke_nn::text::{TextPooling, TextTransformerConfig};
//!
//! let device = Device::flex();
//! let text = TextTransformerConfig::new(10, 6, 16, 2, 4).init(&device)?;
//! // Two rows padded to 4 tokens: "1 5 7 2" and "1 3 2 <pad>" (2 = end of text, 0 = pad).
//! let ids = [1, 5, 7, 2, 1, 3, 2, 0];
//! assert_eq!(text.forward(&ids, &[4, 3], &device)?.dims(), [2, 16]);
//! assert_eq!(text.hidden_states(&ids, &[4, 3], &device, None)?.dims(), [2, 4, 16]);
//! // An id outside the vocabulary, or a row longer than the context: errors, not panics.
//! assert!(text.forward(&[1, 10], &[2], &device).is_err());
//! assert!(text.forward(&[1; 7], &[7], &device).is_err());
//! # Ok::<(), stoke_nn::NnError>(())
//! ```

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Int, Tensor, TensorData};
use stoke_core::validate;

use crate::attention::{Memory, Visibility, padding_mask};
use crate::block::{Block, BlockConfig};
use crate::embedding::{TokenEmbedding, TokenEmbeddingConfig};
use crate::error::{NnError, Result};
use crate::norm::{Norm, NormLayer};

/// How the text transformer turns its tokens into one vector per text.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum TextPooling {
    /// The output at the end-of-text token, the last valid token of each row (CLIP
    /// [RADFORD21, Sec. 2.4]; with causal attention it is the one token that saw the whole
    /// text).
    EndOfText,
    /// The mean over the valid tokens (padding excluded).
    Mean,
}

/// A text transformer over rows of at most `context` token ids.
#[derive(Config, Debug)]
pub struct TextTransformerConfig {
    /// Token ids are `0..vocab_size`.
    pub vocab_size: usize,
    /// The longest row (the learned position table's length; 77 in CLIP).
    pub context: usize,
    /// Token width.
    pub d_model: usize,
    /// Number of transformer blocks.
    pub n_layers: usize,
    /// Attention heads per block.
    pub n_heads: usize,
    /// MLP hidden width as a multiple of `d_model`.
    #[config(default = 4)]
    pub mlp_ratio: usize,
    /// Causal (CLIP's text encoder, a decoder) or bidirectional (BERT, SigLIP's).
    #[config(default = "Visibility::Causal")]
    pub visibility: Visibility,
    /// The text vector: end-of-text token or mean.
    #[config(default = "TextPooling::EndOfText")]
    pub pooling: TextPooling,
    /// The blocks' norm and the final norm.
    #[config(default = "Norm::LayerNorm")]
    pub norm: Norm,
    /// `Some(d_memory)`: cross-attention to `d_memory`-wide memory tokens in every block.
    pub cross_attention: Option<usize>,
}

impl TextTransformerConfig {
    /// Builds the transformer on `device`: positions drawn from `N(0, 0.01)`, open_clip's
    /// initialisation.
    ///
    /// # Errors
    /// A zero size; `d_model` not a multiple of `n_heads`.
    pub fn init(&self, device: &Device) -> Result<TextTransformer> {
        validate::size("n_layers", self.n_layers)?;
        validate::size("context", self.context)?;
        let d_model = self.d_model;
        validate::product("context * d_model", &[self.context, d_model])?;
        let tokens = TokenEmbeddingConfig::new(self.vocab_size, d_model).init(device)?;
        let block = BlockConfig::new(d_model, self.n_heads, self.visibility, self.norm)
            .with_mlp_ratio(self.mlp_ratio)
            .with_cross_attention(self.cross_attention);
        let blocks = (0..self.n_layers).map(|_| block.init(device)).collect::<Result<_>>()?;
        let positions =
            Initializer::Normal { mean: 0.0, std: 0.01 }.init([1, self.context, d_model], device);
        Ok(TextTransformer {
            tokens,
            positions,
            blocks,
            norm: self.norm.init(d_model, device),
            context: self.context,
            d_model,
            mean_pooling: self.pooling == TextPooling::Mean,
        })
    }
}

/// See [`TextTransformerConfig`].
#[derive(Module, Debug)]
pub struct TextTransformer {
    tokens: TokenEmbedding,
    positions: Param<Tensor<3>>,
    blocks: Vec<Block>,
    norm: NormLayer,
    context: usize,
    d_model: usize,
    mean_pooling: bool,
}

impl TextTransformer {
    /// Token width (the width of the text vector).
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

    /// The text vectors, pooled from [`TextTransformer::hidden_states`] (a model built with
    /// cross-attention needs [`TextTransformer::forward_with_memory`]).
    ///
    /// # Shapes
    /// `ids`: `batch` rows of `seq` ids, row-major; `lengths`: `batch` valid lengths ->
    /// `[batch, d_model]`.
    ///
    /// # Errors
    /// As [`TextTransformer::hidden_states`].
    pub fn forward(&self, ids: &[i64], lengths: &[usize], device: &Device) -> Result<Tensor<2>> {
        let states = self.hidden_states(ids, lengths, device, None)?;
        Ok(self.pool(states, lengths))
    }

    /// [`TextTransformer::forward`] with every block cross-attending to `memory`.
    ///
    /// # Errors
    /// As [`TextTransformer::hidden_states`].
    pub fn forward_with_memory(
        &self,
        ids: &[i64],
        lengths: &[usize],
        device: &Device,
        memory: &Memory,
    ) -> Result<Tensor<2>> {
        let states = self.hidden_states(ids, lengths, device, Some(memory))?;
        Ok(self.pool(states, lengths))
    }

    /// Every output token after the final norm (the input of a language-model head).
    ///
    /// # Shapes
    /// `ids`: `batch * seq` ids, row-major, `seq <= context`; `lengths`: `batch` lengths in
    /// `1..=seq` -> `[batch, seq, d_model]`. Outputs at padding positions are defined but
    /// meaningless.
    ///
    /// # Errors
    /// An empty batch; `ids.len()` not a multiple of the batch; `seq > context`
    /// ([`NnError::SequenceTooLong`]); a length outside `1..=seq`
    /// ([`NnError::ValidLength`]); an id outside the vocabulary
    /// ([`NnError::TokenOutOfRange`]); a memory given to a model without cross-attention or
    /// missing from one with it ([`NnError::Memory`]), or of the wrong shape.
    pub fn hidden_states(
        &self,
        ids: &[i64],
        lengths: &[usize],
        device: &Device,
        memory: Option<&Memory>,
    ) -> Result<Tensor<3>> {
        let batch = validate::size("batch", lengths.len())?;
        validate::multiple_of("ids", ids.len(), "batch", batch)?;
        let seq = ids.len() / batch;
        if seq > self.context {
            return Err(NnError::SequenceTooLong { len: seq, max: self.context });
        }
        let hidden = padding_mask(lengths, seq, device)?;
        let hidden = lengths.iter().any(|&len| len < seq).then_some(hidden);
        // [batch, seq, d_model] + [1, seq, d_model]
        let mut x =
            self.tokens.embed(ids, [batch, seq], device)? + self.positions.val().narrow(1, 0, seq);
        for block in &self.blocks {
            x = match memory {
                Some(memory) => block.forward_with_memory(x, None, hidden.clone(), memory)?,
                None => block.forward(x, None, hidden.clone())?,
            };
        }
        Ok(self.norm.forward(x))
    }

    /// One vector per row: the state at `lengths[b] - 1` (end of text) or the mean of the
    /// first `lengths[b]` states. `lengths` must have been checked by
    /// [`TextTransformer::hidden_states`].
    ///
    /// # Shapes
    /// `states: [batch, seq, d_model]` -> `[batch, d_model]`.
    fn pool(&self, states: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
        let device = states.device();
        let [batch, seq, d_model] = states.dims();
        if self.mean_pooling {
            let valid: Vec<f32> = lengths
                .iter()
                .flat_map(|&len| {
                    (0..seq).map(move |j| if j < len { 1.0 / len as f32 } else { 0.0 })
                })
                .collect();
            // [batch, seq, 1]: 1 / length at valid positions, 0 at padding
            let weights = Tensor::<3>::from_data(TensorData::new(valid, [batch, seq, 1]), &device);
            return (states * weights).sum_dim(1).reshape([batch, d_model]);
        }
        let last: Vec<i64> = lengths.iter().map(|&len| len as i64 - 1).collect();
        // [batch, 1, 1] -> [batch, 1, d_model]: row b's end-of-text position for every feature
        let index = Tensor::<3, Int>::from_data(TensorData::new(last, [batch, 1, 1]), &device)
            .expand([batch, 1, d_model]);
        states.gather(1, index).reshape([batch, d_model])
    }
}
