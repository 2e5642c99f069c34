//! Small raster plots a person can read, drawn straight into an [`Rgb8Image`].
//!
//! No plotting crate: a training run only needs scatter plots over a target density, line
//! plots of losses and schedules, and a way to put them side by side. Text uses a 5x7
//! bitmap font scaled with the plot (`min(width, height) / 160` pixels per font pixel, 1
//! to 4). Plot sizes are clamped to [`MIN_SIZE_PX`]`..=`[`MAX_SIZE_PX`] so that margins
//! always fit and a typo cannot allocate gigabytes.

mod font;
mod ticks;

use crate::image::{Rgb, Rgb8Image};
use crate::toy::Bounds;
pub use font::{draw_text, text_height, text_width};
use ticks::{Tick, linear_ticks, log_ticks};

/// The smallest side of a plot in pixels; smaller requests are enlarged.
pub const MIN_SIZE_PX: usize = 128;
/// The largest side of a plot in pixels; larger requests are reduced.
pub const MAX_SIZE_PX: usize = 4096;
/// Line colours, cycled through by series index (matplotlib's `tab10`).
pub const PALETTE: [Rgb; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];
/// Colour of the sample dots in [`scatter_over_density`].
pub const POINT_COLOR: Rgb = [200, 30, 30];
/// Colour of the densest cells in [`scatter_over_density`] (empty cells are white).
pub const DENSITY_COLOR: Rgb = [120, 165, 225];

const WHITE: Rgb = [255, 255, 255];
const TEXT_COLOR: Rgb = [20, 20, 20];
const AXIS_COLOR: Rgb = [90, 90, 90];
const GRID_COLOR: Rgb = [228, 228, 228];
/// Blank space between panels, in pixels.
const PANEL_GAP: usize = 8;
/// Roughly how many intervals an axis is split into.
const TICK_TARGET: usize = 5;

/// Text, padding and tick sizes for one plot, all scaled with its size.
struct Style {
    /// Pixels per font pixel.
    scale: usize,
    /// Blank space around text.
    pad: usize,
    /// Length of a tick mark.
    tick: usize,
}

impl Style {
    fn for_size(width: usize, height: usize) -> Self {
        let scale = (width.min(height) / 160).clamp(1, 4);
        Self { scale, pad: 3 * scale, tick: 3 * scale }
    }

    fn line_height(&self) -> usize {
        text_height(self.scale)
    }
}

/// A rectangle in pixels; `(x, y)` is the top-left corner.
#[derive(Debug, Clone, Copy)]
struct Rect {
    x: usize,
    y: usize,
    w: usize,
    h: usize,
}

/// Axis ranges mapped onto the plot area, y growing upwards.
struct Frame {
    area: Rect,
    x: [f64; 2],
    y: [f64; 2],
}

impl Frame {
    /// Pixel column of `x`, clamped far outside the image so that line drawing stays cheap.
    fn x_pixel(&self, x: f64) -> i64 {
        let u = (x - self.x[0]) / (self.x[1] - self.x[0]);
        let px = self.area.x as f64 + u * (self.area.w - 1) as f64;
        px.round().clamp(-1e5, 1e5) as i64
    }

    /// Pixel row of `y` (the top of the area is `y[1]`), clamped like [`Self::x_pixel`].
    fn y_pixel(&self, y: f64) -> i64 {
        let v = (self.y[1] - y) / (self.y[1] - self.y[0]);
        let py = self.area.y as f64 + v * (self.area.h - 1) as f64;
        py.round().clamp(-1e5, 1e5) as i64
    }

    fn pixel(&self, [x, y]: [f64; 2]) -> [i64; 2] {
        [self.x_pixel(x), self.y_pixel(y)]
    }

    fn contains(&self, [px, py]: [i64; 2]) -> bool {
        let Rect { x, y, w, h } = self.area;
        (x as i64..(x + w) as i64).contains(&px) && (y as i64..(y + h) as i64).contains(&py)
    }
}

/// The texts around a plot; empty strings are left out of the layout.
struct Labels<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
}

fn clamp_size(size_px: usize) -> usize {
    size_px.clamp(MIN_SIZE_PX, MAX_SIZE_PX)
}

