//! `digits-classifier`: `stoke-nn`'s MLP classifier of the 8x8 digits (trained as
//! [`crate::eval::digits`] trains the feature extractor of the digits sample metrics), scored
//! on the held-out split (`test_accuracy`, `train_accuracy`). The run directory keeps the
//! network as `classifier.bpk` with its shape in `classifier.json`.

use burn::tensor::Device;
use serde_json::{Map, Value, json};
use stoke_data::digits::{self, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, Digits};

use crate::error::Result;
use crate::eval::digits::{
    CLASSIFIER_FILE, ClassifierTraining, images_and_labels, save_classifier,
};
use crate::harness::{Entry, Family, PRIMARY, Recipe, Run, TrainSpec, launch, metrics_map};

/// The registry entry.
pub const ENTRY: Entry = Entry {
    name: "digits-classifier",
    family: Family::Nn,
    summary: "MLP classifier of the 8x8 digits (train split, scored on the held-out split); \
              saves classifier.bpk, the feature extractor of the digits sample metrics",
    run: |args| launch(&DigitsClassifier, args),
    tiny: &[("steps", "60"), ("log_every", "20"), ("width", "32")],
};

/// `digits-classifier`.
pub struct DigitsClassifier;

impl Recipe for DigitsClassifier {
    type Config = ClassifierTraining;
    type Prepared = (Digits, Digits);

    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn defaults(&self) -> ClassifierTraining {
        ClassifierTraining::default()
    }

    fn prepare(&self, c: &ClassifierTraining) -> Result<(Digits, Digits)> {
        c.validate()?;
        Ok(digits::load()?.split(DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED)?)
    }

    fn training(&self, c: &ClassifierTraining) -> Vec<(&'static str, TrainSpec)> {
        vec![(PRIMARY, c.spec())]
    }

    fn run(
        &self,
        c: &ClassifierTraining,
        (train, test): &(Digits, Digits),
        run: &mut Run,
    ) -> Result<Map<String, Value>> {
        let model = c.train(train, run, PRIMARY)?;
        let device: &Device = run.device();
        let (x_train, y_train) = images_and_labels(train, device);
        let (x_test, y_test) = images_and_labels(test, device);
        let train_accuracy = model.accuracy(x_train, &y_train)?;
        let test_accuracy = model.accuracy(x_test, &y_test)?;
        save_classifier(&model, &run.dir().file(CLASSIFIER_FILE), &c.network())?;
        eprintln!(
            "{}: test accuracy {test_accuracy:.4} (train {train_accuracy:.4}); wrote metrics.json, \
             {CLASSIFIER_FILE}",
            run.dir().path().display()
        );
        Ok(metrics_map(json!({
            "test_accuracy": test_accuracy,
            "train_accuracy": train_accuracy,
            "train_size": train.len(),
            "test_size": test.len(),
        })))
    }
}
