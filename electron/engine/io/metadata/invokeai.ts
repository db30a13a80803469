// InvokeAI, three generations of it: `invokeai_metadata` (3.x and later: flat JSON), `sd-metadata`
// (2.x: JSON with the parameters under `image`, the prompt a list of weighted parts) and `Dream`
// (1.x/2.x: a command line, `"a castle [ugly]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms`). In the two
// older ones the negative prompt is written inside the prompt, in [square brackets].
import type { GenerationParams } from './params.ts';
import { GenerationParamsError, isObj, jsonInt, jsonNum, jsonStr, jsonText, parseJson, toInt, toNum, type Json } from './common.ts';
import { a1111SamplerLabel } from './sampler-names.ts';

/** InvokeAI's scheduler names (`dpmpp_2m_k`: the Karras variant) as A1111 label + schedule type. */
function applyScheduler(p: GenerationParams, s: Json): void {
  if (typeof s !== 'string') return;
  const karras = s.endsWith('_k');
  const base = karras ? s.slice(0, -2) : s;
  const label = a1111SamplerLabel(base);
  p.sampler = label ?? s;
  if (label && karras) p.scheduleType = 'Karras';
}

/**
 * InvokeAI 2.x's rule (ldm/invoke/conditioning.py): every `[...]` (shortest match, within a line) is
 * negative, joined with spaces; what remains, with runs of spaces folded, is the prompt.
 */
export function splitBracketNegative(text: string): { prompt: string; negative: string } {
  const neg: string[] = [];
  let rest = '';
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('[', i);
    if (open < 0) break;
    const close = text.indexOf(']', open + 1);
    const nl = text.indexOf('\n', open + 1);
    if (close < 0) break;
    if (nl >= 0 && nl < close) {
      rest += text.slice(i, nl + 1);
      i = nl + 1;
      continue;
    }
    rest += text.slice(i, open) + ' ';
    neg.push(text.slice(open + 1, close));
    i = close + 1;
  }
  rest += text.slice(i);
  return { prompt: rest.replace(/ +/g, ' ').trim(), negative: neg.join(' ').trim() };
}

function modelName(p: GenerationParams, model: Json): void {
  if (typeof model === 'string') p.model = model;
  else if (isObj(model)) {
    const name = jsonStr(model.name) ?? jsonStr(model.model_name);
    if (name !== undefined) p.model = name;
    const hash = jsonStr(model.hash);
    if (hash !== undefined) p.modelHash = hash;
  }
}

