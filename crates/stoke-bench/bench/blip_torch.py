"""PyTorch twin of Stoke's BLIP benchmark: the same model and step as stoke-contrastive's
`Blip` (BLIP, Li et al. 2022, as in the LAVIS/BLIP code's blip_pretrain.py, at toy size).

Model: a ViT (patch 4 of 16x16 RGB, width 64, 2 pre-norm blocks of 4 heads, class token,
final LayerNorm) and a MED (token and position embeddings, per block: an encoder
self-attention and a decoder (causal) self-attention each with its pre-norm, a
cross-attention to the image tokens, a GELU MLP of ratio 4; final LayerNorm; LM head),
projections to a 64-wide ITC space, an ITM head, a momentum copy of the unimodal encoders
and queues of 512.

--what step: one pre-training step at batch 64: ITC with momentum soft targets (alpha 0.4)
against the batch's momentum features and the queues, ITM on the pairs and one hard
negative per image and per text drawn from softmax of the ITC similarities (the positive
excluded), LM from [DEC] with label smoothing 0.1, AdamW (weight decay 0.05), then the EMA
(0.995) and the enqueue. Prints steps per second.
--what caption: greedy (--beams 1) or beam search (--beams 3) of 64 images, the prompt of 3
tokens, every row decoded to 12 tokens (end of text forbidden), the prefix recomputed each
token. Prints generated tokens per second.
"""

import argparse
import copy
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, CONTEXT, LENGTH, D, HEADS, LAYERS, EMBED, QUEUE = 40, 12, 10, 64, 4, 2, 64, 512
ENC, DEC, EOS = VOCAB, VOCAB + 1, 2


def attend(q, k, v, heads, causal=False):
    b, s, d = q.shape
    split = lambda x: x.view(b, x.shape[1], heads, d // heads).transpose(1, 2)
    a = F.scaled_dot_product_attention(split(q), split(k), split(v), is_causal=causal)
    return a.transpose(1, 2).reshape(b, s, d)


class SelfAttention(nn.Module):
    def __init__(self, causal=False):
        super().__init__()
        self.qkv, self.out, self.causal = nn.Linear(D, 3 * D), nn.Linear(D, D), causal

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.out(attend(q, k, v, HEADS, self.causal))


class CrossAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.query, self.key_value, self.out = nn.Linear(D, D), nn.Linear(D, 2 * D), nn.Linear(D, D)

    def forward(self, x, memory):
        k, v = self.key_value(memory).chunk(2, dim=-1)
        return self.out(attend(self.query(x), k, v, HEADS))


class VitBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm_1, self.norm_2, self.attention = nn.LayerNorm(D), nn.LayerNorm(D), SelfAttention()
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def forward(self, x):
        x = x + self.attention(self.norm_1(x))
        return x + self.mlp(self.norm_2(x))


class Vit(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(3 * 16, D)
        self.positions = nn.Parameter(torch.randn(1, 16, D) * 0.02)
        self.cls = nn.Parameter(torch.zeros(1, 1, D))
        self.blocks = nn.ModuleList(VitBlock() for _ in range(LAYERS))
        self.norm = nn.LayerNorm(D)

    def forward(self, images):
        b = images.shape[0]
        patches = images.unfold(2, 4, 4).unfold(3, 4, 4).permute(0, 2, 3, 1, 4, 5).reshape(b, 16, 48)
        x = torch.cat([self.cls.expand(b, 1, D), self.embed(patches) + self.positions], 1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class MedLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder_attention, self.encoder_norm = SelfAttention(), nn.LayerNorm(D)
        self.decoder_attention, self.decoder_norm = SelfAttention(causal=True), nn.LayerNorm(D)
        self.cross, self.cross_norm = CrossAttention(), nn.LayerNorm(D)
        self.mlp, self.mlp_norm = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D)), nn.LayerNorm(D)

    def forward(self, x, mode, memory):
        if mode == "decoder":
            x = x + self.decoder_attention(self.decoder_norm(x))
        else:
            x = x + self.encoder_attention(self.encoder_norm(x))
        if memory is not None:
            x = x + self.cross(self.cross_norm(x), memory)
        return x + self.mlp(self.mlp_norm(x))


class Med(nn.Module):
    def __init__(self):
        super().__init__()
        self.tokens = nn.Embedding(VOCAB + 2, D)
        self.positions = nn.Parameter(torch.randn(1, CONTEXT, D) * 0.01)
        self.layers = nn.ModuleList(MedLayer() for _ in range(LAYERS))
        self.norm, self.lm_head = nn.LayerNorm(D), nn.Linear(D, VOCAB + 2)

    def forward(self, ids, mode, memory=None):
        x = self.tokens(ids) + self.positions[:, : ids.shape[1]]
        for layer in self.layers:
            x = layer(x, mode, memory)
        return self.norm(x)


class Unimodal(nn.Module):
    def __init__(self):
        super().__init__()
        self.vit, self.med = Vit(), Med()
        self.vision_proj, self.text_proj = nn.Linear(D, EMBED), nn.Linear(D, EMBED)

    def image(self, images):
        tokens = self.vit(images)
        return tokens, F.normalize(self.vision_proj(tokens[:, 0]), dim=-1)

    def text(self, ids):
        return F.normalize(self.text_proj(self.med(ids, "text")[:, 0]), dim=-1)


class Blip(nn.Module):
    def __init__(self):
        super().__init__()
        self.online = Unimodal()
        self.momentum = copy.deepcopy(self.online).requires_grad_(False)
        self.itm_head = nn.Linear(D, 2)
        self.temp = nn.Parameter(torch.tensor(0.07))
        self.register_buffer("image_queue", F.normalize(torch.randn(QUEUE, EMBED), dim=-1))
        self.register_buffer("text_queue", F.normalize(torch.randn(QUEUE, EMBED), dim=-1))

    def loss(self, images, ids, alpha=0.4):
        b = images.shape[0]
        tokens, image_feat = self.online.image(images)
        text_feat = self.online.text(ids)
        with torch.no_grad():
            self.temp.clamp_(0.001, 0.5)
            _, image_feat_m = self.momentum.image(images)
            text_feat_m = self.momentum.text(ids)
            image_all = torch.cat([image_feat_m, self.image_queue])
            text_all = torch.cat([text_feat_m, self.text_queue])
            targets = torch.zeros(b, b + QUEUE)
            targets[:, :b] = torch.eye(b)
            i2t_targets = alpha * F.softmax(image_feat_m @ text_all.T / self.temp, 1) + (1 - alpha) * targets
            t2i_targets = alpha * F.softmax(text_feat_m @ image_all.T / self.temp, 1) + (1 - alpha) * targets
        sim_i2t = image_feat @ text_all.T / self.temp
        sim_t2i = text_feat @ image_all.T / self.temp
        itc = (-(F.log_softmax(sim_i2t, 1) * i2t_targets).sum(1).mean()
               - (F.log_softmax(sim_t2i, 1) * t2i_targets).sum(1).mean()) / 2
        with torch.no_grad():
            w_i2t = F.softmax(sim_i2t[:, :b], 1) + 1e-4
            w_i2t.fill_diagonal_(0)
            w_t2i = F.softmax(sim_t2i[:, :b], 1) + 1e-4
            w_t2i.fill_diagonal_(0)
            negative_text = torch.multinomial(w_i2t, 1).squeeze(1)
            negative_image = torch.multinomial(w_t2i, 1).squeeze(1)
        enc = ids.clone()
        enc[:, 0] = ENC
        texts = torch.cat([enc, enc, enc[negative_text]])
        memory = torch.cat([tokens, tokens[negative_image], tokens])
        itm_logits = self.itm_head(self.online.med(texts, "grounded", memory)[:, 0])
        labels = torch.cat([torch.ones(b), torch.zeros(2 * b)]).long()
        itm = F.cross_entropy(itm_logits, labels)
        dec = ids.clone()
        dec[:, 0] = DEC
        logits = self.online.med.lm_head(self.online.med(dec, "decoder", tokens))
        target = dec[:, 1:].masked_fill(dec[:, 1:] == 0, -100)
        lm = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB + 2), target.reshape(-1),
                             ignore_index=-100, label_smoothing=0.1)
        return itc + itm + lm, image_feat_m, text_feat_m

    @torch.no_grad()
    def after_step(self, image_feat_m, text_feat_m, m=0.995):
        for p_m, p in zip(self.momentum.parameters(), self.online.parameters()):
            p_m.mul_(m).add_(p.detach(), alpha=1 - m)
        b = image_feat_m.shape[0]
        self.image_queue = torch.cat([image_feat_m, self.image_queue[: QUEUE - b]])
        self.text_queue = torch.cat([text_feat_m, self.text_queue[: QUEUE - b]])

    @torch.no_grad()
    def next_log_probs(self, memory, rows):
        h = self.online.med(rows, "decoder", memory)
        return F.log_softmax(self.online.med.lm_head(h[:, -1]), -1)


