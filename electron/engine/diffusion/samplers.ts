// The engine's samplers: one table (names, the labels AUTOMATIC1111 writes, the schedule types each takes
// and what 'automatic' means for it), createSampler, and reading/writing other tools' sampler labels.
// Formulas: k-samplers.ts (k-diffusion), alpha-samplers.ts (CompVis DDIM/PLMS, DDPM), unipc.ts (A1111's
// UniPC); σ lists: sigma-schedules.ts. Reference values: scripts/reference/samplers.py.

import { Ddim, Ddpm, Plms, checkEta } from './alpha-samplers.ts';
import { KSampler, type KSamplerKind } from './k-samplers.ts';
import { SamplerError, type BrownianNoiseFactory, type Prediction, type Sampler } from './sampler-base.ts';
import { ScheduleError, makeSchedule, spacedTimesteps, type Schedule, type ScheduleConfig } from './schedule.ts';
import {
  compvisTable,
  isScheduleType,
  lcmTable,
  scheduleLabel,
  scheduleTypeFromLabel,
  sigmaList,
  type ResolvedSchedule,
  type ScheduleType,
} from './sigma-schedules.ts';
import { UniPC } from './unipc.ts';

export * from './sampler-base.ts';
export { SCHEDULE_TYPES, SCHEDULE_TYPE_NAMES, scheduleLabel, scheduleTypeFromLabel, type ScheduleType } from './sigma-schedules.ts';

type Family = 'k' | 'alpha' | 'unipc';

interface SamplerSpec {
  readonly name: string;
  /** AUTOMATIC1111's label. */
  readonly label: string;
  readonly family: Family;
  /** What 'automatic' means for it (A1111 ≥ 1.9's default scheduler of that sampler). */
  readonly automatic: ResolvedSchedule | 'compvis';
  /** A1111's discard_next_to_last_sigma. */
  readonly discardPenultimate?: boolean;
  /** Other tools' names for it (A1111 aliases, ComfyUI, diffusers scheduler classes), lower case. */
  readonly aliases: readonly string[];
}

const A1111_TYPES: readonly ScheduleType[] = [
  'automatic', 'uniform', 'karras', 'exponential', 'sgm_uniform', 'polyexponential', 'kl_optimal', 'align_your_steps', 'simple', 'ddim_uniform',
];
const K_TYPES: readonly ScheduleType[] = [...A1111_TYPES, 'leading', 'trailing', 'linspace'];
const LCM_TYPES: readonly ScheduleType[] = A1111_TYPES;
const ALPHA_TYPES: readonly ScheduleType[] = ['automatic', 'leading', 'trailing', 'linspace'];

