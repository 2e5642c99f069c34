//! Each weighting `w(lambda)` against its closed form in Kingma & Gao [KINGMA23, Table 1]
//! and SD3 [ESSER24, Sec. 3.1]. Closed forms hold up to the constant factors noted.

use std::f64::consts::PI;

use stoke_core::param::Prediction;
use stoke_core::schedule::{Edm, Flow, NoiseSchedule, VpCosine};
use stoke_core::weight::{TimeDensity, Weighting, edm_loss_weight, min_snr_factor};

const LAMBDAS: [f64; 9] = [-8.0, -4.0, -2.0, -0.5, 0.0, 0.7, 2.0, 5.0, 9.0];

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + b.abs())
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn eps_mse_on_cosine_is_sech() {
    // Cosine schedule without offset: lambda = -2 ln tan(pi t / 2), and uniform t gives
    // p(lambda) = sech(lambda/2) / (2 pi).
    let cosine = VpCosine::new(0.0).unwrap();
    let w = Weighting::Mse { prediction: Prediction::Eps, density: TimeDensity::Uniform };
    for l in LAMBDAS {
        let want = 1.0 / (l / 2.0).cosh() / (2.0 * PI);
        assert!(close(w.w(l, &cosine), want), "lambda {l}");
    }
}

#[test]
fn v_and_x0_mse_on_cosine() {
    let cosine = VpCosine::new(0.0).unwrap();
    for l in LAMBDAS {
        let p = 1.0 / (l / 2.0).cosh() / (2.0 * PI);
        let v = Weighting::Mse { prediction: Prediction::V, density: TimeDensity::Uniform };
        assert!(close(v.w(l, &cosine), p * ((-l).exp() + 1.0)), "v, lambda {l}");
        let x0 = Weighting::Mse { prediction: Prediction::X0, density: TimeDensity::Uniform };
        assert!(close(x0.w(l, &cosine), p * (-l).exp()), "x0, lambda {l}");
    }
}

#[test]
fn flow_matching_is_exp_minus_half_lambda() {
    // Rectified flow with uniform t: w = e^{-lambda/2} / 2 [KINGMA23, Sec. 3.5].
    let w = Weighting::Mse { prediction: Prediction::Velocity, density: TimeDensity::Uniform };
    for l in LAMBDAS {
        assert!(close(w.w(l, &Flow), (-l / 2.0).exp() / 2.0), "lambda {l}");
    }
}

#[test]
fn sd3_densities_give_t_over_one_minus_t_times_pi() {
    // SD3: w_t = t/(1-t) pi(t) (our frame adds the factor 1/2) [ESSER24, Sec. 3.1].
    for (w, density) in [
        (Weighting::sd3_logit_normal(), TimeDensity::LogitNormal { mean: 0.0, std: 1.0 }),
        (Weighting::sd3_cosmap(), TimeDensity::CosMap),
    ] {
        for l in LAMBDAS {
            let t = Flow.t_from_log_snr(l);
            let want = 0.5 * t / (1.0 - t) * density.pdf(t);
            assert!(close(w.w(l, &Flow), want), "lambda {l}");
        }
    }
    // The logit-normal density itself: logit(t) ~ N(0, 1).
    let t: f64 = 0.3;
    let z = (t / (1.0 - t)).ln();
    let want = (-0.5 * z * z).exp() / (2.0 * PI).sqrt() / (t * (1.0 - t));
    assert!(close(TimeDensity::LogitNormal { mean: 0.0, std: 1.0 }.pdf(t), want));
}

#[test]
fn edm_weighting_matches_kingma_gao() {
    // lambda ~ N(2.4, 2.4^2) and w = p(lambda) (e^-lambda + 0.25) / 0.25.
    let w = Weighting::edm();
    for l in LAMBDAS {
        let z = (l - 2.4) / 2.4;
        let p = (-0.5 * z * z).exp() / (2.4 * (2.0 * PI).sqrt());
        assert!(close(w.w(l, &Edm), p * ((-l).exp() + 0.25) / 0.25), "lambda {l}");
        // The same through EDM's own loss weight on the x0-MSE with log-normal sigma.
        let sigma = (-l / 2.0).exp();
        let density = TimeDensity::LogNormal { p_mean: -1.2, p_std: 1.2 };
        let via_x0 = density.log_snr_pdf(&Edm, l) * edm_loss_weight(sigma, 0.5) * sigma * sigma;
        assert!(close(w.w(l, &Edm), via_x0), "lambda {l}");
    }
}

#[test]
fn snr_weightings() {
    let uniform = TimeDensity::Uniform;
    for l in LAMBDAS {
        let p = uniform.log_snr_pdf(&Flow, l);
        let min_snr = Weighting::MinSnr { gamma: 5.0, density: uniform };
        assert!(close(min_snr.w(l, &Flow), p * (5.0 / l.exp()).min(1.0)));
        assert!(close(min_snr_factor(l, 5.0), 5.0f64.min(l.exp()) / l.exp()));
        let soft = Weighting::SoftMinSnr { gamma: 4.0, density: uniform };
        assert!(close(soft.w(l, &Flow), p / (1.0 + l.exp() / 4.0)));
        assert!(close(Weighting::Sigmoid { bias: 2.0 }.w(l, &Flow), sigmoid(2.0 - l)));
        assert_eq!(Weighting::Elbo.w(l, &Flow), 1.0);
    }
}

#[test]
fn implied_densities_integrate_to_one() {
    // p_lambda is a density: integrate over a wide lambda range with the trapezoid rule.
    let cases: [(TimeDensity, &dyn NoiseSchedule); 3] = [
        (TimeDensity::Uniform, &Flow),
        (TimeDensity::LogitNormal { mean: 0.0, std: 1.0 }, &Flow),
        (TimeDensity::Uniform, &VpCosine::nichol()),
    ];
    for (density, schedule) in cases {
        let (lo, hi, n) = (-40.0, 40.0, 80_000);
        let h = (hi - lo) / n as f64;
        let total: f64 = (0..=n)
            .map(|i| {
                let f = density.log_snr_pdf(schedule, lo + i as f64 * h);
                if i == 0 || i == n { f / 2.0 } else { f }
            })
            .sum::<f64>()
            * h;
        assert!((total - 1.0).abs() < 2e-3, "{density:?}: {total}");
    }
}
