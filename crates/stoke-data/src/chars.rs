//! A character-level tokenizer: one id per character of the training text.
//!
//! [`CharTokenizer`] has the five [`Special`] tokens at ids `0..5`, like every Stoke
//! tokenizer, then one id per distinct character of the text it was built from, in
//! Unicode scalar order, so the same text always gives the same ids. A character model's
//! loss per token is its loss per character, which makes bits per character direct.
//!
//! Unlike [`TextTokenizer::word_level`](crate::TextTokenizer::word_level), it has no
//! silent fallback: [`CharTokenizer::encode`] refuses a character outside the vocabulary
//! with its position, instead of mapping it to `<unk>` (which it never emits). Build it on
//! a corpus's train split and check the held-out parts once: an error there means the
//! split left a character out of training. For text with characters nobody trained on,
//! byte-level BPE ([`TextTokenizer::byte_level_bpe`](crate::TextTokenizer::byte_level_bpe))
//! encodes anything.
//!
//! # Example
//!
//! ```
//! use stoke_data::chars::CharTokenizer;
//! use stoke_data::text::Special;
//!
//! let tokenizer = CharTokenizer::from_texts(&["abba", "cab"])?;
//! assert_eq!(tokenizer.vocab_size(), Special::COUNT + 3); // a b c
//! assert_eq!(tokenizer.encode("cab")?, [7, 5, 6]);
//! assert_eq!(tokenizer.decode(&[Special::BOS_ID, 7, 5, 6, Special::EOS_ID])?, "cab");
//! assert!(tokenizer.encode("abd").is_err()); // `d` at position 2 is not in the vocabulary
//! # Ok::<(), stoke_data::DataError>(())
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::DataError;
use crate::text::Special;

/// A character-level tokenizer with the [`Special`] tokens at ids `0..5` and character
/// `chars()[k]` at id `5 + k`.
///
/// Serialised (by [`CharTokenizer::save`], or as part of a config) as
/// `{"specials": ["<pad>", "<bos>", "<eos>", "<unk>", "<mask>"], "chars": ["\n", " ", ...]}`;
/// reading checks the specials and that `chars` is sorted without repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CharVocabulary", into = "CharVocabulary")]
pub struct CharTokenizer {
    /// Distinct characters, strictly increasing.
    chars: Vec<char>,
}

/// The serialised form of a [`CharTokenizer`].
#[derive(Serialize, Deserialize)]
struct CharVocabulary {
    specials: Vec<String>,
    chars: Vec<char>,
}

impl TryFrom<CharVocabulary> for CharTokenizer {
    type Error = DataError;

    fn try_from(vocabulary: CharVocabulary) -> Result<Self, DataError> {
        if vocabulary.specials != Special::ALL {
            let reason = "`specials` must be <pad> <bos> <eos> <unk> <mask>, in that order";
            return Err(DataError::CharVocabulary { reason });
        }
        Self::from_sorted(vocabulary.chars)
    }
}

impl From<CharTokenizer> for CharVocabulary {
    fn from(tokenizer: CharTokenizer) -> Self {
        let specials = Special::ALL.map(str::to_owned).to_vec();
        CharVocabulary { specials, chars: tokenizer.chars }
    }
}

impl CharTokenizer {
    /// A tokenizer whose vocabulary is every character that occurs in `texts`, in
    /// Unicode scalar order (`'\n' < ' ' < 'A' < 'a' < '—'`).
    ///
    /// # Errors
    ///
    /// [`DataError::NoTexts`] if `texts` holds no character at all.
    pub fn from_texts<S: AsRef<str>>(texts: &[S]) -> Result<Self, DataError> {
        let mut chars: Vec<char> = texts.iter().flat_map(|text| text.as_ref().chars()).collect();
        chars.sort_unstable();
        chars.dedup();
        if chars.is_empty() {
            return Err(DataError::NoTexts { what: "a character vocabulary" });
        }
        Ok(Self { chars })
    }

    /// The tokenizer with exactly `chars` (strictly increasing) after the specials.
    fn from_sorted(chars: Vec<char>) -> Result<Self, DataError> {
        if chars.is_empty() {
            return Err(DataError::CharVocabulary { reason: "`chars` is empty" });
        }
        if !chars.windows(2).all(|pair| pair[0] < pair[1]) {
            let reason = "`chars` must be strictly increasing (sorted, no repeats)";
            return Err(DataError::CharVocabulary { reason });
        }
        Ok(Self { chars })
    }

