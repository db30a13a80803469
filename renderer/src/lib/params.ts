// Generation parameters as text: the A1111-style block people paste between tools (copy parameters).
// test/renderer/params.test.ts reads it back with the engine's parser, so both stay one format.
import type { Generation } from '../../../electron/api/history.ts';
import { samplerLabel, type ServedSamplers } from './samplers.ts';

const quote = (v: string) => (/[,:\n]/.test(v) ? JSON.stringify(v) : v);

/** `info`: system.info's sampler list, for the labels. */
export function parametersText(g: Generation, info: ServedSamplers | null): string {
  const p = g.params;
  const fields: [string, string | number | null][] = [
    ['Steps', p.steps],
    ['Sampler', p.sampler ? samplerLabel(p.sampler, info) : null],
    ['CFG scale', p.guidance],
    ['Seed', p.seed],
    ['Size', `${p.width}x${p.height}`],
    ['Model hash', g.model.hash ? g.model.hash.slice(0, 10) : null],
    ['Model', g.model.name],
    ['Denoising strength', p.strength],
    ...Object.entries(p.extra),
  ];
  const line = fields
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}: ${quote(String(v))}`)
    .join(', ');
  return [g.prompt, g.negativePrompt ? `Negative prompt: ${g.negativePrompt}` : null, line].filter((l) => l !== null).join('\n');
}
