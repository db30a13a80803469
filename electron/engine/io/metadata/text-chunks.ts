// Which tool wrote a picture's text metadata (PNG text chunks, or the same keys gathered from EXIF),
// and its parameters. Problems are reported, never thrown: the picture is still worth importing.
import type { GenerationParams, ParamsSource } from './params.ts';
import { parseParameters } from './a1111.ts';
import { parseComfyUI } from './comfyui.ts';
import { looksLikeFooocusJson, parseFooocus } from './fooocus.ts';
import { parseDream, parseInvokeAI } from './invokeai.ts';
import { isNovelAI, parseNovelAI } from './novelai.ts';

export interface FoundParams {
  /** Null when the metadata is there but unreadable (see warnings). */
  params: GenerationParams | null;
  source: ParamsSource;
  /** The chunk(s) or field it came from, e.g. 'parameters' or 'prompt'. */
  location: string;
  warnings: string[];
}

const unreadable = (err: unknown): string => `metadata unreadable: ${(err as Error).message}`;

function attempt(source: ParamsSource, location: string, read: () => GenerationParams): FoundParams {
  try {
    return { params: read(), source, location, warnings: [] };
  } catch (err) {
    return { params: null, source, location, warnings: [unreadable(err)] };
  }
}

/** The parameters in a set of text chunks (keyword → text), or null when no tool's keys are there. */
export function paramsFromTextChunks(t: ReadonlyMap<string, string>): FoundParams | null {
  const parameters = t.get('parameters');
  if (parameters !== undefined) {
    const scheme = t.get('fooocus_scheme');
    if (scheme === 'fooocus' || (scheme === undefined && looksLikeFooocusJson(parameters))) {
      return attempt('fooocus', 'parameters', () => parseFooocus(parameters));
    }
    const found = attempt('a1111', 'parameters', () => parseParameters(parameters));
    if (scheme !== undefined && found.params) found.params.extras['Metadata scheme'] = `Fooocus ${scheme}`;
    return found;
  }
  if (isNovelAI(t)) return attempt('novelai', 'Comment', () => parseNovelAI(t));
  for (const key of ['invokeai_metadata', 'sd-metadata']) {
    const v = t.get(key);
    if (v !== undefined) return attempt('invokeai', key, () => parseInvokeAI(v));
  }
  const dream = t.get('Dream') ?? t.get('dream');
  if (dream !== undefined) return attempt('invokeai', 'Dream', () => parseDream(dream));
  const prompt = t.get('prompt');
  const workflow = t.get('workflow');
  if (prompt !== undefined || workflow !== undefined) {
    const found = attempt('comfyui', prompt !== undefined ? 'prompt' : 'workflow', () => parseComfyUI(prompt, workflow));
    if (!found.params && prompt !== undefined && workflow !== undefined) {
      // A broken API graph: the UI graph says the same.
      const second = attempt('comfyui', 'workflow', () => parseComfyUI(undefined, workflow));
      second.warnings.unshift(...found.warnings);
      return second;
    }
    return found;
  }
  return null;
}
