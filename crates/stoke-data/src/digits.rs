//! The 8x8 UCI handwritten digits (1797 images, 10 classes), embedded in the binary.
//!
//! The data is scikit-learn's `digits.csv.gz` (see `data/README.md` for provenance,
//! licence and checksum). Each row holds 64 pixel counts in `0..=16`, row-major from the
//! top-left, then the label. [`Digits`] stores pixels divided by 16, so they lie in
//! `[0, 1]` with 0 the background and 1 full ink.

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use crate::DataError;
use crate::splitmix::SplitMix64;

/// Side of a digit image in pixels.
pub const SIDE: usize = 8;
/// Pixels per image (`SIDE * SIDE`).
pub const PIXELS: usize = SIDE * SIDE;
/// Number of classes (digits 0 to 9).
pub const N_CLASSES: usize = 10;
/// The largest raw pixel value: each pixel counts the "on" bits of a 4x4 block.
pub const MAX_RAW_PIXEL: f64 = 16.0;
/// Fraction of each class held out by recipes for testing.
pub const DEFAULT_TEST_FRACTION: f64 = 0.2;
/// Fraction of each class the recipes hold out for validation (from what the test split
/// leaves), where hyper-parameters are chosen.
pub const DEFAULT_VALIDATION_FRACTION: f64 = 0.2;
/// Seed of the split used by recipes.
pub const DEFAULT_SPLIT_SEED: u64 = 0;

/// Columns per CSV row: 64 pixels and the label.
const COLUMNS: usize = PIXELS + 1;
/// The embedded copy of scikit-learn's `digits.csv.gz`.
const EMBEDDED: &[u8] = include_bytes!("../data/digits.csv.gz");
/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A set of labelled 8x8 digit images.
///
/// `images[i]` is row-major (`[row * 8 + col]`, row 0 at the top) with values in `[0, 1]`,
/// and `labels[i]` is its class in `0..=9`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Digits {
    /// Images, 64 pixels each, in `[0, 1]`.
    pub images: Vec<[f32; PIXELS]>,
    /// Class of each image, in `0..=9`.
    pub labels: Vec<u8>,
}

impl Digits {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// All pixels in one buffer, ready for a tensor.
    ///
    /// # Shapes
    ///
    /// Returns `[len, 64]` row-major, i.e. `len * 64` values.
    pub fn flat_pixels(&self) -> Vec<f32> {
        self.images.iter().flatten().copied().collect()
    }

    /// The images and labels at `indices`, in that order.
    ///
    /// Indices past the end are skipped.
    pub fn select(&self, indices: &[usize]) -> Digits {
        let pairs =
            indices.iter().filter_map(|&i| Some((*self.images.get(i)?, *self.labels.get(i)?)));
        let (images, labels) = pairs.unzip();
        Digits { images, labels }
    }

    /// Splits into `(train, test)`, holding out `test_fraction` of every class.
    ///
    /// See [`split_indices`] for the rule; both halves keep the original order.
    ///
    /// # Errors
    ///
    /// [`DataError::TestFraction`] unless `0 < test_fraction < 1`;
    /// [`DataError::LengthMismatch`] if `images` and `labels` differ in length.
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<(Digits, Digits), DataError> {
        if self.images.len() != self.labels.len() {
            return Err(DataError::LengthMismatch {
                images: self.images.len(),
                labels: self.labels.len(),
            });
        }
        let (train, test) = split_indices(&self.labels, test_fraction, seed)?;
        Ok((self.select(&train), self.select(&test)))
    }

    /// Splits into `(train, validation, test)`, each stratified by class: `test` is exactly
    /// [`Digits::split`]'s test half with the same seed (so a test set never changes), and
    /// `validation_fraction` of the whole set is then held out of the rest, class by class.
    ///
    /// # Errors
    ///
    /// [`DataError::TestFraction`] unless both fractions are positive and sum below 1; as
    /// [`Digits::split`].
    pub fn split3(
        &self,
        validation_fraction: f64,
        test_fraction: f64,
        seed: u64,
    ) -> Result<(Digits, Digits, Digits), DataError> {
        let total = validation_fraction + test_fraction;
        if !(validation_fraction > 0.0 && total < 1.0) {
            return Err(DataError::TestFraction { value: total });
        }
        let (rest, test) = self.split(test_fraction, seed)?;
        let (train, validation) =
            rest.split(validation_fraction / (1.0 - test_fraction), seed.wrapping_add(1))?;
        Ok((train, validation, test))
    }
}

