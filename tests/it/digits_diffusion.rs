//! The digits diffusion recipes end to end at toy sizes: every method trains, every sampler
//! runs and is scored, and bad input is refused before any file is written.

use std::fs;

use stoke_train::cli;

use crate::{ONE_RUN_AT_A_TIME, read_json, temp_dir};

fn run(recipe: &str, args: &[&str]) -> Result<(), String> {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut all = vec!["train".to_string(), recipe.to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    cli::main(&all).map_err(|e| e.to_string())
}

/// Small enough for the default test run: 30 steps, 20 samples, a 100-step classifier.
const TINY: [&str; 12] = [
    "--steps",
    "30",
    "--log-every",
    "1",
    "--checkpoint-every",
    "1",
    "--n-samples",
    "20",
    "--classifier",
    r#"{"steps": 100, "log_every": 50}"#,
    "--batch-size",
    "32",
];

#[test]
fn every_method_trains_and_every_sampler_is_scored() {
    for (recipe, samplers) in [
        ("ddpm-digits", r#"["ddim_50", "dpmpp2m_20"]"#),
        ("edm-digits", r#"["heun_35", "euler_50"]"#),
        ("flow-digits", r#"["ddim_50", "euler_50"]"#),
    ] {
        let out = temp_dir(recipe);
        let out_s = out.to_str().unwrap();
        run(recipe, &[&["--out", out_s, "--samplers", samplers][..], &TINY].concat()).unwrap();
        let metrics = read_json(&out.join("metrics.json"));
        assert!(metrics["fd_floor"].as_f64().unwrap() >= 0.0, "{recipe}");
        let names: Vec<String> = serde_json::from_str(samplers).unwrap();
        for name in &names {
            let s = &metrics["samplers"][name.as_str()];
            assert!(s["fd"].as_f64().unwrap().is_finite(), "{recipe} {name}: {s}");
            let acc = s["cond_acc"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&acc), "{recipe} {name}: {acc}");
            assert!(s["nfe"].as_u64().unwrap() > 0 && s["seconds"].as_f64().unwrap() > 0.0);
            assert!(out.join(format!("samples_{name}.png")).is_file(), "{recipe} {name}");
        }
        let expected_nfe = [("ddim_50", 50), ("dpmpp2m_20", 20), ("heun_35", 35), ("euler_50", 50)];
        for (name, nfe) in expected_nfe {
            if names.iter().any(|n| n == name) {
                assert_eq!(metrics["samplers"][name]["nfe"].as_u64().unwrap(), nfe, "{name}");
            }
        }
        fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn digits_diffusion_refuses_bad_input_and_keeps_the_last_checkpoint_on_divergence() {
    let out = temp_dir("ddpm-bad");
    let out_s = out.to_str().unwrap();
    let corrupt = out.with_extension("corrupt.csv");
    fs::write(&corrupt, "0,0,1\n").unwrap();
    let corrupt_s = corrupt.to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["--digits-file", "/no/such/digits.csv"], "/no/such/digits.csv"),
        (&["--digits-file", corrupt_s], "corrupt.csv"),
        (&["--p-uncond", "0", "--guidance-scale", "3"], "unconditional"),
        (&["--samplers", r#"["euler_9"]"#], "euler_9"),
        (&["--method", "edm"], "edm"),
        (&["--guidance-scale", "nan"], "guidance-scale"),
    ];
    for (args, needle) in cases {
        let message = run("ddpm-digits", &[&["--out", out_s][..], args].concat()).unwrap_err();
        assert!(message.contains(needle), "{args:?}: {message}");
        assert!(!message.contains('\n') && !out.exists(), "{args:?}: {message}");
    }
    // A learning rate that blows the network up at its first update: step 0's loss is finite
    // and checkpointed, a later one is not; the error names the step and the checkpoint stays.
    let diverging =
        ["--out", out_s, "--steps", "10", "--warmup-steps", "0", "--learning-rate", "1e30"];
    // TINY keeps the run short should it finish after all.
    let message = run("ddpm-digits", &[&diverging[..], &TINY[4..]].concat()).unwrap_err();
    assert!(message.contains("step"), "{message}");
    assert!(out.join("checkpoints").read_dir().unwrap().next().is_some(), "{message}");
    fs::remove_dir_all(&out).unwrap();
}
