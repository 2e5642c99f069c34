//! CatLIP's classification view of image-text pretraining [MEHTA24, Sec. 3]: the captions'
//! content words form a label vocabulary, each image's caption becomes a multi-hot target,
//! and the image tower alone is trained with binary cross-entropy per label.
//!
//! CatLIP keeps the WordNet nouns of each caption; here the content words are what is left
//! after removing a list of function and framing words ([`STOPWORDS`]), which for templated
//! captions ("a photo of a sneaker") leaves exactly the nouns and adjectives that name the
//! object.

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use burn::tensor::activation::log_sigmoid;
use stoke_core::validate;

use crate::error::{Result, check_shape};

/// Words that name no object: articles, prepositions and the framing of caption templates.
pub const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "of",
    "at",
    "in",
    "on",
    "to",
    "and",
    "with",
    "is",
    "this",
    "that",
    "it",
    "photo",
    "picture",
    "image",
    "drawing",
    "scan",
    "number",
    "digit",
    "handwritten",
    "black",
    "white",
    "blurry",
    "its",
    "my",
    "some",
];

/// The label vocabulary of a caption set and the multi-hot targets of captions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelVocabulary {
    labels: Vec<String>,
    index: BTreeMap<String, usize>,
}

impl LabelVocabulary {
    /// The content words (lowercased, split on anything not alphanumeric, [`STOPWORDS`] and
    /// `extra_stopwords` removed) that occur in at least `min_count` captions, in
    /// alphabetical order.
    ///
    /// # Errors
    /// A zero `min_count`; no word left (an empty vocabulary could not be trained on).
    pub fn from_captions(
        captions: &[&str],
        extra_stopwords: &[&str],
        min_count: usize,
    ) -> Result<Self> {
        validate::size("min_count", min_count)?;
        let stop = |w: &str| STOPWORDS.contains(&w) || extra_stopwords.contains(&w);
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for caption in captions {
            let mut words = content_words(caption, &stop);
            words.sort_unstable();
            words.dedup();
            for word in words {
                *counts.entry(word).or_default() += 1;
            }
        }
        let labels: Vec<String> =
            counts.into_iter().filter(|&(_, n)| n >= min_count).map(|(w, _)| w).collect();
        validate::size("label vocabulary", labels.len())?;
        let index = labels.iter().enumerate().map(|(i, w)| (w.clone(), i)).collect();
        Ok(Self { labels, index })
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no labels (never, for a vocabulary built by `from_captions`).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The labels, in index order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The index of a label.
    pub fn index_of(&self, word: &str) -> Option<usize> {
        self.index.get(word).copied()
    }

    /// The multi-hot target of a caption: 1 for each vocabulary word it contains (words
    /// outside the vocabulary are ignored).
    pub fn targets(&self, caption: &str) -> Vec<f32> {
        let mut target = vec![0.0; self.len()];
        for word in content_words(caption, &|_| false) {
            if let Some(i) = self.index_of(&word) {
                target[i] = 1.0;
            }
        }
        target
    }
}

/// The lowercased alphanumeric words of `text` that `stop` keeps.
fn content_words(text: &str, stop: &dyn Fn(&str) -> bool) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !stop(w))
        .collect()
}

/// Multi-label binary cross-entropy on logits [MEHTA24, Sec. 3]:
/// `-(y log sigmoid(l) + (1 - y) log sigmoid(-l))`, stable for any logit.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatlipLoss;

impl CatlipLoss {
    /// The mean over images and labels of [`CatlipLoss::forward_no_reduction`].
    ///
    /// # Shapes
    /// `logits, targets: [batch, labels]` -> `[1]`.
    ///
    /// # Errors
    /// As [`CatlipLoss::forward_no_reduction`].
    pub fn forward(&self, logits: Tensor<2>, targets: Tensor<2>) -> Result<Tensor<1>> {
        Ok(self.forward_no_reduction(logits, targets)?.mean())
    }

    /// The loss of each (image, label).
    ///
    /// # Shapes
    /// `logits, targets: [batch, labels]` -> `[batch, labels]`.
    ///
    /// # Errors
    /// Shapes that differ, or an empty batch or label set.
    pub fn forward_no_reduction(&self, logits: Tensor<2>, targets: Tensor<2>) -> Result<Tensor<2>> {
        let dims = logits.dims();
        check_shape("targets", &dims, &targets.dims())?;
        validate::size("batch", dims[0])?;
        validate::size("labels", dims[1])?;
        let positive = targets.clone() * log_sigmoid(logits.clone());
        let negative = targets.neg().add_scalar(1.0) * log_sigmoid(logits.neg());
        Ok((positive + negative).neg())
    }
}