/// Loads the embedded digits (1797 images).
///
/// # Errors
///
/// None in practice: the embedded file is checked by the tests. The `Result` keeps the
/// signature of [`load_from`].
pub fn load() -> Result<Digits, DataError> {
    parse_bytes(EMBEDDED, Path::new("<embedded digits.csv.gz>"))
}

/// Loads digits from a CSV file in the embedded format, gzip-compressed or not.
///
/// Each non-blank line holds 64 pixel values in `0..=16` and a label in `0..=9`,
/// separated by commas. Gzip is recognised by its magic bytes, not the file name.
///
/// # Errors
///
/// [`DataError::Io`] if the file cannot be read, decompressed, or is not UTF-8;
/// [`DataError::Empty`], [`DataError::ColumnCount`], [`DataError::BadNumber`],
/// [`DataError::PixelOutOfRange`] or [`DataError::LabelOutOfRange`], naming the first bad
/// row, if the content breaks the format.
pub fn load_from(path: impl AsRef<Path>) -> Result<Digits, DataError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| io_error(path, source))?;
    parse_bytes(&bytes, path)
}

/// Decompresses (if gzip) and parses the bytes of a digits file.
fn parse_bytes(mut bytes: &[u8], path: &Path) -> Result<Digits, DataError> {
    let mut text = String::new();
    let read = if bytes.starts_with(&GZIP_MAGIC) {
        GzDecoder::new(bytes).read_to_string(&mut text)
    } else {
        bytes.read_to_string(&mut text)
    };
    read.map_err(|source| io_error(path, source))?;
    parse_csv(&text)
}

fn io_error(path: &Path, source: std::io::Error) -> DataError {
    DataError::Io { path: path.to_owned(), source }
}

/// Parses CSV text; see [`load_from`] for the format.
///
/// # Errors
///
/// As [`load_from`], except [`DataError::Io`].
pub fn parse_csv(text: &str) -> Result<Digits, DataError> {
    let mut digits = Digits::default();
    let rows = text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty());
    for (line_idx, line) in rows {
        let (image, label) = parse_row(line, line_idx + 1)?;
        digits.images.push(image);
        digits.labels.push(label);
    }
    if digits.is_empty() {
        return Err(DataError::Empty);
    }
    Ok(digits)
}

/// Parses one line (1-based number `row`) into pixels scaled to `[0, 1]` and a label.
fn parse_row(line: &str, row: usize) -> Result<([f32; PIXELS], u8), DataError> {
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() != COLUMNS {
        return Err(DataError::ColumnCount { row, found: fields.len(), expected: COLUMNS });
    }
    let mut image = [0.0; PIXELS];
    for (column_idx, (pixel, text)) in image.iter_mut().zip(&fields).enumerate() {
        let column = column_idx + 1;
        let value = parse_number(text, row, column)?;
        // `contains` also rejects NaN.
        if !(0.0..=MAX_RAW_PIXEL).contains(&value) {
            return Err(DataError::PixelOutOfRange { row, column, value });
        }
        *pixel = (value / MAX_RAW_PIXEL) as f32;
    }
    let label = parse_number(fields[PIXELS], row, COLUMNS)?;
    Ok((image, label_from(label, row)?))
}

/// The label as a class, if it is an integer in `0..=9` (scikit-learn stores it as float).
fn label_from(value: f64, row: usize) -> Result<u8, DataError> {
    let valid = value.fract() == 0.0 && (0.0..N_CLASSES as f64).contains(&value);
    if !valid {
        return Err(DataError::LabelOutOfRange { row, value });
    }
    Ok(value as u8)
}

fn parse_number(text: &str, row: usize, column: usize) -> Result<f64, DataError> {
    let trimmed = text.trim();
    trimmed.parse().map_err(|_| DataError::BadNumber { row, column, text: trimmed.to_owned() })
}

/// Indices of a stratified split into `(train, test)`, each sorted ascending.
///
/// The test set has `round(test_fraction * n)` indices. Class `c` with `n_c` members
/// contributes `floor(test_fraction * n_c)` of them, and the remaining few go one each to
/// the classes with the largest fractional parts (ties to the smaller label), so every
/// class is represented in proportion. Which members of a class are held out is a
/// Fisher-Yates shuffle driven by SplitMix64 seeded with `seed`: the split depends only
/// on `labels`, `test_fraction` and `seed`, never on the `rand` crate's version.
///
/// # Errors
///
/// [`DataError::TestFraction`] unless `0 < test_fraction < 1`.
pub fn split_indices(
    labels: &[u8],
    test_fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    // Written as a positive test so that NaN is rejected too.
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(DataError::TestFraction { value: test_fraction });
    }
    let members = class_members(labels);
    let quotas = test_quotas(&members, test_fraction, labels.len());
    let mut rng = SplitMix64(seed);
    let mut is_test = vec![false; labels.len()];
    for (mut class, quota) in members.into_iter().zip(quotas) {
        rng.shuffle(&mut class);
        class[..quota].iter().for_each(|&i| is_test[i] = true);
    }
    Ok((0..labels.len()).partition(|&i| !is_test[i]))
}

