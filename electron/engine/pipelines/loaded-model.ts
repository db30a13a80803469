// A model ready to sample: the four networks' graphs built from the config, serialised with their
// weights (as external data pointing into the safetensors file when the stored dtypes allow it) and
// opened as onnxruntime sessions once per input shape, then reused for every step and image.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSafetensorsHeader, saveSafetensors } from '../io/safetensors.ts';
import { readAllAsFloat32, locateAll, resolveFileWeights, type Locate, type NetworkName, type ResolvedWeights } from './file-weights.ts';
export type { Locate, NetworkName, TensorSlice } from './file-weights.ts';
import { makeScratchDir, type WeightCacheOptions } from './weight-cache.ts';
import { WordTokenizer } from '../io/tokenizer.ts';
import type { TextTokenizer } from '../io/tokenizers/types.ts';
import { applyEmphasis, emptyChunk, preparePrompt, type PromptChunk } from '../text/index.ts';
import { weightedWordIds } from '../text/word-emphasis.ts';
import { loadModelPackage, validateModelPackage, type TokenizerSpec, type ValidatedPackage } from '../io/model-package.ts';
import type { AutoencoderConfig, TextEncoderConfig, UNetConfig } from '../nn/config.ts';
import { autoencoderFactor } from '../nn/config.ts';
import { embeddingCounts, spliceEmbeddings, type TextEmbedding } from '../io/embeddings.ts';
import {
  EXTRA_TOKENS_INPUT,
  buildTextEncoderGraph,
  buildUNetGraph,
  buildVaeDecoderGraph,
  buildVaeEncoderGraph,
  modelParams,
} from '../nn/models.ts';
import { timestepEmbedding } from '../nn/unet.ts';
import type { Graph } from '../onnx/graph.ts';
import { quantizedWeights, weightQuantFor, type WeightPrecision, type WeightQuant } from '../nn/quantize.ts';
import { quantizedWeightsFile } from './quantized-cache.ts';
import { createSession, float16OptionsFor, fusedAttentionFor, type GraphPrecision, type Provider, type Session } from '../onnx/runtime.ts';
import { float16Weights, toFloat16 } from '../onnx/float16.ts';
import { float16FileWeights } from './float16-weights.ts';
import { safetensorsWeights, toModelProto, type WeightMode } from '../onnx/serialize.ts';
import { tensor, type TensorData } from '../tensor.ts';
import { PipelineError } from './errors.ts';
import { decodeMaybeTiled, encodeMaybeTiled, type VaeTiling } from './tiled-vae.ts';
import type { DiffusionModel, SamplingDefaults, TextOptions } from './model.ts';
import type { PreviewProjection } from './preview.ts';

/**
 * Where the weights are: a validated package on disk, tensors in memory (fresh or training weights), or
 * files of another layout that a model family mapped onto the graphs' names (engine/families).
 */
export type WeightSource =
  | { readonly kind: 'package'; readonly pkg: ValidatedPackage }
  | { readonly kind: 'memory'; readonly tensors: ReadonlyMap<string, TensorData | Float32Array> }
  | { readonly kind: 'files'; readonly networks: Readonly<Record<NetworkName, Locate>> };

/** The networks' configs and sampling settings of a model: what a family opens and what a spec carries. */
export interface ModelConfigs {
  readonly unet: UNetConfig;
  readonly autoencoder: AutoencoderConfig;
  readonly textEncoder: TextEncoderConfig;
  /** Latents are multiplied by this after encoding (1/std of the autoencoder's latents). */
  readonly scaleFactor: number;
  readonly preview: PreviewProjection | null;
  readonly defaults: SamplingDefaults;
  /** createImageSampler's config: betaSchedule, betaStart, betaEnd, trainTimesteps, prediction, timestepSpacing, … */
  readonly schedulerConfig: Readonly<Record<string, unknown>>;
}

