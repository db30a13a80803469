// VAE override: a separate autoencoder file (bare CompVis names as the ft-MSE release ships them, or
// under first_stage_model.) replaces the model's own; the decoded pictures are then exactly those of a
// model that carries that autoencoder. Files that are no VAE, or one of another shape, are refused.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openModel } from '../../../electron/engine/families/index.ts';
import { ownWeights } from '../../../electron/engine/finetune/adapters.ts';
import { LoadedModel } from '../../../electron/engine/pipelines/loaded-model.ts';
import { openVaeFile, withVae } from '../../../electron/engine/pipelines/vae-override.ts';
import { tensor } from '../../../electron/engine/tensor.ts';
import { TINY_VAE, writeSafetensorsFile, writeSd1File, type Entry } from '../families/tiny-sd.ts';
import { modelParams } from '../../../electron/engine/nn/models.ts';

let root: string;
const f = (n: string) => path.join(root, n);
let vaeEntries: Entry[];

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-vae-'));
  await writeSd1File(f('a.safetensors'), { seed: 1 });
  const b = await writeSd1File(f('b.safetensors'), { seed: 5 });
  const shapes = new Map([...modelParams({ autoencoder: TINY_VAE })].map(([k, p]) => [k, p.shape]));
  vaeEntries = [...b].filter(([k]) => k.startsWith('first_stage_model.')).map(([k, v]) => ({ name: k, shape: shapes.get(k)!, values: v }));
  const bare = vaeEntries.map((e) => ({ ...e, name: e.name.slice('first_stage_model.'.length) }));
  await writeSafetensorsFile(f('ft-mse.safetensors'), bare, 'F16');
  await writeSafetensorsFile(f('prefixed.safetensors'), vaeEntries, 'F32');
  await writeSafetensorsFile(f('narrow.safetensors'), bare.map((e) => (e.name === 'decoder.conv_out.weight' ? { ...e, shape: [3, 16, 3, 3], values: e.values.subarray(0, 3 * 16 * 9) } : e)), 'F32');
  await writeSafetensorsFile(f('notvae.safetensors'), [{ name: 'x.weight', shape: [2], values: new Float32Array(2) }], 'F32');
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

const latents = tensor('float32', [1, 4, 4, 4], Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 0.7)));

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('VAE override', () => {
  it('decodes with the other autoencoder (bare fp16 names and first_stage_model. names; file and in-memory weights)', async () => {
    const { model: a } = await openModel(f('a.safetensors'), { hash: 'a' });
    const { model: b } = await openModel(f('b.safetensors'), { hash: 'b' });
    const want = (await b.decodeLatents(latents)).data;
    const own = (await a.decodeLatents(latents)).data;
    expect(maxDiff(own, want)).toBeGreaterThan(1e-3);

    const prefixed = new LoadedModel(await withVae(a.spec, await openVaeFile(f('prefixed.safetensors'))));
    expect(maxDiff((await prefixed.decodeLatents(latents)).data, want)).toBeLessThan(1e-5);
    expect(prefixed.spec.weights.kind).toBe('files'); // pointed at the file, not copied

    // fp16 storage rounds the weights: close, not equal
    const fp16 = new LoadedModel(await withVae(a.spec, await openVaeFile(f('ft-mse.safetensors'))));
    expect(maxDiff((await fp16.decodeLatents(latents)).data, want)).toBeLessThan(2e-2);

    const memory = new LoadedModel({ ...a.spec, weights: { kind: 'memory', tensors: await ownWeights(a.spec) } });
    const swapped = new LoadedModel(await withVae(memory.spec, await openVaeFile(f('prefixed.safetensors'))));
    expect(maxDiff((await swapped.decodeLatents(latents)).data, want)).toBeLessThan(1e-5);
    // the UNet and text encoder stay the model's own
    expect(maxDiff((await swapped.encodeText(['a cat'])).data, (await a.encodeText(['a cat'])).data)).toBe(0);
    await Promise.all([a, b, prefixed, fp16, memory, swapped].map((m) => m.release()));
  }, 30_000);

  it('refuses a file that is not a VAE, or a VAE of another shape, with one line', async () => {
    const { model: a } = await openModel(f('a.safetensors'), { hash: 'a' });
    await expect(openVaeFile(f('notvae.safetensors'))).rejects.toThrow(/notvae\.safetensors is not an autoencoder/);
    await expect(openVaeFile(f('a.ckpt'))).rejects.toThrow(/must be a \.safetensors file/);
    await expect(withVae(a.spec, await openVaeFile(f('narrow.safetensors')))).rejects.toThrow(/decoder\.conv_out\.weight/);
  });
});
