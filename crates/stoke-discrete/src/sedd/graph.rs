//! SEDD's transition graphs: the fixed per-token rate matrix `Q` of the forward process
//! `Q_t = sigma(t) Q` [LOU24, Sec. 3.3], and on the host, in `f64`, everything the loss, the
//! samplers and the bound need from it: the columns and rows of `Q` and of
//! `exp(sigma Q)` [LOU24, Eq. 14], the forward corruption, the reverse rate
//! [LOU24, Def. 3.5], the staggered score `exp(-dsigma Q) s` and the Tweedie step
//! [LOU24, Eq. 19], and the score entropy of one position [LOU24, Eq. 10].
//!
//! `Q(y, x)` is the rate from `x` to `y`, so columns sum to zero [LOU24, Eq. 1].
//!
//! * [`Graph::Absorbing`]: `Q^absorb` [LOU24, Eq. 16], every state jumps at rate 1 to the
//!   absorbing state. The reference puts it at the last id (`dim - 1`); here it is any
//!   `mask_id` (Stoke's tokenizers use id 4).
//! * [`Graph::Uniform`]: `Q^uniform / N` [LOU24, Eq. 15]: each state jumps to each other
//!   state at rate `1 / N`. The reference scales the paper's matrix down by `1 / N`
//!   [LOU24, App. C.1], and so does this code.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};
use stoke_core::validate;

use crate::error::{DiscreteError, Result};

/// A transition graph over `dim` token states (JSON: `{"kind": "absorbing", "dim": 30,
/// "mask_id": 4}`), checked by [`Graph::validate`] when it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", remote = "Self")]
pub enum Graph {
    /// Every state jumps to the absorbing state `mask_id` at rate 1 [LOU24, Eq. 16].
    Absorbing {
        /// The number of states, the absorbing one included.
        dim: usize,
        /// The absorbing (mask) state.
        mask_id: i64,
    },
    /// Every state jumps to every other state at rate `1 / dim` [LOU24, Eq. 15].
    Uniform {
        /// The number of states.
        dim: usize,
    },
}

impl Serialize for Graph {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        // The derived (remote) serializer, as is.
        Self::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for Graph {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        // The derived (remote) deserializer, then the checks.
        let graph = Self::deserialize(deserializer)?;
        graph.validate().map_err(serde::de::Error::custom)?;
        Ok(graph)
    }
}

/// `K(a) = a (ln a - 1)`, the constant that makes the score entropy non-negative
/// [LOU24, Eq. 5], with its limit `K(0) = 0`.
pub(crate) fn k(a: f64) -> f64 {
    if a == 0.0 { 0.0 } else { a * (a.ln() - 1.0) }
}

impl Graph {
    /// The absorbing graph over `dim` states with absorbing state `mask_id`.
    ///
    /// # Errors
    /// As [`Graph::validate`].
    pub fn absorbing(dim: usize, mask_id: i64) -> Result<Self> {
        let graph = Self::Absorbing { dim, mask_id };
        graph.validate()?;
        Ok(graph)
    }

    /// The uniform graph over `dim` states.
    ///
    /// # Errors
    /// As [`Graph::validate`].
    pub fn uniform(dim: usize) -> Result<Self> {
        let graph = Self::Uniform { dim };
        graph.validate()?;
        Ok(graph)
    }

    /// Checks the graph.
    ///
    /// # Errors
    /// Fewer than two states; the absorbing state outside `0..dim`
    /// ([`DiscreteError::NoMaskToken`]).
    pub fn validate(&self) -> Result<()> {
        validate::at_least("dim", self.dim(), 2)?;
        if let Self::Absorbing { dim, mask_id } = *self
            && (mask_id < 0 || mask_id as usize >= dim)
        {
            return Err(DiscreteError::NoMaskToken { mask_id, vocab_size: dim });
        }
        Ok(())
    }

    /// The number of states.
    pub fn dim(&self) -> usize {
        match *self {
            Self::Absorbing { dim, .. } | Self::Uniform { dim } => dim,
        }
    }

    /// The absorbing state, if the graph has one.
    pub fn absorbing_state(&self) -> Option<usize> {
        match *self {
            Self::Absorbing { mask_id, .. } => Some(mask_id as usize),
            Self::Uniform { .. } => None,
        }
    }

