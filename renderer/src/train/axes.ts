// Axis ticks for the loss chart: a few round values (1, 2 or 5 × a power of ten) inside a range, each
// with its place along the axis as a fraction, and labels short enough for a narrow axis.

export interface Tick {
  value: number;
  /** Where the tick lies along the axis: 0 at `min`, 1 at `max`. */
  at: number;
  label: string;
}

/** About `count` round values between min and max (both ends included when they are round). */
export function niceTicks(min: number, max: number, count = 4): Tick[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max <= min) return [];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  const ticks: Tick[] = [];
  for (let k = Math.ceil(min / step - 1e-9); k * step <= max + step * 1e-9; k++) {
    const v = k * step + 0; // + 0: never -0
    ticks.push({ value: v, at: Math.min(1, Math.max(0, (v - min) / (max - min))), label: formatTick(v, decimals) });
  }
  return ticks;
}

function formatTick(v: number, decimals: number): string {
  if (Math.abs(v) >= 10_000) return `${+(v / 1000).toFixed(1)}k`;
  return v.toFixed(Math.min(decimals, 6));
}
