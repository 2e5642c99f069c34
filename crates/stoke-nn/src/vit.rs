//! The Vision Transformer image encoder [DOSOVITSKIY21, Sec. 3.1]: patches embedded
//! linearly, learned positions added, an optional class token prepended, pre-norm blocks,
//! a final norm, and the class token or the mean of the patch tokens as the image's vector.
//!
//! Patches can be dropped by index before the blocks (FLIP's masking [LI23, Sec. 3]):
//! positions are added first, so a kept patch keeps its position, and a dropped patch never
//! reaches the blocks, so it cannot influence the output. [`KeptPatches::lowest`] turns
//! per-patch noise into the kept set the way MAE and FLIP do (keep the patches with the
//! lowest noise); this crate draws no random numbers itself.
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use stoke_nn::vit::{KeptPatches, VitConfig, VitPooling};
//!
//! let device = Device::flex();
//! // 8x8 grey images in 2x2 patches: 16 patch tokens plus a class token.
//! let vit = VitConfig::new(1, 8, 2, 32, 2, 4).with_pooling(VitPooling::ClassToken).init(&device)?;
//! let images = Tensor::<4>::random([3, 1, 8, 8], Distribution::Default, &device);
//! assert_eq!(vit.forward(images.clone(), None)?.dims(), [3, 32]);
//! // Keep 4 of the 16 patches of each image (FLIP at mask ratio 0.75).
//! let noise: Vec<f32> = (0..3 * 16).map(|i| ((i * 7) % 16) as f32).collect();
//! let kept = KeptPatches::lowest(&noise, 3, 16, 4)?;
//! assert_eq!(vit.tokens(images, Some(&kept))?.dims(), [3, 5, 32]);
//! // An image of another size is an error, not a panic inside Burn.
//! assert!(vit.forward(Tensor::<4>::zeros([1, 1, 6, 6], &device), None).is_err());
//! # Ok::<(), stoke_nn::NnError>(())
//! ```

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Int, Tensor, TensorData};
use stoke_core::validate;

use crate::attention::Visibility;
use crate::block::{Block, BlockConfig};
use crate::error::{NnError, Result, check_shape};
use crate::norm::{Norm, NormLayer};
use crate::patch::{PatchEmbed, PatchEmbedConfig};

/// How the ViT turns its tokens into one vector per image.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum VitPooling {
    /// The output at a learned class token prepended to the patches (CLIP's ViT
    /// [RADFORD21, Sec. 2.4]).
    ClassToken,
    /// The mean of the (kept) patch tokens; no class token (SigLIP uses a learned-query
    /// head, big_vision's `gap` is this mean [ZHAI23, Sec. 4]).
    Mean,
}

/// A ViT over square images.
#[derive(Config, Debug)]
pub struct VitConfig {
    /// Image channels.
    pub channels: usize,
    /// Image side (images are `image_size x image_size`).
    pub image_size: usize,
    /// Patch side; `image_size` must be a multiple of it.
    pub patch: usize,
    /// Token width.
    pub d_model: usize,
    /// Number of transformer blocks.
    pub n_layers: usize,
    /// Attention heads per block.
    pub n_heads: usize,
    /// MLP hidden width as a multiple of `d_model` (4 in [DOSOVITSKIY21, Table 1]).
    #[config(default = 4)]
    pub mlp_ratio: usize,
    /// The image vector: class token or mean of the patch tokens.
    #[config(default = "VitPooling::ClassToken")]
    pub pooling: VitPooling,
    /// The blocks' norm and the final norm.
    #[config(default = "Norm::LayerNorm")]
    pub norm: Norm,
}

impl VitConfig {
    /// Patches per image, `(image_size / patch)^2`.
    pub fn n_patches(&self) -> usize {
        let side = self.image_size / self.patch.max(1);
        side * side
    }

