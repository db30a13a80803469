// The paper's released models in the families registry: they are not text-to-image checkpoints of the
// Stable Diffusion kind that OpenedModel describes (class, unconditional, concat or BERT conditioning), so
// the registry names them and points at the runner that takes them (ldm-run.ts, `ldm paper`).
import type { Shape } from '../tensor.ts';
import { LdmReleaseError, recogniseLdmRelease } from './ldm-release.ts';
import type { ModelSource, Unsupported } from './types.ts';

function isPaperLayout(t: ReadonlyMap<string, Shape>): boolean {
  if (t.has('model.diffusion_model.input_blocks.0.0.weight')) {
    // an LDM: no CLIP/OpenCLIP tower (those are Stable Diffusion's)
    for (const k of t.keys()) if (k.startsWith('cond_stage_model.transformer.text_model.') || k.startsWith('cond_stage_model.model.')) return false;
    return true;
  }
  // a first stage alone, as the paper released them (with its training loss, or VQ)
  return t.has('encoder.conv_in.weight') && (t.has('quantize.embedding.weight') || [...t.keys()].some((k) => k.startsWith('loss.')));
}

/** One line naming a paper release from its tensor shapes (and where to run it); null when it is not one. */
export function paperReleaseLine(shapes: ReadonlyMap<string, Shape>): string | null {
  if (!isPaperLayout(shapes)) return null;
  try {
    return `this is one of the paper's releases: ${recogniseLdmRelease(shapes).label}; run it with \`ldm paper FILE\``;
  } catch (err) {
    if (err instanceof LdmReleaseError) return `this looks like one of the paper's releases, but: ${err.message}`;
    throw err;
  }
}

export const ldmPaperReleases: Unsupported = {
  detect: (s: ModelSource) => (s.tensors ? paperReleaseLine(new Map([...s.tensors].map(([k, e]) => [k, e.shape]))) : null),
};
