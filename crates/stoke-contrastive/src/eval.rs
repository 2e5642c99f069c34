//! Zero-shot classification with prompt ensembling [RADFORD21, Sec. 3.1.4] and image-text
//! retrieval recall at `k` [RADFORD21, Sec. 3.1.5 and Table 13].

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use stoke_core::validate;

use crate::error::{ContrastiveError, Result, check_shape};
use crate::normalize::l2_normalize;

/// Rows of the similarity matrix read back per block in [`retrieval`].
const RETRIEVAL_BLOCK: usize = 512;

/// open_clip's zero-shot classifier: for each class, the mean of its L2-normalised template
/// embeddings, renormalised [RADFORD21, Sec. 3.1.4].
///
/// # Shapes
/// `class_texts[c]: [templates_c, dim]` -> `[classes, dim]`.
///
/// # Errors
/// No classes; a class with no template ([`ContrastiveError::NoTemplates`]); classes of
/// different dimensions.
pub fn zero_shot_classifier(class_texts: Vec<Tensor<2>>) -> Result<Tensor<2>> {
    validate::size("classes", class_texts.len())?;
    let dim = class_texts[0].dims()[1];
    let mut rows = Vec::with_capacity(class_texts.len());
    for (class, texts) in class_texts.into_iter().enumerate() {
        let [templates, d] = texts.dims();
        if templates == 0 {
            return Err(ContrastiveError::NoTemplates { class });
        }
        check_shape("class template embeddings", &[templates, dim], &[templates, d])?;
        // [templates, dim] -> [1, dim]
        rows.push(l2_normalize(texts).mean_dim(0));
    }
    Ok(l2_normalize(Tensor::cat(rows, 0)))
}

/// The class of highest cosine similarity for each image.
///
/// # Shapes
/// `image: [n, dim]`, `classifier: [classes, dim]` -> `n` class indices.
///
/// # Errors
/// Dimensions that differ; an empty batch or classifier.
pub fn zero_shot_predict(image: Tensor<2>, classifier: Tensor<2>) -> Result<Vec<usize>> {
    let [n, dim] = image.dims();
    let [classes, d] = classifier.dims();
    check_shape("zero-shot classifier", &[classes, dim], &[classes, d])?;
    validate::size("images", n)?;
    validate::size("classes", classes)?;
    // [n, dim] x [dim, classes] -> [n, classes] -> [n, 1]
    let best = image.matmul(classifier.transpose()).argmax(1);
    let data = best.into_data();
    let best: Vec<i64> = data.convert::<i64>().try_into_vec::<i64>().unwrap_or_default();
    Ok(best.into_iter().map(|c| c as usize).collect())
}

/// The fraction of `predicted` equal to `labels`.
///
/// # Errors
/// Empty or of different lengths.
pub fn accuracy(predicted: &[usize], labels: &[usize]) -> Result<f64> {
    validate::size("predictions", predicted.len())?;
    validate::same_length("labels", predicted.len(), labels.len())?;
    let hits = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    Ok(hits as f64 / predicted.len() as f64)
}

/// Recall at 1, 5 and 10 in both directions (metrics.json key `retrieval`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Retrieval {
    /// Image -> text, a relevant text ranked first.
    pub i2t_r1: f64,
    /// Image -> text, within the top 5.
    pub i2t_r5: f64,
    /// Image -> text, within the top 10.
    pub i2t_r10: f64,
    /// Text -> image, a relevant image ranked first.
    pub t2i_r1: f64,
    /// Text -> image, within the top 5.
    pub t2i_r5: f64,
    /// Text -> image, within the top 10.
    pub t2i_r10: f64,
}

