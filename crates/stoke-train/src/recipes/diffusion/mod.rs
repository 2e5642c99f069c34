//! Recipes that demonstrate `stoke-diffusion`: flow matching and rectified flow on 2-D toys,
//! and the digits DiT trained as DDPM, EDM and flow-matching models.

pub mod digits_diffusion;
pub mod flow_2d;
pub mod rectified_2d;

use stoke_core::validate::{at_least, size};
use stoke_diffusion::flow_matching::FlowSample;
use stoke_nn::mlp::TimeMlpConfig;

use crate::error::{Result, TrainError};
pub use crate::eval::points::Source;
use crate::harness::Batch;

/// The checks every 2-D flow recipe makes: a 2-D network, at least two evaluation points,
/// at least two evaluation draws (a standard error needs two), and a non-empty list of
/// positive step counts.
///
/// # Errors
/// A message naming the bad value.
pub fn check_2d(
    model: &TimeMlpConfig,
    n_eval: usize,
    eval_draws: usize,
    eval_nfe: &[usize],
) -> Result<()> {
    at_least("eval_draws", size("eval_draws", eval_draws)?, 2)?;
    model.validate()?;
    if model.dim != 2 {
        return Err(TrainError::Invalid(format!(
            "model.dim must be 2 for 2-D toy data, got {}",
            model.dim
        )));
    }
    at_least("n_eval", size("n_eval", n_eval)?, 2)?;
    if eval_nfe.is_empty() || eval_nfe.contains(&0) {
        return Err(TrainError::Invalid(format!(
            "eval_nfe must be a non-empty list of positive step counts, got {eval_nfe:?}"
        )));
    }
    Ok(())
}

/// This rank's rows of a conditional-path draw over the global batch (all of it in one
/// process): the coupling and the noise are drawn for the global batch, so the ranks' shares
/// are exactly the one-process batch.
///
/// # Errors
/// A batch that does not divide by the ranks.
pub fn share_path(batch: &mut Batch, path: FlowSample<2>) -> Result<FlowSample<2>> {
    let rows = batch.share_rows(path.t.len())?;
    Ok(FlowSample {
        t: path.t[rows].to_vec(),
        x_t: batch.share(path.x_t)?,
        u_t: batch.share(path.u_t)?,
        x0: batch.share(path.x0)?,
        x1: batch.share(path.x1)?,
        eps: batch.share(path.eps)?,
    })
}
