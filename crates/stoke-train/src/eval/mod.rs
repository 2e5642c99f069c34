//! Metrics that several recipes share: 2-D sample quality per NFE ([`points`]) and the
//! digits classifier with its sample-quality metrics ([`digits`]), each reported as a mean
//! over independent draws with its standard error ([`Stat`]).

pub mod digits;
pub mod points;

use serde::Serialize;

/// A mean over independent draws and its standard error `sd / sqrt(k)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stat {
    /// The mean.
    pub mean: f64,
    /// Its standard error (0 for a single draw).
    pub stderr: f64,
}

impl Stat {
    /// The mean and standard error of `values` (NaN for none).
    pub fn of(values: &[f64]) -> Self {
        let k = values.len() as f64;
        let mean = values.iter().sum::<f64>() / k;
        if values.len() < 2 {
            return Self { mean, stderr: 0.0 };
        }
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1.0);
        Self { mean, stderr: (variance / k).sqrt() }
    }

    /// `self / other` with the delta-method standard error of a ratio of independent means,
    /// `r sqrt((se_a / a)^2 + (se_b / b)^2)`.
    pub fn ratio(self, other: Stat) -> Stat {
        let mean = self.mean / other.mean;
        let relative = (self.stderr / self.mean).powi(2) + (other.stderr / other.mean).powi(2);
        Stat { mean, stderr: mean.abs() * relative.sqrt() }
    }
}

#[cfg(test)]
mod tests {
    use super::Stat;

    #[test]
    fn the_standard_error_is_the_sample_sd_over_root_k() {
        let s = Stat::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.mean, 2.5);
        // Sample variance 5/3, k = 4.
        assert!((s.stderr - (5.0f64 / 3.0 / 4.0).sqrt()).abs() < 1e-15);
        assert_eq!(Stat::of(&[7.0]).stderr, 0.0);
        let r = Stat { mean: 2.0, stderr: 0.2 }.ratio(Stat { mean: 1.0, stderr: 0.1 });
        assert!((r.mean - 2.0).abs() < 1e-15 && (r.stderr - 2.0 * 0.02f64.sqrt()).abs() < 1e-12);
    }
}
