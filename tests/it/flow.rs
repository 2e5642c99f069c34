//! flow-2d and rectified-2d end to end: the run directory, exact resume, every matcher, and
//! bad input refused before anything is written.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{losses, read_json, temp_dir, train};

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

fn flow(args: &[&str]) -> Result<(), String> {
    train("flow-2d", args)
}

#[test]
fn flow_2d_writes_a_run_directory_and_the_loss_falls() {
    let out = temp_dir("run");
    let config = tiny_config(&out);
    flow(&["--out", out.to_str().unwrap(), "--config", config.to_str().unwrap()]).unwrap();
    for file in ["config.json", "metrics.json", "metrics.jsonl", "samples.png", "loss.png"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let metrics = read_json(&out.join("metrics.json"));
    for key in ["1", "4"] {
        assert!(metrics["w2"][key].as_f64().unwrap().is_finite());
        assert!(metrics["energy_distance"][key].as_f64().unwrap() >= 0.0);
    }
    for key in ["recipe", "device", "steps", "final_loss", "train_seconds", "eval_seconds"] {
        assert!(!metrics[key].is_null(), "{key} missing: {metrics}");
    }
    assert!(metrics["w2_floor"].as_f64().unwrap() > 0.0);
    let losses = losses(&out);
    assert_eq!(losses.len(), 6);
    assert!(losses[5] < losses[0], "loss did not fall: {losses:?}");
    let resolved = read_json(&out.join("config.json"));
    assert_eq!(resolved["steps"], 60);
    assert_eq!(resolved["model"]["width"], 32);
    // The trainer's optimizer and schedule are recorded beside the config.
    assert_eq!(resolved["trainer"]["model"]["optimizer"]["kind"], "adam");
    assert_eq!(resolved["trainer"]["model"]["schedule"]["kind"], "cosine");
    // Only the newest checkpoints are kept, each complete.
    let checkpoints: Vec<_> = fs::read_dir(out.join("checkpoints")).unwrap().collect();
    assert_eq!(checkpoints.len(), 2);
    // A run's own config.json is a valid --config (its trainer record is derived, not read).
    let again = temp_dir("run-again");
    let own = out.join("config.json");
    flow(&["--out", again.to_str().unwrap(), "--config", own.to_str().unwrap()]).unwrap();
    assert_eq!(read_json(&again.join("metrics.json"))["w2"], metrics["w2"]);
    fs::remove_dir_all(&out).unwrap();
    fs::remove_dir_all(&again).unwrap();
}

#[test]
fn regression_issue_2_a_killed_run_resumes_to_the_same_result() {
    let (full, killed) = (temp_dir("full"), temp_dir("killed"));
    let config = tiny_config(&full);
    flow(&["--out", full.to_str().unwrap(), "--config", config.to_str().unwrap()]).unwrap();
    flow(&["--out", killed.to_str().unwrap(), "--config", config.to_str().unwrap()]).unwrap();
    // Simulate a kill after step 30: drop the last checkpoint, the summary and the later
    // log lines, and leave a half-written checkpoint behind.
    fs::remove_dir_all(killed.join("checkpoints/step-00000060")).unwrap();
    fs::remove_file(killed.join("metrics.json")).unwrap();
    fs::create_dir_all(killed.join("checkpoints/.partial-step-00000060")).unwrap();
    flow(&["--resume", killed.to_str().unwrap()]).unwrap();
    let (a, b) = (read_json(&full.join("metrics.json")), read_json(&killed.join("metrics.json")));
    assert_eq!(a["w2"], b["w2"], "resumed run diverged from the uninterrupted one");
    assert_eq!(a["final_loss"], b["final_loss"]);
    assert_eq!(losses(&full), losses(&killed), "resume must not log a step twice");
    assert!(!killed.join("checkpoints/.partial-step-00000060").exists());
    fs::remove_dir_all(&full).unwrap();
    fs::remove_dir_all(&killed).unwrap();
}

#[test]
fn ot_couplings_learn_straighter_flows_than_independent_ones() {
    let straightness = |matcher: &str| -> f64 {
        let out = temp_dir(&format!("straight-{matcher}"));
        let config = tiny_config(&out);
        let args = ["--out", out.to_str().unwrap(), "--config", config.to_str().unwrap()];
        flow(&[&args[..], &["--matcher", matcher, "--steps", "300"]].concat()).unwrap();
        let s = read_json(&out.join("metrics.json"))["straightness"].as_f64().unwrap();
        fs::remove_dir_all(&out).unwrap();
        s
    };
    let (independent, ot) = (straightness("icfm"), straightness("otcfm"));
    // Liu et al.'s S is 0 for straight paths; exact OT pairs cross far less than random ones.
    assert!(ot < 0.5 * independent, "OT-CFM {ot} vs I-CFM {independent}");
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
        flow(&[&args[..], &["--source", source]].concat()).unwrap();
        let metrics = read_json(&out.join("metrics.json"));
        assert_eq!(metrics["matcher"], matcher);
        assert_eq!(metrics["source"], source);
        assert!(metrics["w2"]["4"].as_f64().unwrap().is_finite(), "{matcher}");
        assert!(metrics["straightness"].as_f64().unwrap() >= 0.0, "{matcher}");
        fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn rectified_2d_reports_every_stage() {
    let out = temp_dir("rectified");
    let args = [
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
        "--log-every",
        "10",
    ];
    train("rectified-2d", &args).unwrap();
    let metrics = read_json(&out.join("metrics.json"));
    for stage in ["1rf", "2rf", "distilled"] {
        for nfe in ["1", "2", "5", "100"] {
            let w = metrics["stages"][stage]["w2"][nfe].as_f64().unwrap();
            assert!(w.is_finite() && w > 0.0, "{stage} {nfe}: {w}");
        }
        assert!(metrics["stages"][stage]["straightness"].as_f64().unwrap() >= 0.0);
        assert!(out.join(stage).join("metrics.jsonl").is_file(), "{stage} has no sub-run");
    }
    assert!(metrics["w2_floor"].as_f64().unwrap() > 0.0);
    assert!(out.join("samples.png").is_file() && out.join("loss.png").is_file());
    // Reflow straightens: 2-RF, trained on 1-RF's own ODE pairs, is far straighter.
    let s = |stage: &str| metrics["stages"][stage]["straightness"].as_f64().unwrap();
    assert!(s("2rf") < 0.5 * s("1rf"), "2-RF {} vs 1-RF {}", s("2rf"), s("1rf"));
    fs::remove_dir_all(&out).unwrap();
    let bad = train("rectified-2d", &["--distill-steps", "0"]);
    assert!(bad.unwrap_err().contains("distill_steps"));
}

#[test]
fn bad_input_is_one_line_and_leaves_no_run_directory() {
    let out = temp_dir("bad");
    let out_s = out.to_str().unwrap().to_string();
    let negative = out.with_extension("neg.json");
    fs::write(&negative, r#"{"learning_rate": -0.5}"#).unwrap();
    let not_json = out.with_extension("nan.json");
    fs::write(&not_json, r#"{"learning_rate": NaN}"#).unwrap();
    let cases: [(&[&str], &str); 15] = [
        (&["--matcher", "magic"], "magic"),
        (&["--matcher", "target", "--source", "8gaussians"], "--source 8gaussians"),
        (&["--matcher", "sb", "--sigma", "0"], "sigma"),
        (&["--steps", "0"], "--steps must be at least 1, got 0"),
        (&["--device", "nonsense"], "'nonsense'"),
        (&["--config", negative.to_str().unwrap()], "-0.5"),
        (&["--config", not_json.to_str().unwrap()], "not valid JSON"),
        (&["--target", "moon"], "moon"),
        (&["--learning-rate", "nan"], "nan"),
        (&["--no-such-option", "1"], "--no-such-option"),
        (&["--model", r#"{"dim": 3}"#], "dim"),
        (&["--model", r#"{"width": 0}"#], "width"),
        (&["--distributed", "nonsense"], "'nonsense' is not mpi or threads:N"),
        (&["--distributed", "threads:0"], "must be at least 1"),
        (
            &["--distributed", "threads:3", "--batch-size", "64"],
            "64 does not divide by the 3 ranks",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["--out", out_s.as_str()];
        all.extend_from_slice(args);
        let message = flow(&all).expect_err("bad input must fail");
        assert!(message.contains(needle), "{args:?}: {message}");
        assert!(!message.contains('\n'), "{args:?}: not one line: {message}");
        assert!(!out.exists(), "{args:?} left {out:?} behind");
    }
    let unknown = train("no-such-recipe", &[]).unwrap_err();
    assert!(unknown.contains("no-such-recipe"));
    // --check accepts a good config and refuses a bad one, and writes nothing either way.
    flow(&["--out", out_s.as_str(), "--check", "--steps", "5"]).expect("a good config");
    let message = flow(&["--out", out_s.as_str(), "--check", "--sigma", "-1"]).unwrap_err();
    assert!(message.contains("sigma"), "{message}");
    assert!(!out.exists(), "--check wrote {out:?}");
}

#[test]
fn a_failed_resume_never_deletes_the_users_files() {
    let dir = temp_dir("resume-keep");
    fs::create_dir_all(&dir).unwrap();
    // A run directory without checkpoints whose config diverges at once, and a file of the
    // user's beside it.
    let config = serde_json::json!({ "steps": 20, "learning_rate": 1e30, "log_every": 5,
        "n_eval": 16, "eval_nfe": [1], "model": { "width": 8, "n_hidden": 1 } });
    fs::write(dir.join("config.json"), config.to_string()).unwrap();
    fs::write(dir.join("notes.txt"), "mine").unwrap();
    let message = flow(&["--resume", dir.to_str().unwrap()]).unwrap_err();
    assert!(message.contains("loss became"), "{message}");
    assert_eq!(fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
    assert!(dir.join("config.json").is_file());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn schedule_command_refuses_bad_names_and_values() {
    let run = |args: &[&str]| {
        stoke_train::cli::main(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    };
    assert!(run(&["schedule", "squaredcos_cap_v2", "--steps", "50", "--json"]).is_ok());
    assert!(run(&["schedule", "cosine"]).unwrap_err().to_string().contains("cosine"));
    assert!(run(&["schedule", "linear", "--steps", "0"]).is_err());
    assert!(run(&["schedule", "linear", "--inference-steps", "2000"]).is_err());
    assert!(run(&["schedule", "linear", "--json=yes"]).is_err());
    assert!(run(&["sigmas", "karras", "--n", "5", "--sigma-min", "-1"]).is_err());
    assert!(
        run(&["sigmas", "karras", "--n", "5", "--sigma-min", "80", "--sigma-max", "1"]).is_err()
    );
    assert!(run(&["list"]).is_ok());
    assert!(run(&["defaults", "vae-digits"]).is_ok());
    assert!(run(&["defaults", "no-such-recipe"]).unwrap_err().to_string().contains("no-such"));
    assert!(run(&["defaults"]).is_err());
}