    /// Builds the encoder on `device`. Positions and the class token are drawn from
    /// `N(0, d_model^-1/2)`, open_clip's initialisation.
    ///
    /// # Errors
    /// A zero size; `image_size` not a multiple of `patch`; `d_model` not a multiple of
    /// `n_heads`.
    pub fn init(&self, device: &Device) -> Result<Vit> {
        validate::size("n_layers", self.n_layers)?;
        validate::size("image_size", self.image_size)?;
        validate::size("patch", self.patch)?;
        validate::multiple_of("image_size", self.image_size, "patch", self.patch)?;
        let d_model = self.d_model;
        let patch_embed = PatchEmbedConfig::new(self.channels, self.patch, d_model).init(device)?;
        let block = BlockConfig::new(d_model, self.n_heads, Visibility::Bidirectional, self.norm)
            .with_mlp_ratio(self.mlp_ratio);
        let blocks = (0..self.n_layers).map(|_| block.init(device)).collect::<Result<_>>()?;
        let std = (d_model as f64).powf(-0.5);
        let normal = Initializer::Normal { mean: 0.0, std };
        let n_patches = validate::product("n_patches", &[self.n_patches(), d_model])? / d_model;
        let class_token = match self.pooling {
            VitPooling::ClassToken => Some(normal.init([1, 1, d_model], device)),
            VitPooling::Mean => None,
        };
        Ok(Vit {
            patch_embed,
            positions: normal.init([1, n_patches, d_model], device),
            class_token,
            blocks,
            norm: self.norm.init(d_model, device),
            channels: self.channels,
            image_size: self.image_size,
            n_patches,
            d_model,
        })
    }
}

/// See [`VitConfig`].
#[derive(Module, Debug)]
pub struct Vit {
    patch_embed: PatchEmbed,
    positions: Param<Tensor<3>>,
    class_token: Option<Param<Tensor<3>>>,
    blocks: Vec<Block>,
    norm: NormLayer,
    channels: usize,
    image_size: usize,
    n_patches: usize,
    d_model: usize,
}

/// Which patches of each image reach the transformer (FLIP's masking [LI23, Sec. 3]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptPatches {
    indices: Vec<i64>,
    batch: usize,
    n_keep: usize,
    n_patches: usize,
}

impl KeptPatches {
    /// Keeps, in each row, the patches listed there (row-major, `n_keep` per row).
    ///
    /// # Errors
    /// A zero size; `indices.len() != batch * n_keep`; an index `>= n_patches` or one listed
    /// twice in a row ([`NnError::PatchIndex`]; a repeated patch would count twice in the
    /// attention).
    pub fn new(indices: &[usize], batch: usize, n_keep: usize, n_patches: usize) -> Result<Self> {
        validate::size("batch", batch)?;
        validate::size("n_keep", n_keep)?;
        validate::size("n_patches", n_patches)?;
        validate::same_length("kept patch indices", batch * n_keep, indices.len())?;
        for (row, chunk) in indices.chunks(n_keep).enumerate() {
            let mut seen = vec![false; n_patches];
            for &index in chunk {
                if index >= n_patches || seen[index] {
                    return Err(NnError::PatchIndex { row, index, n_patches });
                }
                seen[index] = true;
            }
        }
        let indices = indices.iter().map(|&i| i as i64).collect();
        Ok(Self { indices, batch, n_keep, n_patches })
    }

    /// Keeps, in each row, the `n_keep` patches of lowest `noise` (ties to the lower index),
    /// in increasing patch order: with uniform noise, a uniformly random subset, as MAE's and
    /// FLIP's `argsort(noise)`.
    ///
    /// # Errors
    /// A zero size; `noise.len() != batch * n_patches`; `n_keep > n_patches`; a NaN in the
    /// noise.
    pub fn lowest(noise: &[f32], batch: usize, n_patches: usize, n_keep: usize) -> Result<Self> {
        validate::size("n_patches", n_patches)?;
        validate::same_length("patch noise", batch * n_patches, noise.len())?;
        validate::at_least("n_patches (patches to keep from)", n_patches, n_keep)?;
        if let Some(&value) = noise.iter().find(|v| v.is_nan()) {
            validate::finite("patch noise", f64::from(value))?;
        }
        let mut indices = Vec::with_capacity(batch * n_keep);
        for row in noise.chunks(n_patches) {
            let mut order: Vec<usize> = (0..n_patches).collect();
            order.sort_by(|&a, &b| row[a].total_cmp(&row[b]).then(a.cmp(&b)));
            let mut kept = order[..n_keep].to_vec();
            kept.sort_unstable();
            indices.extend(kept);
        }
        Self::new(&indices, batch, n_keep, n_patches)
    }

