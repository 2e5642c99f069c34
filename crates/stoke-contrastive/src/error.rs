//! The one error type of `stoke-contrastive`: a variant per broken rule, naming the value.

use std::fmt;

use stoke_core::CoreError;
use stoke_nn::NnError;

/// Why a loss, model or evaluation refused its input.
#[derive(Debug, Clone, PartialEq)]
pub enum ContrastiveError {
    /// A rule of `stoke_core::validate` was broken (a zero size, a non-finite number).
    Core(CoreError),
    /// A tower refused its input (see [`NnError`]).
    Nn(NnError),
    /// Tensors that must agree in shape did not.
    Shape {
        /// What was given (`"text embeddings"`, `"targets"`).
        what: &'static str,
        /// The expected dimensions.
        expected: Vec<usize>,
        /// The dimensions given.
        got: Vec<usize>,
    },
    /// A class had no prompt template (zero-shot needs at least one text per class).
    NoTemplates {
        /// The class index.
        class: usize,
    },
    /// The exchange between ranks failed (a rank left, timed out, or sent a block of
    /// another size).
    Exchange(String),
    /// A sharded loss was given no shards, or image and text shards that do not pair up.
    Shards {
        /// Image shards given.
        images: usize,
        /// Text shards given.
        texts: usize,
    },
    /// Every hard-negative candidate of a row is of the row's own group.
    NoNegative {
        /// The row.
        row: usize,
    },
    /// A captioning prompt that leaves no room under the maximum length.
    PromptTooLong {
        /// Tokens of `[DEC]` and the prompt.
        prompt: usize,
        /// The maximum length.
        max_length: usize,
    },
}

impl fmt::Display for ContrastiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Core(e) => write!(f, "{e}"),
            Self::Nn(e) => write!(f, "{e}"),
            Self::Shape { what, expected, got } => {
                write!(f, "{what}: expected shape {expected:?}, got {got:?}")
            }
            Self::NoTemplates { class } => {
                write!(f, "class {class} has no prompt template: zero-shot needs at least one")
            }
            Self::Exchange(message) => write!(f, "exchanging text blocks between ranks: {message}"),
            Self::Shards { images, texts } => write!(
                f,
                "a sharded loss needs as many text shards as image shards (at least one), \
                 got {images} image and {texts} text shards"
            ),
            Self::NoNegative { row } => write!(
                f,
                "row {row} has no hard negative: every other pair in the batch is of its group \
                 (use a larger batch)"
            ),
            Self::PromptTooLong { prompt, max_length } => write!(
                f,
                "the prompt takes {prompt} tokens with [DEC], leaving no room under the maximum \
                 length {max_length}"
            ),
        }
    }
}

impl std::error::Error for ContrastiveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Core(e) => Some(e),
            Self::Nn(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CoreError> for ContrastiveError {
    fn from(e: CoreError) -> Self {
        Self::Core(e)
    }
}

impl From<NnError> for ContrastiveError {
    fn from(e: NnError) -> Self {
        Self::Nn(e)
    }
}

/// Result alias for `stoke-contrastive` (the second parameter lets code that Burn's
/// `Config` derive generates name other errors).
pub type Result<T, E = ContrastiveError> = std::result::Result<T, E>;

/// Checks that a tensor has the expected dimensions.
///
/// # Errors
/// [`ContrastiveError::Shape`].
pub(crate) fn check_shape(what: &'static str, expected: &[usize], got: &[usize]) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(ContrastiveError::Shape { what, expected: expected.to_vec(), got: got.to_vec() })
    }
}

/// Checks a pair of embedding batches: both `[batch, dim]` with the same sizes, neither
/// empty.
///
/// # Errors
/// [`ContrastiveError::Shape`]; a zero batch or dimension.
pub(crate) fn check_pair(image: &[usize], text: &[usize]) -> Result<[usize; 2]> {
    check_shape("text embeddings", image, text)?;
    stoke_core::validate::size("batch", image[0])?;
    stoke_core::validate::size("embedding dimension", image[1])?;
    Ok([image[0], image[1]])
}
