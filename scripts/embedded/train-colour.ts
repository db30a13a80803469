// Stage 'ldm-colour' (issue 14, item 5): the embedded text model fine-tuned FROM THE SHIPPED WEIGHTS with
// colour-caption augmentation, so colour words learn to steer any concept's colour. The training
// captions name a colour for only ~40 pictures (hearts, squares, circles, books); here half the time a
// picture whose pixels are mostly one hue gets that hue's colour word in front of its caption
// ("yellow banana, food fruit"), read from its pixels with the colour measure's own hue code
// (engine/eval/hue.ts, colour.ts). Everything else is the ldm stage's recipe (ε, min-SNR-γ, caption
// dropout, EMA). Latents are the shipped encoder's posterior (mean, std), cached once.
// Resumable from training/embedded-colour/colour.ckpt (the text-side variant: training/embedded-colour-text/).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildGradientGraph } from '../../electron/engine/autodiff/index.ts';
import { makeSchedule } from '../../electron/engine/diffusion/schedule.ts';
import { COLOUR_WORDS, isPersonCaption, nearestColour, type ColourWord } from '../../electron/engine/eval/colour.ts';
import { pictureHue } from '../../electron/engine/eval/hue.ts';
import { loadSafetensors } from '../../electron/engine/io/safetensors.ts';
import { WordTokenizer } from '../../electron/engine/io/tokenizer.ts';
import { buildDiffusionLossGraph } from '../../electron/engine/nn/losses.ts';
import { timestepEmbedding } from '../../electron/engine/nn/unet.ts';
import { Trainer } from '../../electron/engine/training/index.ts';
import { AUTOENCODER, CACHE_DIR, CONTEXT_LENGTH, IMAGE_SIZE, MODEL_NAME, UNET, textEncoderConfig } from './config.ts';
import { datasetPicture, loadEmojiDataset, type EmojiDataset } from './emoji-dataset.ts';
import { heldOutDenoisingLoss } from './held-out-loss.ts';
import { encodeMoments } from './latent-moments.ts';
import { stepLogger } from './step-log.ts';
import type { StageOptions } from './train-autoencoder.ts';
import { noiseLevelFeeds } from './noise-feeds.ts';

export const COLOUR_WORK_DIR = 'training/embedded-colour';
/** The text-side variant (stage ldm-colour-text): only the text encoder and the cross-attention keys/values train. */
export const COLOUR_TEXT_WORK_DIR = 'training/embedded-colour-text';

/** Where a variant's checkpoint lives. */
export function colourRun(textOnly: boolean): { dir: string; checkpoint: string } {
  const dir = textOnly ? COLOUR_TEXT_WORK_DIR : COLOUR_WORK_DIR;
  return { dir, checkpoint: path.join(dir, 'colour.ckpt') };
}

/** The text-side variant's trained params: what reads the caption, so the denoiser cannot memorise more pictures. */
export function isTextSide(name: string): boolean {
  return name.startsWith('cond_stage_model.') || /\.attn2\.to_[kv]\./.test(name);
}
const MOMENTS_FILE = path.join(COLOUR_WORK_DIR, 'latents.bin');
/**
 * colourCaption: the share of steps' pictures that get their dominant colour word (when they have one).
 * lr 2e-4 was tried first: by step 300 the held-out loss of the raw weights was 0.1074 and of the EMA 0.0954,
 * against 0.0936 shipped (the shipped weights are an EMA; a fresh optimiser at that rate jumps away from it).
 */
export const COLOUR_TRAINING = { batch: 32, lr: 5e-5, warmup: 100, captionDropout: 0.1, emaDecay: 0.999, minSnrGamma: 5, colourCaption: 0.5 };

/** A picture's colour word when most of it is one hue (≥ 15% of pixels coloured, hue vector ≥ 0.85 long, ≤ 25° off). */
export function dominantColourWord(img: { width: number; height: number; data: Uint8Array }): ColourWord | null {
  const h = pictureHue(img);
  if (h.hue === null || h.coloured < 0.15 || h.concentration < 0.85) return null;
  const near = nearestColour(h.hue);
  return near.error <= 25 ? near.word : null;
}

/** The caption with the colour word in front, or null where it already names a colour or shows a person. */
export function colourCaption(caption: string, word: ColourWord | null): string | null {
  if (word === null || isPersonCaption(caption)) return null;
  if (caption.split(/[ ,:]+/).some((w) => (COLOUR_WORDS as readonly string[]).includes(w) || w === 'brown')) return null;
  return `${word} ${caption}`;
}

export interface ShippedModel {
  dir: string;
  tok: WordTokenizer;
  scale: number;
  weights: Map<string, Float32Array>;
}

export async function loadShipped(dir = path.join('resources/models', MODEL_NAME)): Promise<ShippedModel> {
  const spec = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as { tokenizer: unknown; latentScaleFactor: number };
  const weights = new Map([...(await loadSafetensors(path.join(dir, 'model.safetensors'))).tensors].map(([n, t]) => [n, t.data as Float32Array]));
  return { dir, tok: WordTokenizer.fromSpec(spec.tokenizer), scale: spec.latentScaleFactor, weights };
}

