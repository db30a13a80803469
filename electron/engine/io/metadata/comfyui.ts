// ComfyUI's `prompt` chunk (the API graph: id → {class_type, inputs}, links as [node id, output slot])
// and its `workflow` chunk (the UI graph), read by following the graph from the final sampler: its
// positive and negative inputs back to the text encoders (through combine, area, concat and ControlNet
// nodes), its model back to the checkpoint (LoRAs on the way), its latent back to the size it was made
// at (through upscales and earlier passes). Everything else that matters goes into extras.
import type { GenerationParams } from './params.ts';
import { GenerationParamsError, isObj, jsonInt, jsonNum, parseJson, type Json } from './common.ts';
import { workflowToGraph, type Graph, type Link, type Node } from './comfyui-workflow.ts';
import { a1111SamplerLabel, a1111ScheduleLabel } from './sampler-names.ts';


const SAMPLERS = new Set(['KSampler', 'KSamplerAdvanced', 'SamplerCustom', 'SamplerCustomAdvanced']);
const OUTPUTS = /^(SaveImage|PreviewImage|Image Save|SaveAnimated|Save)/;
const MAX_DEPTH = 64;

function asLink(v: Json): Link | undefined {
  return Array.isArray(v) && v.length === 2 && (typeof v[0] === 'string' || typeof v[0] === 'number') && typeof v[1] === 'number'
    ? [String(v[0]), v[1]]
    : undefined;
}

/** ComfyUI's `prompt` chunk (API graph), or its `workflow` (UI graph) when that is all there is. */
export function parseComfyUI(prompt?: string, workflow?: string): GenerationParams {
  if (prompt !== undefined) {
    const g = parseJson(prompt, 'ComfyUI prompt');
    if (!isObj(g)) throw new GenerationParamsError('ComfyUI prompt must be a JSON object of nodes');
    const graph: Graph = new Map();
    for (const [id, n] of Object.entries(g)) {
      if (isObj(n)) graph.set(id, { class_type: String(n.class_type ?? ''), inputs: isObj(n.inputs) ? n.inputs : {} });
    }
    return readGraph(graph);
  }
  if (workflow !== undefined) {
    const wf = parseJson(workflow, 'ComfyUI workflow');
    if (!isObj(wf) || !Array.isArray(wf.nodes)) throw new GenerationParamsError('ComfyUI workflow must be a JSON object with a nodes list');
    return readGraph(workflowToGraph(wf));
  }
  throw new GenerationParamsError('no ComfyUI prompt or workflow text given');
}

