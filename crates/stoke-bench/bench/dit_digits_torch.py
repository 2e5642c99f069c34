"""PyTorch twin of the ddpm-digits training step, for `cargo xtask bench diffusion`.

The network is crates/stoke-train/src/nn/dit.rs written again in PyTorch, layer for layer:
patchify, linear patch embedding plus a learned position embedding (N(0, 0.02)), the
condition c = MLP(sinusoid(noise_scale * noise_cond)) + class_embedding(class) with a null
class, `depth` blocks with adaLN-zero (LayerNorm without affine, eps 1e-6; attention written
out as softmax(q k^T / sqrt(d_head)) v as dit.rs does; GELU MLP), the final adaLN layer and
unpatchify. The step is the recipe's DDPM eps loss [HO20, Eq. 14] on diffusers' linear betas
(1e-4..0.02, 1000 steps): integer timesteps, labels dropped to the null class with
probability p_uncond, batch drawn with replacement, Adam(eps=1e-8), the loss read back every
step. The images are random in [-1, 1] (values do not change the cost).
Prints one JSON line: {"steps_per_sec": ..., "params": ..., "threads": ...}.

With `--ranks N > 1` (for `cargo xtask bench distributed`): N processes on this machine under
DistributedDataParallel with the gloo backend, each computing `batch / N` rows of the global
batch with `--threads` threads; the line adds "compute_steps_per_sec", the same steps under
DDP's `no_sync()` (no gradient all-reduce), so the gap is DDP's communication.
"""

import argparse
import json
import math
import time

import torch
import torch.nn.functional as F
from torch import nn


def layer_norm(x):
    return F.layer_norm(x, x.shape[-1:], eps=1e-6)


def modulate(x, shift, scale):
    return x * (1 + scale) + shift


def zero_linear(d_in, d_out):
    layer = nn.Linear(d_in, d_out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class Block(nn.Module):
    def __init__(self, width, n_heads, mlp_ratio):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(width, 3 * width)
        self.attention_out = nn.Linear(width, width)
        self.mlp_in = nn.Linear(width, mlp_ratio * width)
        self.mlp_out = nn.Linear(mlp_ratio * width, width)
        self.modulation = zero_linear(width, 6 * width)

    def attention(self, x):
        batch, tokens, width = x.shape
        d_head = width // self.n_heads
        # [batch, tokens, 3, heads, d_head] -> [3, batch, heads, tokens, d_head]
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.n_heads, d_head).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = q @ k.transpose(2, 3) / math.sqrt(d_head)
        # [batch, heads, tokens, d_head] -> [batch, tokens, width]
        out = (scores.softmax(3) @ v).transpose(1, 2).reshape(batch, tokens, width)
        return self.attention_out(out)

    def forward(self, x, c):
        m = self.modulation(F.silu(c)).unsqueeze(1).chunk(6, dim=2)
        x = x + m[2] * self.attention(modulate(layer_norm(x), m[0], m[1]))
        return x + m[5] * self.mlp_out(F.gelu(self.mlp_in(modulate(layer_norm(x), m[3], m[4]))))


