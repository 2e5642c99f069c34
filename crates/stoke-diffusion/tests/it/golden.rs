//! Golden values: single DDIM and DDPM steps from diffusers 0.42.1; Euler, Heun (with and
//! without churn), Euler ancestral and DPM-Solver++(2M) runs from k-diffusion 0.1.1.post1;
//! the flow-matching paths of torchcfm 1.0.7 and the OT plans of POT 0.9.7. The Python that
//! produced them is `tests/golden/make_golden.py` (beside `golden.json`) and
//! `tests/golden/make_torchcfm.py` (beside `torchcfm.json`); rerun them with the golden venv
//! to regenerate.
//!
//! Both sides compute in float64 on the same inputs and the same noise, so the tolerance is
//! float64 rounding: 1e-10 relative (plus 1e-12 absolute). diffusers works on `x_vp`; the
//! samplers here work on `x_ve = x_vp / sqrt(alpha_bar)` with `sigma = sqrt((1 - ab)/ab)`, and
//! the test converts.

use crate::common::{ReplayNoise, host, tensor2};
use burn::tensor::{Int, Tensor};
use serde_json::Value;
use stoke_diffusion::prelude::*;

fn golden() -> Value {
    serde_json::from_str(include_str!("../golden/golden.json")).expect("golden.json parses")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-10 * w.abs() + 1e-12, "{what}[{i}]: got {g}, want {w}");
    }
}

/// `sigma = sqrt((1 - ab) / ab)`.
fn sigma_of(alpha_bar: f64) -> f64 {
    ((1.0 - alpha_bar) / alpha_bar).sqrt()
}

struct Step {
    sigma: f64,
    sigma_prev: f64,
    ab: f64,
    ab_prev: f64,
    sample: Vec<f64>,
    eps: Vec<f64>,
}

impl Step {
    fn from(case: &Value) -> Self {
        let (ab, ab_prev) =
            (case["alpha_bar"].as_f64().unwrap(), case["alpha_bar_prev"].as_f64().unwrap());
        Self {
            sigma: sigma_of(ab),
            sigma_prev: sigma_of(ab_prev),
            ab,
            ab_prev,
            sample: floats(&case["sample"]),
            eps: floats(&case["eps"]),
        }
    }

    /// Runs one step of `sampler` with the eps model `D = x - sigma eps`; returns diffusers'
    /// `prev_sample` (VP) and `pred_original_sample` (uncorrected).
    fn run<S: Sampler>(&self, sampler: &S, noise: Vec<f64>) -> (Vec<f64>, Vec<f64>) {
        let eps = tensor2(&self.eps, [2, 3]);
        let denoiser = |x: Tensor<2>, sigma: &[f64], _l: Option<Tensor<1, Int>>| {
            Ok(x - eps.clone().mul_scalar(sigma[0]))
        };
        let x_ve = tensor2(&self.sample, [2, 3]).div_scalar(self.ab.sqrt());
        let x0 =
            host(Field::<2, Denoised>::eval(&denoiser, x_ve.clone(), &[self.sigma], None).unwrap());
        let mut replay = ReplayNoise { draws: vec![noise] };
        let out = sampler
            .sample(
                &denoiser,
                x_ve,
                &[self.sigma, self.sigma_prev],
                &Guidance::unconditional(),
                &mut replay,
            )
            .unwrap();
        let prev: Vec<f64> = host(out.x).iter().map(|v| v * self.ab_prev.sqrt()).collect();
        (prev, x0)
    }
}

#[test]
fn ddim_steps_match_diffusers() {
    for case in golden()["ddim"].as_array().unwrap() {
        let step = Step::from(case);
        let correction = if case["clip_sample"].as_bool().unwrap() {
            X0Correction::Clip { range: 1.0 }
        } else {
            X0Correction::None
        };
        let ddim = Ddim { eta: case["eta"].as_f64().unwrap(), correction };
        let (prev, x0) = step.run(&ddim, floats(&case["noise"]));
        let what = format!("ddim t={} eta={}", case["t"], case["eta"]);
        assert_close(&prev, &floats(&case["prev_sample"]), &what);
        let corrected = host(correction.apply(tensor2(&x0, [2, 3])).unwrap());
        assert_close(&corrected, &floats(&case["pred_original_sample"]), &what);
    }
}

#[test]
fn ddpm_steps_match_diffusers() {
    for case in golden()["ddpm"].as_array().unwrap() {
        let step = Step::from(case);
        let variance = match case["variance_type"].as_str().unwrap() {
            "fixed_small" => DdpmVariance::FixedSmall,
            _ => DdpmVariance::FixedLarge,
        };
        let correction = if case["thresholding"].as_bool().unwrap() {
            X0Correction::DynamicThreshold {
                ratio: case["dynamic_thresholding_ratio"].as_f64().unwrap(),
                max_value: case["sample_max_value"].as_f64().unwrap(),
            }
        } else if case["clip_sample"].as_bool().unwrap() {
            X0Correction::Clip { range: 1.0 }
        } else {
            X0Correction::None
        };
        let (prev, x0) = step.run(&Ddpm { variance, correction }, floats(&case["noise"]));
        let what = format!("ddpm t={} {:?} {:?}", case["t"], variance, correction);
        assert_close(&prev, &floats(&case["prev_sample"]), &what);
        let corrected = host(correction.apply(tensor2(&x0, [2, 3])).unwrap());
        assert_close(&corrected, &floats(&case["pred_original_sample"]), &what);
    }
}

