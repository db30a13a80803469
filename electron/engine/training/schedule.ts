// Learning-rate schedules as pure functions of the optimiser step (0-based), so a resumed run gets
// exactly the rate it would have had.
import { TrainingError } from './errors.ts';

export type LrSchedule =
  | { kind: 'constant' }
  /** Linear ramp over the first `warmupSteps` steps (step s uses (s+1)/warmupSteps), then constant. */
  | { kind: 'warmup'; warmupSteps: number }
  /** Linear warm-up, then half a cosine from the base rate down to `minLr` (default 0) at `totalSteps`. */
  | { kind: 'cosine'; warmupSteps: number; totalSteps: number; minLr?: number };

export function validateSchedule(s: LrSchedule): void {
  const nonNeg = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 0) throw new TrainingError(`LR schedule: ${what} must be a whole number ≥ 0, got ${v}`);
  };
  if (s.kind === 'constant') return;
  nonNeg(s.warmupSteps, 'warmupSteps');
  if (s.kind === 'cosine') {
    nonNeg(s.totalSteps, 'totalSteps');
    if (s.totalSteps <= s.warmupSteps) throw new TrainingError(`LR schedule: totalSteps (${s.totalSteps}) must exceed warmupSteps (${s.warmupSteps})`);
    if ((s.minLr ?? 0) < 0) throw new TrainingError('LR schedule: minLr must be ≥ 0');
  }
}

export function lrAt(s: LrSchedule, baseLr: number, step: number): number {
  if (s.kind === 'constant') return baseLr;
  if (step < s.warmupSteps) return (baseLr * (step + 1)) / s.warmupSteps;
  if (s.kind === 'warmup') return baseLr;
  const minLr = s.minLr ?? 0;
  const progress = Math.min(1, (step - s.warmupSteps) / (s.totalSteps - s.warmupSteps));
  return minLr + (baseLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
