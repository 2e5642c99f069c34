"""PyTorch twin of Stoke's flow-2d training step, for `cargo xtask bench flow-2d`.

Same network (sinusoidal time embedding with 8 frequencies, Linear 18->128, two 128->128,
128->2, SiLU), batch 256, Adam(lr=2e-3, eps=1e-8), moons data drawn each step, I-CFM loss.
Prints one JSON line: {"steps_per_sec": ..., "threads": ..., "device": ...}.
"""

import argparse
import json
import math
import time

import torch


def moons(n, generator):
    # scikit-learn's make_moons geometry with Gaussian noise 0.2, then x * 3 - 1 (torchcfm).
    upper = torch.rand(n, generator=generator) < 0.5
    angle = torch.rand(n, generator=generator) * math.pi
    x = torch.where(upper, torch.cos(angle), 1 - torch.cos(angle))
    y = torch.where(upper, torch.sin(angle), 0.5 - torch.sin(angle))
    points = torch.stack([x, y], 1) + 0.2 * torch.randn(n, 2, generator=generator)
    return points * 3 - 1


class TimeMlp(torch.nn.Module):
    def __init__(self, width=128, n_frequencies=8):
        super().__init__()
        k = torch.arange(n_frequencies, dtype=torch.float32)
        self.register_buffer("frequencies", math.pi * 2.0 ** (k - 2))
        self.net = torch.nn.Sequential(
            torch.nn.Linear(2 + 2 * n_frequencies, width), torch.nn.SiLU(),
            torch.nn.Linear(width, width), torch.nn.SiLU(),
            torch.nn.Linear(width, width), torch.nn.SiLU(),
            torch.nn.Linear(width, 2),
        )

    def forward(self, x, t):
        angles = t[:, None] * self.frequencies[None, :]
        return self.net(torch.cat([x, angles.sin(), angles.cos()], 1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(0)
    model = TimeMlp().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3, eps=1e-8)

    def step():
        x0 = moons(args.batch, generator).to(device)
        eps = torch.randn(args.batch, 2, generator=generator).to(device)
        t = torch.rand(args.batch, generator=generator).to(device)
        x_t = (1 - t[:, None]) * x0 + t[:, None] * eps
        loss = ((model(x_t, t) - (eps - x0)) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(20):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    loss.item()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    print(json.dumps({"steps_per_sec": args.steps / elapsed, "threads": args.threads, "device": args.device}))


if __name__ == "__main__":
    main()
