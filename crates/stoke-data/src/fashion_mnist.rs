//! Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 60,000 training and 10,000 test images of
//! clothing, 28x28 grey levels, 10 classes, read from its four IDX files.
//!
//! Nothing is downloaded at run time. Debian's `dataset-fashion-mnist` package (MIT)
//! installs the gzip files in [`DEBIAN_DIR`]; `cargo xtask data fashion-mnist` installs it
//! (or says how), and [`find`] looks in `$STOKE_FASHION_MNIST` ([`ENV_VAR`]) first, then
//! there. The class names make captions: [`templates`] has training and held-out prompt
//! templates for [`crate::captions`].

use std::path::{Path, PathBuf};

use crate::DataError;
use crate::captions::Templates;
use crate::digits::split_indices;
use crate::idx::{self, IdxImages};

/// Side of an image in pixels.
pub const SIDE: usize = 28;
/// Number of classes.
pub const N_CLASSES: usize = 10;
/// The class names, `CLASS_NAMES[label]` (the dataset's "T-shirt/top" is `"t-shirt"`, so
/// it reads in a caption).
pub const CLASS_NAMES: [&str; N_CLASSES] = [
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
];
/// The environment variable that names a directory holding the four files.
pub const ENV_VAR: &str = "STOKE_FASHION_MNIST";
/// Where Debian's `dataset-fashion-mnist` package installs the files (`dpkg -L`).
pub const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";
/// Training images, `[60000, 28, 28]`; the file may also end in `.gz`.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// Training labels, `[60000]`.
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// Test images, `[10000, 28, 28]`.
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// Test labels, `[10000]`.
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
/// The four file names, without `.gz`.
pub const FILES: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];
/// The largest raw pixel value.
const MAX_PIXEL: f32 = 255.0;

/// Six training and three held-out caption templates for the class names.
pub fn templates() -> Templates {
    Templates::new(
        &[
            "a photo of a {name}",
            "a black and white photo of a {name}",
            "a low resolution photo of a {name}",
            "a picture of the {name}",
            "an image of a {name}",
            "a cropped photo of the {name}",
        ],
        &["a blurry photo of a {name}", "a close-up photo of the {name}", "a grey {name}"],
    )
    .expect("the built-in Fashion-MNIST templates are valid and disjoint")
}

/// Images of one size with a label each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelledImages {
    /// Pixels, `[len, rows, cols]` row-major, `0..=255` with 0 the background.
    pub pixels: Vec<u8>,
    /// The class of each image, in `0..10`.
    pub labels: Vec<u8>,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
}

impl LabelledImages {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `index`, if there is one.
    ///
    /// # Shapes
    ///
    /// `[rows, cols]` row-major.
    pub fn image(&self, index: usize) -> Option<&[u8]> {
        let size = self.rows * self.cols;
        self.pixels.get(index * size..(index + 1) * size)
    }

    /// The images at `indices` scaled to `[0, 1]`, in one buffer for a tensor; indices
    /// past the end are skipped.
    ///
    /// # Shapes
    ///
    /// `[k, rows, cols]` row-major for the `k` valid indices.
    pub fn pixels_f32(&self, indices: &[usize]) -> Vec<f32> {
        let images = indices.iter().filter_map(|&i| self.image(i));
        images.flatten().map(|&p| f32::from(p) / MAX_PIXEL).collect()
    }

    /// The images and labels at `indices`, in that order; indices past the end are
    /// skipped.
    pub fn select(&self, indices: &[usize]) -> LabelledImages {
        let kept: Vec<usize> = indices.iter().copied().filter(|&i| i < self.len()).collect();
        let mut pixels = Vec::with_capacity(kept.len() * self.rows * self.cols);
        kept.iter().filter_map(|&i| self.image(i)).for_each(|image| pixels.extend(image));
        let labels = kept.iter().map(|&i| self.labels[i]).collect();
        LabelledImages { pixels, labels, rows: self.rows, cols: self.cols }
    }

    /// Splits into `(rest, held_out)`, holding out `fraction` of every class (the rule of
    /// [`split_indices`]): carve a validation set out of the training images.
    ///
    /// # Errors
    ///
    /// [`DataError::TestFraction`] unless `0 < fraction < 1`.
    pub fn split(
        &self,
        fraction: f64,
        seed: u64,
    ) -> Result<(LabelledImages, LabelledImages), DataError> {
        let (rest, held_out) = split_indices(&self.labels, fraction, seed)?;
        Ok((self.select(&rest), self.select(&held_out)))
    }
}

