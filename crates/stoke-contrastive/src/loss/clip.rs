//! CLIP's symmetric InfoNCE loss with a learnable logit scale [RADFORD21, Fig. 3].

use burn::module::{Module, Param};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use stoke_core::validate;

use crate::error::{Result, check_pair};

/// CLIP's loss: `logits = exp(t) X Y^T`, cross-entropy of each image against the texts and
/// of each text against the images, averaged [RADFORD21, Fig. 3].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClipLossConfig {
    /// Initial `t = ln(logit scale)`: `ln(1 / 0.07)` [RADFORD21, Sec. 2.5].
    pub init_log_scale: f64,
    /// `t` is clamped at `ln(100)` so the scale never passes 100 [RADFORD21, Sec. 2.5].
    pub max_log_scale: f64,
}

impl Default for ClipLossConfig {
    fn default() -> Self {
        Self { init_log_scale: (1.0f64 / 0.07).ln(), max_log_scale: 100f64.ln() }
    }
}

impl ClipLossConfig {
    /// Checks the config.
    ///
    /// # Errors
    /// A non-finite `init_log_scale` or `max_log_scale`.
    pub fn validate(&self) -> Result<()> {
        validate::finite("init_log_scale", self.init_log_scale)?;
        validate::finite("max_log_scale", self.max_log_scale)?;
        Ok(())
    }

    /// Builds the loss with its learnable `t` on `device`.
    ///
    /// # Errors
    /// See [`ClipLossConfig::validate`].
    pub fn init(&self, device: &Device) -> Result<ClipLoss> {
        self.validate()?;
        let log_scale = Tensor::<1>::from_floats([self.init_log_scale as f32], device);
        Ok(ClipLoss { log_scale: Param::from_tensor(log_scale), max_log_scale: self.max_log_scale })
    }
}

/// See [`ClipLossConfig`].
#[derive(Module, Debug)]
pub struct ClipLoss {
    /// `t = ln(logit scale)`, learned.
    pub log_scale: Param<Tensor<1>>,
    max_log_scale: f64,
}

impl ClipLoss {
    /// The logit scale `exp(min(t, max_log_scale))` (the clamp passes no gradient above it).
    ///
    /// # Shapes
    /// `[1]`.
    pub fn scale(&self) -> Tensor<1> {
        self.log_scale.val().clamp_max(self.max_log_scale).exp()
    }

    /// `exp(t) X Y^T`, the logits of both cross-entropies [RADFORD21, Fig. 3].
    ///
    /// # Shapes
    /// `image: [n, dim]`, `text: [m, dim]` -> `[n, m]`.
    pub fn logits(&self, image: Tensor<2>, text: Tensor<2>) -> Tensor<2> {
        // [n, dim] x [dim, m] -> [n, m], scaled by [1, 1]
        image.matmul(text.transpose()) * self.scale().reshape([1, 1])
    }

    /// The mean over the batch of [`ClipLoss::forward_no_reduction`], open_clip's `ClipLoss`.
    ///
    /// # Shapes
    /// `image, text: [batch, dim]`, L2-normalised, row `i` of each a pair -> `[1]`.
    ///
    /// # Errors
    /// As [`ClipLoss::forward_no_reduction`].
    pub fn forward(&self, image: Tensor<2>, text: Tensor<2>) -> Result<Tensor<1>> {
        Ok(self.forward_no_reduction(image, text)?.mean())
    }

    /// Per pair `i`: `(CE(logits_i., i) + CE(logits_.i, i)) / 2` with
    /// `logits = exp(t) X Y^T` [RADFORD21, Fig. 3].
    ///
    /// # Shapes
    /// `image, text: [batch, dim]` -> `[batch]`.
    ///
    /// # Errors
    /// Batches of different sizes or dimensions, or an empty one
    /// ([`ContrastiveError::Shape`](crate::ContrastiveError::Shape)).
    pub fn forward_no_reduction(&self, image: Tensor<2>, text: Tensor<2>) -> Result<Tensor<1>> {
        let [batch, _] = check_pair(&image.dims(), &text.dims())?;
        let device = image.device();
        let logits = self.logits(image, text);
        let eye = Tensor::<2>::eye(batch, &device);
        // log p(text i | image i): the diagonal of the row-wise log-softmax -> [batch]
        let image_to_text = (log_softmax(logits.clone(), 1) * eye.clone()).sum_dim(1);
        // log p(image i | text i): the diagonal of the column-wise log-softmax
        let text_to_image = (log_softmax(logits, 0) * eye).sum_dim(0).transpose();
        Ok((image_to_text + text_to_image).reshape([batch]).mul_scalar(-0.5))
    }
}
