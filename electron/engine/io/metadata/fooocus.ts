// Fooocus (modules/meta_parser.py, FooocusMetadataParser.to_string): with its own "fooocus" metadata
// scheme it saves a JSON object, sorted by key, in the PNG `parameters` chunk next to a `fooocus_scheme`
// chunk (JPEG/WebP: EXIF UserComment, with the scheme in MakerNote). Its "a1111" scheme writes ordinary
// infotext, read by a1111.ts.
import type { GenerationParams } from './params.ts';
import { GenerationParamsError, isObj, jsonInt, jsonNum, jsonStr, jsonText, parseJson, type Json } from './common.ts';
import { a1111SamplerLabel, a1111ScheduleLabel } from './sampler-names.ts';

/** Whether a `parameters` text is Fooocus's JSON (rather than infotext). */
export function looksLikeFooocusJson(text: string): boolean {
  const t = text.trimStart();
  return t.startsWith('{') && /"(full_prompt|metadata_scheme|base_model|guidance_scale)"/.test(t.slice(0, 100_000));
}

export function parseFooocus(json: string): GenerationParams {
  const m = parseJson(json, 'Fooocus metadata');
  if (!isObj(m)) throw new GenerationParamsError('Fooocus metadata must be a JSON object');
  const p: GenerationParams = { prompt: '', negative: '', extras: {}, source: 'fooocus' };
  const used = new Set<string>();
  const take = (k: string): Json => {
    used.add(k);
    return m[k];
  };
  // The prompt as typed; the full prompt (styles and the Fooocus V2 expansion applied) goes to extras.
  p.prompt = jsonStr(take('prompt')) ?? '';
  p.negative = jsonStr(take('negative_prompt')) ?? '';
  const steps = jsonInt(take('steps'));
  if (steps !== undefined) p.steps = steps;
  const cfg = jsonNum(take('guidance_scale'));
  if (cfg !== undefined) p.cfg = cfg;
  const seed = jsonInt(take('seed')); // written as a string
  if (seed !== undefined) p.seed = seed;
  const res = jsonStr(take('resolution'))?.match(/^\(\s*(\d+)\s*,\s*(\d+)\s*\)$/); // str((width, height))
  if (res) [p.width, p.height] = [Number(res[1]), Number(res[2])];
  else used.delete('resolution');
  const sampler = jsonStr(take('sampler'));
  if (sampler !== undefined) p.sampler = a1111SamplerLabel(sampler) ?? sampler;
  const scheduler = jsonStr(take('scheduler'));
  if (scheduler !== undefined) p.scheduleType = a1111ScheduleLabel(scheduler);
  const model = jsonStr(take('base_model'));
  if (model !== undefined) p.model = model;
  const hash = jsonStr(take('base_model_hash'));
  if (hash !== undefined) p.modelHash = hash;
  const vae = jsonStr(take('vae'));
  if (vae !== undefined && vae !== 'Default (model)' && vae !== 'None') p.vae = vae;
  const clip = jsonInt(take('clip_skip'));
  if (clip !== undefined && clip > 1) p.clipSkip = clip;
  const version = jsonStr(take('version'));
  if (version !== undefined) p.version = version;
  const loras = take('loras'); // [[name, weight, hash], …]
  if (Array.isArray(loras) && loras.length) {
    const hashes: Record<string, string> = {};
    for (const l of loras) if (Array.isArray(l) && typeof l[0] === 'string' && typeof l[2] === 'string') hashes[l[0]] = l[2];
    if (Object.keys(hashes).length) p.loraHashes = hashes;
    p.extras.Loras = loras.filter(Array.isArray).map((l) => `${String(l[0])}: ${String(l[1])}`).join(', ');
  }
  for (const [k, v] of Object.entries(m)) {
    if (used.has(k) || v === null || v === '' || v === 'None') continue;
    const t = jsonText(v);
    if (t.length <= 4000) p.extras[k] = t;
  }
  return p;
}
