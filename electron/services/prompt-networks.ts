// What a prompt asks for beyond its text, as AUTOMATIC1111 reads it: `<lora:NAME:0.8>` tags (A1111's
// extra networks; NAME is the LoRA's name in the studio's models, i.e. its file name) and the names of
// textual-inversion embeddings written as words (A1111's embeddings folder: an embedding is used
// wherever its name appears). The job's explicit LoRA list comes first; the prompt adds to it.
import { StudioError } from '../api/contract.ts';
import type { ModelInfo } from '../api/models.ts';
import { extractExtraNetworks, PromptSyntaxError, type LoraTag } from '../engine/text/index.ts';

export interface PromptNetwork {
  readonly model: ModelInfo;
  /** UNet strength (LoRA) or vector scale (embedding, always 1). */
  readonly strength: number;
  /** LoRA: the text-encoder strength of `<lora:name:te:unet>`. */
  readonly textStrength?: number;
}

function tagsOf(prompt: string): LoraTag[] {
  try {
    return extractExtraNetworks(prompt).loras;
  } catch (err) {
    if (err instanceof PromptSyntaxError) throw new StudioError(err.message, 'invalid_input');
    throw err;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The LoRAs a prompt's `<lora:…>` tags name and the embeddings its words name, found among `models`
 * by name (exact, else ignoring case). A tag naming no LoRA is an error that says what to do.
 */
export function promptNetworks(prompts: readonly string[], models: readonly ModelInfo[]): PromptNetwork[] {
  const out: PromptNetwork[] = [];
  const loras = models.filter((m) => m.kind === 'lora');
  for (const p of prompts) {
    for (const tag of tagsOf(p)) {
      const m = loras.find((x) => x.name === tag.name) ?? loras.find((x) => x.name.toLowerCase() === tag.name.toLowerCase());
      if (!m) {
        throw new StudioError(`The prompt asks for <lora:${tag.name}> but no LoRA of that name is in the models; import ${tag.name}.safetensors in the Models view.`, 'invalid_input');
      }
      // A1111: <lora:name:te:unet>; the UNet strength defaults to the text-encoder one.
      out.push({ model: m, strength: tag.unet, ...(tag.te !== tag.unet ? { textStrength: tag.te } : {}) });
    }
  }
  const text = prompts.map((p) => extractExtraNetworks(p).prompt).join('\n');
  for (const m of models) {
    if (m.kind !== 'embedding' || m.name.trim() === '') continue;
    const word = new RegExp(`(^|[^\\p{L}\\p{N}_])${escapeRegExp(m.name)}($|[^\\p{L}\\p{N}_])`, 'iu');
    if (word.test(text) && !out.some((x) => x.model.id === m.id)) out.push({ model: m, strength: 1 });
  }
  return out;
}
