//! # stoke-nn
//!
//! Every network of Stoke, so that a user of any library crate can take one without the
//! trainer: MLPs ([`TimeMlp`], [`Mlp`]), a [`Classifier`], multi-head [`SelfAttention`]
//! with causal or bidirectional visibility, rotary positions and masks, the pre-norm and
//! adaLN-zero transformer [`Block`] (with an optional [`CrossAttention`] sublayer), patch
//! embeddings, the class-conditional [`Dit`], and the two towers of a contrastive
//! image-text model: the [`Vit`] image encoder (with FLIP's patch dropping) and the
//! [`TextTransformer`] (causal or bidirectional, end-of-text or mean pooling), and the
//! [`LmTransformer`] with a language-model head that the discrete-diffusion models and their
//! autoregressive baseline share, and BLIP's multimodal mixture of encoder-decoder
//! ([`Med`]: one text transformer as text encoder, image-grounded encoder and
//! image-grounded decoder, every weight but the self-attention shared).
//!
//! Design decision: this crate holds networks and nothing else (no losses, samplers, data,
//! file I/O or backend features), each built the way Burn builds its layers,
//! `XConfig -> init(&device) -> X -> forward`, on Burn's own pieces (the fused `attention`
//! op, `RotaryEncoding`, `LayerNorm`, `RmsNorm`, `Linear`, `Embedding`). What it adds is
//! what Burn lacks: `init` validates every size and returns a [`NnError`] naming the bad
//! value where Burn would panic (an odd rotary width, a sequence past the rotary table, a
//! mask of the wrong shape), and shapes are documented on every call. It does not depend
//! on `stoke-diffusion`: a network's `as_network()` is a closure
//! `Fn(Tensor<D>, Tensor<1>, Option<Tensor<1, Int>>) -> Tensor<D>`, which is a
//! `stoke_diffusion::denoiser::Network<D>` by that crate's blanket impl.
//!
//! Paper keys (`[PEEBLES23, Fig. 3]`) resolve in `docs/papers.md`.
//!
//! ```
//! use burn::tensor::{Device, Int, Tensor};
//! use stoke_nn::{BlockConfig, DitConfig, Norm, Visibility, padding_mask};
//!
//! let device = Device::flex();
//! // A causal transformer block on two sequences, the second padded after 3 tokens.
//! let block = BlockConfig::new(32, 4, Visibility::Causal, Norm::LayerNorm).init(&device)?;
//! let x = Tensor::<3>::zeros([2, 6, 32], &device);
//! let hidden = padding_mask(&[6, 3], 6, &device)?;
//! assert_eq!(block.forward(x, None, Some(hidden))?.dims(), [2, 6, 32]);
//!
//! // The digits DiT at its defaults, called as a diffusion network.
//! let dit = DitConfig::new().init(&device)?;
//! let network = dit.as_network();
//! let noisy = Tensor::<2>::zeros([4, 64], &device);
//! let t = Tensor::<1>::ones([4], &device);
//! assert_eq!(network(noisy, t, None::<Tensor<1, Int>>).dims(), [4, 64]);
//!
//! // A bad size is an error, not a panic.
//! assert!(BlockConfig::new(30, 4, Visibility::Causal, Norm::LayerNorm).init(&device).is_err());
//! # Ok::<(), stoke_nn::NnError>(())
//! ```

pub mod attention;
pub mod block;
pub mod classifier;
pub mod dit;
pub mod embedding;
pub mod error;
pub mod lm;
pub mod med;
pub mod mlp;
pub mod norm;
pub mod patch;
pub mod text;
pub mod vit;

pub use attention::{
    CrossAttention, CrossAttentionConfig, Memory, Positions, Rotary, RotaryConfig, SelfAttention,
    SelfAttentionConfig, Visibility, padding_mask,
};
pub use block::{Block, BlockConfig};
pub use classifier::{Classifier, ClassifierConfig};
pub use dit::{Dit, DitConfig};
pub use embedding::{Frequencies, TokenEmbedding, TokenEmbeddingConfig, sinusoidal_embedding};
pub use error::{NnError, Result};
pub use lm::{KvCache, LmTransformer, LmTransformerConfig};
pub use med::{Med, MedConfig, MedLayer, MedMode};
pub use mlp::{Mlp, MlpConfig, TimeMlp, TimeMlpConfig};
pub use norm::Norm;
pub use patch::{PatchEmbed, PatchEmbedConfig, patchify, unpatchify};
pub use text::{TextPooling, TextTransformer, TextTransformerConfig};
pub use vit::{KeptPatches, Vit, VitConfig, VitPooling};
