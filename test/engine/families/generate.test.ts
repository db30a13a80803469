// Sampling SD-family files end to end through the pipelines: the same weights give the same network
// outputs whatever the layout (SD 1.x file, diffusers folder, OpenCLIP tower vs CLIPTextModel names),
// fp16/bf16 stay close to fp32, v-prediction and the 9-channel inpainting variant run.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openModel } from '../../../electron/engine/families/index.ts';
import { LoadedModel } from '../../../electron/engine/pipelines/loaded-model.ts';
import { inpaint } from '../../../electron/engine/pipelines/inpaint.ts';
import { generationParams } from '../../../electron/engine/pipelines/output.ts';
import { txt2img } from '../../../electron/engine/pipelines/txt2img.ts';
import { tensor } from '../../../electron/engine/tensor.ts';
import { SD1_TEXT, SD2_TEXT_STORED, SD2_UNET, sdWeights, writeDiffusersFolder, writeSd1File, writeSd2File } from './tiny-sd.ts';

let root: string;
const f = (n: string) => path.join(root, n);
const rt = { provider: 'cpu' as const, threads: 1 };

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-sdgen-'));
  await writeSd1File(f('sd1.safetensors'));
  await writeSd1File(f('sd1-f16.safetensors'), { dtype: 'F16' });
  await writeSd1File(f('sd1-bf16.safetensors'), { dtype: 'BF16' });
  await writeDiffusersFolder(f('diffusers'));
  await writeSd2File(f('sd2-v.safetensors'), { metadata: { 'modelspec.prediction_type': 'v' } });
  await writeSd1File(f('sd1-inpaint.safetensors'), { inChannels: 9 });
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

function random(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 2);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Text context (empty prompt: the same ids under any CLIP vocabulary), one UNet call, one decode. */
async function outputs(m: LoadedModel) {
  const context = await m.encodeText(['']);
  const x = tensor('float32', [1, 4, 8, 8], random(256, 7));
  const eps = await m.predictNoise(x, 500, context);
  const img = await m.decodeLatents(tensor('float32', [1, 4, 8, 8], random(256, 8)));
  return { context: context.data, eps: eps.data, img: img.data };
}

