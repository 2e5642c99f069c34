//! Draws every kind of picture the crate makes, to check them by eye.
//!
//! `cargo run -p stoke-data --example gallery -- /tmp/gallery` writes `toys.png`,
//! `digits.png` and `lines.png` into the given directory (default: the temp dir).

use rand::SeedableRng;
use rand::rngs::StdRng;
use stoke_data::plot::{line_plot, panels, scatter_over_density};
use stoke_data::toy::{self, Toy};
use stoke_data::{DataError, digits, image};

fn main() -> Result<(), DataError> {
    let dir = std::env::args().nth(1).map_or_else(std::env::temp_dir, Into::into);
    std::fs::create_dir_all(&dir).map_err(|source| DataError::Io { path: dir.clone(), source })?;
    let mut rng = StdRng::seed_from_u64(0);
    let plots = Toy::ALL
        .into_iter()
        .map(|toy| {
            let bounds = toy::bounds(toy);
            let density = toy::density_image(toy, 200_000, &mut rng, bounds, 120)?;
            let points = toy.sample(1_000, &mut rng);
            Ok(scatter_over_density(&density, 120, bounds, &points, toy.name(), 400))
        })
        .collect::<Result<Vec<_>, DataError>>()?;
    panels(&plots, 2).save_png(dir.join("toys.png"))?;

    let all = digits::load()?;
    let images: Vec<&[f32]> = all.images.iter().take(64).map(|image| &image[..]).collect();
    image::save_grid(dir.join("digits.png"), &images, digits::SIDE, digits::SIDE, 16, 4)?;

    let loss: Vec<(f64, f64)> =
        (1..=2000).map(|step| (f64::from(step), 2.0 / f64::from(step).sqrt() + 0.05)).collect();
    let eval: Vec<(f64, f64)> = (1..=20)
        .map(|k| (f64::from(k) * 100.0, 2.0 / (f64::from(k) * 100.0).sqrt() + 0.08))
        .collect();
    let log_snr: Vec<(f64, f64)> = (0..=100)
        .map(|i| {
            let t = f64::from(i) / 100.0;
            let alpha = (t * std::f64::consts::FRAC_PI_2).cos();
            (t, (alpha * alpha / (1.0 - alpha * alpha)).ln())
        })
        .collect();
    let lines = [
        line_plot(&[("train", &loss), ("eval", &eval)], "loss", "step", "loss", true, [500, 360]),
        line_plot(&[("cosine", &log_snr)], "log-SNR vs t", "t", "log-SNR", false, [500, 360]),
    ];
    panels(&lines, 2).save_png(dir.join("lines.png"))?;
    println!("wrote toys.png, digits.png and lines.png to {}", dir.display());
    Ok(())
}
