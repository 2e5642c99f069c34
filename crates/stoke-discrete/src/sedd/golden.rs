//! Golden values from the SEDD reference (`louaaron/Score-Entropy-Discrete-Diffusion` at
//! `0605786`): the `sedd_*` sections of `tests/golden/discrete.json`, made by
//! `tests/golden/make_discrete.py` (section 4 there; `tests/golden/NOTES.md`, section SEDD,
//! states the formulas). The reference's absorbing state is the last id, so these tests use
//! `mask_id = dim - 1`.

use burn::tensor::{Device, Tensor, TensorData};
use serde_json::Value;

use crate::sedd::graph::{Graph, exponential_race};
use crate::sedd::loss::{SeddCorruption, score_entropy, sedd_loss};
use crate::sedd::noise::SeddNoise;
use crate::sedd::score::log_score_from_logits;

fn golden() -> Value {
    serde_json::from_str(include_str!("../../tests/golden/discrete.json")).unwrap()
}

fn float(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(float).collect()
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(floats).collect()
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        other => vec![float(other)],
    }
}

/// `|got - expected| <= tolerance max(1, |expected|)` entry by entry.
fn assert_close(got: &[f64], expected: &[f64], tolerance: f64, what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!((g - e).abs() <= tolerance * e.abs().max(1.0), "{what}[{i}]: {g} vs {e}");
    }
}

fn tensor3(values: Vec<f64>, shape: [usize; 3]) -> Tensor<3> {
    let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::<3>::from_data(TensorData::new(values, shape), &Device::flex())
}

fn host(tensor: Tensor<2>) -> Vec<f64> {
    tensor.into_data().iter::<f64>().collect()
}

/// `noise_lib.py`'s `GeometricNoise` (class and `config.yaml` parameters) and
/// `LogLinearNoise`: `total_noise` and `rate_noise` at seven times, `t = 0` and `1`
/// included.
#[test]
fn noise_matches_sedd() {
    let golden = golden();
    let section = &golden["sedd_noise"];
    let t = floats(&section["t"]);
    let cases = [
        ("geometric_default", SeddNoise::Geometric { sigma_min: 1e-3, sigma_max: 1.0 }),
        ("geometric_config", SeddNoise::Geometric { sigma_min: 1e-4, sigma_max: 20.0 }),
        ("loglinear", SeddNoise::LogLinear { eps: 1e-3 }),
    ];
    for (key, noise) in cases {
        let total: Vec<f64> = t.iter().map(|&t| noise.total(t)).collect();
        let rate: Vec<f64> = t.iter().map(|&t| noise.rate(t)).collect();
        assert_close(&total, &floats(&section[key]["total"]), 1e-12, key);
        assert_close(&rate, &floats(&section[key]["rate"]), 1e-12, key);
    }
}

/// `graph_lib.py`'s `score_entropy` for both graphs, the host definition and the tensor
/// closed form: masked and unmasked positions, moved and kept tokens, `sigma` on both sides
/// of the reference's `expm1` switch at 0.5, log scores zeroed at `x_t` (as the network's)
/// and not.
#[test]
fn score_entropy_matches_sedd() {
    let golden = golden();
    let section = &golden["sedd_score_entropy"];
    for (key, absorbing) in [("absorbing", true), ("uniform", false)] {
        for case in section[key].as_array().unwrap() {
            let dim = case["dim"].as_u64().unwrap() as usize;
            let graph = if absorbing {
                Graph::Absorbing { dim, mask_id: dim as i64 - 1 }
            } else {
                Graph::Uniform { dim }
            };
            let log_score = rows(&case["log_score"]);
            let (sigma, x, x0) = (floats(&case["sigma"]), ids(&case["x"]), ids(&case["x0"]));
            let expected = floats(&case["entropy"]);
            let definition: Vec<f64> = (0..x.len())
                .map(|p| {
                    graph.score_entropy(&log_score[p], sigma[p], x[p] as usize, x0[p] as usize)
                })
                .collect();
            // The reference's absorbing output buffer is float32.
            let tolerance = if absorbing { 1e-6 } else { 1e-10 };
            assert_close(&definition, &expected, tolerance, key);
            // One position per row, so each row has its own sigma: [n, 1, dim].
            let n = x.len();
            let tensor = tensor3(log_score.concat(), [n, 1, dim]);
            let closed = host(score_entropy(&graph, tensor, &sigma, &x, &x0).unwrap());
            assert_close(&closed, &expected, 2e-5, key);
        }
    }
}

