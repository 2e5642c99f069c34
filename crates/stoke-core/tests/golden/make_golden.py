#!/usr/bin/env python3
"""Regenerate golden.json: reference values from diffusers and k-diffusion.

Only numbers produced by the reference libraries are stored; no library code is
copied. Run from anywhere:

    python make_golden.py            # writes golden.json next to this script

Environment used to produce the committed file (see "versions" in the JSON):

    python -m venv venv
    venv/bin/pip install torch diffusers k-diffusion "setuptools<81"

(setuptools<81 is needed because k-diffusion's dependency clip-anytorch imports
pkg_resources.)

Precision notes (also stored under "notes" in the JSON):
  * diffusers builds betas / alphas_cumprod in float32. "betas" and
    "alphas_cumprod" are those float32 values widened exactly to float64.
    "betas_f64" / "alphas_cumprod_f64" run the same unmodified diffusers code
    with its module-level `torch.float32` redirected to float64 (and the
    default dtype set to float64), i.e. the same algorithm in float64.
  * k-diffusion's get_sigmas_* use torch's default dtype (float32).
    "sigmas" is computed with torch.set_default_dtype(torch.float64);
    "sigmas_f32" is the stock float32 output.
  * get_ancestral_step and Denoiser.get_scalings are evaluated on float64
    scalar tensors.
"""

import importlib.metadata as md
import json
import os
import types
import warnings

warnings.filterwarnings("ignore")

import torch  # noqa: E402
import diffusers  # noqa: E402
from diffusers import DDIMScheduler, DDPMScheduler  # noqa: E402
import diffusers.schedulers.scheduling_ddpm as ddpm_mod  # noqa: E402
from k_diffusion import layers as kl  # noqa: E402
from k_diffusion import sampling as ks  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")


def floats(t):
    return [float(x) for x in t.detach().to(torch.float64).reshape(-1).tolist()]


class _TorchF64Proxy(types.ModuleType):
    """Stands in for `torch` inside diffusers' DDPM module: float32 -> float64."""

    def __init__(self):
        super().__init__("torch_f64_proxy")

    def __getattr__(self, name):
        if name == "float32":
            return torch.float64
        return getattr(torch, name)


def ddpm_entry(schedule, zero_snr, T):
    sched = DDPMScheduler(
        num_train_timesteps=T, beta_schedule=schedule, rescale_betas_zero_snr=zero_snr
    )
    assert sched.betas.dtype == torch.float32
    entry = {
        "beta_schedule": schedule,
        "zero_snr": zero_snr,
        "num_train_timesteps": T,
        "beta_start": sched.config.beta_start,
        "beta_end": sched.config.beta_end,
        "betas": floats(sched.betas),
        "alphas_cumprod": floats(sched.alphas_cumprod),
    }
    # Same diffusers code, float64 arithmetic.
    real_torch = ddpm_mod.torch
    old_default = torch.get_default_dtype()
    try:
        ddpm_mod.torch = _TorchF64Proxy()
        torch.set_default_dtype(torch.float64)
        s64 = DDPMScheduler(
            num_train_timesteps=T, beta_schedule=schedule, rescale_betas_zero_snr=zero_snr
        )
    finally:
        ddpm_mod.torch = real_torch
        torch.set_default_dtype(old_default)
    assert s64.betas.dtype == torch.float64 and s64.alphas_cumprod.dtype == torch.float64
    entry["betas_f64"] = floats(s64.betas)
    entry["alphas_cumprod_f64"] = floats(s64.alphas_cumprod)
    return entry


def make_ddpm():
    out = []
    for schedule in ["linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"]:
        for zero_snr in [False, True]:
            try:
                out.append(ddpm_entry(schedule, zero_snr, 1000))
            except Exception as e:  # record rejected combos
                out.append({"beta_schedule": schedule, "zero_snr": zero_snr,
                            "num_train_timesteps": 1000, "error": f"{type(e).__name__}: {e}"})
    for schedule in ["linear", "squaredcos_cap_v2"]:
        out.append(ddpm_entry(schedule, False, 50))
    return out


def make_ddim_timesteps():
    out = []
    for spacing in ["leading", "linspace", "trailing"]:
        for offset in [0, 1]:
            for k in [1, 10, 50, 999]:
                e = {"spacing": spacing, "steps_offset": offset, "num_inference_steps": k}
                try:
                    s = DDIMScheduler(num_train_timesteps=1000, timestep_spacing=spacing,
                                      steps_offset=offset)
                    s.set_timesteps(k)
                    e["timesteps"] = [int(x) for x in s.timesteps.tolist()]
                except Exception as ex:
                    e["error"] = f"{type(ex).__name__}: {ex}"
                out.append(e)
    return out


