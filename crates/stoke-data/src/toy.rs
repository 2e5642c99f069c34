//! Two-dimensional toy distributions at torchcfm's scales.
//!
//! | name | definition | support (roughly) |
//! |---|---|---|
//! | `8gaussians` | 8 isotropic Gaussians, centres on a circle of radius 5 | `[-7, 7]^2` |
//! | `moons` | scikit-learn's two moons, noise 0.2, then `* 3 - 1` | `[-6, 7] x [-5, 4]` |
//! | `checkerboard` | FFJORD's 8-square checkerboard | `[-4, 4]^2` |
//! | `spirals` | FFJORD's two interleaved spirals | `[-4, 4]^2` |
//!
//! Facts from the reference code (numbers carry over, code does not):
//!
//! * torchcfm `utils.sample_8gaussians` calls `eight_normal_sample(n, 2, scale=5, var=0.1)`,
//!   which builds `MultivariateNormal(0, math.sqrt(var) * I)`. The second positional argument
//!   of `MultivariateNormal` is the *covariance*, so the covariance is `sqrt(0.1) I` and the
//!   per-coordinate standard deviation is `0.1^(1/4) ≈ 0.562`, not `sqrt(0.1)`.
//! * torchcfm `utils.sample_moons` is `generate_moons(n, noise=0.2) * 3 - 1`, with
//!   torchdyn's `generate_moons`. That function adds `U(0, 1) * noise`, one draw per point
//!   shared by both coordinates (a diagonal shift, not Gaussian noise). We follow
//!   scikit-learn's `make_moons` instead (independent `N(0, 0.2^2)` per coordinate), which
//!   has a smooth density; the scale `* 3 - 1` is torchcfm's.
//! * Checkerboard and spirals are FFJORD's `lib/toy_data.py` (`checkerboard`, `2spirals`)
//!   at its own scale, which lies within the radius of the two above.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use crate::DataError;

/// A plotting window: `([x_min, x_max], [y_min, y_max])`.
pub type Bounds = ([f32; 2], [f32; 2]);

/// One of the four 2-D toy distributions (JSON: its [`Toy::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Toy {
    /// Eight Gaussians on a circle of radius 5, standard deviation `0.1^(1/4)` (torchcfm).
    #[serde(rename = "8gaussians")]
    EightGaussians,
    /// Two moons with Gaussian noise 0.2, scaled by `* 3 - 1` (scikit-learn, torchcfm).
    Moons,
    /// Eight uniform squares of side 2 in `[-4, 4]^2` (FFJORD).
    Checkerboard,
    /// Two interleaved spirals of 1.5 turns, noise 0.1 (FFJORD `2spirals`).
    Spirals,
}

/// Radius of the circle through the eight Gaussian centres (torchcfm `scale=5`).
const EIGHT_GAUSSIANS_RADIUS: f32 = 5.0;
/// Per-coordinate std of each Gaussian: torchcfm's covariance is `sqrt(0.1) I`, so the
/// std is `0.1^(1/4)`.
const EIGHT_GAUSSIANS_STD: f32 = 0.562_341_3;
/// `make_moons(noise=0.2)`: std of the Gaussian noise before scaling.
const MOONS_NOISE: f32 = 0.2;
/// FFJORD `2spirals` noise std (applied after dividing by 3).
const SPIRALS_NOISE: f32 = 0.1;

impl Toy {
    /// All toy distributions, in a fixed order.
    pub const ALL: [Toy; 4] = [Toy::EightGaussians, Toy::Moons, Toy::Checkerboard, Toy::Spirals];

    /// The name used on command lines and in file names (`"8gaussians"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Toy::EightGaussians => "8gaussians",
            Toy::Moons => "moons",
            Toy::Checkerboard => "checkerboard",
            Toy::Spirals => "spirals",
        }
    }

    /// Draws `n` independent points; see [`sample`].
    pub fn sample<R: Rng + ?Sized>(self, n: usize, rng: &mut R) -> Vec<[f32; 2]> {
        sample(self, n, rng)
    }
}

impl fmt::Display for Toy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Toy {
    type Err = DataError;

