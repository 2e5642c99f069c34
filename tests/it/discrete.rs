//! The discrete-diffusion recipes end to end: a killed run resumes to the same result, and
//! bad settings and bad text are refused before anything is written.

use std::fs;

use crate::{losses, read_json, temp_dir, train};

const TINY: [&str; 9] =
    ["--tiny", "--steps", "20", "--checkpoint-every", "10", "--seed", "5", "--n-samples", "1"];

#[test]
fn a_killed_discrete_run_resumes_to_the_same_result() {
    // mdlm-text crops half its batches to a random length (LLaDA's random-length batches),
    // so the crops run end to end and their draws must replay on resume too.
    for (recipe, extra, keys) in [
        (
            "mdlm-text",
            &["--random-length", "0.5"][..],
            &["val_bpc", "val_bpc_stderr", "test_bpc", "val_bpc_curve", "final_loss"][..],
        ),
        ("ar-text", &[][..], &["val_bpc", "test_bpc", "val_bpc_curve", "final_loss"][..]),
    ] {
        let (full, killed) =
            (temp_dir(&format!("{recipe}-full")), temp_dir(&format!("{recipe}-killed")));
        for dir in [&full, &killed] {
            let mut args = TINY.to_vec();
            args.extend(extra);
            args.extend(["--out", dir.to_str().unwrap()]);
            train(recipe, &args).unwrap();
        }
        fs::remove_dir_all(killed.join("checkpoints/step-00000020")).unwrap();
        fs::remove_file(killed.join("metrics.json")).unwrap();
        train(recipe, &["--resume", killed.to_str().unwrap()]).unwrap();
        let (a, b) =
            (read_json(&full.join("metrics.json")), read_json(&killed.join("metrics.json")));
        for key in keys {
            assert_eq!(a[key], b[key], "{recipe}: {key} differs after resume");
        }
        assert_eq!(losses(&full), losses(&killed), "{recipe}: resume must not log a step twice");
        for file in ["samples.txt", "val_bpc.png", "loss.png"] {
            assert!(full.join(file).is_file(), "{recipe}: {file} missing");
        }
        fs::remove_dir_all(&full).unwrap();
        fs::remove_dir_all(&killed).unwrap();
    }
}

#[test]
fn bad_discrete_settings_are_refused_before_a_run_directory_exists() {
    let dir = temp_dir("discrete-texts");
    fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.txt");
    fs::write(&empty, "").unwrap();
    // Long enough to split; its validation part holds a character training never saw.
    let mut odd = "a plain english line of text. ".repeat(2400);
    odd.insert(2048 * 18 + 10, '\u{2603}');
    let odd_path = dir.join("odd.txt");
    fs::write(&odd_path, odd).unwrap();
    let (empty, odd_path) = (empty.to_str().unwrap(), odd_path.to_str().unwrap());
    let cases: [(&str, &[&str], &str); 12] = [
        ("mdlm-text", &["--corpus-file", "/nowhere/moby.txt"], "/nowhere/moby.txt"),
        ("mdlm-text", &["--corpus-file", empty], "empty.txt"),
        ("ar-text", &["--corpus-file", odd_path], "\u{2603}"),
        ("mdlm-text", &["--n-draws", "1"], "n_draws"),
        ("mdlm-text", &["--objective", r#"{"kind": "llada", "eps": 0}"#], "eps"),
        ("mdlm-text", &["--context", "100000"], "context"),
        ("mdlm-text", &["--random-length", "1.5"], "random_length"),
        ("llada-task", &["--block-length", "4"], "block_length"),
        ("llada-task", &["--sample-steps", "1", "--block-length", "1"], "steps"),
        ("bd3lm-text", &["--block", "5"], "block"),
        ("sedd-text", &["--graph", "absorbing"], "absorbing"),
        ("ar-task", &["--task", "reverse"], "reverse"),
    ];
    for (recipe, args, named) in cases {
        let out = temp_dir(&format!("bad-{recipe}"));
        let mut all = args.to_vec();
        all.extend(["--out", out.to_str().unwrap()]);
        let message = train(recipe, &all).unwrap_err();
        assert!(message.contains(named), "{recipe} {args:?}: '{message}' does not name {named}");
        assert!(!out.exists(), "{recipe} {args:?} left a run directory");
    }
    fs::remove_dir_all(&dir).unwrap();
}
