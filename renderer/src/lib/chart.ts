// The loss chart as SVG paths: raw loss (thin) and an exponential moving average (bold), scaled into a
// plot box; long runs are thinned so the path stays a few hundred points.
import type { LossPoint } from '../../../electron/api/jobs.ts';

export interface LossChart {
  raw: string;
  smooth: string;
  yMin: number;
  yMax: number;
  xMax: number;
  last: number | null;
  lastSmooth: number | null;
}

export function smoothLoss(points: readonly LossPoint[], beta = 0.9): number[] {
  const out: number[] = [];
  let ema = 0;
  points.forEach((p, i) => {
    ema = beta * ema + (1 - beta) * p.loss;
    out.push(ema / (1 - beta ** (i + 1))); // bias-corrected, as TensorBoard does
  });
  return out;
}

export function lossChart(points: readonly LossPoint[], width: number, height: number, maxPoints = 400): LossChart {
  const finite = points.filter((p) => Number.isFinite(p.loss));
  if (!finite.length) return { raw: '', smooth: '', yMin: 0, yMax: 1, xMax: 1, last: null, lastSmooth: null };
  const smooth = smoothLoss(finite);
  let yMin = Infinity;
  let yMax = -Infinity;
  for (const p of finite) {
    yMin = Math.min(yMin, p.loss);
    yMax = Math.max(yMax, p.loss);
  }
  if (yMax - yMin < 1e-12) {
    yMin -= 0.5;
    yMax += 0.5;
  }
  const xMin = finite[0]!.step;
  const xMax = Math.max(finite[finite.length - 1]!.step, xMin + 1);
  const sx = (s: number) => ((s - xMin) / (xMax - xMin)) * width;
  const sy = (v: number) => height - ((v - yMin) / (yMax - yMin)) * height;
  const stride = Math.max(1, Math.ceil(finite.length / maxPoints));
  const idx: number[] = [];
  for (let i = 0; i < finite.length; i += stride) idx.push(i);
  if (idx[idx.length - 1] !== finite.length - 1) idx.push(finite.length - 1);
  const path = (value: (i: number) => number) =>
    idx.map((i, k) => `${k ? 'L' : 'M'}${sx(finite[i]!.step).toFixed(1)},${sy(value(i)).toFixed(1)}`).join('');
  return {
    raw: path((i) => finite[i]!.loss),
    smooth: path((i) => smooth[i]!),
    yMin,
    yMax,
    xMax,
    last: finite[finite.length - 1]!.loss,
    lastSmooth: smooth[smooth.length - 1]!,
  };
}
