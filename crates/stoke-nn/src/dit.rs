//! A small class-conditional diffusion transformer (DiT) for square images
//! [PEEBLES23, Sec. 3.2].
//!
//! The image is cut into `patch x patch` patches ([`patchify`](crate::patch::patchify)),
//! each embedded linearly with a learned position embedding, then passed through `depth`
//! adaLN-zero [`Block`]s conditioned on `c = MLP(sinusoid(noise_scale noise_cond)) +
//! class_embedding(class)`: every block's shift, scale and gate come from a linear map of
//! `SiLU(c)` that starts at zero, so each block starts as the identity
//! [PEEBLES23, Fig. 3]. A final adaLN layer, also zero-initialised, maps tokens back to
//! patches. Class index `n_classes` is the "null" class of classifier-free guidance
//! [HO22, Sec. 3.2].
//!
//! The default patch is 2x2 (16 tokens on 8x8 images); the digits recipes use 4x4 patches
//! with `width` 48 and `depth` 3, which keeps their sampler runs within minutes on a CPU.
//! With the defaults (`width` 64, `depth` 4, 4 heads, MLP ratio 4, 32 embedding
//! frequencies) the network has 317,700 parameters; `cargo xtask bench digits-nets` times
//! one Adam step against a plain convolution stack, the reason this network is a
//! transformer rather than a UNet.
//!
//! ```
//! use burn::tensor::{Device, Int, Tensor};
//! use stoke_nn::dit::DitConfig;
//!
//! let device = Device::flex();
//! let model = DitConfig::new().with_width(32).with_depth(2).init(&device)?;
//! let x = Tensor::<2>::zeros([3, 64], &device);
//! let noise = Tensor::<1>::from_floats([0.1, 0.5, 0.9], &device);
//! let class = Tensor::<1, Int>::from_ints([0, 7, 10], &device); // 10: the null class
//! assert_eq!(model.forward(x.clone(), noise.clone(), class).dims(), [3, 64]);
//! // As a stoke-diffusion network: no labels means the null class.
//! let network = model.as_network();
//! assert_eq!(network(x, noise, None).dims(), [3, 64]);
//! assert!(DitConfig::new().with_patch(3).init(&device).is_err());
//! # Ok::<(), stoke_nn::NnError>(())
//! ```

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Distribution, Int, Tensor};
use stoke_core::validate;

use crate::attention::Visibility;
use crate::block::{Block, BlockConfig, modulate, modulation_chunks};
use crate::embedding::{Frequencies, sinusoidal_embedding};
use crate::error::Result;
use crate::norm::{Norm, PLAIN_EPSILON, plain_layer_norm};
use crate::patch::{PatchEmbed, PatchEmbedConfig, to_image};

/// The longest period of the noise-level embedding, `2 pi 10^4` [VASWANI17, Sec. 3.5].
const MAX_PERIOD: f64 = 10_000.0;

/// The shape of a [`Dit`].
#[derive(Config, Debug)]
pub struct DitConfig {
    /// Image side in pixels (8 for the digits).
    #[config(default = 8)]
    pub side: usize,
    /// Image channels.
    #[config(default = 1)]
    pub channels: usize,
    /// Patch side; `side` must be a multiple of it (the digits recipes use 4).
    #[config(default = 2)]
    pub patch: usize,
    /// Token width (DiT-S uses 384; 64 suffices for 8x8 digits).
    #[config(default = 64)]
    pub width: usize,
    /// Transformer blocks.
    #[config(default = 4)]
    pub depth: usize,
    /// Attention heads; `width` must be a multiple of it.
    #[config(default = 4)]
    pub n_heads: usize,
    /// Hidden width of each block's MLP as a multiple of `width` (4 in DiT).
    #[config(default = 4)]
    pub mlp_ratio: usize,
    /// Real classes; index `n_classes` is the null class (classifier-free guidance).
    #[config(default = 10)]
    pub n_classes: usize,
    /// Frequencies of the sinusoidal noise-level embedding (it has twice as many features).
    #[config(default = 32)]
    pub n_frequencies: usize,
    /// `noise_cond` is multiplied by this before the sinusoidal embedding, whose periods run
    /// from `2 pi` to `2 pi 10^4` [VASWANI17, Sec. 3.5]: 1000 spreads `t in [0, 1]` (or
    /// EDM's `c_noise = ln(sigma) / 4`) over the range DiT's integer timesteps use.
    #[config(default = 1000.0)]
    pub noise_scale: f64,
}

