"""Golden values for open_clip's ClipLoss and SigLipLoss (world_size 1).

Usage: python make_open_clip.py  (pip install torch open-clip-torch --no-deps)
Writes open_clip.json next to this file.

open_clip/loss.py is loaded directly with importlib (importing the whole
`open_clip` package needs torchvision/timm/etc.; loss.py only needs torch).
"""
import importlib.metadata
import importlib.util
import json
import math
import os
import sys

import torch
import torch.nn.functional as F


def load_open_clip_loss():
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("open_clip not installed")
    pkg_dir = list(spec.submodule_search_locations)[0]
    path = os.path.join(pkg_dir, "loss.py")
    mspec = importlib.util.spec_from_file_location("open_clip_loss", path)
    mod = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(mod)
    return mod, path


loss_mod, LOSS_PATH = load_open_clip_loss()
ClipLoss = loss_mod.ClipLoss
SigLipLoss = loss_mod.SigLipLoss

SEED = 20261202
torch.manual_seed(SEED)
torch.set_default_dtype(torch.float32)

SHAPES = [(1, 4), (1, 16), (3, 4), (3, 16), (8, 4), (8, 16)]

# Raw (un-normalised) embeddings, generated once per shape in the order above;
# the same embeddings are used by the CLIP and SigLIP cases of that shape.
# Scaled/offset so the norms are clearly != 1.
RAW = {}
for (B, D) in SHAPES:
    img = torch.randn(B, D, dtype=torch.float32) * 2.0 + 0.25
    txt = torch.randn(B, D, dtype=torch.float32) * 0.5 - 0.1
    RAW[(B, D)] = (img, txt)

LN_INV_007 = math.log(1 / 0.07)  # open_clip init_logit_scale for CLIP
LN_100 = math.log(100.0)         # clamp ceiling in open_clip_train
LN_10 = math.log(10.0)           # open_clip init_logit_scale for SigLIP

# (B, D, t) with scale = exp(t)
CLIP_CASES = [
    (1, 4, LN_INV_007),
    (1, 16, LN_100),
    (3, 4, LN_INV_007),
    (3, 4, LN_100),
    (3, 4, 0.0),
    (3, 16, LN_INV_007),
    (8, 4, 0.0),
    (8, 16, LN_INV_007),
    (8, 16, LN_100),
]
# (B, D, t', b)
SIGLIP_CASES = [(3, 4, t, b) for t in (LN_10, 0.0) for b in (-10.0, 0.0, 2.5)] + [
    (1, 4, LN_10, -10.0),
    (1, 16, 0.0, 2.5),
    (3, 16, LN_10, -10.0),
    (8, 4, 0.0, 0.0),
    (8, 16, LN_10, -10.0),
    (8, 16, LN_10, 2.5),
]


def tolist(t):
    return [[float(v) for v in row] for row in t.detach().tolist()]


def prepare(B, D):
    img_raw, txt_raw = RAW[(B, D)]
    img = F.normalize(img_raw, dim=-1).detach().requires_grad_(True)
    txt = F.normalize(txt_raw, dim=-1).detach().requires_grad_(True)
    return img_raw, txt_raw, img, txt


def siglip_manual(img, txt, t, b):
    """-sum_ij log sigmoid(z_ij (exp(t) x_i.y_j + b)) / B in float64, plus the B^2 variant."""
    x = img.detach().double()
    y = txt.detach().double()
    B = x.shape[0]
    z = 2.0 * torch.eye(B, dtype=torch.float64) - 1.0
    logits = math.exp(t) * (x @ y.T) + b
    s = -F.logsigmoid(z * logits).sum()
    return float(s / B), float(s / (B * B))


def f64_grads(kind, img, txt, t0, b0=None):
    """Re-run the same open_clip loss in float64 and return max |grad32 - grad64| over all grads."""
    x = img.detach().double().requires_grad_(True)
    y = txt.detach().double().requires_grad_(True)
    t = torch.tensor(float(t0), dtype=torch.float64, requires_grad=True)
    if kind == "clip":
        loss = ClipLoss()(x, y, t.exp())
        loss.backward()
        ref = [x.grad, y.grad, t.grad]
    else:
        b = torch.tensor(float(b0), dtype=torch.float64, requires_grad=True)
        loss = SigLipLoss()(x, y, t.exp(), b)
        loss.backward()
        ref = [x.grad, y.grad, t.grad, b.grad]
    return ref


def clip_manual(img, txt, t):
    x = img.detach().double()
    y = txt.detach().double()
    B = x.shape[0]
    logits = math.exp(t) * (x @ y.T)
    lab = torch.arange(B)
    return float((F.cross_entropy(logits, lab) + F.cross_entropy(logits.T, lab)) / 2)


cases = []
checks = []
print("CLIP float32 vs float64 gradient check:")

