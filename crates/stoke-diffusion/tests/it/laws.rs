//! Laws: samplers' step definitions, determinism, parameterization adapters, loss weights,
//! flow-matching paths and couplings, and typed errors on bad input.

use crate::common::{Mixture, MixtureDenoiser, NoNoise, device, host, tensor2};
use burn::tensor::{Int, Tensor, TensorData};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use stoke_core::param::{EdmPreconditioning, Prediction};
use stoke_core::schedule::{
    BetaSchedule, DiscreteSchedule, Edm, Flow, NoiseSchedule, VpCosine, VpLinear, ancestral_step,
    sigmas_karras,
};
use stoke_core::weight::{TimeDensity, Weighting, edm_loss_weight, min_snr_factor};
use stoke_diffusion::flow_matching::{
    ConditionalFlowMatcher, ExactOtCfm, IndependentCfm, SchrodingerBridgeCfm, TargetCfm, VpCfm,
    cfm_loss, exact_ot_pairing, sinkhorn_plan,
};
use stoke_diffusion::loss::{LossWeight, drop_labels, edm_loss, target_loss};
use stoke_diffusion::prelude::*;
use stoke_diffusion::rectified::{reflow_coupling, straightness};
use stoke_testkit::permutations;

type Labels = Option<Tensor<1, Int>>;

fn gaussian_denoiser(
    mu: f64,
    s: f64,
) -> impl Fn(Tensor<2>, &[f64], Labels) -> stoke_diffusion::Result<Tensor<2>> {
    move |x: Tensor<2>, sigma: &[f64], _l: Labels| {
        let shrink = s * s / (s * s + sigma[0] * sigma[0]);
        Ok(x.sub_scalar(mu).mul_scalar(shrink).add_scalar(mu))
    }
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()))
}

/// Runs `sampler` on the Gaussian denoiser with a per-row seeded noise source.
fn run_sampler<S: Sampler>(sampler: &S, x: &[f64], sigmas: &[f64], seed: u64) -> Sampled<2> {
    let n = x.len();
    let seeds: Vec<u64> = (0..n as u64).map(|i| seed * 1000 + i).collect();
    sampler
        .sample(
            &gaussian_denoiser(0.3, 0.8),
            tensor2(x, [n, 1]),
            sigmas,
            &Guidance::unconditional(),
            &mut PerRowNoise::seeded(&seeds),
        )
        .unwrap()
}

fn decreasing_grid() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(0.01f64..50.0, 1..6).prop_map(|mut v| {
        v.sort_by(|a, b| b.total_cmp(a));
        v.dedup();
        v.push(0.0);
        v
    })
}

