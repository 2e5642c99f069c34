//! Exact optimal transport between two equal-size point clouds, and sample distances
//! built on it: the 2-Wasserstein distance and the energy distance.
//!
//! With uniform weights on `n` points each, an optimal coupling is a permutation
//! (Birkhoff-von Neumann), so exact OT is a linear assignment problem, solved here by the
//! Hungarian method with potentials in `O(n^3)` [KUHN55; JONKER87].

use crate::error::{CoreError, Result};
use crate::validate::{count, finite};

/// The permutation `perm` minimising `sum_i cost[i * n + perm[i]]` for a square cost matrix.
///
/// # Shapes
/// `cost`: `[n, n]` row-major.
///
/// # Errors
/// `n = 0`, `cost.len() != n * n`, a non-finite cost.
pub fn assignment(cost: &[f64], n: usize) -> Result<Vec<usize>> {
    count("n", n)?;
    if cost.len() != n * n {
        return Err(CoreError::LengthMismatch { name: "cost", expected: n * n, got: cost.len() });
    }
    for &c in cost {
        finite("cost", c)?;
    }
    // 1-based potentials: u over rows, v over columns; col_of_row via `matched[col] = row`.
    let mut u = vec![0.0; n + 1];
    let mut v = vec![0.0; n + 1];
    let mut matched = vec![0usize; n + 1];
    let mut way = vec![0usize; n + 1];
    let mut min_slack = vec![0.0; n + 1];
    let mut used = vec![false; n + 1];
    for row in 1..=n {
        matched[0] = row;
        let mut col0 = 0;
        min_slack.fill(f64::INFINITY);
        used.fill(false);
        loop {
            used[col0] = true;
            let row0 = matched[col0];
            let mut delta = f64::INFINITY;
            let mut col1 = 0;
            let cost_row = &cost[(row0 - 1) * n..row0 * n];
            for col in 1..=n {
                if used[col] {
                    continue;
                }
                let slack = cost_row[col - 1] - u[row0] - v[col];
                if slack < min_slack[col] {
                    min_slack[col] = slack;
                    way[col] = col0;
                }
                if min_slack[col] < delta {
                    delta = min_slack[col];
                    col1 = col;
                }
            }
            for col in 0..=n {
                if used[col] {
                    u[matched[col]] += delta;
                    v[col] -= delta;
                } else {
                    min_slack[col] -= delta;
                }
            }
            col0 = col1;
            if matched[col0] == 0 {
                break;
            }
        }
        // Augment along the alternating path.
        loop {
            let col1 = way[col0];
            matched[col0] = matched[col1];
            col0 = col1;
            if col0 == 0 {
                break;
            }
        }
    }
    let mut perm = vec![0; n];
    for col in 1..=n {
        perm[matched[col] - 1] = col - 1;
    }
    Ok(perm)
}

fn check_clouds(x: &[f64], y: &[f64], dim: usize) -> Result<usize> {
    count("dim", dim)?;
    if !x.len().is_multiple_of(dim) || x.is_empty() {
        return Err(CoreError::LengthMismatch { name: "x", expected: dim, got: x.len() });
    }
    if y.len() != x.len() {
        return Err(CoreError::LengthMismatch { name: "y", expected: x.len(), got: y.len() });
    }
    for &value in x.iter().chain(y) {
        finite("point coordinate", value)?;
    }
    Ok(x.len() / dim)
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum()
}

/// The squared-Euclidean cost matrix `C_ij = ||x_i - y_j||^2`.
///
/// # Shapes
/// `x`, `y`: `[n, dim]` and `[m, dim]` row-major -> `[n, m]`.
///
/// # Errors
/// `dim = 0`; a length that is not a multiple of `dim`.
pub fn squared_cost(x: &[f64], y: &[f64], dim: usize) -> Result<Vec<f64>> {
    count("dim", dim)?;
    for (name, points) in [("x", x), ("y", y)] {
        if !points.len().is_multiple_of(dim) {
            return Err(CoreError::NotMultiple {
                name,
                value: points.len(),
                of_name: "dim",
                of: dim,
            });
        }
    }
    Ok(x.chunks(dim).flat_map(|a| y.chunks(dim).map(move |b| squared_distance(a, b))).collect())
}

/// The largest `|coordinate|` of two clouds, at least 1: dividing by it keeps every squared
/// distance finite (W2 and the energy distance are homogeneous of degree 1, so the result
/// is multiplied back).
fn scale_of(x: &[f64], y: &[f64]) -> f64 {
    x.iter().chain(y).fold(1.0f64, |m, v| m.max(v.abs()))
}

fn scaled(points: &[f64], scale: f64) -> Vec<f64> {
    points.iter().map(|v| v / scale).collect()
}

/// `value * scale`, refused if it overflows.
fn unscaled(name: &'static str, value: f64, scale: f64) -> Result<f64> {
    finite(name, value * scale)
}

/// The exact 2-Wasserstein distance between the empirical measures of `x` and `y`:
/// `W2 = sqrt(min_perm mean_i ||x_i - y_perm(i)||^2)` [VILLANI09, Def. 6.1] (what POT's
/// `emd2` with a squared-Euclidean cost gives, square-rooted, as torchcfm reports it).
///
/// # Shapes
/// `x`, `y`: `[n, dim]` row-major, the same `n`.
///
/// # Errors
/// Empty or ragged input, different sizes, non-finite coordinates, a distance too large for
/// `f64`.
pub fn w2(x: &[f64], y: &[f64], dim: usize) -> Result<f64> {
    let n = check_clouds(x, y, dim)?;
    let scale = scale_of(x, y);
    let cost = squared_cost(&scaled(x, scale), &scaled(y, scale), dim)?;
    let perm = assignment(&cost, n)?;
    let total: f64 = perm.iter().enumerate().map(|(i, &j)| cost[i * n + j]).sum();
    unscaled("W2", (total / n as f64).sqrt(), scale)
}

/// The (squared) energy distance between the empirical measures of `x` and `y`,
/// `2 E||X - Y|| - E||X - X'|| - E||Y - Y'||` with `X, X'` drawn from `x`'s points and
/// `Y, Y'` from `y`'s [SZEKELY13, Eq. 2]. Non-negative, zero only for equal point sets.
///
/// # Shapes
/// `x`, `y`: `[n, dim]` row-major, the same `n`.
///
/// # Errors
/// As [`w2`].
pub fn energy_distance(x: &[f64], y: &[f64], dim: usize) -> Result<f64> {
    let n = check_clouds(x, y, dim)?;
    let scale = scale_of(x, y);
    let (x, y) = (scaled(x, scale), scaled(y, scale));
    let mean_distance = |a: &[f64], b: &[f64]| -> f64 {
        let sum: f64 = a
            .chunks(dim)
            .flat_map(|p| b.chunks(dim).map(move |q| squared_distance(p, q).sqrt()))
            .sum();
        sum / (n * n) as f64
    };
    let (xy, xx, yy) = (mean_distance(&x, &y), mean_distance(&x, &x), mean_distance(&y, &y));
    // Rounding can leave a tiny negative value for identical inputs.
    unscaled("energy distance", (2.0 * xy - xx - yy).max(0.0), scale)
}
