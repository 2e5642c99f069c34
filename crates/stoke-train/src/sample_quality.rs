//! Sample-quality metrics for generated digits: the Fréchet distance between two sets of
//! classifier features (FID) \[HEUSEL17\] and the accuracy of a classifier on
//! class-conditional samples.
//!
//! Means and covariances are computed on the host in `f64`. The matrix square root in the
//! Fréchet distance goes through a symmetric eigendecomposition (cyclic Jacobi rotations,
//! [`symmetric_eigen`]) rather than a general `sqrtm`: with `S = sqrt(C1)` (symmetric PSD),
//! `C1 C2 = S (S C2 S) S^-1` is similar to the symmetric PSD matrix `S C2 S`, so
//! `tr sqrt(C1 C2) = sum_i sqrt(lambda_i(S C2 S))`, which stays real even where `C1 C2` is
//! not symmetric.

use burn::tensor::Tensor;

use crate::error::{Result, TrainError};
use crate::recipe::digits_classifier::Classifier;

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
        if dim == 0 || !features.len().is_multiple_of(dim) || features.len() / dim < 2 {
            return Err(TrainError::Invalid(format!(
                "feature statistics need at least two vectors of dimension >= 1, got {} values \
                 for dimension {dim}",
                features.len()
            )));
        }
        if let Some(bad) = features.iter().find(|v| !v.is_finite()) {
            return Err(TrainError::Invalid(format!("a feature is not finite: {bad}")));
        }
        let n = features.len() / dim;
        let mut mean = vec![0.0; dim];
        for row in features.chunks(dim) {
            mean.iter_mut().zip(row).for_each(|(m, v)| *m += v / n as f64);
        }
        let mut covariance = vec![0.0; dim * dim];
        for row in features.chunks(dim) {
            for i in 0..dim {
                let centred_i = row[i] - mean[i];
                for j in i..dim {
                    covariance[i * dim + j] += centred_i * (row[j] - mean[j]);
                }
            }
        }
        for i in 0..dim {
            for j in i..dim {
                let value = covariance[i * dim + j] / (n - 1) as f64;
                covariance[i * dim + j] = value;
                covariance[j * dim + i] = value;
            }
        }
        Ok(Self { dim, mean, covariance })
    }

    /// Statistics of the rows of a tensor (read back to the host).
    ///
    /// # Shapes
    /// `features: [n, dim]`.
    ///
    /// # Errors
    /// As [`FeatureStats::from_rows`].
    pub fn from_tensor(features: Tensor<2>) -> Result<Self> {
        let [_, dim] = features.dims();
        let values: Vec<f64> = features.into_data().iter::<f64>().collect();
        Self::from_rows(&values, dim)
    }
}

/// The Fréchet distance between the Gaussians fitted to two feature sets
/// (FID's formula \[HEUSEL17\], the closed form of \[DOWSON82\]):
///
/// `d^2 = |m1 - m2|^2 + tr(C1) + tr(C2) - 2 tr sqrt(C1 C2)`,
///
/// with `tr sqrt(C1 C2) = sum_i sqrt(lambda_i(sqrt(C1) C2 sqrt(C1)))` (see the module docs).
/// The result is the squared distance, as FID reports it, and is clamped at 0.
///
/// # Errors
/// The two sets have different dimensions.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> Result<f64> {
    if a.dim != b.dim {
        return Err(TrainError::Invalid(format!(
            "Fréchet distance between features of dimension {} and {}",
            a.dim, b.dim
        )));
    }
    let d = a.dim;
    let mean_term: f64 = a.mean.iter().zip(&b.mean).map(|(x, y)| (x - y).powi(2)).sum();
    let trace = |c: &[f64]| (0..d).map(|i| c[i * d + i]).sum::<f64>();
    let sqrt_a = psd_sqrt(&a.covariance, d);
    let inner = matmul(&matmul(&sqrt_a, &b.covariance, d), &sqrt_a, d);
    let (eigenvalues, _) = symmetric_eigen(&symmetrised(&inner, d), d);
    // Round-off can make eigenvalues of a PSD matrix slightly negative; they are zero.
    let trace_sqrt: f64 = eigenvalues.iter().map(|l| l.max(0.0).sqrt()).sum();
    let distance = mean_term + trace(&a.covariance) + trace(&b.covariance) - 2.0 * trace_sqrt;
    // The distance is a squared norm; a tiny negative value is round-off.
    Ok(distance.max(0.0))
}

/// [`frechet_distance`] between the rows of two feature tensors.
///
/// # Shapes
/// `a: [n_a, d]`, `b: [n_b, d]`, `n_a, n_b >= 2`.
///
/// # Errors
/// As [`FeatureStats::from_rows`] and [`frechet_distance`].
pub fn frechet_distance_of_features(a: Tensor<2>, b: Tensor<2>) -> Result<f64> {
    frechet_distance(&FeatureStats::from_tensor(a)?, &FeatureStats::from_tensor(b)?)
}

