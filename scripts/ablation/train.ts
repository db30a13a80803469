// The f-ablation's training stages (see variants.ts). Budgets are CPU time of this process (user +
// system, process.cpuUsage()), counted over the training steps only and carried across restarts in the
// checkpoint's extra.cpuSeconds, so runs on a shared machine get the same compute whatever the load.
// - ablation-autoencoder: the variant's autoencoder from scratch with the embedded recipe (AE_TRAINING,
//   seed 1001) for AE_CPU_MINUTES; then the held-out reconstruction PSNR, the data set encoded once
//   (KL: posterior mean and std; VQ: the pre-quantisation latent) and the scale factor (1/std).
// - ablation-ldm: the embedded LDM recipe (LDM_TRAINING, seed 2002, min-SNR-γ, caption dropout, EMA)
//   on those latents (f1: on the pixels) for LDM_CPU_MINUTES, with EMA snapshots at SNAPSHOT_CPU_MINUTES.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { buildGradientGraph } from '../../electron/engine/autodiff/index.ts';
import type { Rng } from '../../electron/engine/diffusion/rng.ts';
import { makeSchedule } from '../../electron/engine/diffusion/schedule.ts';
import { buildAutoencoderLossGraph, buildDiffusionLossGraph } from '../../electron/engine/nn/losses.ts';
import { buildVaeDecoderGraph, buildVaeEncoderGraph } from '../../electron/engine/nn/models.ts';
import { timestepEmbedding } from '../../electron/engine/nn/unet.ts';
import { createSession, type SessionOptions } from '../../electron/engine/onnx/runtime.ts';
import { toModelProto } from '../../electron/engine/onnx/serialize.ts';
import { Trainer, type Feeds } from '../../electron/engine/training/index.ts';
import { AE_TRAINING, CACHE_DIR, CONTEXT_LENGTH, IMAGE_SIZE, LDM_TRAINING } from '../embedded/config.ts';
import { loadEmojiDataset, sampleAsFloat, type EmojiDataset } from '../embedded/emoji-dataset.ts';
import { latentScaleFactor } from '../embedded/latent-scale.ts';
import { stepLogger } from '../embedded/step-log.ts';
import { ablationTextEncoder, saveSnapshot, shippedTokenizer, type AblationTokenizer } from './snapshot.ts';
import { noiseLevelFeeds } from '../embedded/noise-feeds.ts';
import {
  ABLATION_DIR, AE_CPU_MINUTES, LDM_CPU_MINUTES, SNAPSHOT_CPU_MINUTES, autoencoderCheckpoint, latentMetaFile, latentsFile,
  ldmCheckpoint, snapshotFile, variantDir, type AblationVariant, type LatentMeta,
} from './variants.ts';

/** One onnxruntime thread: the machine is shared, and the budget is CPU time anyway. */
const SESSION: SessionOptions = { threads: 1 };

export function processCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** CPU seconds spent on a run: those of earlier processes (from the checkpoint) plus this one's since start(). */
class CpuClock {
  private t0 = processCpuSeconds();
  constructor(private readonly before: number) {}
  start(): void {
    this.t0 = processCpuSeconds();
  }
  get spent(): number {
    return this.before + processCpuSeconds() - this.t0;
  }
}

const spentOf = (t: Trainer) => Number(t.extra.cpuSeconds ?? 0);

export interface AblationStageOptions {
  /** Stop this process after this many CPU minutes even if the variant's budget is not spent. */
  minutes?: number;
  log?: (line: string) => void;
  root?: string;
}

// ---- autoencoders ----------------------------------------------------------------------------------

