//! Reference implementations: the networks as `stoke-train` had them before they moved into
//! `stoke-nn` (`crates/stoke-train/src/nn.rs` and `nn/dit.rs` at commit e0ce851), copied
//! verbatim except where marked `CHANGED`, with validation and docs trimmed. The tests
//! check that the rebuilt networks compute the same functions.

use std::f64::consts::PI;

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig};
use burn::tensor::Device;
use burn::tensor::activation::{gelu, silu, softmax};
use burn::tensor::{Distribution, Int, Tensor, TensorData};

#[derive(Config, Debug)]
pub struct TimeMlpConfig {
    #[config(default = 2)]
    pub dim: usize,
    #[config(default = 128)]
    pub width: usize,
    #[config(default = 3)]
    pub n_hidden: usize,
    #[config(default = 8)]
    pub n_frequencies: usize,
}

impl TimeMlpConfig {
    pub fn init(&self, device: &Device) -> TimeMlp {
        let input = LinearConfig::new(self.dim + 2 * self.n_frequencies, self.width).init(device);
        let hidden = (1..self.n_hidden.max(1))
            .map(|_| LinearConfig::new(self.width, self.width).init(device))
            .collect();
        let output = LinearConfig::new(self.width, self.dim).init(device);
        TimeMlp { input, hidden, output, n_frequencies: self.n_frequencies }
    }
}

#[derive(Module, Debug)]
pub struct TimeMlp {
    input: Linear,
    hidden: Vec<Linear>,
    output: Linear,
    n_frequencies: usize,
}

impl TimeMlp {
    pub fn forward(&self, x: Tensor<2>, t: Tensor<1>) -> Tensor<2> {
        let embedding = time_embedding(t, self.n_frequencies);
        let mut h = silu(self.input.forward(Tensor::cat(vec![x, embedding], 1)));
        for layer in &self.hidden {
            h = silu(layer.forward(h));
        }
        self.output.forward(h)
    }
}

pub fn time_embedding(t: Tensor<1>, n_frequencies: usize) -> Tensor<2> {
    let device = t.device();
    let frequencies: Vec<f32> =
        (0..n_frequencies).map(|k| (PI * 2f64.powi(k as i32 - 2)) as f32).collect();
    let frequencies =
        Tensor::<1>::from_data(TensorData::new(frequencies, [n_frequencies]), &device);
    let [batch] = t.dims();
    // [batch, 1] * [1, n] -> [batch, n]
    let angles = t.reshape([batch, 1]).mul(frequencies.reshape([1, n_frequencies]));
    Tensor::cat(vec![angles.clone().sin(), angles.cos()], 1)
}

#[derive(Config, Debug)]
pub struct DitConfig {
    #[config(default = 8)]
    pub side: usize,
    #[config(default = 1)]
    pub channels: usize,
    #[config(default = 2)]
    pub patch: usize,
    #[config(default = 64)]
    pub width: usize,
    #[config(default = 4)]
    pub depth: usize,
    #[config(default = 4)]
    pub n_heads: usize,
    #[config(default = 4)]
    pub mlp_ratio: usize,
    #[config(default = 10)]
    pub n_classes: usize,
    #[config(default = 32)]
    pub n_frequencies: usize,
    #[config(default = 1000.0)]
    pub noise_scale: f64,
}

impl DitConfig {
    pub fn init(&self, device: &Device) -> Dit {
        let d = self.width;
        let patch_dim = self.channels * self.patch * self.patch;
        let n_tokens = (self.side / self.patch).pow(2);
        let zero = |d_in: usize, d_out: usize| {
            LinearConfig::new(d_in, d_out).with_initializer(Initializer::Zeros).init(device)
        };
        let blocks = (0..self.depth).map(|_| self.block(device)).collect();
        let position = Tensor::random([1, n_tokens, d], Distribution::Normal(0.0, 0.02), device);
        Dit {
            patch_embed: LinearConfig::new(patch_dim, d).init(device),
            position: Param::from_tensor(position),
            noise_in: LinearConfig::new(2 * self.n_frequencies, d).init(device),
            noise_out: LinearConfig::new(d, d).init(device),
            class_embed: EmbeddingConfig::new(self.n_classes + 1, d).init(device),
            blocks,
            final_modulation: zero(d, 2 * d),
            final_out: zero(d, patch_dim),
            side: self.side,
            channels: self.channels,
            patch: self.patch,
            n_classes: self.n_classes,
            n_frequencies: self.n_frequencies,
            noise_scale: self.noise_scale,
        }
    }

