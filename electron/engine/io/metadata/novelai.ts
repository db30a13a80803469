// NovelAI: PNG text chunks `Software` = "NovelAI", `Description` (the prompt), `Source` (the model),
// `Comment` (JSON: steps, scale, seed, sampler, noise_schedule, uc = the negative prompt, width,
// height, …). A1111 reads the same chunks (modules/images.py read_info_from_image) and adds
// "Clip skip: 2, ENSD: 31337", NovelAI's settings; so do we. NovelAI also hides the same chunks, as
// JSON, in the alpha channel (stealth_pngcomp; see stealth.ts).
import type { GenerationParams } from './params.ts';
import { GenerationParamsError, isObj, jsonInt, jsonNum, jsonStr, jsonText, parseJson, type Json } from './common.ts';
import { a1111SamplerLabel, a1111ScheduleLabel } from './sampler-names.ts';

export function isNovelAI(t: ReadonlyMap<string, string>): boolean {
  return t.get('Software') === 'NovelAI' || (t.has('Comment') && (t.get('Source') ?? '').startsWith('NovelAI'));
}

/** V4 writes the prompt as {caption: {base_caption, char_captions}}. */
function caption(v: Json): string | undefined {
  return isObj(v) && isObj(v.caption) ? jsonStr(v.caption.base_caption) : undefined;
}

export function parseNovelAI(t: ReadonlyMap<string, string>): GenerationParams {
  const comment = t.get('Comment');
  if (comment === undefined) throw new GenerationParamsError('NovelAI image without its Comment chunk');
  const c = parseJson(comment, 'NovelAI Comment');
  if (!isObj(c)) throw new GenerationParamsError('NovelAI Comment must be a JSON object');
  const used = new Set(['uc', 'prompt', 'v4_prompt', 'v4_negative_prompt', 'steps', 'scale', 'seed', 'width', 'height', 'sampler', 'noise_schedule', 'strength']);
  const p: GenerationParams = {
    prompt: t.get('Description') ?? jsonStr(c.prompt) ?? caption(c.v4_prompt) ?? '',
    negative: jsonStr(c.uc) ?? caption(c.v4_negative_prompt) ?? '',
    extras: {},
    source: 'novelai',
  };
  const steps = jsonInt(c.steps);
  if (steps !== undefined) p.steps = steps;
  const sampler = jsonStr(c.sampler);
  if (sampler !== undefined) p.sampler = a1111SamplerLabel(sampler) ?? sampler;
  const schedule = jsonStr(c.noise_schedule);
  if (schedule !== undefined) p.scheduleType = a1111ScheduleLabel(schedule);
  const cfg = jsonNum(c.scale);
  if (cfg !== undefined) p.cfg = cfg;
  const seed = jsonInt(c.seed);
  if (seed !== undefined) p.seed = seed;
  const [w, h] = [jsonInt(c.width), jsonInt(c.height)];
  if (w !== undefined && h !== undefined) [p.width, p.height] = [w, h];
  const strength = jsonNum(c.strength);
  if (strength !== undefined && jsonStr(c.request_type) === 'Img2ImgRequest') p.strength = strength;
  else used.delete('strength');
  p.clipSkip = 2;
  p.ensd = 31337;
  const source = t.get('Source');
  if (source) p.model = source;
  for (const [k, v] of Object.entries(c)) {
    if (used.has(k) || v === null) continue;
    const text = jsonText(v);
    if (text.length <= 1000) p.extras[k] = text; // reference images and signatures are left out
  }
  const gen = t.get('Generation time');
  if (gen) p.extras['Generation time'] = gen;
  return p;
}
