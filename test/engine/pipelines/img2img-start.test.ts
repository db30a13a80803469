// img2img and inpainting start where AUTOMATIC1111 starts for the same steps and strength, so a picture's
// "Denoising strength" means the same number of denoising steps here.
import { expect, it } from 'vitest';
import { startIndexFor } from '../../../electron/engine/pipelines/common.ts';

it('runs int(min(strength, 0.999)·steps) + 1 steps, as A1111 does; strength 0 runs none', () => {
  expect(startIndexFor(10, 0)).toBe(10);
  // [steps, strength, A1111's start index = steps − int(min(s, 0.999)·steps) − 1]
  const cases: [number, number, number][] = [
    [20, 0.75, 4], [20, 1, 0], [20, 0.5, 9], [30, 0.3, 20], [25, 0.62, 9], [7, 0.999, 0], [1, 1, 0],
  ];
  for (const [steps, strength, start] of cases) expect([steps, strength, startIndexFor(steps, strength)]).toEqual([steps, strength, start]);
});
