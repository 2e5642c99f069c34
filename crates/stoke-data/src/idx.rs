//! The IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed, read with every
//! header field checked.
//!
//! An IDX file is a big-endian header, then the data:
//!
//! | bytes | content |
//! |---|---|
//! | 0..4 | magic: `0x00 0x00`, the element type (`0x08` = `u8`), the number of dimensions |
//! | 4..4+4d | each dimension's size, `u32` big-endian |
//! | then | the elements, row-major |
//!
//! Images are `0x00000803` (`[count, rows, cols]`) and labels `0x00000801` (`[count]`).
//! The file must be exactly as long as its header says: a short file (an interrupted
//! download) and trailing bytes (the wrong file) are both errors, naming the path. Gzip is
//! recognised by its magic bytes `1f 8b`, not the file name.

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use crate::DataError;

/// Magic number of a `u8` image file, `[count, rows, cols]`.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of a `u8` label file, `[count]`.
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Bytes of the magic number, and of each dimension size.
const WORD: usize = 4;

/// A stack of `u8` images read from an IDX file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// Pixels, `[count, rows, cols]` row-major, 0 the background.
    pub pixels: Vec<u8>,
}

/// Reads an image file (`0x00000803`).
///
/// # Errors
///
/// [`DataError::Io`] if the file cannot be read or decompressed; as [`parse_images`].
pub fn read_images(path: impl AsRef<Path>) -> Result<IdxImages, DataError> {
    let path = path.as_ref();
    parse_images(&read_bytes(path)?, path)
}

/// Reads a label file (`0x00000801`).
///
/// # Errors
///
/// [`DataError::Io`] if the file cannot be read or decompressed; as [`parse_labels`].
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<u8>, DataError> {
    let path = path.as_ref();
    parse_labels(&read_bytes(path)?, path)
}

/// Parses the (decompressed) bytes of an image file; `path` names it in errors.
///
/// # Errors
///
/// [`DataError::IdxMagic`] for another magic number; [`DataError::IdxLength`] if the file
/// is shorter or longer than its header says; [`DataError::IdxOverflow`] if the sizes'
/// product does not fit in memory addresses.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<IdxImages, DataError> {
    let (dims, data) = parse(bytes, path, IMAGES_MAGIC)?;
    // The magic number fixes three dimensions, so the `else` is never taken.
    let [count, rows, cols] = dims[..] else {
        return Err(DataError::IdxMagic {
            path: path.to_owned(),
            expected: IMAGES_MAGIC,
            found: 0,
        });
    };
    Ok(IdxImages { count, rows, cols, pixels: data.to_vec() })
}

/// Parses the (decompressed) bytes of a label file; `path` names it in errors.
///
/// # Errors
///
/// As [`parse_images`].
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    let (_, data) = parse(bytes, path, LABELS_MAGIC)?;
    Ok(data.to_vec())
}

/// The file's bytes, decompressed if they are gzip.
fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io { path: path.to_owned(), source };
    let bytes = std::fs::read(path).map_err(io)?;
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes);
    }
    let mut decoded = Vec::new();
    GzDecoder::new(&bytes[..]).read_to_end(&mut decoded).map_err(io)?;
    Ok(decoded)
}

/// Checks the header against `magic` and the length, and returns the dimension sizes and
/// the data.
fn parse<'a>(
    bytes: &'a [u8],
    path: &Path,
    magic: u32,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let too_short = |expected| DataError::IdxLength {
        path: path.to_owned(),
        expected,
        found: bytes.len() as u64,
    };
    let found = read_u32(bytes, 0).ok_or_else(|| too_short(WORD as u64))?;
    if found != magic {
        return Err(DataError::IdxMagic { path: path.to_owned(), expected: magic, found });
    }
    // The low byte of the magic number is the number of dimensions.
    let n_dims = (magic & 0xff) as usize;
    let header = WORD * (1 + n_dims);
    let dims: Vec<usize> = (1..=n_dims)
        .map(|d| read_u32(bytes, d * WORD).map(|size| size as usize))
        .collect::<Option<_>>()
        .ok_or_else(|| too_short(header as u64))?;
    let elements = dims.iter().try_fold(1usize, |product, &size| product.checked_mul(size));
    let expected = elements.and_then(|n| n.checked_add(header));
    let Some(expected) = expected else {
        return Err(DataError::IdxOverflow { path: path.to_owned(), dims });
    };
    if bytes.len() != expected {
        return Err(DataError::IdxLength {
            path: path.to_owned(),
            expected: expected as u64,
            found: bytes.len() as u64,
        });
    }
    Ok((dims, &bytes[header..]))
}