/// The fraction of class-conditional `samples` that `classifier` assigns to the class they
/// were generated for.
///
/// # Shapes
/// `samples: [n, 64]` (pixels in `[0, 1]`), `labels`: `n` classes.
///
/// # Errors
/// `labels` does not have one class per sample, or there are no samples.
pub fn conditional_accuracy(
    classifier: &Classifier,
    samples: Tensor<2>,
    labels: &[usize],
) -> Result<f64> {
    classifier.accuracy(samples, labels)
}

/// Eigenvalues and eigenvectors of a symmetric matrix by cyclic Jacobi rotations
/// [GOLUB13, Sec. 8.5]: each rotation zeroes one off-diagonal pair, and sweeps repeat until
/// the off-diagonal mass is below `1e-15` of the matrix's norm.
///
/// Returns `(eigenvalues, eigenvectors)`, the eigenvectors as the columns of a row-major
/// `n x n` matrix `V` with `A = V diag(eigenvalues) V^T`. Only the symmetric part of `a` is
/// used (it is read as given; pass a symmetric matrix).
///
/// # Shapes
/// `a`: `[n, n]` row-major -> (`n`, `[n, n]` row-major).
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    const MAX_SWEEPS: usize = 100;
    let mut a = a.to_vec();
    let mut v = identity(n);
    let norm: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _ in 0..MAX_SWEEPS {
        let off: f64 = (0..n)
            .flat_map(|p| (0..n).filter(move |&q| q != p).map(move |q| (p, q)))
            .map(|(p, q)| a[p * n + q].powi(2))
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * norm || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                rotate(&mut a, &mut v, n, p, q);
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// One Jacobi rotation `A <- J^T A J`, `V <- V J` in the `(p, q)` plane that zeroes `A[p, q]`.
fn rotate(a: &mut [f64], v: &mut [f64], n: usize, p: usize, q: usize) {
    let a_pq = a[p * n + q];
    if a_pq == 0.0 {
        return;
    }
    // tan of the rotation angle: the smaller root of t^2 + 2 theta t - 1 = 0, which keeps
    // |angle| <= pi / 4 and the iteration stable [GOLUB13, Sec. 8.5].
    let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * a_pq);
    let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
    let c = 1.0 / (t * t + 1.0).sqrt();
    let s = t * c;
    for k in 0..n {
        let (a_kp, a_kq) = (a[k * n + p], a[k * n + q]);
        a[k * n + p] = c * a_kp - s * a_kq;
        a[k * n + q] = s * a_kp + c * a_kq;
    }
    for k in 0..n {
        let (a_pk, a_qk) = (a[p * n + k], a[q * n + k]);
        a[p * n + k] = c * a_pk - s * a_qk;
        a[q * n + k] = s * a_pk + c * a_qk;
    }
    // Exactly zero by construction; round-off would otherwise leave ~1e-17 behind.
    a[p * n + q] = 0.0;
    a[q * n + p] = 0.0;
    for k in 0..n {
        let (v_kp, v_kq) = (v[k * n + p], v[k * n + q]);
        v[k * n + p] = c * v_kp - s * v_kq;
        v[k * n + q] = s * v_kp + c * v_kq;
    }
}

/// The symmetric PSD square root `V diag(sqrt(max(lambda, 0))) V^T`.
fn psd_sqrt(c: &[f64], n: usize) -> Vec<f64> {
    let (eigenvalues, v) = symmetric_eigen(c, n);
    // A covariance is PSD; negative eigenvalues are round-off and are taken as zero.
    let roots: Vec<f64> = eigenvalues.iter().map(|l| l.max(0.0).sqrt()).collect();
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] = (0..n).map(|k| v[i * n + k] * roots[k] * v[j * n + k]).sum();
        }
    }
    out
}

fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let a_ik = a[i * n + k];
            for j in 0..n {
                out[i * n + j] += a_ik * b[k * n + j];
            }
        }
    }
    out
}

/// `(M + M^T) / 2`: removes the round-off asymmetry of a product that is symmetric in exact
/// arithmetic, so the Jacobi iteration sees a symmetric matrix.
fn symmetrised(m: &[f64], n: usize) -> Vec<f64> {
    let mut out = m.to_vec();
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] = 0.5 * (m[i * n + j] + m[j * n + i]);
        }
    }
    out
}