export interface ModelSpec extends ModelConfigs {
  readonly name: string;
  readonly hash: string;
  /** A prompt → exactly textEncoder.maxLength token ids (padded/truncated as the tokenizer does). */
  tokenize(text: string): ArrayLike<number>;
  /**
   * A sub-word tokenizer (CLIP BPE): prompts are then read as AUTOMATIC1111 does (emphasis, BREAK,
   * 75-token chunks encoded one by one and joined) instead of through `tokenize`.
   */
  readonly textTokenizer?: TextTokenizer;
  /** Textual-inversion embeddings by name, spliced in where prompts name them (with a textTokenizer). */
  readonly embeddings?: ReadonlyMap<string, TextEmbedding>;
  readonly weights: WeightSource;
}

export interface RuntimeOptions {
  readonly provider?: Provider | 'auto';
  readonly threads?: number;
  /**
   * In-memory weights above this many bytes (default 1 GiB) are written once to a temporary
   * safetensors file and used as external data: an ONNX model with embedded weights cannot pass 2 GB.
   */
  readonly maxEmbeddedBytes?: number;
  /**
   * onnxruntime's graph optimisation level for the model's sessions. Default 'disabled': the graphs are
   * written already fused (MultiHeadAttention, Gemm) and hold no Casts to fold, and any optimisation
   * makes onnxruntime read every mapped external weight into its own memory at session start
   * (bench/sd.bench.ts: an SD 1.x UNet session then starts in seconds, not minutes, at equal step time).
   */
  readonly optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** The UNet's and text encoder's linear weights: float, or quantised at load (int8/int4: less memory; nn/quantize.ts). */
  readonly weights?: WeightPrecision;
  /** VAE decode/encode in tiles above a picture size (default: above 512², 512-pixel tiles, 128 overlap); false: never. */
  readonly vaeTiling?: VaeTiling | false;
  /** Where weights a file stores as fp16/bf16 are kept widened to float32 (weight-cache.ts; default: the user's cache folder). */
  readonly weightCache?: WeightCacheOptions;
  /**
   * Whether the networks' sessions stay built across a generation's phases (text encoder → UNet → VAE):
   * 'keep' (no rebuild next time), 'stage' (before a session is built the other networks' idle sessions
   * are released, so one network's weights and activations are resident at a time), or 'auto' (default):
   * stage when the computer's available memory is under STAGE_BELOW_BYTES as a session is about to be built.
   */
  readonly sessions?: SessionPolicy;
  /** onnxruntime's pre-packing of MatMul/Gemm weights (runtime.ts SessionOptions.prepack); default: on, except for float weights in staged sessions. */
  readonly prepack?: boolean;
  /** The networks' graph precision; default: per provider (runtime.ts precisionFor: float16 on GPU providers, float32 on the CPU). */
  readonly precision?: GraphPrecision;
  /**
   * Whether a UNet call on a batch (CFG's unconditional and conditional halves) runs as one batch-1 call
   * per item, which halves the activations; default: for float weights when staged (memory short).
   * Quantised convolutions dequantise their kernels at every call, so splitting would do that twice.
   */
  readonly splitBatch?: boolean;
  /** onnxruntime's CPU memory arena (runtime.ts SessionOptions.memoryArena); default: on. */
  readonly memoryArena?: boolean;
}

export type SessionPolicy = 'auto' | 'keep' | 'stage';

/** Below this much available memory, 'auto' stages the sessions (an SD 1.x generation kept whole needs ~6 GB). */
export const STAGE_BELOW_BYTES = 8 * 2 ** 30;

/** The one rule for staging: whether to release the other networks' sessions before building one. */
export function stagesSessions(policy: SessionPolicy, availableBytes: number): boolean {
  return policy === 'stage' || (policy === 'auto' && availableBytes < STAGE_BELOW_BYTES);
}

/** Which weights each graph reads. */
const NETWORK_OF: Record<string, NetworkName> = {
  text_encoder: 'textEncoder',
  unet: 'unet',
  vae_encoder: 'autoencoder',
  vae_decoder: 'autoencoder',
};


interface LiveSession {
  readonly key: string;
  readonly session: Promise<Session>;
  users: number;
  retired: boolean;
}

