//! The losses: CLIP's softmax [`ClipLoss`], SigLIP's sigmoid [`SiglipLoss`] (plain,
//! chunked, sharded), CatLIP's multi-label [`CatlipLoss`], and [`ContrastiveLossConfig`],
//! the built-in pair losses as one serialisable choice.

pub mod catlip;
pub mod clip;
pub mod siglip;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use catlip::{CatlipLoss, LabelVocabulary, STOPWORDS};
pub use clip::{ClipLoss, ClipLossConfig};
pub use siglip::{Exchange, LocalRing, Ring, SiglipLoss, SiglipLossConfig};

use crate::error::Result;

/// A built-in image-text pair loss with its settings (JSON: `{"kind": "siglip", ...}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ContrastiveLossConfig {
    /// [`ClipLoss`].
    Clip(ClipLossConfig),
    /// [`SiglipLoss`].
    Siglip(SiglipLossConfig),
}

impl ContrastiveLossConfig {
    /// CLIP at its paper defaults.
    pub fn clip() -> Self {
        Self::Clip(ClipLossConfig::default())
    }

    /// SigLIP at its paper defaults.
    pub fn siglip() -> Self {
        Self::Siglip(SiglipLossConfig::default())
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// As the variant's `init`.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Clip(c) => c.validate(),
            Self::Siglip(c) => c.validate(),
        }
    }

    /// Builds the loss on `device`.
    ///
    /// # Errors
    /// As the variant's `init`.
    pub fn init(&self, device: &Device) -> Result<ContrastiveLoss> {
        Ok(match self {
            Self::Clip(c) => ContrastiveLoss::Clip(c.init(device)?),
            Self::Siglip(c) => ContrastiveLoss::Siglip(c.init(device)?),
        })
    }
}

/// A built [`ContrastiveLossConfig`].
#[derive(Module, Debug)]
pub enum ContrastiveLoss {
    /// [`ClipLoss`].
    Clip(ClipLoss),
    /// [`SiglipLoss`].
    Siglip(SiglipLoss),
}

impl ContrastiveLoss {
    /// The loss of a batch of L2-normalised pairs (row `i` of each a pair).
    ///
    /// # Shapes
    /// `image, text: [batch, dim]` -> `[1]`.
    ///
    /// # Errors
    /// Batches of different sizes or dimensions, or an empty one.
    pub fn forward(&self, image: Tensor<2>, text: Tensor<2>) -> Result<Tensor<1>> {
        match self {
            Self::Clip(loss) => loss.forward(image, text),
            Self::Siglip(loss) => loss.forward(image, text),
        }
    }

    /// The similarity logits the loss sees, `[n, m]` (for pictures and filtering scores).
    pub fn logits(&self, image: Tensor<2>, text: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Clip(loss) => loss.logits(image, text),
            Self::Siglip(loss) => loss.logits(image, text),
        }
    }
}
