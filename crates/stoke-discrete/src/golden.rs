//! Golden values from the reference implementations: `tests/golden/discrete.json`, made by
//! `tests/golden/make_discrete.py` (its functions name the reference commit and function
//! each one mirrors; `tests/golden/NOTES.md` states the formulas).

use std::cell::Cell;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use stoke_core::schedule::MaskingSchedule;

use crate::denoiser::Denoiser;
use crate::elbo::llada_counts;
use crate::error::Result;
use crate::sample::{GenerateConfig, Remasking, generate};
use crate::transfer::num_transfer_tokens;

fn golden() -> Value {
    serde_json::from_str(include_str!("../tests/golden/discrete.json")).unwrap()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// LLaDA's `get_num_transfer_tokens` for every (mask count, steps) case.
#[test]
fn num_transfer_tokens_matches_llada() {
    let golden = golden();
    let cases = golden["llada_num_transfer_tokens"]["cases"].as_array().unwrap();
    assert!(cases.len() >= 40);
    for case in cases {
        let (n, steps) = (case["mask_num"].as_u64().unwrap(), case["steps"].as_u64().unwrap());
        let counts = num_transfer_tokens(n as usize, steps as usize).unwrap();
        assert_eq!(counts, usizes(&case["counts"]), "{n} tokens in {steps} steps");
    }
}

/// MDLM's log-linear `dsigma / expm1(sigma)` weights and move chances.
#[test]
fn log_linear_weights_match_mdlm() {
    let golden = golden();
    let section = &golden["mdlm_loglinear"];
    let schedule = MaskingSchedule::LogLinear { eps: section["eps"].as_f64().unwrap() };
    let t = floats(&section["t"]);
    let weight = floats(&section["loss_weight"]);
    let move_chance = floats(&section["move_chance"]);
    for ((&t, &w), &p) in t.iter().zip(&weight).zip(&move_chance) {
        assert!((schedule.elbo_weight(t) - w).abs() <= 1e-9 * w, "t = {t}: {w}");
        assert!((schedule.mask_probability(t) - p).abs() <= 1e-12, "t = {t}: {p}");
    }
}

/// LLaDA's stratified masked counts of its Monte-Carlo likelihood.
#[test]
fn likelihood_counts_match_llada() {
    let golden = golden();
    for case in golden["llada_ll_forward_process"]["cases"].as_array().unwrap() {
        let k = case["k"].as_u64().unwrap() as usize;
        let n = case["batch_size"].as_u64().unwrap() as usize;
        let seq = case["target_len"].as_u64().unwrap() as usize;
        assert_eq!(llada_counts(k, n, seq), usizes(&case["num_masked"]), "{case}");
    }
}

/// Replays stored logits, one array per call (the conditional and unconditional halves
/// for guidance).
struct Replay {
    cond: Vec<Vec<f32>>,
    uncond: Vec<Vec<f32>>,
    call: Cell<usize>,
    vocab: usize,
}

impl Denoiser for Replay {
    fn vocab_size(&self) -> usize {
        self.vocab
    }
    fn context(&self) -> usize {
        64
    }
    fn time_conditioned(&self) -> bool {
        false
    }
    fn logits(&self, _: &[i64], [batch, _]: [usize; 2], _: &[f64]) -> Result<Vec<f32>> {
        let call = self.call.replace(self.call.get() + 1);
        let mut out = self.cond[call].clone();
        if batch == 4 {
            out.extend(&self.uncond[call]);
        }
        Ok(out)
    }
}

fn flat_f32(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(items) => items.iter().flat_map(flat_f32).collect(),
        other => vec![other.as_f64().unwrap() as f32],
    }
}

/// LLaDA's `generate` with the model replaced by stored logits: the deterministic variants
/// (greedy low-confidence, with and without guidance) follow the reference's trajectory
/// step by step.
#[test]
fn generate_matches_llada_step_by_step() {
    let golden = golden();
    let mock = &golden["llada_generate_mock"];
    let get = |key: &str| mock[key].as_u64().unwrap() as usize;
    let (batch, prompt_len, vocab) = (get("B"), get("prompt_len"), get("vocab"));
    let mask_id = get("mask_id") as i64;
    let prompt: Vec<i64> = flat_f32(&mock["prompt"]).iter().map(|&x| x as i64).collect();
    let calls = |key: &str| mock[key].as_array().unwrap().iter().map(flat_f32).collect::<Vec<_>>();
    let mut checked = 0;
    for variant in mock["variants"].as_array().unwrap() {
        if variant["temperature"].as_f64().unwrap() != 0.0
            || variant["remasking"] != "low_confidence"
        {
            continue;
        }
        let config = GenerateConfig {
            gen_length: get("gen_length"),
            block_length: get("block_length"),
            steps: get("steps"),
            temperature: 0.0,
            remasking: Remasking::LowConfidence,
            cfg_scale: variant["cfg_scale"].as_f64().unwrap(),
        };
        let steps: Vec<Vec<i64>> = variant["x_after_step"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| flat_f32(x).iter().map(|&v| v as i64).collect())
            .collect();
        let replay = Replay {
            cond: calls("logits_calls"),
            uncond: calls("uncond_logits_calls"),
            call: Cell::new(0),
            vocab,
        };
        let mut rng = StdRng::seed_from_u64(0);
        let out =
            generate(&replay, &prompt, [batch, prompt_len], mask_id, &config, &mut rng).unwrap();
        assert_eq!(out.ids, *steps.last().unwrap(), "{}", variant["name"]);
        checked += 1;
    }
    assert_eq!(checked, 2);
}

/// BD3-LM's `block_diff_mask` over `x_t (+) x0` for every block size of several lengths.
#[test]
fn block_diffusion_mask_matches_bd3lm() {
    let golden = golden();
    let cases = golden["bd3_mask"]["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let n = case["n"].as_u64().unwrap() as usize;
        let block = case["block_size"].as_u64().unwrap() as usize;
        let expected: Vec<bool> = flat_f32(&case["mask"]).iter().map(|&v| v == 1.0).collect();
        assert_eq!(crate::block::attends(n, block).unwrap(), expected, "n {n}, block {block}");
    }
}
