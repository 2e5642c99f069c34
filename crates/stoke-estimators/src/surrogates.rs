//! Smooth surrogates of discrete metrics: replace the hard prediction by probabilities so a
//! metric can be optimised by gradient descent. Each equals its metric when the
//! probabilities are one-hot (tested).

use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;

use crate::error::{Result, categorical, same_dims};

/// A small constant keeping `2 tp / (2 tp + fp + fn)` finite when a class never occurs.
const F1_EPS: f64 = 1e-8;

/// Checks `[batch, categories]` probabilities against their targets: the same shape, at
/// least one row and one category.
fn same_shape(probs: &Tensor<2>, targets: &Tensor<2>) -> Result<()> {
    let [batch, _] = categorical("categories", probs.dims())?;
    stoke_core::validate::count("batch", batch)?;
    same_dims("targets", &probs.dims(), &targets.dims())
}

/// Per-class soft counts `(tp, fp, fn)`, each `[categories]`.
fn soft_counts(probs: Tensor<2>, targets: Tensor<2>) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let [_, categories] = probs.dims();
    let tp = (probs.clone() * targets.clone()).sum_dim(0).reshape([categories]);
    let fp =
        (probs.clone() * targets.clone().neg().add_scalar(1.0)).sum_dim(0).reshape([categories]);
    let false_neg = (probs.neg().add_scalar(1.0) * targets).sum_dim(0).reshape([categories]);
    (tp, fp, false_neg)
}

fn f1(tp: Tensor<1>, fp: Tensor<1>, false_neg: Tensor<1>) -> Tensor<1> {
    let twice_tp = tp.mul_scalar(2.0);
    twice_tp.clone() / (twice_tp + fp + false_neg).add_scalar(F1_EPS)
}

/// Soft accuracy `mean_b sum_k p_bk y_bk`: the expected accuracy of a prediction drawn from
/// the probabilities.
///
/// # Shapes
/// `probs`, `targets` (one-hot): `[batch, categories]` -> `[1]`.
///
/// # Errors
/// Shapes that differ; no rows or no categories.
pub fn soft_accuracy(probs: Tensor<2>, targets: Tensor<2>) -> Result<Tensor<1>> {
    same_shape(&probs, &targets)?;
    Ok((probs * targets).sum_dim(1).mean())
}

/// Soft macro F1: per class `2 tp / (2 tp + fp + fn)` from soft counts, averaged over classes.
///
/// # Shapes
/// `probs`, `targets` (one-hot): `[batch, categories]` -> `[1]`.
///
/// # Errors
/// Shapes that differ; no rows or no categories.
pub fn soft_f1_macro(probs: Tensor<2>, targets: Tensor<2>) -> Result<Tensor<1>> {
    same_shape(&probs, &targets)?;
    let (tp, fp, false_neg) = soft_counts(probs, targets);
    Ok(f1(tp, fp, false_neg).mean())
}

/// Soft micro F1: counts summed over classes before the ratio.
///
/// # Shapes
/// `probs`, `targets` (one-hot): `[batch, categories]` -> `[1]`.
///
/// # Errors
/// Shapes that differ; no rows or no categories.
pub fn soft_f1_micro(probs: Tensor<2>, targets: Tensor<2>) -> Result<Tensor<1>> {
    same_shape(&probs, &targets)?;
    let (tp, fp, false_neg) = soft_counts(probs, targets);
    Ok(f1(tp.sum(), fp.sum(), false_neg.sum()))
}

/// Sigmoid F1 for a binary problem: soft counts from `sigmoid(logits)` against labels in
/// `{0, 1}` [BENEDICT21, Eq. 5].
///
/// # Shapes
/// `logits`, `labels`: `[batch]` -> `[1]`.
///
/// # Errors
/// Shapes that differ; an empty batch.
pub fn sigmoid_f1(logits: Tensor<1>, labels: Tensor<1>) -> Result<Tensor<1>> {
    let [batch] = logits.dims();
    // The shapes are checked before the reshapes, which would panic on a mismatch.
    same_dims("labels", &[batch], &labels.dims())?;
    stoke_core::validate::count("batch", batch)?;
    let probs = sigmoid(logits).reshape([batch, 1]);
    let targets = labels.reshape([batch, 1]);
    let (tp, fp, false_neg) = soft_counts(probs, targets);
    Ok(f1(tp, fp, false_neg))
}
