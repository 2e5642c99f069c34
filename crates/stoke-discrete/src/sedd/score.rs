//! The score network as the samplers and the bound see it: a map from token ids and each
//! row's total noise `sigma_bar` to log concrete scores `ln s_theta(x_t, sigma_bar)_{i, y}
//! ~ ln p_t(x_t with token i set to y) / p_t(x_t)`, one per position and state
//! [LOU24, Eq. 12].
//!
//! The network is stoke-nn's [`LmTransformer`]; like the reference it is conditioned on
//! `sigma_bar`, not on `t` [LOU24, App. C.2]. Its logits become log scores through
//! [`log_score_from_logits`], the reference's output layer.

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use stoke_nn::LmTransformer;

use crate::error::{DiscreteError, Result};
use crate::sedd::graph::{Graph, check_sigma};

/// A score network as the samplers and the bound see it.
pub trait ScoreModel {
    /// The graph the scores are for (their number per position is its `dim`).
    fn graph(&self) -> Graph;
    /// The longest row.
    fn context(&self) -> usize;
    /// Log scores at every position, row-major `[batch, seq, dim]`, for ids `x_t`
    /// (row-major `[batch, seq]`) at total noise `sigma` (one per row).
    ///
    /// # Errors
    /// Ids outside the graph, rows longer than the context, shapes that disagree, a
    /// `sigma` not positive.
    fn log_score(&self, x_t: &[i64], shape: [usize; 2], sigma: &[f64]) -> Result<Vec<f32>>;
}

/// The reference's output layer (`SEDD.forward`): for the absorbing graph
/// `logits - ln(e^sigma - 1) - ln(dim - 1)` (its `scale_by_sigma`, which centres the scores
/// of a masked position round their magnitude `1 / (e^sigma - 1)` [LOU24, App. C.2]), then
/// for either graph the log score of the current token set to 0, the ratio
/// `p_t(x_t) / p_t(x_t) = 1`. The reference refuses `scale_by_sigma` for the uniform graph;
/// its logits are used as they are.
///
/// # Shapes
/// `logits: [batch, seq, dim]`, `x_t`: `batch * seq` ids, `sigma`: `batch` -> `[batch, seq,
/// dim]`.
///
/// # Errors
/// Shapes that disagree ([`DiscreteError::Shape`]); an id outside the graph; a `sigma` not
/// positive and finite ([`DiscreteError::NoiseLevel`]).
pub fn log_score_from_logits(
    graph: &Graph,
    logits: Tensor<3>,
    x_t: &[i64],
    sigma: &[f64],
) -> Result<Tensor<3>> {
    let [batch, seq, dim] = logits.dims();
    check_shape("logits", &[batch, seq, graph.dim()], &[batch, seq, dim])?;
    check_shape("x_t", &[batch * seq], &[x_t.len()])?;
    check_shape("sigma", &[batch], &[sigma.len()])?;
    graph.check_ids(x_t)?;
    check_sigma(sigma)?;
    let device = logits.device();
    let logits = match graph {
        Graph::Absorbing { .. } => {
            let shift: Vec<f32> =
                sigma.iter().map(|&s| (s.exp_m1().ln() + ((dim - 1) as f64).ln()) as f32).collect();
            // [batch] -> [batch, 1, 1], broadcast over positions and states
            let shift = Tensor::<3>::from_data(TensorData::new(shift, [batch, 1, 1]), &device);
            logits - shift
        }
        Graph::Uniform { .. } => logits,
    };
    Ok(logits.mask_fill(is_state(x_t, [batch, seq, dim], &device), 0.0))
}

/// `true` at `[b, i, x_t[b, i]]`.
///
/// # Shapes
/// `ids`: `batch * seq` -> `[batch, seq, dim]`.
pub(crate) fn is_state(
    ids: &[i64],
    [batch, seq, dim]: [usize; 3],
    device: &Device,
) -> Tensor<3, Bool> {
    // [dim] -> [1, 1, dim] -> [batch, seq, dim]
    let states = Tensor::<1, Int>::arange(0..dim as i64, device)
        .reshape([1, 1, dim])
        .expand([batch, seq, dim]);
    // [batch * seq] -> [batch, seq, 1] -> [batch, seq, dim]
    let ids = Tensor::<3, Int>::from_data(TensorData::new(ids.to_vec(), [batch, seq, 1]), device)
        .expand([batch, seq, dim]);
    states.equal(ids)
}

/// # Errors
/// [`DiscreteError::Shape`] when `got != expected`.
pub(crate) fn check_shape(what: &'static str, expected: &[usize], got: &[usize]) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(DiscreteError::Shape { what, expected: expected.to_vec(), got: got.to_vec() })
    }
}