export class LoadedModel implements DiffusionModel {
  readonly name: string;
  readonly hash: string;
  readonly latentChannels: number;
  readonly downscale: number;
  readonly unetInChannels: number;
  readonly preview: PreviewProjection | null;
  readonly defaults: SamplingDefaults;
  readonly schedulerConfig: Readonly<Record<string, unknown>>;
  /** One live session per network (the latest shape): each holds its own copy of the weights. */
  private readonly live = new Map<string, LiveSession>();
  /** Sampling graphs use onnxruntime's fused attention where the provider runs it (no score matrices). */
  private readonly fused: boolean;
  /** Linear-layer weight quantisation of the UNet and text encoder graphs (null: float). */
  private readonly quant: WeightQuant | null;
  /** Resolved weights per network ('all' for packages and in-memory weights, which serve every network). */
  private readonly weightModes = new Map<string, Promise<ResolvedWeights>>();

  constructor(
    readonly spec: ModelSpec,
    private readonly runtime: RuntimeOptions = {},
  ) {
    this.name = spec.name;
    this.hash = spec.hash;
    this.latentChannels = spec.autoencoder.embedDim;
    this.downscale = autoencoderFactor(spec.autoencoder);
    this.unetInChannels = spec.unet.inChannels;
    this.preview = spec.preview;
    this.defaults = spec.defaults;
    this.schedulerConfig = spec.schedulerConfig;
    this.fused = fusedAttentionFor(runtime.provider ?? 'auto');
    this.quant = weightQuantFor(runtime.weights);
    if (spec.unet.outChannels !== this.latentChannels) {
      throw new PipelineError(
        `model ${spec.name}: the UNet predicts ${spec.unet.outChannels} channels but the autoencoder's latents have ${this.latentChannels}`,
      );
    }
    if (spec.unet.contextDim !== spec.textEncoder.width) {
      throw new PipelineError(
        `model ${spec.name}: the UNet's context width ${spec.unet.contextDim} does not match the text encoder's width ${spec.textEncoder.width}`,
      );
    }
    if (!(spec.scaleFactor > 0)) throw new PipelineError(`model ${spec.name}: scale factor must be > 0, got ${spec.scaleFactor}`);
  }

  /** The runtime settings it was opened with (a model derived from it, e.g. with LoRAs merged, keeps them). */
  get runtimeOptions(): RuntimeOptions {
    return this.runtime;
  }

  /** The onnxruntime execution provider the text encoder runs on (builds its session if needed). */
  async provider(): Promise<Provider> {
    // Any live session answers (each network runs on the same provider); else the text encoder's is built.
    const live = this.live.get('text_encoder') ?? this.live.get('unet');
    if (live) return (await live.session).provider;
    return (await this.entry('text_encoder', `1:${this.spec.textEncoder.layers}`, () => buildTextEncoderGraph(this.spec.textEncoder, 1, 0, { weightQuant: this.quant })).session).provider;
  }

  /**
   * What the model runs on, for the status bar and the PNG parameters: the provider, with ' fp16' when its
   * graphs are the float16 variant (GPU providers; onnx/float16.ts).
   */
  async runsOn(): Promise<string> {
    const live = this.live.get('text_encoder') ?? this.live.get('unet') ?? [...this.live.values()][0];
    const session = live ? await live.session : await this.entry('text_encoder', `1:${this.spec.textEncoder.layers}`, () => buildTextEncoderGraph(this.spec.textEncoder, 1, 0, { weightQuant: this.quant })).session;
    return session.precision === 'float16' ? `${session.provider} fp16` : session.provider;
  }

