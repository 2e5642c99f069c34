//! The pre-norm transformer block shared by the DiT and text backbones: self-attention then
//! a GELU MLP [VASWANI17, Sec. 3.1], each residual branch fed a normalised copy of the
//! stream (Pre-LN, [XIONG20, Fig. 1]).
//! With a conditioning vector it is DiT's adaLN-zero block [PEEBLES23, Fig. 3]: the shift,
//! scale and gate of both branches come from a zero-initialised linear map of `SiLU(c)`,
//! so the block starts as the identity.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use stoke_nn::attention::Visibility;
//! use stoke_nn::block::BlockConfig;
//! use stoke_nn::norm::Norm;
//!
//! let device = Device::flex();
//! let x = Tensor::<3>::ones([2, 5, 16], &device);
//! // A causal pre-norm block.
//! let block = BlockConfig::new(16, 4, Visibility::Causal, Norm::RmsNorm).init(&device)?;
//! assert_eq!(block.forward(x.clone(), None, None)?.dims(), [2, 5, 16]);
//! // An adaLN-zero block conditioned on an 8-wide vector is the identity at init.
//! let block = BlockConfig::new(16, 4, Visibility::Bidirectional, Norm::Plain)
//!     .with_conditioning(Some(8))
//!     .init(&device)?;
//! let c = Tensor::<2>::ones([2, 8], &device);
//! let out = block.forward(x.clone(), Some(c), None)?;
//! assert_eq!(out.into_data(), x.clone().into_data());
//! // A conditioned block without its conditioning: an error.
//! assert!(block.forward(x, None, None).is_err());
//! # Ok::<(), stoke_nn::NnError>(())
//! ```

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::{gelu, silu};
use burn::tensor::{Bool, Device, Tensor};
use stoke_core::validate;

use crate::attention::{
    AttentionCall, CrossAttention, CrossAttentionConfig, Memory, RotaryConfig, SelfAttention,
    SelfAttentionConfig, Visibility,
};
use crate::error::{NnError, Result, check_shape};
use crate::norm::{Norm, NormLayer};

/// A pre-norm transformer block.
#[derive(Config, Debug)]
pub struct BlockConfig {
    /// Token width.
    pub d_model: usize,
    /// Attention heads; `d_model` must be a multiple of it.
    pub n_heads: usize,
    /// Which keys each query sees.
    pub visibility: Visibility,
    /// The normalisation before attention and before the MLP ([`Norm::Plain`] with adaLN).
    pub norm: Norm,
    /// Hidden width of the MLP as a multiple of `d_model` (4 in [VASWANI17, Sec. 3.3] and
    /// DiT).
    #[config(default = 4)]
    pub mlp_ratio: usize,
    /// Rotary positions in the attention.
    pub rotary: Option<RotaryConfig>,
    /// `Some(d_cond)`: adaLN-zero conditioning on a `d_cond`-wide vector [PEEBLES23, Fig. 3].
    pub conditioning: Option<usize>,
    /// `Some(d_memory)`: a cross-attention sublayer between the self-attention and the MLP
    /// that reads memory tokens `d_memory` wide (BLIP's image-grounded text encoder
    /// [LI22, Sec. 3.1]); the block then needs a [`Memory`] on every call.
    pub cross_attention: Option<usize>,
}

impl BlockConfig {
    /// Builds the block on `device`, creating the attention (`qkv`, `out`), `mlp_in`,
    /// `mlp_out`, the two norms and the modulation in that order.
    ///
    /// # Errors
    /// A zero size; `d_model` not a multiple of `n_heads`; with rotary positions, an odd
    /// head width or a bad table.
    pub fn init(&self, device: &Device) -> Result<Block> {
        validate::size("mlp_ratio", self.mlp_ratio)?;
        validate::size("d_model", self.d_model)?;
        if let Some(d_cond) = self.conditioning {
            validate::size("conditioning", d_cond)?;
        }
        let d_model = self.d_model;
        let d_hidden = validate::product("mlp_ratio * d_model", &[self.mlp_ratio, d_model])?;
        let attention = SelfAttentionConfig::new(d_model, self.n_heads, self.visibility)
            .with_rotary(self.rotary.clone())
            .init(device)?;
        let mlp_in = LinearConfig::new(d_model, d_hidden).init(device);
        let mlp_out = LinearConfig::new(d_hidden, d_model).init(device);
        let norm_1 = self.norm.init(d_model, device);
        let norm_2 = self.norm.init(d_model, device);
        let modulation = self.conditioning.map(|d_cond| {
            LinearConfig::new(d_cond, 6 * d_model).with_initializer(Initializer::Zeros).init(device)
        });
        let conditioning = self.conditioning;
        let cross = self
            .cross_attention
            .map(|d_memory| CrossAttentionConfig::new(d_model, d_memory, self.n_heads).init(device))
            .transpose()?;
        let norm_cross = cross.as_ref().map(|_| self.norm.init(d_model, device));
        Ok(Block {
            attention,
            mlp_in,
            mlp_out,
            norm_1,
            norm_2,
            modulation,
            conditioning,
            cross,
            norm_cross,
        })
    }
}

