#!/usr/bin/env python3
"""Regenerate golden.json: single sampler steps from diffusers and k-diffusion.

Only numbers produced by the reference libraries are stored; no library code is copied.

    /tmp/golden-venv/bin/python make_golden.py     # writes golden.json next to this script

Everything runs in float64. diffusers builds its tables in float32; after construction the
tables are widened to float64 (their values unchanged), so the step arithmetic is float64 and
the stored `alpha_bar` values are exactly what the step used. Random draws are captured by
reseeding: diffusers' DDPM draws `randn(shape, generator)`, k-diffusion draws
`randn_like(x)` from the global generator, so the same seed reproduces the same noise.
The model is the exact denoiser of N(0.3, 0.8^2): D(x; sigma) = 0.3 + 0.64/(0.64 + sigma^2) (x - 0.3).
"""

import importlib.metadata as md
import json
import os
import warnings

warnings.filterwarnings("ignore")

import torch  # noqa: E402
from diffusers import DDIMScheduler, DDPMScheduler  # noqa: E402
from k_diffusion import sampling as ks  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
torch.set_default_dtype(torch.float64)
MU, S2 = 0.3, 0.64


def floats(t):
    return [float(v) for v in t.detach().to(torch.float64).reshape(-1).tolist()]


def widen(sched):
    for name in ("betas", "alphas", "alphas_cumprod"):
        setattr(sched, name, getattr(sched, name).to(torch.float64))
    if hasattr(sched, "final_alpha_cumprod"):
        sched.final_alpha_cumprod = torch.as_tensor(sched.final_alpha_cumprod, dtype=torch.float64)
    sched.one = torch.tensor(1.0, dtype=torch.float64)


SAMPLE = torch.tensor([[[0.8, -1.3, 2.1]], [[-0.4, 0.05, 1.7]]])  # [2, 1, 3]: thresholding needs a channel dim
EPS = torch.tensor([[[0.5, -0.2, 1.1]], [[-1.4, 0.3, 0.9]]])


def ab_of(sched, t):
    return float(sched.alphas_cumprod[t]) if t >= 0 else 1.0


def ddim_cases():
    cases = []
    for eta, clip, idx in [(0.0, False, 10), (0.7, False, 25), (0.0, True, 40), (1.0, False, 49)]:
        sched = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=clip,
                              set_alpha_to_one=True)
        sched.set_timesteps(50)
        widen(sched)
        t = int(sched.timesteps[idx])
        prev = t - 1000 // 50
        g = torch.Generator().manual_seed(100 + idx)
        noise = torch.randn(SAMPLE.shape, generator=g)
        out = sched.step(EPS, t, SAMPLE, eta=eta, variance_noise=noise)
        cases.append({"eta": eta, "clip_sample": clip, "t": t, "prev_t": prev,
                      "alpha_bar": ab_of(sched, t), "alpha_bar_prev": ab_of(sched, prev),
                      "sample": floats(SAMPLE), "eps": floats(EPS), "noise": floats(noise),
                      "prev_sample": floats(out.prev_sample),
                      "pred_original_sample": floats(out.pred_original_sample)})
    return cases


def ddpm_cases():
    cases = []
    configs = [("fixed_small", False, False, 10), ("fixed_large", False, False, 25),
               ("fixed_small", True, False, 30), ("fixed_small", False, True, 45),
               ("fixed_small", False, False, 49)]
    for variance, clip, threshold, idx in configs:
        sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", variance_type=variance,
                              clip_sample=clip, thresholding=threshold, sample_max_value=1.5,
                              dynamic_thresholding_ratio=0.8)
        sched.set_timesteps(50)
        widen(sched)
        t = int(sched.timesteps[idx])
        prev = int(sched.previous_timestep(t))
        seed = 200 + idx
        noise = torch.randn(SAMPLE.shape, generator=torch.Generator().manual_seed(seed))
        out = sched.step(EPS * 2.0, t, SAMPLE, generator=torch.Generator().manual_seed(seed))
        cases.append({"variance_type": variance, "clip_sample": clip, "thresholding": threshold,
                      "sample_max_value": 1.5, "dynamic_thresholding_ratio": 0.8,
                      "t": t, "prev_t": prev, "alpha_bar": ab_of(sched, t),
                      "alpha_bar_prev": ab_of(sched, prev), "sample": floats(SAMPLE),
                      "eps": floats(EPS * 2.0), "noise": floats(noise),
                      "prev_sample": floats(out.prev_sample),
                      "pred_original_sample": floats(out.pred_original_sample)})
    return cases


def model(x, sigma):
    s2 = sigma.reshape(-1, *([1] * (x.ndim - 1))) ** 2
    return MU + S2 / (S2 + s2) * (x - MU)


def capture(n_draws, seed):
    torch.manual_seed(seed)
    return [floats(torch.randn_like(SAMPLE)) for _ in range(n_draws)]


def kdiff_cases():
    cases = []
    runs = [
        ("euler", ks.sample_euler, [10.0, 4.0], {}, 0),
        ("euler", ks.sample_euler, [2.0, 0.7, 0.0], {}, 0),
        ("euler_churn", ks.sample_euler, [3.0, 1.2, 0.4],
         {"s_churn": 0.5, "s_tmin": 0.0, "s_tmax": float("inf"), "s_noise": 1.003}, 2),
        ("heun", ks.sample_heun, [10.0, 4.0], {}, 0),
        ("heun", ks.sample_heun, [5.0, 1.5, 0.3, 0.0], {}, 0),
        ("heun_churn", ks.sample_heun, [6.0, 2.0, 0.5],
         {"s_churn": 0.8, "s_tmin": 1.0, "s_tmax": 10.0, "s_noise": 1.0}, 2),
        ("euler_ancestral", ks.sample_euler_ancestral, [4.0, 1.5, 0.5, 0.0], {"eta": 1.0}, 2),
        ("dpmpp_2m", ks.sample_dpmpp_2m, [8.0, 3.0, 1.0, 0.2, 0.0], {}, 0),
    ]
    for i, (name, fn, sigmas, kwargs, n_draws) in enumerate(runs):
        seed = 300 + i
        noises = capture(n_draws, seed)
        torch.manual_seed(seed)
        x = fn(model, SAMPLE.clone(), torch.tensor(sigmas), disable=True, **kwargs)
        cases.append({"sampler": name, "sigmas": sigmas,
                      "kwargs": {k: (v if v != float("inf") else "inf") for k, v in kwargs.items()},
                      "x": floats(SAMPLE), "noise": noises, "out": floats(x)})
    return cases


golden = {
    "versions": {p: md.version(p) for p in ("torch", "diffusers", "k-diffusion")},
    "shape": list(SAMPLE.shape),
    "ddim": ddim_cases(),
    "ddpm": ddpm_cases(),
    "k_diffusion": kdiff_cases(),
}
with open(OUT, "w") as f:
    json.dump(golden, f, indent=1)
print("wrote", OUT)
