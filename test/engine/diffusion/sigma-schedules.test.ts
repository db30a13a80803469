import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { makeSchedule } from '../../../electron/engine/diffusion/schedule.ts';
import {
  compvisTable,
  lcmTable,
  scheduleTypeFromLabel,
  sigmaList,
  type ResolvedSchedule,
} from '../../../electron/engine/diffusion/sigma-schedules.ts';

// Made by scripts/reference/samplers.py from k-diffusion's DiscreteSchedule (get_sigmas, sigma_to_t,
// t_to_sigma), its get_sigmas_karras / get_sigmas_exponential, A1111's sgm_uniform, its LCM denoiser
// table and its discard_next_to_last_sigma, written over again in numpy.
const ref = JSON.parse(readFileSync(new URL('../../fixtures/samplers/sigmas.json', import.meta.url), 'utf8')) as {
  facts: { sigmaMax: number; sigmaMin: number };
  lcmTable: number[];
  lists: { table: 'compvis' | 'lcm'; schedule: ResolvedSchedule; steps: number; discard: boolean; sigmas: number[]; timesteps: number[] }[];
};

describe('σ lists', () => {
  const schedule = makeSchedule();
  const tables = { compvis: compvisTable(schedule), lcm: lcmTable(schedule) };

  it('has k-diffusion’s σ range for SD’s schedule: σ₀ = 14.6146, σ_last = 0.0292', () => {
    expect(ref.facts.sigmaMax).toBeCloseTo(14.6146, 4);
    expect(ref.facts.sigmaMin).toBeCloseTo(0.0292, 4);
    const u = sigmaList('uniform', 20, tables.compvis, schedule);
    expect(u[0]).toBeCloseTo(14.6146, 4);
    expect(u[19]).toBeCloseTo(0.0292, 4);
    expect(u[20]).toBe(0);
  });

  it('builds A1111’s LCM table', () => {
    tables.lcm.sigmas.forEach((v, i) => expect(Math.abs(v - ref.lcmTable[i]!) / v).toBeLessThan(1e-12));
  });

  it('matches the reference for every schedule type, step count and the penultimate-σ drop', () => {
    expect(ref.lists.length).toBeGreaterThan(100);
    for (const r of ref.lists) {
      const table = tables[r.table];
      const got = sigmaList(r.schedule, r.steps, table, schedule, r.discard);
      const what = `${r.table} ${r.schedule} ${r.steps}${r.discard ? ' discard' : ''}`;
      expect(got.length, what).toBe(r.sigmas.length);
      got.forEach((v, i) => expect(Math.abs(v - r.sigmas[i]!) / Math.max(r.sigmas[i]!, 1e-300), `${what} σ[${i}]`).toBeLessThan(1e-12));
      r.timesteps.forEach((t, i) => expect(table.modelTimestep(got[i]!), `${what} t[${i}]`).toBeCloseTo(t, 8));
    }
  });

  it('reads schedule type labels as A1111 and ComfyUI write them', () => {
    expect(scheduleTypeFromLabel('Karras')).toBe('karras');
    expect(scheduleTypeFromLabel('SGM Uniform')).toBe('sgm_uniform');
    expect(scheduleTypeFromLabel('SGMUniform')).toBe('sgm_uniform');
    expect(scheduleTypeFromLabel('normal')).toBe('uniform');
    expect(scheduleTypeFromLabel('Align Your Steps')).toBe('align_your_steps');
    expect(scheduleTypeFromLabel('DDIM')).toBe('ddim_uniform');
    expect(scheduleTypeFromLabel('Beta')).toBeNull(); // not built: needs the inverse regularised incomplete beta
  });
});