/// The whole dataset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FashionMnist {
    /// The 60,000 training images.
    pub train: LabelledImages,
    /// The 10,000 test images.
    pub test: LabelledImages,
}

impl FashionMnist {
    /// Reads the four files from `dir`, each either raw or `.gz`.
    ///
    /// # Errors
    ///
    /// [`DataError::DatasetFile`] if a file is in neither form; as [`idx::read_images`]
    /// and [`idx::read_labels`]; [`DataError::IdxCountMismatch`] if an image file and its
    /// label file differ in count; [`DataError::IdxLabel`] for a label outside `0..10`;
    /// [`DataError::IdxImageSize`] if the test images are not the training images' size.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, DataError> {
        let dir = dir.as_ref();
        let train = load_pair(&file_in(dir, TRAIN_IMAGES)?, &file_in(dir, TRAIN_LABELS)?)?;
        let test_images = file_in(dir, TEST_IMAGES)?;
        let test = load_pair(&test_images, &file_in(dir, TEST_LABELS)?)?;
        if (test.rows, test.cols) != (train.rows, train.cols) {
            return Err(DataError::IdxImageSize {
                path: test_images,
                rows: test.rows,
                cols: test.cols,
                expected_rows: train.rows,
                expected_cols: train.cols,
            });
        }
        Ok(Self { train, test })
    }

    /// Rows per image (28).
    pub fn rows(&self) -> usize {
        self.train.rows
    }

    /// Columns per image (28).
    pub fn cols(&self) -> usize {
        self.train.cols
    }
}

/// The directory that holds the four files: `$STOKE_FASHION_MNIST` if it has them, else
/// [`DEBIAN_DIR`].
///
/// # Errors
///
/// [`DataError::FashionMnistNotFound`], listing the directories searched, if neither has all
/// four files.
pub fn find() -> Result<PathBuf, DataError> {
    let from_env = std::env::var_os(ENV_VAR).map(PathBuf::from);
    let candidates: Vec<PathBuf> =
        from_env.into_iter().chain([PathBuf::from(DEBIAN_DIR)]).collect();
    find_in(&candidates)
}

/// The first of `candidates` that holds the four files (raw or `.gz`).
///
/// # Errors
///
/// [`DataError::FashionMnistNotFound`] if none does.
pub fn find_in(candidates: &[PathBuf]) -> Result<PathBuf, DataError> {
    let complete = |dir: &&PathBuf| FILES.iter().all(|name| file_in(dir, name).is_ok());
    candidates
        .iter()
        .find(complete)
        .cloned()
        .ok_or_else(|| DataError::FashionMnistNotFound { searched: candidates.to_vec() })
}

/// `dir/name`, or `dir/name.gz` if only that exists.
fn file_in(dir: &Path, name: &'static str) -> Result<PathBuf, DataError> {
    let raw = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    [raw, gz]
        .into_iter()
        .find(|path| path.is_file())
        .ok_or_else(|| DataError::DatasetFile { dir: dir.to_owned(), name })
}