/** `session`: tests start quicker without onnxruntime's graph optimisations. */
export async function autoencoderTrainer(v: AblationVariant, batch: number, file?: string, session = SESSION): Promise<Trainer> {
  const cfg = v.autoencoder;
  if (!cfg) throw new Error(`variant ${v.name} has no autoencoder (pixel space)`);
  const { lr, klWeight, gradientWeight } = AE_TRAINING;
  const lg = buildAutoencoderLossGraph(cfg, { batch, height: IMAGE_SIZE, width: IMAGE_SIZE, klWeight, gradientWeight });
  const graph = buildGradientGraph(lg.graph, lg.loss, [...lg.graph.params.keys()], { stopGradient: lg.stopGradient });
  const opts = {
    graph,
    lr,
    schedule: { kind: 'warmup' as const, warmupSteps: 100 },
    adam: { beta1: 0.5, beta2: 0.9, weightDecay: 0 },
    clipNorm: 1,
    seed: 1001,
    session,
    checkpoint: file ? { file } : undefined,
  };
  return file && existsSync(file) ? Trainer.resume(opts, file) : Trainer.create(opts);
}

/** One autoencoder batch: `image` [B, 3, 32, 32] and, for KL, the posterior `noise`. */
export function autoencoderFeeds(v: AblationVariant, image: Float32Array, rng: Rng): Feeds {
  const batch = image.length / (3 * IMAGE_SIZE * IMAGE_SIZE);
  const feeds: Feeds = { image: { dtype: 'float32', shape: [batch, 3, IMAGE_SIZE, IMAGE_SIZE], data: image } };
  if (v.autoencoder!.kind === 'kl') {
    const shape = [batch, v.latentChannels, v.latentSize, v.latentSize];
    feeds.noise = { dtype: 'float32', shape, data: rng.normal(shape.reduce((a, b) => a * b, 1)) };
  }
  return feeds;
}

const trainIndices = (ds: EmojiDataset) => ds.samples.flatMap((s, i) => (s.heldOut ? [] : [i]));

export async function trainAblationAutoencoder(v: AblationVariant, o: AblationStageOptions = {}): Promise<void> {
  const log = o.log ?? console.log;
  const root = o.root ?? ABLATION_DIR;
  mkdirSync(variantDir(v, root), { recursive: true });
  const file = autoencoderCheckpoint(v, root);
  const ds = await loadEmojiDataset(IMAGE_SIZE, CACHE_DIR);
  const train = trainIndices(ds);
  const { batch } = AE_TRAINING;
  const trainer = await autoencoderTrainer(v, batch, file);
  const budget = AE_CPU_MINUTES * 60;
  const clock = new CpuClock(spentOf(trainer));
  const stopAt = clock.spent + (o.minutes ?? Infinity) * 60;
  log(`${v.name} autoencoder: ${train.length} training images, step ${trainer.step}, ${clock.spent.toFixed(0)} of ${budget} CPU s spent`);
  const n = 3 * IMAGE_SIZE * IMAGE_SIZE;
  const image = new Float32Array(batch * n);
  const report = stepLogger(`${v.name} autoencoder`, log, 20);
  let lastSave = clock.spent;
  clock.start();
  while (clock.spent < budget && clock.spent < stopAt) {
    const pick = trainer.rng.integers(batch, train.length);
    for (let b = 0; b < batch; b++) sampleAsFloat(ds, train[pick[b]!]!, image, b * n);
    report(await trainer.trainStep(autoencoderFeeds(v, image, trainer.rng)));
    if (clock.spent - lastSave > 60) {
      trainer.extra.cpuSeconds = String(clock.spent);
      await trainer.save();
      lastSave = clock.spent;
    }
  }
  trainer.extra.cpuSeconds = String(clock.spent);
  await trainer.save();
  log(`${v.name} autoencoder: step ${trainer.step}, ${clock.spent.toFixed(0)} CPU s`);
  if (clock.spent >= budget) {
    const meta = await encodeDataset(v, trainer.exportParams(), ds, { steps: trainer.step, cpuSeconds: clock.spent }, root);
    log(`${v.name} autoencoder: held-out PSNR ${meta.autoencoderPsnr!.toFixed(2)} dB, scale factor ${meta.scaleFactor.toFixed(4)}`);
  }
  await trainer.close();
}

