// The samplers and schedule types the engine offers, as system.info serves them (engine/diffusion/samplers.ts
// SAMPLERS is the one list); nothing until system.info has answered.
import type { RequestOutput } from '../../../electron/api/index.ts';

export type ServedSamplers = Pick<RequestOutput<'system.info'>, 'samplers' | 'scheduleTypes'>;

export function samplerList(info: ServedSamplers | null): ServedSamplers['samplers'] {
  return info?.samplers ?? [];
}

/** The A1111 label of a job's sampler name; older names carry a schedule ('dpmpp_2m_karras' → 'DPM++ 2M Karras'). */
export function samplerLabel(name: string | null, info: ServedSamplers | null): string {
  if (name === null) return '—';
  const list = samplerList(info);
  const exact = list.find((s) => s.name === name);
  if (exact) return exact.label;
  const type = info?.scheduleTypes.find((t) => name.endsWith(`_${t.name}`));
  const base = type && list.find((s) => s.name === name.slice(0, -type.name.length - 1));
  return base ? `${base.label} ${type.label}` : name;
}
