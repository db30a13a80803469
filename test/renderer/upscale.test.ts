// "Upscale ×4 after generating" starts ticked for small models when a super-resolution model is there
// (renderer/src/lib/upscale.ts); checked on the rule's edges and on the models the studio ships, as its
// registry lists them (the embedded 32² text model and emoji-sr-x4).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import type { Generation } from '../../electron/api/history.ts';
import type { ModelInfo, ModelTraits } from '../../electron/api/models.ts';
import { createStudio } from '../../electron/services/studio.ts';
import { superResolutionModel, upscaleJobOf, upscalesByDefault } from '../../renderer/src/lib/upscale.ts';

function model(id: string, task: string, side: number): ModelInfo {
  const traits: ModelTraits = { family: 'package', task, prediction: 'epsilon', classCount: null, defaults: { sampler: 'ddim', steps: 25, guidance: 3, width: side, height: side } };
  return { id, name: id, traits } as ModelInfo;
}

it('ticks it for models drawing at most 64 px a side, and only when a super-resolution model is installed', () => {
  const sr = model('sr', 'upscale', 128);
  expect(superResolutionModel([model('a', 'txt2img', 32), sr])).toBe(sr);
  expect(superResolutionModel([model('a', 'txt2img', 32)])).toBeNull();
  expect(upscalesByDefault(model('a', 'txt2img', 32), sr)).toBe(true);
  expect(upscalesByDefault(model('a', 'txt2img', 64), sr)).toBe(true);
  expect(upscalesByDefault(model('b', 'txt2img', 128), sr)).toBe(false);
  expect(upscalesByDefault(model('sd', 'txt2img', 512), sr)).toBe(false);
  expect(upscalesByDefault(model('a', 'txt2img', 32), null)).toBe(false);
  expect(upscalesByDefault({ ...model('x', 'txt2img', 32), traits: null }, sr)).toBe(false);
  expect(upscaleJobOf(sr, { id: 'g1', params: { seed: 7 } } as Pick<Generation, 'id' | 'params'>)).toEqual({ kind: 'upscale', modelId: 'sr', init: { generationId: 'g1' }, seed: 7 });
});

const shipped = path.resolve('resources/models');
it.skipIf(!existsSync(path.join(shipped, 'emoji-sr-x4')))('is on by default for the embedded emoji model with the shipped emoji-sr-x4', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ldm-upscale-default-'));
  const studio = await createStudio({ dataDir: path.join(dir, 'data'), transport: 'web', embeddedModelsDir: shipped });
  try {
    const models = await studio.handlers['models.list']({ kind: 'ldm' });
    const sr = superResolutionModel(models);
    expect(sr?.name).toBe('emoji-sr-x4');
    expect(upscalesByDefault(models.find((m) => m.name === 'emoji-ldm-32')!, sr)).toBe(true);
  } finally {
    await studio.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
