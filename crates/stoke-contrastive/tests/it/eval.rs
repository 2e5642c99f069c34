//! Zero-shot classification and retrieval recall.

use burn::tensor::{Device, Tensor};
use stoke_contrastive::ContrastiveError;
use stoke_contrastive::eval::{accuracy, retrieval, zero_shot_classifier, zero_shot_predict};

use crate::{floats, unit_rows};

#[test]
fn zero_shot_with_one_template_per_class_is_nearest_text_classification() {
    let device = Device::flex();
    let classes = unit_rows(6, 8, &device);
    let images = unit_rows(40, 8, &device);
    let per_class: Vec<Tensor<2>> = (0..6).map(|c| classes.clone().narrow(0, c, 1)).collect();
    let predicted =
        zero_shot_predict(images.clone(), zero_shot_classifier(per_class).unwrap()).unwrap();
    let sims = floats(images.matmul(classes.transpose()));
    let nearest: Vec<usize> = sims
        .chunks(6)
        .map(|row| (0..6).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap())
        .collect();
    assert_eq!(predicted, nearest);
}

#[test]
fn ensembling_averages_normalised_templates() {
    let device = Device::flex();
    // Class 0's templates point along e0 and e1 (one of them long): the ensemble is their
    // normalised mean, (e0 + e1) / sqrt 2, whatever the lengths.
    let templates = Tensor::<2>::from_floats([[10.0, 0.0], [0.0, 1.0]], &device);
    let other = Tensor::<2>::from_floats([[-1.0, 0.0]], &device);
    let classifier = floats(zero_shot_classifier(vec![templates, other]).unwrap());
    let half = std::f32::consts::FRAC_1_SQRT_2;
    for (got, expected) in classifier.iter().zip([half, half, -1.0, 0.0]) {
        assert!((got - expected).abs() < 1e-6);
    }
    let empty = Tensor::<2>::zeros([0, 2], &device);
    assert!(matches!(
        zero_shot_classifier(vec![Tensor::zeros([1, 2], &device), empty]),
        Err(ContrastiveError::NoTemplates { class: 1 })
    ));
    assert!(zero_shot_classifier(vec![]).is_err());
}

#[test]
fn retrieval_is_perfect_on_identical_pairs_and_groups_share_credit() {
    let device = Device::flex();
    let x = unit_rows(30, 16, &device);
    let groups: Vec<usize> = (0..30).collect();
    let r = retrieval(x.clone(), x.clone(), &groups).unwrap();
    assert_eq!([r.i2t_r1, r.t2i_r1, r.i2t_r10, r.t2i_r10], [1.0; 4]);
    // Texts shifted by one: image i's text is row i + 1. R@1 falls to chance...
    let shifted = Tensor::cat(vec![x.clone().narrow(0, 1, 29), x.clone().narrow(0, 0, 1)], 0);
    let r = retrieval(x.clone(), shifted.clone(), &groups).unwrap();
    assert!(r.i2t_r1 < 0.2 && r.t2i_r1 < 0.2, "{r:?}");
    assert!(r.i2t_r1 <= r.i2t_r5 && r.i2t_r5 <= r.i2t_r10);
    // ...unless rows i and i + 1 share a caption (one group per pair of rows).
    let pairs: Vec<usize> = (0..30).map(|i| i / 2).collect();
    let r = retrieval(x.clone(), x, &pairs).unwrap();
    assert_eq!(r.i2t_r1, 1.0);
    assert!(retrieval(shifted.clone(), shifted, &pairs[..29]).is_err());
}

#[test]
fn accuracy_counts_hits_and_refuses_mismatched_lengths() {
    assert_eq!(accuracy(&[1, 2, 3, 4], &[1, 0, 3, 0]).unwrap(), 0.5);
    assert!(accuracy(&[1, 2], &[1]).is_err());
    assert!(accuracy(&[], &[]).is_err());
}