    /// Checks that every id is a state.
    ///
    /// # Errors
    /// [`DiscreteError::IdOutOfRange`] at the first id outside `0..dim`.
    pub fn check_ids(&self, ids: &[i64]) -> Result<()> {
        let dim = self.dim();
        match ids.iter().position(|&id| id < 0 || id as usize >= dim) {
            Some(position) => Err(DiscreteError::IdOutOfRange { position, id: ids[position], dim }),
            None => Ok(()),
        }
    }

    /// Checks that `x0` can be clean data: every id a state, none the absorbing state.
    ///
    /// # Errors
    /// [`DiscreteError::IdOutOfRange`]; [`DiscreteError::MaskInData`].
    pub fn check_clean(&self, x0: &[i64]) -> Result<()> {
        self.check_ids(x0)?;
        let absorbing = self.absorbing_state().map(|m| m as i64);
        match x0.iter().position(|&id| Some(id) == absorbing) {
            Some(position) => Err(DiscreteError::MaskInData { position }),
            None => Ok(()),
        }
    }

    /// Column `i` of `Q`: the rates `Q(y, i)` out of state `i` (the reference's `rate`).
    ///
    /// # Panics
    /// If `i >= dim` (every public entry point checks its ids first).
    pub fn rate(&self, i: usize) -> Vec<f64> {
        let dim = self.dim();
        let mut column = vec![0.0; dim];
        match self.absorbing_state() {
            // e_mask - e_i: zero for i = mask, which never leaves.
            Some(mask) => {
                column[mask] += 1.0;
                column[i] -= 1.0;
            }
            None => {
                column.fill(1.0 / dim as f64);
                column[i] = -((dim - 1) as f64) / dim as f64;
            }
        }
        column
    }

    /// Row `i` of `Q`: the rates `Q(i, y)` into state `i` (the reference's `transp_rate`),
    /// the weights of the score entropy at `x_t = i` [LOU24, Eq. 10].
    ///
    /// # Panics
    /// If `i >= dim`.
    pub fn transp_rate(&self, i: usize) -> Vec<f64> {
        match self.absorbing_state() {
            Some(mask) => {
                let mut row = vec![0.0; self.dim()];
                if i == mask {
                    // Every other state jumps into the mask at rate 1.
                    row.fill(1.0);
                    row[mask] = 0.0;
                } else {
                    row[i] = -1.0;
                }
                row
            }
            // Q^uniform is symmetric.
            None => self.rate(i),
        }
    }

    /// Column `i` of `exp(sigma Q)`: the forward transition `p_{sigma|0}(. | i)`
    /// [LOU24, Eq. 14]. The reference leaves it unimplemented for the absorbing graph; here
    /// it is `e^{-sigma}` at `i` and `1 - e^{-sigma}` at the mask.
    ///
    /// # Panics
    /// If `i >= dim`.
    pub fn transition(&self, i: usize, sigma: f64) -> Vec<f64> {
        let dim = self.dim();
        // 1 - e^{-sigma}, exact for small sigma.
        let moved = -(-sigma).exp_m1();
        let mut column = vec![0.0; dim];
        match self.absorbing_state() {
            Some(mask) => {
                column[i] = 1.0 - moved;
                column[mask] += moved;
            }
            None => {
                column.fill(moved / dim as f64);
                column[i] = 1.0 - moved * (dim - 1) as f64 / dim as f64;
            }
        }
        column
    }

    /// Row `i` of `exp(sigma Q)`: `p_{sigma|0}(i | y)` for every `y` (the reference's
    /// `transp_transition`).
    ///
    /// # Panics
    /// If `i >= dim`.
    pub fn transp_transition(&self, i: usize, sigma: f64) -> Vec<f64> {
        match self.absorbing_state() {
            Some(mask) => {
                let mut row = vec![0.0; self.dim()];
                if i == mask {
                    // Every state has been absorbed with probability 1 - e^{-sigma}.
                    row.fill(-(-sigma).exp_m1());
                    row[mask] = 1.0;
                } else {
                    row[i] = (-sigma).exp();
                }
                row
            }
            None => self.transition(i, sigma),
        }
    }

