//! The discrete-diffusion recipes (`stoke-discrete`) and what they share: the text data
//! (Moby Dick or a user's file, split by `stoke_data::corpus`'s fixed rule, character or
//! BPE tokens), the backbone sizes, batches of training windows, the validation bounds in
//! bits per character, and the curve of that bound over training.

pub mod task_lm;
pub mod text_lm;

use std::path::PathBuf;

use burn::tensor::Device;
use rand::RngExt;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use stoke_core::validate;
use stoke_data::corpus::{Part, SlidingWindows, Windows, windows};
use stoke_data::{CharTokenizer, Corpus, TextTokenizer};
use stoke_discrete::elbo::{Bound, Estimator, exact_nll, masked_bound};
use stoke_discrete::{Denoiser, LmDenoiser};
use stoke_nn::attention::Visibility;
use stoke_nn::{LmTransformer, LmTransformerConfig};

use crate::error::{Result, TrainError};

/// The mask token's id in both tokenizers (`stoke_data::text::Special::MASK_ID`).
pub const MASK_ID: i64 = 4;
/// The beginning-of-text id, the autoregressive model's first input.
pub const BOS_ID: i64 = 1;
/// The end-of-text id.
pub const EOS_ID: i64 = 2;

/// Which tokenizer the text recipes train (JSON: `{"kind": "char"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TokenizerKind {
    /// One id per character of the training text.
    Char,
    /// GPT-2's byte-level BPE with at most `vocab_size` ids, trained on the training text.
    Bpe {
        /// The vocabulary size (at least 261: the specials and the 256 bytes).
        vocab_size: usize,
    },
}

/// A trained tokenizer.
#[derive(Debug, Clone)]
pub enum Codec {
    /// Characters.
    Char(CharTokenizer),
    /// Byte-level BPE (boxed: the `tokenizers` model is large).
    Bpe(Box<TextTokenizer>),
}

impl Codec {
    /// Trains `kind` on `texts`.
    ///
    /// # Errors
    /// The tokenizer's.
    pub fn train(kind: TokenizerKind, texts: &[String]) -> Result<Self> {
        Ok(match kind {
            TokenizerKind::Char => Self::Char(CharTokenizer::from_texts(texts)?),
            TokenizerKind::Bpe { vocab_size } => {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                Self::Bpe(Box::new(TextTokenizer::byte_level_bpe(&refs, vocab_size, 2)?))
            }
        })
    }

    /// Number of ids.
    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Char(t) => t.vocab_size(),
            Self::Bpe(t) => t.vocab_size(),
        }
    }

    /// The ids of `text`.
    ///
    /// # Errors
    /// A character the character tokenizer never saw (named with its position).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(match self {
            Self::Char(t) => t.encode(text)?,
            Self::Bpe(t) => t.encode(text)?,
        })
    }

    /// `ids` as text, special tokens written out (`<mask>`), for samples.
    ///
    /// # Errors
    /// An id outside the vocabulary.
    pub fn render(&self, ids: &[i64]) -> Result<String> {
        let ids: Vec<u32> = ids.iter().map(|&id| id.max(0) as u32).collect();
        Ok(match self {
            Self::Char(t) => t.render(&ids)?,
            Self::Bpe(t) => ids
                .iter()
                .map(|&id| match id as i64 {
                    MASK_ID => Ok("<mask>".to_string()),
                    _ => t.decode(&[id]),
                })
                .collect::<std::result::Result<String, _>>()?,
        })
    }
}

/// The backbone's sizes, the same for every text model of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backbone {
    /// Token width.
    pub d_model: usize,
    /// Transformer blocks.
    pub n_layers: usize,
    /// Attention heads (`d_model / n_heads` even, for rotary positions).
    pub n_heads: usize,
    /// MLP width as a multiple of `d_model`.
    pub mlp_ratio: usize,
}

