// `ldm generate` on a tiny SD 1.x file with what A1111 users put around the model: a <lora:NAME:W> tag
// found in --lora-dir, an embedding named in the prompt from --embeddings, and a --vae override.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers.ts';
import { readPngText } from '../../electron/engine/io/png-metadata.ts';
import { saveSafetensors } from '../../electron/engine/io/safetensors.ts';
import { modelParams } from '../../electron/engine/nn/models.ts';
import { tensor } from '../../electron/engine/tensor.ts';
import { TINY_VAE, writeSafetensorsFile, writeSd1File } from '../engine/families/tiny-sd.ts';

let root: string;
const f = (...n: string[]) => path.join(root, ...n);

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-cli-networks-'));
  await writeSd1File(f('sd1.safetensors'));
  const other = await writeSd1File(f('other.safetensors'), { seed: 9 });
  const shapes = new Map([...modelParams({ autoencoder: TINY_VAE })].map(([k, p]) => [k, p.shape]));
  const vae = [...other].filter(([k]) => k.startsWith('first_stage_model.')).map(([k, v]) => ({ name: k.slice('first_stage_model.'.length), shape: shapes.get(k)!, values: v }));
  await writeSafetensorsFile(f('ft-mse.safetensors'), vae, 'F16');
  await fsp.mkdir(f('loras'));
  await fsp.mkdir(f('emb'));
  const r = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.3) * 0.1);
  await saveSafetensors(f('loras', 'ink.safetensors'), new Map([
    ['lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight', tensor('float32', [2, 64], r(128))],
    ['lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight', tensor('float32', [32, 2], r(64))],
  ]));
  await saveSafetensors(f('emb', 'mystyle.safetensors'), new Map([['emb_params', tensor('float32', [2, 64], r(128))]]));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

const common = () => ['--model', f('sd1.safetensors'), '--steps', '2', '--size', '64x64', '--seed', '5', '-q'];

describe('ldm generate with LoRA tags, embeddings and a VAE', () => {
  it('applies what the prompt names and the VAE, records the LoRA, and each changes the picture', async () => {
    const plain = await cli('generate', 'a cat', ...common(), '-o', f('plain.png'));
    expect(plain.stderr).toBe('');
    expect(plain.code).toBe(0);
    const tagged = await cli('generate', 'a <lora:ink:0.7> mystyle cat', ...common(), '--lora-dir', f('loras'), '--embeddings', f('emb'), '-o', f('tagged.png'));
    expect([tagged.code, tagged.stderr]).toEqual([0, '']);
    const params = readPngText(await fsp.readFile(f('tagged.png'))).get('parameters')!;
    expect(params).toContain('<lora:ink:0.7>'); // the prompt as written, as A1111 keeps it
    expect(params).toMatch(/Lora hashes: "?ink: [0-9a-f]{12}/);
    expect(params).not.toMatch(/mystyle: [0-9a-f]{12}/);
    const withVae = await cli('generate', 'a cat', ...common(), '--vae', f('ft-mse.safetensors'), '-o', f('vae.png'));
    expect([withVae.code, withVae.stderr]).toEqual([0, '']);
    const [a, b, c] = await Promise.all(['plain.png', 'tagged.png', 'vae.png'].map((n) => fsp.readFile(f(n))));
    expect(a.equals(b)).toBe(false);
    expect(a.equals(c)).toBe(false);
  }, 60_000);

  it('says what is missing', async () => {
    const r = await cli('generate', 'a <lora:nothere> cat', ...common(), '--lora-dir', f('loras'), '-o', f('x.png'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no nothere\.safetensors in .*loras; give the folder with --lora-dir DIR/);
    const v = await cli('generate', 'a cat', ...common(), '--vae', f('loras', 'ink.safetensors'), '-o', f('x.png'));
    expect(v.code).not.toBe(0);
    expect(v.stderr).toMatch(/ink\.safetensors is not an autoencoder/);
  });
});
