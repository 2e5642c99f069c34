//! The estimator recipes end to end at toy sizes.

use std::fs;

use crate::{read_json, temp_dir, train};

#[test]
fn soft_f1_writes_both_scores_and_refuses_a_bad_class() {
    let out = temp_dir("soft-f1");
    let out_s = out.to_str().unwrap();
    let bad = train("soft-f1", &["--out", out_s, "--positive-class", "12"]).unwrap_err();
    assert!(bad.contains("12") && !out.exists(), "{bad}");
    train("soft-f1", &["--out", out_s, "--steps", "30", "--log-every", "10"]).unwrap();
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
    let bad = train("bernoulli-toy", &["--out", out_s, "--tau", "0"]).unwrap_err();
    assert!(bad.contains("tau") && !out.exists(), "{bad}");
    let short = ["--n-draws", "4000", "--steps", "50", "--fit-draws", "500", "--relax-steps", "50"];
    train("bernoulli-toy", &[&["--out", out_s][..], &short].concat()).unwrap();
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
    // The ordering: REINFORCE > REBAR >= RELAX (control variates trained on their own
    // draws, variances measured on fresh ones).
    assert!(var("rloo") < var("reinforce"));
    assert!(var("rebar") < var("reinforce") && var("relax") <= var("rebar"), "{metrics}");
    // Training phi with each unbiased estimator lowers the exact loss from its start
    // theta (1 - t)^2 + (1 - theta) t^2 at theta = 1/2.
    let start = 0.5 * 0.55f64.powi(2) + 0.5 * 0.45f64.powi(2);
    for name in ["reinforce", "rloo", "rebar", "relax"] {
        let end = metrics["final_loss"][name].as_f64().unwrap();
        assert!(end < start, "{name}: {end} >= {start}");
        assert!(out.join(name).join("metrics.jsonl").is_file(), "{name}: no training log");
    }
    let resumed = train("bernoulli-toy", &["--resume", out_s]).unwrap_err();
    assert!(resumed.contains("no checkpoints"), "{resumed}");
    // The same config gives the same numbers: RELAX's control network is seeded too.
    let again = temp_dir("bernoulli-again");
    train("bernoulli-toy", &[&["--out", again.to_str().unwrap()][..], &short].concat()).unwrap();
    assert_eq!(read_json(&again.join("metrics.json"))["estimators"], metrics["estimators"]);
    fs::remove_dir_all(&out).unwrap();
    fs::remove_dir_all(&again).unwrap();
}

#[test]
fn vae_digits_trains_with_each_estimator_family() {
    let neg_elbo = |estimator: &str, steps: &str, name: &str| -> f64 {
        let out = temp_dir(&format!("vae-{estimator}-{name}"));
        let args = ["--out", out.to_str().unwrap(), "--estimator", estimator, "--steps", steps];
        train("vae-digits", &[&args[..], &["--log-every", "10", "--eval-samples", "2"]].concat())
            .unwrap();
        let metrics = read_json(&out.join("metrics.json"));
        assert_eq!(metrics["estimator"], estimator);
        assert!(metrics["val_neg_elbo"].as_f64().unwrap().is_finite());
        assert!(out.join("reconstructions.png").is_file());
        fs::remove_dir_all(&out).unwrap();
        metrics["test_neg_elbo"].as_f64().unwrap()
    };
    for estimator in ["st-gumbel", "rloo", "nvil", "relax", "gaussian"] {
        // One step leaves the model near its initialisation (about 64 ln 2 = 44 nats on 64
        // binary pixels); 150 steps must beat it by a clear margin with every estimator.
        let (untrained, trained) =
            (neg_elbo(estimator, "1", "untrained"), neg_elbo(estimator, "150", "trained"));
        assert!(trained < untrained - 5.0, "{estimator}: {trained} vs untrained {untrained}");
    }
    let bad = train("vae-digits", &["--estimator", "magic"]).unwrap_err();
    assert!(bad.contains("magic"));
}

#[test]
fn soft_f1_sweep_counts_every_class_and_seed() {
    let out = temp_dir("soft-f1-sweep");
    let args = ["--out", out.to_str().unwrap(), "--classes", "[3, 9]", "--seeds", "[0, 1]"];
    train("soft-f1-sweep", &[&args[..], &["--steps", "60", "--log-every", "20"]].concat()).unwrap();
    let metrics = read_json(&out.join("metrics.json"));
    assert_eq!(metrics["runs"].as_array().unwrap().len(), 4);
    for (tally, soft, ce) in
        [("at_half", "f1_soft", "f1_ce"), ("tuned", "f1_soft_tuned", "f1_ce_tuned")]
    {
        let t = &metrics[tally];
        let total: u64 = ["wins", "ties", "losses"].iter().map(|k| t[k].as_u64().unwrap()).sum();
        assert_eq!(total, 4, "{tally}: {t}");
        // The paired difference is the mean of the runs' differences.
        let runs = metrics["runs"].as_array().unwrap();
        let mean =
            runs.iter().map(|r| r[soft].as_f64().unwrap() - r[ce].as_f64().unwrap()).sum::<f64>()
                / 4.0;
        assert!((t["difference"].as_f64().unwrap() - mean).abs() < 1e-12, "{tally}: {t}");
        assert!(t["difference_stderr"].as_f64().unwrap() >= 0.0);
    }
    assert!(out.join("c9-s1-soft-f1/metrics.jsonl").is_file());
    fs::remove_dir_all(&out).unwrap();
}
