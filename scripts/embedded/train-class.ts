// Stage 'class-ldm' (issue 14, item 3): a class-conditional LDM like the paper's cin models, whose
// class embedding (ClassEmbedder: one row per class, a one-token context for cross-attention) stands
// where the text encoder was. Fine-tuned from the embedded text model (its UNet, autoencoder and latent
// scale): each class row starts as the text encoder's output for the subcategory's words, averaged over
// the tokens (the value cross-attention gives with uniform weights), and the "no class" row as its output
// for the empty caption, so at step 0 it already draws each class roughly as the text model would. The
// UNet and the class table then train on the subcategory labels with 10% of them dropped to "no class"
// (classifier-free guidance). Classes are drawn ∝ √(pictures in the class) so small subcategories are
// seen. Resumable from training/embedded-class/class.ckpt; one thread.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildGradientGraph } from '../../electron/engine/autodiff/index.ts';
import { makeSchedule } from '../../electron/engine/diffusion/schedule.ts';
import { loadSafetensors } from '../../electron/engine/io/safetensors.ts';
import { WordTokenizer } from '../../electron/engine/io/tokenizer.ts';
import type { ClassEmbedderConfig } from '../../electron/engine/nn/config.ts';
import { autoencoderFactor } from '../../electron/engine/nn/config.ts';
import { buildDiffusionLossGraph } from '../../electron/engine/nn/losses.ts';
import { buildTextEncoderGraph } from '../../electron/engine/nn/models.ts';
import { timestepEmbedding } from '../../electron/engine/nn/unet.ts';
import { createSession } from '../../electron/engine/onnx/runtime.ts';
import { toModelProto } from '../../electron/engine/onnx/serialize.ts';
import { Trainer } from '../../electron/engine/training/index.ts';
import { CLASS_WORK_DIR, classWords, emojiClasses } from './class-data.ts';
import { AUTOENCODER, CACHE_DIR, IMAGE_SIZE, MODEL_NAME, UNET, textEncoderConfig } from './config.ts';
import { loadEmojiDataset, type EmojiDataset } from './emoji-dataset.ts';
import { encodeMoments } from './latent-moments.ts';
import { stepLogger } from './step-log.ts';
import type { StageOptions } from './train-autoencoder.ts';
import { noiseLevelFeeds } from './noise-feeds.ts';

export const CLASS_CHECKPOINT = path.join(CLASS_WORK_DIR, 'class.ckpt');
const LATENTS_FILE = path.join(CLASS_WORK_DIR, 'latents.bin');
export const CLASS_TABLE = 'cond_stage_model.embedding.weight';
export const CLASS_TRAINING = { batch: 32, lr: 1e-4, warmup: 100, classDropout: 0.1, emaDecay: 0.999, minSnrGamma: 5 };
const THREADS = 1;

/** The class embedder of a model with `classes` named classes: one more row for "no class". */
export function classEmbedderFor(classes: number): ClassEmbedderConfig {
  return { nClasses: classes + 1, embedDim: UNET.contextDim! };
}

/** The embedded text model as shipped: its weights (float32), tokenizer and latent scale. */
export async function loadTextModel(): Promise<{ weights: Map<string, Float32Array>; tokenizer: WordTokenizer; scale: number; step: number }> {
  const dir = path.join('resources/models', MODEL_NAME);
  const spec = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as { tokenizer: unknown; latentScaleFactor: number; provenance: { ldmSteps: number } };
  const weights = new Map([...(await loadSafetensors(path.join(dir, 'model.safetensors'))).tensors].map(([n, t]) => [n, Float32Array.from(t.data as ArrayLike<number>)]));
  return { weights, tokenizer: WordTokenizer.fromSpec(spec.tokenizer), scale: spec.latentScaleFactor, step: spec.provenance.ldmSteps };
}

/**
 * The starting class table [classes + 1, width]: the text encoder's output for each class's words,
 * averaged over the context's tokens, then the same for the empty caption ("no class").
 */
export async function classTableFromText(names: readonly string[], text: { weights: ReadonlyMap<string, Float32Array>; tokenizer: WordTokenizer }): Promise<Float32Array> {
  const cfg = textEncoderConfig(text.tokenizer.vocabSize);
  const captions = [...names.map(classWords), ''];
  const b = captions.length;
  const L = cfg.maxLength;
  const g = buildTextEncoderGraph(cfg, b);
  const s = await createSession(
    toModelProto(g, { kind: 'embedded', get: (n) => ({ dtype: 'float32', shape: g.params.get(n)!.shape, data: text.weights.get(n)! }) }),
    { threads: THREADS },
  );
  const ids = new BigInt64Array(b * L);
  captions.forEach((c, i) => text.tokenizer.encode(c).forEach((id, j) => (ids[i * L + j] = BigInt(id))));
  const hidden = Object.values(await s.run({ input_ids: { dtype: 'int64', shape: [b, L], data: ids } }))[0]!.data as Float32Array;
  await s.release();
  const D = cfg.width;
  const table = new Float32Array(b * D);
  for (let i = 0; i < b; i++) for (let t = 0; t < L; t++) for (let d = 0; d < D; d++) table[i * D + d]! += hidden[(i * L + t) * D + d]! / L;
  return table;
}