    /// The staggered score `exp(-dsigma Q) s` [LOU24, Eq. 19], from a score `s` (one
    /// position's ratios, not their logarithms).
    ///
    /// Absorbing: `e^{dsigma} s_y` for `y != mask`, and `s_mask + (1 - e^{dsigma})
    /// sum_{y != mask} s_y` at the mask. Uniform: `e^{dsigma} s - (e^{dsigma} - 1) / N sum s`.
    ///
    /// # Panics
    /// If `score.len() != dim`.
    pub fn staggered_score(&self, score: &[f64], dsigma: f64) -> Vec<f64> {
        assert_eq!(score.len(), self.dim(), "one score per state");
        let grow = dsigma.exp();
        // e^{dsigma} - 1, exact for small dsigma.
        let grow_m1 = dsigma.exp_m1();
        match self.absorbing_state() {
            Some(mask) => {
                let others: f64 =
                    score.iter().enumerate().filter(|&(y, _)| y != mask).map(|(_, s)| s).sum();
                let mut out: Vec<f64> = score.iter().map(|s| grow * s).collect();
                out[mask] = score[mask] - grow_m1 * others;
                out
            }
            None => {
                let shift = grow_m1 / self.dim() as f64 * score.iter().sum::<f64>();
                score.iter().map(|s| grow * s - shift).collect()
            }
        }
    }

    /// The reverse rate out of `i`, `Q(i, y) s_y` for `y != i` and minus their sum at `i`
    /// [LOU24, Eq. 3, Def. 3.5].
    ///
    /// # Panics
    /// If `i >= dim` or `score.len() != dim`.
    pub fn reverse_rate(&self, i: usize, score: &[f64]) -> Vec<f64> {
        let mut rate: Vec<f64> =
            self.transp_rate(i).iter().zip(score).map(|(q, s)| q * s).collect();
        rate[i] = 0.0;
        rate[i] = -rate.iter().sum::<f64>();
        rate
    }

    /// The Euler (tau-leaping) step's unnormalised probabilities `e_i + dt sigma(t)
    /// reverse_rate(i, s)` [LOU24, Eq. 17]; `dt_rate = dt sigma(t)`. Entries may be negative
    /// when the step is long; [`sample_categorical`] never picks them.
    ///
    /// # Panics
    /// If `i >= dim` or `score.len() != dim`.
    pub fn euler_probs(&self, i: usize, score: &[f64], dt_rate: f64) -> Vec<f64> {
        let mut probs: Vec<f64> = self.reverse_rate(i, score).iter().map(|r| dt_rate * r).collect();
        probs[i] += 1.0;
        probs
    }

    /// The Tweedie tau-leaping step's unnormalised probabilities `(exp(-dsigma Q) s)_y
    /// exp(dsigma Q)(i, y)` [LOU24, Eq. 19], `dsigma = sigma_bar(t) - sigma_bar(t - dt)`
    /// [LOU24, Eq. 20].
    ///
    /// # Panics
    /// If `i >= dim` or `score.len() != dim`.
    pub fn tweedie_probs(&self, i: usize, score: &[f64], dsigma: f64) -> Vec<f64> {
        let staggered = self.staggered_score(score, dsigma);
        staggered.iter().zip(self.transp_transition(i, dsigma)).map(|(s, p)| s * p).collect()
    }

    /// The final denoising step from total noise `sigma` to none: [`Graph::tweedie_probs`]
    /// with `dsigma = sigma`, the absorbing state's entry set to zero (the reference drops
    /// the mask column), so it is never drawn.
    ///
    /// # Panics
    /// If `i >= dim` or `score.len() != dim`.
    pub fn denoise_probs(&self, i: usize, score: &[f64], sigma: f64) -> Vec<f64> {
        let mut probs = self.tweedie_probs(i, score, sigma);
        if let Some(mask) = self.absorbing_state() {
            probs[mask] = 0.0;
        }
        probs
    }

