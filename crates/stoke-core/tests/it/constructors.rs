//! Every public constructor takes arbitrary f64 values, NaN and infinities included, and
//! answers with a value or a typed error, never a panic; what it accepts is finite.

use crate::strategies::{any_f64, beta_schedule};
use proptest::prelude::*;
use rand::SeedableRng;
use stoke_core::noise_level::{ImportanceSampler, NoiseLevelSampler};
use stoke_core::param::EdmPreconditioning;
use stoke_core::receptive_field::{Layer, receptive_field};
use stoke_core::schedule::{
    DiscreteSchedule, NoiseSchedule, TimestepSpacing, Ve, VpCosine, VpLinear, ancestral_step,
    sigmas_exponential, sigmas_karras, sigmas_polyexponential, sigmas_vp, timesteps,
};
use stoke_core::transport::{assignment, energy_distance, w2};
use stoke_core::weight::{TimeDensity, Weighting};

fn all_finite(values: &[f64]) -> bool {
    values.iter().all(|v| v.is_finite())
}

proptest! {
    #[test]
    fn continuous_schedules(a in any_f64(), b in any_f64()) {
        if let Ok(s) = VpLinear::new(a, b) {
            prop_assert!(s.alpha(0.5).is_finite() && s.log_snr(0.5).is_finite());
        }
        if let Ok(s) = VpCosine::new(a) {
            prop_assert!(s.alpha(0.5).is_finite());
        }
        if let Ok(s) = Ve::new(a, b) {
            prop_assert!(s.sigma(0.5).is_finite());
        }
    }

    #[test]
    fn discrete_schedules(kind in beta_schedule(), n in 0usize..300, a in any_f64(), b in any_f64()) {
        if let Ok(s) = DiscreteSchedule::new(kind, n, a, b) {
            prop_assert!(all_finite(s.betas()) && all_finite(s.alphas_cumprod()));
            if let Ok(z) = s.rescale_zero_terminal_snr() {
                prop_assert!(all_finite(z.betas()) && all_finite(z.alphas_cumprod()));
            }
        }
        let betas: Vec<f64> = [a, b, a].into_iter().collect();
        if let Ok(s) = DiscreteSchedule::from_betas(betas) {
            prop_assert!(all_finite(s.alphas_cumprod()));
            if let Ok(z) = s.rescale_zero_terminal_snr() {
                prop_assert!(all_finite(z.betas()));
            }
        }
    }

    #[test]
    fn sigma_grids(n in 0usize..50, a in any_f64(), b in any_f64(), c in any_f64()) {
        for grid in [
            sigmas_karras(n, a, b, c),
            sigmas_exponential(n, a, b),
            sigmas_polyexponential(n, a, b, c),
            sigmas_vp(n, a, b, c),
        ].into_iter().flatten() {
            prop_assert!(all_finite(&grid));
        }
        if let Ok(step) = ancestral_step(a, b, c) {
            prop_assert!(step.sigma_up.is_finite() && step.sigma_down.is_finite());
        }
    }

    #[test]
    fn spacing(n_train in 0usize..3000, k in 0usize..3000, offset in 0usize..3) {
        for spacing in TimestepSpacing::ALL {
            if let Ok(steps) = timesteps(n_train, k, spacing, offset) {
                // What is accepted indexes the schedule, in diffusers' descending order.
                prop_assert_eq!(steps.len(), k);
                prop_assert!(steps.iter().all(|&t| t < n_train), "{:?}", steps);
                prop_assert!(steps.windows(2).all(|w| w[1] < w[0]), "{:?}", steps);
            }
        }
    }

    #[test]
    fn preconditioning_weights_and_samplers(a in any_f64(), b in any_f64(), c in any_f64()) {
        if let Ok(p) = EdmPreconditioning::new(a)
            && let Ok(s) = p.scalings(b) {
            prop_assert!(s.c_skip.is_finite() && s.c_out.is_finite() && s.c_in.is_finite());
        }
        let weightings = [
            Weighting::MinSnr { gamma: a, density: TimeDensity::LogitNormal { mean: b, std: c } },
            Weighting::SoftMinSnr { gamma: a, density: TimeDensity::Uniform },
            Weighting::Sigmoid { bias: a },
            Weighting::Edm { sigma_data: a, p_mean: b, p_std: c },
        ];
        let schedule = VpCosine::nichol();
        for w in weightings {
            if w.validate().is_ok() {
                for log_snr in [-10.0, -1.0, 0.0, 1.0, 10.0] {
                    let value = w.w(log_snr, &schedule);
                    prop_assert!(value.is_finite() && value >= 0.0, "{:?} at {}: {}", w, log_snr, value);
                }
            }
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        for s in [
            NoiseLevelSampler::Uniform { low: a, high: b },
            NoiseLevelSampler::Stratified { low: a, high: b },
            NoiseLevelSampler::LogitNormal { mean: a, std: b },
            NoiseLevelSampler::EdmLogNormal { p_mean: a, p_std: b },
        ] {
            if s.validate().is_ok() {
                let t = s.sample(16, &mut rng);
                prop_assert!(t.len() == 16 && all_finite(&t), "{:?}: {:?}", s, t);
            }
        }
        for (edges, weights) in [(vec![0.0, a, b], vec![c, 1.0]), (vec![a], vec![])] {
            if let Ok(sampler) = ImportanceSampler::new(edges, weights) {
                for (t, q) in sampler.sample(16, &mut rng) {
                    prop_assert!(t.is_finite() && q.is_finite() && q > 0.0, "{} {}", t, q);
                }
            }
        }
    }

    #[test]
    fn transport_and_layers(a in any_f64(), b in any_f64(), k in 0usize..4, s in 0usize..3, d in 0usize..3) {
        if let Ok(mut perm) = assignment(&[a, b, b, a], 2) {
            perm.sort_unstable();
            prop_assert_eq!(perm, vec![0, 1]);
        }
        prop_assert!(assignment(&[a], 2).is_err());
        // Far-apart clouds must give a large finite distance or an error, never a silent 0
        // from an overflowing squared distance.
        let x = [a, b, 0.0, 1.0];
        let y = [b, a, 1.0, 0.0];
        for d in [w2(&x, &y, 2), energy_distance(&x, &y, 2)].into_iter().flatten() {
            prop_assert!(d.is_finite() && d >= 0.0, "{}", d);
            let spread = (a - b).abs();
            if spread.is_finite() && spread > 1e10 {
                prop_assert!(d > 1e-3 * spread, "{} for points {} apart", d, spread);
            }
        }
        prop_assert!(w2(&[a, b, a], &[b, a], 2).is_err());
        if let Ok(layer) = Layer::dilated(k, s, 1, d) {
            prop_assert!(receptive_field(&[layer]).is_ok());
        }
        prop_assert!(receptive_field(&[]).is_err());
    }
}

/// `T` read from `json`, or the error's text.
fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
    serde_json::from_str(json).map_err(|e| e.to_string())
}