/**
 * Encodes every picture once (KL: mean and std; VQ: the pre-quantisation latent) into latents.bin,
 * measures the held-out reconstruction PSNR (dB on [0, 1] pixels, KL from the mean latent) by decoding
 * those latents, and the scale factor over the training latents; writes latents.json.
 */
export async function encodeDataset(v: AblationVariant, weights: ReadonlyMap<string, Float32Array>, ds: EmojiDataset,
  ae: { steps: number; cpuSeconds: number }, root = ABLATION_DIR): Promise<LatentMeta> {
  const cfg = v.autoencoder!;
  const b = 16;
  const S = IMAGE_SIZE;
  const s = v.latentSize;
  const c = v.latentChannels;
  const per = c * s * s;
  const kl = cfg.kind === 'kl';
  const stride = kl ? 2 * per : per;
  const embedded = (g: ReturnType<typeof buildVaeEncoderGraph>) =>
    ({ kind: 'embedded' as const, get: (name: string) => ({ dtype: 'float32' as const, shape: g.params.get(name)!.shape, data: weights.get(name)! }) });
  const encG = buildVaeEncoderGraph(cfg, b, S, S);
  const decG = buildVaeDecoderGraph(cfg, b, s, s);
  const enc = await createSession(toModelProto(encG, embedded(encG)), SESSION);
  const dec = await createSession(toModelProto(decG, embedded(decG)), SESSION);
  const count = ds.samples.length;
  const out = new Float32Array(count * stride);
  const n = 3 * S * S;
  let mse = 0;
  let heldCount = 0;
  for (let start = 0; start < count; start += b) {
    const x = new Float32Array(b * n);
    for (let i = 0; i < b && start + i < count; i++) sampleAsFloat(ds, start + i, x, i * n);
    const m = Object.values(await enc.run({ sample: { dtype: 'float32', shape: [b, 3, S, S], data: x } }))[0]!.data as Float32Array;
    const z = new Float32Array(b * per); // the latent decoded for the PSNR: KL mean, VQ pre-quantisation latent
    for (let i = 0; i < b; i++) {
      const from = i * (kl ? 2 * per : per);
      z.set(m.subarray(from, from + per), i * per);
      if (start + i >= count) continue;
      const base = (start + i) * stride;
      out.set(m.subarray(from, from + per), base);
      if (kl) for (let k = 0; k < per; k++) out[base + per + k] = Math.exp(0.5 * m[from + per + k]!);
    }
    const held = [...Array(b).keys()].filter((i) => start + i < count && ds.samples[start + i]!.heldOut);
    if (held.length === 0) continue;
    const y = Object.values(await dec.run({ latent_sample: { dtype: 'float32', shape: [b, c, s, s], data: z } }))[0]!.data as Float32Array;
    for (const i of held) {
      for (let k = i * n; k < (i + 1) * n; k++) {
        const d = (Math.max(-1, Math.min(1, y[k]!)) - x[k]!) / 2;
        mse += d * d;
      }
      heldCount++;
    }
  }
  await enc.release();
  await dec.release();
  // latentScaleFactor reads `per` values then `per` more per picture; for VQ give it a [latent, 0] layout.
  const moments = kl ? out : interleaveZeros(out, count, per);
  const meta: LatentMeta = {
    variant: v.name,
    factor: v.factor,
    scaleFactor: latentScaleFactor(moments, count, per, (i) => ds.samples[i]!.heldOut),
    latentChannels: c,
    latentSize: s,
    layout: kl ? 'moments' : 'latent',
    autoencoderPsnr: 10 * Math.log10(1 / (mse / (heldCount * n))),
    autoencoderCpuSeconds: ae.cpuSeconds,
    autoencoderSteps: ae.steps,
  };
  writeFileSync(latentsFile(v, root), out);
  writeFileSync(latentMetaFile(v, root), JSON.stringify(meta, null, 1));
  return meta;
}