fn all_samplers_agree_on<F: FnMut(&str, Sampled<2>)>(
    x: &[f64],
    sigmas: &[f64],
    seed: u64,
    mut check: F,
) {
    // Every built-in sampler at its defaults: a new variant of the enum joins these laws.
    for config in SamplerConfig::all() {
        check(config.kind(), run_sampler(&config, x, sigmas, seed));
    }
    // Settings the defaults leave out.
    let churn = Churn { s_churn: 10.0, ..Churn::default() };
    check("heun churn", run_sampler(&SamplerConfig::Heun(Heun { churn }), x, sigmas, seed));
    let ddim = Ddim { eta: 0.5, correction: X0Correction::None };
    check("ddim eta 0.5", run_sampler(&SamplerConfig::Ddim(ddim), x, sigmas, seed));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn ancestral_split_preserves_the_variance(from in 0.01f64..100.0, frac in 0.0f64..1.0, eta in 0.0f64..2.0) {
        let to = from * frac;
        let step = ancestral_step(from, to, eta).unwrap();
        prop_assert!((step.sigma_down.powi(2) + step.sigma_up.powi(2) - to * to).abs() <= 1e-12 * (1.0 + to * to));
        prop_assert!(step.sigma_up <= to);
    }

    #[test]
    fn zero_steps_return_x_unchanged(x in prop::collection::vec(-5.0f64..5.0, 1..4), sigma in 0.01f64..80.0) {
        all_samplers_agree_on(&x, &[sigma], 0, |what, out| {
            assert_eq!(out.nfe, 0, "{what}");
            assert_eq!(host(out.x), x, "{what}");
        });
    }

    #[test]
    fn a_step_to_zero_returns_the_denoiser(x in prop::collection::vec(-5.0f64..5.0, 1..4), sigma in 0.01f64..80.0) {
        let denoised: Vec<f64> = x.iter().map(|v| 0.3 + 0.64 / (0.64 + sigma * sigma) * (v - 0.3)).collect();
        all_samplers_agree_on(&x, &[sigma, 0.0], 1, |what, out| {
            // With churn the step starts from the raised level sigma_hat instead.
            if what != "heun churn" {
                assert!(close(&host(out.x), &denoised, 1e-9), "{what}");
            }
        });
    }

    #[test]
    fn one_euler_step_is_the_ode_step(x in -5.0f64..5.0, from in 0.1f64..80.0, frac in 0.05f64..0.95) {
        let to = from * frac;
        let d = 0.3 + 0.64 / (0.64 + from * from) * (x - 0.3);
        let want = x + (to - from) * (x - d) / from;
        let euler = host(run_sampler(&Euler::default(), &[x], &[from, to], 2).x)[0];
        prop_assert!((euler - want).abs() < 1e-9 * (1.0 + want.abs()));
        // DDIM (eta = 0) and Euler ancestral (eta = 0) take the same step in the VE frame.
        let ddim = host(run_sampler(&Ddim::default(), &[x], &[from, to], 2).x)[0];
        let ancestral = host(run_sampler(&EulerAncestral { eta: 0.0, s_noise: 1.0 }, &[x], &[from, to], 2).x)[0];
        prop_assert!((ddim - want).abs() < 1e-9 * (1.0 + want.abs()));
        prop_assert!((ancestral - want).abs() < 1e-9 * (1.0 + want.abs()));
        // DPM-Solver++'s first step: (sigma'/sigma) x - expm1(-h) D.
        let h = from.ln() - to.ln();
        let dpm = host(run_sampler(&DpmSolverPp2m, &[x], &[from, to], 2).x)[0];
        let want_dpm = to / from * x - (-h).exp_m1() * d;
        prop_assert!((dpm - want_dpm).abs() < 1e-9 * (1.0 + want_dpm.abs()));
    }

    #[test]
    fn samplers_are_reproducible(x in prop::collection::vec(-5.0f64..5.0, 1..4), sigmas in decreasing_grid(), seed in 0u64..1000) {
        let first: Vec<Vec<f64>> = collect(&x, &sigmas, seed);
        let again: Vec<Vec<f64>> = collect(&x, &sigmas, seed);
        prop_assert_eq!(first, again);
    }

    #[test]
    fn exact_ot_pairing_is_an_optimal_permutation(n in 1usize..=6, seed in 0u64..1000) {
        let mut rng = StdRng::seed_from_u64(seed);
        let x0 = Mixture::two_d().sample(n, 0.5, &mut rng);
        let x1 = Mixture::two_d().sample(n, 0.1, &mut rng);
        let perm = exact_ot_pairing(&tensor2(&x0, [n, 2]), &tensor2(&x1, [n, 2])).unwrap();
        let mut sorted = perm.clone();
        sorted.sort();
        prop_assert_eq!(sorted, (0..n).collect::<Vec<_>>());
        let cost = |p: &[usize]| -> f64 {
            (0..n).map(|i| (0..2).map(|d| (x0[2 * i + d] - x1[2 * p[i] + d]).powi(2)).sum::<f64>()).sum()
        };
        let best = permutations(n).iter().map(|p| cost(p)).fold(f64::INFINITY, f64::min);
        prop_assert!((cost(&perm) - best).abs() <= 1e-9 * (1.0 + best));
    }
}

fn collect(x: &[f64], sigmas: &[f64], seed: u64) -> Vec<Vec<f64>> {
    let mut out = vec![];
    all_samplers_agree_on(x, sigmas, seed, |_, s| out.push(host(s.x)));
    out
}

#[test]
fn deterministic_samplers_draw_no_noise() {
    let x = tensor2(&[1.0, -2.0], [2, 1]);
    let grid = [10.0, 1.0, 0.1, 0.0];
    let d = gaussian_denoiser(0.0, 1.0);
    let g = Guidance::unconditional();
    Euler::default().sample(&d, x.clone(), &grid, &g, &mut NoNoise).unwrap();
    Heun::default().sample(&d, x.clone(), &grid, &g, &mut NoNoise).unwrap();
    DpmSolverPp2m.sample(&d, x.clone(), &grid, &g, &mut NoNoise).unwrap();
    Ddim::default().sample(&d, x.clone(), &grid, &g, &mut NoNoise).unwrap();
    DormandPrince::default().sample(&d, x, &grid, &g, &mut NoNoise).unwrap();
}

