// The paper's released models in the families registry: they are not text-to-image checkpoints of the
// Stable Diffusion kind that OpenedModel describes (class, unconditional, concat or BERT conditioning), so
// the families name them and point at the runner that takes them (ldm-run.ts, `ldm paper`); the studio's
// registry and worker take them through pipelines/release.ts.
import type { Shape } from '../tensor.ts';
import { LdmReleaseError, recogniseLdmRelease, type LdmRelease } from './ldm-release.ts';
import type { ModelSource, Unsupported } from './types.ts';

export function isPaperLayout(t: ReadonlyMap<string, Shape>): boolean {
  if (t.has('model.diffusion_model.input_blocks.0.0.weight')) {
    // an LDM: no CLIP/OpenCLIP tower (those are Stable Diffusion's)
    for (const k of t.keys()) if (k.startsWith('cond_stage_model.transformer.text_model.') || k.startsWith('cond_stage_model.model.')) return false;
    return true;
  }
  // a first stage alone, as the paper released them (with its training loss, or VQ)
  return t.has('encoder.conv_in.weight') && (t.has('quantize.embedding.weight') || [...t.keys()].some((k) => k.startsWith('loss.')));
}

/** The paper release a file's shapes are, the line saying why one cannot be run, or null when it is not one. */
export function paperRelease(shapes: ReadonlyMap<string, Shape>): { release: LdmRelease } | { problem: string } | null {
  if (!isPaperLayout(shapes)) return null;
  try {
    return { release: recogniseLdmRelease(shapes) };
  } catch (err) {
    if (err instanceof LdmReleaseError) return { problem: `this looks like one of the paper's releases, but: ${err.message}` };
    throw err;
  }
}

/** One line naming a paper release from its tensor shapes (and where to run it); null when it is not one. */
export function paperReleaseLine(shapes: ReadonlyMap<string, Shape>): string | null {
  const r = paperRelease(shapes);
  if (!r) return null;
  return 'problem' in r ? r.problem : `this is one of the paper's releases: ${r.release.label}; run it with \`ldm paper FILE\``;
}

export const ldmPaperReleases: Unsupported = {
  detect: (s: ModelSource) => (s.tensors ? paperReleaseLine(new Map([...s.tensors].map(([k, e]) => [k, e.shape]))) : null),
};