    /// Every patch of every row, in order (no dropping).
    ///
    /// # Errors
    /// A zero size.
    pub fn all(batch: usize, n_patches: usize) -> Result<Self> {
        let indices: Vec<usize> = (0..batch).flat_map(|_| 0..n_patches).collect();
        Self::new(&indices, batch, n_patches, n_patches)
    }

    /// Rows.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Patches kept per row.
    pub fn n_keep(&self) -> usize {
        self.n_keep
    }

    /// The kept patch indices of `row`.
    pub fn row(&self, row: usize) -> impl Iterator<Item = usize> + '_ {
        self.indices[row * self.n_keep..(row + 1) * self.n_keep].iter().map(|&i| i as usize)
    }
}

impl Vit {
    /// Token width (the width of the image vector).
    pub fn d_model(&self) -> usize {
        self.d_model
    }

    /// Patches per image.
    pub fn n_patches(&self) -> usize {
        self.n_patches
    }

    /// The image vectors: the final-normed class token, or the mean of the final-normed
    /// kept patch tokens.
    ///
    /// # Shapes
    /// `images: [batch, channels, image_size, image_size]` -> `[batch, d_model]`.
    ///
    /// # Errors
    /// As [`Vit::tokens`].
    pub fn forward(&self, images: Tensor<4>, kept: Option<&KeptPatches>) -> Result<Tensor<2>> {
        let tokens = self.tokens(images, kept)?;
        let [batch, seq, d_model] = tokens.dims();
        Ok(match self.class_token {
            // [batch, 1 + n_keep, d_model] -> [batch, 1, d_model] -> [batch, d_model]
            Some(_) => tokens.narrow(1, 0, 1).reshape([batch, d_model]),
            // [batch, n_keep, d_model] -> [batch, d_model]
            None => tokens.sum_dim(1).reshape([batch, d_model]).div_scalar(seq as f64),
        })
    }

    /// Every output token after the final norm, the class token first when there is one:
    /// what an image-grounded text encoder cross-attends to [LI22, Sec. 3.1].
    ///
    /// # Shapes
    /// `images: [batch, channels, image_size, image_size]` ->
    /// `[batch, (1) + n_keep, d_model]` (`n_keep = n_patches` without `kept`).
    ///
    /// # Errors
    /// Images of another channel count or size, or `kept` for another batch or patch count
    /// ([`NnError::Shape`]); an empty batch.
    pub fn tokens(&self, images: Tensor<4>, kept: Option<&KeptPatches>) -> Result<Tensor<3>> {
        let [batch, channels, height, width] = images.dims();
        let side = self.image_size;
        check_shape(
            "images",
            &[batch, self.channels, side, side],
            &[batch, channels, height, width],
        )?;
        validate::size("batch", batch)?;
        if let Some(kept) = kept {
            check_shape("kept patches", &[batch, self.n_patches], &[kept.batch, kept.n_patches])?;
        }
        let mut x = self.embed(images, kept);
        for block in &self.blocks {
            x = block.apply(x, None, None, None);
        }
        Ok(self.norm.forward(x))
    }

    /// Patch embeddings plus positions, the kept ones gathered, the class token prepended.
    ///
    /// # Shapes
    /// `[batch, channels, side, side]` -> `[batch, (1) + n_keep, d_model]`.
    fn embed(&self, images: Tensor<4>, kept: Option<&KeptPatches>) -> Tensor<3> {
        let device = images.device();
        let [batch, _, _, _] = images.dims();
        let d_model = self.d_model;
        // [batch, n_patches, d_model] + [1, n_patches, d_model]
        let mut x = self.patch_embed.embed(images) + self.positions.val();
        if let Some(kept) = kept {
            let n_keep = kept.n_keep;
            let data = TensorData::new(kept.indices.clone(), [batch, n_keep, 1]);
            // [batch, n_keep, 1] -> [batch, n_keep, d_model]: the same patch for every feature
            let index = Tensor::<3, Int>::from_data(data, &device).expand([batch, n_keep, d_model]);
            x = x.gather(1, index);
        }
        match &self.class_token {
            // [1, 1, d_model] -> [batch, 1, d_model], then prepended
            Some(class_token) => {
                Tensor::cat(vec![class_token.val().expand([batch, 1, d_model]), x], 1)
            }
            None => x,
        }
    }
}
