// The text model's card figure "held-out denoising loss": unweighted ε-MSE on the held-out pictures'
// posterior means (scaled), batches of 16 with timesteps spread over 0…999 and noise from Rng(777), so
// every measurement of it (the package stage, the colour fine-tune's comparison) is the same.
import { Rng } from '../../electron/engine/diffusion/rng.ts';
import { makeSchedule } from '../../electron/engine/diffusion/schedule.ts';
import { buildDiffusionLossGraph } from '../../electron/engine/nn/losses.ts';
import { autoencoderFactor } from '../../electron/engine/nn/config.ts';
import { timestepEmbedding } from '../../electron/engine/nn/unet.ts';
import { createSession } from '../../electron/engine/onnx/runtime.ts';
import { toModelProto } from '../../electron/engine/onnx/serialize.ts';
import { AUTOENCODER, CONTEXT_LENGTH, IMAGE_SIZE, UNET, textEncoderConfig } from './config.ts';
import type { EmojiDataset } from './emoji-dataset.ts';

export interface HeldOutLossInput {
  /** UNet and text encoder weights, named as the loss graph names them. */
  weights: ReadonlyMap<string, Float32Array>;
  ds: EmojiDataset;
  /** The data set's posterior mean and std, unscaled: [count, 2, C, h, w]. */
  moments: Float32Array;
  scaleFactor: number;
  vocabSize: number;
  encode: (caption: string) => BigInt64Array;
  threads: number;
}

export async function heldOutDenoisingLoss(o: HeldOutLossInput): Promise<number> {
  const b = 16;
  const c = AUTOENCODER.embedDim;
  const h = IMAGE_SIZE / autoencoderFactor(AUTOENCODER);
  const g = buildDiffusionLossGraph(UNET, { batch: b, height: h, width: h, latentChannels: c, textEncoder: textEncoderConfig(o.vocabSize) }).graph;
  const s = await createSession(
    toModelProto(g, { kind: 'embedded', get: (n) => ({ dtype: 'float32', shape: g.params.get(n)!.shape, data: o.weights.get(n)! }) }),
    { threads: o.threads },
  );
  const held = o.ds.samples.flatMap((x, i) => (x.heldOut ? [i] : []));
  const schedule = makeSchedule();
  const rng = new Rng(777);
  const per = c * h * h;
  const ts = Array.from({ length: b }, (_, k) => Math.floor(((k + 0.5) / b) * 1000));
  let total = 0;
  let batches = 0;
  for (let start = 0; start + b <= held.length; start += b) {
    const lat = new Float32Array(b * per);
    const ids = new BigInt64Array(b * CONTEXT_LENGTH);
    for (let k = 0; k < b; k++) {
      const i = held[start + k]!;
      for (let q = 0; q < per; q++) lat[k * per + q] = o.moments[i * 2 * per + q]! * o.scaleFactor;
      ids.set(o.encode(o.ds.samples[i]!.caption), k * CONTEXT_LENGTH);
    }
    const out = await s.run({
      latents: { dtype: 'float32', shape: [b, c, h, h], data: lat },
      noise: { dtype: 'float32', shape: [b, c, h, h], data: rng.normal(b * per) },
      sqrt_alpha_bar: { dtype: 'float32', shape: [b], data: Float32Array.from(ts, (t) => Math.sqrt(schedule.alphasCumprod[t]!)) },
      sqrt_one_minus_alpha_bar: { dtype: 'float32', shape: [b], data: Float32Array.from(ts, (t) => Math.sqrt(1 - schedule.alphasCumprod[t]!)) },
      timestep_embedding: timestepEmbedding(ts, UNET.modelChannels),
      input_ids: { dtype: 'int64', shape: [b, CONTEXT_LENGTH], data: ids },
    }, ['loss']);
    total += (out.loss!.data as Float32Array)[0]!;
    batches++;
  }
  await s.release();
  return total / batches;
}