/** `invokeai_metadata` (InvokeAI 3+) or the legacy `sd-metadata` JSON. */
export function parseInvokeAI(json: string): GenerationParams {
  const m = parseJson(json, 'InvokeAI metadata');
  if (!isObj(m)) throw new GenerationParamsError('InvokeAI metadata must be a JSON object');
  const p: GenerationParams = { prompt: '', negative: '', extras: {}, source: 'invokeai' };
  const legacy = isObj(m.image);
  const img = legacy ? (m.image as Record<string, Json>) : m;
  const used = new Set<string>();
  const take = (k: string): Json => {
    used.add(k);
    return img[k];
  };
  let prompt = take('positive_prompt') ?? take('prompt');
  if (Array.isArray(prompt)) {
    // sd-metadata: [{prompt, weight}, …]; one part is the common case
    prompt = prompt.filter(isObj).map((x) => jsonStr(x.prompt) ?? '').join(' ');
  }
  if (typeof prompt === 'string') {
    if (legacy) Object.assign(p, splitBracketNegative(prompt));
    else p.prompt = prompt;
  }
  const neg = jsonStr(take('negative_prompt'));
  if (neg !== undefined) p.negative = neg;
  const nums: [keyof GenerationParams, string, boolean][] = [
    ['steps', 'steps', true], ['cfg', 'cfg_scale', false], ['seed', 'seed', true], ['width', 'width', true], ['height', 'height', true],
    ['strength', 'strength', false], ['clipSkip', 'clip_skip', true],
  ];
  for (const [field, k, int] of nums) {
    const v = int ? jsonInt(take(k)) : jsonNum(take(k));
    if (v !== undefined) (p as unknown as Record<string, number>)[field] = v;
  }
  if (p.clipSkip === 0) delete p.clipSkip; // InvokeAI's 0 is A1111's default (no line)
  else if (p.clipSkip !== undefined) p.clipSkip += 1; // InvokeAI counts layers skipped; A1111 counts 1 as none
  applyScheduler(p, take('scheduler') ?? take('sampler'));
  used.add('model');
  modelName(p, legacy ? (m.model_weights ?? m.model) : img.model);
  if (legacy && typeof m.model_hash === 'string') p.modelHash = m.model_hash;
  const vae = take('vae');
  if (isObj(vae)) p.vae = jsonStr(vae.name) ?? jsonStr(vae.model_name);
  else if (typeof vae === 'string') p.vae = vae;
  if (p.vae === undefined) delete p.vae;
  const loras = take('loras');
  if (Array.isArray(loras) && loras.length) {
    p.extras.Loras = loras
      .filter(isObj)
      .map((l) => {
        const model = isObj(l.model) ? l.model : isObj(l.lora) ? l.lora : {};
        return `${jsonStr(model.name) ?? jsonStr(model.model_name) ?? '?'}: ${jsonNum(l.weight) ?? 1}`;
      })
      .join(', ');
  }
  // Everything else that is small: extras, as written.
  for (const [k, v] of Object.entries(img)) {
    if (used.has(k) || v === null || v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    const t = jsonText(v);
    if (t.length <= 1000) p.extras[k] = t;
  }
  if (legacy) for (const k of ['app_id', 'app_version']) if (typeof m[k] === 'string') p.extras[k] = m[k] as string;
  return p;
}

/** Splits a command line the way Python's shlex.split does for the cases Dream writes (quotes, backslashes). */
function shellWords(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"' || c === "'") {
      inWord = true;
      const end = s.indexOf(c, i + 1);
      const stop = end < 0 ? s.length : end;
      cur += c === '"' ? s.slice(i + 1, stop).replace(/\\(["\\])/g, '$1') : s.slice(i + 1, stop);
      i = stop;
    } else if (c === '\\' && i + 1 < s.length) {
      inWord = true;
      cur += s[++i];
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      inWord = true;
      cur += c;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

const DREAM_SWITCHES: Record<string, [keyof GenerationParams | 'extra', string]> = {
  '-s': ['steps', 'int'], '--steps': ['steps', 'int'],
  '-S': ['seed', 'int'], '--seed': ['seed', 'int'],
  '-W': ['width', 'int'], '--width': ['width', 'int'],
  '-H': ['height', 'int'], '--height': ['height', 'int'],
  '-C': ['cfg', 'num'], '--cfg_scale': ['cfg', 'num'],
  '-A': ['sampler', 'text'], '-m': ['sampler', 'text'], '--sampler': ['sampler', 'text'],
  '-f': ['strength', 'num'], '--strength': ['strength', 'num'],
};

/** The `Dream` chunk of early InvokeAI (lstein/stable-diffusion): a prompt then switches. */
export function parseDream(text: string): GenerationParams {
  const p: GenerationParams = { prompt: '', negative: '', extras: {}, source: 'invokeai' };
  const t = text.trim();
  let promptText: string;
  let switches: string;
  if (t.startsWith('"')) {
    // "prompt" -s 50 …: the prompt runs to the next quote that is not escaped
    let close = 1;
    while (close < t.length && t[close] !== '"') close += t[close] === '\\' ? 2 : 1;
    promptText = t.slice(1, close).replace(/\\(["\\])/g, '$1');
    switches = t.slice(close + 1);
  } else {
    const m = /\s(--?[a-zA-Z])/.exec(t);
    promptText = m ? t.slice(0, m.index) : t;
    switches = m ? t.slice(m.index) : '';
  }
  Object.assign(p, splitBracketNegative(promptText));
  const words = shellWords(switches);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const sw = DREAM_SWITCHES[w];
    const next = words[i + 1];
    if (sw && next !== undefined) {
      const [field, kind] = sw;
      const v = kind === 'int' ? toInt(next) : kind === 'num' ? toNum(next) : next;
      if (v !== undefined) {
        if (field === 'sampler') p.sampler = a1111SamplerLabel(next) ?? next;
        else (p as unknown as Record<string, unknown>)[field] = v;
      } else p.extras[w] = next;
      i++;
    } else if (w.startsWith('-')) {
      // other switches: their arguments up to the next switch
      const args: string[] = [];
      while (i + 1 < words.length && !/^--?[a-zA-Z]/.test(words[i + 1]!)) args.push(words[++i]!);
      p.extras[w.replace(/^-+/, '')] = args.join(' ') || 'true';
    }
  }
  return p;
}
