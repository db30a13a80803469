// AttentionBlock of ldm/modules/diffusionmodules/openaimodel.py, as the paper's UNets without a
// SpatialTransformer use it (use_spatial_transformer: false: the unconditional CelebA-HQ/FFHQ/LSUN
// models): GroupNorm → qkv (1×1 conv1d, 3·C) → multi-head attention over the pixels → proj_out (1×1,
// zero-init) → + x. The legacy head order (QKVAttentionLegacy): the 3·C qkv channels are split into heads
// first, each head holding [q, k, v] of C/heads channels; q and k are both scaled by (C/heads)^−¼.
import type { Graph, Value } from '../onnx/graph.ts';
import { groupNorm, join, torchDefaultInit } from './layers.ts';

const EPS = 1e-5;

export function legacyAttentionBlock(g: Graph, name: string, x: Value, ch: number, heads: number, groups: number): Value {
  const [b, , hgt, wid] = x.shape as [number, number, number, number];
  const n = hgt * wid;
  const d = ch / heads;
  const h = g.reshape(groupNorm(g, join(name, 'norm'), x, groups, EPS), [b, ch, n]);
  const wqkv = g.param(join(name, 'qkv.weight'), [3 * ch, ch, 1], torchDefaultInit(ch));
  const bqkv = g.param(join(name, 'qkv.bias'), [3 * ch], torchDefaultInit(ch));
  // conv1d with a 1-wide kernel: W [3C, C] · h [B, C, N] + b
  const qkv = g.add(g.matmul(g.reshape(wqkv, [3 * ch, ch]), h), g.reshape(bqkv, [3 * ch, 1])); // [B, 3C, N]
  const perHead = g.reshape(qkv, [b * heads, 3 * d, n]);
  const [q, k, v] = g.split(perHead, 1, [d, d, d]) as [Value, Value, Value];
  const scale = d ** -0.25;
  // weights [B·H, N(query), N(key)] = (q·s)ᵀ (k·s)
  const w = g.softmax(g.matmul(g.transpose(g.mul(q, scale), [0, 2, 1]), g.mul(k, scale)), -1);
  const a = g.reshape(g.matmul(v, g.transpose(w, [0, 2, 1])), [b, ch, n]); // [B·H, d, N] → [B, C, N]
  const wout = g.param(join(name, 'proj_out.weight'), [ch, ch, 1], { kind: 'zeros' });
  const bout = g.param(join(name, 'proj_out.bias'), [ch], { kind: 'zeros' });
  const out = g.add(g.matmul(g.reshape(wout, [ch, ch]), a), g.reshape(bout, [ch, 1]));
  return g.add(x, g.reshape(out, [b, ch, hgt, wid]));
}
