//! Multi-head self-attention on Burn's fused `attention` op [VASWANI17, Eq. 1], with
//! causal or bidirectional visibility, optional rotary positions [SU21, Sec. 3.2] and a
//! mask of further hidden keys (padding, a block-diffusion mask).
//!
//! Burn's pieces panic on bad sizes (an odd rotary width, a sequence past the rotary
//! table, a mask of the wrong shape); here every such case is a typed [`NnError`].
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use stoke_nn::attention::{RotaryConfig, SelfAttentionConfig, Visibility, padding_mask};
//!
//! let device = Device::flex();
//! let attention = SelfAttentionConfig::new(16, 4, Visibility::Causal)
//!     .with_rotary(Some(RotaryConfig::new(32)))
//!     .init(&device)?;
//! let x = Tensor::<3>::zeros([2, 5, 16], &device);
//! // Row 0 has 5 valid tokens, row 1 only 3: keys 3 and 4 of row 1 are hidden.
//! let hidden = padding_mask(&[5, 3], 5, &device)?;
//! assert_eq!(attention.forward(x, Some(hidden))?.dims(), [2, 5, 16]);
//! // Odd head width with rotary positions: an error, not a panic.
//! let odd = SelfAttentionConfig::new(12, 4, Visibility::Bidirectional)
//!     .with_rotary(Some(RotaryConfig::new(32)));
//! assert!(odd.init(&device).is_err());
//! # Ok::<(), stoke_nn::NnError>(())
//! ```

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig, RotaryEncoding, RotaryEncodingConfig};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Tensor, TensorData};
use stoke_core::validate;

use crate::error::{NnError, Result, check_shape};

/// Which keys a query may see.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Every query sees every key (an encoder, DiT, a masked-diffusion denoiser).
    Bidirectional,
    /// Query `i` sees keys `0..=i` only (an autoregressive decoder).
    Causal,
}

/// Rotary position embedding: each pair of a head's features is rotated by an angle
/// proportional to the position, so a query-key score depends only on their offset
/// [SU21, Sec. 3.2].
#[derive(Config, Debug)]
pub struct RotaryConfig {
    /// Longest sequence the precomputed table covers.
    pub max_len: usize,
    /// Base of the frequencies `theta^(-2i / d_head)` (10 000 in [SU21, Sec. 3.2]).
    #[config(default = 10_000.0)]
    pub theta: f64,
}

impl RotaryConfig {
    /// Checks the table for heads of width `d_head`.
    ///
    /// # Errors
    /// A zero `max_len` or `d_head`; an odd `d_head` ([`NnError::OddRotaryWidth`]); a
    /// `theta` that is not positive and finite in `f32`, the precision Burn tabulates in.
    pub fn validate(&self, d_head: usize) -> Result<()> {
        validate::size("max_len", self.max_len)?;
        validate::size("d_head", d_head)?;
        if !d_head.is_multiple_of(2) {
            return Err(NnError::OddRotaryWidth { d_head });
        }
        validate::positive("theta", self.theta)?;
        // Burn stores theta as f32: a tiny or huge f64 would round to 0 or infinity there.
        validate::positive("theta", f64::from(self.theta as f32))?;
        Ok(())
    }

    /// Builds the table for heads of width `d_head` on `device`.
    ///
    /// # Errors
    /// See [`RotaryConfig::validate`].
    pub fn init(&self, d_head: usize, device: &Device) -> Result<Rotary> {
        self.validate(d_head)?;
        let encoding = RotaryEncodingConfig::new(self.max_len, d_head)
            .with_theta(self.theta as f32)
            .init(device);
        Ok(Rotary { encoding, max_len: self.max_len, d_head })
    }
}

/// See [`RotaryConfig`]: Burn's [`RotaryEncoding`] with its sizes checked.
#[derive(Module, Debug)]
pub struct Rotary {
    encoding: RotaryEncoding,
    max_len: usize,
    d_head: usize,
}

impl Rotary {
    /// The longest sequence the table covers.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Rotates the features of positions `start..start + seq` [SU21, Sec. 3.2].
    ///
    /// # Shapes
    /// `x: [batch, heads, seq, d_head]` -> `[batch, heads, seq, d_head]`.
    ///
    /// # Errors
    /// A last dimension other than `d_head` ([`NnError::Shape`]); `start + seq > max_len`
    /// ([`NnError::SequenceTooLong`]).
    pub fn apply(&self, x: Tensor<4>, start: usize) -> Result<Tensor<4>> {
        let [batch, heads, seq, d_head] = x.dims();
        check_shape(
            "rotary input",
            &[batch, heads, seq, self.d_head],
            &[batch, heads, seq, d_head],
        )?;
        self.check_len(start + seq)?;
        Ok(self.encoding.apply(x, start))
    }

