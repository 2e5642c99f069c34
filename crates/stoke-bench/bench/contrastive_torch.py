"""PyTorch twin of Stoke's contrastive benchmark.

--what loss: open_clip's ClipLoss or SigLipLoss forward + backward on L2-normalised
embeddings [batch, dim] (open_clip/loss.py is used when installed, else the same formulas:
CLIP's mean of the two cross-entropies of scale * X Y^T, SigLIP's
-sum logsigmoid(z (scale X Y^T + bias)) / batch). Prints iterations per second.
--what vit-phases: the same step's forward, backward and optimizer times (medians, ms).
--what vit: one Adam step of a ViT classifier of the same shape as Stoke's
(patch embedding, learned positions, pre-norm blocks with fused-qkv attention and a GELU
MLP of ratio 4, final LayerNorm, mean pooling, linear head, cross-entropy). Prints steps
per second.
"""

import argparse
import importlib.util
import json
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def open_clip_losses():
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "loss.py")
    module_spec = importlib.util.spec_from_file_location("open_clip_loss", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def loss_fn(kind):
    module = open_clip_losses()
    if module is not None:
        loss = module.ClipLoss() if kind == "clip" else module.SigLipLoss()
        if kind == "clip":
            return (lambda x, y, s, b: loss(x, y, s)), "open_clip"
        return (lambda x, y, s, b: loss(x, y, s, b)), "open_clip"

    def clip(x, y, s, b):
        logits = s * x @ y.T
        labels = torch.arange(x.shape[0])
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2

    def siglip(x, y, s, b):
        logits = s * x @ y.T + b
        z = 2 * torch.eye(x.shape[0]) - 1
        return -F.logsigmoid(z * logits).sum() / x.shape[0]

    return (clip if kind == "clip" else siglip), "formula"


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.norm_1, self.norm_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp_in, self.mlp_out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.heads = heads

    def forward(self, x):
        b, s, d = x.shape
        q, k, v = self.qkv(self.norm_1(x)).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, s, d)
        x = x + self.out(a)
        return x + self.mlp_out(F.gelu(self.mlp_in(self.norm_2(x))))


class Vit(nn.Module):
    def __init__(self, channels, side, patch, d, layers, heads, classes):
        super().__init__()
        self.patch = patch
        self.embed = nn.Linear(channels * patch * patch, d)
        self.positions = nn.Parameter(torch.randn(1, (side // patch) ** 2, d) * d ** -0.5)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, images):
        b, c, h, w = images.shape
        p = self.patch
        tokens = images.view(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, -1, c * p * p)
        x = self.embed(tokens) + self.positions
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x).mean(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--what", default="loss")
    parser.add_argument("--loss", default="siglip")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--side", type=int, default=28)
    parser.add_argument("--patch", type=int, default=7)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.what == "loss":
        fn, source = loss_fn(args.loss)
        x = F.normalize(torch.randn(args.batch, args.dim), dim=-1).requires_grad_()
        y = F.normalize(torch.randn(args.batch, args.dim), dim=-1).requires_grad_()
        t = torch.tensor(2.3, requires_grad=True)
        b = torch.tensor(-10.0, requires_grad=True)

        def step():
            fn(x, y, t.exp(), b).backward()
    else:  # vit and vit-phases
        source = "torch"
        model = Vit(1, args.side, args.patch, args.width, args.layers, args.heads, 10)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        images = torch.rand(args.batch, 1, args.side, args.side)
        labels = torch.randint(0, 10, (args.batch,))

        def step():
            optimizer.zero_grad()
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()

    if args.what == "vit-phases":
        phases = {"forward_ms": [], "backward_ms": [], "optimizer_ms": []}
        for i in range(args.iters + 3):
            t0 = time.perf_counter()
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            optimizer.step()
            t3 = time.perf_counter()
            if i >= 3:
                phases["forward_ms"].append((t1 - t0) * 1e3)
                phases["backward_ms"].append((t2 - t1) * 1e3)
                phases["optimizer_ms"].append((t3 - t2) * 1e3)
        print(json.dumps({k: sorted(v)[len(v) // 2] for k, v in phases.items()}))
        return
    for _ in range(3):
        step()
    started = time.perf_counter()
    for _ in range(args.iters):
        step()
    rate = args.iters / (time.perf_counter() - started)
    print(json.dumps({"iters_per_sec": rate, "source": source, "threads": args.threads}))


if __name__ == "__main__":
    main()
