//! SEDD's training objective, the diffusion-weighted denoising score entropy
//! [LOU24, Eq. 10]: for each row a time `t ~ U(eps, 1)`, the row corrupted to total noise
//! `sigma_bar(t)` [LOU24, Eq. 14], and the loss
//! `sigma(t) sum_i l(s_theta(x_t)_i, x_t^i, x0^i)` with `l` the score entropy of one
//! position (the denoising score entropy [LOU24, Thm. 3.4, Eq. 7] with weights `Q(x_t^i, y)`
//! and the constant `K` that makes it vanish at the optimum [LOU24, Eq. 5]).
//!
//! As the reference's `losses.py`: the times are independent, not antithetic; `eps = 1e-3`;
//! the loss of a row is the sum over its positions (not a mean), and the training objective
//! is the mean over rows. Only the rate-weighted integrand is trained: the prior term
//! [LOU24, Eq. 9] and the times below `eps` have no parameters.
//!
//! [`score_entropy`] is the closed form of the reference per graph, on Burn tensors (the
//! host [`Graph::score_entropy`] is the definition; a test checks they agree):
//!
//! * absorbing, at a masked position, with `r = 1 / (e^sigma - 1)`:
//!   `sum_{y != mask} s_y - r ln s_{x0} + r (ln r - 1)`; zero at an unmasked one.
//! * uniform, with `m = e^sigma - 1`, `r = m / (m + N)`, `s = exp(log_score)`:
//!   `(1 / N) sum_{y != x} s_y - a (1 / N) sum_{y != x} ln s_y - b ln s_{x0} + c`, where
//!   `(a, b, c) = (r, 0, (N - 1) / N K(r))` if `x = x0`, else `(1, 1 / m, (K(1 / r) -
//!   (N - 2)) / N)`.

use burn::tensor::{Bool, Int, Tensor, TensorData};
use rand::Rng;
use serde::{Deserialize, Serialize};
use stoke_core::validate;

use crate::error::Result;
use crate::forward::sample_times;
use crate::sedd::graph::{Graph, check_sigma, k};
use crate::sedd::noise::SeddNoise;
use crate::sedd::score::check_shape;

/// SEDD's training draw: the noise schedule and the smallest training time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeddObjective {
    /// The noise schedule.
    pub noise: SeddNoise,
    /// The smallest time, the reference's `sampling_eps = 1e-3`.
    pub eps: f64,
}

/// The times, noise levels and corrupted rows drawn for a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct SeddCorruption {
    /// `t` per row.
    pub t: Vec<f64>,
    /// The total noise `sigma_bar(t)` per row (what the network is conditioned on).
    pub sigma: Vec<f64>,
    /// The rate `sigma(t)` per row (the weight of the row's score entropy).
    pub dsigma: Vec<f64>,
    /// `x_t`, row-major `[batch, seq]`.
    pub x_t: Vec<i64>,
}

/// Per-sequence losses and their mean.
#[derive(Debug, Clone)]
pub struct SeddLoss {
    /// `sigma(t_b) sum_i l_{b, i}` per row.
    ///
    /// # Shapes
    /// `[batch]`.
    pub per_sequence: Tensor<1>,
    /// Their mean, the training objective (differentiable).
    ///
    /// # Shapes
    /// `[1]`.
    pub mean: Tensor<1>,
}

