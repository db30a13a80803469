import { expect, it } from 'vitest';
import type { ModelTraits } from '../../electron/api/models.ts';
import { sizeProblem } from '../../renderer/src/lib/models.ts';

const traits: ModelTraits = { family: 'package', task: 'txt2img', prediction: 'epsilon', classCount: null, sizeStep: 16, defaults: { sampler: 'ddim', steps: 25, guidance: 3, width: 32, height: 32 } };

it('says which sizes the model can draw when a side is off its size step', () => {
  expect(sizeProblem(traits, 32, 48)).toBeNull();
  expect(sizeProblem(traits, 40, 32)).toBe('This model draws sizes in steps of 16 px: use 32×32 or 48×32.');
  expect(sizeProblem(traits, 8, 8)).toBe('This model draws sizes in steps of 16 px: use 16×16 or 16×16.');
  // A model that states no step: multiples of 8.
  expect(sizeProblem({ ...traits, sizeStep: undefined }, 40, 32)).toBeNull();
  expect(sizeProblem(null, 36, 32)).toBe('This model draws sizes in steps of 8 px: use 32×32 or 40×32.');
  // img2img draws at the init picture's size, whatever the fields say.
  expect(sizeProblem(traits, 40, 40, { width: 33, height: 32 })).toBe('This model draws sizes in steps of 16 px and the init picture is 33×32: scale or crop it to 32×32 or 48×32 first.');
  expect(sizeProblem(traits, 40, 40, { width: 32, height: 48 })).toBeNull();
});