/// Samples over a target density: a light heatmap, dots, axes with tick labels, a title.
///
/// `density` is read as [`density_image`](crate::toy::density_image) writes it:
/// `res * res` values in `[0, 1]`, row 0 at the top, covering `bounds` (`([x_min, x_max],
/// [y_min, y_max])`). A `density` of any other length is not drawn; NaN cells are white.
/// Points outside `bounds` or not finite are skipped. The plot area is square.
///
/// # Shapes
///
/// Returns a `size x size` image with `size = size_px.clamp(MIN_SIZE_PX, MAX_SIZE_PX)`.
pub fn scatter_over_density(
    density: &[f32],
    res: usize,
    bounds: Bounds,
    points: &[[f32; 2]],
    title: &str,
    size_px: usize,
) -> Rgb8Image {
    let size = clamp_size(size_px);
    let style = Style::for_size(size, size);
    let (x_range, y_range) = window(bounds);
    let x_ticks = linear_ticks(x_range[0], x_range[1], TICK_TARGET);
    let y_ticks = linear_ticks(y_range[0], y_range[1], TICK_TARGET);
    let labels = Labels { title, x_label: "", y_label: "" };
    let area = square(layout(size, size, &style, &labels, &x_ticks, &y_ticks));
    let frame = Frame { area, x: x_range, y: y_range };
    let mut image = Rgb8Image::new(size, size, WHITE);
    draw_density(&mut image, &frame, density, res);
    draw_points(&mut image, &frame, points, style.scale + 1);
    draw_axes(&mut image, &frame, &x_ticks, &y_ticks, &style);
    draw_labels(&mut image, &frame, &labels, &style);
    image
}

/// The plotting window as `f64` ranges; an empty or non-finite window becomes `[-1, 1]`.
fn window(bounds: Bounds) -> ([f64; 2], [f64; 2]) {
    let valid = |[lo, hi]: [f32; 2]| {
        let (lo, hi) = (f64::from(lo), f64::from(hi));
        // A positive, finite width keeps the pixel mapping free of division by zero.
        if hi > lo && (hi - lo).is_finite() { [lo, hi] } else { [-1.0, 1.0] }
    };
    (valid(bounds.0), valid(bounds.1))
}

/// The largest square inside `rect`, centred horizontally.
fn square(rect: Rect) -> Rect {
    let side = rect.w.min(rect.h);
    Rect { x: rect.x + (rect.w - side) / 2, w: side, h: side, ..rect }
}

/// Fills the plot area with the density, nearest cell per pixel.
fn draw_density(image: &mut Rgb8Image, frame: &Frame, density: &[f32], res: usize) {
    if res == 0 || density.len() != res.saturating_mul(res) {
        return;
    }
    let Rect { x, y, w, h } = frame.area;
    for py in 0..h {
        for px in 0..w {
            let cell = (py * res / h) * res + px * res / w;
            image.put(x + px, y + py, heat_color(density[cell]));
        }
    }
}

/// White to [`DENSITY_COLOR`]; the square root lifts the faint tails into view.
fn heat_color(density: f32) -> Rgb {
    let t = if density.is_nan() { 0.0 } else { density.clamp(0.0, 1.0).sqrt() };
    mix(WHITE, DENSITY_COLOR, t)
}

fn mix(from: Rgb, to: Rgb, t: f32) -> Rgb {
    std::array::from_fn(|i| {
        (f32::from(from[i]) + (f32::from(to[i]) - f32::from(from[i])) * t).round() as u8
    })
}

fn draw_points(image: &mut Rgb8Image, frame: &Frame, points: &[[f32; 2]], dot: usize) {
    let finite = points.iter().filter(|p| p.iter().all(|v| v.is_finite()));
    for &[x, y] in finite {
        let pixel = frame.pixel([f64::from(x), f64::from(y)]);
        if frame.contains(pixel) {
            let corner = pixel.map(|c| (c as usize).saturating_sub(dot / 2));
            image.fill_rect(corner[0], corner[1], dot, dot, POINT_COLOR);
        }
    }
}

