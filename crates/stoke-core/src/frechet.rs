//! The Fréchet distance between Gaussians fitted to two feature sets (FID's formula
//! \[HEUSEL17\], the closed form of \[DOWSON82\]), in `f64` on the host.
//!
//! `d^2 = |m1 - m2|^2 + tr(C1) + tr(C2) - 2 tr sqrt(C1 C2)`. The trace of the matrix square
//! root goes through symmetric eigendecompositions (nalgebra's `SymmetricEigen`) rather than a
//! general `sqrtm`: with `S = sqrt(C1)` (symmetric PSD), `C1 C2 = S (S C2 S) S^-1` is similar to
//! the symmetric PSD matrix `S C2 S`, so `tr sqrt(C1 C2) = sum_i sqrt(lambda_i(S C2 S))`,
//! which stays real (and accurate) even where `C1 C2` is singular or not symmetric, as it is
//! for covariances of fewer samples than dimensions.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use crate::error::{CoreError, Result};
use crate::validate::{at_least, count, finite};

/// The mean and covariance of a set of feature vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureStats {
    /// Feature dimension `d`.
    pub dim: usize,
    /// Mean, `d` values.
    pub mean: Vec<f64>,
    /// Covariance, `d x d` row-major, with the unbiased `1 / (n - 1)` normalisation (as
    /// `numpy.cov`, which the reference FID code uses).
    pub covariance: Vec<f64>,
}

impl FeatureStats {
    /// Statistics of `n = features.len() / dim` row-major feature vectors.
    ///
    /// # Shapes
    /// `features`: `[n, dim]` flattened.
    ///
    /// # Errors
    /// `dim` is 0, the length is not a multiple of `dim`, fewer than two vectors (the
    /// covariance needs `n - 1 > 0`), or a non-finite value.
    pub fn from_rows(features: &[f64], dim: usize) -> Result<Self> {
        count("feature dimension", dim)?;
        if !features.len().is_multiple_of(dim) {
            return Err(CoreError::NotMultiple {
                name: "feature values",
                value: features.len(),
                of_name: "feature dimension",
                of: dim,
            });
        }
        let n = at_least("feature vectors", features.len() / dim, 2)?;
        for &value in features {
            finite("feature", value)?;
        }
        let rows = DMatrix::from_row_slice(n, dim, features);
        let mean = rows.row_mean();
        let centred = DMatrix::from_fn(n, dim, |i, j| rows[(i, j)] - mean[j]);
        let covariance = (centred.transpose() * &centred) / (n - 1) as f64;
        Ok(Self { dim, mean: mean.iter().copied().collect(), covariance: row_major(&covariance) })
    }

    fn covariance_matrix(&self) -> DMatrix<f64> {
        DMatrix::from_row_slice(self.dim, self.dim, &self.covariance)
    }
}

fn row_major(m: &DMatrix<f64>) -> Vec<f64> {
    m.transpose().as_slice().to_vec()
}

/// The Fréchet distance `|m1 - m2|^2 + tr(C1) + tr(C2) - 2 tr sqrt(C1 C2)` between the
/// Gaussians of two feature sets \[HEUSEL17\]; see the module docs for how the square root is
/// taken. The result is the squared distance, as FID reports it; round-off below zero is
/// returned as 0.
///
/// # Errors
/// The two sets have different dimensions.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> Result<f64> {
    if a.dim != b.dim {
        return Err(CoreError::LengthMismatch {
            name: "feature dimension",
            expected: a.dim,
            got: b.dim,
        });
    }
    let mean_term: f64 = a.mean.iter().zip(&b.mean).map(|(x, y)| (x - y).powi(2)).sum();
    let (c1, c2) = (a.covariance_matrix(), b.covariance_matrix());
    let sqrt_c1 = psd_sqrt(&c1);
    let inner = &sqrt_c1 * &c2 * &sqrt_c1;
    // Symmetric in exact arithmetic; symmetrise the round-off away before the eigensolver.
    let inner = (&inner + inner.transpose()) * 0.5;
    // A PSD matrix's eigenvalues are >= 0; round-off below zero is zero.
    let trace_sqrt: f64 =
        SymmetricEigen::new(inner).eigenvalues.iter().map(|l| l.max(0.0).sqrt()).sum();
    let distance = mean_term + c1.trace() + c2.trace() - 2.0 * trace_sqrt;
    Ok(distance.max(0.0))
}

