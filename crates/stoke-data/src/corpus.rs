//! Plain-text corpora for language models, a fixed train/validation/test split, and the
//! windows of token ids that a trainer draws and an evaluation scores.
//!
//! [`Corpus::moby_dick`] is Melville's *Moby-Dick* (1,217,396 characters), embedded in the
//! binary (see `data/README.md` for its source, licence and checksums);
//! [`Corpus::from_file`] reads a user's own UTF-8 text. Both keep the text as it is: no
//! normalisation of line ends, quotes or dashes.
//!
//! # The split
//!
//! [`Corpus::split`] cuts the text into consecutive chunks of `chunk_chars` characters
//! (characters, not bytes; only the last chunk may be shorter) and gives chunk `i` to
//!
//! * validation if `i % 20 == 18`,
//! * test if `i % 20 == 19`,
//! * train otherwise.
//!
//! That is 90% / 5% / 5% of the text, taken from every stretch of the book, by a rule
//! with no random numbers and no dependency, so it never changes. Consecutive chunks of
//! one part are joined back into a *span*: train holds spans of 18 chunks, validation
//! and test spans of one chunk each, and a window drawn inside one span never straddles
//! a cut (a place where text of another part was taken out). Recipes use
//! [`DEFAULT_CHUNK_CHARS`] (2048).
//!
//! # What a trainer does with it
//!
//! It builds a tokenizer on the train spans only (a
//! [`CharTokenizer`](crate::chars::CharTokenizer), or
//! [`TextTokenizer::byte_level_bpe`](crate::TextTokenizer::byte_level_bpe)), tokenizes
//! each span, draws training windows from [`SlidingWindows`] with its own step RNG, and
//! scores validation (and, once, test) on the consecutive [`windows`] of each span.
//! Bits per character is the summed negative log-likelihood in nats, divided by `ln 2`
//! and by the number of characters the scored tokens spell: with a character tokenizer
//! that is the number of ids scored, and when every token of a part is scored it is
//! [`CorpusSplits::n_chars`].
//!
//! # Example
//!
//! ```
//! use stoke_data::chars::CharTokenizer;
//! use stoke_data::corpus::{Corpus, DEFAULT_CHUNK_CHARS, Part, windows};
//!
//! let splits = Corpus::moby_dick()?.split(DEFAULT_CHUNK_CHARS)?;
//! assert_eq!(splits.n_chars(Part::Validation), 29 * 2048);
//! let tokenizer = CharTokenizer::from_texts(&splits.train)?;
//! let streams: Vec<Vec<u32>> =
//!     splits.validation.iter().map(|span| tokenizer.encode(span)).collect::<Result<_, _>>()?;
//! let scored = windows(&streams, 256)?; // 8 windows of 256 characters per span
//! assert_eq!((scored.len(), scored.dropped()), (29 * 8, 0));
//! # Ok::<(), stoke_data::DataError>(())
//! ```

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use crate::DataError;

/// Characters per chunk of the split the recipes use.
pub const DEFAULT_CHUNK_CHARS: usize = 2048;
/// Chunks per period of the split rule: chunk `i` belongs to [`Part::of_chunk`]`(i)`.
pub const SPLIT_PERIOD: usize = 20;
/// The chunk of each period that goes to validation.
pub const VALIDATION_SLOT: usize = 18;
/// The chunk of each period that goes to test.
pub const TEST_SLOT: usize = 19;

/// The embedded copy of `moby-dick.txt.gz` (482 KB).
const MOBY_DICK: &[u8] = include_bytes!("../data/moby-dick.txt.gz");
/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A named text, as it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    /// A short name for logs and errors (`"moby-dick"`, or a file's stem).
    pub name: String,
    /// The text.
    pub text: String,
}

impl Corpus {
    /// *Moby-Dick*, decompressed from the copy embedded in the binary: 1,217,396
    /// characters, 89 of them distinct, `\n` line ends, one paragraph a line.
    ///
    /// # Errors
    ///
    /// None in practice: the embedded file is checked by the tests. The `Result` keeps the
    /// signature of [`Corpus::from_file`].
    pub fn moby_dick() -> Result<Corpus, DataError> {
        let text = decode(MOBY_DICK, Path::new("<embedded moby-dick.txt.gz>"))?;
        Ok(Corpus { name: "moby-dick".to_owned(), text })
    }