    /// # Errors
    /// [`NnError::SequenceTooLong`] if positions `0..len` are not all in the table.
    fn check_len(&self, len: usize) -> Result<()> {
        if len > self.max_len {
            return Err(NnError::SequenceTooLong { len, max: self.max_len });
        }
        Ok(())
    }
}

/// Multi-head self-attention with one fused `qkv` projection.
#[derive(Config, Debug)]
pub struct SelfAttentionConfig {
    /// Token width.
    pub d_model: usize,
    /// Attention heads; `d_model` must be a multiple of it.
    pub n_heads: usize,
    /// Which keys each query sees.
    pub visibility: Visibility,
    /// Rotary positions on queries and keys; `None` leaves attention position-free
    /// (permutation-equivariant without a mask).
    pub rotary: Option<RotaryConfig>,
}

impl SelfAttentionConfig {
    /// Builds the layer on `device`: `qkv: Linear(d_model, 3 d_model)`, then
    /// `out: Linear(d_model, d_model)`.
    ///
    /// # Errors
    /// A zero size; `d_model` not a multiple of `n_heads`; with rotary positions, an odd
    /// head width or a bad table (see [`RotaryConfig::validate`]).
    pub fn init(&self, device: &Device) -> Result<SelfAttention> {
        validate::size("d_model", self.d_model)?;
        validate::multiple_of("d_model", self.d_model, "n_heads", self.n_heads)?;
        let d_head = self.d_model / self.n_heads;
        if let Some(rotary) = &self.rotary {
            rotary.validate(d_head)?;
        }
        let qkv = LinearConfig::new(self.d_model, 3 * self.d_model).init(device);
        let out = LinearConfig::new(self.d_model, self.d_model).init(device);
        let rotary = self.rotary.as_ref().map(|r| r.init(d_head, device)).transpose()?;
        Ok(SelfAttention {
            qkv,
            out,
            rotary,
            d_model: self.d_model,
            n_heads: self.n_heads,
            causal: self.visibility == Visibility::Causal,
        })
    }
}

/// See [`SelfAttentionConfig`].
#[derive(Module, Debug)]
pub struct SelfAttention {
    qkv: Linear,
    out: Linear,
    rotary: Option<Rotary>,
    d_model: usize,
    n_heads: usize,
    causal: bool,
}

impl SelfAttention {
    /// Token width.
    pub fn d_model(&self) -> usize {
        self.d_model
    }

    /// Attention heads.
    pub fn n_heads(&self) -> usize {
        self.n_heads
    }

    /// Which keys each query sees.
    pub fn visibility(&self) -> Visibility {
        if self.causal { Visibility::Causal } else { Visibility::Bidirectional }
    }

    /// `W_out concat_h softmax(q_h k_h^T / sqrt(d_head)) v_h` [VASWANI17, Eq. 1], queries
    /// and keys rotated when rotary positions are configured [SU21, Sec. 3.2]. `hidden`
    /// (`true` = the key is hidden from the query) hides keys beyond those the visibility
    /// hides; its batch, head and query dimensions may be 1 (broadcast), as
    /// [`padding_mask`] makes them. A query that sees no key at all gets an undefined
    /// (backend-dependent) output.
    ///
    /// # Shapes
    /// `x: [batch, seq, d_model]`, `hidden: [batch | 1, n_heads | 1, seq | 1, seq]` ->
    /// `[batch, seq, d_model]`.
    ///
    /// # Errors
    /// `x` not `d_model` wide or `hidden` of another shape ([`NnError::Shape`]); an empty
    /// batch or sequence; a sequence longer than the rotary table
    /// ([`NnError::SequenceTooLong`]).
    pub fn forward(&self, x: Tensor<3>, hidden: Option<Tensor<4, Bool>>) -> Result<Tensor<3>> {
        let hidden = self.check(&x, hidden)?;
        Ok(self.attend(x, hidden))
    }

