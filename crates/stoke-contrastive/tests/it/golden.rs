//! Golden values from open_clip 3.3.0's `ClipLoss` and `SigLipLoss` (torch 2.15), made by
//! `make_open_clip.py` beside this file (its core, for each case):
//!
//! ```python
//! img = F.normalize(image_raw, dim=-1).requires_grad_()
//! txt = F.normalize(text_raw, dim=-1).requires_grad_()
//! t = torch.tensor(log_scale, requires_grad=True)
//! if kind == "clip":
//!     value = ClipLoss()(img, txt, t.exp())
//! else:
//!     b = torch.tensor(bias, requires_grad=True)
//!     value = SigLipLoss()(img, txt, t.exp(), b)
//! value.backward()  # grad_image = img.grad, grad_text = txt.grad, grad_log_scale = t.grad, ...
//! ```

use burn::tensor::{Device, Tensor};
use serde_json::Value;
use stoke_contrastive::loss::{ClipLossConfig, SiglipLossConfig};
use stoke_contrastive::normalize::l2_normalize;

use crate::{floats, matrix, relative_gap};

/// f32 through a matmul, a log-softmax or log-sigmoid and their gradients: a few ulps of
/// the largest value (the script saw torch's f32 differ from f64 by up to 6.8e-6).
const TOLERANCE: f32 = 2e-5;

fn cases() -> Vec<Value> {
    let json: Value = serde_json::from_str(include_str!("open_clip.json")).unwrap();
    json["cases"].as_array().unwrap().clone()
}

fn rows(value: &Value) -> Vec<Vec<f32>> {
    let row =
        |r: &Value| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    value.as_array().unwrap().iter().map(row).collect()
}

fn flat(value: &Value) -> Vec<f32> {
    rows(value).into_iter().flatten().collect()
}

fn scalar(value: &Value) -> f32 {
    value.as_f64().unwrap() as f32
}

/// The loss of one case and its gradients `[image, text, log_scale, bias]`.
fn run(case: &Value, device: &Device) -> (f32, [Vec<f32>; 4]) {
    let image = matrix(&rows(&case["image"]), device).require_grad();
    let text = matrix(&rows(&case["text"]), device).require_grad();
    let log_scale = f64::from(scalar(&case["log_scale"]));
    let (loss, params) = if case["loss"] == "clip" {
        let loss = ClipLossConfig { init_log_scale: log_scale, ..ClipLossConfig::default() };
        let loss = loss.init(device).unwrap();
        let params = [loss.log_scale.val(), loss.log_scale.val()];
        (loss.forward(image.clone(), text.clone()).unwrap(), params)
    } else {
        let config = SiglipLossConfig {
            init_log_scale: log_scale,
            init_bias: f64::from(scalar(&case["bias"])),
            ..SiglipLossConfig::default()
        };
        let loss = config.init(device).unwrap();
        let params = [loss.log_scale.val(), loss.bias.val()];
        (loss.forward(image.clone(), text.clone()).unwrap(), params)
    };
    let grads = loss.backward();
    let grad = |t: &Tensor<2>| t.grad(&grads).map(floats).unwrap_or_default();
    let grad1 = |t: &Tensor<1>| t.grad(&grads).map(floats).unwrap_or(vec![0.0]);
    let value = floats(loss)[0];
    (value, [grad(&image), grad(&text), grad1(&params[0]), grad1(&params[1])])
}

#[test]
fn clip_and_siglip_match_open_clip_in_value_and_gradients() {
    let device = Device::flex().autodiff();
    let cases = cases();
    assert_eq!(cases.len(), 21);
    for case in &cases {
        let (value, [grad_image, grad_text, grad_log_scale, grad_bias]) = run(case, &device);
        let what = format!(
            "{} B={} D={} t={}",
            case["loss"], case["batch"], case["dim"], case["log_scale"]
        );
        assert!(
            relative_gap(&[value], &[scalar(&case["value"])]) < TOLERANCE,
            "{what}: value {value}"
        );
        assert!(relative_gap(&grad_image, &flat(&case["grad_image"])) < TOLERANCE, "{what}: image");
        assert!(relative_gap(&grad_text, &flat(&case["grad_text"])) < TOLERANCE, "{what}: text");
        let expected = scalar(&case["grad_log_scale"]);
        assert!(
            relative_gap(&grad_log_scale, &[expected]) < TOLERANCE,
            "{what}: t {grad_log_scale:?}"
        );
        if case["loss"] == "siglip" {
            let expected = scalar(&case["grad_bias"]);
            assert!(relative_gap(&grad_bias, &[expected]) < TOLERANCE, "{what}: b {grad_bias:?}");
        }
    }
}

#[test]
fn l2_normalize_matches_torch_normalize() {
    let device = Device::flex();
    for case in cases() {
        let raw = matrix(&rows(&case["image_raw"]), &device);
        let got = floats(l2_normalize(raw));
        assert!(relative_gap(&got, &flat(&case["image"])) < 1e-6);
    }
}
