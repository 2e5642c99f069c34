//! Test support: the exact score of a factorised data distribution.

use crate::error::Result;
use crate::sedd::graph::Graph;
use crate::sedd::score::ScoreModel;

/// The exact log score of a product of categoricals `pi[i]`, one per position (rows are
/// `pi.len()` long): `ln m_i(y) - ln m_i(x_i)` with `m_i = exp(sigma_bar Q) pi[i]`, the
/// noised marginal of position `i`.
pub(crate) struct Exact {
    pub(crate) graph: Graph,
    pub(crate) pi: Vec<Vec<f64>>,
}

impl Exact {
    /// `m_i = exp(sigma Q) pi[i]` for every position.
    pub(crate) fn marginals(&self, sigma: f64) -> Vec<Vec<f64>> {
        let dim = self.graph.dim();
        self.pi
            .iter()
            .map(|pi| {
                let mut m = vec![0.0; dim];
                for (x0, &p) in pi.iter().enumerate().filter(|&(_, &p)| p > 0.0) {
                    for (m, q) in m.iter_mut().zip(self.graph.transition(x0, sigma)) {
                        *m += p * q;
                    }
                }
                m
            })
            .collect()
    }
}

impl ScoreModel for Exact {
    fn graph(&self) -> Graph {
        self.graph
    }

    fn context(&self) -> usize {
        self.pi.len()
    }

    fn log_score(&self, x_t: &[i64], [batch, seq]: [usize; 2], sigma: &[f64]) -> Result<Vec<f32>> {
        assert_eq!(seq, self.pi.len(), "rows are as long as the product");
        let mut out = Vec::with_capacity(batch * seq * self.graph.dim());
        for (row, &sigma) in x_t.chunks(seq).zip(sigma) {
            for (m, &x) in self.marginals(sigma).iter().zip(row) {
                out.extend(m.iter().map(|&m_y| (m_y.ln() - m[x as usize].ln()) as f32));
            }
        }
        Ok(out)
    }
}
