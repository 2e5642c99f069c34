//! SEDD's bound on the negative log-likelihood [LOU24, Thm. 3.6, Eq. 9]:
//! `-ln p_0(x0) <= L_DWDSE(x0) + D_KL(p_{1|0}(. | x0) || p_base)`, with the diffusion-weighted
//! denoising score entropy `L_DWDSE = int_0^1 sigma(t) E_{x_t} sum_i l_i dt`
//! [LOU24, Eq. 10], estimated by Monte Carlo.
//!
//! * The integral: each draw takes `t` in `[eps, 1]`, corrupts the row to `sigma_bar(t)`
//!   and scores `sigma(t) sum_i l_i` with the host [`Graph::score_entropy`](crate::sedd::Graph::score_entropy). The draws of a
//!   row are stratified, one per stratum of `[eps, 1]`, as the crate's masked estimator
//!   [`crate::elbo::Estimator::Time`] does; the standard error treats them as independent,
//!   which overstates it. Their mean estimates `(1 / (1 - eps)) int_eps^1`, the
//!   reference's (and MDLM's) `t ~ U(eps, 1)`: the part below `eps` is left out, and the
//!   `1 / (1 - eps)` stands in for it where the integrand is flat near 0 (it is constant for
//!   the absorbing graph with the log-linear schedule at the optimum).
//! * The prior term, which the reference leaves out (it is "negligible" [LOU24, App. C.1]),
//!   is added: [`Graph::prior_kl`](crate::sedd::Graph::prior_kl) per token at `sigma_bar(1)`. With the log-linear
//!   `eps = 1e-3` it is `1e-3 ln(dim - 1)` nats per token for the absorbing graph.

use rand::Rng;
use stoke_core::validate;

use crate::elbo::{Bound, mean_and_stderr};
use crate::error::Result;
use crate::forward::sample_times;
use crate::sedd::loss::SeddObjective;
use crate::sedd::score::{ScoreModel, check_shape};

/// SEDD's bound on `-ln p(x0)` summed over `batch` rows of `seq` tokens, `n_draws` draws
/// per row (see the module docs), for a model trained with `objective`.
///
/// # Errors
/// A bad objective; `n_draws < 2` (a standard error needs two); a zero `batch` or `seq`;
/// `x0` of another length, with an id outside the graph or the absorbing state; log scores
/// of the wrong length; a model error.
pub fn sedd_bound<R: Rng + ?Sized>(
    model: &impl ScoreModel,
    x0: &[i64],
    [batch, seq]: [usize; 2],
    objective: &SeddObjective,
    n_draws: usize,
    rng: &mut R,
) -> Result<Bound> {
    objective.validate()?;
    validate::at_least("n_draws", n_draws, 2)?;
    validate::size("batch", batch)?;
    validate::size("seq", seq)?;
    validate::same_length("x0", batch * seq, x0.len())?;
    let graph = model.graph();
    graph.validate()?;
    graph.check_clean(x0)?;
    let dim = graph.dim();
    let noise = objective.noise;
    let times: Vec<Vec<f64>> = (0..batch)
        .map(|_| sample_times(n_draws, objective.eps, true, rng))
        .collect::<Result<_>>()?;
    let prior = (batch * seq) as f64 * graph.prior_kl(noise.total(1.0));
    // draws[d]: the draw-d estimate summed over all rows
    let mut draws = vec![prior; n_draws];
    for (d, total) in draws.iter_mut().enumerate() {
        let t: Vec<f64> = times.iter().map(|row| row[d]).collect();
        let sigma: Vec<f64> = t.iter().map(|&t| noise.total(t)).collect();
        let x_t = graph.sample_transition(x0, &sigma, rng)?;
        let log_score = model.log_score(&x_t, [batch, seq], &sigma)?;
        check_shape("log scores", &[batch * seq * dim], &[log_score.len()])?;
        for (p, (&x, &x0)) in x_t.iter().zip(x0).enumerate() {
            let row = p / seq;
            let position: Vec<f64> =
                log_score[p * dim..(p + 1) * dim].iter().map(|&l| f64::from(l)).collect();
            let entropy = graph.score_entropy(&position, sigma[row], x as usize, x0 as usize);
            *total += noise.rate(t[row]) * entropy;
        }
    }
    let (nats, nats_stderr) = mean_and_stderr(&draws);
    Ok(Bound { nats, nats_stderr, tokens: batch * seq })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::sedd_bound;
    use crate::sedd::graph::Graph;
    use crate::sedd::loss::SeddObjective;
    use crate::sedd::testing::Exact;

    /// With the exact score of a product of categoricals the bound is tight: it estimates
    /// `-sum_i ln pi_i(x0_i)` (the path measures of Thm. 3.6 then differ only in their start),
    /// up to `eps` and the prior's leak.
    #[test]
    fn the_exact_score_is_tight() {
        let pi: Vec<Vec<f64>> = vec![
            vec![0.1, 0.2, 0.3, 0.15, 0.0, 0.25],
            vec![0.5, 0.05, 0.05, 0.3, 0.0, 0.1],
            vec![0.2, 0.2, 0.2, 0.2, 0.0, 0.2],
        ];
        let x0 = [0, 1, 2, 5, 3, 0, 2, 0, 5];
        let nll: f64 = x0.iter().enumerate().map(|(p, &x)| -pi[p % 3][x as usize].ln()).sum();
        for graph in [Graph::Absorbing { dim: 6, mask_id: 4 }, Graph::Uniform { dim: 6 }] {
            let model = Exact { graph, pi: pi.clone() };
            let mut rng = StdRng::seed_from_u64(2);
            let bound =
                sedd_bound(&model, &x0, [3, 3], &SeddObjective::sedd(), 4000, &mut rng).unwrap();
            assert!(bound.nats_stderr > 0.0 && bound.tokens == 9);
            let tolerance = 4.0 * bound.nats_stderr + 1e-2 * nll;
            assert!((bound.nats - nll).abs() < tolerance, "{graph:?}: {bound:?} vs {nll}");
        }
        let model = Exact { graph: Graph::Absorbing { dim: 6, mask_id: 4 }, pi };
        let mut rng = StdRng::seed_from_u64(0);
        let objective = SeddObjective::sedd();
        assert!(sedd_bound(&model, &x0, [3, 3], &objective, 1, &mut rng).is_err());
        assert!(sedd_bound(&model, &[4, 0, 1], [1, 3], &objective, 2, &mut rng).is_err());
        assert!(sedd_bound(&model, &[0, 1], [1, 3], &objective, 2, &mut rng).is_err());
    }
}
