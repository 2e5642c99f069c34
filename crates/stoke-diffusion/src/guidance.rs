//! Classifier-free guidance [HO22, Eq. 6]: `D = D_uncond + w (D_cond - D_uncond)`.
//!
//! Convention: `w` is diffusers' `guidance_scale`. `w = 1` is the conditional model alone
//! (one call), `w = 0` the unconditional one, `w > 1` extrapolates past the conditional
//! prediction. (Ho & Salimans write `(1 + w') eps_cond - w' eps_uncond`, so `w = 1 + w'`.)
//! diffusers skips guidance for every `w <= 1`; here the formula holds for every finite `w`.
//! Because every parameterization is affine in the prediction at a fixed `x` and noise level
//! with coefficients that sum to one, guiding `D`, `eps`, `v` or a velocity gives the same
//! result. The conditional and unconditional halves go through the model as one batch of
//! `2 * batch` rows: one call, counted as one function evaluation.

use burn::tensor::{Int, Tensor};

use crate::error::{DiffusionError, Result};
use crate::tensor::{batch_of, int_vector};

/// Which class labels to condition on and how strongly.
#[derive(Debug, Clone)]
pub struct Guidance {
    class_labels: Option<Tensor<1, Int>>,
    scale: f64,
}

impl Default for Guidance {
    fn default() -> Self {
        Self::unconditional()
    }
}

impl Guidance {
    /// No labels: an unconditional model is called without labels; a class-conditional one
    /// (with a null class) is called with its null class for every row.
    pub fn unconditional() -> Self {
        Self { class_labels: None, scale: 1.0 }
    }

    /// The conditional model alone (`w = 1`).
    pub fn conditional(class_labels: Tensor<1, Int>) -> Self {
        Self { class_labels: Some(class_labels), scale: 1.0 }
    }

    /// Classifier-free guidance with scale `w` (diffusers' `guidance_scale`).
    ///
    /// # Errors
    /// `scale` not finite.
    pub fn classifier_free(class_labels: Tensor<1, Int>, scale: f64) -> Result<Self> {
        if !scale.is_finite() {
            return Err(DiffusionError::OutOfRange {
                name: "guidance_scale",
                value: scale,
                range: "(-inf, inf)",
            });
        }
        Ok(Self { class_labels: Some(class_labels), scale })
    }

    /// The guidance scale `w`.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The class labels, if any.
    pub fn class_labels(&self) -> Option<&Tensor<1, Int>> {
        self.class_labels.as_ref()
    }

    /// Calls `model(x, levels, labels)` under this guidance: `levels` has one entry or one
    /// per row (it is repeated for the doubled batch).
    ///
    /// # Errors
    /// [`DiffusionError::Unconditional`] for labels given to a model with no null class;
    /// [`DiffusionError::Length`] for labels of the wrong length; the model's own errors.
    pub fn apply<const D: usize>(
        &self,
        null_class: Option<usize>,
        x: Tensor<D>,
        levels: &[f64],
        model: impl Fn(Tensor<D>, &[f64], Option<Tensor<1, Int>>) -> Result<Tensor<D>>,
    ) -> Result<Tensor<D>> {
        let batch = batch_of(&x);
        let device = x.device();
        let Some(labels) = &self.class_labels else {
            let null_labels = null_class.map(|k| int_vector(&vec![k as i64; batch], &device));
            return model(x, levels, null_labels);
        };
        let Some(null_class) = null_class else {
            return Err(DiffusionError::Unconditional);
        };
        let n_labels = labels.dims()[0];
        if n_labels != batch {
            return Err(DiffusionError::Length { what: "class_labels", batch, got: n_labels });
        }
        if self.scale == 1.0 {
            return model(x, levels, Some(labels.clone()));
        }
        let null_labels = int_vector(&vec![null_class as i64; batch], &device);
        let labels2 = Tensor::cat(vec![labels.clone(), null_labels], 0);
        let levels2: Vec<f64> =
            if levels.len() == 1 { levels.to_vec() } else { [levels, levels].concat() };
        // [2 batch, ...]: conditional rows first, then unconditional.
        let out = model(Tensor::cat(vec![x.clone(), x], 0), &levels2, Some(labels2))?;
        let cond = out.clone().narrow(0, 0, batch);
        let uncond = out.narrow(0, batch, batch);
        Ok(uncond.clone() + (cond - uncond).mul_scalar(self.scale))
    }
}
