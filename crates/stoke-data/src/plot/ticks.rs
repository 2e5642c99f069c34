//! Tick positions and labels: "nice" 1-2-5 steps and compact number formatting.

/// A tick: its position in axis units and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// Position in axis units (log10 of the value on a log axis).
    pub position: f64,
    /// Text drawn beside the tick.
    pub label: String,
}

/// The most ticks an axis ever gets, whatever the range.
const MAX_TICKS: usize = 12;

/// The step of the form `{1, 2, 5} * 10^k` nearest (on a log scale) to `span / target`.
///
/// The thresholds are the geometric means `sqrt(2)`, `sqrt(10)`, `sqrt(50)` of
/// neighbouring steps, so an axis gets between about `0.7 * target` and `1.4 * target`
/// intervals.
pub fn nice_step(span: f64, target: usize) -> f64 {
    let raw = span / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let residual = raw / magnitude;
    let thresholds = [(2f64.sqrt(), 1.0), (10f64.sqrt(), 2.0), (50f64.sqrt(), 5.0)];
    let nice = thresholds.into_iter().find(|&(limit, _)| residual < limit).map_or(10.0, |(_, m)| m);
    nice * magnitude
}

/// Multiples of [`nice_step`] inside `[lo, hi]`, labelled.
///
/// A degenerate or non-finite range gives no ticks.
pub fn linear_ticks(lo: f64, hi: f64, target: usize) -> Vec<Tick> {
    values(lo, hi, nice_step(hi - lo, target))
        .into_iter()
        .map(|(value, step)| Tick { position: value, label: format_tick(value, step) })
        .collect()
}

/// Multiples of `step` in `[lo, hi]`, each with the step.
fn values(lo: f64, hi: f64, step: f64) -> Vec<(f64, f64)> {
    let span = hi - lo;
    // Also rejects NaN and infinite ranges, where no step is meaningful.
    if !(span > 0.0 && span.is_finite() && step > 0.0) {
        return Vec::new();
    }
    let first = (lo / step).ceil();
    (0..MAX_TICKS)
        .map(|k| (first + k as f64) * step)
        .take_while(|&value| value <= hi + step * 1e-9)
        .map(|value| (value, step))
        .collect()
}

/// Ticks for a log10 axis spanning `[lo, hi]` (both in log10 units).
///
/// Over three decades or more, ticks sit on powers of ten (`1e-5`, `0.01`, `1`, `100`);
/// over one to three decades, on `{1, 2, 5} * 10^k`; over less than a decade, on nice
/// values of the data itself (`2`, `3`, `4`).
pub fn log_ticks(lo: f64, hi: f64, target: usize) -> Vec<Tick> {
    let span = hi - lo;
    // Also rejects NaN and infinite ranges.
    if !(span > 0.0 && span.is_finite()) {
        return Vec::new();
    }
    if span >= 3.0 {
        // Steps of at least one decade are whole numbers of decades: 1, 2, 5, 10, ...
        let step = nice_step(span, target).max(1.0);
        return values(lo, hi, step)
            .into_iter()
            .map(|(t, _)| Tick { position: t, label: format_power(t.round() as i32) })
            .collect();
    }
    if span >= 1.0 {
        return one_two_five_ticks(lo, hi);
    }
    let (value_lo, value_hi) = (10f64.powf(lo), 10f64.powf(hi));
    values(value_lo, value_hi, nice_step(value_hi - value_lo, target))
        .into_iter()
        .filter(|&(value, _)| value > 0.0)
        .map(|(value, step)| Tick { position: value.log10(), label: format_tick(value, step) })
        .collect()
}

/// `{1, 2, 5} * 10^k` inside `[lo, hi]` (log10 units, at most a few decades wide).
fn one_two_five_ticks(lo: f64, hi: f64) -> Vec<Tick> {
    let decades = lo.floor() as i32..=hi.ceil() as i32;
    decades
        .flat_map(|k| [1.0, 2.0, 5.0].map(|m| (m * 10f64.powi(k), 10f64.powi(k))))
        .filter(|&(value, _)| (lo..=hi).contains(&value.log10()))
        .take(MAX_TICKS)
        .map(|(value, step)| Tick { position: value.log10(), label: format_tick(value, step) })
        .collect()
}

