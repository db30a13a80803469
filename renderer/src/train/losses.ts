// The loss points a chart shows, kept in step order as progress events add to them. A run resumed from
// its last checkpoint reports steps again that the chart already has: the newer points replace them.
import type { LossPoint } from '../../../electron/api/jobs.ts';

export function appendLosses(shown: readonly LossPoint[], incoming: readonly LossPoint[]): LossPoint[] {
  if (!incoming.length) return [...shown];
  const from = incoming[0]!.step;
  return [...shown.filter((p) => p.step < from), ...incoming];
}
