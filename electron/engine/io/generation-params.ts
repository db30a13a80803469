// Generation parameters as image tools store them in PNG text chunks (ldm-facts.md §8), read into one
// normalised shape: AUTOMATIC1111's `parameters` infotext (which we also write), ComfyUI's `prompt`
// (API graph) and `workflow` (UI graph) JSON, InvokeAI's `invokeai_metadata` (and legacy `sd-metadata`).

import { parseSamplerLabel, samplerLabel } from '../diffusion/samplers.ts';
import { readPngText } from './png-metadata.ts';
import { scanInfotextPairs } from './metadata/infotext-scan.ts';

export class GenerationParamsError extends Error {
  override name = 'GenerationParamsError';
}

export interface GenerationParams {
  prompt: string;
  negative: string;
  steps?: number;
  /** A1111's label when the sampler is one we know ('Euler a', 'DPM++ 2M Karras'), else as written. */
  sampler?: string;
  cfg?: number;
  seed?: number;
  width?: number;
  height?: number;
  model?: string;
  modelHash?: string;
  /** img2img / inpaint denoising strength. */
  strength?: number;
  /** Every other key, value as text. */
  extras: Record<string, string>;
  /** Which format it was read from (absent on params we build). */
  source?: 'a1111' | 'comfyui' | 'invokeai';
}

// ---------------------------------------------------------------------------------------------
// AUTOMATIC1111 infotext (modules/processing.py create_infotext, modules/infotext_utils.py).

const KEY_RE = /^\w[\w \-/]+$/;

const STANDARD_KEYS = ['Steps', 'Sampler', 'CFG scale', 'Seed', 'Size', 'Model hash', 'Model', 'Denoising strength'];

function quote(v: string): string {
  return /[,:\n]/.test(v) ? JSON.stringify(v) : v;
}

function num(v: number | undefined, what: string, integer = false): string | undefined {
  if (v === undefined) return undefined;
  if (!Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new GenerationParamsError(`${what} must be a finite ${integer ? 'whole ' : ''}number, got ${v}`);
  }
  return String(v);
}

function size(w: number | undefined, h: number | undefined): string | undefined {
  if (w === undefined && h === undefined) return undefined;
  if (w === undefined || h === undefined) throw new GenerationParamsError('width and height go together: give both or neither');
  return `${num(w, 'width', true)}x${num(h, 'height', true)}`;
}

/** The `parameters` text: prompt, `Negative prompt: …` (left out when empty), one line of `Key: value` pairs. */
export function formatParameters(p: GenerationParams): string {
  const pairs: [string, string | undefined][] = [
    ['Steps', num(p.steps, 'steps', true)],
    ['Sampler', p.sampler],
    ['CFG scale', num(p.cfg, 'CFG scale')],
    ['Seed', num(p.seed, 'seed', true)],
    ['Size', size(p.width, p.height)],
    ['Model hash', p.modelHash],
    ['Model', p.model],
    ['Denoising strength', num(p.strength, 'strength')],
  ];
  for (const [k, v] of Object.entries(p.extras ?? {})) {
    if (!KEY_RE.test(k) || k.endsWith(' ')) {
      throw new GenerationParamsError(`parameter name ${JSON.stringify(k)} must be 2+ letters, digits, spaces, - or /, starting with a letter or digit`);
    }
    if (STANDARD_KEYS.includes(k)) throw new GenerationParamsError(`parameter "${k}" has its own field; do not pass it in extras`);
    pairs.push([k, v]);
  }
  const line = pairs
    .filter((kv): kv is [string, string] => kv[1] !== undefined)
    .map(([k, v]) => `${k}: ${quote(String(v))}`)
    .join(', ');
  const lines = [p.prompt];
  if (p.negative) lines.push(`Negative prompt: ${p.negative}`);
  if (line) lines.push(line);
  return lines.join('\n');
}

function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) {
    try {
      const s = JSON.parse(v) as unknown;
      if (typeof s === 'string') return s;
    } catch {
      // not JSON after all: keep as written, as A1111 does
    }
  }
  return v;
}

/** Parses infotext by key, not position, as A1111's parse_generation_parameters does. */
export function parseParameters(text: string): GenerationParams {
  if (typeof text !== 'string') throw new GenerationParamsError('parameters text must be a string');
  const all = text.trim().split('\n');
  let last = all.pop() ?? '';
  const lines = all;
  const pairs = scanInfotextPairs(last);
  if (pairs.length < 3) {
    lines.push(last);
    last = '';
  }
  let prompt = '';
  let negative = '';
  let inNegative = false;
  for (let line of lines) {
    line = line.trim();
    if (line.startsWith('Negative prompt:')) {
      inNegative = true;
      line = line.slice('Negative prompt:'.length).trim();
    }
    if (inNegative) negative += (negative === '' ? '' : '\n') + line;
    else prompt += (prompt === '' ? '' : '\n') + line;
  }
  const raw = new Map<string, string>();
  if (last !== '') for (const { key, value } of pairs) raw.set(key.trim(), unquote(value.trim()));
  return fromKeyValues(prompt, negative, raw, 'a1111');
}

