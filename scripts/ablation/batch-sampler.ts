// Sampling an f-ablation snapshot many pictures at a time. The studio's txt2img draws one picture per
// UNet call (cond + uncond); for the pixel-space variant (f=1, a 32² "latent") that would take hours
// for an evaluation, so here B pictures share each call: the UNet sees [uncond × B; cond × B]. Everything
// else is the engine's: the DDIM sampler and its schedule (createImageSampler with the embedded model's
// scheduler settings), each picture's starting noise (ImageNoise for its seed, as txt2img draws it), the
// guidance rule (cfgBatched) and the graphs (nn/models.ts). DDIM with η = 0 updates each value on its
// own, so one sampler over B pictures' values laid end to end is B samplers; a picture's result is the
// one txt2img gives for its seed and prompt, up to float rounding of the batched UNet.
import type { AutoencoderConfig, TextEncoderConfig, UNetConfig } from '../../electron/engine/nn/config.ts';
import { autoencoderFactor } from '../../electron/engine/nn/config.ts';
import { cfgBatched } from '../../electron/engine/diffusion/guidance.ts';
import { ImageNoise } from '../../electron/engine/diffusion/noise.ts';
import { Rng } from '../../electron/engine/diffusion/rng.ts';
import { buildTextEncoderGraph, buildUNetGraph, buildVaeDecoderGraph } from '../../electron/engine/nn/models.ts';
import { timestepEmbedding } from '../../electron/engine/nn/unet.ts';
import type { Graph } from '../../electron/engine/onnx/graph.ts';
import { createSession, fusedAttentionFor, type Session } from '../../electron/engine/onnx/runtime.ts';
import { toModelProto } from '../../electron/engine/onnx/serialize.ts';
import { tensorToImage, type RgbImage } from '../../electron/engine/pipelines/image.ts';
import { createImageSampler } from '../../electron/engine/pipelines/sampling.ts';
import { tensor } from '../../electron/engine/tensor.ts';

/** The embedded model's noise schedule (model.json `scheduler` of emoji-ldm-32), which the ablation LDMs train on too. */
export const ABLATION_SCHEDULER = { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012, trainTimesteps: 1000, prediction: 'epsilon' } as const;

/** One snapshot's networks: configs, weights keyed by the graphs' parameter names, and how prompts become ids. */
export interface SnapshotNetworks {
  readonly unet: UNetConfig;
  readonly textEncoder: TextEncoderConfig;
  /** null: pixel space (f=1), the sample is the picture. */
  readonly autoencoder: AutoencoderConfig | null;
  readonly weights: {
    readonly unet: ReadonlyMap<string, Float32Array>;
    readonly textEncoder: ReadonlyMap<string, Float32Array>;
    readonly decoder: ReadonlyMap<string, Float32Array> | null;
  };
  /** Latents (or pixels, f=1) were multiplied by this for training; samples are divided by it. */
  readonly scaleFactor: number;
  /** A prompt → exactly textEncoder.maxLength token ids. */
  tokenize(text: string): ArrayLike<number>;
  /** Picture side in pixels. */
  readonly imageSize: number;
}

export interface BatchSamplingOptions {
  /** Pictures per UNet call (the UNet runs at twice this: uncond and cond). */
  readonly batch: number;
  readonly steps: number;
  readonly guidance: number;
  readonly threads?: number;
}

export class BatchSamplerError extends Error {
  override name = 'BatchSamplerError';
}

export class BatchSampler {
  private constructor(
    private readonly nets: SnapshotNetworks,
    private readonly o: BatchSamplingOptions,
    private readonly text: Session,
    private readonly unet: Session,
    private readonly decoder: Session | null,
    private readonly factor: number,
  ) {}

  static async open(nets: SnapshotNetworks, o: BatchSamplingOptions): Promise<BatchSampler> {
    const { unet, textEncoder: te, autoencoder: ae } = nets;
    if (!Number.isInteger(o.batch) || o.batch < 1) throw new BatchSamplerError(`batch must be a whole number ≥ 1, got ${o.batch}`);
    if (!Number.isInteger(o.steps) || o.steps < 1) throw new BatchSamplerError(`steps must be a whole number ≥ 1, got ${o.steps}`);
    if (unet.contextDim !== te.width) throw new BatchSamplerError(`the UNet's context width ${unet.contextDim} is not the text encoder's width ${te.width}`);
    if ((ae === null) !== (nets.weights.decoder === null)) throw new BatchSamplerError('a snapshot has decoder weights exactly when it has an autoencoder');
    const factor = ae ? autoencoderFactor(ae) : 1;
    const channels = ae ? ae.embedDim : 3;
    if (unet.inChannels !== channels || unet.outChannels !== channels) {
      throw new BatchSamplerError(`the UNet maps ${unet.inChannels} → ${unet.outChannels} channels; the ${ae ? 'latents' : 'pictures'} have ${channels}`);
    }
    if (nets.imageSize % factor !== 0) throw new BatchSamplerError(`picture size ${nets.imageSize} is not a multiple of f=${factor}`);
    const size = nets.imageSize / factor;
    const fused = fusedAttentionFor('cpu');
    const B = o.batch;
    const threads = o.threads ?? 1;
    const text = await sessionOf(buildTextEncoderGraph(te, 2 * B, 0, { fusedAttention: fused }), nets.weights.textEncoder, threads);
    const u = await sessionOf(buildUNetGraph(unet, { batch: 2 * B, height: size, width: size, contextLength: te.maxLength, fusedAttention: fused }), nets.weights.unet, threads);
    const dec = ae ? await sessionOf(buildVaeDecoderGraph(ae, B, size, size, { fusedAttention: fused }), nets.weights.decoder!, threads) : null;
    return new BatchSampler(nets, o, text, u, dec, factor);
  }

