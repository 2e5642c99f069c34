//! RGB images in memory, image grids, and atomic PNG writing.

use std::path::Path;

use crate::DataError;

/// One RGB pixel, 8 bits per channel.
pub type Rgb = [u8; 3];

/// Colour of a NaN pixel in [`grid`]: red, so that bugs show.
pub const NAN_COLOR: Rgb = [255, 0, 0];
/// Colour of the separator lines and empty cells in [`grid`].
pub const SEPARATOR_COLOR: Rgb = [96, 96, 96];

/// An 8-bit RGB image, row-major with row 0 at the top.
///
/// The pixel buffer always holds `width * height` pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb8Image {
    width: usize,
    height: usize,
    pixels: Vec<Rgb>,
}

impl Rgb8Image {
    /// A `width x height` image filled with `background`.
    ///
    /// Zero sizes are allowed (an empty image), but cannot be saved as PNG.
    ///
    /// # Panics
    ///
    /// If `width * height` pixels cannot be allocated (as `vec!` does).
    pub fn new(width: usize, height: usize, background: Rgb) -> Self {
        Self { width, height, pixels: vec![background; width * height] }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// All pixels, row-major (`[y * width + x]`).
    pub fn pixels(&self) -> &[Rgb] {
        &self.pixels
    }

    /// The pixel at column `x`, row `y`, or `None` outside the image.
    pub fn get(&self, x: usize, y: usize) -> Option<Rgb> {
        (x < self.width && y < self.height).then(|| self.pixels[y * self.width + x])
    }

    /// Sets the pixel at column `x`, row `y`; coordinates outside the image are ignored,
    /// so drawing code can clip by simply drawing.
    pub fn put(&mut self, x: usize, y: usize, color: Rgb) {
        if x < self.width && y < self.height {
            self.pixels[y * self.width + x] = color;
        }
    }

    /// [`put`](Self::put) with signed coordinates (negative ones are outside).
    pub(crate) fn put_signed(&mut self, x: i64, y: i64, color: Rgb) {
        if let (Ok(x), Ok(y)) = (usize::try_from(x), usize::try_from(y)) {
            self.put(x, y, color);
        }
    }

    /// Fills the rectangle with top-left corner `(x, y)`, clipped to the image.
    pub fn fill_rect(&mut self, x: usize, y: usize, width: usize, height: usize, color: Rgb) {
        let x_end = x.saturating_add(width).min(self.width);
        let y_end = y.saturating_add(height).min(self.height);
        for row in y.min(y_end)..y_end {
            self.pixels[row * self.width + x.min(x_end)..row * self.width + x_end].fill(color);
        }
    }

    /// Copies `other` with its top-left corner at `(x, y)`, clipped to this image.
    pub fn blit(&mut self, other: &Rgb8Image, x: usize, y: usize) {
        for (row, line) in other.pixels.chunks_exact(other.width.max(1)).enumerate() {
            for (col, &color) in line.iter().enumerate() {
                self.put(x.saturating_add(col), y.saturating_add(row), color);
            }
        }
    }

    /// Draws a straight line between two points (Bresenham), clipped to the image.
    pub(crate) fn line(&mut self, from: [i64; 2], to: [i64; 2], color: Rgb) {
        let [mut x, mut y] = from;
        let (dx, dy) = ((to[0] - x).abs(), -(to[1] - y).abs());
        let (step_x, step_y) = ((to[0] - x).signum(), (to[1] - y).signum());
        let mut error = dx + dy;
        loop {
            self.put_signed(x, y, color);
            if [x, y] == to {
                return;
            }
            let doubled = 2 * error;
            if doubled >= dy {
                error += dy;
                x += step_x;
            }
            if doubled <= dx {
                error += dx;
                y += step_y;
            }
        }
    }

    /// Writes the image as an 8-bit RGB PNG.
    ///
    /// The bytes go to a temporary file in the same directory, which is then renamed onto
    /// `path`: a killed run never leaves a half-written PNG behind.
    ///
    /// # Errors
    ///
    /// [`DataError::ImageSize`] for an empty image or a side over `u32::MAX`;
    /// [`DataError::Io`] or [`DataError::Png`] if writing fails.
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<(), DataError> {
        let path = path.as_ref();
        let size_error = || DataError::ImageSize { width: self.width, height: self.height };
        let width = u32::try_from(self.width).map_err(|_| size_error())?;
        let height = u32::try_from(self.height).map_err(|_| size_error())?;
        if width == 0 || height == 0 {
            return Err(size_error());
        }
        crate::atomic::write_with(path, |out| self.write_png(out, path, width, height))
    }

    /// Encodes the image as PNG into `out` (`path` names it in errors).
    fn write_png(
        &self,
        out: &mut dyn std::io::Write,
        path: &Path,
        width: u32,
        height: u32,
    ) -> Result<(), DataError> {
        let png_error =
            |e: png::EncodingError| DataError::Png { path: path.to_owned(), reason: e.to_string() };
        let mut encoder = png::Encoder::new(out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(png_error)?;
        writer.write_image_data(self.pixels.as_flattened()).map_err(png_error)?;
        writer.finish().map_err(png_error)
    }
}

/// The colour of a grayscale value: clamped to `[0, 1]`, NaN drawn as [`NAN_COLOR`].
pub fn gray(value: f32) -> Rgb {
    if value.is_nan() {
        return NAN_COLOR;
    }
    let level = (value.clamp(0.0, 1.0) * 255.0).round() as u8;
    [level; 3]
}

/// Tiles grayscale images into a grid.
///
/// Each image is `img_h x img_w`, row-major, with 0 black and 1 white (values are clamped;
/// NaN is drawn red). Every pixel becomes a `scale x scale` block, tiles are framed by
/// 1-pixel [`SEPARATOR_COLOR`] lines, and cells past the last image stay that colour.
/// With `cols = min(n_cols, images.len())` and `rows = ceil(images.len() / n_cols)`:
///
/// ```text
/// width  = cols * (img_w * scale + 1) + 1
/// height = rows * (img_h * scale + 1) + 1
/// ```
///
/// # Errors
///
/// [`DataError::ZeroDimension`] if `img_h`, `img_w`, `n_cols` or `scale` is zero;
/// [`DataError::NoImages`] if `images` is empty;
/// [`DataError::ImageLength`] if an image does not have `img_h * img_w` values;
/// [`DataError::ImageSize`] if a side of the grid would exceed `u32::MAX` pixels.
pub fn grid(
    images: &[&[f32]],
    img_h: usize,
    img_w: usize,
    n_cols: usize,
    scale: usize,
) -> Result<Rgb8Image, DataError> {
    check_grid_args(images, img_h, img_w, n_cols, scale)?;
    let (tile_w, tile_h) = (img_w * scale + 1, img_h * scale + 1);
    let (width, height) = grid_size(images.len(), img_h, img_w, n_cols, scale)?;
    let mut canvas = Rgb8Image::new(width, height, SEPARATOR_COLOR);
    for (index, image) in images.iter().enumerate() {
        let origin = (1 + (index % n_cols) * tile_w, 1 + (index / n_cols) * tile_h);
        draw_tile(&mut canvas, image, img_w, scale, origin);
    }
    Ok(canvas)
}

/// The grid's `(width, height)` by the formula in [`grid`].
///
/// # Errors
///
/// [`DataError::ImageSize`] if a side overflows or exceeds what a PNG can hold
/// (`u32::MAX`); this also stops absurd arguments from exhausting memory.
fn grid_size(
    n_images: usize,
    img_h: usize,
    img_w: usize,
    n_cols: usize,
    scale: usize,
) -> Result<(usize, usize), DataError> {
    let side = |cells: usize, pixels: usize| {
        let tile = pixels.checked_mul(scale)?.checked_add(1)?;
        let side = tile.checked_mul(cells)?.checked_add(1)?;
        u32::try_from(side).is_ok().then_some(side)
    };
    let (cols, rows) = (n_cols.min(n_images), n_images.div_ceil(n_cols));
    match (side(cols, img_w), side(rows, img_h)) {
        (Some(width), Some(height)) => Ok((width, height)),
        (width, height) => Err(DataError::ImageSize {
            width: width.unwrap_or(usize::MAX),
            height: height.unwrap_or(usize::MAX),
        }),
    }
}

fn check_grid_args(
    images: &[&[f32]],
    img_h: usize,
    img_w: usize,
    n_cols: usize,
    scale: usize,
) -> Result<(), DataError> {
    let sizes = [("img_h", img_h), ("img_w", img_w), ("n_cols", n_cols), ("scale", scale)];
    if let Some((name, _)) = sizes.into_iter().find(|&(_, size)| size == 0) {
        return Err(DataError::ZeroDimension { name });
    }
    if images.is_empty() {
        return Err(DataError::NoImages);
    }
    // Saturating: no slice is `usize::MAX` floats long, so an overflow reports a mismatch.
    let expected = img_h.saturating_mul(img_w);
    match images.iter().position(|image| image.len() != expected) {
        Some(index) => Err(DataError::ImageLength { index, found: images[index].len(), expected }),
        None => Ok(()),
    }
}

/// Draws one upscaled image with its top-left corner at `origin`.
fn draw_tile(
    canvas: &mut Rgb8Image,
    image: &[f32],
    img_w: usize,
    scale: usize,
    origin: (usize, usize),
) {
    for (i, &value) in image.iter().enumerate() {
        let (x, y) = (origin.0 + (i % img_w) * scale, origin.1 + (i / img_w) * scale);
        canvas.fill_rect(x, y, scale, scale, gray(value));
    }
}

/// [`grid`], then [`Rgb8Image::save_png`].
///
/// # Errors
///
/// Those of [`grid`] and [`Rgb8Image::save_png`].
pub fn save_grid(
    path: impl AsRef<Path>,
    images: &[&[f32]],
    img_h: usize,
    img_w: usize,
    n_cols: usize,
    scale: usize,
) -> Result<(), DataError> {
    grid(images, img_h, img_w, n_cols, scale)?.save_png(path)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn decode(path: &Path) -> (png::OutputInfo, Vec<u8>) {
        let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut buffer = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buffer).unwrap();
        buffer.truncate(info.buffer_size());
        (info, buffer)
    }

    #[test]
    fn png_round_trip_keeps_size_and_pixels() {
        let dir = crate::test_dir("png_round_trip");
        let path = dir.join("round.png");
        let mut image = Rgb8Image::new(7, 3, [10, 20, 30]);
        image.put(5, 2, [200, 100, 50]);
        image.save_png(&path).unwrap();
        let (info, bytes) = decode(&path);
        assert_eq!((info.width, info.height), (7, 3));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(bytes[(2 * 7 + 5) * 3..][..3], [200, 100, 50]);
        assert_eq!(bytes[..3], [10, 20, 30]);
        // No temporary file is left behind.
        let names: Vec<_> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("round.png")]);
    }

    #[test]
    fn empty_image_and_missing_directory_are_errors() {
        let dir = crate::test_dir("png_errors");
        let empty = Rgb8Image::new(0, 4, [0; 3]);
        assert!(matches!(empty.save_png(dir.join("e.png")), Err(DataError::ImageSize { .. })));
        let image = Rgb8Image::new(2, 2, [0; 3]);
        let missing = dir.join("no_such_dir").join("x.png");
        assert!(matches!(image.save_png(&missing), Err(DataError::Io { .. })));
    }

    #[test]
    fn grid_draws_values_nan_and_separators() {
        let a = [0.0, 1.0, f32::NAN, 2.0];
        let b = [0.5, -1.0, 0.25, 1.0];
        let image = grid(&[&a, &b, &a], 2, 2, 2, 3).unwrap();
        assert_eq!((image.width(), image.height()), (2 * 7 + 1, 2 * 7 + 1));
        assert_eq!(image.get(0, 0), Some(SEPARATOR_COLOR));
        assert_eq!(image.get(1, 1), Some([0; 3]));
        assert_eq!(image.get(4, 3), Some([255; 3]));
        assert_eq!(image.get(3, 4), Some(NAN_COLOR));
        assert_eq!(image.get(6, 6), Some([255; 3])); // 2.0 clamped to white
        assert_eq!(image.get(8, 1), Some([128; 3])); // 0.5
        assert_eq!(image.get(10, 10), Some(SEPARATOR_COLOR)); // empty cell
    }

    #[test]
    fn grid_rejects_bad_arguments() {
        let a = [0.0; 4];
        assert!(matches!(grid(&[], 2, 2, 2, 1), Err(DataError::NoImages)));
        assert!(matches!(
            grid(&[&a], 2, 2, 0, 1),
            Err(DataError::ZeroDimension { name: "n_cols" })
        ));
        assert!(matches!(
            grid(&[&a, &a[..3]], 2, 2, 2, 1),
            Err(DataError::ImageLength { index: 1, found: 3, expected: 4 })
        ));
    }

    #[test]
    fn lines_reach_both_ends() {
        let mut image = Rgb8Image::new(10, 10, [0; 3]);
        image.line([1, 8], [8, 2], [9; 3]);
        image.line([-5, -5], [20, 20], [7; 3]);
        assert_eq!(image.get(1, 8), Some([9; 3]));
        assert_eq!(image.get(8, 2), Some([9; 3]));
        assert_eq!(image.get(9, 9), Some([7; 3]));
    }

    proptest! {
        #[test]
        fn grid_dimensions_follow_the_formula(
            n in 1..20usize, img_h in 1..6usize, img_w in 1..6usize, n_cols in 1..8usize, scale in 1..4usize,
        ) {
            let pixels = vec![0.5f32; img_h * img_w];
            let images = vec![pixels.as_slice(); n];
            let image = grid(&images, img_h, img_w, n_cols, scale).unwrap();
            let (cols, rows) = (n_cols.min(n), n.div_ceil(n_cols));
            prop_assert_eq!(image.width(), cols * (img_w * scale + 1) + 1);
            prop_assert_eq!(image.height(), rows * (img_h * scale + 1) + 1);
            prop_assert_eq!(image.pixels().len(), image.width() * image.height());
        }
    }
}
