// The embedded autoencoder's posterior of every picture of the data set, computed once by the stages that
// train on latents (ldm, class-ldm, ldm-colour): mean and std, unscaled, [count, 2, C, h, w].
import { buildVaeEncoderGraph } from '../../electron/engine/nn/models.ts';
import { autoencoderFactor } from '../../electron/engine/nn/config.ts';
import { createSession } from '../../electron/engine/onnx/runtime.ts';
import { toModelProto } from '../../electron/engine/onnx/serialize.ts';
import { AUTOENCODER, IMAGE_SIZE } from './config.ts';
import { sampleAsFloat, type EmojiDataset } from './emoji-dataset.ts';

export async function encodeMoments(ds: EmojiDataset, weights: ReadonlyMap<string, Float32Array>, threads: number): Promise<Float32Array> {
  const batch = 32;
  const h = IMAGE_SIZE / autoencoderFactor(AUTOENCODER);
  const per = AUTOENCODER.embedDim * h * h;
  const g = buildVaeEncoderGraph(AUTOENCODER, batch, IMAGE_SIZE, IMAGE_SIZE);
  const enc = await createSession(
    toModelProto(g, { kind: 'embedded', get: (n) => ({ dtype: 'float32', shape: g.params.get(n)!.shape, data: weights.get(n)! }) }),
    { threads },
  );
  const count = ds.samples.length;
  const moments = new Float32Array(count * 2 * per);
  const n = 3 * IMAGE_SIZE * IMAGE_SIZE;
  const x = new Float32Array(batch * n);
  for (let s = 0; s < count; s += batch) {
    for (let i = 0; i < batch && s + i < count; i++) sampleAsFloat(ds, s + i, x, i * n);
    const m = Object.values(await enc.run({ [g.inputs[0]!.name]: { dtype: 'float32', shape: [batch, 3, IMAGE_SIZE, IMAGE_SIZE], data: x } }))[0]!.data as Float32Array;
    for (let i = 0; i < batch && s + i < count; i++) {
      const base = (s + i) * 2 * per;
      for (let k = 0; k < per; k++) {
        moments[base + k] = m[i * 2 * per + k]!;
        const logvar = Math.max(-30, Math.min(20, m[i * 2 * per + per + k]!));
        moments[base + per + k] = Math.exp(0.5 * logvar);
      }
    }
  }
  await enc.release();
  return moments;
}
