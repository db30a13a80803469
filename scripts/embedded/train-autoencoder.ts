// Stage 1 of the embedded model: the KL autoencoder, trained with the engine's own trainer on the
// emoji set. Resumable: it continues from training/embedded/autoencoder.ckpt when that exists.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { buildGradientGraph } from '../../electron/engine/autodiff/index.ts';
import { buildAutoencoderLossGraph } from '../../electron/engine/nn/losses.ts';
import { autoencoderFactor, type AutoencoderConfig } from '../../electron/engine/nn/config.ts';
import { buildVaeDecoderGraph, buildVaeEncoderGraph } from '../../electron/engine/nn/models.ts';
import { toModelProto } from '../../electron/engine/onnx/serialize.ts';
import { createSession } from '../../electron/engine/onnx/runtime.ts';
import { loadCheckpoint, Trainer } from '../../electron/engine/training/index.ts';
import { AE_TRAINING, AUTOENCODER, CACHE_DIR, IMAGE_SIZE, WORK_DIR } from './config.ts';
import { loadEmojiDataset, sampleAsFloat, type EmojiDataset } from './emoji-dataset.ts';

export const AE_CHECKPOINT = path.join(WORK_DIR, 'autoencoder.ckpt');
/** The decoder trained further with the encoder frozen: the latents (and so the LDM) stay valid. */
export const DECODER_CHECKPOINT = path.join(WORK_DIR, 'decoder.ckpt');

const isDecoderParam = (name: string) => /^first_stage_model\.(decoder|post_quant_conv)\./.test(name);

export interface StageOptions {
  minutes: number;
  log?: (line: string) => void;
}

function indicesOf(ds: EmojiDataset, heldOut: boolean): number[] {
  return ds.samples.flatMap((s, i) => (s.heldOut === heldOut ? [i] : []));
}

export async function trainAutoencoder(o: StageOptions): Promise<Trainer> {
  return runAutoencoderTraining(o, 'autoencoder');
}

/** Continues only the decoder on the frozen encoder's latents (stage 'decoder'). */
export async function trainDecoder(o: StageOptions): Promise<Trainer> {
  return runAutoencoderTraining(o, 'decoder');
}

async function runAutoencoderTraining(o: StageOptions, part: 'autoencoder' | 'decoder'): Promise<Trainer> {
  const log = o.log ?? console.log;
  mkdirSync(WORK_DIR, { recursive: true });
  const ds = await loadEmojiDataset(IMAGE_SIZE, CACHE_DIR);
  const train = indicesOf(ds, false);
  const { batch, lr, klWeight, gradientWeight } = AE_TRAINING;
  const lg = buildAutoencoderLossGraph(AUTOENCODER, { batch, height: IMAGE_SIZE, width: IMAGE_SIZE, klWeight, gradientWeight });
  const names = [...lg.graph.params.keys()];
  const graph = buildGradientGraph(lg.graph, lg.loss, part === 'decoder' ? names.filter(isDecoderParam) : names);
  const file = part === 'decoder' ? DECODER_CHECKPOINT : AE_CHECKPOINT;
  const opts = {
    graph,
    lr,
    schedule: { kind: 'warmup' as const, warmupSteps: 100 },
    adam: { beta1: 0.5, beta2: 0.9, weightDecay: 0 },
    clipNorm: 1,
    seed: part === 'decoder' ? 1002 : 1001,
    session: { threads: 2 },
    checkpoint: { file, every: 100 },
  };
  let trainer: Trainer;
  if (existsSync(file)) trainer = await Trainer.resume(opts, file);
  else if (part === 'decoder') trainer = await Trainer.create({ ...opts, params: (await loadCheckpoint(AE_CHECKPOINT)).params });
  else trainer = await Trainer.create(opts);
  log(`${part}: ${train.length} training images, ${trainer.trained.length} tensors trained, resuming at step ${trainer.step}`);
  const f = autoencoderFactor(AUTOENCODER);
  const n = 3 * IMAGE_SIZE * IMAGE_SIZE;
  const zShape = [batch, AUTOENCODER.embedDim, IMAGE_SIZE / f, IMAGE_SIZE / f];
  const image = new Float32Array(batch * n);
  const deadline = Date.now() + o.minutes * 60_000;
  let t0 = Date.now();
  while (Date.now() < deadline) {
    const pick = trainer.rng.integers(batch, train.length);
    for (let b = 0; b < batch; b++) sampleAsFloat(ds, train[pick[b]!]!, image, b * n);
    const noise = trainer.rng.normal(zShape.reduce((a, b) => a * b, 1));
    const r = await trainer.trainStep({
      image: { dtype: 'float32', shape: [batch, 3, IMAGE_SIZE, IMAGE_SIZE], data: image },
      noise: { dtype: 'float32', shape: zShape, data: noise },
    });
    if (r.step % 20 === 0) {
      const dt = (Date.now() - t0) / 20 / 1000;
      t0 = Date.now();
      log(`${part} step ${r.step} loss ${r.loss.toFixed(4)} grad ${r.gradNorm.toFixed(3)} lr ${r.lr.toExponential(2)} ${dt.toFixed(2)} s/step`);
    }
  }
  await trainer.save();
  return trainer;
}