/** In A1111 1.10's order, then DDPM (ours). */
const SPECS = [
  { name: 'dpmpp_2m', label: 'DPM++ 2M', family: 'k', automatic: 'karras', aliases: ['k_dpmpp_2m', 'dpmsolvermultistepscheduler'] },
  { name: 'dpmpp_sde', label: 'DPM++ SDE', family: 'k', automatic: 'karras', aliases: ['k_dpmpp_sde', 'dpmsolversdescheduler'] },
  { name: 'dpmpp_2m_sde', label: 'DPM++ 2M SDE', family: 'k', automatic: 'exponential', aliases: ['k_dpmpp_2m_sde'] },
  { name: 'dpmpp_2m_sde_heun', label: 'DPM++ 2M SDE Heun', family: 'k', automatic: 'exponential', aliases: ['k_dpmpp_2m_sde_heun'] },
  { name: 'dpmpp_2s_a', label: 'DPM++ 2S a', family: 'k', automatic: 'karras', aliases: ['k_dpmpp_2s_a', 'dpmpp_2s_ancestral'] },
  { name: 'dpmpp_3m_sde', label: 'DPM++ 3M SDE', family: 'k', automatic: 'exponential', discardPenultimate: true, aliases: ['k_dpmpp_3m_sde'] },
  { name: 'euler_a', label: 'Euler a', family: 'k', automatic: 'uniform', aliases: ['k_euler_a', 'k_euler_ancestral', 'euler_ancestral', 'eulerancestraldiscretescheduler'] },
  { name: 'euler', label: 'Euler', family: 'k', automatic: 'uniform', aliases: ['k_euler', 'eulerdiscretescheduler'] },
  { name: 'lms', label: 'LMS', family: 'k', automatic: 'uniform', aliases: ['k_lms', 'lmsdiscretescheduler'] },
  { name: 'heun', label: 'Heun', family: 'k', automatic: 'uniform', aliases: ['k_heun', 'heundiscretescheduler'] },
  { name: 'dpm2', label: 'DPM2', family: 'k', automatic: 'karras', discardPenultimate: true, aliases: ['k_dpm_2', 'dpm_2', 'kdpm2discretescheduler'] },
  { name: 'dpm2_a', label: 'DPM2 a', family: 'k', automatic: 'karras', discardPenultimate: true, aliases: ['k_dpm_2_a', 'dpm_2_ancestral', 'kdpm2ancestraldiscretescheduler'] },
  { name: 'ddim', label: 'DDIM', family: 'alpha', automatic: 'compvis', aliases: ['ddimscheduler'] },
  { name: 'plms', label: 'PLMS', family: 'alpha', automatic: 'compvis', aliases: ['pndmscheduler'] },
  { name: 'unipc', label: 'UniPC', family: 'unipc', automatic: 'compvis', aliases: ['uni_pc', 'unipcmultistepscheduler'] },
  { name: 'lcm', label: 'LCM', family: 'k', automatic: 'uniform', aliases: ['k_lcm', 'lcmscheduler'] },
  { name: 'ddpm', label: 'DDPM', family: 'alpha', automatic: 'compvis', aliases: ['ddpmscheduler'] },
] as const satisfies readonly SamplerSpec[];

export type SamplerName = (typeof SPECS)[number]['name'];

export interface SamplerInfo {
  readonly name: SamplerName;
  readonly label: string;
  /** The schedule types it takes; 'automatic' first. */
  readonly schedules: readonly ScheduleType[];
}

function typesOf(s: SamplerSpec): readonly ScheduleType[] {
  if (s.family === 'unipc') return ['automatic'];
  if (s.family === 'alpha') return ALPHA_TYPES;
  return s.name === 'lcm' ? LCM_TYPES : K_TYPES;
}

/** Every sampler, with its A1111 label and schedule types: what the UI offers (served by system.info). */
export const SAMPLERS: readonly SamplerInfo[] = SPECS.map((s) => ({ name: s.name, label: s.label, schedules: typesOf(s) }));

function spec(name: string): SamplerSpec | undefined {
  return (SPECS as readonly SamplerSpec[]).find((s) => s.name === name);
}

export interface SamplerChoice {
  readonly name: SamplerName;
  readonly schedule: ScheduleType;
}

/**
 * A job's sampler and schedule type. The name may carry a schedule as a suffix, as older jobs wrote it
 * ('dpmpp_2m_karras', 'euler_a_karras'); a suffix and a different explicit schedule type conflict.
 */
export function resolveSampler(name: string, schedule: string = 'automatic'): SamplerChoice {
  let base = name;
  let suffix: ScheduleType | null = null;
  if (!spec(name)) {
    const m = /^(.+?)_(karras|exponential|sgm_uniform|uniform|polyexponential|kl_optimal|align_your_steps|simple|ddim_uniform)$/.exec(name);
    if (m && spec(m[1]!)) {
      base = m[1]!;
      suffix = m[2] as ScheduleType;
    }
  }
  const s = spec(base);
  if (!s) throw new SamplerError(`unknown sampler "${name}": use one of ${SAMPLERS.map((x) => x.name).join(', ')}`);
  if (!isScheduleType(schedule)) {
    throw new SamplerError(`unknown schedule type "${schedule}": use one of ${typesOf(s).join(', ')}`);
  }
  if (suffix && schedule !== 'automatic' && schedule !== suffix) {
    throw new SamplerError(`sampler "${name}" names the ${suffix} schedule but the job asks for ${schedule}: give one`);
  }
  const chosen = suffix ?? schedule;
  if (!typesOf(s).includes(chosen)) {
    throw new SamplerError(`${s.label} takes the schedule types ${typesOf(s).join(', ')}, not ${chosen}`);
  }
  return { name: s.name as SamplerName, schedule: chosen };
}

