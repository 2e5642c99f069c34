//! SEDD's reverse process on the host [LOU24, Sec. 4.1, Alg. 2]: rows start at the limiting
//! distribution (all mask, or uniform) at `t = 1` and walk a grid `t_k = 1 - k (1 - eps) /
//! steps` down to `eps`, every position updated independently at every step (tau-leaping):
//!
//! * [`SeddSampler::Euler`]: `e_x + dt sigma(t) reverse_rate(x, s)` [LOU24, Eq. 17];
//! * [`SeddSampler::Analytic`]: the Tweedie tau-leaping step `(exp(-dsigma Q) s)_y
//!   exp(dsigma Q)(x, y)`, `dsigma = sigma_bar(t) - sigma_bar(t - dt)` [LOU24, Eq. 19-20],
//!   exact for a perfect score and a factorised data distribution [LOU24, Thm. 4.2];
//!
//! then, with `denoise`, one last Tweedie step from `sigma_bar(eps)` to no noise that never
//! draws the absorbing state (the reference's `Denoiser`, which samples rather than takes
//! the argmax). Each position draws from the positive entries of its unnormalised
//! probabilities ([`sample_categorical`]). The first `prompt_len` tokens of a row are
//! clamped: the model sees them, the sampler never changes them, as the reference's
//! projector does [LOU24, Eq. 22, Alg. 3].
//!
//! Defaults as the reference's: `eps = 1e-5` (`run_train.py`), `denoise = true`; its
//! `config.yaml` picks the Euler predictor with 128 steps, its paper's generations the
//! analytic one [LOU24, App. C.7].

use rand::Rng;
use serde::{Deserialize, Serialize};
use stoke_core::validate;

use crate::error::{DiscreteError, Result};
use crate::sample::Generation;
use crate::sedd::graph::{Graph, sample_categorical};
use crate::sedd::noise::SeddNoise;
use crate::sedd::score::{ScoreModel, check_shape};

/// Which predictor a step of [`tau_leaping`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeddSampler {
    /// The Euler (plain tau-leaping) step [LOU24, Eq. 17].
    Euler,
    /// The Tweedie tau-leaping step [LOU24, Eq. 19].
    Analytic,
}

impl SeddSampler {
    /// One position's unnormalised probabilities for the step from `t` to `t - dt`, from
    /// state `i` with score `s`: [`Graph::euler_probs`] with `dt sigma(t)`, or
    /// [`Graph::tweedie_probs`] with `sigma_bar(t) - sigma_bar(t - dt)`.
    ///
    /// # Panics
    /// If `i >= dim` or `score.len() != dim`.
    pub fn probs(
        &self,
        graph: &Graph,
        noise: &SeddNoise,
        i: usize,
        score: &[f64],
        [t, dt]: [f64; 2],
    ) -> Vec<f64> {
        match self {
            Self::Euler => graph.euler_probs(i, score, dt * noise.rate(t)),
            Self::Analytic => graph.tweedie_probs(i, score, noise.total(t) - noise.total(t - dt)),
        }
    }
}

/// Settings of [`tau_leaping`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TauLeapingConfig {
    /// The predictor.
    pub predictor: SeddSampler,
    /// Reverse steps from `t = 1` to `t = eps`.
    pub steps: usize,
    /// The noise schedule the model was trained with.
    pub noise: SeddNoise,
    /// The last time of the grid (the reference's `1e-5`).
    pub eps: f64,
    /// Whether a final Tweedie step removes the noise left at `eps` (and every mask).
    pub denoise: bool,
}