/** Posterior mean and std of every picture under the shipped encoder, unscaled: [count, 2, C, h, w] (cached). */
async function encodeAll(ds: EmojiDataset, weights: ReadonlyMap<string, Float32Array>): Promise<Float32Array> {
  if (existsSync(LATENTS_FILE)) {
    const b = readFileSync(LATENTS_FILE);
    return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  }
  const moments = await encodeMoments(ds, weights, THREADS);
  writeFileSync(LATENTS_FILE, moments);
  return moments;
}

export async function trainClassLdm(o: StageOptions): Promise<void> {
  const log = o.log ?? console.log;
  mkdirSync(CLASS_WORK_DIR, { recursive: true });
  const text = await loadTextModel();
  const ds = await loadEmojiDataset(IMAGE_SIZE, CACHE_DIR);
  const classes = emojiClasses(ds.samples);
  const K = classes.names.length;
  const embedder = classEmbedderFor(K);
  const { batch, lr, warmup, classDropout, emaDecay, minSnrGamma } = CLASS_TRAINING;
  const h = IMAGE_SIZE / autoencoderFactor(AUTOENCODER);
  const c = AUTOENCODER.embedDim;
  const lg = buildDiffusionLossGraph(UNET, { batch, height: h, width: h, latentChannels: c, classEmbedder: embedder, weighted: true });
  const names = [...lg.graph.params.keys()];
  const graph = buildGradientGraph(lg.graph, lg.loss, names);
  const opts = {
    graph,
    lr,
    schedule: { kind: 'warmup' as const, warmupSteps: warmup },
    adam: { weightDecay: 0.01 },
    clipNorm: 1,
    ema: { decay: emaDecay },
    seed: 7007,
    session: { threads: THREADS },
    checkpoint: { file: CLASS_CHECKPOINT, every: 50 },
  };
  let trainer: Trainer;
  if (existsSync(CLASS_CHECKPOINT)) {
    trainer = await Trainer.resume(opts, CLASS_CHECKPOINT);
  } else {
    const start = new Map<string, Float32Array>();
    for (const n of names) {
      const w = n === CLASS_TABLE ? await classTableFromText(classes.names, text) : text.weights.get(n);
      if (!w) throw new Error(`the embedded text model has no ${n}`);
      start.set(n, Float32Array.from(w));
    }
    trainer = await Trainer.create({ ...opts, params: start });
  }
  const moments = await encodeAll(ds, text.weights);
  const per = c * h * h;
  // training pictures by class, and the class draw ∝ √count
  const byClass: number[][] = Array.from({ length: K }, () => []);
  ds.samples.forEach((s, i) => {
    if (!s.heldOut) byClass[classes.labelOf[i]!]!.push(i);
  });
  const drawn = byClass.flatMap((list, k) => (list.length ? [k] : []));
  const cumulative = Float64Array.from(drawn.map((k) => Math.sqrt(byClass[k]!.length)));
  for (let i = 1; i < cumulative.length; i++) cumulative[i]! += cumulative[i - 1]!;
  const total = cumulative[cumulative.length - 1]!;
  const drawClass = (u: number) => drawn[Math.min(drawn.length - 1, cumulative.findIndex((v) => v >= u * total))]!;
  log(`class-ldm: ${K} classes (+ "no class"), ${drawn.length} with training pictures, ${trainer.trained.length} tensors, resuming at step ${trainer.step}`);

  const schedule = makeSchedule();
  const latents = new Float32Array(batch * per);
  const labels = new BigInt64Array(batch);
  const deadline = Date.now() + o.minutes * 60_000;
  const report = stepLogger('class-ldm', log);
  while (Date.now() < deadline) {
    const rng = trainer.rng;
    const u = rng.uniform(2 * batch);
    const drop = rng.uniform(batch);
    const eps = rng.normal(batch * per);
    const post = rng.normal(batch * per);
    const ts = rng.integers(batch, schedule.alphasCumprod.length);
    for (let b = 0; b < batch; b++) {
      const k = drawClass(u[2 * b]!);
      const list = byClass[k]!;
      const i = list[Math.min(list.length - 1, Math.floor(u[2 * b + 1]! * list.length))]!;
      for (let q = 0; q < per; q++) latents[b * per + q] = (moments[i * 2 * per + q]! + moments[i * 2 * per + per + q]! * post[b * per + q]!) * text.scale;
      labels[b] = BigInt(drop[b]! < classDropout ? K : k);
    }
    const r = await trainer.trainStep({
      latents: { dtype: 'float32', shape: [batch, c, h, h], data: latents },
      noise: { dtype: 'float32', shape: [batch, c, h, h], data: eps },
      ...noiseLevelFeeds(schedule.alphasCumprod, ts, minSnrGamma),
      timestep_embedding: timestepEmbedding(Array.from(ts), UNET.modelChannels),
      class_labels: { dtype: 'int64', shape: [batch], data: labels },
    });
    report(r);
  }
  await trainer.save();
  await trainer.close();
}
