//! # stoke-contrastive
//!
//! Contrastive image-text pretraining on Burn: CLIP's softmax loss [RADFORD21, Fig. 3], SigLIP's
//! sigmoid loss [ZHAI23, Eq. 1] (plain, chunked in `O(batch x chunk)` memory, and sharded round a
//! ring), CatLIP's multi-label classification loss [MEHTA24, Sec. 3], a two-tower model on the
//! `stoke-nn` [`Vit`](stoke_nn::Vit) and [`TextTransformer`](stoke_nn::TextTransformer) with
//! LiT's locked image tower [ZHAI22, Sec. 3] and FLIP's patch dropping [LI23, Sec. 3], and the evaluations
//! that judge them: zero-shot classification with prompt ensembling and retrieval recall.
//!
//! Design decision: losses are Burn modules that own their learnable scalars (CLIP's
//! logit scale, SigLIP's temperature and bias), so an optimizer over the model updates
//! them with everything else, and each has `forward` and `forward_no_reduction` as Burn's
//! losses do. Inputs are L2-normalised embeddings; shapes are checked and a mismatch is a
//! [`ContrastiveError`], never a panic inside Burn. The values match open_clip's
//! `ClipLoss` and `SigLipLoss` (golden tests with the Python beside them).
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use stoke_contrastive::loss::{ClipLossConfig, SiglipLossConfig};
//! use stoke_contrastive::normalize::l2_normalize;
//!
//! let device = Device::flex();
//! let image = l2_normalize(Tensor::<2>::random([8, 16], Distribution::Normal(0.0, 1.0), &device));
//! let text = l2_normalize(Tensor::<2>::random([8, 16], Distribution::Normal(0.0, 1.0), &device));
//! let clip = ClipLossConfig::default().init(&device)?;
//! let siglip = SiglipLossConfig::default().init(&device)?;
//! let chunked = SiglipLossConfig { chunk: Some(3), ..SiglipLossConfig::default() }.init(&device)?;
//! let plain: f32 = siglip.forward(image.clone(), text.clone())?.into_scalar();
//! let by_chunks: f32 = chunked.forward(image.clone(), text.clone())?.into_scalar();
//! assert!((plain - by_chunks).abs() < 1e-4);
//! assert!(clip.forward(image.clone(), text.clone())?.into_scalar::<f32>() > 0.0);
//! // Batches that do not pair up: an error.
//! assert!(clip.forward(image, text.narrow(0, 0, 7)).is_err());
//! # Ok::<(), stoke_contrastive::ContrastiveError>(())
//! ```
//!
//! Paper keys (`[ZHAI23, Eq. 1]`) resolve in `docs/papers.md`.

pub mod blip;
mod error;
pub mod eval;
pub mod flip;
pub mod loss;
pub mod model;
pub mod normalize;

pub use blip::{Blip, BlipConfig};
pub use error::{ContrastiveError, Result};
pub use eval::{
    Retrieval, accuracy, retrieval, retrieval_from_scores, zero_shot_classifier, zero_shot_predict,
};
pub use flip::FlipMasking;
pub use loss::{
    CatlipLoss, ClipLoss, ClipLossConfig, ContrastiveLoss, ContrastiveLossConfig, Exchange,
    LabelVocabulary, LocalRing, Ring, SiglipLoss, SiglipLossConfig,
};
pub use model::{ContrastiveModel, TwoTower, TwoTowerConfig};
pub use normalize::l2_normalize;