/// `losses.py`'s loss for the absorbing graph with the log-linear schedule: the time from
/// its uniform, the noise levels, which tokens the uniforms mask, the per-position entropies
/// and the per-sequence losses `dsigma sum_l entropy`.
#[test]
fn loss_matches_sedd() {
    let golden = golden();
    let section = &golden["sedd_loss_absorbing"];
    let dim = section["tokens"].as_u64().unwrap() as usize + 1;
    let graph = Graph::Absorbing { dim, mask_id: dim as i64 - 1 };
    let noise = SeddNoise::log_linear();
    let (u, t) = (floats(&section["u"]), floats(&section["t"]));
    let (sigma, dsigma) = (floats(&section["sigma"]), floats(&section["dsigma"]));
    for b in 0..u.len() {
        // `forward::sample_times` maps its uniform the same way.
        assert!(((1.0 - 1e-3) * u[b] + 1e-3 - t[b]).abs() < 1e-15);
        assert!((noise.total(t[b]) - sigma[b]).abs() < 1e-12 * sigma[b]);
        assert!((noise.rate(t[b]) - dsigma[b]).abs() < 1e-12 * dsigma[b]);
    }
    let x0: Vec<i64> = flat(&section["x0"]).iter().map(|&v| v as i64).collect();
    let x_t: Vec<i64> = flat(&section["xt"]).iter().map(|&v| v as i64).collect();
    let r = flat(&section["r"]);
    let seq = x0.len() / u.len();
    for (p, &x) in x_t.iter().enumerate() {
        // `Graph::sample_transition`'s rule: masked iff the uniform is below 1 - e^{-sigma}.
        let masked = r[p] < -(-sigma[p / seq]).exp_m1();
        assert_eq!(x, if masked { dim as i64 - 1 } else { x0[p] }, "position {p}");
    }
    let log_score = tensor3(flat(&section["log_score"]), [u.len(), seq, dim]);
    let corruption = SeddCorruption { t, sigma, dsigma, x_t };
    let entropy =
        score_entropy(&graph, log_score.clone(), &corruption.sigma, &corruption.x_t, &x0).unwrap();
    assert_close(&host(entropy), &flat(&section["entropy"]), 2e-5, "entropy");
    let loss = sedd_loss(&graph, log_score, &x0, &corruption).unwrap();
    let per_sequence: Vec<f64> = loss.per_sequence.into_data().iter::<f64>().collect();
    let expected = floats(&section["loss"]);
    assert_close(&per_sequence, &expected, 2e-5, "loss");
    let mean = loss.mean.into_scalar::<f64>();
    assert!((mean - expected.iter().sum::<f64>() / 2.0).abs() < 2e-5 * mean);
}

/// `graph_lib.py`'s operators on one row per position, and the three predictors' sampling
/// probabilities and draws (`sampling.py`'s `EulerPredictor`, `AnalyticPredictor` and
/// `Denoiser`, the draws from the stored uniforms).
#[test]
fn graph_operators_match_sedd() {
    let golden = golden();
    let section = &golden["sedd_graph_ops"];
    let dt_rate = float(&section["step_size"]) * float(&section["dsigma_rate"]);
    let dsig = floats(&section["dsig"]);
    for key in ["absorbing", "uniform"] {
        let case = &section[key];
        let dim = case["dim"].as_u64().unwrap() as usize;
        let graph = match key {
            "absorbing" => Graph::Absorbing { dim, mask_id: dim as i64 - 1 },
            _ => Graph::Uniform { dim },
        };
        let i: Vec<usize> = ids(&case["i"]).iter().map(|&i| i as usize).collect();
        let score: Vec<Vec<f64>> =
            rows(&case["log_score"]).iter().map(|r| r.iter().map(|l| l.exp()).collect()).collect();
        let row = |name: &str, p: usize| rows(&case[name])[p].clone();
        for p in 0..i.len() {
            let what = |name: &str| format!("{key} {name} row {p}");
            let (i, s, d) = (i[p], &score[p], dsig[p]);
            assert_close(&graph.rate(i), &row("rate", p), 1e-12, &what("rate"));
            assert_close(
                &graph.transp_rate(i),
                &row("transp_rate", p),
                1e-12,
                &what("transp_rate"),
            );
            assert_close(
                &graph.reverse_rate(i, s),
                &row("reverse_rate", p),
                1e-12,
                &what("reverse_rate"),
            );
            let euler = graph.euler_probs(i, s, dt_rate);
            assert_close(&euler, &row("euler_probs", p), 1e-12, &what("euler_probs"));
            assert_close(
                &graph.staggered_score(s, d),
                &row("staggered_score", p),
                1e-12,
                &what("staggered_score"),
            );
            let transition = if key == "absorbing" { "transp_transition" } else { "transition" };
            assert_close(
                &graph.transp_transition(i, d),
                &row(transition, p),
                1e-12,
                &what(transition),
            );
            let analytic = graph.tweedie_probs(i, s, d);
            assert_close(&analytic, &row("analytic_probs", p), 1e-12, &what("analytic_probs"));
            if key == "absorbing" {
                let denoise = graph.denoise_probs(i, s, d);
                assert_eq!(denoise[dim - 1], 0.0);
                assert_close(
                    &denoise[..dim - 1],
                    &row("denoiser_probs", p),
                    1e-12,
                    &what("denoiser_probs"),
                );
                let u = row("u", p);
                let draw = |probs: &[f64]| {
                    let mut u = u.iter();
                    exponential_race(probs, || *u.next().unwrap()).unwrap() as i64
                };
                assert_eq!(
                    draw(&analytic),
                    ids(&case["sample_analytic"])[p],
                    "{}",
                    what("analytic")
                );
                assert_eq!(draw(&euler), ids(&case["sample_euler"])[p], "{}", what("euler"));
                assert_eq!(
                    draw(&denoise),
                    ids(&case["sample_denoiser"])[p],
                    "{}",
                    what("denoiser")
                );
            }
        }
    }
}

/// `model/transformer.py`'s `SEDD.forward` output layer (`scale_by_sigma`, absorbing): the
/// shift by `ln(e^sigma - 1) + ln(dim - 1)` and the zero at the input token.
#[test]
fn output_transform_matches_sedd() {
    let golden = golden();
    let section = &golden["sedd_output_transform"];
    let dim = section["dim"].as_u64().unwrap() as usize;
    let graph = Graph::Absorbing { dim, mask_id: dim as i64 - 1 };
    let (sigma, x) = (floats(&section["sigma"]), ids(&section["x"]));
    let logits = tensor3(flat(&section["logits"]), [x.len(), 1, dim]);
    let log_score = log_score_from_logits(&graph, logits, &x, &sigma).unwrap();
    let log_score: Vec<f64> = log_score.into_data().iter::<f64>().collect();
    assert_close(&log_score, &flat(&section["log_score"]), 1e-5, "log_score");
}