#[test]
fn per_row_seeds_make_a_sample_independent_of_its_batch() {
    let grid = [10.0, 3.0, 1.0, 0.3, 0.0];
    let pair = run_sampler(&EulerAncestral::default(), &[1.0, -1.0], &grid, 7);
    let alone = run_sampler(&EulerAncestral::default(), &[1.0], &grid, 7);
    assert_eq!(host(pair.x)[0], host(alone.x)[0]);
}

/// The exact target of `prediction` on `schedule` for N(mu, s^2) data, as a network of
/// `(x_t, t * time_scale)`.
fn exact_network<S: NoiseSchedule + Clone + 'static>(
    schedule: S,
    prediction: Prediction,
    time_scale: f64,
) -> impl Fn(Tensor<2>, Tensor<1>, Labels) -> Tensor<2> {
    move |x_t: Tensor<2>, time: Tensor<1>, _l: Labels| {
        let t = host(time)[0] / time_scale;
        let point = schedule.point(t);
        let (alpha, sigma) = (point.alpha, point.sigma);
        let x_ve = x_t.clone().div_scalar(alpha);
        let x0 = gaussian_denoiser(0.3, 0.8)(x_ve, &[sigma / alpha], None).unwrap();
        let eps = (x_t - x0.clone().mul_scalar(alpha)).div_scalar(sigma);
        let (a, b) = prediction.coefficients(&point);
        x0.mul_scalar(a) + eps.mul_scalar(b)
    }
}

#[test]
fn schedule_adapters_recover_the_exact_denoiser() {
    let x = tensor2(&[-1.0, 0.2, 2.5], [3, 1]);
    let want = |sigma: f64| host(gaussian_denoiser(0.3, 0.8)(x.clone(), &[sigma], None).unwrap());
    fn check<N: Network<2>, S: NoiseSchedule>(
        what: &str,
        d: &ScheduleDenoiser<N, S>,
        x: &Tensor<2>,
        sigma: f64,
        want: &[f64],
    ) {
        let got = host(d.eval(x.clone(), &[sigma], None).unwrap());
        assert!(close(&got, want, 1e-9), "{what} sigma {sigma}: {got:?} vs {want:?}");
    }
    for prediction in [Prediction::Eps, Prediction::X0, Prediction::V, Prediction::Velocity] {
        for sigma in [0.05, 0.7, 3.0, 20.0] {
            let name = format!("{prediction}");
            let vp = ScheduleDenoiser::new(
                exact_network(VpLinear::song(), prediction, 1.0),
                VpLinear::song(),
                prediction,
            );
            check(&format!("vp-linear {name}"), &vp, &x, sigma, &want(sigma));
            let cos = ScheduleDenoiser::new(
                exact_network(VpCosine::nichol(), prediction, 1.0),
                VpCosine::nichol(),
                prediction,
            );
            check(&format!("vp-cosine {name}"), &cos, &x, sigma, &want(sigma));
            let flow =
                ScheduleDenoiser::new(exact_network(Flow, prediction, 1.0), Flow, prediction);
            check(&format!("flow {name}"), &flow, &x, sigma, &want(sigma));
        }
    }
    // A discrete eps model fed integer-scale timesteps, at a grid point's sigma.
    let schedule = DiscreteSchedule::diffusers(BetaSchedule::Linear);
    let sigma = schedule.sigmas()[400];
    let d = ScheduleDenoiser::discrete(
        exact_network(schedule.clone(), Prediction::Eps, 1000.0),
        schedule,
        Prediction::Eps,
    );
    check("discrete eps", &d, &x, sigma, &want(sigma));
}

#[test]
fn edm_adapter_recovers_the_exact_denoiser() {
    let pre = EdmPreconditioning::new(0.5).unwrap();
    // F = (D - c_skip x) / c_out with x = input / c_in and sigma = exp(4 c_noise).
    let network = move |input: Tensor<2>, c_noise: Tensor<1>, _l: Labels| {
        let sigma = (4.0 * host(c_noise)[0]).exp();
        let s = pre.scalings(sigma).unwrap();
        let x = input.div_scalar(s.c_in);
        let d = gaussian_denoiser(0.3, 0.8)(x.clone(), &[sigma], None).unwrap();
        (d - x.mul_scalar(s.c_skip)).div_scalar(s.c_out)
    };
    let denoiser = EdmDenoiser::new(network, pre);
    let x = tensor2(&[-1.0, 0.2, 2.5], [3, 1]);
    for sigma in [0.01, 0.5, 10.0] {
        let got = host(denoiser.eval(x.clone(), &[sigma], None).unwrap());
        let want = host(gaussian_denoiser(0.3, 0.8)(x.clone(), &[sigma], None).unwrap());
        assert!(close(&got, &want, 1e-9), "sigma {sigma}");
    }
}