    /// Writes the tokenizer as JSON (see [`CharTokenizer`]), atomically.
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] if the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), DataError> {
        // Serialising chars and strings into a string cannot fail.
        let json = serde_json::to_string_pretty(self).expect("a char vocabulary serialises");
        crate::atomic::write_bytes(path.as_ref(), json.as_bytes())
    }

    /// Reads a file written by [`CharTokenizer::save`].
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] if the file cannot be read; [`DataError::CharTokenizerFile`] if
    /// it is not JSON of the documented form, its specials differ, or its characters are
    /// not strictly increasing.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DataError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| DataError::Io { path: path.to_owned(), source })?;
        serde_json::from_str(&text).map_err(|e| DataError::CharTokenizerFile {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// The ordinary characters, in id order: `chars()[k]` has id `5 + k`.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// Number of ids, special tokens included: a model's embedding table has this many
    /// rows.
    pub fn vocab_size(&self) -> usize {
        Special::COUNT + self.chars.len()
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

    /// Id of `<unk>` (3): reserved so ids line up with the other tokenizers, never
    /// emitted by [`CharTokenizer::encode`].
    pub fn unk_id(&self) -> u32 {
        Special::UNK_ID
    }

    /// Id of `<mask>` (4), the absorbing state of masked diffusion.
    pub fn mask_id(&self) -> u32 {
        Special::MASK_ID
    }

    /// The id of `character`, if it is in the vocabulary.
    pub fn id_of(&self, character: char) -> Option<u32> {
        let index = self.chars.binary_search(&character).ok()?;
        // The vocabulary holds at most one entry per char, far below u32::MAX.
        Some((Special::COUNT + index) as u32)
    }

    /// The character with id `id`, if `id` is an ordinary (non-special) id.
    pub fn char_of(&self, id: u32) -> Option<char> {
        let index = (id as usize).checked_sub(Special::COUNT)?;
        self.chars.get(index).copied()
    }

    /// One id per character of `text`, no special tokens.
    ///
    /// # Errors
    ///
    /// [`DataError::UnknownChar`], naming the first character outside the vocabulary and
    /// its 0-based position among the characters of `text`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, DataError> {
        let id = |(position, character): (usize, char)| {
            self.id_of(character).ok_or(DataError::UnknownChar { character, position })
        };
        text.chars().enumerate().map(id).collect()
    }

    /// The text of `ids`, skipping the special tokens (`<pad>`, `<bos>`, `<eos>`, and
    /// `<unk>` and `<mask>` too), so `decode(encode(text)) == text`.
    ///
    /// # Errors
    ///
    /// [`DataError::TokenId`] for an id outside the vocabulary.
    pub fn decode(&self, ids: &[u32]) -> Result<String, DataError> {
        let mut text = String::with_capacity(ids.len());
        for &id in ids {
            match self.piece(id)? {
                Piece::Char(character) => text.push(character),
                Piece::Special(_) => {}
            }
        }
        Ok(text)
    }

    /// The text of `ids` with each special token written as its text (`<mask>`), to show
    /// a partly unmasked sample.
    ///
    /// # Errors
    ///
    /// [`DataError::TokenId`] for an id outside the vocabulary.
    pub fn render(&self, ids: &[u32]) -> Result<String, DataError> {
        let mut text = String::with_capacity(ids.len());
        for &id in ids {
            match self.piece(id)? {
                Piece::Char(character) => text.push(character),
                Piece::Special(token) => text.push_str(token),
            }
        }
        Ok(text)
    }

    fn piece(&self, id: u32) -> Result<Piece, DataError> {
        if let Some(&token) = Special::ALL.get(id as usize) {
            return Ok(Piece::Special(token));
        }
        let character = self.char_of(id);
        character.map(Piece::Char).ok_or(DataError::TokenId { id, vocab_size: self.vocab_size() })
    }
}

/// What one id stands for.
enum Piece {
    Special(&'static str),
    Char(char),
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn tokenizer() -> CharTokenizer {
        CharTokenizer::from_texts(&["Call me Ishmael.\n", "Some years ago—never mind"]).unwrap()
    }

    #[test]
    fn ids_follow_the_specials_in_character_order() {
        let tokenizer = tokenizer();
        let chars = tokenizer.chars();
        assert_eq!(chars[..3], ['\n', ' ', '.']);
        assert_eq!(*chars.last().unwrap(), '—');
        assert!(chars.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(tokenizer.vocab_size(), Special::COUNT + chars.len());
        assert_eq!(tokenizer.id_of('\n'), Some(5));
        assert_eq!(tokenizer.char_of(5), Some('\n'));
        assert_eq!(
            (tokenizer.char_of(4), tokenizer.char_of(tokenizer.vocab_size() as u32)),
            (None, None)
        );
        let ids = [
            tokenizer.pad_id(),
            tokenizer.bos_id(),
            tokenizer.eos_id(),
            tokenizer.unk_id(),
            tokenizer.mask_id(),
        ];
        assert_eq!(ids, [0, 1, 2, 3, 4]);
        // The order of the texts does not matter.
        let reversed =
            CharTokenizer::from_texts(&["Some years ago—never mind", "Call me Ishmael.\n"]);
        assert_eq!(reversed.unwrap(), tokenizer);
    }

    #[test]
    fn unknown_characters_are_errors_with_their_position() {
        let tokenizer = tokenizer();
        // `é` is the 6th character: position 5.
        let error = tokenizer.encode("Call é ex").unwrap_err();
        assert!(matches!(error, DataError::UnknownChar { character: 'é', position: 5 }));
        assert!(error.to_string().contains("U+00E9"), "{error}");
        assert!(matches!(
            tokenizer.encode("—— x"),
            Err(DataError::UnknownChar { character: 'x', position: 3 })
        ));
        assert_eq!(tokenizer.encode("").unwrap(), Vec::<u32>::new());
        assert!(matches!(CharTokenizer::from_texts(&["", ""]), Err(DataError::NoTexts { .. })));
        assert!(CharTokenizer::from_texts::<&str>(&[]).is_err());
    }

    #[test]
    fn decode_skips_specials_render_shows_them_and_both_reject_unknown_ids() {
        let tokenizer = tokenizer();
        let mut ids = vec![Special::BOS_ID];
        ids.extend(tokenizer.encode("Call me").unwrap());
        ids[3] = Special::MASK_ID;
        ids.extend([Special::EOS_ID, Special::PAD_ID]);
        assert_eq!(tokenizer.decode(&ids).unwrap(), "Cal me");
        assert_eq!(tokenizer.render(&ids).unwrap(), "<bos>Ca<mask>l me<eos><pad>");
        let size = tokenizer.vocab_size() as u32;
        for bad in [size, u32::MAX] {
            assert!(
                matches!(tokenizer.decode(&[5, bad]), Err(DataError::TokenId { id, .. }) if id == bad)
            );
            assert!(tokenizer.render(&[bad]).is_err());
        }
    }

    #[test]
    fn save_then_load_gives_the_same_tokenizer_and_bad_files_are_errors() {
        let dir = crate::test_dir("chars_save_load");
        let path = dir.join("chars.json");
        tokenizer().save(&path).unwrap();
        assert_eq!(CharTokenizer::load(&path).unwrap(), tokenizer());
        let json = std::fs::read_to_string(&path).unwrap();
        assert!(json.contains("\"<mask>\"") && json.contains("\"—\""), "{json}");

        let cases = [
            ("not-json.json", "{\"chars\": [", "EOF"),
            ("specials.json", r#"{"specials": ["<pad>"], "chars": ["a"]}"#, "specials"),
            ("unsorted.json", &json.replacen("\"\\n\"", "\"z\"", 1), "increasing"),
            (
                "empty.json",
                r#"{"specials": ["<pad>", "<bos>", "<eos>", "<unk>", "<mask>"], "chars": []}"#,
                "empty",
            ),
            ("two-chars.json", r#"{"specials": [], "chars": ["ab"]}"#, "expected a character"),
        ];
        for (name, contents, expected) in cases {
            let bad = dir.join(name);
            std::fs::write(&bad, contents).unwrap();
            let error = CharTokenizer::load(&bad).unwrap_err();
            assert!(
                matches!(error, DataError::CharTokenizerFile { ref path, .. } if *path == bad),
                "{name}"
            );
            assert!(
                error.to_string().contains(expected) && error.to_string().contains(name),
                "{error}"
            );
        }
        let missing = dir.join("missing.json");
        assert!(
            matches!(CharTokenizer::load(&missing), Err(DataError::Io { ref path, .. }) if *path == missing)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_train_split_of_moby_dick_covers_its_held_out_parts() {
        use crate::corpus::{Corpus, DEFAULT_CHUNK_CHARS};
        let splits = Corpus::moby_dick().unwrap().split(DEFAULT_CHUNK_CHARS).unwrap();
        let tokenizer = CharTokenizer::from_texts(&splits.train).unwrap();
        // All 89 characters of the book occur in the train split.
        assert_eq!(tokenizer.vocab_size(), Special::COUNT + 89);
        for span in splits.validation.iter().chain(&splits.test) {
            let ids = tokenizer.encode(span).unwrap();
            assert_eq!(ids.len(), span.chars().count());
            assert_eq!(tokenizer.decode(&ids).unwrap(), *span);
        }
    }

    proptest! {
        #[test]
        fn any_text_round_trips_through_its_own_tokenizer(text in "\\PC{1,60}") {
            let tokenizer = CharTokenizer::from_texts(&[text.as_str()]).unwrap();
            let ids = tokenizer.encode(&text).unwrap();
            prop_assert_eq!(ids.len(), text.chars().count());
            prop_assert!(ids.iter().all(|&id| (Special::COUNT..tokenizer.vocab_size()).contains(&(id as usize))));
            prop_assert_eq!(tokenizer.decode(&ids).unwrap(), text);
        }

        #[test]
        fn decoding_is_total(ids in prop::collection::vec(prop_oneof![0u32..12, any::<u32>()], 0..8)) {
            let tokenizer = CharTokenizer::from_texts(&["abc"]).unwrap();
            let in_vocabulary = ids.iter().all(|&id| (id as usize) < tokenizer.vocab_size());
            prop_assert_eq!(tokenizer.decode(&ids).is_ok(), in_vocabulary);
            prop_assert_eq!(tokenizer.render(&ids).is_ok(), in_vocabulary);
        }
    }
}