    /// Reads a UTF-8 text file, gzip-compressed or not (gzip is recognised by its magic
    /// bytes, not the file name). The corpus is named after the file's stem.
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] if the file cannot be read or decompressed;
    /// [`DataError::NotUtf8`] if it is not UTF-8; [`DataError::EmptyFile`] if it holds no
    /// text. Each names the path.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Corpus, DataError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| io_error(path, source))?;
        let text = decode(&bytes, path)?;
        if text.is_empty() {
            return Err(DataError::EmptyFile { path: path.to_owned() });
        }
        let name = path.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into());
        Ok(Corpus { name, text })
    }

    /// Number of characters (Unicode scalar values, not bytes).
    pub fn n_chars(&self) -> usize {
        self.text.chars().count()
    }

    /// Splits the text into train, validation and test spans by the fixed rule of the
    /// [module docs](self): chunks of `chunk_chars` characters, chunk `i` to
    /// [`Part::of_chunk`]`(i)`, consecutive chunks of one part joined into one span.
    ///
    /// # Errors
    ///
    /// [`DataError::ZeroDimension`] if `chunk_chars` is 0; [`DataError::CorpusTooShort`]
    /// if the text is shorter than `SPLIT_PERIOD * chunk_chars` characters, so that
    /// validation and test would not each get a whole chunk.
    pub fn split(&self, chunk_chars: usize) -> Result<CorpusSplits, DataError> {
        if chunk_chars == 0 {
            return Err(DataError::ZeroDimension { name: "chunk_chars" });
        }
        let minimum = chunk_chars.saturating_mul(SPLIT_PERIOD);
        let n_chars = self.n_chars();
        if n_chars < minimum {
            return Err(DataError::CorpusTooShort { name: self.name.clone(), n_chars, minimum });
        }
        let mut splits = CorpusSplits {
            train: Vec::new(),
            validation: Vec::new(),
            test: Vec::new(),
            chunk_chars,
        };
        for (part, span) in spans(&self.text, chunk_chars) {
            splits.part_mut(part).push(span.to_owned());
        }
        Ok(splits)
    }
}

/// The maximal runs of consecutive chunks that belong to one part, in text order.
fn spans(text: &str, chunk_chars: usize) -> Vec<(Part, &str)> {
    let starts = text.char_indices().step_by(chunk_chars).map(|(byte, _)| byte);
    // Byte offsets of the chunk boundaries: chunk `i` is `bounds[i]..bounds[i + 1]`.
    let bounds: Vec<usize> = starts.chain([text.len()]).collect();
    let mut runs: Vec<(Part, usize, usize)> = Vec::new();
    for (chunk_idx, chunk) in bounds.windows(2).enumerate() {
        let part = Part::of_chunk(chunk_idx);
        match runs.last_mut() {
            Some((last, _, end)) if *last == part => *end = chunk[1],
            _ => runs.push((part, chunk[0], chunk[1])),
        }
    }
    runs.into_iter().map(|(part, start, end)| (part, &text[start..end])).collect()
}

/// Decompresses (if gzip) and checks the bytes of a text file.
fn decode(bytes: &[u8], path: &Path) -> Result<String, DataError> {
    let bytes = if bytes.starts_with(&GZIP_MAGIC) {
        let mut raw = Vec::new();
        GzDecoder::new(bytes).read_to_end(&mut raw).map_err(|source| io_error(path, source))?;
        raw
    } else {
        bytes.to_vec()
    };
    String::from_utf8(bytes).map_err(|e| DataError::NotUtf8 {
        path: path.to_owned(),
        valid_up_to: e.utf8_error().valid_up_to(),
    })
}

fn io_error(path: &Path, source: std::io::Error) -> DataError {
    DataError::Io { path: path.to_owned(), source }
}

/// One of the three parts of a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// What a model is fitted on (18 chunks of every 20).
    Train,
    /// Where hyper-parameters are chosen (chunk 18 of every 20).
    Validation,
    /// Read once, for the reported figure (chunk 19 of every 20).
    Test,
}

