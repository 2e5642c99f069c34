//! A small MLP classifier, `d_input -> width -> width -> n_classes` with SiLU: with the
//! defaults, the 8x8-digits classifier whose penultimate features the sample-quality
//! metrics compare (saving and loading it is the trainer's business).
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use stoke_nn::classifier::ClassifierConfig;
//!
//! let device = Device::flex();
//! let model = ClassifierConfig::new().with_width(32).init(&device)?;
//! let x = Tensor::<2>::zeros([4, 64], &device);
//! assert_eq!(model.features(x.clone()).dims(), [4, 32]);
//! assert_eq!(model.logits(x.clone()).dims(), [4, 10]);
//! assert_eq!(model.predict(x.clone()).len(), 4);
//! let accuracy = model.accuracy(x.clone(), &[0, 1, 2, 3])?;
//! assert!((0.0..=1.0).contains(&accuracy));
//! assert!(model.accuracy(x, &[0, 1]).is_err());
//! # Ok::<(), stoke_nn::NnError>(())
//! ```

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::Device;
use burn::tensor::Tensor;
use burn::tensor::activation::silu;
use stoke_core::validate;

use crate::error::Result;

/// The classifier's shape; the defaults are the 8x8 digits' (64 pixels, 10 classes).
#[derive(Config, Debug)]
pub struct ClassifierConfig {
    /// Input features (64 pixels for the 8x8 digits).
    #[config(default = 64)]
    pub d_input: usize,
    /// Width of both hidden layers (the feature dimension of [`Classifier::features`]).
    #[config(default = 256)]
    pub width: usize,
    /// Number of classes.
    #[config(default = 10)]
    pub n_classes: usize,
}

impl ClassifierConfig {
    /// Checks the shape without building anything.
    ///
    /// # Errors
    /// A zero size.
    pub fn validate(&self) -> Result<()> {
        validate::size("d_input", self.d_input)?;
        validate::size("width", self.width)?;
        validate::size("n_classes", self.n_classes)?;
        Ok(())
    }

    /// Builds the network on `device`.
    ///
    /// # Errors
    /// As [`ClassifierConfig::validate`].
    pub fn init(&self, device: &Device) -> Result<Classifier> {
        self.validate()?;
        Ok(Classifier {
            hidden_1: LinearConfig::new(self.d_input, self.width).init(device),
            hidden_2: LinearConfig::new(self.width, self.width).init(device),
            output: LinearConfig::new(self.width, self.n_classes).init(device),
        })
    }
}

/// See [`ClassifierConfig`]. For the digits, inputs are flattened 8x8 images with pixels in
/// `[0, 1]`, row-major.
#[derive(Module, Debug)]
pub struct Classifier {
    hidden_1: Linear,
    hidden_2: Linear,
    output: Linear,
}

impl Classifier {
    /// The penultimate layer's activations: the features a Fréchet distance compares.
    ///
    /// # Shapes
    /// `x: [batch, d_input]` -> `[batch, width]`.
    pub fn features(&self, x: Tensor<2>) -> Tensor<2> {
        silu(self.hidden_2.forward(silu(self.hidden_1.forward(x))))
    }

    /// Class logits.
    ///
    /// # Shapes
    /// `x: [batch, d_input]` -> `[batch, n_classes]`.
    pub fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.output.forward(self.features(x))
    }

    /// The most likely class of each input.
    ///
    /// # Shapes
    /// `x: [batch, d_input]` -> `batch` classes in `0..n_classes`.
    pub fn predict(&self, x: Tensor<2>) -> Vec<usize> {
        let [batch, _] = x.dims();
        // [batch, n_classes] -> [batch, 1] -> [batch]
        let classes = self.logits(x).argmax(1).reshape([batch]);
        classes.into_data().iter::<i64>().map(|c| c as usize).collect()
    }

    /// The fraction of inputs whose predicted class equals `labels`.
    ///
    /// # Shapes
    /// `x: [batch, d_input]`, `labels`: `batch` classes.
    ///
    /// # Errors
    /// An empty batch; `labels` not one class per input.
    pub fn accuracy(&self, x: Tensor<2>, labels: &[usize]) -> Result<f64> {
        let [batch, _] = x.dims();
        validate::size("batch", batch)?;
        validate::same_length("labels", batch, labels.len())?;
        let correct = self.predict(x).iter().zip(labels).filter(|(p, l)| p == l).count();
        Ok(correct as f64 / batch as f64)
    }
}