/// An [`LmTransformer`] on a device as a [`ScoreModel`]: its logits through
/// [`log_score_from_logits`]; a conditioned model is given each row's `sigma`.
#[derive(Debug, Clone)]
pub struct LmScoreModel<'a> {
    lm: &'a LmTransformer,
    graph: Graph,
    device: Device,
}

impl<'a> LmScoreModel<'a> {
    /// The network `lm` as the score model of `graph`.
    ///
    /// # Errors
    /// A bad graph; `lm`'s vocabulary not the graph's `dim` ([`DiscreteError::Shape`]).
    pub fn new(lm: &'a LmTransformer, graph: Graph, device: Device) -> Result<Self> {
        graph.validate()?;
        check_shape("score model vocabulary", &[graph.dim()], &[lm.vocab_size()])?;
        Ok(Self { lm, graph, device })
    }

    /// The log scores as a tensor, the training path.
    ///
    /// # Shapes
    /// `x_t`: `batch * seq` ids, `sigma`: `batch` -> `[batch, seq, dim]`.
    ///
    /// # Errors
    /// As [`LmTransformer::logits`] and [`log_score_from_logits`].
    pub fn log_score_tensor(
        &self,
        x_t: &[i64],
        shape: [usize; 2],
        sigma: &[f64],
    ) -> Result<Tensor<3>> {
        check_sigma(sigma)?;
        let noise = self.lm.conditioned().then(|| {
            let sigma: Vec<f32> = sigma.iter().map(|&s| s as f32).collect();
            let n = sigma.len();
            Tensor::<1>::from_data(TensorData::new(sigma, [n]), &self.device)
        });
        let logits = self.lm.logits(x_t, shape, noise, None, &self.device)?;
        log_score_from_logits(&self.graph, logits, x_t, sigma)
    }
}

impl ScoreModel for LmScoreModel<'_> {
    fn graph(&self) -> Graph {
        self.graph
    }

    fn context(&self) -> usize {
        self.lm.context()
    }

    fn log_score(&self, x_t: &[i64], shape: [usize; 2], sigma: &[f64]) -> Result<Vec<f32>> {
        let log_score = self.log_score_tensor(x_t, shape, sigma)?;
        // `iter` converts from whatever float type the backend stores.
        Ok(log_score.into_data().iter::<f32>().collect())
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};
    use stoke_nn::LmTransformerConfig;

    use super::{LmScoreModel, ScoreModel, log_score_from_logits};
    use crate::sedd::graph::Graph;

    /// The log score at the current token is exactly 0; the absorbing shift is the same
    /// at every other entry of a row; bad shapes and noise levels are refused.
    #[test]
    fn the_current_token_has_log_score_zero() {
        let device = Device::flex();
        let logits = Tensor::<3>::random([2, 3, 6], Distribution::Normal(0.0, 2.0), &device);
        let x_t = [4, 1, 4, 0, 5, 4];
        let sigma = [0.2, 3.0];
        for graph in [Graph::Absorbing { dim: 6, mask_id: 4 }, Graph::Uniform { dim: 6 }] {
            let out = log_score_from_logits(&graph, logits.clone(), &x_t, &sigma).unwrap();
            let out: Vec<f32> = out.into_data().iter::<f32>().collect();
            let raw: Vec<f32> = logits.clone().into_data().iter::<f32>().collect();
            for (p, &x) in x_t.iter().enumerate() {
                let shift = match graph {
                    Graph::Absorbing { .. } => sigma[p / 3].exp_m1().ln() + 5f64.ln(),
                    Graph::Uniform { .. } => 0.0,
                };
                for y in 0..6 {
                    let expected =
                        if y == x as usize { 0.0 } else { f64::from(raw[p * 6 + y]) - shift };
                    assert!((f64::from(out[p * 6 + y]) - expected).abs() < 1e-5);
                }
            }
            assert!(log_score_from_logits(&graph, logits.clone(), &x_t, &[0.2, 0.0]).is_err());
            assert!(log_score_from_logits(&graph, logits.clone(), &x_t[..5], &sigma).is_err());
            assert!(
                log_score_from_logits(&graph, logits.clone(), &[6, 1, 4, 0, 5, 4], &sigma).is_err()
            );
        }
        let lm =
            LmTransformerConfig::new(6, 8, 16, 1, 2).with_conditioned(true).init(&device).unwrap();
        assert!(LmScoreModel::new(&lm, Graph::Uniform { dim: 7 }, device.clone()).is_err());
        let model =
            LmScoreModel::new(&lm, Graph::Absorbing { dim: 6, mask_id: 4 }, device).unwrap();
        let scores = model.log_score(&x_t, [2, 3], &sigma).unwrap();
        assert_eq!(scores.len(), 36);
        assert_eq!(scores[4], 0.0);
    }
}