  /**
   * Prompts → context [B, L, D]. With a sub-word tokenizer every prompt becomes 77-token chunks (the
   * prompts of one call padded to the same count with empty chunks), each chunk encoded on its own,
   * joined along the tokens and weighted by its emphasis: L = 77 · chunks.
   */
  async encodeText(prompts: readonly string[], options: TextOptions = {}): Promise<TensorData<'float32'>> {
    const cfg = this.textConfig(options.clipSkip ?? 1);
    if (this.spec.textTokenizer) return this.encodeChunked(prompts, this.spec.textTokenizer, cfg);
    const L = this.spec.textEncoder.maxLength;
    const ids = new BigInt64Array(prompts.length * L);
    const weighted = prompts.map((p, b) => {
      const w = weightedWordIds(p, this.spec.tokenize, L);
      if (w.ids.length !== L) throw new PipelineError(`the tokenizer gave ${w.ids.length} ids for a prompt; the text encoder takes ${L}`);
      for (let i = 0; i < L; i++) ids[b * L + i] = BigInt(w.ids[i]!);
      return w.weights;
    });
    const batch = prompts.length;
    const out = await this.run('text_encoder', `${batch}:${cfg.layers}`, () => buildTextEncoderGraph(cfg, batch, 0, { weightQuant: this.quant }), {
      input_ids: tensor('int64', [batch, L], ids),
    });
    const hidden = out.last_hidden_state as TensorData<'float32'>;
    if (weighted.every((w) => w === null)) return hidden;
    // A1111 emphasis ("(red:1.6) apple"), one window per prompt (text/word-emphasis.ts)
    const size = hidden.data.length / batch;
    const context = new Float32Array(hidden.data);
    weighted.forEach((w, b) => w && context.set(applyEmphasis(hidden.data.subarray(b * size, (b + 1) * size), [w]), b * size));
    return tensor('float32', hidden.shape, context);
  }

  /** The text encoder run to layer −clipSkip (its final LayerNorm still applies, as A1111 does). */
  private textConfig(clipSkip: number): TextEncoderConfig {
    const cfg = this.spec.textEncoder;
    if (!Number.isInteger(clipSkip) || clipSkip < 1 || clipSkip > cfg.layers) {
      throw new PipelineError(`clip skip must be a whole number from 1 to ${cfg.layers} (the text encoder's layers), got ${clipSkip}`);
    }
    return clipSkip === 1 ? cfg : { ...cfg, layers: cfg.layers - (clipSkip - 1) };
  }

  private async encodeChunked(prompts: readonly string[], tok: TextTokenizer, cfg: TextEncoderConfig): Promise<TensorData<'float32'>> {
    const L = this.spec.textEncoder.maxLength;
    const D = this.spec.textEncoder.width;
    if (tok.maxLength !== L) throw new PipelineError(`the tokenizer makes ${tok.maxLength}-token chunks; the text encoder takes ${L}`);
    const emb = this.spec.embeddings;
    const per = prompts.map((p) => preparePrompt(p, tok, { embeddings: emb && embeddingCounts(emb) }).chunks);
    const n = Math.max(...per.map((c) => c.length));
    const chunks: PromptChunk[][] = per.map((c) => [...c, ...Array.from({ length: n - c.length }, () => emptyChunk(tok))]);
    const batch = prompts.length * n;
    const ids = new BigInt64Array(batch * L);
    chunks.flat().forEach((c, i) => c.ids.forEach((id, j) => (ids[i * L + j] = BigInt(id))));
    // Textual-inversion vectors: extra rows after the token table, looked up by the ids spliced in.
    const extra = spliceEmbeddings(chunks.flat(), ids, L, emb, this.spec.textEncoder.vocabSize);
    const rows = extra ? extra.length / D : 0;
    const feeds: Record<string, TensorData> = { input_ids: tensor('int64', [batch, L], ids) };
    if (extra) feeds[EXTRA_TOKENS_INPUT] = tensor('float32', [rows, D], extra);
    const key = `${rows ? `${batch}+${rows}` : `${batch}`}:${cfg.layers}`;
    const out = await this.run('text_encoder', key, () => buildTextEncoderGraph(cfg, batch, rows, { weightQuant: this.quant }), feeds);
    const hidden = (out.last_hidden_state as TensorData<'float32'>).data;
    const context = new Float32Array(batch * L * D);
    const size = n * L * D;
    chunks.forEach((c, b) => context.set(applyEmphasis(hidden.subarray(b * size, (b + 1) * size), c.map((x) => x.weights)), b * size));
    return tensor('float32', [prompts.length, n * L, D], context);
  }