/// One or more lines with a legend, tick labels and axis labels.
///
/// Each series is `(name, points)`; points are joined in the given order. A point with a
/// non-finite coordinate (or, with `log_y`, a `y <= 0`) is skipped and breaks the line
/// there. A constant series gets a small range around its value instead of a zero-width
/// axis. With `log_y` the y axis is log10, with ticks on powers of ten when the data spans
/// a decade or more. Series colours cycle through [`PALETTE`].
///
/// # Shapes
///
/// `size_px` is `[width, height]`, each clamped to `MIN_SIZE_PX..=MAX_SIZE_PX`.
pub fn line_plot(
    series: &[(&str, &[(f64, f64)])],
    title: &str,
    x_label: &str,
    y_label: &str,
    log_y: bool,
    size_px: [usize; 2],
) -> Rgb8Image {
    let [width, height] = size_px.map(clamp_size);
    let style = Style::for_size(width, height);
    let paths: Vec<Vec<Option<[f64; 2]>>> =
        series.iter().map(|(_, points)| axis_points(points, log_y)).collect();
    let (x_range, y_range) = data_ranges(&paths);
    let x_ticks = linear_ticks(x_range[0], x_range[1], TICK_TARGET);
    let y_ticks = if log_y { log_ticks } else { linear_ticks }(y_range[0], y_range[1], TICK_TARGET);
    let labels = Labels { title, x_label, y_label };
    let area = layout(width, height, &style, &labels, &x_ticks, &y_ticks);
    let frame = Frame { area, x: x_range, y: y_range };
    let mut image = Rgb8Image::new(width, height, WHITE);
    draw_gridlines(&mut image, &frame, &x_ticks, &y_ticks);
    for (path, color) in paths.iter().zip(PALETTE.iter().cycle()) {
        draw_path(&mut image, &frame, path, *color, style.scale.min(2));
    }
    if paths.iter().flatten().all(Option::is_none) {
        draw_centered(&mut image, &frame.area, "no finite data", &style);
    }
    draw_axes(&mut image, &frame, &x_ticks, &y_ticks, &style);
    draw_legend(&mut image, &frame, series, &style);
    draw_labels(&mut image, &frame, &labels, &style);
    image
}

/// Points in axis units (`log10 y` on a log axis); `None` where the point is not drawable.
fn axis_points(points: &[(f64, f64)], log_y: bool) -> Vec<Option<[f64; 2]>> {
    let to_axis = |&(x, y): &(f64, f64)| {
        // log10 of a non-positive value is NaN or -inf: such points cannot be drawn.
        let y = if log_y { y.log10() } else { y };
        (x.is_finite() && y.is_finite()).then_some([x, y])
    };
    points.iter().map(to_axis).collect()
}

/// Ranges covering every drawable point, widened where degenerate; y gets 5% margins.
fn data_ranges(paths: &[Vec<Option<[f64; 2]>>]) -> ([f64; 2], [f64; 2]) {
    let points = || paths.iter().flatten().flatten();
    let extent = |axis: usize| {
        let lo = points().map(|p| p[axis]).fold(f64::INFINITY, f64::min);
        let hi = points().map(|p| p[axis]).fold(f64::NEG_INFINITY, f64::max);
        // No drawable points: an arbitrary unit range keeps the axes drawable.
        if lo > hi { [0.0, 1.0] } else { widen(lo, hi) }
    };
    let [y_lo, y_hi] = extent(1);
    let margin = (y_hi - y_lo) * 0.05;
    (extent(0), [y_lo - margin, y_hi + margin])
}

/// `[lo, hi]`, or a range around a (near) constant value so no axis has zero width.
fn widen(lo: f64, hi: f64) -> [f64; 2] {
    let magnitude = lo.abs().max(hi.abs());
    // A span below ~1e-9 of the magnitude is lost to rounding in tick and pixel maths.
    if hi - lo > magnitude * 1e-9 {
        return [lo, hi];
    }
    let half = if magnitude > 0.0 { magnitude * 0.1 } else { 1.0 };
    [lo - half, hi + half]
}

/// Joins consecutive drawable points; a point with no drawable neighbour becomes a dot.
fn draw_path(
    image: &mut Rgb8Image,
    frame: &Frame,
    path: &[Option<[f64; 2]>],
    color: Rgb,
    width: usize,
) {
    for (i, point) in path.iter().enumerate() {
        let Some(point) = point else { continue };
        let from = frame.pixel(*point);
        match path.get(i + 1).copied().flatten() {
            Some(next) => thick_line(image, from, frame.pixel(next), color, width),
            None if i == 0 || path[i - 1].is_none() => {
                thick_line(image, from, from, color, width + 1)
            }
            None => {}
        }
    }
}