impl SeddObjective {
    /// The reference's defaults: the log-linear schedule with `eps = 1e-3`, times from
    /// `[1e-3, 1]`.
    pub fn sedd() -> Self {
        Self { noise: SeddNoise::log_linear(), eps: 1e-3 }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// A bad schedule; `eps` outside `(0, 1)` (at `t = 0` nothing is corrupted and the
    /// score entropy divides by zero).
    pub fn validate(&self) -> Result<()> {
        self.noise.validate()?;
        validate::in_range("eps", self.eps, f64::MIN_POSITIVE, 1.0 - 1e-9, "(0, 1)")?;
        Ok(())
    }

    /// Draws `t = (1 - eps) u + eps` with `u ~ U(0, 1)` independently for each of the
    /// `batch` rows of `x0`, and corrupts them to `sigma_bar(t)`.
    ///
    /// # Errors
    /// As [`SeddObjective::validate`]; `batch = 0`; as [`Graph::sample_transition`].
    pub fn draw<R: Rng + ?Sized>(
        &self,
        graph: &Graph,
        x0: &[i64],
        batch: usize,
        rng: &mut R,
    ) -> Result<SeddCorruption> {
        self.validate()?;
        let t = sample_times(batch, self.eps, false, rng)?;
        let sigma: Vec<f64> = t.iter().map(|&t| self.noise.total(t)).collect();
        let dsigma = t.iter().map(|&t| self.noise.rate(t)).collect();
        let x_t = graph.sample_transition(x0, &sigma, rng)?;
        Ok(SeddCorruption { t, sigma, dsigma, x_t })
    }
}

/// The score entropy of every position (see the module docs) from the log scores at `x_t`.
///
/// # Shapes
/// `log_score: [batch, seq, dim]`; `sigma`: `batch`; `x_t`, `x0`: `batch * seq` ids ->
/// `[batch, seq]`.
///
/// # Errors
/// Shapes that disagree ([`crate::DiscreteError::Shape`]); an id outside the graph; the
/// absorbing state in `x0`; a `sigma` not positive and finite.
pub fn score_entropy(
    graph: &Graph,
    log_score: Tensor<3>,
    sigma: &[f64],
    x_t: &[i64],
    x0: &[i64],
) -> Result<Tensor<2>> {
    let [batch, seq, dim] = log_score.dims();
    graph.validate()?;
    check_shape("log_score", &[batch, seq, graph.dim()], &[batch, seq, dim])?;
    check_shape("sigma", &[batch], &[sigma.len()])?;
    check_shape("x_t", &[batch * seq], &[x_t.len()])?;
    check_shape("x0", &[batch * seq], &[x0.len()])?;
    graph.check_ids(x_t)?;
    graph.check_clean(x0)?;
    check_sigma(sigma)?;
    Ok(match graph.absorbing_state() {
        Some(mask) => absorbing_entropy(log_score, sigma, x_t, x0, mask),
        None => uniform_entropy(log_score, sigma, x_t, x0),
    })
}

/// The absorbing closed form (module docs).
///
/// # Shapes
/// `log_score: [batch, seq, dim]` -> `[batch, seq]`.
fn absorbing_entropy(
    log_score: Tensor<3>,
    sigma: &[f64],
    x_t: &[i64],
    x0: &[i64],
    mask: usize,
) -> Tensor<2> {
    let [batch, seq, dim] = log_score.dims();
    let device = log_score.device();
    let masked: Vec<bool> = x_t.iter().map(|&x| x as usize == mask).collect();
    // Unmasked positions contribute nothing: their log scores are zeroed first, so a large
    // score there cannot overflow `exp` into `inf * 0 = NaN`, and gets no gradient.
    // [batch * seq] -> [batch, seq, 1] -> [batch, seq, dim]
    let unmasked = Tensor::<3, Bool>::from_data(
        TensorData::new(masked.iter().map(|m| !m).collect::<Vec<_>>(), [batch, seq, 1]),
        &device,
    )
    .expand([batch, seq, dim]);
    let log_score = log_score.mask_fill(unmasked, 0.0);
    // [dim] -> [1, 1, dim]: 1 except at the mask
    let not_mask: Vec<f32> = (0..dim).map(|y| f32::from(u8::from(y != mask))).collect();
    let not_mask = Tensor::<3>::from_data(TensorData::new(not_mask, [1, 1, dim]), &device);
    // sum_{y != mask} s_y: [batch, seq, 1]
    let positive = (log_score.clone().exp() * not_mask).sum_dim(2);
    let (mut ratio, mut constant) = (Vec::with_capacity(x_t.len()), Vec::with_capacity(x_t.len()));
    for (p, &m) in masked.iter().enumerate() {
        // r = p_{sigma|0}(x0 | x0) / p_{sigma|0}(mask | x0) = 1 / (e^sigma - 1)
        let r = if m { 1.0 / sigma[p / seq].exp_m1() } else { 0.0 };
        ratio.push(r as f32);
        constant.push(k(r) as f32);
    }
    let is_masked: Vec<f32> = masked.iter().map(|&m| f32::from(u8::from(m))).collect();
    let host = |values: Vec<f32>| {
        Tensor::<3>::from_data(TensorData::new(values, [batch, seq, 1]), &device)
    };
    let entropy = positive * host(is_masked) - host(ratio) * gather(log_score, x0) + host(constant);
    // [batch, seq, 1] -> [batch, seq]
    entropy.reshape([batch, seq])
}

/// The uniform closed form (module docs).
///
/// # Shapes
/// `log_score: [batch, seq, dim]` -> `[batch, seq]`.
fn uniform_entropy(log_score: Tensor<3>, sigma: &[f64], x_t: &[i64], x0: &[i64]) -> Tensor<2> {
    let [batch, seq, dim] = log_score.dims();
    let device = log_score.device();
    let n = dim as f64;
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for (p, (&x, &x0)) in x_t.iter().zip(x0).enumerate() {
        let m = sigma[p / seq].exp_m1();
        // r = p_{sigma|0}(y | x) / p_{sigma|0}(x | x) for y != x
        let r = m / (m + n);
        let (a_p, b_p, c_p) = if x == x0 {
            (r, 0.0, (n - 1.0) / n * k(r))
        } else {
            (1.0, 1.0 / m, (k(1.0 / r) - (n - 2.0)) / n)
        };
        a.push(a_p as f32);
        b.push(b_p as f32);
        c.push(c_p as f32);
    }
    let host = |values: Vec<f32>| {
        Tensor::<3>::from_data(TensorData::new(values, [batch, seq, 1]), &device)
    };
    let log_score_x = gather(log_score.clone(), x_t);
    // (1 / N) sum_{y != x} s_y: [batch, seq, 1]
    let positive = (log_score.clone().exp().sum_dim(2) - log_score_x.clone().exp()).div_scalar(n);
    // (1 / N) sum_{y != x} ln s_y: [batch, seq, 1]
    let mean_log = (log_score.clone().sum_dim(2) - log_score_x).div_scalar(n);
    let entropy = positive - host(a) * mean_log - host(b) * gather(log_score, x0) + host(c);
    // [batch, seq, 1] -> [batch, seq]
    entropy.reshape([batch, seq])
}

/// `log_score[b, i, ids[b, i]]`.
///
/// # Shapes
/// `log_score: [batch, seq, dim]`, `ids`: `batch * seq` -> `[batch, seq, 1]`.
fn gather(log_score: Tensor<3>, ids: &[i64]) -> Tensor<3> {
    let [batch, seq, _] = log_score.dims();
    // [batch * seq] -> [batch, seq, 1]
    let index = Tensor::<3, Int>::from_data(
        TensorData::new(ids.to_vec(), [batch, seq, 1]),
        &log_score.device(),
    );
    log_score.gather(2, index)
}

/// SEDD's loss [LOU24, Eq. 10]: `sigma(t_b) sum_i l_{b, i}` per row, from the log scores
/// of the network at `corruption.x_t` and `corruption.sigma`, and their mean over rows.
///
/// # Shapes
/// `log_score: [batch, seq, dim]`, `x0`: `batch * seq` ids -> per row `[batch]`, mean `[1]`.
///
/// # Errors
/// As [`score_entropy`]; `corruption.dsigma` not `batch` values.
pub fn sedd_loss(
    graph: &Graph,
    log_score: Tensor<3>,
    x0: &[i64],
    corruption: &SeddCorruption,
) -> Result<SeddLoss> {
    let [batch, _, _] = log_score.dims();
    check_shape("dsigma", &[batch], &[corruption.dsigma.len()])?;
    let device = log_score.device();
    let entropy = score_entropy(graph, log_score, &corruption.sigma, &corruption.x_t, x0)?;
    let dsigma: Vec<f32> = corruption.dsigma.iter().map(|&d| d as f32).collect();
    // [batch] -> [batch, 1]
    let dsigma = Tensor::<2>::from_data(TensorData::new(dsigma, [batch, 1]), &device);
    // [batch, seq] -> [batch, 1] -> [batch]
    let per_sequence = (entropy * dsigma).sum_dim(1).reshape([batch]);
    Ok(SeddLoss { mean: per_sequence.clone().mean(), per_sequence })
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use burn::optim::{AdamConfig, GradientsParams};
    use stoke_nn::{LmTransformer, LmTransformerConfig};

    use super::{SeddCorruption, SeddObjective, score_entropy, sedd_loss};
    use crate::sedd::graph::Graph;
    use crate::sedd::score::LmScoreModel;

    fn graphs() -> [Graph; 3] {
        [
            Graph::Absorbing { dim: 6, mask_id: 4 },
            Graph::Absorbing { dim: 6, mask_id: 5 },
            Graph::Uniform { dim: 6 },
        ]
    }

    proptest! {
        /// The tensor closed form equals the host definition at every position, for every
        /// graph, masked or not, moved or not.
        #[test]
        fn the_closed_form_is_the_definition(
            seed in 0u64..500, sigma in prop::collection::vec(0.05f64..5.0, 2),
        ) {
            let device = Device::flex();
            let mut rng = StdRng::seed_from_u64(seed);
            for graph in graphs() {
                let x0 = [0, 1, 2, 3, 0, 1, 2, 3];
                let x_t = graph.sample_transition(&x0, &sigma, &mut rng).unwrap();
                device.seed(seed);
                let log_score = Tensor::<3>::random([2, 4, 6], Distribution::Normal(0.0, 1.5), &device);
                let host: Vec<f64> = log_score.clone().into_data().iter::<f64>().collect();
                let entropy = score_entropy(&graph, log_score, &sigma, &x_t, &x0).unwrap();
                let entropy: Vec<f64> = entropy.into_data().iter::<f64>().collect();
                for p in 0..8 {
                    let expected = graph.score_entropy(&host[p * 6..(p + 1) * 6], sigma[p / 4], x_t[p] as usize, x0[p] as usize);
                    prop_assert!((entropy[p] - expected).abs() <= 1e-4 * expected.abs().max(1.0), "{graph:?} {p}: {} vs {expected}", entropy[p]);
                }
            }
        }
    }

    /// Gradients are finite and reach only the positions that count: an unmasked position
    /// of the absorbing graph gets none, even with a log score large enough to overflow.
    #[test]
    fn gradients_are_finite_and_local() {
        let device = Device::flex().autodiff();
        let values = [[[1.0, 2.0, 0.0, -1.0, 0.5], [100.0, 0.0, 3.0, 0.0, 0.0]]];
        let log_score = Tensor::<3>::from_floats(values, &device).require_grad();
        let graph = Graph::Absorbing { dim: 5, mask_id: 4 };
        let corruption =
            SeddCorruption { t: vec![0.5], sigma: vec![0.7], dsigma: vec![2.0], x_t: vec![4, 1] };
        let loss = sedd_loss(&graph, log_score.clone(), &[2, 1], &corruption).unwrap();
        let grads = loss.mean.backward();
        let grad: Vec<f32> = log_score.grad(&grads).unwrap().into_data().iter::<f32>().collect();
        assert!(grad.iter().all(|g| g.is_finite()), "{grad:?}");
        assert!(grad[5..].iter().all(|&g| g == 0.0), "{grad:?}");
        assert_eq!(grad[4], 0.0, "the mask's own score is not a ratio the loss uses");
    }

    #[test]
    fn draws_follow_the_reference() {
        let mut rng = StdRng::seed_from_u64(0);
        let graph = Graph::Absorbing { dim: 6, mask_id: 4 };
        let objective = SeddObjective::sedd();
        let x0 = vec![0; 64 * 3];
        let draw = objective.draw(&graph, &x0, 64, &mut rng).unwrap();
        for ((&t, &sigma), &dsigma) in draw.t.iter().zip(&draw.sigma).zip(&draw.dsigma) {
            assert!((1e-3..=1.0).contains(&t));
            assert_eq!(sigma, objective.noise.total(t));
            assert_eq!(dsigma, objective.noise.rate(t));
        }
        assert!(draw.x_t.iter().all(|&x| x == 0 || x == 4));
        assert!(SeddObjective { eps: 0.0, ..objective }.draw(&graph, &x0, 64, &mut rng).is_err());
        assert!(objective.draw(&graph, &[4, 0, 1], 1, &mut rng).is_err(), "mask in data");
        let device = Device::flex();
        let log_score = Tensor::<3>::zeros([1, 3, 6], &device);
        let bad = SeddCorruption {
            t: vec![0.5],
            sigma: vec![-1.0],
            dsigma: vec![1.0],
            x_t: vec![4, 4, 4],
        };
        assert!(sedd_loss(&graph, log_score.clone(), &[0, 1, 2], &bad).is_err(), "sigma < 0");
        let bad = SeddCorruption { sigma: vec![1.0], x_t: vec![4, 4, 7], ..bad };
        assert!(sedd_loss(&graph, log_score, &[0, 1, 2], &bad).is_err(), "id outside dim");
    }

    /// A tiny conditioned backbone trained for a few Adam steps on SEDD's loss: the loss on a
    /// fixed set of corruptions falls.
    #[test]
    fn a_few_adam_steps_lower_the_loss() {
        let device = Device::flex().autodiff();
        device.seed(0);
        let graph = Graph::Absorbing { dim: 6, mask_id: 4 };
        let objective = SeddObjective::sedd();
        // Rows of a cyclic pattern: each token is the previous one's successor.
        let rows: Vec<Vec<i64>> =
            (0..16).map(|b| (0..8).map(|i| [0, 1, 2, 3, 5][(b + i) % 5]).collect()).collect();
        let x0 = rows.concat();
        let loss_of = |lm: &LmTransformer, corruption: &SeddCorruption| {
            let model = LmScoreModel::new(lm, graph, device.clone()).unwrap();
            let log_score =
                model.log_score_tensor(&corruption.x_t, [16, 8], &corruption.sigma).unwrap();
            sedd_loss(&graph, log_score, &x0, corruption).unwrap().mean
        };
        let mut rng = StdRng::seed_from_u64(0);
        let held_out: Vec<SeddCorruption> =
            (0..4).map(|_| objective.draw(&graph, &x0, 16, &mut rng).unwrap()).collect();
        let evaluate = |lm: &LmTransformer| -> f64 {
            held_out.iter().map(|c| loss_of(lm, c).into_scalar::<f64>()).sum::<f64>() / 4.0
        };
        let mut lm =
            LmTransformerConfig::new(6, 8, 16, 1, 2).with_conditioned(true).init(&device).unwrap();
        let before = evaluate(&lm);
        let mut optimizer = AdamConfig::new().init();
        for _ in 0..40 {
            let corruption = objective.draw(&graph, &x0, 16, &mut rng).unwrap();
            let grads = GradientsParams::from_grads(loss_of(&lm, &corruption).backward(), &lm);
            lm = optimizer.step(1e-2, lm, grads);
        }
        let after = evaluate(&lm);
        assert!(after < 0.8 * before, "{before} -> {after}");
    }
}
