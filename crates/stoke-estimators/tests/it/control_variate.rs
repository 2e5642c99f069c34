//! REBAR and RELAX against exact gradients.
//!
//! Bernoulli: the toy of Tucker et al. and Grathwohl et al., minimise `E[(b - 0.45)^2]`,
//! `b ~ Bernoulli(sigmoid(phi))`, exact gradient `theta (1 - theta) (1 - 2 t)`. Every unbiased
//! estimator's mean lies within 3 standard errors of it. On this one-variable toy REBAR's gain
//! grows with lambda (at 0.5 its fitted `eta` buys only ~0.1% of variance; an independent NumPy
//! implementation of the same formulas agrees), so the test runs at lambda = 20, where REBAR,
//! fitted on its own draws and measured on fresh ones, must at least halve REINFORCE's
//! variance; RELAX with a learned offset, which can absorb the whole score-function term here,
//! is far below both.
//!
//! Categorical: a 4-way variable, the exact gradient by enumeration; REBAR with a fitted `eta`
//! and RELAX with a trained [`ControlNet`] are unbiased and successively lower in variance.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use stoke_estimators::EstimatorError;
use stoke_estimators::control_net::ControlNet;
use stoke_estimators::control_variate::{
    CategoricalRelaxation, least_squares_weights, optimal_eta, rebar_control, rebar_parts,
    relax_estimate, relax_surrogate, variance_objective,
};
use stoke_estimators::probe::GradientStats;
use stoke_estimators::score_function::log_prob_bernoulli;

const TARGET: f64 = 0.45;
const LAMBDA: f64 = 20.0;

fn f(b: Tensor<1>) -> Tensor<1> {
    b.sub_scalar(TARGET).square()
}