    /// Parses a name from [`Toy::name`].
    ///
    /// # Errors
    ///
    /// [`DataError::UnknownToy`], whose message lists the valid names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Toy::ALL
            .into_iter()
            .find(|toy| toy.name() == s)
            .ok_or_else(|| DataError::UnknownToy { name: s.to_owned() })
    }
}

/// Draws `n` independent points from `toy`.
///
/// Every point is finite. The result depends only on `toy`, `n` and the state of `rng`.
///
/// # Shapes
///
/// Returns `n` points `[x, y]`.
pub fn sample<R: Rng + ?Sized>(toy: Toy, n: usize, rng: &mut R) -> Vec<[f32; 2]> {
    let draw: fn(&mut R) -> [f32; 2] = match toy {
        Toy::EightGaussians => eight_gaussians_point,
        Toy::Moons => moons_point,
        Toy::Checkerboard => checkerboard_point,
        Toy::Spirals => spirals_point,
    };
    (0..n).map(|_| draw(rng)).collect()
}

/// A square plotting window that holds all but a negligible fraction of the mass.
pub fn bounds(toy: Toy) -> Bounds {
    match toy {
        // 2.5 from the outermost centres, ~4.4 standard deviations.
        Toy::EightGaussians => ([-7.5, 7.5], [-7.5, 7.5]),
        // Data spans x in [-4, 5] and y in [-2.5, 2] before noise (std 0.6 after scaling);
        // the window is 14 wide both ways so circles stay round in a square plot.
        Toy::Moons => ([-6.5, 7.5], [-7.0, 7.0]),
        Toy::Checkerboard => ([-5.0, 5.0], [-5.0, 5.0]),
        Toy::Spirals => ([-5.0, 5.0], [-5.0, 5.0]),
    }
}

/// A normalised 2-D histogram of `n_samples` points, for drawing the target density.
///
/// Cell `(row, col)` is `density[row * resolution + col]`, with row 0 at the **top**
/// (`y_max`) and column 0 at the left (`x_min`), so the buffer reads like an image.
/// Values are counts divided by the largest count, so they lie in `[0, 1]`; points outside
/// `bounds` are dropped, and an empty histogram is all zeros.
///
/// # Shapes
///
/// Returns `resolution * resolution` values (none for `resolution == 0`).
///
/// # Errors
///
/// [`DataError::ImageSize`] for a resolution above [`MAX_SIZE_PX`](crate::plot::MAX_SIZE_PX),
/// the largest plot.
pub fn density_image<R: Rng + ?Sized>(
    toy: Toy,
    n_samples: usize,
    rng: &mut R,
    bounds: Bounds,
    resolution: usize,
) -> Result<Vec<f32>, DataError> {
    if resolution > crate::plot::MAX_SIZE_PX {
        return Err(DataError::ImageSize { width: resolution, height: resolution });
    }
    if resolution == 0 {
        return Ok(Vec::new());
    }
    let mut counts = vec![0u32; resolution * resolution];
    for point in sample(toy, n_samples, rng) {
        if let Some(cell) = cell_index(point, bounds, resolution) {
            counts[cell] += 1;
        }
    }
    // `max(1)`: an empty histogram stays at zero instead of dividing by zero.
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f32;
    Ok(counts.into_iter().map(|count| count as f32 / max).collect())
}

/// The histogram cell holding `point`, or `None` if it lies outside `bounds`.
fn cell_index(point: [f32; 2], bounds: Bounds, resolution: usize) -> Option<usize> {
    let ([x_min, x_max], [y_min, y_max]) = bounds;
    let u = (point[0] - x_min) / (x_max - x_min);
    let v = (y_max - point[1]) / (y_max - y_min);
    // `contains` is false for NaN, which also covers a degenerate window (0 / 0).
    if !(0.0..1.0).contains(&u) || !(0.0..1.0).contains(&v) {
        return None;
    }
    let col = ((u * resolution as f32) as usize).min(resolution - 1);
    let row = ((v * resolution as f32) as usize).min(resolution - 1);
    Some(row * resolution + col)
}

fn normal<R: Rng + ?Sized>(rng: &mut R) -> f32 {
    rng.sample(StandardNormal)
}