impl Part {
    /// All three, in the order train, validation, test.
    pub const ALL: [Part; 3] = [Part::Train, Part::Validation, Part::Test];

    /// The part that chunk `chunk_idx` (0-based) belongs to: validation if
    /// `chunk_idx % 20 == 18`, test if `chunk_idx % 20 == 19`, train otherwise.
    pub fn of_chunk(chunk_idx: usize) -> Part {
        match chunk_idx % SPLIT_PERIOD {
            VALIDATION_SLOT => Part::Validation,
            TEST_SLOT => Part::Test,
            _ => Part::Train,
        }
    }

    /// `"train"`, `"validation"` or `"test"`.
    pub fn name(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Validation => "validation",
            Part::Test => "test",
        }
    }
}

/// A corpus cut by [`Corpus::split`]: each part a list of spans of the text, in text
/// order. Joining all spans of all parts in text order gives back the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusSplits {
    /// Spans of 18 chunks (the last may be shorter).
    pub train: Vec<String>,
    /// Spans of one chunk each.
    pub validation: Vec<String>,
    /// Spans of one chunk each (the last may be shorter).
    pub test: Vec<String>,
    /// Characters per chunk of the rule that made this split.
    pub chunk_chars: usize,
}

impl CorpusSplits {
    /// The spans of `part`.
    pub fn part(&self, part: Part) -> &[String] {
        match part {
            Part::Train => &self.train,
            Part::Validation => &self.validation,
            Part::Test => &self.test,
        }
    }

    fn part_mut(&mut self, part: Part) -> &mut Vec<String> {
        match part {
            Part::Train => &mut self.train,
            Part::Validation => &mut self.validation,
            Part::Test => &mut self.test,
        }
    }

    /// Characters in `part`, over all its spans: the denominator of bits per character
    /// when every token of the part is scored.
    pub fn n_chars(&self, part: Part) -> usize {
        self.part(part).iter().map(|span| span.chars().count()).sum()
    }
}

/// Non-overlapping windows of `context` token ids, cut from the start of each stream
/// (a tokenized span) and never across two streams: what an evaluation scores.
///
/// The tokens after a stream's last whole window are in no window; [`Windows::dropped`]
/// counts them, so a bits-per-character figure can say how much of a part it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows {
    ids: Vec<u32>,
    context: usize,
    dropped: usize,
}

/// Cuts each stream of `streams` into consecutive windows of `context` ids.
///
/// # Shapes
///
/// `streams: [n_streams][len_s]` -> ids `[sum_s floor(len_s / context), context]`.
///
/// # Errors
///
/// [`DataError::ZeroDimension`] if `context` is 0.
pub fn windows<S: AsRef<[u32]>>(streams: &[S], context: usize) -> Result<Windows, DataError> {
    if context == 0 {
        return Err(DataError::ZeroDimension { name: "context" });
    }
    let mut cut = Windows { ids: Vec::new(), context, dropped: 0 };
    for stream in streams {
        let rows = stream.as_ref().chunks_exact(context);
        cut.dropped += rows.remainder().len();
        rows.for_each(|row| cut.ids.extend_from_slice(row));
    }
    Ok(cut)
}

impl Windows {
    /// Number of windows.
    pub fn len(&self) -> usize {
        self.ids.len() / self.context
    }

    /// Whether no stream held a whole window.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Ids per window.
    pub fn context(&self) -> usize {
        self.context
    }

    /// Tokens in no window (each stream's tail shorter than `context`), over all streams.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// All windows in one buffer, ready for a tensor.
    ///
    /// # Shapes
    ///
    /// `[len, context]` row-major.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// The windows one by one, each `context` ids.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[u32]> {
        self.ids.chunks_exact(self.context)
    }
}

/// Every window of `context` ids that lies inside one stream (stride 1), numbered
/// `0..len()`: a trainer draws a training window by drawing an index with its own
/// seeded RNG, so each batch stays a pure function of `(seed, step)`.
///
/// Window `k` is the `k`-th in text order: all windows of the first stream, by start
/// position, then those of the second, and so on. Streams shorter than `context` hold
/// none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlidingWindows {
    streams: Vec<Vec<u32>>,
    context: usize,
    /// `first[s]`: index of stream `s`'s first window; `first[n_streams]` is `len()`.
    first: Vec<usize>,
}

