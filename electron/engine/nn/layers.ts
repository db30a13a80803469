// Layers built on the Graph builder. Each layer takes the graph, the checkpoint-style name prefix of its
// parameters (e.g. 'model.diffusion_model.input_blocks.1.0.in_layers.2') and its input values, declares
// its parameters with the reference implementation's initialisation, and returns the output value.
import type { Graph, ParamInit, Value } from '../onnx/graph.ts';
import { ModelInputError } from './config.ts';
import { quantizedConvWeight, quantizedMatMul } from './quantize.ts';

export function join(prefix: string, name: string | number): string {
  return prefix === '' ? String(name) : `${prefix}.${name}`;
}

// PyTorch's default for Linear/Conv weights and biases (kaiming_uniform with a=√5): U(±1/√fan_in).
export function torchDefaultInit(fanIn: number): ParamInit {
  return { kind: 'uniform', bound: 1 / Math.sqrt(fanIn) };
}

// Hooks let adapters (LoRA, textual inversion) change a layer's output by parameter name without the
// models knowing about them: a hook gets the layer's input and output and returns the new output.
export interface LayerHooks {
  linear?(g: Graph, name: string, x: Value, y: Value, inFeatures: number, outFeatures: number): Value;
  conv2d?(g: Graph, name: string, x: Value, y: Value, inChannels: number, outChannels: number, o: Conv2dOptions): Value;
  embedding?(g: Graph, name: string, ids: Value, y: Value, num: number, dim: number): Value;
}

const hooksOf = new WeakMap<Graph, LayerHooks>();

/** Installs hooks for every layer emitted into `g` from now on. */
export function setLayerHooks(g: Graph, hooks: LayerHooks): void {
  hooksOf.set(g, hooks);
}

const ZEROS: ParamInit = { kind: 'zeros' };
const ONES: ParamInit = { kind: 'ones' };

export interface LinearOptions {
  bias?: boolean;
  zeroInit?: boolean;
}

// y = x·Wᵀ + b with W [out, in] as in torch.nn.Linear. Inputs of rank > 2 are flattened to 2-D so the
// product is one Gemm (a simple gradient rule), then reshaped back.
export function linear(g: Graph, name: string, x: Value, inFeatures: number, outFeatures: number, o: LinearOptions = {}): Value {
  const last = x.shape[x.shape.length - 1];
  if (last !== inFeatures) {
    throw new ModelInputError(`${name}: linear layer expects ${inFeatures} input features but got shape [${x.shape.join(', ')}]`);
  }
  const init = o.zeroInit ? ZEROS : torchDefaultInit(inFeatures);
  let product: (x2: Value, b: Value | undefined) => Value;
  if (g.weightQuant?.linears === 'channel') {
    // int8 per output row, dequantised right before the Gemm (nn/quantize.ts)
    const w = quantizedConvWeight(g, join(name, 'weight'), [outFeatures, inFeatures]);
    product = (x2, b) => g.gemm(x2, w, b, { transB: true });
  } else if (g.weightQuant) {
    // weight-only quantised (sampling graphs with a low-memory weight setting): see nn/quantize.ts
    const q = g.weightQuant;
    product = (x2, b) => {
      const y2 = quantizedMatMul(g, join(name, 'weight'), x2, outFeatures, q);
      return b ? g.add(y2, b) : y2;
    };
  } else {
    const w = g.param(join(name, 'weight'), [outFeatures, inFeatures], init);
    product = (x2, b) => g.gemm(x2, w, b, { transB: true });
  }
  const b = o.bias === false ? undefined : g.param(join(name, 'bias'), [outFeatures], init);
  let y: Value;
  if (x.shape.length === 2) y = product(x, b);
  else y = g.reshape(product(g.reshape(x, [-1, inFeatures]), b), [...x.shape.slice(0, -1), outFeatures]);
  const hook = hooksOf.get(g)?.linear;
  return hook ? hook(g, name, x, y, inFeatures, outFeatures) : y;
}

export interface Conv2dOptions {
  kernel: number;
  stride?: number;
  padding?: number | [number, number, number, number]; // ONNX order [top, left, bottom, right]
  bias?: boolean;
  zeroInit?: boolean;
}

export function conv2d(g: Graph, name: string, x: Value, inChannels: number, outChannels: number, o: Conv2dOptions): Value {
  if (x.shape.length !== 4 || x.shape[1] !== inChannels) {
    throw new ModelInputError(`${name}: conv expects NCHW input with ${inChannels} channels but got shape [${x.shape.join(', ')}]`);
  }
  const k = o.kernel;
  const init = o.zeroInit ? ZEROS : torchDefaultInit(inChannels * k * k);
  // weight-only quantised graphs hold the kernel as int8 per output channel (nn/quantize.ts)
  const w = g.weightQuant && g.weightQuant.convs !== false
    ? quantizedConvWeight(g, join(name, 'weight'), [outChannels, inChannels, k, k])
    : g.param(join(name, 'weight'), [outChannels, inChannels, k, k], init);
  const b = o.bias === false ? undefined : g.param(join(name, 'bias'), [outChannels], init);
  const p = o.padding ?? 0;
  const pads = typeof p === 'number' ? [p, p, p, p] : [...p];
  const s = o.stride ?? 1;
  const y = g.conv(x, w, b, { strides: [s, s], pads });
  const hook = hooksOf.get(g)?.conv2d;
  return hook ? hook(g, name, x, y, inChannels, outChannels, o) : y;
}

