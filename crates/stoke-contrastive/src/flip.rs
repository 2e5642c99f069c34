//! FLIP's masking [LI23, Sec. 3]: each image keeps a random `1 - mask_ratio` of its patches
//! during pretraining (the ViT then runs on the kept ones only), followed by a short
//! unmasked tuning phase.

use serde::{Deserialize, Serialize};
use stoke_core::validate;
use stoke_nn::KeptPatches;

use crate::error::Result;

/// The fraction of patches FLIP drops.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FlipMasking {
    /// Dropped fraction, in `[0, 1)` (0.5 and 0.75 in [LI23, Table 1]).
    pub mask_ratio: f64,
}

impl FlipMasking {
    /// Checks the ratio.
    ///
    /// # Errors
    /// A ratio outside `[0, 1)` (at 1 no patch would remain).
    pub fn new(mask_ratio: f64) -> Result<Self> {
        validate::in_half_open("mask_ratio", mask_ratio, 0.0, 1.0, "[0, 1)")?;
        Ok(Self { mask_ratio })
    }

    /// Patches kept of `n_patches`: `round((1 - mask_ratio) n_patches)`, at least 1.
    pub fn n_keep(&self, n_patches: usize) -> usize {
        (((1.0 - self.mask_ratio) * n_patches as f64).round() as usize).clamp(1, n_patches.max(1))
    }

    /// The kept patches of a batch: in each row the [`FlipMasking::n_keep`] patches of
    /// lowest `noise` (uniform noise gives a uniformly random subset).
    ///
    /// # Errors
    /// `noise.len() != batch * n_patches`; a zero size; a NaN in the noise.
    pub fn kept(&self, noise: &[f32], batch: usize, n_patches: usize) -> Result<KeptPatches> {
        Ok(KeptPatches::lowest(noise, batch, n_patches, self.n_keep(n_patches))?)
    }
}