    /// The score entropy of one position at total noise `sigma > 0`, by its definition:
    /// `sum_{y != x} Q(x, y) (s_y - rho_y ln s_y + K(rho_y))` with `s = exp(log_score)`
    /// and `rho_y = p_{sigma|0}(y | x0) / p_{sigma|0}(x | x0)` [LOU24, Eq. 10]. Times the
    /// rate `sigma(t)` it is the integrand of the bound; it is zero where no state can jump
    /// into `x` (an unmasked position of the absorbing graph).
    ///
    /// # Panics
    /// If `x` or `x0` is `>= dim`, or `log_score.len() != dim`.
    pub fn score_entropy(&self, log_score: &[f64], sigma: f64, x: usize, x0: usize) -> f64 {
        let weight = self.transp_rate(x);
        let forward = self.transition(x0, sigma);
        let mut entropy = 0.0;
        for (y, (&w, &ls)) in weight.iter().zip(log_score).enumerate() {
            // Skipped where the weight is zero: rho may be 0 / 0 there.
            if y == x || w == 0.0 {
                continue;
            }
            let rho = forward[y] / forward[x];
            // rho ln s is taken as 0 at rho = 0, even where s = 0 (ln s = -inf).
            let cross = if rho == 0.0 { 0.0 } else { rho * ls };
            entropy += w * (ls.exp() - cross + k(rho));
        }
        entropy
    }

    /// `n` draws of the limiting distribution: all absorbing, or uniform.
    pub fn sample_limit<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Vec<i64> {
        match self.absorbing_state() {
            Some(mask) => vec![mask as i64; n],
            None => (0..n).map(|_| rng.random_range(0..self.dim()) as i64).collect(),
        }
    }

    /// The forward corruption of `batch` rows of `x0`, row `b` at total noise `sigma[b]`
    /// [LOU24, Eq. 14]: each token moves with probability `1 - e^{-sigma}`, to the mask
    /// (absorbing) or to a uniformly drawn state, possibly itself (uniform).
    ///
    /// # Shapes
    /// `x0`: `batch * seq` ids, `sigma`: `batch` -> `batch * seq` ids.
    ///
    /// # Errors
    /// `x0` not a whole number of rows; an id outside the graph or the absorbing state in
    /// `x0`; a `sigma` not positive and finite ([`DiscreteError::NoiseLevel`]).
    pub fn sample_transition<R: Rng + ?Sized>(
        &self,
        x0: &[i64],
        sigma: &[f64],
        rng: &mut R,
    ) -> Result<Vec<i64>> {
        let batch = validate::size("batch", sigma.len())?;
        validate::multiple_of("x0", x0.len(), "batch", batch)?;
        self.check_clean(x0)?;
        check_sigma(sigma)?;
        let seq = x0.len() / batch;
        let mut x_t = x0.to_vec();
        for (row, &sigma) in x_t.chunks_mut(seq.max(1)).zip(sigma) {
            let move_chance = -(-sigma).exp_m1();
            for id in row {
                if rng.random::<f64>() < move_chance {
                    *id = match self.absorbing_state() {
                        Some(mask) => mask as i64,
                        None => rng.random_range(0..self.dim()) as i64,
                    };
                }
            }
        }
        Ok(x_t)
    }

    /// `D_KL(p_{1|0}(. | x0) || p_base)` per token at the total noise `sigma_max` reached at
    /// `t = 1`, the prior term of the bound [LOU24, Eq. 9], the same for every `x0`.
    ///
    /// Uniform: against the uniform base. Absorbing: against the base that leaks
    /// `e^{-sigma_max}` of the mask's mass uniformly to the other states
    /// [LOU24, App. C.1] (the symmetric base closest to `p_{1|0}`): `e^{-sigma_max}
    /// ln(dim - 1)`. Against the mask alone it would be infinite.
    pub fn prior_kl(&self, sigma_max: f64) -> f64 {
        let dim = self.dim() as f64;
        match self.absorbing_state() {
            Some(_) => (-sigma_max).exp() * (dim - 1.0).ln(),
            None => self
                .transition(0, sigma_max)
                .iter()
                .filter(|&&p| p > 0.0)
                .map(|&p| p * (dim * p).ln())
                .sum(),
        }
    }
}

/// # Errors
/// [`DiscreteError::NoiseLevel`] at the first `sigma` not positive and finite.
pub(crate) fn check_sigma(sigma: &[f64]) -> Result<()> {
    match sigma.iter().position(|&s| !(s.is_finite() && s > 0.0)) {
        Some(row) => Err(DiscreteError::NoiseLevel { row, sigma: sigma[row] }),
        None => Ok(()),
    }
}

