//! Tokenizers trained locally, and fixed-length batches of token ids for a text tower.
//!
//! [`TextTokenizer`] wraps the `tokenizers` crate's [`Tokenizer`] (built without its `http`
//! feature: nothing is fetched from a hub) and trains it from an in-memory corpus:
//!
//! * [`TextTokenizer::word_level`]: lowercased words and single punctuation marks, one id
//!   each, unknown words mapped to `<unk>` (the right size for templated captions);
//! * [`TextTokenizer::byte_level_bpe`]: GPT-2's byte-level BPE, whose 256 byte tokens
//!   encode any text, so it never needs `<unk>`.
//!
//! Every tokenizer built or loaded here has the five [`Special`] tokens at ids `0..5`, so
//! a model's embedding rows for them never move. [`TextTokenizer::encode`] never emits
//! them: a caption that contains the text `<eos>` is encoded as ordinary text.
//! [`TextTokenizer::encode_batch`] frames each row as `<bos> tokens <eos> <pad>...` and
//! counts what truncation drops.
//!
//! # Example
//!
//! ```
//! use stoke_data::captions::{Templates, caption_digits};
//! use stoke_data::{TextTokenizer, digits};
//!
//! let templates = Templates::digits();
//! let captioned = caption_digits(&digits::load()?, &templates.train, 0.1, 0)?;
//! let captions: Vec<&str> = captioned.captions.iter().map(String::as_str).collect();
//! let tokenizer = TextTokenizer::word_level(&captions, 1)?;
//! let batch = tokenizer.encode_batch(&captions[..32], 16)?; // ids: [32, 16] as i64
//! assert_eq!((batch.batch(), batch.truncated_rows), (32, 0));
//! # Ok::<(), stoke_data::DataError>(())
//! ```

use std::path::Path;
use std::str::FromStr;

use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainer};
use tokenizers::models::wordlevel::{WordLevel, WordLevelTrainer};
use tokenizers::normalizers::Lowercase;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::punctuation::Punctuation;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::DataError;

/// The special tokens every Stoke tokenizer has, at fixed ids.
///
/// | token | text | id |
/// |---|---|---|
/// | padding | `<pad>` | 0 |
/// | start of text | `<bos>` | 1 |
/// | end of text | `<eos>` | 2 |
/// | unknown | `<unk>` | 3 |
/// | mask (masked language models, masked diffusion) | `<mask>` | 4 |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Special;

impl Special {
    /// Padding after `<eos>`.
    pub const PAD: &'static str = "<pad>";
    /// Start of text.
    pub const BOS: &'static str = "<bos>";
    /// End of text.
    pub const EOS: &'static str = "<eos>";
    /// A word outside a word-level vocabulary.
    pub const UNK: &'static str = "<unk>";
    /// A masked position.
    pub const MASK: &'static str = "<mask>";
    /// All five, in id order: `ALL[id]` is the token with that id.
    pub const ALL: [&'static str; 5] = [Self::PAD, Self::BOS, Self::EOS, Self::UNK, Self::MASK];
    /// Id of `<pad>`.
    pub const PAD_ID: u32 = 0;
    /// Id of `<bos>`.
    pub const BOS_ID: u32 = 1;
    /// Id of `<eos>`.
    pub const EOS_ID: u32 = 2;
    /// Id of `<unk>`.
    pub const UNK_ID: u32 = 3;
    /// Id of `<mask>`.
    pub const MASK_ID: u32 = 4;
    /// Number of special tokens; the first ordinary token has this id.
    pub const COUNT: usize = Self::ALL.len();

    fn added_tokens() -> Vec<AddedToken> {
        Self::ALL.iter().map(|&token| AddedToken::from(token, true)).collect()
    }
}

/// Number of byte tokens in a byte-level vocabulary.
const N_BYTES: usize = 256;

/// A trained tokenizer with the [`Special`] tokens at ids `0..5`.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
}