/** Posterior mean and std of every picture under the shipped encoder, unscaled: [count, 2, C, h, w] (cached). */
export async function shippedMoments(ds: EmojiDataset, shipped: ShippedModel): Promise<Float32Array> {
  if (existsSync(MOMENTS_FILE)) {
    const b = readFileSync(MOMENTS_FILE);
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  }
  const moments = await encodeMoments(ds, shipped.weights, 1);
  mkdirSync(COLOUR_WORK_DIR, { recursive: true });
  writeFileSync(MOMENTS_FILE, moments);
  return moments;
}

/** The model card's held-out denoising loss (held-out-loss.ts) of `weights` read with `model`'s tokenizer and scale. */
export function heldOutLoss(weights: ReadonlyMap<string, Float32Array>, model: ShippedModel, ds: EmojiDataset, moments: Float32Array): Promise<number> {
  const encode = (t: string) => BigInt64Array.from(model.tok.encode(t), (v) => BigInt(v));
  return heldOutDenoisingLoss({ weights, ds, moments, scaleFactor: model.scale, vocabSize: model.tok.vocabSize, encode, threads: 1 });
}

export async function trainColour(o: StageOptions & { textOnly?: boolean }): Promise<void> {
  const log = o.log ?? console.log;
  const run = colourRun(o.textOnly ?? false);
  mkdirSync(run.dir, { recursive: true });
  const shipped = await loadShipped();
  const ds = await loadEmojiDataset(IMAGE_SIZE, CACHE_DIR);
  const moments = await shippedMoments(ds, shipped);
  const { batch, lr, warmup, captionDropout, emaDecay, minSnrGamma, colourCaption: colourShare } = COLOUR_TRAINING;
  const c = AUTOENCODER.embedDim;
  const h = IMAGE_SIZE / 4;
  const lg = buildDiffusionLossGraph(UNET, { batch, height: h, width: h, latentChannels: c, textEncoder: textEncoderConfig(shipped.tok.vocabSize), weighted: true });
  const all = [...lg.graph.params.keys()];
  const names = o.textOnly ? all.filter(isTextSide) : all;
  const graph = buildGradientGraph(lg.graph, lg.loss, names);
  const opts = {
    graph,
    lr,
    schedule: { kind: 'warmup' as const, warmupSteps: warmup },
    adam: { weightDecay: 0.01 },
    clipNorm: 1,
    ema: { decay: emaDecay, warmup: false },
    seed: 6006,
    session: { threads: 1 },
    checkpoint: { file: run.checkpoint, every: 50 },
    ...(o.textOnly ? { frozen: { kind: 'embedded' as const, get: (n: string) => ({ dtype: 'float32' as const, shape: lg.graph.params.get(n)!.shape, data: shipped.weights.get(n)! }) } } : {}),
  };
  const trainer = existsSync(run.checkpoint)
    ? await Trainer.resume(opts, run.checkpoint)
    : await Trainer.create({ ...opts, params: new Map(names.map((n) => [n, Float32Array.from(shipped.weights.get(n)!)])) });
  const train = ds.samples.flatMap((s, i) => (s.heldOut ? [] : [i]));
  const coloured = new Map<number, string>();
  for (const i of train) {
    const cap = colourCaption(ds.samples[i]!.caption, dominantColourWord(datasetPicture(ds, i)));
    if (cap !== null) coloured.set(i, cap);
  }
  const perWord = Object.fromEntries(COLOUR_WORDS.map((w) => [w, [...coloured.values()].filter((s) => s.startsWith(w + ' ')).length]));
  log(`ldm-colour: ${train.length} training latents, ${coloured.size} with a colour caption (${JSON.stringify(perWord)}), ${trainer.trained.length} tensors, resuming at step ${trainer.step}`);

  const schedule = makeSchedule();
  const per = c * h * h;
  const latents = new Float32Array(batch * per);
  const ids = new BigInt64Array(batch * CONTEXT_LENGTH);
  const encode = (t: string) => BigInt64Array.from(shipped.tok.encode(t), (v) => BigInt(v));
  const empty = encode('');
  const deadline = Date.now() + o.minutes * 60_000;
  const report = stepLogger(o.textOnly ? 'ldm-colour-text' : 'ldm-colour', log);
  while (Date.now() < deadline) {
    const rng = trainer.rng;
    const pick = rng.integers(batch, train.length);
    const eps = rng.normal(batch * per);
    const post = rng.normal(batch * per);
    const ts = rng.integers(batch, schedule.alphasCumprod.length);
    const drop = rng.uniform(batch);
    const useColour = rng.uniform(batch);
    for (let b = 0; b < batch; b++) {
      const i = train[pick[b]!]!;
      for (let k = 0; k < per; k++) latents[b * per + k] = (moments[i * 2 * per + k]! + moments[i * 2 * per + per + k]! * post[b * per + k]!) * shipped.scale;
      const caption = useColour[b]! < colourShare ? (coloured.get(i) ?? ds.samples[i]!.caption) : ds.samples[i]!.caption;
      ids.set(drop[b]! < captionDropout ? empty : encode(caption), b * CONTEXT_LENGTH);
    }
    const r = await trainer.trainStep({
      latents: { dtype: 'float32', shape: [batch, c, h, h], data: latents },
      noise: { dtype: 'float32', shape: [batch, c, h, h], data: eps },
      ...noiseLevelFeeds(schedule.alphasCumprod, ts, minSnrGamma),
      timestep_embedding: timestepEmbedding(Array.from(ts), UNET.modelChannels),
      input_ids: { dtype: 'int64', shape: [batch, CONTEXT_LENGTH], data: ids },
    });
    report(r);
  }
  await trainer.save();
  await trainer.close();
}