function interleaveZeros(latents: Float32Array, count: number, per: number): Float32Array {
  const out = new Float32Array(count * 2 * per);
  for (let i = 0; i < count; i++) out.set(latents.subarray(i * per, (i + 1) * per), i * 2 * per);
  return out;
}

// ---- LDMs -------------------------------------------------------------------------------------------

/** What the LDM trains on: per picture, `per` values (VQ latent, f1 pixels) or `per` means then `per` stds (KL). */
export interface LdmData {
  values: Float32Array;
  layout: LatentMeta['layout'];
  per: number;
  scaleFactor: number;
  captions: string[];
  /** indices of the training pictures */
  train: number[];
}

export async function loadLdmData(v: AblationVariant, root = ABLATION_DIR): Promise<LdmData> {
  const ds = await loadEmojiDataset(IMAGE_SIZE, CACHE_DIR);
  const per = v.latentChannels * v.latentSize * v.latentSize;
  const captions = ds.samples.map((s) => s.caption);
  const train = trainIndices(ds);
  if (!v.autoencoder) {
    const values = new Float32Array(ds.samples.length * per);
    for (let i = 0; i < ds.samples.length; i++) sampleAsFloat(ds, i, values, i * per);
    return { values, layout: 'pixels', per, scaleFactor: 1, captions, train };
  }
  if (!existsSync(latentMetaFile(v, root))) {
    throw new Error(`${latentMetaFile(v, root)} is missing: train the autoencoder first (--stage ablation-autoencoder --variant ${v.name})`);
  }
  const meta = JSON.parse(readFileSync(latentMetaFile(v, root), 'utf8')) as LatentMeta;
  const b = readFileSync(latentsFile(v, root));
  return { values: new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4), layout: meta.layout, per, scaleFactor: meta.scaleFactor, captions, train };
}

export async function ldmTrainer(v: AblationVariant, tok: AblationTokenizer, batch: number, file?: string, session = SESSION): Promise<Trainer> {
  const { lr, warmup, emaDecay } = LDM_TRAINING;
  const h = v.latentSize;
  const lg = buildDiffusionLossGraph(v.unet, { batch, height: h, width: h, latentChannels: v.latentChannels, textEncoder: ablationTextEncoder(tok), weighted: true });
  const graph = buildGradientGraph(lg.graph, lg.loss, [...lg.graph.params.keys()]);
  const opts = {
    graph,
    lr,
    schedule: { kind: 'warmup' as const, warmupSteps: warmup },
    adam: { weightDecay: 0.01 },
    clipNorm: 1,
    ema: { decay: emaDecay },
    seed: 2002,
    session,
    checkpoint: file ? { file } : undefined,
  };
  return file && existsSync(file) ? Trainer.resume(opts, file) : Trainer.create(opts);
}

/** One LDM batch as the embedded stage draws it (same order of draws from the trainer's RNG). */
export function ldmFeeds(v: AblationVariant, data: LdmData, tok: AblationTokenizer, rng: Rng, batch: number): Feeds {
  const { captionDropout, minSnrGamma } = LDM_TRAINING;
  const schedule = makeSchedule();
  const { per } = data;
  const h = v.latentSize;
  const c = v.latentChannels;
  const latents = new Float32Array(batch * per);
  const ids = new BigInt64Array(batch * CONTEXT_LENGTH);
  const empty = tok.encode('');
  const pick = rng.integers(batch, data.train.length);
  const eps = rng.normal(batch * per);
  const post = rng.normal(batch * per);
  const ts = rng.integers(batch, schedule.alphasCumprod.length);
  const drop = rng.uniform(batch);
  for (let b = 0; b < batch; b++) {
    const i = data.train[pick[b]!]!;
    if (data.layout === 'moments') {
      const base = i * 2 * per;
      for (let k = 0; k < per; k++) latents[b * per + k] = (data.values[base + k]! + data.values[base + per + k]! * post[b * per + k]!) * data.scaleFactor;
    } else {
      for (let k = 0; k < per; k++) latents[b * per + k] = data.values[i * per + k]! * data.scaleFactor;
    }
    ids.set(drop[b]! < captionDropout ? empty : tok.encode(data.captions[i]!), b * CONTEXT_LENGTH);
  }
  return {
    latents: { dtype: 'float32', shape: [batch, c, h, h], data: latents },
    noise: { dtype: 'float32', shape: [batch, c, h, h], data: eps },
    ...noiseLevelFeeds(schedule.alphasCumprod, ts, minSnrGamma),
    timestep_embedding: timestepEmbedding(Array.from(ts), v.unet.modelChannels),
    input_ids: { dtype: 'int64', shape: [batch, CONTEXT_LENGTH], data: ids },
  };
}

