//! Images as token sequences: non-overlapping `patch x patch` patches in row-major order,
//! each flattened channel-major, and a linear patch embedding [PEEBLES23, Sec. 3.2].
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use stoke_nn::patch::{PatchEmbedConfig, patchify, unpatchify};
//!
//! let device = Device::flex();
//! let images = Tensor::<4>::random([2, 3, 4, 6], Distribution::Default, &device);
//! let tokens = patchify(images.clone(), 2)?;
//! assert_eq!(tokens.dims(), [2, 6, 12]); // 2 x 3 patches of 3 x 2 x 2 values
//! let back = unpatchify(tokens, 2, 3, 4, 6)?;
//! assert_eq!(back.into_data(), images.clone().into_data());
//!
//! let embed = PatchEmbedConfig::new(3, 2, 16).init(&device)?;
//! assert_eq!(embed.forward(images)?.dims(), [2, 6, 16]);
//! assert!(patchify(Tensor::<4>::zeros([1, 1, 5, 4], &device), 2).is_err());
//! # Ok::<(), stoke_nn::NnError>(())
//! ```

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use stoke_core::validate;

use crate::error::{Result, check_shape};

/// Cuts images into patches, one token per patch, patches in row-major order.
///
/// # Shapes
/// `x: [batch, channels, height, width]` ->
/// `[batch, (height / patch) (width / patch), channels patch patch]`, each token
/// channel-major then row-major within the patch.
///
/// # Errors
/// A zero size (batch, channels, height, width or `patch`); `height` or `width` not a
/// multiple of `patch`.
pub fn patchify(x: Tensor<4>, patch: usize) -> Result<Tensor<3>> {
    let [batch, channels, height, width] = x.dims();
    validate::size("batch", batch)?;
    validate::size("channels", channels)?;
    check_grid(patch, height, width)?;
    Ok(to_tokens(x, patch))
}

/// The inverse of [`patchify`].
///
/// # Shapes
/// `tokens: [batch, (height / patch) (width / patch), channels patch patch]` ->
/// `[batch, channels, height, width]`.
///
/// # Errors
/// A zero size; `height` or `width` not a multiple of `patch`; `tokens` of another shape.
pub fn unpatchify(
    tokens: Tensor<3>,
    patch: usize,
    channels: usize,
    height: usize,
    width: usize,
) -> Result<Tensor<4>> {
    validate::size("channels", channels)?;
    check_grid(patch, height, width)?;
    let [batch, n_tokens, d_token] = tokens.dims();
    let expected = [batch, (height / patch) * (width / patch), channels * patch * patch];
    check_shape("tokens", &expected, &[batch, n_tokens, d_token])?;
    Ok(to_image(tokens, patch, channels, height, width))
}

/// # Errors
/// A zero size; `height` or `width` not a multiple of `patch`.
fn check_grid(patch: usize, height: usize, width: usize) -> Result<()> {
    validate::size("patch", patch)?;
    validate::size("height", height)?;
    validate::size("width", width)?;
    validate::multiple_of("height", height, "patch", patch)?;
    validate::multiple_of("width", width, "patch", patch)?;
    Ok(())
}

/// [`patchify`] on a checked grid.
pub(crate) fn to_tokens(x: Tensor<4>, patch: usize) -> Tensor<3> {
    let [batch, channels, height, width] = x.dims();
    let (p, rows, cols) = (patch, height / patch, width / patch);
    // [batch, channels, height, width] -> [batch, channels, rows, p, cols, p]
    //   -> [batch, rows, cols, channels, p, p]
    let patches = x.reshape([batch, channels, rows, p, cols, p]).permute([0, 2, 4, 1, 3, 5]);
    // -> [batch, rows cols, channels p p]
    patches.reshape([batch, rows * cols, channels * p * p])
}

/// [`unpatchify`] on checked shapes.
pub(crate) fn to_image(
    tokens: Tensor<3>,
    patch: usize,
    channels: usize,
    height: usize,
    width: usize,
) -> Tensor<4> {
    let [batch, _, _] = tokens.dims();
    let (p, rows, cols) = (patch, height / patch, width / patch);
    // [batch, rows cols, channels p p] -> [batch, rows, cols, channels, p, p]
    //   -> [batch, channels, rows, p, cols, p]
    let patches = tokens.reshape([batch, rows, cols, channels, p, p]).permute([0, 3, 1, 4, 2, 5]);
    // -> [batch, channels, height, width]
    patches.reshape([batch, channels, height, width])
}

/// A linear embedding of each patch [PEEBLES23, Sec. 3.2].
#[derive(Config, Debug)]
pub struct PatchEmbedConfig {
    /// Image channels.
    pub channels: usize,
    /// Patch side.
    pub patch: usize,
    /// Token width.
    pub d_model: usize,
}

impl PatchEmbedConfig {
    /// Builds the embedding (one `Linear(channels patch patch, d_model)`) on `device`.
    ///
    /// # Errors
    /// A zero size; more than 2^24 values per patch.
    pub fn init(&self, device: &Device) -> Result<PatchEmbed> {
        validate::size("channels", self.channels)?;
        validate::size("patch", self.patch)?;
        validate::size("d_model", self.d_model)?;
        let d_patch = validate::product(
            "channels * patch * patch",
            &[self.channels, self.patch, self.patch],
        )?;
        let linear = LinearConfig::new(d_patch, self.d_model).init(device);
        Ok(PatchEmbed { linear, channels: self.channels, patch: self.patch })
    }
}

/// See [`PatchEmbedConfig`].
#[derive(Module, Debug)]
pub struct PatchEmbed {
    linear: Linear,
    channels: usize,
    patch: usize,
}

impl PatchEmbed {
    /// One embedded token per patch, in [`patchify`]'s order.
    ///
    /// # Shapes
    /// `images: [batch, channels, height, width]` ->
    /// `[batch, (height / patch) (width / patch), d_model]`.
    ///
    /// # Errors
    /// Another number of channels ([`NnError::Shape`](crate::NnError::Shape)); `height` or
    /// `width` not a multiple of `patch`.
    pub fn forward(&self, images: Tensor<4>) -> Result<Tensor<3>> {
        let [batch, channels, height, width] = images.dims();
        check_shape(
            "images",
            &[batch, self.channels, height, width],
            &[batch, channels, height, width],
        )?;
        check_grid(self.patch, height, width)?;
        Ok(self.embed(images))
    }

    /// [`PatchEmbed::forward`] on checked images.
    pub(crate) fn embed(&self, images: Tensor<4>) -> Tensor<3> {
        self.linear.forward(to_tokens(images, self.patch))
    }
}