#[test]
fn loss_weights_match_their_closed_forms() {
    for sigma in [0.01, 0.3, 2.0, 40.0] {
        let w = LossWeight::edm().per_example(&Edm, Prediction::X0, sigma).unwrap();
        let want = edm_loss_weight(sigma, 0.5);
        assert!((w - want).abs() <= 1e-9 * want, "edm sigma {sigma}: {w} vs {want}");
    }
    let schedule = VpCosine::nichol();
    let min_snr = LossWeight::new(
        Weighting::MinSnr { gamma: 5.0, density: TimeDensity::Uniform },
        TimeDensity::Uniform,
    )
    .unwrap();
    let unweighted = LossWeight::unweighted(Prediction::Eps, TimeDensity::Uniform);
    let elbo_vs_v = LossWeight::new(
        Weighting::Mse { prediction: Prediction::Eps, density: TimeDensity::Uniform },
        TimeDensity::Uniform,
    )
    .unwrap();
    for t in [0.05, 0.3, 0.6, 0.9] {
        let w = min_snr.per_example(&schedule, Prediction::Eps, t).unwrap();
        let want = min_snr_factor(schedule.log_snr(t), 5.0);
        assert!((w - want).abs() <= 1e-9, "min-snr t {t}");
        assert_eq!(unweighted.per_example(&schedule, Prediction::Eps, t).unwrap(), 1.0);
        // L_simple expressed on a v target: ||eps_hat - eps||^2 = ||v_hat - v||^2 / f_v.
        let point = schedule.point(t);
        let f_v = (point.alpha + point.sigma * point.sigma / point.alpha).powi(2);
        let w = elbo_vs_v.per_example(&schedule, Prediction::V, t).unwrap();
        assert!((w - 1.0 / f_v).abs() <= 1e-9, "eps-mse on v at t {t}: {w} vs {}", 1.0 / f_v);
    }
}

#[test]
fn losses_match_a_host_computation() {
    let schedule = VpCosine::nichol();
    let network = |x: Tensor<2>, t: Tensor<1>, _l: Labels| x.mul_scalar(0.5) + t.reshape([3, 1]);
    let model = ScheduleDenoiser::new(network, schedule, Prediction::Eps);
    let (x0, eps) = ([1.0, -0.5, 2.0], [0.3, 0.9, -1.2]);
    let t = [0.2, 0.5, 0.8];
    let weight = LossWeight::unweighted(Prediction::Eps, TimeDensity::Uniform);
    let loss = target_loss(
        Prediction::Eps,
        &model,
        tensor2(&x0, [3, 1]),
        tensor2(&eps, [3, 1]),
        &t,
        None,
        &weight,
    )
    .unwrap();
    let per = host(loss.per_example);
    for i in 0..3 {
        let p = schedule.point(t[i]);
        let x_t = p.alpha * x0[i] + p.sigma * eps[i];
        let want = (0.5 * x_t + t[i] - eps[i]).powi(2);
        assert!((per[i] - want).abs() < 1e-9, "row {i}");
    }
    assert!((host(loss.mean)[0] - per.iter().sum::<f64>() / 3.0).abs() < 1e-12);
    assert!(matches!(
        target_loss(
            Prediction::V,
            &model,
            tensor2(&x0, [3, 1]),
            tensor2(&eps, [3, 1]),
            &t,
            None,
            &weight
        ),
        Err(DiffusionError::WrongPrediction { .. })
    ));

    let pre = EdmPreconditioning::new(0.5).unwrap();
    let edm = EdmDenoiser::new(|x: Tensor<2>, _c: Tensor<1>, _l: Labels| x.mul_scalar(-0.25), pre);
    let sigma = [0.1, 1.0, 5.0];
    let loss = edm_loss(
        &edm,
        tensor2(&x0, [3, 1]),
        tensor2(&eps, [3, 1]),
        &sigma,
        None,
        &LossWeight::edm(),
    )
    .unwrap();
    let per = host(loss.per_example);
    for i in 0..3 {
        let s = pre.scalings(sigma[i]).unwrap();
        let x = x0[i] + sigma[i] * eps[i];
        let d = s.c_skip * x + s.c_out * (-0.25 * s.c_in * x);
        let want = edm_loss_weight(sigma[i], 0.5) * (d - x0[i]).powi(2);
        assert!((per[i] - want).abs() < 1e-9 * (1.0 + want), "edm row {i}");
    }
}