/// `10^exponent` as `0.01`, `1`, `1000` near one, else as `1e-5`.
fn format_power(exponent: i32) -> String {
    match exponent {
        -3..=-1 => format!("{:.*}", exponent.unsigned_abs() as usize, 10f64.powi(exponent)),
        0..=4 => format!("{}", 10u32.pow(exponent.unsigned_abs())),
        _ => format!("1e{exponent}"),
    }
}

/// `value` with just enough digits to tell ticks `step` apart.
///
/// Plain decimals for moderate numbers; scientific (`2.5e-4`, `1.2e6`) for very large
/// values or very fine steps, so labels stay short.
pub fn format_tick(value: f64, step: f64) -> String {
    // Snap to the step so that `-0.0000001` from rounding prints as `0`.
    let snapped = (value / step).round() * step;
    if snapped.abs() < step * 0.5 {
        return "0".to_owned();
    }
    let step_digits = step.log10().floor() as i32;
    if snapped.abs() >= 1e5 || step_digits < -3 {
        let precision = (snapped.abs().log10().floor() as i32 - step_digits).clamp(0, 6);
        return trim_mantissa(&format!("{snapped:.*e}", precision as usize));
    }
    format!("{snapped:.*}", (-step_digits).clamp(0, 6) as usize)
}

/// `2.50e-4` -> `2.5e-4`, `1.0e6` -> `1e6`.
fn trim_mantissa(text: &str) -> String {
    match text.split_once('e') {
        Some((mantissa, exponent)) if mantissa.contains('.') => {
            let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
            format!("{mantissa}e{exponent}")
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn labels(ticks: &[Tick]) -> Vec<&str> {
        ticks.iter().map(|t| t.label.as_str()).collect()
    }

    #[test]
    fn linear_ticks_are_round_numbers() {
        assert_eq!(labels(&linear_ticks(-7.5, 7.5, 5)), ["-6", "-4", "-2", "0", "2", "4", "6"]);
        assert_eq!(labels(&linear_ticks(0.0, 1.0, 5)), ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        assert_eq!(labels(&linear_ticks(0.0, 3e-4, 3)), ["0", "1e-4", "2e-4", "3e-4"]);
        assert_eq!(labels(&linear_ticks(0.0, 2e6, 2)), ["0", "1e6", "2e6"]);
        assert!(linear_ticks(1.0, 1.0, 5).is_empty());
        assert!(linear_ticks(f64::NAN, 1.0, 5).is_empty());
    }

    #[test]
    fn log_ticks_use_powers_of_ten_over_decades() {
        assert_eq!(labels(&log_ticks(-3.0, 1.0, 5)), ["0.001", "0.01", "0.1", "1", "10"]);
        assert_eq!(labels(&log_ticks(-8.2, 0.1, 5)), ["1e-8", "1e-6", "1e-4", "0.01", "1"]);
        assert_eq!(labels(&log_ticks(-1.1, 0.2, 5)), ["0.1", "0.2", "0.5", "1"]);
        assert_eq!(labels(&log_ticks(-5.0, -3.5, 5)), ["1e-5", "2e-5", "5e-5", "1e-4", "2e-4"]);
        assert_eq!(labels(&log_ticks(2f64.log10(), 5f64.log10(), 3)), ["2", "3", "4", "5"]);
    }

    proptest! {
        #[test]
        fn ticks_lie_in_range_and_increase(lo in -1e6f64..1e6, span in 1e-6f64..1e6, target in 2..10usize) {
            let ticks = linear_ticks(lo, lo + span, target);
            prop_assert!(!ticks.is_empty() && ticks.len() <= MAX_TICKS);
            for pair in ticks.windows(2) {
                prop_assert!(pair[0].position < pair[1].position);
            }
            // Rounding in `k * step` grows with the magnitude of `lo`.
            let slack = span * 1e-6 + lo.abs() * 1e-12;
            prop_assert!(ticks.iter().all(|t| t.position >= lo - slack && t.position <= lo + span + slack));
        }
    }
}