  async predictNoise(x: TensorData<'float32'>, timestep: number, context: TensorData<'float32'>): Promise<TensorData<'float32'>> {
    const [b, c, h, w] = x.shape as [number, number, number, number];
    const L = context.shape[1]!;
    if (b > 1 && context.shape[0] === b && (this.runtime.splitBatch ?? (this.quant === null && this.staged()))) {
      // one item at a time through a batch-1 session: half the activations (memory short)
      const out = new Float32Array(x.data.length);
      const [xn, cn] = [c * h * w, L * context.shape[2]!];
      for (let i = 0; i < b; i++) {
        const xi = tensor('float32', [1, c, h, w], x.data.slice(i * xn, (i + 1) * xn));
        const ci = tensor('float32', [1, L, context.shape[2]!], context.data.slice(i * cn, (i + 1) * cn));
        out.set((await this.predictNoise(xi, timestep, ci)).data, i * xn);
      }
      return tensor('float32', x.shape, out);
    }
    const temb = timestepEmbedding(new Array<number>(b).fill(timestep), this.spec.unet.modelChannels);
    const out = await this.run(
      'unet',
      `${b}x${h}x${w}:${L}`,
      () => buildUNetGraph(this.spec.unet, { batch: b, height: h, width: w, contextLength: L, fusedAttention: this.fused, weightQuant: this.quant }),
      { sample: x, timestep_embedding: temb, encoder_hidden_states: context },
    );
    return out.out_sample as TensorData<'float32'>;
  }

  /** Pictures above 512² are encoded in tiles (tiled-vae.ts). */
  encodeImage(image: TensorData<'float32'>): Promise<TensorData<'float32'>> {
    return encodeMaybeTiled(image, this.downscale, (x) => this.encodeWhole(x), this.runtime.vaeTiling);
  }

  private async encodeWhole(image: TensorData<'float32'>): Promise<TensorData<'float32'>> {
    const [b, , H, W] = image.shape as [number, number, number, number];
    const res = await this.run('vae_encoder', `${b}x${H}x${W}`, () => buildVaeEncoderGraph(this.spec.autoencoder, b, H, W, { fusedAttention: this.fused }), {
      sample: image,
    });
    const moments = res.latent_parameters as TensorData<'float32'>;
    // KL: the first embedDim channels are the posterior mean; VQ: the latent itself.
    const c = this.latentChannels;
    const [, mc, h, w] = moments.shape as [number, number, number, number];
    const out = new Float32Array(b * c * h * w);
    const k = this.spec.scaleFactor;
    for (let i = 0; i < b; i++) {
      const src = moments.data.subarray(i * mc * h * w, (i * mc + c) * h * w);
      for (let j = 0; j < src.length; j++) out[i * c * h * w + j] = src[j]! * k;
    }
    return tensor('float32', [b, c, h, w], out);
  }

  /** Pictures above 512² are decoded in tiles (tiled-vae.ts). */
  decodeLatents(latents: TensorData<'float32'>): Promise<TensorData<'float32'>> {
    return decodeMaybeTiled(latents, this.downscale, (z) => this.decodeWhole(z), this.runtime.vaeTiling);
  }

  private async decodeWhole(latents: TensorData<'float32'>): Promise<TensorData<'float32'>> {
    const [b, , h, w] = latents.shape as [number, number, number, number];
    const inv = 1 / this.spec.scaleFactor;
    const z = tensor('float32', latents.shape, latents.data.map((v) => v * inv));
    const out = await this.run('vae_decoder', `${b}x${h}x${w}`, () => buildVaeDecoderGraph(this.spec.autoencoder, b, h, w, { fusedAttention: this.fused }), {
      latent_sample: z,
    });
    return out.sample as TensorData<'float32'>;
  }