#[test]
fn label_dropout_hits_its_rate() {
    let n = 20_000;
    let labels = vec![3usize; n];
    let dropped = drop_labels(&labels, 0.1, 10, &mut StdRng::seed_from_u64(0)).unwrap();
    let count = dropped.iter().filter(|&&l| l == 10).count() as f64;
    assert!(dropped.iter().all(|&l| l == 3 || l == 10));
    let sd = (n as f64 * 0.1 * 0.9).sqrt();
    assert!((count - 0.1 * n as f64).abs() < 5.0 * sd, "{count}");
    assert!(drop_labels(&labels, 1.5, 10, &mut StdRng::seed_from_u64(0)).is_err());
}

#[test]
fn flow_paths_hit_their_ends_and_move_with_their_velocity() {
    let mut rng = StdRng::seed_from_u64(3);
    let n = 5;
    let x0 = tensor2(&Mixture::two_d().sample(n, 1.0, &mut rng), [n, 2]);
    let x1 = tensor2(&Mixture::two_d().sample(n, 0.0, &mut rng), [n, 2]);
    fn check<M: ConditionalFlowMatcher>(
        what: &str,
        m: &M,
        x0: &Tensor<2>,
        x1: &Tensor<2>,
        rng: &mut StdRng,
    ) {
        for t in [0.1, 0.4, 0.77] {
            let s =
                m.sample_location_and_conditional_flow(x0.clone(), x1.clone(), &[t], rng).unwrap();
            // x_t(t) = mu_t + sigma_t eps with the same (x0, x1, eps): central difference.
            let h = 1e-5;
            let at = |t: f64| {
                m.mu_t(s.x0.clone(), s.x1.clone(), &[t]) + s.eps.clone().mul_scalar(m.sigma_t(t))
            };
            let fd = host((at(t + h) - at(t - h)).div_scalar(2.0 * h));
            assert!(close(&host(s.u_t.clone()), &fd, 1e-6), "{what} t {t}");
            assert!(close(&host(s.x_t), &host(at(t)), 1e-12), "{what} x_t");
        }
        let ends =
            m.sample_location_and_conditional_flow(x0.clone(), x1.clone(), &[1.0], rng).unwrap();
        let sigma_one = m.sigma_t(1.0);
        let want = host(ends.x1.clone() + ends.eps.mul_scalar(sigma_one));
        assert!(close(&host(ends.x_t), &want, 1e-12), "{what} at t = 1");
    }
    check("i-cfm", &IndependentCfm::new(0.1).unwrap(), &x0, &x1, &mut rng);
    check("ot-cfm", &ExactOtCfm::new(0.0).unwrap(), &x0, &x1, &mut rng);
    check("target", &TargetCfm::new(0.01).unwrap(), &x0, &x1, &mut rng);
    check("sb-cfm", &SchrodingerBridgeCfm::new(0.5).unwrap(), &x0, &x1, &mut rng);
    check("vp", &VpCfm::new(0.0).unwrap(), &x0, &x1, &mut rng);
    // At t = 0 the deterministic paths start at x0.
    let start = IndependentCfm::new(0.0)
        .unwrap()
        .sample_location_and_conditional_flow(x0.clone(), x1.clone(), &[0.0], &mut rng)
        .unwrap();
    assert!(close(&host(start.x_t), &host(x0.clone()), 1e-12));
}