/// The exponential race of the reference's `sample_categorical` on one draw `u_v` per entry
/// (taken in order from `uniform`): `argmax_v p_v / (1e-10 - ln(u_v + 1e-10))`, over the
/// entries `p_v > 0` only. Draws `v` with probability `max(p_v, 0) / sum max(p, 0)` (up to
/// the `1e-10`s), so `probs` need not be normalised. `None` when no entry is positive.
pub(crate) fn exponential_race(probs: &[f64], mut uniform: impl FnMut() -> f64) -> Option<usize> {
    let mut best: Option<(f64, usize)> = None;
    for (v, &p) in probs.iter().enumerate() {
        // 1e-10 - ln(u + 1e-10) is an Exp(1) draw kept away from 0 and infinity.
        let exponential = 1e-10 - (uniform() + 1e-10).ln();
        if p > 0.0 && best.is_none_or(|(score, _)| p / exponential > score) {
            best = Some((p / exponential, v));
        }
    }
    best.map(|(_, v)| v)
}

/// One draw of the categorical distribution proportional to the positive entries of
/// `probs` (see [`Graph::euler_probs`]); `None` when no entry is positive.
pub fn sample_categorical<R: Rng + ?Sized>(probs: &[f64], rng: &mut R) -> Option<usize> {
    exponential_race(probs, || rng.random::<f64>())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::{Graph, sample_categorical};

    pub(crate) fn graphs() -> [Graph; 3] {
        [
            Graph::Absorbing { dim: 6, mask_id: 4 },
            Graph::Absorbing { dim: 5, mask_id: 4 },
            Graph::Uniform { dim: 5 },
        ]
    }

    /// `exp(sigma Q)` by its power series, for checking the closed forms.
    fn expm(graph: &Graph, sigma: f64) -> Vec<Vec<f64>> {
        let dim = graph.dim();
        // q[y][x] = Q(y, x)
        let q: Vec<Vec<f64>> =
            (0..dim).map(|y| (0..dim).map(|x| graph.rate(x)[y]).collect()).collect();
        let mut result: Vec<Vec<f64>> =
            (0..dim).map(|y| (0..dim).map(|x| f64::from(u8::from(x == y))).collect()).collect();
        let mut term = result.clone();
        for n in 1..60 {
            term = (0..dim)
                .map(|y| {
                    (0..dim)
                        .map(|x| {
                            (0..dim).map(|z| q[y][z] * term[z][x]).sum::<f64>() * sigma / n as f64
                        })
                        .collect()
                })
                .collect();
            for y in 0..dim {
                for x in 0..dim {
                    result[y][x] += term[y][x];
                }
            }
        }
        result
    }

    proptest! {
        /// Columns of Q sum to zero; the closed-form columns and rows of `exp(sigma Q)` are
        /// the matrix exponential's; the staggered score is `exp(-dsigma Q) s`; the reverse
        /// rate sums to zero.
        #[test]
        // Entries of several matrices are compared at the same (i, y): indices read best.
        #[allow(clippy::needless_range_loop)]
        fn closed_forms_are_the_matrix_exponential(
            sigma in 0.01f64..4.0, score in prop::collection::vec(0.05f64..5.0, 6),
        ) {
            for graph in graphs() {
                let dim = graph.dim();
                let forward = expm(&graph, sigma);
                let backward = expm(&graph, -sigma.min(1.0));
                let score = &score[..dim];
                for i in 0..dim {
                    prop_assert!(graph.rate(i).iter().sum::<f64>().abs() < 1e-12);
                    let column = graph.transition(i, sigma);
                    let row = graph.transp_transition(i, sigma);
                    prop_assert!((column.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                    for y in 0..dim {
                        prop_assert!((column[y] - forward[y][i]).abs() < 1e-9);
                        prop_assert!((row[y] - forward[i][y]).abs() < 1e-9);
                        prop_assert_eq!(graph.transp_rate(i)[y], graph.rate(y)[i]);
                    }
                    prop_assert!(graph.reverse_rate(i, score).iter().sum::<f64>().abs() < 1e-9);
                }
                let staggered = graph.staggered_score(score, sigma.min(1.0));
                for y in 0..dim {
                    let expected: f64 = (0..dim).map(|x| backward[y][x] * score[x]).sum();
                    prop_assert!((staggered[y] - expected).abs() < 1e-8 * expected.abs().max(1.0));
                }
            }
        }

        /// The score entropy is non-negative, and zero exactly at the true denoising ratios
        /// `p_{sigma|0}(y | x0) / p_{sigma|0}(x | x0)` [LOU24, Prop. 3.2].
        #[test]
        fn score_entropy_vanishes_at_the_true_ratio(
            sigma in 0.01f64..6.0, log_score in prop::collection::vec(-3.0f64..3.0, 6),
            x0 in 0usize..4, x_moved in any::<bool>(),
        ) {
            for graph in graphs() {
                let dim = graph.dim();
                let x = if x_moved { graph.absorbing_state().unwrap_or((x0 + 1) % dim) } else { x0 };
                prop_assert!(graph.score_entropy(&log_score[..dim], sigma, x, x0) >= -1e-12);
                let forward = graph.transition(x0, sigma);
                let truth: Vec<f64> = forward.iter().map(|p| (p / forward[x]).ln()).collect();
                prop_assert!(graph.score_entropy(&truth, sigma, x, x0).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn categorical_frequencies_follow_the_positive_entries() {
        let mut rng = StdRng::seed_from_u64(7);
        let probs = [0.2, -1.0, 0.6, 0.0, 0.2];
        let n = 20_000;
        let mut counts = [0usize; 5];
        for _ in 0..n {
            counts[sample_categorical(&probs, &mut rng).unwrap()] += 1;
        }
        assert_eq!(counts[1] + counts[3], 0, "non-positive entries never win");
        for (c, p) in counts.iter().zip([0.2, 0.0, 0.6, 0.0, 0.2]) {
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            assert!((*c as f64 - n as f64 * p).abs() <= 5.0 * sd.max(1.0), "{counts:?}");
        }
        assert_eq!(sample_categorical(&[0.0, -1.0], &mut rng), None);
    }

    #[test]
    fn bad_graphs_and_ids_are_refused() {
        assert!(Graph::absorbing(6, 6).is_err());
        assert!(Graph::absorbing(6, -1).is_err());
        assert!(Graph::uniform(1).is_err());
        let graph = Graph::absorbing(6, 4).unwrap();
        assert!(graph.check_ids(&[0, 5, 6]).is_err());
        assert!(graph.check_clean(&[0, 4]).is_err());
        let mut rng = StdRng::seed_from_u64(0);
        assert!(graph.sample_transition(&[0, 1], &[0.0], &mut rng).is_err(), "sigma = 0");
        assert!(graph.sample_transition(&[0, 1, 2], &[1.0, 1.0], &mut rng).is_err());
        assert!(
            serde_json::from_str::<Graph>(r#"{"kind": "absorbing", "dim": 4, "mask_id": 4}"#)
                .is_err()
        );
        let json = serde_json::to_string(&graph).unwrap();
        assert_eq!(serde_json::from_str::<Graph>(&json).unwrap(), graph);
    }

    /// The absorbing corruption only writes the mask; uniform keeps about `e^{-sigma} + (1 -
    /// e^{-sigma}) / N` of the tokens.
    #[test]
    fn corruption_moves_tokens_at_the_forward_rate() {
        let mut rng = StdRng::seed_from_u64(1);
        let x0: Vec<i64> = (0..4000).map(|i| [0, 1, 2, 3][i % 4]).collect();
        for graph in [Graph::Absorbing { dim: 5, mask_id: 4 }, Graph::Uniform { dim: 5 }] {
            let x_t = graph.sample_transition(&x0, &[0.7], &mut rng).unwrap();
            let kept = x_t.iter().zip(&x0).filter(|(a, b)| a == b).count() as f64 / 4000.0;
            let expected = graph.transition(0, 0.7)[0];
            assert!((kept - expected).abs() < 0.03, "{graph:?}: {kept} vs {expected}");
            if graph.absorbing_state().is_some() {
                assert!(x_t.iter().zip(&x0).all(|(&a, &b)| a == b || a == 4));
            }
        }
    }
}
