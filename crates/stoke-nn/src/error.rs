//! The one error type of `stoke-nn`: a variant per broken rule, each naming the bad value.

use std::fmt;

use stoke_core::CoreError;

/// Why a config refused to build a network, or a network refused its input.
#[derive(Debug, Clone, PartialEq)]
pub enum NnError {
    /// A rule of `stoke_core::validate` was broken (a zero size, a size that must divide
    /// another, a non-positive or non-finite number, a length mismatch).
    Core(CoreError),
    /// An input tensor had the wrong shape.
    Shape {
        /// What was given (`"hidden"`, `"cond"`, `"tokens"`).
        what: &'static str,
        /// The expected dimensions.
        expected: Vec<usize>,
        /// The dimensions given.
        got: Vec<usize>,
    },
    /// A sequence was longer than the rotary table it is positioned with.
    SequenceTooLong {
        /// The sequence length given (positions `start..start + len`, counted from 0).
        len: usize,
        /// The longest sequence the table covers (`RotaryConfig::max_len`).
        max: usize,
    },
    /// A token id lay outside the vocabulary.
    TokenOutOfRange {
        /// The id given.
        token: i64,
        /// The vocabulary size; valid ids are `0..vocab_size`.
        vocab_size: usize,
    },
    /// Rotary positions rotate pairs of features, so the head width must be even.
    OddRotaryWidth {
        /// The head width, `d_model / n_heads`.
        d_head: usize,
    },
    /// A block was given a conditioning vector it does not take, or none when it needs one.
    Conditioning {
        /// Whether the block was built with `conditioning: Some(_)`.
        expected: bool,
    },
    /// A block was given memory tokens it has no cross-attention for, or none when it has.
    Memory {
        /// Whether the block was built with `cross_attention: Some(_)`.
        expected: bool,
    },
    /// A kept-patch index lay outside the image's patches or was listed twice in a row.
    PatchIndex {
        /// The batch row.
        row: usize,
        /// The index given.
        index: usize,
        /// Patches per image; valid indices are `0..n_patches`, each at most once per row.
        n_patches: usize,
    },
    /// A key-value cache was used with a causal model (its cached calls would let a query
    /// see later tokens of its own call), or with another batch size than it holds.
    Cache {
        /// Why.
        reason: &'static str,
    },
    /// A row of a padding mask had a valid length outside `1..=seq`.
    ValidLength {
        /// The batch row.
        row: usize,
        /// The valid length given.
        valid: usize,
        /// The sequence length.
        seq: usize,
    },
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Core(e) => write!(f, "{e}"),
            Self::Shape { what, expected, got } => {
                write!(f, "{what}: expected shape {expected:?}, got {got:?}")
            }
            Self::SequenceTooLong { len, max } => {
                write!(f, "sequence of {len} tokens exceeds the rotary table of {max} positions")
            }
            Self::TokenOutOfRange { token, vocab_size } => {
                write!(f, "token id {token} lies outside the vocabulary 0..{vocab_size}")
            }
            Self::OddRotaryWidth { d_head } => {
                write!(f, "rotary positions need an even head width, got d_head = {d_head}")
            }
            Self::Conditioning { expected: true } => {
                write!(f, "this block needs a conditioning vector, got none")
            }
            Self::Conditioning { expected: false } => {
                write!(f, "this block takes no conditioning vector, got one")
            }
            Self::Memory { expected: true } => {
                write!(f, "this block cross-attends: call forward_with_memory with memory tokens")
            }
            Self::Memory { expected: false } => {
                write!(f, "this block has no cross-attention, got memory tokens")
            }
            Self::Cache { reason } => write!(f, "key-value cache: {reason}"),
            Self::PatchIndex { row, index, n_patches } => {
                write!(f, "row {row}: kept patch {index} is out of 0..{n_patches} or listed twice")
            }
            Self::ValidLength { row, valid, seq } => {
                write!(f, "row {row} has valid length {valid}, which must lie in 1..={seq}")
            }
        }
    }
}

impl std::error::Error for NnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Core(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CoreError> for NnError {
    fn from(e: CoreError) -> Self {
        Self::Core(e)
    }
}

/// Result alias for `stoke-nn` (the second parameter lets code that Burn's `Config` derive
/// generates name other errors).
pub type Result<T, E = NnError> = std::result::Result<T, E>;

/// Checks that a tensor has the expected dimensions.
///
/// # Errors
/// [`NnError::Shape`].
pub(crate) fn check_shape(what: &'static str, expected: &[usize], got: &[usize]) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(NnError::Shape { what, expected: expected.to_vec(), got: got.to_vec() })
    }
}