#[test]
fn sinkhorn_plan_has_uniform_marginals_and_tends_to_the_ot_plan() {
    let n = 6;
    let mut rng = StdRng::seed_from_u64(4);
    let x0 = Mixture::two_d().sample(n, 0.5, &mut rng);
    let x1 = Mixture::two_d().sample(n, 0.1, &mut rng);
    let cost = stoke_core::transport::squared_cost(&x0, &x1, 2).unwrap();
    let plan = sinkhorn_plan(&cost, n, 0.5, 5000, 1e-12).unwrap().converged().unwrap();
    for i in 0..n {
        let row: f64 = plan[i * n..(i + 1) * n].iter().sum();
        let col: f64 = (0..n).map(|k| plan[k * n + i]).sum();
        assert!((row - 1.0 / n as f64).abs() < 1e-9 && (col - 1.0 / n as f64).abs() < 1e-9);
    }
    let perm = exact_ot_pairing(&tensor2(&x0, [n, 2]), &tensor2(&x1, [n, 2])).unwrap();
    let sharp = sinkhorn_plan(&cost, n, 1e-3, 5000, 1e-12).unwrap().plan;
    for (i, &j) in perm.iter().enumerate() {
        assert!(sharp[i * n + j] > 0.99 / n as f64, "row {i}");
    }
}

#[test]
fn cfm_loss_is_zero_for_the_conditional_velocity_and_straightness_detects_curvature() {
    let mut rng = StdRng::seed_from_u64(5);
    let (x0, x1) = (tensor2(&[0.0, 1.0], [2, 1]), tensor2(&[2.0, -1.0], [2, 1]));
    let s = IndependentCfm::new(0.0)
        .unwrap()
        .sample_location_and_conditional_flow(x0, x1, &[0.3], &mut rng)
        .unwrap();
    // The field (x1 - x0) = 2, -2 for these rows, constant.
    let field =
        |x: Tensor<2>, _t: Tensor<1>, _l: Labels| x.zeros_like() + tensor2(&[2.0, -2.0], [2, 1]);
    assert!(host(cfm_loss(&field, &s, None).unwrap().mean)[0].abs() < 1e-24);

    let times: Vec<f64> = (0..=50).map(|i| i as f64 / 50.0).collect();
    let start = tensor2(&[0.5, -1.0], [2, 1]);
    let straight = straightness(&field, start.clone(), &times, &Guidance::unconditional()).unwrap();
    assert!(straight.mean.abs() < 1e-20 && straight.nfe == 50);
    let curved = |x: Tensor<2>, t: Tensor<1>, _l: Labels| {
        x.mul_scalar(-1.0) + t.reshape([2, 1]).mul_scalar(3.0)
    };
    assert!(
        straightness(&curved, start.clone(), &times, &Guidance::unconditional()).unwrap().mean
            > 1e-3
    );

    let coupling = reflow_coupling(
        &curved,
        &FlowEuler,
        start.clone(),
        &times,
        &Guidance::unconditional(),
        &mut NoNoise,
    )
    .unwrap();
    let direct = FlowEuler
        .sample(&curved, start.clone(), &times, &Guidance::unconditional(), &mut NoNoise)
        .unwrap();
    assert_eq!(host(coupling.noise), host(start));
    assert_eq!(host(coupling.endpoint), host(direct.x));
}

