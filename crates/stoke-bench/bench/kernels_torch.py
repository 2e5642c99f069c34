"""PyTorch twin of `cargo xtask bench kernels`: the same single operations and the same MLP
step phases as `src/kernels.rs`, same shapes and case names, microseconds per call.
Prints one JSON line: {"micros": {case: us, ...}, "threads": ...}.
"""

import argparse
import json
import time

import torch

BUDGET = 0.25


def per_call(call):
    """One warm-up call, then calls until BUDGET seconds have passed (at least three)."""
    call()
    started = time.perf_counter()
    calls = 0
    while True:
        call()
        calls += 1
        if calls >= 3 and time.perf_counter() - started >= BUDGET:
            break
    return (time.perf_counter() - started) * 1e6 / calls


def grad_of(out, leaf):
    leaf.grad = None
    out.sum().backward()
    return leaf.grad


def mlp_phases(micros):
    widths = [18, 128, 128, 128, 2]
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(torch.nn.SiLU())
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3, eps=1e-8)
    x, target = torch.randn(256, 18), torch.randn(256, 2)
    clocks = [0.0, 0.0, 0.0]

    def step():
        t0 = time.perf_counter()
        loss = (model(x) - target).pow(2).mean()
        t1 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        for i, (a, b) in enumerate([(t0, t1), (t1, t2), (t2, t3)]):
            clocks[i] += b - a

    for _ in range(5):
        step()
    clocks[:] = [0.0, 0.0, 0.0]
    started, steps = time.perf_counter(), 0
    while steps < 3 or time.perf_counter() - started < 2 * BUDGET:
        step()
        steps += 1
    names = ["mlp step: forward+loss", "mlp step: backward", "mlp step: adam"]
    for name, clock in zip(names, clocks):
        micros[name] = clock * 1e6 / steps


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    micros = {}
    with torch.no_grad():
        for m, k, n in [(256, 128, 128), (1024, 512, 512)]:
            a, b = torch.randn(m, k), torch.randn(k, n)
            micros[f"matmul {m}x{k} @ {k}x{n}"] = per_call(lambda: a @ b)
        x, y = torch.randn(256, 128), torch.randn(256, 128)
        micros["add [256, 128]"] = per_call(lambda: x + y)
        bias = torch.randn(1, 128)
        micros["add bias [256, 128] + [1, 128]"] = per_call(lambda: x + bias)
        micros["mul [256, 128]"] = per_call(lambda: x * y)
        micros["exp [256, 128]"] = per_call(lambda: x.exp())
        micros["sigmoid [256, 128]"] = per_call(lambda: torch.sigmoid(x))
        micros["silu [256, 128]"] = per_call(lambda: torch.nn.functional.silu(x))
        wide = torch.randn(2048, 384)
        micros["gelu [2048, 384]"] = per_call(lambda: torch.nn.functional.gelu(wide))
        tokens = torch.randn(2048, 96)
        norm = torch.nn.LayerNorm(96)
        micros["layer_norm [2048, 96]"] = per_call(lambda: norm(tokens))
        one = torch.randn(1)
        micros["add [1] (per-op cost)"] = per_call(lambda: one + one)
        logits = torch.randn(4096, 1000)
        micros["softmax [4096, 1000]"] = per_call(lambda: torch.softmax(logits, 1))
        q, k, v = (torch.randn(64, 4, 64, 32) for _ in range(3))
        sdpa = torch.nn.functional.scaled_dot_product_attention
        micros["attention fwd [64, 4, 64, 32]"] = per_call(lambda: sdpa(q, k, v))

    x = torch.randn(256, 128, requires_grad=True)
    micros["silu fwd+bwd [256, 128]"] = per_call(
        lambda: grad_of(torch.nn.functional.silu(x), x))
    linear = torch.nn.Linear(128, 128)
    micros["linear+silu fwd+bwd 256x128x128"] = per_call(
        lambda: grad_of(torch.nn.functional.silu(linear(x)), linear.weight))
    q, k, v = (torch.randn(64, 4, 64, 32, requires_grad=True) for _ in range(3))
    micros["attention fwd+bwd [64, 4, 64, 32]"] = per_call(
        lambda: grad_of(torch.nn.functional.scaled_dot_product_attention(q, k, v), q))
    mlp_phases(micros)
    print(json.dumps({"micros": micros, "threads": args.threads}))


if __name__ == "__main__":
    main()
