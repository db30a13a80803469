import { expect, it } from 'vitest';
import type { Generation } from '../../electron/api/history.ts';
import { parseParameters } from '../../electron/engine/io/generation-params.ts';
import { parametersText } from '../../renderer/src/lib/params.ts';
import { SAMPLERS, SCHEDULE_TYPES } from '../../electron/engine/diffusion/samplers.ts';

// What system.info serves the renderer (services/system.ts).
const info = { samplers: SAMPLERS.map((x) => ({ ...x, schedules: [...x.schedules] })), scheduleTypes: SCHEDULE_TYPES.map((t) => ({ ...t })) };

const gen: Generation = {
  id: 'g1',
  kind: 'img2img',
  prompt: 'a red fox, snow: deep',
  negativePrompt: 'blurry',
  params: { sampler: 'dpmpp_2m_karras', steps: 25, guidance: 6.5, seed: 4242, width: 512, height: 384, strength: 0.6, eta: null, extra: { 'Mask blur': '4', Version: 'ldm-studio 0.1.0' } },
  model: { id: 'm', name: 'v1-5, pruned', hash: '6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa' },
  loras: [],
  imagePath: 'x.png',
  thumbnailPath: 't.png',
  maskPath: null,
  parentId: null,
  jobId: null,
  timings: {},
  createdAt: 0,
  favourite: false,
  tags: [],
  trashedAt: null,
};

it('copies parameters in the infotext format that the engine (and other tools) read back', () => {
  const text = parametersText(gen, info);
  expect(text.split('\n')[0]).toBe('a red fox, snow: deep');
  const p = parseParameters(text);
  expect(p).toMatchObject({
    prompt: 'a red fox, snow: deep',
    negative: 'blurry',
    steps: 25,
    sampler: 'DPM++ 2M Karras',
    cfg: 6.5,
    seed: 4242,
    width: 512,
    height: 384,
    model: 'v1-5, pruned',
    modelHash: '6ce0161689',
    strength: 0.6,
    version: 'ldm-studio 0.1.0',
    extras: { 'Mask blur': '4' },
  });
});