fn thick_line(image: &mut Rgb8Image, from: [i64; 2], to: [i64; 2], color: Rgb, width: usize) {
    for offset_x in 0..width as i64 {
        for offset_y in 0..width as i64 {
            let shift = |[x, y]: [i64; 2]| [x + offset_x, y + offset_y];
            image.line(shift(from), shift(to), color);
        }
    }
}

/// Where the plot area goes, leaving room for the title, labels and tick labels.
fn layout(
    width: usize,
    height: usize,
    style: &Style,
    labels: &Labels,
    x_ticks: &[Tick],
    y_ticks: &[Tick],
) -> Rect {
    let line = style.line_height();
    let text_rows = [labels.title, labels.y_label].iter().filter(|t| !t.is_empty()).count();
    // Half a y tick label sticks out above the top of the frame.
    let top = style.pad + text_rows * (line + style.pad) + line / 2;
    let tick_label_w = y_ticks.iter().map(|t| text_width(&t.label, style.scale)).max().unwrap_or(0);
    let left = style.pad + tick_label_w + style.pad + style.tick;
    let last_label_w = x_ticks.last().map_or(0, |t| text_width(&t.label, style.scale) / 2);
    let right = (2 * style.pad).max(last_label_w + style.pad);
    let x_label_h = if labels.x_label.is_empty() { 0 } else { line + style.pad };
    let bottom = style.tick + style.pad + line + style.pad + x_label_h;
    // The clamp on sizes keeps these positive for every style; `max(2)` is a last guard.
    let w = width.saturating_sub(left + right).max(2);
    let h = height.saturating_sub(top + bottom).max(2);
    Rect { x: left, y: top, w, h }
}

fn draw_gridlines(image: &mut Rgb8Image, frame: &Frame, x_ticks: &[Tick], y_ticks: &[Tick]) {
    let Rect { x, y, w, h } = frame.area;
    let (left, right, top, bottom) = (x as i64, (x + w - 1) as i64, y as i64, (y + h - 1) as i64);
    for tick in x_ticks {
        let px = frame.x_pixel(tick.position);
        image.line([px, top], [px, bottom], GRID_COLOR);
    }
    for tick in y_ticks {
        let py = frame.y_pixel(tick.position);
        image.line([left, py], [right, py], GRID_COLOR);
    }
}

/// The frame around the area, tick marks outside it and their labels.
fn draw_axes(
    image: &mut Rgb8Image,
    frame: &Frame,
    x_ticks: &[Tick],
    y_ticks: &[Tick],
    style: &Style,
) {
    let Rect { x, y, w, h } = frame.area;
    let (left, right, top, bottom) = (x as i64, (x + w - 1) as i64, y as i64, (y + h - 1) as i64);
    for (from, to) in [([left, top], [right, top]), ([left, bottom], [right, bottom])] {
        image.line(from, to, AXIS_COLOR);
    }
    image.line([left, top], [left, bottom], AXIS_COLOR);
    image.line([right, top], [right, bottom], AXIS_COLOR);
    let (tick, s) = (style.tick as i64, style.scale);
    for t in x_ticks {
        let px = frame.x_pixel(t.position);
        image.line([px, bottom], [px, bottom + tick], AXIS_COLOR);
        let label_x = (px - text_width(&t.label, s) as i64 / 2).max(0) as usize;
        draw_text(image, label_x, y + h + style.tick + style.pad, &t.label, s, TEXT_COLOR);
    }
    for t in y_ticks {
        let py = frame.y_pixel(t.position);
        image.line([left - tick, py], [left, py], AXIS_COLOR);
        let label_x = x.saturating_sub(style.tick + style.pad + text_width(&t.label, s));
        let label_y = (py - style.line_height() as i64 / 2).max(0) as usize;
        draw_text(image, label_x, label_y, &t.label, s, TEXT_COLOR);
    }
}

