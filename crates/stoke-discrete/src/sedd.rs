//! Score entropy discrete diffusion (SEDD) \[LOU24\]: a network learns the concrete score,
//! the ratios `p_t(y) / p_t(x)` between sequences one token apart [LOU24, Eq. 12], with the
//! score entropy loss [LOU24, Eq. 5], and the reverse process is simulated from those
//! ratios.
//!
//! * [`noise`]: the total noise `sigma_bar(t)` and its rate ([`SeddNoise`]).
//! * [`graph`]: the per-token transition graphs ([`Graph::Absorbing`] with any absorbing
//!   id, [`Graph::Uniform`]) and their host math in `f64`.
//! * [`score`]: the [`ScoreModel`] interface, the reference's output layer
//!   ([`log_score_from_logits`]) and the backbone adapter [`LmScoreModel`].
//! * [`loss`]: the denoising score entropy on Burn tensors and the training loss
//!   [LOU24, Eq. 10] ([`sedd_loss`]).
//! * [`sample`]: the Euler and Tweedie tau-leaping samplers with the final denoising step
//!   ([`tau_leaping`]).
//! * [`elbo`]: the Monte-Carlo bound [LOU24, Thm. 3.6] as a [`Bound`](crate::elbo::Bound).
//!
//! The golden values are the reference's (`louaaron/Score-Entropy-Discrete-Diffusion`,
//! commit `0605786`), through `tests/golden/make_discrete.py`.
//!
//! ```
//! use burn::tensor::Device;
//! use rand::SeedableRng;
//! use stoke_discrete::sedd::{Graph, LmScoreModel, SeddObjective, sedd_loss};
//! use stoke_nn::LmTransformerConfig;
//!
//! let device = Device::flex();
//! // Six states; the mask is id 4, as in Stoke's tokenizers.
//! let graph = Graph::absorbing(6, 4)?;
//! let lm = LmTransformerConfig::new(6, 8, 16, 1, 2).with_conditioned(true).init(&device)?;
//! let model = LmScoreModel::new(&lm, graph, device)?;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let x0 = [0, 1, 2, 3, 5, 0, 1, 2]; // two rows of 4
//! let corruption = SeddObjective::sedd().draw(&graph, &x0, 2, &mut rng)?;
//! let log_score = model.log_score_tensor(&corruption.x_t, [2, 4], &corruption.sigma)?;
//! let loss = sedd_loss(&graph, log_score, &x0, &corruption)?;
//! assert_eq!(loss.per_sequence.dims(), [2]);
//! assert!(loss.mean.into_scalar::<f32>() >= 0.0);
//! # Ok::<(), stoke_discrete::DiscreteError>(())
//! ```

pub mod elbo;
#[cfg(test)]
mod golden;
pub mod graph;
pub mod loss;
pub mod noise;
pub mod sample;
pub mod score;
#[cfg(test)]
mod testing;

pub use elbo::sedd_bound;
pub use graph::{Graph, sample_categorical};
pub use loss::{SeddCorruption, SeddLoss, SeddObjective, score_entropy, sedd_loss};
pub use noise::SeddNoise;
pub use sample::{SeddSampler, TauLeapingConfig, tau_leaping};
pub use score::{LmScoreModel, ScoreModel, log_score_from_logits};
