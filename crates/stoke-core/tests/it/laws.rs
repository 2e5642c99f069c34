//! Property laws of schedules, conversions, grids, samplers and transport (STYLE.md, 1).

use crate::strategies::*;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use stoke_core::noise_level::{ImportanceSampler, NoiseLevelSampler};
use stoke_core::param::{Prediction, conversion, convert};
use stoke_core::schedule::{
    BetaSchedule, DiscreteSchedule, NoiseSchedule, TimestepSpacing, VpCosine, VpLinear,
    ancestral_step, sigmas_exponential, sigmas_karras, sigmas_polyexponential, sigmas_vp,
    timesteps,
};
use stoke_core::transport::{assignment, energy_distance, squared_cost, w2};
use stoke_testkit::permutations;

proptest! {
    /// The VP SDE's variance obeys `d sigma^2/dt = beta(t) (1 - sigma^2)` with
    /// `beta(t) = beta_min + t (beta_max - beta_min)` [SONG21, Eq. 33]: checked by finite
    /// differences, independently of how the schedule computes `sigma`.
    #[test]
    fn vp_linear_variance_follows_the_sde(t in 0.02f64..0.98) {
        let s = VpLinear::song();
        let h = 1e-6;
        let var = |t: f64| s.sigma(t).powi(2);
        let slope = (var(t + h) - var(t - h)) / (2.0 * h);
        let beta = 0.1 + t * (20.0 - 0.1);
        let want = beta * (1.0 - var(t));
        prop_assert!((slope - want).abs() < 1e-4 * (1.0 + want.abs()), "{slope} vs {want}");
    }

    /// Continuous VP-cosine against the discrete `squaredcos_cap_v2` table, a different
    /// algorithm (a running product of clipped betas): the betas telescope, so
    /// `alpha_bar_i = alpha((i + 1) / T)^2` wherever no beta was clipped.
    #[test]
    fn vp_cosine_matches_the_discrete_cosine_table(i in 0usize..900) {
        let discrete = DiscreteSchedule::new(BetaSchedule::SquaredCosCapV2, 1000, 1e-4, 0.02).unwrap();
        let alpha = VpCosine::nichol().alpha((i + 1) as f64 / 1000.0);
        let ab = discrete.alphas_cumprod()[i];
        prop_assert!((alpha * alpha - ab).abs() < 1e-9 * (1.0 + ab), "{} vs {ab}", alpha * alpha);
    }

    #[test]
    fn log_snr_strictly_decreases((t1, t2) in ordered_times(1e-3)) {
        for (name, s) in schedules() {
            prop_assert!(s.log_snr(t1) > s.log_snr(t2), "{name}: {t1} {t2}");
        }
    }

    #[test]
    fn log_snr_inverse_round_trips(t in interior_t()) {
        for (name, s) in schedules() {
            let back = s.t_from_log_snr(s.log_snr(t));
            prop_assert!((back - t).abs() < 1e-8, "{name}: t {t} back {back}");
        }
    }

    #[test]
    fn derivatives_match_finite_differences(t in 0.05f64..0.95) {
        let h = 1e-6;
        // Discrete schedules are piecewise linear: skip them here (their kinks break
        // central differences); they have their own test below.
        for (name, s) in schedules().into_iter().filter(|(n, _)| !n.starts_with("discrete")) {
            let fd = |f: &dyn Fn(f64) -> f64| (f(t + h) - f(t - h)) / (2.0 * h);
            let rel = |a: f64, b: f64| (a - b).abs() / (1.0 + b.abs());
            prop_assert!(rel(s.d_alpha(t), fd(&|t| s.alpha(t))) < 1e-5, "{name} alpha'");
            prop_assert!(rel(s.d_sigma(t), fd(&|t| s.sigma(t))) < 1e-5, "{name} sigma'");
            prop_assert!(rel(s.d_log_snr(t), fd(&|t| s.log_snr(t))) < 1e-5, "{name} lambda'");
        }
    }

    #[test]
    fn betas_are_bounded_and_reproduce_alpha_bar(kind in beta_schedule(), n in 2usize..1200, zero_snr: bool) {
        let mut s = DiscreteSchedule::new(kind, n, 1e-4, 0.02).unwrap();
        if zero_snr {
            s = s.rescale_zero_terminal_snr().unwrap();
            prop_assert_eq!(*s.alphas_cumprod().last().unwrap(), 0.0);
        }
        // A different algorithm than the running product: a sum of logarithms.
        let mut log_acc = 0.0f64;
        for (i, (beta, ab)) in s.betas().iter().zip(s.alphas_cumprod()).enumerate() {
            prop_assert!(*beta > 0.0 && *beta <= 1.0);
            if kind == BetaSchedule::SquaredCosCapV2 && !zero_snr {
                prop_assert!(*beta <= 0.999);
            }
            log_acc += (-beta).ln_1p();
            prop_assert!((log_acc.exp() - ab).abs() <= 1e-10, "step {i}");
            // The linear schedule's betas in closed form: an arithmetic progression.
            if kind == BetaSchedule::Linear && !zero_snr {
                let want = 1e-4 + i as f64 * (0.02 - 1e-4) / (n - 1) as f64;
                prop_assert!((beta - want).abs() < 1e-15, "beta_{i} = {beta}, want {want}");
            }
        }
    }

    #[test]
    fn parameterizations_round_trip(t in interior_t(), x0 in value(), eps in value()) {
        for (name, s) in schedules() {
            let point = s.point(t);
            let x_t = point.alpha * x0 + point.sigma * eps;
            let truth = |p: Prediction| {
                let (a, b) = p.coefficients(&point);
                a * x0 + b * eps
            };
            for from in Prediction::ALL {
                for to in Prediction::ALL {
                    let got = convert(from, to, truth(from), x_t, &point).unwrap();
                    let want = truth(to);
                    prop_assert!((got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                        "{name} {from}->{to}: {got} vs {want}");
                    let back = convert(to, from, got, x_t, &point).unwrap();
                    prop_assert!((back - truth(from)).abs() <= 1e-6 * (1.0 + truth(from).abs()));
                }
            }
        }
    }

    #[test]
    fn ancestral_split_preserves_variance(from in 1e-3f64..100.0, frac in 0.0f64..1.0, eta in 0.0f64..3.0) {
        let to = from * frac;
        let step = ancestral_step(from, to, eta).unwrap();
        prop_assert!((step.sigma_down.powi(2) + step.sigma_up.powi(2) - to * to).abs() <= 1e-9 * (1.0 + to * to));
        prop_assert!(step.sigma_up <= to);
        prop_assert!(step.sigma_down >= 0.0);
    }

    #[test]
    fn sigma_grids_decrease_from_max_to_min(n in 1usize..200, lo in 1e-3f64..1.0, ratio in 1.5f64..1e4, rho in 0.5f64..10.0) {
        let hi = lo * ratio;
        for sigmas in [
            sigmas_karras(n, lo, hi, rho).unwrap(),
            sigmas_exponential(n, lo, hi).unwrap(),
            sigmas_polyexponential(n, lo, hi, rho).unwrap(),
        ] {
            prop_assert_eq!(sigmas.len(), n + 1);
            prop_assert_eq!(*sigmas.last().unwrap(), 0.0);
            prop_assert!((sigmas[0] - hi).abs() <= 1e-9 * hi);
            if n > 1 {
                prop_assert!((sigmas[n - 1] - lo).abs() <= 1e-9 * hi);
            }
            prop_assert!(sigmas.windows(2).all(|w| w[0] >= w[1]), "{sigmas:?}");
        }
        let vp = sigmas_vp(n, 19.9, 0.1, 1e-3).unwrap();
        prop_assert!(vp.windows(2).all(|w| w[0] > w[1]));
    }

    #[test]
    fn timesteps_are_descending_and_in_range(n_train in 1usize..2000, k in 1usize..2000, offset in 0usize..2) {
        prop_assume!(k <= n_train);
        for spacing in TimestepSpacing::ALL {
            // Only an offset that pushes leading's largest step past the schedule is refused.
            let past_the_end = (k - 1) * (n_train / k) + offset >= n_train;
            let result = timesteps(n_train, k, spacing, offset);
            if spacing == TimestepSpacing::Leading && past_the_end {
                prop_assert!(result.is_err());
                continue;
            }
            let steps = result.unwrap();
            prop_assert_eq!(steps.len(), k);
            prop_assert!(steps.windows(2).all(|w| w[0] > w[1]), "{spacing}: {steps:?}");
            prop_assert!(steps.iter().all(|&s| s < n_train));
            if spacing == TimestepSpacing::Trailing {
                prop_assert_eq!(steps[0], n_train - 1);
            }
        }
    }

    #[test]
    fn stratified_times_fill_every_stratum(n in 1usize..64, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut t = NoiseLevelSampler::Stratified { low: 0.0, high: 1.0 }.sample(n, &mut rng);
        t.sort_by(f64::total_cmp);
        for (i, t) in t.iter().enumerate() {
            let stratum = (t * n as f64).floor() as usize;
            prop_assert!(stratum == i || (stratum == n && i == n - 1));
        }
    }

    #[test]
    fn assignment_is_an_optimal_permutation(n in 1usize..7, seed: u64) {
        use rand::RngExt;
        let mut rng = StdRng::seed_from_u64(seed);
        let cost: Vec<f64> = (0..n * n).map(|_| rng.random::<f64>() * 10.0).collect();
        let perm = assignment(&cost, n).unwrap();
        let mut seen = vec![false; n];
        for &j in &perm { prop_assert!(!seen[j]); seen[j] = true; }
        let total = |p: &[usize]| p.iter().enumerate().map(|(i, &j)| cost[i * n + j]).sum::<f64>();
        let best = permutations(n).iter().map(|p| total(p)).fold(f64::INFINITY, f64::min);
        prop_assert!((total(&perm) - best).abs() < 1e-9);
    }

    #[test]
    fn w2_is_a_metric_on_samples(seed: u64, n in 2usize..30, shift in -3.0f64..3.0) {
        use rand::RngExt;
        let mut rng = StdRng::seed_from_u64(seed);
        let x: Vec<f64> = (0..2 * n).map(|_| rng.random::<f64>()).collect();
        let y: Vec<f64> = x.iter().map(|v| v + shift).collect();
        prop_assert!(w2(&x, &x, 2).unwrap().abs() < 1e-12);
        // A translation by (shift, shift) costs exactly |shift| sqrt(2).
        prop_assert!((w2(&x, &y, 2).unwrap() - shift.abs() * 2f64.sqrt()).abs() < 1e-9);
        prop_assert!(energy_distance(&x, &y, 2).unwrap() >= 0.0);
        prop_assert!(energy_distance(&x, &x, 2).unwrap() < 1e-12);
    }
}

#[test]
fn discrete_derivatives_match_segment_slopes() {
    let s = DiscreteSchedule::diffusers(BetaSchedule::Linear);
    let ab = s.alphas_cumprod();
    // Inside segment 100..101 alpha is linear in t with slope (a_101 - a_100) * T.
    let t = 100.5 / 1000.0;
    let slope = (ab[101].sqrt() - ab[100].sqrt()) * 1000.0;
    assert!((s.d_alpha(t) - slope).abs() < 1e-12);
    assert!((s.alpha(t) - 0.5 * (ab[100].sqrt() + ab[101].sqrt())).abs() < 1e-12);
    // On the grid the schedule is exact.
    assert!((s.alpha(0.25) - ab[250].sqrt()).abs() < 1e-12);
}

#[test]
fn degenerate_conversions_are_errors() {
    let point = stoke_core::schedule::Flow.point(0.0);
    // At t = 0 an x0 prediction carries no information about eps.
    assert!(conversion(Prediction::X0, Prediction::Eps, &point).is_err());
    assert!(conversion(Prediction::Score, Prediction::X0, &point).is_err());
}

#[test]
fn importance_sampler_is_unbiased() {
    // q puts 90% of its mass on [0, 0.1); the weighted mean of g(t) = t must still be 1/2.
    let sampler = ImportanceSampler::new(vec![0.0, 0.1, 1.0], vec![0.9, 0.1]).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let draws = sampler.sample(200_000, &mut rng);
    let estimates: Vec<f64> = draws.iter().map(|(t, w)| t * w).collect();
    let n = estimates.len() as f64;
    let mean = estimates.iter().sum::<f64>() / n;
    let var = estimates.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let standard_error = (var / n).sqrt();
    assert!((mean - 0.5).abs() < 4.0 * standard_error, "mean {mean} se {standard_error}");
    let near_zero = draws.iter().filter(|(t, _)| *t < 0.1).count() as f64 / n;
    assert!((near_zero - 0.9).abs() < 0.01);
    assert!((sampler.pdf(0.05) - 9.0).abs() < 1e-12);
}

#[test]
fn logit_normal_and_edm_samplers_match_their_moments() {
    let mut rng = StdRng::seed_from_u64(3);
    let n = 100_000;
    let logits: Vec<f64> = NoiseLevelSampler::LogitNormal { mean: 0.5, std: 1.5 }
        .sample(n, &mut rng)
        .iter()
        .map(|t| (t / (1.0 - t)).ln())
        .collect();
    let (mean, std) = moments(&logits);
    // Standard errors: 1.5/sqrt(n) ~ 0.005 for the mean; ~0.0034 for the std.
    assert!((mean - 0.5).abs() < 0.025 && (std - 1.5).abs() < 0.02, "{mean} {std}");
    let log_sigma: Vec<f64> =
        NoiseLevelSampler::edm().sample(n, &mut rng).iter().map(|s| s.ln()).collect();
    let (mean, std) = moments(&log_sigma);
    assert!((mean + 1.2).abs() < 0.02 && (std - 1.2).abs() < 0.015, "{mean} {std}");
}

fn moments(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

#[test]
fn energy_distance_separates_shifted_samples() {
    use rand::RngExt;
    let mut rng = StdRng::seed_from_u64(11);
    let sample = |rng: &mut StdRng, shift: f64| -> Vec<f64> {
        (0..400).map(|_| rng.random::<f64>() + shift).collect()
    };
    let (a, b, c) = (sample(&mut rng, 0.0), sample(&mut rng, 0.0), sample(&mut rng, 1.0));
    let same = energy_distance(&a, &b, 2).unwrap();
    let shifted = energy_distance(&a, &c, 2).unwrap();
    assert!(same.abs() < 0.02, "{same}");
    assert!(shifted > 0.5, "{shifted}");
    assert!(squared_cost(&a, &b, 2).unwrap().len() == 200 * 200);
}
