// The progress bar on stderr: redrawn in place on a terminal, one line per finished image otherwise
// (logs and pipes should not fill with carriage returns).
import type { ProgressEvent } from '../engine/pipelines/types.ts';

export interface ProgressStream {
  write(s: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export class ProgressBar {
  /** The first event: the rate counts from there, so model loading does not drag it down. */
  private first: { time: number; done: number } | null = null;
  private drawn = false;

  constructor(
    private readonly out: ProgressStream,
    private readonly now: () => number = Date.now,
  ) {}

  update(e: ProgressEvent): void {
    const t = this.now();
    this.first ??= { time: t, done: e.done };
    const elapsed = (t - this.first.time) / 1000;
    const rate = elapsed > 0 ? (e.done - this.first.done) / elapsed : 0;
    if (this.out.isTTY) {
      this.out.write('\r' + renderBar(e, rate, this.out.columns || 80) + '\x1b[K');
      this.drawn = true;
    } else if (e.step === e.steps) {
      this.out.write(`image ${e.image + 1}/${e.images}: ${e.steps} steps, ${e.done}/${e.total} done, ${formatRate(rate)}\n`);
    }
  }

  /** Ends the bar's line (before printing anything else). */
  finish(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}

export function renderBar(e: ProgressEvent, stepsPerSecond: number, columns: number): string {
  const label = e.images > 1 ? `image ${e.image + 1}/${e.images} ` : '';
  const counts = ` ${e.step}/${e.steps} ${formatRate(stepsPerSecond)}`;
  const eta = stepsPerSecond > 0 ? ` eta ${formatSeconds((e.total - e.done) / stepsPerSecond)}` : '';
  const barWidth = Math.max(10, Math.min(40, columns - label.length - counts.length - eta.length - 3));
  const filled = Math.round((e.done / Math.max(1, e.total)) * barWidth);
  return `${label}[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${counts}${eta}`;
}

function formatRate(stepsPerSecond: number): string {
  if (stepsPerSecond <= 0) return '';
  return stepsPerSecond >= 1 ? `${stepsPerSecond.toFixed(2)} it/s` : `${(1 / stepsPerSecond).toFixed(2)} s/it`;
}

function formatSeconds(s: number): string {
  const t = Math.round(s);
  return t >= 60 ? `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s` : `${t}s`;
}