/// Retrieval recall over `n` pairs (row `i` of `image` and of `text` a pair). Pairs with the
/// same `group` have interchangeable captions (the same text, as templated captions often
/// are): a query is answered when any item of its group is ranked within `k`. An item ties
/// against a query's best relevant item count as ranked above it, so ties never help.
///
/// # Shapes
/// `image, text: [n, dim]`, `groups`: `n` group ids.
///
/// # Errors
/// Shapes that differ; an empty set; `groups` of another length.
pub fn retrieval(image: Tensor<2>, text: Tensor<2>, groups: &[usize]) -> Result<Retrieval> {
    let [n, dim] = image.dims();
    check_shape("text embeddings", &[n, dim], &text.dims())?;
    validate::size("pairs", n)?;
    validate::same_length("groups", n, groups.len())?;
    let [i2t_r1, i2t_r5, i2t_r10] = recall(image.clone(), text.clone(), groups)?;
    let [t2i_r1, t2i_r5, t2i_r10] = recall(text, image, groups)?;
    Ok(Retrieval { i2t_r1, i2t_r5, i2t_r10, t2i_r1, t2i_r5, t2i_r10 })
}

/// Recall at 1, 5, 10 of `queries` against `items` (both `[n, dim]`, row `i` a pair).
///
/// # Errors
/// A non-finite similarity (a NaN would otherwise rank as a perfect hit).
fn recall(queries: Tensor<2>, items: Tensor<2>, groups: &[usize]) -> Result<[f64; 3]> {
    let [n, _] = queries.dims();
    let mut hits = [0usize; 3];
    for start in (0..n).step_by(RETRIEVAL_BLOCK) {
        let len = RETRIEVAL_BLOCK.min(n - start);
        // [len, dim] x [dim, n] -> [len, n]
        let block = queries.clone().narrow(0, start, len).matmul(items.clone().transpose());
        let sims = finite_values(block)?;
        for (row, sims) in sims.chunks(n).enumerate() {
            count_hits(&mut hits, sims, groups[start + row], groups);
        }
    }
    Ok(hits.map(|h| h as f64 / n as f64))
}

/// Adds one query's hits at 1, 5, 10: `scores[j]` is item `j`'s score for a query of
/// group `group`.
fn count_hits(hits: &mut [usize; 3], scores: &[f32], group: usize, groups: &[usize]) {
    let n = scores.len();
    let best =
        (0..n).filter(|&j| groups[j] == group).map(|j| scores[j]).fold(f32::NEG_INFINITY, f32::max);
    let rank = (0..n).filter(|&j| groups[j] != group && scores[j] >= best).count();
    for (hit, k) in hits.iter_mut().zip([1, 5, 10]) {
        *hit += usize::from(rank < k);
    }
}

/// [`retrieval`] from score matrices instead of embeddings (a reranker's scores, such as
/// BLIP's ITM on the ITC top-k): `i2t[i * n + j]` scores text `j` for image `i`,
/// `t2i[j * n + i]` image `i` for text `j`; ties count against the query as in
/// [`retrieval`].
///
/// # Errors
/// Matrices that are not `n x n` for `n = groups.len()`; an empty set; a NaN score.
pub fn retrieval_from_scores(i2t: &[f32], t2i: &[f32], groups: &[usize]) -> Result<Retrieval> {
    let n = validate::size("pairs", groups.len())?;
    validate::same_length("image-to-text scores (n x n)", n * n, i2t.len())?;
    validate::same_length("text-to-image scores (n x n)", n * n, t2i.len())?;
    if let Some(&bad) = i2t.iter().chain(t2i).find(|v| v.is_nan()) {
        validate::finite("retrieval score", f64::from(bad))?;
    }
    let recall = |scores: &[f32]| {
        let mut hits = [0usize; 3];
        for (i, row) in scores.chunks(n).enumerate() {
            count_hits(&mut hits, row, groups[i], groups);
        }
        hits.map(|h| h as f64 / n as f64)
    };
    let ([i2t_r1, i2t_r5, i2t_r10], [t2i_r1, t2i_r5, t2i_r10]) = (recall(i2t), recall(t2i));
    Ok(Retrieval { i2t_r1, i2t_r5, i2t_r10, t2i_r1, t2i_r5, t2i_r10 })
}

/// The values of a tensor, refused if any is NaN or infinite.
///
/// # Errors
/// A non-finite value (named `"similarity"`).
fn finite_values(x: Tensor<2>) -> Result<Vec<f32>> {
    let values: Vec<f32> = x.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
    if let Some(&bad) = values.iter().find(|v| !v.is_finite()) {
        validate::finite("similarity", f64::from(bad))?;
    }
    Ok(values)
}