/// See [`BlockConfig`].
#[derive(Module, Debug)]
pub struct Block {
    attention: SelfAttention,
    mlp_in: Linear,
    mlp_out: Linear,
    norm_1: NormLayer,
    norm_2: NormLayer,
    modulation: Option<Linear>,
    conditioning: Option<usize>,
    cross: Option<CrossAttention>,
    norm_cross: Option<NormLayer>,
}

impl Block {
    /// Without conditioning, `x + attn(norm_1(x))` then `x + mlp(norm_2(x))`; with it,
    /// adaLN-zero [PEEBLES23, Fig. 3]:
    /// `x + gate_a attn(modulate(norm_1(x), shift_a, scale_a))`, then the same with the MLP,
    /// where `(shift_a, scale_a, gate_a, shift_m, scale_m, gate_m)` are the six chunks of
    /// `modulation(SiLU(c))`. `hidden` hides keys as in [`SelfAttention::forward`].
    ///
    /// # Shapes
    /// `x: [batch, seq, d_model]`, `cond: [batch, d_cond]`, `hidden` as in
    /// [`SelfAttention::forward`] -> `[batch, seq, d_model]`.
    ///
    /// # Errors
    /// A missing or unexpected `cond` ([`NnError::Conditioning`]); `x`, `cond` or `hidden`
    /// of the wrong shape ([`NnError::Shape`]); a sequence longer than the rotary table.
    pub fn forward(
        &self,
        x: Tensor<3>,
        cond: Option<Tensor<2>>,
        hidden: Option<Tensor<4, Bool>>,
    ) -> Result<Tensor<3>> {
        if self.cross.is_some() {
            return Err(NnError::Memory { expected: true });
        }
        let (cond, hidden) = self.check(&x, cond, hidden)?;
        Ok(self.apply(x, cond, hidden, None))
    }

    /// [`Block::forward`] for a block built with `cross_attention`: after the
    /// self-attention, `x + cross(norm_cross(x), memory)` [LI22, Sec. 3.1].
    ///
    /// # Shapes
    /// As [`Block::forward`], with `memory` as in [`CrossAttention::forward`].
    ///
    /// # Errors
    /// As [`Block::forward`]; a block without cross-attention ([`NnError::Memory`]); a
    /// memory of the wrong shape.
    pub fn forward_with_memory(
        &self,
        x: Tensor<3>,
        cond: Option<Tensor<2>>,
        hidden: Option<Tensor<4, Bool>>,
        memory: &Memory,
    ) -> Result<Tensor<3>> {
        let Some(cross) = &self.cross else {
            return Err(NnError::Memory { expected: false });
        };
        let memory_hidden = cross.check(&x, memory)?;
        let (cond, hidden) = self.check(&x, cond, hidden)?;
        let memory = (memory.tokens.clone(), memory_hidden);
        Ok(self.apply(x, cond, hidden, Some(memory)))
    }

    /// [`Block::forward`] with the self-attention at `call`'s positions and past (checked by
    /// the caller against the rotary table).
    ///
    /// # Errors
    /// As [`Block::forward`].
    pub(crate) fn forward_call(
        &self,
        x: Tensor<3>,
        cond: Option<Tensor<2>>,
        hidden: Option<Tensor<4, Bool>>,
        call: &mut AttentionCall<'_>,
    ) -> Result<Tensor<3>> {
        if self.cross.is_some() {
            return Err(NnError::Memory { expected: true });
        }
        let (cond, hidden) = self.check(&x, cond, hidden)?;
        Ok(self.apply_call(x, cond, hidden, None, call))
    }

    /// Whether the block has a cross-attention sublayer (and so needs a [`Memory`]).
    pub fn has_cross_attention(&self) -> bool {
        self.cross.is_some()
    }

    /// Checks `cond` and `hidden`; returns them with `hidden` at full shape.
    ///
    /// # Errors
    /// As [`Block::forward`].
    #[allow(clippy::type_complexity)]
    fn check(
        &self,
        x: &Tensor<3>,
        cond: Option<Tensor<2>>,
        hidden: Option<Tensor<4, Bool>>,
    ) -> Result<(Option<Tensor<2>>, Option<Tensor<4, Bool>>)> {
        let [batch, _, _] = x.dims();
        match (self.conditioning, &cond) {
            (Some(d_cond), Some(c)) => check_shape("cond", &[batch, d_cond], &c.dims())?,
            (Some(_), None) => return Err(NnError::Conditioning { expected: true }),
            (None, Some(_)) => return Err(NnError::Conditioning { expected: false }),
            (None, None) => {}
        }
        let hidden = self.attention.check(x, hidden)?;
        Ok((cond, hidden))
    }

