// The infotext keys AUTOMATIC1111 writes (modules/processing.py create_infotext) that have their own
// GenerationParams field, in the order A1111 writes them. One table serves reading and writing.
import type { GenerationParams } from './params.ts';

export type FieldKind = 'int' | 'num' | 'text' | 'size' | 'hashes';

export interface InfotextField {
  readonly key: string;
  readonly field: keyof GenerationParams;
  readonly kind: FieldKind;
}

/** 'Size' is special (width and height fields); 'Version' is written last, after the extras, as A1111 does. */
export const INFOTEXT_FIELDS: readonly InfotextField[] = [
  { key: 'Steps', field: 'steps', kind: 'int' },
  { key: 'Sampler', field: 'sampler', kind: 'text' },
  { key: 'Schedule type', field: 'scheduleType', kind: 'text' },
  { key: 'CFG scale', field: 'cfg', kind: 'num' },
  { key: 'Seed', field: 'seed', kind: 'int' },
  { key: 'Size', field: 'width', kind: 'size' },
  { key: 'Model hash', field: 'modelHash', kind: 'text' },
  { key: 'Model', field: 'model', kind: 'text' },
  { key: 'VAE hash', field: 'vaeHash', kind: 'text' },
  { key: 'VAE', field: 'vae', kind: 'text' },
  { key: 'Variation seed', field: 'variationSeed', kind: 'int' },
  { key: 'Variation seed strength', field: 'variationStrength', kind: 'num' },
  { key: 'Seed resize from', field: 'seedResizeFrom', kind: 'size' },
  { key: 'Denoising strength', field: 'strength', kind: 'num' },
  { key: 'Clip skip', field: 'clipSkip', kind: 'int' },
  { key: 'ENSD', field: 'ensd', kind: 'int' },
  { key: 'RNG', field: 'rng', kind: 'text' },
  { key: 'Hires upscale', field: 'hiresUpscale', kind: 'num' },
  { key: 'Hires steps', field: 'hiresSteps', kind: 'int' },
  { key: 'Hires upscaler', field: 'hiresUpscaler', kind: 'text' },
  { key: 'Hires resize', field: 'hiresResize', kind: 'size' },
  { key: 'Lora hashes', field: 'loraHashes', kind: 'hashes' },
  { key: 'TI hashes', field: 'tiHashes', kind: 'hashes' },
  { key: 'Version', field: 'version', kind: 'text' },
];

export const FIELD_BY_KEY: ReadonlyMap<string, InfotextField> = new Map(INFOTEXT_FIELDS.map((f) => [f.key, f]));

/** A1111's "name: hash, name: hash" (names have ',' and ':' removed by A1111) → name → hash. */
export function parseHashes(v: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const part of v.split(',')) {
    const at = part.lastIndexOf(':');
    if (at < 0) return undefined;
    const name = part.slice(0, at).trim();
    const hash = part.slice(at + 1).trim();
    if (!name || !hash) return undefined;
    out[name] = hash;
  }
  return out;
}

export function formatHashes(h: Readonly<Record<string, string>>): string {
  return Object.entries(h)
    .map(([name, hash]) => `${name.replace(/[,:]/g, '')}: ${hash}`)
    .join(', ');
}