impl DitConfig {
    /// Checks the shape.
    ///
    /// # Errors
    /// A zero size; `side` not a multiple of `patch`; `width` not a multiple of `n_heads`;
    /// a `noise_scale` that is not a positive finite number.
    pub fn validate(&self) -> Result<()> {
        for (name, value) in [
            ("side", self.side),
            ("channels", self.channels),
            ("width", self.width),
            ("depth", self.depth),
            ("mlp_ratio", self.mlp_ratio),
            ("n_classes", self.n_classes),
        ] {
            validate::size(name, value)?;
        }
        validate::multiple_of("side", self.side, "patch", self.patch)?;
        validate::multiple_of("width", self.width, "n_heads", self.n_heads)?;
        validate::product("channels * side * side", &[self.channels, self.side, self.side])?;
        validate::product("mlp_ratio * width", &[self.mlp_ratio, self.width])?;
        validate::size("n_classes + 1", self.n_classes + 1)?;
        self.frequencies().validate()?;
        validate::positive("noise_scale", self.noise_scale)?;
        Ok(())
    }

    /// The noise-level embedding's frequencies [VASWANI17, Sec. 3.5].
    fn frequencies(&self) -> Frequencies {
        Frequencies::Transformer { n: self.n_frequencies, max_period: MAX_PERIOD }
    }

    /// The config of each adaLN-zero block: conditioned on a `width` vector, plain
    /// LayerNorms, bidirectional, no rotary positions.
    fn block(&self) -> BlockConfig {
        BlockConfig::new(self.width, self.n_heads, Visibility::Bidirectional, Norm::Plain)
            .with_mlp_ratio(self.mlp_ratio)
            .with_conditioning(Some(self.width))
    }

    /// Builds the network on `device`, creating the blocks, the position embedding, the
    /// patch embedding, the noise MLP, the class table and the final layer in that order.
    ///
    /// # Errors
    /// See [`DitConfig::validate`].
    pub fn init(&self, device: &Device) -> Result<Dit> {
        self.validate()?;
        let d = self.width;
        let d_patch = self.channels * self.patch * self.patch;
        let n_tokens = (self.side / self.patch).pow(2);
        let zero = |d_in: usize, d_out: usize| {
            LinearConfig::new(d_in, d_out).with_initializer(Initializer::Zeros).init(device)
        };
        let blocks = (0..self.depth).map(|_| self.block().init(device)).collect::<Result<_>>()?;
        let position = Tensor::random([1, n_tokens, d], Distribution::Normal(0.0, 0.02), device);
        Ok(Dit {
            position: Param::from_tensor(position),
            patch_embed: PatchEmbedConfig::new(self.channels, self.patch, d).init(device)?,
            noise_in: LinearConfig::new(self.frequencies().d_embedding(), d).init(device),
            noise_out: LinearConfig::new(d, d).init(device),
            class_embed: EmbeddingConfig::new(self.n_classes + 1, d).init(device),
            blocks,
            final_modulation: zero(d, 2 * d),
            final_out: zero(d, d_patch),
            side: self.side,
            channels: self.channels,
            patch: self.patch,
            n_classes: self.n_classes,
            n_frequencies: self.n_frequencies,
            noise_scale: self.noise_scale,
        })
    }
}

/// See [`DitConfig`].
#[derive(Module, Debug)]
pub struct Dit {
    patch_embed: PatchEmbed,
    position: Param<Tensor<3>>,
    noise_in: Linear,
    noise_out: Linear,
    class_embed: Embedding,
    blocks: Vec<Block>,
    final_modulation: Linear,
    final_out: Linear,
    side: usize,
    channels: usize,
    patch: usize,
    n_classes: usize,
    n_frequencies: usize,
    noise_scale: f64,
}