def sig_pair(fn, *args):
    """(float64 result, stock float32 result) of a k-diffusion get_sigmas_* call."""
    old = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        s64 = fn(*args)
    finally:
        torch.set_default_dtype(old)
    assert s64.dtype == torch.float64
    s32 = fn(*args)
    assert s32.dtype == torch.float32
    return floats(s64), floats(s32)


def make_sigmas():
    res = {"karras": [], "exponential": [], "polyexponential": [], "vp": []}
    grid = [(10, 0.002, 80.0, 7.0), (35, 0.002, 80.0, 7.0), (5, 0.1, 10.0, 3.0), (1, 0.002, 80.0, 7.0)]
    for n, smin, smax, rho in grid:
        s64, s32 = sig_pair(ks.get_sigmas_karras, n, smin, smax, rho)
        res["karras"].append({"n": n, "sigma_min": smin, "sigma_max": smax, "rho": rho,
                              "sigmas": s64, "sigmas_f32": s32})
    for n, smin, smax, _ in grid:
        s64, s32 = sig_pair(ks.get_sigmas_exponential, n, smin, smax)
        res["exponential"].append({"n": n, "sigma_min": smin, "sigma_max": smax,
                                   "sigmas": s64, "sigmas_f32": s32})
    for n, smin, smax, _ in grid:
        for rho in [1.0, 2.0]:
            s64, s32 = sig_pair(ks.get_sigmas_polyexponential, n, smin, smax, rho)
            res["polyexponential"].append({"n": n, "sigma_min": smin, "sigma_max": smax,
                                           "rho": rho, "sigmas": s64, "sigmas_f32": s32})
    for n in [10, 35]:
        beta_d, beta_min, eps_s = 19.9, 0.1, 1e-3
        s64, s32 = sig_pair(ks.get_sigmas_vp, n, beta_d, beta_min, eps_s)
        res["vp"].append({"n": n, "beta_d": beta_d, "beta_min": beta_min, "eps_s": eps_s,
                          "sigmas": s64, "sigmas_f32": s32})
    return res


def make_ancestral():
    pairs = [(80.0, 57.6), (14.6146, 10.0), (1.0, 0.5), (0.5, 0.49), (0.1, 0.002),
             (3.0, 0.0), (0.002, 0.0), (2.0, 2.0)]
    out = []
    for sf, st in pairs:
        for eta in [0.0, 0.5, 1.0, 1.5]:
            f = torch.tensor(sf, dtype=torch.float64)
            t = torch.tensor(st, dtype=torch.float64)
            down, up = ks.get_ancestral_step(f, t, eta)
            out.append({"sigma_from": sf, "sigma_to": st, "eta": eta,
                        "sigma_down": float(down), "sigma_up": float(up)})
    return out


def make_edm_scalings():
    out = []
    for sd in [0.5, 1.0]:
        den = kl.Denoiser(torch.nn.Identity(), sigma_data=sd)
        for sigma in [0.002, 0.1, 0.5, 1.0, 10.0, 80.0]:
            c_skip, c_out, c_in = den.get_scalings(torch.tensor(sigma, dtype=torch.float64))
            out.append({"sigma_data": sd, "sigma": sigma, "c_skip": float(c_skip),
                        "c_out": float(c_out), "c_in": float(c_in)})
    return out


def main():
    torch.set_num_threads(1)
    golden = {
        "versions": {
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
            "k-diffusion": md.version("k-diffusion"),
            "numpy": md.version("numpy"),
        },
        "notes": [
            "ddpm betas/alphas_cumprod: diffusers float32 values widened to float64; "
            "*_f64: same diffusers code run in float64.",
            "sigma schedules: 'sigmas' computed with torch default dtype float64; "
            "'sigmas_f32': stock float32 output. Both include the appended trailing 0.",
            "ancestral and edm_scalings: float64 scalar tensors.",
            "edm_scalings: k_diffusion.layers.Denoiser(torch.nn.Identity(), sigma_data).get_scalings(sigma).",
        ],
        "ddpm": make_ddpm(),
        "ddim_timesteps": make_ddim_timesteps(),
    }
    golden.update(make_sigmas())
    golden["ancestral"] = make_ancestral()
    golden["edm_scalings"] = make_edm_scalings()
    with open(OUT, "w") as f:
        json.dump(golden, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
