#!/usr/bin/env python3
"""Golden values for stoke-discrete (MDLM, LLaDA, SEDD, BD3-LM, MD4 schedules).

Regenerate with:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch numpy
    /tmp/venv/bin/python make_discrete.py            # writes discrete.json next to this file

Everything here is an independent re-implementation of the reference formulas
(written for this file, not copied code).  Each function names the reference it
mirrors as  <repo>@<commit-prefix>:<file>:<function>.  Commits:

  ML-GSAI/LLaDA                              b7e6c3565f194352da44b38dd12b6970597309f3
  kuleshov-group/mdlm                        c112c526d193436838c98d81455ee51f90309470
  louaaron/Score-Entropy-Discrete-Diffusion  0605786da5ccb5747545e26d66fdf477187598b6
  kuleshov-group/bd3lms                      1c3e8f43d88dfbcee5ff2aa6932a9e74b31ae1d7
  google-deepmind/md4                        b9fbf29216f818cccff46cb5727199f86f35593e

Conventions of the JSON (see NOTES.md too):
  * all floats are float64 computed in float64 unless a field says otherwise;
  * non-finite floats are written as the strings "inf", "-inf", "nan";
  * every random input is drawn here with a fixed seed and written out, so the
    Rust side never needs an RNG to reproduce an output;
  * arrays are nested lists in row-major (C) order, shapes given by "shape" keys
    or described in the section's "doc".
"""
import json
import math
import os
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

COMMITS = {
    "ML-GSAI/LLaDA": "b7e6c3565f194352da44b38dd12b6970597309f3",
    "kuleshov-group/mdlm": "c112c526d193436838c98d81455ee51f90309470",
    "louaaron/Score-Entropy-Discrete-Diffusion": "0605786da5ccb5747545e26d66fdf477187598b6",
    "kuleshov-group/bd3lms": "1c3e8f43d88dfbcee5ff2aa6932a9e74b31ae1d7",
    "google-deepmind/md4": "b9fbf29216f818cccff46cb5727199f86f35593e",
}

GEN = torch.Generator().manual_seed(20240607)


def rand(*shape):
    return torch.rand(*shape, generator=GEN, dtype=torch.float64)


def randn(*shape):
    return torch.randn(*shape, generator=GEN, dtype=torch.float64)


def randint(lo, hi, shape):
    return torch.randint(lo, hi, shape, generator=GEN)


