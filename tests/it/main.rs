//! Cross-crate integration tests: the trainer end to end on a tiny config.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use stoke_train::cli;

mod digits;
mod digits_diffusion;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stoke-it-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn tiny_config(dir: &Path) -> PathBuf {
    let path = dir.with_extension("config.json");
    let config = serde_json::json!({
        "steps": 60,
        "batch_size": 64,
        "checkpoint_every": 30,
        "log_every": 10,
        "n_eval": 64,
        "eval_nfe": [1, 4],
        "model": { "width": 32, "n_hidden": 2 }
    });
    fs::write(&path, config.to_string()).unwrap();
    path
}

/// Burn seeds a device's generator per process, so two trainings initialising networks at
/// once in one test binary would interleave draws; runs take turns.
static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn train(args: &[&str]) -> Result<(), String> {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut all = vec!["train".to_string(), "flow-2d".to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    cli::main(&all).map_err(|e| e.to_string())
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn flow_2d_writes_a_run_directory_and_the_loss_falls() {
    let out = temp_dir("run");
    let config = tiny_config(&out);
    train(&["--out", out.to_str().unwrap(), "--config", config.to_str().unwrap()]).unwrap();
    for file in ["config.json", "metrics.json", "metrics.jsonl", "samples.png", "loss.png"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let metrics = read_json(&out.join("metrics.json"));
    for key in ["1", "4"] {
        assert!(metrics["w2"][key].as_f64().unwrap().is_finite());
        assert!(metrics["energy_distance"][key].as_f64().unwrap() >= 0.0);
    }
    assert!(metrics["w2_floor"].as_f64().unwrap() > 0.0);
    let losses: Vec<f64> = fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["loss"].as_f64().unwrap())
        .collect();
    assert_eq!(losses.len(), 6);
    assert!(losses[5] < losses[0], "loss did not fall: {losses:?}");
    let resolved = read_json(&out.join("config.json"));
    assert_eq!(resolved["steps"], 60);
    assert_eq!(resolved["model"]["width"], 32);
    // Only the newest checkpoints are kept, each complete.
    let checkpoints: Vec<_> = fs::read_dir(out.join("checkpoints")).unwrap().collect();
    assert_eq!(checkpoints.len(), 2);
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn regression_issue_2_a_killed_run_resumes_to_the_same_result() {
    let (full, killed) = (temp_dir("full"), temp_dir("killed"));
    let config = tiny_config(&full);
    train(&["--out", full.to_str().unwrap(), "--config", config.to_str().unwrap()]).unwrap();
    train(&["--out", killed.to_str().unwrap(), "--config", config.to_str().unwrap()]).unwrap();
    // Simulate a kill after step 30: drop the last checkpoint, the summary and the later
    // log lines, and leave a half-written checkpoint behind.
    fs::remove_dir_all(killed.join("checkpoints/step-00000060")).unwrap();
    fs::remove_file(killed.join("metrics.json")).unwrap();
    fs::create_dir_all(killed.join("checkpoints/.partial-step-00000060")).unwrap();
    train(&["--resume", killed.to_str().unwrap()]).unwrap();
    let (a, b) = (read_json(&full.join("metrics.json")), read_json(&killed.join("metrics.json")));
    assert_eq!(a["w2"], b["w2"], "resumed run diverged from the uninterrupted one");
    assert_eq!(a["final_loss"], b["final_loss"]);
    let lines = |d: &Path| fs::read_to_string(d.join("metrics.jsonl")).unwrap().lines().count();
    assert_eq!(lines(&full), lines(&killed), "resume must not log a step twice");
    fs::remove_dir_all(&full).unwrap();
    fs::remove_dir_all(&killed).unwrap();
}

#[test]
fn flow_2d_trains_with_every_matcher_and_source() {
    for (matcher, source) in
        [("otcfm", "8gaussians"), ("sb", "gaussian"), ("vp", "gaussian"), ("target", "gaussian")]
    {
        let out = temp_dir(&format!("matcher-{matcher}"));
        let config = tiny_config(&out);
        let out_s = out.to_str().unwrap();
        let args = ["--out", out_s, "--config", config.to_str().unwrap(), "--matcher", matcher];
        train(&[&args[..], &["--source", source]].concat()).unwrap();
        let metrics = read_json(&out.join("metrics.json"));
        assert_eq!(metrics["matcher"], matcher);
        assert!(metrics["w2"]["4"].as_f64().unwrap().is_finite(), "{matcher}");
        assert!(metrics["straightness"].as_f64().unwrap() >= 0.0, "{matcher}");
        fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn rectified_2d_reports_every_stage() {
    let out = temp_dir("rectified");
    let args = [
        "train",
        "rectified-2d",
        "--out",
        out.to_str().unwrap(),
        "--steps",
        "40",
        "--n-pairs",
        "256",
        "--coupling-nfe",
        "8",
        "--n-eval",
        "64",
        "--batch-size",
        "64",
    ];
    {
        let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        cli::main(&args.map(String::from)).unwrap();
    }
    let metrics = read_json(&out.join("metrics.json"));
    for stage in ["1rf", "2rf", "distilled"] {
        for nfe in ["1", "2", "5", "100"] {
            let w = metrics["stages"][stage]["w2"][nfe].as_f64().unwrap();
            assert!(w.is_finite() && w > 0.0, "{stage} {nfe}: {w}");
        }
        assert!(metrics["stages"][stage]["straightness"].as_f64().unwrap() >= 0.0);
    }
    assert!(metrics["w2_floor"].as_f64().unwrap() > 0.0);
    assert!(out.join("samples.png").is_file() && out.join("loss.png").is_file());
    fs::remove_dir_all(&out).unwrap();
    let bad = cli::main(&["train", "rectified-2d", "--distill-steps", "0"].map(String::from));
    assert!(bad.unwrap_err().to_string().contains("distill_steps"));
}

#[test]
fn bad_input_is_one_line_and_leaves_no_run_directory() {
    let out = temp_dir("bad");
    let out_s = out.to_str().unwrap().to_string();
    let negative = out.with_extension("neg.json");
    fs::write(&negative, r#"{"learning_rate": -0.5}"#).unwrap();
    let not_json = out.with_extension("nan.json");
    fs::write(&not_json, r#"{"learning_rate": NaN}"#).unwrap();
    let cases: [(&[&str], &str); 10] = [
        (&["--matcher", "magic"], "'magic'"),
        (&["--matcher", "target", "--source", "8gaussians"], "--source 8gaussians"),
        (&["--matcher", "sb", "--sigma", "0"], "sigma"),
        (&["--steps", "0"], "--steps must be at least 1, got 0"),
        (&["--device", "nonsense"], "'nonsense'"),
        (&["--config", negative.to_str().unwrap()], "-0.5"),
        (&["--config", not_json.to_str().unwrap()], "not valid JSON"),
        (&["--target", "moon"], "moon"),
        (&["--learning-rate", "nan"], "nan"),
        (&["--no-such-option", "1"], "--no-such-option"),
    ];
    for (args, needle) in cases {
        let mut all = vec!["--out", out_s.as_str()];
        all.extend_from_slice(args);
        let message = train(&all).expect_err("bad input must fail");
        assert!(message.contains(needle), "{args:?}: {message}");
        assert!(!message.contains('\n'), "{args:?}: not one line: {message}");
        assert!(!out.exists(), "{args:?} left {out:?} behind");
    }
    let unknown = cli::main(&["train".into(), "no-such-recipe".into()]).unwrap_err();
    assert!(unknown.to_string().contains("no-such-recipe"));
}

#[test]
fn schedule_command_refuses_bad_names_and_values() {
    let run = |args: &[&str]| cli::main(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert!(run(&["schedule", "squaredcos_cap_v2", "--steps", "50", "--json"]).is_ok());
    assert!(run(&["schedule", "cosine"]).unwrap_err().to_string().contains("cosine"));
    assert!(run(&["schedule", "linear", "--steps", "0"]).is_err());
    assert!(run(&["schedule", "linear", "--inference-steps", "2000"]).is_err());
    assert!(
        run(&["sigmas", "karras", "--n", "5", "--sigma-min", "80", "--sigma-max", "1"]).is_err()
    );
}

#[test]
fn soft_f1_writes_both_scores_and_refuses_a_bad_class() {
    let out = temp_dir("soft-f1");
    let run = |args: &[&str]| {
        let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = vec!["train".to_string(), "soft-f1".to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        cli::main(&all).map_err(|e| e.to_string())
    };
    let out_s = out.to_str().unwrap();
    let bad = run(&["--out", out_s, "--positive-class", "12"]).unwrap_err();
    assert!(bad.contains("12") && !out.exists(), "{bad}");
    run(&["--out", out_s, "--steps", "30", "--log-every", "10"]).unwrap();
    let metrics = read_json(&out.join("metrics.json"));
    for key in ["f1_ce", "f1_soft"] {
        let f1 = metrics[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&f1), "{key} = {f1}");
    }
    assert_eq!(metrics["train_positives"], 20);
    assert!(out.join("loss.png").is_file() && out.join("ce/metrics.jsonl").is_file());
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn bernoulli_toy_reports_every_estimator() {
    let out = temp_dir("bernoulli");
    let out_s = out.to_str().unwrap();
    let run = |args: &[&str]| {
        let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = vec!["train".to_string(), "bernoulli-toy".to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        cli::main(&all).map_err(|e| e.to_string())
    };
    let bad = run(&["--out", out_s, "--tau", "0"]).unwrap_err();
    assert!(bad.contains("tau") && !out.exists(), "{bad}");
    let short = ["--n-draws", "4000", "--steps", "50", "--fit-draws", "500", "--relax-steps", "50"];
    run(&[&["--out", out_s][..], &short].concat()).unwrap();
    let metrics = read_json(&out.join("metrics.json"));
    let exact = metrics["exact_grad"].as_f64().unwrap();
    assert!((exact - 0.025).abs() < 1e-12);
    for name in ["reinforce", "rloo", "rebar", "relax", "gumbel", "st-gumbel"] {
        let e = &metrics["estimators"][name];
        assert!(e["grad_var"].as_f64().unwrap() >= 0.0, "{name}");
        if ["reinforce", "rloo", "rebar", "relax"].contains(&name) {
            let (mean, se) =
                (e["grad_mean"].as_f64().unwrap(), e["standard_error"].as_f64().unwrap());
            assert!((mean - exact).abs() < 4.0 * se + 1e-9, "{name}: {mean} vs {exact}");
        }
    }
    let var = |n: &str| metrics["estimators"][n]["grad_var"].as_f64().unwrap();
    // The issue's ordering: REINFORCE > REBAR >= RELAX (control variates trained on their own
    // draws, variances measured on fresh ones).
    assert!(var("rloo") < var("reinforce"));
    assert!(var("rebar") < var("reinforce") && var("relax") <= var("rebar"), "{metrics}");
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn vae_digits_trains_with_each_estimator_family() {
    for estimator in ["st-gumbel", "rloo", "nvil", "relax", "gaussian"] {
        let out = temp_dir(&format!("vae-{estimator}"));
        let args = ["--out", out.to_str().unwrap(), "--estimator", estimator, "--steps", "20"];
        let mut all = vec!["train".to_string(), "vae-digits".to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        all.extend(["--log-every", "10", "--eval-samples", "1"].map(String::from));
        {
            let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
            cli::main(&all).unwrap();
        }
        let metrics = read_json(&out.join("metrics.json"));
        assert_eq!(metrics["estimator"], estimator);
        let neg_elbo = metrics["test_neg_elbo"].as_f64().unwrap();
        // 64 binary pixels: an untrained model scores about 64 ln 2 = 44 nats, a trained one less.
        assert!(neg_elbo > 0.0 && neg_elbo < 60.0, "{estimator}: {neg_elbo}");
        assert!(out.join("reconstructions.png").is_file());
        fs::remove_dir_all(&out).unwrap();
    }
    let bad =
        cli::main(&["train", "vae-digits", "--estimator", "magic"].map(String::from)).unwrap_err();
    assert!(bad.to_string().contains("magic"));
}
