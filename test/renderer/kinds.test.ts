import { expect, it } from 'vitest';
import type { Generation } from '../../electron/api/history.ts';
import { kindLabel, provenanceText } from '../../renderer/src/lib/kinds.ts';

it('names kinds with one vocabulary and says what made a picture', () => {
  expect(kindLabel('img2img')).toBe('Image to image');
  expect(kindLabel('train')).toBe('Training');
  const g = {
    kind: 'img2img',
    model: { id: 'm', name: 'emoji-ldm-32', hash: 'abc' },
    params: { sampler: 'ddim', steps: 25 },
    loras: [{ name: 'fox', hash: null, strength: 0.8 }],
    parentId: 'p',
  } as unknown as Generation;
  expect(provenanceText(g, (s) => (s === 'ddim' ? 'DDIM' : String(s)))).toBe('Image to image with emoji-ldm-32, DDIM, 25 steps, LoRA fox × 0.8');
  expect(provenanceText({ ...g, kind: 'upload' } as Generation, String)).toBe('Saved from the canvas, continuing another picture');
});
