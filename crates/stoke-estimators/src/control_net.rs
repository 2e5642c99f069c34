//! A small network with an explicit input gradient: a learned baseline `b(x)` for REINFORCE
//! [MNIH14, Sec. 2.3] or RELAX's neural control variate `r(z, x)` [GRATHWOHL18, Sec. 3.3].
//!
//! RELAX needs `d r(z)/dtheta = (dz/dtheta)^T grad_z r`, and training `r` to minimise the
//! estimator's variance differentiates that through `r`'s weights: a second derivative.
//! Burn's autodiff is first-order, so [`ControlNet::input_gradient`] writes `grad_z r` for
//! the one-hidden-layer `tanh` network in closed form from its weights; autodiff then
//! differentiates it once, with respect to the weights, which is all the variance objective
//! needs.

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

/// `r(input) = w2 . tanh(W1 input + b1) + b2`, with `w2, b2` initialised to zero so a fresh
/// network adds nothing (RELAX starts where REBAR is).
#[derive(Module, Debug)]
pub struct ControlNet {
    hidden: Linear,
    out: Linear,
}

impl ControlNet {
    /// A network on `inputs` features with `width` hidden units.
    pub fn new(inputs: usize, width: usize, device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(inputs, width).init(device),
            out: LinearConfig::new(width, 1).with_initializer(Initializer::Zeros).init(device),
        }
    }

    /// `r(input)`. `[n, inputs] -> [n]`.
    pub fn forward(&self, input: Tensor<2>) -> Tensor<1> {
        let [n, _] = input.dims();
        self.out.forward(self.hidden.forward(input).tanh()).reshape([n])
    }

    /// `d r / d input` in closed form: `W1 (w2 * (1 - h^2))` per row, differentiable with
    /// respect to the weights. `[n, inputs] -> [n, inputs]`.
    pub fn input_gradient(&self, input: Tensor<2>) -> Tensor<2> {
        let h = self.hidden.forward(input).tanh();
        let w2 = self.out.weight.val().transpose(); // [1, width]
        let dh = h.square().neg().add_scalar(1.0) * w2; // [n, width]
        dh.matmul(self.hidden.weight.val().transpose())
    }
}
