//! The digits recipes end to end at toy sizes: the classifier (and a user loading its saved
//! network), every diffusion method with its samplers, and bad input refused before any file
//! is written.

use std::fs;

use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::{Device, Tensor, TensorData};
use stoke_data::digits::{self, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, PIXELS};
use stoke_nn::classifier::ClassifierConfig;
use stoke_train::error::TrainError;

use crate::{read_json, temp_dir, train};

#[test]
fn digits_classifier_writes_accuracy_and_a_loadable_model() {
    let out = temp_dir("digits-classifier");
    let out_s = out.to_str().unwrap();
    train("digits-classifier", &["--out", out_s, "--steps", "150", "--log-every", "50"]).unwrap();
    let metrics = read_json(&out.join("metrics.json"));
    let test_accuracy = metrics["test_accuracy"].as_f64().unwrap();
    // Ten classes: chance is 0.1; 150 steps already learn most of the digits.
    assert!(test_accuracy > 0.5 && test_accuracy <= 1.0, "{test_accuracy}");
    assert!(metrics["train_accuracy"].as_f64().unwrap() <= 1.0);
    assert!(metrics["seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(fs::read_to_string(out.join("metrics.jsonl")).unwrap().lines().count(), 3);
    // A user loads the saved network with stoke-nn and Burn's store alone, and gets the
    // accuracy the run reported.
    let device = Device::flex();
    let shape: ClassifierConfig =
        serde_json::from_str(&fs::read_to_string(out.join("classifier.json")).unwrap()).unwrap();
    let mut model = shape.init(&device).unwrap();
    model.load_from(&mut BurnpackStore::from_file(out.join("classifier.bpk"))).unwrap();
    let (_, test) =
        digits::load().unwrap().split(DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED).unwrap();
    let x =
        Tensor::<2>::from_data(TensorData::new(test.flat_pixels(), [test.len(), PIXELS]), &device);
    let labels: Vec<usize> = test.labels.iter().map(|&l| usize::from(l)).collect();
    assert!((model.accuracy(x, &labels).unwrap() - test_accuracy).abs() < 1e-12);
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn digits_classifier_refuses_bad_arguments_and_writes_nothing() {
    let out = temp_dir("digits-classifier-bad");
    let out_s = out.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--steps", "0"], "steps"),
        (&["--max-shift", "4"], "max_shift"),
        (&["--weight-decay", "-1"], "weight_decay"),
        (&["--learning-rate", "0"], "learning_rate"),
        (&["--depth", "3"], "--depth"),
    ];
    for (args, needle) in cases {
        let mut all = vec!["--out", out_s];
        all.extend_from_slice(args);
        let message = train("digits-classifier", &all).expect_err("bad input must fail");
        assert!(message.contains(needle), "{args:?}: {message}");
        assert!(!message.contains('\n'), "{args:?}: not one line: {message}");
        assert!(!out.exists(), "{args:?} left {out:?} behind");
    }
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
        (
            "flow-digits",
            r#"["ddim_50", {"sampler": {"kind": "euler_ancestral"}, "grid": {"kind": "karras", "n": 12}}]"#,
        ),
    ] {
        let out = temp_dir(recipe);
        let out_s = out.to_str().unwrap();
        train(recipe, &[&["--out", out_s, "--samplers", samplers][..], &TINY].concat()).unwrap();
        let metrics = read_json(&out.join("metrics.json"));
        assert!(metrics["fd_floor"].as_f64().unwrap() >= 0.0, "{recipe}");
        let expected_nfe = [
            ("ddim_50", 50),
            ("dpmpp2m_20", 20),
            ("heun_35", 35),
            ("euler_50", 50),
            ("euler_ancestral_karras_12", 12),
        ];
        let mut scored = 0;
        for (name, nfe) in expected_nfe {
            let s = &metrics["samplers"][name];
            if s.is_null() {
                continue;
            }
            scored += 1;
            assert!(s["fd"].as_f64().unwrap().is_finite(), "{recipe} {name}: {s}");
            let acc = s["cond_acc"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&acc), "{recipe} {name}: {acc}");
            assert_eq!(s["nfe"].as_u64().unwrap(), nfe, "{name}");
            assert!(out.join(format!("samples_{name}.png")).is_file(), "{recipe} {name}");
        }
        assert_eq!(scored, 2, "{recipe}: {metrics}");
        for key in ["fd_floor_stderr", "fd_draws", "fd_size"] {
            assert!(metrics[key].is_number(), "{recipe}: {key}");
        }
        assert!(out.join("classifier/metrics.jsonl").is_file(), "{recipe}: no classifier sub-run");
        fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn a_trained_sampler_beats_a_noise_generator() {
    let out = temp_dir("ddpm-beats-noise");
    let args = [
        "--out",
        out.to_str().unwrap(),
        "--steps",
        "300",
        "--batch-size",
        "64",
        "--log-every",
        "100",
        "--checkpoint-every",
        "300",
        "--n-samples",
        "60",
        "--fd-draws",
        "2",
        "--samplers",
        r#"["ddim_20"]"#,
        "--classifier",
        r#"{"steps": 300, "log_every": 100}"#,
    ];
    train("flow-digits", &args).unwrap();
    let metrics = read_json(&out.join("metrics.json"));
    let sampler = &metrics["samplers"]["ddim_20"];
    let noise = &metrics["noise_baseline"];
    let (fd, noise_fd) = (sampler["fd"].as_f64().unwrap(), noise["fd"].as_f64().unwrap());
    let (acc, noise_acc) =
        (sampler["cond_acc"].as_f64().unwrap(), noise["cond_acc"].as_f64().unwrap());
    assert!(fd < 0.5 * noise_fd, "sampler FD {fd} vs noise {noise_fd}");
    assert!(acc > noise_acc + 0.2, "sampler accuracy {acc} vs noise {noise_acc}");
    let copies = &sampler["memorisation"];
    assert!(
        copies["below_test_p05"].as_f64().unwrap() <= 1.0
            && copies["test_nn_median"].as_f64().unwrap() > 0.0
    );
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn digits_diffusion_refuses_bad_input_and_keeps_the_last_checkpoint_on_divergence() {
    let out = temp_dir("ddpm-bad");
    let out_s = out.to_str().unwrap();
    let corrupt = out.with_extension("corrupt.csv");
    fs::write(&corrupt, "0,0,1\n").unwrap();
    let corrupt_s = corrupt.to_str().unwrap();
    let cases: [(&[&str], &str); 12] = [
        (&["--digits-file", "/no/such/digits.csv"], "/no/such/digits.csv"),
        (&["--digits-file", corrupt_s], "corrupt.csv"),
        (&["--p-uncond", "0", "--guidance-scale", "3"], "unconditional"),
        (&["--samplers", r#"["magic_9"]"#], "magic_9"),
        (&["--samplers", r#"["heun_34"]"#], "heun_34"),
        (&["--method", "edm"], "edm"),
        (&["--guidance-scale", "nan"], "guidance-scale"),
        (&["--model", r#"{"side": 16}"#], "side"),
        (&["--model", r#"{"n_classes": 5}"#], "n_classes"),
        (&["--n-samples", "1"], "n_samples"),
        (&["--n-samples", "5000"], "n_samples"),
        (&["--fd-draws", "1"], "fd_draws"),
    ];
    for (args, needle) in cases {
        let message = train("ddpm-digits", &[&["--out", out_s][..], args].concat()).unwrap_err();
        assert!(message.contains(needle), "{args:?}: {message}");
        assert!(!message.contains('\n') && !out.exists(), "{args:?}: {message}");
    }
    // A learning rate that blows the network up at its first update: step 0's loss is finite
    // and checkpointed, a later one is not; the error names the step and the checkpoint stays.
    let diverging =
        ["--out", out_s, "--steps", "10", "--warmup-steps", "0", "--learning-rate", "1e30"];
    // TINY keeps the run short should it finish after all.
    let args: Vec<String> = ["train", "ddpm-digits"]
        .iter()
        .chain(&diverging)
        .chain(&TINY[4..])
        .map(|s| s.to_string())
        .collect();
    let error = {
        let _turn = crate::ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        stoke_train::cli::main(&args).unwrap_err()
    };
    // The typed error: divergence detected at a step after the first, not any failure.
    let TrainError::Diverged { step, loss } = error else { panic!("not a divergence: {error}") };
    assert!(step >= 1 && !loss.is_finite(), "step {step}, loss {loss}");
    assert!(out.join("checkpoints").read_dir().unwrap().next().is_some(), "no checkpoint kept");
    fs::remove_dir_all(&out).unwrap();
}