export interface SamplerOptions {
  readonly steps: number;
  /** 'automatic' (default): the sampler's A1111 default; see SCHEDULE_TYPES. */
  readonly scheduleType?: ScheduleType | string;
  /** A schedule, or its config (default: scaled-linear 0.00085 → 0.012 over 1000 steps). */
  readonly schedule?: Schedule | ScheduleConfig;
  /** What the model predicts (default ε); the sampler converts a v output itself. */
  readonly prediction?: Prediction;
  /** DDIM stochasticity, 0 (deterministic) to 1. */
  readonly eta?: number;
  /** Shorthand for schedule.trainTimesteps. */
  readonly trainTimesteps?: number;
  /** Brownian-tree noise for DPM++ SDE / 2M SDE / 3M SDE (A1111 uses torchsde's); default: the job's noise. */
  readonly brownianNoise?: BrownianNoiseFactory;
}

export function createSampler(name: string, opts: SamplerOptions): Sampler {
  const choice = resolveSampler(name, opts.scheduleType);
  const s = spec(choice.name)!;
  const eta = opts.eta ?? 0;
  checkEta(eta, s.name);
  const prediction = opts.prediction ?? 'epsilon';
  if (prediction !== 'epsilon' && prediction !== 'v_prediction') {
    throw new SamplerError(`unknown prediction type "${String(prediction)}": use epsilon or v_prediction`);
  }
  try {
    const schedule = isSchedule(opts.schedule)
      ? opts.schedule
      : makeSchedule({ ...opts.schedule, ...(opts.trainTimesteps !== undefined ? { trainTimesteps: opts.trainTimesteps } : {}) });
    const resolved = choice.schedule === 'automatic' ? s.automatic : choice.schedule;
    const T = schedule.trainTimesteps;
    if (s.family === 'unipc') {
      return new UniPC(schedule, spacedTimesteps(opts.steps, T, 'compvis').length, prediction);
    }
    if (s.family === 'alpha') {
      const ts = spacedTimesteps(opts.steps, T, resolved === 'compvis' ? 'compvis' : (resolved as 'leading' | 'trailing' | 'linspace'));
      const label = choice.schedule;
      if (s.name === 'ddim') return new Ddim(s.name, label, schedule, ts, prediction, eta);
      if (s.name === 'plms') return new Plms(s.name, label, schedule, ts, prediction);
      return new Ddpm(s.name, label, schedule, ts, prediction);
    }
    const table = s.name === 'lcm' ? lcmTable(schedule) : compvisTable(schedule);
    const type = resolved as ResolvedSchedule;
    const sigmas = sigmaList(type, opts.steps, table, schedule, s.discardPenultimate ?? false);
    return new KSampler(s.name as KSamplerKind, type, sigmas, table, prediction, opts.brownianNoise ?? null);
  } catch (err) {
    if (err instanceof ScheduleError) throw new SamplerError(err.message);
    throw err;
  }
}

function isSchedule(s: Schedule | ScheduleConfig | undefined): s is Schedule {
  return s !== undefined && 'alphasCumprod' in s;
}

// ---------------------------------------------------------------------------------------------
// Labels, both ways.

/**
 * What A1111 ≥ 1.9 writes for a sampler and schedule type: `Sampler: DPM++ 2M, Schedule type: Karras`.
 * 'automatic' is written resolved where A1111 resolves it (DPM++ 2M → Karras), else as 'Automatic'
 * (Euler a, DDIM, UniPC, …). Names with a schedule suffix ('dpmpp_2m_karras') are read as such.
 */
export function samplerLabels(name: string, schedule: string = 'automatic'): { sampler: string; scheduleType: string } {
  const c = resolveSampler(name, schedule);
  const s = spec(c.name)!;
  let shown: ScheduleType = c.schedule;
  if (shown === 'automatic' && s.family === 'k' && s.automatic !== 'uniform') shown = s.automatic as ScheduleType;
  return { sampler: s.label, scheduleType: scheduleLabel(shown) };
}