def J(x):
    """Convert tensors / numbers into JSON-safe python objects."""
    if isinstance(x, torch.Tensor):
        x = x.tolist()
    if isinstance(x, dict):
        return {k: J(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [J(v) for v in x]
    if isinstance(x, bool):
        return x
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if isinstance(x, (np.floating,)):
        return J(float(x))
    if isinstance(x, (np.integer,)):
        return int(x)
    return x


# ============================================================================
# 1. LLaDA
# ============================================================================

def llada_num_transfer_tokens(mask_num, steps):
    """LLaDA@b7e6c35:generate.py:get_num_transfer_tokens for a batch.

    mask_num: list[int] (one per row).  Row i: base = m // steps, the first
    (m % steps) steps get base+1, the rest base."""
    out = []
    for m in mask_num:
        base, rem = divmod(m, steps)
        out.append([base + 1 if s < rem else base for s in range(steps)])
    return out


def llada_semi_ar_split(gen_length, block_length, steps):
    """LLaDA@b7e6c35:generate.py:generate -- block/step bookkeeping only.

    Returns None when the reference's asserts fire."""
    if gen_length % block_length != 0:
        return None, "gen_length % block_length != 0"
    num_blocks = gen_length // block_length
    if steps % num_blocks != 0:
        return None, "steps % num_blocks != 0"
    spb = steps // num_blocks
    # At the start of each block the whole block is [MASK] (it was never
    # touched before), so every block gets the same schedule.
    per_block = [llada_num_transfer_tokens([block_length], spb)[0] for _ in range(num_blocks)]
    return dict(num_blocks=num_blocks, steps_per_block=spb, per_block_counts=per_block), None


def llada_add_gumbel_noise(logits, u, temperature):
    """LLaDA@b7e6c35:generate.py:add_gumbel_noise with the uniform noise `u`
    (torch.rand_like(logits, float64)) given explicitly.

    temperature == 0 -> logits returned unchanged (no exp!)."""
    if temperature == 0:
        return logits
    logits = logits.to(torch.float64)
    g = (-torch.log(u)) ** temperature
    return logits.exp() / g


def llada_generate_mock(logit_calls, prompt, gen_length, block_length, steps, mask_id,
                        temperature=0.0, remasking="low_confidence", cfg_scale=0.0,
                        gumbel_u=None, random_conf=None, uncond_logit_calls=None):
    """LLaDA@b7e6c35:generate.py:generate with the model replaced by a table of
    logits: call k of the model returns logit_calls[k] (B, L, V) (and, with
    CFG, uncond_logit_calls[k] is the logits of the un-prompted copy).
    gumbel_u[k]: the float64 uniforms of add_gumbel_noise at call k.
    random_conf[k]: the torch.rand((B, L)) of remasking='random' at call k.
    Returns the trajectory of x after each step and per-step diagnostics."""
    B, P = prompt.shape
    x = torch.full((B, P + gen_length), mask_id, dtype=torch.long)
    x[:, :P] = prompt
    prompt_index = x != mask_id
    assert gen_length % block_length == 0
    num_blocks = gen_length // block_length
    assert steps % num_blocks == 0
    spb = steps // num_blocks
    traj, diag = [], []
    call = 0
    for nb in range(num_blocks):
        lo, hi = P + nb * block_length, P + (nb + 1) * block_length
        block_mask_index = x[:, lo:hi] == mask_id
        ntt = llada_num_transfer_tokens(block_mask_index.sum(1).tolist(), spb)
        for i in range(spb):
            mask_index = x == mask_id
            if cfg_scale > 0.0:
                # model input would be cat([x, un_x]) with un_x[prompt_index] = mask_id
                logits_c = logit_calls[call]
                logits_u = uncond_logit_calls[call]
                logits = logits_u + (cfg_scale + 1) * (logits_c - logits_u)
            else:
                logits = logit_calls[call]
            lwn = llada_add_gumbel_noise(logits, gumbel_u[call] if temperature > 0 else None, temperature)
            x0 = torch.argmax(lwn, dim=-1)
            if remasking == "low_confidence":
                p = torch.softmax(logits, dim=-1)
                x0_p = torch.gather(p, -1, x0[..., None]).squeeze(-1)
            elif remasking == "random":
                x0_p = random_conf[call].clone()
            else:
                raise NotImplementedError
            x0_p[:, hi:] = -math.inf
            x0 = torch.where(mask_index, x0, x)
            conf = torch.where(mask_index, x0_p, torch.tensor(-math.inf))
            transfer = torch.zeros_like(x0, dtype=torch.bool)
            selected = []
            for j in range(B):
                k = ntt[j][i]
                _, idx = torch.topk(conf[j], k=k)
                transfer[j, idx] = True
                selected.append(sorted(idx.tolist()))
            x = x.clone()
            x[transfer] = x0[transfer]
            traj.append(x.tolist())
            diag.append(dict(block=nb, step=i, num_transfer=[ntt[j][i] for j in range(B)],
                             x0=x0.tolist(), confidence=conf.tolist(), selected=selected))
            call += 1
    return traj, diag


def llada_ll_forward_process_counts(k, b, target_len):
    """LLaDA@b7e6c35:get_log_likelihood.py:forward_process (deterministic part):
    the number of masked answer tokens per row given the drawn k in [1, target_len].
    torch.linspace runs in float32 (default dtype of the reference), then
    torch.round (round-half-to-even), then ((x-1) % target_len) + 1."""
    v = torch.linspace(float(k), k + (b - 1) * (target_len / b), steps=b, dtype=torch.float32)
    r = torch.round(v).long()
    x = ((r - 1) % target_len) + 1
    return v.tolist(), r.tolist(), x.tolist(), (x.double() / target_len).tolist()


def cross_entropy_rows(logits, targets):
    """F.cross_entropy(..., reduction='none') in float64."""
    return -(torch.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1))


# ============================================================================
# 2. MDLM / BD3 / MD4 schedules and time sampling
# ============================================================================

def mdlm_loglinear(t, eps=1e-3):
    """mdlm@c112c52:noise_schedule.py:LogLinearNoise + diffusion.py:_forward_pass_diffusion."""
    sigma = -torch.log1p(-(1 - eps) * t)
    dsigma = (1 - eps) / (1 - (1 - eps) * t)
    move = 1 - torch.exp(-sigma)
    weight = dsigma / torch.expm1(sigma)
    return sigma, dsigma, move, weight


def mdlm_loglinear_importance(t, eps=1e-3):
    """mdlm@c112c52:noise_schedule.py:LogLinearNoise.importance_sampling_transformation.
    sigma_max = total(1) = -log(eps); sigma_min = eps + total(0) = eps."""
    smax = -math.log1p(-(1 - eps))
    smin = eps + 0.0
    f_T = math.log1p(-math.exp(-smax))
    f_0 = math.log1p(-math.exp(-smin))
    sig = -torch.log1p(-torch.exp(t * f_T + (1 - t) * f_0))
    return -torch.expm1(-sig) / (1 - eps)


def mdlm_sample_t(u, sampling_eps=1e-3, antithetic=True):
    """mdlm@c112c52:diffusion.py:_sample_t (importance_sampling=False).
    u: the n uniforms of torch.rand(n)."""
    n = u.shape[0]
    e = u
    if antithetic:
        e = (u / n + torch.arange(n, dtype=torch.float64) / n) % 1
    return e, (1 - sampling_eps) * e + sampling_eps


def md4_antithetic_t(t0, bs):
    """md4@b9fbf29:md4/models/diffusion/md4.py:MD4.__call__ -- t = mod(t0 + arange(0,1,1/bs), 1)."""
    return (t0 + torch.arange(bs, dtype=torch.float64) / bs) % 1.0


def bd3_sample_t(u, block_size, model_length, eps_min, eps_max, antithetic=True):
    """bd3lms@1c3e8f4:diffusion.py:_sample_t. u: (B, num_blocks) uniforms."""
    B, nb = u.shape
    e = u
    if antithetic:
        off = (torch.arange(B * nb, dtype=torch.float64) / (B * nb)).view(B, nb)
        e = (u / (B * nb) + off) % 1
    t = e
    if block_size != model_length:
        t = t.repeat_interleave(block_size, dim=-1)
    if eps_max >= 1 and eps_min >= 1:
        return torch.ones_like(t)
    return t * (eps_max - eps_min) + eps_min


def bd3_loglinear(t, eps=1e-3):
    """bd3lms@1c3e8f4:noise_schedule.py:LogLinearNoise.compute_loss_scaling_and_move_chance
    + diffusion.py:_sigma_from_p.  sigma_max = -log1p(-(1-eps)) = -log(eps)."""
    loss_scale = -1 / t
    p = t
    sigma_max = -math.log1p(-(1 - eps))
    sigma = torch.minimum(-torch.log(1 - p), torch.tensor(sigma_max))
    dsigma = -loss_scale * torch.expm1(sigma)
    return loss_scale, p, sigma, dsigma


def mdlm_cosine(t, eps=1e-3):
    """mdlm@c112c52:noise_schedule.py:CosineNoise. alpha = exp(-sigma) = eps + (1-eps) cos(pi t/2)."""
    cos = (1 - eps) * torch.cos(t * math.pi / 2)
    sin = (1 - eps) * torch.sin(t * math.pi / 2)
    rate = (math.pi / 2) * sin / (cos + eps)
    total = -torch.log(eps + (1 - eps) * torch.cos(t * math.pi / 2))
    alpha = torch.exp(-total)
    return total, rate, alpha, rate / torch.expm1(total)


def mdlm_cosinesqr(t, eps=1e-3):
    """mdlm@c112c52:noise_schedule.py:CosineSqrNoise."""
    cos = (1 - eps) * torch.cos(t * math.pi / 2) ** 2
    sin = (1 - eps) * torch.sin(t * math.pi)
    rate = (math.pi / 2) * sin / (cos + eps)
    total = -torch.log(eps + (1 - eps) * torch.cos(t * math.pi / 2) ** 2)
    return total, rate, torch.exp(-total), rate / torch.expm1(total)


def mdlm_linear_sigma(t, smin=1e-3, smax=7.0):
    """mdlm@c112c52:noise_schedule.py:Linear (configs/noise/linear.yaml: 1e-3, 7.0):
    sigma linear in t (NOT alpha linear in t)."""
    total = smin + t * (smax - smin)
    rate = torch.full_like(t, smax - smin)
    return total, rate, torch.exp(-total), rate / torch.expm1(total)


def md4_schedule(t, kind, eps=1e-4):
    """md4@b9fbf29:md4/models/diffusion/md4.py:MaskingSchedule.
    alpha = (1-2eps) _alpha(t) + eps; dalpha = (1-2eps) _dalpha(t);
    dgamma_times_alpha = dalpha / (1 - alpha)  (negative)."""
    if kind == "linear":
        a, da = 1 - t, -torch.ones_like(t)
    elif kind == "cosine":
        a = 1 - torch.cos(math.pi / 2 * (1 - t))
        da = -math.pi / 2 * torch.sin(math.pi / 2 * (1 - t))
    else:
        raise ValueError(kind)
    alpha = (1 - 2 * eps) * a + eps
    dalpha = (1 - 2 * eps) * da
    return alpha, dalpha, dalpha / (1 - alpha)


def bd3_cosine(t, eps=1e-3):
    """bd3lms@1c3e8f4:noise_schedule.py:CosineNoise.compute_loss_scaling_and_move_chance."""
    cos = -(1 - eps) * torch.cos(t * math.pi / 2)
    sin = -(1 - eps) * torch.sin(t * math.pi / 2)
    move = cos + 1
    ls = sin / (move + eps) * math.pi / 2
    return ls, move


# ============================================================================
# 3. MDLM / BD3 SUBS parameterisation, losses, samplers
# ============================================================================
NEG_INF = -1000000.0  # mdlm/bd3 self.neg_infinity


def subs_parameterization(logits, xt, mask_index):
    """mdlm@c112c52:diffusion.py:_subs_parameterization (== bd3lms copy)."""
    logits = logits.clone()
    logits[..., mask_index] += NEG_INF
    logits = logits - torch.logsumexp(logits, -1, keepdim=True)
    unm = xt != mask_index
    logits[unm] = NEG_INF
    logits[unm, xt[unm]] = 0.0
    return logits


def sample_categorical(probs, u):
    """catsample.py:sample_categorical / mdlm,bd3 _sample_categorical with the uniforms given:
    argmax(probs / (1e-10 - log(u + 1e-10)))."""
    g = 1e-10 - torch.log(u + 1e-10)
    return torch.argmax(probs / g, dim=-1)


def mdlm_ddpm_cache_probs(p_x0, t, dt, mask_index):
    """mdlm@c112c52:diffusion.py:_ddpm_caching_update: q_xs = p_x0 * (t - s), q_xs[mask] = s
    with move_chance_t = t, move_chance_s = t - dt (t used directly as move chance)."""
    q = p_x0 * (t - (t - dt))
    q[..., mask_index] = t - dt
    return q


def bd3_ddpm_cache_probs(p_x0, t, dt, mask_index):
    """bd3lms@1c3e8f4:diffusion.py:_ddpm_caching_update (first_hitting=False branch),
    loglinear: move_chance = t.  mask_prob = s/t; q = p_x0 (1 - mask_prob); q[mask] = mask_prob."""
    mp = (t - dt) / t
    q = p_x0 * (1 - mp)
    q[..., mask_index] = mp
    return q


# ============================================================================
# 4. SEDD graphs and noises
# ============================================================================

def esigm1(sigma):
    return torch.where(sigma < 0.5, torch.expm1(sigma), torch.exp(sigma) - 1)


def absorbing_score_entropy(log_score, sigma, x, x0):
    """SEDD@0605786:graph_lib.py:Absorbing.score_entropy. dim = tokens+1; mask = dim-1.
    log_score: (N, dim), sigma: (N,), x, x0: (N,)."""
    dim = log_score.shape[-1]
    rel = x == dim - 1
    out = torch.zeros(x.shape)
    ratio = 1 / esigm1(sigma)[rel]
    neg = ratio * log_score[rel].gather(-1, x0[rel][:, None]).squeeze(-1)
    pos = log_score[rel][:, :-1].exp().sum(-1)
    const = ratio * (ratio.log() - 1)
    out[rel] += pos - neg + const
    return out


def uniform_score_entropy(log_score, sigma, x, x0):
    """SEDD@0605786:graph_lib.py:Uniform.score_entropy. dim = tokens."""
    dim = log_score.shape[-1]
    em1 = esigm1(sigma)
    ratio = 1 - dim / (em1 + dim)
    neg = log_score.mean(-1) - log_score.gather(-1, x[:, None]).squeeze(-1) / dim
    neg = torch.where(x == x0, ratio * neg,
                      log_score.gather(-1, x0[:, None]).squeeze(-1) / em1 + neg)
    const = torch.where(x == x0,
                        (dim - 1) / dim * ratio * (ratio.log() - 1),
                        ((-ratio.log() - 1) / ratio - (dim - 2)) / dim)
    sexp = log_score.exp()
    pos = sexp.mean(-1) - sexp.gather(-1, x[:, None]).squeeze(-1) / dim
    return pos - neg + const


def geometric_noise(t, smin, smax):
    """SEDD@0605786:noise_lib.py:GeometricNoise (== mdlm copy)."""
    total = smin ** (1 - t) * smax ** t
    rate = total * (math.log(smax) - math.log(smin))
    return total, rate


def sedd_loglinear(t, eps=1e-3):
    """SEDD@0605786:noise_lib.py:LogLinearNoise."""
    return -torch.log1p(-(1 - eps) * t), (1 - eps) / (1 - (1 - eps) * t)


def one_hot(i, dim):
    return torch.nn.functional.one_hot(i, dim).to(torch.float64)


def absorbing_rate(i, dim):
    return one_hot(torch.full_like(i, dim - 1), dim) - one_hot(i, dim)


def absorbing_transp_rate(i, dim):
    e = -one_hot(i, dim)
    e[i == dim - 1] += 1
    return e


def absorbing_transp_transition(i, sigma, dim):
    """sigma: (N,) one per position."""
    s = sigma[:, None]
    e = torch.exp(-s) * one_hot(i, dim)
    e += torch.where(i == dim - 1, 1 - torch.exp(-sigma), torch.zeros_like(sigma))[:, None]
    return e


def absorbing_staggered_score(score, dsigma):
    """score: (N, dim) true (exp) score; dsigma: (N,)."""
    extra = (1 - dsigma.exp()) * score.sum(-1)
    s = score * dsigma.exp()[:, None]
    s[:, -1] += extra
    return s


def uniform_rate(i, dim):
    e = torch.ones(*i.shape, dim) / dim
    return e.scatter(-1, i[..., None], -(dim - 1) / dim)


def uniform_transition(i, sigma, dim):
    tr = torch.ones(*i.shape, dim) * (1 - torch.exp(-sigma[:, None])) / dim
    tr = tr.scatter(-1, i[..., None], torch.zeros_like(tr))
    tr = tr.scatter(-1, i[..., None], 1 - tr.sum(-1, keepdim=True))
    return tr


def uniform_staggered_score(score, dsigma):
    dim = score.shape[-1]
    ep = torch.exp(-dsigma)[:, None]
    return ((ep - 1) / (dim * ep)) * score.sum(-1, keepdim=True) + score / ep


def reverse_rate(transp_rate_i, i, score):
    """SEDD@0605786:graph_lib.py:Graph.reverse_rate."""
    r = transp_rate_i * score
    r = r.scatter(-1, i[..., None], torch.zeros_like(r))
    r = r.scatter(-1, i[..., None], -r.sum(-1, keepdim=True))
    return r


# ============================================================================
# 5. BD3 mask
# ============================================================================

def bd3_block_diff_mask(n, block_size):
    """bd3lms@1c3e8f4:models/dit.py:block_diff_mask over q_idx, kv_idx in [0, 2n)."""
    q = torch.arange(2 * n)[:, None]
    kv = torch.arange(2 * n)[None, :]
    x0q, x0k = q >= n, kv >= n
    bq = torch.where(x0q, (q - n) // block_size, q // block_size)
    bk = torch.where(x0k, (kv - n) // block_size, kv // block_size)
    bd = (bq == bk) & (x0q == x0k)
    obc = (bq > bk) & x0k & (~x0q)
    bc = (bq >= bk) & x0k & x0q
    return (bd | obc | bc).to(torch.int64)


# ============================================================================
# build the JSON
# ============================================================================

def build():
    out = {}
    out["meta"] = dict(
        generator="crates/stoke-discrete/tests/golden/make_discrete.py",
        torch=torch.__version__,
        numpy=np.__version__,
        seed=20240607,
        reference_commits=COMMITS,
        conventions=("float64 everywhere unless stated; non-finite floats are the strings "
                     "'inf','-inf','nan'; all random inputs are written out; nested lists are row-major"),
    )

    # ---------------- 1a num_transfer_tokens
    cases = []
    for m in [0, 1, 5, 7, 32, 33, 100]:
        for s in [1, 3, 4, 8, 16, 64]:
            cases.append(dict(mask_num=m, steps=s, counts=llada_num_transfer_tokens([m], s)[0]))
    batched = [dict(mask_num=[5, 7, 0, 12], steps=4, counts=llada_num_transfer_tokens([5, 7, 0, 12], 4)),
               dict(mask_num=[33, 32], steps=8, counts=llada_num_transfer_tokens([33, 32], 8))]
    out["llada_num_transfer_tokens"] = dict(
        doc="LLaDA generate.py:get_num_transfer_tokens. counts[s] = m//steps + (1 if s < m%steps else 0); "
            "sum(counts) == mask_num; trailing steps may be 0 when mask_num < steps.",
        cases=cases, batched=batched)

    # ---------------- 1b semi-AR split
    split_cases, invalid = [], []
    for (g, bl, st) in [(128, 128, 128), (128, 32, 128), (128, 32, 64), (64, 16, 8), (12, 4, 9),
                        (10, 4, 8), (128, 32, 6), (8, 8, 3), (256, 8, 256)]:
        res, why = llada_semi_ar_split(g, bl, st)
        if res is None:
            invalid.append(dict(gen_length=g, block_length=bl, steps=st, reason=why))
        else:
            split_cases.append(dict(gen_length=g, block_length=bl, steps=st, **res))
    out["llada_semi_ar"] = dict(
        doc="LLaDA generate.py:generate: num_blocks = gen_length//block_length (assert divisible), "
            "steps_per_block = steps//num_blocks (assert divisible); each block starts fully masked so "
            "per_block_counts[b] = num_transfer_tokens(block_length, steps_per_block).",
        cases=split_cases, invalid=invalid)

    # ---------------- 1c gumbel noise
    gcases = []
    for temp in [0.0, 0.5, 1.0, 2.0]:
        lg = randn(7) * 2
        u = rand(7)
        noisy = llada_add_gumbel_noise(lg, u, temp)
        gcases.append(dict(temperature=temp, logits=lg, u=u, noisy=noisy, argmax=int(torch.argmax(noisy))))
    out["llada_gumbel"] = dict(
        doc="LLaDA add_gumbel_noise with uniforms u given: temperature==0 -> logits unchanged; else "
            "exp(logits) / (-log u)**temperature in float64. argmax over last dim.",
        cases=gcases)

    # ---------------- 1d mocked generate
    B, P, V, mask_id = 2, 3, 8, 7
    gen_length, block_length, steps = 8, 4, 4
    L = P + gen_length
    prompt = randint(0, mask_id, (B, P))
    ncalls = steps
    # mask column lowered by 10 so the mock never predicts mask_id (the algorithm does not forbid it)
    bias = torch.zeros(V)
    bias[mask_id] = -10.0
    logit_calls = [randn(B, L, V) * 2 + bias for _ in range(ncalls)]
    uncond_calls = [randn(B, L, V) * 2 + bias for _ in range(ncalls)]
    gumbel_u = [rand(B, L, V) for _ in range(ncalls)]
    rconf = [rand(B, L) for _ in range(ncalls)]
    variants = []
    for name, kw in [
        ("greedy_low_confidence", dict(temperature=0.0, remasking="low_confidence")),
        ("gumbel_t1_low_confidence", dict(temperature=1.0, remasking="low_confidence", gumbel_u=gumbel_u)),
        ("greedy_random", dict(temperature=0.0, remasking="random", random_conf=rconf)),
        ("cfg1.5_greedy_low_confidence", dict(temperature=0.0, remasking="low_confidence", cfg_scale=1.5,
                                             uncond_logit_calls=uncond_calls)),
    ]:
        traj, diag = llada_generate_mock(logit_calls, prompt, gen_length, block_length, steps, mask_id, **kw)
        v = dict(name=name, temperature=kw.get("temperature"), remasking=kw["remasking"],
                 cfg_scale=kw.get("cfg_scale", 0.0), x_after_step=traj, steps_detail=diag)
        variants.append(v)
    out["llada_generate_mock"] = dict(
        doc=("LLaDA generate() with the model mocked: model call k (k = global step index, one call per step) "
             "returns logits_calls[k] (B,L,V); with CFG the conditional logits are logits_calls[k] and the "
             "unconditional (prompt replaced by mask_id) are uncond_logits_calls[k], combined as "
             "un + (cfg+1)(c - un). gumbel_u[k] (B,L,V) are add_gumbel_noise's uniforms at call k; "
             "random_conf[k] (B,L) is torch.rand for remasking='random'. x starts as [prompt | mask_id*gen_length]. "
             "x_after_step[k] is x after step k; steps_detail[k].confidence is the masked confidence "
             "(-inf outside mask_index and at positions >= end of current block), selected = sorted topk indices."),
        B=B, prompt_len=P, vocab=V, mask_id=mask_id, gen_length=gen_length, block_length=block_length,
        steps=steps, prompt=prompt, logits_calls=logit_calls, uncond_logits_calls=uncond_calls,
        gumbel_u=gumbel_u, random_conf=rconf, variants=variants)

    # ---------------- 1e p_mask (pretraining forward_process)
    ts = torch.tensor([0.0, 1e-3, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999, 1.0])
    out["llada_p_mask"] = dict(doc="LLaDA GUIDELINES.md forward_process: p_mask = (1-eps) t + eps, eps=1e-3; "
                                   "token masked iff rand < p_mask.",
                               eps=1e-3, t=ts, p_mask=(1 - 1e-3) * ts + 1e-3)

    # ---------------- 1f LL forward_process counts
    llc = []
    for (k, b, T) in [(1, 4, 10), (3, 4, 10), (10, 4, 10), (2, 3, 7), (5, 16, 37), (1, 16, 3), (7, 1, 9),
                      (4, 8, 8), (13, 16, 13), (1, 32, 100)]:
        v, r, x, ratio = llada_ll_forward_process_counts(k, b, T)
        llc.append(dict(k=k, batch_size=b, target_len=T, linspace_f32=v, rounded=r, num_masked=x,
                        p_mask=ratio))
    out["llada_ll_forward_process"] = dict(
        doc=("LLaDA get_log_likelihood.py:forward_process deterministic part: k ~ U{1..target_len}; "
             "v = torch.linspace(float(k), k+(b-1)*(target_len/b), steps=b) in FLOAT32; r = round-half-even(v); "
             "num_masked = ((r-1) % target_len)+1; then row i masks a uniformly random subset "
             "(randperm) of exactly num_masked[i] answer tokens; p_mask = num_masked/target_len."),
        cases=llc)

    # ---------------- 1g LLaDA losses
    b, l, V = 3, 6, 5
    ids = randint(0, V - 1, (b, l))
    pmask = torch.tensor([0.2, 0.5, 0.9])
    r = rand(b, l)
    masked = r < pmask[:, None]
    logits = randn(b, l, V)
    ce = cross_entropy_rows(logits, ids)
    tok = torch.where(masked, ce / pmask[:, None], torch.zeros(()))
    pre = tok.sum() / (b * l)
    prompt_len = torch.tensor([2, 1, 3])
    pos = torch.arange(l).expand(b, l)
    pm = pos < prompt_len[:, None]
    masked_sft = masked & ~pm
    ans_len = (l - prompt_len).to(torch.float64)
    tok_sft = torch.where(masked_sft, ce / pmask[:, None] / ans_len[:, None], torch.zeros(()))
    sft = tok_sft.sum() / b
    out["llada_losses"] = dict(
        doc=("pretrain: loss = sum_{masked}(CE/p_mask) / (b*l) (GUIDELINES.md); masked = r < p_mask[row]. "
             "sft: prompt positions never masked (noisy[prompt] = input_ids[prompt]), "
             "loss = sum_{masked}(CE/p_mask/answer_len[row]) / b, answer_len = l - prompt_len (padding EOS "
             "counted as answer)."),
        input_ids=ids, p_mask=pmask, r=r, logits=logits, ce=ce, pretrain_masked=masked.long(),
        pretrain_loss=pre.item(), prompt_lengths=prompt_len, answer_lengths=ans_len, sft_masked=masked_sft.long(),
        sft_loss=sft.item())

    # MC log-likelihood, one mini-batch (get_log_likelihood inner loop body)
    Pl, Al, bmc, Vmc = 2, 5, 4, 6
    seq = randint(0, Vmc - 1, (Pl + Al,))
    kmc = int(randint(1, Al + 1, ()).item())
    _, _, nm, pr = llada_ll_forward_process_counts(kmc, bmc, Al)
    perms = [torch.randperm(Al, generator=GEN) for _ in range(bmc)]
    is_mask = torch.zeros(bmc, Pl + Al, dtype=torch.bool)
    for i in range(bmc):
        row = torch.arange(Al) < nm[i]
        is_mask[i, Pl:] = row[perms[i]]
    lg = randn(bmc, Pl + Al, Vmc)
    cemc = cross_entropy_rows(lg, seq.expand(bmc, -1))
    pm_row = torch.tensor(pr)
    batch_loss = torch.where(is_mask, cemc / pm_row[:, None], torch.zeros(())).sum() / bmc
    out["llada_mc_loglik"] = dict(
        doc=("get_log_likelihood with mc_num == batch_size (one mini-batch): seq = prompt|answer repeated b times; "
             "k drawn; num_masked from forward_process; row i's answer mask = (arange(target_len) < num_masked[i])"
             "[perm_i] (new[j] = old[perm[j]]); prompt never masked; "
             "loss = sum_{masked} CE/p_row / b with p_row = num_masked[i]/target_len; returned "
             "log-likelihood = -mean over mini-batches of loss = -batch_loss here."),
        prompt_len=Pl, answer_len=Al, batch_size=bmc, vocab=Vmc, seq=seq, k=kmc, num_masked=nm, p_row=pr,
        perms=perms, is_mask=is_mask.long(), logits=lg, ce=cemc, batch_loss=batch_loss.item(),
        log_likelihood=-batch_loss.item())

    # ---------------- 2a MDLM loglinear
    tl = torch.tensor([1e-5, 1e-3, 2e-3, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0])
    sig, dsig, mv, w = mdlm_loglinear(tl)
    out["mdlm_loglinear"] = dict(
        doc=("MDLM LogLinearNoise eps=1e-3: sigma=-log1p(-(1-eps)t), dsigma=(1-eps)/(1-(1-eps)t), "
             "move_chance=1-exp(-sigma) (=(1-eps)t), loss_weight=dsigma/expm1(sigma) (loss = -log p * weight). "
             "importance_t = importance_sampling_transformation(t) (unused by default)."),
        eps=1e-3, t=tl, sigma=sig, dsigma=dsig, move_chance=mv, loss_weight=w,
        importance_t=mdlm_loglinear_importance(tl),
        sigma_max=-math.log1p(-(1 - 1e-3)), sigma_min=1e-3)

    # ---------------- 2b antithetic sampling
    st = []
    for n in [1, 4, 7, 16]:
        u = rand(n)
        e, t = mdlm_sample_t(u)
        e2, t2 = mdlm_sample_t(u, antithetic=False)
        u0 = u[0].item()
        ec, tc = mdlm_sample_t(torch.full((n,), u0))
        st.append(dict(n=n, u=u, eps_t=e, t=t, t_no_antithetic=t2, u0=u0, t_from_constant_u0=tc))
    out["mdlm_sample_t"] = dict(
        doc=("MDLM diffusion.py:_sample_t: u = torch.rand(n) (n uniforms, one per row); antithetic: "
             "e = (u/n + arange(n)/n) % 1; t = (1-sampling_eps) e + sampling_eps, sampling_eps=1e-3. "
             "t_from_constant_u0: same with every u_i = u0 (=u[0]) for a single-uniform variant."),
        sampling_eps=1e-3, cases=st)
    md4c = []
    for bs in [1, 4, 5]:
        t0 = rand(1).item()
        md4c.append(dict(bs=bs, t0=t0, t=md4_antithetic_t(t0, bs)))
    out["md4_antithetic_t"] = dict(doc="MD4: t = mod(t0 + arange(0,1,1/bs), 1), single uniform t0.", cases=md4c)

    # ---------------- 2c BD3 t sampling + loglinear
    bc = []
    for (B_, n, bsz, lo, hi) in [(2, 8, 4, 1e-3, 1.0), (2, 8, 8, 1e-3, 1.0), (3, 6, 2, 0.3, 0.8),
                                 (2, 4, 1, 1.0, 1.0), (1, 8, 2, 0.5, 1.0)]:
        nb = n // bsz
        u = rand(B_, nb)
        t = bd3_sample_t(u, bsz, n, lo, hi)
        if t.shape[-1] != n:
            t_tok = t.expand(B_, n)
        else:
            t_tok = t
        bc.append(dict(batch=B_, model_length=n, block_size=bsz, eps_min=lo, eps_max=hi, u=u,
                       t_shape=list(t.shape), t_per_token=t_tok))
    tt = torch.tensor([1e-3, 0.01, 0.1, 0.5, 0.9, 0.999, 1.0])
    ls, p, s, ds = bd3_loglinear(tt)
    out["bd3_sample_t"] = dict(
        doc=("BD3 diffusion.py:_sample_t: u (B, n/block_size) uniforms; antithetic over B*nb: "
             "e = (u/(B*nb) + arange(B*nb).view(B,nb)/(B*nb)) % 1; repeat_interleave(block_size) unless "
             "block_size == model_length (then t has shape (B,1): t_shape); if eps_min>=1 and eps_max>=1: "
             "t = 1; else t = e*(eps_max-eps_min)+eps_min."),
        cases=bc)
    out["bd3_loglinear"] = dict(
        doc=("BD3 LogLinearNoise: loss_scale = -1/t, move_chance p = t; sigma = min(-log(1-p), sigma_max) "
             "with sigma_max = -log1p(-(1-eps)) = -log(eps); dsigma (sedd) = -loss_scale*expm1(sigma). "
             "loss = loss_scale * log p_theta(x0)."),
        eps=1e-3, t=tt, loss_scale=ls, move_chance=p, sigma=s, dsigma=ds)

    # ---------------- 2d other schedules
    tsch = torch.tensor([1e-3, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999, 1.0])
    sch = {}
    a, b_, c, d = mdlm_cosine(tsch)
    sch["mdlm_cosine"] = dict(eps=1e-3, sigma=a, dsigma=b_, alpha=c, loss_weight=d)
    a, b_, c, d = mdlm_cosinesqr(tsch)
    sch["mdlm_cosinesqr"] = dict(eps=1e-3, sigma=a, dsigma=b_, alpha=c, loss_weight=d)
    a, b_, c, d = mdlm_linear_sigma(tsch)
    sch["mdlm_linear_sigma"] = dict(sigma_min=1e-3, sigma_max=7.0, sigma=a, dsigma=b_, alpha=c, loss_weight=d)
    for kind in ["linear", "cosine"]:
        al, dal, w = md4_schedule(tsch, kind)
        sch["md4_" + kind] = dict(eps=1e-4, alpha=al, dalpha=dal, dgamma_times_alpha=w,
                                  positive_weight=-w)
    ls, mv = bd3_cosine(tsch)
    sch["bd3_cosine"] = dict(eps=1e-3, loss_scale=ls, move_chance=mv)
    sch["alpha_linear_eps0"] = dict(alpha=1 - tsch, dalpha=-torch.ones_like(tsch), weight=1 / tsch)
    out["schedules"] = dict(
        doc=("alpha(t) = prob. a token is still clean. Weight -alpha'/(1-alpha) = dsigma/expm1(sigma) "
             "when alpha = exp(-sigma). mdlm_cosine: alpha=eps+(1-eps)cos(pi t/2); mdlm_cosinesqr: "
             "alpha=eps+(1-eps)cos^2(pi t/2); mdlm_linear_sigma: sigma=smin+t(smax-smin) (config 1e-3,7); "
             "md4_*: alpha=(1-2eps)a(t)+eps, a=1-t or 1-cos(pi/2 (1-t)), dgamma_times_alpha=alpha'/(1-alpha) "
             "(negative; positive_weight = its negation); bd3_cosine: move=1-(1-eps)cos(pi t/2), "
             "loss_scale=-(1-eps)sin(pi t/2)/(move+eps)*pi/2; alpha_linear_eps0: alpha=1-t, weight 1/t."),
        t=tsch, **sch)

    # ---------------- 3a SUBS parameterisation + MDLM loss
    B_, L_, V_ = 2, 6, 6  # vocab includes mask at index 5
    mask_index = V_ - 1
    x0 = randint(0, V_ - 1, (B_, L_))
    u = rand(B_)
    _, t = mdlm_sample_t(u)
    sig, dsig, mv, w = mdlm_loglinear(t)
    r = rand(B_, L_)
    xt = torch.where(r < mv[:, None], torch.tensor(mask_index), x0)
    raw = randn(B_, L_, V_) * 2
    lp = subs_parameterization(raw, xt, mask_index)
    logp_x0 = lp.gather(-1, x0[..., None]).squeeze(-1)
    loss_tok = -logp_x0 * w[:, None]
    attn = torch.ones(B_, L_)
    attn[1, -1] = 0.0
    token_nll = (loss_tok * attn).sum() / attn.sum()
    out["mdlm_subs_loss"] = dict(
        doc=("MDLM continuous-time SUBS loss with mocked backbone: t from _sample_t(u) (antithetic, eps 1e-3); "
             "move_chance = 1-exp(-sigma(t)); xt = mask where r < move_chance; log_probs = "
             "_subs_parameterization(raw_logits, xt) (mask logit += -1e6, log-softmax, unmasked rows -> -1e6 "
             "everywhere except 0 at xt); loss_tok = -log_probs[x0] * dsigma/expm1(sigma); "
             "token_nll = sum(loss_tok*attn)/sum(attn)."),
        mask_index=mask_index, vocab_size=V_, x0=x0, u=u, t=t, sigma=sig, dsigma=dsig, move_chance=mv,
        r=r, xt=xt, raw_logits=raw, log_probs=lp, loss_tok=loss_tok, attention_mask=attn,
        token_nll=token_nll.item(), bpd=(token_nll / math.log(2)).item(), ppl=math.exp(token_nll.item()))

    # ---------------- 3b BD3 loss (mocked)
    B_, n, bsz = 2, 8, 4
    x0 = randint(0, V_ - 1, (B_, n))
    u = rand(B_, n // bsz)
    t = bd3_sample_t(u, bsz, n, 1e-3, 1.0)
    ls, p, sigma, ds = bd3_loglinear(t)
    r = rand(B_, n)
    xt = torch.where(r <= p, torch.tensor(mask_index), x0)
    xt[:, 0] = x0[:, 0]  # ignore_bos
    raw = randn(B_, n, V_) * 2
    lp = subs_parameterization(raw, xt, mask_index)
    logp_x0 = lp.gather(-1, x0[..., None]).squeeze(-1)
    loss = ls * logp_x0
    attn = torch.ones(B_, n)
    attn_eval = attn.clone()
    attn_eval[:, 0] = 0
    out["bd3_loss"] = dict(
        doc=("BD3 _forward_pass_diffusion + _loss with mocked backbone (model sees cat(xt, x0), outputs logits "
             "for the first n positions = raw_logits): t from bd3 _sample_t(u, block 4, eps 1e-3..1), "
             "loss_scale=-1/t, p=t, xt = mask where r <= p (note <=), then xt[:,0]=x0[:,0] (ignore_bos); "
             "loss = loss_scale * log_probs[x0]; eval masks position 0 (attention_mask[:,0]=0); "
             "token_nll = sum(loss*mask)/sum(mask)."),
        mask_index=mask_index, block_size=bsz, x0=x0, u=u, t=t, r=r, xt=xt, raw_logits=raw, log_probs=lp,
        loss=loss, token_nll_train=((loss * attn).sum() / attn.sum()).item(),
        token_nll_eval=((loss * attn_eval).sum() / attn_eval.sum()).item())

    # ---------------- 3c MDLM / BD3 sampler probabilities + categorical sampler
    N = 3
    xt_s = torch.tensor([mask_index, 2, mask_index])
    raw = randn(N, V_)
    p_x0 = subs_parameterization(raw[None], xt_s[None], mask_index)[0].exp()
    t_, dt_ = 0.75, 0.25
    q_mdlm = mdlm_ddpm_cache_probs(p_x0.clone(), t_, dt_, mask_index)
    q_bd3 = bd3_ddpm_cache_probs(p_x0.clone(), t_, dt_, mask_index)
    uu = rand(N, V_)
    s_mdlm = sample_categorical(q_mdlm, uu)
    s_bd3 = sample_categorical(q_bd3, uu)
    copy = xt_s != mask_index
    out["masked_sampler_step"] = dict(
        doc=("MDLM _ddpm_caching_update: q = p_x0*(t-s), q[mask]=s (s=t-dt, loglinear: t used directly as "
             "move chance); BD3 (first_hitting=False): mask_prob=s/t, q = p_x0*(1-mask_prob), q[mask]=mask_prob. "
             "sample = argmax(q / (1e-10 - log(u+1e-10))); then unmasked positions are copied from x."),
        mask_index=mask_index, t=t_, dt=dt_, xt=xt_s, raw_logits=raw, p_x0=p_x0, q_mdlm=q_mdlm, q_bd3=q_bd3,
        u=uu, sample_mdlm=s_mdlm, sample_bd3=s_bd3,
        x_next_mdlm=torch.where(copy, xt_s, s_mdlm), x_next_bd3=torch.where(copy, xt_s, s_bd3))

    # ---------------- 4a SEDD noises
    tn = torch.tensor([0.0, 1e-5, 1e-3, 0.1, 0.5, 0.9, 1.0])
    g1 = geometric_noise(tn, 1e-3, 1.0)
    g2 = geometric_noise(tn, 1e-4, 20.0)
    ll = sedd_loglinear(tn)
    out["sedd_noise"] = dict(
        doc=("GeometricNoise: total = smin^(1-t) smax^t, rate = total*(log smax - log smin). Class default "
             "(smin,smax)=(1e-3,1); configs/config.yaml has sigma_min 1e-4, sigma_max 20 (used only if "
             "noise.type=geometric; default type is loglinear). LogLinearNoise eps=1e-3 as MDLM."),
        t=tn, geometric_default=dict(sigma_min=1e-3, sigma_max=1.0, total=g1[0], rate=g1[1]),
        geometric_config=dict(sigma_min=1e-4, sigma_max=20.0, total=g2[0], rate=g2[1]),
        loglinear=dict(eps=1e-3, total=ll[0], rate=ll[1]))

    # ---------------- 4b score entropy
    tokens = 5
    dimA = tokens + 1
    M = dimA - 1
    xA = torch.tensor([M, M, M, 2, M, 0, M])
    x0A = torch.tensor([0, 3, 4, 2, 1, 0, 2])
    sigA = torch.tensor([0.1, 0.49, 0.5, 1.0, 2.5, 0.3, 6.9])
    lsA = randn(len(xA), dimA)
    lsA.scatter_(-1, xA[:, None], 0.0)  # SEDD network sets log_score[x] = 0
    seA = absorbing_score_entropy(lsA, sigA, xA, x0A)
    dimU = tokens
    xU = torch.tensor([0, 1, 2, 3, 4, 1, 2])
    x0U = torch.tensor([0, 1, 4, 0, 4, 3, 2])
    sigU = torch.tensor([0.1, 0.49, 0.5, 1.0, 2.5, 0.05, 6.0])
    lsU = randn(len(xU), dimU)
    lsU.scatter_(-1, xU[:, None], 0.0)
    seU = uniform_score_entropy(lsU, sigU, xU, x0U)
    lsU2 = randn(3, dimU)  # log_score[x] NOT zeroed
    xU2, x0U2, sigU2 = torch.tensor([1, 2, 0]), torch.tensor([1, 0, 3]), torch.tensor([0.2, 0.7, 1.5])
    seU2 = uniform_score_entropy(lsU2, sigU2, xU2, x0U2)
    lsA2 = randn(2, dimA)  # not zeroed
    xA2, x0A2, sigA2 = torch.tensor([M, M]), torch.tensor([1, 4]), torch.tensor([0.2, 3.0])
    seA2 = absorbing_score_entropy(lsA2, sigA2, xA2, x0A2)
    out["sedd_score_entropy"] = dict(
        doc=("graph_lib score_entropy(score=LOG score, sigma, x, x0), per position. esigm1 = expm1(sigma) if "
             "sigma<0.5 else exp(sigma)-1. Absorbing (dim=tokens+1, mask=dim-1): 0 where x!=mask; else "
             "sum_{j<dim-1} exp(ls_j) - ls[x0]/esigm1 + r(log r - 1), r=1/esigm1. Uniform (dim=tokens): "
             "r = 1 - dim/(esigm1+dim); see NOTES.md. Cases with log_score_x_zeroed=true mimic the network "
             "(log score at the input token = 0). SEDD loss per sequence = sum_pos dsigma * entropy."),
        absorbing=[dict(tokens=tokens, dim=dimA, log_score_x_zeroed=True, log_score=lsA, sigma=sigA, x=xA,
                        x0=x0A, entropy=seA),
                   dict(tokens=tokens, dim=dimA, log_score_x_zeroed=False, log_score=lsA2, sigma=sigA2, x=xA2,
                        x0=x0A2, entropy=seA2)],
        uniform=[dict(tokens=tokens, dim=dimU, log_score_x_zeroed=True, log_score=lsU, sigma=sigU, x=xU,
                      x0=x0U, entropy=seU),
                 dict(tokens=tokens, dim=dimU, log_score_x_zeroed=False, log_score=lsU2, sigma=sigU2, x=xU2,
                      x0=x0U2, entropy=seU2)])

    # SEDD loss end-to-end (absorbing, loglinear), mocked log score
    Bs, Ls = 2, 5
    x0s = randint(0, tokens, (Bs, Ls))
    us = rand(Bs)
    ts_ = (1 - 1e-3) * us + 1e-3
    sg, dsg = sedd_loglinear(ts_)
    rs = rand(Bs, Ls)
    xts = torch.where(rs < (1 - torch.exp(-sg))[:, None], torch.tensor(M), x0s)
    lss = randn(Bs, Ls, dimA)
    lss.scatter_(-1, xts[..., None], 0.0)
    ent = absorbing_score_entropy(lss.view(-1, dimA), sg[:, None].expand(Bs, Ls).reshape(-1),
                                  xts.view(-1), x0s.view(-1)).view(Bs, Ls)
    out["sedd_loss_absorbing"] = dict(
        doc=("SEDD losses.py loss_fn (absorbing, loglinear eps 1e-3, sampling_eps 1e-3, no antithetic): "
             "t = (1-1e-3) u + 1e-3; sigma,dsigma = noise(t); xt = mask where r < 1-exp(-sigma); "
             "entropy = score_entropy(log_score, sigma, xt, x0); loss[b] = sum_l dsigma[b]*entropy[b,l]; "
             "training objective = mean_b loss[b]."),
        tokens=tokens, x0=x0s, u=us, t=ts_, sigma=sg, dsigma=dsg, r=rs, xt=xts, log_score=lss, entropy=ent,
        loss=(dsg[:, None] * ent).sum(-1))

    # ---------------- 4c graph operators / samplers
    iA = torch.tensor([M, 1, M, 4])
    sc_log = randn(4, dimA)
    sc_log.scatter_(-1, iA[:, None], 0.0)
    score = sc_log.exp()
    dsg = torch.tensor([0.05, 0.3, 0.7, 0.2])
    step_size, dsigma_rate = 0.1, 2.0
    trA = absorbing_transp_rate(iA, dimA)
    rrA = reverse_rate(trA, iA, score)
    euler_A = one_hot(iA, dimA) + step_size * dsigma_rate * rrA
    stagA = absorbing_staggered_score(score, dsg)
    ttA = absorbing_transp_transition(iA, dsg, dimA)
    analyticA = stagA * ttA
    denA = (absorbing_staggered_score(score, dsg) * absorbing_transp_transition(iA, dsg, dimA))[:, :-1]
    uA = rand(4, dimA)
    iU = torch.tensor([0, 3, 2, 4])
    scU = randn(4, dimU)
    scU.scatter_(-1, iU[:, None], 0.0)
    scoreU = scU.exp()
    trU = uniform_rate(iU, dimU)
    rrU = reverse_rate(trU, iU, scoreU)
    euler_U = one_hot(iU, dimU) + step_size * dsigma_rate * rrU
    stagU = uniform_staggered_score(scoreU, dsg)
    ttU = uniform_transition(iU, dsg, dimU)
    out["sedd_graph_ops"] = dict(
        doc=("SEDD graph_lib operators; score = exp(log_score) (sampling score), one row per position. "
             "reverse_rate = transp_rate(i)*score with entry i replaced by -(sum of the others); "
             "euler_probs = one_hot(i) + step_size*dsigma*reverse_rate (EulerPredictor, with dsigma = "
             "noise rate at t), sampled with sample_categorical (unnormalised). analytic_probs = "
             "staggered_score(score, dsig) * transp_transition(i, dsig) with dsig = total(t) - total(t-dt). "
             "denoiser_probs: same with dsig := sigma(t) and (absorbing) the last column dropped. "
             "sample_* = argmax(probs/(1e-10-log(u+1e-10))) with given u."),
        step_size=step_size, dsigma_rate=dsigma_rate, dsig=dsg,
        absorbing=dict(dim=dimA, i=iA, log_score=sc_log, rate=absorbing_rate(iA, dimA), transp_rate=trA,
                       reverse_rate=rrA, euler_probs=euler_A, staggered_score=stagA, transp_transition=ttA,
                       analytic_probs=analyticA, denoiser_probs=denA, u=uA,
                       sample_analytic=sample_categorical(analyticA, uA),
                       sample_euler=sample_categorical(euler_A, uA),
                       sample_denoiser=sample_categorical(denA, uA[:, :-1])),
        uniform=dict(dim=dimU, i=iU, log_score=scU, rate=trU, transp_rate=trU, reverse_rate=rrU,
                     euler_probs=euler_U, staggered_score=stagU, transition=ttU, analytic_probs=stagU * ttU))

    # SEDD model output transform (absorbing, scale_by_sigma)
    logits = randn(2, dimA)
    sgm = torch.tensor([0.3, 2.0])
    idx = torch.tensor([M, 3])
    o = logits - esigm1(sgm).log()[:, None] - math.log(dimA - 1)
    o = o.scatter(-1, idx[:, None], 0.0)
    out["sedd_output_transform"] = dict(
        doc=("SEDD model/transformer.py SEDD.forward (scale_by_sigma, absorbing) and MDLM _sedd_parameterization: "
             "log_score = logits - log(esigm1(sigma)) - log(dim-1), then log_score[x] = 0."),
        dim=dimA, logits=logits, sigma=sgm, x=idx, log_score=o)

    # ---------------- 5 BD3 mask
    masks = []
    for n in [4, 6, 8]:
        for bs in [d for d in range(1, n + 1) if n % d == 0]:
            m = bd3_block_diff_mask(n, bs)
            masks.append(dict(n=n, block_size=bs, mask=m, sampling_mask=m[n:, n:]))
    out["bd3_mask"] = dict(
        doc=("BD3 models/dit.py:block_diff_mask over the concatenation [x_t (positions 0..n-1) ; x_0 (n..2n-1)], "
             "shape (2n,2n), mask[q][kv]=1 means query q may attend key kv (row = query; SDPA boolean "
             "attn_mask, True = attend). = block-diagonal (same block, same half) | offset block-causal "
             "(q in x_t, kv in x_0, block(q) > block(kv)) | block-causal (both x_0, block(q) >= block(kv)). "
             "sampling_mask = mask[n:, n:] (the x_0 block-causal part; the sampler slices "
             "mask[n:n+len, n:n+len] for the current accumulated length)."),
        cases=masks)
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "discrete.json")
    data = J(build())
    with open(path, "w") as f:
        json.dump(data, f, allow_nan=False, separators=(",", ":"))
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
