import { expect, it } from 'vitest';
import { SAMPLERS as ENGINE } from '../../electron/engine/diffusion/samplers.ts';
import { SAMPLERS as UI } from '../../renderer/src/lib/samplers.ts';

it('the renderer offers exactly the engine samplers, with the same labels', () => {
  expect(UI.map((s) => ({ ...s }))).toEqual(ENGINE.map((s) => ({ ...s })));
});
