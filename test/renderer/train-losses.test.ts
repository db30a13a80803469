import { expect, it } from 'vitest';
import { appendLosses } from '../../renderer/src/train/losses.ts';

const pts = (...steps: number[]) => steps.map((step) => ({ step, loss: step / 10 }));

it('appends loss points, and a run resumed from an earlier checkpoint replaces the steps it repeats', () => {
  expect(appendLosses(pts(1, 2), pts(3, 4))).toEqual(pts(1, 2, 3, 4));
  expect(appendLosses(pts(1, 2, 3, 4, 5), [{ step: 3, loss: 9 }])).toEqual([...pts(1, 2), { step: 3, loss: 9 }]);
  expect(appendLosses(pts(1, 2), [])).toEqual(pts(1, 2));
});
