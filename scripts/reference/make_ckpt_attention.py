"""Reference for nn/ldm-attention.ts: openaimodel's AttentionBlock with QKVAttentionLegacy, written here
from the paper's code structure (GroupNorm32 → conv1d qkv → per-head [q, k, v] split → scaled dot product
with (C/heads)^-1/4 on q and k → conv1d proj_out → + x), run in torch 1.13 on fixed random weights.

    /usr/bin/python3 scripts/reference/make_ckpt_attention.py test/fixtures/ckpt

Writes attention-legacy.ckpt (a state dict under model.diffusion_model.middle_block.1.*, as the unconditional
LDMs name it, plus the input x and the output y) for test/engine/families/ldm-attention.test.ts.
"""
import collections
import math
import os
import sys

import torch

out = sys.argv[1] if len(sys.argv) > 1 else 'test/fixtures/ckpt'
torch.manual_seed(18)
B, C, H, W, HEADS = 2, 64, 4, 3, 2

norm = torch.nn.GroupNorm(32, C, eps=1e-5)
qkv = torch.nn.Conv1d(C, 3 * C, 1)
proj = torch.nn.Conv1d(C, C, 1)
with torch.no_grad():
    for p in [norm.weight, norm.bias, proj.weight, proj.bias]:
        p.copy_(torch.randn_like(p) * 0.3 + (1 if p is norm.weight else 0))


def legacy_attention(qkv_out, n_heads):
    bs, width, length = qkv_out.shape
    ch = width // (3 * n_heads)
    q, k, v = qkv_out.reshape(bs * n_heads, ch * 3, length).split(ch, dim=1)
    scale = 1 / math.sqrt(math.sqrt(ch))
    weight = torch.einsum('bct,bcs->bts', q * scale, k * scale)
    weight = torch.softmax(weight.float(), dim=-1)
    a = torch.einsum('bts,bcs->bct', weight, v)
    return a.reshape(bs, -1, length)


x = torch.randn(B, C, H, W)
with torch.no_grad():
    flat = x.reshape(B, C, -1)
    h = legacy_attention(qkv(norm(flat)), HEADS)
    y = (flat + proj(h)).reshape(B, C, H, W)

p = 'model.diffusion_model.middle_block.1.'
sd = collections.OrderedDict()
sd[p + 'norm.weight'] = norm.weight.detach()
sd[p + 'norm.bias'] = norm.bias.detach()
sd[p + 'qkv.weight'] = qkv.weight.detach()
sd[p + 'qkv.bias'] = qkv.bias.detach()
sd[p + 'proj_out.weight'] = proj.weight.detach()
sd[p + 'proj_out.bias'] = proj.bias.detach()
sd['x'] = x
sd['y'] = y
torch.save({'state_dict': sd, 'heads': HEADS}, os.path.join(out, 'attention-legacy.ckpt'))
print('y[0,0,0,:]', y[0, 0, 0, :].tolist())