/// The big-endian `u32` at `offset`, if the bytes reach that far.
fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let word = bytes.get(offset..offset + WORD)?;
    Some(u32::from_be_bytes(word.try_into().ok()?))
}

/// The bytes of an IDX file of `u8` elements with dimension sizes `dims`.
///
/// The writer of the format, for tests and for small files of your own.
pub fn encode(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
    dims.iter().for_each(|size| bytes.extend(size.to_be_bytes()));
    bytes.extend(data);
    bytes
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// Three 2x4 images, pixel `i` of the file holding the value `i`.
    fn images_file() -> Vec<u8> {
        encode(&[3, 2, 4], &(0..24).collect::<Vec<u8>>())
    }

    #[test]
    fn raw_and_gzip_files_read_the_same() {
        let dir = crate::test_dir("idx_good");
        let raw = dir.join("images-idx3-ubyte");
        let gz = dir.join("images-idx3-ubyte.gz");
        std::fs::write(&raw, images_file()).unwrap();
        std::fs::write(&gz, gzip(&images_file())).unwrap();
        let images = read_images(&raw).unwrap();
        assert_eq!((images.count, images.rows, images.cols), (3, 2, 4));
        assert_eq!(images.pixels, (0..24).collect::<Vec<u8>>());
        assert_eq!(read_images(&gz).unwrap(), images);

        let labels = dir.join("labels.gz");
        std::fs::write(&labels, gzip(&encode(&[3], &[7, 0, 9]))).unwrap();
        assert_eq!(read_labels(&labels).unwrap(), vec![7, 0, 9]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wrong_magic_is_an_error_naming_both_numbers() {
        let path = Path::new("labels-as-images");
        let labels = encode(&[3], &[1, 2, 3]);
        assert!(matches!(
            parse_images(&labels, path),
            Err(DataError::IdxMagic { expected: IMAGES_MAGIC, found: LABELS_MAGIC, .. })
        ));
        let mut signed = images_file();
        signed[2] = 0x09; // i8 elements
        let error = parse_images(&signed, path).unwrap_err();
        assert!(matches!(error, DataError::IdxMagic { found: 0x0903, .. }));
        assert!(error.to_string().contains("labels-as-images"), "{error}");
    }

    #[test]
    fn short_and_long_files_are_errors_with_both_lengths() {
        let path = Path::new("f");
        let full = images_file();
        for cut in [0, 3, 9, 15, full.len() - 1] {
            assert!(
                matches!(
                    parse_images(&full[..cut], path),
                    Err(DataError::IdxLength { found, .. }) if found == cut as u64
                ),
                "{cut} bytes"
            );
        }
        let mut long = full.clone();
        long.push(0);
        assert!(matches!(
            parse_images(&long, path),
            Err(DataError::IdxLength { expected: 40, found: 41, .. })
        ));
        let overflow = encode(&[u32::MAX, u32::MAX, u32::MAX], &[]);
        if usize::BITS == 64 {
            assert!(matches!(parse_images(&overflow, path), Err(DataError::IdxOverflow { .. })));
        }
        assert!(matches!(
            parse_labels(&encode(&[4], &[1, 2]), path),
            Err(DataError::IdxLength { .. })
        ));
    }

    #[test]
    fn a_corrupt_gzip_file_is_an_io_error_naming_it() {
        let dir = crate::test_dir("idx_corrupt");
        let path = dir.join("images.gz");
        let gz = gzip(&images_file());
        std::fs::write(&path, &gz[..gz.len() / 2]).unwrap();
        assert!(matches!(read_images(&path), Err(DataError::Io { path: ref p, .. }) if *p == path));
        let missing = dir.join("missing");
        assert!(
            matches!(read_labels(&missing), Err(DataError::Io { path: ref p, .. }) if *p == missing)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
