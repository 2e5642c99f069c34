//! Golden values from diffusers 0.42.1 and k-diffusion 0.1.1.post1. The Python that produced
//! them is `tests/golden/make_golden.py`, beside `golden.json`; rerun it to regenerate.
//!
//! Tolerances: our `f64` tables against diffusers' algorithm run in float64 (`*_f64`) to
//! 1e-10 relative; our float32 emulation against diffusers' stock float32 output to 2e-5
//! relative (float32 accumulation order); k-diffusion grids in float64 to 1e-12.

use serde_json::Value;
use stoke_core::param::EdmPreconditioning;
use stoke_core::schedule::{
    BetaSchedule, DiscreteSchedule, TimestepSpacing, ancestral_step, diffusers_f32_tables,
    sigmas_exponential, sigmas_karras, sigmas_polyexponential, sigmas_vp, timesteps,
};

fn golden() -> Value {
    serde_json::from_str(include_str!("../golden/golden.json")).expect("golden.json parses")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn assert_close(got: &[f64], want: &[f64], rel: f64, abs: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= rel * w.abs() + abs, "{what}[{i}]: got {g}, want {w}");
    }
}

#[test]
fn ddpm_betas_and_alphas_cumprod() {
    let g = golden();
    for entry in g["ddpm"].as_array().unwrap() {
        let kind: BetaSchedule = entry["beta_schedule"].as_str().unwrap().parse().unwrap();
        let zero_snr = entry["zero_snr"].as_bool().unwrap();
        let n = entry["num_train_timesteps"].as_u64().unwrap() as usize;
        let (start, end) =
            (entry["beta_start"].as_f64().unwrap(), entry["beta_end"].as_f64().unwrap());
        let what = format!("{kind} zero_snr={zero_snr} T={n}");
        let mut s = DiscreteSchedule::new(kind, n, start, end).unwrap();
        if zero_snr {
            s = s.rescale_zero_terminal_snr().unwrap();
        }
        assert_close(s.betas(), &floats(&entry["betas_f64"]), 1e-10, 0.0, &what);
        assert_close(
            s.alphas_cumprod(),
            &floats(&entry["alphas_cumprod_f64"]),
            1e-10,
            1e-300,
            &what,
        );

        let (betas32, ab32) = diffusers_f32_tables(kind, n, start, end, zero_snr).unwrap();
        let widen = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
        // Zero-SNR betas cancel catastrophically in float32 (1 - a_i/a_{i-1}); compare
        // them with the absolute error float32 division leaves there.
        let (beta_rel, beta_abs) = if zero_snr { (2e-5, 2e-6) } else { (2e-6, 0.0) };
        assert_close(&widen(betas32), &floats(&entry["betas"]), beta_rel, beta_abs, &what);
        assert_close(&widen(ab32), &floats(&entry["alphas_cumprod"]), 2e-5, 1e-12, &what);
    }
}

#[test]
fn ddim_timesteps_for_each_spacing() {
    let g = golden();
    for entry in g["ddim_timesteps"].as_array().unwrap() {
        let spacing: TimestepSpacing = entry["spacing"].as_str().unwrap().parse().unwrap();
        let offset = entry["steps_offset"].as_u64().unwrap() as usize;
        let k = entry["num_inference_steps"].as_u64().unwrap() as usize;
        let want: Vec<usize> = entry["timesteps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        let got = timesteps(1000, k, spacing, offset).unwrap();
        assert_eq!(got, want, "{spacing} offset {offset} k {k}");
    }
}

#[test]
fn k_diffusion_sigma_grids() {
    let g = golden();
    for e in g["karras"].as_array().unwrap() {
        let got = sigmas_karras(
            e["n"].as_u64().unwrap() as usize,
            e["sigma_min"].as_f64().unwrap(),
            e["sigma_max"].as_f64().unwrap(),
            e["rho"].as_f64().unwrap(),
        )
        .unwrap();
        assert_close(&got, &floats(&e["sigmas"]), 1e-12, 0.0, "karras");
    }
    for e in g["exponential"].as_array().unwrap() {
        let got = sigmas_exponential(
            e["n"].as_u64().unwrap() as usize,
            e["sigma_min"].as_f64().unwrap(),
            e["sigma_max"].as_f64().unwrap(),
        )
        .unwrap();
        assert_close(&got, &floats(&e["sigmas"]), 1e-12, 0.0, "exponential");
    }
    for e in g["polyexponential"].as_array().unwrap() {
        let got = sigmas_polyexponential(
            e["n"].as_u64().unwrap() as usize,
            e["sigma_min"].as_f64().unwrap(),
            e["sigma_max"].as_f64().unwrap(),
            e["rho"].as_f64().unwrap(),
        )
        .unwrap();
        assert_close(&got, &floats(&e["sigmas"]), 1e-12, 0.0, "polyexponential");
    }
    for e in g["vp"].as_array().unwrap() {
        let got = sigmas_vp(
            e["n"].as_u64().unwrap() as usize,
            e["beta_d"].as_f64().unwrap(),
            e["beta_min"].as_f64().unwrap(),
            e["eps_s"].as_f64().unwrap(),
        )
        .unwrap();
        assert_close(&got, &floats(&e["sigmas"]), 1e-12, 0.0, "vp");
    }
}

#[test]
fn k_diffusion_ancestral_steps() {
    let g = golden();
    for e in g["ancestral"].as_array().unwrap() {
        let (from, to, eta) = (
            e["sigma_from"].as_f64().unwrap(),
            e["sigma_to"].as_f64().unwrap(),
            e["eta"].as_f64().unwrap(),
        );
        let step = ancestral_step(from, to, eta).unwrap();
        let what = format!("{from} -> {to}, eta {eta}");
        assert_close(
            &[step.sigma_down, step.sigma_up],
            &[e["sigma_down"].as_f64().unwrap(), e["sigma_up"].as_f64().unwrap()],
            1e-12,
            1e-15,
            &what,
        );
    }
}

#[test]
fn k_diffusion_edm_scalings() {
    let g = golden();
    for e in g["edm_scalings"].as_array().unwrap() {
        let p = EdmPreconditioning::new(e["sigma_data"].as_f64().unwrap()).unwrap();
        let s = p.scalings(e["sigma"].as_f64().unwrap()).unwrap();
        let want = [
            e["c_skip"].as_f64().unwrap(),
            e["c_out"].as_f64().unwrap(),
            e["c_in"].as_f64().unwrap(),
        ];
        assert_close(&[s.c_skip, s.c_out, s.c_in], &want, 1e-12, 0.0, "edm scalings");
    }
}