impl Backbone {
    /// The network for `vocab_size` ids and rows of `context`.
    pub fn config(
        &self,
        vocab_size: usize,
        context: usize,
        visibility: Visibility,
        conditioned: bool,
    ) -> LmTransformerConfig {
        LmTransformerConfig::new(vocab_size, context, self.d_model, self.n_layers, self.n_heads)
            .with_mlp_ratio(self.mlp_ratio)
            .with_visibility(visibility)
            .with_conditioned(conditioned)
    }

    /// Checks the sizes by building the network once on the CPU.
    ///
    /// # Errors
    /// The network's refusal (a zero size, an odd head width).
    pub fn validate(&self, vocab_size: usize, context: usize) -> Result<()> {
        validate::at_least("d_model", self.d_model, 2)?;
        validate::size("n_layers", self.n_layers)?;
        validate::size("mlp_ratio", self.mlp_ratio)?;
        validate::product("mlp_ratio * d_model", &[self.mlp_ratio, self.d_model])?;
        // The sizes Burn would allocate: refused before any tensor exists.
        validate::product("d_model * vocab", &[self.d_model, vocab_size.max(context)])?;
        if self.d_model > 4096 || self.n_layers > 64 || self.mlp_ratio > 16 {
            return Err(TrainError::Invalid(format!(
                "backbone {self:?} is larger than these recipes support (d_model <= 4096, \
                 n_layers <= 64, mlp_ratio <= 16)"
            )));
        }
        let probe = Self { n_layers: 1, ..*self };
        probe
            .config(vocab_size, context.min(8), Visibility::Bidirectional, false)
            .init(&Device::flex())?;
        Ok(())
    }
}

/// The corpus tokenized: sliding training windows, consecutive validation and test windows,
/// and how many characters each scored part covers.
pub struct TextData {
    /// The tokenizer.
    pub codec: Codec,
    /// Every training window of `context` ids.
    pub train: SlidingWindows,
    /// Consecutive validation windows.
    pub validation: Windows,
    /// Consecutive test windows.
    pub test: Windows,
    /// Characters the validation windows cover.
    pub validation_chars: f64,
    /// Characters the test windows cover.
    pub test_chars: f64,
    /// Characters of the whole corpus.
    pub corpus_chars: usize,
}

impl TextData {
    /// Loads `corpus_file` (Moby Dick when `None`), splits it, trains the tokenizer on the
    /// training part and cuts windows of `context` ids.
    ///
    /// # Errors
    /// A missing, empty or non-UTF-8 file; a text too short to split; a character of the
    /// validation or test part the character tokenizer never saw; no whole window in a part.
    pub fn load(
        corpus_file: Option<&PathBuf>,
        kind: TokenizerKind,
        context: usize,
    ) -> Result<Self> {
        validate::at_least("context", context, 2)?;
        let corpus = match corpus_file {
            Some(path) => Corpus::from_file(path)?,
            None => Corpus::moby_dick()?,
        };
        let splits = corpus.split(stoke_data::corpus::DEFAULT_CHUNK_CHARS)?;
        let codec = Codec::train(kind, splits.part(Part::Train))?;
        let encode = |part: Part| -> Result<Vec<Vec<u32>>> {
            splits.part(part).iter().map(|span| codec.encode(span)).collect()
        };
        let train = SlidingWindows::new(encode(Part::Train)?, context)?;
        if train.is_empty() {
            return Err(TrainError::Invalid(format!(
                "the training text holds no window of {context} tokens: lower --context"
            )));
        }
        let scored = |part: Part| -> Result<(Windows, f64)> {
            let streams = encode(part)?;
            let tokens: usize = streams.iter().map(Vec::len).sum();
            let cut = windows(&streams, context)?;
            if cut.is_empty() {
                return Err(TrainError::Invalid(format!(
                    "the {} text holds no window of {context} tokens: lower --context",
                    part.name()
                )));
            }
            // The windows cover this share of the part's tokens, and so of its characters.
            let chars = splits.n_chars(part) as f64 * (cut.len() * context) as f64 / tokens as f64;
            Ok((cut, chars))
        };
        let (validation, validation_chars) = scored(Part::Validation)?;
        let (test, test_chars) = scored(Part::Test)?;
        Ok(Self {
            codec,
            train,
            validation,
            test,
            validation_chars,
            test_chars,
            corpus_chars: corpus.n_chars(),
        })
    }