/// Centre `k * 45°` on the circle of radius 5, plus isotropic noise.
fn eight_gaussians_point<R: Rng + ?Sized>(rng: &mut R) -> [f32; 2] {
    let k = rng.random_range(0..8u8);
    let angle = f32::from(k) * std::f32::consts::FRAC_PI_4;
    [
        EIGHT_GAUSSIANS_RADIUS * angle.cos() + EIGHT_GAUSSIANS_STD * normal(rng),
        EIGHT_GAUSSIANS_RADIUS * angle.sin() + EIGHT_GAUSSIANS_STD * normal(rng),
    ]
}

/// Upper moon `(cos t, sin t)` or lower moon `(1 - cos t, 0.5 - sin t)` with
/// `t ~ U(0, pi)`, plus `N(0, 0.2^2)` noise, then `* 3 - 1`.
///
/// `make_moons` places the angles on a `linspace` and splits the points half and half;
/// drawing the moon by a fair coin and `t` uniformly is the distribution that sample
/// approximates.
fn moons_point<R: Rng + ?Sized>(rng: &mut R) -> [f32; 2] {
    let t = rng.random::<f32>() * std::f32::consts::PI;
    let [x, y] =
        if rng.random::<bool>() { [t.cos(), t.sin()] } else { [1.0 - t.cos(), 0.5 - t.sin()] };
    [(x + MOONS_NOISE * normal(rng)) * 3.0 - 1.0, (y + MOONS_NOISE * normal(rng)) * 3.0 - 1.0]
}

/// FFJORD: `x1 ~ U(-2, 2)`, `x2 ~ U(0, 1) - 2 * Bernoulli(1/2) + (floor(x1) mod 2)`,
/// both times 2.
fn checkerboard_point<R: Rng + ?Sized>(rng: &mut R) -> [f32; 2] {
    let x1 = rng.random::<f32>() * 4.0 - 2.0;
    let lower = if rng.random::<bool>() { 2.0 } else { 0.0 };
    let shift = x1.floor().rem_euclid(2.0);
    let x2 = rng.random::<f32>() - lower + shift;
    [x1 * 2.0, x2 * 2.0]
}

