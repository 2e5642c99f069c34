//! Statistical tests: every sampler, driven by the exact denoiser of a Gaussian mixture,
//! lands on the analytic marginal. Starting points are drawn from the exact marginal at the
//! grid's first level, so the only errors are the sampler's discretisation and sampling
//! noise. Tolerances come from the sample size: moments within 5 standard errors (the
//! standard errors of the analytic distribution), KS at level 1e-3.

use crate::common::{Mixture, MixtureDenoiser, device, host, ks_critical, ks_statistic, tensor2};
use rand::SeedableRng;
use rand::rngs::StdRng;
use stoke_core::schedule::{
    BetaSchedule, DiscreteSchedule, TimestepSpacing, sigmas_karras, timesteps,
};
use stoke_diffusion::prelude::*;
use stoke_diffusion::sampler::{Divergence, log_likelihood, sigmas_for_timesteps};

const N: usize = 3000;

fn start(mixture: &Mixture, sigma: f64, seed: u64) -> burn::tensor::Tensor<2> {
    let values = mixture.sample(N, sigma, &mut StdRng::seed_from_u64(seed));
    tensor2(&values, [N, mixture.dim()])
}

/// Checks the samples' mean, variance and KS distance on every axis against the mixture at
/// noise level `sigma_end`.
fn assert_marginal(what: &str, mixture: &Mixture, samples: &[f64], sigma_end: f64) {
    let dim = mixture.dim();
    let n = samples.len() / dim;
    for axis in 0..dim {
        let column: Vec<f64> = samples.iter().skip(axis).step_by(dim).copied().collect();
        let (mean, var, m4) = mixture.moments(sigma_end, axis);
        let sample_mean = column.iter().sum::<f64>() / n as f64;
        let sample_var =
            column.iter().map(|x| (x - sample_mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let mean_tol = 5.0 * (var / n as f64).sqrt();
        let var_tol = 5.0 * ((m4 - var * var) / n as f64).sqrt();
        assert!(
            (sample_mean - mean).abs() < mean_tol,
            "{what} axis {axis}: mean {sample_mean} vs {mean} (tol {mean_tol})"
        );
        assert!(
            (sample_var - var).abs() < var_tol,
            "{what} axis {axis}: variance {sample_var} vs {var} (tol {var_tol})"
        );
        // Bonferroni over the axes.
        let ks = ks_statistic(&column, |x| mixture.cdf(x, sigma_end, axis));
        let critical = ks_critical(n, 1e-3 / dim as f64);
        assert!(ks < critical, "{what} axis {axis}: KS {ks} >= {critical}");
    }
}

fn run<S: Sampler>(what: &str, sampler: &S, mixture: &Mixture, sigmas: &[f64], seed: u64) -> usize {
    let denoiser = MixtureDenoiser { mixture: mixture.clone() };
    let x = start(mixture, sigmas[0], seed);
    let mut noise = HostNoise::seeded(seed + 1);
    let out = sampler.sample(&denoiser, x, sigmas, &Guidance::unconditional(), &mut noise).unwrap();
    assert_marginal(what, mixture, &host(out.x), *sigmas.last().unwrap());
    out.nfe
}

fn karras(n: usize) -> Vec<f64> {
    sigmas_karras(n, 0.002, 80.0, 7.0).unwrap()
}

#[test]
fn euler_reaches_the_mixture() {
    let nfe = run("euler", &Euler::default(), &Mixture::one_d(), &karras(100), 1);
    assert_eq!(nfe, 100);
}

#[test]
fn heun_edm_alg1_and_alg2_reach_the_mixture() {
    let mixture = Mixture::one_d();
    let nfe = run("heun", &Heun::default(), &mixture, &karras(32), 2);
    assert_eq!(nfe, 2 * 32 - 1);
    let churn = Churn { s_churn: 40.0, s_tmin: 0.05, s_tmax: 50.0, s_noise: 1.003 };
    // S_noise > 1 inflates the variance slightly by design; at 1.003 it is far below the
    // sample-size tolerance.
    run("heun churn", &Heun { churn }, &mixture, &karras(64), 3);
    run("euler churn", &Euler { churn }, &mixture, &karras(200), 4);
}

#[test]
fn euler_ancestral_reaches_the_mixture() {
    run("euler ancestral", &EulerAncestral::default(), &Mixture::one_d(), &karras(150), 5);
}

#[test]
fn dpmpp_2m_reaches_the_mixture_in_2d() {
    let nfe = run("dpm++2m", &DpmSolverPp2m, &Mixture::two_d(), &karras(40), 6);
    assert_eq!(nfe, 40);
}

#[test]
fn ddpm_and_ddim_reach_the_mixture_on_a_discrete_schedule() {
    let schedule = DiscreteSchedule::diffusers(BetaSchedule::Linear);
    let mixture = Mixture::one_d();
    let full = sigmas_for_timesteps(
        &schedule,
        &timesteps(1000, 1000, TimestepSpacing::Leading, 0).unwrap(),
    )
    .unwrap();
    run("ddpm fixed_small", &Ddpm::default(), &mixture, &full, 7);
    let ddpm_large = Ddpm { variance: DdpmVariance::FixedLarge, correction: X0Correction::None };
    let spaced = timesteps(1000, 250, TimestepSpacing::Trailing, 0).unwrap();
    run(
        "ddpm fixed_large",
        &ddpm_large,
        &mixture,
        &sigmas_for_timesteps(&schedule, &spaced).unwrap(),
        8,
    );
    let grid = sigmas_for_timesteps(
        &schedule,
        &timesteps(1000, 100, TimestepSpacing::Trailing, 0).unwrap(),
    )
    .unwrap();
    run("ddim eta=0", &Ddim::default(), &mixture, &grid, 9);
    run("ddim eta=1", &Ddim { eta: 1.0, correction: X0Correction::None }, &mixture, &grid, 10);
}

#[test]
fn flow_euler_and_heun_reach_the_mixture() {
    // Rectified path: t in (0, 1), x_t = (1 - t) x0 + t eps, i.e. VE level t / (1 - t).
    let mixture = Mixture::two_d();
    let field = DenoiserVelocity::new(MixtureDenoiser { mixture: mixture.clone() });
    let (t_max, t_min) = (0.995, 0.002);
    for (what, n_steps, heun) in [("flow euler", 200, false), ("flow heun", 40, true)] {
        let times: Vec<f64> =
            (0..=n_steps).map(|i| t_max + (t_min - t_max) * i as f64 / n_steps as f64).collect();
        // Exact marginal at t_max, in the flow frame: (1 - t) x_ve.
        let x_ve = mixture.sample(N, t_max / (1.0 - t_max), &mut StdRng::seed_from_u64(11));
        let x: Vec<f64> = x_ve.iter().map(|v| v * (1.0 - t_max)).collect();
        let x = tensor2(&x, [N, 2]);
        let out = if heun {
            FlowHeun.sample(
                &field,
                x,
                &times,
                &Guidance::unconditional(),
                &mut crate::common::NoNoise,
            )
        } else {
            FlowEuler.sample(
                &field,
                x,
                &times,
                &Guidance::unconditional(),
                &mut crate::common::NoNoise,
            )
        }
        .unwrap();
        let expected_nfe = if heun { 2 * n_steps } else { n_steps };
        assert_eq!(out.nfe, expected_nfe);
        let scaled: Vec<f64> = host(out.x).iter().map(|v| v / (1.0 - t_min)).collect();
        assert_marginal(what, &mixture, &scaled, t_min / (1.0 - t_min));
    }
}

#[test]
fn dormand_prince_reaches_the_mixture_and_reports_nfe() {
    let solver = DormandPrince { rtol: 1e-5, atol: 1e-5, max_steps: 1000 };
    let nfe = run("dopri5", &solver, &Mixture::one_d(), &[80.0, 0.002, 0.0], 12);
    // One FSAL start plus at least six calls per step, and the final denoising call.
    assert!(nfe >= 8, "nfe {nfe}");
}

#[test]
fn dormand_prince_matches_a_fine_heun_solution() {
    let mixture = Mixture::one_d();
    let denoiser = MixtureDenoiser { mixture: mixture.clone() };
    let calls = std::cell::Cell::new(0usize);
    let counting = |x: burn::tensor::Tensor<2>, s: &[f64], l| {
        calls.set(calls.get() + 1);
        Field::<2, Denoised>::eval(&denoiser, x, s, l)
    };
    let x = start(&mixture, 80.0, 13).narrow(0, 0, 64);
    let solver = DormandPrince { rtol: 1e-7, atol: 1e-7, max_steps: 10_000 };
    let dopri = solver
        .sample(
            &counting,
            x.clone(),
            &[80.0, 0.01],
            &Guidance::unconditional(),
            &mut crate::common::NoNoise,
        )
        .unwrap();
    assert_eq!(dopri.nfe, calls.get(), "reported NFE counts every call");
    let heun = |n| {
        let grid = sigmas_karras(n, 0.01, 80.0, 7.0).unwrap();
        let grid = &grid[..grid.len() - 1]; // stop at sigma_min, no final step to 0
        host(
            Heun::default()
                .sample(
                    &denoiser,
                    x.clone(),
                    grid,
                    &Guidance::unconditional(),
                    &mut crate::common::NoNoise,
                )
                .unwrap()
                .x,
        )
    };
    let (coarse, fine) = (heun(400), heun(800));
    let ode = host(dopri.x);
    for i in 0..ode.len() {
        // Heun is second order: fine's error is about |fine - coarse| / 3; allow that plus
        // DoPri's tolerance.
        let tol = (fine[i] - coarse[i]).abs() + 1e-5 * (1.0 + fine[i].abs());
        assert!(
            (ode[i] - fine[i]).abs() <= tol,
            "row {i}: dopri {} heun {} tol {tol}",
            ode[i],
            fine[i]
        );
    }
}

/// ln N(x; mu, var I).
fn log_normal(x: &[f64], mu: &[f64], var: f64) -> f64 {
    let sq: f64 = x.iter().zip(mu).map(|(a, m)| (a - m).powi(2)).sum();
    -0.5 * (x.len() as f64 * (2.0 * std::f64::consts::PI * var).ln() + sq / var)
}

#[test]
fn ode_log_likelihood_of_a_gaussian_is_its_density() {
    let (mu, s) = (vec![0.5, -1.0], 0.7);
    // Tensor operations, so autodiff sees through it: D = mu + s^2/(s^2 + sigma^2) (x - mu).
    let mean = tensor2(&mu, [1, 2]);
    let denoiser = |x: burn::tensor::Tensor<2>,
                    sigma: &[f64],
                    _l: Option<burn::tensor::Tensor<1, burn::tensor::Int>>| {
        let shrink = s * s / (s * s + sigma[0] * sigma[0]);
        Ok((x - mean.clone()).mul_scalar(shrink) + mean.clone())
    };
    let (sigma_min, sigma_max) = (0.01, 50.0);
    let points = vec![0.0, 0.0, 1.2, -0.3, -0.8, -2.0, 0.5, -1.0];
    let x = tensor2(&points, [4, 2]);
    let config = DormandPrince { rtol: 1e-7, atol: 1e-7, max_steps: 10_000 };
    for divergence in [Divergence::Exact, Divergence::Hutchinson { probes: 1 }] {
        let mut noise = HostNoise::seeded(14);
        let out = log_likelihood(
            &denoiser,
            x.clone(),
            sigma_min,
            sigma_max,
            divergence,
            &config,
            &Guidance::unconditional(),
            &mut noise,
        )
        .unwrap();
        assert!(out.nfe > 0);
        let x_t = host(out.x_t.clone());
        for (row, p) in points.chunks(2).enumerate() {
            // With the exact prior at sigma_max the ODE gives the exact marginal at sigma_min.
            let prior = log_normal(&x_t[2 * row..2 * row + 2], &mu, s * s + sigma_max * sigma_max);
            let got = prior + out.delta[row];
            let want = log_normal(p, &mu, s * s + sigma_min * sigma_min);
            // The Jacobian is a multiple of I, so a Rademacher probe is exact too.
            assert!((got - want).abs() < 1e-4, "{divergence:?} row {row}: {got} vs {want}");
            // With N(0, sigma_max^2 I) as the prior, the error is the prior mismatch only.
            let mismatch =
                prior - log_normal(&x_t[2 * row..2 * row + 2], &[0.0, 0.0], sigma_max * sigma_max);
            assert!((out.log_likelihood[row] - (want - mismatch)).abs() < 1e-4);
        }
    }
}

#[test]
fn hutchinson_is_unbiased_for_a_correlated_gaussian() {
    // N(0, Sigma) with off-diagonal covariance: D = Sigma (Sigma + s^2 I)^-1 x.
    let (a, b, c) = (1.0, 0.8, 1.5); // Sigma = [[a, b], [b, c]]
    let denoiser = |x: burn::tensor::Tensor<2>,
                    sigma: &[f64],
                    _l: Option<burn::tensor::Tensor<1, burn::tensor::Int>>| {
        let s2 = sigma[0] * sigma[0];
        let (p, q, r) = (a + s2, b, c + s2);
        let det = p * r - q * q;
        // Sigma (Sigma + s2 I)^-1 = [[a, b], [b, c]] [[r, -q], [-q, p]] / det
        let m = [
            (a * r - b * q) / det,
            (-a * q + b * p) / det,
            (b * r - c * q) / det,
            (-b * q + c * p) / det,
        ];
        let mt = tensor2(&[m[0], m[2], m[1], m[3]], [2, 2]);
        Ok(x.matmul(mt))
    };
    let rows = 400;
    let x = tensor2(&vec![0.3; rows * 2], [rows, 2]);
    let config = DormandPrince { rtol: 1e-6, atol: 1e-6, max_steps: 10_000 };
    let exact = log_likelihood(
        &denoiser,
        x.clone().narrow(0, 0, 1),
        0.01,
        20.0,
        Divergence::Exact,
        &config,
        &Guidance::unconditional(),
        &mut HostNoise::seeded(0),
    )
    .unwrap()
    .delta[0];
    let mut noise = HostNoise::seeded(15);
    let hutch = log_likelihood(
        &denoiser,
        x,
        0.01,
        20.0,
        Divergence::Hutchinson { probes: 1 },
        &config,
        &Guidance::unconditional(),
        &mut noise,
    )
    .unwrap()
    .delta;
    let mean = hutch.iter().sum::<f64>() / rows as f64;
    let sd = (hutch.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (rows - 1) as f64).sqrt();
    assert!(sd > 0.0, "off-diagonal terms make the estimate random");
    assert!((mean - exact).abs() < 5.0 * sd / (rows as f64).sqrt(), "{mean} vs {exact} (sd {sd})");
}

#[test]
fn classifier_free_guidance_combines_the_two_calls() {
    let mixture = Mixture::one_d();
    let denoiser = MixtureDenoiser { mixture: mixture.clone() };
    let x = tensor2(&[0.3, -1.0, 1.7], [3, 1]);
    let labels = burn::tensor::Tensor::<1, burn::tensor::Int>::from_data(
        burn::tensor::TensorData::new(vec![0i64, 1, 2], [3]),
        &device(),
    );
    let sigma = 0.8;
    // One Euler step to sigma = 0 returns D(x; sigma) exactly.
    let step = |guidance: &Guidance| {
        host(
            Euler::default()
                .sample(&denoiser, x.clone(), &[sigma, 0.0], guidance, &mut crate::common::NoNoise)
                .unwrap()
                .x,
        )
    };
    let cond = step(&Guidance::conditional(labels.clone()));
    let uncond = step(&Guidance::unconditional());
    let w = 3.5;
    let guided = step(&Guidance::classifier_free(labels.clone(), w).unwrap());
    for i in 0..3 {
        let want = uncond[i] + w * (cond[i] - uncond[i]);
        assert!((guided[i] - want).abs() < 1e-12, "row {i}");
        let component = mixture.component(i).posterior_mean(&[host(x.clone())[i]], sigma)[0];
        assert!((cond[i] - component).abs() < 1e-12);
    }
    let zero = step(&Guidance::classifier_free(labels, 0.0).unwrap());
    for i in 0..3 {
        assert!((zero[i] - uncond[i]).abs() < 1e-12, "w = 0 is the unconditional model");
    }
}

#[test]
fn guided_sampling_with_scale_one_reaches_the_class() {
    let mixture = Mixture::one_d();
    let denoiser = MixtureDenoiser { mixture: mixture.clone() };
    let sigmas = karras(32);
    let target = mixture.component(1);
    let x = start(&target, sigmas[0], 16);
    let labels = burn::tensor::Tensor::<1, burn::tensor::Int>::from_data(
        burn::tensor::TensorData::new(vec![1i64; N], [N]),
        &device(),
    );
    let out = Heun::default()
        .sample(&denoiser, x, &sigmas, &Guidance::conditional(labels), &mut crate::common::NoNoise)
        .unwrap();
    assert_marginal("conditional heun", &target, &host(out.x), 0.0);
}