  /**
   * Builds the sessions a txt2img run at this size needs, one network after another, reporting each
   * (loading a multi-GB model takes a while: this is where the time goes).
   */
  async warmUp(width: number, height: number, guided: boolean, onNetwork?: (network: string, index: number, total: number, ms: number) => void): Promise<void> {
    const f = this.downscale;
    const [h, w] = [height / f, width / f];
    const b = guided ? 2 : 1;
    const L = this.spec.textEncoder.maxLength;
    const steps: [string, string, () => Graph][] = [
      ['text_encoder', `${b}:${this.spec.textEncoder.layers}`, () => buildTextEncoderGraph(this.spec.textEncoder, b, 0, { weightQuant: this.quant })],
      ['unet', `${b}x${h}x${w}:${L}`, () => buildUNetGraph(this.spec.unet, { batch: b, height: h, width: w, contextLength: L, fusedAttention: this.fused, weightQuant: this.quant })],
      ['vae_decoder', `1x${h}x${w}`, () => buildVaeDecoderGraph(this.spec.autoencoder, 1, h, w, { fusedAttention: this.fused })],
    ];
    // Staged, only the first session is built; the others' weights are prepared (widened into the cache).
    const staged = this.staged();
    for (const [i, [network, key, build]] of steps.entries()) {
      const t0 = performance.now();
      if (staged && i > 0) await this.weights(NETWORK_OF[network]!);
      else await this.entry(network, key, build).session;
      onNetwork?.(network, i + 1, steps.length, performance.now() - t0);
    }
  }

  /** Releases every session; the model can still be used (sessions are rebuilt on demand). */
  async release(): Promise<void> {
    const all = [...this.live.values()];
    this.live.clear();
    await Promise.all(all.map((e) => this.retire(e)));
    const modes = [...this.weightModes.values()];
    this.weightModes.clear();
    for (const m of modes) {
      const spilled = (await m.catch(() => null))?.tempDir;
      if (spilled) await fsp.rm(spilled, { recursive: true, force: true });
    }
  }