export interface LdmRunOptions extends AblationStageOptions {
  batch?: number;
  /** tests: stop after this many steps of this process */
  maxSteps?: number;
  /** tests: snapshot times other than SNAPSHOT_CPU_MINUTES */
  snapshotMinutes?: readonly number[];
  /** tests: data other than the variant's latents */
  data?: LdmData;
  /** tests: a quicker session */
  session?: SessionOptions;
}

export async function trainAblationLdm(v: AblationVariant, o: LdmRunOptions = {}): Promise<{ step: number; cpuSeconds: number; lastLoss: number }> {
  const log = o.log ?? console.log;
  const root = o.root ?? ABLATION_DIR;
  mkdirSync(variantDir(v, root), { recursive: true });
  const data = o.data ?? await loadLdmData(v, root);
  const tok = shippedTokenizer();
  const batch = o.batch ?? LDM_TRAINING.batch;
  const file = ldmCheckpoint(v, root);
  const trainer = await ldmTrainer(v, tok, batch, file, o.session);
  const budget = LDM_CPU_MINUTES * 60;
  const snapshots = o.snapshotMinutes ?? SNAPSHOT_CPU_MINUTES;
  const clock = new CpuClock(spentOf(trainer));
  const stopAt = clock.spent + (o.minutes ?? Infinity) * 60;
  const maxSteps = trainer.step + (o.maxSteps ?? Infinity);
  log(`${v.name} ldm: ${data.train.length} training latents ${v.latentChannels}×${v.latentSize}×${v.latentSize}, scale ${data.scaleFactor.toFixed(4)}, step ${trainer.step}, ${clock.spent.toFixed(0)} of ${budget} CPU s spent`);
  const report = stepLogger(`${v.name} ldm`, log);
  const save = async () => {
    trainer.extra.cpuSeconds = String(clock.spent);
    await trainer.save();
  };
  let lastSave = clock.spent;
  let lastLoss = NaN;
  clock.start();
  while (clock.spent < budget && clock.spent < stopAt && trainer.step < maxSteps) {
    const r = await trainer.trainStep(ldmFeeds(v, data, tok, trainer.rng, batch));
    report(r);
    lastLoss = r.loss;
    const spent = clock.spent;
    for (const m of snapshots) {
      if (spent < m * 60 || existsSync(snapshotFile(v, m, root))) continue;
      await saveSnapshot(v, m, trainer.ema!.shadow, { step: trainer.step, cpuSeconds: spent }, root);
      log(`${v.name} ldm: snapshot at ${m} CPU min: step ${trainer.step}, ${spent.toFixed(0)} CPU s`);
      await save();
      lastSave = spent;
    }
    if (spent - lastSave > 60) {
      await save();
      lastSave = spent;
    }
  }
  await save();
  log(`${v.name} ldm: step ${trainer.step}, ${clock.spent.toFixed(0)} CPU s`);
  const result = { step: trainer.step, cpuSeconds: clock.spent, lastLoss };
  await trainer.close();
  return result;
}