function readGraph(graph: Graph): GenerationParams {
  const p: GenerationParams = { prompt: '', negative: '', extras: {}, source: 'comfyui' };
  const node = (id: string | undefined): Node | undefined => (id === undefined ? undefined : graph.get(id));

  /** A literal input value, following links to primitive / value nodes. */
  const value = (v: Json, depth = 0): Json => {
    const l = asLink(v);
    if (!l) return v;
    if (depth > MAX_DEPTH) return undefined;
    const src = node(l[0])?.inputs ?? {};
    for (const k of ['value', 'text', 'string', 'seed', 'noise_seed', 'int', 'float', 'number']) if (k in src) return value(src[k], depth + 1);
    return undefined;
  };
  const str = (v: Json): string | undefined => {
    const x = value(v);
    return typeof x === 'string' ? x : undefined;
  };

  /** Every node upstream of id (through any linked input), id excluded. */
  const upstream = (id: string): Set<string> => {
    const seen = new Set<string>();
    const stack = [id];
    while (stack.length) {
      for (const v of Object.values(node(stack.pop())?.inputs ?? {})) {
        const l = asLink(v);
        if (l && !seen.has(l[0]) && graph.has(l[0])) {
          seen.add(l[0]);
          stack.push(l[0]);
        }
      }
    }
    seen.delete(id);
    return seen;
  };

  const ids = [...graph.keys()].sort((a, b) => Number(a) - Number(b) || (a < b ? -1 : a > b ? 1 : 0));
  const samplers = ids.filter((id) => SAMPLERS.has(graph.get(id)!.class_type));
  if (samplers.length === 0) {
    // No sampler: the first text encoder is the best guess at the prompt.
    const enc = ids.find((id) => typeof str(graph.get(id)!.inputs.text) === 'string');
    if (enc !== undefined) p.prompt = str(graph.get(enc)!.inputs.text)!;
    return p;
  }
  const ups = new Map(samplers.map((id) => [id, upstream(id)]));
  const earlier = new Set(samplers.filter((a) => samplers.some((b) => b !== a && ups.get(b)!.has(a))));
  const finals = samplers.filter((id) => !earlier.has(id));
  const saved = new Set(ids.filter((id) => OUTPUTS.test(graph.get(id)!.class_type)).flatMap((id) => [...upstream(id)]));
  const finalId = [...finals].reverse().find((id) => saved.has(id)) ?? finals[finals.length - 1] ?? samplers[samplers.length - 1]!;

  // --- the final sampler's settings (SamplerCustomAdvanced keeps them in linked nodes) ---
  const s = graph.get(finalId)!.inputs;
  const linked = (k: string): Record<string, Json> => node(asLink(s[k])?.[0])?.inputs ?? {};
  const guider = linked('guider');
  const sigmas = linked('sigmas');
  const samplerSel = linked('sampler');
  const settings = (ins: Record<string, Json>, g: Record<string, Json>, sg: Record<string, Json>, sel: Record<string, Json>, noise: Record<string, Json>) => ({
    seed: jsonInt(value(ins.seed ?? ins.noise_seed ?? noise.noise_seed ?? noise.seed)),
    steps: jsonInt(value(ins.steps ?? sg.steps)),
    cfg: jsonNum(value(ins.cfg ?? g.cfg)),
    sampler: str(ins.sampler_name ?? sel.sampler_name),
    scheduler: str(ins.scheduler ?? sg.scheduler),
    denoise: jsonNum(value(ins.denoise ?? sg.denoise)),
  });
  const fin = settings(s, guider, sigmas, samplerSel, linked('noise'));
  if (fin.seed !== undefined) p.seed = fin.seed;
  if (fin.steps !== undefined) p.steps = fin.steps;
  if (fin.cfg !== undefined) p.cfg = fin.cfg;
  if (fin.denoise !== undefined && fin.denoise !== 1) p.strength = fin.denoise;
  if (fin.sampler !== undefined) p.sampler = a1111SamplerLabel(fin.sampler) ?? fin.sampler;
  if (fin.scheduler !== undefined) p.scheduleType = a1111ScheduleLabel(fin.scheduler);
  if (s.start_at_step !== undefined) {
    const a = jsonInt(value(s.start_at_step));
    const b = jsonInt(value(s.end_at_step));
    if (a !== undefined && a > 0) p.extras['Start at step'] = String(a);
    if (b !== undefined && b < 10000) p.extras['End at step'] = String(b);
  }

  // --- prompts: the texts that reach the final sampler's positive and negative inputs ---
  const reached = new Set<string>();
  const areas: string[] = [];
  const texts = (v: Json, depth = 0, out: string[] = []): string[] => {
    const l = asLink(v);
    const n = l && node(l[0]);
    if (!l || !n || depth > MAX_DEPTH) return out;
    const ins = n.inputs;
    const t = str(ins.text) ?? str(ins.text_g) ?? str(ins.prompt) ?? str(ins.text_l);
    if (t !== undefined && !('conditioning' in ins)) {
      reached.add(l[0]);
      if (!out.includes(t)) out.push(t);
      return out;
    }
    // Nodes that pass conditioning through with two outputs (ControlNetApplyAdvanced: positive, negative).
    if ('positive' in ins && 'negative' in ins) return texts(l[1] === 1 ? ins.negative : ins.positive, depth + 1, out);
    const before = out.length;
    for (const k of ['conditioning', 'conditioning_1', 'conditioning_2', 'conditioning_to', 'conditioning_from', 'cond']) {
      if (k in ins) texts(ins[k], depth + 1, out);
    }
    if (n.class_type.startsWith('ConditioningSetArea')) {
      const [w, h, x, y, st] = ['width', 'height', 'x', 'y', 'strength'].map((k) => jsonNum(value(ins[k])));
      for (const a of out.slice(before)) areas.push(`${a} @ ${w}x${h}+${x}+${y}${st !== undefined && st !== 1 ? ` (strength ${st})` : ''}`);
    }
    return out;
  };
  const posIn = s.positive ?? guider.positive ?? guider.conditioning;
  const negIn = s.negative ?? guider.negative;
  p.prompt = texts(posIn).join(' AND ');
  p.negative = texts(negIn).join(' AND ');
  if (areas.length) p.extras['Area prompts'] = areas.join('; ');
  const others = ids
    .filter((id) => !reached.has(id))
    .map((id) => graph.get(id)!)
    .filter((n) => /TextEncode/.test(n.class_type))
    .map((n) => str(n.inputs.text) ?? str(n.inputs.text_g))
    .filter((t): t is string => t !== undefined && t !== p.prompt && t !== p.negative);
  if (others.length) p.extras['Other prompts'] = JSON.stringify([...new Set(others)]);

  // --- clip skip: a CLIPSetLastLayer on the positive encoder's clip path ---
  const enc = [...reached][0];
  for (let n = node(enc), depth = 0; n && depth < MAX_DEPTH; depth++) {
    if (n.class_type === 'CLIPSetLastLayer') {
      const stop = jsonInt(value(n.inputs.stop_at_clip_layer));
      if (stop !== undefined && stop < -1) p.clipSkip = -stop;
      break;
    }
    n = node(asLink(n.inputs.clip)?.[0]);
  }

  // --- model and LoRAs, following the model input upstream ---
  const loras: string[] = [];
  for (let n = node(asLink(s.model ?? guider.model)?.[0]), depth = 0; n && depth < MAX_DEPTH; depth++) {
    const ins = n.inputs;
    const ckpt = str(ins.ckpt_name) ?? str(ins.unet_name) ?? str(ins.model_name);
    if (ckpt !== undefined) {
      p.model = ckpt;
      break;
    }
    const lora = str(ins.lora_name);
    if (lora !== undefined) loras.unshift(`${lora}: ${jsonNum(value(ins.strength_model)) ?? 1}`);
    n = node(asLink(ins.model)?.[0]);
  }
  if (loras.length) p.extras.Loras = loras.join(', ');

  // --- VAE: a VAELoader feeding a VAEDecode of the final sampler's output ---
  for (const id of ids) {
    const n = graph.get(id)!;
    if (n.class_type === 'VAEDecode' && asLink(n.inputs.samples)?.[0] === finalId) {
      const vae = str(node(asLink(n.inputs.vae)?.[0])?.inputs.vae_name);
      if (vae !== undefined) p.vae = vae;
    }
  }

  // --- size: follow the latent back (through upscales and earlier passes) ---
  let firstPass: string | undefined;
  const sizeOf = (v: Json, depth = 0): [number, number] | undefined => {
    const l = asLink(v);
    const n = l && node(l[0]);
    if (!l || !n || depth > MAX_DEPTH) return undefined;
    const ins = n.inputs;
    const num = (k: string) => jsonNum(value(ins[k]));
    if (SAMPLERS.has(n.class_type)) {
      if (l[0] !== finalId) firstPass ??= l[0];
      return sizeOf(ins.latent_image, depth + 1);
    }
    const [w, h, by] = [num('width'), num('height'), num('scale_by')];
    const src = () => sizeOf(ins.samples ?? ins.pixels ?? ins.image ?? ins.latent, depth + 1);
    if (by !== undefined) {
      const a = src();
      return a && [Math.round((a[0] / 8) * by) * 8, Math.round((a[1] / 8) * by) * 8];
    }
    if (w !== undefined && h !== undefined) {
      if (w > 0 && h > 0) return [w, h];
      const a = src(); // 0 keeps the aspect ratio (LatentUpscale, ImageScale)
      if (!a || (w === 0 && h === 0)) return a;
      return w === 0 ? [Math.round((a[0] * h) / a[1]), h] : [w, Math.round((a[1] * w) / a[0])];
    }
    for (const k of ['samples', 'latent_image', 'pixels', 'image', 'latent']) if (k in ins) return sizeOf(ins[k], depth + 1);
    return undefined;
  };
  const size = sizeOf(s.latent_image);
  if (size) [p.width, p.height] = size;

  // --- an earlier pass (hires fix): its settings and size in extras ---
  if (firstPass !== undefined) {
    const f = graph.get(firstPass)!.inputs;
    const fl = (k: string): Record<string, Json> => node(asLink(f[k])?.[0])?.inputs ?? {};
    const first = settings(f, fl('guider'), fl('sigmas'), fl('sampler'), fl('noise'));
    const firstSize = sizeOf(f.latent_image);
    const parts = [
      first.steps !== undefined && `steps ${first.steps}`,
      first.sampler !== undefined && `sampler ${a1111SamplerLabel(first.sampler) ?? first.sampler}`,
      first.scheduler !== undefined && `schedule ${a1111ScheduleLabel(first.scheduler)}`,
      first.cfg !== undefined && `CFG scale ${first.cfg}`,
      first.seed !== undefined && `seed ${first.seed}`,
      firstSize && `size ${firstSize[0]}x${firstSize[1]}`,
    ].filter(Boolean);
    // Not A1111's Hires fields: there, Size is the first pass's and the upscale applies to it; here Size is the final one.
    p.extras['First pass'] = parts.join(', ');
  }
  return p;
}
