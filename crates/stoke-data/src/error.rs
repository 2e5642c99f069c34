//! The one error type of the crate.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in `stoke-data`, one variant per broken rule.
///
/// Rows and columns in the messages are 1-based, as a person counts lines in an editor.
#[derive(Debug)]
#[non_exhaustive]
pub enum DataError {
    /// Reading or writing a file failed (including gzip decoding and non-UTF-8 text).
    Io {
        /// The file that could not be read or written.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// The PNG encoder refused the image.
    Png {
        /// The file being written.
        path: PathBuf,
        /// The encoder's message.
        reason: String,
    },
    /// A digits file held no data rows.
    Empty,
    /// A digits row did not have 64 pixels and a label.
    ColumnCount {
        /// 1-based line number.
        row: usize,
        /// Number of comma-separated fields found.
        found: usize,
        /// Number expected (65).
        expected: usize,
    },
    /// A field was not a number.
    BadNumber {
        /// 1-based line number.
        row: usize,
        /// 1-based column.
        column: usize,
        /// The text that failed to parse.
        text: String,
    },
    /// A pixel was outside `0..=16` (the UCI digits count "on" bits in 4x4 blocks).
    PixelOutOfRange {
        /// 1-based line number.
        row: usize,
        /// 1-based column.
        column: usize,
        /// The value found.
        value: f64,
    },
    /// A label was not an integer in `0..=9`.
    LabelOutOfRange {
        /// 1-based line number.
        row: usize,
        /// The value found.
        value: f64,
    },
    /// A split's test fraction was not strictly between 0 and 1.
    TestFraction {
        /// The value given.
        value: f64,
    },
    /// A [`Digits`](crate::digits::Digits) had different numbers of images and labels.
    LengthMismatch {
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A toy distribution name was not recognised.
    UnknownToy {
        /// The name given.
        name: String,
    },
    /// A size argument that must be positive was zero.
    ZeroDimension {
        /// The argument's name.
        name: &'static str,
    },
    /// An image grid was asked for with no images.
    NoImages,
    /// An image in a grid had the wrong number of pixels.
    ImageLength {
        /// 0-based index of the image in the slice.
        index: usize,
        /// Its length.
        found: usize,
        /// `img_h * img_w`.
        expected: usize,
    },
    /// A tokenizer operation failed inside the `tokenizers` crate (training, encoding,
    /// decoding or serialising).
    Tokenizer {
        /// What was being done (`"train"`, `"encode"`, ...).
        operation: &'static str,
        /// The crate's message.
        reason: String,
    },
    /// A `tokenizer.json` file could not be parsed.
    TokenizerFile {
        /// The file read.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// A loaded tokenizer lacks a special token at its fixed id, or has it as an ordinary
    /// token (see [`Special`](crate::text::Special)).
    SpecialToken {
        /// The token's text, e.g. `<eos>`.
        token: &'static str,
        /// The id every Stoke tokenizer gives it.
        expected: u32,
        /// The id the tokenizer gives it, if any.
        found: Option<u32>,
    },
    /// A token id is not in the tokenizer's vocabulary.
    TokenId {
        /// The id given.
        id: u32,
        /// Number of ids in the vocabulary.
        vocab_size: usize,
    },
    /// A context length too short to hold `<bos>` and `<eos>`, or too long to allocate.
    Context {
        /// The length given.
        context: usize,
        /// The least length allowed (2).
        minimum: usize,
        /// The greatest length allowed.
        maximum: usize,
    },
    /// A list of texts (a corpus to train on, a batch to encode) was empty.
    NoTexts {
        /// What the texts were for.
        what: &'static str,
    },
    /// A byte-level BPE vocabulary too small to hold the special tokens and all 256 bytes.
    VocabSize {
        /// The size asked for.
        requested: usize,
        /// The least size allowed.
        minimum: usize,
    },
    /// A fraction of wrong captions outside `[0, 1]`.
    WrongFraction {
        /// The value given.
        value: f64,
    },
    /// A list of caption templates was empty.
    NoTemplates,
    /// A caption template is unusable.
    Template {
        /// The template.
        template: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A template is both a training and a held-out template.
    TemplateOverlap {
        /// The shared template.
        template: String,
    },
    /// A class index has no class name.
    ClassOutOfRange {
        /// The class index.
        class: usize,
        /// Number of class names.
        n_classes: usize,
    },
    /// Too few classes for what was asked (a wrong caption needs a second class).
    TooFewClasses {
        /// Number of classes given.
        n_classes: usize,
        /// The least number needed.
        minimum: usize,
    },
    /// An IDX file's magic number is not the expected one (another element type, another
    /// number of dimensions, or not IDX at all).
    IdxMagic {
        /// The file.
        path: PathBuf,
        /// The magic number expected.
        expected: u32,
        /// The magic number found.
        found: u32,
    },
    /// An IDX file is shorter or longer than its header says (a cut download, the wrong
    /// file).
    IdxLength {
        /// The file.
        path: PathBuf,
        /// Bytes the header calls for (after decompression).
        expected: u64,
        /// Bytes found.
        found: u64,
    },
    /// An IDX file's dimension sizes multiply past the address space.
    IdxOverflow {
        /// The file.
        path: PathBuf,
        /// The dimension sizes.
        dims: Vec<usize>,
    },
    /// An image file and its label file hold different numbers of items.
    IdxCountMismatch {
        /// The image file.
        images: PathBuf,
        /// The label file.
        labels: PathBuf,
        /// Number of images.
        n_images: usize,
        /// Number of labels.
        n_labels: usize,
    },
    /// A label in an IDX file is not a class.
    IdxLabel {
        /// The label file.
        path: PathBuf,
        /// 0-based index of the label.
        index: usize,
        /// The value found.
        value: u8,
    },
    /// An image file's images differ in size from the dataset's others.
    IdxImageSize {
        /// The image file.
        path: PathBuf,
        /// Its rows per image.
        rows: usize,
        /// Its columns per image.
        cols: usize,
        /// The rows expected.
        expected_rows: usize,
        /// The columns expected.
        expected_cols: usize,
    },
    /// A dataset directory lacks one of its files (in raw and `.gz` form alike).
    DatasetFile {
        /// The directory.
        dir: PathBuf,
        /// The file name, without `.gz`.
        name: &'static str,
    },
    /// No directory searched holds the four Fashion-MNIST files.
    FashionMnistNotFound {
        /// The directories searched, in order.
        searched: Vec<PathBuf>,
    },
    /// A shapes image side outside the range where every shape is drawable.
    ShapesSide {
        /// The side given.
        side: usize,
        /// The least side allowed.
        minimum: usize,
        /// The greatest side allowed.
        maximum: usize,
    },
    /// A pixel-noise amplitude outside `[0, maximum]`.
    Noise {
        /// The value given.
        value: f32,
        /// The largest amplitude allowed.
        maximum: f32,
    },
    /// A caption does not have the form the parser reads.
    Caption {
        /// The caption.
        caption: String,
        /// What is missing or unknown.
        reason: &'static str,
    },
    /// An image's size cannot be encoded as PNG (zero, or more than `u32::MAX` per side).
    ImageSize {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
    /// A text file holds no characters.
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// A text file is not valid UTF-8.
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Bytes of valid UTF-8 before the first invalid one (after decompression).
        valid_up_to: usize,
    },
    /// A corpus too short for its split to give every part a whole chunk.
    CorpusTooShort {
        /// The corpus's name.
        name: String,
        /// Its length in characters.
        n_chars: usize,
        /// The least length that the chunk size allows.
        minimum: usize,
    },
    /// A character is not in a [`CharTokenizer`](crate::chars::CharTokenizer)'s vocabulary.
    UnknownChar {
        /// The character.
        character: char,
        /// Its 0-based index among the text's characters (not bytes).
        position: usize,
    },
    /// A character vocabulary breaks a rule of the format.
    CharVocabulary {
        /// The rule broken.
        reason: &'static str,
    },
    /// A character tokenizer file could not be parsed, or breaks the format.
    CharTokenizerFile {
        /// The file read.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// A synthetic task has fewer distinct examples (or names) than were asked for.
    TaskSpace {
        /// The task.
        task: &'static str,
        /// Distinct items asked for.
        requested: usize,
        /// Distinct items that exist.
        available: u128,
    },
    /// An argument outside the range it must lie in.
    ArgumentRange {
        /// The argument's name.
        name: &'static str,
        /// The value given.
        value: usize,
        /// The least value allowed.
        minimum: usize,
        /// The greatest value allowed.
        maximum: usize,
    },
    /// A reversal task with no pair stated both ways (training would never show the
    /// reverse wording) or no pair stated one way only (nothing would test reversal).
    ReversalPairs {
        /// Number of (child, parent) pairs.
        n_pairs: usize,
        /// Pairs stated in both directions in training.
        n_both: usize,
    },
    /// A task prompt does not have the task's format.
    TaskPrompt {
        /// The prompt.
        prompt: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Png { path, reason } => {
                write!(f, "{}: PNG encoding failed: {reason}", path.display())
            }
            Self::Empty => write!(f, "the digits file has no data rows"),
            Self::ColumnCount { row, found, expected } => {
                write!(f, "row {row}: expected {expected} columns, found {found}")
            }
            Self::BadNumber { row, column, text } => {
                write!(f, "row {row}, column {column}: `{text}` is not a number")
            }
            Self::PixelOutOfRange { row, column, value } => {
                write!(f, "row {row}, column {column}: pixel {value} is outside 0..=16")
            }
            Self::LabelOutOfRange { row, value } => {
                write!(f, "row {row}: label {value} is not an integer in 0..=9")
            }
            Self::TestFraction { value } => {
                write!(f, "test fraction {value} is not strictly between 0 and 1")
            }
            Self::LengthMismatch { images, labels } => {
                write!(f, "{images} images but {labels} labels")
            }
            Self::UnknownToy { name } => write!(
                f,
                "unknown toy distribution `{name}`; expected one of: {}",
                crate::toy::Toy::ALL.map(|toy| toy.name()).join(", ")
            ),
            Self::ZeroDimension { name } => write!(f, "`{name}` must be positive"),
            Self::NoImages => write!(f, "an image grid needs at least one image"),
            Self::ImageLength { index, found, expected } => {
                write!(f, "image {index} has {found} pixels, expected {expected}")
            }
            Self::Tokenizer { operation, reason } => {
                write!(f, "tokenizer {operation} failed: {reason}")
            }
            Self::TokenizerFile { path, reason } => {
                write!(f, "{}: not a tokenizer.json: {reason}", path.display())
            }
            Self::SpecialToken { token, expected, found: Some(found) } => write!(
                f,
                "special token `{token}` has id {found}, expected {expected} (and marked special)"
            ),
            Self::SpecialToken { token, expected, found: None } => {
                write!(f, "special token `{token}` (id {expected}) is missing")
            }
            Self::TokenId { id, vocab_size } => {
                write!(f, "token id {id} is not in the vocabulary of {vocab_size} tokens")
            }
            Self::Context { context, minimum, maximum } => write!(
                f,
                "context {context} is outside {minimum}..={maximum} (<bos> and <eos> need {minimum})"
            ),
            Self::NoTexts { what } => write!(f, "no texts given for {what}"),
            Self::VocabSize { requested, minimum } => write!(
                f,
                "vocabulary size {requested} is below {minimum} (the special tokens and 256 bytes)"
            ),
            Self::WrongFraction { value } => {
                write!(f, "wrong-caption fraction {value} is outside [0, 1]")
            }
            Self::NoTemplates => write!(f, "no caption templates given"),
            Self::Template { template, reason } => {
                write!(f, "caption template `{template}`: {reason}")
            }
            Self::TemplateOverlap { template } => {
                write!(f, "caption template `{template}` is both a training and a held-out one")
            }
            Self::ClassOutOfRange { class, n_classes } => {
                write!(f, "class {class} has no name (there are {n_classes} class names)")
            }
            Self::TooFewClasses { n_classes, minimum } => {
                write!(f, "{n_classes} classes given, at least {minimum} needed")
            }
            Self::IdxMagic { path, expected, found } => write!(
                f,
                "{}: IDX magic number {found:#010x}, expected {expected:#010x}",
                path.display()
            ),
            Self::IdxLength { path, expected, found } => {
                let what = if found < expected { "short" } else { "long" };
                write!(
                    f,
                    "{}: {found} bytes, but the IDX header calls for {expected} (file too {what})",
                    path.display()
                )
            }
            Self::IdxOverflow { path, dims } => {
                write!(f, "{}: IDX dimensions {dims:?} overflow the address space", path.display())
            }
            Self::IdxCountMismatch { images, labels, n_images, n_labels } => write!(
                f,
                "{} holds {n_images} images but {} holds {n_labels} labels",
                images.display(),
                labels.display()
            ),
            Self::IdxLabel { path, index, value } => {
                write!(f, "{}: label {index} is {value}, not a class", path.display())
            }
            Self::IdxImageSize { path, rows, cols, expected_rows, expected_cols } => write!(
                f,
                "{}: {rows}x{cols} images, expected {expected_rows}x{expected_cols}",
                path.display()
            ),
            Self::DatasetFile { dir, name } => {
                write!(f, "{}: neither {name} nor {name}.gz is there", dir.display())
            }
            Self::FashionMnistNotFound { searched } => {
                let dirs: Vec<String> = searched.iter().map(|d| d.display().to_string()).collect();
                write!(
                    f,
                    "Fashion-MNIST not found in {}; run `cargo xtask data fashion-mnist` \
                     (it installs Debian's dataset-fashion-mnist) or set {} to a directory \
                     with the four IDX files",
                    dirs.join(", "),
                    crate::fashion_mnist::ENV_VAR
                )
            }
            Self::ShapesSide { side, minimum, maximum } => {
                write!(f, "image side {side} is outside {minimum}..={maximum}")
            }
            Self::Noise { value, maximum } => {
                write!(f, "noise amplitude {value} is outside [0, {maximum}]")
            }
            Self::Caption { caption, reason } => write!(f, "caption `{caption}`: {reason}"),
            Self::ImageSize { width, height } => write!(
                f,
                "a {width}x{height} image cannot be written as PNG (each side must be 1..=u32::MAX)"
            ),
            Self::EmptyFile { path } => write!(f, "{}: the file holds no text", path.display()),
            Self::NotUtf8 { path, valid_up_to } => write!(
                f,
                "{}: not UTF-8 text (the first invalid byte is at offset {valid_up_to})",
                path.display()
            ),
            Self::CorpusTooShort { name, n_chars, minimum } => write!(
                f,
                "corpus `{name}` has {n_chars} characters; its split needs at least {minimum} \
                 (a whole period of chunks)"
            ),
            Self::UnknownChar { character, position } => write!(
                f,
                "character {character:?} (U+{:04X}) at position {position} is not in the \
                 character vocabulary",
                u32::from(*character)
            ),
            Self::CharVocabulary { reason } => write!(f, "character vocabulary: {reason}"),
            Self::CharTokenizerFile { path, reason } => {
                write!(f, "{}: not a character tokenizer: {reason}", path.display())
            }
            Self::TaskSpace { task, requested, available } => write!(
                f,
                "task `{task}`: {requested} distinct items asked for, but only {available} exist"
            ),
            Self::ArgumentRange { name, value, minimum, maximum } => {
                write!(f, "`{name}` = {value} is outside {minimum}..={maximum}")
            }
            Self::ReversalPairs { n_pairs, n_both } => write!(
                f,
                "reversal task: `n_both` = {n_both} must be at least 1 (so training shows the \
                 reverse wording) and below `n_pairs` = {n_pairs} (so some facts are one-way)"
            ),
            Self::TaskPrompt { prompt, reason } => write!(f, "task prompt `{prompt}`: {reason}"),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