/// FFJORD `2spirals`: `r = sqrt(u) * 3 pi`, arm `(-r cos r, r sin r) + U(0, 0.5)^2`,
/// mirrored through the origin for the second arm, divided by 3, plus `N(0, 0.1^2)`.
fn spirals_point<R: Rng + ?Sized>(rng: &mut R) -> [f32; 2] {
    let r = rng.random::<f32>().sqrt() * 3.0 * std::f32::consts::PI;
    let x = -r.cos() * r + rng.random::<f32>() * 0.5;
    let y = r.sin() * r + rng.random::<f32>() * 0.5;
    let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
    [sign * x / 3.0 + SPIRALS_NOISE * normal(rng), sign * y / 3.0 + SPIRALS_NOISE * normal(rng)]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn mean_std(points: &[[f32; 2]]) -> ([f64; 2], [f64; 2]) {
        let n = points.len() as f64;
        let mut mean = [0.0; 2];
        let mut var = [0.0; 2];
        for axis in 0..2 {
            mean[axis] = points.iter().map(|p| f64::from(p[axis])).sum::<f64>() / n;
            var[axis] =
                points.iter().map(|p| (f64::from(p[axis]) - mean[axis]).powi(2)).sum::<f64>() / n;
        }
        (mean, var.map(f64::sqrt))
    }

    proptest! {
        #[test]
        fn sample_returns_n_finite_points(toy_idx in 0..4usize, n in 0..300usize, seed: u64) {
            let mut rng = StdRng::seed_from_u64(seed);
            let points = sample(Toy::ALL[toy_idx], n, &mut rng);
            prop_assert_eq!(points.len(), n);
            prop_assert!(points.iter().flatten().all(|v| v.is_finite()));
        }

        #[test]
        fn density_is_normalised(toy_idx in 0..4usize, res in 1..40usize, seed: u64) {
            let toy = Toy::ALL[toy_idx];
            let mut rng = StdRng::seed_from_u64(seed);
            let density = density_image(toy, 500, &mut rng, bounds(toy), res).unwrap();
            prop_assert_eq!(density.len(), res * res);
            prop_assert!(density.iter().all(|d| (0.0..=1.0).contains(d)));
            prop_assert!(density.contains(&1.0));
        }
    }

    #[test]
    fn zero_resolution_gives_an_empty_density() {
        let mut rng = StdRng::seed_from_u64(4);
        assert!(density_image(Toy::Moons, 10, &mut rng, bounds(Toy::Moons), 0).unwrap().is_empty());
        assert!(density_image(Toy::Moons, 10, &mut rng, bounds(Toy::Moons), 1 << 20).is_err());
    }

    #[test]
    fn names_round_trip() {
        for toy in Toy::ALL {
            assert_eq!(toy.name().parse::<Toy>().unwrap(), toy);
            assert_eq!(toy.to_string(), toy.name());
        }
    }

    #[test]
    fn unknown_name_lists_valid_ones() {
        let err = "mooons".parse::<Toy>().unwrap_err();
        let message = err.to_string();
        assert!(message.contains("mooons"), "{message}");
        for toy in Toy::ALL {
            assert!(message.contains(toy.name()), "{message}");
        }
    }

    /// Golden moments of torchcfm-scaled scikit-learn moons (scikit-learn 1.9.1):
    ///
    /// ```python
    /// from sklearn.datasets import make_moons
    /// x, _ = make_moons(1_000_000, noise=0.2, random_state=0)
    /// x = x * 3 - 1
    /// print(x.mean(0), x.std(0))
    /// # [ 0.49970856 -0.25021224] [2.66635383 1.59859435]
    /// ```
    #[test]
    fn moons_moments_match_scikit_learn() {
        let mut rng = StdRng::seed_from_u64(0);
        let (mean, std) = mean_std(&sample(Toy::Moons, 100_000, &mut rng));
        // Standard errors at n = 1e5 are ~0.008 (x) and ~0.005 (y); allow ~4 of them.
        assert!((mean[0] - 0.4997).abs() < 0.03, "{mean:?}");
        assert!((mean[1] - -0.2502).abs() < 0.02, "{mean:?}");
        assert!((std[0] - 2.6664).abs() < 0.03, "{std:?}");
        assert!((std[1] - 1.5986).abs() < 0.02, "{std:?}");
    }

    #[test]
    fn eight_gaussians_cluster_at_the_centres() {
        let mut rng = StdRng::seed_from_u64(1);
        let points = sample(Toy::EightGaussians, 20_000, &mut rng);
        let mut counts = [0usize; 8];
        let mut squared_distance = 0.0f64;
        for [x, y] in &points {
            let k = ((y.atan2(*x) / std::f32::consts::FRAC_PI_4).round() as i32).rem_euclid(8);
            let angle = k as f32 * std::f32::consts::FRAC_PI_4;
            let (dx, dy) = (x - 5.0 * angle.cos(), y - 5.0 * angle.sin());
            squared_distance += f64::from(dx * dx + dy * dy);
            counts[k as usize] += 1;
        }
        // Each centre gets 1/8 of the points (expected 2500, sd ~47).
        assert!(counts.iter().all(|&c| c.abs_diff(2500) < 250), "{counts:?}");
        // E|noise|^2 = 2 * std^2 = 2 * sqrt(0.1) ≈ 0.632.
        let mean_sq = squared_distance / points.len() as f64;
        assert!((mean_sq - 2.0 * 0.1f64.sqrt()).abs() < 0.03, "{mean_sq}");
    }

    #[test]
    fn checkerboard_fills_alternate_squares() {
        let mut rng = StdRng::seed_from_u64(2);
        for [x, y] in sample(Toy::Checkerboard, 5_000, &mut rng) {
            assert!((-4.0..=4.0).contains(&x) && (-4.0..=4.0).contains(&y));
            let parity = ((x / 2.0).floor() + (y / 2.0).floor()).rem_euclid(2.0);
            assert_eq!(parity, 0.0, "({x}, {y})");
        }
    }

    #[test]
    fn samples_lie_mostly_inside_the_bounds() {
        let mut rng = StdRng::seed_from_u64(3);
        for toy in Toy::ALL {
            let ([x0, x1], [y0, y1]) = bounds(toy);
            let points = sample(toy, 10_000, &mut rng);
            let inside =
                points.iter().filter(|[x, y]| (x0..x1).contains(x) && (y0..y1).contains(y)).count();
            assert!(inside >= 9_990, "{toy}: {inside}");
        }
    }
}
