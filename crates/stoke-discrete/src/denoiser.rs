//! The one interface every sampler and estimator calls: a network that maps token ids (and,
//! if it is conditioned, each row's time) to logits, read back to the host.

use burn::tensor::{Device, Tensor, TensorData};
use stoke_nn::LmTransformer;

use crate::error::Result;

/// A denoiser (or language model) as the samplers see it.
pub trait Denoiser {
    /// Number of token ids (logits per position).
    fn vocab_size(&self) -> usize;
    /// The longest row.
    fn context(&self) -> usize;
    /// Whether the logits depend on the time (only a time-free denoiser may have its
    /// predictions cached).
    fn time_conditioned(&self) -> bool;
    /// Logits at every position, row-major `[batch, seq, vocab]`, for ids `x_t` (row-major
    /// `[batch, seq]`) at times `t` (one per row; ignored by a time-free denoiser).
    ///
    /// # Errors
    /// Ids outside the vocabulary, rows longer than the context, shapes that disagree.
    fn logits(&self, x_t: &[i64], shape: [usize; 2], t: &[f64]) -> Result<Vec<f32>>;
}

/// An [`LmTransformer`] on a device as a [`Denoiser`]: a conditioned model is given `t`.
#[derive(Debug, Clone)]
pub struct LmDenoiser<'a> {
    /// The network.
    pub lm: &'a LmTransformer,
    /// Where it runs.
    pub device: Device,
}

impl LmDenoiser<'_> {
    /// The logits as a tensor, the training path.
    ///
    /// # Shapes
    /// `x_t`: `batch * seq` ids, `t`: `batch` times -> `[batch, seq, vocab]`.
    ///
    /// # Errors
    /// As [`LmTransformer::logits`].
    pub fn logits_tensor(&self, x_t: &[i64], shape: [usize; 2], t: &[f64]) -> Result<Tensor<3>> {
        let noise = self.lm.conditioned().then(|| {
            let t: Vec<f32> = t.iter().map(|&t| t as f32).collect();
            let n = t.len();
            Tensor::<1>::from_data(TensorData::new(t, [n]), &self.device)
        });
        Ok(self.lm.logits(x_t, shape, noise, None, &self.device)?)
    }
}

impl Denoiser for LmDenoiser<'_> {
    fn vocab_size(&self) -> usize {
        self.lm.vocab_size()
    }

    fn context(&self) -> usize {
        self.lm.context()
    }

    fn time_conditioned(&self) -> bool {
        self.lm.conditioned()
    }

    fn logits(&self, x_t: &[i64], shape: [usize; 2], t: &[f64]) -> Result<Vec<f32>> {
        let logits = self.logits_tensor(x_t, shape, t)?;
        // `iter` converts from whatever float type the backend stores.
        Ok(logits.into_data().iter::<f32>().collect())
    }
}