    /// [`Block::forward`] on inputs already checked (`hidden` and the memory's mask at
    /// full shape).
    pub(crate) fn apply(
        &self,
        x: Tensor<3>,
        cond: Option<Tensor<2>>,
        hidden: Option<Tensor<4, Bool>>,
        memory: Option<CheckedMemory>,
    ) -> Tensor<3> {
        self.apply_call(x, cond, hidden, memory, &mut AttentionCall::default())
    }

    /// [`Block::apply`] with the self-attention at `call`'s positions and past.
    pub(crate) fn apply_call(
        &self,
        x: Tensor<3>,
        cond: Option<Tensor<2>>,
        hidden: Option<Tensor<4, Bool>>,
        memory: Option<CheckedMemory>,
        call: &mut AttentionCall<'_>,
    ) -> Tensor<3> {
        match (&self.modulation, cond) {
            (Some(modulation), Some(c)) => {
                self.apply_ada_ln_zero(x, modulation, c, hidden, memory, call)
            }
            _ => self.apply_pre_norm(x, hidden, memory, call),
        }
    }

    /// `x + attn(norm_1(x))`, then (with a memory) `x + cross(norm_cross(x), memory)`,
    /// then `x + mlp(norm_2(x))`.
    fn apply_pre_norm(
        &self,
        x: Tensor<3>,
        hidden: Option<Tensor<4, Bool>>,
        memory: Option<CheckedMemory>,
        call: &mut AttentionCall<'_>,
    ) -> Tensor<3> {
        let x = x.clone() + self.attention.attend_call(self.norm_1.forward(x), hidden, call);
        let x = self.apply_cross(x, memory);
        x.clone() + self.mlp(self.norm_2.forward(x))
    }

    /// `x + cross(norm_cross(x), memory)` when the block has the sublayer and a memory.
    fn apply_cross(&self, x: Tensor<3>, memory: Option<CheckedMemory>) -> Tensor<3> {
        match (&self.cross, &self.norm_cross, memory) {
            (Some(cross), Some(norm), Some((tokens, hidden))) => {
                x.clone() + cross.attend(norm.forward(x), tokens, hidden)
            }
            _ => x,
        }
    }

    /// adaLN-zero [PEEBLES23, Fig. 3].
    ///
    /// # Shapes
    /// `x: [batch, seq, d_model]`, `c: [batch, d_cond]` -> `[batch, seq, d_model]`.
    fn apply_ada_ln_zero(
        &self,
        x: Tensor<3>,
        modulation: &Linear,
        c: Tensor<2>,
        hidden: Option<Tensor<4, Bool>>,
        memory: Option<CheckedMemory>,
        call: &mut AttentionCall<'_>,
    ) -> Tensor<3> {
        let [shift_a, scale_a, gate_a, shift_m, scale_m, gate_m] =
            modulation_chunks(modulation.forward(silu(c)));
        let h = modulate(self.norm_1.forward(x.clone()), shift_a, scale_a);
        let x = x + gate_a * self.attention.attend_call(h, hidden, call);
        let x = self.apply_cross(x, memory);
        let h = modulate(self.norm_2.forward(x.clone()), shift_m, scale_m);
        x + gate_m * self.mlp(h)
    }

    /// `mlp_out(GELU(mlp_in(h)))`.
    fn mlp(&self, h: Tensor<3>) -> Tensor<3> {
        self.mlp_out.forward(gelu(self.mlp_in.forward(h)))
    }
}

/// Memory tokens with their hidden mask at full shape, checked.
pub(crate) type CheckedMemory = (Tensor<3>, Option<Tensor<4, Bool>>);

/// `x (1 + scale) + shift`, adaLN's modulation [PEEBLES23, Sec. 3.2].
///
/// # Shapes
/// `x: [batch, seq, d_model]`, `shift, scale: [batch, 1, d_model]` -> `[batch, seq, d_model]`.
pub fn modulate(x: Tensor<3>, shift: Tensor<3>, scale: Tensor<3>) -> Tensor<3> {
    x * scale.add_scalar(1.0) + shift
}

/// Splits a modulation into `N` per-token-broadcast chunks, in order.
///
/// # Shapes
/// `[batch, N d_model]` -> N x `[batch, 1, d_model]`.
pub(crate) fn modulation_chunks<const N: usize>(m: Tensor<2>) -> [Tensor<3>; N] {
    let [batch, width] = m.dims();
    let d_model = width / N;
    // [batch, d_model] -> [batch, 1, d_model] for each chunk
    std::array::from_fn(|i| m.clone().narrow(1, i * d_model, d_model).reshape([batch, 1, d_model]))
}