impl SlidingWindows {
    /// Indexes the windows of `streams`.
    ///
    /// # Errors
    ///
    /// [`DataError::ZeroDimension`] if `context` is 0; [`DataError::ArgumentRange`] if
    /// `context` is longer than every stream (there would be no window to draw).
    pub fn new(streams: Vec<Vec<u32>>, context: usize) -> Result<SlidingWindows, DataError> {
        if context == 0 {
            return Err(DataError::ZeroDimension { name: "context" });
        }
        let longest = streams.iter().map(Vec::len).max().unwrap_or(0);
        if context > longest {
            let (minimum, maximum) = (1, longest);
            return Err(DataError::ArgumentRange {
                name: "context",
                value: context,
                minimum,
                maximum,
            });
        }
        let counts = streams.iter().map(|stream| (stream.len() + 1).saturating_sub(context));
        let first = std::iter::once(0)
            .chain(counts.scan(0, |total, count| {
                *total += count;
                Some(*total)
            }))
            .collect();
        Ok(SlidingWindows { streams, context, first })
    }

    /// Number of windows (never 0).
    pub fn len(&self) -> usize {
        self.first[self.streams.len()]
    }

    /// Always `false`: [`SlidingWindows::new`] refuses streams with no window.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ids per window.
    pub fn context(&self) -> usize {
        self.context
    }

    /// Window `index`, or `None` past the end.
    ///
    /// # Shapes
    ///
    /// `[context]`.
    pub fn window(&self, index: usize) -> Option<&[u32]> {
        if index >= self.len() {
            return None;
        }
        // The last stream whose first window is at or before `index`; streams with no
        // window share their `first` with the next one, and `partition_point` skips them.
        let stream_idx = self.first.partition_point(|&first| first <= index) - 1;
        let start = index - self.first[stream_idx];
        Some(&self.streams[stream_idx][start..start + self.context])
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn moby_dick() -> &'static Corpus {
        static CORPUS: std::sync::OnceLock<Corpus> = std::sync::OnceLock::new();
        CORPUS.get_or_init(|| Corpus::moby_dick().expect("the embedded corpus decodes"))
    }