#[test]
fn k_diffusion_samplers_match() {
    // k-diffusion's model: the exact denoiser of N(0.3, 0.8^2).
    let denoiser = |x: Tensor<2>, sigma: &[f64], _l: Option<Tensor<1, Int>>| {
        Ok(x.sub_scalar(0.3).mul_scalar(0.64 / (0.64 + sigma[0] * sigma[0])).add_scalar(0.3))
    };
    for case in golden()["k_diffusion"].as_array().unwrap() {
        let sigmas = floats(&case["sigmas"]);
        let x = tensor2(&floats(&case["x"]), [2, 3]);
        let draws: Vec<Vec<f64>> = case["noise"].as_array().unwrap().iter().map(floats).collect();
        let n_draws = draws.len();
        let mut replay = ReplayNoise { draws };
        let kwargs = &case["kwargs"];
        let number = |key: &str| match &kwargs[key] {
            Value::String(s) if s == "inf" => f64::INFINITY,
            v => v.as_f64().unwrap(),
        };
        let churn = || Churn {
            s_churn: number("s_churn"),
            s_tmin: number("s_tmin"),
            s_tmax: number("s_tmax"),
            s_noise: number("s_noise"),
        };
        let g = Guidance::unconditional();
        let name = case["sampler"].as_str().unwrap();
        let out = match name {
            "euler" => Euler::default().sample(&denoiser, x, &sigmas, &g, &mut replay),
            "euler_churn" => {
                Euler { churn: churn() }.sample(&denoiser, x, &sigmas, &g, &mut replay)
            }
            "heun" => Heun::default().sample(&denoiser, x, &sigmas, &g, &mut replay),
            "heun_churn" => Heun { churn: churn() }.sample(&denoiser, x, &sigmas, &g, &mut replay),
            "euler_ancestral" => EulerAncestral { eta: number("eta"), s_noise: 1.0 }.sample(
                &denoiser,
                x,
                &sigmas,
                &g,
                &mut replay,
            ),
            "dpmpp_2m" => DpmSolverPp2m.sample(&denoiser, x, &sigmas, &g, &mut replay),
            other => panic!("unknown sampler {other}"),
        }
        .unwrap();
        assert!(replay.draws.is_empty(), "{name}: used all {n_draws} recorded draws");
        assert_close(&host(out.x), &floats(&case["out"]), &format!("{name} {sigmas:?}"));
    }
}

/// torchcfm's paths and POT's plans (`tests/golden/make_torchcfm.py`, beside
/// `torchcfm.json`): `mu_t`, `sigma_t` and `u_t(x_t)` of I-CFM, target FM, SB-CFM and the VP
/// path on fixed inputs, the exact OT pairing and a Sinkhorn plan of their squared-distance
/// cost. torchcfm's SB velocity adds 1e-8 to a denominator, hence the looser tolerance.
#[test]
fn torchcfm_paths_and_plans_match() {
    use stoke_diffusion::flow_matching::{
        ConditionalFlowMatcher, MatcherKind, exact_ot_pairing, sinkhorn_plan,
    };
    let golden: Value =
        serde_json::from_str(include_str!("../golden/torchcfm.json")).expect("torchcfm.json");
    let x0 = tensor2(&[0.5, -1.0, 1.5, 0.25, -0.75, 2.0, 0.0, -0.5], [4, 2]);
    let x1 = tensor2(&[2.0, 1.0, -1.0, 0.5, 0.25, -2.0, 1.0, 1.5], [4, 2]);
    let xt = tensor2(&[0.3, 0.7, -0.2, 1.1, 0.9, -0.4, 1.2, 0.1], [4, 2]);
    let t = [0.1, 0.35, 0.6, 0.9];
    let close = |got: &[f64], want: &[f64], tol: f64, what: &str| {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{what}[{i}]: got {g}, want {w}");
        }
    };
    for (key, kind, sigma) in [
        ("icfm", MatcherKind::Icfm, 0.1),
        ("target", MatcherKind::Target, 0.1),
        ("sb", MatcherKind::Sb, 0.5),
        ("vp", MatcherKind::Vp, 0.1),
    ] {
        let m = kind.with_sigma(Some(sigma)).unwrap();
        let want = &golden[key];
        let tol = if key == "sb" { 1e-6 } else { 1e-12 };
        close(&host(m.mu_t(x0.clone(), x1.clone(), &t)), &floats(&want["mu_t"]), tol, key);
        let sigmas: Vec<f64> = t.iter().map(|&t| m.sigma_t(t)).collect();
        close(&sigmas, &floats(&want["sigma_t"]), tol, key);
        let u = host(m.conditional_flow(x0.clone(), x1.clone(), &t, xt.clone()));
        close(&u, &floats(&want["u_t"]), tol, key);
    }
    // The exact plan of uniform marginals is a permutation: it puts 1/4 where we pair.
    let emd = floats(&golden["emd_plan"]);
    let pairing = exact_ot_pairing(&x0, &x1).unwrap();
    for (row, &col) in pairing.iter().enumerate() {
        assert!((emd[row * 4 + col] - 0.25).abs() < 1e-12, "row {row} paired with {col}: {emd:?}");
    }
    let cost = floats(&golden["cost"]);
    let plan = sinkhorn_plan(&cost, 4, 0.5, 10_000, 1e-12).unwrap().converged().unwrap();
    close(&plan, &floats(&golden["sinkhorn_plan_reg_0.5"]), 1e-9, "sinkhorn");
}