    /// Checks the inputs of [`SelfAttention::forward`] and broadcasts `hidden` to
    /// `[batch, n_heads, seq, seq]`.
    ///
    /// # Errors
    /// As [`SelfAttention::forward`].
    pub(crate) fn check(
        &self,
        x: &Tensor<3>,
        hidden: Option<Tensor<4, Bool>>,
    ) -> Result<Option<Tensor<4, Bool>>> {
        let [batch, seq, d_model] = x.dims();
        check_shape("x", &[batch, seq, self.d_model], &[batch, seq, d_model])?;
        // An empty batch or sequence has nothing to attend (and Burn's reshapes refuse it).
        validate::size("batch", batch)?;
        validate::size("seq", seq)?;
        if let Some(rotary) = &self.rotary {
            rotary.check_len(seq)?;
        }
        hidden.map(|h| expand_hidden(h, [batch, self.n_heads, seq, seq])).transpose()
    }

    /// [`SelfAttention::forward`] on inputs already checked (`hidden` at full shape).
    pub(crate) fn attend(&self, x: Tensor<3>, hidden: Option<Tensor<4, Bool>>) -> Tensor<3> {
        self.attend_call(x, hidden, &mut AttentionCall::default())
    }

    /// [`SelfAttention::attend`] at `call.positions`, the keys and values of `call.past`
    /// (earlier tokens, already rotated) prepended to this call's; this call's keys and values
    /// are left in `call.present`. Checked by the caller: the rotary table covers the
    /// positions, `hidden` is `None` when there is a past.
    pub(crate) fn attend_call(
        &self,
        x: Tensor<3>,
        hidden: Option<Tensor<4, Bool>>,
        call: &mut AttentionCall<'_>,
    ) -> Tensor<3> {
        let [batch, seq, d_model] = x.dims();
        let [q, k, v] = self.split_heads(self.qkv.forward(x));
        let (q, k) = match &self.rotary {
            Some(rotary) => (
                call.positions.rotate(&rotary.encoding, q),
                call.positions.rotate(&rotary.encoding, k),
            ),
            None => (q, k),
        };
        let (keys, values) = match call.past {
            // [batch, heads, past, d_head] ++ [batch, heads, seq, d_head] along the sequence
            Some((past_k, past_v)) => (
                Tensor::cat(vec![past_k.clone(), k.clone()], 2),
                Tensor::cat(vec![past_v.clone(), v.clone()], 2),
            ),
            None => (k.clone(), v.clone()),
        };
        call.present = Some((k, v));
        // A cached call's queries see every past key: no causal square mask applies.
        let is_causal = self.causal && call.past.is_none();
        let options = AttentionModuleOptions { scale: None, softcap: None, is_causal };
        // [batch, heads, seq, d_head] -> [batch, seq, heads, d_head] -> [batch, seq, d_model]
        let heads = attention(q, keys, values, hidden, None, options).swap_dims(1, 2);
        self.out.forward(heads.reshape([batch, seq, d_model]))
    }

    /// Splits the fused projection into per-head queries, keys and values.
    ///
    /// # Shapes
    /// `[batch, seq, 3 d_model]` -> 3 x `[batch, heads, seq, d_head]`.
    fn split_heads(&self, qkv: Tensor<3>) -> [Tensor<4>; 3] {
        let [batch, seq, _] = qkv.dims();
        let (heads, d_head) = (self.n_heads, self.d_model / self.n_heads);
        // [batch, seq, 3 d_model] -> [batch, seq, 3, heads, d_head] -> [3, batch, heads, seq, d_head]
        let qkv = qkv.reshape([batch, seq, 3, heads, d_head]).permute([2, 0, 3, 1, 4]);
        // [1, batch, heads, seq, d_head] -> [batch, heads, seq, d_head]
        let part = |i: usize| qkv.clone().narrow(0, i, 1).reshape([batch, heads, seq, d_head]);
        [part(0), part(1), part(2)]
    }
}

/// The positions of a call's tokens for the rotary encoding: `start + i`, or, with a
/// `period`, `i % period` (a sequence of equal segments that each start at 0, as
/// block diffusion's `x_t (+) x0` input [ARRIOLA25, Sec. 3.2]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Positions {
    /// The first token's position.
    pub start: usize,
    /// `Some(n)`: positions restart at 0 every `n` tokens (`start` must then be 0).
    pub period: Option<usize>,
}

impl Positions {
    /// The largest position plus one of a call of `seq` tokens.
    pub fn end(&self, seq: usize) -> usize {
        match self.period {
            Some(period) => period.min(seq),
            None => self.start + seq,
        }
    }

