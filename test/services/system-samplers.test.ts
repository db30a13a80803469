// One source for the sampler list: the renderer offers what system.info serves, which is the engine's table.
import { expect, it } from 'vitest';
import { SAMPLERS, SCHEDULE_TYPES, createSampler } from '../../electron/engine/diffusion/samplers.ts';
import { txt2imgSpec } from '../../electron/api/jobs.ts';
import { systemRequests } from '../../electron/api/system.ts';
import { systemInfo } from '../../electron/services/system.ts';
import { samplerLabel, samplerList } from '../../renderer/src/lib/samplers.ts';

it('serves the engine’s samplers and schedule types through system.info, and the renderer reads them from there', () => {
  const info = systemRequests['system.info'].output.parse(systemInfo('/tmp/x', 'web'));
  expect(info.samplers).toEqual(SAMPLERS.map((s) => ({ name: s.name, label: s.label, schedules: [...s.schedules] })));
  expect(info.scheduleTypes).toEqual(SCHEDULE_TYPES.map((t) => ({ ...t })));
  expect(samplerList(info).map((s) => s.name)).toEqual(SAMPLERS.map((s) => s.name));
  expect(samplerList(null)).toEqual([]);
  expect(samplerLabel('dpmpp_sde', info)).toBe('DPM++ SDE');
  expect(samplerLabel('dpmpp_2m_karras', info)).toBe('DPM++ 2M Karras');
  expect(samplerLabel('Restart', info)).toBe('Restart');
  // Every served sampler × schedule type is one createSampler runs.
  for (const s of info.samplers) for (const t of s.schedules) expect(createSampler(s.name, { steps: 10, scheduleType: t }).timesteps.length).toBeGreaterThan(0);
});

it('takes the schedule type in the job contract (left out: automatic) and refuses unknown ones', () => {
  const base = { kind: 'txt2img', modelId: 'm', prompt: 'p', sampler: 'dpmpp_2m', steps: 20, guidance: 7, width: 64, height: 64 };
  expect(txt2imgSpec.parse(base).scheduleType).toBeUndefined(); // the pipelines read it as automatic
  expect(txt2imgSpec.parse({ ...base, scheduleType: 'sgm_uniform' }).scheduleType).toBe('sgm_uniform');
  expect(() => txt2imgSpec.parse({ ...base, scheduleType: 'Karras' })).toThrow();
});