    /// The block of `init`, also built alone for the block test.
    pub fn block(&self, device: &Device) -> DitBlock {
        let d = self.width;
        DitBlock {
            qkv: LinearConfig::new(d, 3 * d).init(device),
            attention_out: LinearConfig::new(d, d).init(device),
            mlp_in: LinearConfig::new(d, self.mlp_ratio * d).init(device),
            mlp_out: LinearConfig::new(self.mlp_ratio * d, d).init(device),
            modulation: LinearConfig::new(d, 6 * d)
                .with_initializer(Initializer::Zeros)
                .init(device),
            n_heads: self.n_heads,
        }
    }
}

#[derive(Module, Debug)]
pub struct DitBlock {
    qkv: Linear,
    attention_out: Linear,
    mlp_in: Linear,
    mlp_out: Linear,
    modulation: Linear,
    n_heads: usize,
}

impl DitBlock {
    pub fn forward(&self, x: Tensor<3>, c: Tensor<2>) -> Tensor<3> {
        let [batch, _, width] = x.dims();
        let m: Vec<Tensor<3>> = self
            .modulation
            .forward(silu(c))
            .chunk(6, 1)
            .into_iter()
            .map(|t| t.reshape([batch, 1, width]))
            .collect();
        let h = modulate(layer_norm(x.clone()), m[0].clone(), m[1].clone());
        let x = x + m[2].clone() * self.attention(h);
        let h = modulate(layer_norm(x.clone()), m[3].clone(), m[4].clone());
        x + m[5].clone() * self.mlp_out.forward(gelu(self.mlp_in.forward(h)))
    }

    fn attention(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, tokens, width] = x.dims();
        let d_head = width / self.n_heads;
        let qkv = self
            .qkv
            .forward(x)
            .reshape([batch, tokens, 3, self.n_heads, d_head])
            .permute([2, 0, 3, 1, 4]);
        let part = |i: usize| -> Tensor<4> {
            qkv.clone().narrow(0, i, 1).reshape([batch, self.n_heads, tokens, d_head])
        };
        let (q, k, v) = (part(0), part(1), part(2));
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((d_head as f64).sqrt());
        let out = softmax(scores, 3).matmul(v).swap_dims(1, 2).reshape([batch, tokens, width]);
        self.attention_out.forward(out)
    }
}

#[derive(Module, Debug)]
pub struct Dit {
    patch_embed: Linear,
    position: Param<Tensor<3>>,
    noise_in: Linear,
    noise_out: Linear,
    class_embed: Embedding,
    blocks: Vec<DitBlock>,
    final_modulation: Linear,
    final_out: Linear,
    side: usize,
    channels: usize,
    patch: usize,
    n_classes: usize,
    n_frequencies: usize,
    noise_scale: f64,
}

impl Dit {
    pub fn forward(&self, x: Tensor<2>, noise_cond: Tensor<1>, class: Tensor<1, Int>) -> Tensor<2> {
        let [batch, _] = x.dims();
        let image = x.reshape([batch, self.channels, self.side, self.side]);
        let out = self.forward_image(image, noise_cond, class);
        out.reshape([batch, self.channels * self.side * self.side])
    }

    pub fn forward_image(
        &self,
        x: Tensor<4>,
        noise_cond: Tensor<1>,
        class: Tensor<1, Int>,
    ) -> Tensor<4> {
        let c = self.condition(noise_cond, class);
        let mut h = self.patch_embed.forward(self.patchify(x)) + self.position.val();
        for block in &self.blocks {
            h = block.forward(h, c.clone());
        }
        let [batch, _, width] = h.dims();
        let m: Vec<Tensor<3>> = self
            .final_modulation
            .forward(silu(c))
            .chunk(2, 1)
            .into_iter()
            .map(|t| t.reshape([batch, 1, width]))
            .collect();
        let h = modulate(layer_norm(h), m[0].clone(), m[1].clone());
        self.unpatchify(self.final_out.forward(h))
    }

