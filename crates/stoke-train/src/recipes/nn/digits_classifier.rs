//! `digits-classifier`: `stoke-nn`'s MLP classifier of the 8x8 digits (trained as
//! [`crate::eval::digits`] trains the feature extractor of the digits sample metrics) on the
//! training split. Hyper-parameters are chosen on `validation_accuracy`; `test_accuracy` is the
//! held-out figure to report (with `train_accuracy`). The run directory keeps the network as
//! `classifier.bpk` with its shape in `classifier.json`.

use burn::tensor::Device;
use serde_json::{Map, Value, json};
use stoke_data::digits::{
    self, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, DEFAULT_VALIDATION_FRACTION, Digits,
};

use crate::error::Result;
use crate::eval::digits::{
    CLASSIFIER_FILE, ClassifierTraining, images_and_labels, save_classifier,
};
use crate::harness::{
    Entry, Family, PRIMARY, Recipe, Run, TrainSpec, check, defaults_json, launch, metrics_map,
};

/// The registry entry.
pub const ENTRY: Entry = Entry {
    name: "digits-classifier",
    family: Family::Nn,
    summary: "MLP classifier of the 8x8 digits (train split, scored on the held-out split); \
              saves classifier.bpk, the feature extractor of the digits sample metrics",
    run: |args| launch(&DigitsClassifier, args),
    check: |args| check(&DigitsClassifier, args),
    defaults: || defaults_json(&DigitsClassifier),
    tiny: &[("steps", "60"), ("log_every", "20"), ("width", "32")],
};

/// `digits-classifier`.
pub struct DigitsClassifier;

impl Recipe for DigitsClassifier {
    type Config = ClassifierTraining;
    type Prepared = (Digits, Digits, Digits);

    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn defaults(&self) -> ClassifierTraining {
        ClassifierTraining::default()
    }

    fn prepare(&self, c: &ClassifierTraining) -> Result<(Digits, Digits, Digits)> {
        c.validate()?;
        let all = digits::load()?;
        Ok(all.split3(DEFAULT_VALIDATION_FRACTION, DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED)?)
    }

    fn training(&self, c: &ClassifierTraining) -> Vec<(String, TrainSpec)> {
        vec![(PRIMARY.into(), c.spec())]
    }

    fn run(
        &self,
        c: &ClassifierTraining,
        (train, validation, test): &(Digits, Digits, Digits),
        run: &mut Run,
    ) -> Result<Map<String, Value>> {
        let model = c.train(train, run, PRIMARY)?;
        let device: &Device = run.device();
        let accuracy = |d: &Digits| -> Result<f64> {
            let (x, y) = images_and_labels(d, device);
            Ok(model.accuracy(x, &y)?)
        };
        let (train_accuracy, validation_accuracy, test_accuracy) =
            (accuracy(train)?, accuracy(validation)?, accuracy(test)?);
        save_classifier(&model, &run.dir().file(CLASSIFIER_FILE), &c.network())?;
        eprintln!(
            "{}: validation accuracy {validation_accuracy:.4}, test {test_accuracy:.4} (train \
             {train_accuracy:.4}); wrote metrics.json, {CLASSIFIER_FILE}",
            run.dir().path().display()
        );
        Ok(metrics_map(json!({
            "test_accuracy": test_accuracy,
            "validation_accuracy": validation_accuracy,
            "train_accuracy": train_accuracy,
            "train_size": train.len(),
            "validation_size": validation.len(),
            "test_size": test.len(),
        })))
    }
}