#[test]
fn deserialisation_goes_through_the_constructors() {
    // What each constructor refuses, JSON refuses too, naming the value.
    let refused: [(Result<(), String>, &str); 9] = [
        (from_json::<VpLinear>(r#"{"beta_min": -1, "beta_max": 20}"#).map(drop), "-1"),
        (from_json::<VpCosine>(r#"{"s": -0.5}"#).map(drop), "-0.5"),
        (from_json::<Ve>(r#"{"sigma_min": 0, "sigma_max": 80}"#).map(drop), "sigma_min"),
        (from_json::<EdmPreconditioning>(r#"{"sigma_data": 0}"#).map(drop), "sigma_data"),
        (
            from_json::<DiscreteSchedule>(r#"{"betas": [], "alphas_cumprod": []}"#).map(drop),
            "betas",
        ),
        (
            from_json::<DiscreteSchedule>(r#"{"betas": [0.1, 0.2], "alphas_cumprod": [0.9, 0.5]}"#)
                .map(drop),
            "alphas_cumprod",
        ),
        (from_json::<ImportanceSampler>(r#"{"edges": [0, 1], "density": [-1]}"#).map(drop), ""),
        (from_json::<NoiseLevelSampler>(r#"{"Uniform": {"low": 1, "high": 0}}"#).map(drop), "low"),
        (
            from_json::<NoiseLevelSampler>(r#"{"EdmLogNormal": {"p_mean": 900, "p_std": 1}}"#)
                .map(drop),
            "",
        ),
    ];
    for (i, (result, needle)) in refused.into_iter().enumerate() {
        let message = result.expect_err(&format!("case {i} must be refused"));
        assert!(message.contains(needle), "case {i}: {message}");
    }
    // What the constructors build round-trips.
    let schedule = DiscreteSchedule::diffusers(stoke_core::schedule::BetaSchedule::Linear);
    let back: DiscreteSchedule = from_json(&serde_json::to_string(&schedule).unwrap()).unwrap();
    // Rebuilt from the betas: equal to the stored table up to rounding.
    let gap = back
        .alphas_cumprod()
        .iter()
        .zip(schedule.alphas_cumprod())
        .map(|(a, b)| (a - b).abs() / b)
        .fold(0.0, f64::max);
    assert!(gap < 1e-12, "relative gap {gap}");
    for sampler in [NoiseLevelSampler::uniform(), NoiseLevelSampler::edm()] {
        let back: NoiseLevelSampler = from_json(&serde_json::to_string(&sampler).unwrap()).unwrap();
        assert_eq!(back, sampler);
    }
    let ve = Ve::new(0.002, 80.0).unwrap();
    assert_eq!(from_json::<Ve>(&serde_json::to_string(&ve).unwrap()).unwrap(), ve);
    // diffusers' spacing names, and the capitalised ones configs written before held.
    assert_eq!(from_json::<TimestepSpacing>(r#""trailing""#), Ok(TimestepSpacing::Trailing));
    assert_eq!(from_json::<TimestepSpacing>(r#""Leading""#), Ok(TimestepSpacing::Leading));
    assert_eq!(serde_json::to_string(&TimestepSpacing::Linspace).unwrap(), r#""linspace""#);
}