impl TauLeapingConfig {
    /// `steps` steps of `predictor` with the reference's `eps = 1e-5` and denoising on.
    pub fn new(predictor: SeddSampler, steps: usize, noise: SeddNoise) -> Self {
        Self { predictor, steps, noise, eps: 1e-5, denoise: true }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// `steps = 0`; `eps` outside `(0, 1)`; a bad schedule.
    pub fn validate(&self) -> Result<()> {
        validate::size("steps", self.steps)?;
        validate::in_range("eps", self.eps, f64::MIN_POSITIVE, 1.0 - 1e-9, "(0, 1)")?;
        self.noise.validate()?;
        Ok(())
    }
}

/// SEDD's sampler (see the module docs): `batch` rows of `prompt_len` prompt tokens (from
/// `prompts`, which may be empty) then `gen_length` generated tokens.
///
/// # Errors
/// As [`TauLeapingConfig::validate`]; a zero `batch` or `gen_length`; a prompt plus the
/// generation longer than the model's context ([`DiscreteError::PromptTooLong`]); a prompt
/// id outside the graph or the absorbing state in a prompt; log scores of the wrong length;
/// a model error.
pub fn tau_leaping<R: Rng + ?Sized>(
    model: &impl ScoreModel,
    prompts: &[i64],
    [batch, prompt_len]: [usize; 2],
    gen_length: usize,
    config: &TauLeapingConfig,
    rng: &mut R,
) -> Result<Generation> {
    config.validate()?;
    validate::size("batch", batch)?;
    validate::size("gen_length", gen_length)?;
    validate::same_length("prompts", batch * prompt_len, prompts.len())?;
    let graph = model.graph();
    graph.validate()?;
    graph.check_clean(prompts)?;
    let seq = prompt_len + gen_length;
    if seq > model.context() {
        return Err(DiscreteError::PromptTooLong {
            prompt: prompt_len,
            gen_length,
            context: model.context(),
        });
    }
    let mut x: Vec<i64> = Vec::with_capacity(batch * seq);
    for b in 0..batch {
        x.extend_from_slice(&prompts[b * prompt_len..(b + 1) * prompt_len]);
        x.extend(graph.sample_limit(gen_length, rng));
    }
    let dim = graph.dim();
    let noise = config.noise;
    let dt = (1.0 - config.eps) / config.steps as f64;
    let mut nfe = 0;
    let mut scores = |x: &[i64], sigma: f64| -> Result<Vec<f64>> {
        nfe += 1;
        let log_score = model.log_score(x, [batch, seq], &vec![sigma; batch])?;
        check_shape("log scores", &[batch * seq * dim], &[log_score.len()])?;
        // The ratios themselves, not their logarithms (the reference's `sampling=True`).
        Ok(log_score.iter().map(|&l| f64::from(l).exp()).collect())
    };
    for step in 0..config.steps {
        let t = 1.0 - step as f64 * dt;
        let score = scores(&x, noise.total(t))?;
        for (p, id) in x.iter_mut().enumerate() {
            if p % seq < prompt_len {
                continue;
            }
            let s = &score[p * dim..(p + 1) * dim];
            let probs = config.predictor.probs(&graph, &noise, *id as usize, s, [t, dt]);
            // No positive entry (every ratio underflowed): the token stays.
            if let Some(y) = sample_categorical(&probs, rng) {
                *id = y as i64;
            }
        }
    }
    if config.denoise {
        let sigma = noise.total(config.eps);
        let score = scores(&x, sigma)?;
        for (p, id) in x.iter_mut().enumerate() {
            if p % seq < prompt_len {
                continue;
            }
            let s = &score[p * dim..(p + 1) * dim];
            let probs = graph.denoise_probs(*id as usize, s, sigma);
            *id = match sample_categorical(&probs, rng) {
                Some(y) => y,
                // Every ratio underflowed: the largest score that is not the mask, so the
                // step still removes every mask.
                None => (0..dim)
                    .filter(|&y| Some(y) != graph.absorbing_state())
                    .max_by(|&a, &b| s[a].total_cmp(&s[b]).then(b.cmp(&a)))
                    .unwrap_or(0),
            } as i64;
        }
    }
    Ok(Generation { ids: x, seq, nfe })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::{SeddSampler, TauLeapingConfig, tau_leaping};
    use crate::error::Result;
    use crate::sedd::graph::Graph;
    use crate::sedd::noise::SeddNoise;
    use crate::sedd::score::ScoreModel;
    use crate::sedd::testing::Exact;

    /// A score model whose log scores are a fixed function of the whole row (so every
    /// change anywhere changes every score), 0 at the current token, and largest at the
    /// mask, recording every input.
    struct Recording {
        graph: Graph,
        seen: RefCell<Vec<Vec<i64>>>,
    }

    impl ScoreModel for Recording {
        fn graph(&self) -> Graph {
            self.graph
        }
        fn context(&self) -> usize {
            24
        }
        fn log_score(
            &self,
            x_t: &[i64],
            [batch, seq]: [usize; 2],
            sigma: &[f64],
        ) -> Result<Vec<f32>> {
            self.seen.borrow_mut().push(x_t.to_vec());
            let dim = self.graph.dim();
            let mut out = Vec::with_capacity(batch * seq * dim);
            for b in 0..batch {
                let row = &x_t[b * seq..(b + 1) * seq];
                let h: i64 = row.iter().enumerate().map(|(i, &x)| (i as i64 + 1) * x).sum();
                for (i, &x) in row.iter().enumerate() {
                    for y in 0..dim {
                        let l = ((h + 31 * i as i64 + 17 * y as i64) as f64 * 0.37 + sigma[b]).sin()
                            as f32;
                        out.push(match y {
                            _ if y as i64 == x => 0.0,
                            _ if Some(y) == self.graph.absorbing_state() => 3.0,
                            _ => l,
                        });
                    }
                }
            }
            Ok(out)
        }
    }

    fn graphs() -> [Graph; 2] {
        [Graph::Absorbing { dim: 6, mask_id: 4 }, Graph::Uniform { dim: 6 }]
    }

    proptest! {
        /// Shapes and ids are right; the prompt never changes; a run is a function of its
        /// seed; the absorbing graph never changes an unmasked token and leaves no mask
        /// after the denoising step.
        #[test]
        fn tau_leaping_laws(
            seed in 0u64..200, steps in 1usize..12, analytic in any::<bool>(),
            geometric in any::<bool>(), denoise in any::<bool>(),
        ) {
            let noise = if geometric { SeddNoise::Geometric { sigma_min: 1e-4, sigma_max: 20.0 } } else { SeddNoise::log_linear() };
            let predictor = if analytic { SeddSampler::Analytic } else { SeddSampler::Euler };
            let config = TauLeapingConfig { denoise, ..TauLeapingConfig::new(predictor, steps, noise) };
            let prompts = [1, 5, 0, 3];
            for graph in graphs() {
                let run = || {
                    let model = Recording { graph, seen: RefCell::new(Vec::new()) };
                    let mut rng = StdRng::seed_from_u64(seed);
                    let out = tau_leaping(&model, &prompts, [2, 2], 6, &config, &mut rng).unwrap();
                    (out, model.seen.into_inner())
                };
                let (out, seen) = run();
                prop_assert_eq!(&out, &run().0);
                prop_assert_eq!(out.seq, 8);
                prop_assert_eq!(out.ids.len(), 16);
                prop_assert_eq!(out.nfe, steps + usize::from(denoise));
                prop_assert!(out.ids.iter().all(|&id| (0..6).contains(&id)));
                for row in 0..2 {
                    prop_assert_eq!(&out.ids[row * 8..row * 8 + 2], &prompts[row * 2..row * 2 + 2]);
                }
                if let Some(mask) = graph.absorbing_state() {
                    let mut states = seen;
                    states.push(out.ids.clone());
                    prop_assert!(states[0].iter().enumerate().all(|(p, &x)| p % 8 < 2 || x == mask as i64));
                    for pair in states.windows(2) {
                        for (a, b) in pair[0].iter().zip(&pair[1]) {
                            prop_assert!(*a == mask as i64 || a == b);
                        }
                    }
                    if denoise {
                        prop_assert!(!out.ids.contains(&(mask as i64)));
                    }
                }
            }
        }
    }

    /// The Wilson-Hilferty approximation of the `1 - Phi(z)` quantile of chi-square with
    /// `df` degrees of freedom.
    fn chi_square_quantile(df: f64, z: f64) -> f64 {
        df * (1.0 - 2.0 / (9.0 * df) + z * (2.0 / (9.0 * df)).sqrt()).powi(3)
    }

    /// Pearson's statistic of the per-position frequencies of `ids` (rows of `expected.len()`)
    /// against `expected`, and its degrees of freedom; states of probability 0 must not occur.
    fn chi_square(ids: &[i64], expected: &[Vec<f64>]) -> (f64, f64) {
        let seq = expected.len();
        let n = (ids.len() / seq) as f64;
        let (mut statistic, mut df) = (0.0, 0.0);
        for (i, probs) in expected.iter().enumerate() {
            let mut counts = vec![0usize; probs.len()];
            for row in ids.chunks(seq) {
                counts[row[i] as usize] += 1;
            }
            for (&c, &p) in counts.iter().zip(probs) {
                if p < 1e-12 {
                    assert_eq!(c, 0, "a state of probability 0 was drawn");
                    continue;
                }
                statistic += (c as f64 - n * p).powi(2) / (n * p);
                df += 1.0;
            }
            df -= 1.0;
        }
        (statistic, df)
    }

    /// Driven by the exact score of a product of categoricals, the analytic sampler is exact
    /// at any number of steps [LOU24, Thm. 4.2] for both graphs, and so is Euler for the
    /// absorbing graph with the log-linear schedule (its unmasking probability `dt / t` is
    /// the true one). Stopped at `t = 0.4` without denoising, the rows follow the noised
    /// marginals `exp(sigma_bar(0.4) Q) pi` (which checks the timing, to which the absorbing
    /// graph's final marginals are blind); run to the end, `pi`. Chi-square tests at
    /// `z = 4`.
    #[test]
    fn exact_scores_reproduce_the_marginals() {
        let pi = vec![
            vec![0.1, 0.2, 0.3, 0.15, 0.0, 0.25],
            vec![0.5, 0.05, 0.05, 0.3, 0.0, 0.1],
            vec![0.2, 0.2, 0.2, 0.2, 0.0, 0.2],
        ];
        let n = 3000;
        let absorbing = Graph::Absorbing { dim: 6, mask_id: 4 };
        let geometric = SeddNoise::Geometric { sigma_min: 1e-4, sigma_max: 20.0 };
        let cases = [
            (absorbing, SeddSampler::Analytic, SeddNoise::log_linear()),
            (absorbing, SeddSampler::Euler, SeddNoise::log_linear()),
            (Graph::Uniform { dim: 6 }, SeddSampler::Analytic, SeddNoise::log_linear()),
            (absorbing, SeddSampler::Analytic, geometric),
        ];
        let mut seed = 0;
        for (graph, predictor, noise) in cases {
            let model = Exact { graph, pi: pi.clone() };
            let stopped = Exact { graph, pi: pi.clone() }.marginals(noise.total(0.4));
            for (config, expected) in [
                (TauLeapingConfig::new(predictor, 5, noise), &pi),
                (
                    TauLeapingConfig {
                        eps: 0.4,
                        denoise: false,
                        ..TauLeapingConfig::new(predictor, 4, noise)
                    },
                    &stopped,
                ),
            ] {
                seed += 1;
                let mut rng = StdRng::seed_from_u64(seed);
                let out = tau_leaping(&model, &[], [n, 0], 3, &config, &mut rng).unwrap();
                let (statistic, df) = chi_square(&out.ids, expected);
                let critical = chi_square_quantile(df, 4.0);
                assert!(statistic < critical, "{graph:?} {config:?}: {statistic} >= {critical}");
            }
        }
    }

    #[test]
    fn bad_settings_are_refused() {
        let model = Recording {
            graph: Graph::Absorbing { dim: 6, mask_id: 4 },
            seen: RefCell::new(Vec::new()),
        };
        let mut rng = StdRng::seed_from_u64(0);
        let config = TauLeapingConfig::new(SeddSampler::Analytic, 4, SeddNoise::log_linear());
        assert!(tau_leaping(&model, &[], [1, 0], 4, &config, &mut rng).is_ok());
        assert!(
            tau_leaping(&model, &[4, 1], [1, 2], 4, &config, &mut rng).is_err(),
            "mask in prompt"
        );
        assert!(
            tau_leaping(&model, &[6, 1], [1, 2], 4, &config, &mut rng).is_err(),
            "id outside dim"
        );
        assert!(tau_leaping(&model, &[], [1, 0], 30, &config, &mut rng).is_err(), "too long");
        assert!(tau_leaping(&model, &[], [1, 0], 0, &config, &mut rng).is_err());
        let zero_steps = TauLeapingConfig { steps: 0, ..config };
        assert!(tau_leaping(&model, &[], [1, 0], 4, &zero_steps, &mut rng).is_err());
        let bad_noise = TauLeapingConfig { noise: SeddNoise::LogLinear { eps: 0.0 }, ..config };
        assert!(tau_leaping(&model, &[], [1, 0], 4, &bad_noise, &mut rng).is_err());
    }
}