/** Held-out reconstruction PSNR (dB, on [0,1] pixels) of autoencoder weights, using the mean latent. */
export async function autoencoderPsnr(
  weights: ReadonlyMap<string, Float32Array>,
  cfg: AutoencoderConfig = AUTOENCODER,
  size = IMAGE_SIZE,
  data?: EmojiDataset,
  threads = 2,
): Promise<{ psnr: number; count: number }> {
  const ds = data ?? await loadEmojiDataset(size, CACHE_DIR);
  const held = indicesOf(ds, true);
  const b = 16;
  const embedded = { kind: 'embedded' as const, get: (name: string) => ({ dtype: 'float32' as const, shape: [weights.get(name)!.length], data: weights.get(name)! }) };
  const encG = buildVaeEncoderGraph(cfg, b, size, size);
  const decG = buildVaeDecoderGraph(cfg, b, size / autoencoderFactor(cfg), size / autoencoderFactor(cfg));
  const shaped = (g: typeof encG) => ({ kind: 'embedded' as const, get: (name: string) => ({ ...embedded.get(name), shape: g.params.get(name)!.shape }) });
  const enc = await createSession(toModelProto(encG, shaped(encG)), { threads });
  const dec = await createSession(toModelProto(decG, shaped(decG)), { threads });
  const n = 3 * size * size;
  let mse = 0;
  let count = 0;
  for (let s = 0; s + b <= held.length; s += b) {
    const x = new Float32Array(b * n);
    for (let i = 0; i < b; i++) sampleAsFloat(ds, held[s + i]!, x, i * n);
    const moments = Object.values(await enc.run({ [encG.inputs[0]!.name]: { dtype: 'float32', shape: [b, 3, size, size], data: x } }))[0]!;
    const c = cfg.embedDim;
    const hw = moments.shape[2]! * moments.shape[3]!;
    const mean = new Float32Array(b * c * hw);
    const m = moments.data as Float32Array;
    for (let i = 0; i < b; i++) mean.set(m.subarray(i * 2 * c * hw, i * 2 * c * hw + c * hw), i * c * hw);
    const y = Object.values(await dec.run({ [decG.inputs[0]!.name]: { dtype: 'float32', shape: [b, c, moments.shape[2]!, moments.shape[3]!], data: mean } }))[0]!.data as Float32Array;
    for (let k = 0; k < x.length; k++) {
      const d = (Math.max(-1, Math.min(1, y[k]!)) - x[k]!) / 2;
      mse += d * d;
    }
    count += b;
  }
  await enc.release();
  await dec.release();
  return { psnr: 10 * Math.log10(1 / (mse / (count * n))), count };
}