impl TextTokenizer {
    /// A word-level tokenizer: text is lowercased, split at whitespace and around each
    /// punctuation mark, and every piece seen at least `min_frequency` times in `corpus`
    /// gets an id (the most frequent first, ties in alphabetical order); other pieces
    /// become `<unk>`.
    ///
    /// # Errors
    ///
    /// [`DataError::NoTexts`] for an empty corpus; [`DataError::Tokenizer`] if training
    /// fails.
    pub fn word_level(corpus: &[&str], min_frequency: u64) -> Result<Self, DataError> {
        let model = WordLevel::builder()
            .unk_token(Special::UNK.to_owned())
            .build()
            .map_err(tokenizer_error("build"))?;
        let mut inner = Tokenizer::new(model);
        inner.with_normalizer(Some(Lowercase)).map_err(tokenizer_error("build"))?;
        let split = Sequence::new(vec![
            WhitespaceSplit.into(),
            Punctuation::new(SplitDelimiterBehavior::Isolated).into(),
        ]);
        inner.with_pre_tokenizer(Some(split));
        let trainer = WordLevelTrainer::builder()
            .min_frequency(min_frequency)
            // No cap: `min_frequency` alone decides which words are kept.
            .vocab_size(usize::MAX)
            .show_progress(false)
            .special_tokens(Special::added_tokens())
            .build()
            .map_err(|e| DataError::Tokenizer { operation: "train", reason: e.to_string() })?;
        Self::train(inner, TrainerWrapper::WordLevelTrainer(trainer), corpus)
    }

    /// A byte-level BPE tokenizer (GPT-2's pre-tokenizer and decoder, no prefix space, so
    /// `decode(encode(text)) == text`) with `vocab_size` tokens at most: the specials, the
    /// 256 byte tokens, then merges of pairs seen at least `min_frequency` times.
    ///
    /// Trained on a corpus's train spans ([`CorpusSplits::train`](crate::CorpusSplits)),
    /// it is the subword tokenizer of the language-model recipes: it encodes the held-out
    /// spans exactly, whatever characters they hold.
    ///
    /// # Errors
    ///
    /// [`DataError::NoTexts`] for an empty corpus; [`DataError::VocabSize`] if
    /// `vocab_size` cannot hold the specials and the bytes; [`DataError::Tokenizer`] if
    /// training fails.
    pub fn byte_level_bpe(
        corpus: &[&str],
        vocab_size: usize,
        min_frequency: u64,
    ) -> Result<Self, DataError> {
        let minimum = Special::COUNT + N_BYTES;
        if vocab_size < minimum {
            return Err(DataError::VocabSize { requested: vocab_size, minimum });
        }
        let model = BPE::builder()
            .unk_token(Special::UNK.to_owned())
            .build()
            .map_err(tokenizer_error("build"))?;
        let mut inner = Tokenizer::new(model);
        let byte_level = ByteLevel::default().add_prefix_space(false);
        inner.with_pre_tokenizer(Some(byte_level));
        inner.with_decoder(Some(byte_level));
        let trainer = BpeTrainer::builder()
            .vocab_size(vocab_size)
            .min_frequency(min_frequency)
            .show_progress(false)
            .special_tokens(Special::added_tokens())
            // All 256 bytes, seen or not: what makes any text encodable without `<unk>`.
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        Self::train(inner, TrainerWrapper::BpeTrainer(trainer), corpus)
    }

    fn train(
        mut inner: Tokenizer,
        mut trainer: TrainerWrapper,
        corpus: &[&str],
    ) -> Result<Self, DataError> {
        if corpus.is_empty() {
            return Err(DataError::NoTexts { what: "training a tokenizer" });
        }
        inner.train(&mut trainer, corpus.iter()).map_err(tokenizer_error("train"))?;
        Self::checked(inner)
    }

    /// Wraps `inner` after checking the special tokens, and makes `encode` treat their
    /// text as ordinary text (the flag is not part of `tokenizer.json`).
    fn checked(mut inner: Tokenizer) -> Result<Self, DataError> {
        let special_ids = inner.get_added_tokens_decoder();
        for (id, token) in (0u32..).zip(Special::ALL) {
            let found = inner.token_to_id(token);
            let is_special = special_ids.get(&id).is_some_and(|t| t.special && t.content == token);
            if found != Some(id) || !is_special {
                return Err(DataError::SpecialToken { token, expected: id, found });
            }
        }
        inner.set_encode_special_tokens(true);
        Ok(Self { inner })
    }

