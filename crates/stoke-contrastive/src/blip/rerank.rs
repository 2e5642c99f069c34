//! BLIP's retrieval [LI22, Sec. 5.1]: the ITC similarities pick each query's top `k`
//! candidates, and the ITM head reranks them (score = the ITM "matched" logit plus the ITC
//! similarity; every other candidate ranks below).

use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use stoke_core::validate;

use super::Blip;
use crate::error::{Result, check_shape};
use crate::eval::{Retrieval, retrieval, retrieval_from_scores};

/// Retrieval by ITC alone and after ITM reranking, on the same pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BlipRetrieval {
    /// ITC similarities alone.
    pub itc: Retrieval,
    /// ITC top-`k`, reranked by ITM.
    pub reranked: Retrieval,
}

/// Grounded-encoder rows per forward pass.
const RERANK_BLOCK: usize = 512;

impl Blip {
    /// Retrieval on `n` pairs (row `i` of the images and of the texts a pair; equal
    /// `groups` mark interchangeable captions), by ITC and by ITM reranking of the ITC
    /// top `k`.
    ///
    /// # Shapes
    /// `image_tokens: [n, tokens, d_vit]`, `image_feat, text_feat: [n, d_embed]`, `ids`:
    /// `n` rows.
    ///
    /// # Errors
    /// Inconsistent sizes; `k` of zero; the networks' errors.
    #[allow(clippy::too_many_arguments)]
    pub fn retrieval(
        &self,
        image_tokens: Tensor<3>,
        image_feat: Tensor<2>,
        text_feat: Tensor<2>,
        ids: &[i64],
        lengths: &[usize],
        groups: &[usize],
        k: usize,
    ) -> Result<BlipRetrieval> {
        let n = validate::size("pairs", groups.len())?;
        let k = validate::size("rerank k", k)?.min(n);
        validate::same_length("text rows", n, lengths.len())?;
        check_shape("image features", &[n, image_feat.dims()[1]], &image_feat.dims())?;
        check_shape("text features", &image_feat.dims(), &text_feat.dims())?;
        let itc = retrieval(image_feat.clone(), text_feat.clone(), groups)?;
        // [n, n]: image i against text j
        let sims: Vec<f32> = image_feat
            .matmul(text_feat.transpose())
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let seq = ids.len() / n;
        let top = |scores: Vec<(usize, f32)>| -> Vec<usize> {
            let mut scores = scores;
            scores.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            scores.into_iter().take(k).map(|(j, _)| j).collect()
        };
        // (image, text, ITC similarity) of every candidate pair, both directions.
        let mut i2t_pairs = Vec::with_capacity(n * k);
        let mut t2i_pairs = Vec::with_capacity(n * k);
        for i in 0..n {
            for j in top((0..n).map(|j| (j, sims[i * n + j])).collect()) {
                i2t_pairs.push((i, j));
            }
            for j in top((0..n).map(|j| (j, sims[j * n + i])).collect()) {
                t2i_pairs.push((j, i));
            }
        }
        let itm = |pairs: &[(usize, usize)]| -> Result<Vec<f32>> {
            let mut out = Vec::with_capacity(pairs.len());
            for block in pairs.chunks(RERANK_BLOCK) {
                let images: Vec<i64> = block.iter().map(|&(i, _)| i as i64).collect();
                let device = image_tokens.device();
                let index =
                    Tensor::<1, Int>::from_data(TensorData::new(images, [block.len()]), &device);
                let tokens = image_tokens.clone().select(0, index);
                let rows: Vec<i64> = block
                    .iter()
                    .flat_map(|&(_, j)| ids[j * seq..(j + 1) * seq].iter().copied())
                    .collect();
                let row_lengths: Vec<usize> = block.iter().map(|&(_, j)| lengths[j]).collect();
                let logits = self.itm_logits(tokens, &rows, &row_lengths)?;
                let matched: Vec<f32> = logits
                    .narrow(1, 1, 1)
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .unwrap_or_default();
                out.extend(matched);
            }
            Ok(out)
        };
        // Candidates outside the top k rank below every reranked one.
        let floor = f32::MIN / 4.0;
        let mut i2t = vec![floor; n * n];
        for (&(i, j), s) in i2t_pairs.iter().zip(itm(&i2t_pairs)?) {
            i2t[i * n + j] = s + sims[i * n + j];
        }
        let mut t2i = vec![floor; n * n];
        for (&(i, j), s) in t2i_pairs.iter().zip(itm(&t2i_pairs)?) {
            t2i[j * n + i] = s + sims[i * n + j];
        }
        Ok(BlipRetrieval { itc, reranked: retrieval_from_scores(&i2t, &t2i, groups)? })
    }
}
