"""Reference for nn/ldm-bert.ts: the paper's BERTEmbedder transformer (LDM's copy of x-transformers'
TransformerWrapper(Encoder)), re-stated in torch 1.13 module by module with the checkpoint's names:
token_emb, pos_emb.emb, attn_layers.layers.{2i}: [LayerNorm, Attention(to_q, to_k, to_v, to_out)],
attn_layers.layers.{2i+1}: [LayerNorm, FeedForward(net.0.0, GELU, Dropout, net.2)], pre-norm residuals,
final norm, to_logits (unused for embeddings). Small sizes, fixed seed.

    /usr/bin/python3 scripts/reference/make_ckpt_bert.py test/fixtures/ckpt

Writes ldm-bert.ckpt: the state dict under cond_stage_model.transformer.*, token ids `ids` and the
embeddings `z` the transformer returns (return_embeddings=True), for test/engine/families/ldm-bert.test.ts.
"""
import collections
import os
import sys

import torch
from torch import nn

out = sys.argv[1] if len(sys.argv) > 1 else 'test/fixtures/ckpt'
torch.manual_seed(1280)
VOCAB, SEQ, DIM, DEPTH, HEADS, DIM_HEAD = 60, 77, 48, 2, 3, 16


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        inner = HEADS * DIM_HEAD
        self.to_q = nn.Linear(DIM, inner, bias=False)
        self.to_k = nn.Linear(DIM, inner, bias=False)
        self.to_v = nn.Linear(DIM, inner, bias=False)
        self.to_out = nn.Linear(inner, DIM)

    def forward(self, x):
        b, n, _ = x.shape
        split = lambda t: t.reshape(b, n, HEADS, DIM_HEAD).transpose(1, 2)
        q, k, v = split(self.to_q(x)), split(self.to_k(x)), split(self.to_v(x))
        dots = torch.einsum('bhid,bhjd->bhij', q, k) * DIM_HEAD ** -0.5
        o = torch.einsum('bhij,bhjd->bhid', dots.softmax(dim=-1), v)
        return self.to_out(o.transpose(1, 2).reshape(b, n, HEADS * DIM_HEAD))


class FeedForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Sequential(nn.Linear(DIM, 4 * DIM), nn.GELU()), nn.Dropout(0.0), nn.Linear(4 * DIM, DIM))

    def forward(self, x):
        return self.net(x)


class Pos(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(SEQ, DIM)


class Layers(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList()
        for _ in range(DEPTH):
            self.layers.append(nn.ModuleList([nn.LayerNorm(DIM), Attention(), nn.Identity()]))
            self.layers.append(nn.ModuleList([nn.LayerNorm(DIM), FeedForward(), nn.Identity()]))

    def forward(self, x):
        for norm, block, _ in self.layers:
            x = block(norm(x)) + x
        return x


class Wrapper(nn.Module):
    def __init__(self):
        super().__init__()
        self.token_emb = nn.Embedding(VOCAB, DIM)
        self.pos_emb = Pos()
        self.attn_layers = Layers()
        self.norm = nn.LayerNorm(DIM)
        self.to_logits = nn.Linear(DIM, VOCAB)

    def forward(self, ids):
        x = self.token_emb(ids) + self.pos_emb.emb(torch.arange(ids.shape[1]))[None]
        return self.norm(self.attn_layers(x))


m = Wrapper()
with torch.no_grad():
    for name, p in m.named_parameters():
        if 'norm' in name or name.endswith('.0.weight') and p.dim() == 1:
            p.add_(torch.randn_like(p) * 0.2)
ids = torch.randint(0, VOCAB, (2, SEQ))
ids[:, 0] = 1
ids[0, 10:] = 0
with torch.no_grad():
    z = m(ids)
sd = collections.OrderedDict(('cond_stage_model.transformer.' + k, v.detach()) for k, v in m.state_dict().items())
sd['ids'] = ids
sd['z'] = z
torch.save({'state_dict': sd}, os.path.join(out, 'ldm-bert.ckpt'))
print(sorted(k for k in sd if 'layers.0' in k or 'layers.1.' in k))
