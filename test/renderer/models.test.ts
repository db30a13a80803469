import { expect, it } from 'vitest';
import type { ModelInfo, ModelTraits } from '../../electron/api/models.ts';
import { modelSummary, sizeWarning } from '../../renderer/src/lib/models.ts';

const traits: ModelTraits = { family: 'package', task: 'txt2img', prediction: 'epsilon', classCount: null, defaults: { sampler: 'ddim', steps: 25, guidance: 3, width: 32, height: 32 } };

it('warns about sizes far from the native one, with the cost as a pixel ratio', () => {
  expect(sizeWarning(traits, 32, 32)).toBeNull();
  expect(sizeWarning(traits, 32, 64)).toBeNull();
  expect(sizeWarning(traits, 512, 512)).toMatch(/trained at 32×32\. 512×512 is 256× its pixels: every step costs about 256× as much/);
  expect(sizeWarning(traits, 16, 16)).toMatch(/0\.3× its pixels\) it loses most of its detail/);
  expect(sizeWarning(null, 512, 512)).toBeNull();
});

it('describes a model with its family, task, native size and size on disk', () => {
  const m = { name: 'emoji', source: 'embedded', sizeBytes: 3 * 1024 * 1024, traits } as ModelInfo;
  expect(modelSummary(m)).toMatch(/^emoji · Model package · txt2img · 32×32 · 3(\.0)? MB$/);
  expect(modelSummary({ ...m, traits: null, name: 'a lora' })).toMatch(/^a lora · 3(\.0)? MB$/);
});