fn uniforms(n: usize, rng: &mut StdRng, device: &Device) -> Tensor<1> {
    let values: Vec<f32> = (0..n).map(|_| rng.random::<f32>().clamp(1e-6, 1.0 - 1e-6)).collect();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// Per-draw gradients of `sum(surrogate(phi))` with `phi` a leaf of `n` copies.
fn per_draw(
    phi: f32,
    n: usize,
    surrogate: impl Fn(Tensor<1>) -> Tensor<1>,
    device: &Device,
) -> Vec<f64> {
    let phis = Tensor::<1>::from_data(TensorData::new(vec![phi; n], [n]), device).require_grad();
    let grads = surrogate(phis.clone()).sum().backward();
    phis.grad(&grads).unwrap().into_data().iter::<f64>().collect()
}

fn stats(draws: &[f64]) -> GradientStats {
    stoke_estimators::probe::gradient_stats(draws.len(), |i| vec![draws[i]]).unwrap()
}

#[test]
fn bernoulli_toy_unbiased_and_variance_ordered() {
    let device = Device::flex().autodiff();
    let phi = 0.3f32;
    let theta = 1.0 / (1.0 + (-f64::from(phi)).exp());
    let exact = theta * (1.0 - theta) * (1.0 - 2.0 * TARGET);
    let mut rng = StdRng::seed_from_u64(2018);
    let n = 40_000;

    // Fit the control variates on their own draws, then evaluate on fresh ones.
    let (u, v) = (uniforms(n, &mut rng, &device), uniforms(n, &mut rng, &device));
    let part_a = per_draw(phi, n, |p| rebar_parts(p, u.clone(), v.clone(), &f, LAMBDA).0, &device);
    let part_b = per_draw(phi, n, |p| rebar_parts(p, u.clone(), v.clone(), &f, LAMBDA).1, &device);
    let score = per_draw(
        phi,
        n,
        |p| {
            let b = (p.clone() + (u.clone().log() - u.clone().neg().add_scalar(1.0).log()))
                .greater_elem(0.0)
                .float();
            log_prob_bernoulli(p, b)
        },
        &device,
    );
    let eta = optimal_eta(&part_a, &part_b).unwrap();
    let mean_abs_b = part_b.iter().map(|x| x.abs()).sum::<f64>() / n as f64;
    eprintln!(
        "eta* {eta:.4}, mean |b| {mean_abs_b:.3e}, relax weights {:?}",
        least_squares_weights(&part_a, &[&part_b])
    );
    // RELAX's c = eta f(sigmoid(z / lambda)) + k: the offset enters g as -k * score.
    let neg_score: Vec<f64> = score.iter().map(|s| -s).collect();
    let relax_w = least_squares_weights(&part_a, &[&part_b, &neg_score]).unwrap();

    let (u, v) = (uniforms(n, &mut rng, &device), uniforms(n, &mut rng, &device));
    let reinforce =
        per_draw(phi, n, |p| rebar_parts(p, u.clone(), v.clone(), &f, LAMBDA).0, &device);
    let rebar_c = rebar_control(&f, eta, LAMBDA);
    let rebar =
        per_draw(phi, n, |p| relax_surrogate(p, u.clone(), v.clone(), &f, &rebar_c), &device);
    let (relax_eta, offset) = (relax_w[0], relax_w[1] as f32);
    let relax_base = rebar_control(&f, relax_eta, LAMBDA);
    let relax_c = |z: Tensor<1>| relax_base(z).add_scalar(offset);
    let relax =
        per_draw(phi, n, |p| relax_surrogate(p, u.clone(), v.clone(), &f, &relax_c), &device);

    let mut variances = Vec::new();
    for (name, draws) in [("reinforce", &reinforce), ("rebar", &rebar), ("relax", &relax)] {
        let s = stats(draws);
        let se = s.standard_error()[0];
        eprintln!(
            "{name}: mean {:.6} (exact {exact:.6}, se {se:.2e}), variance {:.3e}",
            s.mean[0], s.variance[0]
        );
        assert!(
            (s.mean[0] - exact).abs() < 3.0 * se,
            "{name}: mean {} vs exact {exact} (se {se})",
            s.mean[0]
        );
        variances.push(s.variance[0]);
    }
    assert!(
        variances[1] < 0.5 * variances[0],
        "REBAR {} vs REINFORCE {}",
        variances[1],
        variances[0]
    );
    assert!(variances[2] < 0.1 * variances[1], "RELAX {} vs REBAR {}", variances[2], variances[1]);
}

#[test]
fn least_squares_recovers_known_weights() {
    // a = -(2 p1 - 3 p2) exactly, so w = (2, -3).
    let p1 = [1.0, 0.5, -1.0, 2.0];
    let p2 = [0.0, 1.0, 1.0, -0.5];
    let a: Vec<f64> = p1.iter().zip(&p2).map(|(x, y)| -(2.0 * x - 3.0 * y)).collect();
    let w = least_squares_weights(&a, &[&p1, &p2]).unwrap();
    assert!((w[0] - 2.0).abs() < 1e-12 && (w[1] + 3.0).abs() < 1e-12, "{w:?}");
    assert_eq!(least_squares_weights(&a, &[&p1, &p1]), Err(EstimatorError::Singular));
    assert_eq!(optimal_eta(&a, &[0.0; 4]), Ok(0.0));
    assert!(least_squares_weights(&a, &[&p1[..3]]).is_err());
    assert!(least_squares_weights(&[], &[]).is_err());
    assert!(least_squares_weights(&[f64::NAN, 1.0, 2.0, 3.0], &[&p1]).is_err());
    assert!(optimal_eta(&a, &[1.0]).is_err());
}

const K: usize = 4;
const VALUES: [f32; K] = [0.0, 1.0, 0.3, -0.5];

/// `f(b) = (b . VALUES - 0.2)^2` rowwise, on one-hot or relaxed `b`. `[n, K] -> [n]`.
fn f_cat(b: Tensor<2>) -> Tensor<1> {
    let [n, _] = b.dims();
    let values = Tensor::<1>::from_floats(VALUES, &b.device()).reshape([1, K]);
    (b * values).sum_dim(1).sub_scalar(0.2).square().reshape([n])
}

fn uniform_matrix(n: usize, rng: &mut StdRng, device: &Device) -> Tensor<2> {
    let values: Vec<f32> = (0..n * K).map(|_| rng.random::<f32>()).collect();
    Tensor::from_data(TensorData::new(values, [n, K]), device)
}

/// `n` copies of the logits as a fresh leaf.
fn logits_leaf(logits: [f32; K], n: usize, device: &Device) -> Tensor<2> {
    let flat: Vec<f32> = (0..n).flat_map(|_| logits).collect();
    Tensor::<2>::from_data(TensorData::new(flat, [n, K]), device).require_grad()
}

fn rows(t: Tensor<2>) -> Vec<Vec<f64>> {
    let [_, k] = t.dims();
    let flat: Vec<f64> = t.into_data().iter::<f64>().collect();
    flat.chunks(k).map(<[f64]>::to_vec).collect()
}

#[test]
fn categorical_relaxation_is_conditional_and_its_jacobians_match_autodiff() {
    let device = Device::flex().autodiff();
    let mut rng = StdRng::seed_from_u64(7);
    let n = 512;
    let logits = logits_leaf([0.5, -1.0, 2.0, 0.0], n, &device);
    let (u, v) = (uniform_matrix(n, &mut rng, &device), uniform_matrix(n, &mut rng, &device));
    let relaxed = CategoricalRelaxation::new(logits, u.clone(), v.clone());
    // z~ | b keeps b the argmax, as a draw of z given b must.
    let drawn = relaxed.b.clone().argmax(1).into_data().iter::<i64>().collect::<Vec<_>>();
    let tilde_max = relaxed.z_tilde.clone().argmax(1).into_data().iter::<i64>().collect::<Vec<_>>();
    assert_eq!(drawn, tilde_max);
    // Closed-form vector-Jacobian products == autodiff's (a fresh forward per backward: Burn
    // does not retain graphs).
    let w = uniform_matrix(n, &mut rng, &device).sub_scalar(0.5);
    for tilde in [false, true] {
        let leaf = logits_leaf([0.5, -1.0, 2.0, 0.0], n, &device);
        let fresh = CategoricalRelaxation::new(leaf.clone(), u.clone(), v.clone());
        let (relaxation, closed) = if tilde {
            (fresh.z_tilde.clone(), fresh.vjp_z_tilde(w.clone()))
        } else {
            (fresh.z.clone(), fresh.vjp_z(w.clone()))
        };
        let grads = (relaxation * w.clone()).sum().backward();
        let auto = rows(leaf.grad(&grads).unwrap());
        for (a, c) in auto.iter().flatten().zip(rows(closed).iter().flatten()) {
            assert!(
                (a - c).abs() < 1e-4 * (1.0 + a.abs()),
                "z~ {tilde}: autodiff {a} vs closed {c}"
            );
        }
    }
}

/// Per-draw estimates of `d/dlogits E[f_cat(b)]`: REINFORCE, REBAR at `eta`, and RELAX with
/// `eta` plus a control network, on fresh draws.
fn categorical_estimates(
    logits: [f32; K],
    n: usize,
    eta: f64,
    net: Option<&ControlNet>,
    rng: &mut StdRng,
    device: &Device,
) -> (Tensor<2>, Tensor<2>, Tensor<2>) {
    let leaf = logits_leaf(logits, n, device);
    let (u, v) = (uniform_matrix(n, rng, device), uniform_matrix(n, rng, device));
    let relaxed = CategoricalRelaxation::new(leaf.clone(), u, v);
    let relaxed_f = |z: Tensor<2>| f_cat(softmax(z.div_scalar(LAMBDA), 1));
    let c1_tilde = relaxed_f(relaxed.z_tilde.clone());
    let grads = (relaxed_f(relaxed.z.clone()) - c1_tilde.clone()).sum().backward();
    let pathwise_c1 = leaf.grad(&grads).unwrap().autodiff();
    let (score, f_b) = (relaxed.score.clone(), f_cat(relaxed.b.clone()));
    let c1_tilde = c1_tilde.detach();
    let zeros = score.zeros_like();
    let reinforce = relax_estimate(score.clone(), f_b.clone(), f_b.zeros_like(), zeros);
    let rebar = relax_estimate(
        score.clone(),
        f_b.clone(),
        c1_tilde.clone().mul_scalar(eta),
        pathwise_c1.clone().mul_scalar(eta),
    );
    let relax = match net {
        None => rebar.clone(),
        Some(net) => {
            let (z, z_tilde) = (relaxed.z.clone().detach(), relaxed.z_tilde.clone().detach());
            let pathwise = pathwise_c1.mul_scalar(eta) + relaxed.vjp_z(net.input_gradient(z))
                - relaxed.vjp_z_tilde(net.input_gradient(z_tilde.clone()));
            relax_estimate(score, f_b, c1_tilde.mul_scalar(eta) + net.forward(z_tilde), pathwise)
        }
    };
    (reinforce, rebar, relax)
}

#[test]
fn categorical_rebar_and_relax_are_unbiased_and_relax_trains_to_lower_variance() {
    let device = Device::flex().autodiff();
    let mut rng = StdRng::seed_from_u64(2017);
    let logits = [0.5f32, -1.0, 2.0, 0.0];
    // Exact gradient by enumeration: d/dl_k sum_j p_j f_j = p_k (f_k - sum_j p_j f_j).
    let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let weights: Vec<f64> = logits.iter().map(|&l| f64::from(l - m).exp()).collect();
    let total: f64 = weights.iter().sum();
    let p: Vec<f64> = weights.iter().map(|w| w / total).collect();
    let f: Vec<f64> = VALUES.iter().map(|&v| (f64::from(v) - 0.2).powi(2)).collect();
    let mean_f: f64 = p.iter().zip(&f).map(|(p, f)| p * f).sum();
    let exact: Vec<f64> = p.iter().zip(&f).map(|(p, f)| p * (f - mean_f)).collect();

    // REBAR's eta by least squares on its own draws (g = a + eta b).
    let (a, b, _) = categorical_estimates(logits, 20_000, 1.0, None, &mut rng, &device);
    let a_flat: Vec<f64> = a.clone().into_data().iter::<f64>().collect();
    let b_flat: Vec<f64> = (b - a).into_data().iter::<f64>().collect();
    let eta = optimal_eta(&a_flat, &b_flat).unwrap();

    // RELAX: REBAR's eta plus a control network trained on the variance objective.
    let mut net = ControlNet::new(K, 16, &device);
    let mut optimizer: ModuleOptimizer = AdamConfig::new().init();
    for _ in 0..150 {
        let (_, _, relax) = categorical_estimates(logits, 256, eta, Some(&net), &mut rng, &device);
        let grads = GradientsParams::from_grads(variance_objective(relax).backward(), &net);
        net = optimizer.step(3e-3, net, grads);
    }

    let n = 20_000;
    let (reinforce, rebar, relax) =
        categorical_estimates(logits, n, eta, Some(&net), &mut rng, &device);
    let mut totals = Vec::new();
    for (name, draws) in [("reinforce", reinforce), ("rebar", rebar), ("relax", relax)] {
        let draws = rows(draws);
        let s = stoke_estimators::probe::gradient_stats(n, |i| draws[i].clone()).unwrap();
        for (k, ((mean, se), exact)) in
            s.mean.iter().zip(s.standard_error()).zip(&exact).enumerate()
        {
            assert!(
                (mean - exact).abs() < 3.5 * se,
                "{name} component {k}: mean {mean} vs exact {exact} (se {se})"
            );
        }
        let total: f64 = s.variance.iter().sum();
        eprintln!("{name}: mean {:?} (exact {exact:?}), total variance {total:.3e}", s.mean);
        totals.push(total);
    }
    assert!(totals[1] < totals[0], "REBAR {} vs REINFORCE {}", totals[1], totals[0]);
    assert!(totals[2] < totals[1], "RELAX {} vs REBAR {}", totals[2], totals[1]);
}
