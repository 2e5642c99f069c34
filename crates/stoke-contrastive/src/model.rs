//! The two-tower model [RADFORD21, Fig. 3]: a [`Vit`] and a [`TextTransformer`] from
//! `stoke-nn`, a linear projection of each into a shared embedding space, L2 normalisation
//! (guarded, [`l2_normalize`]), and LiT's locked image tower [ZHAI22, Sec. 3].

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use stoke_core::validate;
use stoke_nn::{KeptPatches, TextTransformer, TextTransformerConfig, Vit, VitConfig};

use crate::error::Result;
use crate::loss::ContrastiveLoss;
use crate::normalize::l2_normalize;

/// A two-tower image-text model.
#[derive(Config, Debug)]
pub struct TwoTowerConfig {
    /// The image tower.
    pub image: VitConfig,
    /// The text tower.
    pub text: TextTransformerConfig,
    /// Width of the shared embedding space.
    pub d_embed: usize,
}

impl TwoTowerConfig {
    /// Builds both towers and the projections (linear, no bias, as CLIP's) on `device`.
    ///
    /// # Errors
    /// A zero `d_embed`; a tower's config error.
    pub fn init(&self, device: &Device) -> Result<TwoTower> {
        validate::size("d_embed", self.d_embed)?;
        let image = self.image.init(device)?;
        let text = self.text.init(device)?;
        let projection =
            |d_in: usize| LinearConfig::new(d_in, self.d_embed).with_bias(false).init(device);
        Ok(TwoTower {
            image_projection: projection(image.d_model()),
            text_projection: projection(text.d_model()),
            image,
            text,
            image_locked: false,
        })
    }
}

/// See [`TwoTowerConfig`].
#[derive(Module, Debug)]
pub struct TwoTower {
    /// The image tower.
    pub image: Vit,
    /// The text tower.
    pub text: TextTransformer,
    /// Image tower output -> embedding space.
    pub image_projection: Linear,
    /// Text tower output -> embedding space.
    pub text_projection: Linear,
    image_locked: bool,
}

impl TwoTower {
    /// The L2-normalised image embeddings, computed on the kept patches only when `kept` is
    /// given (FLIP [LI23, Sec. 3]).
    ///
    /// # Shapes
    /// `images: [batch, channels, side, side]` -> `[batch, d_embed]`.
    ///
    /// # Errors
    /// As [`Vit::forward`].
    pub fn encode_image(&self, images: Tensor<4>, kept: Option<&KeptPatches>) -> Result<Tensor<2>> {
        let features = self.image.forward(images, kept)?;
        let features = if self.image_locked { features.detach() } else { features };
        Ok(l2_normalize(self.image_projection.forward(features)))
    }

    /// The L2-normalised text embeddings.
    ///
    /// # Shapes
    /// `ids`: `batch` rows of `seq` ids; `lengths`: `batch` valid lengths -> `[batch, d_embed]`.
    ///
    /// # Errors
    /// As [`TextTransformer::forward`].
    pub fn encode_text(
        &self,
        ids: &[i64],
        lengths: &[usize],
        device: &Device,
    ) -> Result<Tensor<2>> {
        let features = self.text.forward(ids, lengths, device)?;
        Ok(l2_normalize(self.text_projection.forward(features)))
    }

    /// LiT's locked image tower [ZHAI22, Sec. 3]: the ViT's parameters stop requiring
    /// gradients (so no gradient reaches them and an optimizer allocates no state for
    /// them) and its output is detached. The image projection stays trainable, as in LiT's
    /// "locked image, unlocked head" setting. The lock is a property of the built model, not
    /// of its record: lock again after loading a checkpoint into a fresh `TwoTower` (Burn's
    /// load keeps the parameters' `require_grad`, so a locked model loaded stays locked).
    pub fn lock_image_tower(mut self) -> Self {
        self.image = self.image.no_grad();
        self.image_locked = true;
        self
    }

    /// Whether the image tower is locked.
    pub fn is_image_locked(&self) -> bool {
        self.image_locked
    }
}

/// A two-tower model with its pair loss, the unit a trainer optimises: the loss owns the
/// learnable logit scale (and SigLIP's bias), so one optimizer updates everything.
#[derive(Module, Debug)]
pub struct ContrastiveModel {
    /// The towers and projections.
    pub towers: TwoTower,
    /// The pair loss with its learnable scalars.
    pub loss: ContrastiveLoss,
}

impl ContrastiveModel {
    /// The loss of a batch of pairs: row `i` of `images` with text row `i`.
    ///
    /// # Shapes
    /// `images: [batch, channels, side, side]`, `ids`: `batch` rows, `lengths`: `batch`
    /// lengths -> `[1]`.
    ///
    /// # Errors
    /// As [`TwoTower::encode_image`], [`TwoTower::encode_text`] and the loss.
    pub fn forward(
        &self,
        images: Tensor<4>,
        kept: Option<&KeptPatches>,
        ids: &[i64],
        lengths: &[usize],
    ) -> Result<Tensor<1>> {
        let device = images.device();
        let image = self.towers.encode_image(images, kept)?;
        let text = self.towers.encode_text(ids, lengths, &device)?;
        self.loss.forward(image, text)
    }
}