function toInt(v: string | undefined): number | undefined {
  if (v === undefined || !/^-?\d+$/.test(v.trim())) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

function toNum(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function fromKeyValues(prompt: string, negative: string, raw: Map<string, string>, source: GenerationParams['source']): GenerationParams {
  const p: GenerationParams = { prompt, negative, extras: {}, source };
  const used = new Set<string>();
  const take = <T>(key: string, conv: (v: string | undefined) => T | undefined): T | undefined => {
    const v = conv(raw.get(key));
    if (v !== undefined) used.add(key);
    return v;
  };
  p.steps = take('Steps', toInt);
  p.cfg = take('CFG scale', toNum);
  p.seed = take('Seed', toInt);
  p.strength = take('Denoising strength', toNum);
  p.model = take('Model', (v) => v);
  p.modelHash = take('Model hash', (v) => v);
  const size = raw.get('Size')?.match(/^(\d+)x(\d+)$/);
  if (size) {
    p.width = Number(size[1]);
    p.height = Number(size[2]);
    used.add('Size');
  }
  const sampler = raw.get('Sampler');
  if (sampler !== undefined) {
    used.add('Sampler');
    const n = normaliseSampler(sampler, raw.get('Schedule type'));
    p.sampler = n.label;
    if (n.scheduleMerged) used.add('Schedule type');
  }
  for (const [k, v] of raw) if (!used.has(k)) p.extras[k] = v;
  return dropUndefined(p);
}

function dropUndefined(p: GenerationParams): GenerationParams {
  for (const k of Object.keys(p) as (keyof GenerationParams)[]) if (p[k] === undefined) delete p[k];
  return p;
}

/** A sampler name from any tool as our A1111 label; `scheduleMerged` when a Karras schedule went into it. */
function normaliseSampler(raw: string, schedule?: string): { label: string; scheduleMerged: boolean } {
  const name = parseSamplerLabel(raw, schedule);
  if (!name) return { label: raw, scheduleMerged: false };
  return { label: samplerLabel(name), scheduleMerged: name.endsWith('_karras') && !raw.toLowerCase().includes('karras') };
}

// ---------------------------------------------------------------------------------------------
// ComfyUI.

type Json = unknown;

function parseJson(text: string, what: string): Json {
  try {
    return JSON.parse(pythonNonFinite(text)) as Json;
  } catch (err) {
    throw new GenerationParamsError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Python's json.dumps (ComfyUI, InvokeAI) writes NaN and ±Infinity, which JSON.parse refuses: read them as null. */
function pythonNonFinite(text: string): string {
  if (!/NaN|Infinity/.test(text)) return text;
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    const word = /^(-?Infinity|NaN)(?![\w])/.exec(text.slice(i, i + 10));
    if (word) {
      out += 'null';
      i += word[1]!.length - 1;
      continue;
    }
    out += c;
  }
  return out;
}

function isObj(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const SAMPLER_NODES = ['KSampler', 'KSamplerAdvanced', 'SamplerCustom', 'SamplerCustomAdvanced'];

/** ComfyUI's `prompt` chunk (the API graph: id → {class_type, inputs}), or its `workflow` (UI graph) when that is all there is. */
export function parseComfyUI(prompt?: string, workflow?: string): GenerationParams {
  if (prompt !== undefined) {
    const graph = parseJson(prompt, 'ComfyUI prompt');
    if (!isObj(graph)) throw new GenerationParamsError('ComfyUI prompt must be a JSON object of nodes');
    return comfyApiGraph(graph);
  }
  if (workflow !== undefined) {
    const wf = parseJson(workflow, 'ComfyUI workflow');
    if (!isObj(wf) || !Array.isArray(wf.nodes)) throw new GenerationParamsError('ComfyUI workflow must be a JSON object with a nodes list');
    return comfyWorkflow(wf);
  }
  throw new GenerationParamsError('no ComfyUI prompt or workflow text given');
}

function comfyApiGraph(graph: Record<string, Json>): GenerationParams {
  const node = (id: Json): Record<string, Json> | undefined => {
    const n = graph[String(id)];
    return isObj(n) ? n : undefined;
  };
  const inputsOf = (n: Record<string, Json> | undefined): Record<string, Json> => (n && isObj(n.inputs) ? n.inputs : {});
  const isLink = (v: Json): v is [string | number, number] => Array.isArray(v) && v.length === 2 && typeof v[1] === 'number';
  /** A literal input value, following links to primitive nodes. */
  const value = (v: Json, depth = 0): Json => {
    if (!isLink(v) || depth > 32) return v;
    const src = inputsOf(node(v[0]));
    for (const k of ['value', 'text', 'string', 'seed', 'noise_seed', 'int', 'float']) if (k in src) return value(src[k], depth + 1);
    return undefined;
  };
  /** Text of a conditioning input, following CLIPTextEncode(-like) nodes through conditioning links. */
  const text = (v: Json, depth = 0): string | undefined => {
    if (!isLink(v) || depth > 32) return undefined;
    const ins = inputsOf(node(v[0]));
    for (const k of ['text', 'text_g', 'prompt']) {
      const t = value(ins[k]);
      if (typeof t === 'string') return t;
    }
    for (const k of ['conditioning', 'conditioning_1', 'conditioning_to']) if (k in ins) return text(ins[k], depth + 1);
    return undefined;
  };
  const checkpoint = (v: Json, depth = 0): string | undefined => {
    if (!isLink(v) || depth > 32) return undefined;
    const ins = inputsOf(node(v[0]));
    for (const k of ['ckpt_name', 'unet_name', 'model_name']) if (typeof ins[k] === 'string') return ins[k];
    return checkpoint(ins.model, depth + 1);
  };

  const ids = Object.keys(graph).sort((a, b) => Number(a) - Number(b) || (a < b ? -1 : 1));
  const samplerId = ids.find((id) => SAMPLER_NODES.includes(String(node(id)?.class_type)));
  const p: GenerationParams = { prompt: '', negative: '', extras: {}, source: 'comfyui' };
  if (samplerId === undefined) {
    // No sampler node: the first text encoder is the best guess at the prompt.
    const enc = ids.find((id) => typeof value(inputsOf(node(id)).text) === 'string');
    if (enc !== undefined) p.prompt = value(inputsOf(node(enc)).text) as string;
    return p;
  }
  const s = inputsOf(node(samplerId));
  p.prompt = text(s.positive) ?? '';
  p.negative = text(s.negative) ?? '';
  const seed = value(s.seed ?? s.noise_seed);
  if (typeof seed === 'number' && Number.isSafeInteger(seed)) p.seed = seed;
  const steps = value(s.steps);
  if (typeof steps === 'number' && Number.isInteger(steps)) p.steps = steps;
  const cfg = value(s.cfg);
  if (typeof cfg === 'number') p.cfg = cfg;
  const denoise = value(s.denoise);
  if (typeof denoise === 'number' && denoise !== 1) p.strength = denoise;
  applySampler(p, value(s.sampler_name), value(s.scheduler));
  if (isLink(s.latent_image)) {
    const lat = inputsOf(node(s.latent_image[0]));
    const w = value(lat.width);
    const h = value(lat.height);
    if (typeof w === 'number' && typeof h === 'number') {
      p.width = w;
      p.height = h;
    }
  }
  const model = checkpoint(s.model);
  if (model !== undefined) p.model = model;
  return p;
}

function applySampler(p: GenerationParams, sampler: Json, scheduler: Json): void {
  if (typeof sampler !== 'string') return;
  const sched = typeof scheduler === 'string' ? scheduler : undefined;
  const n = normaliseSampler(sampler, sched);
  p.sampler = n.label;
  if (sched !== undefined && !n.scheduleMerged && sched !== 'normal') p.extras['Schedule type'] = sched;
}

function comfyWorkflow(wf: Record<string, Json>): GenerationParams {
  const nodes = (wf.nodes as Json[]).filter(isObj);
  const links = new Map<number, number>(); // link id → source node id
  if (Array.isArray(wf.links)) {
    for (const l of wf.links) if (Array.isArray(l) && typeof l[0] === 'number' && typeof l[1] === 'number') links.set(l[0], l[1]);
  }
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const widgets = (n: Record<string, Json> | undefined): Json[] => (n && Array.isArray(n.widgets_values) ? n.widgets_values : []);
  const source = (n: Record<string, Json>, input: string): Record<string, Json> | undefined => {
    const ins = Array.isArray(n.inputs) ? n.inputs.filter(isObj) : [];
    const link = ins.find((i) => i.name === input)?.link;
    return typeof link === 'number' ? byId.get(links.get(link)) : undefined;
  };
  const p: GenerationParams = { prompt: '', negative: '', extras: {}, source: 'comfyui' };
  const k = nodes.find((n) => n.type === 'KSampler' || n.type === 'KSamplerAdvanced');
  if (!k) return p;
  const textOf = (n: Record<string, Json> | undefined): string => {
    const t = widgets(n)[0];
    return typeof t === 'string' ? t : '';
  };
  p.prompt = textOf(source(k, 'positive'));
  p.negative = textOf(source(k, 'negative'));
  // KSampler widgets: seed, control_after_generate (newer versions), steps, cfg, sampler, scheduler, denoise.
  const w = widgets(k).filter((v) => !['fixed', 'increment', 'decrement', 'randomize'].includes(v as string));
  const off = k.type === 'KSamplerAdvanced' ? 1 : 0; // add_noise comes first there
  const [seed, steps, cfg, sampler, scheduler] = w.slice(off, off + 5);
  if (typeof seed === 'number' && Number.isSafeInteger(seed)) p.seed = seed;
  if (typeof steps === 'number') p.steps = steps;
  if (typeof cfg === 'number') p.cfg = cfg;
  applySampler(p, sampler, scheduler);
  const lat = source(k, 'latent_image');
  if (lat?.type === 'EmptyLatentImage') {
    const [lw, lh] = widgets(lat);
    if (typeof lw === 'number' && typeof lh === 'number') {
      p.width = lw;
      p.height = lh;
    }
  }
  let m = source(k, 'model');
  for (let depth = 0; m && depth < 32; depth++) {
    if (String(m.type).startsWith('CheckpointLoader')) {
      const name = widgets(m)[0];
      if (typeof name === 'string') p.model = name;
      break;
    }
    m = source(m, 'model');
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// InvokeAI.

/** InvokeAI scheduler names → ours ('pndm' is PLMS, a '_k' suffix means the Karras variant). */
function invokeSampler(p: GenerationParams, s: Json): void {
  if (typeof s !== 'string') return;
  const karras = s.endsWith('_k');
  const base = karras ? s.slice(0, -2) : s;
  const mapped = base === 'pndm' ? 'plms' : base;
  if (parseSamplerLabel(mapped)) applySampler(p, mapped, karras ? 'karras' : undefined);
  else p.sampler = s;
}

/** `invokeai_metadata` (InvokeAI 3+) or the legacy `sd-metadata` JSON. */
export function parseInvokeAI(json: string): GenerationParams {
  const m = parseJson(json, 'InvokeAI metadata');
  if (!isObj(m)) throw new GenerationParamsError('InvokeAI metadata must be a JSON object');
  const p: GenerationParams = { prompt: '', negative: '', extras: {}, source: 'invokeai' };
  const img = isObj(m.image) ? m.image : m; // legacy sd-metadata nests the parameters under image
  const prompt = img.positive_prompt ?? img.prompt;
  if (typeof prompt === 'string') p.prompt = prompt;
  else if (Array.isArray(prompt) && isObj(prompt[0]) && typeof prompt[0].prompt === 'string') p.prompt = prompt[0].prompt;
  if (typeof img.negative_prompt === 'string') p.negative = img.negative_prompt;
  const nums: [keyof GenerationParams, Json][] = [
    ['steps', img.steps], ['cfg', img.cfg_scale], ['seed', img.seed], ['width', img.width], ['height', img.height], ['strength', img.strength],
  ];
  for (const [k, v] of nums) if (typeof v === 'number' && Number.isFinite(v)) (p as unknown as Record<string, number>)[k] = v;
  invokeSampler(p, img.scheduler ?? img.sampler);
  const model = m.model_weights ?? m.model;
  if (typeof model === 'string') p.model = model;
  else if (isObj(model)) {
    const name = model.name ?? model.model_name;
    if (typeof name === 'string') p.model = name;
    if (typeof model.hash === 'string') p.modelHash = model.hash;
  }
  if (typeof m.model_hash === 'string') p.modelHash = m.model_hash;
  for (const k of ['generation_mode', 'app_version', 'rand_device']) {
    const v = m[k];
    if (typeof v === 'string' || typeof v === 'number') p.extras[k] = String(v);
  }
  return p;
}

// ---------------------------------------------------------------------------------------------

/**
 * The generation parameters of a PNG (bytes, or its text chunks as read by readPngText), from whichever
 * tool wrote them: ours / A1111 `parameters`, InvokeAI, then ComfyUI. Null when there are none.
 */
export function readGenerationParams(png: Uint8Array | ReadonlyMap<string, string>): GenerationParams | null {
  const t = png instanceof Uint8Array ? readPngText(png) : png;
  const parameters = t.get('parameters');
  if (parameters !== undefined) return parseParameters(parameters);
  const invoke = t.get('invokeai_metadata') ?? t.get('sd-metadata');
  if (invoke !== undefined) return parseInvokeAI(invoke);
  if (t.has('prompt') || t.has('workflow')) return parseComfyUI(t.get('prompt'), t.get('workflow'));
  return null;
}
