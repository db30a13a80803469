// LoRA (Hu et al. 2021) as kohya-ss/sd-scripts stores it: per adapted layer W (LDM name) a down
// projection [rank, in(, k, k)] and an up projection [out, rank(, 1, 1)] under the kohya module name
// (`lora_unet_` + the diffusers module path with '.' → '_'), plus `alpha`; the layer becomes
// y = W·x + (alpha/rank)·up(down(x)). Training adds the branch through the layer hooks; generation
// merges W += strength·(alpha/rank)·up@down into the weights once.
import type { Graph, Value } from '../onnx/graph.ts';
import type { UNetConfig } from '../nn/config.ts';
import { torchDefaultInit, type Conv2dOptions, type LayerHooks } from '../nn/layers.ts';
import { TEXT_PREFIX } from '../nn/text-encoder.ts';
import { UNET_PREFIX } from '../nn/unet.ts';
import type { TensorData } from '../tensor.ts';

export class LoraError extends Error {
  override name = 'LoraError';
}

/**
 * UNet: attn = attention projections and the transformer's proj_in/proj_out; ff = the GEGLU
 * feed-forward (kohya's Transformer2DModel modules); conv = the ResBlocks' conv1/conv2/conv_shortcut and
 * time_emb_proj, down- and upsampling convs (kohya's LoCon modules: ResnetBlock2D, Downsample2D,
 * Upsample2D). text = the text encoder's attention and MLP linears (kohya's lora_te_ modules).
 */
export type LoraTarget = 'attn' | 'ff' | 'conv' | 'text';
export const LORA_TARGETS: readonly LoraTarget[] = ['attn', 'ff', 'conv', 'text'];

export interface LoraConfig {
  readonly rank: number;
  readonly alpha: number;
  readonly targets: readonly LoraTarget[];
}

export interface LoraModule {
  /** The adapted layer's LDM name (its weight is `${layer}.weight`). */
  readonly layer: string;
  /** kohya module name, the prefix of its tensors. */
  readonly kohya: string;
  /** Base weight shape: [out, in] or [out, in, k, k]. */
  readonly shape: readonly number[];
}

export function validateLoraConfig(c: LoraConfig): LoraConfig {
  if (!Number.isInteger(c.rank) || c.rank < 1 || c.rank > 1024) throw new LoraError(`LoRA rank must be a whole number from 1 to 1024, got ${c.rank}`);
  if (!(c.alpha > 0) || !Number.isFinite(c.alpha)) throw new LoraError(`LoRA alpha must be a positive number, got ${c.alpha}`);
  if (c.targets.length === 0) throw new LoraError(`LoRA needs at least one target (${LORA_TARGETS.join(', ')})`);
  for (const t of c.targets) if (!LORA_TARGETS.includes(t)) throw new LoraError(`unknown LoRA target '${t}'; use ${LORA_TARGETS.join(', ')}`);
  return c;
}

/** kohya: scale = alpha/rank; a missing or zero alpha means alpha = rank. */
export function loraScale(alpha: number | undefined, rank: number): number {
  return alpha ? alpha / rank : 1;
}

const ATTN = /\.(attn[12]\.(to_q|to_k|to_v|to_out\.0)|proj_in|proj_out)$/;
const FF = /\.ff\.net\.(0\.proj|2)$/;
const CONV = /\.(in_layers\.2|emb_layers\.1|out_layers\.3|skip_connection|op|\d+\.conv)$/;
const TEXT = /\.encoder\.layers\.\d+\.(self_attn\.(q_proj|k_proj|v_proj|out_proj)|mlp\.fc[12])$/;

/** Whether a layer (LDM name) is adapted for these targets. */
export function isLoraTarget(layer: string, targets: readonly LoraTarget[]): boolean {
  if (layer.startsWith(`${TEXT_PREFIX}.`)) return targets.includes('text') && TEXT.test(layer);
  if (!layer.startsWith(`${UNET_PREFIX}.`)) return false;
  return (targets.includes('attn') && ATTN.test(layer)) || (targets.includes('ff') && FF.test(layer)) || (targets.includes('conv') && CONV.test(layer));
}

// ------------------------------------------------------------------ names

const RES_PARTS: Record<string, string> = {
  'in_layers.0': 'norm1',
  'in_layers.2': 'conv1',
  'emb_layers.1': 'time_emb_proj',
  'out_layers.0': 'norm2',
  'out_layers.3': 'conv2',
  skip_connection: 'conv_shortcut',
};