    /// Rotates `x: [batch, heads, seq, d_head]` at these positions.
    fn rotate(&self, encoding: &RotaryEncoding, x: Tensor<4>) -> Tensor<4> {
        let [.., seq, _] = x.dims();
        match self.period {
            Some(period) if period < seq => {
                // Each segment of `period` tokens rotated from position 0.
                let segments = (0..seq).step_by(period).map(|first| {
                    encoding.apply(x.clone().narrow(2, first, period.min(seq - first)), 0)
                });
                Tensor::cat(segments.collect(), 2)
            }
            _ => encoding.apply(x, self.start),
        }
    }
}

/// One layer's attention inputs beyond the tokens: their positions, and the cached keys and
/// values of earlier tokens; after the call, this call's own.
#[derive(Debug, Default)]
pub(crate) struct AttentionCall<'a> {
    /// Where the tokens sit.
    pub positions: Positions,
    /// Keys and values of earlier tokens, `[batch, heads, past, d_head]` each.
    pub past: Option<&'a (Tensor<4>, Tensor<4>)>,
    /// This call's keys and values.
    pub present: Option<(Tensor<4>, Tensor<4>)>,
}

/// Checks a mask of hidden keys and broadcasts it to the full attention shape.
///
/// # Shapes
/// `hidden: [batch | 1, heads | 1, seq_q | 1, seq_k]` -> `full = [batch, heads, seq_q, seq_k]`.
///
/// # Errors
/// [`NnError::Shape`] when a dimension is neither 1 nor the full size, or the key dimension
/// differs.
fn expand_hidden(hidden: Tensor<4, Bool>, full: [usize; 4]) -> Result<Tensor<4, Bool>> {
    let dims = hidden.dims();
    let broadcastable = (0..3).all(|i| dims[i] == 1 || dims[i] == full[i]) && dims[3] == full[3];
    if !broadcastable {
        return Err(NnError::Shape { what: "hidden", expected: full.to_vec(), got: dims.to_vec() });
    }
    Ok(hidden.expand(full))
}

/// The mask that hides padding: in row `b`, keys at positions `>= valid[b]` are hidden
/// from every query.
///
/// # Shapes
/// `valid`: one length per batch row -> `[batch, 1, 1, seq]`.
///
/// # Errors
/// An empty `valid` or a zero `seq`; a valid length outside `1..=seq`
/// ([`NnError::ValidLength`]; a row with no valid key would leave its queries nothing to
/// attend to).
pub fn padding_mask(valid: &[usize], seq: usize, device: &Device) -> Result<Tensor<4, Bool>> {
    validate::size("batch", valid.len())?;
    validate::size("seq", seq)?;
    if let Some((row, &len)) = valid.iter().enumerate().find(|&(_, &len)| len == 0 || len > seq) {
        return Err(NnError::ValidLength { row, valid: len, seq });
    }
    let hidden: Vec<bool> = valid.iter().flat_map(|&len| (0..seq).map(move |j| j >= len)).collect();
    Ok(Tensor::from_data(TensorData::new(hidden, [valid.len(), 1, 1, seq]), device))
}

/// Multi-head cross-attention: queries from the token stream, keys and values from a
/// memory of other tokens (an image's patch tokens for BLIP's image-grounded text
/// encoder and decoder [LI22, Sec. 3.1]), `softmax(q k^T / sqrt(d_head)) v` per head
/// [VASWANI17, Sec. 3.2.3].
#[derive(Config, Debug)]
pub struct CrossAttentionConfig {
    /// Width of the query stream.
    pub d_model: usize,
    /// Width of the memory tokens (projected to `d_model` for keys and values).
    pub d_memory: usize,
    /// Attention heads; `d_model` must be a multiple of it.
    pub n_heads: usize,
}

impl CrossAttentionConfig {
    /// Builds the layer on `device`: `query: Linear(d_model, d_model)`,
    /// `key_value: Linear(d_memory, 2 d_model)`, `out: Linear(d_model, d_model)`.
    ///
    /// # Errors
    /// A zero size; `d_model` not a multiple of `n_heads`.
    pub fn init(&self, device: &Device) -> Result<CrossAttention> {
        validate::size("d_model", self.d_model)?;
        validate::size("d_memory", self.d_memory)?;
        validate::multiple_of("d_model", self.d_model, "n_heads", self.n_heads)?;
        Ok(CrossAttention {
            query: LinearConfig::new(self.d_model, self.d_model).init(device),
            key_value: LinearConfig::new(self.d_memory, 2 * self.d_model).init(device),
            out: LinearConfig::new(self.d_model, self.d_model).init(device),
            d_model: self.d_model,
            d_memory: self.d_memory,
            n_heads: self.n_heads,
        })
    }
}