    /// Writes the tokenizer as a `tokenizer.json` file (the `tokenizers` format, readable
    /// by the Python library too), atomically.
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] if the file cannot be written; [`DataError::Tokenizer`] if the
    /// tokenizer cannot be serialised.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), DataError> {
        let json = self.inner.to_string(true).map_err(tokenizer_error("save"))?;
        crate::atomic::write_bytes(path.as_ref(), json.as_bytes())
    }

    /// Reads a `tokenizer.json` file written by [`TextTokenizer::save`] (or by any
    /// `tokenizers` user, if it has the [`Special`] tokens at their ids).
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] if the file cannot be read; [`DataError::TokenizerFile`] if it is
    /// not a tokenizer; [`DataError::SpecialToken`] if a special token is missing, at
    /// another id, or not marked special.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DataError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| DataError::Io { path: path.to_owned(), source })?;
        let inner = Tokenizer::from_str(&text).map_err(|e| DataError::TokenizerFile {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Self::checked(inner)
    }

    /// The wrapped `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Number of ids, special tokens included: a model's embedding table has this many
    /// rows.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Id of `<pad>` (0).
    pub fn pad_id(&self) -> u32 {
        Special::PAD_ID
    }

    /// Id of `<bos>` (1).
    pub fn bos_id(&self) -> u32 {
        Special::BOS_ID
    }

    /// Id of `<eos>` (2).
    pub fn eos_id(&self) -> u32 {
        Special::EOS_ID
    }

    /// Id of `<unk>` (3).
    pub fn unk_id(&self) -> u32 {
        Special::UNK_ID
    }

    /// Id of `<mask>` (4).
    pub fn mask_id(&self) -> u32 {
        Special::MASK_ID
    }

    /// The id of a token's text (`"<eos>"`, or a word of the vocabulary), if it has one.
    pub fn token_of(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The text of the token with id `id`, if there is one.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The ids of `text`, without special tokens (text spelling `<eos>` is encoded as
    /// ordinary text).
    ///
    /// # Errors
    ///
    /// [`DataError::Tokenizer`] if the `tokenizers` crate fails.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, DataError> {
        let encoding = self.inner.encode(text, false).map_err(tokenizer_error("encode"))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`, skipping special tokens. A word-level tokenizer joins words
    /// with single spaces (so `"t-shirt"` decodes as `"t - shirt"`); byte-level BPE
    /// gives back the exact text.
    ///
    /// # Errors
    ///
    /// [`DataError::TokenId`] for an id outside the vocabulary (the `tokenizers` crate
    /// would skip it silently); [`DataError::Tokenizer`] if decoding fails.
    pub fn decode(&self, ids: &[u32]) -> Result<String, DataError> {
        if let Some(&id) = ids.iter().find(|&&id| self.inner.id_to_token(id).is_none()) {
            return Err(DataError::TokenId { id, vocab_size: self.vocab_size() });
        }
        self.inner.decode(ids, true).map_err(tokenizer_error("decode"))
    }

    /// Encodes `texts` into rows of exactly `context` ids: `<bos> tokens <eos>`, then
    /// `<pad>` up to `context`.
    ///
    /// A text whose tokens do not fit keeps its first `context - 2` tokens, and its row
    /// still ends with `<eos>`, so end-of-text pooling always finds it; the batch counts
    /// the truncated rows and dropped tokens.
    ///
    /// # Shapes
    ///
    /// `texts: [batch]` -> `ids: [batch, context]` row-major, `lengths: [batch]`.
    ///
    /// # Errors
    ///
    /// [`DataError::NoTexts`] for an empty batch; [`DataError::Context`] unless
    /// `2 <= context <=` [`MAX_CONTEXT`];
    /// as [`TextTokenizer::encode`].
    pub fn encode_batch(&self, texts: &[&str], context: usize) -> Result<TokenBatch, DataError> {
        if texts.is_empty() {
            return Err(DataError::NoTexts { what: "a token batch" });
        }
        if !(FRAME..=MAX_CONTEXT).contains(&context) {
            return Err(DataError::Context { context, minimum: FRAME, maximum: MAX_CONTEXT });
        }
        let mut batch = TokenBatch {
            ids: Vec::with_capacity(texts.len() * context),
            lengths: Vec::with_capacity(texts.len()),
            context,
            truncated_rows: 0,
            dropped_tokens: 0,
        };
        for text in texts {
            batch.push_row(&self.encode(text)?);
        }
        Ok(batch)
    }
}

/// Tokens every row spends on framing: `<bos>` and `<eos>`.
const FRAME: usize = 2;
/// The longest context [`TextTokenizer::encode_batch`] accepts, far beyond any text
/// tower's (CLIP's is 77): a guard against a size no allocation could hold.
pub const MAX_CONTEXT: usize = 1 << 20;

fn tokenizer_error(
    operation: &'static str,
) -> impl Fn(Box<dyn std::error::Error + Send + Sync>) -> DataError {
    move |e| DataError::Tokenizer { operation, reason: e.to_string() }
}

/// Rows of token ids of one length, as a text tower takes them.
///
/// Row `r` is `ids[r * context..(r + 1) * context]`: `<bos>`, the text's tokens, `<eos>`
/// at `lengths[r] - 1`, then `<pad>`. Ids are `i64`, the element type of Burn's `Int`
/// tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    /// The ids, row-major: `[batch, context]`.
    pub ids: Vec<i64>,
    /// Valid tokens per row, `<bos>` and `<eos>` included: `[batch]`, each in
    /// `2..=context`.
    pub lengths: Vec<usize>,
    /// Ids per row.
    pub context: usize,
    /// Rows whose text did not fit and was cut.
    pub truncated_rows: usize,
    /// Text tokens dropped by truncation, over all rows.
    pub dropped_tokens: usize,
}

impl TokenBatch {
    /// Number of rows.
    pub fn batch(&self) -> usize {
        self.lengths.len()
    }

    /// Position of `<eos>` in each row (`lengths - 1`), where end-of-text pooling reads.
    ///
    /// # Shapes
    ///
    /// `[batch]`.
    pub fn eos_positions(&self) -> Vec<usize> {
        self.lengths.iter().map(|&length| length - 1).collect()
    }

    /// Which positions are padding (`true`), row-major, for an attention mask.
    ///
    /// # Shapes
    ///
    /// `[batch, context]` row-major.
    pub fn padding_mask(&self) -> Vec<bool> {
        let row = |&length: &usize| (0..self.context).map(move |position| position >= length);
        self.lengths.iter().flat_map(row).collect()
    }

    /// Appends `<bos> tokens <eos> <pad>...`, truncating `tokens` to fit `context`.
    fn push_row(&mut self, tokens: &[u32]) {
        let room = self.context - FRAME;
        let kept = &tokens[..tokens.len().min(room)];
        if kept.len() < tokens.len() {
            self.truncated_rows += 1;
            self.dropped_tokens += tokens.len() - kept.len();
        }
        let length = kept.len() + FRAME;
        self.ids.push(i64::from(Special::BOS_ID));
        self.ids.extend(kept.iter().map(|&id| i64::from(id)));
        self.ids.push(i64::from(Special::EOS_ID));
        let padding = std::iter::repeat_n(i64::from(Special::PAD_ID), self.context - length);
        self.ids.extend(padding);
        self.lengths.push(length);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTIONS: [&str; 6] = [
        "a handwritten 7",
        "the digit seven",
        "a picture of a zero",
        "a photo of the number three",
        "a drawing of a 4",
        "an image of the digit 9",
    ];

    fn word_level() -> TextTokenizer {
        TextTokenizer::word_level(&CAPTIONS, 1).unwrap()
    }

    fn bpe() -> TextTokenizer {
        TextTokenizer::byte_level_bpe(&CAPTIONS, 300, 2).unwrap()
    }

    fn row(batch: &TokenBatch, r: usize) -> &[i64] {
        &batch.ids[r * batch.context..(r + 1) * batch.context]
    }

    #[test]
    fn special_tokens_have_fixed_ids_in_every_tokenizer() {
        for tokenizer in [word_level(), bpe()] {
            for (id, token) in (0u32..).zip(Special::ALL) {
                assert_eq!(tokenizer.token_of(token), Some(id), "{token}");
                assert_eq!(tokenizer.id_to_token(id).as_deref(), Some(token));
            }
            let ids = [
                tokenizer.pad_id(),
                tokenizer.bos_id(),
                tokenizer.eos_id(),
                tokenizer.unk_id(),
                tokenizer.mask_id(),
            ];
            assert_eq!(ids, [0, 1, 2, 3, 4]);
        }
    }

    #[test]
    fn in_vocabulary_captions_round_trip() {
        let (words, bytes) = (word_level(), bpe());
        for caption in CAPTIONS {
            assert_eq!(words.decode(&words.encode(caption).unwrap()).unwrap(), caption);
            assert_eq!(bytes.decode(&bytes.encode(caption).unwrap()).unwrap(), caption);
        }
        // One id per word, none of them special.
        let ids = words.encode("A Picture of a ZERO").unwrap();
        assert_eq!(ids.len(), 5);
        assert!(ids.iter().all(|&id| id as usize >= Special::COUNT));
    }

    #[test]
    fn word_level_maps_unknown_words_to_unk_and_splits_punctuation() {
        let tokenizer = word_level();
        let ids = tokenizer.encode("a blurry seven").unwrap();
        assert_eq!(ids[1], Special::UNK_ID);
        assert_eq!(ids.len(), 3);
        assert_eq!(tokenizer.encode("seven, a").unwrap().len(), 3);
        // Rare words fall out of the vocabulary with a higher threshold.
        let frequent = TextTokenizer::word_level(&CAPTIONS, 2).unwrap();
        assert_eq!(frequent.encode("seven").unwrap(), vec![Special::UNK_ID]);
        assert!(frequent.vocab_size() < tokenizer.vocab_size());
    }

    #[test]
    fn text_spelling_a_special_token_is_not_that_token() {
        for tokenizer in [word_level(), bpe()] {
            let ids = tokenizer.encode("a <eos> zero <pad>").unwrap();
            assert!(!ids.contains(&Special::EOS_ID) && !ids.contains(&Special::PAD_ID));
        }
    }

    #[test]
    fn byte_level_bpe_encodes_unseen_text_without_unk() {
        let tokenizer = bpe();
        assert!(tokenizer.vocab_size() > Special::COUNT + N_BYTES, "no merges were learned");
        assert!(tokenizer.vocab_size() <= 300);
        for text in ["a quokka in Zürich, 42 times!", "日本語 \u{1F600}", "\t\n "] {
            let ids = tokenizer.encode(text).unwrap();
            assert!(ids.iter().all(|&id| id as usize >= Special::COUNT), "{text}: {ids:?}");
            assert_eq!(tokenizer.decode(&ids).unwrap(), text);
        }
        // A learned merge makes a seen word shorter than its bytes.
        assert!(tokenizer.encode("digit").unwrap().len() < "digit".len());
        assert!(matches!(
            TextTokenizer::byte_level_bpe(&CAPTIONS, 260, 1),
            Err(DataError::VocabSize { requested: 260, minimum: 261 })
        ));
    }

    #[test]
    fn save_then_load_gives_the_same_encodings() {
        let dir = crate::test_dir("text_save_load");
        for (name, tokenizer) in [("words.json", word_level()), ("bpe.json", bpe())] {
            let path = dir.join(name);
            tokenizer.save(&path).unwrap();
            let loaded = TextTokenizer::load(&path).unwrap();
            assert_eq!(loaded.vocab_size(), tokenizer.vocab_size());
            let texts = [CAPTIONS[0], CAPTIONS[3], "an unseen <eos> caption"];
            assert_eq!(
                loaded.encode_batch(&texts, 8).unwrap(),
                tokenizer.encode_batch(&texts, 8).unwrap()
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_corrupt_and_foreign_files_are_errors_naming_the_path() {
        let dir = crate::test_dir("text_corrupt");
        let missing = dir.join("missing.json");
        assert!(matches!(
            TextTokenizer::load(&missing),
            Err(DataError::Io { ref path, .. }) if *path == missing
        ));
        let corrupt = dir.join("corrupt.json");
        std::fs::write(&corrupt, "{\"model\": [1, 2").unwrap();
        let error = TextTokenizer::load(&corrupt).unwrap_err();
        assert!(matches!(error, DataError::TokenizerFile { ref path, .. } if *path == corrupt));
        assert!(error.to_string().contains("corrupt.json"));

        // A valid tokenizer.json whose specials are in another order.
        let json = word_level().inner().to_string(false).unwrap();
        let swapped = json.replace("\"<pad>\"", "\"<tmp>\"").replace("\"<bos>\"", "\"<pad>\"");
        let foreign = dir.join("foreign.json");
        std::fs::write(&foreign, swapped.replace("\"<tmp>\"", "\"<bos>\"")).unwrap();
        assert!(matches!(
            TextTokenizer::load(&foreign),
            Err(DataError::SpecialToken { token: "<pad>", expected: 0, found: Some(1) })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn decode_rejects_ids_outside_the_vocabulary() {
        let tokenizer = word_level();
        let size = tokenizer.vocab_size() as u32;
        assert!(matches!(
            tokenizer.decode(&[5, size]),
            Err(DataError::TokenId { id, .. }) if id == size
        ));
        assert!(tokenizer.decode(&[u32::MAX]).is_err());
        assert_eq!(tokenizer.decode(&[Special::BOS_ID, Special::EOS_ID]).unwrap(), "");
    }

    #[test]
    fn batches_frame_pad_and_mask_each_row() {
        let tokenizer = word_level();
        let batch = tokenizer.encode_batch(&["a handwritten 7", "the digit"], 6).unwrap();
        assert_eq!((batch.batch(), batch.context, batch.ids.len()), (2, 6, 12));
        assert_eq!(batch.lengths, vec![5, 4]);
        assert_eq!(batch.eos_positions(), vec![4, 3]);
        assert_eq!((batch.truncated_rows, batch.dropped_tokens), (0, 0));
        let words: Vec<i64> =
            tokenizer.encode("the digit").unwrap().into_iter().map(i64::from).collect();
        assert_eq!(row(&batch, 1), [&[1][..], &words, &[2, 0, 0]].concat());
        let mask = batch.padding_mask();
        for r in 0..batch.batch() {
            for position in 0..batch.context {
                let is_pad = row(&batch, r)[position] == i64::from(Special::PAD_ID);
                assert_eq!(mask[r * batch.context + position], is_pad);
                assert_eq!(is_pad, position >= batch.lengths[r]);
            }
        }
    }

    #[test]
    fn truncation_keeps_bos_first_and_eos_last_and_is_counted() {
        let tokenizer = word_level();
        let long = "a photo of the number three"; // 6 words
        let batch = tokenizer.encode_batch(&[long, "a", long], 5).unwrap();
        assert_eq!((batch.truncated_rows, batch.dropped_tokens), (2, 6));
        assert_eq!(batch.lengths, vec![5, 3, 5]);
        for r in [0, 2] {
            let ids = row(&batch, r);
            assert_eq!(ids[0], i64::from(Special::BOS_ID));
            assert_eq!(ids[4], i64::from(Special::EOS_ID));
            assert!(!batch.padding_mask()[r * 5..(r + 1) * 5].contains(&true));
        }
        // The shortest context holds only the frame.
        let frame = tokenizer.encode_batch(&[long], 2).unwrap();
        assert_eq!((frame.ids.clone(), frame.dropped_tokens), (vec![1, 2], 6));
    }

    #[test]
    fn bad_batches_are_errors() {
        let tokenizer = word_level();
        assert!(matches!(
            tokenizer.encode_batch(&["a"], 1),
            Err(DataError::Context { context: 1, minimum: 2, .. })
        ));
        assert!(matches!(
            tokenizer.encode_batch(&["a"], usize::MAX),
            Err(DataError::Context { maximum: MAX_CONTEXT, .. })
        ));
        assert!(matches!(tokenizer.encode_batch(&[], 8), Err(DataError::NoTexts { .. })));
        assert!(matches!(TextTokenizer::word_level(&[], 1), Err(DataError::NoTexts { .. })));
        assert!(matches!(
            TextTokenizer::byte_level_bpe(&[], 300, 1),
            Err(DataError::NoTexts { .. })
        ));
    }
}
