"""PyTorch twin of Stoke's estimators benchmark: Gumbel-softmax forward + backward.

torch.nn.functional.gumbel_softmax on logits [4096, 1000] (tau 0.5, soft), loss
sum(y * w), backward to the logits. Prints one JSON line with iterations per second.
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--categories", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    generator = torch.Generator(device=device).manual_seed(0)
    shape = (args.batch, args.categories)
    logits = torch.randn(shape, generator=generator, device=device).requires_grad_(True)
    weights = torch.randn(shape, generator=generator, device=device)

    def step():
        y = F.gumbel_softmax(logits, tau=0.5, hard=False)
        (y * weights).sum().backward()
        logits.grad = None

    for _ in range(3):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(args.iters):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    print(json.dumps({"iters_per_sec": args.iters / elapsed, "threads": args.threads, "device": args.device}))


if __name__ == "__main__":
    main()