/// Indices of each label value, `members[label]`, ascending.
fn class_members(labels: &[u8]) -> Vec<Vec<usize>> {
    let mut members = vec![Vec::new(); usize::from(u8::MAX) + 1];
    for (i, &label) in labels.iter().enumerate() {
        members[usize::from(label)].push(i);
    }
    members
}

/// Test-set size per class by the largest-remainder rule (see [`split_indices`]).
fn test_quotas(members: &[Vec<usize>], test_fraction: f64, n: usize) -> Vec<usize> {
    let ideal: Vec<f64> = members.iter().map(|m| m.len() as f64 * test_fraction).collect();
    let mut quotas: Vec<usize> = ideal.iter().map(|q| q.floor() as usize).collect();
    let target = (n as f64 * test_fraction).round() as usize;
    let mut by_remainder: Vec<usize> = (0..members.len()).collect();
    // Stable sort: ties keep the smaller label first.
    by_remainder.sort_by(|&a, &b| ideal[b].fract().total_cmp(&ideal[a].fract()));
    let missing = target.saturating_sub(quotas.iter().sum());
    // There are at most as many missing slots as classes with a fractional part, and
    // each such class has a member left over, so `quota <= len` holds.
    for &class in by_remainder.iter().take(missing) {
        quotas[class] += 1;
    }
    // Rounding in `len * test_fraction` for a fraction within an ulp of 1 could ask for
    // more members than a class has; the clamp keeps the slice in bounds.
    quotas.iter().zip(members).map(|(&quota, m)| quota.min(m.len())).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::strategies::{labels, test_fraction};

    #[test]
    fn embedded_digits_have_the_documented_shape() {
        let digits = load().unwrap();
        assert_eq!(digits.len(), 1797);
        assert_eq!(digits.labels.len(), 1797);
        let mut counts = [0usize; N_CLASSES];
        digits.labels.iter().for_each(|&l| counts[usize::from(l)] += 1);
        // scikit-learn: np.bincount(load_digits().target)
        assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
        assert!(digits.images.iter().flatten().all(|p| (0.0..=1.0).contains(p)));
        assert!(digits.images.iter().flatten().any(|&p| p == 1.0));
    }

    /// First image of scikit-learn's `load_digits()` (a zero):
    ///
    /// ```python
    /// from sklearn.datasets import load_digits
    /// d = load_digits(); print(d.images[0][0], d.target[0])
    /// # [ 0.  0.  5. 13.  9.  1.  0.  0.] 0
    /// ```
    #[test]
    fn first_row_matches_scikit_learn() {
        let digits = load().unwrap();
        let expected = [0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0].map(|v: f32| v / 16.0);
        assert_eq!(digits.images[0][..8], expected);
        assert_eq!(digits.labels[0], 0);
    }

    #[test]
    fn default_split_is_stratified() {
        let digits = load().unwrap();
        let (train, test) = digits.split(DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED).unwrap();
        assert_eq!(test.len(), 359); // round(0.2 * 1797)
        assert_eq!(train.len() + test.len(), 1797);
        for class in 0..N_CLASSES as u8 {
            let n_test = test.labels.iter().filter(|&&l| l == class).count();
            assert!((34..=37).contains(&n_test), "class {class}: {n_test}");
        }
    }

    fn row_with(label: &str) -> String {
        let mut fields = vec!["3"; PIXELS];
        fields.push(label);
        fields.join(",")
    }

    #[test]
    fn corrupt_rows_name_the_broken_rule() {
        let good = row_with("7");
        assert!(matches!(parse_csv(""), Err(DataError::Empty)));
        assert!(matches!(parse_csv("\n \n"), Err(DataError::Empty)));
        let short = format!("{good}\n1,2,3\n");
        assert!(matches!(
            parse_csv(&short),
            Err(DataError::ColumnCount { row: 2, found: 3, expected: 65 })
        ));
        let text = format!("{good}\n\n{}", row_with("x"));
        assert!(matches!(
            parse_csv(&text),
            Err(DataError::BadNumber { row: 3, column: 65, ref text }) if text == "x"
        ));
        assert!(matches!(
            parse_csv(&row_with("10")),
            Err(DataError::LabelOutOfRange { row: 1, value: 10.0 })
        ));
        assert!(matches!(
            parse_csv(&row_with("2.5")),
            Err(DataError::LabelOutOfRange { row: 1, .. })
        ));
        let bright = good.replacen('3', "17", 1);
        assert!(matches!(
            parse_csv(&bright),
            Err(DataError::PixelOutOfRange { row: 1, column: 1, value: 17.0 })
        ));
        let nan = good.replacen('3', "NaN", 1);
        assert!(matches!(parse_csv(&nan), Err(DataError::PixelOutOfRange { column: 1, .. })));
    }

    #[test]
    fn load_from_reads_plain_and_gzip_and_reports_bad_files() {
        let dir = crate::test_dir("digits_load_from");
        let plain = dir.join("digits.csv");
        std::fs::write(&plain, format!("{}\n{}\n", row_with("1"), row_with("2"))).unwrap();
        assert_eq!(load_from(&plain).unwrap().labels, vec![1, 2]);

        let gz = dir.join("copy.gz");
        std::fs::write(&gz, EMBEDDED).unwrap();
        assert_eq!(load_from(&gz).unwrap(), load().unwrap());

        let corrupt = dir.join("corrupt.gz");
        std::fs::write(&corrupt, &EMBEDDED[..EMBEDDED.len() / 2]).unwrap();
        assert!(matches!(load_from(&corrupt), Err(DataError::Io { .. })));

        let missing = dir.join("missing.csv");
        assert!(
            matches!(load_from(&missing), Err(DataError::Io { ref path, .. }) if *path == missing)
        );
    }

    #[test]
    fn split3_is_disjoint_stratified_and_keeps_the_test_half() {
        let digits = load().unwrap();
        let (train, validation, test) = digits.split3(0.2, 0.2, 0).unwrap();
        assert_eq!(train.len() + validation.len() + test.len(), digits.len());
        assert_eq!(test, digits.split(0.2, 0).unwrap().1, "the test split is split()'s");
        let key = |d: &Digits| -> Vec<[u32; PIXELS]> {
            d.images.iter().map(|im| im.map(|p| p.to_bits())).collect()
        };
        let (t, v, h) = (key(&train), key(&validation), key(&test));
        // Every image of the data is in exactly one part (the digits hold a few exact
        // duplicates, so count multiplicities).
        let mut all = key(&digits);
        let mut parts: Vec<_> = t.iter().chain(&v).chain(&h).copied().collect();
        all.sort_unstable();
        parts.sort_unstable();
        assert_eq!(all, parts);
        for class in 0..10u8 {
            let count = |d: &Digits| d.labels.iter().filter(|&&l| l == class).count() as f64;
            let share = count(&validation) / count(&digits);
            assert!((share - 0.2).abs() < 0.02, "class {class}: validation share {share}");
        }
        assert!(digits.split3(0.5, 0.5, 0).is_err() && digits.split3(0.0, 0.2, 0).is_err());
    }

    #[test]
    fn split_rejects_bad_fractions_and_lengths() {
        let digits = load().unwrap();
        for bad in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
            assert!(matches!(digits.split(bad, 0), Err(DataError::TestFraction { .. })));
        }
        let broken = Digits { images: vec![[0.0; PIXELS]], labels: vec![] };
        assert!(matches!(broken.split(0.5, 0), Err(DataError::LengthMismatch { .. })));
    }

    proptest! {
        #[test]
        fn split_is_a_partition_of_the_indices(labels in labels(), fraction in test_fraction(), seed: u64) {
            let (train, test) = split_indices(&labels, fraction, seed).unwrap();
            let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..labels.len()).collect::<Vec<_>>());
            prop_assert_eq!(test.len(), (labels.len() as f64 * fraction).round() as usize);
        }

        #[test]
        fn split_is_deterministic_per_seed(labels in labels(), fraction in test_fraction(), seed: u64) {
            prop_assert_eq!(
                split_indices(&labels, fraction, seed).unwrap(),
                split_indices(&labels, fraction, seed).unwrap()
            );
        }

        #[test]
        fn split_holds_out_each_class_in_proportion(labels in labels(), fraction in test_fraction(), seed: u64) {
            let (_, test) = split_indices(&labels, fraction, seed).unwrap();
            for class in 0..=u8::MAX {
                let n_class = labels.iter().filter(|&&l| l == class).count() as f64;
                let n_test = test.iter().filter(|&&i| labels[i] == class).count() as f64;
                prop_assert!((n_test - fraction * n_class).abs() < 1.0);
            }
        }
    }
}
