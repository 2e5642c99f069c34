//! Straight-through estimators: a discrete forward pass with the gradient of a smooth
//! stand-in [BENGIO13, Sec. 3; JANG17, Sec. 2.2].

use burn::tensor::Tensor;
use burn::tensor::activation::softmax;

/// Forward value `hard`, gradient of `soft`: `hard - detach(soft) + soft`.
///
/// # Shapes
/// `hard` and `soft` the same shape; so is the result.
pub fn straight_through<const D: usize>(hard: Tensor<D>, soft: Tensor<D>) -> Tensor<D> {
    hard.detach() - soft.clone().detach() + soft
}

/// One-hot of the row-wise argmax.
///
/// # Shapes
/// `[batch, categories]` -> `[batch, categories]`; with no categories the (empty) input is
/// returned.
pub fn one_hot_argmax(x: Tensor<2>) -> Tensor<2> {
    let [batch, categories] = x.dims();
    if categories < 2 {
        // One category is always the argmax (Burn's one_hot wants two or more).
        return x.ones_like();
    }
    // [batch, 1] -> [batch] -> [batch, categories]
    let index = x.argmax(1).reshape([batch]);
    index.one_hot::<2>(categories).float()
}

/// Straight-through argmax: forward `one_hot(argmax(logits))`, backward through
/// `softmax(logits)` [BENGIO13, Sec. 3].
///
/// # Shapes
/// `[batch, categories]` -> `[batch, categories]`.
pub fn st_argmax(logits: Tensor<2>) -> Tensor<2> {
    let soft = softmax(logits.clone(), 1);
    straight_through(one_hot_argmax(logits), soft)
}

/// Straight-through sign: forward `sign(x)`, backward identity [BENGIO13, Sec. 3].
pub fn st_sign<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    straight_through(x.clone().sign(), x)
}

/// Straight-through rounding: forward `round(x)`, backward identity.
pub fn st_round<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    straight_through(x.clone().round(), x)
}
