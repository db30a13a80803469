// The per-model "Low memory" setting (issue 13): models.setWeights stores fp32/int8/int4 in the registry
// (kept across a restart of the studio), the worker samples the model with it, and a bad value is refused.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStudio } from '../../../electron/services/studio.ts';
import { waitForJob } from '../../services/helpers.ts';

let root: string;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-quant-registry-'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

const open = () => createStudio({ dataDir: path.join(root, 'data'), transport: 'web', embeddedModelsDir: path.resolve('resources/models'), allowedDirs: [root] });

describe('models.setWeights', () => {
  it('stores the setting, keeps it across restarts, and the worker samples with it', async () => {
    let studio = await open();
    let id: string;
    try {
      const m = (await studio.handlers['models.list']({ kind: 'ldm' })).find((x) => x.name === 'emoji-ldm-32')!;
      id = m.id;
      expect(m.weights).toBe('fp32');
      const set = await studio.handlers['models.setWeights']({ id, weights: 'int8' });
      expect(set.weights).toBe('int8');
      await expect(studio.handlers['models.setWeights']({ id, weights: 'int2' as never })).rejects.toThrow(/weights must be fp32, int8 or int4, not 'int2'/);
    } finally {
      await studio.close();
    }
    studio = await open();
    try {
      expect((await studio.handlers['models.get']({ id })).weights).toBe('int8');
      const spec = { kind: 'txt2img' as const, modelId: id, prompt: 'a smiling face', negativePrompt: '', seed: 4, batchCount: 1, eta: 0, loras: [], steps: 2, width: 32, height: 32 };
      const job = await waitForJob(studio, (await studio.handlers['jobs.submit']({ spec })).id, undefined, 120_000);
      expect(job.error).toBeNull();
      expect(job.generationIds.length).toBe(1);
      expect((await studio.handlers['models.setWeights']({ id, weights: 'fp32' })).weights).toBe('fp32');
    } finally {
      await studio.close();
    }
  }, 180_000);
});