#[test]
fn bad_input_is_a_typed_error() {
    let x = tensor2(&[1.0, 2.0], [2, 1]);
    let g = Guidance::unconditional();
    let d = gaussian_denoiser(0.0, 1.0);
    let not_decreasing =
        Euler::default().sample(&d, x.clone(), &[5.0, 1.0, 2.0, 0.0], &g, &mut NoNoise);
    assert!(matches!(not_decreasing, Err(DiffusionError::NotMonotone { index: 2, .. })));
    assert!(matches!(
        Heun::default().sample(&d, x.clone(), &[], &g, &mut NoNoise),
        Err(DiffusionError::EmptyGrid)
    ));
    assert!(matches!(
        Heun::default().sample(&d, x.clone(), &[1.0, f64::NAN], &g, &mut NoNoise),
        Err(DiffusionError::Core(stoke_core::CoreError::NonFinite { .. }))
    ));

    let wrong_shape = |x: Tensor<2>, _s: &[f64], _l: Labels| Ok(Tensor::cat(vec![x.clone(), x], 1));
    let shape = DpmSolverPp2m.sample(&wrong_shape, x.clone(), &[5.0, 0.0], &g, &mut NoNoise);
    assert!(matches!(shape, Err(DiffusionError::Shape { .. })), "{shape:?}");

    // NaN from the network at the third call: the error names step 2 and its sigma.
    let calls = std::cell::Cell::new(0);
    let nan_late = |x: Tensor<2>, _s: &[f64], _l: Labels| {
        calls.set(calls.get() + 1);
        Ok(if calls.get() == 3 { x.mul_scalar(f64::NAN) } else { x.mul_scalar(0.5) })
    };
    let nan =
        Euler::default().sample(&nan_late, x.clone(), &[5.0, 2.0, 1.0, 0.5, 0.0], &g, &mut NoNoise);
    assert_eq!(nan.unwrap_err(), DiffusionError::NonFiniteOutput { step_idx: 2, noise_level: 1.0 });

    // Guidance on a model without class conditioning.
    let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1], [2]), &device());
    let guided = Heun::default().sample(
        &d,
        x.clone(),
        &[5.0, 0.0],
        &Guidance::classifier_free(labels.clone(), 2.0).unwrap(),
        &mut NoNoise,
    );
    assert_eq!(guided.unwrap_err(), DiffusionError::Unconditional);
    assert!(Guidance::classifier_free(labels.clone(), f64::INFINITY).is_err());
    let short = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64], [1]), &device());
    let conditional = MixtureDenoiser { mixture: Mixture::one_d() };
    let mismatch = Euler::default().sample(
        &conditional,
        x.clone(),
        &[5.0, 0.0],
        &Guidance::conditional(short),
        &mut NoNoise,
    );
    assert!(matches!(mismatch, Err(DiffusionError::Length { .. })));

    // Per-row noise for the wrong batch size; invalid configurations.
    let ancestral = EulerAncestral::default().sample(
        &d,
        x.clone(),
        &[5.0, 1.0, 0.0],
        &g,
        &mut PerRowNoise::seeded(&[1, 2, 3]),
    );
    assert!(matches!(ancestral, Err(DiffusionError::Length { .. })));
    let churn = Churn { s_churn: -1.0, ..Churn::default() };
    assert!(Heun { churn }.sample(&d, x.clone(), &[5.0, 0.0], &g, &mut NoNoise).is_err());
    let dopri = DormandPrince { rtol: 1e-12, atol: 1e-12, max_steps: 3 };
    assert!(matches!(
        dopri.sample(&d, x, &[50.0, 0.01], &g, &mut NoNoise),
        Err(DiffusionError::TooManySteps { .. })
    ));
    assert!(TargetCfm::new(1.0).is_err() && SchrodingerBridgeCfm::new(0.0).is_err());
}

#[test]
fn dynamic_thresholding_matches_its_definition() {
    // Row quantile of |x0| with linear interpolation, clamped to [1, max], then scale.
    let x0 = tensor2(&[3.0, -0.5, 1.0, 2.0, 0.2, -0.1, 0.3, 0.4], [2, 4]);
    let out =
        host(X0Correction::DynamicThreshold { ratio: 0.5, max_value: 1.8 }.apply(x0).unwrap());
    // Row 0: |x| sorted [0.5, 1, 2, 3], median 1.5 -> s = 1.5.
    let want0: Vec<f64> =
        [3.0f64, -0.5, 1.0, 2.0].iter().map(|v| v.clamp(-1.5, 1.5) / 1.5).collect();
    // Row 1: median 0.25 -> s = max(0.25, 1) = 1: plain clipping.
    assert!(close(&out[..4], &want0, 1e-12));
    assert!(close(&out[4..], &[0.2, -0.1, 0.3, 0.4], 1e-12));
    let clip =
        host(X0Correction::Clip { range: 1.0 }.apply(tensor2(&[3.0, -2.0], [1, 2])).unwrap());
    assert_eq!(clip, vec![1.0, -1.0]);
    // Parameters outside their domain are refused, not a panic inside the quantile or clamp.
    for bad in [
        X0Correction::DynamicThreshold { ratio: 1.5, max_value: 2.0 },
        X0Correction::DynamicThreshold { ratio: 0.5, max_value: 0.5 },
        X0Correction::DynamicThreshold { ratio: f64::NAN, max_value: 2.0 },
        X0Correction::Clip { range: 0.0 },
    ] {
        assert!(bad.apply(tensor2(&[3.0, -2.0], [1, 2])).is_err(), "{bad:?}");
    }
}

#[test]
fn unconditional_guidance_on_a_conditional_model_uses_the_null_class() {
    let mixture = Mixture::one_d();
    let conditional = MixtureDenoiser { mixture: mixture.clone() };
    let x = tensor2(&[0.3, -1.0], [2, 1]);
    let out = host(
        Euler::default()
            .sample(&conditional, x.clone(), &[1.0, 0.0], &Guidance::unconditional(), &mut NoNoise)
            .unwrap()
            .x,
    );
    let want = host(mixture.denoise(x, &[1.0]));
    assert!(close(&out, &want, 1e-12));
}

