// The studio with what A1111 users keep beside an SD model: a VAE chosen per model (models.setVae), a
// LoRA named by a <lora:NAME:W> tag and an embedding named by its word, all found among the imported
// models and applied in the worker; the picture's parameters record the LoRA.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGenerationParams } from '../../electron/engine/io/generation-params.ts';
import { saveSafetensors } from '../../electron/engine/io/safetensors.ts';
import { modelParams } from '../../electron/engine/nn/models.ts';
import { tensor } from '../../electron/engine/tensor.ts';
import { createStudio } from '../../electron/services/studio.ts';
import { TINY_VAE, writeSafetensorsFile, writeSd1File } from '../engine/families/tiny-sd.ts';
import { probeModels, waitForJob } from './helpers.ts';

let root: string;
const f = (n: string) => path.join(root, n);

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-sd-networks-'));
  await writeSd1File(f('tiny-sd1.safetensors'));
  const other = await writeSd1File(f('other.safetensors'), { seed: 9 });
  const shapes = new Map([...modelParams({ autoencoder: TINY_VAE })].map(([k, p]) => [k, p.shape]));
  await writeSafetensorsFile(f('ft-mse.safetensors'), [...other].filter(([k]) => k.startsWith('first_stage_model.'))
    .map(([k, v]) => ({ name: k.slice('first_stage_model.'.length), shape: shapes.get(k)!, values: v })), 'F16');
  const r = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.3) * 0.1);
  await saveSafetensors(f('ink.safetensors'), new Map([
    ['lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight', tensor('float32', [2, 64], r(128))],
    ['lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight', tensor('float32', [32, 2], r(64))],
  ]));
  await saveSafetensors(f('mystyle.safetensors'), new Map([['emb_params', tensor('float32', [2, 64], r(128))]]));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

describe('the studio with a VAE, a prompt LoRA and an embedding', () => {
  it('uses the model\'s VAE setting and what the prompt names', async () => {
    const studio = await createStudio({ dataDir: f('data'), transport: 'web', embeddedModelsDir: await probeModels(root), allowedDirs: [root] });
    try {
      const m = await studio.handlers['models.import']({ path: f('tiny-sd1.safetensors') });
      const vae = await studio.handlers['models.import']({ path: f('ft-mse.safetensors') });
      const lora = await studio.handlers['models.import']({ path: f('ink.safetensors') });
      const emb = await studio.handlers['models.import']({ path: f('mystyle.safetensors') });
      expect([vae.kind, lora.kind, emb.kind]).toEqual(['vae', 'lora', 'embedding']);
      await expect(studio.handlers['models.setVae']({ id: m.id, vaeId: lora.id })).rejects.toThrow(/is a lora, not a VAE/);
      expect((await studio.handlers['models.setVae']({ id: m.id, vaeId: vae.id })).vaeId).toBe(vae.id);

      const spec = { kind: 'txt2img' as const, modelId: m.id, prompt: 'a <lora:ink:0.5> mystyle cat', negativePrompt: '', seed: 4, batchCount: 1, eta: 0, loras: [], steps: 2, width: 16, height: 16 };
      const job = await waitForJob(studio, (await studio.handlers['jobs.submit']({ spec })).id, undefined, 120_000);
      expect(job.error).toBeNull();
      const png = Buffer.from((await studio.handlers['gallery.image']({ id: job.generationIds[0]!, variant: 'image' }))!.base64, 'base64');
      const params = readGenerationParams(png)!;
      expect(params.prompt).toBe('a <lora:ink:0.5> mystyle cat');
      expect(JSON.stringify(params.loraHashes)).toMatch(/ink/); // the prompt's LoRA is recorded as A1111 records it

      await expect(studio.handlers['jobs.submit']({ spec: { ...spec, prompt: 'a <lora:nothere> cat' } })).rejects.toThrow(/no LoRA of that name is in the models/);
      expect((await studio.handlers['models.setVae']({ id: m.id, vaeId: null })).vaeId).toBeNull();
    } finally {
      await studio.close();
    }
  }, 240_000);
});