def rows(batch):
    ids = torch.zeros(batch, CONTEXT, dtype=torch.long)
    for b in range(batch):
        ids[b, 0] = 1
        for j in range(LENGTH - 2):
            ids[b, 1 + j] = 5 + (b * 7 + j * 3) % (VOCAB - 5)
        ids[b, LENGTH - 1] = EOS
    return ids


@torch.no_grad()
def caption(model, images, beams):
    n = images.shape[0]
    tokens, _ = model.online.image(images)
    start = torch.tensor([DEC, 5, 6, 7]).repeat(n * beams, 1)
    memory = tokens.repeat_interleave(beams, 0)
    scores = torch.full((n, beams), float("-inf"))
    scores[:, 0] = 0
    seq = start
    while seq.shape[1] < CONTEXT:
        log_p = model.next_log_probs(memory, seq)
        log_p[:, EOS] = float("-inf")
        if beams == 1:
            seq = torch.cat([seq, log_p.argmax(-1, keepdim=True)], 1)
            continue
        total = (scores.view(-1, 1) + log_p).view(n, -1)
        scores, index = total.topk(beams, dim=1)
        beam, token = index // (VOCAB + 2), index % (VOCAB + 2)
        origin = (torch.arange(n).unsqueeze(1) * beams + beam).view(-1)
        seq = torch.cat([seq[origin], token.view(-1, 1)], 1)
    return seq


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--what", choices=["step", "caption"], required=True)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--beams", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Blip()
    images = torch.rand(args.batch, 3, 16, 16)
    if args.what == "step":
        ids = rows(args.batch)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                      lr=1e-4, weight_decay=0.05)

        def step():
            loss, image_feat_m, text_feat_m = model.loss(images, ids)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            model.after_step(image_feat_m, text_feat_m)

        for _ in range(2):
            step()
        started = time.perf_counter()
        for _ in range(args.iters):
            step()
        print(json.dumps({"iters_per_sec": args.iters / (time.perf_counter() - started)}))
    else:
        caption(model, images[:2], args.beams)
        started = time.perf_counter()
        seq = caption(model, images, args.beams)
        seconds = time.perf_counter() - started
        tokens = (seq.shape[1] - 4) * seq.shape[0]
        print(json.dumps({"tokens_per_sec": tokens / seconds}))


if __name__ == "__main__":
    main()
