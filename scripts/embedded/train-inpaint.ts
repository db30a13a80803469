// Stage 'inpaint' (issue 14, item 2): an inpainting LDM fine-tuned from the embedded text-to-image
// model, as SD-inpainting was from SD. The UNet takes 9 channels — the noisy latents, the mask at latent
// size and the latents of the masked picture (× scale), in the order the studio's inpaint pipeline feeds
// them — and the 5 new input channels start at zero, so at step 0 it is exactly the text model. Masks are
// drawn at random: boxes, brush strokes, outpainting borders and, now and then, the whole picture.
// Resumable from training/embedded-inpaint/inpaint.ckpt.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildGradientGraph } from '../../electron/engine/autodiff/index.ts';
import type { Rng } from '../../electron/engine/diffusion/rng.ts';
import { makeSchedule } from '../../electron/engine/diffusion/schedule.ts';
import { WordTokenizer } from '../../electron/engine/io/tokenizer.ts';
import { loadSafetensors } from '../../electron/engine/io/safetensors.ts';
import { autoencoderFactor, type UNetConfig } from '../../electron/engine/nn/config.ts';
import { buildDiffusionLossGraph } from '../../electron/engine/nn/losses.ts';
import { buildVaeEncoderGraph } from '../../electron/engine/nn/models.ts';
import { timestepEmbedding } from '../../electron/engine/nn/unet.ts';
import { createSession } from '../../electron/engine/onnx/runtime.ts';
import { toModelProto } from '../../electron/engine/onnx/serialize.ts';
import { Trainer } from '../../electron/engine/training/index.ts';
import { AUTOENCODER, CACHE_DIR, CONTEXT_LENGTH, IMAGE_SIZE, LDM_TRAINING, MODEL_NAME, UNET, textEncoderConfig } from './config.ts';
import { stepLogger } from './step-log.ts';
import { loadEmojiDataset, sampleAsFloat } from './emoji-dataset.ts';
import type { StageOptions } from './train-autoencoder.ts';
import { noiseLevelFeeds } from './noise-feeds.ts';

export const INPAINT_WORK_DIR = 'training/embedded-inpaint';
export const INPAINT_CHECKPOINT = path.join(INPAINT_WORK_DIR, 'inpaint.ckpt');
const LATENT_CHANNELS = AUTOENCODER.embedDim;
export const INPAINT_UNET: UNetConfig = { ...UNET, inChannels: 2 * LATENT_CHANNELS + 1 };
// lr 1e-4 and EMA 0.999 up to step 2,550; then 3e-4 and 0.998: the 5 new input channels were learning too
// slowly for the CPU time left (their weights' norm 0.4 against 2.4 for the latent channels at step 2,400).
export const INPAINT_TRAINING = { batch: 32, lr: 3e-4, warmup: 100, captionDropout: 0.1, emaDecay: 0.998, minSnrGamma: 5, earlier: 'lr 1e-4, EMA 0.999 for steps 0–2,550' };
const FIRST_CONV = 'model.diffusion_model.input_blocks.0.0.weight';

export type MaskKind = 'box' | 'strokes' | 'border' | 'whole';

/**
 * A random mask [size²] (1 = repaint): a box (40%), 1–4 brush strokes (30%), an outpainting border on
 * one to four sides (25%), or the whole picture (5%); or one of the kind asked for (the evaluation's masks).
 */