for (B, D, t0) in CLIP_CASES:
    img_raw, txt_raw, img, txt = prepare(B, D)
    t = torch.tensor(t0, dtype=torch.float32, requires_grad=True)
    scale = t.exp()
    loss = ClipLoss()(img, txt, scale)
    loss.backward()
    man = clip_manual(img, txt, t.item())
    checks.append(("clip", B, D, t.item(), None, loss.item(), man))
    ref = f64_grads("clip", img, txt, t.item())
    d = max(float((g.double() - r).abs().max()) for g, r in zip([img.grad, txt.grad, t.grad], ref))
    print(f"  clip   B={B} D={D:2d} t={t.item():+.6f}: max|grad32-grad64| = {d:.3g}")
    cases.append({
        "loss": "clip", "batch": B, "dim": D,
        "image": tolist(img), "text": tolist(txt),
        "image_raw": tolist(img_raw), "text_raw": tolist(txt_raw),
        "log_scale": t.item(), "scale": scale.item(), "bias": None,
        "value": loss.item(), "value_f64_reference": man,
        "grad_image": tolist(img.grad), "grad_text": tolist(txt.grad),
        "grad_log_scale": float(t.grad), "grad_bias": None,
    })

print("SigLIP normalisation check (open_clip value vs manual float64 formula):")
for (B, D, t0, b0) in SIGLIP_CASES:
    img_raw, txt_raw, img, txt = prepare(B, D)
    t = torch.tensor(t0, dtype=torch.float32, requires_grad=True)
    b = torch.tensor(b0, dtype=torch.float32, requires_grad=True)
    scale = t.exp()
    loss = SigLipLoss()(img, txt, scale, b)
    loss.backward()
    man_b, man_b2 = siglip_manual(img, txt, t.item(), b.item())
    ok_b = math.isclose(loss.item(), man_b, rel_tol=1e-5, abs_tol=1e-6)
    ok_b2 = math.isclose(loss.item(), man_b2, rel_tol=1e-5, abs_tol=1e-6)
    print(f"  B={B} D={D:2d} t={t.item():+.6f} b={b.item():+5.1f}: open_clip={loss.item():.8g} "
          f"sum/B={man_b:.8g} ({'match' if ok_b else 'MISMATCH'}) sum/B^2={man_b2:.8g} "
          f"({'match' if ok_b2 else 'differs'})")
    assert ok_b, "SigLIP value does not equal sum/B"
    checks.append(("siglip", B, D, t.item(), b.item(), loss.item(), man_b))
    ref = f64_grads("siglip", img, txt, t.item(), b.item())
    d = max(float((g.double() - r).abs().max()) for g, r in zip([img.grad, txt.grad, t.grad, b.grad], ref))
    print(f"    max|grad32-grad64| = {d:.3g}")
    cases.append({
        "loss": "siglip", "batch": B, "dim": D,
        "image": tolist(img), "text": tolist(txt),
        "image_raw": tolist(img_raw), "text_raw": tolist(txt_raw),
        "log_scale": t.item(), "scale": scale.item(), "bias": b.item(),
        "value": loss.item(), "value_f64_reference": man_b,
        "value_sum_over_B2_f64": man_b2,
        "grad_image": tolist(img.grad), "grad_text": tolist(txt.grad),
        "grad_log_scale": float(t.grad), "grad_bias": float(b.grad),
    })

print("CLIP check (open_clip value vs float64 mean of the two cross-entropies):")
for c in checks:
    if c[0] == "clip":
        print(f"  B={c[1]} D={c[2]:2d} t={c[3]:+.6f}: open_clip={c[5]:.8g} f64={c[6]:.8g}")

out = {
    "torch": torch.__version__,
    "open_clip": importlib.metadata.version("open_clip_torch"),
    "python": sys.version.split()[0],
    "seed": SEED,
    "loss_py": LOSS_PATH,
    "notes": {
        "inputs": "image/text are F.normalize(image_raw/text_raw, dim=-1) in float32; gradients are w.r.t. "
                  "those normalised tensors (leaf tensors), not the raw ones.",
        "scale": "logit_scale passed to the loss is exp(log_scale) computed in float32; grad_log_scale = "
                 "d loss / d log_scale.",
        "clip": "ClipLoss: logits = scale * img @ txt.T (and scale * txt @ img.T); loss = "
                "(CE(logits_per_image, arange(B)) + CE(logits_per_text, arange(B))) / 2, CE mean over batch. "
                "B=1 gives exactly 0.",
        "siglip": "SigLipLoss: logits = scale * img @ txt.T + bias; z = 2*I - 1; loss = "
                  "-F.logsigmoid(z * logits).sum() / B (B = number of images, NOT B^2).",
        "value_f64_reference": "same formula recomputed in float64 from the float32 normalised inputs and "
                               "float32 log_scale/bias (for choosing tolerances).",
    },
    "cases": cases,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "open_clip.json")
# compact: top-level keys readable, one case per line
cases_json = ",\n".join(json.dumps(c, separators=(",", ":")) for c in out.pop("cases"))
head = json.dumps(out, indent=1)
with open(path, "w") as f:
    f.write(head[:-2] + ',\n "cases": [\n' + cases_json + "\n ]\n}\n")
json.load(open(path))  # validate
print(f"wrote {path}: {len(cases)} cases, {os.path.getsize(path)} bytes")