  /** Picture i is drawn for prompts[i] from seeds[i]'s noise (DDIM, η = 0, classifier-free guidance against ''). */
  async sample(prompts: readonly string[], seeds: readonly number[], onBatch?: (done: number, total: number) => void): Promise<RgbImage[]> {
    if (prompts.length !== seeds.length) throw new BatchSamplerError(`${prompts.length} prompts but ${seeds.length} seeds`);
    const out: RgbImage[] = [];
    for (let start = 0; start < prompts.length; start += this.o.batch) {
      const end = Math.min(prompts.length, start + this.o.batch);
      out.push(...(await this.sampleBatch(prompts.slice(start, end), seeds.slice(start, end))));
      onBatch?.(end, prompts.length);
    }
    return out;
  }

  private async sampleBatch(prompts: readonly string[], seeds: readonly number[]): Promise<RgbImage[]> {
    const B = this.o.batch;
    const m = prompts.length; // ≤ B: the rest of the batch is padding, thrown away
    const { unet, textEncoder: te } = this.nets;
    const c = unet.inChannels;
    const h = this.nets.imageSize / this.factor;
    const per = c * h * h;
    const L = te.maxLength;

    const ids = new BigInt64Array(2 * B * L);
    for (let b = 0; b < 2 * B; b++) {
      const prompt = b < B ? '' : prompts[Math.min(b - B, m - 1)]!;
      const t = this.nets.tokenize(prompt);
      if (t.length !== L) throw new BatchSamplerError(`the tokenizer gave ${t.length} ids; the text encoder takes ${L}`);
      for (let k = 0; k < L; k++) ids[b * L + k] = BigInt(t[k]!);
    }
    const context = (await this.text.run({ input_ids: tensor('int64', [2 * B, L], ids) })).last_hidden_state!;

    const sampler = createImageSampler('ddim', this.o.steps, 0, ABLATION_SCHEDULER);
    let x = new Float32Array(B * per);
    seeds.forEach((seed, i) => {
      const noise = new ImageNoise({ seed, shape: [c, h, h], downscale: this.factor }).normal(per);
      for (let k = 0; k < per; k++) x[i * per + k] = noise[k]! * sampler.initNoiseSigma;
    });
    const input = new Float32Array(2 * B * per);
    const sample = tensor('float32', [2 * B, c, h, h], input);
    const modelFn = async (scaled: Float32Array, t: number): Promise<Float32Array> => {
      input.set(scaled, 0);
      input.set(scaled, B * per);
      const temb = timestepEmbedding(new Array<number>(2 * B).fill(t), unet.modelChannels);
      const eps = (await this.unet.run({ sample, timestep_embedding: temb, encoder_hidden_states: context })).out_sample!.data as Float32Array;
      return cfgBatched(eps, this.o.guidance);
    };
    const unused = new Rng(0); // DDIM with η = 0 draws no noise
    for (let i = 0; i < sampler.timesteps.length; i++) x = Float32Array.from((await sampler.step(i, x, modelFn, unused)).x);

    const inv = 1 / this.nets.scaleFactor;
    const z = x.map((v) => v * inv);
    const pixels = this.decoder
      ? ((await this.decoder.run({ latent_sample: tensor('float32', [B, c, h, h], z) })).sample!.data as Float32Array)
      : z;
    const S = this.nets.imageSize;
    const n = 3 * S * S;
    return Array.from({ length: m }, (_, i) => tensorToImage(tensor('float32', [1, 3, S, S], pixels.slice(i * n, (i + 1) * n))));
  }

  async close(): Promise<void> {
    await Promise.all([this.text.release(), this.unet.release(), this.decoder?.release()]);
  }
}

async function sessionOf(g: Graph, weights: ReadonlyMap<string, Float32Array>, threads: number): Promise<Session> {
  for (const [name, p] of g.params) {
    const w = weights.get(name);
    const want = p.shape.reduce((a, b) => a * b, 1);
    if (!w) throw new BatchSamplerError(`the snapshot has no weights for ${g.name}'s parameter '${name}'`);
    if (w.length !== want) throw new BatchSamplerError(`'${name}' holds ${w.length} values; ${g.name} needs [${p.shape.join(', ')}] = ${want}`);
  }
  const proto = toModelProto(g, { kind: 'embedded', get: (name) => ({ dtype: 'float32', shape: g.params.get(name)!.shape, data: weights.get(name)! }) });
  return createSession(proto, { provider: 'cpu', threads, optimization: 'disabled', memoryPattern: false });
}