impl Dit {
    /// The class index that means "no class" (classifier-free guidance's unconditional
    /// branch): `n_classes`.
    pub fn null_class(&self) -> usize {
        self.n_classes
    }

    /// The network's output for flattened images, the same shape as `x` (the caller decides
    /// what it predicts: noise, `x0`, a velocity...).
    ///
    /// `class` holds indices in `0..=n_classes`, `n_classes` being the null class; other
    /// indices are not checked (the class table's lookup is Burn's).
    ///
    /// # Shapes
    /// `x: [batch, channels * side * side]` (channel-major, row-major pixels),
    /// `noise_cond: [batch]`, `class: [batch]` -> `[batch, channels * side * side]`.
    ///
    /// # Panics
    /// Inputs of other shapes (Burn's shape checks).
    pub fn forward(&self, x: Tensor<2>, noise_cond: Tensor<1>, class: Tensor<1, Int>) -> Tensor<2> {
        let [batch, _] = x.dims();
        // [batch, channels side side] -> [batch, channels, side, side]
        let image = x.reshape([batch, self.channels, self.side, self.side]);
        let out = self.forward_image(image, noise_cond, class);
        // [batch, channels, side, side] -> [batch, channels side side]
        out.reshape([batch, self.channels * self.side * self.side])
    }

    /// [`Dit::forward`] on images.
    ///
    /// # Shapes
    /// `x: [batch, channels, side, side]`, `noise_cond: [batch]`, `class: [batch]` ->
    /// `[batch, channels, side, side]`.
    ///
    /// # Panics
    /// Inputs of other shapes (Burn's shape checks).
    pub fn forward_image(
        &self,
        x: Tensor<4>,
        noise_cond: Tensor<1>,
        class: Tensor<1, Int>,
    ) -> Tensor<4> {
        let c = self.condition(noise_cond, class);
        let mut h = self.patch_embed.embed(x) + self.position.val();
        for block in &self.blocks {
            h = block.apply(h, Some(c.clone()), None, None);
        }
        let [shift, scale] = modulation_chunks(self.final_modulation.forward(silu(c)));
        let h = modulate(plain_layer_norm(h, PLAIN_EPSILON), shift, scale);
        to_image(self.final_out.forward(h), self.patch, self.channels, self.side, self.side)
    }

    /// [`Dit::forward`] as a `stoke-diffusion` `Network`: `None` labels mean the null class
    /// (the unconditional branch of classifier-free guidance).
    ///
    /// # Panics
    /// As [`Dit::forward`].
    pub fn as_network(
        &self,
    ) -> impl Fn(Tensor<2>, Tensor<1>, Option<Tensor<1, Int>>) -> Tensor<2> + Clone + '_ {
        move |x: Tensor<2>, noise_cond: Tensor<1>, labels: Option<Tensor<1, Int>>| {
            let [batch, _] = x.dims();
            let null = || Tensor::<1, Int>::full([batch], self.n_classes as i64, &x.device());
            let labels = labels.unwrap_or_else(null);
            self.forward(x, noise_cond, labels)
        }
    }

    /// `c = MLP(sinusoid(noise_scale noise_cond)) + class_embedding(class)`.
    ///
    /// # Shapes
    /// `noise_cond: [batch]`, `class: [batch]` -> `[batch, width]`.
    fn condition(&self, noise_cond: Tensor<1>, class: Tensor<1, Int>) -> Tensor<2> {
        let [batch] = class.dims();
        let frequencies =
            Frequencies::Transformer { n: self.n_frequencies, max_period: MAX_PERIOD };
        let embedding = sinusoidal_embedding(noise_cond.mul_scalar(self.noise_scale), &frequencies);
        let noise = self.noise_out.forward(silu(self.noise_in.forward(embedding)));
        // [batch] -> [batch, 1] -> [batch, 1, width]
        let class = self.class_embed.forward(class.reshape([batch, 1]));
        let [_, _, width] = class.dims();
        // [batch, 1, width] -> [batch, width]
        noise + class.reshape([batch, width])
    }
}
