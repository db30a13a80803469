// The model package is the one source of sampling defaults: models.list serves them with the model's
// family, task and native size, and a job submitted without sampling fields gets exactly those.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatch } from '../../electron/api/dispatch.ts';
import type { Job } from '../../electron/api/jobs.ts';
import type { Studio } from '../../electron/services/studio.ts';
import { probeModels, probeStudio, tempDir } from './helpers.ts';

describe('model traits and model-driven sampling defaults', () => {
  let tmp: ReturnType<typeof tempDir>;
  let studio: Studio;
  beforeAll(async () => {
    tmp = tempDir();
    studio = await probeStudio(join(tmp.dir, 'data'), await probeModels(tmp.dir));
  });
  afterAll(async () => {
    await studio.close();
    tmp.cleanup();
  });

  it('serves the package’s defaults, family, task and prediction with the models list and a single model', async () => {
    const [probe] = await studio.handlers['models.list']({ kind: 'ldm' });
    expect(probe!.traits).toEqual({
      family: 'package',
      task: 'txt2img',
      prediction: 'epsilon',
      classCount: null,
      sizeStep: 16,
      defaults: { sampler: 'ddim', steps: 4, guidance: 1, width: 16, height: 16 },
    });
    expect((await studio.handlers['models.get']({ id: probe!.id })).traits).toEqual(probe!.traits);
  });

  it('fills a submitted job’s sampler, steps, guidance and size from the model, keeping what the client gave', async () => {
    const reply = await dispatch(studio, 'jobs.submit', { spec: { kind: 'txt2img', modelId: 'embedded:probe', prompt: 'a fox', seed: 3 } });
    expect(reply.ok).toBe(true);
    const job = (reply as { output: Job }).output;
    expect(job.spec).toMatchObject({ sampler: 'ddim', steps: 4, guidance: 1, width: 16, height: 16 });
    await studio.handlers['jobs.cancel']({ id: job.id });

    const given = await dispatch(studio, 'jobs.submit', { spec: { kind: 'txt2img', modelId: 'embedded:probe', prompt: 'a fox', steps: 2, width: 32 } });
    const spec = (given as { output: Job }).output.spec;
    expect(spec).toMatchObject({ sampler: 'ddim', steps: 2, guidance: 1, width: 32, height: 16 });
    await studio.handlers['jobs.cancel']({ id: (given as { output: Job }).output.id });
  });
});