function resPart(rest: string, layer: string): string {
  const r = RES_PARTS[rest];
  if (!r) throw new LoraError(`no diffusers name for ResBlock part '${rest}' of ${layer}`);
  return r;
}

/** An LDM UNet module path (without `model.diffusion_model.`) → the diffusers one (ldm-facts §4). */
export function ldmToDiffusersUNet(module: string, cfg: UNetConfig): string {
  const per = cfg.numResBlocks + 1;
  const fixed: Record<string, string> = {
    'time_embed.0': 'time_embedding.linear_1',
    'time_embed.2': 'time_embedding.linear_2',
    'input_blocks.0.0': 'conv_in',
    'out.0': 'conv_norm_out',
    'out.2': 'conv_out',
  };
  if (fixed[module]) return fixed[module];
  let m = /^input_blocks\.(\d+)\.(\d+)\.(.+)$/.exec(module);
  if (m) {
    const k = Number(m[1]) - 1;
    const [level, j, sub, rest] = [Math.floor(k / per), k % per, m[2], m[3]!];
    if (j === cfg.numResBlocks) {
      if (rest !== 'op') throw new LoraError(`unexpected downsampler part '${rest}' in ${module}`);
      return `down_blocks.${level}.downsamplers.0.conv`;
    }
    return sub === '0' ? `down_blocks.${level}.resnets.${j}.${resPart(rest, module)}` : `down_blocks.${level}.attentions.${j}.${rest}`;
  }
  m = /^middle_block\.(\d)\.(.+)$/.exec(module);
  if (m) {
    if (m[1] === '1') return `mid_block.attentions.0.${m[2]}`;
    return `mid_block.resnets.${m[1] === '0' ? 0 : 1}.${resPart(m[2]!, module)}`;
  }
  m = /^output_blocks\.(\d+)\.(\d+)\.(.+)$/.exec(module);
  if (m) {
    const k = Number(m[1]);
    const [level, j, sub, rest] = [Math.floor(k / per), k % per, m[2], m[3]!];
    if (sub === '0') return `up_blocks.${level}.resnets.${j}.${resPart(rest, module)}`;
    if (rest === 'conv') return `up_blocks.${level}.upsamplers.0.conv`;
    return `up_blocks.${level}.attentions.${j}.${rest}`;
  }
  throw new LoraError(`no diffusers name for UNet module '${module}'`);
}

/** kohya module name of an LDM layer (UNet or CLIP-style text encoder), e.g. lora_unet_down_blocks_0_attentions_0_…_to_q. */
export function kohyaName(layer: string, cfg: UNetConfig): string {
  if (layer.startsWith(`${UNET_PREFIX}.`)) {
    return `lora_unet_${ldmToDiffusersUNet(layer.slice(UNET_PREFIX.length + 1), cfg).replace(/\./g, '_')}`;
  }
  if (layer.startsWith(`${TEXT_PREFIX}.`)) return `lora_te_text_model_${layer.slice(TEXT_PREFIX.length + 1).replace(/\./g, '_')}`;
  throw new LoraError(`layer '${layer}' is neither in the UNet nor in the text encoder; no kohya name`);
}

// ------------------------------------------------------------------ training

/**
 * Layer hooks that add a LoRA branch to every targeted UNet layer, declaring `<kohya>.lora_down.weight`
 * (PyTorch's default init) and `<kohya>.lora_up.weight` (zeros, so training starts at the base model).
 * Each adapted layer is reported to `found`.
 */