    /// `batch` training windows drawn uniformly from the step's RNG, row-major.
    pub fn draw(&self, batch: usize, rng: &mut StdRng) -> Vec<i64> {
        (0..batch)
            .flat_map(|_| {
                let index = rng.random_range(0..self.train.len());
                self.train.window(index).unwrap_or_default().iter().map(|&id| i64::from(id))
            })
            .collect()
    }
}

/// The first `n` windows of `windows` as ids, row-major, with their count.
pub fn rows(windows: &Windows, n: usize) -> (Vec<i64>, usize) {
    let n = n.min(windows.len());
    let ids = windows.ids()[..n * windows.context()].iter().map(|&id| i64::from(id)).collect();
    (ids, n)
}

/// The autoregressive model's input for target windows: `<bos>` then each window without its
/// last token, so every token of the window is scored with the same context as the
/// diffusion models see.
pub fn shifted(targets: &[i64], context: usize) -> Vec<i64> {
    targets
        .chunks(context)
        .flat_map(|w| std::iter::once(BOS_ID).chain(w[..context - 1].iter().copied()))
        .collect()
}

/// A bound on the first `n` windows of `windows`, scored `batch_size` windows at a time by
/// `score` (row-major ids and their `[rows, context]`); the chunks' nats add, and their
/// standard errors add in quadrature (their draws are independent).
///
/// # Errors
/// `score`'s.
pub fn chunked_bound(
    windows: &Windows,
    n: usize,
    batch_size: usize,
    mut score: impl FnMut(&[i64], [usize; 2]) -> Result<Bound>,
) -> Result<Bound> {
    let context = windows.context();
    let (x0, _) = rows(windows, n);
    let mut total = Bound { nats: 0.0, nats_stderr: 0.0, tokens: 0 };
    let mut variance = 0.0;
    for chunk in x0.chunks(batch_size * context) {
        let bound = score(chunk, [chunk.len() / context, context])?;
        total.nats += bound.nats;
        total.tokens += bound.tokens;
        variance += bound.nats_stderr.powi(2);
    }
    total.nats_stderr = variance.sqrt();
    Ok(total)
}

/// The exact negative log-likelihood of the first `n` windows under a causal model, scored
/// `batch_size` windows at a time.
///
/// # Errors
/// The network's.
pub fn ar_bound(
    lm: &LmTransformer,
    windows: &Windows,
    n: usize,
    batch_size: usize,
    device: &Device,
) -> Result<Bound> {
    let denoiser = LmDenoiser { lm, device: device.clone() };
    chunked_bound(windows, n, batch_size, |chunk, [rows, context]| {
        let logits =
            denoiser.logits(&shifted(chunk, context), [rows, context], &vec![0.0; rows])?;
        Ok(exact_nll(&logits, chunk, &vec![true; chunk.len()], lm.vocab_size()))
    })
}

/// The masked-diffusion bound on the first `n` windows, `batch_size` at a time, with
/// `n_draws` Monte-Carlo draws each.
///
/// # Errors
/// The network's; fewer than two draws.
pub fn diffusion_bound(
    denoiser: &impl Denoiser,
    windows: &Windows,
    n: usize,
    batch_size: usize,
    estimator: &Estimator,
    n_draws: usize,
    rng: &mut StdRng,
) -> Result<Bound> {
    chunked_bound(windows, n, batch_size, |chunk, shape| {
        Ok(masked_bound(denoiser, chunk, shape, MASK_ID, estimator, n_draws, rng)?)
    })
}