#[test]
fn every_sampler_reports_the_nfe_it_promises_and_reads_back_from_json() {
    let sigmas = sigmas_karras(6, 0.05, 20.0, 7.0).unwrap();
    for config in SamplerConfig::all() {
        let out = run_sampler(&config, &[0.5, -1.0], &sigmas, 3);
        if let Some(nfe) = config.nfe(sigmas.len() - 1) {
            assert_eq!(out.nfe, nfe, "{}", config.kind());
        }
        let json = serde_json::to_string(&config).unwrap();
        let back: SamplerConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config, "{json}");
        let bare: SamplerConfig =
            serde_json::from_str(&format!(r#"{{"kind": "{}"}}"#, config.kind())).unwrap();
        assert_eq!(bare, config, "omitted settings take the defaults");
    }
    assert!(serde_json::from_str::<SamplerConfig>(r#"{"kind": "magic"}"#).is_err());
    assert!(serde_json::from_str::<SamplerConfig>(r#"{"kind": "ddim", "etta": 1}"#).is_err());
}

#[test]
fn sampler_specs_read_their_short_names_and_report_under_them() {
    for (name, nfe, levels) in [
        ("ddpm_ancestral_1000", 1000, 1000),
        ("ddim_50", 50, 50),
        ("euler_50", 50, 50),
        ("heun_35", 35, 18),
        ("dpmpp2m_20", 20, 20),
    ] {
        let spec: SamplerSpec = name.parse().unwrap();
        assert_eq!(spec.name(), name);
        assert_eq!((spec.nfe(), spec.grid.len()), (Some(nfe), levels), "{name}");
        let from_json: SamplerSpec = serde_json::from_str(&format!("\"{name}\"")).unwrap();
        assert_eq!(from_json, spec);
        let full = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<SamplerSpec>(&full).unwrap(), spec, "{full}");
    }
    let custom: SamplerSpec = serde_json::from_str(
        r#"{"sampler": {"kind": "euler_ancestral"}, "grid": {"kind": "karras", "n": 30}}"#,
    )
    .unwrap();
    assert_eq!(custom.name(), "euler_ancestral_karras_30");
    for bad in ["heun_34", "magic_9", "euler", "euler_0", "ddim_x"] {
        let err = bad.parse::<SamplerSpec>().unwrap_err().to_string();
        assert!(err.contains(bad) || err.contains("at least 1"), "{bad}: {err}");
    }
    let no_schedule = NoiseLevels { discrete: None, sigma_min: 0.1, sigma_max: 10.0 };
    let ddim: SamplerSpec = "ddim_10".parse().unwrap();
    assert_eq!(ddim.grid.sigmas(&no_schedule), Err(DiffusionError::NoSchedule));
    let schedule = DiscreteSchedule::new(BetaSchedule::Linear, 1000, 1e-4, 0.02).unwrap();
    let with = NoiseLevels { discrete: Some(&schedule), ..no_schedule };
    assert_eq!(ddim.grid.sigmas(&with).unwrap().len(), 11);
    let heun: SamplerSpec = "heun_35".parse().unwrap();
    let karras = heun.grid.sigmas(&with).unwrap();
    assert_eq!((karras.len(), karras[18]), (19, 0.0));
    assert!((karras[0] - 10.0).abs() < 1e-12 && (karras[17] - 0.1).abs() < 1e-12, "{karras:?}");
}

#[test]
fn matchers_read_back_through_their_constructors() {
    use stoke_diffusion::flow_matching::{MatcherConfig, MatcherKind};
    for kind in MatcherKind::ALL {
        let config = kind.with_sigma(None).unwrap();
        assert_eq!(config.kind(), kind);
        assert_eq!(config.sigma(), kind.default_sigma());
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<MatcherConfig>(&json).unwrap(), config, "{json}");
    }
    // The bridge needs sigma > 0 and the target path sigma_min < 1, also through JSON.
    assert!(serde_json::from_str::<MatcherConfig>(r#"{"kind": "sb", "sigma": 0.0}"#).is_err());
    assert!(serde_json::from_str::<MatcherConfig>(r#"{"kind": "target", "sigma": 1.0}"#).is_err());
    assert!(MatcherKind::Icfm.with_sigma(Some(f64::NAN)).is_err());
}
