// SD-family files through the user's doors: `ldm generate --model FILE|DIR`, `ldm models import`, and the
// studio (models.import → the real worker process → an image with the A1111 model hash in its parameters);
// the per-model prediction setting; unsupported files refused at import and at submit with one line.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../../cli/helpers.ts';
import { sha256Files } from '../../../electron/engine/families/index.ts';
import { readGenerationParams } from '../../../electron/engine/io/generation-params.ts';
import { createStudio } from '../../../electron/services/studio.ts';
import { probeModels, waitForJob } from '../../services/helpers.ts';
import { writeDiffusersFolder, writeSafetensorsFile, writeSd1File, writeSd2File } from './tiny-sd.ts';

let root: string;
const f = (n: string) => path.join(root, n);

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-sdstudio-'));
  await writeSd1File(f('tiny-sd1.safetensors'), { dtype: 'F16' });
  await writeSd2File(f('tiny-sd2.safetensors'));
  await writeDiffusersFolder(f('tiny-diffusers'));
  await writeSafetensorsFile(f('xl.safetensors'), [
    { name: 'model.diffusion_model.input_blocks.0.0.weight', shape: [1], values: new Float32Array(1) },
    { name: 'conditioner.embedders.0.transformer.text_model.final_layer_norm.weight', shape: [1], values: new Float32Array(1) },
  ], 'F32');
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

describe('ldm with SD files', () => {
  it('generate --model FILE and DIR: an image with the model hash in its parameters; --prediction; clear lines for the rest', async () => {
    const out = f('a.png');
    const r = await cli('generate', 'a red cat', '--model', f('tiny-sd1.safetensors'), '--size', '16x16', '--steps', '2', '--seed', '5', '--out', out, '-q');
    expect([r.code, r.stderr]).toEqual([0, '']);
    const hash = (await sha256Files([f('tiny-sd1.safetensors')])).slice(0, 10);
    expect(readGenerationParams(await fsp.readFile(out))).toMatchObject({ prompt: 'a red cat', seed: 5, width: 16, modelHash: hash });

    const d = await cli('generate', 'a red cat', '--model', f('tiny-diffusers'), '--size', '16x16', '--steps', '1', '--out', f('b.png'));
    expect(d.code).toBe(0);
    expect(d.stderr).toMatch(/tiny-diffusers: diffusers, txt2img, predicts ε \(file\), hash [0-9a-f]{10}/);

    const v = await cli('generate', 'x', '--model', f('tiny-sd2.safetensors'), '--prediction', 'v', '--size', '16x16', '--steps', '1', '--out', f('c.png'));
    expect(v.stderr).toMatch(/tiny-sd2: sd2, txt2img, predicts v \(setting\)/);
    expect((await cli('generate', 'x', '--model', f('tiny-sd2.safetensors'), '--prediction', 'x')).stderr).toMatch(/--prediction: prediction must be 'v' or 'eps'/);

    const xl = await cli('generate', 'x', '--model', f('xl.safetensors'));
    expect([xl.code, xl.stderr]).toEqual([1, 'ldm: xl.safetensors: this is an SDXL checkpoint (conditioner.embedders.*), which is not supported: use a Stable Diffusion 1.x or 2.x checkpoint, a diffusers SD folder or a model package\n']);
  }, 120_000);

  it('models import PATH --data DIR registers the file with its hash and prediction setting', async () => {
    const data = f('cli-data');
    const r = await cli('models', 'import', f('tiny-sd2.safetensors'), '--data', data, '--prediction', 'v', '--name', 'my sd2');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[\w-]+ {2}my sd2 {2}ldm {2}safetensors {2}hash [0-9a-f]{10} {2}predicts v_prediction\n$/);
    const bad = await cli('models', 'import', f('xl.safetensors'), '--data', data);
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringMatching(/^ldm: xl.safetensors: this is an SDXL checkpoint/)]);
    expect((await cli('models', 'import', f('tiny-sd2.safetensors'))).stderr).toMatch(/needs --data DIR/);
  }, 120_000);
});

describe('the studio with SD files', () => {
  it('imports an SD 1.x file, samples it in the worker, and keeps the prediction setting', async () => {
    const studio = await createStudio({ dataDir: f('data'), transport: 'web', embeddedModelsDir: await probeModels(root), allowedDirs: [root] });
    try {
      const v = await studio.handlers['models.validate']({ path: f('tiny-sd1.safetensors') });
      expect(v).toMatchObject({ ok: true, kind: 'ldm', format: 'safetensors' });
      const bad = await studio.handlers['models.validate']({ path: f('xl.safetensors') });
      expect(bad.errors).toEqual([expect.stringMatching(/SDXL checkpoint/)]);

      const m = await studio.handlers['models.import']({ path: f('tiny-sd1.safetensors') });
      expect(m.description).toBe('Stable Diffusion 1.x');
      const got = await studio.handlers['models.get']({ id: m.id });
      expect(got.traits).toMatchObject({ family: 'sd1', task: 'txt2img', prediction: 'epsilon', defaults: { width: 512, sampler: 'euler_a' } });
      const set = await studio.handlers['models.setPrediction']({ id: m.id, prediction: 'v_prediction' });
      expect([set.prediction, set.traits?.prediction]).toEqual(['v_prediction', 'v_prediction']);
      await studio.handlers['models.setPrediction']({ id: m.id, prediction: null });

      const messages: string[] = [];
      studio.on('jobs.progress', (p) => p.message && messages.push(p.message));
      const spec = { kind: 'txt2img' as const, modelId: m.id, prompt: 'a red cat', negativePrompt: '', seed: 4, batchCount: 1, eta: 0, loras: [], steps: 2, width: 16, height: 16 };
      const job = await waitForJob(studio, (await studio.handlers['jobs.submit']({ spec })).id, undefined, 120_000);
      expect(job.error).toBeNull();
      expect(messages.join()).toMatch(/loaded unet \(2\/3/);
      const img = await studio.handlers['gallery.image']({ id: job.generationIds[0]!, variant: 'image' });
      const png = Buffer.from(img!.base64, 'base64');
      expect((await sharp(png).metadata()).width).toBe(16);
      expect(readGenerationParams(png)).toMatchObject({ modelHash: m.hash.slice(0, 10) });
    } finally {
      await studio.close();
    }
  }, 240_000);
});
