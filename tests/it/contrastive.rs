//! The contrastive recipes end to end: a killed run resumes to the same result (zero-shot
//! curve included), and bad settings are refused before anything is written.

use std::fs;

use crate::{losses, read_json, temp_dir, train};

const TINY: [&str; 14] = [
    "--tiny",
    "--steps",
    "40",
    "--checkpoint-every",
    "20",
    "--eval-every",
    "10",
    "--log-every",
    "10",
    "--batch-size",
    "16",
    "--seed",
    "3",
    "--warmup-steps",
];

#[test]
fn a_killed_contrastive_run_resumes_to_the_same_result() {
    for recipe in ["clip-digits", "siglip-digits"] {
        let (full, killed) =
            (temp_dir(&format!("{recipe}-full")), temp_dir(&format!("{recipe}-killed")));
        for dir in [&full, &killed] {
            let mut args = TINY.to_vec();
            args.extend(["5", "--out", dir.to_str().unwrap()]);
            train(recipe, &args).unwrap();
        }
        fs::remove_dir_all(killed.join("checkpoints/step-00000040")).unwrap();
        fs::remove_file(killed.join("metrics.json")).unwrap();
        train(recipe, &["--resume", killed.to_str().unwrap()]).unwrap();
        let (a, b) =
            (read_json(&full.join("metrics.json")), read_json(&killed.join("metrics.json")));
        for key in
            ["zero_shot_accuracy", "retrieval", "zero_shot_curve", "final_loss", "logit_scale"]
        {
            assert_eq!(a[key], b[key], "{recipe}: {key} differs after resume");
        }
        assert_eq!(losses(&full), losses(&killed), "{recipe}: resume must not log a step twice");
        assert_eq!(a["zero_shot_curve"].as_array().map(Vec::len), Some(4));
        for file in ["zero_shot.png", "similarity.png", "confusion.png", "loss.png"] {
            assert!(full.join(file).is_file(), "{recipe}: {file} missing");
        }
        fs::remove_dir_all(&full).unwrap();
        fs::remove_dir_all(&killed).unwrap();
    }
}

#[test]
fn bad_contrastive_settings_are_refused_before_a_run_directory_exists() {
    let cases: [(&str, &[&str], &str); 7] = [
        ("siglip-digits", &["--chunk", "0"], "chunk"),
        ("flip-digits", &["--mask-ratio", "1"], "mask_ratio"),
        ("clip-digits", &["--batch-size", "5000"], "batch_size"),
        ("clip-digits", &["--data-dir", "/nowhere"], "/nowhere"),
        ("clip-fashion", &["--data-dir", "/nowhere"], "/nowhere"),
        ("dfn-digits", &["--keep-fraction", "1.5"], "keep_fraction"),
        ("clip-shapes", &["--side", "8"], "8"),
    ];
    for (recipe, args, named) in cases {
        let out = temp_dir(&format!("bad-{recipe}"));
        let mut all = args.to_vec();
        all.extend(["--out", out.to_str().unwrap()]);
        let message = train(recipe, &all).unwrap_err();
        assert!(message.contains(named), "{recipe} {args:?}: '{message}' does not name {named}");
        assert!(!out.exists(), "{recipe} {args:?} left a run directory");
    }
}

/// Every value of every logged record of `dir/metrics.jsonl` but the timings.
fn records(dir: &std::path::Path) -> Vec<serde_json::Value> {
    fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut record: serde_json::Value = serde_json::from_str(l).unwrap();
            let map = record.as_object_mut().unwrap();
            map.remove("steps_per_sec");
            map.remove("elapsed_s");
            record
        })
        .collect()
}

#[test]
fn killed_blip_runs_resume_to_the_same_result() {
    // The momentum encoders and the queues are in the checkpoint: a resumed run logs the
    // same ITC, ITM and LM values and ends with the same metrics.
    for (recipe, last) in [("blip-shapes", "step-00000030"), ("capfilt-shapes", "step-00000020")] {
        let (full, killed) =
            (temp_dir(&format!("{recipe}-full")), temp_dir(&format!("{recipe}-killed")));
        for dir in [&full, &killed] {
            train(recipe, &["--tiny", "--seed", "5", "--out", dir.to_str().unwrap()]).unwrap();
        }
        fs::remove_dir_all(killed.join("checkpoints").join(last)).unwrap();
        fs::remove_file(killed.join("metrics.json")).unwrap();
        train(recipe, &["--resume", killed.to_str().unwrap()]).unwrap();
        let (a, b) =
            (read_json(&full.join("metrics.json")), read_json(&killed.join("metrics.json")));
        for key in ["retrieval", "itm_accuracy", "caption_accuracy", "final_loss"] {
            assert!(!a[key].is_null(), "{recipe}: no {key}");
            assert_eq!(a[key], b[key], "{recipe}: {key} differs after resume");
        }
        let logged = records(&full);
        assert_eq!(logged, records(&killed), "{recipe}: the resumed log differs");
        for key in ["itc", "itm", "lm", "itm_accuracy", "temperature"] {
            assert!(logged.iter().all(|r| r[key].is_f64()), "{recipe}: {key} not logged");
        }
        for file in ["captions.png", "loss.png"] {
            assert!(full.join(file).is_file(), "{recipe}: {file} missing");
        }
        if recipe == "capfilt-shapes" {
            for key in ["noisy", "bootstrapped"] {
                for inner in ["retrieval", "itm_accuracy", "caption_accuracy"] {
                    assert!(!a[key][inner].is_null(), "no {key}.{inner}");
                }
            }
            for key in ["captioner_only", "filter_only", "both"] {
                assert!(a["ablation"][key]["retrieval"]["i2t_r1"].is_f64(), "no ablation {key}");
            }
            for key in ["filter_precision", "filter_recall", "kept_web", "kept_synthetic"] {
                assert_eq!(a[key], b[key], "{key}");
                assert!(a[key].is_number(), "no {key}");
            }
            assert!(full.join("capfilt.png").is_file());
        }
        fs::remove_dir_all(&full).unwrap();
        fs::remove_dir_all(&killed).unwrap();
    }
}

#[test]
fn bad_blip_settings_are_refused_before_a_run_directory_exists() {
    let cases: [(&str, &[&str], &str); 7] = [
        ("blip-shapes", &["--decoding", r#"{"top_p": 0}"#], "top_p"),
        ("blip-shapes", &["--decoding", r#"{"beams": 0}"#], "beams"),
        ("blip-shapes", &["--decoding", r#"{"max_length": 4}"#], "prompt"),
        ("blip-shapes", &["--model", r#"{"momentum": 1.0}"#], "momentum"),
        ("blip-shapes", &["--model", r#"{"queue_size": 100}"#], "queue_size"),
        ("capfilt-shapes", &["--decoding", r#"{"top_p": 1.5}"#], "top_p"),
        ("capfilt-shapes", &["--clean-fraction", "0"], "clean_fraction"),
    ];
    for (recipe, args, named) in cases {
        let out = temp_dir(&format!("bad-{recipe}-{named}"));
        let mut all = args.to_vec();
        all.extend(["--out", out.to_str().unwrap()]);
        let message = train(recipe, &all).unwrap_err();
        assert!(message.contains(named), "{recipe} {args:?}: '{message}' does not name {named}");
        assert!(!out.exists(), "{recipe} {args:?} left a run directory");
    }
}