class Dit(nn.Module):
    def __init__(self, side, channels, patch, width, depth, n_heads, mlp_ratio, n_classes,
                 n_frequencies, noise_scale):
        super().__init__()
        self.side, self.channels, self.patch = side, channels, patch
        self.noise_scale = noise_scale
        patch_dim = channels * patch * patch
        n_tokens = (side // patch) ** 2
        self.patch_embed = nn.Linear(patch_dim, width)
        self.position = nn.Parameter(torch.randn(1, n_tokens, width) * 0.02)
        self.noise_in = nn.Linear(2 * n_frequencies, width)
        self.noise_out = nn.Linear(width, width)
        self.class_embed = nn.Embedding(n_classes + 1, width)
        self.blocks = nn.ModuleList(Block(width, n_heads, mlp_ratio) for _ in range(depth))
        self.final_modulation = zero_linear(width, 2 * width)
        self.final_out = zero_linear(width, patch_dim)
        k = torch.arange(n_frequencies, dtype=torch.float64)
        frequencies = torch.exp(-math.log(10_000.0) * k / n_frequencies).float()
        self.register_buffer("frequencies", frequencies)

    def condition(self, noise_cond, label):
        angles = (noise_cond * self.noise_scale)[:, None] * self.frequencies[None, :]
        embedding = torch.cat([angles.cos(), angles.sin()], 1)
        return self.noise_out(F.silu(self.noise_in(embedding))) + self.class_embed(label)

    def patchify(self, x):
        batch, channels, side, _ = x.shape
        p, g = self.patch, side // self.patch
        # [batch, channels, g, p, g, p] -> [batch, g, g, channels, p, p]
        x = x.reshape(batch, channels, g, p, g, p).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(batch, g * g, channels * p * p)

    def unpatchify(self, x):
        batch = x.shape[0]
        p, g, c = self.patch, self.side // self.patch, self.channels
        # [batch, g, g, channels, p, p] -> [batch, channels, g, p, g, p]
        x = x.reshape(batch, g, g, c, p, p).permute(0, 3, 1, 4, 2, 5)
        return x.reshape(batch, c, self.side, self.side)

    def forward(self, x, noise_cond, label):
        batch = x.shape[0]
        c = self.condition(noise_cond, label)
        image = x.reshape(batch, self.channels, self.side, self.side)
        h = self.patch_embed(self.patchify(image)) + self.position
        for block in self.blocks:
            h = block(h, c)
        m = self.final_modulation(F.silu(c)).unsqueeze(1).chunk(2, dim=2)
        h = self.final_out(modulate(layer_norm(h), m[0], m[1]))
        return self.unpatchify(h).reshape(batch, -1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--p-uncond", type=float, default=0.1)
    parser.add_argument("--patch", type=int, default=4)
    parser.add_argument("--width", type=int, default=48)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--mlp-ratio", type=int, default=4)
    parser.add_argument("--frequencies", type=int, default=32)
    parser.add_argument("--noise-scale", type=float, default=1.0)
    parser.add_argument("--ranks", type=int, default=1)
    args = parser.parse_args()
    if args.ranks > 1:
        import torch.multiprocessing as mp
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        queue = mp.get_context("spawn").SimpleQueue()
        mp.spawn(train, args=(args, port, queue), nprocs=args.ranks, join=True)
        print(json.dumps(queue.get()))
        return
    train(0, args, None, None)


def train(rank, args, port, queue):
    distributed = args.ranks > 1
    if distributed:
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=args.ranks)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    n_classes, side, timesteps = 10, 8, 1000
    model = Dit(side, 1, args.patch, args.width, args.depth, args.heads, args.mlp_ratio,
                n_classes, args.frequencies, args.noise_scale).to(device)
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, eps=1e-8)
    local = args.batch // args.ranks
    if distributed:
        model = DistributedDataParallel(model)
    betas = torch.linspace(1e-4, 0.02, timesteps, dtype=torch.float64)
    alpha_bar = torch.cumprod(1 - betas, 0).float().to(device)
    generator = torch.Generator().manual_seed(rank)
    data = torch.rand(1437, side * side, generator=generator) * 2 - 1
    labels = torch.arange(1437) % n_classes

    def step():
        picks = torch.randint(0, data.shape[0], (local,), generator=generator)
        x0 = data[picks].to(device)
        label = labels[picks]
        dropped = torch.rand(local, generator=generator) < args.p_uncond
        label = torch.where(dropped, torch.full_like(label, n_classes), label).to(device)
        eps = torch.randn(local, side * side, generator=generator).to(device)
        t = torch.randint(0, timesteps, (local,), generator=generator).to(device)
        ab = alpha_bar[t][:, None]
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        loss = ((model(x_t, t.float(), label) - eps) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    def timed():
        if distributed:
            dist.barrier()
        started = time.perf_counter()
        for _ in range(args.steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if distributed:
            dist.barrier()
        return time.perf_counter() - started

    for _ in range(args.warmup):
        step()
    elapsed = timed()
    result = {"steps_per_sec": args.steps / elapsed, "params": params, "threads": args.threads,
              "ranks": args.ranks}
    if distributed:
        with model.no_sync():
            result["compute_steps_per_sec"] = args.steps / timed()
        if rank == 0:
            queue.put(result)
        dist.destroy_process_group()
    else:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