export function loraHooks(unet: UNetConfig, c: LoraConfig, found: (m: LoraModule) => void): LayerHooks {
  validateLoraConfig(c);
  const scale = loraScale(c.alpha, c.rank);
  const r = c.rank;
  return {
    linear(g: Graph, name: string, x: Value, y: Value, inF: number, outF: number): Value {
      if (!isLoraTarget(name, c.targets)) return y;
      const k = kohyaName(name, unet);
      found({ layer: name, kohya: k, shape: [outF, inF] });
      const down = g.param(`${k}.lora_down.weight`, [r, inF], torchDefaultInit(inF));
      const up = g.param(`${k}.lora_up.weight`, [outF, r], { kind: 'zeros' });
      const x2 = x.shape.length === 2 ? x : g.reshape(x, [-1, inF]);
      const h = g.gemm(g.gemm(x2, down, undefined, { transB: true }), up, undefined, { transB: true, alpha: scale });
      return g.add(y, x.shape.length === 2 ? h : g.reshape(h, y.shape as number[]));
    },
    conv2d(g: Graph, name: string, x: Value, y: Value, inC: number, outC: number, o: Conv2dOptions): Value {
      if (!isLoraTarget(name, c.targets)) return y;
      const k = kohyaName(name, unet);
      const kk = o.kernel;
      found({ layer: name, kohya: k, shape: [outC, inC, kk, kk] });
      const down = g.param(`${k}.lora_down.weight`, [r, inC, kk, kk], torchDefaultInit(inC * kk * kk));
      const up = g.param(`${k}.lora_up.weight`, [outC, r, 1, 1], { kind: 'zeros' });
      const p = o.padding ?? 0;
      const pads = typeof p === 'number' ? [p, p, p, p] : [...p];
      const s = o.stride ?? 1;
      const h = g.conv(g.conv(x, down, undefined, { strides: [s, s], pads }), up);
      return g.add(y, g.mul(h, scale));
    },
  };
}

/** The trained LoRA as kohya tensors: lora_down/lora_up per module and its alpha (a float32 scalar). */
export function loraTensors(modules: readonly LoraModule[], params: ReadonlyMap<string, Float32Array>, c: LoraConfig): Map<string, TensorData> {
  const out = new Map<string, TensorData>();
  for (const m of modules) {
    const down = params.get(`${m.kohya}.lora_down.weight`);
    const up = params.get(`${m.kohya}.lora_up.weight`);
    if (!down || !up) throw new LoraError(`the trained weights lack the LoRA of ${m.layer}`);
    const conv = m.shape.length === 4;
    out.set(`${m.kohya}.lora_down.weight`, { dtype: 'float32', shape: conv ? [c.rank, m.shape[1]!, m.shape[2]!, m.shape[3]!] : [c.rank, m.shape[1]!], data: down });
    out.set(`${m.kohya}.lora_up.weight`, { dtype: 'float32', shape: conv ? [m.shape[0]!, c.rank, 1, 1] : [m.shape[0]!, c.rank], data: up });
    out.set(`${m.kohya}.alpha`, { dtype: 'float32', shape: [], data: new Float32Array([c.alpha]) });
  }
  return out;
}

// ------------------------------------------------------------------ merging

function floats(t: TensorData, what: string): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.data instanceof Float64Array) return Float32Array.from(t.data);
  throw new LoraError(`${what} is ${t.dtype}; LoRA tensors must be floating point (load them as float32)`);
}

export interface MergeOptions {
  /** Strength on the text encoder's modules (A1111's `<lora:name:te:unet>`); default: the UNet strength. */
  readonly textStrength?: number;
  /**
   * Text-encoder layers the model runs (SD 2.x runs the penultimate layer): modules of later layers
   * cannot change the output and are skipped. Default: every layer is run.
   */
  readonly textLayers?: number;
}

export interface MergeResult {
  /** Layers whose weights changed. */
  readonly changed: number;
  /** Modules left out because the model does not run their layer (see MergeOptions.textLayers). */
  readonly skipped: readonly string[];
}

interface PlannedModule {
  readonly mod: string;
  readonly layer: string;
  readonly w: Float32Array;
  readonly down: Float32Array;
  readonly up: Float32Array;
  readonly rank: number;
  readonly out: number;
  readonly scale: number;
  readonly text: boolean;
}

const TEXT_LAYER = /^lora_te_text_model_encoder_layers_(\d+)_/;

/** kohya module name → the model's layer, for every adaptable layer (those with a `.weight`). */
function layersByKohya(unet: UNetConfig, layers: Iterable<string>): Map<string, string> {
  const byKohya = new Map<string, string>();
  for (const layer of layers) {
    try {
      byKohya.set(kohyaName(layer, unet), layer);
    } catch {
      // layers without a kohya name (VAE, norms) cannot carry a LoRA
    }
  }
  return byKohya;
}

/** The weights (`<layer>.weight`) a LoRA file changes in this model; modules without a layer are left to mergeLora's checks. */
export function loraLayerWeights(lora: ReadonlyMap<string, TensorData>, unet: UNetConfig, layers: Iterable<string>): string[] {
  const byKohya = layersByKohya(unet, layers);
  const out = new Set<string>();
  for (const key of lora.keys()) {
    const layer = byKohya.get(key.replace(/\.(lora_down\.weight|lora_up\.weight|alpha)$/, ''));
    if (layer) out.add(`${layer}.weight`);
  }
  return [...out];
}