describe('SD families sample', () => {
  it('an SD 1.x file and the diffusers folder of the same weights give the same outputs; fp16 and bf16 close', async () => {
    const cached = { ...rt, weightCache: { dir: f('cache') } };
    const a = await openModel(f('sd1.safetensors'), cached);
    const b = await openModel(f('diffusers'), cached);
    const h = await openModel(f('sd1-f16.safetensors'), cached);
    const bf = await openModel(f('sd1-bf16.safetensors'), cached);
    const [oa, ob, oh, obf] = [await outputs(a.model), await outputs(b.model), await outputs(h.model), await outputs(bf.model)];
    for (const k of ['context', 'eps', 'img'] as const) {
      expect(maxDiff(oa[k], ob[k]), k).toBeLessThan(1e-5);
      expect(maxDiff(oa[k], oh[k]), k).toBeLessThan(0.05);
      expect(maxDiff(oa[k], obf[k]), k).toBeLessThan(0.2);
    }
    expect(a.model.hash).toMatch(/^[0-9a-f]{10}$/);
    // fp16 and bf16 cannot back float32 initializers in place: widened once into the weights cache (one file
    // per network), kept after release and reused by the next start; float32 files are read in place.
    for (const m of [a, b, h, bf]) await m.model.release();
    const files = await fsp.readdir(f('cache'));
    expect(files.filter((n) => n.endsWith('.f32'))).toHaveLength(6);
    const again = await openModel(f('sd1-f16.safetensors'), cached);
    expect(maxDiff((await outputs(again.model)).eps, oh.eps)).toBe(0);
    await again.model.release();
    expect(await fsp.readdir(f('cache'))).toEqual(files);
  });

  it('SD 2.x: the OpenCLIP tower (fused in_proj, penultimate layer + final LN) equals the CLIPTextModel graph of the same weights', async () => {
    const { model } = await openModel(f('sd2-v.safetensors'), rt);
    const w = sdWeights(SD2_UNET, SD2_TEXT_STORED, 2);
    const plain = new LoadedModel({
      ...model.spec,
      weights: { kind: 'memory', tensors: w },
      textEncoder: { ...SD1_TEXT, layers: 2, activation: 'gelu' },
    }, rt);
    const [x, y] = [await model.encodeText(['a red cat']), await plain.encodeText(['a red cat'])];
    expect(x.shape).toEqual([1, 77, 64]);
    expect(maxDiff(x.data, y.data)).toBeLessThan(1e-5);
    await plain.release();
    await model.release();
  });

  it('v-prediction: an SD 2.x 768-v file samples through the pipeline, differently from reading it as ε', async () => {
    const v = await openModel(f('sd2-v.safetensors'), rt);
    const eps = await openModel(f('sd2-v.safetensors'), { ...rt, prediction: 'epsilon' });
    expect(v.model.schedulerConfig.prediction).toBe('v_prediction');
    const o = { prompt: 'a red cat', seed: 3, steps: 2, width: 16, height: 16, sampler: 'euler' };
    const [a] = await txt2img(v.model, o);
    const [b] = await txt2img(eps.model, o);
    expect(a!.image.width).toBe(16);
    expect(Buffer.from(a!.image.data).equals(Buffer.from(b!.image.data))).toBe(false);
    await v.model.release();
    await eps.model.release();
  });

  it('the 9-channel inpainting variant repaints inside the mask and keeps every pixel outside', async () => {
    const { model, opened } = await openModel(f('sd1-inpaint.safetensors'), rt);
    expect([opened.kind, model.unetInChannels]).toEqual(['inpaint', 9]);
    const image = { width: 16, height: 16, data: new Uint8Array(16 * 16 * 3).fill(90) };
    const mask = { width: 16, height: 16, data: new Uint8Array(16 * 16 * 3) };
    for (let y = 4; y < 12; y++) for (let x = 4; x < 12; x++) mask.data.fill(255, 3 * (y * 16 + x), 3 * (y * 16 + x) + 3);
    const [r] = await inpaint(model, { prompt: 'a cat', seed: 1, steps: 2, image, mask, feather: 0 });
    const out = r!.image.data;
    expect(out[0]).toBe(90);
    expect(out[3 * (8 * 16 + 8)]).not.toBe(90);
    await model.release();
  });

  it("clip skip: the text encoder's layer −n then its final LayerNorm, written into the parameters as A1111 does", async () => {
    const { model } = await openModel(f('sd1.safetensors'), rt);
    const skipped = await model.encodeText(['a red cat'], { clipSkip: 2 });
    const oneLayer = new LoadedModel({ ...model.spec, textEncoder: { ...model.spec.textEncoder, layers: 1 } }, rt);
    expect(maxDiff(skipped.data, (await oneLayer.encodeText(['a red cat'])).data)).toBeLessThan(1e-6);
    expect(maxDiff(skipped.data, (await model.encodeText(['a red cat'])).data)).toBeGreaterThan(1e-3);
    await expect(model.encodeText([''], { clipSkip: 3 })).rejects.toThrow(/clip skip must be a whole number from 1 to 2/);
    const [img] = await txt2img(model, { prompt: 'a red cat', seed: 1, steps: 1, width: 16, height: 16, clipSkip: 2 });
    expect(generationParams(img!.record).clipSkip).toBe(2);
    await oneLayer.release();
    await model.release();
  });

  it('refuses weights of a dtype it cannot use, naming the tensor', async () => {
    // The first conv of the UNet stored as I32 (same byte size as F32).
    const bytes = await fsp.readFile(f('sd1.safetensors'));
    const n = Number(bytes.readBigUInt64LE(0));
    const header = bytes.subarray(8, 8 + n).toString().replace(/("model\.diffusion_model\.input_blocks\.0\.0\.weight":\{"dtype":)"F32"/, '$1"I32"');
    await fsp.writeFile(f('ints.safetensors'), Buffer.concat([bytes.subarray(0, 8), Buffer.from(header), bytes.subarray(8 + n)]));
    const { model } = await openModel(f('ints.safetensors'), rt);
    await expect(txt2img(model, { prompt: '', seed: 1, steps: 1, width: 16, height: 16 })).rejects.toThrow(
      /model\.diffusion_model\.input_blocks\.0\.0\.weight is I32; only F32, F16 and BF16 weights can be used/,
    );
    await model.release();
  });
});
