"""PyTorch twin of Stoke's MDLM training step (cargo xtask bench discrete).

The network is stoke-nn's LmTransformer, bidirectional and without a time input: a token
embedding (no learned positions), pre-LayerNorm blocks with a fused qkv Linear(d, 3d),
rotary positions on queries and keys (theta 10000, Burn's RotaryEncoding pairing: features
2i and 2i+1 rotate together), F.scaled_dot_product_attention without a mask, an out
Linear, a GELU MLP d -> ratio*d -> d, a final LayerNorm and a Linear(d, vocab) head.

The step is MDLM's [SAHOO24, Eq. 10] on the log-linear schedule (eps 1e-3): antithetic
times t_b in [1e-3, 1], each token masked with probability (1 - 1e-3) t_b, the mask
logit set to -inf (SUBS), the masked positions' cross-entropies weighted 1/t_b and summed
over the batch / (batch * context), backward, Adam(eps=1e-8); the loss read back every
step as Stoke's trainer does. The batch of clean ids is drawn once.

--what train prints {"steps_per_sec": ..., "params": ..., "threads": ...};
--what phases prints the medians (ms) of the forward, backward and optimizer phases.
"""

import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def rotary_tables(context, d_head, theta=10000.0):
    """cos and sin, [context, d_head / 2]."""
    freqs = theta ** (-torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)
    angles = torch.arange(context, dtype=torch.float64)[:, None] * freqs[None, :]
    return angles.cos().float(), angles.sin().float()


def rotate(x, cos, sin):
    """Rotates the pairs (2i, 2i+1) of x [batch, heads, seq, d_head] by their angles."""
    b, h, s, d = x.shape
    pairs = x.reshape(b, h, s, d // 2, 2)
    even, odd = pairs[..., 0], pairs[..., 1]
    cos, sin = cos[:s], sin[:s]
    out = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return out.reshape(b, h, s, d)


class Block(nn.Module):
    def __init__(self, d, heads, mlp_ratio):
        super().__init__()
        self.norm_1, self.norm_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp_in, self.mlp_out = nn.Linear(d, mlp_ratio * d), nn.Linear(mlp_ratio * d, d)
        self.heads = heads

    def forward(self, x, cos, sin):
        b, s, d = x.shape
        # [batch, seq, 3 d] -> [3, batch, heads, seq, d_head]
        qkv = self.qkv(self.norm_1(x)).view(b, s, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, s, d)
        x = x + self.out(a)
        return x + self.mlp_out(F.gelu(self.mlp_in(self.norm_2(x))))


class LmTransformer(nn.Module):
    def __init__(self, vocab, context, d, layers, heads, mlp_ratio):
        super().__init__()
        self.tokens = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d, heads, mlp_ratio) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)
        cos, sin = rotary_tables(context, d // heads)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, ids):
        x = self.tokens(ids)
        for block in self.blocks:
            x = block(x, self.cos, self.sin)
        return self.head(self.norm(x))


def mdlm_loss(model, x0, mask_id, eps=1e-3):
    batch, seq = x0.shape
    device = x0.device
    # Antithetic times: one per stratum of [0, 1), then mapped into [eps, 1].
    u = (torch.rand(batch, device=device) + torch.arange(batch, device=device)) / batch
    t = (1 - eps) * u + eps
    masked = torch.rand(batch, seq, device=device) < ((1 - eps) * t)[:, None]
    x_t = torch.where(masked, torch.full_like(x0, mask_id), x0)
    logits = model(x_t)
    # SUBS: the mask token is never predicted.
    logits = logits.index_fill(-1, torch.tensor([mask_id], device=device), float("-inf"))
    nll = -torch.log_softmax(logits, -1).gather(-1, x0[..., None])[..., 0]
    weight = masked.float() / t[:, None]
    return (weight * nll).sum() / (batch * seq)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--what", default="train")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=94)
    parser.add_argument("--mask-id", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=96)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--mlp-ratio", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = LmTransformer(args.vocab, args.context, args.d_model, args.layers, args.heads,
                          args.mlp_ratio).to(device)
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, eps=1e-8)
    # Clean ids without the mask token.
    x0 = torch.randint(0, args.vocab - 1, (args.batch, args.context))
    x0 = torch.where(x0 >= args.mask_id, x0 + 1, x0).to(device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    if args.what == "phases":
        phases = {"forward_ms": [], "backward_ms": [], "optimizer_ms": []}
        for i in range(args.steps + args.warmup):
            t0 = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss = mdlm_loss(model, x0, args.mask_id)
            loss.item()
            t1 = time.perf_counter()
            loss.backward()
            sync()
            t2 = time.perf_counter()
            optimizer.step()
            sync()
            t3 = time.perf_counter()
            if i >= args.warmup:
                phases["forward_ms"].append((t1 - t0) * 1e3)
                phases["backward_ms"].append((t2 - t1) * 1e3)
                phases["optimizer_ms"].append((t3 - t2) * 1e3)
        print(json.dumps({k: sorted(v)[len(v) // 2] for k, v in phases.items()}))
        return

    def step():
        loss = mdlm_loss(model, x0, args.mask_id)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    elapsed = time.perf_counter() - started
    print(json.dumps({"steps_per_sec": args.steps / elapsed, "params": params,
                      "threads": args.threads}))


if __name__ == "__main__":
    main()