/**
 * Merges kohya LoRA / LoCon tensors into `weights` (LDM names → float32, changed in place):
 * W += strength·(alpha/rank)·up@down; a k×k conv `lora_down` [r, in, k, k] with a 1×1 `lora_up`
 * [out, r, 1, 1] adds up@down per kernel tap (the conv-of-convs rule of ldm-facts §4).
 * `layers` are the adaptable layer names of the model (those with a `.weight`). Every module is
 * checked before any weight changes: a LoRA for another architecture or family is refused with the
 * first tensor that does not fit, and never half-applied.
 */
export function mergeLora(
  weights: Map<string, Float32Array>,
  lora: ReadonlyMap<string, TensorData>,
  strength: number,
  unet: UNetConfig,
  layers: Iterable<string>,
  o: MergeOptions = {},
): MergeResult {
  const byKohya = layersByKohya(unet, layers);
  const modules: string[] = [];
  for (const key of lora.keys()) {
    const m = /^(.+)\.(lora_down\.weight|lora_up\.weight|alpha)$/.exec(key);
    if (!m) throw new LoraError(`tensor '${key}' is not a kohya LoRA tensor (<module>.lora_down.weight, .lora_up.weight or .alpha); LoHa, LoKr and other LyCORIS kinds are not supported`);
    if (!modules.includes(m[1]!)) modules.push(m[1]!);
  }
  const plan: PlannedModule[] = [];
  const skipped: string[] = [];
  for (const mod of modules) {
    const first = lora.has(`${mod}.lora_down.weight`) ? `${mod}.lora_down.weight` : `${mod}.lora_up.weight`;
    const layer = byKohya.get(mod);
    if (!layer) {
      const te = TEXT_LAYER.exec(mod);
      if (te && o.textLayers !== undefined && Number(te[1]) >= o.textLayers) {
        skipped.push(mod);
        continue;
      }
      throw new LoraError(`LoRA tensor '${first}' has no layer in this model: the LoRA was made for another model family or architecture`);
    }
    const downT = lora.get(`${mod}.lora_down.weight`);
    const upT = lora.get(`${mod}.lora_up.weight`);
    if (!downT || !upT) throw new LoraError(`LoRA module '${mod}' lacks lora_down or lora_up`);
    const w = weights.get(`${layer}.weight`);
    if (!w) throw new LoraError(`the model has no weight for ${layer}`);
    const down = floats(downT, `${mod}.lora_down.weight`);
    const up = floats(upT, `${mod}.lora_up.weight`);
    const rank = downT.shape[0]!;
    const out = upT.shape[0]!;
    const taps = down.length / rank; // in·k·k
    if (upT.shape[1] !== rank || up.length !== out * rank) {
      throw new LoraError(`LoRA tensor '${mod}.lora_up.weight' [${upT.shape.join(', ')}] does not fit its lora_down [${downT.shape.join(', ')}] (only 1×1 lora_up convs are supported)`);
    }
    if (w.length !== out * taps) {
      throw new LoraError(
        `LoRA tensor '${first}' makes a [${out}, ${taps}] update but ${layer}.weight has ${w.length} values: the LoRA was made for another model family or size`,
      );
    }
    const alphaT = lora.get(`${mod}.alpha`);
    const alpha = alphaT ? floats(alphaT, `${mod}.alpha`)[0] : undefined;
    const text = mod.startsWith('lora_te_');
    const s = (text ? (o.textStrength ?? strength) : strength) * loraScale(alpha, rank);
    plan.push({ mod, layer, w, down, up, rank, out, scale: s, text });
  }
  for (const p of plan) addLowRank(p.w, p.up, p.down, p.out, p.rank, p.scale);
  return { changed: plan.length, skipped };
}

/** w [out, taps] += scale · up [out, rank] @ down [rank, taps], row by row (locals and subarrays keep V8's inner loop tight). */
function addLowRank(w: Float32Array, up: Float32Array, down: Float32Array, out: number, rank: number, scale: number): void {
  const taps = down.length / rank;
  for (let o = 0; o < out; o++) {
    const row = w.subarray(o * taps, (o + 1) * taps);
    for (let r = 0; r < rank; r++) {
      const a = scale * up[o * rank + r]!;
      if (a === 0) continue;
      const d = down.subarray(r * taps, (r + 1) * taps);
      for (let i = 0; i < taps; i++) row[i] += a * d[i]!;
    }
  }
}