/// Title centred on top, y label above the y axis, x label centred below the x axis.
fn draw_labels(image: &mut Rgb8Image, frame: &Frame, labels: &Labels, style: &Style) {
    let (line, s) = (style.line_height(), style.scale);
    let mut y = style.pad;
    if !labels.title.is_empty() {
        let x = image.width().saturating_sub(text_width(labels.title, s)) / 2;
        draw_text(image, x, y, labels.title, s, TEXT_COLOR);
        y += line + style.pad;
    }
    if !labels.y_label.is_empty() {
        draw_text(image, style.pad, y, labels.y_label, s, TEXT_COLOR);
    }
    if !labels.x_label.is_empty() {
        let Rect { x, w, .. } = frame.area;
        let label_x = (x + w / 2).saturating_sub(text_width(labels.x_label, s) / 2);
        let label_y = frame.area.y + frame.area.h + style.tick + 2 * style.pad + line;
        draw_text(image, label_x, label_y, labels.x_label, s, TEXT_COLOR);
    }
}

fn draw_centered(image: &mut Rgb8Image, area: &Rect, text: &str, style: &Style) {
    let x = (area.x + area.w / 2).saturating_sub(text_width(text, style.scale) / 2);
    let y = (area.y + area.h / 2).saturating_sub(style.line_height() / 2);
    draw_text(image, x, y, text, style.scale, AXIS_COLOR);
}

/// A boxed legend in the top-right corner of the plot area, one row per named series.
fn draw_legend(
    image: &mut Rgb8Image,
    frame: &Frame,
    series: &[(&str, &[(f64, f64)])],
    style: &Style,
) {
    let entries: Vec<(&str, Rgb)> = series
        .iter()
        .zip(PALETTE.iter().cycle())
        .filter(|((name, _), _)| !name.is_empty())
        .map(|((name, _), color)| (*name, *color))
        .collect();
    if entries.is_empty() {
        return;
    }
    let (s, pad, line) = (style.scale, style.pad, style.line_height());
    let swatch = 4 * font::ADVANCE * s / 2;
    let name_w = entries.iter().map(|(name, _)| text_width(name, s)).max().unwrap_or(0);
    let box_w = 3 * pad + swatch + name_w + pad;
    let box_h = pad + entries.len() * (line + pad);
    let right = frame.area.x + frame.area.w;
    let (box_x, box_y) = (right.saturating_sub(box_w + pad), frame.area.y + pad);
    image.fill_rect(box_x, box_y, box_w, box_h, WHITE);
    draw_rect_outline(image, Rect { x: box_x, y: box_y, w: box_w, h: box_h }, GRID_COLOR);
    for (row, (name, color)) in entries.iter().enumerate() {
        let top = box_y + pad + row * (line + pad);
        image.fill_rect(box_x + pad, top + line / 2 - s / 2, swatch, s.max(2), *color);
        draw_text(image, box_x + 2 * pad + swatch, top, name, s, TEXT_COLOR);
    }
}

fn draw_rect_outline(image: &mut Rgb8Image, rect: Rect, color: Rgb) {
    let Rect { x, y, w, h } = rect;
    image.fill_rect(x, y, w, 1, color);
    image.fill_rect(x, y + h - 1, w, 1, color);
    image.fill_rect(x, y, 1, h, color);
    image.fill_rect(x + w - 1, y, 1, h, color);
}