/**
 * A sampler and schedule type from a label as other tools write it: A1111 ≥ 1.9 ('DPM++ 2M' with
 * `Schedule type: Karras`), older A1111 ('DPM++ 2M Karras'; a plain 'DPM++ 2M' without a schedule type
 * ran k-diffusion's uniform σ there), our names, A1111 aliases, ComfyUI sampler/scheduler names and
 * diffusers scheduler classes. Null when the sampler is unknown.
 */
export function samplerFromLabel(label: string, scheduleType?: string | null): SamplerChoice | null {
  let l = label.trim().toLowerCase();
  let schedule: ScheduleType | null = scheduleType ? scheduleTypeFromLabel(scheduleType) : null;
  let s = findSpec(l);
  if (!s) {
    // Older A1111 labels end in the schedule type: "DPM++ 2M Karras", "DPM++ 2M SDE Exponential".
    for (const t of ['karras', 'exponential', 'polyexponential', 'sgm uniform', 'uniform', 'kl optimal', 'align your steps', 'simple', 'automatic']) {
      if (l.endsWith(` ${t}`)) {
        const base = findSpec(l.slice(0, -t.length - 1));
        if (base) {
          s = base;
          schedule = scheduleTypeFromLabel(t);
          l = l.slice(0, -t.length - 1);
          break;
        }
      }
    }
  }
  if (!s) {
    const legacy = /^(.+?)_(karras|exponential|sgm_uniform|polyexponential|kl_optimal|align_your_steps|simple|ddim_uniform)$/.exec(l.replace(/\s+/g, '_'));
    const base = legacy ? findSpec(legacy[1]!) : undefined;
    if (!base) return null;
    s = base;
    schedule = legacy![2] as ScheduleType;
  }
  const types = typesOf(s);
  // No schedule type field: written by A1111 before 1.9, whose samplers ran get_sigmas (Uniform) unless
  // the label said otherwise.
  if (schedule === null) schedule = s.family === 'k' ? 'uniform' : 'automatic';
  if (!types.includes(schedule)) schedule = 'automatic';
  return { name: s.name as SamplerName, schedule };
}

function findSpec(l: string): SamplerSpec | undefined {
  const key = l.replace(/\s+/g, '_');
  return (SPECS as readonly SamplerSpec[]).find((s) => s.label.toLowerCase() === l || s.name === key || s.aliases.includes(key));
}

/**
 * A sampler and schedule type as one job name, the schedule folded in as a suffix unless it is what
 * 'automatic' gives ('dpmpp_2m' + 'exponential' → 'dpmpp_2m_exponential', 'euler_a' + 'uniform' →
 * 'euler_a'): for records that keep one string (the history's sampler column); createSampler reads it back.
 */
export function foldSchedule(name: string, schedule: string = 'automatic'): string {
  const c = resolveSampler(name, schedule);
  const plain = c.schedule === 'automatic' || (c.schedule === 'uniform' && spec(c.name)!.automatic === 'uniform');
  return plain ? c.name : `${c.name}_${c.schedule}`;
}

/**
 * Our job name for a label, the schedule folded in as a suffix unless it is what 'automatic' gives
 * ('dpmpp_2m_karras', 'dpmpp_2m_uniform', 'euler_a'), for callers that keep one string. Null when unknown.
 * @deprecated keep the schedule type apart: samplerFromLabel.
 */
export function parseSamplerLabel(label: string, scheduleType?: string): string | null {
  const c = samplerFromLabel(label, scheduleType);
  return c ? foldSchedule(c.name, c.schedule) : null;
}

/**
 * One A1111 label for a job name, in the pre-1.9 form ('DPM++ 2M Karras'); unknown names come back as given.
 * @deprecated write `Sampler` and `Schedule type` apart: samplerLabels.
 */
export function samplerLabel(name: string): string {
  try {
    const c = resolveSampler(name);
    const label = spec(c.name)!.label;
    return c.schedule === 'automatic' ? label : `${label} ${scheduleLabel(c.schedule)}`;
  } catch {
    return name;
  }
}