/// See [`CrossAttentionConfig`].
#[derive(Module, Debug)]
pub struct CrossAttention {
    query: Linear,
    key_value: Linear,
    out: Linear,
    d_model: usize,
    d_memory: usize,
    n_heads: usize,
}

/// The tokens a cross-attention reads, with the memory tokens each row must ignore.
#[derive(Debug, Clone)]
pub struct Memory {
    /// The memory tokens, `[batch, seq_memory, d_memory]`.
    pub tokens: Tensor<3>,
    /// `true` hides a memory token (padding, a dropped patch), as in
    /// [`SelfAttention::forward`]: `[batch | 1, n_heads | 1, seq | 1, seq_memory]`.
    pub hidden: Option<Tensor<4, Bool>>,
}

impl CrossAttention {
    /// Width of the memory tokens.
    pub fn d_memory(&self) -> usize {
        self.d_memory
    }

    /// `W_out concat_h softmax(q_h k_h^T / sqrt(d_head)) v_h` with `q` from `x` and `k, v`
    /// from the memory [VASWANI17, Sec. 3.2.3]. As in [`SelfAttention::forward`], a query
    /// whose memory tokens are all hidden gets an undefined (backend-dependent) output.
    ///
    /// # Shapes
    /// `x: [batch, seq, d_model]`, `memory.tokens: [batch, seq_memory, d_memory]` ->
    /// `[batch, seq, d_model]`.
    ///
    /// # Errors
    /// `x` or the memory of the wrong width or batch, or `memory.hidden` of another shape
    /// ([`NnError::Shape`]); an empty batch, sequence or memory.
    pub fn forward(&self, x: Tensor<3>, memory: &Memory) -> Result<Tensor<3>> {
        let hidden = self.check(&x, memory)?;
        Ok(self.attend(x, memory.tokens.clone(), hidden))
    }

    /// Checks the inputs of [`CrossAttention::forward`] and broadcasts the memory's hidden
    /// mask to `[batch, n_heads, seq, seq_memory]`.
    ///
    /// # Errors
    /// As [`CrossAttention::forward`].
    pub(crate) fn check(&self, x: &Tensor<3>, memory: &Memory) -> Result<Option<Tensor<4, Bool>>> {
        let [batch, seq, d_model] = x.dims();
        check_shape("x", &[batch, seq, self.d_model], &[batch, seq, d_model])?;
        let [memory_batch, seq_memory, d_memory] = memory.tokens.dims();
        check_shape(
            "memory",
            &[batch, seq_memory, self.d_memory],
            &[memory_batch, seq_memory, d_memory],
        )?;
        validate::size("batch", batch)?;
        validate::size("seq", seq)?;
        validate::size("seq_memory", seq_memory)?;
        let full = [batch, self.n_heads, seq, seq_memory];
        memory.hidden.clone().map(|h| expand_hidden(h, full)).transpose()
    }

    /// [`CrossAttention::forward`] on checked inputs.
    pub(crate) fn attend(
        &self,
        x: Tensor<3>,
        memory: Tensor<3>,
        hidden: Option<Tensor<4, Bool>>,
    ) -> Tensor<3> {
        let [batch, seq, d_model] = x.dims();
        let q = self.heads(self.query.forward(x));
        // [batch, seq_memory, 2 d_model] -> 2 x [batch, seq_memory, d_model]
        let key_value = self.key_value.forward(memory);
        let k = self.heads(key_value.clone().narrow(2, 0, d_model));
        let v = self.heads(key_value.narrow(2, d_model, d_model));
        let options = AttentionModuleOptions { scale: None, softcap: None, is_causal: false };
        // [batch, heads, seq, d_head] -> [batch, seq, heads, d_head] -> [batch, seq, d_model]
        let heads = attention(q, k, v, hidden, None, options).swap_dims(1, 2);
        self.out.forward(heads.reshape([batch, seq, d_model]))
    }

    /// # Shapes
    /// `[batch, seq, d_model]` -> `[batch, heads, seq, d_head]`.
    fn heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [batch, seq, _] = x.dims();
        let (heads, d_head) = (self.n_heads, self.d_model / self.n_heads);
        // [batch, seq, d_model] -> [batch, seq, heads, d_head] -> [batch, heads, seq, d_head]
        x.reshape([batch, seq, heads, d_head]).swap_dims(1, 2)
    }
}