export function randomMask(rng: Rng, size: number, only?: MaskKind): Float32Array {
  const m = new Float32Array(size * size);
  const u = () => rng.uniform(1)[0]!;
  const int = (lo: number, hi: number) => lo + Math.floor(u() * (hi - lo + 1));
  const kind = only === undefined ? u() : { box: 0, strokes: 0.4, border: 0.7, whole: 0.95 }[only];
  if (kind < 0.4) {
    const w = int(Math.round(size / 4), Math.round((3 * size) / 4));
    const h = int(Math.round(size / 4), Math.round((3 * size) / 4));
    const x0 = int(0, size - w);
    const y0 = int(0, size - h);
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) m[y * size + x] = 1;
  } else if (kind < 0.7) {
    const strokes = int(1, 4);
    for (let s = 0; s < strokes; s++) {
      const r = Math.max(1, Math.round((size / 16) * (1 + 2 * u())));
      let x = u() * size;
      let y = u() * size;
      let angle = u() * 2 * Math.PI;
      const steps = int(size / 4, size);
      for (let k = 0; k < steps; k++) {
        for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) {
          const px = Math.round(x) + dx;
          const py = Math.round(y) + dy;
          if (dx * dx + dy * dy <= r * r && px >= 0 && py >= 0 && px < size && py < size) m[py * size + px] = 1;
        }
        angle += (u() - 0.5) * 0.8;
        x = Math.min(size - 1, Math.max(0, x + Math.cos(angle)));
        y = Math.min(size - 1, Math.max(0, y + Math.sin(angle)));
      }
    }
  } else if (kind < 0.95) {
    const sides = [u() < 0.5, u() < 0.5, u() < 0.5, u() < 0.5];
    if (!sides.some(Boolean)) sides[int(0, 3)] = true;
    const band = () => int(Math.round(size / 8), Math.round(size / 2));
    const [top, right, bottom, left] = sides.map((s) => (s ? band() : 0)) as [number, number, number, number];
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
      if (y < top || y >= size - bottom || x < left || x >= size - right) m[y * size + x] = 1;
    }
  } else {
    m.fill(1);
  }
  return m;
}

/** The text model's weights with the UNet's first convolution widened to 9 input channels, the new ones zero. */
export function inpaintStartWeights(textModel: ReadonlyMap<string, Float32Array>, unet: UNetConfig = INPAINT_UNET, latentChannels = LATENT_CHANNELS): Map<string, Float32Array> {
  const out = new Map(textModel);
  const old = textModel.get(FIRST_CONV);
  if (!old) throw new Error(`the text model has no ${FIRST_CONV}`);
  const outCh = unet.modelChannels;
  const k = old.length / (outCh * latentChannels); // 3×3
  const wide = new Float32Array(outCh * unet.inChannels * k);
  for (let o = 0; o < outCh; o++) wide.set(old.subarray(o * latentChannels * k, (o + 1) * latentChannels * k), o * unet.inChannels * k);
  out.set(FIRST_CONV, wide);
  return out;
}