fn identity(n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    (0..n).for_each(|i| out[i * n + i] = 1.0);
    out
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};
    use rand_distr::{Distribution, StandardNormal};

    use super::*;

    const TOL: f64 = 1e-9;

    fn random_symmetric(n: usize, rng: &mut StdRng) -> Vec<f64> {
        let m: Vec<f64> = (0..n * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        symmetrised(&m, n)
    }

    /// `B B^T + eps I`: a random SPD matrix.
    fn random_spd(n: usize, rng: &mut StdRng) -> Vec<f64> {
        let b: Vec<f64> = (0..n * n).map(|_| StandardNormal.sample(rng)).collect();
        let mut bt = vec![0.0; n * n];
        (0..n).for_each(|i| (0..n).for_each(|j| bt[j * n + i] = b[i * n + j]));
        let mut c = matmul(&b, &bt, n);
        (0..n).for_each(|i| c[i * n + i] += 0.1);
        c
    }

    fn stats(mean: Vec<f64>, covariance: Vec<f64>) -> FeatureStats {
        FeatureStats { dim: mean.len(), mean, covariance }
    }

    #[test]
    fn jacobi_reconstructs_the_matrix_with_orthonormal_vectors() {
        let mut rng = StdRng::seed_from_u64(0);
        for n in [1, 2, 5, 17] {
            let a = random_symmetric(n, &mut rng);
            let (values, v) = symmetric_eigen(&a, n);
            for i in 0..n {
                for j in 0..n {
                    let rebuilt: f64 =
                        (0..n).map(|k| v[i * n + k] * values[k] * v[j * n + k]).sum();
                    assert!((rebuilt - a[i * n + j]).abs() < TOL, "n={n} A[{i},{j}]");
                    let dot: f64 = (0..n).map(|k| v[k * n + i] * v[k * n + j]).sum();
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((dot - want).abs() < TOL, "n={n} V^T V [{i},{j}] = {dot}");
                }
            }
            let trace: f64 = (0..n).map(|i| a[i * n + i]).sum();
            assert!((values.iter().sum::<f64>() - trace).abs() < TOL);
        }
    }

    #[test]
    fn the_psd_square_root_squares_back() {
        let mut rng = StdRng::seed_from_u64(1);
        let c = random_spd(6, &mut rng);
        let s = psd_sqrt(&c, 6);
        for (x, y) in matmul(&s, &s, 6).iter().zip(&c) {
            assert!((x - y).abs() < 1e-8 * (1.0 + y.abs()));
        }
    }

    #[test]
    fn a_set_is_at_distance_zero_from_itself() {
        let mut rng = StdRng::seed_from_u64(2);
        let rows: Vec<f64> = (0..200 * 8).map(|_| StandardNormal.sample(&mut rng)).collect();
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

    /// For 2x2 PSD `C1, C2`, `C1 C2` has eigenvalues `mu_1, mu_2 >= 0` with
    /// `mu_1 + mu_2 = tr(C1 C2)` and `mu_1 mu_2 = det C1 det C2`, so
    /// `tr sqrt(C1 C2) = sqrt(tr(C1 C2) + 2 sqrt(det C1 det C2))`: a closed form for
    /// covariances that do not commute.
    #[test]
    fn non_commuting_2x2_covariances_match_the_closed_form() {
        let (c1, c2) = (vec![2.0, 0.8, 0.8, 1.0], vec![1.0, -0.5, -0.5, 3.0]);
        let det = |c: &[f64]| c[0] * c[3] - c[1] * c[2];
        let product = matmul(&c1, &c2, 2);
        let trace_sqrt = (product[0] + product[3] + 2.0 * (det(&c1) * det(&c2)).sqrt()).sqrt();
        let want = 1.0 + 4.0 + (2.0 + 1.0) + (1.0 + 3.0) - 2.0 * trace_sqrt;
        let got = frechet_distance(&stats(vec![1.0, 0.0], c1), &stats(vec![0.0, 2.0], c2)).unwrap();
        assert!((got - want).abs() < TOL, "{got} vs {want}");
    }

    #[test]
    fn the_distance_is_symmetric_and_grows_with_a_mean_shift() {
        let mut rng = StdRng::seed_from_u64(3);
        let (c1, c2) = (random_spd(10, &mut rng), random_spd(10, &mut rng));
        let (a, b) = (stats(vec![0.0; 10], c1), stats(vec![0.1; 10], c2));
        let (ab, ba) = (frechet_distance(&a, &b).unwrap(), frechet_distance(&b, &a).unwrap());
        assert!((ab - ba).abs() < 1e-8 * ab.max(1.0), "{ab} vs {ba}");
        let far = stats(vec![1.0; 10], b.covariance.clone());
        assert!(frechet_distance(&a, &far).unwrap() > ab);
    }

    #[test]
    fn sample_statistics_are_the_unbiased_ones() {
        let s = FeatureStats::from_rows(&[1.0, 2.0, 3.0, 6.0], 2).unwrap();
        assert_eq!(s.mean, vec![2.0, 4.0]);
        assert_eq!(s.covariance, vec![2.0, 4.0, 4.0, 8.0]);
        assert!(FeatureStats::from_rows(&[1.0, 2.0], 2).is_err());
        assert!(FeatureStats::from_rows(&[1.0, 2.0, 3.0], 2).is_err());
        let other = stats(vec![0.0], vec![1.0]);
        assert!(frechet_distance(&s, &other).is_err());
    }
}