    fn condition(&self, noise_cond: Tensor<1>, class: Tensor<1, Int>) -> Tensor<2> {
        let [batch] = class.dims();
        let embedding =
            sinusoidal_embedding(noise_cond.mul_scalar(self.noise_scale), self.n_frequencies);
        let noise = self.noise_out.forward(silu(self.noise_in.forward(embedding)));
        let class = self.class_embed.forward(class.reshape([batch, 1]));
        let [_, _, width] = class.dims();
        noise + class.reshape([batch, width])
    }

    fn patchify(&self, x: Tensor<4>) -> Tensor<3> {
        let [batch, channels, side, _] = x.dims();
        let (p, g) = (self.patch, side / self.patch);
        x.reshape([batch, channels, g, p, g, p]).permute([0, 2, 4, 1, 3, 5]).reshape([
            batch,
            g * g,
            channels * p * p,
        ])
    }

    fn unpatchify(&self, x: Tensor<3>) -> Tensor<4> {
        let [batch, _, _] = x.dims();
        let (p, g, channels) = (self.patch, self.side / self.patch, self.channels);
        x.reshape([batch, g, g, channels, p, p])
            .permute([0, 3, 1, 4, 2, 5])
            .reshape([batch, channels, self.side, self.side])
    }
}

fn layer_norm(x: Tensor<3>) -> Tensor<3> {
    let (variance, mean) = x.clone().var_mean_bias(2);
    (x - mean).div(variance.add_scalar(1e-6).sqrt())
}

fn modulate(x: Tensor<3>, shift: Tensor<3>, scale: Tensor<3>) -> Tensor<3> {
    x * scale.add_scalar(1.0) + shift
}

pub fn sinusoidal_embedding(values: Tensor<1>, n_frequencies: usize) -> Tensor<2> {
    let device = values.device();
    let frequencies: Vec<f32> = (0..n_frequencies)
        .map(|k| (-(10_000f64.ln()) * k as f64 / n_frequencies as f64).exp() as f32)
        .collect();
    let frequencies =
        Tensor::<1>::from_data(TensorData::new(frequencies, [n_frequencies]), &device);
    let [batch] = values.dims();
    let angles = values.reshape([batch, 1]).mul(frequencies.reshape([1, n_frequencies]));
    // CHANGED: `[sin | cos]`, the one order of the shared embedding (was `[cos | sin]`).
    Tensor::cat(vec![angles.clone().sin(), angles.cos()], 1)
}

/// `crates/stoke-train/src/recipe/digits_classifier.rs`, the network only.
#[derive(Config, Debug)]
pub struct ClassifierConfig {
    #[config(default = 256)]
    pub width: usize,
}

impl ClassifierConfig {
    pub fn init(&self, device: &Device) -> Classifier {
        Classifier {
            // CHANGED: `PIXELS` and `N_CLASSES` of `stoke-data` written out.
            hidden_1: LinearConfig::new(64, self.width).init(device),
            hidden_2: LinearConfig::new(self.width, self.width).init(device),
            output: LinearConfig::new(self.width, 10).init(device),
        }
    }
}

#[derive(Module, Debug)]
pub struct Classifier {
    hidden_1: Linear,
    hidden_2: Linear,
    output: Linear,
}

impl Classifier {
    pub fn features(&self, x: Tensor<2>) -> Tensor<2> {
        silu(self.hidden_2.forward(silu(self.hidden_1.forward(x))))
    }

    pub fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.output.forward(self.features(x))
    }
}

#[derive(Config, Debug)]
pub struct MlpConfig {
    pub d_input: usize,
    pub d_output: usize,
    #[config(default = 64)]
    pub width: usize,
}

impl MlpConfig {
    pub fn init(&self, device: &Device) -> Mlp {
        Mlp {
            hidden: LinearConfig::new(self.d_input, self.width).init(device),
            output: LinearConfig::new(self.width, self.d_output).init(device),
        }
    }
}

#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Linear,
    output: Linear,
}

impl Mlp {
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.output.forward(burn::tensor::activation::relu(self.hidden.forward(x)))
    }
}
