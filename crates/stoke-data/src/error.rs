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
    /// An image's size cannot be encoded as PNG (zero, or more than `u32::MAX` per side).
    ImageSize {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
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
            Self::ImageSize { width, height } => write!(
                f,
                "a {width}x{height} image cannot be written as PNG (each side must be 1..=u32::MAX)"
            ),
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
