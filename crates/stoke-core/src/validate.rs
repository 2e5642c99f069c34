//! The validators every Stoke crate uses on user input: each checks one rule and returns the
//! value it accepted, or a [`CoreError`] that names the parameter and the bad value.
//!
//! Other crates wrap [`CoreError`] in their own error type (`From<CoreError>`), so a
//! refusal reads the same everywhere: `learning_rate must lie in (0, inf), got -0.5`.

use crate::error::{CoreError, Result};

/// Checks that `value` is finite.
///
/// # Errors
/// [`CoreError::NonFinite`].
pub fn finite(name: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() { Ok(value) } else { Err(CoreError::NonFinite { name, value }) }
}

/// Checks that `value` is finite and strictly positive.
///
/// # Errors
/// [`CoreError::NonFinite`], [`CoreError::OutOfRange`].
pub fn positive(name: &'static str, value: f64) -> Result<f64> {
    finite(name, value)?;
    if value > 0.0 {
        Ok(value)
    } else {
        Err(CoreError::OutOfRange { name, value, range: "(0, inf)" })
    }
}

/// Checks that `value` is finite and not negative.
///
/// # Errors
/// [`CoreError::NonFinite`], [`CoreError::OutOfRange`].
pub fn non_negative(name: &'static str, value: f64) -> Result<f64> {
    finite(name, value)?;
    if value >= 0.0 {
        Ok(value)
    } else {
        Err(CoreError::OutOfRange { name, value, range: "[0, inf)" })
    }
}

/// Checks that `value` is finite and lies in the closed interval `[low, high]`; `range` is
/// the interval in words for the message (`"[0, 1]"`).
///
/// # Errors
/// [`CoreError::NonFinite`], [`CoreError::OutOfRange`].
pub fn in_range(
    name: &'static str,
    value: f64,
    low: f64,
    high: f64,
    range: &'static str,
) -> Result<f64> {
    finite(name, value)?;
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(CoreError::OutOfRange { name, value, range })
    }
}

/// Checks that `value` lies in the half-open interval `[low, high)`.
///
/// # Errors
/// [`CoreError::NonFinite`], [`CoreError::OutOfRange`].
pub fn in_half_open(
    name: &'static str,
    value: f64,
    low: f64,
    high: f64,
    range: &'static str,
) -> Result<f64> {
    finite(name, value)?;
    if value >= low && value < high {
        Ok(value)
    } else {
        Err(CoreError::OutOfRange { name, value, range })
    }
}

/// Checks that a count (steps, samples, layers, a width) is at least one.
///
/// # Errors
/// [`CoreError::Zero`].
pub fn count(name: &'static str, value: usize) -> Result<usize> {
    if value == 0 { Err(CoreError::Zero { name }) } else { Ok(value) }
}

/// The largest size [`size`] accepts: `2^24`. A network width, batch or sample count above it
/// would allocate beyond what a training run can hold, and its products overflow `usize`
/// arithmetic in the tensor library.
pub const MAX_SIZE: usize = 1 << 24;

/// Checks that a size (a width, a batch, a number of samples) lies in `1..=MAX_SIZE`.
///
/// # Errors
/// [`CoreError::Zero`], [`CoreError::OutOfRange`].
pub fn size(name: &'static str, value: usize) -> Result<usize> {
    count(name, value)?;
    if value <= MAX_SIZE {
        Ok(value)
    } else {
        Err(CoreError::OutOfRange { name, value: value as f64, range: "[1, 2^24]" })
    }
}

/// The product of sizes (a hidden width `ratio * d_model`, a pixel count), checked as a
/// [`size`] itself: no factor is zero and the product neither overflows nor exceeds
/// [`MAX_SIZE`].
///
/// # Errors
/// [`CoreError::Zero`], [`CoreError::OutOfRange`].
pub fn product(name: &'static str, factors: &[usize]) -> Result<usize> {
    let total = factors.iter().try_fold(1usize, |acc, &f| acc.checked_mul(f));
    match total {
        Some(total) => size(name, total),
        None => Err(CoreError::OutOfRange { name, value: f64::INFINITY, range: "[1, 2^24]" }),
    }
}

/// Checks that a count is at least `min`.
///
/// # Errors
/// [`CoreError::TooSmall`] (or [`CoreError::Zero`] for `min = 1`).
pub fn at_least(name: &'static str, value: usize, min: usize) -> Result<usize> {
    if value >= min {
        Ok(value)
    } else if min == 1 {
        Err(CoreError::Zero { name })
    } else {
        Err(CoreError::TooSmall { name, value, min })
    }
}

/// Checks `low < high`.
///
/// # Errors
/// [`CoreError::Order`] (also when either is NaN).
pub fn ordered(low_name: &'static str, low: f64, high_name: &'static str, high: f64) -> Result<()> {
    if low < high { Ok(()) } else { Err(CoreError::Order { low_name, low, high_name, high }) }
}

/// Checks that `value` is a multiple of `of` (which must be at least one).
///
/// # Errors
/// [`CoreError::Zero`] for `of = 0`, [`CoreError::NotMultiple`].
pub fn multiple_of(
    name: &'static str,
    value: usize,
    of_name: &'static str,
    of: usize,
) -> Result<usize> {
    count(of_name, of)?;
    if value.is_multiple_of(of) {
        Ok(value)
    } else {
        Err(CoreError::NotMultiple { name, value, of_name, of })
    }
}

/// Checks that two lengths agree.
///
/// # Errors
/// [`CoreError::LengthMismatch`].
pub fn same_length(name: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got { Ok(()) } else { Err(CoreError::LengthMismatch { name, expected, got }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_accepts_its_domain_and_names_the_bad_value() {
        assert_eq!(positive("lr", 0.5), Ok(0.5));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let message = positive("lr", bad).unwrap_err().to_string();
            assert!(message.starts_with("lr must") && message.contains(&bad.to_string()));
        }
        assert_eq!(non_negative("x", 0.0), Ok(0.0));
        assert!(non_negative("x", -1e-300).is_err());
        assert_eq!(in_range("p", 1.0, 0.0, 1.0, "[0, 1]"), Ok(1.0));
        assert!(in_range("p", 1.0 + 1e-12, 0.0, 1.0, "[0, 1]").is_err());
        assert!(in_half_open("p", 1.0, 0.0, 1.0, "[0, 1)").is_err());
        assert_eq!(in_half_open("p", 0.0, 0.0, 1.0, "[0, 1)"), Ok(0.0));
        assert_eq!(count("steps", 1), Ok(1));
        assert_eq!(count("steps", 0).unwrap_err().to_string(), "steps must be at least 1, got 0");
        assert_eq!(size("width", MAX_SIZE), Ok(MAX_SIZE));
        assert!(size("width", MAX_SIZE + 1).is_err() && size("width", 0).is_err());
        assert_eq!(at_least("n", 2, 2), Ok(2));
        assert_eq!(at_least("n", 1, 2).unwrap_err().to_string(), "n must be at least 2, got 1");
        assert!(ordered("a", 1.0, "b", 1.0).is_err() && ordered("a", f64::NAN, "b", 1.0).is_err());
        assert_eq!(multiple_of("width", 12, "heads", 4), Ok(12));
        assert!(multiple_of("width", 10, "heads", 4).unwrap_err().to_string().contains("10"));
        assert!(multiple_of("width", 10, "heads", 0).is_err());
        assert!(same_length("labels", 3, 2).is_err());
    }
}