/// Puts images side by side, `n_cols` per row, in equal cells with 8 white pixels between.
///
/// Cells are as large as the largest image; smaller ones sit in the top-left of their
/// cell. `n_cols` is clamped to `1..=images.len()`; no images give a 0x0 image.
///
/// # Shapes
///
/// `width = cols * cell_w + (cols - 1) * 8`, `height = rows * cell_h + (rows - 1) * 8`.
pub fn panels(images: &[Rgb8Image], n_cols: usize) -> Rgb8Image {
    if images.is_empty() {
        return Rgb8Image::new(0, 0, WHITE);
    }
    let cols = n_cols.clamp(1, images.len());
    let rows = images.len().div_ceil(cols);
    let cell_w = images.iter().map(Rgb8Image::width).max().unwrap_or(0);
    let cell_h = images.iter().map(Rgb8Image::height).max().unwrap_or(0);
    let width = cols * cell_w + (cols - 1) * PANEL_GAP;
    let height = rows * cell_h + (rows - 1) * PANEL_GAP;
    let mut canvas = Rgb8Image::new(width, height, WHITE);
    for (i, image) in images.iter().enumerate() {
        let (col, row) = (i % cols, i / cols);
        canvas.blit(image, col * (cell_w + PANEL_GAP), row * (cell_h + PANEL_GAP));
    }
    canvas
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn count(image: &Rgb8Image, color: Rgb) -> usize {
        image.pixels().iter().filter(|&&p| p == color).count()
    }

    #[test]
    fn scatter_draws_density_points_and_text() {
        let density = vec![1.0; 4 * 4];
        let points = [[0.0, 0.0], [f32::NAN, 1.0], [100.0, 0.0]];
        let image =
            scatter_over_density(&density, 4, ([-1.0, 1.0], [-1.0, 1.0]), &points, "moons", 300);
        assert_eq!((image.width(), image.height()), (300, 300));
        assert!(count(&image, DENSITY_COLOR) > 10_000);
        // One finite point inside the window: a 2x2 dot at text scale 1.
        assert_eq!(count(&image, POINT_COLOR), 4);
        assert!(count(&image, TEXT_COLOR) > 50);
    }

    #[test]
    fn scatter_survives_bad_arguments() {
        let image = scatter_over_density(&[0.5; 3], 4, ([1.0, 1.0], [f32::NAN, 0.0]), &[], "", 0);
        assert_eq!(image.width(), MIN_SIZE_PX);
        assert_eq!(count(&image, DENSITY_COLOR), 0);
    }

    #[test]
    fn line_plot_draws_each_series_in_its_colour() {
        let loss: Vec<(f64, f64)> =
            (0..100).map(|i| (f64::from(i), 1.0 / (1.0 + f64::from(i)))).collect();
        let flat = [(0.0, 0.5), (99.0, 0.5)];
        let image = line_plot(
            &[("train", &loss), ("eval", &flat)],
            "loss",
            "step",
            "loss",
            true,
            [400, 300],
        );
        assert_eq!((image.width(), image.height()), (400, 300));
        assert!(count(&image, PALETTE[0]) > 100);
        assert!(count(&image, PALETTE[1]) > 100);
    }

    #[test]
    fn line_plot_skips_non_finite_and_survives_degenerate_data() {
        let weird =
            [(0.0, f64::NAN), (1.0, f64::INFINITY), (2.0, 3.0), (f64::NAN, 1.0), (4.0, 3.0)];
        let constant = [(0.0, 2.0), (1.0, 2.0)];
        let nothing: [(f64, f64); 0] = [];
        for log_y in [false, true] {
            let image = line_plot(
                &[("a", &weird), ("", &constant), ("c", &nothing)],
                "",
                "",
                "",
                log_y,
                [0, 9999],
            );
            assert_eq!((image.width(), image.height()), (MIN_SIZE_PX, MAX_SIZE_PX));
            assert!(count(&image, PALETTE[1]) > 10);
        }
        let negative = [(0.0, -1.0), (1.0, 0.0)];
        let image = line_plot(&[("neg", &negative)], "t", "x", "y", true, [200, 200]);
        assert!(count(&image, AXIS_COLOR) > 0);
    }

    #[test]
    fn panels_tile_with_gaps() {
        let a = Rgb8Image::new(10, 5, [1; 3]);
        let b = Rgb8Image::new(4, 8, [2; 3]);
        let image = panels(&[a.clone(), b, a], 2);
        assert_eq!((image.width(), image.height()), (2 * 10 + 8, 2 * 8 + 8));
        assert_eq!(image.get(18 + 3, 7), Some([2; 3]));
        assert_eq!(image.get(0, 16), Some([1; 3]));
        assert_eq!(panels(&[], 3).pixels().len(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn line_plot_never_panics(
            points in prop::collection::vec((prop::num::f64::ANY, prop::num::f64::ANY), 0..20),
            log_y: bool,
        ) {
            let image = line_plot(&[("s", &points)], "title", "x", "y", log_y, [128, 128]);
            prop_assert_eq!(image.pixels().len(), 128 * 128);
        }
    }
}