export async function trainInpaint(o: StageOptions): Promise<void> {
  const log = o.log ?? console.log;
  mkdirSync(INPAINT_WORK_DIR, { recursive: true });
  const dir = path.join('resources/models', MODEL_NAME);
  const spec = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as { tokenizer: unknown; latentScaleFactor: number };
  const tok = WordTokenizer.fromSpec(spec.tokenizer);
  const scale = spec.latentScaleFactor;
  const shipped = new Map([...(await loadSafetensors(path.join(dir, 'model.safetensors'))).tensors].map(([n, t]) => [n, t.data as Float32Array]));
  const ds = await loadEmojiDataset(IMAGE_SIZE, CACHE_DIR);
  const { batch, lr, warmup, captionDropout, emaDecay, minSnrGamma } = INPAINT_TRAINING;
  const f = autoencoderFactor(AUTOENCODER);
  const h = IMAGE_SIZE / f;
  const c = LATENT_CHANNELS;
  const lg = buildDiffusionLossGraph(INPAINT_UNET, { batch, height: h, width: h, latentChannels: c, textEncoder: textEncoderConfig(tok.vocabSize), weighted: true });
  const names = [...lg.graph.params.keys()];
  const graph = buildGradientGraph(lg.graph, lg.loss, names);
  const opts = {
    graph,
    lr,
    schedule: { kind: 'warmup' as const, warmupSteps: warmup },
    adam: { weightDecay: 0.01 },
    clipNorm: 1,
    ema: { decay: emaDecay },
    seed: 5005,
    session: { threads: 1 },
    checkpoint: { file: INPAINT_CHECKPOINT, every: 50 },
  };
  const start = inpaintStartWeights(shipped);
  const trainer = existsSync(INPAINT_CHECKPOINT)
    ? await Trainer.resume(opts, INPAINT_CHECKPOINT)
    : await Trainer.create({ ...opts, params: new Map(names.map((n) => [n, Float32Array.from(start.get(n)!)])) });
  const eg = buildVaeEncoderGraph(AUTOENCODER, batch, IMAGE_SIZE, IMAGE_SIZE);
  const encoder = await createSession(
    toModelProto(eg, { kind: 'embedded', get: (n) => ({ dtype: 'float32', shape: eg.params.get(n)!.shape, data: shipped.get(n)! }) }),
    { threads: 1 },
  );
  const encodeMean = async (x: Float32Array): Promise<Float32Array> => {
    const m = Object.values(await encoder.run({ [eg.inputs[0]!.name]: { dtype: 'float32', shape: [batch, 3, IMAGE_SIZE, IMAGE_SIZE], data: x } }))[0]!.data as Float32Array;
    const per = c * h * h;
    const out = new Float32Array(batch * per);
    for (let b = 0; b < batch; b++) for (let k = 0; k < per; k++) out[b * per + k] = m[b * 2 * per + k]! * scale;
    return out;
  };
  const train = ds.samples.flatMap((s, i) => (s.heldOut ? [] : [i]));
  log(`inpaint: ${train.length} training pictures, UNet ${INPAINT_UNET.inChannels} input channels, ${trainer.trained.length} tensors, resuming at step ${trainer.step}`);
  const schedule = makeSchedule();
  const n = 3 * IMAGE_SIZE * IMAGE_SIZE;
  const per = c * h * h;
  const empty = BigInt64Array.from(tok.encode(''), (v) => BigInt(v));
  const deadline = Date.now() + o.minutes * 60_000;
  const report = stepLogger('inpaint', log);
  while (Date.now() < deadline) {
    const rng = trainer.rng;
    const pick = Array.from(rng.integers(batch, train.length), (j) => train[j]!);
    const image = new Float32Array(batch * n);
    const masked = new Float32Array(batch * n);
    const concat = new Float32Array(batch * (c + 1) * h * h);
    const ids = new BigInt64Array(batch * CONTEXT_LENGTH);
    const drop = rng.uniform(batch);
    for (let b = 0; b < batch; b++) {
      sampleAsFloat(ds, pick[b]!, image, b * n);
      const mask = randomMask(rng, IMAGE_SIZE);
      for (let ch = 0; ch < 3; ch++) for (let p = 0; p < IMAGE_SIZE * IMAGE_SIZE; p++) {
        const i = b * n + ch * IMAGE_SIZE * IMAGE_SIZE + p;
        masked[i] = mask[p]! >= 0.5 ? 0 : image[i]!;
      }
      for (let y = 0; y < h; y++) for (let x = 0; x < h; x++) concat[b * (c + 1) * h * h + y * h + x] = mask[y * f * IMAGE_SIZE + x * f]!; // nearest, as the pipeline
      const caption = drop[b]! < captionDropout ? empty : BigInt64Array.from(tok.encode(ds.samples[pick[b]!]!.caption), (v) => BigInt(v));
      ids.set(caption, b * CONTEXT_LENGTH);
    }
    const z0 = await encodeMean(image);
    const zm = await encodeMean(masked);
    for (let b = 0; b < batch; b++) concat.set(zm.subarray(b * per, (b + 1) * per), b * (c + 1) * h * h + h * h);
    const eps = rng.normal(batch * per);
    const ts = rng.integers(batch, schedule.alphasCumprod.length);
    const r = await trainer.trainStep({
      latents: { dtype: 'float32', shape: [batch, c, h, h], data: z0 },
      noise: { dtype: 'float32', shape: [batch, c, h, h], data: eps },
      concat: { dtype: 'float32', shape: [batch, c + 1, h, h], data: concat },
      ...noiseLevelFeeds(schedule.alphasCumprod, ts, minSnrGamma),
      timestep_embedding: timestepEmbedding(Array.from(ts), INPAINT_UNET.modelChannels),
      input_ids: { dtype: 'int64', shape: [batch, CONTEXT_LENGTH], data: ids },
    });
    report(r);
  }
  await encoder.release();
  await trainer.save();
  await trainer.close();
}