  /** Runs one network on inputs of one shape, through that shape's session. */
  private async run(network: string, shapeKey: string, build: () => Graph, feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> {
    const e = this.entry(network, shapeKey, build);
    e.users++;
    try {
      return await (await e.session).run(feeds);
    } finally {
      e.users--;
      if (e.retired && e.users === 0) await this.retire(e);
    }
  }

  /**
   * The network's session for this input shape, built on first use. A new shape replaces the old
   * session, so a model holds at most one copy of its weights per network (plus any still running);
   * a replaced session is released once its last run finishes.
   */
  private entry(network: string, shapeKey: string, build: () => Graph): LiveSession {
    const current = this.live.get(network);
    if (current?.key === shapeKey) return current;
    // Staged: the other networks' sessions go before this one is built (those still running go when they finish).
    const staged = this.staged();
    const others = staged ? [...this.live].filter(([n]) => n !== network) : [];
    for (const [n] of others) this.live.delete(n);
    const session = (async () => {
      await Promise.all(others.map(([, e]) => this.retire(e)));
      // Built for the provider that starts: float16 on GPU providers (onnx/float16.ts), float32 on the CPU.
      const model = async (precision: GraphPrecision, provider: Provider) => {
        const half = precision === 'float16';
        const resolved = (half && this.halfWeights(network)) || await this.weights(NETWORK_OF[network]!);
        const built = build();
        // Quantised weights are made for the graph they were declared in (the same names in its float16 variant).
        const graph = half ? toFloat16(built, float16OptionsFor(provider)) : built;
        // A checkpoint's quantised weights are made once into the weights cache and mapped; a package's are embedded.
        const cached = !half && this.quant && this.spec.weights.kind === 'files' && resolved.mode.kind === 'external' && resolved.weightsFile
          ? await quantizedWeightsFile(graph, resolved.mode, resolved.weightsFile, this.runtime.weightCache)
          : null;
        const { mode, weightsFile } = cached ?? resolved;
        const weights = cached ? mode : quantizedWeights(built, mode, weightsFile);
        return { model: toModelProto(graph, half ? float16Weights(weights, graph) : weights), weightsFile };
      };
      return createSession(model, {
        precision: this.runtime.precision,
        provider: this.runtime.provider,
        threads: this.runtime.threads,
        memoryPattern: false,
        // Pre-packing copies the linear layers' weights into onnxruntime's layout at session start: faster
        // steps (a few %), but seconds per build and a second copy in memory. Kept sessions pre-pack; staged
        // ones (memory short, rebuilt every generation) read the mapped weights as they are. Quantised
        // MatMulNBits always pre-packs (measured ×3.3 slower per step without).
        prepack: this.runtime.prepack ?? (this.quant !== null || !staged),
        optimization: this.runtime.optimization ?? 'disabled',
        memoryArena: this.runtime.memoryArena,
      });
    })();
    const e: LiveSession = { key: shapeKey, session, users: 0, retired: false };
    this.live.set(network, e);
    session.catch(() => {
      if (this.live.get(network) === e) this.live.delete(network);
    });
    if (current) void this.retire(current);
    return e;
  }

  /** The network's float16 weights in place (an fp16 checkpoint), for a float16 graph of float weights; else null. */
  private halfWeights(network: string): ResolvedWeights | null {
    const w = this.spec.weights;
    if (w.kind !== 'files' || this.quant) return null;
    const net = NETWORK_OF[network]!;
    return float16FileWeights(this.spec.name, modelParams({ [net]: this.spec[net] }), w.networks[net], net);
  }

  private staged(): boolean {
    return stagesSessions(this.runtime.sessions ?? 'auto', os.freemem());
  }

  /** The networks whose sessions are built now (text_encoder, unet, vae_encoder, vae_decoder). */
  liveNetworks(): string[] {
    return [...this.live.keys()];
  }

  private async retire(e: LiveSession): Promise<void> {
    e.retired = true;
    if (e.users > 0) return;
    await e.session.then((s) => s.release(), () => undefined);
  }

  private weights(network: NetworkName): Promise<ResolvedWeights> {
    const w = this.spec.weights;
    const key = w.kind === 'files' ? network : 'all';
    let m = this.weightModes.get(key);
    if (!m) {
      m = w.kind === 'files'
        ? resolveFileWeights(this.spec.name, modelParams({ [network]: this.spec[network] }), w.networks[network], network, this.runtime.weightCache)
        : resolveWeights(this.spec, this.runtime.maxEmbeddedBytes ?? 2 ** 30);
      this.weightModes.set(key, m);
    }
    return m;
  }
}

async function resolveWeights(spec: ModelSpec, maxEmbeddedBytes: number): Promise<ResolvedWeights> {
  const w = spec.weights;
  if (w.kind === 'files') throw new PipelineError('file weights are resolved per network');
  if (w.kind === 'package') {
    const locations = [...w.pkg.tensors.values()];
    const file = locations[0]?.file;
    if (file && locations.every((l) => l.file === file && l.entry.dtype === 'F32')) {
      const byName = w.pkg.tensors;
      const mode: WeightMode = {
        kind: 'external',
        file: path.basename(file),
        locate(name) {
          const l = byName.get(name);
          if (!l) throw new PipelineError(`model ${spec.name} has no weight '${name}'; the weights do not match model.json`);
          return { offset: l.entry.offset, length: l.entry.length, dtype: 'float32' };
        },
      };
      return { mode, weightsFile: file };
    }
  }
  // In memory, or fp16/bf16 (or split) files, which cannot back float32 initializers in place: widen once.
  const tensors = w.kind === 'memory' ? w.tensors : (await loadModelPackage(w.pkg.dir)).weights;
  let bytes = 0;
  for (const t of tensors.values()) bytes += (t instanceof Float32Array ? t : t.data).byteLength;
  const mode = embedded(tensors, spec);
  return bytes <= maxEmbeddedBytes ? { mode } : spill(tensors, mode);
}

/** Writes the weights to a temporary safetensors file and points the graphs into it. */
async function spill(tensors: ReadonlyMap<string, unknown>, inMemory: Extract<WeightMode, { kind: 'embedded' }>): Promise<ResolvedWeights> {
  const tempDir = await makeScratchDir('ldm-weights-');
  const file = path.join(tempDir, 'weights.safetensors');
  await saveSafetensors(file, new Map([...tensors.keys()].map((k) => [k, inMemory.get(k)])));
  return { mode: safetensorsWeights(await readSafetensorsHeader(file), path.basename(file)), weightsFile: file, tempDir };
}

function embedded(tensors: ReadonlyMap<string, TensorData | Float32Array>, spec: ModelSpec): Extract<WeightMode, { kind: 'embedded' }> {
  let shapes: Map<string, readonly number[]> | null = null; // for bare arrays, from the configs
  return {
    kind: 'embedded',
    get(name) {
      const t = tensors.get(name);
      if (!t) throw new PipelineError(`model ${spec.name} has no weight '${name}'; the weights do not match model.json`);
      if (!(t instanceof Float32Array)) return t;
      shapes ??= new Map(
        [...modelParams({ unet: spec.unet, autoencoder: spec.autoencoder, textEncoder: spec.textEncoder })].map(([k, p]) => [k, p.shape]),
      );
      return tensor('float32', shapes.get(name) ?? [t.length], t);
    },
  };
}


/** Every weight of a model as float32 arrays (fresh copies for files; for merging adapters in memory). */
export async function loadAllWeights(spec: ModelSpec): Promise<Map<string, TensorData | Float32Array>> {
  const w = spec.weights;
  if (w.kind === 'memory') return new Map(w.tensors);
  if (w.kind === 'package') return (await loadModelPackage(w.pkg.dir)).weights;
  const out = new Map<string, TensorData | Float32Array>();
  for (const net of ['autoencoder', 'textEncoder', 'unet'] as const) {
    const slices = locateAll(spec.name, modelParams({ [net]: spec[net] }), w.networks[net], net);
    for (const [k, v] of await readAllAsFloat32(slices)) out.set(k, v);
  }
  return out;
}

/** Turns model.json's tokenizer section into a function prompt → ids of exactly maxLength. */
export type TokenizerFactory = (spec: TokenizerSpec, packageDir: string) => Promise<(text: string) => ArrayLike<number>>;

export interface LoadModelOptions extends RuntimeOptions {
  readonly tokenizer?: TokenizerFactory;
}

/** Validates a model package folder and prepares it for sampling (sessions are built on first use). */
export async function loadModel(dir: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const pkg = await validateModelPackage(dir);
  const m = pkg.manifest;
  const { unet, textEncoder, autoencoder } = m.architecture;
  if ((m.kind !== 'txt2img' && m.kind !== 'inpaint') || !unet || !textEncoder) {
    throw new PipelineError(`model ${m.name} is a ${m.kind} model; the pipelines sample text-conditioned models (txt2img, inpaint)`);
  }
  if (!m.tokenizer) throw new PipelineError(`model ${m.name}: model.json has no tokenizer for its text encoder`);
  const tokenize = await (opts.tokenizer ?? packageTokenizer)(m.tokenizer, pkg.dir);
  const weights = m.files.find((f) => f.role === 'weights')!;
  return new LoadedModel(
    {
      name: m.name,
      hash: weights.sha256.slice(0, 10),
      unet,
      autoencoder,
      textEncoder,
      scaleFactor: m.latentScaleFactor,
      preview: m.latentPreview ?? null,
      defaults: m.sampling ?? {
        sampler: 'ddim',
        steps: 25,
        guidance: 7.5,
        width: autoencoder.resolution,
        height: autoencoder.resolution,
      },
      schedulerConfig: m.scheduler ?? {},
      tokenize,
      weights: { kind: 'package', pkg },
    },
    opts,
  );
}

/** model.json's word tokenizer, its vocabulary inline or in a JSON file of the package (a list of words). */
export const packageTokenizer: TokenizerFactory = async (spec, dir) => {
  let vocabulary = spec.vocabulary;
  if (vocabulary === undefined && spec.file !== undefined) {
    const file = path.join(dir, spec.file);
    try {
      vocabulary = JSON.parse(await fsp.readFile(file, 'utf8')) as string[];
    } catch (err) {
      throw new PipelineError(`cannot read the tokenizer vocabulary ${file}: ${(err as Error).message}`);
    }
  }
  const t = WordTokenizer.fromSpec({ ...spec, vocabulary });
  return (text) => t.encode(text);
};