/// The symmetric PSD square root `V diag(sqrt(max(lambda, 0))) V^T`.
fn psd_sqrt(c: &DMatrix<f64>) -> DMatrix<f64> {
    let eigen = SymmetricEigen::new(c.clone());
    // A covariance is PSD; negative eigenvalues are round-off and are taken as zero.
    let roots = DVector::from_iterator(
        eigen.eigenvalues.len(),
        eigen.eigenvalues.iter().map(|l| l.max(0.0).sqrt()),
    );
    &eigen.eigenvectors * DMatrix::from_diagonal(&roots) * eigen.eigenvectors.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: f64 = 1e-9;

    fn stats(mean: Vec<f64>, covariance: Vec<f64>) -> FeatureStats {
        FeatureStats { dim: mean.len(), mean, covariance }
    }

    #[test]
    fn a_set_is_at_distance_zero_from_itself() {
        let rows: Vec<f64> = (0..200 * 8).map(|i| ((i * 7919) % 1000) as f64 / 250.0).collect();
        let s = FeatureStats::from_rows(&rows, 8).unwrap();
        assert!(frechet_distance(&s, &s).unwrap() < 1e-9);
    }

    #[test]
    fn diagonal_gaussians_match_the_closed_form() {
        let (m1, m2) = (vec![0.0, 1.0, -2.0], vec![0.5, -1.0, 0.0]);
        let (s1, s2): ([f64; 3], [f64; 3]) = ([1.0, 4.0, 0.25], [2.0, 1.0, 9.0]);
        let diag = |s: &[f64; 3]| {
            let mut c = vec![0.0; 9];
            (0..3).for_each(|i| c[i * 3 + i] = s[i]);
            c
        };
        let want: f64 = m1.iter().zip(&m2).map(|(a, b)| (a - b) * (a - b)).sum::<f64>()
            + (0..3).map(|i| s1[i] + s2[i] - 2.0 * (s1[i] * s2[i]).sqrt()).sum::<f64>();
        let got = frechet_distance(&stats(m1, diag(&s1)), &stats(m2, diag(&s2))).unwrap();
        assert!((got - want).abs() < TOL, "{got} vs {want}");
    }

    /// For 2x2 PSD `C1, C2`, `tr sqrt(C1 C2) = sqrt(tr(C1 C2) + 2 sqrt(det C1 det C2))`: a
    /// closed form for covariances that do not commute.
    #[test]
    fn non_commuting_2x2_covariances_match_the_closed_form() {
        let (c1, c2) = (vec![2.0, 0.8, 0.8, 1.0], vec![1.0, -0.5, -0.5, 3.0]);
        let det = |c: &[f64]| c[0] * c[3] - c[1] * c[2];
        let tr_product = c1[0] * c2[0] + c1[1] * c2[2] + c1[2] * c2[1] + c1[3] * c2[3];
        let trace_sqrt = (tr_product + 2.0 * (det(&c1) * det(&c2)).sqrt()).sqrt();
        let want = 1.0 + 4.0 + (2.0 + 1.0) + (1.0 + 3.0) - 2.0 * trace_sqrt;
        let got = frechet_distance(&stats(vec![1.0, 0.0], c1), &stats(vec![0.0, 2.0], c2)).unwrap();
        assert!((got - want).abs() < TOL, "{got} vs {want}");
    }

    /// Golden values from scipy's general `sqrtm` (scipy 1.17.1, numpy 2.4.6):
    ///
    /// ```python
    /// import numpy as np
    /// from scipy import linalg
    /// m1 = np.array([0.5, -1.0, 2.0, 0.0]); m2 = np.array([0.0, 0.25, 1.5, -0.5])
    /// a = np.array([[2.0, 0.3, -0.4, 0.1], [0.3, 1.5, 0.2, 0.0], [-0.4, 0.2, 1.0, 0.3], [0.1, 0.0, 0.3, 0.8]])
    /// b = np.array([[1.0, -0.5, 0.0, 0.2], [-0.5, 2.5, 0.4, -0.1], [0.0, 0.4, 0.7, 0.0], [0.2, -0.1, 0.0, 1.2]])
    /// d = np.sum((m1 - m2) ** 2) + np.trace(a) + np.trace(b) - 2 * np.trace(linalg.sqrtm(a @ b).real)
    /// # 3.0217088565510064
    /// x = np.array([[0.0, 1.0, 2.0, 0.5], [1.0, -1.0, 0.5, 0.0], [2.0, 0.0, 1.0, 1.0]])
    /// y = np.array([[0.5, 0.5, 0.5, 0.5], [1.0, 0.0, -1.0, 2.0], [0.0, 2.0, 1.0, -1.0]])
    /// c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    /// d2 = np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(c1) + np.trace(c2) - 2 * np.trace(linalg.sqrtm(c1 @ c2).real)
    /// # 5.218203569272434 (rank-2 covariances in 4 dimensions)
    /// ```
    #[test]
    fn matches_scipy_sqrtm() {
        let a =
            vec![2.0, 0.3, -0.4, 0.1, 0.3, 1.5, 0.2, 0.0, -0.4, 0.2, 1.0, 0.3, 0.1, 0.0, 0.3, 0.8];
        let b = vec![
            1.0, -0.5, 0.0, 0.2, -0.5, 2.5, 0.4, -0.1, 0.0, 0.4, 0.7, 0.0, 0.2, -0.1, 0.0, 1.2,
        ];
        let got = frechet_distance(
            &stats(vec![0.5, -1.0, 2.0, 0.0], a),
            &stats(vec![0.0, 0.25, 1.5, -0.5], b),
        )
        .unwrap();
        assert!((got - 3.0217088565510064).abs() < 1e-10, "{got}");
        let x = [0.0, 1.0, 2.0, 0.5, 1.0, -1.0, 0.5, 0.0, 2.0, 0.0, 1.0, 1.0];
        let y = [0.5, 0.5, 0.5, 0.5, 1.0, 0.0, -1.0, 2.0, 0.0, 2.0, 1.0, -1.0];
        let (sx, sy) =
            (FeatureStats::from_rows(&x, 4).unwrap(), FeatureStats::from_rows(&y, 4).unwrap());
        let got = frechet_distance(&sx, &sy).unwrap();
        // scipy's sqrtm of a singular product is itself accurate to ~1e-8 here.
        assert!((got - 5.218203569272434).abs() < 1e-7, "{got}");
    }

    #[test]
    fn the_distance_is_symmetric_and_grows_with_a_mean_shift() {
        let c1 = vec![2.0, 0.5, 0.5, 1.0];
        let c2 = vec![1.0, -0.2, -0.2, 0.5];
        let (a, b) = (stats(vec![0.0; 2], c1), stats(vec![0.1; 2], c2.clone()));
        let (ab, ba) = (frechet_distance(&a, &b).unwrap(), frechet_distance(&b, &a).unwrap());
        assert!((ab - ba).abs() < 1e-12 * ab.max(1.0), "{ab} vs {ba}");
        let far = stats(vec![1.0; 2], c2);
        assert!(frechet_distance(&a, &far).unwrap() > ab);
    }

    #[test]
    fn sample_statistics_are_the_unbiased_ones_and_bad_input_is_refused() {
        let s = FeatureStats::from_rows(&[1.0, 2.0, 3.0, 6.0], 2).unwrap();
        assert_eq!(s.mean, vec![2.0, 4.0]);
        assert_eq!(s.covariance, vec![2.0, 4.0, 4.0, 8.0]);
        assert!(FeatureStats::from_rows(&[1.0, 2.0], 2).is_err());
        assert!(FeatureStats::from_rows(&[1.0, 2.0, 3.0], 2).is_err());
        assert!(FeatureStats::from_rows(&[1.0, 2.0, 3.0, f64::NAN], 2).is_err());
        assert!(FeatureStats::from_rows(&[], 0).is_err());
        assert!(frechet_distance(&s, &stats(vec![0.0], vec![1.0])).is_err());
    }
}