/// Reads an image file and its label file and checks that they agree.
fn load_pair(images_path: &Path, labels_path: &Path) -> Result<LabelledImages, DataError> {
    let IdxImages { count, rows, cols, pixels } = idx::read_images(images_path)?;
    let labels = idx::read_labels(labels_path)?;
    if labels.len() != count {
        return Err(DataError::IdxCountMismatch {
            images: images_path.to_owned(),
            labels: labels_path.to_owned(),
            n_images: count,
            n_labels: labels.len(),
        });
    }
    if let Some(index) = labels.iter().position(|&label| usize::from(label) >= N_CLASSES) {
        return Err(DataError::IdxLabel {
            path: labels_path.to_owned(),
            index,
            value: labels[index],
        });
    }
    Ok(LabelledImages { pixels, labels, rows, cols })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;
    use crate::idx::encode;

    /// Writes a tiny dataset: `n_train` and `n_test` 3x2 images, labels cycling 0..10.
    fn write_tiny(dir: &Path, n_train: u32, n_test: u32, gzip: bool) {
        let files = [
            (TRAIN_IMAGES, images(n_train)),
            (TRAIN_LABELS, labels(n_train)),
            (TEST_IMAGES, images(n_test)),
            (TEST_LABELS, labels(n_test)),
        ];
        for (name, bytes) in files {
            let (path, bytes) = if gzip {
                let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
                encoder.write_all(&bytes).unwrap();
                (dir.join(format!("{name}.gz")), encoder.finish().unwrap())
            } else {
                (dir.join(name), bytes)
            };
            std::fs::write(path, bytes).unwrap();
        }
    }

    fn images(n: u32) -> Vec<u8> {
        let pixels: Vec<u8> = (0..n * 6).map(|i| (i % 256) as u8).collect();
        encode(&[n, 3, 2], &pixels)
    }

    fn labels(n: u32) -> Vec<u8> {
        encode(&[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>())
    }

    #[test]
    fn a_tiny_dataset_loads_raw_or_gzip() {
        for gzip in [false, true] {
            let dir = crate::test_dir(&format!("fashion_tiny_{gzip}"));
            write_tiny(&dir, 12, 5, gzip);
            let data = FashionMnist::load(&dir).unwrap();
            assert_eq!((data.train.len(), data.test.len()), (12, 5));
            assert_eq!((data.rows(), data.cols()), (3, 2));
            assert_eq!(data.train.labels[11], 1);
            assert_eq!(data.test.image(1).unwrap(), [6, 7, 8, 9, 10, 11]);
            assert_eq!(data.test.image(5), None);
            assert_eq!(data.test.pixels_f32(&[0, 9])[..2], [0.0, 1.0 / 255.0]);
            assert_eq!(find_in(&[dir.join("nothing"), dir.clone()]).unwrap(), dir);
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn mismatched_or_missing_files_are_errors_naming_them() {
        let dir = crate::test_dir("fashion_bad");
        write_tiny(&dir, 12, 5, false);
        std::fs::write(dir.join(TEST_LABELS), labels(4)).unwrap();
        let error = FashionMnist::load(&dir).unwrap_err();
        assert!(
            matches!(error, DataError::IdxCountMismatch { n_images: 5, n_labels: 4, ref labels, .. }
                if *labels == dir.join(TEST_LABELS)),
            "{error}"
        );
        std::fs::write(dir.join(TEST_LABELS), encode(&[5], &[0, 1, 2, 10, 3])).unwrap();
        assert!(matches!(
            FashionMnist::load(&dir),
            Err(DataError::IdxLabel { index: 3, value: 10, .. })
        ));
        std::fs::write(dir.join(TEST_LABELS), labels(5)).unwrap();
        std::fs::write(dir.join(TEST_IMAGES), encode(&[5, 2, 3], &[0; 30])).unwrap();
        assert!(matches!(FashionMnist::load(&dir), Err(DataError::IdxImageSize { rows: 2, .. })));
        std::fs::remove_file(dir.join(TRAIN_LABELS)).unwrap();
        assert!(matches!(
            FashionMnist::load(&dir),
            Err(DataError::DatasetFile { name: TRAIN_LABELS, .. })
        ));
        let searched = vec![dir.clone()];
        assert!(matches!(
            find_in(&searched),
            Err(DataError::FashionMnistNotFound { searched: ref s }) if *s == searched
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn split_and_select_keep_images_with_their_labels() {
        let dir = crate::test_dir("fashion_split");
        write_tiny(&dir, 40, 1, false);
        let train = FashionMnist::load(&dir).unwrap().train;
        let (rest, held_out) = train.split(0.25, 0).unwrap();
        assert_eq!((rest.len(), held_out.len()), (30, 10));
        // Image `i` starts with pixel `6 i`, and its label is `i % 10`.
        for part in [&rest, &held_out] {
            for k in 0..part.len() {
                let first = usize::from(part.image(k).unwrap()[0]);
                assert_eq!((first / 6 % 10) as u8, part.labels[k]);
            }
        }
        assert_eq!(train.select(&[3, 99]).len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn templates_are_disjoint_and_name_every_class() {
        let templates = templates();
        assert!(templates.train.len() >= 6 && templates.held_out.len() >= 3);
        let prompts = crate::captions::class_prompts(&templates.train, &CLASS_NAMES).unwrap();
        assert_eq!(prompts[9][0], "a photo of a ankle boot");
    }
}
