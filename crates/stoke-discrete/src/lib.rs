//! # stoke-discrete
//!
//! Diffusion language models on Burn: masked (absorbing-state) diffusion as MDLM and LLaDA
//! define it, score entropy discrete diffusion (SEDD), block diffusion (BD3-LM), and the
//! autoregressive baseline on the same backbone.
//!
//! Design decision: the math that decides *which* tokens a model sees and *how* a sample is
//! revealed runs on host token ids (`&[i64]`), where it is exact, deterministic per seed
//! and testable without a network; only the network and the losses run on a Burn
//! [`Device`](burn::tensor::Device). A sampler sees a network through one small trait,
//! [`Denoiser`] (ids in, logits out), so the laws of the samplers are tested on recording
//! fakes and the same code drives an [`LmDenoiser`] on any backend.
//!
//! * [`forward`]: the masking process (a probability per row, or an exact count), prompts
//!   never masked, antithetic training times.
//! * [`subs`]: the SUBS parameterisation (the mask is never predicted, unmasked tokens are
//!   carried over).
//! * [`loss`]: LLaDA's and MDLM's objectives ([`MaskedObjective`]), supervised rows
//!   normalised by the answer length, and the next-token loss of the baseline.
//! * [`transfer`]: LLaDA's split of revealed tokens over steps and blocks.
//! * [`sample`]: LLaDA's sampler (low-confidence or random remasking, Gumbel temperature,
//!   semi-autoregressive blocks, unsupervised CFG) and MDLM's ancestral sampler with its
//!   cached predictor; autoregressive sampling for the baseline.
//! * [`block`]: block diffusion (BD3-LM): the `x_t (+) x0` attention mask, clipped
//!   per-block mask rates, the vectorised loss, and block-by-block sampling with a
//!   key-value cache.
//! * [`elbo`]: Monte-Carlo bounds on the negative log-likelihood with their standard
//!   errors, in nats per sequence, bits per token and bits per character.
//! * [`sedd`]: SEDD \[LOU24\]: noise schedules, the absorbing (any mask id) and uniform
//!   transition graphs, the score network's output layer behind a [`ScoreModel`] trait, the
//!   denoising score entropy loss, the Euler and Tweedie tau-leaping samplers, and its bound
//!   as an [`elbo::Bound`].
//!
//! The masking schedules themselves are `stoke-core`'s
//! [`MaskingSchedule`](stoke_core::schedule::MaskingSchedule). Paper keys (`[SAHOO24,
//! Eq. 10]`) resolve in `docs/papers.md`.
//!
//! ```
//! use burn::tensor::Device;
//! use rand::SeedableRng;
//! use stoke_discrete::{MaskedObjective, Normaliser, LmDenoiser, forward, masked_diffusion_loss};
//! use stoke_nn::LmTransformerConfig;
//!
//! let device = Device::flex();
//! let lm = LmTransformerConfig::new(10, 8, 16, 1, 2).init(&device)?;
//! let denoiser = LmDenoiser { lm: &lm, device: device.clone() };
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let x0 = [5, 6, 7, 8, 9, 5, 6, 7]; // two rows of 4; the mask token is id 4
//! let corruption = MaskedObjective::mdlm().draw(2, &mut rng)?;
//! let masked = forward::mask_tokens(&x0, &corruption.p_mask, None, 4, &mut rng)?;
//! let logits = denoiser.logits_tensor(&masked.x_t, [2, 4], &corruption.t)?;
//! let loss = masked_diffusion_loss(logits, &x0, &masked, &corruption.weight, Normaliser::Row, 4)?;
//! assert!(loss.into_scalar::<f32>() >= 0.0);
//! # Ok::<(), stoke_discrete::DiscreteError>(())
//! ```

pub mod block;
pub mod denoiser;
pub mod elbo;
mod error;
pub mod forward;
#[cfg(test)]
mod golden;
pub mod loss;
pub mod sample;
pub mod sedd;
pub mod subs;
pub mod transfer;

pub use denoiser::{Denoiser, LmDenoiser};
pub use error::{DiscreteError, Result};
pub use loss::{Corruption, MaskedObjective, Normaliser, masked_diffusion_loss, next_token_loss};
pub use sample::{
    AncestralConfig, GenerateConfig, Generation, Remasking, ancestral, autoregressive, fill_masks,
    generate,
};
pub use sedd::{
    Graph, LmScoreModel, ScoreModel, SeddLoss, SeddNoise, SeddObjective, SeddSampler,
    TauLeapingConfig, sedd_bound, sedd_loss, tau_leaping,
};
pub use transfer::{BlockPlan, num_transfer_tokens};