export function groupNorm(g: Graph, name: string, x: Value, groups: number, eps: number): Value {
  const c = x.shape[1]!;
  if (c % groups !== 0) {
    throw new ModelInputError(`${name}: GroupNorm with ${groups} groups needs a channel count divisible by ${groups}, got ${c}`);
  }
  const gamma = g.param(join(name, 'weight'), [c], ONES);
  const beta = g.param(join(name, 'bias'), [c], ZEROS);
  return g.groupNorm(x, groups, gamma, beta, eps);
}

export function layerNorm(g: Graph, name: string, x: Value, eps: number): Value {
  const d = x.shape[x.shape.length - 1]!;
  const gamma = g.param(join(name, 'weight'), [d], ONES);
  const beta = g.param(join(name, 'bias'), [d], ZEROS);
  return g.layerNorm(x, gamma, beta, eps, -1);
}

// Lookup table rows: weight [num, dim], ids integer of any shape → [...ids.shape, dim].
export function embedding(g: Graph, name: string, ids: Value, num: number, dim: number, init: ParamInit): Value {
  const w = g.param(join(name, 'weight'), [num, dim], init);
  const y = g.gather(w, ids, 0);
  const hook = hooksOf.get(g)?.embedding;
  return hook ? hook(g, name, ids, y, num, dim) : y;
}

// Scaled dot-product attention over tokens: q [B, N, heads·d], k and v [B, M, heads·d] → [B, N, heads·d].
// `mask` (optional) is added to the logits, broadcast to [B, heads, N, M].
export function dotProductAttention(g: Graph, q: Value, k: Value, v: Value, heads: number, mask?: Value): Value {
  const [b, n, inner] = q.shape as [number, number, number];
  const m = k.shape[1]!;
  if (inner % heads !== 0) throw new ModelInputError(`attention: ${inner} channels cannot be split into ${heads} heads`);
  const d = inner / heads;
  if (g.fusedAttention && !mask) return g.multiHeadAttention(q, k, v, heads, d ** -0.5);
  const qh = g.transpose(g.reshape(g.mul(q, d ** -0.5), [b, n, heads, d]), [0, 2, 1, 3]); // [B,h,N,d]
  const kt = g.transpose(g.reshape(k, [b, m, heads, d]), [0, 2, 3, 1]); // [B,h,d,M]
  const vh = g.transpose(g.reshape(v, [b, m, heads, d]), [0, 2, 1, 3]); // [B,h,M,d]
  let logits = g.matmul(qh, kt); // [B,h,N,M]
  if (mask) logits = g.add(logits, mask);
  const out = g.matmul(g.softmax(logits, -1), vh); // [B,h,N,d]
  return g.reshape(g.transpose(out, [0, 2, 1, 3]), [b, n, inner]);
}

export interface CrossAttentionOptions {
  queryDim: number;
  contextDim: number;
  heads: number;
  headDim: number;
}

// ldm.modules.attention.CrossAttention: to_q/to_k/to_v without bias, to_out.0 with bias.
// Self-attention when `context` is omitted.
export function crossAttention(g: Graph, name: string, x: Value, context: Value | undefined, o: CrossAttentionOptions): Value {
  const inner = o.heads * o.headDim;
  const ctx = context ?? x;
  const ctxDim = context ? o.contextDim : o.queryDim;
  const q = linear(g, join(name, 'to_q'), x, o.queryDim, inner, { bias: false });
  const k = linear(g, join(name, 'to_k'), ctx, ctxDim, inner, { bias: false });
  const v = linear(g, join(name, 'to_v'), ctx, ctxDim, inner, { bias: false });
  const h = dotProductAttention(g, q, k, v, o.heads);
  return linear(g, join(name, 'to_out.0'), h, inner, o.queryDim);
}

// GEGLU feed-forward (ldm FeedForward with glu=True): proj Linear(d, 2·4d) → a · gelu(b) → Linear(4d, d).
export function gegluFeedForward(g: Graph, name: string, x: Value, dim: number, mult = 4): Value {
  const inner = dim * mult;
  const proj = linear(g, join(name, 'net.0.proj'), x, dim, inner * 2);
  const [a, gate] = g.split(proj, proj.shape.length - 1, [inner, inner]) as [Value, Value];
  return linear(g, join(name, 'net.2'), g.mul(a, g.gelu(gate)), inner, dim);
}

// Nearest ×2 then conv3×3 (UNet Upsample key `conv`, VAE upsample key `conv`).
export function upsample(g: Graph, name: string, x: Value, channels: number): Value {
  return conv2d(g, join(name, 'conv'), g.resizeNearest(x, 2), channels, channels, { kernel: 3, padding: 1 });
}