    #[test]
    fn embedded_moby_dick_has_the_documented_text() {
        let corpus = moby_dick();
        assert_eq!(corpus.name, "moby-dick");
        assert_eq!(corpus.n_chars(), 1_217_396);
        assert_eq!(corpus.text.len(), 1_220_848);
        assert!(corpus.text.starts_with("CONTENTS\n\n\nETYMOLOGY."));
        assert!(corpus.text.contains("CHAPTER 1. Loomings.\n\nCall me Ishmael."));
        assert!(corpus.text.ends_with("only found another orphan.\n"));
        assert!(!corpus.text.contains('\r'));
        let mut distinct: Vec<char> = corpus.text.chars().collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 89);
    }

    #[test]
    fn default_split_of_moby_dick_has_the_documented_sizes() {
        let splits = moby_dick().split(DEFAULT_CHUNK_CHARS).unwrap();
        // 595 chunks: 29 whole periods and 15 chunks of a 30th, the last of 884 characters.
        assert_eq!((splits.train.len(), splits.validation.len(), splits.test.len()), (30, 29, 29));
        assert_eq!(splits.n_chars(Part::Train), 1_098_612);
        assert_eq!(splits.n_chars(Part::Validation), 29 * 2048);
        assert_eq!(splits.n_chars(Part::Test), 29 * 2048);
        assert!(splits.validation.iter().chain(&splits.test).all(|s| s.chars().count() == 2048));
        assert_eq!(splits.train[0].chars().count(), 18 * 2048);
        let total: usize = Part::ALL.iter().map(|&part| splits.n_chars(part)).sum();
        assert_eq!(total, moby_dick().n_chars());
    }

    /// The spans of all parts, merged back into text order.
    fn rejoin(splits: &CorpusSplits) -> String {
        let (mut train, mut validation, mut test) =
            (splits.train.iter(), splits.validation.iter(), splits.test.iter());
        // Text order is train, validation, test, train, ...: one period per turn.
        let mut text = String::new();
        loop {
            let mut any = false;
            for span in [train.next(), validation.next(), test.next()].into_iter().flatten() {
                text.push_str(span);
                any = true;
            }
            if !any {
                return text;
            }
        }
    }

    #[test]
    fn split_covers_the_text_in_order_and_is_deterministic() {
        let corpus = moby_dick();
        let splits = corpus.split(DEFAULT_CHUNK_CHARS).unwrap();
        assert_eq!(rejoin(&splits), corpus.text);
        assert_eq!(splits, corpus.split(DEFAULT_CHUNK_CHARS).unwrap());
        // Chunk 18 of the first period is the first validation span.
        let chars: Vec<char> = corpus.text.chars().collect();
        let chunk_18: String = chars[18 * 2048..19 * 2048].iter().collect();
        assert_eq!(splits.validation[0], chunk_18);
    }

    #[test]
    fn chunks_are_characters_not_bytes() {
        // Four-byte and two-byte characters: a byte cut would split them.
        let text: String = "\u{1F40B}é".repeat(20);
        let corpus = Corpus { name: "whales".into(), text };
        let splits = corpus.split(2).unwrap();
        assert_eq!(splits.validation, vec!["\u{1F40B}é".to_owned()]);
        assert_eq!(splits.test, vec!["\u{1F40B}é".to_owned()]);
        assert_eq!(splits.n_chars(Part::Train), 36);
        assert_eq!(rejoin(&splits), corpus.text);
    }

    #[test]
    fn bad_splits_are_errors() {
        let corpus = Corpus { name: "short".into(), text: "x".repeat(39) };
        assert!(matches!(
            corpus.split(2),
            Err(DataError::CorpusTooShort { n_chars: 39, minimum: 40, ref name }) if name == "short"
        ));
        assert!(corpus.split(1).is_ok());
        assert!(matches!(corpus.split(0), Err(DataError::ZeroDimension { name: "chunk_chars" })));
        assert!(matches!(corpus.split(usize::MAX), Err(DataError::CorpusTooShort { .. })));
    }

    #[test]
    fn from_file_reads_plain_and_gzip_and_names_the_path_of_bad_files() {
        let dir = crate::test_dir("corpus_from_file");
        let plain = dir.join("tale.txt");
        std::fs::write(&plain, "It was the best of times.\r\n").unwrap();
        let corpus = Corpus::from_file(&plain).unwrap();
        assert_eq!(
            (corpus.name.as_str(), corpus.text.as_str()),
            ("tale", "It was the best of times.\r\n")
        );

        let gz = dir.join("moby.txt.gz");
        std::fs::write(&gz, MOBY_DICK).unwrap();
        assert_eq!(Corpus::from_file(&gz).unwrap().text, moby_dick().text);

        let missing = dir.join("missing.txt");
        let error = Corpus::from_file(&missing).unwrap_err();
        assert!(matches!(error, DataError::Io { ref path, .. } if *path == missing));
        let empty = dir.join("empty.txt");
        std::fs::write(&empty, "").unwrap();
        let error = Corpus::from_file(&empty).unwrap_err();
        assert!(matches!(error, DataError::EmptyFile { ref path } if *path == empty));
        assert!(error.to_string().contains("empty.txt"));
        let latin1 = dir.join("latin1.txt");
        std::fs::write(&latin1, b"caf\xe9 au lait").unwrap();
        let error = Corpus::from_file(&latin1).unwrap_err();
        assert!(
            matches!(error, DataError::NotUtf8 { ref path, valid_up_to: 3 } if *path == latin1)
        );
        assert!(error.to_string().contains("latin1.txt"));
        let cut = dir.join("cut.gz");
        std::fs::write(&cut, &MOBY_DICK[..1000]).unwrap();
        assert!(
            matches!(Corpus::from_file(&cut), Err(DataError::Io { ref path, .. }) if *path == cut)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn byte_level_bpe_trained_on_train_spans_round_trips_the_held_out_parts() {
        let splits = moby_dick().split(DEFAULT_CHUNK_CHARS).unwrap();
        // The first four train spans (147,456 characters) keep the test quick.
        let train: Vec<&str> = splits.train[..4].iter().map(String::as_str).collect();
        let tokenizer = crate::TextTokenizer::byte_level_bpe(&train, 512, 2).unwrap();
        assert_eq!(tokenizer.vocab_size(), 512);
        let (mut n_chars, mut n_tokens) = (0, 0);
        for span in splits.validation.iter().chain(&splits.test) {
            let ids = tokenizer.encode(span).unwrap();
            assert_eq!(tokenizer.decode(&ids).unwrap(), *span);
            (n_chars, n_tokens) = (n_chars + span.chars().count(), n_tokens + ids.len());
        }
        // Merges pay: under half a token per character (56,832 tokens for 118,784 here).
        assert!(n_tokens * 2 < n_chars, "{n_tokens} tokens for {n_chars} characters");
    }

    #[test]
    fn windows_never_straddle_streams_and_count_the_tails() {
        let streams = [vec![1, 2, 3, 4, 5], vec![6, 7], vec![8, 9, 10, 11]];
        let cut = windows(&streams, 2).unwrap();
        assert_eq!((cut.len(), cut.context(), cut.dropped()), (5, 2, 1));
        assert_eq!(cut.ids(), [1, 2, 3, 4, 6, 7, 8, 9, 10, 11]);
        assert_eq!(cut.rows().nth(2), Some(&[6, 7][..]));
        let none = windows(&streams, 6).unwrap();
        assert!(none.is_empty() && none.dropped() == 11);
        assert!(matches!(windows(&streams, 0), Err(DataError::ZeroDimension { .. })));
    }

    #[test]
    fn sliding_windows_enumerate_every_start_inside_each_stream() {
        let streams = vec![vec![1, 2, 3], vec![4], vec![], vec![5, 6]];
        let all = SlidingWindows::new(streams, 2).unwrap();
        assert_eq!(all.len(), 3);
        let got: Vec<&[u32]> = (0..all.len()).map(|k| all.window(k).unwrap()).collect();
        assert_eq!(got, [&[1, 2][..], &[2, 3], &[5, 6]]);
        assert_eq!(all.window(3), None);
        assert!(matches!(
            SlidingWindows::new(vec![vec![1, 2]], 3),
            Err(DataError::ArgumentRange { name: "context", value: 3, maximum: 2, .. })
        ));
        assert!(SlidingWindows::new(vec![], 1).is_err());
        assert!(SlidingWindows::new(vec![vec![1]], 0).is_err());
    }

    proptest! {
        #[test]
        fn split_is_a_partition_of_any_text(text in "[a-cé\u{1F40B}\n]{0,200}", chunk_chars in 1usize..12) {
            let corpus = Corpus { name: "t".into(), text };
            let Ok(splits) = corpus.split(chunk_chars) else {
                prop_assert!(corpus.n_chars() < SPLIT_PERIOD * chunk_chars);
                return Ok(());
            };
            prop_assert_eq!(rejoin(&splits), corpus.text.clone());
            let total: usize = Part::ALL.iter().map(|&part| splits.n_chars(part)).sum();
            prop_assert_eq!(total, corpus.n_chars());
            for span in splits.validation.iter().chain(&splits.test) {
                prop_assert!(span.chars().count() <= chunk_chars);
            }
            prop_assert_eq!(splits.validation.len(), corpus.n_chars().div_ceil(chunk_chars).saturating_sub(VALIDATION_SLOT).div_ceil(SPLIT_PERIOD));
        }

        #[test]
        fn sliding_windows_match_a_brute_force_list(
            lengths in prop::collection::vec(0usize..8, 1..5),
            context in 1usize..6,
        ) {
            let mut next = 0;
            let streams: Vec<Vec<u32>> = lengths.iter().map(|&n| (0..n).map(|_| { next += 1; next }).collect()).collect();
            let expected: Vec<&[u32]> = streams.iter().flat_map(|s| s.windows(context)).collect();
            match SlidingWindows::new(streams.clone(), context) {
                Ok(all) => {
                    let got: Vec<&[u32]> = (0..all.len()).map(|k| all.window(k).unwrap()).collect();
                    prop_assert_eq!(got, expected);
                }
                Err(_) => prop_assert!(expected.is_empty()),
            }
        }
    }
}
